// How the hooks record a call, in one place: the recording protocol of full mode.
//
// A call is recorded either batched (its hook logs an event in its thread's ring, applied later
// in address order by the EventApplier: event_log.hpp) or directly (its hook updates the live
// table at once, ordered across threads by the table's locks). Batching is for one thread at a
// time — the batcher — so that its events need no lock; a process whose threads take turns
// faster than a hand-over costs records directly. Sampled mode records every kept block directly
// and never batches (Recording is left in kDirect).
//
// States (mode_, batcher_) and transitions:
//
//   from       event                                   to          done by
//   ---------  --------------------------------------  ----------  ------------------------------
//   kDirect    enable_batching (init: fence and         kBatched    ensure_init, before any hook
//              applier available)                       (batcher: the first thread to call)
//   kBatched   hook of the batcher                      kBatched    begin() -> true (log an event)
//   kBatched   hook of another thread, credit >= 1,     kBatched    take_batching: drain the old
//              every hook under way finished            batcher=t   batcher's events; credit -= 1
//   kBatched   hook of another thread, credit < 1 or    kDirect     take_batching -> finish_direct:
//              a hook stuck for kStuckNs                            spread the table, applier not
//                                                                   exclusive, drain
//   kDirect    any hook                                 kDirect     begin() -> false (record now)
//   kDirect    return_to_batching(t) (reporter: one     kBatched    applier exclusive, credit full
//              thread alone for a second), quiet        batcher=t
//   kDirect    return_to_batching, a hook stuck         kDirect     returns stopped for good
//   any        freeze (final snapshot, table rebuild)   kSwitching  hooks wait at their start
//   kSwitching thaw(m)                                  m
//   kSwitching fork child (the switching thread is      kDirect     on_fork_child: as finish_direct
//              gone)
//
// Every switch is an asymmetric fence: a hook sets its thread's in_async flag and reads the mode
// and the batcher with plain accesses (begin), and clears the flag once its event is logged or
// its table update done (end); the switching thread first sets kSwitching (so that hooks arriving
// later wait in begin_slow), then runs Env::fence() (membarrier: every thread's flag store is
// visible, or it reads kSwitching), then waits for every flag, so that no event of the old mode
// is applied after one of the new. A flag still set after kStuckNs belongs to a hook that left by
// longjmp from a signal handler: the switch goes on without it, warns once, and from then on the
// process records directly (a later switch would wait for it again).
//
// The hand-over budget is a token bucket (kHandoversPerSecond, kHandoverBurst), touched only by
// the thread that set kSwitching: a hand-over costs a membarrier and the old batcher's events
// applied on the taking thread, tens of microseconds, so 64 a second cost a program under 1%.
//
// Env, injected so that the protocol is unit-tested with fakes (tests/unit/recording_test.cpp)
// and instantiated once for the shim (shim/runtime.hpp):
//   static void fence() noexcept;                    asymmetric fence (membarrier)
//   static std::uint64_t now_ns() noexcept;          monotonic clock
//   template <class F> static void for_each_thread(F&& f) noexcept;   f(ThreadStats&)
//   static void drain() noexcept;                    apply every logged event
//   static void set_exclusive(bool) noexcept;        only the applier writes the live table
//   static void spread_table() noexcept;             spread threads over the table's locks
//   static void yield() noexcept;
//   static void warn(const char* line) noexcept;
//   struct Quiet;  RAII for the slow paths: nothing of ours recorded, errno kept
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>

#include "thread_stats.hpp"

namespace fragscope::core {

enum class Mode : int { kBatched = 0, kSwitching = 1, kDirect = 2 };

template <class Env>
class Recording {
 public:
  static constexpr double kHandoversPerSecond = 64, kHandoverBurst = 64;
  static constexpr std::uint64_t kStuckNs = 1000000000u;

  constexpr Recording() noexcept = default;

  /// Initialisation, before any hook records: batching is available (the fence is registered
  /// and the applier has its memory). The process starts batched.
  void enable_batching() noexcept {
    Env::set_exclusive(true);  // no hook updates the table itself while batched
    possible_ = true;
    mode_.store(Mode::kBatched, std::memory_order_relaxed);
  }
  /// A thread's first hook: the first thread of the process is the batcher.
  void first_call(ThreadStats* t) noexcept {
    ThreadStats* none = nullptr;
    batcher_.compare_exchange_strong(none, t, std::memory_order_relaxed);
  }

  /// Starts recording a call: true when it is to log an event, false when it is to be recorded at
  /// once. Either way the call ends with end() once its event is logged or its table update done.
  bool begin(ThreadStats* t) noexcept {
    t->in_async.store(true, std::memory_order_relaxed);
    std::atomic_signal_fence(std::memory_order_seq_cst);
    // Acquire: a mode written after a hand-over comes with the batcher written before it.
    const Mode m = mode_.load(std::memory_order_acquire);
    if (m == Mode::kBatched && batcher_.load(std::memory_order_relaxed) == t) [[likely]]
      return true;
    if (m == Mode::kDirect) return false;
    t->in_async.store(false, std::memory_order_release);
    return begin_slow(t);
  }
  void end(ThreadStats* t) noexcept {
    std::atomic_signal_fence(std::memory_order_seq_cst);
    t->in_async.store(false, std::memory_order_release);
  }

  void wait_for_switch() noexcept {
    while (mode_.load(std::memory_order_acquire) == Mode::kSwitching) Env::yield();
  }
  /// Holds every hook that is to record at its start (kSwitching), once the hooks under way have
  /// recorded their call: the table and the counters then agree exactly while other threads go
  /// on calling. Returns the mode to give back to thaw(). The caller must not record meanwhile.
  /// `quiet` (if given): whether every hook under way finished within kStuckNs; when false, one
  /// may still be recording (preempted, or gone by longjmp) and nothing may be freed.
  Mode freeze(bool* quiet = nullptr) noexcept {
    typename Env::Quiet q;
    for (;;) {
      Mode m = mode_.load(std::memory_order_acquire);
      if (m == Mode::kSwitching) {
        wait_for_switch();
        continue;
      }
      if (mode_.compare_exchange_strong(m, Mode::kSwitching, std::memory_order_acq_rel)) {
        const bool done = wait_for_logging_hooks();
        if (!done) no_returns_ = true;
        if (quiet != nullptr) *quiet = done;
        return m;
      }
    }
  }
  void thaw(Mode m) noexcept { mode_.store(m, std::memory_order_release); }

  /// Reporter thread: the process is direct and only `t` called the hooks for a while: make it
  /// the batcher. False when it could not (not direct, batching unavailable, a hook stuck).
  bool return_to_batching(ThreadStats* t) noexcept {
    if (!possible_ || no_returns_) return false;
    Mode m = Mode::kDirect;
    if (!mode_.compare_exchange_strong(m, Mode::kSwitching, std::memory_order_acq_rel)) return false;
    typename Env::Quiet q;
    const bool done = wait_for_logging_hooks();  // no hook is updating the table itself any more
    if (done) {
      Env::set_exclusive(true);  // from now on only the applier writes the table
      batcher_.store(t, std::memory_order_relaxed);
      credit_ = kHandoverBurst;
      credit_at_ = Env::now_ns();
      returns_.fetch_add(1, std::memory_order_relaxed);
      mode_.store(Mode::kBatched, std::memory_order_release);
    } else {
      no_returns_ = true;  // a hook that never returns would stall every later switch
      mode_.store(Mode::kDirect, std::memory_order_release);
    }
    return done;
  }

  /// In a fork child, after the locks are released: only the forking thread lives on, so no hook
  /// is half-way through recording; a switch that was under way (its thread is gone) ends as a
  /// switch to direct recording.
  void on_fork_child() noexcept {
    Env::for_each_thread([](ThreadStats& t) { t.in_async.store(false, std::memory_order_relaxed); });
    if (mode_.load(std::memory_order_relaxed) == Mode::kSwitching) {
      Env::spread_table();
      Env::set_exclusive(false);
      Env::drain();
      mode_.store(Mode::kDirect, std::memory_order_relaxed);
    }
    handovers_.store(0, std::memory_order_relaxed);
    returns_.store(0, std::memory_order_relaxed);
    no_returns_ = false;  // the thread whose hook never returned is not the child's
    credit_ = kHandoverBurst;
    credit_at_ = 0;
  }

  Mode mode() const noexcept { return mode_.load(std::memory_order_relaxed); }
  ThreadStats* batcher() const noexcept { return batcher_.load(std::memory_order_relaxed); }
  std::uint64_t handovers() const noexcept { return handovers_.load(std::memory_order_relaxed); }
  std::uint64_t returns() const noexcept { return returns_.load(std::memory_order_relaxed); }
  /// A hook never returned: the process records directly for good.
  bool returns_stopped() const noexcept { return no_returns_; }

 private:
  // Out of line, as before the protocol was a unit: the hooks' batched path stays short.
  [[gnu::noinline]] bool begin_slow(ThreadStats* t) noexcept {
    for (;;) {
      if (mode_.load(std::memory_order_acquire) == Mode::kSwitching) {
        wait_for_switch();  // our own logged events may be being applied
        continue;
      }
      t->in_async.store(true, std::memory_order_relaxed);
      std::atomic_signal_fence(std::memory_order_seq_cst);
      const Mode m = mode_.load(std::memory_order_acquire);
      if (m == Mode::kBatched && batcher_.load(std::memory_order_relaxed) == t) return true;
      if (m == Mode::kDirect) return false;
      t->in_async.store(false, std::memory_order_release);
      if (m == Mode::kBatched) take_batching(t);
    }
  }

  // With the mode at kSwitching: returns once every hook that may have read the old mode and
  // batcher has logged its event or recorded its call. False when a flag stayed set kStuckNs.
  bool wait_for_logging_hooks() noexcept {
    Env::fence();
    const std::uint64_t deadline = Env::now_ns() + kStuckNs;
    bool stuck = false;
    Env::for_each_thread([&](ThreadStats& t) {
      while (!stuck && t.in_async.load(std::memory_order_acquire)) {
        Env::yield();
        stuck = Env::now_ns() > deadline;
      }
    });
    if (stuck) Env::warn("fragscope: a hook never returned (longjmp out of a signal handler?); recording goes on");
    return !stuck;
  }

  // With the mode at kSwitching, after wait_for_logging_hooks.
  void finish_direct() noexcept {
    Env::spread_table();         // spread the threads over the table's bucket locks
    Env::set_exclusive(false);   // hooks are about to update the table themselves
    Env::drain();
    mode_.store(Mode::kDirect, std::memory_order_release);
  }

  // Takes the batcher's place for `t`, or switches the process to direct recording when the
  // hand-over budget is spent. Returns without doing either when another thread is switching.
  void take_batching(ThreadStats* t) noexcept {
    Mode m = Mode::kBatched;
    if (!mode_.compare_exchange_strong(m, Mode::kSwitching, std::memory_order_acq_rel)) return;
    typename Env::Quiet q;
    const std::uint64_t now = Env::now_ns();
    if (credit_at_ != 0 && now > credit_at_)
      credit_ = std::min(kHandoverBurst, credit_ + static_cast<double>(now - credit_at_) * kHandoversPerSecond / 1e9);
    credit_at_ = now;
    // A hook that never returns would make every later hand-over wait for it: direct for good.
    const bool done = wait_for_logging_hooks();
    if (!done) no_returns_ = true;
    if (credit_ < 1 || !done) {
      finish_direct();
    } else {
      credit_ -= 1;
      Env::drain();  // the old batcher's events, all of them before any of ours
      batcher_.store(t, std::memory_order_relaxed);
      handovers_.fetch_add(1, std::memory_order_relaxed);
      mode_.store(Mode::kBatched, std::memory_order_release);
    }
  }

  std::atomic<Mode> mode_{Mode::kDirect};  // batched once enable_batching has run
  std::atomic<ThreadStats*> batcher_{nullptr};
  // The hand-over budget: touched only by the thread that set kSwitching.
  double credit_ = kHandoverBurst;
  std::uint64_t credit_at_ = 0;  // monotonic ns of the last refill (0: none yet)
  std::atomic<std::uint64_t> handovers_{0};
  std::atomic<std::uint64_t> returns_{0};  // switches from direct back to batched
  bool possible_ = false;                  // set once by enable_batching
  bool no_returns_ = false;                // a hook never returned: no more switches to batched
};

}  // namespace fragscope::core
