// Snapshot balance checks (see balance.hpp).
#include "balance.hpp"

#include <fmt/format.h>

namespace fragscope::report {

std::vector<std::string> check_balance(const nlohmann::json& s) {
  std::vector<std::string> bad;
  auto u = [](const nlohmann::json& o, const char* k) -> std::uint64_t {
    auto it = o.find(k);
    return it != o.end() && it->is_number_unsigned() ? it->get<std::uint64_t>() : 0;
  };
  auto check = [&](const nlohmann::json& o, const std::string& where) {
    for (const char* k : {"allocs", "frees", "live_blocks", "live_requested", "live_usable", "requested_allocated",
                          "requested_freed"})
      if (!o.contains(k) || !o[k].is_number_unsigned()) bad.push_back(fmt::format("{}: field '{}' missing", where, k));
    if (u(o, "allocs") - u(o, "frees") != u(o, "live_blocks"))
      bad.push_back(fmt::format("{}: allocs {} - frees {} != live_blocks {}", where, u(o, "allocs"), u(o, "frees"),
                                u(o, "live_blocks")));
    if (u(o, "requested_allocated") - u(o, "requested_freed") != u(o, "live_requested"))
      bad.push_back(fmt::format("{}: requested_allocated {} - requested_freed {} != live_requested {}", where,
                                u(o, "requested_allocated"), u(o, "requested_freed"), u(o, "live_requested")));
    if (u(o, "live_requested") > u(o, "live_usable"))
      bad.push_back(fmt::format("{}: live_requested {} > live_usable {}", where, u(o, "live_requested"),
                                u(o, "live_usable")));
  };
  // Sampled mode: the estimates do not balance (each is its own estimate); the counts of the
  // sampled blocks, in each "sampled" object, do, as full mode's figures do.
  const bool sampled = s.contains("mode") && s["mode"] == "sampled";
  auto figures = [&](const nlohmann::json& o) -> const nlohmann::json& {
    static const nlohmann::json kNone = nlohmann::json::object();
    if (!sampled) return o;
    auto it = o.find("sampled");
    return it != o.end() && it->is_object() ? *it : kNone;
  };
  if (!s.contains("totals") || !s["totals"].is_object()) return {"totals missing"};
  check(figures(s["totals"]), sampled ? "totals (sampled blocks)" : "totals");
  std::uint64_t allocs = 0, frees = 0, live = 0, req = 0, every_alloc = 0;
  if (!s.contains("size_classes") || !s["size_classes"].is_array()) return {"size_classes missing"};
  for (const auto& c : s["size_classes"]) {
    const auto& f = figures(c);
    check(f, fmt::format("class {} ({}..{} B){}", u(c, "class"), u(c, "lo"), u(c, "hi"), sampled ? " sampled blocks" : ""));
    allocs += u(f, "allocs");
    frees += u(f, "frees");
    live += u(f, "live_blocks");
    req += u(f, "live_requested");
    every_alloc += u(c, "allocs");
  }
  const auto& t = figures(s["totals"]);
  if (allocs != u(t, "allocs") || frees != u(t, "frees") || live != u(t, "live_blocks") || req != u(t, "live_requested"))
    bad.push_back(fmt::format("size classes do not add up to the totals (allocs {} vs {}, live {} vs {})", allocs,
                              u(t, "allocs"), live, u(t, "live_blocks")));
  if (sampled && every_alloc != u(s["totals"], "allocs"))
    bad.push_back(fmt::format("size classes do not add up to the totals (allocs {} vs {})", every_alloc,
                              u(s["totals"], "allocs")));
  return bad;
}

}  // namespace fragscope::report
