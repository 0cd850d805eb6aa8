// Snapshot file reader (see snapshot_file.hpp).
#include "snapshot_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>

#include <cerrno>
#include <cstring>
#include <vector>
#include <stdexcept>

#include "json_access.hpp"
#include "safe_file.hpp"

namespace fragscope::report {

const nlohmann::json* SnapshotFile::final_snapshot() const {
  for (auto it = snapshots.rbegin(); it != snapshots.rend(); ++it)
    if (flag(*it, "final")) return &*it;
  return nullptr;
}

namespace {

std::string too_long(std::size_t limit) {
  return "longer than " + std::to_string(limit >> 20) + " MiB (the shim writes none over 8 MiB); skipped, not read";
}

// One line of a snapshot file (without its newline): a snapshot, an error, or nothing (blank).
void take_line(SnapshotFile& f, std::string_view line, std::size_t line_no, bool complete) {
  if (line.find_first_not_of(" \t\r") == std::string_view::npos) return;
  if (line.size() > files::kSnapshotLineMax) {
    f.errors.push_back({line_no, too_long(files::kSnapshotLineMax)});
    return;
  }
  nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) {
    f.errors.push_back({line_no, complete ? "not valid JSON" : "truncated (no newline at end of file) and not valid JSON"});
    return;
  }
  if (!j.is_object() || str(j, "schema") != "fragscope.snapshot") {
    f.errors.push_back({line_no, "not a fragscope snapshot"});
    return;
  }
  // Compared as a JSON number: get<int>() would take 4294967297 for 1.
  if (!j.contains("version") || !j["version"].is_number_integer() || j["version"] != 1) {
    f.errors.push_back({line_no, "unsupported snapshot schema version"});
    return;
  }
  f.snapshots.push_back(std::move(j));
}

}  // namespace

SnapshotFile parse_snapshot_text(const std::string& text, std::string path) {
  SnapshotFile f;
  f.path = std::move(path);
  std::size_t line_no = 0, pos = 0;
  while (pos < text.size()) {
    std::size_t eol = text.find('\n', pos);
    bool complete = eol != std::string::npos;
    std::string_view line(text.data() + pos, (complete ? eol : text.size()) - pos);
    pos = complete ? eol + 1 : text.size();
    take_line(f, line, ++line_no, complete);
  }
  return f;
}

// Streamed, a line at a time: a line longer than files::kSnapshotLineMax is skipped as it is
// read (never held), so a file of any size costs the snapshots it holds plus one bounded line.
SnapshotFile read_snapshot_file(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) throw std::runtime_error("cannot read " + path + ": " + std::strerror(errno));
  SnapshotFile f;
  f.path = path;
  std::string line;
  std::size_t line_no = 0;
  bool skipping = false;  // in a line past the bound: dropped up to its newline
  std::vector<char> buf(1 << 20);
  for (;;) {
    const ssize_t r = read(fd, buf.data(), buf.size());
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      const int e = errno;
      close(fd);
      throw std::runtime_error("cannot read " + path + ": " + std::strerror(e));
    }
    if (r == 0) break;
    std::string_view chunk(buf.data(), static_cast<std::size_t>(r));
    while (!chunk.empty()) {
      const std::size_t eol = chunk.find('\n');
      const std::string_view piece = chunk.substr(0, eol);
      if (!skipping && line.size() + piece.size() > files::kSnapshotLineMax) {
        skipping = true;
        f.errors.push_back({line_no + 1, too_long(files::kSnapshotLineMax)});
        std::string().swap(line);
      }
      if (!skipping) line.append(piece);
      if (eol == std::string_view::npos) break;
      ++line_no;
      if (!skipping) take_line(f, line, line_no, true);
      skipping = false;
      line.clear();
      chunk.remove_prefix(eol + 1);
    }
  }
  close(fd);
  if (!skipping && !line.empty()) take_line(f, line, ++line_no, false);
  return f;
}

const nlohmann::json* SnapshotFile::steady_snapshot(bool periodic_only) const {
  auto live = [](const nlohmann::json& s) {
    auto t = s.find("totals");
    if (t == s.end() || !t->is_object()) return 0.0;
    auto l = t->find("live_requested");
    return l != t->end() && l->is_number() ? l->get<double>() : 0.0;
  };
  auto eligible = [&](const nlohmann::json& s) {
    auto h = s.find("heap");
    return !(periodic_only && flag(s, "final")) && h != s.end() && h->is_object() && h->contains("heap_rss");
  };
  double most = 0;
  for (const auto& s : snapshots)
    if (eligible(s)) most = std::max(most, live(s));
  const nlohmann::json* pick = nullptr;
  for (const auto& s : snapshots)
    if (eligible(s) && live(s) >= 0.9 * most) pick = &s;
  return pick;
}

std::string ProcessSnapshots::label() const {
  std::string out = pid >= 0 ? "pid " + std::to_string(pid) : std::string("pid ?");
  const nlohmann::json& last = file.snapshots.back();
  out += " (" + program_label(last);
  if (!run_id.empty()) out += ", run " + run_id;
  return out + ")";
}

std::vector<ProcessSnapshots> split_by_process(SnapshotFile f) {
  auto pid_of = [](const nlohmann::json& s) -> long long {
    auto it = s.find("pid");
    return it != s.end() && it->is_number_integer() && it->get<long long>() >= 0 ? it->get<long long>() : -1;
  };
  std::vector<ProcessSnapshots> procs;
  for (auto& s : f.snapshots) {
    const long long pid = pid_of(s);
    const std::string run_id = str(s, "run_id");
    auto it = std::find_if(procs.begin(), procs.end(),
                           [&](const ProcessSnapshots& p) { return p.pid == pid && p.run_id == run_id; });
    if (it == procs.end()) {
      ProcessSnapshots p;
      p.pid = pid;
      p.run_id = run_id;
      p.file.path = f.path;
      p.file.errors = f.errors;
      procs.push_back(std::move(p));
      it = procs.end() - 1;
    }
    it->file.snapshots.push_back(std::move(s));
  }
  return procs;
}

std::vector<const ProcessSnapshots*> select_processes(const std::vector<ProcessSnapshots>& procs, long long pid,
                                                      const std::string& run_id) {
  std::vector<const ProcessSnapshots*> out;
  for (const auto& p : procs)
    if ((pid < 0 || p.pid == pid) && (run_id.empty() || p.run_id == run_id)) out.push_back(&p);
  return out;
}

std::string list_processes(const std::vector<ProcessSnapshots>& procs) {
  std::string out;
  const std::size_t shown = std::min<std::size_t>(procs.size(), 12);
  for (std::size_t i = 0; i < shown; ++i) out += (out.empty() ? "" : ", ") + procs[i].label();
  if (procs.size() > shown) out += ", and " + std::to_string(procs.size() - shown) + " more";
  return out;
}

}  // namespace fragscope::report
