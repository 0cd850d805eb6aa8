// Do no harm when the host closes descriptors it does not own. Usage: fd_takeover DIR   (run with
// the shim preloaded, a short interval and a metrics file, so the reporter opens, reads, writes
// and closes descriptors all the time). Exit 0 iff the host saw none of its descriptors closed,
// replaced, read from, written to or made busy by someone else; it prints what it saw otherwise.
//
// 1. Takeover: after the reporter has opened its output file, close every descriptor from 3 up,
//    open a file and dup2() it onto every number from 3 to 63 — so whatever number our output
//    file had now refers to the host's file — and keep allocating while snapshots are due. The
//    file must hold exactly what the host wrote (all the duplicates share one offset).
// 2. Reuse storm (issue 16): for a bounded time, kThreads threads each, in a loop, close every
//    number in [3, kTop) that no host thread holds (as closefrom() or a double close would), open
//    their own file — it gets the lowest free number, often one the reporter just had — dup2() it
//    onto another free number, and then check, write by write, that both numbers still refer to
//    their file (same inode), that its offset moved only by their own writes and that it holds
//    only their own bytes; between writes they allocate, so the shim's hooks (and the unwinder
//    that samples their call stacks) run in their threads. A shim that checks a descriptor of its own and then uses or closes it
//    loses that race within a few thousand rounds: the storm runs until it has seen a fault or
//    kStormRounds rounds (or kStormMax of time) have passed, whichever comes first, so how long
//    it runs does not depend on the machine's speed, only when it stops.
// 3. Fork: with the host's file on every number from 3 to 63, fork; the child checks that all of
//    them are still open on that file after the shim's fork handler ran.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {
void churn_for(std::chrono::milliseconds d) {
  auto end = std::chrono::steady_clock::now() + d;
  std::vector<void*> v;
  while (std::chrono::steady_clock::now() < end) {
    for (int i = 0; i < 1000; ++i) v.push_back(std::malloc(32 + i % 200));
    for (void* p : v) std::free(p);
    v.clear();
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

constexpr int kThreads = 4;
constexpr int kTop = 128;  // the storm closes numbers below this that no host thread holds
constexpr long kStormRounds = 10000;
constexpr auto kStormMax = std::chrono::seconds(8);

std::mutex g_held_mu;  // the host's own bookkeeping of the numbers it holds
bool g_held[kTop];
std::atomic<long> g_rounds{0};
std::atomic<int> g_faults{0};
std::atomic<bool> g_stop{false};

void fault(const char* what, int t, int fd, long a, long b) {
  if (g_faults.fetch_add(1) < 10)
    std::fprintf(stderr, "fd_takeover: thread %d, fd %d: %s (%ld, %ld)\n", t, fd, what, a, b);
  g_stop.store(true);
}

ino_t inode_of(int fd) {
  struct stat st;
  return fstat(fd, &st) == 0 ? st.st_ino : 0;
}

void storm(int t, std::string path) {
  char token[16];
  std::snprintf(token, sizeof(token), "host%02d-tokenXX\n", t);
  std::vector<char> buf(1 << 16);
  while (!g_stop.load(std::memory_order_relaxed)) {
    int fd = -1, dup_fd = -1;
    ino_t ino = 0;
    {
      std::lock_guard<std::mutex> l(g_held_mu);
      for (int n = 3; n < kTop; ++n)
        if (!g_held[n]) close(n);
      fd = open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
      if (fd < 0 || fd >= kTop) {
        fault("open failed or out of range", t, fd, errno, 0);
        if (fd >= 0) close(fd);
        return;
      }
      g_held[fd] = true;
      ino = inode_of(fd);
      for (int n = 3; n < kTop; ++n) {
        if (g_held[n]) continue;
        // No host thread opens a descriptor meanwhile (they all do under g_held_mu): EBUSY means
        // someone else is in the middle of opening one on that number.
        if (dup2(fd, n) != n) {
          fault(errno == EBUSY ? "dup2: EBUSY (someone else is opening a descriptor)" : "dup2 failed", t, n, errno, 0);
        } else {
          dup_fd = n;
          g_held[n] = true;
        }
        break;
      }
    }
    long written = 0;
    for (int k = 0; k < 8 && !g_stop.load(std::memory_order_relaxed); ++k) {
      const int use = (k & 1) && dup_fd >= 0 ? dup_fd : fd;
      if (write(use, token, sizeof(token) - 1) != static_cast<ssize_t>(sizeof(token) - 1)) {
        fault("write failed: the descriptor was closed under the host", t, use, errno, 0);
        break;
      }
      written += sizeof(token) - 1;
      // Allocate meanwhile, in a new thread each time: the shim samples call stacks in the hooks,
      // in the host's descriptor table, and an unwinder that touches a descriptor (libunwind
      // validates a new thread's stack through a pipe of its own) shows here.
      std::thread([] {
        for (int i = 0; i < 256; ++i) std::free(std::malloc(4096 + i));
      }).join();
      std::this_thread::yield();  // let the reporter in between
      for (int check : {fd, dup_fd}) {
        if (check < 0) continue;
        if (inode_of(check) != ino) fault("no longer the host's file (closed or replaced)", t, check, errno, 0);
        const off_t off = lseek(check, 0, SEEK_CUR);
        if (off != written) fault("the file offset was moved by someone else", t, check, off, written);
      }
    }
    const ssize_t n = pread(fd, buf.data(), buf.size(), 0);
    bool ok = n == written;
    for (ssize_t i = 0; ok && i < n; i += sizeof(token) - 1)
      ok = std::memcmp(buf.data() + i, token, sizeof(token) - 1) == 0;
    if (!ok && !g_stop.load()) fault("the host's file holds bytes it did not write", t, fd, n, written);
    {
      std::lock_guard<std::mutex> l(g_held_mu);
      close(fd);
      g_held[fd] = false;
      if (dup_fd >= 0) {
        close(dup_fd);
        g_held[dup_fd] = false;
      }
    }
    g_rounds.fetch_add(1, std::memory_order_relaxed);
  }
}
}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  const std::string dir = argv[1];

  // 1. Takeover.
  churn_for(std::chrono::milliseconds(400));  // the reporter starts and writes snapshots
  for (int fd = 3; fd < 1024; ++fd) close(fd);
  const std::string host_file = dir + "/host.txt";
  int fd = open(host_file.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) return 2;
  for (int i = 3; i < 64; ++i)
    if (i != fd && dup2(fd, i) != i) {
      std::fprintf(stderr, "fd_takeover: dup2 onto %d: %s\n", i, std::strerror(errno));
      return 1;
    }
  const char kData[] = "host data\n";
  if (write(fd, kData, sizeof(kData) - 1) != sizeof(kData) - 1) return 2;
  churn_for(std::chrono::milliseconds(400));  // snapshots are due while our file holds that number
  char buf[4096];
  ssize_t n = pread(fd, buf, sizeof(buf), 0);
  for (int i = 3; i < 64; ++i) close(i);
  if (n != sizeof(kData) - 1 || std::memcmp(buf, kData, sizeof(kData) - 1) != 0) {
    std::fprintf(stderr, "fd_takeover: the host's file was written to by someone else (%zd bytes)\n", n);
    return 1;
  }

  // 2. Reuse storm, while the main thread keeps allocating (so the reporter stays busy).
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) threads.emplace_back(storm, t, dir + "/storm." + std::to_string(t) + ".txt");
  const auto storm_end = std::chrono::steady_clock::now() + kStormMax;
  while (!g_stop.load() && g_rounds.load() < kStormRounds && std::chrono::steady_clock::now() < storm_end)
    churn_for(std::chrono::milliseconds(20));
  g_stop.store(true);
  for (auto& th : threads) th.join();
  if (g_faults.load() != 0) {
    std::fprintf(stderr, "fd_takeover: %d faults in %ld storm rounds\n", g_faults.load(), g_rounds.load());
    return 1;
  }

  // 3. Fork with the host's file on every number from 3 to 63.
  fd = open(host_file.c_str(), O_RDWR);
  if (fd < 0) return 2;
  const ino_t ino = inode_of(fd);
  for (int i = 3; i < 64; ++i)
    if (i != fd && dup2(fd, i) != i) return 2;
  const pid_t child = fork();
  if (child < 0) return 2;
  if (child == 0) {
    int bad = 0;
    for (int i = 3; i < 64; ++i)
      if (inode_of(i) != ino) ++bad;
    if (bad != 0) std::fprintf(stderr, "fd_takeover: after fork, %d of the host's descriptors were closed in the child\n", bad);
    _exit(bad == 0 ? 0 : 1);
  }
  int status = 0;
  if (waitpid(child, &status, 0) != child) return 2;
  for (int i = 3; i < 64; ++i) close(i);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return 1;
  std::printf("fd_takeover: %ld storm rounds, no fault\n", g_rounds.load());
  return 0;
}
