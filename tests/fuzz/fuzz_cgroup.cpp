// libFuzzer target: the cgroup parsers (parse_cgroup_v2_path, parse_cgroup_v1_path,
// parse_cpu_max, parse_cfs_quota). Paths must be views into the input, after the second colon of
// one of its lines; quotas must agree with a reference parse of the same text.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

#include "fuzz_check.hpp"
#include "proc_parse.hpp"

namespace {

using fragscope::proc::ParseError;

// The reference: a whole number below 10^19 made of digits only.
std::optional<std::uint64_t> number(std::string_view v) {
  if (v.empty() || v.size() > 19) return std::nullopt;
  std::uint64_t n = 0;
  for (char c : v) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return n;
}

// Quota / period as the parsers must compute it, or nullopt (unlimited or malformed).
std::optional<double> reference(std::string_view quota, std::string_view period, std::string_view unlimited) {
  const auto p = number(period);
  if (!p || *p == 0 || quota == unlimited) return std::nullopt;
  const auto q = number(quota);
  if (!q) return std::nullopt;
  return static_cast<double>(*q) / static_cast<double>(*p);
}

std::string_view first_line(std::string_view t) { return t.substr(0, t.find('\n')); }

void check_path(std::string_view text, std::optional<std::string_view> path) {
  if (!path) return;
  FUZZ_CHECK(path->data() >= text.data() && path->data() + path->size() <= text.data() + text.size());
  FUZZ_CHECK(path->find('\n') == std::string_view::npos);
  const std::size_t at = static_cast<std::size_t>(path->data() - text.data());
  FUZZ_CHECK(at > 0 && text[at - 1] == ':');
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto v2 = fragscope::proc::parse_cgroup_v2_path(text);
  check_path(text, v2);
  if (v2) FUZZ_CHECK(text.substr(0, 3) == "0::" || text.find("\n0::") != std::string_view::npos);
  check_path(text, fragscope::proc::parse_cgroup_v1_path(text, "cpu"));

  const std::string_view line = first_line(text);
  const std::size_t sp = line.find(' ');
  ParseError err;
  const auto max = fragscope::proc::parse_cpu_max(text, &err);
  const auto want = sp == std::string_view::npos ? std::nullopt : reference(line.substr(0, sp), line.substr(sp + 1), "max");
  FUZZ_CHECK(max.has_value() == want.has_value());
  if (max) FUZZ_CHECK(*max == *want && std::isfinite(*max) && *max >= 0 && !err);

  // cfs: the first line is the quota, the second the period.
  const std::size_t nl = text.find('\n');
  const std::string_view rest = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
  const auto cfs = fragscope::proc::parse_cfs_quota(text, rest);
  const auto want_cfs = reference(line, first_line(rest), "-1");
  FUZZ_CHECK(cfs.has_value() == want_cfs.has_value());
  if (cfs) FUZZ_CHECK(*cfs == *want_cfs);
  return 0;
}
