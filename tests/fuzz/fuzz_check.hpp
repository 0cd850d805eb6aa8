// Shared by the libFuzzer targets: FUZZ_CHECK aborts with the failed invariant, so that libFuzzer
// records the input as a crash (build-fuzz/artifacts/) like any sanitizer report.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string_view>

#define FUZZ_CHECK(cond)                                                                          \
  do {                                                                                            \
    if (!(cond)) {                                                                                \
      std::fprintf(stderr, "%s:%d: invariant violated: %s\n", __FILE__, __LINE__, #cond);         \
      std::abort();                                                                               \
    }                                                                                             \
  } while (0)

namespace fragscope::fuzz {

/// Lines as the parsers count them: every '\n' ends one, and text after the last one is one more.
inline int count_lines(std::string_view text) {
  int n = 0;
  for (std::size_t pos = 0; pos < text.size(); ++n) {
    const std::size_t eol = text.find('\n', pos);
    pos = eol == std::string_view::npos ? text.size() : eol + 1;
  }
  return n;
}

/// Line `n` (1-based) of `text`, without its newline.
inline std::string_view line_at(std::string_view text, int n) {
  for (int i = 1; !text.empty(); ++i) {
    const std::size_t eol = text.find('\n');
    if (i == n) return text.substr(0, eol);
    if (eol == std::string_view::npos) break;
    text.remove_prefix(eol + 1);
  }
  return {};
}

/// Whether `inner` is a view into `outer`'s characters.
inline bool points_into(std::string_view inner, std::string_view outer) {
  return inner.data() >= outer.data() && inner.data() + inner.size() <= outer.data() + outer.size();
}

}  // namespace fragscope::fuzz
