// wl_pinning: long-lived small objects scattered among short-lived large ones — the pattern that
// pins pages. Each round allocates --burst large buffers (512..4095 B), keeps one small record
// (32..96 B) of the round for a long time (a table of --records, random eviction once full),
// and frees the large buffers. The records end up spread over the whole heap, one or two per
// page, and no page they sit on can be returned.
// Prints one line: parameters, checksum, the live bytes held at the end and the RSS; exits
// holding them, so the final snapshot of a run under fragscope shows the steady state.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <vector>

#include "rng.hpp"
#include "tally.hpp"

namespace fb = fragscope::bench;

int main(int argc, char** argv) {
  CLI::App app{"wl_pinning: small long-lived records among large short-lived buffers"};
  std::uint64_t rounds = 2'000'000;
  std::size_t burst = 16;
  std::size_t records = 100'000;
  app.add_option("--rounds", rounds, "Rounds")->capture_default_str();
  app.add_option("--burst", burst, "Large buffers per round")->check(CLI::Range(1, 1000))->capture_default_str();
  app.add_option("--records", records, "Long-lived records kept")->check(CLI::PositiveNumber)->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  struct Block {
    unsigned char* data;
    std::size_t size;
  };
  fb::Rng rng(3);
  fb::Tally tally;
  std::vector<Block> table;
  std::vector<Block> buffers;
  table.reserve(records);
  buffers.reserve(burst);
  for (std::uint64_t r = 0; r < rounds; ++r) {
    for (std::size_t i = 0; i < burst; ++i) {
      const std::size_t n = rng.between(512, 4095);
      buffers.push_back({tally.take(n, r + i), n});
    }
    // The record is allocated between the buffers' lifetimes: where a freed buffer was.
    tally.give(buffers[0].data, buffers[0].size);
    const std::size_t n = rng.between(32, 96);
    Block record{tally.take(n, r), n};
    if (table.size() < records) {
      table.push_back(record);
    } else {
      Block& victim = table[rng.below(table.size())];
      tally.give(victim.data, victim.size);
      victim = record;
    }
    for (std::size_t i = 1; i < buffers.size(); ++i) tally.give(buffers[i].data, buffers[i].size);
    buffers.clear();
  }
  std::printf("wl_pinning rounds=%llu burst=%zu records=%zu checksum=%llu live_bytes=%zu rss_bytes=%zu\n",
              static_cast<unsigned long long>(rounds), burst, records, static_cast<unsigned long long>(tally.checksum()),
              tally.live_bytes(), fb::rss_bytes());
  return 0;
}
