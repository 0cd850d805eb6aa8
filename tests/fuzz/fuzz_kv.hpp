// The "Key:   123 kB" parsers (status, smaps_rollup, meminfo) checked against a reference built
// line by line on parse_kv_line, whose own results are checked against the line's characters.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "fuzz_check.hpp"
#include "proc_parse.hpp"

namespace fragscope::fuzz {

template <class Result>
struct KvField {
  std::string_view key;
  std::optional<std::uint64_t> Result::*field;
};

/// parse_kv_line's result agrees with the line: the key is what stands before the first colon,
/// and the value is the line's number (times 1024 with a "kB" unit).
inline void check_kv_line(std::string_view line) {
  std::string_view key;
  std::uint64_t value = 0;
  if (!proc::parse_kv_line(line, &key, &value)) return;
  FUZZ_CHECK(!key.empty() && key.data() == line.data() && key.size() < line.size() && line[key.size()] == ':');
  FUZZ_CHECK(key.find_first_of(" \t\n") == std::string_view::npos);
  std::string_view rest = line.substr(key.size() + 1);
  while (!rest.empty() && (rest.front() == ' ' || rest.front() == '\t')) rest.remove_prefix(1);
  std::size_t digits = 0;
  while (digits < rest.size() && rest[digits] >= '0' && rest[digits] <= '9') ++digits;
  FUZZ_CHECK(digits > 0);
  std::string_view number = rest.substr(0, digits), unit = rest.substr(digits);
  while (number.size() > 1 && number.front() == '0') number.remove_prefix(1);
  while (!unit.empty() && (unit.front() == ' ' || unit.front() == '\t')) unit.remove_prefix(1);
  while (!unit.empty() && (unit.back() == ' ' || unit.back() == '\t' || unit.back() == '\r')) unit.remove_suffix(1);
  if (unit == "kB") {
    FUZZ_CHECK(value % 1024 == 0);
    FUZZ_CHECK(std::to_string(value / 1024) == number);
  } else {
    FUZZ_CHECK(unit.empty());
    FUZZ_CHECK(std::to_string(value) == number);
  }
}

/// parse(text) against the reference: every field holds the value of the last well-formed line
/// of its key (or nothing), the error names the first line of a wanted key that is malformed,
/// the result does not depend on whether an error is asked for, and a blank line put in front
/// moves the error down by one line and changes nothing else.
template <class Result, std::size_t N>
void check_kv_parser(std::string_view text, Result (*parse)(std::string_view, proc::ParseError*) noexcept,
                     const KvField<Result> (&fields)[N]) {
  Result ref{};
  int want_err = 0, line_no = 0;
  for (std::string_view rest = text; !rest.empty();) {
    const std::string_view line = proc::take_line(rest);
    ++line_no;
    check_kv_line(line);
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    const std::string_view k = line.substr(0, colon);
    for (const auto& f : fields) {
      if (f.key != k) continue;
      std::string_view key;
      std::uint64_t v = 0;
      if (proc::parse_kv_line(line, &key, &v)) ref.*f.field = v;
      else if (want_err == 0) want_err = line_no;
    }
  }
  proc::ParseError err;
  const Result got = parse(text, &err);
  const Result quiet = parse(text, nullptr);
  const std::string shifted_text = "\n" + std::string(text);
  proc::ParseError shifted_err;
  const Result shifted = parse(shifted_text, &shifted_err);
  FUZZ_CHECK(err.line == want_err);
  FUZZ_CHECK(err.line >= 0 && err.line <= count_lines(text));
  FUZZ_CHECK(!err || (err.what != nullptr && err.what[0] != '\0'));
  FUZZ_CHECK(shifted_err.line == (err ? err.line + 1 : 0));
  for (const auto& f : fields) {
    FUZZ_CHECK(got.*f.field == ref.*f.field);
    FUZZ_CHECK(quiet.*f.field == got.*f.field);
    FUZZ_CHECK(shifted.*f.field == got.*f.field);
  }
}

}  // namespace fragscope::fuzz
