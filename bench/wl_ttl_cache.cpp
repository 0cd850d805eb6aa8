// wl_ttl_cache: a cache with TTL eviction and variable-size values — the Redis pattern. Each
// tick inserts --per-tick entries (key → value of 32..4096 B, small sizes more frequent) with a
// time to live of 1..--max-ttl ticks, and evicts the entries whose time is up; a tenth of the
// inserts overwrite an existing key with a value of another size. Live data stays flat; entries
// of every size and age interleave.
// Prints one line: parameters, checksum, the live bytes held at the end and the RSS; exits
// holding them, so the final snapshot of a run under fragscope shows the steady state.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <unordered_map>
#include <vector>

#include "rng.hpp"
#include "tally.hpp"

namespace fb = fragscope::bench;

int main(int argc, char** argv) {
  CLI::App app{"wl_ttl_cache: variable-size values with TTL eviction"};
  unsigned ticks = 3000;
  std::size_t per_tick = 2000;
  unsigned max_ttl = 100;
  app.add_option("--ticks", ticks, "Ticks to run")->capture_default_str();
  app.add_option("--per-tick", per_tick, "Inserts per tick")->capture_default_str();
  app.add_option("--max-ttl", max_ttl, "Longest time to live, in ticks")->check(CLI::Range(1U, 10000U))->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  struct Value {
    unsigned char* data;
    std::size_t size;
    unsigned expires;
  };
  fb::Rng rng(11);
  fb::Tally tally;
  std::unordered_map<std::uint64_t, Value> cache;
  std::vector<std::vector<std::uint64_t>> wheel(max_ttl + 1);  // keys by expiry tick (mod)
  std::uint64_t next_key = 0;
  for (unsigned t = 0; t < ticks; ++t) {
    auto& due = wheel[t % wheel.size()];
    for (std::uint64_t key : due) {
      auto it = cache.find(key);
      if (it != cache.end() && it->second.expires == t) {
        tally.give(it->second.data, it->second.size);
        cache.erase(it);
      }
    }
    due.clear();
    for (std::size_t i = 0; i < per_tick; ++i) {
      // Sizes: a power-of-two band chosen uniformly, then uniform inside: 32..4095 B, small frequent.
      const std::size_t band = std::size_t{32} << rng.below(7);
      const std::size_t n = rng.between(band, 2 * band - 1);
      const unsigned ttl = static_cast<unsigned>(rng.between(1, max_ttl));
      const bool overwrite = !cache.empty() && rng.below(10) == 0;
      const std::uint64_t key = overwrite ? rng.below(next_key) : next_key++;
      auto it = cache.find(key);
      if (it != cache.end()) tally.give(it->second.data, it->second.size);
      Value v{tally.take(n, key), n, t + ttl};
      cache[key] = v;
      wheel[(t + ttl) % wheel.size()].push_back(key);
    }
  }
  std::printf("wl_ttl_cache ticks=%u per_tick=%zu max_ttl=%u checksum=%llu live_bytes=%zu rss_bytes=%zu\n", ticks,
              per_tick, max_ttl, static_cast<unsigned long long>(tally.checksum()), tally.live_bytes(), fb::rss_bytes());
  return 0;
}
