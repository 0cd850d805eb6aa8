/* The bridge between fragscope::pools and libfragscope.so (the preloaded shim): pools register
 * themselves so that the shim's snapshots show their counters. The pools reference these
 * functions as weak symbols: without the shim they are null and a pool never calls them, so the
 * bridge costs one compare when a pool is built. C, so that both sides agree on the layout
 * whatever their compilers and flags. */
#ifndef FRAGSCOPE_POOLS_BRIDGE_H
#define FRAGSCOPE_POOLS_BRIDGE_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define FRAGSCOPE_POOL_BRIDGE_VERSION 1

struct fragscope_pool_report {
  const char* name; /* the pool's name, or NULL */
  size_t slot_size, stride, chunk_size;
  size_t live, peak, chunks;
};

/* Fills *out for `pool`. Called by the shim's reporter thread while the pool may be in use by
 * its own threads: it must only read counters that are safe to read concurrently (atomics). */
typedef void (*fragscope_pool_report_fn)(const void* pool, struct fragscope_pool_report* out);

/* Registers a pool until fragscope_pool_unregister. Returns 0 when registered, -1 when the shim
 * keeps no more pools (the pool then just goes unreported). Thread-safe. */
int fragscope_pool_register(unsigned version, const void* pool, fragscope_pool_report_fn report)
    __attribute__((weak));
/* Forgets a pool; on return the shim no longer calls its report function. Thread-safe. */
void fragscope_pool_unregister(const void* pool) __attribute__((weak));

#ifdef __cplusplus
}
#endif

#endif
