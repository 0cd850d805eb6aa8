// wl_map_churn: whole-process workload for allocator and shim comparison, shaped like ordinary
// C++ code rather than raw malloc: a std::map<std::string, std::vector<int>> under insert/erase
// churn. Each step picks a random key out of a fixed key space; a present key is erased, an absent
// one is inserted with a vector of 1..64 ints, so the map hovers around half the key space.
// Every entry makes three allocations of different sizes and lifetimes: the tree node, the key
// (longer than the small-string buffer) and the vector.
// Prints one line: its name, the parameters, a checksum and the live bytes at the end, counted
// by the containers' allocator (what was asked of operator new, not what the heap spent).

#include "rng.hpp"

#include <CLI/CLI.hpp>

#include <algorithm>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace {

// Counts the bytes the containers hold, then forwards to std::allocator, so the allocation path
// (operator new -> malloc) is exactly the one ordinary containers take. Single-threaded use only.
std::size_t g_live_bytes = 0;

template <class T>
struct CountingAllocator {
  using value_type = T;

  CountingAllocator() = default;
  template <class U>
  CountingAllocator(const CountingAllocator<U>&) noexcept {}

  T* allocate(std::size_t n) {
    T* p = std::allocator<T>{}.allocate(n);
    g_live_bytes += n * sizeof(T);
    return p;
  }
  void deallocate(T* p, std::size_t n) noexcept {
    g_live_bytes -= n * sizeof(T);
    std::allocator<T>{}.deallocate(p, n);
  }
  template <class U>
  bool operator==(const CountingAllocator<U>&) const noexcept {
    return true;
  }
};

using Key = std::basic_string<char, std::char_traits<char>, CountingAllocator<char>>;
using Values = std::vector<int, CountingAllocator<int>>;
using Map = std::map<Key, Values, std::less<>, CountingAllocator<std::pair<const Key, Values>>>;

// "session:<id>:profile": 26 characters, past libstdc++'s 15-character small-string buffer, so
// every key is a heap block. Written into `out`; returns the used part.
std::string_view make_key(std::uint64_t id, char (&out)[64]) {
  constexpr std::string_view prefix = "session:";
  constexpr std::string_view suffix = ":profile";
  char* p = std::copy(prefix.begin(), prefix.end(), out);
  p = std::to_chars(p, out + sizeof(out) - suffix.size(), id + 1'000'000'000).ptr;
  p = std::copy(suffix.begin(), suffix.end(), p);
  return {out, static_cast<std::size_t>(p - out)};
}

std::uint64_t checksum_of(const Key& key, const Values& values) {
  std::uint64_t sum = key.size();
  for (int v : values) sum += static_cast<std::uint64_t>(v);
  return sum;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"wl_map_churn: std::map<std::string, std::vector<int>> insert/erase churn"};
  std::uint64_t iterations = 3'000'000;
  std::uint64_t key_space = 200'000;
  app.add_option("--iterations", iterations, "Insert-or-erase steps")->capture_default_str();
  app.add_option("--keys", key_space, "Distinct keys (the map holds about half)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  fragscope::bench::Rng rng(7);
  std::uint64_t checksum = 0;
  std::size_t live_bytes = 0;
  std::size_t entries = 0;
  {
    Map map;
    char buffer[64];
    for (std::uint64_t i = 0; i < iterations; ++i) {
      const std::uint64_t id = rng.below(key_space);
      const std::string_view key = make_key(id, buffer);
      if (auto it = map.find(key); it != map.end()) {
        checksum = checksum * 31 + checksum_of(it->first, it->second);
        map.erase(it);
        continue;
      }
      Values values(rng.between(1, 64));
      for (std::size_t v = 0; v < values.size(); ++v) values[v] = static_cast<int>(id + v);
      map.emplace(Key(key), std::move(values));
    }
    live_bytes = g_live_bytes;
    entries = map.size();
    for (const auto& [key, values] : map) checksum = checksum * 31 + checksum_of(key, values);
  }

  std::printf("wl_map_churn iterations=%llu keys=%llu entries=%zu checksum=%llu live_bytes=%zu\n",
              static_cast<unsigned long long>(iterations), static_cast<unsigned long long>(key_space),
              entries, static_cast<unsigned long long>(checksum), live_bytes);
  return 0;
}
