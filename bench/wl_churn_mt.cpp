// wl_churn_mt: whole-process workload for allocator and shim comparison. The wl_churn pattern
// on several threads (default 2), each with its own working set and seed, so that per-thread
// caches, arenas and the shim's per-thread state are all exercised at once.
// Prints one line: its name, the parameters, a combined checksum and the live bytes at the end.

#include "churn.hpp"

#include <CLI/CLI.hpp>

#include <cstdio>
#include <thread>
#include <vector>

int main(int argc, char** argv) {
  CLI::App app{"wl_churn_mt: random-size churn over a working set per thread"};
  fragscope::bench::ChurnConfig config;
  config.iterations = 30'000'000;
  unsigned threads = 2;
  app.add_option("--iterations", config.iterations, "Block replacements per thread")->capture_default_str();
  app.add_option("--slots", config.slots, "Blocks in each thread's working set")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--threads", threads, "Worker threads")->check(CLI::Range(1U, 256U))->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  std::vector<fragscope::bench::ChurnResult> results(threads);
  {
    std::vector<std::jthread> workers;
    workers.reserve(threads);
    for (unsigned t = 0; t < threads; ++t) {
      workers.emplace_back([&config, &results, t] {
        auto own = config;
        own.seed = config.seed + t;  // different sequences, same amount of work
        results[t] = fragscope::bench::run_churn(own);
      });
    }
  }  // jthreads join here

  unsigned long long checksum = 0;
  std::size_t live_bytes = 0;
  for (const auto& r : results) {
    checksum = checksum * 31 + r.checksum;
    live_bytes += r.live_bytes;
  }
  std::printf("wl_churn_mt threads=%u iterations=%llu slots=%zu checksum=%llu live_bytes=%zu\n", threads,
              static_cast<unsigned long long>(config.iterations), config.slots, checksum, live_bytes);
  return 0;
}
