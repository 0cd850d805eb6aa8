// Checks of one parsed /proc/<pid>/maps line, shared by the maps and smaps targets.
#pragma once

#include <cinttypes>
#include <cstdio>
#include <string>

#include "fuzz_check.hpp"
#include "proc_parse.hpp"

namespace fragscope::fuzz {

inline bool same_mapping(const proc::Mapping& a, const proc::Mapping& b) {
  return a.start == b.start && a.end == b.end && a.read == b.read && a.write == b.write && a.exec == b.exec &&
         a.shared == b.shared && a.offset == b.offset && a.inode == b.inode && a.name == b.name;
}

/// A mapping parsed from `line` (inside `text`): its range is ordered, its name is a piece of
/// the line with no newline and no leading space, it has a kind, and printing it back in the
/// kernel's format and parsing that gives the same mapping.
inline void check_mapping(const proc::Mapping& m, std::string_view line) {
  FUZZ_CHECK(m.start <= m.end);
  FUZZ_CHECK(points_into(m.name, line));
  FUZZ_CHECK(m.name.find('\n') == std::string_view::npos);
  FUZZ_CHECK(m.name.empty() || m.name.front() != ' ');
  const proc::MappingKind kind = proc::classify(m);
  FUZZ_CHECK(static_cast<int>(kind) >= static_cast<int>(proc::MappingKind::heap) &&
             static_cast<int>(kind) <= static_cast<int>(proc::MappingKind::other));
  const char* kind_name = proc::to_string(kind);
  FUZZ_CHECK(kind_name != nullptr && kind_name[0] != '\0' && std::string_view(kind_name) != "?");
  if (m.name == "[heap]") FUZZ_CHECK(kind == proc::MappingKind::heap);
  if (m.name.substr(0, 16) == "[anon:fragscope:") FUZZ_CHECK(kind == proc::MappingKind::ours);
  if (m.shared && m.name.empty()) FUZZ_CHECK(kind == proc::MappingKind::shmem);
  if (!m.shared && m.name.empty()) FUZZ_CHECK(kind == proc::MappingKind::anon);

  char head[128];
  std::snprintf(head, sizeof head, "%" PRIx64 "-%" PRIx64 " %c%c%c%c %08" PRIx64 " 00:00 %" PRIu64 " ", m.start, m.end,
                m.read ? 'r' : '-', m.write ? 'w' : '-', m.exec ? 'x' : '-', m.shared ? 's' : 'p', m.offset, m.inode);
  const std::string printed = head + std::string(m.name);
  proc::Mapping again;
  FUZZ_CHECK(proc::parse_maps_line(printed, &again));
  FUZZ_CHECK(same_mapping(again, m));
}

}  // namespace fragscope::fuzz
