// The recording core alone, without preload: what the figures in bench/README.md's "What limits
// it" rest on.
//  - BM_LiveTableBytesPerBlock: inserts up to 2M blocks at allocator-like addresses and reports
//    the live table's memory per live block, worst and average, sampled every 1000 inserts from
//    8k blocks on (the bound is 32 bytes).
//  - BM_CoreChurn/N/recorded: a program-like loop over N live blocks of 8..1024 bytes — read a
//    random block, free it, allocate a new one — with (1) and without (0) the core recording
//    each malloc and free (glibc underneath, called directly). The difference per iteration is
//    what recording costs at that many live blocks.
//  - BM_TimestampAmongMisses/clock: a loop of independent loads from 64 MiB at random (cache
//    misses the CPU overlaps), with per load (0) nothing, (1) one TSC read (now_ticks(), RDTSC),
//    (2) one HookClock::read, the hooks' timestamp. Where RDTSC waits for the loads in flight,
//    (1) costs a whole miss per iteration and (2) almost nothing (see HookClock in clock.hpp).
#include <benchmark/benchmark.h>
#include <malloc.h>

#include <algorithm>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <random>
#include <vector>

#include "live_table.hpp"
#include "recorder.hpp"

namespace {

using namespace fragscope::core;

void BM_LiveTableBytesPerBlock(benchmark::State& state) {
  double worst = 0, sum = 0;
  std::size_t samples = 0;
  for (auto _ : state) {
    auto t = std::make_unique<LiveTable>();
    t->init();
    std::mt19937_64 rng(1);
    std::uintptr_t a = 0x10000000;
    worst = sum = 0;
    samples = 0;
    for (std::uint64_t i = 0; i < 2000000; ++i) {
      a += 16 * (1 + rng() % 64);  // allocator-like: increasing, 16-aligned, uneven gaps
      t->insert(Block{a, 64, 0, false}, nullptr);
      if (i >= 8000 && i % 1000 == 0) {
        double b = static_cast<double>(t->memory_bytes()) / static_cast<double>(t->entries());
        worst = std::max(worst, b);
        sum += b;
        ++samples;
      }
    }
  }
  state.counters["worst_B_per_block"] = worst;
  state.counters["avg_B_per_block"] = sum / static_cast<double>(samples);
}
BENCHMARK(BM_LiveTableBytesPerBlock)->Iterations(1)->Unit(benchmark::kMillisecond);

// The clock the shim would choose here (the TSC where it is invariant).
void select_shim_clock() {
  std::ifstream in("/proc/cpuinfo");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  g_clock_source.store(select_clock(text.data(), text.size()));
}

void BM_CoreChurn(benchmark::State& state) {
  select_shim_clock();
  const std::size_t n = static_cast<std::size_t>(state.range(0));
  const bool recorded = state.range(1) != 0;
  auto rec = std::make_unique<Recorder>();
  rec->init();
  ThreadStats* t = rec->threads.acquire();
  auto usable = [](void* p) { return malloc_usable_size(p); };
  std::mt19937_64 rng(1);
  std::vector<unsigned char*> blocks(n);
  for (auto& b : blocks) {
    std::size_t size = 8 + rng() % 1017;
    b = static_cast<unsigned char*>(malloc(size));
    b[0] = 1;
    if (recorded) record_alloc(*rec, *t, b, size, usable(b), now_ticks());
  }
  std::uint64_t sum = 0;
  for (auto _ : state) {
    auto& b = blocks[rng() % n];
    sum += b[0];
    if (recorded) record_free(*rec, *t, b, now_ticks(), usable);
    free(b);
    std::size_t size = 8 + rng() % 1017;
    b = static_cast<unsigned char*>(malloc(size));
    b[0] = 1;
    if (recorded) record_alloc(*rec, *t, b, size, usable(b), now_ticks());
  }
  benchmark::DoNotOptimize(sum);
  for (auto& b : blocks) {
    if (recorded) record_free(*rec, *t, b, now_ticks(), usable);
    free(b);
  }
}
BENCHMARK(BM_CoreChurn)->ArgsProduct({{1000, 10000, 30000, 100000}, {0, 1}})->ArgNames({"live", "recorded"});

void BM_TimestampAmongMisses(benchmark::State& state) {
  const int clock = static_cast<int>(state.range(0));
  std::vector<std::uint32_t> data((64u << 20) / sizeof(std::uint32_t));
  std::mt19937 rng(1);
  for (auto& x : data) x = rng();
  g_clock_source.store(ClockSource::kTsc);  // the TSC, as the shim picks on this machine
  HookClock hc;
  hc.ticking = true;
  std::uint32_t countdown = HookClock::kEvery;
  std::uint64_t sum = 0;
  std::uint32_t idx = 1;
  for (auto _ : state) {
    idx = idx * 1103515245u + 12345u;
    sum += data[idx % data.size()];
    if (clock == 1) sum += now_ticks();
    if (clock == 2) sum += hc.read(countdown);
  }
  benchmark::DoNotOptimize(sum);
}
BENCHMARK(BM_TimestampAmongMisses)->Arg(0)->Arg(1)->Arg(2)->ArgName("clock");

}  // namespace

// The rebuild of the live table after the program freed 85% of a million blocks
// (HashTable::compact, run by a periodic snapshot while the hooks wait): time per rebuild, for
// the 150,000 entries left. README, "How the shim works", quotes it.
void BM_LiveTableCompact(benchmark::State& state) {
  fragscope::core::LiveTable t;
  t.init();
  for (auto _ : state) {
    state.PauseTiming();
    for (std::uint64_t i = 0; i < 1000000; ++i) t.insert({0x10000000ull + i * 48, 64, 0, false}, nullptr);
    for (std::uint64_t i = 0; i < 1000000; ++i)
      if (i % 20 >= 3) t.remove(0x10000000ull + i * 48, 0, nullptr);
    state.ResumeTiming();
    t.compact();
    state.PauseTiming();
    state.counters["bytes_per_entry"] = static_cast<double>(t.memory_bytes()) / static_cast<double>(t.entries());
    for (std::uint64_t i = 0; i < 1000000; i += 20)
      for (std::uint64_t j = i; j < i + 3; ++j) t.remove(0x10000000ull + j * 48, 0, nullptr);
    state.ResumeTiming();
  }
}
BENCHMARK(BM_LiveTableCompact)->Iterations(3)->Unit(benchmark::kMillisecond);

BENCHMARK_MAIN();
