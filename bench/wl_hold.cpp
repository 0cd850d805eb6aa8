// wl_hold: holds a heap of many small blocks still, for the snapshot-swing measurement
// (bench/run_snapshot_swing.sh): allocates --blocks blocks of --size bytes, frees every block
// but one in --keep-one-in (1 = keep all), then sleeps --seconds while the shim takes its
// snapshots, and exits without freeing them. Prints one line: its name, the parameters and the
// live bytes it held.

#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

int main(int argc, char** argv) {
  CLI::App app{"wl_hold: a still heap of many small blocks"};
  std::size_t blocks = 5'000'000, size = 48, keep_one_in = 1;
  double seconds = 5;
  app.add_option("--blocks", blocks, "Blocks allocated")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--size", size, "Bytes per block")->check(CLI::Range(1, 1 << 20))->capture_default_str();
  app.add_option("--keep-one-in", keep_one_in, "Blocks kept: one in N")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--seconds", seconds, "Seconds to hold the heap")->check(CLI::NonNegativeNumber)->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  std::vector<void*> held(blocks);
  for (auto& p : held) {
    p = std::malloc(size);
    if (p == nullptr) return 1;
    static_cast<char*>(p)[0] = 1;
  }
  std::size_t live = 0;
  for (std::size_t i = 0; i < blocks; ++i) {
    if (i % keep_one_in == 0) {
      live += size;
      continue;
    }
    std::free(held[i]);
    held[i] = nullptr;
  }
  std::fprintf(stderr, "wl_hold: holding\n");  // bench/run_snapshot_swing.py measures from here
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  std::fprintf(stderr, "wl_hold: done\n");  // the readings stop here: what follows is the exit
  std::printf("wl_hold blocks=%zu size=%zu keep_one_in=%zu live_bytes=%zu\n", blocks, size, keep_one_in, live);
  // The blocks are left to the exit (the final snapshot sees them live): freeing 5 million blocks
  // would move the RSS more than any snapshot, inside the readings.
  return 0;
}
