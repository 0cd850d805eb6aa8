// The pools of the process in the snapshot: the application's fragscope::pools, registered
// through the weak-symbol bridge (pools/include/fragscope/pools/bridge.h), and the pools of the
// preload remediation (FRAGSCOPE_POOL_SIZES).
#pragma once

#include "snapshot.hpp"

namespace fragscope::shim {

/// Appends `,"pools":[...]` and `,"pool_remedy":[...]` when there is anything to show.
void encode_pool_sections(core::TextBuffer& out) noexcept;

/// fork: the registry lock (taken first in prepare).
void pool_registry_lock() noexcept;
void pool_registry_unlock() noexcept;

}  // namespace fragscope::shim
