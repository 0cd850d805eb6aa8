// Tolerant access to snapshot JSON for the reports: a missing or mistyped field gives a default
// instead of an exception (snapshots from other versions, or damaged ones, still render), and
// objects and arrays come back by reference into the document (value() would return copies,
// and pointers into a copy dangle).
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>

namespace fragscope::report {

/// The number at o[k], else `dflt`.
inline double num(const nlohmann::json& o, const char* k, double dflt = 0) {
  auto it = o.find(k);
  return it != o.end() && it->is_number() ? it->get<double>() : dflt;
}

/// The object at o[k], else an empty object.
inline const nlohmann::json& sub(const nlohmann::json& o, const char* k) {
  static const nlohmann::json empty = nlohmann::json::object();
  auto it = o.find(k);
  return it != o.end() && it->is_object() ? *it : empty;
}

/// The array at o[k], else an empty array.
inline const nlohmann::json& arr(const nlohmann::json& o, const char* k) {
  static const nlohmann::json empty = nlohmann::json::array();
  auto it = o.find(k);
  return it != o.end() && it->is_array() ? *it : empty;
}

/// The string at o[k], else `dflt`.
inline std::string str(const nlohmann::json& o, const char* k, const char* dflt = "") {
  auto it = o.find(k);
  return it != o.end() && it->is_string() ? it->get<std::string>() : std::string(dflt);
}

/// The boolean at o[k], else `dflt`.
inline bool flag(const nlohmann::json& o, const char* k, bool dflt = false) {
  auto it = o.find(k);
  return it != o.end() && it->is_boolean() ? it->get<bool>() : dflt;
}

/// The number at a[i] (e.g. a histogram bucket [lower_bound, count]), else `dflt`.
inline double num_at(const nlohmann::json& a, std::size_t i, double dflt = 0) {
  return a.is_array() && i < a.size() && a[i].is_number() ? a[i].get<double>() : dflt;
}

/// A figure as a whole number (counts, pids, class numbers): truncated, 0 for a negative one or
/// NaN, at most 2^64 - 1. (Converting a double out of an integer's range is undefined behaviour.)
inline std::uint64_t whole(double v) {
  if (!(v > 0)) return 0;
  if (v >= 18446744073709551615.0) return UINT64_MAX;
  return static_cast<std::uint64_t>(v);
}

/// The program a snapshot is of, for people: the name it was started by (argv[0]) and, when the
/// executable's real path says something else (a symlink: Debian's redis-server is
/// redis-check-rdb), that path too: "redis-server (/usr/bin/redis-check-rdb)".
inline std::string program_label(const nlohmann::json& s) {
  const std::string exe = str(s, "exe", "?"), argv0 = str(s, "argv0");
  if (argv0.empty()) return exe;
  auto base = [](const std::string& p) { return p.substr(p.rfind('/') + 1); };
  return base(argv0) == base(exe) ? exe : argv0 + " (" + exe + ")";
}

}  // namespace fragscope::report
