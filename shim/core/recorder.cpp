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
