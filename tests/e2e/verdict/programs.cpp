// Programs with one known kind of fragmentation each, for the verdict scenarios
// (verdict_scenario.py): each builds its heap, waits for fragscope to take snapshots of the
// steady state, then prints its own resident set ("steady_rss=BYTES", from /proc/self/statm) so
// that the driver can measure what a remedy changed.
//
//   brk_top   64 MiB of 512-byte blocks, then one 64-byte block above them, then the 64 MiB
//             freed: glibc keeps the whole 64 MiB resident below the small block at the top.
//   arenas    8 threads in turn, all alive until the end: each allocates 8 MiB of 256-byte
//             blocks in an arena of its own and frees a random 90% of them; the free space of
//             one arena is never reused by the threads of another.
//   control   64 MiB of 512-byte blocks, kept: nothing to fix.
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <random>
#include <string_view>
#include <thread>
#include <vector>

namespace {

long steady_rss() {
  long size = 0, resident = 0;
  if (FILE* f = std::fopen("/proc/self/statm", "r")) {
    if (std::fscanf(f, "%ld %ld", &size, &resident) != 2) resident = 0;
    std::fclose(f);
  }
  return resident * sysconf(_SC_PAGESIZE);
}

// Writes the block, and keeps the compiler from eliding the allocation (a malloc, memset, free
// sequence may otherwise vanish).
void touch(void* p, std::size_t n) {
  std::memset(p, 0xa5, n);
  asm volatile("" : : "r"(p) : "memory");
}

// Long enough for several snapshots at the driver's 200 ms interval. A service keeps serving
// meanwhile: a small request every 20 ms (the shim's reporter thread starts on a hook call).
void settle() {
  for (int i = 0; i < 125; ++i) {
    void* request = std::malloc(100);
    touch(request, 100);
    std::free(request);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}


constexpr std::size_t kBlocks = 64u * 1024 * 1024 / 512;
void* g_blocks[kBlocks];  // static, so the pointer array does not sit in the heap it measures

int brk_top() {
  void* config = std::malloc(64);  // allocated first, kept: every program has some
  touch(config, 64);
  for (auto& p : g_blocks) touch(p = std::malloc(512), 512);
  void* top = std::malloc(64);  // long-lived, above everything else
  touch(top, 64);
  for (auto& p : g_blocks) std::free(p);
  settle();
  std::printf("steady_rss=%ld\n", steady_rss());
  std::free(top);
  std::free(config);
  return 0;
}

int control() {
  for (auto& p : g_blocks) touch(p = std::malloc(512), 512);
  settle();
  std::printf("steady_rss=%ld\n", steady_rss());
  for (auto& p : g_blocks) std::free(p);
  return 0;
}

int arenas() {
  constexpr int kThreads = 8;
  constexpr std::size_t kPerThread = 8u * 1024 * 1024 / 256;
  std::mutex mu;
  std::condition_variable cv;
  int turn = 0;
  bool done = false;
  std::vector<std::vector<void*>> kept(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::vector<void*> blocks;
      blocks.reserve(kPerThread);  // allocated before the thread's first block: in its arena
      {
        std::unique_lock lk(mu);
        cv.wait(lk, [&] { return turn == t; });
      }
      std::mt19937 rng(1234 + t);
      for (std::size_t i = 0; i < kPerThread; ++i) touch(blocks.emplace_back(std::malloc(256)), 256);
      for (void*& p : blocks)
        if (rng() % 10 != 0) std::free(p), p = nullptr;
      std::unique_lock lk(mu);
      ++turn;
      cv.notify_all();
      cv.wait(lk, [&] { return done; });  // alive until the end: its arena is not handed on
      for (void* p : blocks) std::free(p);
    });
  }
  {
    std::unique_lock lk(mu);
    cv.wait(lk, [&] { return turn == kThreads; });
  }
  settle();
  std::printf("steady_rss=%ld\n", steady_rss());
  {
    std::lock_guard lk(mu);
    done = true;
  }
  cv.notify_all();
  for (auto& th : threads) th.join();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string_view mode = argc > 1 ? argv[1] : "";
  if (mode == "brk_top") return brk_top();
  if (mode == "arenas") return arenas();
  if (mode == "control") return control();
  std::fprintf(stderr, "usage: %s brk_top|arenas|control\n", argv[0]);
  return 2;
}
