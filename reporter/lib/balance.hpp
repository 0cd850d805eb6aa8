// Consistency checks of a snapshot: the identities the shim's figures must satisfy, used by the
// end-to-end tests and by `fragscope check`.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace fragscope::report {

/// Returns the violated identities (empty when the snapshot balances):
///  - per size class and in total: allocs - frees == live_blocks, and
///    requested_allocated - requested_freed == live_requested;
///  - live_requested <= live_usable (in total and per class);
///  - the per-class figures add up to the totals.
std::vector<std::string> check_balance(const nlohmann::json& snapshot);

}  // namespace fragscope::report
