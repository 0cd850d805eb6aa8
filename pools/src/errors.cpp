// The fault handler every pool reports to.
#include <atomic>
#include <cstdio>
#include <cstdlib>

#include "fragscope/pools/detail/errors.hpp"
#include "fragscope/pools/options.hpp"

namespace fragscope::pools {
namespace {

void default_handler(PoolError error, const void* pointer, const char* pool_name) {
  std::fprintf(stderr, "fragscope pools: %s of %p in pool '%s'; aborting\n", to_string(error), pointer,
               pool_name != nullptr ? pool_name : "(unnamed)");
  std::abort();
}

std::atomic<ErrorHandler> g_handler{&default_handler};

}  // namespace

const char* to_string(PoolError error) noexcept {
  switch (error) {
    case PoolError::double_free: return "double free";
    case PoolError::foreign_pointer: return "foreign pointer";
    case PoolError::write_after_free: return "write after free";
    case PoolError::live_at_destroy: return "live objects at destruction";
  }
  return "unknown error";
}

ErrorHandler set_error_handler(ErrorHandler handler) noexcept {
  return g_handler.exchange(handler != nullptr ? handler : &default_handler);
}

namespace detail {
void report_error(PoolError error, const void* pointer, const char* pool_name) noexcept {
  g_handler.load()(error, pointer, pool_name);
}
}  // namespace detail

}  // namespace fragscope::pools
