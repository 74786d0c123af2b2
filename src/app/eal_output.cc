#include "app/eal_output.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <sstream>
#include <vector>

namespace smtpguard {

OutputCapture::OutputCapture(bool active) {
  if (!active) return;
  fd_ = memfd_create("smtpguard-eal", MFD_CLOEXEC);
  if (fd_ < 0) return;  // nothing captured: the output goes where it always did
  std::fflush(stdout);
  std::fflush(stderr);
  saved_out_ = dup(STDOUT_FILENO);
  saved_err_ = dup(STDERR_FILENO);
  if (saved_out_ < 0 || saved_err_ < 0) {
    finish();
    return;
  }
  dup2(fd_, STDOUT_FILENO);
  dup2(fd_, STDERR_FILENO);
}

OutputCapture::~OutputCapture() {
  finish();
}

std::string OutputCapture::finish() {
  std::string out;
  if (fd_ < 0) return out;
  std::fflush(stdout);
  std::fflush(stderr);
  if (saved_out_ >= 0) {
    dup2(saved_out_, STDOUT_FILENO);
    close(saved_out_);
  }
  if (saved_err_ >= 0) {
    dup2(saved_err_, STDERR_FILENO);
    close(saved_err_);
  }
  saved_out_ = saved_err_ = -1;
  char buf[4096];
  ssize_t n;
  off_t at = 0;
  while ((n = pread(fd_, buf, sizeof buf, at)) > 0) {
    out.append(buf, static_cast<size_t>(n));
    at += n;
  }
  close(fd_);
  fd_ = -1;
  return out;
}

std::string summariseEalOutput(const std::string& output, const std::string& program,
                               const std::string& fallback) {
  std::vector<std::string> parts;
  std::istringstream in(output);
  for (std::string line; std::getline(in, line);) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    if (line.rfind("EAL: ", 0) == 0) {
      line.erase(0, 5);
    } else if (!program.empty() && line.rfind(program + ": ", 0) == 0) {
      line.erase(0, program.size() + 2);  // getopt: "PROGRAM: unrecognized option '--x'"
    } else {
      continue;  // the usage text, blank lines
    }
    if (line.rfind("FATAL: ", 0) == 0) line.erase(0, 7);
    if (line.empty() || line.rfind("Detected ", 0) == 0 ||
        line.find("Invalid 'command line' arguments") != std::string::npos)
      continue;
    if (std::find(parts.begin(), parts.end(), line) == parts.end()) parts.push_back(line);
  }
  if (parts.empty()) return fallback;
  std::string summary = parts[0];
  if (parts.size() > 1) summary += "; " + parts[1];
  return summary;
}

}  // namespace smtpguard
