// Snapshot collection and JSON encoding (see snapshot.hpp and docs/snapshot-schema.md).
#include "snapshot.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <cstring>

#include "os_memory.hpp"
#include "self_heap.hpp"

namespace fragscope::core {
namespace {

template <class... Args>
void put(TextBuffer& out, fmt::format_string<Args...> f, Args&&... args) noexcept {
  auto r = fmt::format_to_n(out.tail(), out.room(), f, std::forward<Args>(args)...);
  out.commit(r.size);
}

void put_opt(TextBuffer& out, bool& first, const char* key, const std::optional<std::uint64_t>& v) {
  if (!v) return;
  put(out, "{}\"{}\":{}", first ? "" : ",", key, *v);
  first = false;
}

// Non-empty log2 buckets as [[lower_bound_ns, count], ...].
void put_hist(TextBuffer& out, const std::uint64_t (&h)[kLifetimeBuckets], double ns_per_tick) {
  out.append("[");
  bool first = true;
  for (unsigned i = 0; i < kLifetimeBuckets; ++i) {
    if (h[i] == 0) continue;
    auto lo = static_cast<std::uint64_t>(static_cast<double>(std::uint64_t{1} << i) * ns_per_tick);
    put(out, "{}[{},{}]", first ? "" : ",", i == 0 ? 0 : lo, h[i]);
    first = false;
  }
  out.append("]");
}

}  // namespace

bool TextBuffer::reserve(std::size_t cap) noexcept {
  if (cap <= cap_) return true;
  char* b = static_cast<char*>(os_map(cap, "snapshot-buffer"));
  if (b == nullptr) return false;
  if (len_) std::memcpy(b, buf_, len_);
  os_unmap(buf_, cap_);
  buf_ = b;
  cap_ = cap;
  return true;
}

void TextBuffer::append(const char* s, std::size_t n) noexcept {
  if (n > room()) {
    overflow_ = true;
    n = room();
  }
  std::memcpy(buf_ + len_, s, n);
  len_ += n;
}

void append_printf(TextBuffer& out, const char* fmt, ...) noexcept {
  va_list ap;
  va_start(ap, fmt);
  int n = std::vsnprintf(out.tail(), out.room(), fmt, ap);
  va_end(ap);
  if (n > 0) out.commit(static_cast<std::size_t>(n));
}

void json_string(TextBuffer& out, const char* s) noexcept {
  out.append("\"");
  for (const unsigned char* p = reinterpret_cast<const unsigned char*>(s); *p; ++p) {
    unsigned char c = *p;
    if (c == '"' || c == '\\') {
      char e[2] = {'\\', static_cast<char>(c)};
      out.append(e, 2);
    } else if (c < 0x20) {
      put(out, "\\u{:04x}", static_cast<unsigned>(c));
    } else if (c < 0x80) {
      out.append(reinterpret_cast<const char*>(p), 1);
    } else {
      // A path or command line is bytes, JSON is UTF-8: a byte that does not start a valid
      // sequence becomes U+FFFD (a reader would refuse the whole line otherwise).
      const unsigned len = c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
      unsigned ok = len;
      for (unsigned k = 1; k < len && ok; ++k)
        if ((p[k] & 0xc0) != 0x80) ok = 0;
      if (ok && len == 3 && ((c == 0xe0 && p[1] < 0xa0) || (c == 0xed && p[1] > 0x9f))) ok = 0;  // overlong, surrogate
      if (ok && len == 4 && ((c == 0xf0 && p[1] < 0x90) || (c == 0xf4 && p[1] > 0x8f))) ok = 0;  // overlong, > U+10FFFF
      if (ok) {
        out.append(reinterpret_cast<const char*>(p), ok);
        p += ok - 1;
      } else {
        out.append("\\ufffd");
      }
    }
  }
  out.append("\"");
}

static std::uint64_t scaled(std::uint64_t v, double k) noexcept {
  return static_cast<std::uint64_t>(std::llround(static_cast<double>(v) * k));
}

// Sampled mode's frees of a class, and their requested bytes: what was allocated (counted exactly,
// every call) less what is live (estimated from the sampled blocks). Scaling the sampled blocks'
// own frees instead leans on which addresses the sample holds: a program that reuses a few hot
// addresses (the example service: allocator free lists, LIFO) frees them millions of times, and
// one of them in or out of the sample moved the estimate by a third (12.8 M frees of 9.6 M
// allocations). The live estimate errs by thousands, not millions.
static std::uint64_t allocated_less_live(std::uint64_t allocated, std::uint64_t sampled_live, double k) noexcept {
  const std::uint64_t live = scaled(sampled_live, k);
  return allocated > live ? allocated - live : 0;
}

void SnapshotBuilder::collect(Recorder& r, std::uint64_t now, WindowSelector* batch, AddressSample* sample) noexcept {
  std::memset(cls_, 0, sizeof(cls_));
  std::memset(calls_, 0, sizeof(calls_));
  std::memset(failures_, 0, sizeof(failures_));
  std::memset(exact_, 0, sizeof(exact_));
  untracked_frees_ = missed_frees_ = dropped_ = realloc_moves_ = realloc_in_place_ = 0;
  mmap_bytes_ = munmap_bytes_ = mremap_moves_ = allocator_mmaps_ = allocator_mmap_bytes_ = 0;
  const bool sampled = r.regions.on();
  r.threads.for_each([&](const ThreadStats& t) {
    for (unsigned c = 0; c < kNumSizeClasses; ++c) {
      const ClassStats& s = t.cls[c];
      ClassAgg& a = cls_[c];
      if (sampled) {
        // Every allocation is in `every`; cls counts the sample's.
        a.allocs += t.every[c].allocs.get(), a.req_alloc += t.every[c].bytes.get();
        a.s_allocs += s.allocs.get(), a.s_req_alloc += s.req_alloc.get();
      } else {
        a.allocs += s.allocs.get(), a.req_alloc += s.req_alloc.get();
      }
      a.frees += s.frees.get();
      a.req_free += s.req_free.get();
      a.usable_alloc += s.usable_alloc.get();
      a.usable_free += s.usable_free.get();
      if (s.frees.get() != 0)
        for (unsigned b = 0; b < kLifetimeBuckets; ++b) a.freed_life[b] += t.lifetimes[c][b].get();
    }
    for (unsigned o = 0; o < kNumOps; ++o) {
      calls_[o] += t.calls[o].get();
      failures_[o] += t.failures[o].get();
    }
    for (unsigned i = 0; i < kExactSizes; ++i) exact_[i] += t.exact[i].get();
    untracked_frees_ += t.untracked_frees.get();
    missed_frees_ += t.missed_frees.get();
    dropped_ += t.dropped.get();
    realloc_moves_ += t.realloc_moves.get();
    realloc_in_place_ += t.realloc_in_place.get();
    mmap_bytes_ += t.mmap_bytes.get();
    munmap_bytes_ += t.munmap_bytes.get();
    mremap_moves_ += t.mremap_moves.get();
    allocator_mmaps_ += t.allocator_mmaps.get();
    allocator_mmap_bytes_ += t.allocator_mmap_bytes.get();
  });
  r.table.walk(now, [&](const Block& b, std::uint64_t age) {
    // Sampled mode: the sample of blocks is those that start in a sampled region, and every large
    // block; spills are kept for the layout only.
    if (!sampled || r.regions.counted(b.addr, b.size)) {
      ClassAgg& a = cls_[size_class_of(b.size)];
      ++a.table_blocks;
      a.table_requested += b.size;
      ++a.live_age[detail::lifetime_bucket(age)];
    }
    // Sampled blocks are marked with site UINT32_MAX; the caller looks their sites up afterwards.
    if (batch != nullptr) batch->offer(LiveRange{b.addr, b.size, b.sampled ? UINT32_MAX : 0u, 0.0f});
    if (sample != nullptr) sample->offer(b.addr);
  });
  live_maps_ = r.mmaps.count();
  live_map_bytes_ = r.mmaps.bytes();

  totals_ = SnapshotTotals{};
  for (unsigned c = 0; c < kNumSizeClasses; ++c) {
    const ClassAgg& a = cls_[c];
    totals_.allocs += a.allocs;
    totals_.frees += a.frees;
    totals_.req_alloc += a.req_alloc;
    totals_.req_free += a.req_free;
    totals_.usable_alloc += a.usable_alloc;
    totals_.usable_free += a.usable_free;
    totals_.table_blocks += a.table_blocks;
    totals_.table_requested += a.table_requested;
  }
  totals_.peak_requested = std::max<std::int64_t>(r.peaks.total_peak(),
                                                  static_cast<std::int64_t>(totals_.req_alloc - totals_.req_free));
  if (sampled) {
    // allocs and req_alloc count every allocation; the rest counted the sampled blocks.
    SnapshotTotals::Sampled& s = totals_.sampled;
    s.frees = totals_.frees, s.req_free = totals_.req_free, s.usable_alloc = totals_.usable_alloc,
    s.usable_free = totals_.usable_free, s.table_blocks = totals_.table_blocks, s.table_requested = totals_.table_requested;
    for (const ClassAgg& a : cls_) s.allocs += a.s_allocs, s.req_alloc += a.s_req_alloc;
    totals_.scale = 1.0 / r.regions.fraction();
    totals_.estimated = true;
    totals_.frees = totals_.req_free = totals_.usable_alloc = totals_.usable_free = 0;
    totals_.table_blocks = totals_.table_requested = 0;
    for (unsigned c = 0; c < kNumSizeClasses; ++c) {
      const ClassAgg& a = cls_[c];
      const double k = class_scale(c);
      totals_.frees += allocated_less_live(a.allocs, a.table_blocks, k);
      totals_.req_free += allocated_less_live(a.req_alloc, a.table_requested, k);
      totals_.usable_alloc += scaled(a.usable_alloc, k), totals_.usable_free += scaled(a.usable_free, k);
      totals_.table_blocks += scaled(a.table_blocks, k), totals_.table_requested += scaled(a.table_requested, k);
    }
    totals_.peak_requested = static_cast<std::int64_t>(totals_.table_requested);  // no peak is tracked
    // Never below what a snapshot already said (snapshot.hpp, frees_floor_).
    totals_.frees = frees_floor_ = std::max(totals_.frees, frees_floor_);
    totals_.req_free = req_free_floor_ = std::max(totals_.req_free, req_free_floor_);
  }
}

// Sampled mode: the counts of the sampled blocks themselves, which balance as full mode's do.
static void put_sampled(TextBuffer& out, std::uint64_t allocs, std::uint64_t frees, std::uint64_t live_blocks,
                        std::uint64_t live_req, std::uint64_t live_usable, std::uint64_t req_alloc,
                        std::uint64_t req_free) noexcept {
  put(out,
      ",\"sampled\":{{\"allocs\":{},\"frees\":{},\"live_blocks\":{},\"live_requested\":{},\"live_usable\":{},"
      "\"requested_allocated\":{},\"requested_freed\":{}}}",
      allocs, frees, live_blocks, live_req, live_usable, req_alloc, req_free);
}

void SnapshotBuilder::encode_heap(const SnapshotMeta& m, TextBuffer& out) const noexcept {
  if (m.heap == nullptr) {
    out.append(",\"heap\":{\"error\":");
    json_string(out, m.heap_error ? m.heap_error : "not analysed");
    out.append("}");
    return;
  }
  const HeapLayout& h = *m.heap;
  const HeapEstimate* e = m.estimate;
  const std::uint64_t rss = h.heap_rss(m.page_size);
  const std::uint64_t live_req = totals_.table_requested;
  const std::uint64_t live_usable = totals_.usable_alloc - totals_.usable_free;
  const std::uint64_t free_resident =
      e != nullptr ? static_cast<std::uint64_t>(std::llround(e->free_resident)) : rss > live_usable ? rss - live_usable : 0;
  put(out,
      ",\"heap\":{{\"source\":\"live table{} + {}/self/maps + mincore\",\"page_size\":{},\"segments\":{},"
      "\"segments_skipped\":{},\"segment_bytes\":{},\"pages\":{},\"heap_rss\":{},\"rss_over_live\":{:.4f},\"free_resident\":{},"
      "\"residency_unknown_pages\":{},\"blocks_in_segments\":{},\"live_in_segments\":{},",
      e != nullptr ? " (sampled regions)" : "", m.proc_dir, m.page_size, h.segments, h.segments_skipped, h.segment_bytes,
      h.pages, rss, live_req ? static_cast<double>(rss) / static_cast<double>(live_req) : 0.0, free_resident,
      h.residency_unknown_pages, h.blocks, h.live_bytes);
  if (e != nullptr) {
    // The standard error of each estimated figure (heap_estimate.hpp); largest is a lower bound.
    const double pg = static_cast<double>(m.page_size);
    put(out,
        "\"estimate\":{{\"regions\":{},\"fraction\":{:.9f},\"largest_hole\":\"lower bound\",\"top_pinned_by\":\"not "
        "estimated\",\"se\":{{\"heap_rss\":{:.0f},\"free_resident\":{:.0f},\"empty_resident_pages\":{:.1f},"
        "\"pinned_pages\":{:.1f},\"hole_bytes\":{:.0f},\"holes\":{:.1f},\"live_in_segments\":{:.0f},"
        "\"blocks_in_segments\":{:.1f}}}}},",
        e->regions, e->fraction, e->se_resident_pages * pg, e->se_free_resident, e->se_empty_pages, e->se_pinned_pages,
        e->se_hole_bytes, e->se_holes, e->se_live_bytes, e->se_blocks);
  }
  out.append("\"page_occupancy\":[");
  for (unsigned i = 0; i < HeapLayout::kOccupancyBins; ++i) put(out, "{}{}", i ? "," : "", h.occupancy[i]);
  put(out,
      "],\"empty_resident_pages\":{},\"pinned_pages\":{},\"holes\":{{\"count\":{},\"total\":{},\"largest\":{},"
      "\"resident\":{},\"min_size\":{},\"hist\":[",
      h.empty_resident_pages, h.pinned_pages, h.holes, h.hole_bytes, h.largest_hole, h.hole_resident_bytes,
      HeapLayout::kMinHole);
  bool first = true;
  for (unsigned i = 0; i < HeapLayout::kHoleBins; ++i) {
    if (h.hole_hist[i] == 0) continue;
    put(out, "{}[{},{}]", first ? "" : ",", std::uint64_t{1} << i, h.hole_hist[i]);
    first = false;
  }
  put(out, "]}},\"ext_frag\":{:.6f},\"gap_overhead\":{},\"trailing_free\":{},\"top_pinned_by\":[", h.ext_frag(),
      h.gap_overhead, h.trailing_bytes);
  for (unsigned i = 0; i < h.ntop_pinned; ++i) {
    const HeapLayout::Pinned& p = h.top_pinned[i];
    put(out,
        "{}{{\"segment_start\":{},\"segment_end\":{},\"addr\":{},\"size\":{},\"age_ns\":{},\"free_below\":{},"
        "\"free_below_resident\":{},\"gap_below\":{},\"gap_below_resident\":{}}}",
        i ? "," : "", p.segment_start, p.segment_end, p.addr, p.size,
        static_cast<std::uint64_t>(static_cast<double>(p.age) * m.ns_per_tick), p.free_below, p.free_below_resident,
        p.gap_below, p.gap_below_resident);
  }
  out.append("]}");
}

void SnapshotBuilder::encode(const SnapshotMeta& m, Recorder& r, TextBuffer& out) const noexcept {
  const SnapshotTotals& t = totals_;
  put(out, "{{\"schema\":\"fragscope.snapshot\",\"version\":{},\"seq\":{},\"final\":{},\"reason\":\"{}\"",
      kSchemaVersion, m.seq, m.final, m.reason);
  put(out, ",\"pid\":{},\"ppid\":{},\"run_id\":\"{:016x}\",\"forked_child\":{},\"exe\":", m.pid, m.ppid, m.run_id,
      m.forked_child);
  json_string(out, m.exe);
  out.append(",\"argv0\":");
  json_string(out, m.argv0);
  out.append(",\"output\":");
  json_string(out, m.output_path);
  put(out, ",\"time_unix_ns\":{},\"uptime_ns\":{}", m.time_unix_ns, m.uptime_ns);
  put(out, ",\"clock\":{{\"source\":\"{}\",\"ns_per_tick\":{:.4f}}}",
      m.clock == ClockSource::kTsc ? "tsc" : "monotonic", m.ns_per_tick);
  if (t.estimated)
    put(out, ",\"mode\":\"sampled\",\"sampling\":{{\"one_in\":{},\"region_bytes\":{},\"fraction\":{:.9f}}}",
        r.regions.one_in(), r.regions.region_bytes(), r.regions.fraction());
  else
    out.append(",\"mode\":\"full\"");

  const std::uint64_t live_usable = t.usable_alloc - t.usable_free;
  const std::uint64_t live_req = t.table_requested;
  put(out,
      ",\"totals\":{{\"allocs\":{},\"frees\":{},\"live_blocks\":{},\"live_requested\":{},\"live_usable\":{},"
      "\"requested_allocated\":{},\"requested_freed\":{},\"usable_allocated\":{},\"usable_freed\":{},"
      "\"internal_frag\":{},\"internal_frag_ratio\":{:.6f},\"peak_live_requested\":{}",
      t.allocs, t.frees, t.table_blocks, live_req, live_usable, t.req_alloc, t.req_free, t.usable_alloc,
      t.usable_free, live_usable >= live_req ? live_usable - live_req : 0,
      live_usable ? static_cast<double>(live_usable - std::min(live_usable, live_req)) / static_cast<double>(live_usable)
                  : 0.0,
      t.peak_requested);
  if (t.estimated) {
    const SnapshotTotals::Sampled& v = t.sampled;
    put_sampled(out, v.allocs, v.frees, v.table_blocks, v.table_requested, v.usable_alloc - v.usable_free, v.req_alloc,
                v.req_free);
  }
  out.append("}");

  out.append(",\"calls\":{");
  // Sampled mode counts the allocation and free calls of the sample's blocks only: estimates.
  for (unsigned o = 0; o < kNumOps; ++o)
    put(out, "{}\"{}\":{}", o ? "," : "", op_name(static_cast<Op>(o)),
        t.estimated && o < kNumEventOps ? scaled(calls_[o], t.scale) : calls_[o]);
  out.append("},\"failures\":{");
  for (unsigned o = 0; o < kNumOps; ++o)
    put(out, "{}\"{}\":{}", o ? "," : "", op_name(static_cast<Op>(o)), failures_[o]);
  put(out,
      "}},\"anomalies\":{{\"untracked_frees\":{},\"missed_frees\":{},\"dropped\":{}}}"
      ",\"realloc\":{{\"moves\":{},\"in_place\":{}}}",
      untracked_frees_, missed_frees_, dropped_, realloc_moves_, realloc_in_place_);

  out.append(",\"size_classes\":[");
  bool first = true;
  for (unsigned c = 0; c < kNumSizeClasses; ++c) {
    const ClassAgg& a = cls_[c];
    if (a.allocs == 0 && a.table_blocks == 0) continue;
    std::uint64_t hi = size_class_upper(c);
    if (t.estimated) {
      // allocs and requested_allocated exact; the rest estimated from the sampled blocks (exact
      // for the large classes, whose blocks are all kept).
      const double k = class_scale(c);
      const std::uint64_t live_req = scaled(a.table_requested, k);
      put(out,
          "{}{{\"class\":{},\"lo\":{},\"hi\":{},\"allocs\":{},\"frees\":{},\"live_blocks\":{},\"live_requested\":{},"
          "\"live_usable\":{},\"requested_allocated\":{},\"requested_freed\":{},\"peak_live_requested\":{}",
          first ? "" : ",", c, size_class_lower(c), hi == UINT64_MAX ? 0 : hi, a.allocs,
          allocated_less_live(a.allocs, a.table_blocks, k), scaled(a.table_blocks, k), live_req, scaled(a.usable_alloc - a.usable_free, k), a.req_alloc,
          allocated_less_live(a.req_alloc, a.table_requested, k), live_req);
      put_sampled(out, a.s_allocs, a.frees, a.table_blocks, a.table_requested, a.usable_alloc - a.usable_free,
                  a.s_req_alloc, a.req_free);
      out.append("}");
      first = false;
      continue;
    }
    put(out,
        "{}{{\"class\":{},\"lo\":{},\"hi\":{},\"allocs\":{},\"frees\":{},\"live_blocks\":{},\"live_requested\":{},"
        "\"live_usable\":{},\"requested_allocated\":{},\"requested_freed\":{},\"peak_live_requested\":{}}}",
        first ? "" : ",", c, size_class_lower(c), hi == UINT64_MAX ? 0 : hi, a.allocs, a.frees, a.table_blocks,
        a.table_requested, a.usable_alloc - a.usable_free, a.req_alloc, a.req_free,
        std::max<std::int64_t>(r.peaks.peak(c), static_cast<std::int64_t>(a.req_alloc - a.req_free)));
    first = false;
  }
  out.append("]");

  // The most frequent exact request sizes (0..1024 B), by allocation count.
  constexpr unsigned kTop = 32;
  unsigned top[kTop];
  unsigned ntop = 0;
  for (unsigned s = 0; s < kExactSizes; ++s) {
    if (exact_[s] == 0) continue;
    unsigned pos = ntop < kTop ? ntop++ : kTop;
    if (pos == kTop) {
      if (exact_[s] <= exact_[top[kTop - 1]]) continue;
      pos = kTop - 1;
    }
    while (pos > 0 && exact_[top[pos - 1]] < exact_[s]) {
      top[pos] = top[pos - 1];
      --pos;
    }
    top[pos] = s;
  }
  out.append(",\"top_sizes\":[");
  // Sampled mode: counted for the sampled blocks (all of them small), scaled.
  for (unsigned i = 0; i < ntop; ++i)
    put(out, "{}{{\"size\":{},\"allocs\":{}}}", i ? "," : "", top[i],
        t.estimated ? scaled(exact_[top[i]], t.scale) : exact_[top[i]]);
  out.append("]");

  put(out, ",\"lifetimes\":{{\"buckets\":\"log2\",\"ns_per_tick\":{:.4f},\"by_class\":[", m.ns_per_tick);
  first = true;
  for (unsigned c = 0; c < kNumSizeClasses; ++c) {
    const ClassAgg& a = cls_[c];
    if (a.frees == 0 && a.table_blocks == 0) continue;
    put(out, "{}{{\"class\":{},\"freed\":", first ? "" : ",", c);
    put_hist(out, a.freed_life, m.ns_per_tick);
    out.append(",\"live_age\":");
    put_hist(out, a.live_age, m.ns_per_tick);
    out.append("}");
    first = false;
  }
  out.append("]}");

  put(out,
      ",\"mmap\":{{\"calls\":{},\"bytes\":{},\"munmap_calls\":{},\"munmap_bytes\":{},\"mremap_calls\":{},"
      "\"mremap_moves\":{},\"live_anon_mappings\":{},\"live_anon_bytes\":{},\"allocator_calls\":{},"
      "\"allocator_bytes\":{},\"tracking_dropped\":{}}}",
      calls_[static_cast<unsigned>(Op::kMmap)], mmap_bytes_, calls_[static_cast<unsigned>(Op::kMunmap)], munmap_bytes_,
      calls_[static_cast<unsigned>(Op::kMremap)], mremap_moves_, live_maps_, live_map_bytes_, allocator_mmaps_,
      allocator_mmap_bytes_, r.mmaps.dropped());

  out.append(",\"process\":{\"status\":");
  if (m.status) {
    put(out, "{{\"source\":\"{}/self/status\"", m.proc_dir);
    bool f = false;
    put_opt(out, f, "vm_peak", m.status->vm_peak);
    put_opt(out, f, "vm_size", m.status->vm_size);
    put_opt(out, f, "vm_hwm", m.status->vm_hwm);
    put_opt(out, f, "vm_rss", m.status->vm_rss);
    put_opt(out, f, "rss_anon", m.status->rss_anon);
    put_opt(out, f, "rss_file", m.status->rss_file);
    put_opt(out, f, "rss_shmem", m.status->rss_shmem);
    put_opt(out, f, "vm_data", m.status->vm_data);
    put_opt(out, f, "vm_swap", m.status->vm_swap);
    put_opt(out, f, "threads", m.status->threads);
    out.append("}");
  } else {
    out.append("{\"error\":");
    json_string(out, m.status_error ? m.status_error : "not read");
    out.append("}");
  }
  out.append(",\"smaps_rollup\":");
  if (m.rollup) {
    put(out, "{{\"source\":\"{}/self/smaps_rollup\"", m.proc_dir);
    bool f = false;
    const proc::SmapsRollup& s = *m.rollup;
    put_opt(out, f, "rss", s.rss);
    put_opt(out, f, "pss", s.pss);
    put_opt(out, f, "pss_anon", s.pss_anon);
    put_opt(out, f, "pss_file", s.pss_file);
    put_opt(out, f, "pss_shmem", s.pss_shmem);
    put_opt(out, f, "shared_clean", s.shared_clean);
    put_opt(out, f, "shared_dirty", s.shared_dirty);
    put_opt(out, f, "private_clean", s.private_clean);
    put_opt(out, f, "private_dirty", s.private_dirty);
    put_opt(out, f, "uss", s.uss());
    put_opt(out, f, "anonymous", s.anonymous);
    put_opt(out, f, "anon_huge_pages", s.anon_huge_pages);
    put_opt(out, f, "swap", s.swap);
    put_opt(out, f, "swap_pss", s.swap_pss);
    out.append("}");
  } else {
    out.append("{\"error\":");
    json_string(out, m.rollup_error ? m.rollup_error : "not read");
    out.append("}");
  }
  out.append(",\"by_kind\":");
  if (m.by_kind) {
    put(out, "{{\"source\":\"{}/self/smaps\"", m.proc_dir);
    for (std::size_t k = 0; k < proc::kMappingKinds; ++k) {
      const proc::SmapsTotals& t = m.by_kind->kind[k];
      put(out, ",\"{}\":{{\"mappings\":{},\"rss\":{},\"pss\":{},\"uss\":{},\"swap\":{},\"anon_huge_pages\":{}}}",
          proc::to_string(proc::kAllMappingKinds[k]), t.mappings, t.rss, t.pss, t.uss, t.swap, t.anon_huge_pages);
    }
    out.append("}");
  } else {
    out.append("{\"error\":");
    json_string(out, m.by_kind_error ? m.by_kind_error : "not read");
    out.append("}");
  }
  out.append("}");

  const std::size_t table_bytes = r.table.memory_bytes();
  put(out,
      ",\"overhead\":{{\"live_table_bytes\":{},\"live_table_buckets\":{},\"bytes_per_live_block\":{:.2f},"
      "\"thread_blocks\":{},\"thread_stats_bytes\":{},\"mmap_tracker_bytes\":{},\"sites_bytes\":{},"
      "\"mapped_bytes\":{},\"self_heap_bytes\":{},\"snapshot_scratch_bytes\":{},\"layout_batch_bytes\":{},"
      "\"layout_batches\":{}}}",
      table_bytes, r.table.buckets(), t.table_blocks ? static_cast<double>(table_bytes) / static_cast<double>(t.table_blocks) : 0.0,
      r.threads.blocks(), r.threads.memory_bytes(), r.mmaps.memory_bytes(), r.sites.memory_bytes(), os_mapped_bytes(),
      self_heap_bytes(), m.scratch_bytes, m.batch_bytes, m.layout_batches);

  encode_heap(m, out);
  if (m.extra) m.extra(out, m);
  out.append(",\"warnings\":[");
  for (std::size_t i = 0; i < m.nwarnings; ++i) {
    if (i) out.append(",");
    json_string(out, m.warnings[i]);
  }
  out.append("]}\n");
}

}  // namespace fragscope::core
