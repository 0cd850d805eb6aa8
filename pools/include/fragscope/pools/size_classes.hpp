// The size classes of PoolResource and SynchronizedPoolResource: 8-byte steps up to 128 bytes,
// then four classes per power of two up to 4096 bytes (36 classes; at most 25% slack above 128).
#pragma once

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>

namespace fragscope::pools {

inline constexpr std::size_t kMaxPooledSize = 4096;
inline constexpr std::uint32_t kNoClass = UINT32_MAX;

namespace detail {

constexpr std::array<std::size_t, 36> make_class_sizes() {
  std::array<std::size_t, 36> sizes{};
  std::size_t i = 0;
  for (std::size_t s = 8; s <= 128; s += 8) sizes[i++] = s;
  for (std::size_t base = 128; base < kMaxPooledSize; base *= 2) {
    for (std::size_t q = 1; q <= 4; ++q) sizes[i++] = base + q * base / 4;
  }
  return sizes;
}

}  // namespace detail

inline constexpr std::array<std::size_t, 36> kClassSizes = detail::make_class_sizes();

// The smallest class holding `bytes` with a slot size that is a multiple of `alignment` (a
// power of two), or kNoClass when none does (larger than 4096 bytes, or alignment > 4096).
constexpr std::uint32_t size_class_of(std::size_t bytes, std::size_t alignment) noexcept {
  if (bytes > kMaxPooledSize || alignment > kMaxPooledSize) [[unlikely]] return kNoClass;
  std::uint32_t c;
  if (bytes <= 128) {
    c = static_cast<std::uint32_t>((bytes - (bytes != 0)) >> 3);  // 0 and 1..8 → 0, ..., 121..128 → 15
  } else {
    // 129..4096: classes start at 16; each power of two (base, 2·base] has four, base/4 apart.
    // base/4 is a power of two, so the quarter is a shift, not a division.
    const auto octave = static_cast<std::uint32_t>(std::bit_width(bytes - 1) - 8);  // (128,256] → 0
    const std::size_t base = std::size_t{128} << octave;
    c = 16 + octave * 4 + static_cast<std::uint32_t>((bytes - 1 - base) >> (octave + 5));
  }
  // Every class size is a multiple of 8: larger alignments look for a class that is a multiple.
  if (alignment > 8) [[unlikely]] {
    while (c < kClassSizes.size() && (kClassSizes[c] & (alignment - 1)) != 0) ++c;
    if (c == kClassSizes.size()) return kNoClass;
  }
  return c;
}

static_assert([] {
  for (std::size_t c = 0; c < kClassSizes.size(); ++c) {
    if (kClassSizes[c] % 8 != 0) return false;
  }
  return true;
}());

}  // namespace fragscope::pools
