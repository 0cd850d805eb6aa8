// libFuzzer target: parse_smaps_rollup (/proc/<pid>/smaps_rollup) and parse_kv_line.
#include <cstddef>
#include <cstdint>

#include "fuzz_kv.hpp"

using fragscope::proc::SmapsRollup;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static constexpr fragscope::fuzz::KvField<SmapsRollup> kFields[] = {
      {"Rss", &SmapsRollup::rss},
      {"Pss", &SmapsRollup::pss},
      {"Pss_Anon", &SmapsRollup::pss_anon},
      {"Pss_File", &SmapsRollup::pss_file},
      {"Pss_Shmem", &SmapsRollup::pss_shmem},
      {"Shared_Clean", &SmapsRollup::shared_clean},
      {"Shared_Dirty", &SmapsRollup::shared_dirty},
      {"Private_Clean", &SmapsRollup::private_clean},
      {"Private_Dirty", &SmapsRollup::private_dirty},
      {"Referenced", &SmapsRollup::referenced},
      {"Anonymous", &SmapsRollup::anonymous},
      {"AnonHugePages", &SmapsRollup::anon_huge_pages},
      {"Swap", &SmapsRollup::swap},
      {"SwapPss", &SmapsRollup::swap_pss},
      {"Locked", &SmapsRollup::locked}};
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  fragscope::fuzz::check_kv_parser(text, &fragscope::proc::parse_smaps_rollup, kFields);
  const SmapsRollup r = fragscope::proc::parse_smaps_rollup(text);
  // USS is Private_Clean + Private_Dirty, and only when both are known.
  FUZZ_CHECK(r.uss().has_value() == (r.private_clean && r.private_dirty));
  FUZZ_CHECK(!r.uss() || *r.uss() == *r.private_clean + *r.private_dirty);
  return 0;
}
