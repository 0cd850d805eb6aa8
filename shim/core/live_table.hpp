// The live table: address → (requested size, allocation time, flags) for every live block,
// concurrent, growable, in our own memory, at about 20 bytes per live block.
//
// Layout: extendible hashing (Fagin et al. 1979). A directory of 2^global_depth pointers maps the
// low bits of hash(addr) to page-sized buckets; a bucket with local depth d holds exactly the keys
// whose hash has its `pattern` in the low d bits. A full bucket splits alone — no global rehash,
// so no hook ever stalls behind a table-wide resize. A bucket is one header line and 63 groups of
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
// least hourly; the reporter does).
//
// Locks: each bucket has a SpinLock guarding its slots, depth and count. split_lock_ guards the
// directory swap and bucket allocation (order: bucket → split_lock_). walk_lock_ is held by the
// reporter for a whole walk; a split only try_locks it, so a walk never sees an entry twice and
// never waits for a split.
//
// Invariants: sum over buckets of count == non-empty slots == live entries in buckets;
// side_count_ == entries in the side list.
#pragma once

#include <sched.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "clock.hpp"
#include "os_memory.hpp"
#include "spinlock.hpp"

namespace fragscope::core {

struct Block {
  std::uintptr_t addr = 0;
  std::uint64_t size = 0;  // requested bytes
  std::uint64_t time = 0;  // allocation time in ticks
  bool sampled = false;    // has a call-site record elsewhere
};

enum class InsertResult : std::uint8_t {
  kInserted,
  kReplaced,  // the address was already live: its previous entry is returned (a free we missed)
  kDropped,   // out of our memory: not recorded
};

inline std::uint64_t hash_addr(std::uintptr_t a) noexcept {
  std::uint64_t h = a;
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  return h;
}

/// 12-byte slots: addr >> 3 (45 bits) | size (17) | sampled (1) | coarse (1), then 32 bits of time.
struct CompactSlots {
  static constexpr unsigned kPerGroup = 5;
  static constexpr unsigned kTimeShift = 8, kCoarseShift = 28;
  static constexpr std::uint64_t kTimeMask = 0xffffffffULL;
  struct Slot {
    std::uint32_t w[3];
  };
  static bool fits(const Block& b) noexcept {
    return (b.addr & 7) == 0 && b.addr != 0 && b.addr < (std::uint64_t{1} << 48) && b.size < (1u << 17);
  }
  static std::uint64_t lo(const Slot& s) noexcept { return s.w[0] | (std::uint64_t{s.w[1]} << 32); }
  static std::uintptr_t addr(const Slot& s) noexcept { return (lo(s) & ((std::uint64_t{1} << 45) - 1)) << 3; }
  static Slot encode(const Block& b) noexcept {
    std::uint64_t l = (b.addr >> 3) | (b.size << 45) | (std::uint64_t{b.sampled} << 62);
    return Slot{{static_cast<std::uint32_t>(l), static_cast<std::uint32_t>(l >> 32),
                 static_cast<std::uint32_t>(b.time >> kTimeShift)}};
  }
  static bool coarse(const Slot& s) noexcept { return (s.w[1] >> 31) & 1; }
  static std::uint64_t age(const Slot& s, std::uint64_t now) noexcept {
    if (coarse(s)) return (((now >> kCoarseShift) - s.w[2]) & kTimeMask) << kCoarseShift;
    return (((now >> kTimeShift) - s.w[2]) & kTimeMask) << kTimeShift;
  }
  static Block decode(const Slot& s, std::uint64_t now) noexcept {
    std::uint64_t l = lo(s);
    return Block{addr(s), (l >> 45) & 0x1ffff, now - age(s, now), ((l >> 62) & 1) != 0};
  }
  /// Re-anchors an old entry in coarse units before its fine time can wrap.
  static void age_out(Slot& s, std::uint64_t now) noexcept {
    if (coarse(s)) return;
    std::uint64_t a = age(s, now);
    if (a <= (kTimeMask << kTimeShift) >> 2) return;
    s.w[2] = static_cast<std::uint32_t>((now - a) >> kCoarseShift);
    s.w[1] |= 1u << 31;
  }
};

/// 16-byte slots: addr (48 bits) | size >> 19 (16), then time (43) | coarse | sampled | size & 0x7ffff.
struct WideSlots {
  static constexpr unsigned kPerGroup = 3;
  static constexpr unsigned kCoarseShift = 20;
  static constexpr std::uint64_t kTimeMask = (std::uint64_t{1} << 43) - 1;
  struct Slot {
    std::uint64_t w0, w1;
  };
  static bool fits(const Block& b) noexcept {
    return b.addr != 0 && b.addr < (std::uint64_t{1} << 48) && b.size < (std::uint64_t{1} << 35);
  }
  static std::uintptr_t addr(const Slot& s) noexcept { return s.w0 & ((std::uint64_t{1} << 48) - 1); }
  static Slot encode(const Block& b) noexcept {
    return Slot{b.addr | ((b.size >> 19) << 48),
                (b.time & kTimeMask) | (std::uint64_t{b.sampled} << 44) | ((b.size & 0x7ffff) << 45)};
  }
  static bool coarse(const Slot& s) noexcept { return (s.w1 >> 43) & 1; }
  static std::uint64_t age(const Slot& s, std::uint64_t now) noexcept {
    const std::uint64_t t = s.w1 & kTimeMask;
    if (coarse(s)) return (((now >> kCoarseShift) - t) & kTimeMask) << kCoarseShift;
    return (now - t) & kTimeMask;
  }
  static Block decode(const Slot& s, std::uint64_t now) noexcept {
    return Block{addr(s), ((s.w0 >> 48) << 19) | (s.w1 >> 45), now - age(s, now), ((s.w1 >> 44) & 1) != 0};
  }
  static void age_out(Slot& s, std::uint64_t now) noexcept {
    if (coarse(s)) return;
    std::uint64_t a = age(s, now);
    if (a <= (kTimeMask >> 2)) return;
    std::uint64_t t = ((now - a) >> kCoarseShift) & kTimeMask;
    s.w1 = (s.w1 & ~kTimeMask) | t | (std::uint64_t{1} << 43);
  }
};

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
  template <class Then>
  InsertResult insert(const Block& b, Block* replaced, Then&& then) noexcept;
  /// Runs then(removed block) with the bucket still locked; false if `addr` is not here.
  template <class Then>
  bool remove(std::uintptr_t addr, std::uint64_t now, Block* out, Then&& then) noexcept;
  /// Copies the entry for `addr` into *out (time = now - age); false if absent. Thread-safe.
  bool find_entry(std::uintptr_t addr, std::uint64_t now, Block* out) noexcept {
    const std::uint64_t h = hash_addr(addr);
    Bucket* b = lock_bucket_for(h);
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
    Dir* older;  // directories are never freed: a hook may still be reading an old one
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

  static unsigned home(std::uint64_t h) noexcept { return static_cast<unsigned>(((h >> 32) * kGroups) >> 32); }
  static unsigned next_group(unsigned g) noexcept { return g + 1 == kGroups ? 0 : g + 1; }
  static void reset(Bucket* b) noexcept { std::memset(b->g, 0, sizeof(b->g)), b->h.count = 0; }
  // Finds addr: its group and slot (true), or false.
  static bool find(Bucket* b, std::uint64_t h, std::uintptr_t addr, unsigned* gi, unsigned* si) noexcept;
  Bucket* lock_bucket_for(std::uint64_t h) noexcept;
  Split split(Bucket* b) noexcept;
  Full on_full(Bucket* b) noexcept;
  Bucket* new_bucket() noexcept;  // returned locked; requires split_lock_ (or init)
  Dir* new_dir(std::uint32_t depth) noexcept;
  static void place(Bucket* b, const Slot& s, std::uint64_t h) noexcept;  // requires count < kSlots

  std::atomic<Dir*> dir_{nullptr};
  std::atomic<Slab*> slabs_{nullptr};
  SpinLock split_lock_;
  SpinLock walk_lock_;
  std::atomic<std::size_t> memory_{0};
  std::atomic<std::size_t> nbuckets_{0};
  std::atomic<unsigned> min_depth_{0};
};

/// The live table: CompactSlots for ordinary blocks, WideSlots and a side list for the rest.
class LiveTable {
 public:
  /// Prepares empty tables. Returns false when our memory cannot be mapped.
  bool init() noexcept { return compact_.init() && wide_.init(); }

  /// Records a live block. Thread-safe. `then(result)` runs while the entry's lock is held, so
  /// counters updated there always agree with the table at fork() (lock_all holds every lock).
  template <class Then>
  InsertResult insert(const Block& b, Block* replaced, Then&& then) noexcept;
  InsertResult insert(const Block& b, Block* replaced) noexcept {
    return insert(b, replaced, [](InsertResult) {});
  }
  /// Removes `addr`; false if it is not live here. On success *out (if given) holds the entry,
  /// with `time` = now - its age, and then(entry) has run under the entry's lock. Thread-safe.
  template <class Then>
  bool remove(std::uintptr_t addr, std::uint64_t now, Block* out, Then&& then) noexcept;
  bool remove(std::uintptr_t addr, std::uint64_t now, Block* out) noexcept {
    return remove(addr, now, out, [](const Block&) {});
  }
  /// Copies the entry for `addr` into *out; false if it is not live here. Thread-safe.
  bool find(std::uintptr_t addr, Block* out) noexcept {
    if (CompactSlots::fits(Block{addr, 0, 0, false}) && compact_.find_entry(addr, 0, out)) return true;
    if (wide_live_.load(std::memory_order_relaxed) != 0 && addr != 0 && addr < (std::uint64_t{1} << 48) &&
        wide_.find_entry(addr, 0, out))
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

// ---- HashTable ---------------------------------------------------------------------------

template <class C>
bool HashTable<C>::init() noexcept {
  LockGuard g(split_lock_);
  if (dir_.load(std::memory_order_relaxed) != nullptr) return true;
  Dir* d = new_dir(0);
  Bucket* b = d ? new_bucket() : nullptr;
  if (b == nullptr) return false;
  b->h.depth = 0;
  b->h.pattern = 0;
  b->h.lock.unlock();
  d->slots[0].store(b, std::memory_order_relaxed);
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
typename HashTable<C>::Bucket* HashTable<C>::lock_bucket_for(std::uint64_t h) noexcept {
  for (;;) {
    Dir* d = dir_.load(std::memory_order_acquire);
    Bucket* b = d->slots[h & ((std::uint64_t{1} << d->depth) - 1)].load(std::memory_order_acquire);
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
  unsigned g = home(h);
  for (unsigned n = 0; n < kGroups; ++n) {
    const Group& grp = b->g[g];
    for (unsigned m = grp.mask; m != 0; m &= m - 1) {
      const unsigned i = static_cast<unsigned>(__builtin_ctz(m));
      if (C::addr(grp.slots[i]) == addr) {
        *gi = g;
        *si = i;
        return true;
      }
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
  Bucket* nb = new_bucket();  // returned locked and reset
  if (nb == nullptr) {
    walk_lock_.unlock();
    return Split::kNoMemory;
  }
  const std::uint32_t bit = std::uint32_t{1} << b->h.depth;
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
  const std::size_t step = std::size_t{1} << nb->h.depth;
  const std::size_t n = std::size_t{1} << d->depth;
  for (std::size_t i = nb->h.pattern; i < n; i += step) d->slots[i].store(nb, std::memory_order_release);
  nb->h.lock.unlock();
  walk_lock_.unlock();
  return Split::kDone;
}

template <class C>
typename HashTable<C>::Full HashTable<C>::on_full(Bucket* b) noexcept {
  Split r = split(b);
  if (r == Split::kDone) {
    b->h.lock.unlock();
    return Full::kRetry;  // the key may now belong to the new bucket
  }
  b->h.lock.unlock();
  if (r == Split::kNoMemory) return Full::kDrop;
  sched_yield();  // a walk is running; it never waits for us, so it will finish
  return Full::kRetry;
}

template <class C>
template <class Then>
InsertResult HashTable<C>::insert(const Block& blk, Block* replaced, Then&& then) noexcept {
  const std::uint64_t h = hash_addr(blk.addr);
  for (;;) {
    Bucket* b = lock_bucket_for(h);
    unsigned gi, si;
    if (find(b, h, blk.addr, &gi, &si)) [[unlikely]] {
      Slot& slot = b->g[gi].slots[si];
      if (replaced) *replaced = C::decode(slot, blk.time);
      slot = C::encode(blk);
      then(InsertResult::kReplaced);
      b->h.lock.unlock();
      return InsertResult::kReplaced;
    }
    if (b->h.count >= kSplitAt || b->h.depth < min_depth_.load(std::memory_order_relaxed)) [[unlikely]] {
      if (b->h.count < kSplitAt) {  // only shallow: split if we can, else insert here
        if (split(b) == Split::kDone) {
          b->h.lock.unlock();
          continue;
        }
        place(b, C::encode(blk), h);
        then(InsertResult::kInserted);
        b->h.lock.unlock();
        return InsertResult::kInserted;
      }
      if (on_full(b) == Full::kRetry) continue;  // split done, or a walk must finish: look again
      then(InsertResult::kDropped);
      return InsertResult::kDropped;
    }
    place(b, C::encode(blk), h);
    then(InsertResult::kInserted);
    b->h.lock.unlock();
    return InsertResult::kInserted;
  }
}

template <class C>
template <class Then>
bool HashTable<C>::remove(std::uintptr_t addr, std::uint64_t now, Block* out, Then&& then) noexcept {
  const std::uint64_t h = hash_addr(addr);
  Bucket* b = lock_bucket_for(h);
  unsigned gi, si;
  if (!find(b, h, addr, &gi, &si)) {
    b->h.lock.unlock();
    return false;
  }
  Group& grp = b->g[gi];
  const Block blk = C::decode(grp.slots[si], now);
  grp.mask = static_cast<std::uint8_t>(grp.mask & ~(1u << si));
  for (unsigned g = home(h); g != gi; g = next_group(g))
    if (b->g[g].overflow != 255) --b->g[g].overflow;
  --b->h.count;
  then(blk);
  b->h.lock.unlock();
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

// Lock order: walk_lock_ → buckets → split_lock_ (a split holds a bucket and only try_locks
// walk_lock_, so holding walk_lock_ first keeps splits out while we collect the buckets).
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

// ---- LiveTable ---------------------------------------------------------------------------

template <class Then>
InsertResult LiveTable::insert(const Block& b, Block* replaced, Then&& then) noexcept {
  if (CompactSlots::fits(b)) [[likely]]
    return compact_.insert(b, replaced, static_cast<Then&&>(then));
  if (WideSlots::fits(b)) {
    // Rare: the address may still sit in the compact table if its free bypassed us.
    Block stale;
    bool had_stale = compact_.remove(b.addr, b.time, &stale, [](const Block&) {});
    InsertResult r = wide_.insert(b, replaced, [&](InsertResult ir) {
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

template <class Then>
bool LiveTable::remove(std::uintptr_t addr, std::uint64_t now, Block* out, Then&& then) noexcept {
  if ((addr & 7) == 0 && addr != 0 && addr < (std::uint64_t{1} << 48)) [[likely]] {
    if (compact_.remove(addr, now, out, then)) return true;
  }
  if (wide_live_.load(std::memory_order_relaxed) != 0 && addr != 0 && addr < (std::uint64_t{1} << 48)) {
    if (wide_.remove(addr, now, out, then)) {
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
    f(Block{e.addr, e.size, e.time, e.sampled}, now - e.time);
  }
}

}  // namespace fragscope::core
