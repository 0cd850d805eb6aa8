// One concurrent extendible hash table of page-sized buckets made of cache-line groups, over a
// slot encoding (slot_formats.hpp). The layout, lock rules and invariants are described in
// live_table.hpp, its only user.
#pragma once

#include <sched.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "os_memory.hpp"
#include "slot_formats.hpp"
#include "spinlock.hpp"

namespace fragscope::core {

/// One extendible hash table of `Codec` slots (see the file comment).
template <class Codec>
class HashTable {
 public:
  using Slot = typename Codec::Slot;
  static constexpr unsigned kPerGroup = Codec::kPerGroup;
  static constexpr unsigned kGroups = 63;
  static constexpr unsigned kSlots = kGroups * kPerGroup;
  static constexpr unsigned kSplitAt = kSlots * 92 / 100;

  bool init() noexcept;
  /// Requires Codec::fits(b). Runs then(result) with the bucket still locked.
  /// kLocked = false: the caller is the table's only user for the call (no other thread inserts,
  /// removes, walks or looks up meanwhile), so bucket locks are not taken (EventApplier).
  template <bool kLocked = true, class Then>
  InsertResult insert(const Block& b, Block* replaced, Then&& then) noexcept;
  /// Runs then(removed block) with the bucket still locked; false if `addr` is not here.
  template <bool kLocked = true, class Then>
  bool remove(std::uintptr_t addr, std::uint64_t now, Block* out, Then&& then) noexcept;
  /// Copies the entry for `addr` into *out (time = now - age); false if absent. Thread-safe.
  bool find_entry(std::uintptr_t addr, std::uint64_t now, Block* out) noexcept {
    const std::uint64_t h = hash_addr(addr);
    Bucket* b = lock_bucket_for<true, false>(h);
    if (b == nullptr) return false;  // an empty bucket never made
    unsigned gi, si;
    bool found = find(b, h, addr, &gi, &si);
    if (found) *out = Codec::decode(b->g[gi].slots[si], now);
    b->h.lock.unlock();
    return found;
  }
  template <class F>
  void walk(std::uint64_t now, F&& f) noexcept;  // requires walk_lock() held
  std::size_t entries() const noexcept;
  std::size_t memory_bytes() const noexcept { return memory_.load(std::memory_order_relaxed); }
  std::size_t buckets() const noexcept { return nbuckets_.load(std::memory_order_relaxed); }
  /// Starts loading the two lines an operation on `addr` touches. No effect on correctness.
  void prefetch(std::uintptr_t addr) const noexcept {
    const std::uint64_t h = hash_addr(addr);
    Dir* d = dir_.load(std::memory_order_acquire);
    Bucket* b = d->slots[h & ((std::uint64_t{1} << d->depth) - 1)].load(std::memory_order_relaxed);
    if (is_empty(b)) return;
    __builtin_prefetch(&b->h, 1);
    __builtin_prefetch(&b->g[home(h)], 1);
  }
  /// Buckets shallower than `d` split at their next insert, however full: spreads threads over
  /// 2^d bucket locks once a process is multi-threaded (a one-bucket table serialises them).
  void set_min_depth(unsigned d) noexcept { min_depth_.store(d, std::memory_order_relaxed); }
  void lock_walk() noexcept { walk_lock_.lock(); }
  void unlock_walk() noexcept { walk_lock_.unlock(); }
  void lock_all() noexcept;  // fork: walk lock, every bucket, split lock
  void unlock_all() noexcept;
  /// Rebuilds the table in new memory, with as many buckets as its entries need, and gives the
  /// old buckets and directories back to the OS: the table follows the program's live blocks
  /// down. Requires that no other thread uses the table meanwhile (recording held:
  /// freeze_recording), fork excepted (lock_all waits for it). False when the new table's memory
  /// could not be mapped: then nothing changed.
  bool compact() noexcept;

 private:
  struct alignas(64) Header {
    SpinLock lock;
    std::uint8_t depth;
    std::uint16_t count;
    std::uint32_t pattern;
  };
  // Invariant: mask has one bit per used slot; overflow = keys whose home group precedes this
  // one (cyclically) and that live at or after the next group (255 = saturated, never lowered).
  struct alignas(64) Group {
    Slot slots[kPerGroup];
    std::uint8_t mask;
    std::uint8_t overflow;
  };
  static_assert(sizeof(Group) == 64);
  // Invariant: count == set mask bits over all groups.
  struct alignas(4096) Bucket {
    Header h;
    Group g[kGroups];
  };
  static_assert(sizeof(Bucket) == 4096);
  struct Dir {
    std::uint32_t depth;
    Dir* older;  // freed only by compact() (a hook may still be reading an old one otherwise)
    std::atomic<Bucket*> slots[1];
  };
  struct Slab {
    static constexpr unsigned kBuckets = 127;  // + the header page: 512 KiB of address space
    Slab* next;
    std::atomic<unsigned> used;
    Bucket* buckets;
  };
  enum class Split : std::uint8_t { kDone, kBusy, kNoMemory };
  enum class Full : std::uint8_t { kRetry, kDrop };

  // An empty bucket is not made until a key needs it: its directory entries hold a tag, its
  // local depth shifted left by one with the low bit set (a Bucket is 4096-aligned), and its
  // pattern is the entries' index modulo 2^depth. A split whose keys all fall on one side leaves
  // the other side as a tag (the hash's first kRegionBits bits are a block's 2 MiB region, so
  // most splits of a young table separate nothing: slot_formats.hpp, hash_addr).
  static bool is_empty(const Bucket* b) noexcept { return (reinterpret_cast<std::uintptr_t>(b) & 1) != 0; }
  static Bucket* empty_tag(unsigned depth) noexcept {
    return reinterpret_cast<Bucket*>((static_cast<std::uintptr_t>(depth) << 1) | 1);
  }
  static unsigned tag_depth(const Bucket* b) noexcept {
    return static_cast<unsigned>(reinterpret_cast<std::uintptr_t>(b) >> 1);
  }

  static unsigned home(std::uint64_t h) noexcept { return static_cast<unsigned>(((h >> 32) * kGroups) >> 32); }
  static unsigned next_group(unsigned g) noexcept { return g + 1 == kGroups ? 0 : g + 1; }
  static void reset(Bucket* b) noexcept { std::memset(b->g, 0, sizeof(b->g)), b->h.count = 0; }
  // Finds addr: its group and slot (true), or false.
  static bool find(Bucket* b, std::uint64_t h, std::uintptr_t addr, unsigned* gi, unsigned* si) noexcept;
  // The bucket for hash h, locked unless !kLocked. An empty bucket not made yet is made first
  // (kCreate) or answered nullptr; nullptr also when making it found no memory.
  template <bool kLocked = true, bool kCreate = true>
  Bucket* lock_bucket_for(std::uint64_t h) noexcept;
  // Makes the empty bucket for h, returned locked; nullptr when there is no memory for it, or
  // with *retry when another thread made it first or a walk (or fork) holds the walk lock.
  Bucket* make_empty(std::uint64_t h, bool* retry) noexcept;
  template <bool kLocked>
  static void unlock(Bucket* b) noexcept {
    if constexpr (kLocked) b->h.lock.unlock();
  }
  Split split(Bucket* b) noexcept;
  template <bool kLocked>
  Full on_full(Bucket* b) noexcept;
  Bucket* new_bucket() noexcept;  // returned locked; requires split_lock_ (or init)
  Dir* new_dir(std::uint32_t depth) noexcept;
  void release() noexcept;                      // unmaps everything (a table nobody uses)
  static void release(Dir* d, Slab* s) noexcept;  // unmaps these directories and slabs
  static void place(Bucket* b, const Slot& s, std::uint64_t h) noexcept;  // requires count < kSlots

  std::atomic<Dir*> dir_{nullptr};
  std::atomic<Slab*> slabs_{nullptr};
  SpinLock split_lock_;
  SpinLock walk_lock_;
  std::atomic<std::size_t> memory_{0};
  std::atomic<std::size_t> nbuckets_{0};
  std::atomic<unsigned> min_depth_{0};
};

// ---- HashTable ---------------------------------------------------------------------------

template <class C>
bool HashTable<C>::init() noexcept {
  LockGuard g(split_lock_);
  if (dir_.load(std::memory_order_relaxed) != nullptr) return true;
  // The directory starts kRegionBits deep (one page either way), every entry on the one bucket:
  // a table whose blocks all lie in one region splits that bucket kRegionBits times without
  // separating anything (hash_addr), and would double its directory each time, keeping every
  // older directory until compact().
  Dir* d = new_dir(kRegionBits);
  Bucket* b = d ? new_bucket() : nullptr;
  if (b == nullptr) return false;
  b->h.depth = 0;
  b->h.pattern = 0;
  b->h.lock.unlock();
  for (std::size_t i = 0; i < (std::size_t{1} << kRegionBits); ++i) d->slots[i].store(b, std::memory_order_relaxed);
  dir_.store(d, std::memory_order_release);
  return true;
}

template <class C>
typename HashTable<C>::Dir* HashTable<C>::new_dir(std::uint32_t depth) noexcept {
  std::size_t bytes = offsetof(Dir, slots) + sizeof(std::atomic<Bucket*>) * (std::size_t{1} << depth);
  auto* d = static_cast<Dir*>(os_map(bytes, "live-table-dir"));
  if (d == nullptr) return nullptr;
  d->depth = depth;
  memory_.fetch_add((bytes + page_size() - 1) & ~(page_size() - 1), std::memory_order_relaxed);
  return d;
}

template <class C>
typename HashTable<C>::Bucket* HashTable<C>::new_bucket() noexcept {
  Slab* s = slabs_.load(std::memory_order_relaxed);
  if (s == nullptr || s->used.load(std::memory_order_relaxed) == Slab::kBuckets) {
    constexpr std::size_t bytes = sizeof(Bucket) * (Slab::kBuckets + 1);
    char* mem = static_cast<char*>(os_map(bytes, "live-table"));
    if (mem == nullptr) return nullptr;
    auto* ns = reinterpret_cast<Slab*>(mem);  // the slab header takes the first page
    ns->buckets = reinterpret_cast<Bucket*>(mem + sizeof(Bucket));
    ns->next = s;
    ns->used.store(0, std::memory_order_relaxed);
    slabs_.store(ns, std::memory_order_release);
    s = ns;
    memory_.fetch_add(sizeof(Bucket), std::memory_order_relaxed);  // the header page
  }
  unsigned i = s->used.load(std::memory_order_relaxed);
  Bucket* b = &s->buckets[i];
  // What is touched is what counts: a slab's untouched buckets are never resident.
  memory_.fetch_add(sizeof(Bucket), std::memory_order_relaxed);
  nbuckets_.fetch_add(1, std::memory_order_relaxed);
  reset(b);
  b->h.lock.lock();  // published locked: a walk that finds it waits until the split has filled it
  s->used.store(i + 1, std::memory_order_release);
  return b;
}

template <class C>
typename HashTable<C>::Bucket* HashTable<C>::make_empty(std::uint64_t h, bool* retry) noexcept {
  // The walk lock, as a split takes it: fork's lock_all (walk lock, then every bucket it can see,
  // then split_lock_) must not fork between our publishing the bucket, locked, and our caller
  // unlocking it, or the child would find it locked forever. Only tried, like a split's: a walk
  // running, we yield and look again.
  if (!walk_lock_.try_lock()) {
    *retry = true;
    sched_yield();
    return nullptr;
  }
  Bucket* nb = nullptr;
  {
    LockGuard g(split_lock_);
    Dir* d = dir_.load(std::memory_order_relaxed);
    Bucket* e = d->slots[h & ((std::uint64_t{1} << d->depth) - 1)].load(std::memory_order_relaxed);
    *retry = !is_empty(e);
    if (!*retry && (nb = new_bucket()) != nullptr) {  // returned locked and reset
      const unsigned depth = tag_depth(e);
      nb->h.depth = static_cast<std::uint8_t>(depth);
      nb->h.pattern = static_cast<std::uint32_t>(h & ((std::uint64_t{1} << depth) - 1));
      const std::size_t n = std::size_t{1} << d->depth;
      for (std::size_t i = nb->h.pattern; i < n; i += std::size_t{1} << depth)
        d->slots[i].store(nb, std::memory_order_release);
    }
  }
  walk_lock_.unlock();
  return nb;
}

template <class C>
template <bool kLocked, bool kCreate>
typename HashTable<C>::Bucket* HashTable<C>::lock_bucket_for(std::uint64_t h) noexcept {
  for (;;) {
    Dir* d = dir_.load(std::memory_order_acquire);
    Bucket* b = d->slots[h & ((std::uint64_t{1} << d->depth) - 1)].load(std::memory_order_acquire);
    if (is_empty(b)) [[unlikely]] {
      if constexpr (!kCreate) return nullptr;  // no key lives in a bucket never made
      bool retry;
      b = make_empty(h, &retry);
      if (retry) continue;
      if (!kLocked && b != nullptr) b->h.lock.unlock();  // made locked: kept so only if asked
      return b;
    }
    if constexpr (!kLocked) return b;  // nobody else splits meanwhile
    b->h.lock.lock();
    if ((h & ((std::uint64_t{1} << b->h.depth) - 1)) == b->h.pattern) return b;
    b->h.lock.unlock();  // split under our feet: read the directory again
  }
}

template <class C>
void HashTable<C>::place(Bucket* b, const Slot& s, std::uint64_t h) noexcept {
  unsigned g = home(h);
  while (b->g[g].mask == (1u << kPerGroup) - 1) {
    if (b->g[g].overflow != 255) ++b->g[g].overflow;
    g = next_group(g);
  }
  Group& grp = b->g[g];
  const unsigned i = static_cast<unsigned>(__builtin_ctz(~grp.mask));
  grp.slots[i] = s;
  grp.mask = static_cast<std::uint8_t>(grp.mask | (1u << i));
  ++b->h.count;
}

template <class C>
bool HashTable<C>::find(Bucket* b, std::uint64_t h, std::uintptr_t addr, unsigned* gi, unsigned* si) noexcept {
  const std::uint64_t key = C::key(addr);
  unsigned g = home(h);
  for (unsigned n = 0; n < kGroups; ++n) {
    const Group& grp = b->g[g];
    // Every slot compared at once, without a branch per slot; empty slots are masked out after.
    unsigned hits = 0;
#pragma GCC unroll 8
    for (unsigned i = 0; i < kPerGroup; ++i) hits |= static_cast<unsigned>(C::matches(grp.slots[i], key)) << i;
    hits &= grp.mask;
    if (hits != 0) {
      *gi = g;
      *si = static_cast<unsigned>(__builtin_ctz(hits));
      return true;
    }
    if (grp.overflow == 0) return false;
    g = next_group(g);
  }
  return false;
}

template <class C>
typename HashTable<C>::Split HashTable<C>::split(Bucket* b) noexcept {
  if (b->h.depth >= 40) return Split::kNoMemory;  // the hash cannot separate these keys further
  if (!walk_lock_.try_lock()) return Split::kBusy;
  LockGuard g(split_lock_);
  Dir* d = dir_.load(std::memory_order_relaxed);
  if (b->h.depth == d->depth) {
    Dir* nd = new_dir(d->depth + 1);
    if (nd == nullptr) {
      walk_lock_.unlock();
      return Split::kNoMemory;
    }
    const std::size_t n = std::size_t{1} << d->depth;
    for (std::size_t i = 0; i < n; ++i) {
      Bucket* x = d->slots[i].load(std::memory_order_relaxed);
      nd->slots[i].store(x, std::memory_order_relaxed);
      nd->slots[i + n].store(x, std::memory_order_relaxed);
    }
    nd->older = d;
    dir_.store(nd, std::memory_order_release);
    d = nd;
  }
  const std::uint32_t bit = std::uint32_t{1} << b->h.depth;
  const std::size_t step = std::size_t{2} << b->h.depth;
  const std::size_t n = std::size_t{1} << d->depth;
  // A side that would get no key stays a tag: nothing moves, the bucket only goes one deeper
  // (taking the other side's pattern when every key is there).
  unsigned ones = 0;
  for (const Group& grp : b->g)
    for (unsigned m = grp.mask; m != 0; m &= m - 1)
      ones += (hash_addr(C::addr(grp.slots[__builtin_ctz(m)])) & bit) != 0;
  if (ones == 0 || ones == b->h.count) {
    const std::uint32_t empty_pattern = ones == 0 ? b->h.pattern | bit : b->h.pattern;
    b->h.depth = static_cast<std::uint8_t>(b->h.depth + 1);
    b->h.pattern |= ones == 0 ? 0 : bit;
    for (std::size_t i = empty_pattern; i < n; i += step) d->slots[i].store(empty_tag(b->h.depth), std::memory_order_release);
    walk_lock_.unlock();
    return Split::kDone;
  }
  Bucket* nb = new_bucket();  // returned locked and reset
  if (nb == nullptr) {
    walk_lock_.unlock();
    return Split::kNoMemory;
  }
  nb->h.depth = static_cast<std::uint8_t>(b->h.depth + 1);
  nb->h.pattern = b->h.pattern | bit;
  Group copy[kGroups];
  std::memcpy(copy, b->g, sizeof(copy));
  reset(b);
  b->h.depth = nb->h.depth;
  for (const Group& grp : copy) {
    for (unsigned m = grp.mask; m != 0; m &= m - 1) {
      const Slot& s = grp.slots[__builtin_ctz(m)];
      std::uint64_t h = hash_addr(C::addr(s));
      place((h & bit) ? nb : b, s, h);
    }
  }
  for (std::size_t i = nb->h.pattern; i < n; i += step) d->slots[i].store(nb, std::memory_order_release);
  nb->h.lock.unlock();
  walk_lock_.unlock();
  return Split::kDone;
}

template <class C>
template <bool kLocked>
typename HashTable<C>::Full HashTable<C>::on_full(Bucket* b) noexcept {
  Split r = split(b);
  if (r == Split::kDone) {
    unlock<kLocked>(b);
    return Full::kRetry;  // the key may now belong to the new bucket
  }
  unlock<kLocked>(b);
  if (r == Split::kNoMemory) return Full::kDrop;
  sched_yield();  // a walk is running; it never waits for us, so it will finish
  return Full::kRetry;
}

template <class C>
template <bool kLocked, class Then>
InsertResult HashTable<C>::insert(const Block& blk, Block* replaced, Then&& then) noexcept {
  const std::uint64_t h = hash_addr(blk.addr);
  for (;;) {
    Bucket* b = lock_bucket_for<kLocked>(h);
    if (b == nullptr) [[unlikely]] {  // an empty bucket that could not be made
      then(InsertResult::kDropped);
      return InsertResult::kDropped;
    }
    unsigned gi, si;
    if (find(b, h, blk.addr, &gi, &si)) [[unlikely]] {
      Slot& slot = b->g[gi].slots[si];
      if (replaced) *replaced = C::decode(slot, blk.time);
      slot = C::encode(blk);
      then(InsertResult::kReplaced);
      unlock<kLocked>(b);
      return InsertResult::kReplaced;
    }
    if (b->h.count >= kSplitAt || b->h.depth < min_depth_.load(std::memory_order_relaxed)) [[unlikely]] {
      if (b->h.count < kSplitAt) {  // only shallow: split if we can, else insert here
        if (split(b) == Split::kDone) {
          unlock<kLocked>(b);
          continue;
        }
        place(b, C::encode(blk), h);
        then(InsertResult::kInserted);
        unlock<kLocked>(b);
        return InsertResult::kInserted;
      }
      if (on_full<kLocked>(b) == Full::kRetry) continue;  // split done, or a walk must finish: look again
      then(InsertResult::kDropped);
      return InsertResult::kDropped;
    }
    place(b, C::encode(blk), h);
    then(InsertResult::kInserted);
    unlock<kLocked>(b);
    return InsertResult::kInserted;
  }
}

template <class C>
template <bool kLocked, class Then>
bool HashTable<C>::remove(std::uintptr_t addr, std::uint64_t now, Block* out, Then&& then) noexcept {
  const std::uint64_t h = hash_addr(addr);
  Bucket* b = lock_bucket_for<kLocked, false>(h);
  if (b == nullptr) return false;  // an empty bucket never made
  unsigned gi, si;
  if (!find(b, h, addr, &gi, &si)) {
    unlock<kLocked>(b);
    return false;
  }
  Group& grp = b->g[gi];
  const Block blk = C::decode(grp.slots[si], now);
  grp.mask = static_cast<std::uint8_t>(grp.mask & ~(1u << si));
  for (unsigned g = home(h); g != gi; g = next_group(g))
    if (b->g[g].overflow != 255) --b->g[g].overflow;
  --b->h.count;
  then(blk);
  unlock<kLocked>(b);
  if (out) *out = blk;
  return true;
}

template <class C>
template <class F>
void HashTable<C>::walk(std::uint64_t now, F&& f) noexcept {
  for (Slab* s = slabs_.load(std::memory_order_acquire); s != nullptr; s = s->next) {
    unsigned used = s->used.load(std::memory_order_acquire);
    for (unsigned bi = 0; bi < used; ++bi) {
      Bucket* b = &s->buckets[bi];
      LockGuard g(b->h.lock);
      for (Group& grp : b->g) {
        for (unsigned m = grp.mask; m != 0; m &= m - 1) {
          Slot& sl = grp.slots[__builtin_ctz(m)];
          std::uint64_t age = C::age(sl, now);
          C::age_out(sl, now);
          f(C::decode(sl, now), age);
        }
      }
    }
  }
}

template <class C>
std::size_t HashTable<C>::entries() const noexcept {
  std::size_t n = 0;
  for (Slab* s = slabs_.load(std::memory_order_acquire); s != nullptr; s = s->next) {
    unsigned used = s->used.load(std::memory_order_acquire);
    for (unsigned i = 0; i < used; ++i) n += __atomic_load_n(&s->buckets[i].h.count, __ATOMIC_RELAXED);
  }
  return n;
}

template <class C>
bool HashTable<C>::compact() noexcept {
  LockGuard w(walk_lock_);  // fork's lock_all takes it first: it waits until we are done
  HashTable fresh;
  fresh.min_depth_.store(min_depth_.load(std::memory_order_relaxed), std::memory_order_relaxed);
  if (!fresh.init()) return false;
  bool ok = true;
  for (Slab* s = slabs_.load(std::memory_order_relaxed); s != nullptr && ok; s = s->next) {
    const unsigned used = s->used.load(std::memory_order_relaxed);
    for (unsigned bi = 0; bi < used && ok; ++bi) {
      for (const Group& grp : s->buckets[bi].g) {
        for (unsigned m = grp.mask; m != 0 && ok; m &= m - 1) {
          // Slots move as they are (as a split moves them): their encoding is the bucket's own.
          const Slot& sl = grp.slots[__builtin_ctz(m)];
          const std::uint64_t h = hash_addr(C::addr(sl));
          for (;;) {
            Bucket* b = fresh.template lock_bucket_for<false>(h);
            if (b == nullptr) {
              ok = false;
              break;
            }
            if (b->h.count < kSplitAt) {
              place(b, sl, h);
              break;
            }
            if (fresh.split(b) != Split::kDone) {
              ok = false;
              break;
            }
          }
        }
      }
    }
  }
  if (!ok) {
    fresh.release();
    return false;
  }
  Dir* old_dir = dir_.load(std::memory_order_relaxed);
  Slab* old_slabs = slabs_.load(std::memory_order_relaxed);
  {
    LockGuard sp(split_lock_);
    dir_.store(fresh.dir_.load(std::memory_order_relaxed), std::memory_order_release);
    slabs_.store(fresh.slabs_.load(std::memory_order_relaxed), std::memory_order_release);
    memory_.store(fresh.memory_.load(std::memory_order_relaxed), std::memory_order_relaxed);
    nbuckets_.store(fresh.nbuckets_.load(std::memory_order_relaxed), std::memory_order_relaxed);
  }
  fresh.dir_.store(nullptr, std::memory_order_relaxed);
  fresh.slabs_.store(nullptr, std::memory_order_relaxed);
  release(old_dir, old_slabs);
  return true;
}

template <class C>
void HashTable<C>::release() noexcept {
  release(dir_.exchange(nullptr, std::memory_order_relaxed), slabs_.exchange(nullptr, std::memory_order_relaxed));
}

template <class C>
void HashTable<C>::release(Dir* d, Slab* s) noexcept {
  while (s != nullptr) {
    Slab* next = s->next;
    os_unmap(s, sizeof(Bucket) * (Slab::kBuckets + 1));
    s = next;
  }
  while (d != nullptr) {
    Dir* older = d->older;
    os_unmap(d, offsetof(Dir, slots) + sizeof(std::atomic<Bucket*>) * (std::size_t{1} << d->depth));
    d = older;
  }
}

// Lock order: walk_lock_ → buckets → split_lock_ (a split holds a bucket and only try_locks
// walk_lock_, and so does make_empty, so holding walk_lock_ first keeps both out while we
// collect the buckets: no bucket is made, locked, after we looked).
template <class C>
void HashTable<C>::lock_all() noexcept {
  walk_lock_.lock();
  for (Slab* s = slabs_.load(std::memory_order_acquire); s != nullptr; s = s->next) {
    unsigned used = s->used.load(std::memory_order_acquire);
    for (unsigned i = 0; i < used; ++i) s->buckets[i].h.lock.lock();
  }
  split_lock_.lock();
}

template <class C>
void HashTable<C>::unlock_all() noexcept {
  split_lock_.unlock();
  for (Slab* s = slabs_.load(std::memory_order_relaxed); s != nullptr; s = s->next) {
    unsigned used = s->used.load(std::memory_order_relaxed);
    for (unsigned i = 0; i < used; ++i) s->buckets[i].h.lock.unlock();
  }
  walk_lock_.unlock();
}

}  // namespace fragscope::core
