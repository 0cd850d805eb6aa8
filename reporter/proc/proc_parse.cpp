// /proc text parsers (see proc_parse.hpp).
#include "proc_parse.hpp"

#include <charconv>

namespace fragscope::proc {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

bool is_key(std::string_view k) {
  if (k.empty()) return false;
  for (char c : k) {
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
              c == '(' || c == ')';
    if (!ok) return false;
  }
  return true;
}

// Calls f(key, value) for each "Key: value [kB]" line. Lines of other shapes are skipped; when
// such a line carries a key we want (known(key)), *err names its line (the first one only).
template <class Known, class F>
void for_each_kv(std::string_view text, ParseError* err, Known&& known, F&& f) {
  int line_no = 0;
  while (!text.empty()) {
    std::string_view line = take_line(text);
    ++line_no;
    auto colon = line.find(':');
    if (colon == line.npos || !is_key(line.substr(0, colon))) continue;  // e.g. the rollup header
    std::string_view key;
    std::uint64_t v = 0;
    if (parse_kv_line(line, &key, &v)) {
      f(key, v);
    } else if (err && !*err && known(line.substr(0, colon))) {
      *err = ParseError{line_no, "malformed value"};
    }
  }
}

}  // namespace

bool parse_kv_line(std::string_view line, std::string_view* key, std::uint64_t* value) noexcept {
  auto colon = line.find(':');
  if (colon == line.npos) return false;
  std::string_view k = line.substr(0, colon);
  if (!is_key(k)) return false;
  std::string_view rest = trim(line.substr(colon + 1));
  std::uint64_t v = 0;
  auto [end, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), v);
  if (ec != std::errc() || end == rest.data()) return false;
  std::string_view unit = trim(std::string_view(end, static_cast<std::size_t>(rest.data() + rest.size() - end)));
  if (unit == "kB") {
    if (v > UINT64_MAX / 1024) return false;
    v *= 1024;
  } else if (!unit.empty()) {
    return false;
  }
  *key = k;
  *value = v;
  return true;
}

constexpr std::string_view kStatusKeys[] = {"VmPeak", "VmSize",  "VmHWM",  "VmRSS",  "RssAnon",
                                            "RssFile", "RssShmem", "VmData", "VmSwap", "Threads"};
constexpr std::string_view kRollupKeys[] = {"Rss",          "Pss",           "Pss_Anon",      "Pss_File",
                                            "Pss_Shmem",    "Shared_Clean",  "Shared_Dirty",  "Private_Clean",
                                            "Private_Dirty", "Referenced",   "Anonymous",     "AnonHugePages",
                                            "Swap",         "SwapPss",       "Locked"};

template <std::size_t N>
bool is_one_of(std::string_view k, const std::string_view (&keys)[N]) {
  for (auto x : keys)
    if (x == k) return true;
  return false;
}

bool parse_maps_line(std::string_view line, Mapping* m) noexcept {
  // start-end perms offset dev inode [name]
  auto hex = [](std::string_view& s, std::uint64_t* v) {
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *v, 16);
    if (ec != std::errc() || p == s.data()) return false;
    s.remove_prefix(static_cast<std::size_t>(p - s.data()));
    return true;
  };
  auto skip_spaces = [](std::string_view& s) {
    while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  };
  std::string_view s = line;
  if (!hex(s, &m->start) || s.empty() || s.front() != '-') return false;
  s.remove_prefix(1);
  if (!hex(s, &m->end) || m->end < m->start) return false;
  skip_spaces(s);
  if (s.size() < 4) return false;
  m->read = s[0] == 'r';
  m->write = s[1] == 'w';
  m->exec = s[2] == 'x';
  m->shared = s[3] == 's';
  if ((s[0] != 'r' && s[0] != '-') || (s[3] != 'p' && s[3] != 's')) return false;
  s.remove_prefix(4);
  skip_spaces(s);
  if (!hex(s, &m->offset)) return false;
  skip_spaces(s);
  auto sp = s.find(' ');  // device major:minor
  if (sp == std::string_view::npos || s.substr(0, sp).find(':') == std::string_view::npos) return false;
  s.remove_prefix(sp);
  skip_spaces(s);
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), m->inode);
  if (ec != std::errc()) return false;
  s.remove_prefix(static_cast<std::size_t>(p - s.data()));
  skip_spaces(s);
  m->name = s;
  return true;
}

Status parse_status(std::string_view text, ParseError* err) noexcept {
  Status s;
  auto known = [](std::string_view k) { return is_one_of(k, kStatusKeys); };
  for_each_kv(text, err, known, [&](std::string_view k, std::uint64_t v) {
    if (k == "VmPeak") s.vm_peak = v;
    else if (k == "VmSize") s.vm_size = v;
    else if (k == "VmHWM") s.vm_hwm = v;
    else if (k == "VmRSS") s.vm_rss = v;
    else if (k == "RssAnon") s.rss_anon = v;
    else if (k == "RssFile") s.rss_file = v;
    else if (k == "RssShmem") s.rss_shmem = v;
    else if (k == "VmData") s.vm_data = v;
    else if (k == "VmSwap") s.vm_swap = v;
    else if (k == "Threads") s.threads = v;
  });
  return s;
}

SmapsRollup parse_smaps_rollup(std::string_view text, ParseError* err) noexcept {
  SmapsRollup r;
  auto known = [](std::string_view k) { return is_one_of(k, kRollupKeys); };
  for_each_kv(text, err, known, [&](std::string_view k, std::uint64_t v) {
    if (k == "Rss") r.rss = v;
    else if (k == "Pss") r.pss = v;
    else if (k == "Pss_Anon") r.pss_anon = v;
    else if (k == "Pss_File") r.pss_file = v;
    else if (k == "Pss_Shmem") r.pss_shmem = v;
    else if (k == "Shared_Clean") r.shared_clean = v;
    else if (k == "Shared_Dirty") r.shared_dirty = v;
    else if (k == "Private_Clean") r.private_clean = v;
    else if (k == "Private_Dirty") r.private_dirty = v;
    else if (k == "Referenced") r.referenced = v;
    else if (k == "Anonymous") r.anonymous = v;
    else if (k == "AnonHugePages") r.anon_huge_pages = v;
    else if (k == "Swap") r.swap = v;
    else if (k == "SwapPss") r.swap_pss = v;
    else if (k == "Locked") r.locked = v;
  });
  return r;
}


BuddyInfo parse_buddyinfo(std::string_view text, ParseError* err) noexcept {
  BuddyInfo b;
  int line_no = 0;
  while (!text.empty()) {
    std::string_view line = take_line(text);
    ++line_no;
    if (trim(line).empty()) continue;
    auto fail = [&](const char* what) {
      if (err && !*err) *err = ParseError{line_no, what};
    };
    // "Node N, zone NAME c0 c1 ..."
    constexpr std::string_view kNode = "Node ";
    if (line.substr(0, kNode.size()) != kNode) {
      fail("not a buddyinfo line");
      continue;
    }
    std::string_view rest = line.substr(kNode.size());
    int node = 0;
    auto [nend, nec] = std::from_chars(rest.data(), rest.data() + rest.size(), node);
    rest = rest.substr(static_cast<std::size_t>(nend - rest.data()));
    constexpr std::string_view kZone = ", zone";
    if (nec != std::errc() || rest.substr(0, kZone.size()) != kZone) {
      fail("malformed node or zone");
      continue;
    }
    rest = trim(rest.substr(kZone.size()));
    auto sp = rest.find_first_of(" \t");
    std::string_view name = rest.substr(0, sp);
    rest = sp == rest.npos ? std::string_view{} : trim(rest.substr(sp));
    if (name.empty() || name.size() >= sizeof(BuddyZone::zone) || b.zones == kMaxZones) {
      fail(b.zones == kMaxZones ? "too many zones" : "malformed zone name");
      continue;
    }
    BuddyZone z;
    z.node = node;
    name.copy(z.zone, name.size());
    bool ok = true;
    while (!rest.empty()) {
      if (z.orders == kMaxOrders) {
        ok = false;
        break;
      }
      std::uint64_t v = 0;
      auto [end, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), v);
      if (ec != std::errc()) {
        ok = false;
        break;
      }
      z.free[z.orders++] = v;
      rest = trim(rest.substr(static_cast<std::size_t>(end - rest.data())));
    }
    if (!ok || z.orders == 0) {
      fail("malformed free counts");
      continue;
    }
    b.zone[b.zones++] = z;
  }
  return b;
}

namespace {
// The kernel's sums, in 128 bits: with counts from damaged text (up to 2^64 - 1 blocks of up to
// 2^15 pages in 16 orders, times 1000) 64 bits would wrap and put the indices out of their ranges;
// counts a real kernel shows give the same results either way.
__extension__ typedef unsigned __int128 Wide;
struct ContigPageInfo {
  Wide free_pages = 0, free_blocks_total = 0, free_blocks_suitable = 0;
};
// mm/vmstat.c fill_contig_page_info().
ContigPageInfo contig_page_info(const BuddyZone& z, int suitable_order) {
  ContigPageInfo info;
  for (int order = 0; order < z.orders; ++order) {
    const Wide blocks = z.free[order];
    info.free_blocks_total += blocks;
    info.free_pages += blocks << order;
    if (order >= suitable_order) info.free_blocks_suitable += blocks << (order - suitable_order);
  }
  return info;
}
}  // namespace

int unusable_free_index(const BuddyZone& z, int order) noexcept {
  const ContigPageInfo info = contig_page_info(z, order);
  if (info.free_pages == 0) return 1000;
  return static_cast<int>((info.free_pages - (info.free_blocks_suitable << order)) * 1000 / info.free_pages);
}

int fragmentation_index(const BuddyZone& z, int order) noexcept {
  const ContigPageInfo info = contig_page_info(z, order);
  const Wide requested = Wide{1} << order;
  if (order >= z.orders) return 0;  // the kernel warns and returns 0 beyond its largest order
  if (info.free_blocks_total == 0) return 0;
  if (info.free_blocks_suitable != 0) return -1000;
  return 1000 - static_cast<int>((1000 + info.free_pages * 1000 / requested) / info.free_blocks_total);
}


Meminfo parse_meminfo(std::string_view text, ParseError* err) noexcept {
  Meminfo m;
  auto known = [](std::string_view k) {
    for (const MeminfoField& f : kMeminfoFields)
      if (f.key == k) return true;
    return false;
  };
  for_each_kv(text, err, known, [&](std::string_view k, std::uint64_t v) {
    for (const MeminfoField& f : kMeminfoFields)
      if (f.key == k) m.*f.field = v;
  });
  return m;
}

Vmstat parse_vmstat(std::string_view text, ParseError* err) noexcept {
  Vmstat s;
  int line_no = 0;
  while (!text.empty()) {
    std::string_view line = take_line(text);
    ++line_no;
    // "name value"
    auto sp = line.find(' ');
    if (sp == line.npos) {
      if (!trim(line).empty() && err && !*err) *err = ParseError{line_no, "not a vmstat line"};
      continue;
    }
    std::string_view key = line.substr(0, sp), val = trim(line.substr(sp + 1));
    std::uint64_t v = 0;
    auto [end, ec] = std::from_chars(val.data(), val.data() + val.size(), v);
    if (ec != std::errc() || end != val.data() + val.size()) {
      if (err && !*err) *err = ParseError{line_no, "malformed vmstat value"};
      continue;
    }
    if (key.substr(0, 11) == "allocstall_" || key == "allocstall") {
      s.allocstall = s.allocstall.value_or(0) + v;
      continue;
    }
    for (const VmstatField& f : kVmstatFields)
      if (f.name == key) s.*f.field = v;
  }
  return s;
}


bool add_smaps_line(std::string_view line, SmapsEntry* e) noexcept {
  // "VmFlags: rd wr ..." and "THPeligible: 0" are not byte counts; take them as well-formed.
  if (line.substr(0, 8) == "VmFlags:" || line.substr(0, 12) == "THPeligible:" || line.substr(0, 14) == "ProtectionKey:")
    return true;
  std::string_view key;
  std::uint64_t v = 0;
  if (!parse_kv_line(line, &key, &v)) return false;
  struct Field {
    std::string_view key;
    std::uint64_t SmapsEntry::*field;
  };
  static constexpr Field kFields[] = {{"Size", &SmapsEntry::size},
                                      {"Rss", &SmapsEntry::rss},
                                      {"Pss", &SmapsEntry::pss},
                                      {"Shared_Clean", &SmapsEntry::shared_clean},
                                      {"Shared_Dirty", &SmapsEntry::shared_dirty},
                                      {"Private_Clean", &SmapsEntry::private_clean},
                                      {"Private_Dirty", &SmapsEntry::private_dirty},
                                      {"Anonymous", &SmapsEntry::anonymous},
                                      {"AnonHugePages", &SmapsEntry::anon_huge_pages},
                                      {"Swap", &SmapsEntry::swap},
                                      {"SwapPss", &SmapsEntry::swap_pss}};
  for (const Field& f : kFields)
    if (f.key == key) e->*f.field = v;
  return true;
}

const char* to_string(MappingKind kind) noexcept {
  switch (kind) {
    case MappingKind::heap: return "heap";
    case MappingKind::anon: return "anon";
    case MappingKind::stack: return "stack";
    case MappingKind::file: return "file";
    case MappingKind::shmem: return "shmem";
    case MappingKind::ours: return "ours";
    case MappingKind::other: return "other";
  }
  return "other";
}

SmapsByKind sum_smaps_by_kind(std::string_view text, ParseError* err) noexcept {
  SmapsByKind s;
  s.bad_lines = for_each_smaps_entry(
      text,
      [&](const SmapsEntry& e) {
        s.kind[static_cast<std::size_t>(classify(e.map))].add(e);
        s.total.add(e);
      },
      err);
  return s;
}

MappingKind classify(const Mapping& m) noexcept {
  const std::string_view n = m.name;
  if (n == "[heap]") return MappingKind::heap;
  if (n.substr(0, 6) == "[stack") return MappingKind::stack;
  if (n.substr(0, 16) == "[anon:fragscope:") return MappingKind::ours;
  if (n == "[vdso]" || n == "[vvar]" || n == "[vsyscall]" || n == "[vvar_vclock]" || n == "[uprobes]")
    return MappingKind::other;
  if (n.substr(0, 8) == "/dev/shm" || n.substr(0, 5) == "/SYSV" || n.substr(0, 6) == "/memfd" ||
      n.substr(0, 11) == "[anon_shmem" || (m.shared && (n.empty() || n.substr(0, 9) == "/dev/zero")))
    return MappingKind::shmem;
  if (!n.empty() && n[0] == '/') return MappingKind::file;
  return MappingKind::anon;
}

std::optional<std::string_view> parse_cgroup_v2_path(std::string_view text) noexcept {
  while (!text.empty()) {
    const std::string_view line = take_line(text);
    if (line.substr(0, 3) == "0::") return line.substr(3);
  }
  return std::nullopt;
}

std::optional<std::string_view> parse_cgroup_v1_path(std::string_view text, std::string_view controller) noexcept {
  while (!text.empty()) {
    const std::string_view line = take_line(text);
    const std::size_t a = line.find(':');
    const std::size_t b = a == std::string_view::npos ? a : line.find(':', a + 1);
    if (b == std::string_view::npos) continue;
    std::string_view list = line.substr(a + 1, b - a - 1);
    while (!list.empty()) {
      const std::size_t comma = list.find(',');
      if (list.substr(0, comma) == controller) return line.substr(b + 1);
      list = comma == std::string_view::npos ? std::string_view{} : list.substr(comma + 1);
    }
  }
  return std::nullopt;
}

namespace {

// A decimal number below 10^19 (a cgroup file's value, without its newline).
bool cgroup_number(std::string_view v, std::uint64_t* out) noexcept {
  if (v.empty() || v.size() > 19) return false;
  std::uint64_t n = 0;
  for (char c : v) {
    if (c < '0' || c > '9') return false;
    n = n * 10 + static_cast<std::uint64_t>(c - '0');
  }
  *out = n;
  return true;
}

// QUOTA / PERIOD, or nullopt when quota is `unlimited` (no limit) or either is malformed.
std::optional<double> cpu_quota(std::string_view quota, std::string_view period, std::string_view unlimited,
                                ParseError* err) noexcept {
  const auto fail = [&](const char* what) -> std::optional<double> {
    if (err) *err = ParseError{1, what};
    return std::nullopt;
  };
  std::uint64_t p = 0, q = 0;
  if (!cgroup_number(period, &p) || p == 0) return fail("cgroup CPU quota: bad period");
  if (quota == unlimited) return std::nullopt;
  if (!cgroup_number(quota, &q)) return fail("cgroup CPU quota: bad quota");
  return static_cast<double>(q) / static_cast<double>(p);
}

}  // namespace

std::optional<double> parse_cfs_quota(std::string_view quota, std::string_view period, ParseError* err) noexcept {
  return cpu_quota(take_line(quota), take_line(period), "-1", err);
}

std::optional<double> parse_cpu_max(std::string_view text, ParseError* err) noexcept {
  const std::string_view line = take_line(text);
  const std::size_t sp = line.find(' ');
  if (sp == std::string_view::npos) {
    if (err) *err = ParseError{1, "cpu.max: expected 'QUOTA PERIOD'"};
    return std::nullopt;
  }
  return cpu_quota(line.substr(0, sp), line.substr(sp + 1), "max", err);
}

}  // namespace fragscope::proc
