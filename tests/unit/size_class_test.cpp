// Size classes: every size maps to the class whose bounds contain it; 4 classes per power of two.
#include <gtest/gtest.h>

#include "size_class.hpp"

using namespace fragscope::core;

TEST(SizeClass, BoundsContainEverySize) {
  for (std::uint64_t n = 0; n <= 70000; ++n) {
    unsigned c = size_class_of(n);
    ASSERT_LT(c, kNumSizeClasses);
    ASSERT_LE(size_class_lower(c), n) << n;
    ASSERT_LE(n, size_class_upper(c)) << n;
  }
}

TEST(SizeClass, ClassesAreContiguousAndFourPerPowerOfTwo) {
  for (unsigned c = 1; c + 1 < kNumSizeClasses; ++c) EXPECT_EQ(size_class_lower(c), size_class_upper(c - 1) + 1);
  EXPECT_EQ(size_class_of(57), size_class_of(64));  // (56, 64] is one class
  EXPECT_NE(size_class_of(56), size_class_of(57));
  EXPECT_EQ(size_class_of(1024) - size_class_of(512), 4u);
}

TEST(SizeClass, ExtremesLandInFirstAndLastClass) {
  EXPECT_EQ(size_class_of(0), 0u);
  EXPECT_EQ(size_class_of(8), 0u);
  EXPECT_EQ(size_class_of((1ull << 30) + 1), kNumSizeClasses - 1);
  EXPECT_EQ(size_class_of(UINT64_MAX), kNumSizeClasses - 1);
  EXPECT_EQ(size_class_upper(kNumSizeClasses - 2), 1ull << 30);
}

// Sampled mode's hooks take a small size's class from a table: it must be the computed one.
TEST(SizeClass, TheTableAgreesWithTheComputedClass) {
  for (std::uint64_t n = 0; n < 4096; ++n) ASSERT_EQ(size_class_fast(n), size_class_of(n)) << n;
  for (std::uint64_t n : {std::uint64_t{1} << 20, (std::uint64_t{1} << 30) + 1, ~std::uint64_t{0}})
    EXPECT_EQ(size_class_fast(n), size_class_of(n)) << n;
}
