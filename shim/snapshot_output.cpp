// The snapshot file: opened so that it can only be a regular file of ours, written a whole line
// at a time, and moved to the temporary directory (said once) when it cannot be written
// (see reporter_parts.hpp).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "config.hpp"
#include "reporter_parts.hpp"
#include "runtime.hpp"

namespace fragscope::shim::rep {

int g_fd = -1;
FileId g_fd_id;
bool g_output_failed = false;
char g_path[core::Config::kPathMax];

namespace {

// Opens the output file: never through a symlink (in any component of its path), only a
// regular file we own, mode 0600 (an existing one of ours is set to it), without blocking.
int open_checked(const char* path, int* err) {
  const int fd = files::open_append_output(path, nullptr, nullptr);
  if (fd < 0) {
    *err = -fd;
    return -1;
  }
  g_fd_id = identify_fd(fd);  // the file as opened: what every later use checks against
  return fd;
}

// Lose nothing: moves the output to a private file in the temporary directory (unless it is
// there already), and says once why. `wanted` is the path that failed, `err` the reason.
bool fall_back(const char* wanted, int err) {
  const char* tmp = getenv("TMPDIR");
  if (tmp == nullptr || tmp[0] != '/' || std::strlen(tmp) > 1024) tmp = "/tmp";
  char fallback[core::Config::kPathMax];
  std::snprintf(fallback, sizeof(fallback), "%s/fragscope.%ld.jsonl", tmp, static_cast<long>(getpid()));
  int err2 = 0;
  g_fd = std::strcmp(fallback, wanted) == 0 ? -1 : open_checked(fallback, &err2);
  if (g_fd < 0 && err2 == 0) err2 = err;
  char line[256];
  const char* why = files::safe_file_reason(err);
  if (g_fd >= 0) {
    std::strcpy(g_path, fallback);
    std::snprintf(line, sizeof(line), "fragscope: cannot write snapshots to '%.80s' (%s); writing them to %.80s",
                  wanted, why, fallback);
  } else {
    g_output_failed = true;
    g_path[0] = '\0';
    std::snprintf(line, sizeof(line), "fragscope: cannot write snapshots to '%.80s' (%s) nor to %.80s (%s); snapshots off",
                  wanted, why, fallback, files::safe_file_reason(err2));
  }
  warn_once(line);
  return g_fd >= 0;
}

}  // namespace

bool ensure_output() {
  if (g_fd >= 0) {
    if (still_ours(g_fd, g_fd_id)) return true;
    g_fd = -1;  // the host closed it (and may reuse the number): open our file again, by path
    if (g_path[0] != '\0') {
      int err = 0;
      g_fd = open_checked(g_path, &err);
      if (g_fd >= 0) return true;
    }
  }
  if (g_output_failed || g_cfg.output[0] == '\0') return false;
  long pid = getpid();
  char wanted[core::Config::kPathMax];
  std::snprintf(wanted, sizeof(wanted), "%s", g_cfg.output);  // named as given if it cannot be expanded
  int err = ENAMETOOLONG;
  if (core::expand_output_path(g_cfg.output, pid, g_forked, wanted, sizeof(wanted))) {
    g_fd = open_checked(wanted, &err);
    if (g_fd >= 0) {
      std::strcpy(g_path, wanted);
      return true;
    }
  }
  return fall_back(wanted, err);
}

// Appends one snapshot line to the output. A write that fails (a full disk: ENOSPC, EDQUOT; an
// I/O error) takes back what it wrote of the line, so the file holds whole lines only, and the
// output falls back to the temporary directory as an unwritable path does, saying why; the
// line is written there.
void write_snapshot(const char* data, std::size_t size) {
  bool reopened = false;
  for (int target = 0; target < 2; ++target) {
    const char* p = data;
    std::size_t left = size;
    struct stat st;
    const FileId start_id = g_fd_id;
    const off_t start = still_ours(g_fd, g_fd_id) && fstat(g_fd, &st) == 0 ? st.st_size : -1;
    int err = 0;
    while (left > 0) {
      if (!still_ours(g_fd, g_fd_id) && !ensure_output()) return;
      ssize_t w = write(g_fd, p, left);
      if (w < 0 && errno == EINTR) continue;
      if (w < 0 && errno == EBADF && !reopened) {  // closed under us by the host: reopen by path
        reopened = true;
        g_fd = -1;
        int e = 0;
        if (g_path[0] != '\0' && (g_fd = open_checked(g_path, &e)) >= 0) continue;
      }
      if (w <= 0) {
        err = w < 0 ? errno : EIO;
        break;
      }
      p += w;
      left -= static_cast<std::size_t>(w);
    }
    if (err == 0) return;
    if (g_fd < 0) {
      g_output_failed = true;
      warn_once("fragscope: writing a snapshot failed (the output was closed under us); snapshots off");
      return;
    }
    // Take back the part of the line written (a cut line would fail `check`), only while the
    // file holds nothing after it but that part: another process may append to it too.
    const std::size_t wrote = size - left;
    if (start >= 0 && wrote != 0 && same_file(start_id, g_fd_id) && still_ours(g_fd, g_fd_id) && fstat(g_fd, &st) == 0 &&
        st.st_size == start + static_cast<off_t>(wrote)) {
      const int r = ftruncate(g_fd, start);
      (void)r;
    }
    char failed[core::Config::kPathMax];
    std::snprintf(failed, sizeof(failed), "%s", g_path);
    close_if_ours(g_fd, g_fd_id);
    g_fd = -1;
    if (!fall_back(failed, err)) return;
  }
}

}  // namespace fragscope::shim::rep
