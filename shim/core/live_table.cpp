// The live table (see live_table.hpp for layout, encoding and lock rules).
#include "live_table.hpp"

#include <cstring>

namespace fragscope::core {

std::uint64_t LiveTable::age_of(const Slot& s, std::uint64_t now) noexcept {
  const std::uint64_t t = s.w1 & kTimeMask;
  if ((s.w1 >> 43) & 1) return (((now >> kCoarseShift) - t) & kTimeMask) << kCoarseShift;
  return (now - t) & kTimeMask;
}

Block LiveTable::decode(const Slot& s, std::uint64_t now) noexcept {
  Block b;
  b.addr = addr_of(s);
  b.size = ((s.w0 >> 48) << 19) | (s.w1 >> 45);
  b.sampled = (s.w1 >> 44) & 1;
  b.time = now - age_of(s, now);
  return b;
}

bool LiveTable::init() noexcept {
  LockGuard g(split_lock_);
  if (dir_.load(std::memory_order_relaxed) != nullptr) return true;
  Dir* d = new_dir(0);
  Bucket* b = d ? new_bucket() : nullptr;
  if (b == nullptr) return false;
  b->depth = 0;
  b->pattern = 0;
  b->lock.unlock();
  d->slots[0].store(b, std::memory_order_relaxed);
  dir_.store(d, std::memory_order_release);
  return true;
}

LiveTable::Dir* LiveTable::new_dir(std::uint32_t depth) noexcept {
  std::size_t bytes = offsetof(Dir, slots) + sizeof(std::atomic<Bucket*>) * (std::size_t{1} << depth);
  auto* d = static_cast<Dir*>(os_map(bytes, "live-table-dir"));
  if (d == nullptr) return nullptr;
  d->depth = depth;
  memory_.fetch_add((bytes + page_size() - 1) & ~(page_size() - 1), std::memory_order_relaxed);
  return d;
}

LiveTable::Bucket* LiveTable::new_bucket() noexcept {
  Slab* s = slabs_.load(std::memory_order_relaxed);
  if (s == nullptr || s->used.load(std::memory_order_relaxed) == Slab::kBuckets) {
    constexpr std::size_t bytes = sizeof(Bucket) * Slab::kBuckets + sizeof(Bucket);
    char* mem = static_cast<char*>(os_map(bytes, "live-table"));
    if (mem == nullptr) return nullptr;
    auto* ns = reinterpret_cast<Slab*>(mem);  // the slab header takes the first page
    ns->buckets = reinterpret_cast<Bucket*>(mem + sizeof(Bucket));
    ns->next = s;
    ns->used.store(0, std::memory_order_relaxed);
    slabs_.store(ns, std::memory_order_release);
    s = ns;
  }
  unsigned i = s->used.load(std::memory_order_relaxed);
  Bucket* b = &s->buckets[i];
  // Resident cost is what counts as overhead: a slab's untouched buckets cost nothing.
  memory_.fetch_add(sizeof(Bucket) + (i == 0 ? sizeof(Bucket) : 0), std::memory_order_relaxed);
  nbuckets_.fetch_add(1, std::memory_order_relaxed);
  // Published locked: a walk that finds it waits until the split has filled it.
  b->lock.lock();
  s->used.store(i + 1, std::memory_order_release);
  return b;
}

LiveTable::Bucket* LiveTable::lock_bucket_for(std::uint64_t h) noexcept {
  for (;;) {
    Dir* d = dir_.load(std::memory_order_acquire);
    Bucket* b = d->slots[h & ((std::uint64_t{1} << d->depth) - 1)].load(std::memory_order_acquire);
    b->lock.lock();
    if ((h & ((std::uint64_t{1} << b->depth) - 1)) == b->pattern) return b;
    b->lock.unlock();  // split under our feet: read the directory again
  }
}

void LiveTable::place(Bucket* b, const Slot& s, std::uint64_t h) noexcept {
  unsigned i = home(h);
  while (b->slots[i].w0 != 0) i = i + 1 == kSlots ? 0 : i + 1;
  b->slots[i] = s;
  ++b->count;
}

void LiveTable::erase_at(Bucket* b, unsigned i) noexcept {
  // Backward-shift deletion: pull later members of the probe run into the hole.
  unsigned j = i;
  for (;;) {
    j = j + 1 == kSlots ? 0 : j + 1;
    if (b->slots[j].w0 == 0) break;
    unsigned k = home(hash(addr_of(b->slots[j])));
    bool movable = (i <= j) ? (k <= i || k > j) : (k <= i && k > j);
    if (movable) {
      b->slots[i] = b->slots[j];
      i = j;
    }
  }
  b->slots[i] = Slot{0, 0};
  --b->count;
}

LiveTable::Split LiveTable::split(Bucket* b) noexcept {
  if (b->depth >= 40) return Split::kNoMemory;  // the hash cannot separate these keys further
  if (!walk_lock_.try_lock()) return Split::kBusy;
  LockGuard g(split_lock_);
  Dir* d = dir_.load(std::memory_order_relaxed);
  if (b->depth == d->depth) {
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
  Bucket* nb = new_bucket();  // returned locked
  if (nb == nullptr) {
    walk_lock_.unlock();
    return Split::kNoMemory;
  }
  const std::uint32_t bit = std::uint32_t{1} << b->depth;
  nb->depth = static_cast<std::uint8_t>(b->depth + 1);
  nb->pattern = b->pattern | bit;
  Slot copy[kSlots];
  std::memcpy(copy, b->slots, sizeof(copy));
  std::memset(b->slots, 0, sizeof(b->slots));
  b->count = 0;
  b->depth = nb->depth;
  for (const Slot& s : copy) {
    if (s.w0 == 0) continue;
    std::uint64_t h = hash(addr_of(s));
    place((h & bit) ? nb : b, s, h);
  }
  const std::size_t step = std::size_t{1} << nb->depth;
  const std::size_t n = std::size_t{1} << d->depth;
  for (std::size_t i = nb->pattern; i < n; i += step) d->slots[i].store(nb, std::memory_order_release);
  nb->lock.unlock();
  walk_lock_.unlock();
  return Split::kDone;
}

LiveTable::Full LiveTable::on_full(Bucket* b) noexcept {
  Split r = split(b);
  if (r == Split::kDone) {
    b->lock.unlock();
    return Full::kRetry;  // the key may now belong to the new bucket
  }
  if (b->count < kHardCap) return Full::kInsertHere;  // room left: insert without splitting
  b->lock.unlock();
  if (r == Split::kNoMemory) return Full::kDrop;
  sched_yield();  // a walk is running; it never waits for us, so it will finish
  return Full::kRetry;
}

InsertResult LiveTable::side_insert(const Block& blk, Block* replaced) noexcept {
  unsigned n = side_count_.load(std::memory_order_relaxed);
  for (unsigned i = 0; i < n; ++i) {
    if (side_[i].addr == blk.addr) {
      if (replaced) *replaced = Block{side_[i].addr, side_[i].size, side_[i].time, side_[i].sampled};
      side_[i] = SideEntry{blk.addr, blk.size, blk.time, blk.sampled};
      return InsertResult::kReplaced;
    }
  }
  if (n == kSideCap) return InsertResult::kDropped;
  side_[n] = SideEntry{blk.addr, blk.size, blk.time, blk.sampled};
  side_count_.store(n + 1, std::memory_order_relaxed);
  return InsertResult::kInserted;
}

bool LiveTable::side_remove(std::uintptr_t addr, Block* out) noexcept {
  unsigned n = side_count_.load(std::memory_order_relaxed);
  for (unsigned i = 0; i < n; ++i) {
    if (side_[i].addr == addr) {
      if (out) *out = Block{side_[i].addr, side_[i].size, side_[i].time, side_[i].sampled};
      side_[i] = side_[n - 1];
      side_count_.store(n - 1, std::memory_order_relaxed);
      return true;
    }
  }
  return false;
}

std::size_t LiveTable::entries() const noexcept {
  std::size_t n = side_count_.load(std::memory_order_relaxed);
  for (Slab* s = slabs_.load(std::memory_order_acquire); s != nullptr; s = s->next) {
    unsigned used = s->used.load(std::memory_order_acquire);
    for (unsigned i = 0; i < used; ++i) n += __atomic_load_n(&s->buckets[i].count, __ATOMIC_RELAXED);
  }
  return n;
}

// Lock order: walk_lock_ → buckets → split_lock_ → side_lock_ (a split holds a bucket and
// try_locks walk_lock_, so holding walk_lock_ first keeps splits out while we collect buckets).
void LiveTable::lock_all() noexcept {
  walk_lock_.lock();
  for (Slab* s = slabs_.load(std::memory_order_acquire); s != nullptr; s = s->next) {
    unsigned used = s->used.load(std::memory_order_acquire);
    for (unsigned i = 0; i < used; ++i) s->buckets[i].lock.lock();
  }
  split_lock_.lock();
  side_lock_.lock();
}

void LiveTable::unlock_all() noexcept {
  side_lock_.unlock();
  split_lock_.unlock();
  for (Slab* s = slabs_.load(std::memory_order_relaxed); s != nullptr; s = s->next) {
    unsigned used = s->used.load(std::memory_order_relaxed);
    for (unsigned i = 0; i < used; ++i) s->buckets[i].lock.unlock();
  }
  walk_lock_.unlock();
}

}  // namespace fragscope::core
