// ThreadRegistry: blocks of exited threads are reused (issue 16: 400 short-lived threads, two at a
// time, used to leave 202 blocks of 189 KB, because a thread's calls after its destructors ran
// took a new block that nothing gave back).
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <thread>

#include "thread_stats.hpp"

namespace fragscope::core {
namespace {

TEST(ThreadRegistry, AnExitedThreadsBlockIsTakenOverWithItsCounts) {
  auto reg = std::make_unique<ThreadRegistry>();
  ThreadStats* first = nullptr;
  std::thread([&] {
    first = reg->acquire();
    ASSERT_NE(first, nullptr);
    first->calls[0].add(7);
    reg->exiting(first);
    first->calls[0].add(1);  // a call on the way out still counts in its block
  }).join();
  ThreadStats* next = nullptr;
  std::thread([&] { next = reg->acquire(); }).join();
  EXPECT_EQ(next, first);
  EXPECT_EQ(next->calls[0].get(), 8u);
  EXPECT_FALSE(next->exiting.load());
  EXPECT_EQ(reg->blocks(), 1u);
}

TEST(ThreadRegistry, AnExitingThreadThatStillRunsKeepsItsBlock) {
  auto reg = std::make_unique<ThreadRegistry>();
  std::atomic<int> step{0};
  ThreadStats* mine = nullptr;
  std::thread t([&] {
    mine = reg->acquire();
    reg->exiting(mine);
    step.store(1);
    while (step.load() != 2) std::this_thread::yield();
  });
  while (step.load() != 1) std::this_thread::yield();
  ThreadStats* other = reg->acquire();  // this thread's: the exiting one still runs
  EXPECT_NE(other, mine);
  EXPECT_EQ(reg->blocks(), 2u);
  step.store(2);
  t.join();
}

TEST(ThreadRegistry, ManyShortThreadsTwoAtATimeHoldAFewBlocks) {
  auto reg = std::make_unique<ThreadRegistry>();
  for (int round = 0; round < 200; ++round) {
    auto body = [&] {
      ThreadStats* b = reg->acquire();
      ASSERT_NE(b, nullptr);
      b->calls[0].add(1);
      reg->exiting(b);  // as the key destructor does
    };
    std::thread a(body), c(body);
    a.join();
    c.join();
  }
  EXPECT_LE(reg->blocks(), 4u);
  std::uint64_t calls = 0;
  reg->for_each([&](ThreadStats& t) { calls += t.calls[0].get(); });
  EXPECT_EQ(calls, 400u);  // no count lost on the way from one owner to the next
}

TEST(ThreadRegistry, AfterForkOnlyTheForkingThreadsBlockStaysItsOwn) {
  auto reg = std::make_unique<ThreadRegistry>();
  ThreadStats* mine = reg->acquire();
  std::atomic<int> step{0};
  ThreadStats* theirs = nullptr;
  std::thread t([&] {
    theirs = reg->acquire();
    step.store(1);
    while (step.load() != 2) std::this_thread::yield();
  });
  while (step.load() != 1) std::this_thread::yield();
  reg->forked(mine);  // as the fork child handler does (here the other thread still exists)
  EXPECT_TRUE(theirs->exiting.load());
  EXPECT_FALSE(mine->exiting.load());
  step.store(2);
  t.join();
  EXPECT_EQ(reg->acquire(), theirs);  // gone now: taken over
}

}  // namespace
}  // namespace fragscope::core
