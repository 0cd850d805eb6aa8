// Parsers for /proc text: pure functions from the file's text to values, no I/O and no heap
// allocation (the shim calls them inside foreign processes). Missing fields stay std::nullopt;
// a malformed line is reported with its line number and the rest of the text is still parsed.
#pragma once

#include <cstddef>
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

/// One line of /proc/<pid>/maps.
struct Mapping {
  std::uint64_t start = 0, end = 0;
  bool read = false, write = false, exec = false, shared = false;
  std::uint64_t offset = 0;
  std::uint64_t inode = 0;
  std::string_view name;  // path, "[heap]", "[stack]", "[anon:...]", or empty; points into the text
};

/// Calls `f(const Mapping&)` for each well-formed line of /proc/<pid>/maps text, in order.
/// Returns the number of lines that were not (the first one is named in *err).
template <class F>
int for_each_mapping(std::string_view text, F&& f, ParseError* err = nullptr) noexcept;
/// Parses one maps line; false if it is malformed.
bool parse_maps_line(std::string_view line, Mapping* m) noexcept;

/// One mapping of /proc/<pid>/smaps: its maps line and its memory lines (bytes).
struct SmapsEntry {
  Mapping map;
  std::uint64_t size = 0, rss = 0, pss = 0, shared_clean = 0, shared_dirty = 0, private_clean = 0,
                private_dirty = 0, anonymous = 0, anon_huge_pages = 0, swap = 0, swap_pss = 0;
  std::uint64_t uss() const noexcept { return private_clean + private_dirty; }
};

/// What a mapping holds, as fragscope reports it: the heap ([heap]), the stack, fragscope's own
/// mappings ([anon:fragscope:...]), shared memory (shared mappings, /dev/shm, SysV, memfd), a
/// file, other anonymous memory (malloc's mmaps and arenas, jemalloc's chunks, ...), or other
/// ([vdso], [vvar], [vsyscall]).
enum class MappingKind { heap, anon, stack, file, shmem, ours, other };
inline constexpr std::size_t kMappingKinds = 7;
inline constexpr MappingKind kAllMappingKinds[kMappingKinds] = {
    MappingKind::heap, MappingKind::anon, MappingKind::stack, MappingKind::file,
    MappingKind::shmem, MappingKind::ours, MappingKind::other};
const char* to_string(MappingKind kind) noexcept;
MappingKind classify(const Mapping& m) noexcept;

/// Sums of smaps entries: smem's figures (PSS, USS, swap) for a set of mappings.
struct SmapsTotals {
  std::uint64_t mappings = 0, rss = 0, pss = 0, uss = 0, swap = 0, swap_pss = 0, anon_huge_pages = 0;
  void add(const SmapsEntry& e) noexcept {
    ++mappings, rss += e.rss, pss += e.pss, uss += e.uss(), swap += e.swap, swap_pss += e.swap_pss,
        anon_huge_pages += e.anon_huge_pages;
  }
};
/// Totals by mapping kind (indexed by MappingKind) and in all.
struct SmapsByKind {
  SmapsTotals kind[kMappingKinds];
  SmapsTotals total;
  int bad_lines = 0;
};
/// Sums /proc/<pid>/smaps text by mapping kind.
SmapsByKind sum_smaps_by_kind(std::string_view text, ParseError* err = nullptr) noexcept;

/// Calls f(const SmapsEntry&) for each mapping of /proc/<pid>/smaps text. Returns the number of
/// malformed lines (the first is named in *err); a mapping with malformed lines is still passed.
template <class F>
int for_each_smaps_entry(std::string_view text, F&& f, ParseError* err = nullptr) noexcept;
/// Adds one "Key: N kB" line to an entry; false when the line is not of that shape.
bool add_smaps_line(std::string_view line, SmapsEntry* e) noexcept;

/// /proc/buddyinfo: free blocks of each order, per zone ("Node 0, zone Normal 10539 6438 ...").
inline constexpr int kMaxOrders = 16;
inline constexpr int kMaxZones = 32;
struct BuddyZone {
  int node = 0;
  char zone[16] = {};
  int orders = 0;  // number of orders listed (11 on most kernels)
  std::uint64_t free[kMaxOrders] = {};
};
struct BuddyInfo {
  int zones = 0;
  BuddyZone zone[kMaxZones];
};
BuddyInfo parse_buddyinfo(std::string_view text, ParseError* err = nullptr) noexcept;

/// The kernel's external fragmentation figures for an allocation of 2^order pages in a zone,
/// computed exactly as mm/vmstat.c does (fill_contig_page_info), in thousandths:
///  - unusable free space index (debugfs extfrag/unusable_index): the share of free memory
///    that cannot serve the allocation, 0..1000; 1000 when nothing is free;
///  - fragmentation index (extfrag/extfrag_index): -1000 when the allocation would succeed;
///    otherwise towards 0 = failure from lack of memory, towards 1000 = from fragmentation.
int unusable_free_index(const BuddyZone& zone, int order) noexcept;
int fragmentation_index(const BuddyZone& zone, int order) noexcept;

/// /proc/meminfo, the fields fragscope reports (bytes).
struct Meminfo {
  std::optional<std::uint64_t> mem_total, mem_free, mem_available, buffers, cached, swap_total, swap_free, anon_pages,
      slab, s_reclaimable, s_unreclaim, page_tables, vmalloc_used, anon_huge_pages, committed_as, commit_limit;
};
Meminfo parse_meminfo(std::string_view text, ParseError* err = nullptr) noexcept;

/// Meminfo's fields: the key in /proc/meminfo and the name in snapshots (parser and encoder
/// both walk this table).
struct MeminfoField {
  std::string_view key, name;
  std::optional<std::uint64_t> Meminfo::*field;
};
inline constexpr MeminfoField kMeminfoFields[] = {
    {"MemTotal", "mem_total", &Meminfo::mem_total},          {"MemFree", "mem_free", &Meminfo::mem_free},
    {"MemAvailable", "mem_available", &Meminfo::mem_available}, {"Buffers", "buffers", &Meminfo::buffers},
    {"Cached", "cached", &Meminfo::cached},                  {"SwapTotal", "swap_total", &Meminfo::swap_total},
    {"SwapFree", "swap_free", &Meminfo::swap_free},          {"AnonPages", "anon_pages", &Meminfo::anon_pages},
    {"Slab", "slab", &Meminfo::slab},                        {"SReclaimable", "s_reclaimable", &Meminfo::s_reclaimable},
    {"SUnreclaim", "s_unreclaim", &Meminfo::s_unreclaim},    {"PageTables", "page_tables", &Meminfo::page_tables},
    {"VmallocUsed", "vmalloc_used", &Meminfo::vmalloc_used}, {"AnonHugePages", "anon_huge_pages", &Meminfo::anon_huge_pages},
    {"Committed_AS", "committed_as", &Meminfo::committed_as}, {"CommitLimit", "commit_limit", &Meminfo::commit_limit}};

/// /proc/vmstat, the compaction, THP, migration, reclaim and swap counters (events since boot;
/// readers report them as deltas). allocstall is the sum of the allocstall_* lines.
struct Vmstat {
  std::optional<std::uint64_t> compact_stall, compact_fail, compact_success, compact_migrate_scanned,
      compact_free_scanned, compact_isolated, compact_daemon_wake, thp_fault_alloc, thp_fault_fallback,
      thp_collapse_alloc, thp_split_page, pgmigrate_success, pgmigrate_fail, allocstall, pgmajfault, pswpin, pswpout,
      oom_kill;
};
Vmstat parse_vmstat(std::string_view text, ParseError* err = nullptr) noexcept;

/// /proc/<pid>/cgroup: the process's cgroup v2 path (the "0::PATH" line, e.g.
/// "/system.slice/x.service"), or nullopt when there is none (cgroup v1 only).
std::optional<std::string_view> parse_cgroup_v2_path(std::string_view text) noexcept;

/// /proc/<pid>/cgroup: the process's path in the cgroup v1 hierarchy of `controller` (the line
/// whose controller list, e.g. "cpu,cpuacct", names it), or nullopt.
std::optional<std::string_view> parse_cgroup_v1_path(std::string_view text, std::string_view controller) noexcept;

/// cgroup v1 cpu.cfs_quota_us and cpu.cfs_period_us: the CPUs the quota allows at once, or
/// nullopt for -1 (no limit) and for malformed text (then *err says why).
std::optional<double> parse_cfs_quota(std::string_view quota, std::string_view period,
                                      ParseError* err = nullptr) noexcept;

/// Calls f(prefix) for a cgroup path and each cgroup above it, leaf first, ending with the root
/// as "" (e.g. "/a/b" gives "/a/b", "/a", ""; "/" gives ""). Does nothing for a path that does not
/// start with '/'.
template <class F>
void for_each_cgroup_level(std::string_view path, F&& f) {
  if (path.empty() || path[0] != '/') return;
  std::size_t len = path.size();
  while (len > 0 && path[len - 1] == '/') --len;  // "/" is the root itself
  for (;;) {
    f(path.substr(0, len));
    if (len == 0) return;
    while (len > 0 && path[len - 1] != '/') --len;  // the parent: drop the last component
    if (len > 0) --len;
  }
}

/// A cgroup v2 cpu.max file ("QUOTA PERIOD", microseconds, or "max PERIOD"): the CPUs its quota
/// allows at once (QUOTA / PERIOD), or nullopt for "max" (no limit) and for malformed text
/// (then *err says why).
std::optional<double> parse_cpu_max(std::string_view text, ParseError* err = nullptr) noexcept;

/// Vmstat's fields, named as in /proc/vmstat and in snapshots. allocstall is the sum of the
/// allocstall_* lines (older kernels: one allocstall line).
struct VmstatField {
  std::string_view name;
  std::optional<std::uint64_t> Vmstat::*field;
};
inline constexpr VmstatField kVmstatFields[] = {
    {"compact_stall", &Vmstat::compact_stall},
    {"compact_fail", &Vmstat::compact_fail},
    {"compact_success", &Vmstat::compact_success},
    {"compact_migrate_scanned", &Vmstat::compact_migrate_scanned},
    {"compact_free_scanned", &Vmstat::compact_free_scanned},
    {"compact_isolated", &Vmstat::compact_isolated},
    {"compact_daemon_wake", &Vmstat::compact_daemon_wake},
    {"thp_fault_alloc", &Vmstat::thp_fault_alloc},
    {"thp_fault_fallback", &Vmstat::thp_fault_fallback},
    {"thp_collapse_alloc", &Vmstat::thp_collapse_alloc},
    {"thp_split_page", &Vmstat::thp_split_page},
    {"pgmigrate_success", &Vmstat::pgmigrate_success},
    {"pgmigrate_fail", &Vmstat::pgmigrate_fail},
    {"allocstall", &Vmstat::allocstall},
    {"pgmajfault", &Vmstat::pgmajfault},
    {"pswpin", &Vmstat::pswpin},
    {"pswpout", &Vmstat::pswpout},
    {"oom_kill", &Vmstat::oom_kill}};

/// Takes the first line off `text` (without its newline) and returns it.
inline std::string_view take_line(std::string_view& text) noexcept {
  const auto eol = text.find('\n');
  const std::string_view line = text.substr(0, eol);
  text = eol == std::string_view::npos ? std::string_view{} : text.substr(eol + 1);
  return line;
}

/// Splits "Key:   123 kB" into key and value in bytes (kB scaled by 1024; a bare number kept).
/// Returns false for lines that are not of that shape.
bool parse_kv_line(std::string_view line, std::string_view* key, std::uint64_t* value) noexcept;

template <class F>
int for_each_mapping(std::string_view text, F&& f, ParseError* err) noexcept {
  int bad = 0, line_no = 0;
  while (!text.empty()) {
    std::string_view line = take_line(text);
    ++line_no;
    if (line.empty()) continue;
    Mapping m;
    if (parse_maps_line(line, &m)) {
      f(m);
    } else {
      if (bad++ == 0 && err) *err = ParseError{line_no, "malformed maps line"};
    }
  }
  return bad;
}

template <class F>
int for_each_smaps_entry(std::string_view text, F&& f, ParseError* err) noexcept {
  int bad = 0, line_no = 0;
  SmapsEntry cur;
  bool have = false;
  while (!text.empty()) {
    std::string_view line = take_line(text);
    ++line_no;
    if (line.empty()) continue;
    Mapping m;
    // A header starts with a hex address range; the memory lines start with a capitalised key.
    const bool header = (line[0] >= '0' && line[0] <= '9') || (line[0] >= 'a' && line[0] <= 'f');
    if (header && parse_maps_line(line, &m)) {
      if (have) f(static_cast<const SmapsEntry&>(cur));
      cur = SmapsEntry{};
      cur.map = m;
      have = true;
    } else if (!have || !add_smaps_line(line, &cur)) {
      if (bad++ == 0 && err) *err = ParseError{line_no, "malformed smaps line"};
    }
  }
  if (have) f(static_cast<const SmapsEntry&>(cur));
  return bad;
}

}  // namespace fragscope::proc
