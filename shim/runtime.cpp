// Initialisation, thread attach/detach, and the shim's constructor and destructor.
#include "runtime.hpp"
#include "remedy.hpp"
#include "self_heap.hpp"
#include "trim_only.hpp"

#include <dlfcn.h>
#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <pthread.h>
#include <signal.h>
#include <sys/auxv.h>
#include <sys/random.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <algorithm>
#include <cstdlib>
#include <cstring>

#include <link.h>
#include <unwind.h>

#include "clock.hpp"
#include "forward.hpp"

namespace fragscope::shim {

constinit thread_local Tls tls __attribute__((tls_model("initial-exec"))) = {0, 0, nullptr, false, false, nullptr};
Coverage g_coverage;
bool g_glibc_underneath = false;
bool g_sampled = false;
bool g_fence = false;
std::atomic<State> g_state{State::kUninit};
std::atomic<bool> g_pending{false};
// Constant-initialised: hooks may run before any constructor of ours.
constinit core::Recorder g_rec;
constinit core::HookClock g_clock;
constinit core::EventApplier g_applier;
constinit core::Recording<RecordingEnv> g_recording;
core::Config g_cfg;

using core::Config;

namespace {
pthread_key_t g_thread_key;
bool g_have_key = false;

void on_thread_exit(void* p) {
  // The thread keeps its block for the calls it still makes on its way out (later destructors,
  // glibc freeing its tcache); a later thread takes the block over, counts and all, once this
  // one is gone (ThreadRegistry::acquire).
  auto* ts = static_cast<core::ThreadStats*>(p);
  g_rec.threads.exiting(ts);
}

void select_clock_from_cpuinfo() {
  static char buf[16384];
  // On a host thread, in the host's table: another thread of the host may close and reuse the
  // number meanwhile. What was read then is not cpuinfo, and the number is the host's: not closed.
  int fd = open("/proc/cpuinfo", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  struct stat before, after;
  const bool known = fstat(fd, &before) == 0;
  ssize_t n = read(fd, buf, sizeof(buf));
  const bool ours = known && fstat(fd, &after) == 0 && after.st_dev == before.st_dev && after.st_ino == before.st_ino;
  if (!ours) return;
  close(fd);
  if (n > 0) core::g_clock_source.store(core::select_clock(buf, static_cast<std::size_t>(n)));
}

const char* getenv_raw(const char* name) { return getenv(name); }

// FRAGSCOPE_FOLLOW_EXEC=0: take ourselves out of LD_PRELOAD, so that programs this process
// executes run unmeasured (forked children, being this program, are still measured). The
// environment entry is pointed at a static string of ours; nothing is allocated.
void stop_following_exec() {
  static char entry[Config::kPathMax + 16];
  Dl_info info{};
  if (dladdr(reinterpret_cast<void*>(&stop_following_exec), &info) == 0 || info.dli_fname == nullptr) return;
  for (char** e = environ; e && *e; ++e) {
    if (std::strncmp(*e, "LD_PRELOAD=", 11) != 0) continue;
    std::memcpy(entry, "LD_PRELOAD=", 11);
    if (core::preload_without(*e + 11, info.dli_fname, entry + 11, sizeof(entry) - 11)) *e = entry;
    return;
  }
}

// Who answers the program's malloc: asked once, from our constructor, by calling malloc through our
// own GOT (the first definition in the process's lookup order, through an executable's canonical
// PLT entry when it has one, as the program's own calls go) with tls.probing set: our
// pass-through malloc clears it. An allocator listed before us in LD_PRELOAD answers instead, and
// then no call of the program reaches our hooks. Requires: the guard held, real functions found.
void probe_coverage() noexcept {
  void* (*volatile first_malloc)(std::size_t) = &malloc;  // volatile: the pair is not elided
  void (*volatile first_free)(void*) = &free;
  tls.probing = true;
  void* p = first_malloc(1);
  const bool ahead = tls.probing;
  tls.probing = false;
  first_free(p);
  Coverage& c = g_coverage;
  c.malloc_ahead = ahead;
  c.probed = true;
  if (!ahead) return;
  // Name it: the object whose definition the dynamic linker finds first (an executable's PLT
  // entry is not a definition: st_shndx undefined), else what precedes us in LD_PRELOAD.
  Dl_info info{};
  ElfW(Sym)* sym = nullptr;
  void* m = dlsym(RTLD_DEFAULT, "malloc");
  if (m != nullptr && dladdr1(m, &info, reinterpret_cast<void**>(&sym), RTLD_DL_SYMENT) != 0 && sym != nullptr &&
      sym->st_shndx != SHN_UNDEF && info.dli_sname != nullptr && std::strcmp(info.dli_sname, "malloc") == 0 &&
      info.dli_fname != nullptr && info.dli_fname[0] != '\0') {
    std::snprintf(c.ahead_name, sizeof(c.ahead_name), "%s", info.dli_fname);
    return;
  }
  const char* pre = getenv_raw("LD_PRELOAD");
  if (pre == nullptr) return;
  // The entries before our own (LD_PRELOAD separates them by ':' or spaces).
  const char* ours = std::strstr(pre, "libfragscope");
  std::size_t n = ours != nullptr ? static_cast<std::size_t>(ours - pre) : 0;
  while (n > 0 && pre[n - 1] != ':' && pre[n - 1] != ' ') --n;  // to the start of our entry
  while (n > 0 && (pre[n - 1] == ':' || pre[n - 1] == ' ')) --n;  // and the separators before it
  if (n == 0) return;
  if (n > sizeof(c.ahead_name) - 1) n = sizeof(c.ahead_name) - 1;
  std::memcpy(c.ahead_name, pre, n);
  c.ahead_name[n] = '\0';
}

// Finds the address range of the loaded object that contains this function (our library), so
// sampled stacks can drop our own frames. dl_iterate_phdr does not allocate.
void find_own_range() {
  struct Ctx {
    std::uintptr_t probe, lo, hi;
  } ctx{reinterpret_cast<std::uintptr_t>(&find_own_range), 0, 0};
  dl_iterate_phdr(
      [](dl_phdr_info* info, std::size_t, void* p) -> int {
        auto* c = static_cast<Ctx*>(p);
        std::uintptr_t lo = UINTPTR_MAX, hi = 0;
        for (int i = 0; i < info->dlpi_phnum; ++i) {
          const auto& ph = info->dlpi_phdr[i];
          if (ph.p_type != PT_LOAD) continue;
          lo = std::min<std::uintptr_t>(lo, info->dlpi_addr + ph.p_vaddr);
          hi = std::max<std::uintptr_t>(hi, info->dlpi_addr + ph.p_vaddr + ph.p_memsz);
        }
        if (c->probe >= lo && c->probe < hi) {
          c->lo = lo;
          c->hi = hi;
          return 1;
        }
        return 0;
      },
      &ctx);
  g_rec.own_lo = ctx.lo;
  g_rec.own_hi = ctx.hi;
}

// Runs in a hook, under the recursion guard, on the host's thread, so in the host's descriptor
// table: the unwinder must not touch a descriptor. libunwind does: to validate an address it
// reads and writes a pipe it opened once, and when the read fails (the host closed the number)
// it closes both numbers and opens a new pipe, closing, reading and writing whatever the host
// has on them meanwhile (issue 16: the host's file closed under it). libgcc's unwinder (the one
// behind C++ exceptions, with glibc's _dl_find_object for a lock-free lookup) reads the CFI and
// the stack and makes no system call for it.
struct UnwindInto {
  void** buf;
  unsigned n, max;
};
_Unwind_Reason_Code unwind_frame(_Unwind_Context* ctx, void* arg) {
  auto* into = static_cast<UnwindInto*>(arg);
  if (into->n == into->max) return _URC_END_OF_STACK;
  const _Unwind_Ptr ip = _Unwind_GetIP(ctx);
  if (ip == 0) return _URC_END_OF_STACK;
  into->buf[into->n++] = reinterpret_cast<void*>(ip);
  return _URC_NO_REASON;
}
unsigned capture_stack(void** buf, unsigned max) {
  UnwindInto into{buf, 0, max};
  _Unwind_Backtrace(unwind_frame, &into);
  return into.n;
}
}  // namespace

void ensure_init() noexcept {
  State s = State::kUninit;
  if (!g_state.compare_exchange_strong(s, State::kIniting, std::memory_order_acq_rel)) {
    // Another thread is initialising: wait for it (it takes microseconds). Our own re-entrant
    // calls never get here: they hold the guard and pass through.
    while (g_state.load(std::memory_order_acquire) == State::kIniting) sched_yield();
    return;
  }
  int saved = errno;
  Guard g;
  record_stderr();  // before any warning: fd 2 is written only while it is this file
  bool ok = resolve_real_functions();
  if (ok) select_usable_mode();
  g_glibc_underneath = ok && g_usable_mode.load(std::memory_order_relaxed) == UsableMode::kChecking;
  core::parse_config(g_cfg, getenv_raw, getauxval(AT_SECURE) != 0);
  if (!g_cfg.follow_exec) stop_following_exec();
  if (ok && g_cfg.enabled) {
    // Our threads allocate from it; without it (no address space) they use the host's allocator.
    if (!core::self_heap_init()) warn_once("fragscope: cannot reserve address space for our own heap; our threads allocate from the host's");
    select_clock_from_cpuinfo();
    reporter_init();
    find_own_range();
    ok = g_rec.init(g_cfg.sample_bytes, capture_stack);
    if (ok && g_cfg.sampled) {
      // Sampled mode: one region in N, chosen by a salt nobody can predict; every hook records at
      // once (no batching, no hand-over: only kept blocks touch shared memory).
      std::uint64_t salt = 0;
      if (syscall(SYS_getrandom, &salt, sizeof(salt), GRND_NONBLOCK) != sizeof(salt))
        salt = core::monotonic_ns() ^ (static_cast<std::uint64_t>(getpid()) << 32) ^ reinterpret_cast<std::uintptr_t>(&salt);
      const unsigned page_shift = static_cast<unsigned>(__builtin_ctzll(core::page_size()));
      g_rec.regions.configure(g_cfg.region_one_in, std::max(core::RegionSampler::kDefaultShift, page_shift), salt);
      g_rec.sites.set_scale(1.0 / g_rec.regions.fraction());
      g_sampled = true;
    }
    // The asymmetric fence of freeze_recording and of the switches (membarrier, Linux 4.14).
    g_fence = ok && syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0;
    // Batched recording needs the fence; without it, or without memory for the applier, calls
    // are recorded directly.
    if (ok && !g_sampled && g_fence && g_applier.init(g_rec)) {
      g_recording.enable_batching();
    }
  }
  // The preload remediation works with recording off too (FRAGSCOPE_ENABLE=0): that is how
  // `fragscope compare` times it.
  if (ok) {
    if (const char* warning = remedy_init(g_cfg)) warn_once(warning);
  }
  if (ok && g_cfg.enabled) {
    g_have_key = pthread_key_create(&g_thread_key, on_thread_exit) == 0;
    install_fork_handlers();
    for (std::size_t i = 0; i < g_cfg.nwarnings; ++i) warn_once(g_cfg.warnings[i]);
    g_pending.store(g_cfg.interval_ms != 0, std::memory_order_relaxed);
    g_state.store(State::kReady, std::memory_order_release);
  } else {
    if (!ok) warn_once("fragscope: cannot initialise (allocator not found or no memory); not recording");
    // Recording off, the trim remedy on: a thread of ours trims by the allocator's own figures.
    // It allocates from our private heap, so it needs one (else no trim: an arena of ours would
    // be worse than none).
    if (ok && g_cfg.trim_bytes != 0 && g_cfg.interval_ms != 0) {
      if (core::self_heap_init()) trim_only_init();
      else warn_once("fragscope: FRAGSCOPE_TRIM: cannot reserve address space for our own heap; not trimming");
    }
    g_state.store(State::kPassthrough, std::memory_order_release);
  }
  errno = saved;
}

bool spawn_own_thread(void* (*fn)(void*), const char* name, std::size_t stack) noexcept {
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);  // the new thread inherits this mask
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_attr_setstacksize(&attr, stack);
  pthread_t th;
  // What pthread_create allocates for the new thread (its TLS vector) is ours: from our private
  // heap, as the thread's own allocations will be, not the host's (whose figures we measure).
  const bool was_self = tls.self;
  ++tls.guard;
  tls.self = core::self_ready();
  const bool ok = pthread_create(&th, &attr, fn, nullptr) == 0;
  tls.self = was_self;
  --tls.guard;
  if (ok) pthread_setname_np(th, name);
  pthread_attr_destroy(&attr);
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  return ok;
}

core::ThreadStats* enter_slow() noexcept {
  Tls& t = tls;
  if (t.guard != 0) return nullptr;
  State s = g_state.load(std::memory_order_acquire);
  if (s == State::kUninit) {
    ensure_init();
    s = g_state.load(std::memory_order_acquire);
  }
  if (s != State::kReady) return nullptr;
  if (t.stats == nullptr) {
    Guard g;
    int saved = errno;
    core::ThreadStats* ts = g_rec.threads.acquire();
    if (ts != nullptr && g_have_key) pthread_setspecific(g_thread_key, ts);
    t.stats = ts;
    if (g_sampled && !remedy_on()) t.fast = ts;
    if (ts != nullptr) {
      // The first thread to call a hook batches; later ones take its place (Recording::begin).
      g_recording.first_call(ts);
    }
    errno = saved;
  }
  return t.stats;
}

void RecordingEnv::fence() noexcept { syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0); }
void RecordingEnv::yield() noexcept { sched_yield(); }
void RecordingEnv::warn(const char* line) noexcept { warn_once(line); }

__attribute__((constructor)) static void fragscope_constructor() {
  if (tls.guard == 0) ensure_init();
  // Not from ensure_init: that may run inside the allocator (its mmap), under its lock, and an
  // allocator ahead of us would take that lock again. Here no allocator call is under way.
  if (tls.guard == 0 && g_state.load(std::memory_order_acquire) == State::kReady) {
    Guard g;
    probe_coverage();
    // The reporter starts now, not at the first call after 100 ms: a daemon idle after its
    // start-up gets its periodic snapshots all the same (Redis waited 29 s for its first).
    start_reporter_now();
  }
}

__attribute__((destructor)) static void fragscope_destructor() {
  if (g_state.load(std::memory_order_acquire) != State::kReady) return;
  Guard g;
  int saved = errno;
  write_final_snapshot();
  errno = saved;
}

}  // namespace fragscope::shim
