// The live table: address → (requested size, allocation time, flags) for every live block,
// concurrent, growable, in our own memory, at about 23 bytes per live block.
//
// Layout: extendible hashing (Fagin et al. 1979). A directory of 2^global_depth pointers maps the
// low bits of hash(addr) to page-sized buckets; a bucket with local depth d holds exactly the keys
// whose hash has its `pattern` in the low d bits. A full bucket splits alone — no global rehash,
// so no hook ever stalls behind a table-wide resize — and the expected fill stays near ln 2.
// Inside a bucket, entries are an open-addressed ring of 255 16-byte slots (linear probing,
// backward-shift deletion, no tombstones).
//
// Entry encoding (16 bytes; a slot with w0 == 0 is empty):
//   w0 = addr (48 bits) | size >> 19 (16 bits)
//   w1 = time (43 bits) | coarse (1) | sampled (1) | size & (2^19 - 1) (19 bits)
// Sizes up to 2^35 - 1 and addresses below 2^48 fit; anything else goes to a small side list.
// `time` is now_ticks() mod 2^43 (about 30 hours); the reporter's walk rewrites entries older than
// a quarter of that into `coarse` form (ticks >> 20, absolute), so ages never wrap.
//
// Locks: each bucket has a SpinLock guarding its slots, depth and count. split_lock_ guards the
// directory pointer swap and bucket allocation (order: bucket → split_lock_). walk_lock_ is held
// by the reporter for a whole walk; a split only try_locks it, so a walk never sees an entry
// twice, and never waits for a split.
//
// Invariants: sum over buckets of count == number of non-empty slots == live entries in buckets;
// side_count_ == entries in the side list.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "clock.hpp"
#include "os_memory.hpp"
#include "spinlock.hpp"

namespace fragscope::core {

struct Block {
  std::uintptr_t addr = 0;
  std::uint64_t size = 0;       // requested bytes
  std::uint64_t time = 0;       // allocation time in ticks (full, as passed to insert)
  bool sampled = false;         // has a call-site record elsewhere
};

enum class InsertResult : std::uint8_t {
  kInserted,
  kReplaced,  // the address was already live: its previous entry is returned (a free we missed)
  kDropped,   // out of our memory: not recorded
};

class LiveTable {
 public:
  static constexpr unsigned kSlots = 255;
  static constexpr unsigned kSplitAt = 216;  // ~85% full
  static constexpr unsigned kHardCap = 254;  // keep one slot empty so probes terminate
  static constexpr std::uint64_t kTimeMask = (std::uint64_t{1} << 43) - 1;
  static constexpr unsigned kCoarseShift = 20;

  /// Prepares an empty table (one bucket). Returns false when our memory cannot be mapped.
  bool init() noexcept;

  /// Records a live block. Requires: init() succeeded. Thread-safe.
  InsertResult insert(const Block& b, Block* replaced) noexcept { return insert(b, replaced, [](InsertResult) {}); }
  /// Removes `addr`; returns false if it is not live in the table. On success *out (if given)
  /// holds the entry, with `time` = now - its age. Thread-safe.
  bool remove(std::uintptr_t addr, std::uint64_t now, Block* out) noexcept {
    return remove(addr, now, out, [](const Block&) {});
  }
  /// As above, and runs `then(result)` / `then(removed)` while the entry's bucket is still locked,
  /// so counters updated there always agree with the table at fork() (lock_all holds every lock).
  template <class Then>
  InsertResult insert(const Block& b, Block* replaced, Then&& then) noexcept;
  template <class Then>
  bool remove(std::uintptr_t addr, std::uint64_t now, Block* out, Then&& then) noexcept;

  /// fork() support: take every lock of the table (prepare), release them (parent and child).
  void lock_all() noexcept;
  void unlock_all() noexcept;

  /// Calls f(const Block&, age_ticks) for every live block, bucket by bucket (each bucket locked
  /// while it is visited). Converts old entries to coarse time. Reporter thread only.
  template <class F>
  void walk(std::uint64_t now, F&& f) noexcept;

  std::size_t entries() const noexcept;
  std::size_t memory_bytes() const noexcept { return memory_.load(std::memory_order_relaxed); }
  std::size_t buckets() const noexcept { return nbuckets_.load(std::memory_order_relaxed); }

 private:
  struct Slot {
    std::uint64_t w0, w1;
  };
  struct alignas(4096) Bucket {
    SpinLock lock;
    std::uint8_t depth;
    std::uint16_t count;
    std::uint32_t pattern;
    std::uint64_t reserved;
    Slot slots[kSlots];
  };
  static_assert(sizeof(Bucket) == 4096);
  struct Dir {
    std::uint32_t depth;
    Dir* older;  // directories are never freed: a hook may still be reading an old one
    std::atomic<Bucket*> slots[1];
  };
  struct Slab {
    static constexpr unsigned kBuckets = 128;
    Slab* next;
    std::atomic<unsigned> used;
    Bucket* buckets;
  };
  struct SideEntry {
    std::uintptr_t addr;
    std::uint64_t size, time;
    bool sampled;
  };
  static constexpr unsigned kSideCap = 256;

  static std::uint64_t hash(std::uintptr_t a) noexcept {
    std::uint64_t h = a;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    return h;
  }
  static unsigned home(std::uint64_t h) noexcept {
    return static_cast<unsigned>(((h >> 32) * kSlots) >> 32);
  }
  static bool fits(const Block& b) noexcept {
    return b.addr < (std::uint64_t{1} << 48) && b.size < (std::uint64_t{1} << 35) && b.addr != 0;
  }
  static Slot encode(const Block& b) noexcept {
    return Slot{b.addr | ((b.size >> 19) << 48),
                (b.time & kTimeMask) | (std::uint64_t{b.sampled} << 44) | ((b.size & 0x7ffff) << 45)};
  }
  static std::uintptr_t addr_of(const Slot& s) noexcept { return s.w0 & ((std::uint64_t{1} << 48) - 1); }
  static Block decode(const Slot& s, std::uint64_t now) noexcept;
  static std::uint64_t age_of(const Slot& s, std::uint64_t now) noexcept;

  Bucket* lock_bucket_for(std::uint64_t h) noexcept;  // returns the locked bucket owning h
  enum class Full : std::uint8_t { kRetry, kInsertHere, kDrop };
  Full on_full(Bucket* b) noexcept;  // requires b locked; unlocks it unless kInsertHere
  static void store_slot(Bucket* b, unsigned i, const Slot& s) noexcept { b->slots[i] = s; ++b->count; }
  enum class Split : std::uint8_t { kDone, kBusy, kNoMemory };
  Split split(Bucket* b) noexcept;                    // requires b locked
  Bucket* new_bucket() noexcept;                      // requires split_lock_
  Dir* new_dir(std::uint32_t depth) noexcept;
  static void place(Bucket* b, const Slot& s, std::uint64_t h) noexcept;
  static void erase_at(Bucket* b, unsigned i) noexcept;
  InsertResult side_insert(const Block& b, Block* replaced) noexcept;  // requires side_lock_
  bool side_remove(std::uintptr_t addr, Block* out) noexcept;  // requires side_lock_

  std::atomic<Dir*> dir_{nullptr};
  std::atomic<Slab*> slabs_{nullptr};
  SpinLock split_lock_;
  SpinLock walk_lock_;
  std::atomic<std::size_t> memory_{0};
  std::atomic<std::size_t> nbuckets_{0};
  SpinLock side_lock_;
  std::atomic<unsigned> side_count_{0};
  SideEntry side_[kSideCap] = {};
};

template <class Then>
InsertResult LiveTable::insert(const Block& blk, Block* replaced, Then&& then) noexcept {
  if (!fits(blk)) [[unlikely]] {
    LockGuard g(side_lock_);
    InsertResult r = side_insert(blk, replaced);
    then(r);
    return r;
  }
  const std::uint64_t h = hash(blk.addr);
  for (;;) {
    Bucket* b = lock_bucket_for(h);
    unsigned i = home(h);
    for (; b->slots[i].w0 != 0; i = i + 1 == kSlots ? 0 : i + 1) {
      if (addr_of(b->slots[i]) == blk.addr) [[unlikely]] {
        if (replaced) *replaced = decode(b->slots[i], blk.time);
        b->slots[i] = encode(blk);
        then(InsertResult::kReplaced);
        b->lock.unlock();
        return InsertResult::kReplaced;
      }
    }
    if (b->count >= kSplitAt) [[unlikely]] {
      Full f = on_full(b);
      if (f == Full::kRetry) continue;  // split done, or a walk must finish: look again
      if (f == Full::kDrop) {
        then(InsertResult::kDropped);
        return InsertResult::kDropped;
      }
    }
    store_slot(b, i, encode(blk));
    then(InsertResult::kInserted);
    b->lock.unlock();
    return InsertResult::kInserted;
  }
}

template <class Then>
bool LiveTable::remove(std::uintptr_t addr, std::uint64_t now, Block* out, Then&& then) noexcept {
  if (addr < (std::uint64_t{1} << 48) && addr != 0) [[likely]] {
    const std::uint64_t h = hash(addr);
    Bucket* b = lock_bucket_for(h);
    for (unsigned i = home(h); b->slots[i].w0 != 0; i = i + 1 == kSlots ? 0 : i + 1) {
      if (addr_of(b->slots[i]) == addr) {
        Block blk = decode(b->slots[i], now);
        erase_at(b, i);
        then(blk);
        b->lock.unlock();
        if (out) *out = blk;
        return true;
      }
    }
    b->lock.unlock();
    if (side_count_.load(std::memory_order_relaxed) == 0) [[likely]] return false;
  }
  LockGuard g(side_lock_);
  Block blk;
  if (!side_remove(addr, &blk)) return false;
  then(blk);
  if (out) *out = blk;
  return true;
}

template <class F>
void LiveTable::walk(std::uint64_t now, F&& f) noexcept {
  LockGuard walking(walk_lock_);
  for (Slab* s = slabs_.load(std::memory_order_acquire); s != nullptr; s = s->next) {
    unsigned used = s->used.load(std::memory_order_acquire);
    for (unsigned bi = 0; bi < used; ++bi) {
      Bucket* b = &s->buckets[bi];
      LockGuard g(b->lock);
      for (unsigned i = 0; i < kSlots; ++i) {
        Slot& sl = b->slots[i];
        if (sl.w0 == 0) continue;
        const bool coarse = (sl.w1 >> 43) & 1;
        std::uint64_t age = age_of(sl, now);
        if (!coarse && age > (kTimeMask >> 2)) {
          // Re-anchor in coarse units before the 43-bit fine time can wrap.
          std::uint64_t t = ((now - age) >> kCoarseShift) & kTimeMask;
          sl.w1 = (sl.w1 & ~kTimeMask) | t | (std::uint64_t{1} << 43);
        }
        f(decode(sl, now), age);
      }
    }
  }
  LockGuard g(side_lock_);
  for (unsigned i = 0; i < side_count_.load(std::memory_order_relaxed); ++i) {
    const SideEntry& e = side_[i];
    f(Block{e.addr, e.size, e.time, e.sampled}, now - e.time);
  }
}

}  // namespace fragscope::core
