// fork() handling, in one place. Lock order taken in prepare (and released in reverse):
//   event applier → pool registry (the bridge) → remediation pools (FRAGSCOPE_POOL_SIZES) → live table (walk lock → every bucket → split → side list) → call sites → mmap tracker →
//   thread registry → our private heap (its locks are held around nothing else).
// Holding every table lock across fork means no hook is half-way through an update, so the
// child's table and counters agree exactly. The child then starts over as its own process: new
// output file (its pid), a reporter started lazily, snapshots counted from 0.
#include <pthread.h>

#include "pool_view.hpp"
#include "remedy.hpp"
#include "runtime.hpp"
#include "self_heap.hpp"

namespace fragscope::shim {
namespace {

void prepare() {
  if (g_state.load(std::memory_order_acquire) != State::kReady) return;
  ++tls.guard;
  g_applier.lock();  // no batch half-applied: the child's table and counters agree
  pool_registry_lock();
  remedy_lock_all();
  g_rec.table.lock_all();
  g_rec.sites.lock_all();
  g_rec.mmaps.lock();
  g_rec.threads.lock();
  core::self_heap_lock_all();
}

void parent() {
  if (g_state.load(std::memory_order_acquire) != State::kReady) return;
  core::self_heap_unlock_all();
  g_rec.threads.unlock();
  g_rec.mmaps.unlock();
  g_rec.sites.unlock_all();
  g_rec.table.unlock_all();
  remedy_unlock_all();
  pool_registry_unlock();
  g_applier.unlock();
  --tls.guard;
}

void child() {
  if (g_state.load(std::memory_order_acquire) != State::kReady) return;
  core::self_heap_unlock_all();
  g_rec.threads.unlock();
  g_rec.mmaps.unlock();
  g_rec.sites.unlock_all();
  g_rec.table.unlock_all();
  remedy_unlock_all();
  pool_registry_unlock();
  g_applier.unlock();  // events logged before fork are the child's too: applied with its own
  g_rec.threads.forked(tls.stats);  // the other threads' blocks: theirs no longer exist here
  g_recording.on_fork_child();  // a switch under way ends as a switch to direct
  reporter_on_fork_child();
  --tls.guard;
}

}  // namespace

void install_fork_handlers() noexcept { pthread_atfork(prepare, parent, child); }

}  // namespace fragscope::shim
