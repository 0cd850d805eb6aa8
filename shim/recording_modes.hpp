// The recording unit the hooks call (issue 17, part 4): what a hook records of a successful
// allocation (on_alloc), a failed one (on_alloc_failed), a free or delete about to be made
// (on_free) and a reallocation (on_realloc, around the real call). preload.cpp's hooks
// interpose, guard, call the real function and hand the result here; they record nothing
// themselves. Two implementations, one per recording mode (DESIGN.md, "Recording modes"):
//  - FullRecording: every block, as events batched to the reporter's core while one thread calls
//    the hooks, else into the live table at once (the protocol: core/recording.hpp);
//  - SampledRecording: every call counted by class in its thread's counters, only the blocks the
//    region sampler keeps (core/region_sampler.hpp) in the table, at once; and the short malloc
//    and free a thread without the preload remediation takes (fast_malloc, fast_free).
// The mode is chosen once at initialisation (g_sampled); the free functions at the end take the
// one branch. Included by preload.cpp only: the hot paths stay inline in the hooks, and what is
// rare is out of line, so a hook is as short as before (bench/README.md, "What a hook may cost").
#pragma once

#include <cstdint>

#include "remedy.hpp"
#include "runtime.hpp"

namespace fragscope::shim {

using core::Op;

inline std::size_t usable(void* p) noexcept { return remedy_owns(p) ? remedy_usable(p) : real_usable(p); }
/// The usable size of a new block p of `req` requested bytes. An answer below the request is the
/// allocator's before it knows its own block (tcmalloc's malloc_usable_size answers 0 for the
/// block of the very call that initialises it, the true size after): the request is taken then,
/// as for a block whose free we missed (detail::on_replaced).
inline std::size_t usable_of_new(void* p, std::uint64_t req) noexcept {
  const std::size_t n = usable(p);
  return n < req ? static_cast<std::size_t>(req) : n;
}
inline void count(core::ThreadStats* t, Op op) noexcept { t->calls[static_cast<unsigned>(op)].add(1); }
inline void fail(core::ThreadStats* t, Op op) noexcept { t->failures[static_cast<unsigned>(op)].add(1); }

// ---------------------------------------------------------------------------------------------
// Full mode.
// The batched paths below are what almost every call runs, and on a program that waits on cache
// misses every instruction of a hook counts, not just its memory accesses: it fills the window in
// which the CPU overlaps the program's own misses (bench/README.md, "What a hook may cost"). So
// they stay small and the direct paths are out of line.
struct FullRecording {
  // Records a new live block at once, and counts the call (the process is no longer batched).
  [[gnu::noinline]] static void alloc_direct(core::ThreadStats* t, void* p, std::uint64_t req, Op op,
                                             std::uint32_t site) noexcept {
    count(t, op);
    g_rec.table.prefetch(reinterpret_cast<std::uintptr_t>(p));  // overlaps with the two calls below
    core::record_alloc_sampled(g_rec, *t, reinterpret_cast<std::uintptr_t>(p), req, usable_of_new(p, req),
                               g_clock.read(t->clock_countdown), site);
  }

  // Records that live block p is about to be freed, at once, and counts the call.
  [[gnu::noinline]] static void free_direct(core::ThreadStats* t, void* p, Op op) noexcept {
    count(t, op);
    g_rec.table.prefetch(reinterpret_cast<std::uintptr_t>(p));
    core::record_free(g_rec, *t, p, g_clock.read(t->clock_countdown), usable);
  }

  // A new live block made by call `op`: as an event while the process is batched (the event
  // counts the call), else at once.
  static void on_alloc(core::ThreadStats* t, void* p, std::uint64_t req, Op op) noexcept {
    // The stack is this thread's, now. Taken before begin_record: a stack walk may wait for the
    // loader's lock, and a thread that holds it may be waiting for this one's flag to switch.
    const std::uint32_t site = core::sample_site(g_rec, *t, req);
    if (begin_record(t)) [[likely]] {
      g_applier.push_alloc(*t, reinterpret_cast<std::uintptr_t>(p), g_clock.read(t->clock_countdown), req, usable_of_new(p, req),
                           site, static_cast<unsigned>(op) + 1);
      end_record(t);
      return;
    }
    alloc_direct(t, p, req, op, site);
    end_record(t);
  }

  static void on_alloc_failed(core::ThreadStats* t, Op op) noexcept {
    count(t, op);
    fail(t, op);
  }

  // Live block p is about to be freed by call `op`.
  static void on_free(core::ThreadStats* t, void* p, Op op) noexcept {
    if (begin_record(t)) [[likely]] {
      g_applier.push_free(*t, reinterpret_cast<std::uintptr_t>(p), g_clock.read(t->clock_countdown), usable(p),
                          static_cast<unsigned>(op) + 1);
    } else {
      free_direct(t, p, op);
    }
    end_record(t);
  }

  // realloc(p, n) by call `op`; `real` performs it. Returns its result.
  template <class Real>
  static void* on_realloc(core::ThreadStats* t, Op op, void* p, std::uint64_t n, Real&& real) noexcept {
    count(t, op);
    if (begin_record(t)) [[likely]] {
      // One thread: the old block's free and the new block as two events, after the real call.
      const std::size_t old_usable = p != nullptr ? usable(p) : 0;
      const std::uint64_t before = g_clock.read(t->clock_countdown);
      void* q = real();
      const auto addr = reinterpret_cast<std::uintptr_t>(p);
      if (q != nullptr) {
        if (p != nullptr) g_applier.push(*t, core::Event::free(addr, before, old_usable));
        const std::uint32_t site = core::sample_site(g_rec, *t, n);
        g_applier.push(*t, core::Event::alloc(reinterpret_cast<std::uintptr_t>(q), g_clock.read(t->clock_countdown), n,
                                              usable_of_new(q, n), site));
        if (p != nullptr) (q == p ? t->realloc_in_place : t->realloc_moves).add(1);
      } else if (n != 0 || p == nullptr) {
        fail(t, op);  // p, if any, is still live
      } else {
        g_applier.push(*t, core::Event::free(addr, before, old_usable));  // realloc(p, 0) freed p (glibc)
      }
      end_record(t);
      return q;
    }
    const std::uint64_t now = g_clock.read(t->clock_countdown);
    core::Block old;
    bool tracked = false;
    if (p != nullptr) {
      tracked = g_rec.table.remove(reinterpret_cast<std::uintptr_t>(p), now, &old, [&](const core::Block& b) {
        core::detail::count_free(g_rec, *t, b, usable(p), now, true);
      });
      if (!tracked) t->untracked_frees.add(1);
      else if (old.sampled) g_rec.sites.on_free(old.addr, old.size);
    }
    void* q = real();
    if (q != nullptr) {
      core::record_alloc(g_rec, *t, q, n, usable_of_new(q, n), now);
      if (p != nullptr) (q == p ? t->realloc_in_place : t->realloc_moves).add(1);
    } else if (n != 0 || p == nullptr) {
      fail(t, op);
      if (tracked) {
        // Failed: p is still live. Put it back, and take back the free we counted.
        core::Block back = old;
        back.sampled = false;  // its site record was closed above; the block stays, unattributed
        g_rec.table.insert(back, nullptr, [&](core::InsertResult) {
          core::detail::uncount_free(*t, old, usable(p), now);
        });
      }
    }
    // else: realloc(p, 0) returned NULL, so p was freed (glibc): the free is already counted.
    end_record(t);
    return q;
  }
};

// ---------------------------------------------------------------------------------------------
// Sampled mode (FRAGSCOPE_MODE=sampled; core/region_sampler.hpp): every allocation is counted by
// class in its thread's block (one dense cache line of counters per call); only blocks the
// sampler keeps go into the table, at once, under begin_record and end_record (the mode stays
// direct: they wait only while a final snapshot holds recording). The calls of each kind are
// counted for the sample's blocks only (those that start in a sampled region), and estimated:
// on a program that waits on cache misses, every line a hook touches costs.
struct SampledRecording {
  using Hit = core::RegionSampler::Hit;

  [[gnu::noinline]] static void keep(core::ThreadStats* t, void* p, std::uint64_t req, Hit h, Op op) noexcept {
    if (h == Hit::kStart) count(t, op);
    // The stack first, as full mode's on_alloc does: a stack walk may wait for the loader's lock.
    const std::uint32_t site = h == Hit::kStart ? core::sample_site(g_rec, *t, req) : 0;
    begin_record(t);
    core::sampled_keep(g_rec, *t, reinterpret_cast<std::uintptr_t>(p), req, usable_of_new(p, req), g_clock.read(t->clock_countdown),
                       h, site);
    end_record(t);
  }

  [[gnu::noinline]] static bool drop(core::ThreadStats* t, void* p, Hit h, Op op, core::Block* removed = nullptr) noexcept {
    if (h == Hit::kStart && op != Op::kCount) count(t, op);
    begin_record(t);
    const bool found = core::sampled_drop(g_rec, *t, reinterpret_cast<std::uintptr_t>(p), h,
                                          g_clock.read(t->clock_countdown), usable, removed);
    end_record(t);
    return found;
  }

  static void on_alloc(core::ThreadStats* t, void* p, std::uint64_t req, Op op) noexcept {
    core::sampled_count_alloc(*t, req);
    const Hit h = g_rec.regions.hit(reinterpret_cast<std::uintptr_t>(p), req);
    if (h != Hit::kNone) [[unlikely]]
      keep(t, p, req, h, op);
  }

  // Sampled mode counts the calls of the sample only: a failure has no block to be in it.
  static void on_alloc_failed(core::ThreadStats* t, Op op) noexcept { fail(t, op); }

  // A free (or delete) of p, about to be made: p taken out of the table if kept.
  static void on_free(core::ThreadStats* t, void* p, Op op) noexcept {
    const Hit h = core::sampled_free_kind(g_rec, reinterpret_cast<std::uintptr_t>(p));
    if (h != Hit::kNone) [[unlikely]]
      drop(t, p, h, op);
  }

  // The old block out of the table (if kept) before the call, the new one in after it; a failed
  // call puts the old one back.
  template <class Real>
  static void* on_realloc(core::ThreadStats* t, Op op, void* p, std::uint64_t n, Real&& real) noexcept {
    core::Block old;
    Hit oh = Hit::kNone;
    bool kept = false;
    if (p != nullptr) {
      oh = core::sampled_free_kind(g_rec, reinterpret_cast<std::uintptr_t>(p));
      if (oh != Hit::kNone) [[unlikely]]
        kept = drop(t, p, oh, Op::kCount, &old);  // the call is counted with its new block
    }
    void* q = real();
    if (q != nullptr) {
      core::sampled_count_alloc(*t, n);
      const Hit h = g_rec.regions.hit(reinterpret_cast<std::uintptr_t>(q), n);
      if (h != Hit::kNone) [[unlikely]]
        keep(t, q, n, h, op);
      if (p != nullptr) (q == p ? t->realloc_in_place : t->realloc_moves).add(1);
    } else if (n != 0 || p == nullptr) {
      fail(t, op);
      if (kept) {  // p is still live
        begin_record(t);
        core::sampled_restore(g_rec, *t, old, oh, g_clock.read(t->clock_countdown), usable(p));
        end_record(t);
      }
    }
    return q;
  }

  // The short path for malloc and free, and for the C++ operators new and delete an allocator
  // defines itself (tls.fast: no remediation): the whole cost of a call whose block is not kept.
  // On a program that waits on cache misses a hook is paid by its length. The guard is held
  // around the real call, with the weight the long path gives it (kHookGuard for the malloc
  // family, 1 for the C++ operators), and around the rare recording; pending work waits for the
  // latter. The allocation is counted before the call (and taken back if it fails), and the
  // thread's block read again on the rare paths: the short paths do not keep it across the call.
  [[gnu::noinline]] static void fast_keep(void* p, std::uint64_t req, Hit h, Op op) noexcept {
    HookGuard g;
    keep(tls.fast, p, req, h, op);
    after_record();
  }
  // `retry`: the caller asks again on its long path, which counts the failure if it fails again.
  [[gnu::noinline]] static void fast_failed(std::uint64_t req, Op op, bool retry) noexcept {
    core::sampled_uncount_alloc(*tls.fast, req);
    if (!retry) fail(tls.fast, op);
  }
  template <unsigned kWeight, class Real>
  static void* fast_alloc(std::size_t n, Op op, bool retry, Real&& real) noexcept {
    core::sampled_count_alloc(*tls.fast, n);
    tls.guard += kWeight;
    void* p = real();
    tls.guard -= kWeight;
    if (p == nullptr) [[unlikely]] {
      fast_failed(n, op, retry);
      return p;
    }
    const Hit h = g_rec.regions.hit(reinterpret_cast<std::uintptr_t>(p), n);
    if (h != Hit::kNone) [[unlikely]]
      fast_keep(p, n, h, op);
    return p;
  }
  [[gnu::noinline]] static void fast_drop(void* p, Hit h, Op op) noexcept {
    drop(tls.fast, p, h, op);
    after_record();
  }
  // p: not null, not a block of ours.
  template <unsigned kWeight, class Real>
  static void fast_release(void* p, Op op, Real&& real) noexcept {
    const Hit h = core::sampled_free_kind(g_rec, reinterpret_cast<std::uintptr_t>(p));
    tls.guard += kWeight;
    if (h != Hit::kNone) [[unlikely]]
      fast_drop(p, h, op);
    real();
    tls.guard -= kWeight;
  }
  static void* fast_malloc(std::size_t n) noexcept {
    return fast_alloc<kHookGuard>(n, Op::kMalloc, false, [n]() noexcept { return g_real.malloc(n); });
  }
  static void fast_free(void* p) noexcept {
    fast_release<kHookGuard>(p, Op::kFree, [p]() noexcept { g_real.free(p); });
  }
};

// ---------------------------------------------------------------------------------------------
// The process's mode, one branch: what the hooks call.

/// A successful allocation p of `req` bytes by call `op`.
inline void record_alloc(core::ThreadStats* t, void* p, std::uint64_t req, Op op) noexcept {
  if (g_sampled) SampledRecording::on_alloc(t, p, req, op);
  else FullRecording::on_alloc(t, p, req, op);
}
/// A failed allocation by call `op`.
inline void record_alloc_failed(core::ThreadStats* t, Op op) noexcept {
  if (g_sampled) SampledRecording::on_alloc_failed(t, op);
  else FullRecording::on_alloc_failed(t, op);
}
/// An allocation's result, either way, then pending work (the hook still holds its guard).
inline void record_result(core::ThreadStats* t, Op op, void* p, std::uint64_t req) noexcept {
  if (p != nullptr) [[likely]] record_alloc(t, p, req, op);
  else record_alloc_failed(t, op);
  after_record();
}
/// Block p is about to be freed by call `op` (the caller frees it, then calls after_record).
inline void record_free(core::ThreadStats* t, void* p, Op op) noexcept {
  if (g_sampled) SampledRecording::on_free(t, p, op);
  else FullRecording::on_free(t, p, op);
}
/// realloc(p, n) by call `op`, performed by `real`, recorded; then pending work.
template <class Real>
void* record_realloc(core::ThreadStats* t, Op op, void* p, std::uint64_t n, Real&& real) noexcept {
  void* q = g_sampled ? SampledRecording::on_realloc(t, op, p, n, real) : FullRecording::on_realloc(t, op, p, n, real);
  after_record();
  return q;
}

}  // namespace fragscope::shim
