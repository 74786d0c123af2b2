#pragma once
// Writes rendered event lines (event_render.h) to a file or standard output. Runs on the main
// lcore only.

#include <cstdint>
#include <string>
#include <string_view>

#include <string_view>

namespace smtpguard {

// Lines are gathered in a buffer and written with write(2) at each flush(), so every failure
// (a full disk, a closed pipe, /dev/full) is seen where it happens. A failed write loses the
// lines of that flush, counted in lost(); the next flush tries again (the disk may have room by
// then). The writer never blocks the fast path: it runs on the main lcore.
class EventWriter {
 public:
  EventWriter() = default;
  ~EventWriter();
  EventWriter(const EventWriter&) = delete;
  EventWriter& operator=(const EventWriter&) = delete;

  // "-" is standard output; empty means events are counted but not written. A file is opened
  // for append and never truncated: a restart adds to it, and after a copytruncate rotation
  // the next line lands at the new end, not at the old offset (which would leave a hole of
  // NUL bytes).
  bool open(const std::string& path, std::string& error);
  // Log rotation: writes what was gathered to the file open now, then opens the path again
  // (a rename moved the old file away; a new one is created). If the path cannot be opened,
  // the old file stays in use and false is returned with the reason in `error`. Nothing to do
  // for standard output or no output.
  bool reopen(std::string& error);
  // Whether lines go anywhere (a path was given): if not, there is no need to render them.
  bool enabled() const { return fd_ >= 0; }
  // One rendered line, without its newline.
  void write(std::string_view line);
  // Writes what was gathered; false if it could not be written (then lost).
  bool flush();
  // Flushes and closes; false (with the reason in error()) if anything was ever lost.
  bool close();

  // Events that could not be written, since open.
  uint64_t lost() const { return lost_; }
  // The first write error, one line ("cannot write events to PATH: reason"); empty if none.
  const std::string& error() const { return error_; }

 private:
  int fd_ = -1;
  bool owned_ = false;
  std::string path_;       // as given, for reopen()
  std::string where_;      // for messages: the path, or "standard output"
  std::string buffer_;     // whole lines
  bool cut_line_ = false;  // a failed write ended in the middle of a line
  uint64_t lost_ = 0;
  std::string error_;
};

}  // namespace smtpguard
