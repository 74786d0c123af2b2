#include "events/event_writer.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstring>

namespace smtpguard {

namespace {

// O_APPEND: every write goes to the end of the file as it is then, so a file truncated under
// us (logrotate's copytruncate) gets its next line at offset 0, not after a hole.
int openAppend(const std::string& path, std::string& error) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOCTTY, 0644);
  if (fd < 0) error = "cannot write events to " + path + ": " + std::strerror(errno);
  return fd;
}

}  // namespace

EventWriter::~EventWriter() {
  close();
}

bool EventWriter::open(const std::string& path, std::string& error) {
  if (path.empty()) return true;
  if (path == "-") {
    fd_ = STDOUT_FILENO;
    where_ = "standard output";
    return true;
  }
  fd_ = openAppend(path, error);
  if (fd_ < 0) return false;
  owned_ = true;
  path_ = path;
  where_ = path;
  return true;
}

bool EventWriter::reopen(std::string& error) {
  if (!owned_) return true;
  flush();  // the lines gathered so far belong to the file being rotated away
  const int fd = openAppend(path_, error);
  if (fd < 0) return false;
  ::close(fd_);  // a close error of a file already renamed away tells nothing more
  fd_ = fd;
  cut_line_ = false;  // a line cut in the old file does not continue in the new one
  return true;
}

void EventWriter::write(std::string_view line) {
  if (fd_ < 0) return;
  buffer_ += line;
  buffer_ += '\n';
}

bool EventWriter::flush() {
  if (fd_ < 0 || buffer_.empty()) return true;
  // The last failure cut a line: end it, so the lines after it parse.
  if (cut_line_) buffer_.insert(buffer_.begin(), '\n');
  cut_line_ = false;
  size_t done = 0;
  bool ok = true;
  while (done < buffer_.size()) {
    ssize_t n = ::write(fd_, buffer_.data() + done, buffer_.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      if (error_.empty())
        error_ = "cannot write events to " + where_ + ": " +
                 (n < 0 ? std::strerror(errno) : "nothing written");
      ok = false;
      break;
    }
    done += static_cast<size_t>(n);
  }
  if (!ok) {
    // Every line not written to its end is lost.
    lost_ += static_cast<uint64_t>(
        std::count(buffer_.begin() + static_cast<std::ptrdiff_t>(done), buffer_.end(), '\n'));
    cut_line_ = done > 0 && buffer_[done - 1] != '\n';
  }
  buffer_.clear();
  return ok;
}

bool EventWriter::close() {
  flush();
  if (owned_ && fd_ >= 0 && ::close(fd_) != 0 && error_.empty())
    error_ = "cannot write events to " + where_ + ": " + std::strerror(errno);
  fd_ = -1;
  owned_ = false;
  return error_.empty();
}

}  // namespace smtpguard
