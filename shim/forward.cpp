// Real-function lookup and the bootstrap buffer (see forward.hpp).
#include "forward.hpp"

#include <dlfcn.h>

#include <atomic>
#include <cerrno>
#include <cstring>

namespace fragscope::shim {

RealFunctions g_real;

namespace {
constexpr std::size_t kBootstrapBytes = 256 * 1024;
alignas(64) char g_boot[kBootstrapBytes];
std::atomic<std::size_t> g_boot_used{0};

template <class F>
void lookup(F& fn, const char* name) {
  fn = reinterpret_cast<F>(dlsym(RTLD_NEXT, name));
}
}  // namespace

bool resolve_real_functions() noexcept {
  RealFunctions r;
  lookup(r.malloc, "malloc");
  lookup(r.free, "free");
  lookup(r.calloc, "calloc");
  lookup(r.realloc, "realloc");
  lookup(r.reallocarray, "reallocarray");
  lookup(r.posix_memalign, "posix_memalign");
  lookup(r.aligned_alloc, "aligned_alloc");
  lookup(r.memalign, "memalign");
  lookup(r.valloc, "valloc");
  lookup(r.pvalloc, "pvalloc");
  lookup(r.malloc_usable_size, "malloc_usable_size");
  lookup(r.mmap, "mmap");
  lookup(r.munmap, "munmap");
  lookup(r.mremap, "mremap");
  g_real = r;
  return r.malloc && r.free && r.calloc && r.realloc && r.malloc_usable_size;
}

void* bootstrap_alloc(std::size_t n, std::size_t align) noexcept {
  if (align < 16) align = 16;
  if (n > kBootstrapBytes || (align & (align - 1)) != 0 || align > 4096) {
    errno = ENOMEM;
    return nullptr;
  }
  std::size_t used = g_boot_used.load(std::memory_order_relaxed);
  for (;;) {
    std::size_t start = (used + 16 + align - 1) & ~(align - 1);  // 16 bytes for the size header
    std::size_t end = start + ((n + 15) & ~std::size_t{15});
    if (end > kBootstrapBytes) {
      errno = ENOMEM;
      return nullptr;
    }
    if (g_boot_used.compare_exchange_weak(used, end, std::memory_order_relaxed)) {
      std::memcpy(g_boot + start - sizeof(std::size_t), &n, sizeof(n));
      return g_boot + start;  // zero: static storage never handed out twice
    }
  }
}

bool is_bootstrap(const void* p) noexcept {
  auto a = reinterpret_cast<std::uintptr_t>(p), b = reinterpret_cast<std::uintptr_t>(g_boot);
  return a >= b && a < b + kBootstrapBytes;
}

std::size_t bootstrap_size(const void* p) noexcept {
  std::size_t n;
  std::memcpy(&n, static_cast<const char*>(p) - sizeof(std::size_t), sizeof(n));
  return n;
}

}  // namespace fragscope::shim
