// Safe opening of the files we write (see safe_file.hpp).
#include "safe_file.hpp"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>

namespace fragscope::files {
namespace {

constexpr int kPathMax = 4096;

// Opens directory `dir` (NUL-terminated) with no symlink in any component: openat2 where the
// kernel has it (5.6), else one component at a time with O_NOFOLLOW.
int open_dir_no_symlinks(const char* dir) {
  open_how how{};
  how.flags = O_PATH | O_DIRECTORY | O_CLOEXEC;
  how.resolve = RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
  const long fd = syscall(SYS_openat2, AT_FDCWD, dir, &how, sizeof(how));
  if (fd >= 0) return static_cast<int>(fd);
  if (errno != ENOSYS && errno != EPERM) return -errno;  // EPERM: a seccomp filter that denies it
  // The walk. O_PATH|O_NOFOLLOW opens a symlink itself instead of failing: the fstat below
  // tells it from a directory.
  char comp[256];
  const char* p = dir;
  int cur = *p == '/' ? open("/", O_PATH | O_DIRECTORY | O_CLOEXEC) : open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (cur < 0) return -errno;
  while (*p != '\0') {
    while (*p == '/') ++p;
    if (*p == '\0') break;
    std::size_t n = 0;
    while (p[n] != '\0' && p[n] != '/') ++n;
    if (n >= sizeof(comp)) {
      close(cur);
      return -ENAMETOOLONG;
    }
    std::memcpy(comp, p, n);
    comp[n] = '\0';
    p += n;
    const int next = openat(cur, comp, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    const int err = errno;
    close(cur);
    if (next < 0) return -err;
    struct stat st;
    if (fstat(next, &st) != 0 || !S_ISDIR(st.st_mode)) {
      const bool link = S_ISLNK(st.st_mode);
      close(next);
      return link ? -ELOOP : -ENOTDIR;
    }
    cur = next;
  }
  return cur;
}

// 16 hex digits nobody can predict (getrandom; the clock and our addresses if it fails).
void random_hex(char* out) {
  std::uint64_t r = 0;
  if (syscall(SYS_getrandom, &r, sizeof(r), 0x0001 /* GRND_NONBLOCK */) != static_cast<long>(sizeof(r))) {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    r = (static_cast<std::uint64_t>(ts.tv_nsec) * 0x9E3779B97F4A7C15ULL) ^ static_cast<std::uint64_t>(ts.tv_sec) ^
        (reinterpret_cast<std::uintptr_t>(&r) << 16) ^ static_cast<std::uint64_t>(getpid());
  }
  static const char digits[] = "0123456789abcdef";
  for (int i = 0; i < 16; ++i) out[i] = digits[(r >> (4 * i)) & 15];
  out[16] = '\0';
}

bool write_all(int fd, const char* p, std::size_t left) {
  while (left > 0) {
    const ssize_t w = write(fd, p, left);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return false;
    if (w == 0) {
      errno = EIO;
      return false;
    }
    p += w;
    left -= static_cast<std::size_t>(w);
  }
  return true;
}

// 0 when `leaf` in `dirfd` is missing or a regular file; -EINVAL when it is anything else.
int target_ok(int dirfd, const char* leaf) {
  struct stat st;
  if (fstatat(dirfd, leaf, &st, AT_SYMLINK_NOFOLLOW) != 0) return errno == ENOENT ? 0 : -errno;
  return S_ISREG(st.st_mode) ? 0 : -EINVAL;
}

}  // namespace

int open_parent_dir(const char* path, const char** leaf) noexcept {
  const std::size_t len = std::strlen(path);
  if (len == 0) return -ENOENT;
  if (len >= static_cast<std::size_t>(kPathMax)) return -ENAMETOOLONG;
  if (path[len - 1] == '/') return -EISDIR;
  const char* slash = std::strrchr(path, '/');
  *leaf = slash ? slash + 1 : path;
  if (std::strcmp(*leaf, ".") == 0 || std::strcmp(*leaf, "..") == 0) return -EISDIR;
  char dir[kPathMax];
  if (slash == nullptr) {
    std::memcpy(dir, ".", 2);
  } else if (slash == path) {
    std::memcpy(dir, "/", 2);
  } else {
    const std::size_t n = static_cast<std::size_t>(slash - path);
    std::memcpy(dir, path, n);
    dir[n] = '\0';
  }
  return open_dir_no_symlinks(dir);
}

int open_append_output(const char* path, unsigned long* dev, unsigned long* ino) noexcept {
  const char* leaf = nullptr;
  const int dirfd = open_parent_dir(path, &leaf);
  if (dirfd < 0) return dirfd;
  // Not even opened when it is not a regular file: opening a device can do something.
  int rc = target_ok(dirfd, leaf);
  if (rc == 0) {
    const int fd = openat(dirfd, leaf, O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, 0600);
    rc = fd >= 0 ? fd : -errno;
  }
  close(dirfd);
  if (rc < 0) return rc;
  const int fd = rc;
  struct stat st;
  if (fstat(fd, &st) != 0) {
    const int err = errno;
    close(fd);
    return -err;
  }
  if (!S_ISREG(st.st_mode) || st.st_uid != geteuid()) {  // put there between the check and the open
    close(fd);
    return S_ISREG(st.st_mode) ? -EPERM : -EINVAL;
  }
  if ((st.st_mode & 07777) != 0600 && fchmod(fd, 0600) != 0) {
    const int err = errno;
    close(fd);
    return -err;
  }
  if (dev != nullptr) *dev = static_cast<unsigned long>(st.st_dev);
  if (ino != nullptr) *ino = static_cast<unsigned long>(st.st_ino);
  return fd;
}

int replace_file(const char* path, const char* data, std::size_t len, bool durable) noexcept {
  const char* leaf = nullptr;
  const int dirfd = open_parent_dir(path, &leaf);
  if (dirfd < 0) return dirfd;
  int rc = target_ok(dirfd, leaf);
  char tmp[300];
  int fd = -1;
  for (int attempt = 0; rc == 0 && fd < 0 && attempt < 8; ++attempt) {
    char hex[17];
    random_hex(hex);
    if (std::snprintf(tmp, sizeof(tmp), ".%.200s.%s.tmp", leaf, hex) >= static_cast<int>(sizeof(tmp))) rc = -ENAMETOOLONG;
    else if ((fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, 0600)) < 0 &&
             errno != EEXIST)
      rc = -errno;
  }
  if (rc == 0 && fd < 0) rc = -EEXIST;
  if (rc < 0) {
    close(dirfd);
    return rc;
  }
  bool ok = fchmod(fd, 0600) == 0 && write_all(fd, data, len) && (!durable || fsync(fd) == 0 || errno == EINVAL);
  if (!ok) rc = -errno;
  if (close(fd) != 0 && ok) rc = -errno, ok = false;
  if (ok) rc = target_ok(dirfd, leaf);
  bool renamed = false;  // our file is at `leaf`, nothing of ours at `tmp`
  if (ok && rc == 0) {
    // Exchange: the old target is then at the temporary name, to be looked at before it goes.
    if (syscall(SYS_renameat2, dirfd, tmp, dirfd, leaf, RENAME_EXCHANGE) == 0) {
      struct stat st;
      if (fstatat(dirfd, tmp, &st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISREG(st.st_mode)) {
        // Put back what was put there meanwhile, and do not remove it.
        rc = syscall(SYS_renameat2, dirfd, tmp, dirfd, leaf, RENAME_EXCHANGE) == 0 ? -EINVAL : -errno;
        if (rc != -EINVAL) renamed = true;  // cannot put it back: leave it at the temporary name
      }
      // else: `tmp` now names the old regular file, removed below
    } else if (errno == ENOENT) {  // no target: never replace one that appeared meanwhile
      if (syscall(SYS_renameat2, dirfd, tmp, dirfd, leaf, RENAME_NOREPLACE) == 0) renamed = true;
      else rc = -errno;
    } else if (errno == EINVAL || errno == ENOSYS) {  // a file system without exchange (checked above)
      if (renameat(dirfd, tmp, dirfd, leaf) == 0) renamed = true;
      else rc = -errno;
    } else {
      rc = -errno;
    }
  }
  if (!renamed) unlinkat(dirfd, tmp, 0);  // the old target after an exchange, or our file
  close(dirfd);
  return rc;
}

const char* safe_file_reason(int err) noexcept {
  if (err < 0) err = -err;
  switch (err) {
    case ELOOP: return "a symlink in its path";
    case EINVAL: return "not a regular file";
    case EPERM: return "owned by another user";
    default: return std::strerror(err);
  }
}

}  // namespace fragscope::files
