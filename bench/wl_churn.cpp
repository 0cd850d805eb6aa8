// wl_churn: whole-process workload for allocator and shim comparison. One thread replaces
// random blocks of a 100k-block working set with new blocks of random size (8..1024 B).
// Prints one line: its name, the parameters, a checksum (equal under every allocator and
// under the shim) and the live bytes it held at the end.

#include "churn.hpp"

#include <CLI/CLI.hpp>

#include <cstdio>

int main(int argc, char** argv) {
  CLI::App app{"wl_churn: random-size churn over a working set, one thread"};
  fragscope::bench::ChurnConfig config;
  config.iterations = 30'000'000;
  app.add_option("--iterations", config.iterations, "Block replacements")->capture_default_str();
  app.add_option("--slots", config.slots, "Blocks in the working set")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  const auto result = fragscope::bench::run_churn(config);
  std::printf("wl_churn iterations=%llu slots=%zu checksum=%llu live_bytes=%zu\n",
              static_cast<unsigned long long>(config.iterations), config.slots,
              static_cast<unsigned long long>(result.checksum), result.live_bytes);
  return 0;
}
