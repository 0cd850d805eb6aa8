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

}  // namespace fragscope::report
