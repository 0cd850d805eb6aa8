// `fragscope run` (see run_command.hpp).
#include "run_command.hpp"

#include <elf.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/statvfs.h>
#include <sys/xattr.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>

#include "html_report.hpp"
#include "output_file.hpp"
#include "snapshot_file.hpp"
#include "text_report.hpp"

namespace fragscope::cli {
namespace {

volatile sig_atomic_t g_child = 0;

void forward_signal(int sig) {
  if (g_child > 0) kill(g_child, sig);
}

std::string expand(const std::string& pattern, long pid) {
  std::string out;
  for (std::size_t i = 0; i < pattern.size(); ++i) {
    if (pattern[i] == '%' && i + 1 < pattern.size() && pattern[i + 1] == 'p') {
      out += std::to_string(pid);
      ++i;
    } else if (pattern[i] == '%' && i + 1 < pattern.size() && pattern[i + 1] == '%') {
      out += '%';
      ++i;
    } else {
      out += pattern[i];
    }
  }
  return out;
}

// The file execvp would run for `name`: itself when it has a slash, else the first executable
// regular file of that name in $PATH. Empty when there is none.
std::string resolve_command(const std::string& name) {
  if (name.find('/') != std::string::npos) return name;
  const char* path = std::getenv("PATH");
  std::string dirs = path != nullptr ? path : "/usr/local/bin:/usr/bin:/bin";
  std::size_t start = 0;
  while (start <= dirs.size()) {
    const std::size_t colon = std::min(dirs.find(':', start), dirs.size());
    std::string dir = dirs.substr(start, colon - start);
    std::string cand = (dir.empty() ? std::string(".") : dir) + "/" + name;
    struct stat st {};
    if (stat(cand.c_str(), &st) == 0 && S_ISREG(st.st_mode) && access(cand.c_str(), X_OK) == 0) return cand;
    start = colon + 1;
  }
  return {};
}

// Whether `path` is an ELF executable without a program interpreter (PT_INTERP): statically
// linked (static-pie included), so no dynamic loader runs and LD_PRELOAD is never read.
template <typename Ehdr, typename Phdr>
bool elf_without_interp(int fd) {
  Ehdr eh{};
  if (pread(fd, &eh, sizeof(eh), 0) != static_cast<ssize_t>(sizeof(eh))) return false;
  if (eh.e_phentsize != sizeof(Phdr) || eh.e_phnum == 0 || eh.e_phnum > 4096) return false;
  for (unsigned i = 0; i < eh.e_phnum; ++i) {
    Phdr ph{};
    if (pread(fd, &ph, sizeof(ph), static_cast<off_t>(eh.e_phoff + i * sizeof(Phdr))) != static_cast<ssize_t>(sizeof(ph)))
      return false;
    if (ph.p_type == PT_INTERP) return false;
  }
  return eh.e_type == ET_EXEC || eh.e_type == ET_DYN;
}

bool is_static_elf(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  unsigned char ident[EI_NIDENT] = {};
  bool result = false;
  if (pread(fd, ident, sizeof(ident), 0) == static_cast<ssize_t>(sizeof(ident)) && std::memcmp(ident, ELFMAG, SELFMAG) == 0)
    result = ident[EI_CLASS] == ELFCLASS64 ? elf_without_interp<Elf64_Ehdr, Elf64_Phdr>(fd)
                                           : ident[EI_CLASS] == ELFCLASS32 && elf_without_interp<Elf32_Ehdr, Elf32_Phdr>(fd);
  close(fd);
  return result;
}

// Why the loader will not preload our library into `path`, or empty: setuid or setgid to another
// user or group, or file capabilities, put it in secure-execution mode, where LD_PRELOAD entries
// with a slash (ours is an absolute path) are ignored.
std::string secure_execution_reason(const std::string& path) {
  struct stat st {};
  struct statvfs fs {};
  if (stat(path.c_str(), &st) != 0) return {};
  if (statvfs(path.c_str(), &fs) == 0 && (fs.f_flag & ST_NOSUID)) return {};  // the bits mean nothing there
  if ((st.st_mode & S_ISUID) && st.st_uid != geteuid()) return fmt::format("setuid (owner uid {})", st.st_uid);
  if ((st.st_mode & S_ISGID) && st.st_gid != getegid()) return fmt::format("setgid (group gid {})", st.st_gid);
  if (getxattr(path.c_str(), "security.capability", nullptr, 0) > 0) return "given file capabilities (setcap)";
  return {};
}

// "SIGKILL" for 9; "signal 42" for one without a name.
std::string signal_name(int sig) {
  const char* abbrev = sigabbrev_np(sig);
  return abbrev != nullptr ? std::string("SIG") + abbrev : fmt::format("signal {}", sig);
}

}  // namespace

std::string find_beside_cli(const std::vector<std::string>& candidates) {
  std::error_code ec;
  auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) return {};
  for (const auto& c : candidates) {
    auto p = (exe.parent_path() / c).lexically_normal();
    if (std::filesystem::exists(p, ec)) return p.string();
  }
  return {};
}

std::string find_shim(const std::string& lib_option, const char* subcommand) {
  std::string lib = lib_option;
  if (lib.empty()) {
    if (const char* e = std::getenv("FRAGSCOPE_LIB")) lib = e;
    else lib = find_beside_cli({"../../shim/libfragscope.so", "../lib/libfragscope.so", "libfragscope.so"});
  }
  if (lib.empty() || access(lib.c_str(), R_OK) != 0) {
    std::cerr << "fragscope " << subcommand << ": cannot find libfragscope.so" << (lib.empty() ? "" : " at " + lib)
              << " (set --lib or FRAGSCOPE_LIB)\n";
    return {};
  }
  return std::filesystem::absolute(lib).string();
}

int run_command(const RunOptions& opt) {
  const std::string lib = find_shim(opt.lib, "run");
  if (lib.empty()) return 2;
  std::vector<std::string> cmd = opt.command;
  if (cmd.empty()) {
    std::string demo = find_beside_cli({"../../examples/fragmenting_service", "../libexec/fragscope/fragmenting_service"});
    if (demo.empty()) {
      std::cerr << "fragscope run: no command given and the example service is not built\n";
      return 2;
    }
    cmd = {demo};
    std::cerr << "fragscope run: no command given; running the bundled example service " << demo << "\n";
  }
  std::string output = opt.output;
  if (output.find("%p") == std::string::npos)
    std::cerr << "fragscope run: note: --output has no %p; forked children append their pid to it, and the "
                 "programs the command executes write into it too (the reports tell them apart by pid and run id)\n";
  // Programs the shim cannot be loaded into: said before they run, and again at the end.
  std::string unmeasurable;
  if (const std::string exe = resolve_command(cmd[0]); !exe.empty()) {
    if (is_static_elf(exe))
      unmeasurable = fmt::format("{} is statically linked (no program interpreter): no dynamic loader runs, so "
                                 "LD_PRELOAD is ignored and fragscope cannot measure it",
                                 exe);
    else if (const std::string why = secure_execution_reason(exe); !why.empty())
      unmeasurable = fmt::format("{} is {}: the loader runs it in secure-execution mode and ignores LD_PRELOAD "
                                 "paths with a slash, so fragscope cannot measure it (run it as its owner, or a copy "
                                 "without the bit)",
                                 exe, why);
    if (!unmeasurable.empty()) std::cerr << "fragscope run: warning: " << unmeasurable << "; running it anyway\n";
  }
  std::string preload = lib;
  if (const char* old = std::getenv("LD_PRELOAD"); old && *old) preload += std::string(":") + old;

  struct sigaction sa {}, old_int{}, old_term{}, old_hup{}, old_quit{};
  sa.sa_handler = forward_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, &old_int);
  sigaction(SIGTERM, &sa, &old_term);
  sigaction(SIGHUP, &sa, &old_hup);
  sigaction(SIGQUIT, &sa, &old_quit);

  pid_t pid = fork();
  if (pid < 0) {
    std::cerr << "fragscope run: fork failed: " << std::strerror(errno) << "\n";
    return 2;
  }
  if (pid == 0) {
    sigaction(SIGINT, &old_int, nullptr);
    sigaction(SIGTERM, &old_term, nullptr);
    sigaction(SIGHUP, &old_hup, nullptr);
    sigaction(SIGQUIT, &old_quit, nullptr);
    setenv("LD_PRELOAD", preload.c_str(), 1);
    setenv("FRAGSCOPE_OUTPUT", output.c_str(), 1);
    setenv("FRAGSCOPE_INTERVAL_MS", std::to_string(opt.interval_ms).c_str(), 1);
    setenv("FRAGSCOPE_SUMMARY", opt.shim_summary ? "1" : "0", 1);
    setenv("FRAGSCOPE_FOLLOW_EXEC", opt.follow_exec ? "1" : "0", 1);
    if (!opt.pool_sizes.empty()) setenv("FRAGSCOPE_POOL_SIZES", opt.pool_sizes.c_str(), 1);
    if (!opt.trim.empty()) setenv("FRAGSCOPE_TRIM", opt.trim.c_str(), 1);
    setenv("FRAGSCOPE_MODE", opt.sampled ? "sampled" : "full", 1);
    if (opt.region_one_in != 0) setenv("FRAGSCOPE_REGION_ONE_IN", std::to_string(opt.region_one_in).c_str(), 1);
    if (!opt.metrics_addr.empty()) setenv("FRAGSCOPE_METRICS_ADDR", opt.metrics_addr.c_str(), 1);
    if (!opt.metrics_file.empty()) setenv("FRAGSCOPE_METRICS_FILE", opt.metrics_file.c_str(), 1);
    std::vector<char*> argv;
    for (auto& a : cmd) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execvp(argv[0], argv.data());
    int e = errno;
    fmt::print(stderr, "fragscope run: cannot execute {}: {}\n", cmd[0], std::strerror(e));
    _exit(e == ENOENT ? 127 : 126);
  }
  g_child = pid;
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  g_child = 0;
  sigaction(SIGINT, &old_int, nullptr);
  sigaction(SIGTERM, &old_term, nullptr);
  sigaction(SIGHUP, &old_hup, nullptr);
  sigaction(SIGQUIT, &old_quit, nullptr);
  int rc = WIFEXITED(status) ? WEXITSTATUS(status) : WIFSIGNALED(status) ? 128 + WTERMSIG(status) : 1;
  if (WIFEXITED(status) && (rc == 127 || rc == 126)) return rc;
  // As a shell says it: the signal by name, and 128 + its number as the status.
  const std::string ended =
      WIFSIGNALED(status)
          ? fmt::format("{} was killed by {}{} (exit status {})", cmd[0], signal_name(WTERMSIG(status)),
                        WCOREDUMP(status) ? ", core dumped" : "", rc)
          : fmt::format("{} exited with status {}", cmd[0], rc);

  std::string root = expand(output, pid);
  std::error_code ec;
  if (!std::filesystem::exists(root, ec)) {
    std::string why;
    if (!unmeasurable.empty()) why = unmeasurable;
    else if (WIFSIGNALED(status))
      why = "killed before its first snapshot (the final one is written at exit, the periodic ones every interval)";
    else
      why = "none was written: the program ended (exec, _exit) before its first snapshot, or the shim could not "
            "write there and fell back to $TMPDIR or /tmp (it says so on stderr)";
    std::cerr << "fragscope run: " << ended << "; no snapshots at " << root << ": " << why << "\n";
    return rc;
  }
  std::string others;  // other processes in the same file (an output path without %p)
  if (opt.report || !opt.html.empty()) {
    try {
      auto whole = report::read_snapshot_file(root);
      if (whole.snapshots.empty()) throw std::runtime_error(root + ": no snapshots");
      // The command's own process: the last image of its pid (what it exec'd into, if it did).
      auto procs = report::split_by_process(std::move(whole));
      auto mine = report::select_processes(procs, pid, "");
      if (mine.empty()) throw std::runtime_error(fmt::format("{}: no snapshots of pid {}; it holds {}", root, pid,
                                                             report::list_processes(procs)));
      if (procs.size() > 1)
        others = fmt::format("; the file holds {} processes ({}): fragscope report {} shows each, --pid one",
                             procs.size(), report::list_processes(procs), root);
      const report::SnapshotFile& f = mine.back()->file;
      if (opt.report) std::cerr << "\n" << report::render_text_report(f);
      if (!opt.html.empty()) {
        report::write_file_atomically(opt.html, report::render_html_report(f));
        std::cerr << "\nfragscope run: HTML report written to " << opt.html << "\n";
      }
    } catch (const std::exception& e) {
      std::cerr << "fragscope run: " << e.what() << "\n";
      if (rc == 0) rc = 2;  // the command succeeded but the report it asked for was not written
    }
  }
  std::cerr << "\nfragscope run: " << ended << "; snapshots of pid " << pid << " in " << root << others << "\n";
  return rc;
}

}  // namespace fragscope::cli
