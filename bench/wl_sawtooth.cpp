// wl_sawtooth: grow to a peak, free most, grow again with other sizes. Each cycle allocates
// blocks until --peak blocks are live, frees a random 90% of them, and the next cycle's sizes
// are drawn from a band twice as large (32..63 B, then 64..127 B, ... up to 1024..2047 B), so the holes the
// survivors leave are too small for the new sizes: the RSS follows the peaks, not the live data.
// Prints one line: parameters, checksum, the live bytes held at the end and the RSS; exits
// holding them, so the final snapshot of a run under fragscope shows the steady state.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <vector>

#include "rng.hpp"
#include "tally.hpp"

namespace fb = fragscope::bench;

int main(int argc, char** argv) {
  CLI::App app{"wl_sawtooth: grow, free 90%, grow again with larger sizes"};
  unsigned cycles = 6;
  std::size_t peak = 100'000;
  app.add_option("--cycles", cycles, "Grow/free cycles")->check(CLI::Range(1U, 20U))->capture_default_str();
  app.add_option("--peak", peak, "Live blocks at each peak")->check(CLI::PositiveNumber)->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  struct Block {
    unsigned char* data;
    std::size_t size;
  };
  fb::Rng rng(7);
  fb::Tally tally;
  std::vector<Block> live;
  std::uint64_t tag = 0;
  std::size_t band = 32;
  for (unsigned c = 0; c < cycles; ++c, band *= 2) {
    if (band > 1024) band = 32;
    while (live.size() < peak) {
      const std::size_t n = rng.between(band, 2 * band - 1);
      live.push_back({tally.take(n, ++tag), n});
    }
    // Free a random 90%: shuffle-free by swapping each victim to the end.
    const std::size_t keep = live.size() / 10;
    while (live.size() > keep) {
      const std::size_t i = rng.below(live.size());
      tally.give(live[i].data, live[i].size);
      live[i] = live.back();
      live.pop_back();
    }
  }
  std::printf("wl_sawtooth cycles=%u peak=%zu checksum=%llu live_bytes=%zu rss_bytes=%zu\n", cycles, peak,
              static_cast<unsigned long long>(tally.checksum()), tally.live_bytes(), fb::rss_bytes());
  return 0;
}
