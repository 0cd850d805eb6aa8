// `fragscope check` (see check_command.hpp).
#include "check_command.hpp"

#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "balance.hpp"
#include "json_access.hpp"
#include "snapshot_file.hpp"
#include "text_report.hpp"
#include "advise.hpp"

namespace fragscope::cli {

const char* const kCheckHelp =
    "Each file is split by process (pid and run id: processes that shared an output path without %p are "
    "checked one by one). A process that exited must have a final snapshot; one still running (its pid is alive "
    "here, started before its snapshots, same executable) has its latest periodic snapshot checked instead; an "
    "image replaced by exec has its last snapshot checked.\n"
    "Exit status: 0 every process balances; 1 a snapshot does not balance or misses allocations, a line is "
    "corrupt, a process that is gone left no final snapshot, or fewer files than --min-files; 2 usage error or "
    "a file that cannot be read.";

namespace {

using nlohmann::json;
using report::num;
using report::str;

std::string read_small(const std::string& path) {
  std::ifstream in(path);
  std::string text;
  char buf[4096];
  while (in && text.size() < (1u << 20)) {  // /proc/stat on a big machine: well under 1 MiB
    in.read(buf, sizeof(buf));
    text.append(buf, static_cast<std::size_t>(in.gcount()));
  }
  return text;
}

// Whether the process image whose last snapshot is `last` still runs on this machine: its pid
// exists (not a zombie), the process started no later than the shim did in it (a pid reused since
// started after that), and its executable is the same one when we may read it.
bool still_running(const json& last) {
  const auto pid = report::whole(num(last, "pid"));
  if (pid == 0 || pid > 4194304) return false;
  const std::string stat = read_small(fmt::format("/proc/{}/stat", pid));
  const auto paren = stat.rfind(')');
  if (paren == std::string::npos) return false;
  std::istringstream fields(stat.substr(paren + 1));
  std::string state, field;
  fields >> state;
  if (state == "Z" || state == "X" || state == "x") return false;
  for (int i = 4; i <= 21 && fields >> field; ++i) {  // fields 4..21; starttime is field 22
  }
  unsigned long long start_ticks = 0;
  if (!(fields >> start_ticks)) return false;
  const std::string pstat = read_small("/proc/stat");
  const auto b = pstat.find("\nbtime ");
  if (b == std::string::npos) return false;
  const double btime_s = std::strtod(pstat.c_str() + b + 7, nullptr);
  const long hz = sysconf(_SC_CLK_TCK);
  if (hz <= 0 || btime_s <= 0) return false;
  const double started_ns = (btime_s + static_cast<double>(start_ticks) / static_cast<double>(hz)) * 1e9;
  const double shim_start_ns = num(last, "time_unix_ns") - num(last, "uptime_ns");
  if (shim_start_ns <= 0 || started_ns > shim_start_ns + 1.5e9) return false;  // btime is in whole seconds
  char exe[4096];
  const ssize_t n = readlink(fmt::format("/proc/{}/exe", pid).c_str(), exe, sizeof(exe) - 1);
  const std::string recorded = str(last, "exe");
  if (n > 0 && !recorded.empty()) {
    std::string now(exe, static_cast<std::size_t>(n));
    if (now != recorded && now != recorded + " (deleted)") return false;
  }
  return true;
}

}  // namespace

int check_command(const std::vector<std::string>& paths, std::size_t min_files) {
  if (paths.size() < min_files) {
    fmt::print(stderr, "fragscope check: {} files, expected at least {}\n", paths.size(), min_files);
    return 1;
  }
  int rc = 0;
  std::size_t processes = 0;
  std::vector<std::string> notes;
  for (const auto& p : paths) {
    report::SnapshotFile f;
    try {
      f = report::read_snapshot_file(p);
    } catch (const std::exception& e) {
      fmt::print(stderr, "fragscope check: {}\n", e.what());
      rc = 2;
      continue;
    }
    for (const auto& e : f.errors) {
      fmt::print(stderr, "fragscope check: {}:{}: {}\n", p, e.line, e.message);
      rc = std::max(rc, 1);
    }
    if (f.snapshots.empty()) {
      fmt::print(stderr, "fragscope check: {}: no snapshots\n", p);
      rc = std::max(rc, 1);
      continue;
    }
    const auto procs = report::split_by_process(std::move(f));
    processes += procs.size();
    for (std::size_t i = 0; i < procs.size(); ++i) {
      const auto& proc = procs[i];
      // Several processes in one file: each message names the one it is about.
      const std::string who = procs.size() == 1 ? p : fmt::format("{}: {}", p, proc.label());
      const json* pick = proc.file.final_snapshot();
      if (pick == nullptr) {
        const json& last = proc.file.snapshots.back();
        // A later image with the same pid: this one called exec, which leaves no final snapshot.
        const bool replaced = std::any_of(procs.begin() + static_cast<std::ptrdiff_t>(i) + 1, procs.end(),
                                          [&](const report::ProcessSnapshots& q) { return q.pid == proc.pid; });
        if (replaced) {
          notes.push_back(fmt::format("{}: replaced by exec: its last snapshot (seq {}) checked", who,
                                      report::whole(num(last, "seq"))));
        } else if (still_running(last)) {
          notes.push_back(fmt::format("{}: still running: its last periodic snapshot (seq {}) checked", who,
                                      report::whole(num(last, "seq"))));
        } else {
          fmt::print(stderr,
                     "fragscope check: {}: no final snapshot, and the process is not running (killed by a signal, "
                     "_exit(), or a crash)\n",
                     who);
          rc = std::max(rc, 1);
          continue;
        }
        pick = &last;
      }
      // Figures that balance but miss allocations are not a whole picture either.
      for (const auto& g : report::coverage_gaps(*pick)) {
        fmt::print(stderr, "fragscope check: {}: incomplete: {}\n", who, g);
        rc = std::max(rc, 1);
      }
      for (const auto& v : report::check_balance(*pick)) {
        fmt::print(stderr, "fragscope check: {}: {}\n", who, v);
        rc = std::max(rc, 1);
      }
    }
  }
  for (const auto& n : notes) fmt::print("fragscope check: {}\n", n);
  if (rc == 0)
    fmt::print("fragscope check: {} file(s), {} process(es): the snapshots balance\n", paths.size(), processes);
  return rc;
}

}  // namespace fragscope::cli
