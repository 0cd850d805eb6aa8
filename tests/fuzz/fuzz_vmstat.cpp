// libFuzzer target: parse_vmstat (/proc/vmstat), against a reference that reads the text line by
// line: every field holds the value of the last "name value" line of its name, allocstall the
// (wrapping) sum of the allocstall and allocstall_* lines; the error names the first non-blank
// line that is not "name value".
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz_check.hpp"
#include "proc_parse.hpp"

namespace proc = fragscope::proc;

namespace {
std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  proc::Vmstat ref;
  int want_err = 0, line_no = 0;
  for (std::string_view rest = text; !rest.empty();) {
    const std::string_view line = proc::take_line(rest);
    ++line_no;
    const std::size_t sp = line.find(' ');
    if (sp == std::string_view::npos) {
      if (!trim(line).empty() && want_err == 0) want_err = line_no;
      continue;
    }
    const std::string_view name = line.substr(0, sp), value = trim(line.substr(sp + 1));
    std::uint64_t v = 0;
    auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
    if (ec != std::errc() || end != value.data() + value.size()) {
      if (want_err == 0) want_err = line_no;
      continue;
    }
    if (name == "allocstall" || name.substr(0, 11) == "allocstall_") {
      ref.allocstall = ref.allocstall.value_or(0) + v;
      continue;
    }
    for (const auto& f : proc::kVmstatFields)
      if (f.name == name) ref.*f.field = v;
  }

  proc::ParseError err;
  const proc::Vmstat got = proc::parse_vmstat(text, &err);
  const proc::Vmstat quiet = proc::parse_vmstat(text);
  proc::ParseError shifted_err;
  const proc::Vmstat shifted = proc::parse_vmstat("\n" + std::string(text), &shifted_err);
  FUZZ_CHECK(err.line == want_err);
  FUZZ_CHECK(!err || (err.what != nullptr && err.what[0] != '\0'));
  FUZZ_CHECK(shifted_err.line == (err ? err.line + 1 : 0));
  for (const auto& f : proc::kVmstatFields) {
    FUZZ_CHECK(got.*f.field == ref.*f.field);
    FUZZ_CHECK(quiet.*f.field == got.*f.field);
    FUZZ_CHECK(shifted.*f.field == got.*f.field);
  }
  return 0;
}
