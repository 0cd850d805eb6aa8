// `fragscope system` (see system_command.hpp): reads the sources, renders with system_report.
#include "system_command.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

#include "input_file.hpp"
#include "safe_file.hpp"
#include "system_report.hpp"

namespace fragscope::cli {
namespace {

// The file's text, or the reason it cannot be read. At most files::kSmallProcFileMax bytes: a
// file that goes on past it (--proc naming /dev/zero) is not read, and said on stderr.
bool read_text(const std::string& path, std::string* text, std::string* why) {
  const int e = report::read_file_bounded(path, files::kSmallProcFileMax, text);
  if (e == 0) return true;
  if (e == EFBIG) {
    *why = report::too_large_message(path, files::kSmallProcFileMax);
    fmt::print(stderr, "fragscope system: {}\n", *why);
  } else {
    *why = fmt::format("{}: {}{}", path, std::strerror(e), e == EACCES || e == EPERM ? " (root only)" : "");
  }
  return false;
}

// Every record /dev/kmsg holds now, without blocking.
bool read_kmsg(std::string* text, std::string* why) {
  int fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    const int e = errno;
    *why = fmt::format("/dev/kmsg (kernel log): {}{}", std::strerror(e),
                       e == EACCES || e == EPERM ? " (root, or CAP_SYSLOG with kernel.dmesg_restrict)" : "");
    return false;
  }
  char buf[8192];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n > 0) {
      text->append(buf, static_cast<std::size_t>(n));
      if (text->back() != '\n') text->push_back('\n');
      continue;
    }
    if (n < 0 && errno == EPIPE) continue;  // a record was overwritten while we read: go on
    break;                                  // EAGAIN: no more records
  }
  close(fd);
  return true;
}

report::SystemSample take(const SystemOptions& opt) {
  report::SystemSample s;
  std::string text, why;
  const std::string p = opt.proc_dir;
  if (read_text(p + "/meminfo", &text, &why)) s.meminfo = proc::parse_meminfo(text);
  else s.skipped.push_back(why);
  if (read_text(p + "/buddyinfo", &text, &why)) s.buddy = proc::parse_buddyinfo(text);
  else s.skipped.push_back(why);
  if (read_text(p + "/vmstat", &text, &why)) s.vmstat = proc::parse_vmstat(text);
  else s.skipped.push_back(why);
  for (const char* t : {"/sys/vm/min_free_kbytes", "/sys/vm/compaction_proactiveness", "/sys/vm/extfrag_threshold",
                        "/sys/vm/overcommit_memory", "/sys/vm/swappiness"}) {
    std::string v;
    s.tunables[p + t] = read_text(p + t, &v, &why) ? v.substr(0, v.find('\n')) : "";
  }
  for (const char* t : {"/sys/kernel/mm/transparent_hugepage/enabled", "/sys/kernel/mm/transparent_hugepage/defrag"}) {
    std::string v;
    s.tunables[t] = read_text(t, &v, &why) ? v.substr(0, v.find('\n')) : "";
  }
  if (read_text(p + "/pagetypeinfo", &text, &why)) s.pageblocks = report::parse_pageblocks(text);
  else s.skipped.push_back(why);
  if (read_text(p + "/slabinfo", &text, &why)) s.slabs = report::parse_slabinfo(text);
  else s.skipped.push_back(why);
  text.clear();
  if (read_kmsg(&text, &why)) s.kernel_log = report::scan_kernel_log(text);
  else s.skipped.push_back(why);
  return s;
}

}  // namespace

int system_command(const SystemOptions& opt) {
  report::SystemSample prev;
  for (int n = 0;; ++n) {
    report::SystemSample now = take(opt);
    if (!now.meminfo && !now.buddy && !now.vmstat) {
      fmt::print(stderr, "fragscope system: cannot read {}/meminfo, buddyinfo or vmstat\n", opt.proc_dir);
      for (const auto& s : now.skipped) fmt::print(stderr, "  {}\n", s);
      return 2;
    }
    if (n > 0) fmt::print("\n");
    fmt::print("{}", report::render_system(now, n > 0 ? &prev : nullptr, opt.watch_s));
    std::fflush(stdout);
    if (opt.watch_s <= 0 || (opt.count > 0 && n + 1 >= opt.count)) return 0;
    prev = std::move(now);
    std::this_thread::sleep_for(std::chrono::duration<double>(opt.watch_s));
  }
}

}  // namespace fragscope::cli
