// Recycler: reuse objects that are expensive to build. A response buffer keeps its capacity
// between requests instead of growing from nothing each time.
#include <cstdio>
#include <string>

#include "fragscope/pools/recycler.hpp"

struct Response {
  Response() { body.reserve(64 * 1024); }
  void clear() { body.clear(); }  // the reset hook Recycler calls by default
  std::string body;
};

int main() {
  fragscope::pools::Recycler<Response> responses(/*max_cached=*/8);
  std::size_t total = 0;
  for (int request = 0; request < 10000; ++request) {
    auto r = responses.acquire();
    r->body.append(static_cast<std::size_t>(100 + request % 5000), 'x');
    total += r->body.size();
  }  // each handle releases its Response back to the recycler
  const auto s = responses.stats();
  std::printf("recycler: %zu bytes served, %zu responses built, %zu reused, %zu cached\n", total, s.created, s.reused,
              s.cached);
  return s.created == 1 ? 0 : 1;
}
