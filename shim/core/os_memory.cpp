// Raw anonymous mappings for fragscope's own memory (see os_memory.hpp).
#include "os_memory.hpp"

#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#ifndef PR_SET_VMA
#define PR_SET_VMA 0x53564d41
#endif
#ifndef PR_SET_VMA_ANON_NAME
#define PR_SET_VMA_ANON_NAME 0
#endif

namespace fragscope::core {
namespace {
std::atomic<std::size_t> g_mapped{0};
std::atomic<std::size_t> g_page{0};

std::size_t round_up(std::size_t n, std::size_t to) { return (n + to - 1) & ~(to - 1); }
}  // namespace

std::size_t page_size() noexcept {
  std::size_t p = g_page.load(std::memory_order_relaxed);
  if (p == 0) {
    long r = sysconf(_SC_PAGESIZE);
    p = r > 0 ? static_cast<std::size_t>(r) : 4096;
    g_page.store(p, std::memory_order_relaxed);
  }
  return p;
}

namespace {
// Maps `bytes` (whole pages) named "fragscope:<tag>", or nullptr; errno is kept.
void* map_named(std::size_t bytes, int prot, int flags, const char* tag) noexcept {
  int saved = errno;
  // A raw syscall: the libc mmap symbol is our own hook when we are preloaded.
  long r = syscall(SYS_mmap, nullptr, bytes, prot, MAP_PRIVATE | MAP_ANONYMOUS | flags, -1, 0);
  void* p = reinterpret_cast<void*>(r);
  if (r == -1 || p == MAP_FAILED) {
    errno = saved;
    return nullptr;
  }
  char name[64] = "fragscope:";
  std::strncat(name, tag, sizeof(name) - std::strlen(name) - 1);
  // Kernels without CONFIG_ANON_VMA_NAME refuse this; the mapping is then only unnamed.
  syscall(SYS_prctl, PR_SET_VMA, PR_SET_VMA_ANON_NAME, p, bytes, name);
  errno = saved;
  return p;
}
}  // namespace

void* os_map(std::size_t bytes, const char* tag) noexcept {
  bytes = round_up(bytes, page_size());
  void* p = map_named(bytes, PROT_READ | PROT_WRITE, 0, tag);
  if (p != nullptr) g_mapped.fetch_add(bytes, std::memory_order_relaxed);
  return p;
}

void* os_reserve(std::size_t bytes, const char* tag) noexcept {
  return map_named(round_up(bytes, page_size()), PROT_NONE, MAP_NORESERVE, tag);
}

void os_unmap(void* p, std::size_t bytes) noexcept {
  if (p == nullptr) return;
  int saved = errno;
  bytes = round_up(bytes, page_size());
  if (syscall(SYS_munmap, p, bytes) == 0) g_mapped.fetch_sub(bytes, std::memory_order_relaxed);
  errno = saved;
}

std::size_t os_mapped_bytes() noexcept { return g_mapped.load(std::memory_order_relaxed); }

void* Arena::allocate(std::size_t bytes, std::size_t align) noexcept {
  constexpr std::size_t kChunk = 1u << 20;
  while (lock_.exchange(true, std::memory_order_acquire)) {
  }
  auto p = reinterpret_cast<std::uintptr_t>(cur_);
  p = (p + align - 1) & ~(align - 1);
  if (cur_ == nullptr || p + bytes > reinterpret_cast<std::uintptr_t>(end_)) {
    std::size_t chunk = bytes + align > kChunk ? round_up(bytes + align, page_size()) : kChunk;
    char* c = static_cast<char*>(os_map(chunk, tag_));
    if (c == nullptr) {
      lock_.store(false, std::memory_order_release);
      return nullptr;
    }
    cur_ = c;
    end_ = c + chunk;
    p = (reinterpret_cast<std::uintptr_t>(cur_) + align - 1) & ~(align - 1);
  }
  cur_ = reinterpret_cast<char*>(p + bytes);
  lock_.store(false, std::memory_order_release);
  return reinterpret_cast<void*>(p);
}

}  // namespace fragscope::core
