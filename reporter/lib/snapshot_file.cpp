// Snapshot file reader (see snapshot_file.hpp).
#include "snapshot_file.hpp"

#include <algorithm>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "json_access.hpp"

namespace fragscope::report {

const nlohmann::json* SnapshotFile::final_snapshot() const {
  for (auto it = snapshots.rbegin(); it != snapshots.rend(); ++it)
    if (flag(*it, "final")) return &*it;
  return nullptr;
}

SnapshotFile parse_snapshot_text(const std::string& text, std::string path) {
  SnapshotFile f;
  f.path = std::move(path);
  std::size_t line_no = 0, pos = 0;
  while (pos < text.size()) {
    std::size_t eol = text.find('\n', pos);
    bool complete = eol != std::string::npos;
    std::string_view line(text.data() + pos, (complete ? eol : text.size()) - pos);
    pos = complete ? eol + 1 : text.size();
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string_view::npos) continue;
    nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) {
      f.errors.push_back({line_no, complete ? "not valid JSON" : "truncated (no newline at end of file) and not valid JSON"});
      continue;
    }
    if (!j.is_object() || str(j, "schema") != "fragscope.snapshot") {
      f.errors.push_back({line_no, "not a fragscope snapshot"});
      continue;
    }
    // Compared as a JSON number: get<int>() would take 4294967297 for 1.
    if (!j.contains("version") || !j["version"].is_number_integer() || j["version"] != 1) {
      f.errors.push_back({line_no, "unsupported snapshot schema version"});
      continue;
    }
    f.snapshots.push_back(std::move(j));
  }
  return f;
}

SnapshotFile read_snapshot_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path + ": " + std::strerror(errno));
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) throw std::runtime_error("cannot read " + path + ": read error");
  return parse_snapshot_text(ss.str(), path);
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
