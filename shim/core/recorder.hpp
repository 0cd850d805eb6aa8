// The recording core: what the hooks call after the real allocator has answered. An ordinary
// C++ library (no preload needed), so tests drive it directly with their own Recorder.
//
// Hot path per allocation: one live-table insert with a few per-thread counter updates made
// under the same bucket lock; per free: one remove, the same counters and one lifetime bucket.
// Everything rare (a missed free, a dropped block, a peak flush) sits behind one unlikely branch
// in an out-of-line function.
#pragma once

#include <cstddef>
#include <cstdint>

#include "clock.hpp"
#include "live_table.hpp"
#include "mmap_tracker.hpp"
#include "region_sampler.hpp"
#include "sites.hpp"
#include "size_class.hpp"
#include "thread_stats.hpp"

namespace fragscope::core {

/// Captures the calling thread's return addresses into buf (at most max); returns how many.
using CaptureStackFn = unsigned (*)(void** buf, unsigned max);

struct Recorder {
  LiveTable table;
  ThreadRegistry threads;
  PeakTracker peaks;
  MmapTracker mmaps;
  SiteTable sites;
  RegionSampler regions;  // sampled mode only (regions.on()); full mode keeps every block
  CaptureStackFn capture = nullptr;  // set with sampling; nullptr: no call sites
  // Frames in [own_lo, own_hi) are ours (the hooks): dropped from the top of captured stacks.
  std::uintptr_t own_lo = 0, own_hi = 0;

  /// Requires: called once before any other use; false if our memory cannot be mapped.
  /// `sample_bytes` = 0 turns call-site sampling off.
  bool init(std::uint64_t sample_bytes = 0, CaptureStackFn cap = nullptr) noexcept {
    capture = cap;
    return table.init() && sites.init(cap ? sample_bytes : 0);
  }
};

namespace detail {
void on_replaced(Recorder& r, ThreadStats& t, const Block& old, std::uint64_t now) noexcept;
/// Takes a call-site sample for a block of `req` bytes: its site id, or 0. Redraws the countdown.
std::uint32_t take_sample(Recorder& r, ThreadStats& t) noexcept;
void on_dropped(ThreadStats& t) noexcept;
inline unsigned lifetime_bucket(std::uint64_t ticks) noexcept {
  unsigned b = 63u - static_cast<unsigned>(__builtin_clzll(ticks | 1));
  return b < kLifetimeBuckets ? b : kLifetimeBuckets - 1;
}
inline void count_alloc(Recorder& r, ThreadStats& t, std::uint64_t req, std::size_t usable) noexcept {
  const unsigned c = size_class_of(req);
  ClassStats& cs = t.cls[c];
  cs.allocs.add(1);
  cs.req_alloc.add(req);
  cs.usable_alloc.add(usable);
  if (req < kExactSizes) t.exact[req].add(1);
  std::int64_t p = cs.pending.load(std::memory_order_relaxed) + static_cast<std::int64_t>(req);
  cs.pending.store(p, std::memory_order_relaxed);
  if (p > PeakTracker::kFlushBytes) [[unlikely]]
    r.peaks.flush(t, c);
}
inline void count_free(Recorder& r, ThreadStats& t, const Block& b, std::size_t usable,
                       std::uint64_t now, bool lifetime) noexcept {
  const unsigned c = size_class_of(b.size);
  ClassStats& cs = t.cls[c];
  cs.frees.add(1);
  cs.req_free.add(b.size);
  cs.usable_free.add(usable);
  if (lifetime) t.lifetimes[c][lifetime_bucket(now > b.time ? now - b.time : 0)].add(1);  // see HookClock
  std::int64_t p = cs.pending.load(std::memory_order_relaxed) - static_cast<std::int64_t>(b.size);
  cs.pending.store(p, std::memory_order_relaxed);
  if (p < -PeakTracker::kFlushBytes) [[unlikely]]
    r.peaks.flush(t, c);
}
/// Takes back a count_free (a realloc that failed and left the block live).
inline void uncount_free(ThreadStats& t, const Block& b, std::size_t usable, std::uint64_t now) noexcept {
  const unsigned c = size_class_of(b.size);
  ClassStats& cs = t.cls[c];
  cs.frees.add(~std::uint64_t{0});  // counters are modular: adding 2^64 - n subtracts n
  cs.req_free.add(-b.size);
  cs.usable_free.add(-static_cast<std::uint64_t>(usable));
  t.lifetimes[c][lifetime_bucket(now > b.time ? now - b.time : 0)].add(~std::uint64_t{0});  // as count_free
  cs.pending.store(cs.pending.load(std::memory_order_relaxed) + static_cast<std::int64_t>(b.size),
                   std::memory_order_relaxed);
}
}  // namespace detail

/// The call site of an allocation of `req` bytes when it is sampled (its stack is captured now,
/// in the allocating thread), else 0.
inline std::uint32_t sample_site(Recorder& r, ThreadStats& t, std::uint64_t req) noexcept {
  t.sample_countdown -= static_cast<std::int64_t>(req);
  if (t.sample_countdown < 0) [[unlikely]]
    return detail::take_sample(r, t);
  return 0;
}

/// Records a new live block at `addr` of `req` requested and `usable` usable bytes, allocated at
/// `now`, whose call site (0: not sampled) was taken already. kLocked: see LiveTable::insert.
template <bool kLocked = true>
inline void record_alloc_sampled(Recorder& r, ThreadStats& t, std::uintptr_t addr, std::uint64_t req,
                                 std::size_t usable, std::uint64_t now, std::uint32_t site) noexcept {
  Block b{addr, req, now, site != 0};
  Block old;
  InsertResult res = r.table.insert<kLocked>(b, &old, [&](InsertResult ir) {
    if (ir == InsertResult::kDropped) [[unlikely]]
      return;
    if (ir == InsertResult::kReplaced) [[unlikely]]
      detail::on_replaced(r, t, old, now);
    detail::count_alloc(r, t, req, usable);
  });
  if (res == InsertResult::kDropped) [[unlikely]]
    detail::on_dropped(t);
  else if (site != 0) [[unlikely]]
    r.sites.on_alloc(b.addr, req, site);
}

/// Records a new live block `p` of `req` requested and `usable` usable bytes, allocated at `now`.
inline void record_alloc(Recorder& r, ThreadStats& t, void* p, std::uint64_t req, std::size_t usable,
                         std::uint64_t now) noexcept {
  record_alloc_sampled(r, t, reinterpret_cast<std::uintptr_t>(p), req, usable, now, sample_site(r, t, req));
}

/// Records that live block `p` is about to be freed; returns false (and counts an untracked
/// free) if we never saw it allocated. `usable_of(p)` is called only for tracked blocks.
/// kLocked: see LiveTable::remove.
template <bool kLocked = true, class UsableOf>
inline bool record_free(Recorder& r, ThreadStats& t, void* p, std::uint64_t now, UsableOf&& usable_of,
                        Block* removed = nullptr) noexcept {
  Block b;
  bool found = r.table.remove<kLocked>(reinterpret_cast<std::uintptr_t>(p), now, &b, [&](const Block& blk) {
    detail::count_free(r, t, blk, usable_of(p), now, true);
  });
  if (!found) [[unlikely]] {
    t.untracked_frees.add(1);
    return false;
  }
  if (b.sampled) [[unlikely]]
    r.sites.on_free(b.addr, b.size);
  if (removed) *removed = b;
  return true;
}

// ---- Sampled mode (region_sampler.hpp) ----
// Every allocation is counted exactly by class and requested bytes (ThreadStats::every); only
// blocks the region sampler keeps go into the table. The class counters (cls), the exact sizes
// and the lifetimes then count the blocks of the sample (RegionSampler::counted: those that
// start in a sampled region, and the large ones); spills are in the table for the layout and
// counted nowhere else. The hooks call keep/drop under begin_record/end_record, like a direct
// call of full mode, so that a final snapshot's freeze holds them too.

/// Counts an allocation of `req` bytes (every allocation, exactly).
inline void sampled_count_alloc(ThreadStats& t, std::uint64_t req) noexcept {
  ClassCount& c = t.every[size_class_fast(req)];
  c.allocs.add(1);
  c.bytes.add(req);
}

/// Takes back sampled_count_alloc's count of an allocation that failed.
inline void sampled_uncount_alloc(ThreadStats& t, std::uint64_t req) noexcept {
  ClassCount& c = t.every[size_class_fast(req)];
  c.allocs.add(~std::uint64_t{0});  // −1 and −req, modulo 2^64
  c.bytes.add(~req + 1);
}

/// Keeps block `a` (`req` requested, `usable` usable bytes, allocated at `now`) that the sampler
/// chose (`h` is not kNone); `site` as record_alloc_sampled's (only for a kStart block).
void sampled_keep(Recorder& r, ThreadStats& t, std::uintptr_t a, std::uint64_t req, std::size_t usable,
                  std::uint64_t now, RegionSampler::Hit h, std::uint32_t site) noexcept;

/// Which kind of kept block a free of `a` may find: kNone (the common case: nothing to do),
/// kStart (it starts in a sampled region) or kSpill (it may be a spill).
inline RegionSampler::Hit sampled_free_kind(const Recorder& r, std::uintptr_t a) noexcept {
  if (r.regions.sampled_addr(a)) [[unlikely]]
    return RegionSampler::Hit::kStart;
  if (r.regions.maybe_spill(a)) [[unlikely]]
    return RegionSampler::Hit::kSpill;
  return RegionSampler::Hit::kNone;
}

/// Takes block `a` out of the table (`h` from sampled_free_kind, not kNone) at `now`; `usable`:
/// its usable bytes (read only for a kStart block). False when it was not there (kStart: counted
/// as an untracked free). `removed` receives the block when given.
bool sampled_drop(Recorder& r, ThreadStats& t, std::uintptr_t a, RegionSampler::Hit h, std::uint64_t now,
                  std::size_t (*usable)(void*), Block* removed = nullptr) noexcept;

/// Puts back a block sampled_drop took out, whose free did not happen (a realloc that failed).
void sampled_restore(Recorder& r, ThreadStats& t, const Block& b, RegionSampler::Hit h, std::uint64_t now,
                     std::size_t usable) noexcept;

}  // namespace fragscope::core
