// SharedFixedPool: a producer thread allocates messages, a consumer thread frees them; each free
// is cross-thread and costs no lock on the common path.
#include <atomic>
#include <cstdio>
#include <thread>

#include "fragscope/pools/shared_pool.hpp"

struct Message {
  long seq;
  char payload[56];
};

int main() {
  fragscope::pools::PoolOptions options;
  options.name = "messages";
  fragscope::pools::SharedFixedPool pool(sizeof(Message), alignof(Message), options);
  constexpr long kMessages = 1000000;
  constexpr int kRing = 1024;
  static std::atomic<Message*> ring[kRing];
  long checksum = 0;
  std::thread consumer([&] {
    for (long i = 0; i < kMessages; ++i) {
      Message* m;
      while ((m = ring[i % kRing].exchange(nullptr, std::memory_order_acquire)) == nullptr) std::this_thread::yield();
      checksum += m->seq;
      pool.deallocate(m);
    }
  });
  for (long i = 0; i < kMessages; ++i) {
    auto* m = static_cast<Message*>(pool.allocate());
    m->seq = i;
    Message* expected = nullptr;
    while (!ring[i % kRing].compare_exchange_weak(expected, m, std::memory_order_release)) {
      expected = nullptr;
      std::this_thread::yield();
    }
  }
  consumer.join();
  std::printf("shared_pool: %ld messages, checksum %ld, live after %zu\n", kMessages, checksum, pool.stats().live);
  return checksum == kMessages * (kMessages - 1) / 2 ? 0 : 1;
}
