// FRAGSCOPE_TRIM with recording off (FRAGSCOPE_ENABLE=0): the trim remedy alone (trim_only.cpp).
#pragma once

#include <atomic>

namespace fragscope::shim {

/// True until the trim thread is started; the pass-through malloc checks it.
extern std::atomic<bool> g_trim_only_pending;

/// From ensure_init, with recording off and FRAGSCOPE_TRIM set: arms the lazy start.
void trim_only_init() noexcept;

/// From a pass-through malloc of the host's (guard not held) while g_trim_only_pending: every
/// 16th call looks at the clock, and once 100 ms (or an interval) have passed, starts the thread.
void trim_only_pending_work() noexcept;

}  // namespace fragscope::shim
