// FRAGSCOPE_TRIM with recording off (FRAGSCOPE_ENABLE=0): the trim remedy alone, at the cost of
// one thread that wakes every FRAGSCOPE_INTERVAL_MS. Without the live table there are no empty
// pages to count, so it goes by what the allocator says it holds free (core::AllocatorFigures:
// glibc's fordblks, jemalloc's resident − allocated − metadata, tcmalloc's heap − unmapped −
// allocated) and calls the allocator's trim when that grew by FRAGSCOPE_TRIM bytes since the last
// call left it. This is how `fragscope compare` times the remedy without fragscope's tracking,
// and a way to run it in production.
//
// The thread starts as the reporter does: lazily, from a malloc made 100 ms (or an interval)
// after start, so short-lived processes never get one. Forked children do not trim.
#include <time.h>

#include <algorithm>
#include <atomic>
#include <cerrno>

#include "allocator_view.hpp"
#include "runtime.hpp"
#include "trim_only.hpp"

namespace fragscope::shim {

std::atomic<bool> g_trim_only_pending{false};

namespace {

std::uint64_t g_t0 = 0;
std::atomic<bool> g_started{false};

double allocator_free_bytes(core::TextBuffer& scratch) {
  core::AllocatorFigures fig;
  scratch.clear();
  encode_allocator_view(scratch, fig);
  return fig.free;
}

void* trim_main(void*) {
  become_own_thread();
  if (allocator_trim_call() == nullptr) {
    warn_once("fragscope: FRAGSCOPE_TRIM: no trim call known for the allocator underneath; not trimming");
    return nullptr;
  }
  static core::TextBuffer scratch;  // the allocator view's JSON, thrown away
  if (!scratch.reserve(1u << 20)) return nullptr;
  const std::uint64_t interval_ns = std::uint64_t{g_cfg.interval_ms} * 1000000u;
  const double threshold = static_cast<double>(g_cfg.trim_bytes);
  double left = 0;  // what the allocator held free after the last call
  for (;;) {
    timespec ts{static_cast<time_t>(interval_ns / 1000000000u), static_cast<long>(interval_ns % 1000000000u)};
    while (nanosleep(&ts, &ts) != 0) {
    }
    const double free_bytes = allocator_free_bytes(scratch);
    if (!(free_bytes == free_bytes)) continue;  // NaN: this allocator says nothing
    left = std::min(left, free_bytes);          // the program reused some of it
    if (free_bytes < left + threshold) continue;
    allocator_trim();
    const double after = allocator_free_bytes(scratch);
    left = after == after ? after : free_bytes;
  }
  return nullptr;
}

}  // namespace

void trim_only_init() noexcept {
  g_t0 = core::monotonic_ns();
  g_trim_only_pending.store(true, std::memory_order_relaxed);
}

void trim_only_pending_work() noexcept {
  if (tls.pending_countdown-- != 0) return;
  tls.pending_countdown = 15;
  constexpr std::uint64_t kStartAfterNs = 100000000;
  if (core::monotonic_ns() - g_t0 < std::min(kStartAfterNs, std::uint64_t{g_cfg.interval_ms} * 1000000u)) return;
  if (g_started.exchange(true)) return;
  g_trim_only_pending.store(false, std::memory_order_relaxed);
  const int saved = errno;
  ++tls.guard;  // pthread_create allocates: not through the pending check again
  if (!spawn_own_thread(trim_main, "fragscope-trim", 128 * 1024))
    warn_once("fragscope: FRAGSCOPE_TRIM: cannot start the trim thread; not trimming");
  --tls.guard;
  errno = saved;
}

}  // namespace fragscope::shim
