#pragma once
// What DPDK's EAL prints while it starts: log lines, getopt's complaints, its usage text (on
// standard output). An operator with a bad EAL argument gets one line from us instead; the
// EAL's own output only with --verbose. Control plane, start-up only.

#include <string>

namespace smtpguard {

// Captures everything written to file descriptors 1 and 2 (stdio flushed) until finish().
// Inactive: captures nothing.
class OutputCapture {
 public:
  explicit OutputCapture(bool active);
  ~OutputCapture();
  OutputCapture(const OutputCapture&) = delete;
  OutputCapture& operator=(const OutputCapture&) = delete;

  // Restores the descriptors; returns what was written meanwhile.
  std::string finish();

 private:
  int fd_ = -1;
  int saved_out_ = -1;
  int saved_err_ = -1;
};

// The EAL's complaints in one line ("lcore 99 unavailable; invalid core list, ..."): its
// "EAL: " lines and getopt's "PROGRAM: " lines, without start-up chatter and the generic
// "Invalid 'command line' arguments". `fallback` when nothing is left.
std::string summariseEalOutput(const std::string& output, const std::string& program,
                               const std::string& fallback);

}  // namespace smtpguard
