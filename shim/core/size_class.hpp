// Size classes of requested sizes: fine enough to show an allocator's own classes (4 sub-buckets
// per power of two, from 8 B to 1 GiB), computed with a few integer instructions in the hooks.
//
//   class 0           : 0..8 bytes
//   class 1 + 4(p-3)+k: (2^p + k*2^(p-2), 2^p + (k+1)*2^(p-2)]   for p = 3..29, k = 0..3
//   class 109         : more than 1 GiB
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace fragscope::core {

inline constexpr unsigned kNumSizeClasses = 110;
inline constexpr std::uint64_t kLargestClassedSize = std::uint64_t{1} << 30;

/// Maps a requested size to its class. Total: defined for every size.
constexpr unsigned size_class_of(std::uint64_t n) noexcept {
  if (n <= 8) return 0;
  if (n > kLargestClassedSize) return kNumSizeClasses - 1;
  const std::uint64_t m = n - 1;                     // m >= 8
  const unsigned p = 63u - static_cast<unsigned>(__builtin_clzll(m));  // 3..29
  const unsigned k = static_cast<unsigned>(m >> (p - 2)) & 3u;
  return 1 + 4 * (p - 3) + k;
}

/// Largest size in class `c` (inclusive); UINT64_MAX for the last class.
constexpr std::uint64_t size_class_upper(unsigned c) noexcept {
  if (c == 0) return 8;
  if (c >= kNumSizeClasses - 1) return UINT64_MAX;
  const unsigned p = 3 + (c - 1) / 4;
  const unsigned k = (c - 1) % 4;
  return (std::uint64_t{1} << p) + (std::uint64_t{k + 1} << (p - 2));
}

/// Smallest size in class `c` (inclusive).
constexpr std::uint64_t size_class_lower(unsigned c) noexcept {
  return c == 0 ? 0 : size_class_upper(c - 1) + 1;
}

/// The classes of 0..kSmallClassSizes - 1 bytes, one byte each (1 KiB, read by every thread):
/// sampled mode's hooks look a size up here, in one load, instead of computing its class.
inline constexpr std::size_t kSmallClassSizes = 1025;
inline constexpr std::array<std::uint8_t, kSmallClassSizes> kSmallClass = [] {
  std::array<std::uint8_t, kSmallClassSizes> t{};
  for (std::size_t n = 0; n < kSmallClassSizes; ++n) t[n] = static_cast<std::uint8_t>(size_class_of(n));
  return t;
}();
/// size_class_of(n), by kSmallClass for the small sizes.
inline unsigned size_class_fast(std::uint64_t n) noexcept {
  return n < kSmallClassSizes ? kSmallClass[n] : size_class_of(n);
}

static_assert(size_class_of(8) == 0 && size_class_of(9) == 1 && size_class_of(10) == 1);
static_assert(kSmallClass[1024] == size_class_of(1024) && kSmallClass[17] == 5);
static_assert(size_class_of(16) == 4 && size_class_of(17) == 5);
static_assert(size_class_of(kLargestClassedSize) == kNumSizeClasses - 2);
static_assert(size_class_upper(kNumSizeClasses - 2) == kLargestClassedSize);

}  // namespace fragscope::core
