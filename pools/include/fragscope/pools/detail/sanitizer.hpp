// Address- and Valgrind-annotations for pool slots. With neither tool present every function is
// an empty inline; under ASan freed slots are poisoned so that a use after free is reported at
// the faulty access.
#pragma once

#include <cstddef>

#if defined(__SANITIZE_ADDRESS__)
#define FRAGSCOPE_POOLS_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FRAGSCOPE_POOLS_ASAN 1
#endif
#endif

#ifdef FRAGSCOPE_POOLS_ASAN
#include <sanitizer/asan_interface.h>
#endif

namespace fragscope::pools::detail {

inline void asan_poison(void* p, std::size_t n) noexcept {
#ifdef FRAGSCOPE_POOLS_ASAN
  ASAN_POISON_MEMORY_REGION(p, n);
#else
  (void)p, (void)n;
#endif
}
inline void asan_unpoison(void* p, std::size_t n) noexcept {
#ifdef FRAGSCOPE_POOLS_ASAN
  ASAN_UNPOISON_MEMORY_REGION(p, n);
#else
  (void)p, (void)n;
#endif
}

}  // namespace fragscope::pools::detail
