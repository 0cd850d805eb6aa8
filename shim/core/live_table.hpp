// The live table: address → (requested size, allocation time, flags) for every live block,
// concurrent, growable, in our own memory, at about 20 bytes per live block.
//
// Layout: extendible hashing (Fagin et al. 1979). A directory of 2^global_depth pointers maps the
// low bits of hash(addr) to page-sized buckets; a bucket with local depth d holds exactly the keys
// whose hash has its `pattern` in the low d bits. A full bucket splits alone — no global rehash,
// so no hook ever stalls behind a table-wide resize. A bucket that would be empty is not made until a
// key needs it (its directory entries hold a tag). A bucket is one header line and 63 groups of
// one cache line each (F14-style): a key lives in its home group (from its hash) or, when that is
// full, in a following one; each group counts the keys that overflowed past it, so a lookup stops
// at the first group with no overflow. An operation therefore touches two independent lines —
// the header (lock) and the home group — which the hooks prefetch together: per-block tracking
// costs about one cache miss per call. (Measured before: chained slots cost four dependent
// misses, and open addressing near its split threshold ~250 ns per insert+delete pair.)
//
// A split halves a bucket's fill, so utilisation swings between 1/2 and the split threshold
// (92%): the entry size decides the memory bound. Hence two slot formats, two tables:
//   CompactSlots (12 bytes, 5 per group, 315 per bucket): 8-aligned addresses below 2^48 and
//     sizes below 128 KiB — almost every block; at worst 4096 / (289 / 2) = 28 bytes per block
//     (plus directory and slab headers, about 1.5 more).
//   WideSlots (16 bytes, 3 per group, 189 per bucket): every other block; addresses above 2^48
//     or sizes of 2^35 and more go to a small side list.
// Times are stored modulo their field width; the reporter's walk rewrites entries older than a
// quarter of that window in a coarse, absolute unit, so ages never wrap (the walk must run at
// least hourly; the reporter does). A time a little after `now` (by less than 1/4096 of the window,
// a few seconds) reads as age 0: one thread's hook clock may be behind another's (HookClock).
//
// Locks: each bucket has a SpinLock guarding its slots, depth and count. split_lock_ guards the
// directory swap and bucket allocation (order: bucket → split_lock_). walk_lock_ is held by the
// reporter for a whole walk; a split only try_locks it, so a walk never sees an entry twice and
// never waits for a split.
//
// Invariants: sum over buckets of count == non-empty slots == live entries in buckets;
// side_count_ == entries in the side list.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "extendible_hash.hpp"
#include "slot_formats.hpp"
#include "spinlock.hpp"

namespace fragscope::core {

/// The live table: CompactSlots for ordinary blocks, WideSlots and a side list for the rest.
class LiveTable {
 public:
  /// Prepares empty tables. Returns false when our memory cannot be mapped.
  bool init() noexcept { return compact_.init() && wide_.init(); }

  /// Records a live block. Thread-safe. `then(result)` runs while the entry's lock is held, so
  /// counters updated there always agree with the table at fork() (lock_all holds every lock).
  /// kLocked = false: see HashTable::insert (the caller is the table's only user meanwhile).
  template <bool kLocked = true, class Then>
  InsertResult insert(const Block& b, Block* replaced, Then&& then) noexcept;
  InsertResult insert(const Block& b, Block* replaced) noexcept {
    return insert(b, replaced, [](InsertResult) {});
  }
  /// Removes `addr`; false if it is not live here. On success *out (if given) holds the entry,
  /// with `time` = now - its age, and then(entry) has run under the entry's lock. Thread-safe.
  template <bool kLocked = true, class Then>
  bool remove(std::uintptr_t addr, std::uint64_t now, Block* out, Then&& then) noexcept;
  bool remove(std::uintptr_t addr, std::uint64_t now, Block* out) noexcept {
    return remove(addr, now, out, [](const Block&) {});
  }
  /// Copies the entry for `addr` into *out (time = now - its age); false if it is not live here.
  /// Thread-safe.
  bool find(std::uintptr_t addr, std::uint64_t now, Block* out) noexcept {
    if (CompactSlots::fits(Block{addr, 0, 0, false}) && compact_.find_entry(addr, now, out)) return true;
    if (wide_live_.load(std::memory_order_relaxed) != 0 && addr != 0 && addr < (std::uint64_t{1} << 48) &&
        wide_.find_entry(addr, now, out))
      return true;
    return false;
  }
  /// Calls f(const Block&, age_ticks) for every live block, bucket by bucket (each bucket locked
  /// while it is visited), and re-anchors old entries' times. Reporter thread only.
  template <class F>
  void walk(std::uint64_t now, F&& f) noexcept;

  std::size_t entries() const noexcept {
    return compact_.entries() + wide_.entries() + side_count_.load(std::memory_order_relaxed);
  }
  std::size_t memory_bytes() const noexcept { return compact_.memory_bytes() + wide_.memory_bytes(); }
  /// Starts loading what an insert or remove of `addr` will touch (ordinary blocks only).
  void prefetch(std::uintptr_t addr) const noexcept { compact_.prefetch(addr); }
  std::size_t buckets() const noexcept { return compact_.buckets() + wide_.buckets(); }
  /// See HashTable::set_min_depth (ordinary blocks only; large ones are rare).
  void set_min_depth(unsigned d) noexcept { compact_.set_min_depth(d); }
  /// Rebuilds both tables in as little memory as their entries need (HashTable::compact; same
  /// requirements: no other thread uses the table meanwhile). False when it could not.
  bool compact() noexcept { return compact_.compact() && wide_.compact(); }
  /// fork() support: take every lock (prepare); release them (parent and child).
  void lock_all() noexcept;
  void unlock_all() noexcept;

 private:
  struct SideEntry {
    std::uintptr_t addr;
    std::uint64_t size, time;
    bool sampled;
  };
  static constexpr unsigned kSideCap = 256;
  InsertResult side_insert(const Block& b, Block* replaced) noexcept;  // requires side_lock_
  bool side_remove(std::uintptr_t addr, Block* out) noexcept;          // requires side_lock_

  HashTable<CompactSlots> compact_;
  HashTable<WideSlots> wide_;
  std::atomic<std::size_t> wide_live_{0};  // entries in wide_: frees probe it only when non-zero
  SpinLock side_lock_;
  std::atomic<unsigned> side_count_{0};
  SideEntry side_[kSideCap] = {};
};

// ---- LiveTable ---------------------------------------------------------------------------

template <bool kLocked, class Then>
InsertResult LiveTable::insert(const Block& b, Block* replaced, Then&& then) noexcept {
  if (CompactSlots::fits(b)) [[likely]]
    return compact_.insert<kLocked>(b, replaced, static_cast<Then&&>(then));
  if (WideSlots::fits(b)) {
    // Rare: the address may still sit in the compact table if its free bypassed us.
    Block stale;
    bool had_stale = compact_.remove<kLocked>(b.addr, b.time, &stale, [](const Block&) {});
    InsertResult r = wide_.insert<kLocked>(b, replaced, [&](InsertResult ir) {
      if (ir == InsertResult::kInserted && had_stale) {
        if (replaced) *replaced = stale;
        ir = InsertResult::kReplaced;
      }
      if (ir == InsertResult::kInserted) wide_live_.fetch_add(1, std::memory_order_relaxed);
      then(ir);
    });
    return r == InsertResult::kInserted && had_stale ? InsertResult::kReplaced : r;
  }
  LockGuard g(side_lock_);
  InsertResult r = side_insert(b, replaced);
  then(r);
  return r;
}

template <bool kLocked, class Then>
bool LiveTable::remove(std::uintptr_t addr, std::uint64_t now, Block* out, Then&& then) noexcept {
  if ((addr & 7) == 0 && addr != 0 && addr < (std::uint64_t{1} << 48)) [[likely]] {
    if (compact_.remove<kLocked>(addr, now, out, then)) return true;
  }
  if (wide_live_.load(std::memory_order_relaxed) != 0 && addr != 0 && addr < (std::uint64_t{1} << 48)) {
    if (wide_.remove<kLocked>(addr, now, out, then)) {
      wide_live_.fetch_sub(1, std::memory_order_relaxed);
      return true;
    }
  }
  if (side_count_.load(std::memory_order_relaxed) == 0) [[likely]]
    return false;
  LockGuard g(side_lock_);
  Block blk;
  if (!side_remove(addr, &blk)) return false;
  then(blk);
  if (out) *out = blk;
  return true;
}

template <class F>
void LiveTable::walk(std::uint64_t now, F&& f) noexcept {
  compact_.lock_walk();
  compact_.walk(now, f);
  compact_.unlock_walk();
  wide_.lock_walk();
  wide_.walk(now, f);
  wide_.unlock_walk();
  LockGuard g(side_lock_);
  for (unsigned i = 0; i < side_count_.load(std::memory_order_relaxed); ++i) {
    const SideEntry& e = side_[i];
    f(Block{e.addr, e.size, e.time, e.sampled}, now > e.time ? now - e.time : 0);  // absolute times
  }
}

}  // namespace fragscope::core
