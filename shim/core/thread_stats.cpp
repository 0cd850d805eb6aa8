// Per-thread counters, their registry and the peak tracker (see thread_stats.hpp).
#include "thread_stats.hpp"

#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <new>

namespace fragscope::core {

const char* op_name(Op op) noexcept {
  static constexpr const char* kNames[kNumOps] = {
      "malloc", "free", "calloc", "realloc", "reallocarray", "posix_memalign", "aligned_alloc",
      "memalign", "valloc", "pvalloc", "operator_new", "operator_delete", "malloc_usable_size", "mmap", "munmap", "mremap"};
  auto i = static_cast<unsigned>(op);
  return i < kNumOps ? kNames[i] : "?";
}

void PeakTracker::flush(ThreadStats& t, unsigned cls) noexcept {
  std::int64_t d = t.cls[cls].pending.exchange(0, std::memory_order_relaxed);
  auto bump = [](std::atomic<std::int64_t>& live, std::atomic<std::int64_t>& peak, std::int64_t delta) {
    std::int64_t now = live.fetch_add(delta, std::memory_order_relaxed) + delta;
    std::int64_t p = peak.load(std::memory_order_relaxed);
    while (now > p && !peak.compare_exchange_weak(p, now, std::memory_order_relaxed)) {
    }
  };
  bump(live_[cls], peak_[cls], d);
  bump(total_live_, total_peak_, d);
}

bool thread_gone(int tid) noexcept {
  if (tid <= 0) return false;
  const int saved = errno;
  const bool gone = syscall(SYS_tgkill, getpid(), tid, 0) != 0 && errno == ESRCH;
  errno = saved;
  return gone;
}

namespace {
int current_tid() noexcept { return static_cast<int>(syscall(SYS_gettid)); }
ThreadStats* claimed(ThreadStats* t) noexcept {
  t->owner_tid.store(current_tid(), std::memory_order_relaxed);
  return t;
}
}  // namespace

void ThreadRegistry::forked(ThreadStats* self) noexcept {
  for_each([&](ThreadStats& t) {
    if (&t != self && t.in_use.load(std::memory_order_relaxed)) t.exiting.store(true, std::memory_order_relaxed);
  });
  if (self != nullptr) claimed(self);
}

ThreadStats* ThreadRegistry::acquire() noexcept {
  for (ThreadStats* t = head_.load(std::memory_order_acquire); t != nullptr; t = t->next) {
    bool expected = false;
    if (!t->in_use.load(std::memory_order_relaxed) &&
        t->in_use.compare_exchange_strong(expected, true, std::memory_order_acquire)) {
      t->exiting.store(false, std::memory_order_relaxed);
      return claimed(t);
    }
  }
  for (ThreadStats* t = head_.load(std::memory_order_acquire); t != nullptr; t = t->next) {
    bool expected = true;
    if (t->exiting.load(std::memory_order_acquire) && thread_gone(t->owner_tid.load(std::memory_order_relaxed)) &&
        t->exiting.compare_exchange_strong(expected, false, std::memory_order_acquire)) {
      return claimed(t);  // in_use stays set: the block passes from the gone thread to this one
    }
  }
  void* mem = arena_.allocate(sizeof(ThreadStats), alignof(ThreadStats));
  if (mem == nullptr) return nullptr;
  auto* t = new (mem) ThreadStats;  // default-init: the arena's memory is zero, and the ring's pages stay untouched
  t->in_use.store(true, std::memory_order_relaxed);
  claimed(t);
  ThreadStats* h = head_.load(std::memory_order_relaxed);
  do {
    t->next = h;
  } while (!head_.compare_exchange_weak(h, t, std::memory_order_release, std::memory_order_relaxed));
  count_.fetch_add(1, std::memory_order_relaxed);
  return t;
}

}  // namespace fragscope::core
