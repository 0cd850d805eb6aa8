// Internal: reporting a fault to the installed handler.
#pragma once

#include "fragscope/pools/options.hpp"

namespace fragscope::pools::detail {
// Calls the installed ErrorHandler (which may abort, or return to let the pool ignore the call).
void report_error(PoolError error, const void* pointer, const char* pool_name) noexcept;
}  // namespace fragscope::pools::detail
