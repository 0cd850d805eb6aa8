// FRAGSCOPE_* environment parsing (see config.hpp).
#include "config.hpp"

#include <charconv>
#include <cstdio>
#include <cstring>
#include <string_view>

namespace fragscope::core {
namespace {

// The bad value is the host's: echoed escaped (a terminal escape in it must not reach the host's
// terminal as one) and bounded (the line must fit its slot whatever the value).
constexpr std::size_t kEchoMax = 32;  // bytes of the value echoed; escaped, at most 4 chars each

void warn(Config& cfg, const char* fmt, const char* name, const char* value, const char* dflt) {
  if (cfg.nwarnings == Config::kMaxWarnings) return;
  char echoed[kEchoMax * 4 + 4];
  escape_text(value, kEchoMax, echoed, sizeof(echoed));
  std::snprintf(cfg.warnings[cfg.nwarnings++], Config::kWarningLen, fmt, name, echoed, dflt);
}

// Length of the well-formed UTF-8 sequence for a code point ≥ U+00A0 at `p` (at most `left`
// bytes), or 0.
std::size_t printable_utf8(const unsigned char* p, std::size_t left) {
  const unsigned c = p[0];
  std::size_t n = 0;
  unsigned lo = 0x80, hi = 0xbf;  // the allowed range of the second byte
  if (c >= 0xc2 && c <= 0xdf) n = 2, lo = c == 0xc2 ? 0xa0 : 0x80;  // C2 80..C2 9F: C1 controls
  else if (c >= 0xe0 && c <= 0xef) n = 3, lo = c == 0xe0 ? 0xa0 : 0x80, hi = c == 0xed ? 0x9f : 0xbf;
  else if (c >= 0xf0 && c <= 0xf4) n = 4, lo = c == 0xf0 ? 0x90 : 0x80, hi = c == 0xf4 ? 0x8f : 0xbf;
  if (n == 0 || n > left || p[1] < lo || p[1] > hi) return 0;
  for (std::size_t i = 2; i < n; ++i)
    if (p[i] < 0x80 || p[i] > 0xbf) return 0;
  return n;
}

bool parse_bool(std::string_view v, bool& out) {
  if (v == "1" || v == "yes" || v == "true" || v == "on") return out = true, true;
  if (v == "0" || v == "no" || v == "false" || v == "off") return out = false, true;
  return false;
}

void parse_bool_var(Config& cfg, EnvLookup lookup, const char* name, bool& field) {
  const char* v = lookup(name);
  if (v == nullptr || *v == '\0') return;
  if (!parse_bool(v, field)) {
    warn(cfg, "fragscope: ignoring %s='%s' (expected 1 or 0); using %s", name, v, field ? "1" : "0");
  }
}

void parse_path_var(Config& cfg, EnvLookup lookup, const char* name, char* field) {
  const char* v = lookup(name);
  if (v == nullptr || *v == '\0') return;
  if (std::strlen(v) >= Config::kPathMax) {
    warn(cfg, "fragscope: ignoring %s='%s' (longer than PATH_MAX); using %s", name, v, field);
    return;
  }
  std::strcpy(field, v);
}

// "9464" → 127.0.0.1:9464; "a.b.c.d:9464" → that address. False on anything else.
bool parse_metrics_addr(const char* v, std::uint32_t* ip, std::uint16_t* port) noexcept {
  std::string_view s(v);
  std::uint32_t addr = 0x7f000001;  // loopback unless told otherwise
  auto colon = s.rfind(':');
  if (colon != std::string_view::npos) {
    std::string_view host = s.substr(0, colon);
    s = s.substr(colon + 1);
    addr = 0;
    for (int i = 0; i < 4; ++i) {
      unsigned octet = 0;
      auto [end, ec] = std::from_chars(host.data(), host.data() + host.size(), octet);
      if (ec != std::errc() || octet > 255 || end == host.data()) return false;
      addr = addr << 8 | octet;
      host = host.substr(static_cast<std::size_t>(end - host.data()));
      if (i < 3) {
        if (host.empty() || host[0] != '.') return false;
        host = host.substr(1);
      }
    }
    if (!host.empty()) return false;
  }
  unsigned p = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), p);
  if (ec != std::errc() || end != s.data() + s.size() || p == 0 || p > 65535) return false;
  *ip = addr;
  *port = static_cast<std::uint16_t>(p);
  return true;
}

// "32,48,64" → sorted distinct sizes. False on anything else (empty items, junk, 0, > 4096,
// more than kMaxPools).
bool parse_pool_sizes(const char* v, std::uint32_t* sizes, std::size_t& n) noexcept {
  n = 0;
  std::string_view s(v);
  while (true) {
    std::size_t comma = s.find(',');
    std::string_view item = s.substr(0, comma);
    std::uint32_t size = 0;
    auto [end, ec] = std::from_chars(item.data(), item.data() + item.size(), size);
    if (item.empty() || ec != std::errc() || end != item.data() + item.size() || size == 0 ||
        size > Config::kMaxPoolSize) {
      return false;
    }
    std::size_t i = 0;
    while (i < n && sizes[i] < size) ++i;
    if (i == n || sizes[i] != size) {
      if (n == Config::kMaxPools) return false;
      for (std::size_t j = n; j > i; --j) sizes[j] = sizes[j - 1];
      sizes[i] = size;
      ++n;
    }
    if (comma == std::string_view::npos) return true;
    s = s.substr(comma + 1);
  }
}

}  // namespace

std::size_t escape_text(const char* in, std::size_t max_in, char* out, std::size_t cap) noexcept {
  static const char kHex[] = "0123456789abcdef";
  if (cap == 0) return 0;
  const auto* p = reinterpret_cast<const unsigned char*>(in);
  std::size_t inlen = 0;
  while (inlen < max_in && p[inlen] != 0) ++inlen;
  const bool cut_input = p[inlen] != 0;
  const std::size_t room = cap > 4 ? cap - 4 : 0;  // keeps room for "..." and the NUL
  std::size_t n = 0, i = 0;
  while (i < inlen) {
    const unsigned c = p[i];
    std::size_t seq = c >= 0x80 ? printable_utf8(p + i, inlen - i) : 0;
    if (c >= 0x20 && c < 0x7f) seq = 1;
    if (seq != 0) {
      if (n + seq > room) break;
      std::memcpy(out + n, p + i, seq);
      n += seq, i += seq;
      continue;
    }
    if (n + 4 > room) break;
    out[n++] = '\\', out[n++] = 'x', out[n++] = kHex[c >> 4], out[n++] = kHex[c & 15];
    ++i;
  }
  if ((i < inlen || cut_input) && n + 3 < cap) std::memcpy(out + n, "...", 3), n += 3;
  out[n] = '\0';
  return n;
}

void parse_config(Config& cfg, EnvLookup lookup, bool secure) noexcept {
  cfg = Config{};
  if (secure) {
    cfg.secure = true;
    cfg.output[0] = '\0';
    cfg.summary = false;
    return;
  }
  parse_bool_var(cfg, lookup, "FRAGSCOPE_ENABLE", cfg.enabled);
  parse_bool_var(cfg, lookup, "FRAGSCOPE_SUMMARY", cfg.summary);
  parse_bool_var(cfg, lookup, "FRAGSCOPE_FOLLOW_EXEC", cfg.follow_exec);
  if (const char* v = lookup("FRAGSCOPE_INTERVAL_MS"); v != nullptr && *v != '\0') {
    constexpr std::uint32_t kMax = 3600u * 1000u;  // the reporter must walk the table hourly
    std::uint32_t ms = 0;
    std::string_view s(v);
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), ms);
    if (ec != std::errc() || end != s.data() + s.size() || ms > kMax) {
      warn(cfg, "fragscope: ignoring %s='%s' (expected milliseconds, 0 to 3600000); using %s",
           "FRAGSCOPE_INTERVAL_MS", v, "1000");
    } else {
      cfg.interval_ms = ms;
    }
  }
  if (const char* v = lookup("FRAGSCOPE_MODE"); v != nullptr && *v != '\0') {
    const std::string_view m(v);
    if (m == "sampled") cfg.sampled = true;
    else if (m != "full") warn(cfg, "fragscope: ignoring %s='%s' (expected full or sampled); using %s", "FRAGSCOPE_MODE", v, "full");
  }
  if (const char* v = lookup("FRAGSCOPE_REGION_ONE_IN"); v != nullptr && *v != '\0') {
    std::uint32_t n = 0;
    std::string_view s(v);
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
    if (ec != std::errc() || end != s.data() + s.size() || n == 0 || n > Config::kMaxRegionOneIn) {
      warn(cfg, "fragscope: ignoring %s='%s' (expected 1 to 65536: one address region in N is sampled); using %s",
           "FRAGSCOPE_REGION_ONE_IN", v, "32");
    } else {
      cfg.region_one_in = n;
    }
  }
  if (const char* v = lookup("FRAGSCOPE_SAMPLE_BYTES"); v != nullptr && *v != '\0') {
    std::uint64_t b = 0;
    std::string_view s(v);
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), b);
    if (ec != std::errc() || end != s.data() + s.size() || b > (std::uint64_t{1} << 40)) {
      warn(cfg, "fragscope: ignoring %s='%s' (expected bytes, 0 to 2^40; 1 = every allocation); using %s",
           "FRAGSCOPE_SAMPLE_BYTES", v, "524288");
    } else {
      cfg.sample_bytes = b;
    }
  }
  if (const char* v = lookup("FRAGSCOPE_SNAPSHOT_SCRATCH"); v != nullptr && *v != '\0') {
    std::uint64_t b = 0;
    std::string_view s(v);
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), b);
    if (ec != std::errc() || end != s.data() + s.size() || (b != 0 && b < Config::kMinScratch) ||
        b > (std::uint64_t{1} << 40)) {
      warn(cfg, "fragscope: ignoring %s='%s' (expected bytes, 24576 to 2^40, or 0 = 3%% of the resident memory); using %s",
           "FRAGSCOPE_SNAPSHOT_SCRATCH", v, "0");
    } else {
      cfg.snapshot_scratch = b;
    }
  }
  if (const char* v = lookup("FRAGSCOPE_TRIM"); v != nullptr && *v != '\0') {
    std::uint64_t b = 0;
    std::string_view s(v);
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), b);
    if (ec != std::errc() || end != s.data() + s.size() || b > Config::kMaxTrimBytes) {
      warn(cfg, "fragscope: ignoring %s='%s' (expected bytes of empty resident heap pages, 0 to 2^40; 0 = off); using %s",
           "FRAGSCOPE_TRIM", v, "0 (no trim)");
    } else {
      cfg.trim_bytes = b;
    }
  }
  if (const char* v = lookup("FRAGSCOPE_POOL_SIZES"); v != nullptr && *v != '\0') {
    if (!parse_pool_sizes(v, cfg.pool_sizes, cfg.npool_sizes)) {
      cfg.npool_sizes = 0;
      warn(cfg, "fragscope: ignoring %s='%s' (expected up to 16 sizes in bytes, 1 to 4096, separated by commas); %s",
           "FRAGSCOPE_POOL_SIZES", v, "no pools");
    }
  }
  parse_path_var(cfg, lookup, "FRAGSCOPE_OUTPUT", cfg.output);
  parse_path_var(cfg, lookup, "FRAGSCOPE_METRICS_FILE", cfg.metrics_file);
  if (const char* v = lookup("FRAGSCOPE_METRICS_ADDR"); v != nullptr && *v != '\0') {
    if (!parse_metrics_addr(v, &cfg.metrics_ip, &cfg.metrics_port)) {
      cfg.metrics_ip = 0;
      cfg.metrics_port = 0;
      warn(cfg, "fragscope: ignoring %s='%s' (expected PORT or IPv4:PORT, e.g. 9464 or 127.0.0.1:9464); %s",
           "FRAGSCOPE_METRICS_ADDR", v, "no metrics endpoint");
    }
  }
  parse_path_var(cfg, lookup, "FRAGSCOPE_PROC_DIR", cfg.proc_dir);
}

bool preload_without(const char* value, const char* self, char* out, std::size_t cap) noexcept {
  std::string_view v(value), me(self);
  auto slash = me.rfind('/');
  std::string_view base = slash == std::string_view::npos ? me : me.substr(slash + 1);
  std::size_t n = 0;
  while (!v.empty()) {
    std::size_t end = v.find_first_of(": ");
    std::string_view entry = v.substr(0, end);
    v = end == std::string_view::npos ? std::string_view{} : v.substr(end + 1);
    if (entry.empty()) continue;
    bool is_self = entry == me || entry == base ||
                   (entry.size() > base.size() && entry.substr(entry.size() - base.size()) == base &&
                    entry[entry.size() - base.size() - 1] == '/');
    if (is_self) continue;
    if (n + entry.size() + 2 > cap) return false;
    if (n) out[n++] = ':';
    std::memcpy(out + n, entry.data(), entry.size());
    n += entry.size();
  }
  if (n + 1 > cap) return false;
  out[n] = '\0';
  return true;
}

bool expand_output_path(const char* pattern, long pid, bool force_unique, char* out, std::size_t cap) noexcept {
  std::size_t n = 0;
  bool had_pid = false;
  auto put = [&](const char* s, std::size_t len) {
    if (n + len >= cap) return false;
    std::memcpy(out + n, s, len);
    n += len;
    return true;
  };
  char pidbuf[24];
  int pidlen = std::snprintf(pidbuf, sizeof(pidbuf), "%ld", pid);
  for (const char* p = pattern; *p; ++p) {
    if (p[0] == '%' && p[1] == 'p') {
      if (!put(pidbuf, static_cast<std::size_t>(pidlen))) return false;
      had_pid = true;
      ++p;
    } else if (p[0] == '%' && p[1] == '%') {
      if (!put("%", 1)) return false;
      ++p;
    } else if (!put(p, 1)) {
      return false;
    }
  }
  if (force_unique && !had_pid && (!put(".", 1) || !put(pidbuf, static_cast<std::size_t>(pidlen)))) return false;
  out[n] = '\0';
  return true;
}

}  // namespace fragscope::core
