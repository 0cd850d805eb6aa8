// The allocator's own view, beside ours: which allocator is underneath the shim (the library
// that defines the malloc we forward to) and what it says about itself — glibc's mallinfo2,
// jemalloc's stats.* and per-bin utilisation, tcmalloc's numeric properties. Reporter thread
// only: these calls take the allocator's locks, which a hook must never do.
#pragma once

#include "prometheus.hpp"
#include "snapshot.hpp"

namespace fragscope::shim {

/// Appends `,"allocator":{...}` to `out`, and fills `fig` with the same figures for Prometheus.
void encode_allocator_view(core::TextBuffer& out, core::AllocatorFigures& fig) noexcept;

/// The allocator's own call that gives its free pages back to the kernel (FRAGSCOPE_TRIM), as
/// text for the snapshot: glibc "malloc_trim(0)"; jemalloc "mallctl(arena.4096.purge)" (4096 =
/// MALLCTL_ARENAS_ALL in jemalloc 5.3's jemalloc.h: every arena); tcmalloc
/// "MallocExtension_ReleaseFreeMemory()"; mimalloc "mi_collect(true)" — which collects the
/// calling thread's heap only, ours, which is empty (mimalloc 2.0.9 has no call that collects
/// another thread's heap, and releases its segment and OS caches only when the main thread calls
/// it): on tests/e2e/trim's program it returned nothing of 74 MB of empty pages, which mimalloc
/// gives back itself after its reset delay (MIMALLOC_RESET_DELAY=0: RSS 91 -> 37 MB).
/// nullptr when the allocator underneath has none we know, or it cannot be found.
const char* allocator_trim_call() noexcept;
/// Makes that call. Requires allocator_trim_call() != nullptr. Reporter thread only (it takes
/// the allocator's locks; from our thread the allocations it makes, if any, come from our heap).
void allocator_trim() noexcept;

}  // namespace fragscope::shim
