// The reporter's descriptors, what it says on stderr, and its bounded reads of /proc files
// (see reporter_parts.hpp).
#include <fcntl.h>
#include <linux/close_range.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <string_view>

#include "config.hpp"
#include "reporter_parts.hpp"
#include "runtime.hpp"

namespace fragscope::shim::rep {

Scratch g_proctext;
thread_local bool t_own_fds = false;
FileId g_stderr_id;
int g_pidfd = -1;

FileId identify_fd(int fd) {
  struct stat st;
  if (fd < 0 || fstat(fd, &st) != 0) return {};
  return FileId{st.st_dev, st.st_ino, st.st_rdev, static_cast<mode_t>(st.st_mode & S_IFMT), true};
}
bool same_file(const FileId& a, const FileId& b) {
  return a.valid && b.valid && a.dev == b.dev && a.ino == b.ino && a.rdev == b.rdev && a.type == b.type;
}
bool still_ours(int fd, const FileId& id) { return same_file(identify_fd(fd), id); }
// Closes `fd` only if it is still the file we opened. Race-free only in our own table (or in a
// fork child's handler, where no other thread runs yet); in the host's table a thread of the
// host may reuse the number between the check and the close (see own_fd_table).
void close_if_ours(int fd, const FileId& id) {
  if (still_ours(fd, id)) close(fd);
}

// Makes the calling thread's descriptor table its own, empty: CLOSE_RANGE_UNSHARE unshares the
// table and closes every copied descriptor at once (the kernel does not even copy them), so we
// never hold a reference to a file of the host (a pipe it closes sees its EOF as without us).
// Numbers 0 to 2 are then filled with an eventfd, so that nothing of ours lands on them and a
// library writing to "stderr" from our thread writes nowhere. Returns false (and changes nothing)
// on a kernel before 5.9 or under a filter that denies close_range: the thread then works in the
// host's table, with the checks above and their window.
bool own_fd_table() {
  if (syscall(SYS_close_range, 0u, ~0u, CLOSE_RANGE_UNSHARE) != 0) return false;
  const int e = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (e == 0) {
    fcntl(e, F_DUPFD_CLOEXEC, 1);
    fcntl(e, F_DUPFD_CLOEXEC, 2);
  }
  // The process's fd 2 is in the host's table now: say() takes it from there with pidfd_getfd.
  g_pidfd = static_cast<int>(syscall(SYS_pidfd_open, getpid(), 0));
  t_own_fds = true;
  return true;
}

void say(const char* line) {
  // One write per line so lines from several processes do not interleave. A line may echo the
  // host's values (paths, environment): escaped, so that nothing in it acts on a terminal.
  char buf[600];
  std::size_t n = core::escape_text(line, sizeof(buf), buf, sizeof(buf) - 1);
  buf[n] = '\n';
  // fd 2 is written only while it is the stderr the process started with.
  if (t_own_fds) {
    // A copy, in our table, of the file the process's fd 2 refers to at this instant: what we
    // check is what we write to, and closing the copy closes nothing of the host's.
    const int fd = g_pidfd >= 0 ? static_cast<int>(syscall(SYS_pidfd_getfd, g_pidfd, STDERR_FILENO, 0)) : -1;
    if (fd < 0) return;  // the line is still in the next snapshot's warnings
    if (still_ours(fd, g_stderr_id)) {
      ssize_t r = write(fd, buf, n + 1);
      (void)r;
    }
    close(fd);
    return;
  }
  // A host thread (a hook's warning, or the exit summary): the host's own table. The host may
  // redirect fd 2 between this check and the write; it is its stderr either way.
  if (!still_ours(STDERR_FILENO, g_stderr_id)) return;
  ssize_t r = write(STDERR_FILENO, buf, n + 1);
  (void)r;
}

namespace {

// Whether `path` is said about for the first time (per kind; up to 16 paths each).
bool first_time(std::uint64_t (&said)[16], std::size_t& nsaid, const char* path) {
  std::uint64_t h = 1469598103934665603ULL;  // FNV-1a of the path
  for (const char* c = path; *c != '\0'; ++c) h = (h ^ static_cast<unsigned char>(*c)) * 1099511628211ULL;
  for (std::size_t i = 0; i < nsaid; ++i)
    if (said[i] == h) return false;
  if (nsaid < 16) said[nsaid++] = h;
  return true;
}

// Says once per file that it was larger than its bound and not read.
void say_too_large(const char* path, std::size_t limit) {
  static std::uint64_t said[16];
  static std::size_t nsaid = 0;
  if (!first_time(said, nsaid, path)) return;
  char line[256];
  std::snprintf(line, sizeof(line), "fragscope: %.120s goes on past %zu KiB (not a /proc file?); not read, its figures are left out",
                path, limit >> 10);
  warn_once(line);
}

// Says once per file that it is not a regular file and was not read.
void say_not_regular(const char* path) {
  static std::uint64_t said[16];
  static std::size_t nsaid = 0;
  if (!first_time(said, nsaid, path)) return;
  char line[256];
  std::snprintf(line, sizeof(line), "fragscope: %.120s is not a regular file (a device? a FIFO?); not read, its figures are left out", path);
  warn_once(line);
}

// Calls f(dir, end) with `dir` = root + path and then each directory above it up to root;
// `end` points at the end of dir's text, for the caller to append a file name.
template <class F>
void for_each_cgroup_dir(const char* root, std::string_view path, F&& f) {
  char dir[1024];
  const std::size_t root_len = std::strlen(root);
  if (root_len + path.size() + 64 > sizeof(dir)) return;
  std::memcpy(dir, root, root_len);
  proc::for_each_cgroup_level(path, [&](std::string_view level) {
    std::memcpy(dir + root_len, level.data(), level.size());
    dir[root_len + level.size()] = '\0';
    f(dir, dir + root_len + level.size());
  });
}

// Copies what read_path or read_proc just read into g_proctext (n bytes, or -errno) into out,
// NUL-terminated and cut to cap - 1 bytes; its length, or -1.
long copy_read(long n, char* out, std::size_t cap) {
  if (n < 0) return -1;
  const std::size_t len = std::min(static_cast<std::size_t>(n), cap - 1);
  std::memcpy(out, g_proctext.p, len);
  out[len] = '\0';
  return static_cast<long>(len);
}

}  // namespace

// Reads `<proc_dir>/self/<name>` (or `<proc_dir>/<name>` for the system's files) whole into
// `buf`, NUL-terminated; returns its length or -errno. If the host took the descriptor from
// under us, what was read may be someone else's: it is dropped, and the file read once more.
// At most `limit` bytes (files::k*Max; FRAGSCOPE_PROC_DIR may name anything, /dev/zero too): a
// file that goes on is cut there when `cut_ok`, else not read (-EFBIG) and said once.
long read_path(const char* path, Scratch& buf, std::size_t limit, bool cut_ok) {
  for (int attempt = 0;; ++attempt) {
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0) return -errno;
    const FileId id = identify_fd(fd);
    std::size_t len = 0;
    int err = 0;
    // Only a regular file is read, and only one that does not say it is larger than the bound:
    // the kernel's /proc files are regular and say 0 bytes; a device (/dev/zero), a FIFO or a
    // large file planted in FRAGSCOPE_PROC_DIR is refused before a byte of it is read, so the
    // host's memory never holds it, not even up to the bound.
    struct stat st;
    if (id.valid && id.type == S_IFDIR) err = EISDIR;  // as read() would say
    else if (id.valid && id.type != S_IFREG) err = EINVAL;
    else if (fstat(fd, &st) == 0 && static_cast<std::size_t>(st.st_size) > limit) err = EFBIG;
    for (; err == 0;) {
      if (len > limit) {  // one byte past the bound read: the file goes on
        if (cut_ok) len = limit;
        else err = EFBIG;
        break;
      }
      const std::size_t want = std::min<std::size_t>(len + 65536, limit + 2);  // room for the byte past it and the NUL
      if (want > buf.cap && !buf.ensure(want, "proc-text")) {
        err = ENOMEM;
        break;
      }
      ssize_t r = read(fd, static_cast<char*>(buf.p) + len, std::min(buf.cap, limit + 2) - len - 1);
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) {
        err = errno;
        break;
      }
      if (r == 0) break;
      len += static_cast<std::size_t>(r);
    }
    buf.touched(len + 1);
    const bool intact = still_ours(fd, id);
    if (intact) close(fd);  // never close a number that is no longer ours
    if (!intact || err == EBADF) {
      if (attempt == 0) continue;
      return -EBADF;
    }
    if (err == EFBIG) say_too_large(path, limit);
    if (err == EINVAL) say_not_regular(path);
    if (err != 0) return -err;
    static_cast<char*>(buf.p)[len] = '\0';
    return static_cast<long>(len);
  }
}

long read_proc(const char* name, Scratch& buf, bool self) {
  char path[core::Config::kPathMax + 32];
  std::snprintf(path, sizeof(path), self ? "%s/self/%s" : "%s/%s", g_cfg.proc_dir, name);
  const std::size_t limit = std::strcmp(name, "smaps") == 0 ? files::kSmapsFileMax
                            : std::strcmp(name, "maps") == 0 ? files::kMapsFileMax
                                                             : files::kSmallProcFileMax;
  return read_path(path, buf, limit);
}

// The CPUs this process can use at once: its affinity mask, capped by the CPU quotas of its
// cgroup and of the cgroups above it (cgroup v2 cpu.max; cgroup v1 cpu.cfs_quota_us over
// cpu.cfs_period_us). 0 when the mask cannot be read and no quota is set.
double usable_cpus() {
  cpu_set_t set;
  double cpus = sched_getaffinity(0, sizeof(set), &set) == 0 ? CPU_COUNT(&set) : 0;
  const auto cap = [&](std::optional<double> quota) {
    if (quota && *quota > 0 && (cpus == 0 || *quota < cpus)) cpus = *quota;
  };
  char cgroups[4096], quota[64], period[64];
  const long n = copy_read(read_proc("cgroup", g_proctext), cgroups, sizeof(cgroups));
  if (n <= 0) return cpus;
  const std::string_view text(cgroups, static_cast<std::size_t>(n));
  if (const auto v2 = proc::parse_cgroup_v2_path(text)) {
    for_each_cgroup_dir("/sys/fs/cgroup", *v2, [&](char* dir, char* end) {
      std::memcpy(end, "/cpu.max", sizeof("/cpu.max"));
      const long q = copy_read(read_path(dir, g_proctext), quota, sizeof(quota));
      if (q > 0) cap(proc::parse_cpu_max(std::string_view(quota, static_cast<std::size_t>(q))));
    });
  }
  if (const auto v1 = proc::parse_cgroup_v1_path(text, "cpu")) {
    for_each_cgroup_dir("/sys/fs/cgroup/cpu", *v1, [&](char* dir, char* end) {
      std::memcpy(end, "/cpu.cfs_quota_us", sizeof("/cpu.cfs_quota_us"));
      const long q = copy_read(read_path(dir, g_proctext), quota, sizeof(quota));
      std::memcpy(end, "/cpu.cfs_period_us", sizeof("/cpu.cfs_period_us"));
      const long p = q > 0 ? copy_read(read_path(dir, g_proctext), period, sizeof(period)) : -1;
      if (p > 0)
        cap(proc::parse_cfs_quota(std::string_view(quota, static_cast<std::size_t>(q)),
                                  std::string_view(period, static_cast<std::size_t>(p))));
    });
  }
  return cpus;
}

// The process's resident bytes from /proc/self/statm ("size resident ..." in pages), or -1.
long long resident_bytes() {
  const long n = read_proc("statm", g_proctext);
  if (n <= 0) return -1;
  const char* p = static_cast<const char*>(g_proctext.p);
  const char* end = p + n;
  while (p < end && *p != ' ') ++p;  // size
  unsigned long long pages = 0;
  const auto [next, ec] = std::from_chars(p + (p < end ? 1 : 0), end, pages);
  if (ec != std::errc() || next == p + 1) return -1;
  return static_cast<long long>(pages * core::page_size());
}

}  // namespace fragscope::shim::rep
