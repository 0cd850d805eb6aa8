// The shim's configuration, from FRAGSCOPE_* environment variables. Parsing is a pure function
// of a lookup callback, so tests feed it values directly. A malformed value never stops the host:
// it yields the default and one warning line (kept here, printed once by the runtime).
#pragma once

#include <cstddef>
#include <cstdint>

namespace fragscope::core {

struct Config {
  static constexpr std::size_t kPathMax = 4096;
  bool enabled = true;                     // FRAGSCOPE_ENABLE (0 = pass everything through)
  std::uint32_t interval_ms = 1000;        // FRAGSCOPE_INTERVAL_MS, 0 = only the final snapshot
  bool summary = true;                     // FRAGSCOPE_SUMMARY
  bool follow_exec = true;                 // FRAGSCOPE_FOLLOW_EXEC: programs we exec are measured too
  // FRAGSCOPE_MODE: "full" (every block in the live table, exact) or "sampled" (production: the
  // blocks of one address region in FRAGSCOPE_REGION_ONE_IN, layout figures estimated).
  bool sampled = false;
  static constexpr std::uint32_t kMaxRegionOneIn = 1u << 16;
  std::uint32_t region_one_in = 32;         // FRAGSCOPE_REGION_ONE_IN, 1..kMaxRegionOneIn
  std::uint64_t sample_bytes = 512 * 1024;  // FRAGSCOPE_SAMPLE_BYTES: mean bytes between call-site samples, 0 = off
  // FRAGSCOPE_TRIM: at each snapshot, when the heap's empty resident pages reach this many bytes,
  // the reporter asks the allocator to give free pages back (malloc_trim, jemalloc's purge, ...).
  // 0 = off (the default). 1 to kMaxTrimBytes.
  static constexpr std::uint64_t kMaxTrimBytes = std::uint64_t{1} << 40;
  std::uint64_t trim_bytes = 0;
  // FRAGSCOPE_POOL_SIZES: request sizes served from fixed-size pools inside the process (the
  // preload remediation); each request of n bytes goes to the smallest pool size ≥ n. Sorted,
  // distinct, 1..kMaxPoolSize; none = off.
  static constexpr std::size_t kMaxPools = 16;
  static constexpr std::size_t kMaxPoolSize = 4096;
  std::uint32_t pool_sizes[kMaxPools] = {};
  std::size_t npool_sizes = 0;
  // FRAGSCOPE_SNAPSHOT_SCRATCH: the most bytes a snapshot's layout analysis holds for its batch of
  // live blocks (24 B each; more blocks take more batches, each one walk of the live table).
  // 0 = automatic: 3% of the process's resident memory, at least kAutoMinScratch.
  static constexpr std::uint64_t kMinScratch = 24 * 1024, kAutoMinScratch = 192 * 1024;
  std::uint64_t snapshot_scratch = 0;
  char output[kPathMax] = "fragscope.%p.jsonl";  // FRAGSCOPE_OUTPUT, %p = pid, %% = %
  char metrics_file[kPathMax] = "";        // FRAGSCOPE_METRICS_FILE: Prometheus text, rewritten each snapshot; "" = none
  // FRAGSCOPE_METRICS_ADDR "[IPv4:]port": serve /metrics over HTTP; loopback unless an address is given.
  std::uint32_t metrics_ip = 0;            // host byte order; 0 = off
  std::uint16_t metrics_port = 0;
  char proc_dir[kPathMax] = "/proc";       // FRAGSCOPE_PROC_DIR (tests and containers)
  bool secure = false;                     // AT_SECURE: environment ignored

  static constexpr std::size_t kMaxWarnings = 8;
  static constexpr std::size_t kWarningLen = 256;
  char warnings[kMaxWarnings][kWarningLen] = {};
  std::size_t nwarnings = 0;
};

using EnvLookup = const char* (*)(const char* name);

/// Builds the configuration from `lookup` (getenv in production). When `secure` is true
/// (setuid/AT_SECURE) the environment is not read at all and output goes nowhere.
/// Never allocates, never fails.
void parse_config(Config& cfg, EnvLookup lookup, bool secure) noexcept;

/// Copies the NUL-terminated `in` into `out` (size `cap`, at least 8) so that no byte of it can
/// act on a terminal: bytes below 0x20, 0x7f, and bytes of 0x80 and up that are not part of a
/// well-formed UTF-8 sequence for a code point from U+00A0 on (so the C1 controls, raw or
/// UTF-8-encoded, are escaped too) become "\xNN". At most `max_in` bytes of `in` are copied, and
/// never more than fit: a cut value ends with "...". Always NUL-terminated; never splits an
/// escape. Returns the length written. Used for every value of the host's that we echo.
std::size_t escape_text(const char* in, std::size_t max_in, char* out, std::size_t cap) noexcept;

/// Rewrites an LD_PRELOAD value without the entries that name `self` (the shim's path, or a
/// path ending in "/" + its file name): entries are separated by ':' or ' '. Writes the result
/// into `out` (size `cap`); returns false when it does not fit.
bool preload_without(const char* value, const char* self, char* out, std::size_t cap) noexcept;

/// Expands `pattern` (%p → pid, %% → %) into `out` (size `cap`). Returns false when it does
/// not fit. If `force_unique` and the pattern has no %p, ".<pid>" is appended (forked children).
bool expand_output_path(const char* pattern, long pid, bool force_unique, char* out, std::size_t cap) noexcept;

}  // namespace fragscope::core
