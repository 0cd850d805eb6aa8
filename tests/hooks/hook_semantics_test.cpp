// Every hook's semantics, run with libfragscope.so preloaded (see tests/CMakeLists.txt): results
// and errno must be exactly those of the C library called directly. Also fork (the child's file
// exists and balances), threads freeing each other's blocks, and frees after main returns.
#include <dlfcn.h>
#include <errno.h>
#include <malloc.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "balance.hpp"
#include "snapshot_file.hpp"

namespace {

// The C library's own functions, bypassing the preloaded shim.
template <class F>
F libc(const char* name) {
  static void* h = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
  return reinterpret_cast<F>(dlsym(h, name));
}

std::string output_for(pid_t pid) {
  const char* pattern = std::getenv("FRAGSCOPE_OUTPUT");
  std::string s = pattern ? pattern : "";
  auto pos = s.find("%p");
  if (pos != std::string::npos) s.replace(pos, 2, std::to_string(pid));
  return s;
}

// Blocks allocated before main and freed by a static destructor after main returns.
struct FreedAfterMain {
  std::vector<void*> blocks;
  FreedAfterMain() {
    for (int i = 0; i < 100; ++i) blocks.push_back(std::malloc(100 + i));
  }
  ~FreedAfterMain() {
    for (void* p : blocks) std::free(p);
    void* late = std::malloc(4096);  // allocation after main, freed at once
    std::free(late);
  }
} g_freed_after_main;

}  // namespace

TEST(Preload, TheShimIsTheMallocInUse) {
  Dl_info info{};
  void* (*m)(size_t) = &malloc;
  ASSERT_NE(dladdr(reinterpret_cast<void*>(m), &info), 0);
  ASSERT_NE(info.dli_fname, nullptr);
  EXPECT_NE(std::string(info.dli_fname).find("libfragscope"), std::string::npos)
      << "run this suite with LD_PRELOAD=libfragscope.so (ctest does)";
}

TEST(Hooks, MallocAndFreeKeepErrno) {
  errno = 777;
  void* p = malloc(16);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(errno, 777);
  free(p);
  EXPECT_EQ(errno, 777);
  free(nullptr);
  EXPECT_EQ(errno, 777);
}

TEST(Hooks, MallocFailureSetsEnomem) {
  errno = 0;
  EXPECT_EQ(malloc(SIZE_MAX - 4096), nullptr);
  EXPECT_EQ(errno, ENOMEM);
}

TEST(Hooks, CallocZeroesAndDetectsOverflow) {
  for (int round = 0; round < 3; ++round) {
    auto* dirty = static_cast<unsigned char*>(malloc(8000));
    std::memset(dirty, 0xAB, 8000);
    free(dirty);
    auto* p = static_cast<unsigned char*>(calloc(1000, 8));
    ASSERT_NE(p, nullptr);
    for (int i = 0; i < 8000; ++i) ASSERT_EQ(p[i], 0) << i;
    free(p);
  }
  errno = 0;
  EXPECT_EQ(calloc(SIZE_MAX / 2, 4), nullptr);
  EXPECT_EQ(errno, ENOMEM);
  void* z = calloc(0, 0);
  auto* libc_calloc = libc<void* (*)(size_t, size_t)>("calloc");
  void* lz = libc_calloc(0, 0);
  EXPECT_EQ(z == nullptr, lz == nullptr);
  free(z);
  libc<void (*)(void*)>("free")(lz);
}

TEST(Hooks, ReallocSemantics) {
  auto* p = static_cast<char*>(realloc(nullptr, 10));  // acts as malloc
  ASSERT_NE(p, nullptr);
  std::memcpy(p, "fragscope", 10);
  p = static_cast<char*>(realloc(p, 100000));  // grows, keeps contents
  ASSERT_NE(p, nullptr);
  EXPECT_STREQ(p, "fragscope");
  p = static_cast<char*>(realloc(p, 4));  // shrinks
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(std::memcmp(p, "frag", 4), 0);
  errno = 0;
  EXPECT_EQ(realloc(p, SIZE_MAX - 4096), nullptr);  // failure leaves p valid
  EXPECT_EQ(errno, ENOMEM);
  EXPECT_EQ(std::memcmp(p, "frag", 4), 0);
  // realloc(p, 0): whatever the C library does (glibc frees p and returns NULL).
  void* q = malloc(32);
  void* r = realloc(q, 0);
  auto* libc_malloc = libc<void* (*)(size_t)>("malloc");
  auto* libc_realloc = libc<void* (*)(void*, size_t)>("realloc");
  void* lr = libc_realloc(libc_malloc(32), 0);
  EXPECT_EQ(r == nullptr, lr == nullptr);
  free(r);
  libc<void (*)(void*)>("free")(lr);
  free(p);
}

TEST(Hooks, ReallocarrayOverflowLeavesTheBlock) {
  auto* p = static_cast<int*>(reallocarray(nullptr, 10, sizeof(int)));
  ASSERT_NE(p, nullptr);
  p[9] = 42;
  errno = 0;
  EXPECT_EQ(reallocarray(p, SIZE_MAX / 2, 4), nullptr);
  EXPECT_EQ(errno, ENOMEM);
  EXPECT_EQ(p[9], 42);
  p = static_cast<int*>(reallocarray(p, 1000, sizeof(int)));
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p[9], 42);
  free(p);
}

TEST(Hooks, PosixMemalignRejectsBadAlignmentWithEinval) {
  void* out = reinterpret_cast<void*>(0x1234);
  errno = 0;
  EXPECT_EQ(posix_memalign(&out, 0, 16), EINVAL);
  EXPECT_EQ(posix_memalign(&out, 24, 16), EINVAL);
  EXPECT_EQ(posix_memalign(&out, 4, 16), EINVAL);  // not a multiple of sizeof(void*)
  EXPECT_EQ(out, reinterpret_cast<void*>(0x1234)) << "must not write *memptr on failure";
  EXPECT_EQ(errno, 0) << "posix_memalign reports through its return value only";
  for (size_t al = 8; al <= 4096; al *= 2) {
    ASSERT_EQ(posix_memalign(&out, al, 100), 0);
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(out) % al, 0u);
    free(out);
  }
}

TEST(Hooks, AlignedVariantsMatchTheCLibrary) {
  using AlignFn = void* (*)(size_t, size_t);
  struct Case {
    const char* name;
    AlignFn hooked;
  } cases[] = {{"aligned_alloc", &aligned_alloc}, {"memalign", &memalign}};
  for (const auto& c : cases) {
    AlignFn real = libc<AlignFn>(c.name);
    ASSERT_NE(real, nullptr);
    for (size_t al : {size_t{0}, size_t{3}, size_t{24}, size_t{64}, size_t{4096}, size_t{1} << 62}) {
      errno = 0;
      void* a = c.hooked(al, 100);
      int ea = errno;
      errno = 0;
      void* b = real(al, 100);
      int eb = errno;
      EXPECT_EQ(a == nullptr, b == nullptr) << c.name << " alignment " << al;
      EXPECT_EQ(ea, eb) << c.name << " alignment " << al;
      if (a && al && (al & (al - 1)) == 0) EXPECT_EQ(reinterpret_cast<std::uintptr_t>(a) % al, 0u);
      free(a);
      libc<void (*)(void*)>("free")(b);
    }
  }
  void* v = valloc(10);
  void* pv = pvalloc(10);
  ASSERT_NE(v, nullptr);
  ASSERT_NE(pv, nullptr);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(v) % sysconf(_SC_PAGESIZE), 0u);
  EXPECT_GE(malloc_usable_size(pv), static_cast<size_t>(sysconf(_SC_PAGESIZE)));
  free(v);
  free(pv);
}

TEST(Hooks, MallocUsableSize) {
  EXPECT_EQ(malloc_usable_size(nullptr), 0u);
  for (size_t n : {1, 24, 25, 1000, 200000}) {
    void* p = malloc(n);
    EXPECT_GE(malloc_usable_size(p), n);
    // Under the preload remediation small blocks come from our pools, not from libc.
    if (getenv("FRAGSCOPE_POOL_SIZES") == nullptr) {
      EXPECT_EQ(malloc_usable_size(p), libc<size_t (*)(void*)>("malloc_usable_size")(p));
    }
    free(p);
  }
}

// Under the preload remediation with the pool sizes the tests use (16,32,48,64,...), a 17..32
// byte request comes from the 32-byte pool: its usable size is the slot's, where glibc says 24.
TEST(Hooks, PoolRemediationServesTheConfiguredSizes) {
  if (getenv("FRAGSCOPE_POOL_SIZES") == nullptr) GTEST_SKIP() << "FRAGSCOPE_POOL_SIZES not set";
  void* p = malloc(20);
  EXPECT_EQ(malloc_usable_size(p), 32u);
  void* q = realloc(p, 40);  // into the 48-byte pool
  EXPECT_EQ(malloc_usable_size(q), 48u);
  void* big = realloc(q, 5000);  // out of the pools
  EXPECT_GE(malloc_usable_size(big), 5000u);
  free(big);
  auto* z = static_cast<unsigned char*>(calloc(3, 10));
  EXPECT_EQ(malloc_usable_size(z), 32u);
  for (int i = 0; i < 30; ++i) EXPECT_EQ(z[i], 0);
  free(z);
}

TEST(Hooks, MmapMremapMunmapOfApplicationMappings) {
  const size_t pg = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  auto* p = static_cast<char*>(mmap(nullptr, 4 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  ASSERT_NE(p, MAP_FAILED);
  p[0] = 'a';
  p[3 * pg] = 'z';
  ASSERT_EQ(munmap(p + pg, pg), 0);  // punch a hole
  auto* q = static_cast<char*>(mremap(p + 2 * pg, 2 * pg, 64 * pg, MREMAP_MAYMOVE));
  ASSERT_NE(q, MAP_FAILED);
  EXPECT_EQ(q[pg], 'z');
  EXPECT_EQ(munmap(q, 64 * pg), 0);
  EXPECT_EQ(munmap(p, pg), 0);
  errno = 0;
  EXPECT_EQ(mmap(nullptr, pg, PROT_READ, MAP_PRIVATE, -1, 0), MAP_FAILED);  // file mapping, bad fd
  EXPECT_EQ(errno, EBADF);
  errno = 0;
  EXPECT_EQ(munmap(reinterpret_cast<void*>(1), pg), -1);  // misaligned
  EXPECT_EQ(errno, EINVAL);
  void* m64 = mmap64(nullptr, pg, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(m64, MAP_FAILED);
  EXPECT_EQ(munmap(m64, pg), 0);
}

TEST(Hooks, EightThreadsFreeingEachOthersBlocks) {
  constexpr int kThreads = 8, kPerThread = 20000;
  std::mutex mu;
  std::vector<void*> pool;
  std::atomic<long> freed{0};
  std::vector<std::thread> th;
  for (int t = 0; t < kThreads; ++t) {
    th.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        void* p = malloc(16 + (i * 7 + t) % 500);
        static_cast<char*>(p)[0] = 1;
        void* victim = nullptr;
        {
          std::lock_guard<std::mutex> g(mu);
          pool.push_back(p);
          if (pool.size() > 64) {
            victim = pool[(i * 31) % pool.size()];
            pool[(i * 31) % pool.size()] = pool.back();
            pool.pop_back();
          }
        }
        if (victim) {
          free(victim);
          ++freed;
        }
      }
    });
  }
  for (auto& x : th) x.join();
  for (void* p : pool) free(p);
  EXPECT_EQ(freed.load() + static_cast<long>(pool.size()), long{kThreads} * kPerThread);
}

TEST(Fork, TheChildWritesItsOwnBalancedFile) {
  if (!std::getenv("FRAGSCOPE_OUTPUT")) GTEST_SKIP() << "FRAGSCOPE_OUTPUT not set (run through ctest)";
  std::vector<void*> kept;
  for (int i = 0; i < 50; ++i) kept.push_back(malloc(200));
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    // The child frees some of the parent's blocks, allocates its own, keeps 777 of 3333 bytes.
    for (int i = 0; i < 25; ++i) free(kept[i]);
    static void* mine[777];
    for (auto& p : mine) p = malloc(3333);
    for (int i = 0; i < 1000; ++i) free(malloc(i));
    std::exit(0);  // normal exit: the shim writes the final snapshot
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  ASSERT_EQ(WEXITSTATUS(status), 0);
  for (void* p : kept) free(p);

  std::string path = output_for(pid);
  ASSERT_TRUE(std::filesystem::exists(path)) << path;
  struct stat st{};
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto f = fragscope::report::read_snapshot_file(path);
  EXPECT_TRUE(f.errors.empty());
  const auto* fin = f.final_snapshot();
  ASSERT_NE(fin, nullptr);
  EXPECT_EQ((*fin)["pid"], pid);
  EXPECT_EQ((*fin)["forked_child"], true);
  EXPECT_EQ(fragscope::report::check_balance(*fin), std::vector<std::string>{});
  std::uint64_t live_3333 = 0;
  for (const auto& c : (*fin)["size_classes"])
    if (c["lo"] <= 3333 && 3333 <= c["hi"]) live_3333 = c["live_blocks"];
  EXPECT_GE(live_3333, 777u);
}
