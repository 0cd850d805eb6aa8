// fragmenting_service: the demo's misbehaving service. A paced request loop whose RSS keeps
// climbing while the data it holds stays flat, because small long-lived session records end up
// scattered between large short-lived request buffers (see "Why the heap fragments" below).
// Run it plain to watch the problem, under fragscope to find the culprit: open_session().
//
// Output on stdout, key=value so that scripts can read it: a "progress" line per second of
// schedule (unless --quiet), then a "final" line. One line each, shown wrapped here:
//   progress t=1.00s requests=50000 sessions=24978 live_bytes=1603292 peak_live_bytes=1615796
//            rss_bytes=6434816 rss_over_live=4.01
//   final    t=6.00s requests=300000 ... rss_over_live=6.41 checksum=642591261
// live_bytes: requested bytes of the open sessions, counted by the program itself;
// peak_live_bytes: the most it ever held at once (sessions plus the request in flight);
// rss_bytes: VmRSS from /proc/self/status. The checksum is the same on every run.
//
// Why the heap fragments (on glibc malloc):
//   * Each request parses into 32..95 scratch buffers of mixed sizes and frees them at its end.
//   * Half of the requests are logins: open_session() keeps one of those buffers as the
//     session record, shrinking it with realloc() to 32..96 bytes. glibc shrinks in place, so
//     the tiny record stays wherever the big buffer was: between the request's other buffers.
//   * The session table is full after a while; each login evicts a random older session, so the
//     live data stays flat while the records are spread thinly over the whole heap.
//   * Request sizes drift upward (one octave every ~1.4 s). The gaps left between scattered
//     sessions were sized for older, smaller requests and are now too small to reuse, so the
//     heap grows for new requests, and the sessions opened there pin that memory too.
// Allocators that move a shrunk block into a size class of its own (jemalloc, mimalloc) keep the
// sessions packed together, and the same run ends with far less RSS: compare them on it.
//
// The fix in code (--pools): session records come from a fragscope::pools::PoolResource — the
// long-lived records live in pools of their own, the heap keeps only short-lived buffers. Same
// work, same checksum.

#include <CLI/CLI.hpp>

#include "fragscope/pools/pool_resource.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <new>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

// The schedule. Fixed so that every run does the same work in the same order; only
// --seconds (how many requests) changes.
constexpr std::uint64_t kRequestsPerSecond = 50'000;
constexpr std::uint64_t kTicksPerSecond = 100;  // pace in 10 ms ticks: smooth, cheap to sleep
constexpr std::uint64_t kRequestsPerTick = kRequestsPerSecond / kTicksPerSecond;
constexpr std::size_t kSessionCapacity = 32'768;
constexpr std::uint64_t kSeed = 0x5eed'f4a6'5c09'e000;

// Request buffer sizes: a window of three octaves [low, 8 * low) whose low end drifts from
// 24 B to 512 B over a 6 s cycle, then starts over. Over one cycle sizes span 24..4095 B.
constexpr double kDriftCycleRequests = 6.0 * kRequestsPerSecond;
constexpr double kSmallestLow = 24.0;
constexpr double kLargestLow = 512.0;

// splitmix64: tiny, fast, and gives the same sequence on every platform, unlike the
// distributions in <random>, whose output is implementation-defined.
class Rng {
 public:
  explicit Rng(std::uint64_t seed) : state_(seed) {}

  std::uint64_t next() {
    std::uint64_t z = (state_ += 0x9e37'79b9'7f4a'7c15);
    z = (z ^ (z >> 30)) * 0xbf58'476d'1ce4'e5b9;
    z = (z ^ (z >> 27)) * 0x94d0'49bb'1331'11eb;
    return z ^ (z >> 31);
  }
  // Uniform in [0, n); the modulo bias is irrelevant for n far below 2^64.
  std::uint64_t below(std::uint64_t n) { return next() % n; }

 private:
  std::uint64_t state_;
};

// A logged-in client. Variable length: the client's token follows the struct in the same
// block, as C services commonly lay out small records.
struct Session {
  std::uint64_t id;
  std::uint64_t opened_at_request;
  std::uint32_t token_len;

  static constexpr std::size_t bytes_for(std::uint32_t token_len) { return sizeof(Session) + token_len; }
  std::size_t bytes() const { return bytes_for(token_len); }
  char* token() { return reinterpret_cast<char*>(this + 1); }
};

// With --pools: where session records live instead of the malloc heap.
fragscope::pools::PoolResource* g_session_pool = nullptr;

// Turns one of the request's parsed buffers into a session record. The buffer already holds the
// login message, so, as much C code does, we keep it and shrink it to the record's size instead
// of copying into a fresh block. This is the long-lived allocation that pins the heap.
// Never inlined so that profilers attribute the allocation to this function.
// Requires: `buffer` came from malloc and is owned by the caller; ownership moves to the result.
// With --pools the record is allocated from the pool and the buffer freed (the fix).
[[gnu::noinline]] Session* open_session(std::byte* buffer, std::uint32_t token_len, std::uint64_t id,
                                        std::uint64_t request) {
  void* record;
  if (g_session_pool != nullptr) {
    // The fix: the record goes to a pool of its own, and the request buffer is freed.
    record = g_session_pool->allocate_bytes(Session::bytes_for(token_len), alignof(Session));
    std::free(buffer);
  } else {
    record = std::realloc(buffer, Session::bytes_for(token_len));
    if (record == nullptr) {
      std::free(buffer);
      throw std::bad_alloc();
    }
  }
  auto* session = new (record) Session{id, request, token_len};
  std::memset(session->token(), static_cast<int>('a' + id % 26), token_len);
  return session;
}

[[gnu::noinline]] void close_session(Session* session) {
  if (g_session_pool != nullptr) g_session_pool->deallocate_bytes(session, session->bytes(), alignof(Session));
  else std::free(session);
}

// Fixed-capacity table of sessions. Once full, each new session evicts a random one: clients
// leave at random times, so survivors of every age stay scattered through the heap.
// Sessions are closed only by eviction. The service exits as a stopped service does, with its
// sessions still open, so a profiler's at-exit snapshot sees the heap as fragmented as it was.
class SessionTable {
 public:
  explicit SessionTable(std::size_t capacity) : capacity_(capacity) { slots_.reserve(capacity); }
  SessionTable(const SessionTable&) = delete;
  SessionTable& operator=(const SessionTable&) = delete;

  void add(Session* session, Rng& rng) {
    live_bytes_ += session->bytes();
    if (slots_.size() < capacity_) {
      slots_.push_back(session);
      return;
    }
    Session*& slot = slots_[rng.below(slots_.size())];
    live_bytes_ -= slot->bytes();
    close_session(slot);
    slot = session;
  }

  std::size_t size() const { return slots_.size(); }
  std::size_t live_bytes() const { return live_bytes_; }

 private:
  std::size_t capacity_;
  std::vector<Session*> slots_;  // reserved once, so the table itself never reallocates
  std::size_t live_bytes_ = 0;   // == sum of bytes() over slots_
};

struct FreeDeleter {
  void operator()(std::byte* p) const { std::free(p); }
};
using Buffer = std::unique_ptr<std::byte, FreeDeleter>;

struct Stats {
  std::uint64_t requests = 0;
  std::uint64_t logins = 0;
  std::size_t peak_live_bytes = 0;  // sessions plus the in-flight request, at its largest
  std::uint64_t checksum = 0;       // proves the buffers were really used; equal on every run
};

// Lowest buffer size of the drifting window for request number `request`.
std::size_t window_low(std::uint64_t request) {
  const double phase = std::fmod(static_cast<double>(request), kDriftCycleRequests) / kDriftCycleRequests;
  return static_cast<std::size_t>(kSmallestLow * std::exp2(phase * std::log2(kLargestLow / kSmallestLow)));
}

// One request: parse into scratch buffers, maybe log a client in, answer, free the scratch.
void handle_request(std::uint64_t request, Rng& rng, SessionTable& sessions, Stats& stats,
                    std::vector<Buffer>& scratch) {
  const std::size_t low = window_low(request);
  const std::size_t parts = 32 + rng.below(64);
  std::size_t in_flight = 0;
  for (std::size_t i = 0; i < parts; ++i) {
    // Pick one of the window's octaves, then a size inside it: as many buffers per octave, so
    // small sizes are common, as in real traffic.
    const std::size_t octave_low = low << rng.below(3);
    const std::size_t size = octave_low + rng.below(octave_low);
    auto* bytes = static_cast<std::byte*>(std::malloc(size));
    if (bytes == nullptr) throw std::bad_alloc();
    std::memset(bytes, static_cast<int>(i), size);
    scratch.emplace_back(bytes);
    in_flight += size;
  }
  stats.peak_live_bytes = std::max(stats.peak_live_bytes, sessions.live_bytes() + in_flight);

  if (rng.below(2) == 0) {
    // A login: whichever part carried the credentials becomes the session record.
    Buffer& login = scratch[rng.below(scratch.size())];
    const auto token_len = static_cast<std::uint32_t>(8 + rng.below(65));
    sessions.add(open_session(login.release(), token_len, stats.logins++, request), rng);
  }

  for (const Buffer& b : scratch) {
    if (b) stats.checksum += static_cast<std::uint64_t>(*b.get());
  }
  scratch.clear();
  ++stats.requests;
}

// Resident set size from /proc/self/status, in bytes; 0 if unavailable.
std::size_t vm_rss_bytes() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::strtoull(line.c_str() + 6, nullptr, 10) * 1024;
  }
  return 0;
}

void print_line(const char* label, Clock::time_point start, const Stats& stats, const SessionTable& sessions,
                bool with_checksum) {
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  const std::size_t live = sessions.live_bytes();
  const std::size_t rss = vm_rss_bytes();
  const double ratio = live == 0 ? 0.0 : static_cast<double>(rss) / static_cast<double>(live);
  std::printf(
      "%-8s t=%.2fs requests=%llu sessions=%zu live_bytes=%zu peak_live_bytes=%zu rss_bytes=%zu "
      "rss_over_live=%.2f",
      label, elapsed, static_cast<unsigned long long>(stats.requests), sessions.size(), live,
      stats.peak_live_bytes, rss, ratio);
  if (with_checksum) std::printf(" checksum=%llu", static_cast<unsigned long long>(stats.checksum));
  std::printf("\n");
  std::fflush(stdout);  // progress must show up live even when stdout is a pipe
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"fragmenting_service: a request loop whose RSS grows while its live data stays flat"};
  double seconds = 6.0;
  bool quiet = false;
  app.add_option("--seconds", seconds, "How long to serve, at 50,000 requests per second")
      ->check(CLI::Range(0.01, 86'400.0))
      ->capture_default_str();
  app.add_flag("--quiet", quiet, "Print only the final line");
  bool pools = false;
  app.add_flag("--pools", pools, "The fix: keep session records in a fragscope::pools::PoolResource");
  CLI11_PARSE(app, argc, argv);
  fragscope::pools::PoolOptions pool_options;
  pool_options.name = "sessions";
  pool_options.debug = false;
  fragscope::pools::PoolResource session_pool(pool_options);
  if (pools) g_session_pool = &session_pool;

  const auto total = static_cast<std::uint64_t>(seconds * kRequestsPerSecond);
  Rng rng(kSeed);
  SessionTable sessions(kSessionCapacity);
  Stats stats;
  std::vector<Buffer> scratch;
  scratch.reserve(128);

  const auto start = Clock::now();
  const auto tick = std::chrono::nanoseconds(std::chrono::seconds(1)) / kTicksPerSecond;
  for (std::uint64_t request = 0; request < total; ++request) {
    // Pace to the schedule; when behind (a slow machine, a heavy profiler), just run on.
    if (request % kRequestsPerTick == 0) {
      std::this_thread::sleep_until(start + tick * (request / kRequestsPerTick));
    }
    handle_request(request, rng, sessions, stats, scratch);
    if (!quiet && stats.requests % kRequestsPerSecond == 0 && stats.requests != total) {
      print_line("progress", start, stats, sessions, false);
    }
  }
  print_line("final", start, stats, sessions, true);
  return 0;
}
