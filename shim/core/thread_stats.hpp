// Per-thread counters: what every hook updates. One block per thread, written only by its owner
// (plain relaxed load+store, no atomic RMW, no shared cache line); the reporter sums all blocks.
// A block whose thread has exited is handed to the next new thread — counters are cumulative,
// so reuse loses nothing and needs no merge. Blocks live in our own memory and are never freed.
//
// Invariants (per class c, summed over all blocks):
//   allocs - frees == live blocks of class c in the live table (when no hook is in flight)
//   req_alloc - req_free == live requested bytes of class c; same for usable_*
#pragma once

#include <atomic>
#include <cstdint>

#include "event_log.hpp"
#include "os_memory.hpp"
#include "size_class.hpp"

namespace fragscope::core {

enum class Op : std::uint8_t {
  kMalloc, kFree, kCalloc, kRealloc, kReallocArray, kPosixMemalign, kAlignedAlloc, kMemalign,
  kValloc, kPvalloc, kNew, kDelete, kMallocUsableSize, kMmap, kMunmap, kMremap, kCount
};
/// The calls that reach the applier as events (allocations and frees): the ops before this one.
inline constexpr unsigned kNumEventOps = static_cast<unsigned>(Op::kMallocUsableSize);
inline constexpr unsigned kNumOps = static_cast<unsigned>(Op::kCount);
const char* op_name(Op op) noexcept;

inline constexpr unsigned kLifetimeBuckets = 48;  // bucket i: lifetime in [2^i, 2^(i+1)) ticks
inline constexpr unsigned kExactSizes = 1025;     // exact request-size counts for 0..1024 bytes

/// A single-writer counter the reporter may read at any time.
class Counter {
  static_assert(sizeof(std::atomic<std::uint64_t>) == 8 && std::atomic<std::uint64_t>::is_always_lock_free);

 public:
  void add(std::uint64_t d) noexcept {
#if defined(__x86_64__)
    // One add to memory, not locked: its store is a single aligned 8-byte store, which x86-64
    // makes atomic, so a reader's relaxed load sees the old value or the new one, as after the
    // relaxed load and store below; only the owner writes. One instruction where the portable
    // form takes three and a register: a hook that counts is paid by its length
    // (bench/README.md, "What a hook may cost").
    asm volatile("addq %1, %0" : "+m"(*reinterpret_cast<std::uint64_t*>(&v_)) : "er"(d));
#else
    v_.store(v_.load(std::memory_order_relaxed) + d, std::memory_order_relaxed);
#endif
  }
  std::uint64_t get() const noexcept { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> v_{0};
};

// One cache line per class: an allocation or a free touches one line of counters.
struct alignas(64) ClassStats {
  Counter allocs, frees, req_alloc, req_free, usable_alloc, usable_free;
  // Requested bytes this thread added to the class since its last flush into PeakTracker.
  std::atomic<std::int64_t> pending{0};
};

/// Sampled mode: every allocation by class, the one thing its hooks count per call. Dense (16
/// bytes a class): the classes a program uses stay in a few cache lines.
struct ClassCount {
  Counter allocs, bytes;
};

struct alignas(64) ThreadStats {
  std::atomic<bool> in_use{false};
  // The owner's thread id, and set once its thread-specific data was destroyed: the thread is
  // exiting, and may still call hooks (glibc frees its tcache after the destructors ran), which
  // keep counting here. The block is taken over once that thread is gone (ThreadRegistry::acquire).
  std::atomic<int> owner_tid{0};
  std::atomic<bool> exiting{false};
  ThreadStats* next = nullptr;  // registry list, append-only
  std::int64_t sample_countdown = 0;  // bytes until the next call-site sample (owner only)
  std::uint64_t sample_rng = 0;       // its random state (owner only; 0 = not seeded)
  std::uint32_t clock_countdown = 1;  // calls until this thread reads the TSC (HookClock; owner only)
  Counter samples;                    // call-site samples taken
  Counter calls[kNumOps];
  Counter failures[kNumOps];   // the real function returned NULL / MAP_FAILED / an error
  Counter untracked_frees;     // free/realloc of a pointer we never saw allocated
  Counter missed_frees;        // an address came back from the allocator while still live
  Counter dropped;             // allocations we could not record (our memory exhausted)
  Counter realloc_moves, realloc_in_place;
  Counter mmap_bytes, munmap_bytes, mremap_moves;
  Counter allocator_mmaps, allocator_mmap_bytes;  // mmap calls made from inside the allocator
  ClassStats cls[kNumSizeClasses];
  alignas(64) ClassCount every[kNumSizeClasses];  // sampled mode only
  Counter lifetimes[kNumSizeClasses][kLifetimeBuckets];
  Counter exact[kExactSizes];
  // While the process has one hook thread, its hooks log events here instead of recording each
  // call at once (event_log.hpp), and set in_async while they do (see shim/runtime.hpp).
  std::atomic<bool> in_async{false};
  std::uint64_t seen_calls = 0;  // the reporter's: calls[] summed at its last look (return_to_batching)
  EventRing ring;
};

/// Tracks live requested bytes and their peak per class and in total, from the threads' flushes.
/// The peak is exact up to kFlushBytes per thread and class.
class PeakTracker {
 public:
  static constexpr std::int64_t kFlushBytes = 64 * 1024;
  void flush(ThreadStats& t, unsigned cls) noexcept;
  std::int64_t peak(unsigned cls) const noexcept { return peak_[cls].load(std::memory_order_relaxed); }
  std::int64_t total_peak() const noexcept { return total_peak_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::int64_t> live_[kNumSizeClasses] = {};
  std::atomic<std::int64_t> peak_[kNumSizeClasses] = {};
  std::atomic<std::int64_t> total_live_{0}, total_peak_{0};
};

/// Whether thread `tid` of this process no longer exists (its kernel task has exited: no code of
/// it runs any more). A tid reused meanwhile by a new thread reads as alive. Keeps errno.
bool thread_gone(int tid) noexcept;

/// Owns all ThreadStats blocks.
class ThreadRegistry {
 public:
  /// A block for the calling thread: a released one if any, else the block of an exiting thread
  /// that is gone, else a new one; nullptr when our memory is exhausted. Thread-safe, lock-free.
  /// Its counts stay: the next owner continues from them.
  ThreadStats* acquire() noexcept;
  /// Gives a block back for reuse by a later thread (its counts stay in it).
  void release(ThreadStats* t) noexcept { t->in_use.store(false, std::memory_order_release); }
  /// The owner of `t` is exiting: it keeps the block for the calls it still makes, and a later
  /// acquire() takes the block over once the thread no longer exists. (Releasing it at once would
  /// make the exiting thread's last calls take a new block that nothing ever gives back: one block
  /// per thread, in a program that starts threads all day.)
  void exiting(ThreadStats* t) noexcept { t->exiting.store(true, std::memory_order_release); }
  /// After fork, in the child: every block but `self`'s belonged to a thread the child does not have.
  /// `self` (the forking thread's block, or null) now belongs to the child's thread.
  void forked(ThreadStats* self) noexcept;
  template <class F>
  void for_each(F&& f) const noexcept {
    for (ThreadStats* t = head_.load(std::memory_order_acquire); t != nullptr; t = t->next) f(*t);
  }
  std::size_t blocks() const noexcept { return count_.load(std::memory_order_relaxed); }
  std::size_t memory_bytes() const noexcept { return blocks() * sizeof(ThreadStats); }
  /// fork() support (see shim/fork.cpp).
  void lock() noexcept { arena_.lock(); }
  void unlock() noexcept { arena_.unlock(); }

 private:
  std::atomic<ThreadStats*> head_{nullptr};
  std::atomic<std::size_t> count_{0};
  Arena arena_{"thread-stats"};
};

}  // namespace fragscope::core
