// The HTML report's flame graph: the sampled call sites of a snapshot as an icicle (the program's
// outermost frame on top, down to where it asked for memory; the allocator's and the wrappers'
// frames folded as in the text report), by live bytes or by pinned bytes, with zoom on click and
// a search box. Self-contained: the tree as inline JSON and a small inline script, no fetch.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "sites.hpp"

namespace fragscope::report {

/// The call tree: {"n": name, "l": live bytes, "p": pinned bytes, "c": [children]}, the root
/// named "all"; sites the snapshot does not list are one child, "[other call sites]".
nlohmann::json flame_tree(const nlohmann::json& snapshot, const std::vector<NamedSite>& sites);

/// The flame graph's HTML section (empty when no site holds live or pinned bytes).
std::string flame_graph_html(const nlohmann::json& snapshot, const std::vector<NamedSite>& sites);

}  // namespace fragscope::report
