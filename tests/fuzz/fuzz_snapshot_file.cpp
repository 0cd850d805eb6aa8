// libFuzzer target: parse_snapshot_text, the JSONL snapshot reader. It never throws; every
// non-blank line is either a snapshot (an object of schema fragscope.snapshot, version 1) or an
// error naming that line, in order; a snapshot reads back the same from its own dump; the final
// and steady snapshots it picks are among its snapshots.
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz_check.hpp"
#include "snapshot_file.hpp"

namespace report = fragscope::report;

namespace {
bool contains(const report::SnapshotFile& f, const nlohmann::json* p) {
  return p >= f.snapshots.data() && p < f.snapshots.data() + f.snapshots.size();
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  const report::SnapshotFile f = report::parse_snapshot_text(text, "fuzz.jsonl");
  FUZZ_CHECK(f.path == "fuzz.jsonl");

  std::size_t lines = 0, non_blank = 0;
  for (std::string_view rest = text; !rest.empty();) {
    const std::size_t eol = rest.find('\n');
    const std::string_view line = rest.substr(0, eol);
    rest = eol == std::string_view::npos ? std::string_view{} : rest.substr(eol + 1);
    ++lines;
    if (line.find_first_not_of(" \t\r") != std::string_view::npos) ++non_blank;
  }
  FUZZ_CHECK(f.snapshots.size() + f.errors.size() == non_blank);
  FUZZ_CHECK(f.snapshots.size() <= lines);
  std::size_t previous = 0;
  for (const auto& e : f.errors) {
    FUZZ_CHECK(e.line > previous && e.line <= lines);
    FUZZ_CHECK(!e.message.empty());
    const std::string_view bad = fragscope::fuzz::line_at(text, static_cast<int>(e.line));
    FUZZ_CHECK(bad.find_first_not_of(" \t\r") != std::string_view::npos);
    previous = e.line;
  }

  for (const auto& s : f.snapshots) {
    FUZZ_CHECK(s.is_object());
    const auto schema = s.find("schema");
    FUZZ_CHECK(schema != s.end() && schema->is_string() && schema->get<std::string>() == "fragscope.snapshot");
    const auto version = s.find("version");
    FUZZ_CHECK(version != s.end() && version->is_number_integer() && *version == 1);
    // One line of JSON that reads back as the same snapshot.
    const std::string dumped = s.dump();
    FUZZ_CHECK(dumped.find('\n') == std::string::npos);
    const report::SnapshotFile back = report::parse_snapshot_text(dumped + "\n");
    FUZZ_CHECK(back.snapshots.size() == 1 && back.errors.empty() && back.snapshots[0].dump() == dumped);
  }

  const nlohmann::json* fin = f.final_snapshot();
  FUZZ_CHECK(fin == nullptr || contains(f, fin));
  if (fin) FUZZ_CHECK(fin->find("final") != fin->end() && (*fin)["final"] == true);
  const nlohmann::json* steady = f.steady_snapshot();
  const nlohmann::json* periodic = f.steady_snapshot(true);
  FUZZ_CHECK(steady == nullptr || contains(f, steady));
  FUZZ_CHECK(periodic == nullptr || contains(f, periodic));
  if (periodic) FUZZ_CHECK(!(periodic->contains("final") && (*periodic)["final"] == true));
  if (f.snapshots.empty()) FUZZ_CHECK(fin == nullptr && steady == nullptr);
  return 0;
}
