// The shim's process-wide state and the few rules every hook follows:
//  - a thread-local recursion guard (initial-exec TLS: no allocation on first access): while it is
//    set, hooks pass straight through to the real allocator, unrecorded. Hooks set it around the
//    real call (so the allocator's own mmaps are not mistaken for the application's) and our own
//    code runs under it;
//  - enter() decides in one branch whether a call is recorded, and hands back the thread's
//    counter block;
//  - everything rare (initialisation, attaching a thread, starting the reporter) is out of line.
#pragma once

#include <atomic>
#include <cerrno>
#include <cstdint>

#include "config.hpp"
#include "applier.hpp"
#include "clock.hpp"
#include "recording.hpp"
#include "recorder.hpp"
#include "self_heap.hpp"

namespace fragscope::core {
class TextBuffer;
}

namespace fragscope::shim {

enum class State : int { kUninit = 0, kIniting = 1, kReady = 2, kPassthrough = 3 };

struct Tls {
  unsigned guard;
  unsigned pending_countdown;  // calls until this thread next checks pending work
  core::ThreadStats* stats;
  // A thread of ours (reporter, metrics endpoint): it holds the guard for its whole life, and
  // what it allocates comes from our private heap (self_heap.hpp), never the host's allocator.
  bool self;
  // Set while ensure_init() asks who answers the program's malloc (probe_coverage); our
  // pass-through malloc clears it, so it stays set when a definition ahead of ours answered.
  bool probing;
  // Sampled mode without the preload remediation: `stats`, for malloc's and free's short path
  // (preload.cpp); else nullptr. Set with `stats`, never cleared.
  core::ThreadStats* fast;
};
// constinit: statically initialised, so an access is a plain %fs-relative load; without it every
// access from another file first tests for a TLS init function (_ZTH...) that does not exist.
extern constinit thread_local Tls tls __attribute__((tls_model("initial-exec")));

extern std::atomic<State> g_state;
extern std::atomic<bool> g_pending;  // work waits for a hook: the reporter is to be started
extern core::Recorder g_rec;
extern core::HookClock g_clock;  // the hooks' timestamps

extern core::EventApplier g_applier;
extern core::Config g_cfg;
/// Sampled mode (FRAGSCOPE_MODE=sampled; core/region_sampler.hpp): set once by ensure_init
/// before the state is kReady, so a hook that entered reads it settled.
extern bool g_sampled;

/// Holds the recursion guard for its scope. Nests.
class Guard {
 public:
  Guard() noexcept { ++tls.guard; }
  ~Guard() { --tls.guard; }
  Guard(const Guard&) = delete;
  Guard& operator=(const Guard&) = delete;
};

/// The guard a malloc-family hook holds around the real allocator and its recording: a weight of
/// its own, so that a call arriving while it is held is known to come from a signal handler that
/// interrupted the hook (the real allocators do not call malloc through the PLT). Such a call
/// must not enter glibc's allocator again: the interrupted call may hold its arena lock, taken
/// because our threads make the process multi-threaded (a single-threaded glibc takes none), and
/// the handler would wait for it forever. It is served from our private heap instead, whose
/// blocks free, realloc and malloc_usable_size recognise from any thread.
inline constexpr unsigned kHookGuard = 1u << 16;
class HookGuard {
 public:
  HookGuard() noexcept { tls.guard += kHookGuard; }
  ~HookGuard() { tls.guard -= kHookGuard; }
  HookGuard(const HookGuard&) = delete;
  HookGuard& operator=(const HookGuard&) = delete;
};
/// Set once at initialisation: malloc, free and malloc_usable_size are glibc's (the only
/// allocator whose lock depends on our threads; its functions call no malloc-family function
/// through the PLT, but reallocarray, which calls realloc: realloc is not diverted).
extern bool g_glibc_underneath;
/// An allocation made while a hook of this thread holds its HookGuard, over glibc: from a signal
/// handler. Served from our private heap.
inline bool inside_hook() noexcept {
  return tls.guard >= kHookGuard && !tls.self && g_glibc_underneath && core::self_ready();
}

/// What the recording protocol (core/recording.hpp) needs from the shim: membarrier, the clock,
/// the threads' flags, the applier and the live table; its slow paths hold the guard (nothing of
/// ours is recorded: a recorded call would wait for the switch under way) and keep errno.
struct RecordingEnv {
  static void fence() noexcept;  // runtime.cpp
  static std::uint64_t now_ns() noexcept { return core::monotonic_ns(); }
  template <class F>
  static void for_each_thread(F&& f) noexcept {
    g_rec.threads.for_each(f);
  }
  static void drain() noexcept { g_applier.drain(); }
  static void set_exclusive(bool on) noexcept { g_applier.set_exclusive(on); }
  static void spread_table() noexcept { g_rec.table.set_min_depth(4); }  // 16 bucket locks
  static void yield() noexcept;                 // runtime.cpp
  static void warn(const char* line) noexcept;  // runtime.cpp
  struct Quiet {
    Guard guard;
    int saved = errno;
    ~Quiet() { errno = saved; }
  };
};
/// How calls are recorded in full mode, batched or direct, and the switches between them:
/// core/recording.hpp has the states and transitions. Set up once by ensure_init.
extern core::Recording<RecordingEnv> g_recording;
using core::Mode;

/// Starts recording a call: true when it is to log an event, false when it is to be recorded at
/// once. Either way the call ends with end_record once its event is logged or its table update
/// done, so that a switch of mode waits for it.
inline bool begin_record(core::ThreadStats* t) noexcept { return g_recording.begin(t); }
inline void end_record(core::ThreadStats* t) noexcept { g_recording.end(t); }
/// Recording::freeze and thaw: the final snapshot, a rebuild of the live table.
inline Mode freeze_recording(bool* quiet = nullptr) noexcept { return g_recording.freeze(quiet); }
inline void thaw_recording(Mode m) noexcept { g_recording.thaw(m); }
/// Set once at initialisation: membarrier's private expedited command is registered, so that
/// freeze_recording's wait sees every hook's flag (without it the freeze is only best effort).
extern bool g_fence;

/// Initialises the shim if nobody has (idempotent, thread-safe). Never called with the guard held
/// by a hook of this thread: a re-entrant call during initialisation sees kIniting and passes.
void ensure_init() noexcept;
/// The first thing a thread of ours does: the guard for its whole life, the private heap.
inline void become_own_thread() noexcept {
  ++tls.guard;
  tls.self = true;
}
/// Starts a detached thread of ours named `name`, with every signal blocked (the host's signals
/// are never delivered to it) and a stack of `stack` bytes. False when pthread_create failed.
bool spawn_own_thread(void* (*fn)(void*), const char* name, std::size_t stack) noexcept;
core::ThreadStats* enter_slow() noexcept;
void pending_work() noexcept;
/// Starts the reporter thread if periodic snapshots are on and it is not started (reporter.cpp).
void start_reporter_now() noexcept;
/// For a host call that needs the process single-threaded (unshare(CLONE_NEWUSER), setns into a
/// mount namespace: EINVAL while another thread shares its memory or filesystem): stops the
/// reporter thread and waits until it is gone (at most 2 s); it starts again at the next hook
/// call. False when a thread of ours remains (the metrics endpoint's) or it could not be stopped.
bool stop_reporter_for_host() noexcept;

/// The counter block to record this call into, or nullptr when the call must pass through.
/// (`stats` is set only once the state is kReady, which it then stays.)
inline core::ThreadStats* enter() noexcept {
  Tls& t = tls;
  if (t.guard == 0 && t.stats != nullptr) [[likely]]
    return t.stats;
  return enter_slow();
}

/// Called by hooks after recording, still under their guard. Pending work (starting the
/// reporter) waits for time to pass, so each thread looks at the clock only every 16 calls (only
/// until the reporter starts: a program that made its first 100 ms of calls in a burst and then
/// allocates rarely still gets its periodic snapshots).
inline void after_record() noexcept {
  if (g_pending.load(std::memory_order_relaxed)) [[unlikely]] {
    if (tls.pending_countdown-- == 0) {
      tls.pending_countdown = 15;
      pending_work();
    }
  }
}

/// Who answers the program's malloc and operator new (snapshot "coverage"); runtime.cpp.
struct Coverage {
  bool probed = false;
  bool malloc_ahead = false;     // a definition ahead of ours answers the program's malloc
  char ahead_name[256] = "";     // which object, when it can be named
};
extern Coverage g_coverage;
void encode_coverage(core::TextBuffer& out) noexcept;

// fork.cpp
void install_fork_handlers() noexcept;
// reporter.cpp
void reporter_init() noexcept;
/// Remembers which file fd 2 is now: warnings go to fd 2 only while it is still that file.
void record_stderr() noexcept;
/// A thread the reporter thread started (it shares the reporter's descriptor table): says its
/// warnings the way the reporter does.
void join_reporter_fd_table() noexcept;
void reporter_on_fork_child() noexcept;
void write_final_snapshot() noexcept;
void warn_once(const char* line) noexcept;

}  // namespace fragscope::shim
