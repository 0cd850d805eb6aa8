// The hooks read a glibc block's usable size from its chunk header (shim/forward.hpp,
// glibc_usable) instead of calling malloc_usable_size once glibc is known to be underneath. This
// checks that reading against glibc's own answer on every kind of block it hands out: tcache,
// fastbin, small and large bin sizes, mmapped chunks, and blocks from every allocation function.
#include <dlfcn.h>
#include <malloc.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <vector>

#include "../../shim/forward.hpp"

namespace {

using fragscope::shim::glibc_usable;

std::vector<std::size_t> sizes() {
  std::vector<std::size_t> s;
  for (std::size_t n = 0; n <= 1100; ++n) s.push_back(n);
  for (std::size_t n = 1100; n < 70000; n = n * 5 / 4 + 3) s.push_back(n);
  // 40 MiB: above glibc's largest dynamic mmap threshold (32 MiB), so that it is mmapped even
  // after an earlier test freed a large mmapped block (which raises the threshold).
  for (std::size_t n : {127 * 1024, 128 * 1024, 129 * 1024, 200 * 1024, 1 << 20, 5 << 20, 40 << 20}) s.push_back(n);
  return s;
}

// The shim reads chunk headers only under glibc's malloc (select_usable_mode); sanitizer builds
// replace malloc with their own.
bool malloc_is_glibcs() {
  Dl_info info{};
  void* fn = dlsym(RTLD_DEFAULT, "malloc");
  return fn != nullptr && dladdr(fn, &info) != 0 && info.dli_fname != nullptr &&
         std::strstr(info.dli_fname, "libc.so") != nullptr;
}

TEST(GlibcUsable, AgreesWithMallocUsableSizeOnEveryKindOfBlock) {
  if (!malloc_is_glibcs()) GTEST_SKIP() << "malloc here is not glibc's (a sanitizer build?)";
  std::vector<void*> blocks;
  for (std::size_t n : sizes()) {
    blocks.push_back(std::malloc(n));
    blocks.push_back(std::calloc(1, n));
    blocks.push_back(memalign(64, n));
    blocks.push_back(std::aligned_alloc(4096, (n + 4095) & ~std::size_t{4095}));
    void* p = nullptr;
    if (posix_memalign(&p, 128, n) == 0) blocks.push_back(p);
    blocks.push_back(valloc(n));
    void* r = std::malloc(n / 2 + 1);
    void* grown = std::realloc(r, n + 100);
    blocks.push_back(grown != nullptr ? grown : r);
    void* shrunk = std::realloc(std::malloc(n + 100), n / 2 + 1);
    blocks.push_back(shrunk);
  }
  std::size_t mmapped = 0;
  for (void* b : blocks) {
    ASSERT_NE(b, nullptr);
    ASSERT_EQ(glibc_usable(b), malloc_usable_size(b)) << "block " << b;
    if ((static_cast<const std::size_t*>(b)[-1] & 2) != 0) ++mmapped;
  }
  EXPECT_GT(mmapped, 0u);  // the mmapped branch was exercised
  for (void* b : blocks) std::free(b);
}

}  // namespace
