// libFuzzer target: for_each_mapping and parse_maps_line (/proc/<pid>/maps) and classify.
// Every non-empty line is either passed to the callback, in order, or counted as malformed (the
// first one named in the error); each mapping survives printing and parsing back.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "fuzz_maps.hpp"

namespace proc = fragscope::proc;
using fragscope::fuzz::check_mapping;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  std::vector<proc::Mapping> want;
  std::vector<std::string_view> want_lines;
  int want_bad = 0, want_err = 0, line_no = 0;
  for (std::string_view rest = text; !rest.empty();) {
    const std::string_view line = proc::take_line(rest);
    ++line_no;
    if (line.empty()) continue;
    proc::Mapping m;
    if (proc::parse_maps_line(line, &m)) {
      check_mapping(m, line);
      want.push_back(m);
      want_lines.push_back(line);
    } else if (want_bad++ == 0) {
      want_err = line_no;
    }
  }
  std::vector<proc::Mapping> got;
  proc::ParseError err;
  const int bad = proc::for_each_mapping(text, [&](const proc::Mapping& m) { got.push_back(m); }, &err);
  FUZZ_CHECK(bad == want_bad);
  FUZZ_CHECK(err.line == want_err);
  FUZZ_CHECK(got.size() == want.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    FUZZ_CHECK(fragscope::fuzz::same_mapping(got[i], want[i]));
    FUZZ_CHECK(got[i].name.data() == want[i].name.data());  // a view into the text, not a copy
  }
  FUZZ_CHECK(static_cast<int>(got.size()) + bad <= fragscope::fuzz::count_lines(text));
  return 0;
}
