// The exported hooks of libfragscope.so: the malloc family and the mmap family. Each hook asks
// enter() whether to record, calls the real function under the recursion guard, and hands the
// result to the recording unit of the process's mode (recording_modes.hpp): the hooks forward,
// the recording unit records. Nothing here changes what the host sees: same return values, same errno
// (our recording never sets errno; the rare paths that make syscalls restore it).
#include <errno.h>
#include <stdlib.h>
#include <stdarg.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "forward.hpp"
#include "recording_modes.hpp"
#include "remedy.hpp"
#include "runtime.hpp"
#include "self_heap.hpp"
#include "trim_only.hpp"

#define FRAGSCOPE_EXPORT extern "C" __attribute__((visibility("default")))

namespace fs = fragscope::shim;
namespace core = fragscope::core;
using core::Op;

namespace {

// The real allocator, or the pools of the preload remediation (FRAGSCOPE_POOL_SIZES) for the
// sizes they serve. With the remediation off, each costs one compare.
inline void* real_malloc(std::size_t n) noexcept {
  const int pool = fs::remedy_pool_for(n);
  return pool < 0 ? fs::g_real.malloc(n) : fs::remedy_alloc(pool);
}
inline void real_free(void* p) noexcept {
  if (fs::remedy_owns(p)) [[unlikely]] fs::remedy_free(p);
  else fs::g_real.free(p);
}
inline void* real_realloc(void* p, std::size_t n) noexcept {
  if (fs::remedy_owns(p) || fs::remedy_pool_for(n) >= 0) [[unlikely]] return fs::remedy_realloc(p, n);
  return fs::g_real.realloc(p, n);
}

// A thread of ours (tls.self) always holds the guard, so its calls all take the pass-through
// paths below: to our private heap (core/self_heap.hpp), when it could be reserved.
inline bool own_heap() noexcept { return fs::tls.self && core::self_ready(); }

// realloc of a block of our private heap (from any thread), or any realloc by a thread of ours.
void* own_realloc(void* p, std::size_t n) noexcept {
  if (p == nullptr || core::self_owns(p)) return core::self_realloc(p, n);
  // A block of the host's allocator, reallocated by a thread of ours (our code does not): it
  // moves into our heap.
  if (n == 0) {
    fs::g_real.free(p);
    return nullptr;
  }
  void* q = core::self_malloc(n);
  if (q != nullptr) {
    const std::size_t old = fs::g_real.malloc_usable_size(p);
    memcpy(q, p, old < n ? old : n);
    fs::g_real.free(p);
  }
  return q;
}

// Pass-through paths: guarded calls, calls before initialisation, or shim disabled.
bool real_ready() noexcept {
  if (fs::g_real.malloc != nullptr) return true;
  if (fs::tls.guard == 0) fs::ensure_init();
  return fs::g_real.malloc != nullptr;
}

// The application's calls (no guard held) keep the remediation when recording is off; our own
// allocations (under the guard) never come from its pools.
void* pass_malloc(std::size_t n) noexcept {
  if (own_heap()) [[unlikely]] return core::self_malloc(n);
  if (!real_ready()) return fs::bootstrap_alloc(n, 16);
  if (fs::tls.guard != 0) {
    fs::tls.probing = false;  // ensure_init's probe reached our malloc (runtime.cpp, probe_coverage)
    if (fs::inside_hook()) [[unlikely]] return core::self_malloc(n);  // a signal handler's
    return fs::g_real.malloc(n);
  }
  // Recording off with FRAGSCOPE_TRIM: the trim thread starts from a malloc (trim_only.hpp).
  if (fs::g_trim_only_pending.load(std::memory_order_relaxed)) [[unlikely]] fs::trim_only_pending_work();
  return real_malloc(n);
}

void* pass_calloc(std::size_t n, std::size_t m) noexcept {
  if (own_heap() || fs::inside_hook()) [[unlikely]] return core::self_calloc(n, m);
  if (real_ready()) {
    std::size_t total = 0;
    const int pool = fs::tls.guard != 0 || __builtin_mul_overflow(n, m, &total) ? -1 : fs::remedy_pool_for(total);
    if (pool < 0) [[likely]] return fs::g_real.calloc(n, m);
    void* p = fs::remedy_alloc(pool);
    if (p != nullptr) memset(p, 0, total);
    return p;
  }
  std::size_t total;
  if (__builtin_mul_overflow(n, m, &total)) {
    errno = ENOMEM;
    return nullptr;
  }
  return fs::bootstrap_alloc(total, 16);  // static storage: already zero
}

void* pass_aligned(void* (*real)(std::size_t, std::size_t), std::size_t al, std::size_t n) noexcept {
  if (own_heap() || fs::inside_hook()) [[unlikely]] return core::self_aligned(al, n);
  if (real_ready() && real != nullptr) return real(al, n);
  if (al == 0 || (al & (al - 1)) != 0) {
    errno = EINVAL;
    return nullptr;
  }
  return fs::bootstrap_alloc(n, al);
}

// realloc of a bootstrap block: move it into the real heap (through our malloc: it is recorded).
void* realloc_from_bootstrap(void* p, std::size_t n) noexcept;

// realloc and reallocarray share this: `real` performs the reallocation.
template <class Real>
void* realloc_common(Op op, void* p, std::uint64_t n, Real&& real) noexcept {
  core::ThreadStats* t = fs::enter();
  if (t == nullptr) [[unlikely]]
    return real();
  fs::HookGuard g;
  return fs::record_realloc(t, op, p, n, real);
}


}  // namespace

// malloc and free: sampled mode's short path (tls.fast) inline, everything else in these two,
// out of line, so that the short path saves only the registers it uses.
namespace {
[[gnu::noinline]] void* malloc_hooked(std::size_t n) noexcept {
  core::ThreadStats* t = fs::enter();
  if (t == nullptr) [[unlikely]]
    return pass_malloc(n);
  fs::HookGuard g;
  void* p = real_malloc(n);
  fs::record_result(t, Op::kMalloc, p, n);
  return p;
}

// p: not null, not ours.
[[gnu::noinline]] void free_hooked(void* p) noexcept {
  core::ThreadStats* t = fs::enter();
  if (t == nullptr) [[unlikely]] {
    if (real_ready()) real_free(p);
    return;
  }
  fs::HookGuard g;
  fs::record_free(t, p, Op::kFree);
  real_free(p);
  fs::after_record();
}
}  // namespace

FRAGSCOPE_EXPORT void* malloc(std::size_t n) {
  if (fs::tls.fast != nullptr && fs::tls.guard == 0) [[likely]]
    return fs::SampledRecording::fast_malloc(n);
  return malloc_hooked(n);
}

FRAGSCOPE_EXPORT void free(void* p) {
  if (p == nullptr) return;  // free(NULL) does nothing, in every allocator
  if (fs::is_bootstrap(p)) [[unlikely]]
    return;
  if (core::self_owns(p)) [[unlikely]] {  // ours, whichever thread frees it: never recorded
    core::self_free(p);
    return;
  }
  if (fs::tls.fast != nullptr && fs::tls.guard == 0) [[likely]] {
    fs::SampledRecording::fast_free(p);
    return;
  }
  free_hooked(p);
}

FRAGSCOPE_EXPORT void* calloc(std::size_t n, std::size_t m) {
  core::ThreadStats* t = fs::enter();
  if (t == nullptr) [[unlikely]]
    return pass_calloc(n, m);
  fs::HookGuard g;
  std::size_t total = 0;
  int pool = __builtin_mul_overflow(n, m, &total) ? -1 : fs::remedy_pool_for(total);
  void* p;
  if (pool < 0) [[likely]] {
    p = fs::g_real.calloc(n, m);
  } else if ((p = fs::remedy_alloc(pool)) != nullptr) {
    memset(p, 0, total);
  }
  fs::record_result(t, Op::kCalloc, p, p ? n * m : 0);
  return p;
}

FRAGSCOPE_EXPORT void* realloc(void* p, std::size_t n) {
  if (p != nullptr && fs::is_bootstrap(p)) [[unlikely]]
    return realloc_from_bootstrap(p, n);
  if (core::self_owns(p) || own_heap()) [[unlikely]]
    return own_realloc(p, n);
  const bool app = fs::tls.guard == 0;  // our own reallocs never move into the remediation's pools
  return realloc_common(Op::kRealloc, p, n, [&]() -> void* {
    if (!real_ready()) return nullptr;
    return app || fs::remedy_owns(p) ? real_realloc(p, n) : fs::g_real.realloc(p, n);
  });
}

FRAGSCOPE_EXPORT void* reallocarray(void* p, std::size_t n, std::size_t m) {
  std::size_t total;
  if (__builtin_mul_overflow(n, m, &total)) {
    errno = ENOMEM;
    return nullptr;
  }
  if (p != nullptr && fs::is_bootstrap(p)) [[unlikely]]
    return realloc_from_bootstrap(p, total);
  if (core::self_owns(p) || own_heap()) [[unlikely]]
    return own_realloc(p, total);
  const bool app = fs::tls.guard == 0;
  return realloc_common(Op::kReallocArray, p, total, [&]() -> void* {
    if (!real_ready()) return nullptr;
    if (fs::remedy_owns(p) || (app && fs::remedy_pool_for(total) >= 0)) [[unlikely]] return fs::remedy_realloc(p, total);
    return fs::g_real.reallocarray ? fs::g_real.reallocarray(p, n, m) : fs::g_real.realloc(p, total);
  });
}

FRAGSCOPE_EXPORT int posix_memalign(void** out, std::size_t al, std::size_t n) {
  core::ThreadStats* t = fs::enter();
  if (t == nullptr || fs::g_real.posix_memalign == nullptr) [[unlikely]] {
    const bool own = own_heap();
    if (!own && real_ready() && fs::g_real.posix_memalign) return fs::g_real.posix_memalign(out, al, n);
    if (al == 0 || (al & (al - 1)) != 0 || al % sizeof(void*) != 0) return EINVAL;
    const int saved = errno;
    void* p = own ? core::self_aligned(al, n) : fs::bootstrap_alloc(n, al);
    errno = saved;  // posix_memalign returns its error
    if (p == nullptr) return ENOMEM;
    *out = p;
    return 0;
  }
  fs::HookGuard g;
  int rc = fs::g_real.posix_memalign(out, al, n);
  if (rc == 0) fs::record_alloc(t, *out, n, Op::kPosixMemalign);
  else fs::record_alloc_failed(t, Op::kPosixMemalign);
  fs::after_record();
  return rc;
}

FRAGSCOPE_EXPORT void* aligned_alloc(std::size_t al, std::size_t n) {
  core::ThreadStats* t = fs::enter();
  if (t == nullptr || fs::g_real.aligned_alloc == nullptr) [[unlikely]]
    return pass_aligned(fs::g_real.aligned_alloc, al, n);
  fs::HookGuard g;
  void* p = fs::g_real.aligned_alloc(al, n);
  fs::record_result(t, Op::kAlignedAlloc, p, n);
  return p;
}

FRAGSCOPE_EXPORT void* memalign(std::size_t al, std::size_t n) {
  core::ThreadStats* t = fs::enter();
  if (t == nullptr || fs::g_real.memalign == nullptr) [[unlikely]]
    return pass_aligned(fs::g_real.memalign, al, n);
  fs::HookGuard g;
  void* p = fs::g_real.memalign(al, n);
  fs::record_result(t, Op::kMemalign, p, n);
  return p;
}

FRAGSCOPE_EXPORT void* valloc(std::size_t n) {
  core::ThreadStats* t = fs::enter();
  if (t == nullptr || fs::g_real.valloc == nullptr) [[unlikely]] {
    if (own_heap()) return core::self_aligned(core::page_size(), n);
    return real_ready() && fs::g_real.valloc ? fs::g_real.valloc(n) : fs::bootstrap_alloc(n, 4096);
  }
  fs::HookGuard g;
  void* p = fs::g_real.valloc(n);
  fs::record_result(t, Op::kValloc, p, n);
  return p;
}

FRAGSCOPE_EXPORT void* pvalloc(std::size_t n) {
  core::ThreadStats* t = fs::enter();
  if (t == nullptr || fs::g_real.pvalloc == nullptr) [[unlikely]] {
    const std::size_t pg = core::page_size();
    if (own_heap()) return core::self_aligned(pg, n == 0 ? pg : (n + pg - 1) & ~(pg - 1));
    return real_ready() && fs::g_real.pvalloc ? fs::g_real.pvalloc(n) : fs::bootstrap_alloc(n, 4096);
  }
  fs::HookGuard g;
  void* p = fs::g_real.pvalloc(n);
  fs::record_result(t, Op::kPvalloc, p, n);
  return p;
}

namespace {
[[gnu::noinline]] std::size_t malloc_usable_size_slow(void* p) noexcept {
  if (p != nullptr && fs::is_bootstrap(p)) [[unlikely]]
    return fs::bootstrap_size(p);
  if (core::self_owns(p)) [[unlikely]]
    return core::self_usable(p);
  if (core::ThreadStats* t = fs::enter(); t != nullptr) fs::count(t, Op::kMallocUsableSize);
  if (fs::remedy_owns(p)) return fs::remedy_usable(p);
  return real_ready() ? fs::g_real.malloc_usable_size(p) : 0;
}
}  // namespace

// A program that keeps its own count of memory asks at every allocation and free (Redis's
// zmalloc: about 10 calls per SET, against 6 mallocs), so the common case is as short as
// malloc's: an initialised thread outside our own calls, a block of the allocator's (not a
// bootstrap block, not ours, not the remediation's), counted and passed on as a tail call.
// Everything else, as before, out of line: 41 -> 25 instructions (bench/README.md, "Redis again").
FRAGSCOPE_EXPORT std::size_t malloc_usable_size(void* p) {
  core::ThreadStats* t = fs::tls.stats;
  if (t != nullptr && fs::tls.guard == 0 && !fs::is_bootstrap(p) && !core::self_owns(p) && !fs::remedy_owns(p))
      [[likely]] {
    fs::count(t, Op::kMallocUsableSize);
    return fs::g_real.malloc_usable_size(p);
  }
  return malloc_usable_size_slow(p);
}

namespace {

std::size_t page_round(std::size_t n) noexcept {
  const std::size_t pg = core::page_size();
  return (n + pg - 1) & ~(pg - 1);
}

void* raw_mmap(void* a, std::size_t len, int prot, int flags, int fd, off_t off) noexcept {
  if (fs::g_real.mmap) return fs::g_real.mmap(a, len, prot, flags, fd, off);
  long r = syscall(SYS_mmap, a, len, prot, flags, fd, off);
  return reinterpret_cast<void*>(r);  // -1 == MAP_FAILED, errno set by syscall()
}

// An mmap made from inside the real allocator (under our guard): count it apart.
void count_allocator_mmap(void* r, std::size_t len) noexcept {
  if (r == MAP_FAILED || fs::tls.stats == nullptr || fs::g_state.load(std::memory_order_relaxed) != fs::State::kReady)
    return;
  fs::tls.stats->allocator_mmaps.add(1);
  fs::tls.stats->allocator_mmap_bytes.add(len);
}

}  // namespace

FRAGSCOPE_EXPORT void* mmap(void* a, std::size_t len, int prot, int flags, int fd, off_t off) {
  core::ThreadStats* t = fs::enter();
  if (t == nullptr) [[unlikely]] {
    void* r = raw_mmap(a, len, prot, flags, fd, off);
    if (fs::tls.guard != 0) count_allocator_mmap(r, len);
    return r;
  }
  fs::Guard g;
  void* r = raw_mmap(a, len, prot, flags, fd, off);
  fs::count(t, Op::kMmap);
  if (r == MAP_FAILED) {
    fs::fail(t, Op::kMmap);
    return r;
  }
  int saved = errno;
  t->mmap_bytes.add(len);
  auto addr = reinterpret_cast<std::uintptr_t>(r);
  if (flags & MAP_ANONYMOUS) fs::g_rec.mmaps.add(addr, page_round(len));
  else if (flags & MAP_FIXED) fs::g_rec.mmaps.remove(addr, page_round(len));  // a file mapped over anon memory
  errno = saved;
  fs::after_record();
  return r;
}

FRAGSCOPE_EXPORT void* mmap64(void* a, std::size_t len, int prot, int flags, int fd, off_t off) {
  return mmap(a, len, prot, flags, fd, off);
}

FRAGSCOPE_EXPORT int munmap(void* a, std::size_t len) {
  core::ThreadStats* t = fs::enter();
  auto real = [&] { return fs::g_real.munmap ? fs::g_real.munmap(a, len) : static_cast<int>(syscall(SYS_munmap, a, len)); };
  if (t == nullptr) [[unlikely]]
    return real();
  fs::Guard g;
  int rc = real();
  fs::count(t, Op::kMunmap);
  if (rc != 0) {
    fs::fail(t, Op::kMunmap);
    return rc;
  }
  t->munmap_bytes.add(len);
  fs::g_rec.mmaps.remove(reinterpret_cast<std::uintptr_t>(a), page_round(len));
  fs::after_record();
  return rc;
}

FRAGSCOPE_EXPORT void* mremap(void* old, std::size_t old_len, std::size_t new_len, int flags, ...) {
  void* new_addr = nullptr;
  if (flags & MREMAP_FIXED) {
    va_list ap;
    va_start(ap, flags);
    new_addr = va_arg(ap, void*);
    va_end(ap);
  }
  auto real = [&]() -> void* {
    if (fs::g_real.mremap) return fs::g_real.mremap(old, old_len, new_len, flags, new_addr);
    return reinterpret_cast<void*>(syscall(SYS_mremap, old, old_len, new_len, flags, new_addr));
  };
  core::ThreadStats* t = fs::enter();
  if (t == nullptr) [[unlikely]]
    return real();
  fs::Guard g;
  auto o = reinterpret_cast<std::uintptr_t>(old);
  bool tracked = fs::g_rec.mmaps.overlaps(o, page_round(old_len ? old_len : 1));
  void* r = real();
  fs::count(t, Op::kMremap);
  if (r == MAP_FAILED) {
    fs::fail(t, Op::kMremap);
    return r;
  }
  if (r != old) t->mremap_moves.add(1);
  if (tracked) {
#ifdef MREMAP_DONTUNMAP
    if (!(flags & MREMAP_DONTUNMAP)) fs::g_rec.mmaps.remove(o, page_round(old_len));
#else
    fs::g_rec.mmaps.remove(o, page_round(old_len));
#endif
    fs::g_rec.mmaps.add(reinterpret_cast<std::uintptr_t>(r), page_round(new_len));
  }
  fs::after_record();
  return r;
}

namespace {
void* realloc_from_bootstrap(void* p, std::size_t n) noexcept {
  void* q = malloc(n);
  if (q != nullptr) {
    std::size_t old = fs::bootstrap_size(p);
    memcpy(q, p, old < n ? old : n);
  }
  return q;
}
}  // namespace

// C++ operator new and delete (forward.hpp, CxxFunctions). Over libstdc++'s operators each hook
// only forwards: they call malloc and free, recorded there. Over an allocator's own (jemalloc,
// tcmalloc, mimalloc) the hook records the call, as malloc's and free's hooks do, calling the next
// definition under the guard so that nothing it calls is recorded twice. A throwing new is asked
// first through its nothrow twin (under the guard, so nothing of ours needs unwinding); only when
// that finds no memory is the throwing one called, unguarded, and what it throws passes through
// this frame untouched (a new_handler then runs once more than it would without us).
namespace {

using fs::CxxFn;
struct NothrowT;  // std::nothrow_t, left incomplete: <new> would declare the operators we define
using Nothrow = const NothrowT*;  // a `const std::nothrow_t&` is passed as its address
constexpr char kNothrowObject = 0;  // allocators never read the nothrow_t they are given
inline Nothrow nothrow_arg() noexcept { return reinterpret_cast<Nothrow>(&kNothrowObject); }

inline void* next_fn(CxxFn f) noexcept { return fs::g_cxx.next[static_cast<unsigned>(f)]; }
inline bool records(CxxFn f) noexcept { return fs::g_cxx.record[static_cast<unsigned>(f)]; }

[[noreturn]] void out_of_memory() {
  if (fs::g_cxx.throw_bad_alloc != nullptr) fs::g_cxx.throw_bad_alloc();
  abort();  // no libstdc++ in the process, and no operator new of anyone's: nothing to throw
}

// With no next definition (a process that has none, and so should not be calling these), new is
// malloc (recorded by its hook) and delete is free.
void* fallback_new(std::size_t n, std::size_t al, bool throws) {
  void* p = nullptr;
  if (al <= 16) p = malloc(n == 0 ? 1 : n);
  else if (posix_memalign(&p, al, n == 0 ? 1 : n) != 0) p = nullptr;
  if (p == nullptr && throws) out_of_memory();
  return p;
}

// Calls next definition `f` of a new with (size[, align]) and, for a nothrow one, the nothrow_t.
inline void* call_new(CxxFn f, std::size_t n, std::size_t al, bool aligned, bool nothrow) {
  void* fn = next_fn(f);
  if (aligned) {
    if (nothrow) return reinterpret_cast<void* (*)(std::size_t, std::size_t, Nothrow)>(fn)(n, al, nothrow_arg());
    return reinterpret_cast<void* (*)(std::size_t, std::size_t)>(fn)(n, al);
  }
  if (nothrow) return reinterpret_cast<void* (*)(std::size_t, Nothrow)>(fn)(n, nothrow_arg());
  return reinterpret_cast<void* (*)(std::size_t)>(fn)(n);
}

// One new hook: `f` the variant called, `twin` its nothrow counterpart (f itself when f is one).
void* cxx_new(CxxFn f, CxxFn twin, std::size_t n, std::size_t al, bool aligned) {
  const bool throws = f != twin;
  if (!records(f)) [[likely]] {
    if (next_fn(f) == nullptr) [[unlikely]] return fallback_new(n, aligned ? al : 0, throws);
    return call_new(f, n, al, aligned, !throws);
  }
  if (fs::tls.fast != nullptr && fs::tls.guard == 0 && next_fn(twin) != nullptr) [[likely]] {
    // Sampled mode's short path, as malloc's, through the nothrow twin. When that finds no
    // memory, a throwing new asks again on the long path below (which calls the throwing one).
    void* p = fs::SampledRecording::fast_alloc<1>(n, Op::kNew, throws, [&]() noexcept {
      return call_new(twin, n, al, aligned, true);
    });
    if (p != nullptr || !throws) [[likely]] return p;
  }
  core::ThreadStats* t = fs::enter();
  if (t == nullptr) [[unlikely]] {  // guarded, disabled, or before initialisation: not recorded
    if (own_heap()) return aligned ? core::self_aligned(al, n == 0 ? 1 : n) : core::self_malloc(n == 0 ? 1 : n);
    return call_new(f, n, al, aligned, !throws);
  }
  {
    fs::Guard g;
    void* p = nullptr;
    const int pool = aligned ? -1 : fs::remedy_pool_for(n == 0 ? 1 : n);
    if (pool >= 0) [[unlikely]] p = fs::remedy_alloc(pool);
    if (p == nullptr && next_fn(twin) != nullptr) p = call_new(twin, n, al, aligned, true);
    if (p != nullptr || !throws) {
      fs::record_result(t, Op::kNew, p, n);
      return p;
    }
  }
  void* p = call_new(f, n, al, aligned, false);  // may throw: nothing of ours is held
  fs::Guard g;
  fs::record_result(t, Op::kNew, p, n);
  return p;
}

// Calls next definition `f` of a delete with its arguments after the pointer.
template <class... A>
inline void call_delete(CxxFn f, void* p, A... a) noexcept {
  void* fn = next_fn(f);
  if (fn == nullptr) [[unlikely]] return free(p);
  reinterpret_cast<void (*)(void*, A...)>(fn)(p, a...);
}

template <class... A>
void cxx_delete(CxxFn f, void* p, A... a) noexcept {
  if (!records(f)) [[likely]] return call_delete(f, p, a...);
  if (p == nullptr) return;
  if (fs::is_bootstrap(p)) [[unlikely]] return;
  if (core::self_owns(p) || fs::remedy_owns(p)) [[unlikely]] return free(p);  // ours, or the remediation's
  if (fs::tls.fast != nullptr && fs::tls.guard == 0 && next_fn(f) != nullptr) [[likely]]
    return fs::SampledRecording::fast_release<1>(p, Op::kDelete, [&]() noexcept { call_delete(f, p, a...); });
  core::ThreadStats* t = fs::enter();
  if (t == nullptr) [[unlikely]] return call_delete(f, p, a...);
  fs::Guard g;
  fs::record_free(t, p, Op::kDelete);
  call_delete(f, p, a...);
  fs::after_record();
}

}  // namespace

using fragscope_align = std::size_t;  // std::align_val_t: an enum of size_t

FRAGSCOPE_EXPORT void* _Znwm(std::size_t n) { return cxx_new(CxxFn::kNew, CxxFn::kNewNothrow, n, 0, false); }
FRAGSCOPE_EXPORT void* _Znam(std::size_t n) { return cxx_new(CxxFn::kNewArray, CxxFn::kNewArrayNothrow, n, 0, false); }
FRAGSCOPE_EXPORT void* _ZnwmRKSt9nothrow_t(std::size_t n, Nothrow) noexcept {
  return cxx_new(CxxFn::kNewNothrow, CxxFn::kNewNothrow, n, 0, false);
}
FRAGSCOPE_EXPORT void* _ZnamRKSt9nothrow_t(std::size_t n, Nothrow) noexcept {
  return cxx_new(CxxFn::kNewArrayNothrow, CxxFn::kNewArrayNothrow, n, 0, false);
}
FRAGSCOPE_EXPORT void* _ZnwmSt11align_val_t(std::size_t n, fragscope_align al) {
  return cxx_new(CxxFn::kNewAligned, CxxFn::kNewAlignedNothrow, n, al, true);
}
FRAGSCOPE_EXPORT void* _ZnamSt11align_val_t(std::size_t n, fragscope_align al) {
  return cxx_new(CxxFn::kNewArrayAligned, CxxFn::kNewArrayAlignedNothrow, n, al, true);
}
FRAGSCOPE_EXPORT void* _ZnwmSt11align_val_tRKSt9nothrow_t(std::size_t n, fragscope_align al, Nothrow) noexcept {
  return cxx_new(CxxFn::kNewAlignedNothrow, CxxFn::kNewAlignedNothrow, n, al, true);
}
FRAGSCOPE_EXPORT void* _ZnamSt11align_val_tRKSt9nothrow_t(std::size_t n, fragscope_align al, Nothrow) noexcept {
  return cxx_new(CxxFn::kNewArrayAlignedNothrow, CxxFn::kNewArrayAlignedNothrow, n, al, true);
}

FRAGSCOPE_EXPORT void _ZdlPv(void* p) noexcept { cxx_delete(CxxFn::kDelete, p); }
FRAGSCOPE_EXPORT void _ZdaPv(void* p) noexcept { cxx_delete(CxxFn::kDeleteArray, p); }
FRAGSCOPE_EXPORT void _ZdlPvRKSt9nothrow_t(void* p, Nothrow nt) noexcept { cxx_delete(CxxFn::kDeleteNothrow, p, nt); }
FRAGSCOPE_EXPORT void _ZdaPvRKSt9nothrow_t(void* p, Nothrow nt) noexcept {
  cxx_delete(CxxFn::kDeleteArrayNothrow, p, nt);
}
FRAGSCOPE_EXPORT void _ZdlPvm(void* p, std::size_t n) noexcept { cxx_delete(CxxFn::kDeleteSized, p, n); }
FRAGSCOPE_EXPORT void _ZdaPvm(void* p, std::size_t n) noexcept { cxx_delete(CxxFn::kDeleteArraySized, p, n); }
FRAGSCOPE_EXPORT void _ZdlPvSt11align_val_t(void* p, fragscope_align al) noexcept {
  cxx_delete(CxxFn::kDeleteAligned, p, al);
}
FRAGSCOPE_EXPORT void _ZdaPvSt11align_val_t(void* p, fragscope_align al) noexcept {
  cxx_delete(CxxFn::kDeleteArrayAligned, p, al);
}
FRAGSCOPE_EXPORT void _ZdlPvSt11align_val_tRKSt9nothrow_t(void* p, fragscope_align al, Nothrow nt) noexcept {
  cxx_delete(CxxFn::kDeleteAlignedNothrow, p, al, nt);
}
FRAGSCOPE_EXPORT void _ZdaPvSt11align_val_tRKSt9nothrow_t(void* p, fragscope_align al, Nothrow nt) noexcept {
  cxx_delete(CxxFn::kDeleteArrayAlignedNothrow, p, al, nt);
}
FRAGSCOPE_EXPORT void _ZdlPvmSt11align_val_t(void* p, std::size_t n, fragscope_align al) noexcept {
  cxx_delete(CxxFn::kDeleteSizedAligned, p, n, al);
}
FRAGSCOPE_EXPORT void _ZdaPvmSt11align_val_t(void* p, std::size_t n, fragscope_align al) noexcept {
  cxx_delete(CxxFn::kDeleteArraySizedAligned, p, n, al);
}

// unshare and setns: a process that is to enter a new user namespace (or mount namespace) must
// be single-threaded, and our reporter thread would make the call fail with EINVAL where it
// succeeds without us (`unshare -U`). On that EINVAL, the reporter stops (it starts again at
// the next hook call) and the call is made once more.
namespace {
template <class Call>
int single_threaded_retry(Call&& call) noexcept {
  const int r = call();
  if (r == 0 || errno != EINVAL || fs::tls.self || fs::tls.guard != 0) return r;
  const int saved = errno;
  if (!fs::stop_reporter_for_host()) {
    errno = saved;
    return r;
  }
  return call();
}
}  // namespace

FRAGSCOPE_EXPORT int unshare(int flags) {
  return single_threaded_retry([&] { return static_cast<int>(syscall(SYS_unshare, flags)); });
}

FRAGSCOPE_EXPORT int setns(int fd, int nstype) {
  return single_threaded_retry([&] { return static_cast<int>(syscall(SYS_setns, fd, nstype)); });
}
