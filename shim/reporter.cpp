// The in-process reporter: a thread that writes a snapshot every FRAGSCOPE_INTERVAL_MS, the final
// snapshot at exit and the one-line exit summary. It runs with the recursion guard held for its
// whole life, so anything it allocates is unrecorded. Its parts, by job, are in
// reporter_parts.hpp: descriptors, stderr and /proc reads (reporter_io.cpp), the snapshot file
// (snapshot_output.cpp), the heap layout analysis (heap_analysis.cpp); here: the thread, its
// clock ticks and event drains, the snapshot's assembly, and the process's lifecycle (start,
// fork, exit).
//
// The thread is started lazily, by the first hook call made 100 ms (or one interval, if shorter)
// after start or fork: short-lived processes (a fork that execs at once) never get a thread, and
// a process that must be single-threaded early on (unshare(CLONE_NEWUSER)) is not made
// multi-threaded by us. It also ticks the hooks' clock (HookClock).
#include <dlfcn.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <linux/close_range.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <iterator>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "allocator_view.hpp"
#include "metrics_out.hpp"
#include "pool_view.hpp"
#include "system_view.hpp"
#include "site_view.hpp"
#include "clock.hpp"
#include "forward.hpp"
#include "heap_layout.hpp"
#include "os_memory.hpp"
#include "proc_parse.hpp"
#include "runtime.hpp"
#include "reporter_parts.hpp"
#include "safe_file.hpp"
#include "snapshot.hpp"

namespace fragscope::shim {
namespace rep {
bool g_forked = false;  // reporter_parts.hpp
}  // namespace rep
namespace {
using namespace rep;

// All guarded by g_mu, except where noted.
pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
pthread_cond_t g_cv;
bool g_cv_ready = false;
bool g_stop = false;
bool g_final_done = false;
std::atomic<bool> g_thread_started{false};
std::uint64_t g_start_ns = 0;  // process (or fork) start, CLOCK_MONOTONIC
std::uint64_t g_seq = 0;
std::uint64_t g_run_id = 0;
bool g_final_requested = false;  // write_final_snapshot asks the running reporter for it
// The reporter thread: started and running (g_reporter_running is set by pending_work when the
// thread was created, cleared in a fork child), and whether it runs in a descriptor table of its
// own (own_fd_table; set by the thread before it first takes g_mu).
std::atomic<bool> g_reporter_running{false};
std::atomic<int> g_reporter_tid{0};  // the reporter thread's kernel thread id, while it runs
bool g_own_fds = false;
char g_exe[1024];
char g_argv0[1024];  // the program's name as it was started: /proc/self/cmdline's first word
core::TickCalibration g_calib;
core::SnapshotBuilder g_builder;
core::TextBuffer g_buf;
core::AllocatorFigures g_allocator_figures;  // filled with the snapshot's allocator view, for Prometheus

// Warnings said on stderr, repeated in the next snapshot. Guarded by g_warn_lock.
core::SpinLock g_warn_lock;
constexpr std::size_t kMaxWarn = 8;
char g_warn[kMaxWarn][256];
std::size_t g_nwarn = 0;
const char* g_warn_ptrs[kMaxWarn];

std::uint64_t realtime_ns() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1000000000u + static_cast<std::uint64_t>(ts.tv_nsec);
}

void new_identity() {
  g_start_ns = core::monotonic_ns();
  g_run_id = (realtime_ns() * 0x9E3779B97F4A7C15ULL) ^ static_cast<std::uint64_t>(getpid());
  g_calib.start();
  ssize_t n = readlink("/proc/self/exe", g_exe, sizeof(g_exe) - 1);
  g_exe[n > 0 ? n : 0] = '\0';
  g_argv0[0] = '\0';  // read_argv0, by the reporter, in its own descriptor table
}

// exe resolves symlinks (Debian's redis-server is a link to redis-check-rdb): the name the
// program was started by says what it is: /proc/self/cmdline's first word, once per process.
void read_argv0() {
  if (g_argv0[0] != '\0') return;
  const long n = read_path("/proc/self/cmdline", g_proctext, 4096, /*cut_ok=*/true);  // the first word is enough
  if (n <= 0) return;
  const std::size_t len = std::min(static_cast<std::size_t>(n), sizeof(g_argv0) - 1);
  std::memcpy(g_argv0, g_proctext.p, len);
  g_argv0[len] = '\0';  // the first word ends at its NUL
}

// FRAGSCOPE_TRIM: what the allocator's trim call gave back, measured as the drop of the
// process's RSS across the call. Under g_mu.
struct TrimRemedy {
  std::uint64_t calls = 0;
  std::uint64_t released = 0;       // sum of the RSS drops (a rise counts as 0)
  std::uint64_t last_released = 0;
  std::uint64_t last_empty = 0;     // the empty resident heap bytes that triggered the last call
  std::uint64_t left = 0;           // empty resident bytes the last call left: last_empty − its drop
  bool said = false;                // no call known for this allocator: said once
};
TrimRemedy g_trim;


// Requires g_mu; the heap layout of this snapshot analysed. Asks the allocator to give its free
// pages back when the empty resident heap pages reach FRAGSCOPE_TRIM bytes above what the last
// call left (its empty bytes less its RSS drop): pages an allocator cannot return (glibc keeps
// the page that holds a free chunk's header) would otherwise have it called at every snapshot
// for nothing.
void trim_if_worth_it(const core::HeapLayout& h) {
  if (g_cfg.trim_bytes == 0) return;
  const std::uint64_t empty = h.empty_resident_pages * core::page_size();
  g_trim.left = std::min(g_trim.left, empty);  // the program used or unmapped some of them
  if (empty < g_trim.left + g_cfg.trim_bytes) return;
  if (allocator_trim_call() == nullptr) {
    if (!g_trim.said) warn_once("fragscope: FRAGSCOPE_TRIM: no trim call known for the allocator underneath; not trimming");
    g_trim.said = true;
    return;
  }
  const long long before = resident_bytes();
  allocator_trim();
  const long long after = resident_bytes();
  const std::uint64_t drop = before >= 0 && after >= 0 && after < before ? static_cast<std::uint64_t>(before - after) : 0;
  ++g_trim.calls;
  g_trim.released += drop;
  g_trim.last_released = drop;
  g_trim.last_empty = empty;
  g_trim.left = empty > drop ? empty - drop : 0;
}

SystemView g_sys;  // the system view of the last snapshot (for the metrics)
// The CPUs the process can use (usable_cpus; 0 = unknown or not checked yet), and whether the
// reporter applies a busy hook thread's events (reporter_main). Under g_mu.
double g_cpus = 0;
bool g_reporter_applies = false;

// `,"coverage":{...}`: whether the hooks see the program's allocations. `malloc_ahead` names an
// object ahead of the shim whose malloc answers the program (nothing reaches our hooks);
// `operator_new` is the library whose C++ operator new the program calls and `operator_new_via`
// how it is recorded: "hook" (an allocator's own: jemalloc, tcmalloc, mimalloc) or "malloc"
// (libstdc++'s, which calls malloc). The share of frees of blocks never seen is the other signal;
// the reports compute it from "anomalies" and "calls".
void encode_coverage(core::TextBuffer& out) noexcept {
  const Coverage& c = g_coverage;
  out.append(",\"coverage\":{\"probed\":");
  out.append(c.probed ? "true" : "false");
  out.append(",\"malloc_ahead\":");
  if (c.malloc_ahead) core::json_string(out, c.ahead_name[0] != '\0' ? c.ahead_name : "an object loaded before libfragscope.so");
  else out.append("null");
  out.append(",\"operator_new\":");
  Dl_info info{};
  void* n = g_cxx.next[static_cast<unsigned>(CxxFn::kNew)];
  if (n != nullptr && dladdr(n, &info) != 0 && info.dli_fname != nullptr) core::json_string(out, info.dli_fname);
  else out.append("null");
  out.append(",\"operator_new_via\":");
  out.append(n == nullptr ? "null" : g_cxx.record[static_cast<unsigned>(CxxFn::kNew)] ? "\"hook\"" : "\"malloc\"");
  out.append("}");
}

// The snapshot sections only the running shim can write: the allocator's own view, the pools,
// and the call sites with the pinned bytes of this snapshot's layout analysis.
void encode_runtime_sections(core::TextBuffer& out, const core::SnapshotMeta& m) {
  const core::EventApplier::Stats ev = g_applier.stats();
  core::append_printf(out,
                      ",\"recording\":{\"mode\":\"%s\",\"events_applied\":%llu,\"full_ring_drains\":%llu,"
                      "\"cpus\":%.6g,\"reporter_applies\":%s,\"handovers\":%llu,\"returns\":%llu,\"own_threads\":%u,"
                      "\"table_compactions\":%llu}",
                      g_sampled ? "sampled" : g_recording.mode() == Mode::kBatched ? "batched" : "direct",
                      static_cast<unsigned long long>(ev.applied), static_cast<unsigned long long>(ev.full_drains),
                      g_cpus, g_reporter_applies ? "true" : "false",
                      static_cast<unsigned long long>(g_recording.handovers()),
                      static_cast<unsigned long long>(g_recording.returns()),
                      (g_thread_started.load(std::memory_order_relaxed) ? 1u : 0u) + metrics_threads(),
                      static_cast<unsigned long long>(g_compactions));
  encode_allocator_view(out, g_allocator_figures);
  encode_coverage(out);
  if (g_cfg.trim_bytes != 0) {
    out.append(",\"trim_remedy\":{");
    core::append_printf(out, "\"threshold\":%llu,\"call\":", static_cast<unsigned long long>(g_cfg.trim_bytes));
    if (const char* call = allocator_trim_call()) core::json_string(out, call);
    else out.append("null");
    core::append_printf(out, ",\"calls\":%llu,\"released_bytes\":%llu,\"last_released_bytes\":%llu,\"last_empty_bytes\":%llu}",
                        static_cast<unsigned long long>(g_trim.calls), static_cast<unsigned long long>(g_trim.released),
                        static_cast<unsigned long long>(g_trim.last_released),
                        static_cast<unsigned long long>(g_trim.last_empty));
  }
  encode_system_view(out, g_sys, g_cfg.proc_dir);  // read by read_system_view
  encode_pool_sections(out);
  std::size_t npinned = 0;
  const double* pinned = pinned_by_site(&npinned);
  encode_sites(out, m.heap, m.heap != nullptr ? pinned : nullptr, npinned);
}

// The system's view, one file at a time through the same scratch, into g_sys. Before the
// snapshot is encoded: a read may warn, and the encoding holds g_warn_lock. Requires g_mu.
void read_system_view() {
  SystemView& sys = g_sys;
  sys = SystemView{};
  long n = read_proc("buddyinfo", g_proctext, false);
  if (n >= 0) sys.buddy = proc::parse_buddyinfo(std::string_view(static_cast<const char*>(g_proctext.p), static_cast<std::size_t>(n)));
  sys.buddy_errno = n < 0 ? static_cast<int>(-n) : 0;
  n = read_proc("meminfo", g_proctext, false);
  if (n >= 0) sys.meminfo = proc::parse_meminfo(std::string_view(static_cast<const char*>(g_proctext.p), static_cast<std::size_t>(n)));
  sys.meminfo_errno = n < 0 ? static_cast<int>(-n) : 0;
  n = read_proc("vmstat", g_proctext, false);
  if (n >= 0) sys.vmstat = proc::parse_vmstat(std::string_view(static_cast<const char*>(g_proctext.p), static_cast<std::size_t>(n)));
  sys.vmstat_errno = n < 0 ? static_cast<int>(-n) : 0;
}

void check_cpus();

// Requires g_mu.
void snapshot_locked(bool final) {
  struct ReleaseOnReturn {
    ~ReleaseOnReturn() { release_scratch(); }
  } release;
  if (!g_buf.reserve(8u << 20)) return;
  check_cpus();  // the process's affinity or cgroup may have changed since the last snapshot
  // The final snapshot must balance exactly, also when other threads still call the hooks (a
  // thread called exit() while the others run): they wait at the start of their recording while
  // the table and the counters are read (milliseconds; not the layout analysis), then go on.
  if (!final) maybe_compact_table();
  const Mode frozen = final ? freeze_recording() : Mode::kDirect;
  g_applier.drain();  // every event logged so far is in the table and the counters
  std::uint64_t now = core::now_ticks();
  g_calib.update();
  // One walk of the live table gives the counts and the first batch of blocks the layout
  // analysis needs: all of them when they fit in the batch (layout_batch_cap).
  // A table with more blocks than a batch holds: the walk samples their addresses instead, and
  // the analysis reads them window by window.
  const std::size_t entries = g_rec.table.entries(), cap = layout_batch_cap(entries);
  core::LiveRange* ranges = nullptr;
  if (g_ranges.ensure(cap * sizeof(core::LiveRange), "heap-blocks")) ranges = static_cast<core::LiveRange*>(g_ranges.p);
  const bool windowed = ranges != nullptr && cap < entries + entries / 4 + 1024;
  static std::uintptr_t sample_space[4096];
  core::AddressSample sample(sample_space, std::size(sample_space), entries / std::size(sample_space) + 1);
  core::WindowSelector first(ranges, ranges != nullptr && !windowed ? cap : 0, 0);
  g_applier.begin_shared();  // the walk takes bucket locks: so do drains meanwhile
  g_builder.collect(g_rec, now, &first, windowed ? &sample : nullptr);
  g_applier.end_shared();
  sample.finish();
  if (final) thaw_recording(frozen);

  core::SnapshotMeta m;
  m.seq = g_seq++;
  m.final = final;
  m.reason = final ? "exit" : "interval";
  m.pid = getpid();
  m.ppid = getppid();
  m.run_id = g_run_id;
  read_argv0();
  m.exe = g_exe;
  m.argv0 = g_argv0;
  m.forked_child = g_forked;
  m.time_unix_ns = realtime_ns();
  m.uptime_ns = core::monotonic_ns() - g_start_ns;
  m.ns_per_tick = g_calib.ns_per_tick();
  m.clock = core::g_clock_source.load(std::memory_order_relaxed);
  m.proc_dir = g_cfg.proc_dir;

  // The process's own view: each file parsed into a static, or the reason it could not be read.
  auto read_self = [](const char* name, auto& into, auto parse, const char*& error, char (&msg)[160]) {
    const long n = read_proc(name, g_proctext);
    if (n < 0) {
      std::snprintf(msg, sizeof(msg), "cannot read %.80s/self/%s: %s", g_cfg.proc_dir, name, strerror(static_cast<int>(-n)));
      error = msg;
      return false;
    }
    into = parse(std::string_view(static_cast<const char*>(g_proctext.p), static_cast<std::size_t>(n)), nullptr);
    return true;
  };
  static proc::Status status;
  static proc::SmapsRollup rollup;
  static proc::SmapsByKind by_kind;  // smaps, the largest file we read (~1 KB per mapping), summed
  static char status_err[160], rollup_err[160], by_kind_err[160];
  if (read_self("status", status, proc::parse_status, m.status_error, status_err)) m.status = &status;
  if (read_self("smaps_rollup", rollup, proc::parse_smaps_rollup, m.rollup_error, rollup_err)) {
    m.rollup = &rollup;
  } else {
    static bool said = false;
    if (!said) {
      said = true;
      char line[256];
      std::snprintf(line, sizeof(line), "fragscope: %s; process memory figures from it are left out", rollup_err);
      warn_once(line);
    }
  }
  // Resident memory by mapping kind (heap, anon, stack, file, shmem, ours).
  if (read_self("smaps", by_kind, proc::sum_smaps_by_kind, m.by_kind_error, by_kind_err)) m.by_kind = &by_kind;
  m.page_size = core::page_size();
  if (ranges == nullptr) {
    m.heap_error = "out of memory for the heap layout analysis";
  } else {
    const std::size_t nranges = first.finish();
    g_ranges.touched(nranges * sizeof(core::LiveRange));
    m.batch_bytes = cap * sizeof(core::LiveRange);
    m.heap_error = analyse_heap(ranges, nranges, cap, windowed || first.full(), windowed ? &sample : nullptr, entries,
                                g_builder.totals(), m);
    if (m.heap_error == nullptr) m.heap = &g_layout;
    if (m.heap != nullptr && g_rec.regions.on()) m.estimate = &g_estimate;
    // After the analysis (this snapshot shows the heap before the call), never at exit.
    if (m.heap != nullptr && !final) trim_if_worth_it(g_layout);
  }
  if (!ensure_output()) return;
  m.output_path = g_path;
  read_system_view();
  {
    core::LockGuard wl(g_warn_lock);  // nothing under it may warn (warn_once takes it)
    for (std::size_t i = 0; i < g_nwarn; ++i) g_warn_ptrs[i] = g_warn[i];
    m.warnings = g_warn_ptrs;
    m.nwarnings = g_nwarn;
    m.extra = encode_runtime_sections;
    m.scratch_bytes = scratch_touched();
    g_buf.clear();
    g_builder.encode(m, g_rec, g_buf);
    g_nwarn = 0;
  }
  core::PrometheusInputs prom;
  prom.meta = &m;
  prom.totals = &g_builder.totals();
  if (g_sys.buddy_errno == 0) prom.buddy = &g_sys.buddy;
  if (g_sys.meminfo_errno == 0) prom.meminfo = &g_sys.meminfo;
  if (g_sys.vmstat_errno == 0) prom.vmstat = &g_sys.vmstat;
  prom.allocator = &g_allocator_figures;
  metrics_after_snapshot(prom);
  if (g_buf.overflow()) return;  // cannot happen with 8 MiB; never write a cut line
  write_snapshot(g_buf.data(), g_buf.size());
}

// Between snapshots the thread ticks the hooks' clock (HookClock) every kTickNs while hooks are
// busy: they moved the tick themselves since our last tick (a thread does every 64 calls, or at
// every call while nobody ticks). After kIdleAfterNs without that it stops ticking and wakes only
// every kIdleWaitNs (plus snapshots), so an idle process sees a hundred wake-ups a second.
//
// While the process is batched and busy, the thread also applies the hook thread's events, on
// its own core: a ring (4096 events) takes a busy hook thread about 100 us to fill, so the hook
// thread then seldom finds it full and applies nothing itself — its calls cost only the event.
// The wait between drains adapts to the rate: halved (down to kApplyMinNs) when a drain found
// more than kApplyMany events, doubled (up to kTickNs) when it found fewer than kApplyFew, so a
// process that allocates little is not woken tens of thousands of times a second. The thread asks
// for a timer slack of kSlackNs so that short waits are not stretched by the default 50 us. A
// ring that fills anyway is applied by its own thread, as before.
//
// Only while the process may run on two CPUs or more (usable_cpus, checked at each snapshot): on
// one, the drains would only take turns with the hook thread on the same CPU, waking it out of
// the program every few tens of microseconds (wl_churn under `taskset -c 0`: 3.94-4.26 s with the
// reporter draining, 2.66-3.00 s without, 0.84-0.94 s plain; bench/README.md, "One CPU").
constexpr std::uint64_t kTickNs = 1000000, kIdleAfterNs = 100000000, kIdleWaitNs = 10000000;
constexpr std::uint64_t kApplyMinNs = 30000, kSlackNs = 1000;
constexpr std::size_t kApplyMany = 1024, kApplyFew = 256;

// Direct recording that no longer needs to be: a program whose threads allocated at once for a
// while (and spent the hand-over budget) may go on with one thread calling the hooks. The
// thread looks at the threads' call counters every kWatchNs while the hooks are busy; after
// kQuietChecks looks in a row that found calls from the same single thread, it makes that thread
// the batcher (return_to_batching).
constexpr std::uint64_t kWatchNs = 100000000;
constexpr unsigned kQuietChecks = 10;
core::ThreadStats* g_alone = nullptr;  // the one thread seen calling hooks at the last look
unsigned g_alone_looks = 0;            // looks in a row that saw only g_alone

// Requires g_mu. The thread that alone called a hook since the last look, or nullptr.
core::ThreadStats* only_calling_thread() {
  core::ThreadStats* only = nullptr;
  unsigned calling = 0;
  g_rec.threads.for_each([&](core::ThreadStats& t) {
    std::uint64_t n = 0;
    for (const core::Counter& c : t.calls) n += c.get();
    if (n == t.seen_calls) return;
    t.seen_calls = n;
    ++calling;
    only = &t;
  });
  return calling == 1 ? only : nullptr;
}

// Requires g_mu (released while the mode switches). Called every kWatchNs while hooks are busy.
void watch_direct_recording() {
  core::ThreadStats* only = only_calling_thread();
  g_alone_looks = only != nullptr && only == g_alone ? g_alone_looks + 1 : only != nullptr ? 1 : 0;
  g_alone = only;
  if (g_alone_looks < kQuietChecks || g_recording.mode() != Mode::kDirect) return;
  g_alone_looks = 0;
  if (!only->in_use.load(std::memory_order_acquire) || only->exiting.load(std::memory_order_acquire))
    return;  // its thread has exited, or is exiting
  pthread_mutex_unlock(&g_mu);
  g_recording.return_to_batching(only);
  pthread_mutex_lock(&g_mu);
}

// Requires g_mu. Whether the reporter may apply events: the process can use two CPUs or more
// (or we cannot tell).
void check_cpus() {
  g_cpus = usable_cpus();
  g_reporter_applies = g_cpus == 0 || g_cpus >= 2;
}

void* reporter_main(void*) {
  become_own_thread();  // for the thread's whole life: our allocations are not the host's
  g_reporter_tid.store(static_cast<int>(syscall(SYS_gettid)), std::memory_order_release);
  prctl(PR_SET_TIMERSLACK, kSlackNs, 0, 0, 0);  // a failure only makes the waits longer
  // Every descriptor of ours lives in this thread (and the metrics thread it starts): in a table
  // of our own from here on, if the kernel lets us.
  const bool own_fds = own_fd_table();
  const std::uint64_t interval = std::uint64_t{g_cfg.interval_ms} * 1000000u;
  pthread_mutex_lock(&g_mu);
  g_own_fds = own_fds;
  check_cpus();
  release_scratch();
  // Started for the final snapshot alone (FRAGSCOPE_INTERVAL_MS=0): no periodic ones.
  std::uint64_t now = core::monotonic_ns(), next = interval != 0 ? g_start_ns + interval : UINT64_MAX, busy_at = now,
                mine = 0, ticked = 0;
  std::uint64_t watched = now;
  std::uint64_t apply_wait = kTickNs;
  while (!g_stop && !g_final_done) {
    if (g_final_requested) {  // write_final_snapshot waits for it
      snapshot_locked(true);
      g_final_done = true;
      pthread_cond_broadcast(&g_cv);
      break;
    }
    if (now >= next) {
      snapshot_locked(false);
      now = core::monotonic_ns();
      next = std::max(next + interval, now + interval / 2);
    }
    // The clock: tick while the hooks are busy.
    if (g_clock.tick.load(std::memory_order_relaxed) > mine) busy_at = now;
    const bool busy = now - busy_at < kIdleAfterNs;
    if (busy && now - ticked >= kTickNs) mine = g_clock.refresh(), ticked = now;
    g_clock.ticking.store(busy, std::memory_order_relaxed);
    if (busy && now - watched >= kWatchNs) {
      watched = now;
      if (g_recording.mode() == Mode::kDirect) watch_direct_recording();
      else g_alone_looks = 0;
    }
    const bool applying = busy && g_reporter_applies && g_recording.mode() == Mode::kBatched;
    const std::uint64_t wake = std::min(next, now + (applying ? apply_wait : busy ? kTickNs : kIdleWaitNs));
    timespec deadline{static_cast<time_t>(wake / 1000000000u), static_cast<long>(wake % 1000000000u)};
    while (!g_stop && !g_final_requested && pthread_cond_timedwait(&g_cv, &g_mu, &deadline) != ETIMEDOUT) {
    }
    if (applying && !g_stop && !g_final_requested) {
      pthread_mutex_unlock(&g_mu);  // a final snapshot requested meanwhile waits only for this drain
      const std::size_t applied = g_applier.drain();
      pthread_mutex_lock(&g_mu);
      if (applied > kApplyMany) apply_wait = std::max(apply_wait / 2, kApplyMinNs);
      else if (applied < kApplyFew) apply_wait = std::min(apply_wait * 2, kTickNs);
    }
    now = core::monotonic_ns();
  }
  g_clock.ticking.store(false, std::memory_order_relaxed);
  pthread_mutex_unlock(&g_mu);
  return nullptr;
}

void init_cv() {
  pthread_condattr_t a;
  pthread_condattr_init(&a);
  pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
  pthread_cond_init(&g_cv, &a);
  pthread_condattr_destroy(&a);
  g_cv_ready = true;
}

}  // namespace

void reporter_init() noexcept { new_identity(); }

void record_stderr() noexcept { g_stderr_id = identify_fd(STDERR_FILENO); }

void join_reporter_fd_table() noexcept { t_own_fds = g_own_fds; }

void warn_once(const char* line) noexcept {
  say(line);
  core::LockGuard g(g_warn_lock);
  if (g_nwarn < kMaxWarn) {
    std::snprintf(g_warn[g_nwarn], sizeof(g_warn[0]), "%s", line);
    ++g_nwarn;
  }
}

void start_reporter() noexcept;

void pending_work() noexcept {
  // Start the reporter once kStartAfterNs (or an interval, if shorter) has passed since start (or
  // fork): it ticks the hooks' clock from then on, and writes the first snapshot one interval
  // after start.
  constexpr std::uint64_t kStartAfterNs = 100000000;
  if (core::monotonic_ns() - g_start_ns < std::min(kStartAfterNs, std::uint64_t{g_cfg.interval_ms} * 1000000u)) return;
  start_reporter();
}

bool stop_reporter_for_host() noexcept {
  if (metrics_threads() != 0 || !g_reporter_running.load() || !g_cv_ready) return false;
  if (pthread_mutex_lock(&g_mu) != 0) return false;
  if (g_final_requested || g_final_done) {
    pthread_mutex_unlock(&g_mu);
    return false;
  }
  g_stop = true;
  pthread_cond_broadcast(&g_cv);
  pthread_mutex_unlock(&g_mu);
  // Gone when the kernel no longer knows its thread id: nothing of it runs any more.
  // (A thread just started may not have said its id yet: it will, and then see g_stop.)
  bool gone = false;
  for (int i = 0; i < 2000 && !gone; ++i) {
    gone = core::thread_gone(g_reporter_tid.load(std::memory_order_acquire));
    if (!gone) {
      timespec ms{0, 1000000};
      nanosleep(&ms, nullptr);
    }
  }
  pthread_mutex_lock(&g_mu);
  g_stop = false;
  g_reporter_running.store(false);
  g_thread_started.store(false);
  g_reporter_tid.store(0, std::memory_order_relaxed);
  g_pending.store(g_cfg.interval_ms != 0, std::memory_order_relaxed);  // back at the next hook call
  pthread_mutex_unlock(&g_mu);
  return gone;
}

void start_reporter_now() noexcept {
  if (g_pending.load(std::memory_order_relaxed)) start_reporter();
}

void start_reporter() noexcept {
  if (g_thread_started.exchange(true)) return;
  g_pending.store(false, std::memory_order_relaxed);
  int saved = errno;
  if (!g_cv_ready) init_cv();
  if (spawn_own_thread(reporter_main, "fragscope", 256 * 1024))
    g_reporter_running.store(true);
  else
    warn_once("fragscope: cannot start the reporter thread; only the final snapshot will be written");
  errno = saved;
}

void reporter_on_fork_child() noexcept {
  // The reporter thread did not survive the fork; the mutex may have been held by it.
  g_clock.ticking.store(false, std::memory_order_relaxed);  // nobody ticks the child's hook clock yet
  g_mu = PTHREAD_MUTEX_INITIALIZER;
  g_cv_ready = false;
  g_stop = false;
  g_final_done = false;
  g_thread_started.store(false);
  g_reporter_running.store(false);
  g_final_requested = false;
  // The parent's output file: the child writes its own. In our own table (the reporter's, which
  // the child does not have) the number means nothing here: whatever the child has on it is the
  // host's, never closed. In the host's table (no table of our own) the check and the close are
  // atomic enough here: the child has one thread until its fork handlers return.
  if (g_fd >= 0 && !g_own_fds) close_if_ours(g_fd, g_fd_id);
  g_fd = -1;
  g_pidfd = -1;  // the reporter's, in its table
  g_output_failed = false;
  g_seq = 0;
  g_forked = true;
  g_nwarn = 0;
  g_warn_lock.reset();
  g_trim = TrimRemedy{};  // the child's own calls
  metrics_on_fork_child(g_own_fds);
  g_own_fds = false;
  new_identity();
  g_pending.store(g_cfg.interval_ms != 0, std::memory_order_relaxed);
}

void write_final_snapshot() noexcept {
  // The final snapshot is written by the reporter thread, in its own descriptor table (the
  // output file is a number there, not here), when it runs. A process that ends before it started
  // writes from here, in the host's table, with the identity checks: starting a thread at exit
  // would allocate its thread block in the host's heap (glibc's TLS) and change the heap the final
  // snapshot measures (HeapLayout.UnderGlibcMallinfoAppears: mallinfo2 320 bytes off).
  timespec deadline;
  clock_gettime(CLOCK_REALTIME, &deadline);
  deadline.tv_sec += 2;
  // A reporter mid-snapshot finishes in milliseconds; never wait forever at exit.
  if (pthread_mutex_timedlock(&g_mu, &deadline) != 0) return;
  if (g_final_done) {
    pthread_mutex_unlock(&g_mu);
    return;
  }
  g_calib.update();
  // The tick factor needs 100 µs between its two readings; a process that ends sooner waits it out.
  while (core::monotonic_ns() - g_start_ns < 150000) g_calib.update();
  g_calib.update();
  if (g_reporter_running.load() && g_cv_ready) {
    g_final_requested = true;
    pthread_cond_broadcast(&g_cv);
    // The snapshot of a large heap takes a while; a reporter that does not answer in 10 s is stuck.
    timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);  // g_cv waits on CLOCK_MONOTONIC
    until.tv_sec += 10;
    while (!g_final_done && pthread_cond_timedwait(&g_cv, &g_mu, &until) != ETIMEDOUT) {
    }
    if (!g_final_done) {
      // Never write from here: the output file is the reporter's number, in its table.
      g_stop = true;
      pthread_mutex_unlock(&g_mu);
      return;
    }
  } else {
    // No reporter thread could be started: this thread writes, in the host's table, with the
    // identity checks and their window (own_fd_table).
    snapshot_locked(true);
  }
  g_final_done = true;
  g_stop = true;
  g_clock.ticking.store(false, std::memory_order_relaxed);  // calls after this read the TSC themselves
  if (g_cv_ready) pthread_cond_signal(&g_cv);
  pthread_mutex_unlock(&g_mu);

  if (!g_cfg.summary || g_forked) return;
  const core::SnapshotTotals& t = g_builder.totals();
  auto mib = [](double b) { return b / (1024.0 * 1024.0); };
  char heap[160] = "";
  if (g_layout.segments != 0 && t.table_requested != 0)
    std::snprintf(heap, sizeof(heap), "; heap %.1f MiB resident (%.1fx live), %llu pinned pages, %.1f MiB in holes",
                  mib(static_cast<double>(g_layout.heap_rss(core::page_size()))),
                  static_cast<double>(g_layout.heap_rss(core::page_size())) / static_cast<double>(t.table_requested),
                  static_cast<unsigned long long>(g_layout.pinned_pages), mib(static_cast<double>(g_layout.hole_bytes)));
  char line[512];
  std::snprintf(line, sizeof(line),
                "fragscope[%ld]: %s%.1f MiB live in %llu blocks (%.1f MiB usable), peak %.1f MiB%s; snapshots in %.200s",
                static_cast<long>(getpid()), t.estimated ? "sampled, estimated: " : "", mib(static_cast<double>(t.table_requested)),
                static_cast<unsigned long long>(t.table_blocks),
                mib(static_cast<double>(t.usable_alloc - t.usable_free)), mib(static_cast<double>(t.peak_requested)), heap,
                g_fd >= 0 ? g_path : "(none)");
  say(line);
  if (g_coverage.malloc_ahead) {
    std::snprintf(line, sizeof(line),
                  "fragscope[%ld]: INCOMPLETE: %.200s answers malloc ahead of libfragscope.so (LD_PRELOAD order); "
                  "the program's allocations were not seen: put libfragscope.so first (fragscope run does)",
                  static_cast<long>(getpid()), g_coverage.ahead_name[0] != '\0' ? g_coverage.ahead_name : "an object loaded before it");
    say(line);
  }
}

}  // namespace fragscope::shim
