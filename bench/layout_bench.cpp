// The reporter's per-snapshot work on a large heap: walking a live table of N blocks (counts,
// ages, block list), sorting the blocks by address and analysing the layout of the segments
// they sit in (page occupancy, holes). The heap is synthetic: N blocks of 16..1024 bytes packed
// into one segment with random gaps, residency "all resident". Issue #3 asks for < 1 s at 1M.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <memory>
#include <random>
#include <vector>

#include "heap_layout.hpp"
#include "recorder.hpp"
#include "snapshot.hpp"

namespace {

using namespace fragscope::core;

bool all_resident(std::uintptr_t, std::size_t pages, unsigned char* out, void*) {
  std::fill(out, out + pages, 1);
  return true;
}

void BM_SnapshotLayout(benchmark::State& state) {
  const std::size_t n = static_cast<std::size_t>(state.range(0));
  auto rec = std::make_unique<Recorder>();
  rec->init();
  ThreadStats* t = rec->threads.acquire();
  std::mt19937_64 rng(7);
  const std::uintptr_t base = 0x100000000ull;
  std::uintptr_t a = base;
  for (std::size_t i = 0; i < n; ++i) {
    std::uint64_t size = 16 + rng() % 1009;
    record_alloc(*rec, *t, reinterpret_cast<void*>(a), size, size, i);
    a += (size + 15) / 16 * 16 + 16 * (rng() % 8);  // a random gap after each block
  }
  const Segment seg{base, (a + 4095) & ~std::uintptr_t{4095}};
  std::vector<LiveRange> ranges(n + n / 4 + 1024);
  std::vector<unsigned char> scratch(heap_scratch_bytes((seg.end - seg.start) / 4096) + 16);
  auto builder = std::make_unique<SnapshotBuilder>();
  HeapLayout layout;
  for (auto _ : state) {
    std::size_t got = 0;
    builder->collect(*rec, n + 10, ranges.data(), ranges.size(), &got);
    std::sort(ranges.begin(), ranges.begin() + static_cast<std::ptrdiff_t>(got),
              [](const LiveRange& x, const LiveRange& y) { return x.addr < y.addr; });
    analyze_heap(ranges.data(), got, &seg, 1, 4096, all_resident, nullptr, scratch.data(), layout);
    benchmark::DoNotOptimize(layout.hole_bytes);
  }
  state.counters["blocks"] = static_cast<double>(n);
  state.counters["holes"] = static_cast<double>(layout.holes);
}
BENCHMARK(BM_SnapshotLayout)->Arg(100000)->Arg(1000000)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
