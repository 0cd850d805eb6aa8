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

}  // namespace fragscope::shim
