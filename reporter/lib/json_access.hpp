// Tolerant access to snapshot JSON for the reports: a missing or mistyped field gives a default
// instead of an exception (snapshots from other versions, or damaged ones, still render), and
// objects and arrays come back by reference into the document (value() would return copies,
// and pointers into a copy dangle).
#pragma once

#include <nlohmann/json.hpp>

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

}  // namespace fragscope::report
