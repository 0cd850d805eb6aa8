// Real-function lookup and the bootstrap buffer (see forward.hpp).
#include "forward.hpp"

#include <dlfcn.h>

#include <atomic>
#include <cerrno>
#include <cstring>

namespace fragscope::shim {

RealFunctions g_real;
CxxFunctions g_cxx;
const char* const kCxxNames[kCxxFns] = {
    "_Znwm", "_Znam", "_ZnwmRKSt9nothrow_t", "_ZnamRKSt9nothrow_t",
    "_ZnwmSt11align_val_t", "_ZnamSt11align_val_t", "_ZnwmSt11align_val_tRKSt9nothrow_t",
    "_ZnamSt11align_val_tRKSt9nothrow_t",
    "_ZdlPv", "_ZdaPv", "_ZdlPvRKSt9nothrow_t", "_ZdaPvRKSt9nothrow_t",
    "_ZdlPvm", "_ZdaPvm",
    "_ZdlPvSt11align_val_t", "_ZdaPvSt11align_val_t", "_ZdlPvSt11align_val_tRKSt9nothrow_t",
    "_ZdaPvSt11align_val_tRKSt9nothrow_t",
    "_ZdlPvmSt11align_val_t", "_ZdaPvmSt11align_val_t"};
alignas(64) char g_boot[kBootstrapBytes];
std::atomic<UsableMode> g_usable_mode{UsableMode::kCall};

namespace {
std::atomic<std::size_t> g_boot_used{0};
std::atomic<unsigned> g_usable_agreed{0};

bool from_library(void* fn, const char* prefix) {
  Dl_info info{};
  if (fn == nullptr || dladdr(fn, &info) == 0 || info.dli_fname == nullptr) return false;
  const char* base = std::strrchr(info.dli_fname, '/');
  base = base ? base + 1 : info.dli_fname;
  return std::strncmp(base, prefix, std::strlen(prefix)) == 0;
}
bool from_libc(void* fn) { return from_library(fn, "libc.so"); }

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
  CxxFunctions c;
  for (unsigned i = 0; i < kCxxFns; ++i) {
    c.next[i] = dlsym(RTLD_NEXT, kCxxNames[i]);
    // libstdc++'s operators call malloc and free (recorded there); anything else is an
    // allocator's own, which only the hook can see.
    c.record[i] = c.next[i] != nullptr && !from_library(c.next[i], "libstdc++.so");
    c.any_record = c.any_record || c.record[i];
  }
  c.throw_bad_alloc = reinterpret_cast<void (*)()>(dlsym(RTLD_DEFAULT, "_ZSt17__throw_bad_allocv"));
  g_cxx = c;
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

void select_usable_mode() noexcept {
  const RealFunctions& r = g_real;
  const bool glibc = from_libc(reinterpret_cast<void*>(r.malloc)) && from_libc(reinterpret_cast<void*>(r.free)) &&
                     from_libc(reinterpret_cast<void*>(r.malloc_usable_size));
  g_usable_agreed.store(0, std::memory_order_relaxed);
  g_usable_mode.store(glibc ? UsableMode::kChecking : UsableMode::kCall, std::memory_order_relaxed);
}

std::size_t real_usable_slow(void* p) noexcept {
  const std::size_t n = g_real.malloc_usable_size(p);
  if (g_usable_mode.load(std::memory_order_relaxed) == UsableMode::kChecking) {
    UsableMode expected = UsableMode::kChecking;
    if (glibc_usable(p) != n)
      g_usable_mode.compare_exchange_strong(expected, UsableMode::kCall, std::memory_order_relaxed);
    else if (g_usable_agreed.fetch_add(1, std::memory_order_relaxed) + 1 >= kUsableChecks)
      g_usable_mode.compare_exchange_strong(expected, UsableMode::kInline, std::memory_order_relaxed);
  }
  return n;
}

std::size_t bootstrap_size(const void* p) noexcept {
  std::size_t n;
  std::memcpy(&n, static_cast<const char*>(p) - sizeof(std::size_t), sizeof(n));
  return n;
}

}  // namespace fragscope::shim
