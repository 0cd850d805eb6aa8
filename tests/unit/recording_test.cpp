// The recording protocol (core/recording.hpp) with its fence, clock and applier injected: every
// transition of its table, a hook left by longjmp from a signal handler, a fork while another
// thread switches the mode, and threads that hand the batching around while a snapshot freezes
// them, checked for the protocol's promise: at most one thread logs events at a time, never while
// another records directly, and nothing records while the recording is frozen.
#include <linux/membarrier.h>
#include <sched.h>
#include <signal.h>
#include <setjmp.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "recording.hpp"

namespace fc = fragscope::core;

namespace {

// The world the protocol sees, reset by each test.
struct World {
  static inline std::atomic<std::uint64_t> clock{1};       // ns
  static inline std::atomic<std::uint64_t> tick_per_read{0};  // the clock moves as it is read
  static inline std::vector<fc::ThreadStats*> threads;
  static inline std::atomic<int> fences{0}, drains{0}, spreads{0}, warnings{0}, quiets{0};
  static inline std::atomic<bool> exclusive{false};
  static inline std::atomic<bool> block_drain{false}, in_drain{false};
  // Recordings under way (between begin and end), by kind: checked by drain and by the tests.
  static inline std::atomic<int> logging{0}, direct{0};
  static inline std::atomic<int> drain_while_logging{0};
  static inline bool real_fence = false;

  static void reset() {
    clock = 1, tick_per_read = 0;
    threads.clear();
    fences = drains = spreads = warnings = quiets = 0;
    exclusive = false, block_drain = false, in_drain = false;
    logging = direct = drain_while_logging = 0;
  }
};

struct TestEnv {
  static void fence() noexcept {
    ++World::fences;
    if (World::real_fence) syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0);
  }
  static std::uint64_t now_ns() noexcept { return World::clock.fetch_add(World::tick_per_read) + World::tick_per_read; }
  template <class F>
  static void for_each_thread(F&& f) noexcept {
    for (fc::ThreadStats* t : World::threads) f(*t);
  }
  static void drain() noexcept {
    ++World::drains;
    // The events drained are complete: no batched hook is still logging.
    if (World::logging.load() != 0) ++World::drain_while_logging;
    World::in_drain = true;
    while (World::block_drain.load()) sched_yield();
    World::in_drain = false;
  }
  static void set_exclusive(bool on) noexcept { World::exclusive = on; }
  static void spread_table() noexcept { ++World::spreads; }
  static void yield() noexcept { sched_yield(); }
  static void warn(const char*) noexcept { ++World::warnings; }
  struct Quiet {
    Quiet() { ++World::quiets; }
  };
};

using Recording = fc::Recording<TestEnv>;

struct Threads {
  std::vector<std::unique_ptr<fc::ThreadStats>> owned;
  explicit Threads(int n) {
    World::reset();
    for (int i = 0; i < n; ++i) {
      owned.push_back(std::make_unique<fc::ThreadStats>());
      World::threads.push_back(owned.back().get());
    }
  }
  fc::ThreadStats* operator[](int i) { return owned[static_cast<std::size_t>(i)].get(); }
};

// One recorded call, as a hook makes it.
bool record(Recording& r, fc::ThreadStats* t) {
  const bool batched = r.begin(t);
  r.end(t);
  return batched;
}

TEST(Recording, WithoutBatchingEveryCallIsRecordedDirectly) {
  Threads th(2);
  Recording r;
  EXPECT_EQ(r.mode(), fc::Mode::kDirect);
  r.first_call(th[0]);
  EXPECT_FALSE(record(r, th[0]));
  EXPECT_FALSE(record(r, th[1]));
  EXPECT_FALSE(r.return_to_batching(th[0])) << "batching is not possible";
  EXPECT_EQ(World::drains, 0);
}

// Every row of the transition table, in the order a program meets them.
TEST(Recording, TransitionsAsTheTableSays) {
  Threads th(3);
  Recording r;
  r.enable_batching();  // kDirect -> kBatched
  EXPECT_EQ(r.mode(), fc::Mode::kBatched);
  EXPECT_TRUE(World::exclusive);
  r.first_call(th[0]);
  r.first_call(th[1]);  // the first thread keeps the place
  EXPECT_EQ(r.batcher(), th[0]);
  EXPECT_TRUE(record(r, th[0]));  // the batcher logs
  EXPECT_EQ(World::fences, 0) << "the batcher's hooks need no fence";

  // Another thread takes the batching over: the old batcher's events drained first.
  EXPECT_TRUE(record(r, th[1]));
  EXPECT_EQ(r.batcher(), th[1]);
  EXPECT_EQ(r.handovers(), 1u);
  EXPECT_EQ(World::drains, 1);
  EXPECT_EQ(World::fences, 1);
  EXPECT_TRUE(World::exclusive);

  // The clock stands still: the budget (64) is spent by the 64th hand-over; the next switches
  // the process to direct recording.
  for (int i = 1; i < 64; ++i) EXPECT_TRUE(record(r, th[i % 2 == 1 ? 0 : 1])) << i;
  EXPECT_EQ(r.handovers(), 64u);
  EXPECT_EQ(r.mode(), fc::Mode::kBatched);
  EXPECT_FALSE(record(r, th[2]));
  EXPECT_EQ(r.mode(), fc::Mode::kDirect);
  EXPECT_EQ(World::spreads, 1);
  EXPECT_FALSE(World::exclusive) << "hooks update the table themselves";
  EXPECT_EQ(World::drains, 65) << "every logged event applied before the first direct call";
  EXPECT_FALSE(record(r, th[0]));  // everybody records directly now

  // The reporter saw one thread alone: back to batched, with a full budget.
  EXPECT_TRUE(r.return_to_batching(th[2]));
  EXPECT_EQ(r.mode(), fc::Mode::kBatched);
  EXPECT_EQ(r.batcher(), th[2]);
  EXPECT_EQ(r.returns(), 1u);
  EXPECT_TRUE(World::exclusive);
  EXPECT_FALSE(r.return_to_batching(th[2])) << "only from direct";
  for (int i = 0; i < 64; ++i) EXPECT_TRUE(record(r, th[i % 2])) << i;
  EXPECT_FALSE(record(r, th[2]));
  EXPECT_EQ(r.mode(), fc::Mode::kDirect);

  // Time refills the budget: 1 s is 64 hand-overs.
  EXPECT_TRUE(r.return_to_batching(th[0]));
  for (int i = 0; i < 64; ++i) EXPECT_TRUE(record(r, th[1 - i % 2])) << i;
  World::clock += 500000000;  // half a second: 32 more
  for (int i = 0; i < 32; ++i) EXPECT_TRUE(record(r, th[1 - i % 2])) << i;
  EXPECT_FALSE(record(r, th[2]));
  EXPECT_EQ(r.mode(), fc::Mode::kDirect);

  // A freeze holds every hook at its start until the thaw, then gives the mode back.
  const fc::Mode frozen = r.freeze();
  EXPECT_EQ(frozen, fc::Mode::kDirect);
  EXPECT_EQ(r.mode(), fc::Mode::kSwitching);
  std::atomic<bool> recorded{false};
  std::thread hook([&] {
    record(r, th[1]);
    recorded = true;
  });
  for (int i = 0; i < 200; ++i) std::this_thread::yield();
  EXPECT_FALSE(recorded) << "a hook recorded during a freeze";
  r.thaw(frozen);
  hook.join();
  EXPECT_TRUE(recorded);
  EXPECT_EQ(r.mode(), fc::Mode::kDirect);
  EXPECT_EQ(World::warnings, 0);
  EXPECT_GT(World::quiets, 0) << "the slow paths hold the guard";

  // A fork child outside any switch: the counters start again, the mode is kept.
  r.on_fork_child();
  EXPECT_EQ(r.handovers(), 0u);
  EXPECT_EQ(r.returns(), 0u);
  EXPECT_EQ(r.mode(), fc::Mode::kDirect);
}

// A hook left by longjmp out of a signal handler never clears its flag: a switch waits for it
// kStuckNs, goes on, says so once, and the process records directly from then on.
sigjmp_buf g_jump;
void jump_out(int) { siglongjmp(g_jump, 1); }

TEST(Recording, AHookLeftByLongjmpStopsTheSwitchesButNotTheRecording) {
  Threads th(2);
  Recording r;
  r.enable_batching();
  r.first_call(th[0]);
  struct sigaction sa {}, old {};
  sa.sa_handler = jump_out;
  sigemptyset(&sa.sa_mask);
  ASSERT_EQ(sigaction(SIGUSR1, &sa, &old), 0);
  if (sigsetjmp(g_jump, 1) == 0) {
    ASSERT_TRUE(r.begin(th[0]));
    raise(SIGUSR1);  // the handler jumps out of the hook: end() never runs
    r.end(th[0]);
    FAIL() << "the handler did not jump";
  }
  sigaction(SIGUSR1, &old, nullptr);
  EXPECT_TRUE(th[0]->in_async.load());
  World::tick_per_read = 1000000;  // 1 ms per clock read: the wait gives up after ~1000 looks

  bool quiet = true;
  const fc::Mode m = r.freeze(&quiet);
  EXPECT_FALSE(quiet) << "nothing may be freed: the stuck hook may still be inside the table";
  EXPECT_EQ(m, fc::Mode::kBatched);
  r.thaw(m);
  EXPECT_EQ(World::warnings, 1);
  EXPECT_TRUE(r.returns_stopped());

  // Another thread's call: the hand-over would wait for the stuck hook again: direct for good.
  EXPECT_FALSE(record(r, th[1]));
  EXPECT_EQ(r.mode(), fc::Mode::kDirect);
  EXPECT_EQ(World::spreads, 1);
  EXPECT_FALSE(r.return_to_batching(th[1]));
  EXPECT_EQ(r.mode(), fc::Mode::kDirect);
  EXPECT_FALSE(record(r, th[0]));  // the stuck thread's next call records too
  EXPECT_FALSE(record(r, th[1]));

  // A fork child has no stuck hook: its flags are clear and switches are allowed again.
  r.on_fork_child();
  EXPECT_FALSE(th[0]->in_async.load());
  EXPECT_FALSE(r.returns_stopped());
  World::tick_per_read = 0;
  EXPECT_TRUE(r.return_to_batching(th[0]));
  EXPECT_TRUE(record(r, th[0]));
}

// fork() while another thread is in the middle of a hand-over (the mode at kSwitching, its drain
// under way): the child, where that thread does not exist, ends the switch as a switch to direct
// and records; the parent's hand-over completes.
TEST(Recording, AForkDuringASwitchEndsItInTheChild) {
  Threads th(2);
  Recording r;
  r.enable_batching();
  r.first_call(th[0]);
  ASSERT_TRUE(record(r, th[0]));
  World::block_drain = true;
  std::thread taker([&] { EXPECT_TRUE(record(r, th[1])); });
  while (!World::in_drain.load()) sched_yield();
  ASSERT_EQ(r.mode(), fc::Mode::kSwitching);

  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    // The fork handlers release the locks (the applier's too), then end the switch.
    World::block_drain = false;
    const int drains = World::drains.load();
    r.on_fork_child();
    int bad = 0;
    if (r.mode() != fc::Mode::kDirect) bad |= 1;
    if (World::drains.load() != drains + 1) bad |= 2;  // the events logged before fork, applied
    if (World::exclusive.load()) bad |= 4;
    if (record(r, th[0]) || record(r, th[1])) bad |= 8;  // no wait: the child records at once
    _exit(bad);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "bits: 1 mode, 2 drain, 4 exclusive, 8 recording";

  World::block_drain = false;
  taker.join();
  EXPECT_EQ(r.mode(), fc::Mode::kBatched);
  EXPECT_EQ(r.batcher(), th[1]);
  EXPECT_EQ(r.handovers(), 1u);
}

// Three threads call hooks in turns, often enough to hand the batching around and to exhaust the
// budget; a fourth freezes and thaws the recording and returns it to batching, as the reporter
// does. With the real fence (membarrier), the protocol's promise holds at every step.
TEST(Recording, ThreadsHandingTheBatchingAroundUnderFreezesKeepThePromise) {
  World::real_fence = syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0;
  if (!World::real_fence) GTEST_SKIP() << "membarrier's private expedited command is not available";
  Threads th(3);
  Recording r;
  r.enable_batching();
  r.first_call(th[0]);
  std::atomic<bool> stop{false};
  std::atomic<int> both{0}, two_logging{0}, batched_calls{0}, direct_calls{0};
  std::vector<std::thread> hooks;
  for (int i = 0; i < 3; ++i) {
    hooks.emplace_back([&, t = th[i]] {
      while (!stop.load(std::memory_order_relaxed)) {
        if (r.begin(t)) {
          if (World::logging.fetch_add(1) != 0) ++two_logging;
          if (World::direct.load() != 0) ++both;
          ++batched_calls;
          World::logging.fetch_sub(1);
        } else {
          World::direct.fetch_add(1);
          if (World::logging.load() != 0) ++both;
          ++direct_calls;
          World::direct.fetch_sub(1);
        }
        r.end(t);
      }
    });
  }
  int freezes = 0, busy_freezes = 0, returns = 0;
  // At least 3000 steps, and on until every kind of step happened (at most 200,000).
  for (int i = 0; i < 200000 && (i < 3000 || returns < 3 || direct_calls == 0 || r.handovers() < 100); ++i) {
    World::clock += 1000000;  // 1 ms a step: 1/16 of a hand-over's credit
    bool quiet = false;
    const fc::Mode m = r.freeze(&quiet);
    ++freezes;
    if (!quiet || World::logging.load() != 0 || World::direct.load() != 0) ++busy_freezes;
    r.thaw(m);
    if (r.mode() == fc::Mode::kDirect && r.return_to_batching(th[i % 3])) ++returns;
    std::this_thread::sleep_for(std::chrono::microseconds(20));  // the hooks' turn, as between snapshots
  }
  stop = true;
  for (auto& h : hooks) h.join();
  EXPECT_EQ(two_logging, 0) << "two threads logged events at once";
  EXPECT_EQ(both, 0) << "a thread logged while another recorded directly";
  EXPECT_EQ(busy_freezes, 0) << "a hook was recording while the recording was frozen";
  EXPECT_EQ(World::drain_while_logging, 0) << "events applied while the batcher was still logging";
  EXPECT_EQ(World::warnings, 0);
  // The run went through every kind of step.
  EXPECT_GT(batched_calls, 0);
  EXPECT_GT(direct_calls, 0);
  EXPECT_GE(r.handovers(), 100u);
  EXPECT_GE(returns, 3);
  EXPECT_GE(freezes, 3000);
}

}  // namespace
