// `fragscope compare` (see compare_command.hpp): the runs. Each round runs CMD once per
// allocator, twice: plainly with the allocator preloaded (wall and CPU time, peak RSS from the
// kernel's rusage, VmRSS sampled every 20 ms for the steady RSS), then under libfragscope.so on
// top of the same allocator (the heap figures). The pools contender's plain run is the shim with
// FRAGSCOPE_ENABLE=0: the preload remediation stays on for the application's calls while nothing
// is recorded (preload.cpp's pass-through paths), so its time is the pools' own. Rounds take the allocators in turn, so that a
// change in the machine's load spreads over all of them.
#include "compare_command.hpp"

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <thread>

#include "compare.hpp"
#include "output_file.hpp"
#include "run_command.hpp"
#include "snapshot_file.hpp"

namespace fragscope::cli {
namespace {

namespace fs = std::filesystem;
using report::AllocatorResult;
using report::RunResult;

struct Env {
  std::string name, value;
};

struct Spawned {
  int status = 0;
  pid_t pid = 0;
  double wall_s = 0, cpu_s = 0, maxrss = 0;
  std::vector<double> rss_samples;
  std::string error;  // could not start, or the last line CMD wrote on stderr when it failed
};

double vm_rss(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::strtod(line.c_str() + 6, nullptr) * 1024;
  return -1;
}

std::string last_line(const std::string& path) {
  std::ifstream in(path);
  std::string line, last;
  while (std::getline(in, line))
    if (!line.empty()) last = line;
  return last;
}

// Runs cmd with env added; its stdout goes to /dev/null and its stderr to `err_path`.
Spawned spawn(const std::vector<std::string>& cmd, const std::vector<Env>& env, const std::string& err_path) {
  Spawned s;
  const auto start = std::chrono::steady_clock::now();
  pid_t pid = fork();
  if (pid < 0) {
    s.status = 2;
    s.error = fmt::format("fork failed: {}", std::strerror(errno));
    return s;
  }
  if (pid == 0) {
    int null = open("/dev/null", O_WRONLY);
    int err = open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (null >= 0) dup2(null, STDOUT_FILENO);
    if (err >= 0) dup2(err, STDERR_FILENO);
    for (const auto& e : env) {
      if (e.value.empty()) unsetenv(e.name.c_str());
      else setenv(e.name.c_str(), e.value.c_str(), 1);
    }
    std::vector<char*> argv;
    for (const auto& a : cmd) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execvp(argv[0], argv.data());
    fmt::print(stderr, "cannot execute {}: {}\n", cmd[0], std::strerror(errno));
    _exit(errno == ENOENT ? 127 : 126);
  }
  s.pid = pid;
  int status = 0;
  rusage ru{};
  while (true) {
    pid_t r = wait4(pid, &status, WNOHANG, &ru);
    if (r == pid) break;
    if (r < 0 && errno != EINTR) {
      s.error = fmt::format("wait failed: {}", std::strerror(errno));
      break;
    }
    double rss = vm_rss(pid);
    if (rss >= 0) s.rss_samples.push_back(rss);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  s.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  s.cpu_s = static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
            static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
  s.maxrss = static_cast<double>(ru.ru_maxrss) * 1024;
  s.status = WIFEXITED(status) ? WEXITSTATUS(status) : WIFSIGNALED(status) ? 128 + WTERMSIG(status) : 1;
  if (s.status != 0 && s.error.empty()) {
    std::string line = last_line(err_path);
    s.error = fmt::format("exit status {}{}{}", s.status, line.empty() ? "" : ": ", line.substr(0, 200));
  }
  return s;
}

// --lib-dir first, then $FRAGSCOPE_LIB_DIRS (colon-separated) if set, else the system's.
std::vector<std::string> library_dirs(const std::vector<std::string>& extra) {
  std::vector<std::string> dirs = extra;
  if (const char* env = std::getenv("FRAGSCOPE_LIB_DIRS")) {
    std::string v = env;
    for (std::size_t start = 0; start <= v.size();) {
      std::size_t colon = std::min(v.find(':', start), v.size());
      if (colon > start) dirs.push_back(v.substr(start, colon - start));
      start = colon + 1;
    }
    return dirs;
  }
  utsname u{};
  if (uname(&u) == 0) {
    std::string m = u.machine;
    dirs.push_back("/usr/lib/" + m + "-linux-gnu");
    dirs.push_back("/lib/" + m + "-linux-gnu");
  }
  for (const char* d : {"/usr/lib64", "/usr/lib", "/usr/local/lib"}) dirs.push_back(d);
  return dirs;
}

std::string join_command(const std::vector<std::string>& cmd) {
  std::string s;
  for (const auto& a : cmd) s += (s.empty() ? "" : " ") + (a.find(' ') == std::string::npos ? a : "'" + a + "'");
  return s;
}

bool interactive() { return isatty(STDERR_FILENO) != 0; }

void progress(const std::string& line) {
  if (interactive()) fmt::print(stderr, "\r\033[K{}", line);
  else fmt::print(stderr, "{}\n", line);
}

}  // namespace

int compare_command(const CompareOptions& opt) {
  if (opt.command.empty()) {
    std::cerr << "fragscope compare: no command given (fragscope compare [options] -- CMD ARGS...)\n";
    return 2;
  }
  const std::string shim = find_shim(opt.lib, "compare");
  if (shim.empty()) return 2;
  // Outputs are checked before hours of runs, not after.
  for (const std::string* out : {&opt.json_out, &opt.html_out}) {
    if (out->empty()) continue;
    fs::path dir = fs::absolute(*out).parent_path();
    if (access(dir.c_str(), W_OK) != 0) {
      std::cerr << "fragscope compare: cannot write " << *out << ": " << dir.string() << " is not a writable directory\n";
      return 2;
    }
  }
  char tmpl[] = "/tmp/fragscope-compare.XXXXXX";
  if (mkdtemp(tmpl) == nullptr) {
    std::cerr << "fragscope compare: cannot create a temporary directory: " << std::strerror(errno) << "\n";
    return 2;
  }
  const std::string tmp = tmpl;
  const std::string user_preload = std::getenv("LD_PRELOAD") ? std::getenv("LD_PRELOAD") : "";
  const auto dirs = library_dirs(opt.lib_dirs);

  std::vector<AllocatorResult> results;
  for (const auto& name : opt.allocators) {
    AllocatorResult a;
    auto spec = report::find_allocator(name);
    a.spec = spec ? *spec : report::AllocatorSpec{name, "", ""};
    if (!spec) {
      a.skipped = "unknown allocator (known: glibc, jemalloc, tcmalloc, mimalloc, pools, trim)";
    } else if (!spec->library.empty()) {
      a.library_path = report::locate_library(*spec, dirs);
      if (a.library_path.empty())
        a.skipped = fmt::format("{} not found; install the Debian package {}", spec->library, spec->package);
    }
    if (name == "pools") a.pool_sizes = opt.pool_sizes;
    results.push_back(a);
  }

  const std::string command = join_command(opt.command);
  int failures = 0;
  for (int round = 1; round <= opt.runs; ++round) {
    for (std::size_t i = 0; i < results.size(); ++i) {
      AllocatorResult& a = results[i];
      if (!a.skipped.empty()) continue;
      const bool pools = a.spec.name == "pools";
      const bool trim = a.spec.name == "trim";  // glibc with FRAGSCOPE_TRIM (1 MiB)
      if (pools && a.pool_sizes.empty()) {
        // The most frequent request sizes of the first allocator that ran under the shim.
        for (const auto& other : results)
          for (const auto& r : other.runs)
            if (a.pool_sizes.empty() && r.heap) a.pool_sizes = report::pool_sizes_from(*r.heap);
        if (a.pool_sizes.empty()) {
          a.skipped = "no pool sizes: give --pool-sizes, or list an allocator before pools";
          continue;
        }
      }
      auto with_user = [&](std::string preload) {
        if (!user_preload.empty()) preload += (preload.empty() ? "" : ":") + user_preload;
        return preload;
      };
      const std::string tag = fmt::format("{}.{}", a.spec.name, round);
      progress(fmt::format("fragscope compare: round {}/{}: {} (plain)", round, opt.runs, a.spec.name));
      std::vector<Env> plain_env = {{"LD_PRELOAD", with_user(pools || trim ? shim : a.library_path)}};
      if (pools || trim) {  // the remedy alone, timed without fragscope's recording
        plain_env.push_back({"FRAGSCOPE_ENABLE", "0"});
        plain_env.push_back({"FRAGSCOPE_POOL_SIZES", pools ? a.pool_sizes : ""});
        plain_env.push_back({"FRAGSCOPE_TRIM", trim ? "1048576" : ""});
        plain_env.push_back({"FRAGSCOPE_INTERVAL_MS", std::to_string(opt.interval_ms)});
        plain_env.push_back({"FRAGSCOPE_SUMMARY", "0"});
      }
      Spawned plain = spawn(opt.command, plain_env, tmp + "/" + tag + ".plain.err");
      RunResult r;
      r.status = plain.status;
      r.error = plain.error;
      r.wall_s = plain.wall_s;
      r.cpu_s = plain.cpu_s;
      r.peak_rss = plain.maxrss;
      r.steady_rss = report::steady_rss(plain.rss_samples);

      progress(fmt::format("fragscope compare: round {}/{}: {} (under fragscope)", round, opt.runs, a.spec.name));
      std::string preload = shim;
      if (!a.library_path.empty()) preload += ":" + a.library_path;
      std::vector<Env> shim_env = {{"LD_PRELOAD", with_user(preload)},
                                   {"FRAGSCOPE_OUTPUT", tmp + "/" + tag + ".%p.jsonl"},
                                   {"FRAGSCOPE_INTERVAL_MS", std::to_string(opt.interval_ms)},
                                   {"FRAGSCOPE_SUMMARY", "0"},
                                   {"FRAGSCOPE_ENABLE", "1"},
                                   {"FRAGSCOPE_POOL_SIZES", pools ? a.pool_sizes : ""},
                                   {"FRAGSCOPE_TRIM", trim ? "1048576" : ""}};
      Spawned measured = spawn(opt.command, shim_env, tmp + "/" + tag + ".shim.err");
      const std::string snap = fmt::format("{}/{}.{}.jsonl", tmp, tag, measured.pid);
      if (measured.status == 0) {
        try {
          r.heap = report::heap_figures(report::read_snapshot_file(snap));
        } catch (const std::exception& e) {
          r.error = fmt::format("no snapshots from the run under fragscope ({})", e.what());
        }
      } else if (r.error.empty()) {
        r.status = measured.status;
        r.error = "under fragscope: " + measured.error;
      }
      if (!r.ok()) ++failures;
      a.runs.push_back(std::move(r));
    }
  }
  if (interactive()) fmt::print(stderr, "\r\033[K");
  std::error_code ec;
  fs::remove_all(tmp, ec);

  fmt::print("{}", report::render_compare_table(results, command));
  int rc = failures ? 1 : 0;
  try {
    if (!opt.json_out.empty()) {
      report::write_file_atomically(opt.json_out, report::compare_json(results, command).dump(2) + "\n");
      fmt::print("  JSON written to {}\n", opt.json_out);
    }
    if (!opt.html_out.empty()) {
      report::write_file_atomically(opt.html_out, report::render_compare_html(results, command));
      fmt::print("  HTML written to {}\n", opt.html_out);
    }
  } catch (const std::exception& e) {
    std::cerr << "fragscope compare: " << e.what() << "\n";
    rc = 2;
  }
  return rc;
}

}  // namespace fragscope::cli
