// smtpguard: SMTP egress policy enforcement. See README.md and docs/architecture.md.
#include <cstdio>
#include <string>

#include "app/golden.h"
#include "app/modes.h"
#include "app/options.h"
#include "app/runtime.h"

int main(int argc, char** argv) {
  using namespace smtpguard;
  std::string error;
  bool help = false;
  auto opts = parseOptions(argc, argv, error, help);
  if (help) {
    std::fputs(usage(), stdout);
    return 0;
  }
  if (!opts) {
    std::fprintf(stderr, "smtpguard: %s\n", error.c_str());
    return 2;
  }
  if (opts->mode == Mode::kReplay) {
    // Fail on an unreadable capture before the EAL prints anything.
    if (FILE* f = std::fopen(opts->capture.c_str(), "rb")) {
      std::fclose(f);
    } else {
      std::fprintf(stderr, "smtpguard: cannot open capture %s\n", opts->capture.c_str());
      return 1;
    }
  }
  installSignalHandlers();
  if (!initEal(*opts, error)) {
    std::fprintf(stderr, "smtpguard: %s\n", error.c_str());
    return 1;
  }
  int rc = opts->mode != Mode::kReplay                   ? runLive(*opts)
           : opts->golden.empty() && opts->check.empty() ? runReplay(*opts)
                                                         : runGoldenReplay(*opts);
  cleanupEal();
  return rc;
}
