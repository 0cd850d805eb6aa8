// Parsers for /proc text: pure functions from the file's text to values, no I/O and no heap
// allocation (the shim calls them inside foreign processes). Missing fields stay std::nullopt;
// a malformed line is reported with its line number and the rest of the text is still parsed.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace fragscope::proc {

struct ParseError {
  int line = 0;            // 1-based; 0 = no error
  const char* what = "";   // static string
  explicit operator bool() const noexcept { return line != 0; }
};

/// /proc/<pid>/status, the memory lines (bytes) and Threads.
struct Status {
  std::optional<std::uint64_t> vm_peak, vm_size, vm_hwm, vm_rss, rss_anon, rss_file, rss_shmem, vm_data,
      vm_swap, threads;
};
Status parse_status(std::string_view text, ParseError* err = nullptr) noexcept;

/// /proc/<pid>/smaps_rollup (bytes).
struct SmapsRollup {
  std::optional<std::uint64_t> rss, pss, pss_anon, pss_file, pss_shmem, shared_clean, shared_dirty,
      private_clean, private_dirty, referenced, anonymous, anon_huge_pages, swap, swap_pss, locked;
  /// Unique set size: Private_Clean + Private_Dirty, when both are present.
  std::optional<std::uint64_t> uss() const noexcept {
    if (!private_clean || !private_dirty) return std::nullopt;
    return *private_clean + *private_dirty;
  }
};
SmapsRollup parse_smaps_rollup(std::string_view text, ParseError* err = nullptr) noexcept;

/// Splits "Key:   123 kB" into key and value in bytes (kB scaled by 1024; a bare number kept).
/// Returns false for lines that are not of that shape.
bool parse_kv_line(std::string_view line, std::string_view* key, std::uint64_t* value) noexcept;

}  // namespace fragscope::proc
