// Sampled mode's choice of the heap it looks at (DESIGN.md, "Recording modes").
//
// The address space is cut into regions of 2^shift bytes (16 KiB: four pages), and a region is in
// the sample when a salted hash of its number falls under a threshold: probability 1/one_in, and
// independently of every other region for a salt drawn at random at start (Poisson sampling).
// Every live block that starts in a sampled region, or reaches into one, is kept in the live
// table; so every page of a sampled region is seen whole, with all the live bytes on it, and any
// total over the heap (resident pages, empty and pinned pages, free bytes, hole bytes) is
// estimated without bias by its sum over the sampled regions times one_in (the Horvitz–Thompson
// estimator), whose variance is estimated from the same sums (region_estimate.hpp).
//
// Blocks that start in a sampled region are the sample of blocks (each is in it with
// probability 1/one_in): live counts and bytes by class, lifetimes and call sites come from them.
// Large blocks (more than kLargeBytes: size classes from kFirstLargeClass on) are all kept and
// counted as full mode counts them: they are few, each costs its allocator far more than a table
// entry, and one of them would otherwise swing an estimate by one_in times its size. Blocks that
// start outside and reach into a sampled region ("spills") are kept for the layout only. A free
// must find the large blocks and the spills, so each counts itself in an array of counters
// indexed by a hash of its own address (modulo kSlots), mirrored by a bitmap (a bit per slot, set
// while its count is not zero) that a free whose region is not sampled reads: one load from
// 8 KiB. By address, not by region: indexed by start region, one spill marked every block of its
// region, and a program whose hot blocks shared a region with one (Redis: the same few addresses
// at every SET) looked in the table at every free for blocks that were not there.
//
// Costs on the common path: a multiply-xorshift hash and a compare per allocation and per free,
// a multiply and one load more per free; no shared write.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "size_class.hpp"
#include "spinlock.hpp"

namespace fragscope::core {

class RegionSampler;
/// The first size class whose blocks are all larger than RegionSampler::kLargeBytes.
inline constexpr unsigned kFirstLargeClass = size_class_of(64 * 1024 + 1);
static_assert(size_class_lower(kFirstLargeClass) == 64 * 1024 + 1);

class RegionSampler {
 public:
  static constexpr unsigned kDefaultShift = 14;  // 16 KiB
  static constexpr unsigned kSlots = 1u << 16;
  static constexpr std::uint64_t kLargeBytes = 64 * 1024;
  // A block reaching across more regions than this is looked at only in its first kMaxScan.
  static constexpr std::uint64_t kMaxScan = 1u << 16;

  // kStart: starts in a sampled region. kLarge: larger than kLargeBytes, starts elsewhere.
  // kSpill: starts elsewhere, reaches into a sampled region.
  enum class Hit : std::uint8_t { kNone = 0, kStart = 1, kSpill = 2, kLarge = 3 };

  /// Turns sampling on: one region in `one_in` (1 = every region), regions of 2^shift bytes
  /// (shift ≥ 12), region choice from `salt`. Not thread-safe: before any hook records.
  void configure(std::uint32_t one_in, unsigned shift, std::uint64_t salt) noexcept {
    one_in_ = one_in == 0 ? 1 : one_in;
    shift_ = shift < 12 ? 12 : shift > 30 ? 30 : shift;
    salt_ = salt;
    // hash >> 32 < threshold_ with probability threshold_ / 2^32.
    threshold_ = one_in_ == 1 ? (std::uint64_t{1} << 32) : (std::uint64_t{1} << 32) / one_in_;
    for (auto& s : spill_) s = 0;
    for (auto& b : spill_bits_) b.store(0, std::memory_order_relaxed);
  }
  bool on() const noexcept { return one_in_ != 0; }
  std::uint32_t one_in() const noexcept { return one_in_; }
  unsigned shift() const noexcept { return shift_; }
  std::uint64_t region_bytes() const noexcept { return std::uint64_t{1} << shift_; }
  /// The probability that a region is sampled (exactly threshold / 2^32).
  double fraction() const noexcept { return static_cast<double>(threshold_) / 4294967296.0; }

  bool sampled_region(std::uint64_t region) const noexcept {
    std::uint64_t h = (region + salt_) * 0x9E3779B97F4A7C15ull;
    h ^= h >> 29;
    h *= 0xBF58476D1CE4E5B9ull;
    return (h >> 32) < threshold_;
  }
  bool sampled_addr(std::uintptr_t a) const noexcept { return sampled_region(a >> shift_); }

  /// Whether a block at `a` of `size` bytes is kept, and why (Hit).
  Hit hit(std::uintptr_t a, std::uint64_t size) const noexcept {
    const std::uint64_t r0 = a >> shift_;
    if (sampled_region(r0)) [[unlikely]]
      return Hit::kStart;
    if (size > kLargeBytes) [[unlikely]]
      return Hit::kLarge;
    const std::uint64_t last = (a + (size == 0 ? 0 : size - 1)) >> shift_;
    if (last == r0) [[likely]]
      return Hit::kNone;
    return spill_hit(r0, last);
  }

  /// Whether a kept block of `size` bytes is in the sample of blocks (counted by class).
  bool counted(std::uintptr_t a, std::uint64_t size) const noexcept { return size > kLargeBytes || sampled_addr(a); }

  /// A kept block starting at `a` in a region that is not sampled (kLarge, kSpill) was added to
  /// (+1) or removed from (−1) the table. Called where the table entry's lock is held (so a fork
  /// never finds the lock below taken).
  void add_spill(std::uintptr_t a, int d) noexcept {
    const unsigned i = slot(a);
    LockGuard g(spill_lock_);
    spill_[i] += static_cast<std::uint32_t>(d);
    const std::uint64_t bit = std::uint64_t{1} << (i & 63);
    const std::uint64_t w = spill_bits_[i >> 6].load(std::memory_order_relaxed);
    spill_bits_[i >> 6].store(spill_[i] != 0 ? w | bit : w & ~bit, std::memory_order_release);
  }
  /// Whether a block starting at `a` (in a region not sampled) may be a kept one: one bit per
  /// slot (8 KiB in all, so the bitmap stays in cache), set while its count is not zero; another
  /// block shares a slot with probability (kept large blocks and spills) / kSlots. A free sees the
  /// bit its block's allocation set: the program passed it the block.
  bool maybe_spill(std::uintptr_t a) const noexcept {
    const unsigned i = slot(a);
    return (spill_bits_[i >> 6].load(std::memory_order_relaxed) >> (i & 63)) & 1;
  }

 private:
  // A block's slot: the top 16 bits of a multiply of its address in 16-byte units (malloc's
  // alignment on x86-64; two blocks of jemalloc's 8-byte class share a unit, and so a slot), so
  // that neither a region nor a power-of-two stride maps many blocks to one slot.
  static unsigned slot(std::uintptr_t a) noexcept {
    static_assert(kSlots == 1u << 16);
    return static_cast<unsigned>(((a >> 4) * 0x9E3779B97F4A7C15ull) >> 48);
  }
  Hit spill_hit(std::uint64_t r0, std::uint64_t last) const noexcept {
    const std::uint64_t end = last - r0 > kMaxScan ? r0 + kMaxScan : last;
    for (std::uint64_t r = r0 + 1; r <= end; ++r)
      if (sampled_region(r)) return Hit::kSpill;
    return Hit::kNone;
  }

  // Read by every hook: a line of their own (the lock and counters below are written).
  alignas(64) std::uint32_t one_in_ = 0;  // 0: off (full mode)
  unsigned shift_ = kDefaultShift;
  std::uint64_t salt_ = 0;
  std::uint64_t threshold_ = 0;
  alignas(64) SpinLock spill_lock_;
  std::uint32_t spill_[kSlots] = {};  // kept blocks (spills, large) whose address is in the slot, under spill_lock_
  std::atomic<std::uint64_t> spill_bits_[kSlots / 64] = {};
};

}  // namespace fragscope::core
