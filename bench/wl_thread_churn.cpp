// wl_thread_churn: threads come and go. Each round starts --threads threads; each allocates a
// working set (16..1024 B blocks), churns it, frees most of it and hands the survivors to a
// shared list before exiting, where later threads free them. Exercises what happens to
// per-thread caches and arenas when their thread dies with memory still in use.
// Prints one line: parameters, checksum, the live bytes held at the end and the RSS; exits
// holding them, so the final snapshot of a run under fragscope shows the steady state.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <mutex>
#include <thread>
#include <vector>

#include "rng.hpp"
#include "tally.hpp"

namespace fb = fragscope::bench;

int main(int argc, char** argv) {
  CLI::App app{"wl_thread_churn: short-lived threads that leave survivors behind"};
  unsigned rounds = 100;
  unsigned threads = 4;
  std::size_t blocks = 10'000;
  app.add_option("--rounds", rounds, "Rounds of threads")->capture_default_str();
  app.add_option("--threads", threads, "Threads per round")->check(CLI::Range(1U, 64U))->capture_default_str();
  app.add_option("--blocks", blocks, "Working set per thread")->check(CLI::PositiveNumber)->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  struct Block {
    unsigned char* data;
    std::size_t size;
  };
  fb::Tally tally;
  std::mutex lock;
  std::vector<Block> survivors;  // GUARDED_BY lock
  constexpr std::size_t kMaxSurvivors = 100'000;
  for (unsigned r = 0; r < rounds; ++r) {
    std::vector<std::thread> pool;
    for (unsigned t = 0; t < threads; ++t) {
      pool.emplace_back([&, seed = std::uint64_t{r} * 1000 + t] {
        fb::Rng rng(seed);
        std::vector<Block> mine;
        for (std::size_t i = 0; i < blocks; ++i) {
          const std::size_t n = rng.between(16, 1024);
          mine.push_back({tally.take(n, i), n});
        }
        for (std::size_t i = 0; i < blocks * 2; ++i) {
          Block& b = mine[rng.below(mine.size())];
          tally.give(b.data, b.size);
          b.size = rng.between(16, 1024);
          b.data = tally.take(b.size, i);
        }
        std::lock_guard guard(lock);
        // Free some of what earlier threads left, then leave a twentieth of ours behind.
        for (std::size_t i = 0; i < blocks / 20 && survivors.size() > kMaxSurvivors / 2; ++i) {
          std::size_t k = rng.below(survivors.size());
          tally.give(survivors[k].data, survivors[k].size);
          survivors[k] = survivors.back();
          survivors.pop_back();
        }
        for (std::size_t i = 0; i < mine.size(); ++i) {
          if (i % 20 == 0 && survivors.size() < kMaxSurvivors) survivors.push_back(mine[i]);
          else tally.give(mine[i].data, mine[i].size);
        }
      });
    }
    for (auto& th : pool) th.join();
  }
  std::printf("wl_thread_churn rounds=%u threads=%u blocks=%zu checksum=%llu live_bytes=%zu rss_bytes=%zu\n", rounds,
              threads, blocks, static_cast<unsigned long long>(tally.checksum()), tally.live_bytes(), fb::rss_bytes());
  return 0;
}
