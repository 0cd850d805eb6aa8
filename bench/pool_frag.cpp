// pool_frag: the fragmentation scenario. Allocates --objects blocks of uniform random size
// 16..512 B (fixed seed), writes every byte of each, frees a random 1 − --keep of them in a
// random order (the survivors are a random --keep share, chosen with the same seed), "trims",
// and prints one line: the mode, the live bytes (requested sizes of the survivors), the resident
// set (/proc/self/statm: resident pages × page size) at the baseline, before the frees and after
// the trim, and rss_over_live = (rss_after_trim − rss_baseline) / live_bytes.
//
//   pool_frag --mode malloc|pools|pools-mixed [--objects 2000000] [--keep 0.1] [--seed 1]
//
// Modes:
//   malloc       every block from malloc/free; the trim is malloc_trim(0), plus the preloaded
//                allocator's own purge when there is one (jemalloc: mallctl "arena.4096.purge";
//                tcmalloc: MallocExtension_ReleaseFreeMemory; mimalloc: mi_collect(true)),
//                looked up with dlsym so that the same binary runs under LD_PRELOAD.
//   pools        what fragscope's advice says to do: segregate by lifetime. The program knows at
//                allocation time which objects are long-lived (as a real program knows that a
//                session outlives the request that created it), so survivors come from one
//                fragscope::pools::PoolResource and the short-lived blocks from another, still
//                interleaved in the same order as in malloc mode. The trim is trim() on both.
//   pools-mixed  both groups from one PoolResource: the same pool code without segregation.
//
// What to expect, honestly: no non-moving allocator can give pages back after a random 90% of
// the blocks are freed, because the survivors are spread over nearly every page; glibc's
// malloc_trim returns only the pages that happen to hold no survivor. `pools` wins because
// segregation puts all survivors on their own densely packed chunks and leaves the other
// resource with nothing live, so its chunks go back whole. `pools-mixed` shows that the pool
// code itself does no magic: it keeps about as much as malloc does, or more (a pool returns whole
// chunks only, never free pages inside a chunk that still has a live block).
//
// The baseline. The program's bookkeeping (the block pointers, sizes, survivor flags and the
// free order: about 14 bytes per object) is allocated and written before rss_baseline is read,
// and nothing else is allocated afterwards outside the scenario, so rss − rss_baseline is the
// scenario's heap (plus its share of allocator metadata) and not our arrays. The arrays are large
// enough that glibc maps each one separately (above the mmap threshold), away from the heap under
// test. Blocks are requested with 8-byte alignment from the pools (what a C++ object of these
// sizes typically needs); malloc aligns to 16 whatever is asked.
#include "rng.hpp"

#include <fragscope/pools/pool_resource.hpp>

#include <CLI/CLI.hpp>

#include <dlfcn.h>
#include <malloc.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

namespace fp = fragscope::pools;

constexpr std::size_t kAlign = 8;

// Resident bytes of the whole process, from /proc/self/statm (its second field, in pages).
std::size_t rss_bytes() {
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr) return 0;
  unsigned long size = 0, resident = 0;
  const int n = std::fscanf(f, "%lu %lu", &size, &resident);
  std::fclose(f);
  if (n != 2) return 0;
  return static_cast<std::size_t>(resident) * static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
}

// Every "give memory back" the allocator under malloc offers. Returns what was called.
std::string trim_malloc() {
  std::string what = "malloc_trim";
  malloc_trim(0);
  using Mallctl = int (*)(const char*, void*, std::size_t*, void*, std::size_t);
  if (auto mallctl = reinterpret_cast<Mallctl>(dlsym(RTLD_DEFAULT, "mallctl"))) {
    // Purge every arena's dirty and muzzy pages (4096 = MALLCTL_ARENAS_ALL).
    if (mallctl("arena.4096.purge", nullptr, nullptr, nullptr, 0) == 0) what += "+mallctl(arena.4096.purge)";
  }
  using Release = void (*)();
  if (auto release = reinterpret_cast<Release>(dlsym(RTLD_DEFAULT, "MallocExtension_ReleaseFreeMemory"))) {
    release();
    what += "+MallocExtension_ReleaseFreeMemory";
  }
  using Collect = void (*)(bool);
  if (auto collect = reinterpret_cast<Collect>(dlsym(RTLD_DEFAULT, "mi_collect"))) {
    collect(true);
    what += "+mi_collect(true)";
  }
  return what;
}

// Touches every page of a vector's storage, so that it is resident before the baseline.
template <class T>
void touch(std::vector<T>& v) {
  std::memset(static_cast<void*>(v.data()), 0, v.size() * sizeof(T));
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"pool_frag: RSS against live bytes after a random 90% free, malloc against segregated pools"};
  std::string mode;
  std::size_t objects = 2'000'000;
  double keep = 0.1;
  std::uint64_t seed = 1;
  app.add_option("--mode", mode, "malloc, pools (survivors and short-lived blocks in two PoolResources) "
                                 "or pools-mixed (one PoolResource for both)")
      ->required()
      ->check(CLI::IsMember({"malloc", "pools", "pools-mixed"}));
  app.add_option("--objects", objects, "Blocks allocated")
      ->check(CLI::Range(std::size_t{1}, std::size_t{UINT32_MAX}))
      ->capture_default_str();
  app.add_option("--keep", keep, "Share of blocks that survive")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  app.add_option("--seed", seed, "Seed of the sizes, the survivors and the free order")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  // Bookkeeping, allocated and written before the baseline.
  std::vector<void*> blocks(objects);
  std::vector<std::uint16_t> sizes(objects);
  std::vector<std::uint8_t> survivor(objects);
  std::vector<std::uint32_t> order(objects);  // a random permutation: the first `kept` survive
  touch(blocks);
  touch(sizes);
  touch(survivor);
  touch(order);

  fragscope::bench::Rng rng(seed);
  for (auto& s : sizes) s = static_cast<std::uint16_t>(rng.between(16, 512));
  for (std::size_t i = 0; i < objects; ++i) order[i] = static_cast<std::uint32_t>(i);
  for (std::size_t i = objects - 1; i > 0; --i) std::swap(order[i], order[rng.below(i + 1)]);
  const auto kept = static_cast<std::size_t>(static_cast<double>(objects) * keep + 0.5);
  std::size_t live_bytes = 0;
  for (std::size_t i = 0; i < kept; ++i) {
    survivor[order[i]] = 1;
    live_bytes += sizes[order[i]];
  }

  fp::PoolOptions options;
  options.debug = false;
  options.name = "long-lived";
  fp::PoolResource long_lived(options);
  options.name = "short-lived";
  fp::PoolResource short_lived(options);
  const bool use_malloc = mode == "malloc";
  const bool segregate = mode == "pools";
  auto resource_of = [&](std::size_t i) -> fp::PoolResource& {
    return (segregate && survivor[i] == 0) ? short_lived : long_lived;
  };

  const std::size_t rss_baseline = rss_bytes();

  // Allocate and write every block, in index order: long- and short-lived blocks interleaved.
  for (std::size_t i = 0; i < objects; ++i) {
    void* p = use_malloc ? std::malloc(sizes[i]) : resource_of(i).allocate_bytes(sizes[i], kAlign);
    if (p == nullptr) {
      std::fprintf(stderr, "pool_frag: out of memory at block %zu\n", i);
      return 1;
    }
    std::memset(p, static_cast<int>(i & 0xff), sizes[i]);
    blocks[i] = p;
  }
  const std::size_t rss_before_free = rss_bytes();

  // Free the short-lived 90% in a random order.
  for (std::size_t k = kept; k < objects; ++k) {
    const std::size_t i = order[k];
    if (use_malloc) std::free(blocks[i]);
    else resource_of(i).deallocate_bytes(blocks[i], sizes[i], kAlign);
    blocks[i] = nullptr;
  }

  std::string trim;
  if (use_malloc) {
    trim = trim_malloc();
  } else {
    long_lived.trim();
    short_lived.trim();
    trim = "PoolResource::trim";
  }
  const std::size_t rss_after_trim = rss_bytes();

  // The survivors are still intact (and their pages really in use).
  std::uint64_t checksum = 0;
  for (std::size_t k = 0; k < kept; ++k) {
    const std::size_t i = order[k];
    const auto* b = static_cast<const unsigned char*>(blocks[i]);
    if (b[0] != (i & 0xff) || b[sizes[i] - 1] != (i & 0xff)) {
      std::fprintf(stderr, "pool_frag: block %zu corrupted\n", i);
      return 1;
    }
    checksum += b[0];
  }

  const double mib = 1024.0 * 1024.0;
  std::printf("pool_frag mode=%s objects=%zu keep=%g seed=%llu live_bytes=%zu live_mib=%.1f "
              "rss_baseline_mib=%.1f rss_before_free_mib=%.1f rss_after_trim_mib=%.1f "
              "rss_over_live=%.2f trim=%s checksum=%llu\n",
              mode.c_str(), objects, keep, static_cast<unsigned long long>(seed), live_bytes,
              static_cast<double>(live_bytes) / mib, static_cast<double>(rss_baseline) / mib,
              static_cast<double>(rss_before_free) / mib, static_cast<double>(rss_after_trim) / mib,
              live_bytes == 0 ? 0.0
                              : (static_cast<double>(rss_after_trim) - static_cast<double>(rss_baseline)) /
                                    static_cast<double>(live_bytes),
              trim.c_str(), static_cast<unsigned long long>(checksum));

  // Free the survivors too, so that leak checkers stay quiet.
  for (std::size_t k = 0; k < kept; ++k) {
    const std::size_t i = order[k];
    if (use_malloc) std::free(blocks[i]);
    else resource_of(i).deallocate_bytes(blocks[i], sizes[i], kAlign);
  }
  return 0;
}
