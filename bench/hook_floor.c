/* hook_floor.c: what any malloc hook costs before it records anything. A preload whose malloc
 * and free run FRAGSCOPE_PAD independent register additions and then call glibc's own
 * __libc_malloc / __libc_free: no memory access, no lock, no branch but the loop's. Built for
 * PAD = 0, 64, 128 and 256 (libhook_floor_<PAD>.so); bench/README.md, "What a hook may cost",
 * runs wl_churn under each. */
#include <stddef.h>

#ifndef FRAGSCOPE_PAD
#define FRAGSCOPE_PAD 0
#endif

extern void* __libc_malloc(size_t);
extern void __libc_free(void*);

static inline void pad(void) {
  unsigned long a = 0, b = 0, c = 0, d = 0;
  for (int i = 0; i < FRAGSCOPE_PAD / 4; i++)
    __asm__ volatile("add $1, %0\n\tadd $1, %1\n\tadd $1, %2\n\tadd $1, %3" : "+r"(a), "+r"(b), "+r"(c), "+r"(d));
  __asm__ volatile("" ::"r"(a), "r"(b), "r"(c), "r"(d));
}

__attribute__((visibility("default"))) void* malloc(size_t n) {
  pad();
  return __libc_malloc(n);
}
__attribute__((visibility("default"))) void free(void* p) {
  pad();
  __libc_free(p);
}
