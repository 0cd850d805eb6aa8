// What the live table stores per block, and how: the Block record, the hash of an address, and
// the two slot encodings (CompactSlots, 12 bytes; WideSlots, 16 bytes) with their time fields.
// See live_table.hpp for why there are two.
#pragma once

#include <cstdint>
#include <cstring>

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

inline std::uint64_t mix_addr(std::uint64_t a) noexcept {
  std::uint64_t h = a;
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  return h;
}

/// The live table's hash of a block address. Its low kRegionBits bits (the first directory bits
/// of the extendible hash) come from the block's 2 MiB region of address space, the rest from the
/// address: a bucket no deeper than kRegionBits holds whole regions.
/// Allocators give each thread its own regions (jemalloc's arenas, glibc's per-thread heaps), so
/// two threads that record at once mostly lock and write different buckets; with the address
/// alone every bucket's lines went back and forth between their cores (two threads over
/// jemalloc: 10.4× plain CPU time, pinned to one core 6.6×: bench/README.md). Deeper buckets
/// split by the address bits as before, so one region's blocks still spread over as many
/// buckets as they need. The splits that separate nothing (one region's blocks, split by region
/// bits) make no bucket for the empty side (extendible_hash.hpp), so three bits cost no memory
/// where blocks are dense; they cost a bucket per bit pattern in use where they are sparse.
inline constexpr unsigned kRegionBits = 3;
inline std::uint64_t hash_addr(std::uintptr_t a) noexcept {
  constexpr std::uint64_t kLow = (std::uint64_t{1} << kRegionBits) - 1;
  // The region's bits: the top bits of a Fibonacci multiply (three instructions; the hooks
  // prefetch with this hash and the applier computes it again).
  return (mix_addr(a) & ~kLow) | (((a >> 21) * 0x9E3779B97F4A7C15ULL) >> (64 - kRegionBits));
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
  static std::uint64_t lo(const Slot& s) noexcept {  // one 8-byte load, not two 4-byte ones and a shift
    std::uint64_t v;
    std::memcpy(&v, s.w, sizeof v);
    return v;
  }
  static std::uintptr_t addr(const Slot& s) noexcept { return (lo(s) & ((std::uint64_t{1} << 45) - 1)) << 3; }
  /// What matches() compares: the address as stored.
  static std::uint64_t key(std::uintptr_t a) noexcept { return a >> 3; }
  static bool matches(const Slot& s, std::uint64_t k) noexcept { return (lo(s) & ((std::uint64_t{1} << 45) - 1)) == k; }
  static Slot encode(const Block& b) noexcept {
    std::uint64_t l = (b.addr >> 3) | (b.size << 45) | (std::uint64_t{b.sampled} << 62);
    return Slot{{static_cast<std::uint32_t>(l), static_cast<std::uint32_t>(l >> 32),
                 static_cast<std::uint32_t>(b.time >> kTimeShift)}};
  }
  static bool coarse(const Slot& s) noexcept { return (s.w[1] >> 31) & 1; }
  static std::uint64_t age(const Slot& s, std::uint64_t now) noexcept {
    if (coarse(s)) return (((now >> kCoarseShift) - s.w[2]) & kTimeMask) << kCoarseShift;
    const std::uint64_t a = ((now >> kTimeShift) - s.w[2]) & kTimeMask;
    return a > kTimeMask - (kTimeMask >> 12) ? 0 : a << kTimeShift;  // `now` a little behind the entry's time
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
  static std::uint64_t key(std::uintptr_t a) noexcept { return a; }
  static bool matches(const Slot& s, std::uint64_t k) noexcept { return addr(s) == k; }
  static Slot encode(const Block& b) noexcept {
    return Slot{b.addr | ((b.size >> 19) << 48),
                (b.time & kTimeMask) | (std::uint64_t{b.sampled} << 44) | ((b.size & 0x7ffff) << 45)};
  }
  static bool coarse(const Slot& s) noexcept { return (s.w1 >> 43) & 1; }
  static std::uint64_t age(const Slot& s, std::uint64_t now) noexcept {
    const std::uint64_t t = s.w1 & kTimeMask;
    if (coarse(s)) return (((now >> kCoarseShift) - t) & kTimeMask) << kCoarseShift;
    const std::uint64_t a = (now - t) & kTimeMask;
    return a > kTimeMask - (kTimeMask >> 12) ? 0 : a;  // `now` a little behind the entry's time
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


}  // namespace fragscope::core
