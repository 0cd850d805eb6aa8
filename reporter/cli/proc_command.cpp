// `fragscope proc` (see proc_command.hpp).
#include "proc_command.hpp"

#include <unistd.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <string>
#include <thread>

#include "input_file.hpp"
#include "proc_parse.hpp"
#include "safe_file.hpp"
#include "text_report.hpp"

namespace fragscope::cli {
namespace {

using Totals = proc::SmapsTotals;
using Sample = proc::SmapsByKind;
constexpr std::size_t kKinds = proc::kMappingKinds;

// Reads and sums /proc/PID/smaps (or `from`); an error message (and no sample) when it cannot.
bool take_sample(long pid, const std::string& from, Sample* s, std::string* error) {
  const std::string path = from.empty() ? fmt::format("/proc/{}/smaps", pid) : from;
  std::string text;
  const int e = report::read_file_bounded(path, files::kSmapsFileMax, &text);
  if (e != 0) {
    if (e == EFBIG) *error = report::too_large_message(path, files::kSmapsFileMax);
    else if (e == ENOENT && from.empty()) *error = fmt::format("no process {} (nothing at /proc/{})", pid, pid);
    else if (e == EACCES || e == EPERM)
      *error = fmt::format("cannot read {}: {} (it belongs to another user: run as that user or root)", path,
                           std::strerror(e));
    else *error = fmt::format("cannot read {}: {}", path, std::strerror(e));
    return false;
  }
  if (text.empty()) {
    *error = fmt::format("{} is empty (a kernel thread, or the process is exiting)", path);
    return false;
  }
  *s = proc::sum_smaps_by_kind(text);
  return true;
}

std::string exe_of(long pid) {
  char buf[4096];
  ssize_t n = readlink(fmt::format("/proc/{}/exe", pid).c_str(), buf, sizeof(buf) - 1);
  return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string("?");
}

std::string growth(std::uint64_t now, std::uint64_t before) {
  if (now == before) return "=";
  const double d = static_cast<double>(now) - static_cast<double>(before);
  return (d > 0 ? "+" : "-") + report::human_bytes(std::abs(d));
}

void print_table(long pid, const Sample& s, const Sample* prev, double t) {
  fmt::print("fragscope proc {} ({}){}\n", pid, exe_of(pid), prev ? fmt::format(" at {:.1f} s", t) : "");
  fmt::print("  {:<6} {:>8} {:>11} {:>11} {:>11} {:>11}{}\n", "kind", "mappings", "RSS", "PSS", "USS", "swap",
             prev ? fmt::format(" {:>11} {:>11}", "PSS growth", "USS growth") : "");
  auto row = [&](const char* name, const Totals& x, const Totals* p) {
    fmt::print("  {:<6} {:>8} {:>11} {:>11} {:>11} {:>11}{}\n", name, x.mappings, report::human_bytes(static_cast<double>(x.rss)),
               report::human_bytes(static_cast<double>(x.pss)), report::human_bytes(static_cast<double>(x.uss)),
               report::human_bytes(static_cast<double>(x.swap)),
               p ? fmt::format(" {:>11} {:>11}", growth(x.pss, p->pss), growth(x.uss, p->uss)) : "");
  };
  for (std::size_t k = 0; k < kKinds; ++k)
    row(proc::to_string(proc::kAllMappingKinds[k]), s.kind[k], prev ? &prev->kind[k] : nullptr);
  row("total", s.total, prev ? &prev->total : nullptr);
  fmt::print("  [/proc/{}/smaps; USS = Private_Clean + Private_Dirty; PSS shares each page among the processes "
             "mapping it]\n",
             pid);
  if (s.bad_lines) fmt::print("  note: {} malformed smaps lines were skipped\n", s.bad_lines);
}

void print_json(long pid, const Sample& s, double t) {
  auto obj = [](const Totals& x) {
    return nlohmann::json{{"mappings", x.mappings}, {"rss", x.rss},   {"pss", x.pss},
                          {"uss", x.uss},           {"swap", x.swap}, {"swap_pss", x.swap_pss}};
  };
  nlohmann::json j = {{"pid", pid}, {"exe", exe_of(pid)}, {"t_s", t}, {"source", fmt::format("/proc/{}/smaps", pid)},
                      {"total", obj(s.total)}, {"bad_lines", s.bad_lines}};
  for (std::size_t k = 0; k < kKinds; ++k) j["by_kind"][proc::to_string(proc::kAllMappingKinds[k])] = obj(s.kind[k]);
  fmt::print("{}\n", j.dump());
}

}  // namespace

int proc_command(const ProcOptions& opt) {
  const auto start = std::chrono::steady_clock::now();
  Sample prev;
  bool have_prev = false;
  for (int n = 0;; ++n) {
    Sample s;
    std::string error;
    if (!take_sample(opt.pid, opt.from, &s, &error)) {
      if (have_prev) {  // the process went away while we watched it
        fmt::print(stderr, "fragscope proc: {}; stopping\n", error);
        return 0;
      }
      fmt::print(stderr, "fragscope proc: {}\n", error);
      return 2;
    }
    const double t = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (opt.json) print_json(opt.pid, s, t);
    else print_table(opt.pid, s, have_prev ? &prev : nullptr, t);
    std::fflush(stdout);
    prev = s;
    have_prev = true;
    if (opt.watch_s <= 0 || !opt.from.empty() || (opt.count > 0 && n + 1 >= opt.count)) return 0;
    std::this_thread::sleep_for(std::chrono::duration<double>(opt.watch_s));
  }
}

}  // namespace fragscope::cli
