// Do no harm when the host closes descriptors it does not own: after the reporter has opened
// its output file, this program closes every descriptor from 3 up, opens a file of its own and
// dup2()s it onto every number from 3 to 63 — so whatever number our output file had now refers
// to the host's file — and keeps allocating while snapshots are due. Exit 0 iff its file holds
// exactly what it wrote (all the duplicates share one offset: any write through them shows).
// Usage: fd_takeover HOST_FILE   (run with the shim preloaded and a short interval)
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
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
}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  churn_for(std::chrono::milliseconds(400));  // the reporter starts and writes snapshots
  for (int fd = 3; fd < 1024; ++fd) close(fd);
  int fd = open(argv[1], O_RDWR | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) return 2;
  for (int i = 3; i < 64; ++i)
    if (i != fd && dup2(fd, i) != i) return 2;
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
  return 0;
}
