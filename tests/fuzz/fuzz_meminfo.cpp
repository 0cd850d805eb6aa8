// libFuzzer target: parse_meminfo (/proc/meminfo) and parse_kv_line, over the table of fields
// the parser and the snapshot encoder share.
#include <cstddef>
#include <cstdint>

#include "fuzz_kv.hpp"

using fragscope::proc::kMeminfoFields;
using fragscope::proc::Meminfo;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const auto kFields = [] {
    struct Table {
      fragscope::fuzz::KvField<Meminfo> f[std::size(kMeminfoFields)];
    } t{};
    for (std::size_t i = 0; i < std::size(kMeminfoFields); ++i) t.f[i] = {kMeminfoFields[i].key, kMeminfoFields[i].field};
    return t;
  }();
  fragscope::fuzz::check_kv_parser({reinterpret_cast<const char*>(data), size}, &fragscope::proc::parse_meminfo, kFields.f);
  return 0;
}
