// libFuzzer target: for_each_smaps_entry and add_smaps_line (/proc/<pid>/smaps) and classify.
// Each header line that parses starts an entry; every other non-empty line is added to the
// current entry or counted as malformed; an entry's figures are those of the last line of each
// key in its block; USS = Private_Clean + Private_Dirty.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "fuzz_maps.hpp"

namespace proc = fragscope::proc;

namespace {
struct Field {
  std::string_view key;
  std::uint64_t proc::SmapsEntry::*field;
};
constexpr Field kFields[] = {{"Size", &proc::SmapsEntry::size},
                             {"Rss", &proc::SmapsEntry::rss},
                             {"Pss", &proc::SmapsEntry::pss},
                             {"Shared_Clean", &proc::SmapsEntry::shared_clean},
                             {"Shared_Dirty", &proc::SmapsEntry::shared_dirty},
                             {"Private_Clean", &proc::SmapsEntry::private_clean},
                             {"Private_Dirty", &proc::SmapsEntry::private_dirty},
                             {"Anonymous", &proc::SmapsEntry::anonymous},
                             {"AnonHugePages", &proc::SmapsEntry::anon_huge_pages},
                             {"Swap", &proc::SmapsEntry::swap},
                             {"SwapPss", &proc::SmapsEntry::swap_pss}};
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  // The reference: headers by the documented rule (a line starting with a hex digit that
  // parses as a maps line), memory lines by parse_kv_line.
  std::vector<proc::SmapsEntry> want;
  int want_bad = 0, want_err = 0, line_no = 0;
  for (std::string_view rest = text; !rest.empty();) {
    const std::string_view line = proc::take_line(rest);
    ++line_no;
    if (line.empty()) continue;
    const char c = line[0];
    proc::Mapping m;
    if (((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')) && proc::parse_maps_line(line, &m)) {
      fragscope::fuzz::check_mapping(m, line);
      want.emplace_back();
      want.back().map = m;
      continue;
    }
    std::string_view key;
    std::uint64_t v = 0;
    const bool flags = line.substr(0, 8) == "VmFlags:" || line.substr(0, 12) == "THPeligible:" ||
                       line.substr(0, 14) == "ProtectionKey:";
    const bool kv = proc::parse_kv_line(line, &key, &v);
    if (want.empty() || !(flags || kv)) {
      if (want_bad++ == 0) want_err = line_no;
      continue;
    }
    if (!flags)
      for (const Field& f : kFields)
        if (f.key == key) want.back().*f.field = v;
    // add_smaps_line on its own agrees.
    proc::SmapsEntry e;
    FUZZ_CHECK(proc::add_smaps_line(line, &e));
  }

  std::vector<proc::SmapsEntry> got;
  proc::ParseError err;
  const int bad = proc::for_each_smaps_entry(text, [&](const proc::SmapsEntry& e) { got.push_back(e); }, &err);
  FUZZ_CHECK(bad == want_bad);
  FUZZ_CHECK(err.line == want_err);
  FUZZ_CHECK(got.size() == want.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    FUZZ_CHECK(fragscope::fuzz::same_mapping(got[i].map, want[i].map));
    for (const Field& f : kFields) FUZZ_CHECK(got[i].*f.field == want[i].*f.field);
    FUZZ_CHECK(got[i].uss() == got[i].private_clean + got[i].private_dirty);
  }
  // The sums by mapping kind (the snapshots' process.by_kind, fragscope proc) are those entries'.
  const proc::SmapsByKind sums = proc::sum_smaps_by_kind(text);
  FUZZ_CHECK(sums.bad_lines == bad);
  proc::SmapsTotals total, kind[proc::kMappingKinds];
  for (const proc::SmapsEntry& e : got) {
    total.add(e);
    kind[static_cast<std::size_t>(proc::classify(e.map))].add(e);
  }
  auto same = [](const proc::SmapsTotals& a, const proc::SmapsTotals& b) {
    return a.mappings == b.mappings && a.rss == b.rss && a.pss == b.pss && a.uss == b.uss && a.swap == b.swap &&
           a.swap_pss == b.swap_pss && a.anon_huge_pages == b.anon_huge_pages;
  };
  FUZZ_CHECK(same(sums.total, total));
  FUZZ_CHECK(sums.total.mappings == got.size());
  for (std::size_t k = 0; k < proc::kMappingKinds; ++k) FUZZ_CHECK(same(sums.kind[k], kind[k]));
  return 0;
}
