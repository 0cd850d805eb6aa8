// Bounded reading of /proc-like files (see input_file.hpp).
#include "input_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

namespace fragscope::report {

int read_file_bounded(const std::string& path, std::size_t limit, std::string* text) {
  text->clear();
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (fd < 0) return errno;
  char buf[65536];
  int err = 0;
  for (;;) {
    const ssize_t r = read(fd, buf, sizeof(buf));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      err = errno == EAGAIN ? 0 : errno;  // a FIFO with nothing in it: what we have
      break;
    }
    if (r == 0) break;
    if (text->size() + static_cast<std::size_t>(r) > limit) {
      err = EFBIG;
      break;
    }
    text->append(buf, static_cast<std::size_t>(r));
  }
  close(fd);
  if (err != 0) {
    text->clear();
    text->shrink_to_fit();
  }
  return err;
}

std::string too_large_message(const std::string& path, std::size_t limit) {
  return path + " goes on past " + std::to_string(limit >> 10) + " KiB (not a /proc file?); not read";
}

}  // namespace fragscope::report
