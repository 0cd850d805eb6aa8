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

namespace detail {
// The class of every multiple of 8 up to kMaxPooledSize: kClassOf8[i] is the smallest class of
// at least 8·i bytes. Every class size is a multiple of 8, so rounding a request up to one
// loses nothing; a table load is cheaper than the arithmetic above 128 bytes.
constexpr std::array<std::uint8_t, kMaxPooledSize / 8 + 1> make_class_of8() {
  std::array<std::uint8_t, kMaxPooledSize / 8 + 1> table{};
  std::size_t c = 0;
  for (std::size_t i = 0; i < table.size(); ++i) {
    while (kClassSizes[c] < 8 * i) ++c;
    table[i] = static_cast<std::uint8_t>(c);
  }
  return table;
}
inline constexpr std::array<std::uint8_t, kMaxPooledSize / 8 + 1> kClassOf8 = make_class_of8();
}  // namespace detail

// The smallest class holding `bytes` with a slot size that is a multiple of `alignment` (a
// power of two), or kNoClass when none does (larger than 4096 bytes, or alignment > 4096).
constexpr std::uint32_t size_class_of(std::size_t bytes, std::size_t alignment) noexcept {
  if (bytes > kMaxPooledSize || alignment > kMaxPooledSize) [[unlikely]] return kNoClass;
  std::uint32_t c = detail::kClassOf8[(bytes + 7) / 8];
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
