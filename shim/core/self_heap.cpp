// fragscope's private heap (see self_heap.hpp).
#include "self_heap.hpp"

#include <errno.h>
#include <sys/mman.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cstring>

#include "os_memory.hpp"
#include "spinlock.hpp"

namespace fragscope::core {

SelfRange g_self;

namespace {

constexpr unsigned kClasses = 9;                  // 16, 32, ..., 4096 bytes
constexpr std::size_t kMaxSmall = std::size_t{16} << (kClasses - 1);
constexpr std::uintptr_t kRun = 64 * 1024;        // a run: slots of one class, aligned to kRun
constexpr std::uintptr_t kPerClass = 64u << 20;   // address space per class
constexpr std::uint32_t kRunsPerClass = kPerClass / kRun;
constexpr std::uintptr_t kSpans = std::uintptr_t{1} << 30;  // address space for larger blocks
constexpr std::uintptr_t kSpan = kPerClass * kClasses + kSpans;
constexpr std::size_t kHeader = 16;               // before a span's block: its span's start and bytes
constexpr std::size_t kMaxFreeSpans = 256;

// Invariant per run: live + |free| + (kRun − bump) / size == kRun / size, for a run that has
// been used (bump > 0); a run given back has bump == 0, free == nullptr, live == 0.
struct Run {
  void* free = nullptr;     // freed slots, linked through their first word
  std::uint32_t bump = 0;   // bytes from the run's start handed out at least once
  std::uint32_t live = 0;
  std::int32_t next = -1;   // in the class's stack of runs with room
  bool queued = false;      // on that stack
};

struct SizeClass {
  SpinLock lock;
  std::int32_t current = -1;  // the run allocations come from. GUARDED_BY lock (and all below)
  std::int32_t room = -1;     // stack of other runs with free slots (or given back)
  std::uint32_t fresh = 0;    // runs ever made accessible: [0, fresh)
  Run runs[kRunsPerClass];
};
SizeClass g_classes[kClasses];

struct FreeSpan {
  std::uintptr_t start, bytes;
};
SpinLock g_span_lock;
FreeSpan g_free_spans[kMaxFreeSpans];  // sorted by start, never adjacent. GUARDED_BY g_span_lock
std::size_t g_nfree_spans = 0;         // GUARDED_BY g_span_lock
std::uintptr_t g_span_top = 0;         // bytes of the span area handed out from its start. GUARDED_BY g_span_lock
std::atomic<std::size_t> g_in_use{0};   // self_heap_bytes()

std::uintptr_t class_base(unsigned c) noexcept { return g_self.base + c * kPerClass; }
std::uintptr_t run_addr(unsigned c, std::int32_t r) noexcept { return class_base(c) + static_cast<std::uintptr_t>(r) * kRun; }
std::uintptr_t spans_base() noexcept { return g_self.base + kPerClass * kClasses; }

unsigned class_of(std::size_t n) noexcept {  // n ≤ kMaxSmall
  return n <= 16 ? 0 : static_cast<unsigned>(std::bit_width(n - 1)) - 4;
}

void* alloc_small(unsigned c) noexcept {
  SizeClass& k = g_classes[c];
  const std::uint32_t size = 16u << c;
  LockGuard lock(k.lock);
  for (;;) {
    if (k.current >= 0) {
      Run& r = k.runs[k.current];
      if (r.free != nullptr) {
        void* p = r.free;
        r.free = *static_cast<void**>(p);
        ++r.live;
        return p;
      }
      if (r.bump + size <= kRun) {
        void* p = reinterpret_cast<void*>(run_addr(c, k.current) + r.bump);
        r.bump += size;
        ++r.live;
        return p;
      }
      k.current = -1;  // full: queued again when one of its slots is freed
    }
    if (k.room >= 0) {
      const std::int32_t i = k.room;
      k.room = k.runs[i].next;
      k.runs[i].queued = false;
      k.current = i;
      if (k.runs[i].bump == 0) g_in_use.fetch_add(kRun, std::memory_order_relaxed);  // it was given back
      continue;
    }
    if (k.fresh == kRunsPerClass ||
        mprotect(reinterpret_cast<void*>(run_addr(c, static_cast<std::int32_t>(k.fresh))), kRun, PROT_READ | PROT_WRITE) != 0)
      return nullptr;
    k.current = static_cast<std::int32_t>(k.fresh++);
    g_in_use.fetch_add(kRun, std::memory_order_relaxed);
  }
}

void free_small(void* p) noexcept {
  const std::uintptr_t off = reinterpret_cast<std::uintptr_t>(p) - g_self.base;
  const auto c = static_cast<unsigned>(off / kPerClass);
  const auto i = static_cast<std::int32_t>(off % kPerClass / kRun);
  SizeClass& k = g_classes[c];
  LockGuard lock(k.lock);
  Run& r = k.runs[i];
  *static_cast<void**>(p) = r.free;
  r.free = p;
  --r.live;
  if (i == k.current) return;  // the current run keeps its pages even when empty
  if (r.live == 0) {
    // Empty: its pages go back to the kernel (they read as zero when it is used again).
    madvise(reinterpret_cast<void*>(run_addr(c, i)), kRun, MADV_DONTNEED);
    r.free = nullptr;
    r.bump = 0;
    g_in_use.fetch_sub(kRun, std::memory_order_relaxed);
  }
  if (!r.queued) {
    r.queued = true;
    r.next = k.room;
    k.room = i;
  }
}

// Requires g_span_lock. Takes `bytes` from the first free span that holds them, or from the top.
std::uintptr_t take_span(std::uintptr_t bytes) noexcept {
  for (std::size_t i = 0; i < g_nfree_spans; ++i) {
    FreeSpan& s = g_free_spans[i];
    if (s.bytes < bytes) continue;
    const std::uintptr_t start = s.start;
    s.start += bytes;
    s.bytes -= bytes;
    if (s.bytes == 0) {
      std::memmove(&g_free_spans[i], &g_free_spans[i + 1], (g_nfree_spans - i - 1) * sizeof(FreeSpan));
      --g_nfree_spans;
    }
    return start;
  }
  if (bytes > kSpans - g_span_top) return 0;
  const std::uintptr_t start = spans_base() + g_span_top;
  g_span_top += bytes;
  return start;
}

// Requires g_span_lock. Gives a span back: merged with its neighbours, or lowering the top.
void give_span(std::uintptr_t start, std::uintptr_t bytes) noexcept {
  std::size_t i = 0;
  while (i < g_nfree_spans && g_free_spans[i].start < start) ++i;
  if (i > 0 && g_free_spans[i - 1].start + g_free_spans[i - 1].bytes == start) {
    --i;
    start = g_free_spans[i].start;
    bytes += g_free_spans[i].bytes;
    std::memmove(&g_free_spans[i], &g_free_spans[i + 1], (g_nfree_spans - i - 1) * sizeof(FreeSpan));
    --g_nfree_spans;
  }
  if (i < g_nfree_spans && start + bytes == g_free_spans[i].start) {
    bytes += g_free_spans[i].bytes;
    std::memmove(&g_free_spans[i], &g_free_spans[i + 1], (g_nfree_spans - i - 1) * sizeof(FreeSpan));
    --g_nfree_spans;
  }
  if (start + bytes == spans_base() + g_span_top) {
    g_span_top = start - spans_base();
    return;
  }
  if (g_nfree_spans == kMaxFreeSpans) return;  // its address space is lost; its memory is not
  std::memmove(&g_free_spans[i + 1], &g_free_spans[i], (g_nfree_spans - i) * sizeof(FreeSpan));
  g_free_spans[i] = FreeSpan{start, bytes};
  ++g_nfree_spans;
}

// A block of n bytes aligned to `align` (a power of two ≥ 16) in a span of its own.
void* alloc_span(std::size_t n, std::size_t align) noexcept {
  if (n > kSpans || align > kSpans) return nullptr;
  const std::size_t page = page_size();
  // The block starts at most align + kHeader - 1 bytes into its span.
  const std::uintptr_t bytes = (n + align + kHeader + page - 1) & ~(page - 1);
  std::uintptr_t start;
  {
    LockGuard lock(g_span_lock);
    start = take_span(bytes);
    if (start == 0) return nullptr;
    if (mprotect(reinterpret_cast<void*>(start), bytes, PROT_READ | PROT_WRITE) != 0) {
      give_span(start, bytes);
      return nullptr;
    }
  }
  g_in_use.fetch_add(bytes, std::memory_order_relaxed);
  const std::uintptr_t p = (start + kHeader + align - 1) & ~(std::uintptr_t{align} - 1);
  auto* header = reinterpret_cast<std::uintptr_t*>(p - kHeader);
  header[0] = start;
  header[1] = bytes;
  return reinterpret_cast<void*>(p);
}

void free_span(void* p) noexcept {
  const auto* header = reinterpret_cast<const std::uintptr_t*>(static_cast<char*>(p) - kHeader);
  const std::uintptr_t start = header[0], bytes = header[1];
  // Back to reserved address space: no memory, and a late access faults.
  madvise(reinterpret_cast<void*>(start), bytes, MADV_DONTNEED);
  mprotect(reinterpret_cast<void*>(start), bytes, PROT_NONE);
  g_in_use.fetch_sub(bytes, std::memory_order_relaxed);
  LockGuard lock(g_span_lock);
  give_span(start, bytes);
}

bool is_span(const void* p) noexcept { return reinterpret_cast<std::uintptr_t>(p) >= spans_base(); }

// errno as the caller left it, unless we fail: then ENOMEM.
void* finish(void* p, int saved) noexcept {
  errno = p != nullptr ? saved : ENOMEM;
  return p;
}

}  // namespace

bool self_heap_init() noexcept {
  if (g_self.base != 0) return true;
  void* raw = os_reserve(kSpan + kRun, "self");
  if (raw == nullptr) return false;
  g_self.span = kSpan;
  g_self.base = (reinterpret_cast<std::uintptr_t>(raw) + kRun - 1) & ~(kRun - 1);  // runs aligned to kRun
  return true;
}

void* self_malloc(std::size_t n) noexcept {
  const int saved = errno;
  return finish(n <= kMaxSmall ? alloc_small(class_of(n)) : alloc_span(n, 16), saved);
}

void* self_calloc(std::size_t n, std::size_t m) noexcept {
  std::size_t total;
  if (__builtin_mul_overflow(n, m, &total)) {
    errno = ENOMEM;
    return nullptr;
  }
  void* p = self_malloc(total);
  if (p != nullptr) std::memset(p, 0, total);  // a reused slot is not zero
  return p;
}

void* self_aligned(std::size_t align, std::size_t n) noexcept {
  if (align <= 16) return self_malloc(n);
  if (!std::has_single_bit(align)) {
    if (align > kSpans) {
      errno = ENOMEM;
      return nullptr;
    }
    align = std::bit_ceil(align);  // as glibc's memalign does
  }
  const int saved = errno;
  // A slot of a class is aligned to its size (runs are aligned to kRun, slots follow each other).
  const std::size_t size = std::max(n, align);
  return finish(size <= kMaxSmall ? alloc_small(class_of(size)) : alloc_span(n, align), saved);
}

void self_free(void* p) noexcept {
  const int saved = errno;
  if (is_span(p)) free_span(p);
  else free_small(p);
  errno = saved;
}

std::size_t self_usable(const void* p) noexcept {
  if (!is_span(p)) return std::size_t{16} << ((reinterpret_cast<std::uintptr_t>(p) - g_self.base) / kPerClass);
  const auto* header = reinterpret_cast<const std::uintptr_t*>(static_cast<const char*>(p) - kHeader);
  return header[0] + header[1] - reinterpret_cast<std::uintptr_t>(p);
}

void* self_realloc(void* p, std::size_t n) noexcept {
  if (p == nullptr) return self_malloc(n);
  if (n == 0) {  // glibc: frees p, returns nullptr
    self_free(p);
    return nullptr;
  }
  const std::size_t old = self_usable(p);
  if (n <= old) return p;
  void* q = self_malloc(n);
  if (q == nullptr) return nullptr;  // p untouched, as realloc leaves it
  std::memcpy(q, p, old);
  self_free(p);
  return q;
}

std::size_t self_heap_bytes() noexcept { return g_in_use.load(std::memory_order_relaxed); }

void self_heap_lock_all() noexcept {
  for (SizeClass& k : g_classes) k.lock.lock();
  g_span_lock.lock();
}

void self_heap_unlock_all() noexcept {
  g_span_lock.unlock();
  for (unsigned c = kClasses; c-- > 0;) g_classes[c].lock.unlock();
}

}  // namespace fragscope::core
