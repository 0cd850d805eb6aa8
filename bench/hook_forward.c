/* hook_forward.c: the floor under any preloaded malloc hook over ANY allocator. A preload whose
 * malloc and free only call the next definition (dlsym(RTLD_NEXT), resolved once), as every
 * interposing shim must when the allocator is not glibc (hook_floor.c calls glibc's __libc_*
 * directly, so it says nothing about jemalloc underneath). bench/README.md, "The floor over
 * jemalloc", runs wl_churn under it, the shim's sampled mode and nothing. Before the pointers
 * are resolved (dlsym may allocate), allocations come from a small static buffer. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stddef.h>
#include <stdint.h>

static void* (*next_malloc)(size_t);
static void (*next_free)(void*);
static _Alignas(16) unsigned char boot[1 << 16];
static size_t boot_used;

static void resolve(void) {
  static int busy;
  if (busy) return;
  busy = 1;
  next_malloc = (void* (*)(size_t))dlsym(RTLD_NEXT, "malloc");
  next_free = (void (*)(void*))dlsym(RTLD_NEXT, "free");
  busy = 0;
}

__attribute__((visibility("default"))) void* malloc(size_t n) {
  if (__builtin_expect(next_malloc == NULL, 0)) {
    resolve();
    if (next_malloc == NULL) {
      size_t at = (boot_used + 15) & ~(size_t)15;
      if (n > sizeof boot - at) return NULL;
      boot_used = at + n;
      return boot + at;
    }
  }
  return next_malloc(n);
}

__attribute__((visibility("default"))) void free(void* p) {
  if ((unsigned char*)p >= boot && (unsigned char*)p < boot + sizeof boot) return;
  if (__builtin_expect(next_free == NULL, 0)) resolve();
  if (next_free != NULL) next_free(p);
}
