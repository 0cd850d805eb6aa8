// Rare paths of the recording core (see recorder.hpp).
#include "recorder.hpp"

namespace fragscope::core::detail {

void on_replaced(Recorder& r, ThreadStats& t, const Block& old, std::uint64_t now) noexcept {
  // The allocator handed out an address we still thought live: its free bypassed our hooks
  // (e.g. a libc-internal free). Close the old block so counts keep balancing; its lifetime is
  // unknown, so it is not put in the lifetime histogram. Its usable size is unknown too: we
  // take the requested size, so usable bytes may drift by the slack of such blocks.
  t.missed_frees.add(1);
  count_free(r, t, old, old.size, now, false);
  if (old.sampled) r.sites.on_free(old.addr, old.size);
}

std::uint32_t take_sample(Recorder& r, ThreadStats& t) noexcept {
  if (!r.sites.enabled()) {
    t.sample_countdown = INT64_MAX / 2;  // sampling off: never come back here
    return 0;
  }
  if (t.sample_rng == 0) {
    t.sample_rng = reinterpret_cast<std::uintptr_t>(&t) ^ now_ticks() ^ 0x9E3779B97F4A7C15ULL;
    if (t.samples.get() == 0 && r.sites.mean() > 1) {
      // The thread's first countdown: start it at a random point, not at zero.
      t.sample_countdown = r.sites.next_countdown(t.sample_rng);
      return 0;
    }
  }
  t.sample_countdown = r.sites.next_countdown(t.sample_rng);
  void* frames[SiteTable::kMaxFrames + 3];
  unsigned n = r.capture(frames, SiteTable::kMaxFrames + 3);
  // Drop our own frames (the unwinder's caller, this function, the hook) from the top.
  unsigned skip = 0;
  while (skip < n && reinterpret_cast<std::uintptr_t>(frames[skip]) >= r.own_lo &&
         reinterpret_cast<std::uintptr_t>(frames[skip]) < r.own_hi)
    ++skip;
  if (r.own_hi == 0) skip = n > 2 ? 2 : 0;  // range unknown: at least this function and the capture
  if (skip >= n) return 0;
  t.samples.add(1);
  return r.sites.intern(frames + skip, n - skip);
}

void on_dropped(ThreadStats& t) noexcept { t.dropped.add(1); }

}  // namespace fragscope::core::detail

namespace fragscope::core {
namespace {

// A sampled block's counters (sampled mode: see recorder.hpp). No peak: per-class live bytes are
// estimated from the table, not kept as running sums.
void count_sampled_free(ThreadStats& t, const Block& b, std::size_t usable, std::uint64_t now, bool lifetime) noexcept {
  ClassStats& cs = t.cls[size_class_of(b.size)];
  cs.frees.add(1);
  cs.req_free.add(b.size);
  cs.usable_free.add(usable);
  if (lifetime)
    t.lifetimes[size_class_of(b.size)][detail::lifetime_bucket(now > b.time ? now - b.time : 0)].add(1);
}

}  // namespace

void sampled_keep(Recorder& r, ThreadStats& t, std::uintptr_t a, std::uint64_t req, std::size_t usable,
                  std::uint64_t now, RegionSampler::Hit h, std::uint32_t site) noexcept {
  const bool start = h == RegionSampler::Hit::kStart;
  const bool counted = r.regions.counted(a, req);
  Block b{a, req, now, start && site != 0};
  Block old;
  InsertResult res = r.table.insert<true>(b, &old, [&](InsertResult ir) {
    if (ir == InsertResult::kDropped) [[unlikely]]
      return;
    if (!start && ir != InsertResult::kReplaced) r.regions.add_spill(a, +1);  // a replaced one counted itself
    if (!counted) {
      if (ir == InsertResult::kReplaced && r.regions.counted(a, old.size)) [[unlikely]] {
        t.missed_frees.add(1);
        count_sampled_free(t, old, old.size, now, false);
      }
      return;
    }
    if (ir == InsertResult::kReplaced && r.regions.counted(a, old.size)) [[unlikely]] {
      // Its free bypassed our hooks (as on_replaced in full mode).
      t.missed_frees.add(1);
      count_sampled_free(t, old, old.size, now, false);
    }
    ClassStats& cs = t.cls[size_class_of(req)];
    cs.allocs.add(1);
    cs.req_alloc.add(req);
    cs.usable_alloc.add(usable);
    if (req < kExactSizes) t.exact[req].add(1);
  });
  if (res == InsertResult::kDropped) [[unlikely]] {
    detail::on_dropped(t);
    return;
  }
  if (res == InsertResult::kReplaced && old.sampled) [[unlikely]]
    r.sites.on_free(old.addr, old.size);
  if (b.sampled) [[unlikely]]
    r.sites.on_alloc(a, req, site);
}

bool sampled_drop(Recorder& r, ThreadStats& t, std::uintptr_t a, RegionSampler::Hit h, std::uint64_t now,
                  std::size_t (*usable)(void*), Block* removed) noexcept {
  const bool start = h == RegionSampler::Hit::kStart;
  Block b;
  const bool found = r.table.remove<true>(a, now, &b, [&](const Block& blk) {
    if (!start) r.regions.add_spill(a, -1);
    if (r.regions.counted(a, blk.size)) count_sampled_free(t, blk, usable(reinterpret_cast<void*>(a)), now, true);
  });
  if (!found) {
    if (start) t.untracked_frees.add(1);
    return false;
  }
  if (b.sampled) [[unlikely]]
    r.sites.on_free(b.addr, b.size);
  if (removed) *removed = b;
  return true;
}

void sampled_restore(Recorder& r, ThreadStats& t, const Block& b, RegionSampler::Hit h, std::uint64_t now,
                     std::size_t usable) noexcept {
  const bool start = h == RegionSampler::Hit::kStart;
  Block back = b;
  back.sampled = false;  // its site record was closed: the block stays, unattributed
  r.table.insert<true>(back, nullptr, [&](InsertResult ir) {
    if (ir == InsertResult::kDropped) return;
    if (!start) r.regions.add_spill(b.addr, +1);
    if (!r.regions.counted(b.addr, b.size)) return;
    // Take back the free counted by sampled_drop.
    ClassStats& cs = t.cls[size_class_of(b.size)];
    cs.frees.add(~std::uint64_t{0});
    cs.req_free.add(-b.size);
    cs.usable_free.add(-static_cast<std::uint64_t>(usable));
    t.lifetimes[size_class_of(b.size)][detail::lifetime_bucket(now > b.time ? now - b.time : 0)].add(~std::uint64_t{0});
  });
}

}  // namespace fragscope::core
