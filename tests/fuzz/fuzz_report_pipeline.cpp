// libFuzzer target: everything `fragscope report`, `check` and `advise` do with a parsed snapshot
// file — the text report, --format json and prom, the HTML report, the call sites and their
// collapsed stacks, the balance check and advise — on whatever JSON the reader accepts. None
// throws or trips a sanitizer on damaged or strange-but-valid snapshots (json_access.hpp's
// promise), and each output keeps its shape: the Prometheus exposition stays parseable with
// every label value escaped, the HTML has no script, the advised pool sizes are usable.
#include <algorithm>
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "advise.hpp"
#include "balance.hpp"
#include "fuzz_check.hpp"
#include "html_report.hpp"
#include "machine_formats.hpp"
#include "sites.hpp"
#include "snapshot_file.hpp"
#include "text_report.hpp"

namespace report = fragscope::report;

namespace {

// One sample line of the Prometheus text format: fragscope_NAME{label="value",...} NUMBER, label
// values with \\, \" and \n escaped.
bool prometheus_sample(std::string_view line) {
  if (line.substr(0, 10) != "fragscope_") return false;
  std::size_t i = line.find('{');
  if (i == std::string_view::npos) return false;
  for (char c : line.substr(0, i))
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_')) return false;
  ++i;
  for (;;) {
    const std::size_t eq = line.find('=', i);
    if (eq == std::string_view::npos || eq == i || eq + 1 >= line.size() || line[eq + 1] != '"') return false;
    i = eq + 2;
    for (;; ++i) {
      if (i >= line.size()) return false;
      if (line[i] == '\\') {
        if (i + 1 >= line.size() || (line[i + 1] != '\\' && line[i + 1] != '"' && line[i + 1] != 'n')) return false;
        ++i;
      } else if (line[i] == '"') {
        break;
      }
    }
    ++i;
    if (i >= line.size()) return false;
    if (line[i] == '}') break;
    if (line[i] != ',') return false;
    ++i;
  }
  const std::string value(line.substr(i + 1));
  if (i + 1 >= line.size() || line[i + 1] != ' ' || value.size() < 2) return false;
  char* end = nullptr;
  std::strtod(value.c_str() + 1, &end);
  return end == value.c_str() + value.size();
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  // The call sites' frames are named by addr2line when their module is readable: not here, where
  // each input would start a process.
  setenv("PATH", "/nonexistent-fragscope-fuzz", 1);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const report::SnapshotFile f = report::parse_snapshot_text(std::string(reinterpret_cast<const char*>(data), size), "f.jsonl");
  if (f.snapshots.empty()) return 0;  // the CLI stops before rendering anything
  const nlohmann::json* fin = f.final_snapshot();
  const nlohmann::json& last = fin ? *fin : f.snapshots.back();

  const std::string text = report::render_text_report(f);
  FUZZ_CHECK(text.rfind("fragscope report: ", 0) == 0 && text.back() == '\n');

  const nlohmann::json machine = report::render_report_json(f);
  FUZZ_CHECK(machine["snapshots"] == f.snapshots.size());
  FUZZ_CHECK(machine["over_time"].size() == f.snapshots.size());
  FUZZ_CHECK(machine["skipped_lines"].size() == f.errors.size());
  FUZZ_CHECK(!machine.dump(2).empty());

  const std::string prom = report::render_prometheus(f);
  FUZZ_CHECK(prom.empty() || prom.back() == '\n');
  for (std::string_view rest = prom; !rest.empty();) {
    const std::string_view line = rest.substr(0, rest.find('\n'));
    rest.remove_prefix(line.size() + 1);
    if (line.substr(0, 2) == "# ") FUZZ_CHECK(line.substr(0, 17) == "# HELP fragscope_" || line.substr(0, 17) == "# TYPE fragscope_");
    else FUZZ_CHECK(prometheus_sample(line));
  }

  const std::string html = report::render_html_report(f);
  FUZZ_CHECK(html.rfind("<!doctype html>", 0) == 0 && html.find("</html>") != std::string::npos);
  // The only scripts are the flame graph's own two (its tree as inline JSON, "<" escaped, and its
  // code): nothing a snapshot holds opens or closes a script element.
  std::size_t opens = 0, closes = 0;
  for (std::size_t at = html.find("<script"); at != std::string::npos; at = html.find("<script", at + 1), ++opens) {
    const std::string_view rest(html.data() + at, html.size() - at);
    FUZZ_CHECK(rest.starts_with("<script type=\"application/json\" id=\"flame-data\">") ||
               rest.starts_with("<script>\n(function () {"));
  }
  for (std::size_t at = html.find("</script"); at != std::string::npos; at = html.find("</script", at + 1)) ++closes;
  FUZZ_CHECK((opens == 0 || opens == 2) && closes == opens);

  const auto sites = report::named_sites(last);
  for (const auto& s : sites) FUZZ_CHECK(s.origin() == nullptr || !s.origin()->label().empty() || s.frames.empty());
  for (const std::string& stacks : {report::collapsed_live_stacks(sites), report::collapsed_pinned_stacks(sites)}) {
    FUZZ_CHECK(stacks.empty() || stacks.back() == '\n');
  }

  for (const auto& v : report::check_balance(last)) FUZZ_CHECK(!v.empty());

  const report::AdviseResult advice = report::advise(f, "./service");
  const std::string advice_text = report::render_advice(advice);
  FUZZ_CHECK(advice_text.rfind("fragscope advise: ", 0) == 0);
  FUZZ_CHECK(report::advice_json(advice).dump().size() > 2);  // the --json verdict serialises
  // --pool-sizes: at most 16 sizes, ascending, each a multiple of 16 in 16..4096.
  if (!advice.pool_sizes.empty()) {
    std::string_view rest = advice.pool_sizes;
    unsigned long previous = 0, n = 0;
    while (!rest.empty()) {
      const std::string item(rest.substr(0, rest.find(',')));
      rest.remove_prefix(std::min(rest.size(), item.size() + 1));
      char* end = nullptr;
      const unsigned long v = std::strtoul(item.c_str(), &end, 10);
      FUZZ_CHECK(!item.empty() && *end == '\0');
      FUZZ_CHECK(v >= 16 && v <= 4096 && v % 16 == 0 && v > previous);
      previous = v;
      ++n;
    }
    FUZZ_CHECK(n <= 16);
  }
  return 0;
}
