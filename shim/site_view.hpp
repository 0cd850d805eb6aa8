// The call sites in a snapshot: the sites holding the most live bytes, the ones with the most
// churn, and those of the blocks that pin heap segments; each frame as (module, offset) with
// the exported symbol dladdr knows (the CLI resolves the rest with the module's symbol table).
// Reporter thread only.
#pragma once

#include "heap_layout.hpp"
#include "snapshot.hpp"

namespace fragscope::shim {

/// Appends `,"sites":{...}`. `layout` may be nullptr; its top_pinned entries' addresses are
/// looked up to name their sites. `pinned` (indexed by site id, `npinned` ids) holds the pinned
/// bytes per site; a site id from `npinned` on (made after the analysis) has none.
void encode_sites(core::TextBuffer& out, const core::HeapLayout* layout, const double* pinned, std::size_t npinned) noexcept;

}  // namespace fragscope::shim
