// Host program for e2e.table_follows_threads: four threads allocate 150,000 blocks each, free 90%
// of them, then go on replacing blocks (a quarter of the frees of another thread's blocks) for a
// given number of steps (about a second) while fragscope's periodic snapshots rebuild the live
// table under them.
// Prints a checksum of what it read back from its blocks: the same with and without the shim.
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

namespace {
constexpr int kThreads = 4;
constexpr std::size_t kBlocks = 150000;
std::mutex g_mu;
std::vector<unsigned char*> g_shared;  // blocks handed to another thread to free
std::atomic<std::uint64_t> g_sum{0};

void worker(int id, std::uint64_t steps) {
  std::mt19937_64 rng(id + 1);
  std::vector<unsigned char*> mine;
  mine.reserve(kBlocks);
  auto make = [&] {
    const std::size_t n = 16 + rng() % 200;
    auto* p = static_cast<unsigned char*>(std::malloc(n));
    p[0] = static_cast<unsigned char>(n);
    return p;
  };
  std::uint64_t sum = 0;
  for (std::size_t i = 0; i < kBlocks; ++i) mine.push_back(make());
  for (std::size_t i = 0; i < mine.size();) {  // free 90%
    if (rng() % 10 != 0) {
      sum += mine[i][0];
      std::free(mine[i]);
      mine[i] = mine.back();
      mine.pop_back();
    } else {
      ++i;
    }
  }
  for (std::uint64_t step = 0; step < steps; ++step) {
    {
      const std::size_t j = rng() % mine.size();
      unsigned char* old = mine[j];
      sum += old[0];
      mine[j] = make();
      if (step % 4 == 0) {
        std::lock_guard<std::mutex> g(g_mu);
        g_shared.push_back(old);
        if (g_shared.size() > 64) {
          unsigned char* other = g_shared.front();
          g_shared.erase(g_shared.begin());
          std::free(other);
        }
      } else {
        std::free(old);
      }
    }
  }
  for (unsigned char* p : mine) sum += p[0], std::free(p);
  g_sum += sum % 1000003;
}
}  // namespace

int main(int argc, char** argv) {
  const std::uint64_t steps = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 4000000;
  std::vector<std::thread> th;
  for (int i = 0; i < kThreads; ++i) th.emplace_back(worker, i, steps);
  for (auto& t : th) t.join();
  for (unsigned char* p : g_shared) std::free(p);
  std::printf("mt_shrink threads=%d checksum=%llu\n", kThreads, static_cast<unsigned long long>(g_sum.load()));
  return 0;
}
