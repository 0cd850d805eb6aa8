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
}

void on_dropped(ThreadStats& t) noexcept { t.dropped.add(1); }

}  // namespace fragscope::core::detail
