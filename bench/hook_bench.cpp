// fragscope_hook_bench: micro benchmarks of the malloc family's per-call cost. Run once plain
// and once with LD_PRELOAD=libfragscope.so (bench/run_overhead.sh does both): the ratio is the
// shim's overhead per call. Each benchmark runs at 1 and 2 threads, since the shim keeps
// per-thread counters and a shared side table, and contention only shows with threads.

#include "rng.hpp"

#include <benchmark/benchmark.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace {

// Calls go through volatile function pointers: the compiler cannot see what they call, so it can
// neither delete a malloc/free pair nor turn it into stack memory, and every call really reaches
// the exported symbol (the shim's, when preloaded). ::malloc and friends are the C functions.
void* (*volatile g_malloc)(std::size_t) = ::malloc;
void* (*volatile g_calloc)(std::size_t, std::size_t) = ::calloc;
void* (*volatile g_realloc)(void*, std::size_t) = ::realloc;
void (*volatile g_free)(void*) = ::free;

constexpr std::size_t kTableSize = 1 << 16;  // power of two: index with a mask, not a division

// Random sizes 8..4096 B, uniform per power of two (so small sizes are as frequent as in real
// programs), and random working-set slots, drawn once so the PRNG is not part of the timing.
struct RandomTables {
  std::array<std::uint32_t, kTableSize> sizes;
  std::array<std::uint32_t, kTableSize> slots;

  RandomTables() {
    fragscope::bench::Rng rng(42);
    for (std::size_t i = 0; i < kTableSize; ++i) {
      const std::uint64_t octave_low = std::uint64_t{8} << rng.below(9);  // 8, 16, ..., 2048
      sizes[i] = static_cast<std::uint32_t>(octave_low + rng.below(octave_low + 1));
      slots[i] = static_cast<std::uint32_t>(rng.next());
    }
  }
};

const RandomTables& random_tables() {
  static const RandomTables tables;  // thread-safe init; shared read-only by all threads
  return tables;
}

// One malloc and one free of the same size: the hooks' best case, the allocator's fast path.
void BM_MallocFree(benchmark::State& state) {
  const auto size = static_cast<std::size_t>(state.range(0));
  for (auto _ : state) {
    void* p = g_malloc(size);
    benchmark::DoNotOptimize(p);
    g_free(p);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_MallocFree)->Arg(16)->Arg(64)->Arg(256)->Arg(4096)->Threads(1)->Threads(2);

// Replace a random block of a per-thread working set with a block of random size: blocks live
// for thousands of calls, sizes vary, so the shim's side table holds many entries and the
// allocator leaves its fastest path. One iteration = one free + one malloc.
void BM_RandomSizes(benchmark::State& state) {
  constexpr std::size_t kWorkingSet = 4096;  // power of two; ~2.8 MB of blocks
  const RandomTables& tables = random_tables();
  std::vector<void*> blocks(kWorkingSet);
  for (std::size_t i = 0; i < kWorkingSet; ++i) blocks[i] = g_malloc(tables.sizes[i]);

  std::size_t i = 0;
  for (auto _ : state) {
    void*& slot = blocks[tables.slots[i & (kTableSize - 1)] & (kWorkingSet - 1)];
    g_free(slot);
    slot = g_malloc(tables.sizes[i & (kTableSize - 1)]);
    benchmark::DoNotOptimize(slot);
    ++i;
  }

  for (void* p : blocks) g_free(p);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RandomSizes)->Threads(1)->Threads(2);

// Grow a buffer 1 KiB at a time to 64 KiB, then free it, as string builders and naive vectors
// do: realloc both in place and by moving, and a shim that must move its side-table entry.
// One iteration = 64 reallocs + 1 free.
void BM_ReallocGrow(benchmark::State& state) {
  constexpr std::size_t kStep = 1024;
  constexpr std::size_t kLimit = 64 * 1024;
  for (auto _ : state) {
    void* p = nullptr;
    for (std::size_t size = kStep; size <= kLimit; size += kStep) {
      p = g_realloc(p, size);
      benchmark::DoNotOptimize(p);
    }
    g_free(p);
  }
  state.SetItemsProcessed(state.iterations() * (kLimit / kStep));
}
BENCHMARK(BM_ReallocGrow)->Threads(1)->Threads(2);

// One calloc and one free: calloc has a hook of its own, and at 4 KiB the zeroing is real work
// that puts the hook's fixed cost in proportion.
void BM_CallocFree(benchmark::State& state) {
  const auto size = static_cast<std::size_t>(state.range(0));
  for (auto _ : state) {
    void* p = g_calloc(1, size);
    benchmark::DoNotOptimize(p);
    g_free(p);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_CallocFree)->Arg(64)->Arg(4096)->Threads(1)->Threads(2);

}  // namespace

BENCHMARK_MAIN();
