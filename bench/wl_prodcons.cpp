// wl_prodcons: a 2-thread producer/consumer with cross-thread frees. The producer allocates
// messages of random size (16..512 B) and hands them over a bounded queue; the consumer keeps
// the last --window of them (a backlog being processed) and frees the oldest. Every free happens
// on another thread than the allocation: the case per-thread caches handle worst.
// Prints one line: parameters, checksum, the live bytes held at the end and the RSS; exits
// holding them, so the final snapshot of a run under fragscope shows the steady state.
#include <CLI/CLI.hpp>

#include <atomic>
#include <cstdio>
#include <deque>
#include <thread>
#include <vector>

#include "rng.hpp"
#include "tally.hpp"

namespace fb = fragscope::bench;

int main(int argc, char** argv) {
  CLI::App app{"wl_prodcons: producer/consumer with cross-thread frees"};
  std::uint64_t items = 3'000'000;
  std::size_t window = 50'000;
  app.add_option("--items", items, "Messages produced")->capture_default_str();
  app.add_option("--window", window, "Messages the consumer holds")->check(CLI::PositiveNumber)->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  struct Msg {
    unsigned char* data;
    std::size_t size;
  };
  constexpr std::size_t kRing = 4096;
  std::vector<Msg> ring(kRing);
  std::atomic<std::uint64_t> head{0}, tail{0};  // single producer, single consumer
  fb::Tally tally;
  std::deque<Msg> held;

  std::thread producer([&] {
    fb::Rng rng(1);
    for (std::uint64_t i = 0; i < items; ++i) {
      const std::size_t n = rng.between(16, 512);
      Msg m{tally.take(n, i), n};
      while (head.load(std::memory_order_relaxed) - tail.load(std::memory_order_acquire) == kRing) std::this_thread::yield();
      ring[head.load(std::memory_order_relaxed) % kRing] = m;
      head.fetch_add(1, std::memory_order_release);
    }
  });
  for (std::uint64_t i = 0; i < items; ++i) {
    while (tail.load(std::memory_order_relaxed) == head.load(std::memory_order_acquire)) std::this_thread::yield();
    held.push_back(ring[tail.load(std::memory_order_relaxed) % kRing]);
    tail.fetch_add(1, std::memory_order_release);
    if (held.size() > window) {
      tally.give(held.front().data, held.front().size);
      held.pop_front();
    }
  }
  producer.join();
  std::printf("wl_prodcons items=%llu window=%zu checksum=%llu live_bytes=%zu rss_bytes=%zu\n",
              static_cast<unsigned long long>(items), window, static_cast<unsigned long long>(tally.checksum()),
              tally.live_bytes(), fb::rss_bytes());
  return 0;
}
