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
// Blocks that start outside and reach into a sampled region ("spills": blocks larger than what is
// left of their region) are kept for the layout only; a free must find them, so each counts
// itself in a small array of counters indexed by a hash of its start region, which a free whose
// region is not sampled reads (one load; nonzero rarely).
//
// Costs on the common path: a multiply-xorshift hash and a compare per allocation and per free,
// one load more per free; no shared write.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace fragscope::core {

class RegionSampler {
 public:
  static constexpr unsigned kDefaultShift = 14;  // 16 KiB
  static constexpr std::uint32_t kDefaultOneIn = 32;
  static constexpr unsigned kSpillSlots = 4096;
  // A block reaching across more regions than this is looked at only in its first kMaxScan.
  static constexpr std::uint64_t kMaxScan = 1u << 16;

  enum class Hit : std::uint8_t { kNone = 0, kStart = 1, kSpill = 2 };

  /// Turns sampling on: one region in `one_in` (1 = every region), regions of 2^shift bytes
  /// (shift ≥ 12), region choice from `salt`. Not thread-safe: before any hook records.
  void configure(std::uint32_t one_in, unsigned shift, std::uint64_t salt) noexcept {
    one_in_ = one_in == 0 ? 1 : one_in;
    shift_ = shift < 12 ? 12 : shift > 30 ? 30 : shift;
    salt_ = salt;
    // hash >> 32 < threshold_ with probability threshold_ / 2^32.
    threshold_ = one_in_ == 1 ? (std::uint64_t{1} << 32) : (std::uint64_t{1} << 32) / one_in_;
    for (auto& s : spill_) s.store(0, std::memory_order_relaxed);
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

  /// Whether a block at `a` of `size` bytes is kept: it starts in a sampled region (kStart), or
  /// starts elsewhere and reaches into one (kSpill).
  Hit hit(std::uintptr_t a, std::uint64_t size) const noexcept {
    const std::uint64_t r0 = a >> shift_;
    if (sampled_region(r0)) [[unlikely]]
      return Hit::kStart;
    const std::uint64_t last = (a + (size == 0 ? 0 : size - 1)) >> shift_;
    if (last == r0) [[likely]]
      return Hit::kNone;
    return spill_hit(r0, last);
  }

  /// A spill block starting at `a` was added to (+1) or removed from (−1) the table.
  void add_spill(std::uintptr_t a, int d) noexcept {
    spill_[slot(a >> shift_)].fetch_add(static_cast<std::uint32_t>(d), std::memory_order_relaxed);
  }
  /// Whether a block starting at `a` (in a region not sampled) may be a spill in the table.
  bool maybe_spill(std::uintptr_t a) const noexcept {
    return spill_[slot(a >> shift_)].load(std::memory_order_relaxed) != 0;
  }

 private:
  static unsigned slot(std::uint64_t region) noexcept {
    return static_cast<unsigned>((region * 0x9E3779B97F4A7C15ull) >> 52) & (kSpillSlots - 1);
  }
  Hit spill_hit(std::uint64_t r0, std::uint64_t last) const noexcept {
    const std::uint64_t end = last - r0 > kMaxScan ? r0 + kMaxScan : last;
    for (std::uint64_t r = r0 + 1; r <= end; ++r)
      if (sampled_region(r)) return Hit::kSpill;
    return Hit::kNone;
  }

  std::uint32_t one_in_ = 0;  // 0: off (full mode)
  unsigned shift_ = kDefaultShift;
  std::uint64_t salt_ = 0;
  std::uint64_t threshold_ = 0;
  std::atomic<std::uint32_t> spill_[kSpillSlots] = {};
};

}  // namespace fragscope::core
