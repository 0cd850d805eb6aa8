// A larson-like C++ workload (issue 16): THREADS threads allocate with every form of operator new
// (plain, array, nothrow, aligned), keep a window of live objects, and hand a share of them to the
// next thread, which deletes them (cross-thread frees), with every form of delete (plain, array,
// sized, aligned). It counts the allocations it made and writes the count to COUNT_FILE, so a
// test can compare what fragscope recorded with what the program did.
// Usage: cxx_churn COUNT_FILE [THREADS] [ROUNDS]
//        cxx_churn --no-memory   (prints what new, nothrow new and a new_handler do when there
//                                 is no memory: the same with and without fragscope)
#include <atomic>
#include <memory>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <new>
#include <string>
#include <thread>
#include <vector>

namespace {

struct alignas(64) Line {
  char bytes[64];
};

enum class Kind { kPlain, kArray, kNothrow, kAligned, kArrayNothrow };

struct Obj {
  void* p;
  Kind kind;
  std::size_t n;
};

std::atomic<unsigned long> g_allocs{0};

Obj make(unsigned r) {
  const std::size_t n = 8 + (r % 61) * 8;  // 8..488 bytes
  switch (r % 5) {
    case 0: return {new char[n], Kind::kArray, n};
    case 1: return {new (std::nothrow) char[n], Kind::kArrayNothrow, n};
    case 2: return {new Line, Kind::kAligned, sizeof(Line)};
    case 3: return {new (std::nothrow) long(static_cast<long>(r)), Kind::kNothrow, sizeof(long)};
    default: return {::operator new(n), Kind::kPlain, n};
  }
}

void destroy(const Obj& o) {
  switch (o.kind) {
    case Kind::kArray: delete[] static_cast<char*>(o.p); break;
    case Kind::kArrayNothrow: ::operator delete[](o.p, std::nothrow); break;
    case Kind::kAligned: delete static_cast<Line*>(o.p); break;
    case Kind::kNothrow: delete static_cast<long*>(o.p); break;
    case Kind::kPlain: ::operator delete(o.p, o.n); break;  // sized delete
  }
}

// The mailboxes' vectors grow as often as the scheduler lets objects pile up between two drains:
// their allocations are counted too, so the program's count never depends on the interleaving.
template <class T>
struct Counting {
  using value_type = T;
  Counting() = default;
  template <class U>
  Counting(const Counting<U>&) {}
  T* allocate(std::size_t n) {
    g_allocs.fetch_add(1, std::memory_order_relaxed);
    return std::allocator<T>().allocate(n);
  }
  void deallocate(T* p, std::size_t n) { std::allocator<T>().deallocate(p, n); }
  bool operator==(const Counting&) const { return true; }
};
using Objs = std::vector<Obj, Counting<Obj>>;

struct Mailbox {
  std::mutex mu;
  Objs items;
};

}  // namespace

int g_handler_calls = 0;
void give_up() {
  ++g_handler_calls;
  std::set_new_handler(nullptr);  // the next failure throws
}

int no_memory() {
  const std::size_t huge = std::size_t{1} << 62;
  void* volatile p = ::operator new(huge, std::nothrow);
  std::printf("nothrow new: %s\n", p == nullptr ? "null" : "memory");
  p = new (std::nothrow) Line[huge / sizeof(Line) / 2];
  std::printf("nothrow aligned new[]: %s\n", p == nullptr ? "null" : "memory");
  try {
    p = ::operator new(huge);
    std::printf("new: memory\n");
  } catch (const std::bad_alloc&) {
    std::printf("new: bad_alloc\n");
  }
  std::set_new_handler(give_up);
  try {
    p = new Line[huge / sizeof(Line) / 2];
    std::printf("aligned new[] with a handler: memory\n");
  } catch (const std::bad_alloc&) {
    std::printf("aligned new[] with a handler: bad_alloc, handler called %s\n", g_handler_calls > 0 ? "yes" : "no");
  }
  return 0;
}

int main(int argc, char** argv) {
  if (argc == 2 && std::string(argv[1]) == "--no-memory") return no_memory();
  if (argc < 2) {
    std::fprintf(stderr, "usage: cxx_churn COUNT_FILE [THREADS] [ROUNDS]\n");
    return 2;
  }
  const unsigned threads = argc > 2 ? static_cast<unsigned>(std::atoi(argv[2])) : 4;
  const unsigned rounds = argc > 3 ? static_cast<unsigned>(std::atoi(argv[3])) : 200000;
  std::vector<Mailbox> boxes(threads);
  std::vector<std::thread> pool;
  for (unsigned t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      std::vector<Obj> window(512, Obj{nullptr, Kind::kPlain, 0});
      unsigned long made = 0;
      unsigned r = 2654435761u * (t + 1);
      for (unsigned i = 0; i < rounds; ++i) {
        r = r * 1103515245u + 12345u;
        Obj& slot = window[(r >> 8) % window.size()];
        if (slot.p != nullptr) {
          if ((r >> 20) % 4 == 0) {  // a quarter go to the next thread to delete
            Mailbox& next = boxes[(t + 1) % threads];
            std::lock_guard<std::mutex> lock(next.mu);
            next.items.push_back(slot);
          } else {
            destroy(slot);
          }
        }
        slot = make(r >> 4);
        ++made;
        if (i % 256 == 0) {
          Objs mine;
          {
            std::lock_guard<std::mutex> lock(boxes[t].mu);
            mine.swap(boxes[t].items);
          }
          for (const Obj& o : mine) destroy(o);
        }
      }
      for (const Obj& o : window)
        if (o.p != nullptr) destroy(o);
      g_allocs.fetch_add(made);
    });
  }
  for (auto& th : pool) th.join();
  for (auto& b : boxes)
    for (const Obj& o : b.items) destroy(o);
  FILE* f = std::fopen(argv[1], "w");
  if (f == nullptr) return 1;
  std::fprintf(f, "%lu\n", g_allocs.load());
  std::fclose(f);
  return 0;
}
