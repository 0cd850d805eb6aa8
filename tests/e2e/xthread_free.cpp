// fragscope_test_xthread: a host program for the end-to-end tests. Eight threads allocate blocks
// of mixed sizes through malloc, calloc, realloc, aligned_alloc, posix_memalign and new[], and
// hand every block to another thread, which checks its contents, sometimes reallocs it, and frees
// it. The blocks still in flight after the last round are freed by main after the threads have
// exited. With --turns the threads run one at a time, in turn, for kTurnRounds rounds (each
// thread's frees are of blocks the others allocated in their turns): under the shim, each turn
// hands the batched recording to another thread, which frees the blocks the last one just
// allocated. With --then-alone the main thread then churns alone for a few seconds before it
// frees the last round's blocks (under the shim: direct recording, then batched again). Everything it prints is deterministic (no addresses, no timing), so a run under
// LD_PRELOAD=libfragscope.so must print exactly what a plain run prints. Exits 1 if a block
// arrives corrupted or an allocation fails.
#include <barrier>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <new>
#include <thread>
#include <vector>

namespace {

constexpr unsigned kThreads = 8;
constexpr unsigned kRounds = 60;
// 32 turns: with the threads' exits, which overlap the next thread's turn, within the shim's
// hand-over budget (64 at once).
constexpr unsigned kTurnRounds = 4;
constexpr unsigned kBlocksPerRound = 2500;  // per thread

enum class Kind : std::uint8_t { Malloc, Calloc, Realloc, AlignedAlloc, PosixMemalign, NewArray };
constexpr unsigned kKinds = 6;
constexpr const char* kKindNames[kKinds] = {"malloc", "calloc", "realloc", "aligned_alloc",
                                            "posix_memalign", "new[]"};

struct Block {
  unsigned char* ptr;
  std::size_t size;
  std::uint64_t seed;  // unique per block; its bit fields choose kind, size, alignment, resizing
  Kind kind;
};

// splitmix64: a tiny deterministic generator, so every run draws the same sizes and kinds.
std::uint64_t mix(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// Mostly small blocks, some medium, a few above glibc's mmap threshold (128 KiB), so frees from
// a foreign thread hit tcache/arena chunks as well as whole mappings.
std::size_t draw_size(std::uint64_t r) {
  const unsigned bucket = r % 100;
  r >>= 8;
  if (bucket < 70) return 1 + r % 256;
  if (bucket < 90) return 257 + r % 8000;
  if (bucket < 99) return 8192 + r % 57344;
  return 131072 + r % 393216;
}

// Fill and check the whole block when it is small; for larger blocks only three 64-byte windows
// (head, middle, tail), which is enough to catch a block handed out twice or moved without its
// contents, and keeps the run short.
template <typename F>
void for_each_checked_byte(std::size_t size, F f) {
  if (size <= 4096) {
    for (std::size_t i = 0; i < size; ++i) f(i);
    return;
  }
  for (std::size_t start : {std::size_t{0}, size / 2 - 32, size - 64})
    for (std::size_t i = start; i < start + 64; ++i) f(i);
}

// Cheap to compute per byte, and different for every block, since seeds are unique.
unsigned char pattern(std::uint64_t seed, std::size_t i) {
  return static_cast<unsigned char>((seed >> (8 * (i % 8))) ^ (i / 8));
}

void fill(unsigned char* p, std::size_t size, std::uint64_t seed) {
  for_each_checked_byte(size, [&](std::size_t i) { p[i] = pattern(seed, i); });
}

// Whether the bytes fill(p, size, seed) wrote are still there.
bool intact(const unsigned char* p, std::size_t size, std::uint64_t seed) {
  bool ok = true;
  for_each_checked_byte(size, [&](std::size_t i) { ok &= p[i] == pattern(seed, i); });
  return ok;
}

bool zeroed(const unsigned char* p, std::size_t size) {
  bool ok = true;
  for_each_checked_byte(size, [&](std::size_t i) { ok &= p[i] == 0; });
  return ok;
}

// One inbox per thread and round parity: in round r a thread drains inbox[r % 2][self] while
// the others fill inbox[(r + 1) % 2][...]; the barrier at the end of each round separates them.
struct Inbox {
  std::mutex mutex;
  std::vector<Block> blocks;  // guarded by mutex
};
Inbox inboxes[2][kThreads];

struct Tally {
  std::uint64_t allocated[kKinds] = {};
  std::uint64_t freed = 0;
  std::uint64_t bytes = 0;
  std::uint64_t checksum = 0;  // a sum, so the order in which blocks arrive does not matter
  std::uint64_t resized = 0;   // blocks realloc'ed by the thread that did not allocate them
  std::uint64_t errors = 0;
};

Block allocate(Kind kind, std::size_t size, std::uint64_t seed, Tally& tally) {
  unsigned char* p = nullptr;
  switch (kind) {
    case Kind::Malloc:
      p = static_cast<unsigned char*>(std::malloc(size));
      break;
    case Kind::Calloc:
      p = static_cast<unsigned char*>(std::calloc(1, size));
      if (p && !zeroed(p, size)) ++tally.errors;
      break;
    case Kind::Realloc: {
      // Grow a filled block, as a growing buffer does; its prefix must survive the move.
      const std::size_t first = 1 + size / 3;
      p = static_cast<unsigned char*>(std::malloc(first));
      if (!p) break;
      fill(p, first, seed);
      auto* grown = static_cast<unsigned char*>(std::realloc(p, size));
      if (!grown) {
        std::free(p);
        p = nullptr;
        break;
      }
      p = grown;
      if (!intact(p, first, seed)) ++tally.errors;
      break;
    }
    case Kind::AlignedAlloc: {
      const std::size_t align = std::size_t{16} << ((seed >> 32) % 9);  // 16 .. 4096
      size = (size + align - 1) / align * align;                // C11: a multiple of align
      p = static_cast<unsigned char*>(std::aligned_alloc(align, size));
      if (p && reinterpret_cast<std::uintptr_t>(p) % align != 0) ++tally.errors;
      break;
    }
    case Kind::PosixMemalign: {
      const std::size_t align = sizeof(void*) << ((seed >> 32) % 7);  // 8 .. 512
      void* q = nullptr;
      if (posix_memalign(&q, align, size) == 0) p = static_cast<unsigned char*>(q);
      if (p && reinterpret_cast<std::uintptr_t>(p) % align != 0) ++tally.errors;
      break;
    }
    case Kind::NewArray:
      p = new (std::nothrow) unsigned char[size];
      break;
  }
  if (!p) {
    ++tally.errors;
    return {nullptr, 0, seed, kind};
  }
  fill(p, size, seed);
  ++tally.allocated[static_cast<unsigned>(kind)];
  tally.bytes += size;
  return {p, size, seed, kind};
}

// Resizes a block from realloc in the thread that did not allocate it; returns the new pointer.
// Out of line: inlined, it makes GCC 12 warn that the delete[] below may see a realloc'ed pointer
// (-Wmismatched-dealloc), which the switch in release() rules out.
[[gnu::noinline]] unsigned char* resize(const Block& b, Tally& tally) {
  const std::size_t resized = (b.seed >> 44) % 2 ? b.size * 2 : b.size / 2 + 1;
  auto* q = static_cast<unsigned char*>(std::realloc(b.ptr, resized));
  if (!q) {
    ++tally.errors;
    return b.ptr;
  }
  // Blocks up to 4096 bytes are filled whole, so any prefix of them can be checked.
  const std::size_t kept = resized < b.size ? resized : b.size;
  if (b.size <= 4096 && !intact(q, kept, b.seed)) ++tally.errors;
  ++tally.resized;
  return q;
}

// Checks a block made by another thread and releases it the way it was made. Every third block
// from realloc is resized first.
void release(const Block& b, Tally& tally) {
  if (!b.ptr) return;
  if (!intact(b.ptr, b.size, b.seed)) ++tally.errors;
  tally.checksum += mix(b.seed ^ b.size);
  ++tally.freed;
  switch (b.kind) {
    case Kind::NewArray:
      delete[] b.ptr;
      break;
    case Kind::Realloc:
      std::free((b.seed >> 40) % 3 == 0 ? resize(b, tally) : b.ptr);
      break;
    default:
      std::free(b.ptr);
  }
}

// --turns: whose turn it is (turn % kThreads), once main has started every thread; guarded by
// turn_mutex.
std::mutex turn_mutex;
std::condition_variable turn_cv;
unsigned turn = 0;
bool started = false;

void worker(unsigned self, unsigned rounds, bool turns, std::barrier<>& round_end, Tally& tally) {
  for (unsigned round = 0; round < rounds; ++round) {
    if (turns) {
      std::unique_lock lock(turn_mutex);
      turn_cv.wait(lock, [&] { return started && turn % kThreads == self; });
    }
    std::vector<Block> incoming;
    {
      Inbox& mine = inboxes[round % 2][self];
      std::lock_guard lock(mine.mutex);
      incoming.swap(mine.blocks);
    }
    // Allocate and free interleaved, so this thread's frees of foreign blocks race with the
    // other threads' allocations in the same arenas.
    for (unsigned i = 0; i < kBlocksPerRound; ++i) {
      const std::uint64_t seed = mix((std::uint64_t{self} << 48) | (std::uint64_t{round} << 24) | i);
      const Kind kind = static_cast<Kind>(seed % kKinds);
      const Block b = allocate(kind, draw_size(seed >> 8), seed, tally);
      // Never self. In turns, the next thread, which frees them in the very next turn.
      const unsigned target = turns ? (self + 1) % kThreads : (self + 1 + i % (kThreads - 1)) % kThreads;
      const unsigned parity = turns && target != 0 ? round % 2 : (round + 1) % 2;
      {
        Inbox& theirs = inboxes[parity][target];
        std::lock_guard lock(theirs.mutex);
        theirs.blocks.push_back(b);
      }
      if (i < incoming.size()) release(incoming[i], tally);
    }
    for (std::size_t i = kBlocksPerRound; i < incoming.size(); ++i) release(incoming[i], tally);
    if (turns) {
      std::vector<Block>().swap(incoming);  // its free is part of this turn, not of the next one's
      {
        std::lock_guard lock(turn_mutex);
        ++turn;
      }
      turn_cv.notify_all();
    } else {
      round_end.arrive_and_wait();
    }
  }
}

}  // namespace

// --then-alone: the main thread churns alone for kAloneSeconds (replacing blocks of mixed
// sizes in a working set of 10k), then frees the working set. Prints nothing that depends on
// how many replacements that was.
constexpr double kAloneSeconds = 3.0;
void churn_alone(Tally& tally) {
  std::vector<Block> set(10000);
  const auto start = std::chrono::steady_clock::now();
  std::uint64_t i = 0;
  for (Block& b : set) b = allocate(Kind::Malloc, draw_size(mix(i) >> 8) % 4096 + 1, mix(i), tally), ++i;
  while (std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() < kAloneSeconds) {
    for (unsigned k = 0; k < 1000; ++k, ++i) {
      const std::uint64_t seed = mix(i | std::uint64_t{1} << 62);
      Block& b = set[seed % set.size()];
      release(b, tally);
      b = allocate(static_cast<Kind>(seed % kKinds), draw_size(seed >> 8) % 4096 + 1, seed, tally);
    }
  }
  for (const Block& b : set) release(b, tally);
}

int main(int argc, char** argv) {
  const bool turns = argc == 2 && std::strcmp(argv[1], "--turns") == 0;
  const bool then_alone = argc == 2 && std::strcmp(argv[1], "--then-alone") == 0;
  if (argc > 2 || (argc == 2 && !turns && !then_alone)) {
    std::fprintf(stderr, "usage: fragscope_test_xthread [--turns | --then-alone]\n");
    return 2;
  }
  const unsigned rounds = turns ? kTurnRounds : kRounds;
  std::barrier<> round_end(kThreads);
  std::vector<Tally> tallies(kThreads);
  std::vector<std::thread> threads;
  for (unsigned t = 0; t < kThreads; ++t)
    threads.emplace_back(worker, t, rounds, turns, std::ref(round_end), std::ref(tallies[t]));
  {
    std::lock_guard lock(turn_mutex);
    started = true;
  }
  turn_cv.notify_all();
  for (auto& t : threads) t.join();

  // The last round's blocks outlive the threads that allocated them.
  Tally after_join, alone;
  if (then_alone) churn_alone(alone);
  for (Inbox& inbox : inboxes[rounds % 2])
    for (const Block& b : inbox.blocks) release(b, after_join);

  Tally total = after_join;
  if (then_alone) {
    // Counts that depend on the machine's speed stay out of the output; only errors count.
    std::uint64_t made = 0;
    for (std::uint64_t k : alone.allocated) made += k;
    if (alone.freed != made) ++alone.errors;  // it frees every block it made
    total.errors += alone.errors;
    std::printf("then alone: %s\n", alone.errors == 0 ? "every block intact" : "corrupted or failed blocks");
  }
  std::printf("threads %u rounds %u%s blocks per thread and round %u\n", kThreads, rounds,
              turns ? " in turns" : "", kBlocksPerRound);
  std::printf("freed by thread:");
  for (const Tally& t : tallies) {
    std::printf(" %llu", static_cast<unsigned long long>(t.freed));
    for (unsigned k = 0; k < kKinds; ++k) total.allocated[k] += t.allocated[k];
    total.freed += t.freed;
    total.bytes += t.bytes;
    total.checksum += t.checksum;
    total.resized += t.resized;
    total.errors += t.errors;
  }
  std::printf("\nfreed after join: %llu\n", static_cast<unsigned long long>(after_join.freed));
  std::uint64_t allocated = 0;
  for (unsigned k = 0; k < kKinds; ++k) {
    std::printf("%s: %llu\n", kKindNames[k], static_cast<unsigned long long>(total.allocated[k]));
    allocated += total.allocated[k];
  }
  std::printf("realloc'ed by another thread: %llu\n", static_cast<unsigned long long>(total.resized));
  std::printf("allocated %llu freed %llu bytes %llu checksum %016llx\n",
              static_cast<unsigned long long>(allocated), static_cast<unsigned long long>(total.freed),
              static_cast<unsigned long long>(total.bytes),
              static_cast<unsigned long long>(total.checksum));
  if (total.errors != 0 || total.freed != allocated) {
    std::fprintf(stderr, "fragscope_test_xthread: %llu corrupted or failed blocks, %llu of %llu freed\n",
                 static_cast<unsigned long long>(total.errors),
                 static_cast<unsigned long long>(total.freed), static_cast<unsigned long long>(allocated));
    return 1;
  }
  return 0;
}
