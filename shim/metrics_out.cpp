// Prometheus metrics out of the process (see metrics_out.hpp).
#include "metrics_out.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "clock.hpp"
#include "runtime.hpp"
#include "safe_file.hpp"
#include "spinlock.hpp"

namespace fragscope::shim {
namespace {

constexpr std::size_t kMaxText = 4u << 20;

core::TextBuffer g_text;     // built by the reporter thread
core::TextBuffer g_serving;  // what the HTTP thread sends. GUARDED_BY g_serving_lock
core::SpinLock g_serving_lock;
bool g_file_failed = false;
bool g_http_failed = false;
bool g_http_started = false;
int g_listen_fd = -1;
struct stat g_listen_st;  // identity of g_listen_fd (dev, ino)

// The listening socket is ours only while its number still refers to it. In the reporter's own
// descriptor table (where the metrics thread also lives: it shares its creator's table) the host
// cannot take the number; in the host's table (no table of our own) it can, between any check
// and the accept, so we check before each accept and stop serving when it is not ours.
bool listen_fd_ours() {
  struct stat st;
  return g_listen_fd >= 0 && fstat(g_listen_fd, &st) == 0 && st.st_dev == g_listen_st.st_dev &&
         st.st_ino == g_listen_st.st_ino;
}

void say_once(bool& flag, const char* line) {
  if (flag) return;
  flag = true;
  warn_once(line);
}

// Writes the text to a temporary file beside the target and renames it over, so the collector
// never reads half a file: the temporary file created exclusively under an unpredictable name,
// mode 0600, never through a symlink, never blocking (a FIFO planted anywhere cannot hang us),
// and a target that is not a regular file refused (issue 16).
void write_file(const char* path, core::TextBuffer& text) {
  const int rc = files::replace_file(path, text.data(), text.size(), /*durable=*/false);
  if (rc == 0) return;
  char line[300];
  std::snprintf(line, sizeof(line), "fragscope: cannot write metrics to '%.120s': %s; metrics file off", path,
                files::safe_file_reason(rc));
  say_once(g_file_failed, line);
}

// ---- the HTTP thread: one poll() over the listening socket and up to kMaxConns clients ------
// Nothing a client does can hold the endpoint: every socket is non-blocking, a request head must
// arrive within kHeadNs of the accept and the reply leave within kReplyNs, and a new connection
// beyond the cap takes the place of the oldest one that has sent the least (see victim). With no
// client, the
// thread sleeps in poll() without a timeout. All memory is static or our own mappings.
constexpr int kMaxConns = 64;
constexpr std::uint64_t kHeadNs = 2000000000;    // accept → end of the request head
constexpr std::uint64_t kReplyNs = 10000000000;  // accept → last byte of the reply sent
constexpr std::size_t kHeadMax = 8192;           // a longer head is not a scrape: closed
constexpr std::size_t kLineMax = 128;            // the request line is all we look at
constexpr int kAcceptBurst = 256;                // accepts per wake-up, so clients get their turn
constexpr std::uint64_t kBackoffNs = 100000000;  // out of descriptors or memory: listen again later
constexpr std::uint64_t kGraceNs = 10000000;     // a new connection's time to send its request

struct SockId {
  dev_t dev = 0;
  ino_t ino = 0;
};

struct Conn {
  int fd = -1;  // -1: a free slot
  SockId id;
  std::uint64_t accepted_ns = 0;
  std::size_t head_bytes = 0;  // bytes of the request head received
  char line[kLineMax];         // the request line, cut at kLineMax - 1
  std::size_t line_len = 0;
  bool line_done = false;
  unsigned tail = 0;  // the last 4 bytes received, to find the end of the head
  // Writing the reply: `out` points into a reply buffer (`reply` its index, -1: the static 404).
  bool writing = false;
  int reply = -1;
  const char* out = nullptr;
  std::size_t out_left = 0;
};

// Two reply buffers, so that a new scrape gets the latest snapshot while a slow client is still
// being sent an older one (HTTP thread only).
struct Reply {
  core::TextBuffer text;
  std::uint64_t gen = 0;  // g_serving_gen it was built from (0: never built)
  int users = 0;          // connections sending it
};

std::uint64_t g_serving_gen = 0;  // GUARDED_BY g_serving_lock: bumped with each new g_serving
Reply g_replies[2];
Conn g_conns[kMaxConns];
int g_nconns = 0;
pollfd g_pfds[kMaxConns + 1];
int g_pfd_conn[kMaxConns + 1];  // g_pfds[i] is g_conns[g_pfd_conn[i]] (i > 0)
std::atomic<bool> g_http_running{false};
bool g_http_taken_said = false;

const char kNotFound[] =
    "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 31\r\nConnection: close\r\n\r\n"
    "fragscope serves /metrics only\n";

SockId sock_id(int fd) {
  struct stat st;
  if (fd < 0 || fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode)) return {};
  return SockId{st.st_dev, st.st_ino};
}
// A client's number is ours only while it still refers to the socket accept gave us (in the host's
// table the host may close and reuse it; in ours it cannot, and this costs one fstat).
bool conn_ours(const Conn& c) {
  const SockId now = sock_id(c.fd);
  return now.ino != 0 && now.dev == c.id.dev && now.ino == c.id.ino;
}

// Ends a connection: closed if the number is still ours, else abandoned (never closed, never used).
void drop(Conn& c) {
  if (c.fd < 0) return;
  if (conn_ours(c)) close(c.fd);
  if (c.reply >= 0) --g_replies[c.reply].users;
  c.fd = -1;
  c.reply = -1;
  --g_nconns;
}

// The reply buffer to send a 200 from: the latest snapshot, built into a buffer no client is
// being sent (if both are busy, the newer one as it is). -1 when there is no memory for it.
int take_reply() {
  std::uint64_t gen;
  {
    core::LockGuard lock(g_serving_lock);
    gen = g_serving_gen;
  }
  int newest = g_replies[0].gen >= g_replies[1].gen ? 0 : 1;
  if (g_replies[newest].gen == gen && gen != 0) return ++g_replies[newest].users, newest;
  int free = g_replies[newest].users == 0 ? newest : g_replies[1 - newest].users == 0 ? 1 - newest : -1;
  if (free < 0) return g_replies[newest].gen != 0 ? (++g_replies[newest].users, newest) : -1;
  Reply& r = g_replies[free];
  if (!r.text.reserve(kMaxText + 512)) return -1;
  r.text.clear();
  {
    core::LockGuard lock(g_serving_lock);
    core::append_printf(r.text,
                        "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
                        "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                        g_serving.size());
    r.text.append(g_serving.data(), g_serving.size());
    r.gen = g_serving_gen;
  }
  ++r.users;
  return free;
}

// Sends what the socket takes now; drops the connection when all is sent or the client is gone.
void send_some(Conn& c) {
  while (c.out_left > 0) {
    if (!conn_ours(c)) return drop(c);
    ssize_t w = send(c.fd, c.out, c.out_left, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;  // poll says when it takes more
    if (w <= 0) return drop(c);
    c.out += w;
    c.out_left -= static_cast<std::size_t>(w);
  }
  drop(c);
}

void start_reply(Conn& c) {
  c.line[c.line_len] = '\0';
  const bool metrics = std::strncmp(c.line, "GET /metrics ", 13) == 0 || std::strncmp(c.line, "GET /metrics?", 13) == 0 ||
                       std::strcmp(c.line, "GET /metrics") == 0;
  c.writing = true;
  c.reply = metrics ? take_reply() : -1;
  if (metrics && c.reply < 0) return drop(c);  // no memory for the reply: the scrape fails, we go on
  if (c.reply >= 0) {
    c.out = g_replies[c.reply].text.data();
    c.out_left = g_replies[c.reply].text.size();
  } else {
    c.out = kNotFound;
    c.out_left = sizeof(kNotFound) - 1;
  }
  send_some(c);
}

// Reads what has arrived of the request head; replies once it is whole.
void read_some(Conn& c) {
  static char chunk[2048];
  for (;;) {
    if (!conn_ours(c)) return drop(c);
    ssize_t r = recv(c.fd, chunk, sizeof(chunk), MSG_DONTWAIT);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    if (r == 0 && c.line_done) return start_reply(c);  // the client shut its side after the head
    if (r <= 0) return drop(c);
    for (ssize_t i = 0; i < r; ++i) {
      const char ch = chunk[i];
      if (!c.line_done) {
        if (ch == '\n') c.line_done = true;
        else if (ch != '\r' && c.line_len < kLineMax - 1) c.line[c.line_len++] = ch;
      }
      c.tail = c.tail << 8 | static_cast<unsigned char>(ch);
      // "\r\n\r\n", or a bare "\n\n" (what a hand-typed request sends).
      if (c.tail == 0x0d0a0d0au || (c.tail & 0xffffu) == 0x0a0au) return start_reply(c);
    }
    c.head_bytes += static_cast<std::size_t>(r);
    if (c.head_bytes > kHeadMax) return drop(c);
  }
}

// The connection to give up for a new one when every slot is taken: among those that have had
// kGraceNs to send their request, the one that has sent the least (nothing, then part of a head,
// then a reply being sent), the oldest first. None yet: nullptr, and `retry_at` says when one
// will be (the new connections wait in the kernel's queue until then).
Conn* victim(std::uint64_t now, std::uint64_t& retry_at) {
  Conn* best = nullptr;
  int best_rank = 3;
  retry_at = UINT64_MAX;
  for (Conn& c : g_conns) {
    if (c.fd < 0) continue;
    if (now - c.accepted_ns < kGraceNs) {
      retry_at = std::min(retry_at, c.accepted_ns + kGraceNs);
      continue;
    }
    const int rank = c.writing ? 2 : c.head_bytes > 0 ? 1 : 0;
    if (rank < best_rank || (rank == best_rank && c.accepted_ns < best->accepted_ns)) best = &c, best_rank = rank;
  }
  return best;
}

Conn* free_slot() {
  for (Conn& c : g_conns)
    if (c.fd < 0) return &c;
  return nullptr;
}

void say_taken() {
  say_once(g_http_taken_said, "fragscope: the metrics endpoint's socket is no longer ours (the host took its number); metrics endpoint off");
}

// Accepts what is waiting. False when the listening socket is not ours any more. Sets
// `listen_at` when the queue is to be left alone for a while (no slot to give up yet, or out of
// descriptors or memory): never a spin on a queue we cannot take from.
bool accept_some(std::uint64_t now, std::uint64_t& listen_at) {
  for (int i = 0; i < kAcceptBurst; ++i) {
    Conn* slot = free_slot();
    Conn* give_up = nullptr;
    if (slot == nullptr) {
      std::uint64_t retry_at;
      give_up = victim(now, retry_at);
      if (give_up == nullptr) {
        listen_at = retry_at;
        return true;
      }
    }
    if (!listen_fd_ours()) return false;  // never accept on the host's socket
    const int fd = accept4(g_listen_fd, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) return true;
      if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO) continue;
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        listen_at = now + kBackoffNs;
        return true;
      }
      return false;  // EBADF, ENOTSOCK, EINVAL: not our listening socket any more
    }
    if (give_up != nullptr) {
      drop(*give_up);
      slot = give_up;
    }
    Conn& c = *slot;
    c = Conn{};
    c.fd = fd;
    c.id = sock_id(fd);
    c.accepted_ns = now;
    ++g_nconns;
    read_some(c);  // a scraper's request is usually there already
  }
  return true;
}

void* http_main(void*) {
  become_own_thread();       // its allocations are not the host's
  join_reporter_fd_table();  // it shares the reporter's descriptor table (and says its warnings there)
  std::uint64_t listen_at = 0;  // the listening socket is polled from then on
  for (;;) {
    std::uint64_t now = core::monotonic_ns();
    // Deadlines, and the poll set. The timeout is the nearest deadline: none without a client.
    std::uint64_t wake = listen_at > now ? listen_at : UINT64_MAX;
    nfds_t n = 1;
    g_pfds[0] = pollfd{g_listen_fd, static_cast<short>(listen_at > now ? 0 : POLLIN), 0};
    for (int i = 0; i < kMaxConns; ++i) {
      Conn& c = g_conns[i];
      if (c.fd < 0) continue;
      const std::uint64_t deadline = c.accepted_ns + (c.writing ? kReplyNs : kHeadNs);
      if (now >= deadline) {
        drop(c);
        continue;
      }
      wake = std::min(wake, deadline);
      g_pfds[n] = pollfd{c.fd, static_cast<short>(c.writing ? POLLOUT : POLLIN), 0};
      g_pfd_conn[n++] = i;
    }
    const int timeout = wake == UINT64_MAX ? -1 : static_cast<int>((wake - now + 999999) / 1000000);
    const int ready = poll(g_pfds, n, timeout);
    if (ready < 0) {
      if (errno == EINTR) continue;
      timespec pause{0, static_cast<long>(kBackoffNs)};  // ENOMEM: never spin
      nanosleep(&pause, nullptr);
      continue;
    }
    if (ready == 0) continue;
    now = core::monotonic_ns();
    for (nfds_t i = 1; i < n; ++i) {
      if (g_pfds[i].revents == 0) continue;
      Conn& c = g_conns[g_pfd_conn[i]];
      if (c.fd != g_pfds[i].fd) continue;  // given up for a new one meanwhile
      if (g_pfds[i].revents & POLLNVAL) {
        // The number was closed under us (only possible in the host's table): abandon it.
        if (c.reply >= 0) --g_replies[c.reply].users;
        c.fd = -1, c.reply = -1, --g_nconns;
      } else if (c.writing) {
        send_some(c);
      } else {
        read_some(c);
      }
    }
    const short lrev = g_pfds[0].revents;
    if (lrev & POLLNVAL) break;
    if (lrev != 0 && !accept_some(now, listen_at)) break;
  }
  // Not our socket any more: every client abandoned or closed, the thread ends, the host's
  // descriptor is never touched again.
  for (Conn& c : g_conns) drop(c);
  g_http_running.store(false);
  say_taken();
  return nullptr;
}

// ---- binding: only one process of a measured tree serves the port ---------------------------
// Every program a measured process executes inherits FRAGSCOPE_METRICS_ADDR and tries the same
// port. When it is in use, we look for who holds it: if an ancestor of ours does (the listening
// socket's inode, from /proc/net/tcp{,6}, among the ancestor's descriptors), the endpoint is
// served and this process says nothing; anyone else holding it is a real conflict, said once.
// Every step is bounded: a few hundred lines of /proc/net/tcp*, 32 ancestors, 4096 descriptors
// each; the work is done once, in the reporter thread, with static buffers.
constexpr int kMaxInodes = 8;
constexpr int kMaxAncestors = 32;
constexpr int kMaxFdsLooked = 4096;
constexpr std::size_t kMaxNetBytes = 1u << 20;
alignas(8) char g_scan[16384];  // reporter thread only
struct Dirent64 {    // what getdents64 returns (glibc's readdir would allocate)
  ino64_t d_ino;
  off64_t d_off;
  unsigned short d_reclen;
  unsigned char d_type;
  char d_name[1];
};

// Appends the inodes of the TCP sockets listening on `port` listed in `path` (/proc/net/tcp or
// tcp6). The kernel lists listening sockets first: reading stops at the first line that is not one.
int listening_inodes(const char* path, unsigned port, unsigned long* inodes, int n) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return n;
  std::size_t have = 0, total = 0;
  bool header = true, done = false;
  while (!done && n < kMaxInodes && total < kMaxNetBytes) {
    ssize_t r = read(fd, g_scan + have, sizeof(g_scan) - 1 - have);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    have += static_cast<std::size_t>(r), total += static_cast<std::size_t>(r);
    g_scan[have] = '\0';
    char* line = g_scan;
    for (char* nl; !done && (nl = std::strchr(line, '\n')) != nullptr; line = nl + 1) {
      *nl = '\0';
      if (header) {
        header = false;
        continue;
      }
      // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
      char local[64], state[8];
      unsigned long inode = 0;
      if (std::sscanf(line, " %*s %63s %*s %7s %*s %*s %*s %*s %*s %lu", local, state, &inode) != 3) continue;
      if (std::strcmp(state, "0A") != 0) {
        done = true;  // past the listening sockets
        break;
      }
      const char* colon = std::strrchr(local, ':');
      if (colon != nullptr && std::strtoul(colon + 1, nullptr, 16) == port && n < kMaxInodes) inodes[n++] = inode;
    }
    have = static_cast<std::size_t>(g_scan + have - line);
    std::memmove(g_scan, line, have);
    if (have == sizeof(g_scan) - 1) break;  // a line longer than the buffer: not /proc/net/tcp
  }
  close(fd);
  return n;
}

// Whether the descriptor directory `path` (/proc/PID/fd or /proc/PID/task/TID/fd) holds one of
// `inodes` (among its first kMaxFdsLooked entries).
bool fd_dir_holds(const char* path, const unsigned long* inodes, int n) {
  const int dir = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) return false;
  bool found = false;
  int looked = 0;
  for (;;) {
    const long got = syscall(SYS_getdents64, dir, g_scan, sizeof(g_scan));
    if (got <= 0) break;
    for (long off = 0; off < got && !found && looked < kMaxFdsLooked;) {
      const auto* d = reinterpret_cast<const Dirent64*>(g_scan + off);
      off += d->d_reclen;
      if (d->d_name[0] < '0' || d->d_name[0] > '9') continue;
      ++looked;
      char link[64];
      const ssize_t len = readlinkat(dir, d->d_name, link, sizeof(link) - 1);
      if (len <= 0) continue;
      link[len] = '\0';
      unsigned long ino = 0;
      if (std::sscanf(link, "socket:[%lu]", &ino) != 1) continue;
      for (int i = 0; i < n; ++i) found = found || inodes[i] == ino;
    }
    if (found || looked >= kMaxFdsLooked) break;
  }
  close(dir);
  return found;
}


// Whether process `pid` holds one of `inodes`: in its descriptor table, or in the table of one of
// its threads named fragscope* (a shim's threads have a table of their own: own_fd_table).
bool holds_socket(long pid, const unsigned long* inodes, int n) {
  char path[64];
  std::snprintf(path, sizeof(path), "/proc/%ld/fd", pid);
  if (fd_dir_holds(path, inodes, n)) return true;
  std::snprintf(path, sizeof(path), "/proc/%ld/task", pid);
  const int dir = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) return false;
  alignas(8) static char dents[4096];
  bool found = false;
  int tasks = 0;
  for (long got; !found && tasks < 256 && (got = syscall(SYS_getdents64, dir, dents, sizeof(dents))) > 0;) {
    for (long off = 0; !found && off < got && tasks < 256;) {
      const auto* d = reinterpret_cast<const Dirent64*>(dents + off);
      off += d->d_reclen;
      if (d->d_name[0] < '0' || d->d_name[0] > '9') continue;
      ++tasks;
      char comm[32];
      std::snprintf(path, sizeof(path), "/proc/%ld/task/%.20s/comm", pid, d->d_name);
      const int cfd = open(path, O_RDONLY | O_CLOEXEC);
      if (cfd < 0) continue;
      const ssize_t r = read(cfd, comm, sizeof(comm) - 1);
      close(cfd);
      if (r < 9 || std::strncmp(comm, "fragscope", 9) != 0) continue;
      std::snprintf(path, sizeof(path), "/proc/%ld/task/%.20s/fd", pid, d->d_name);
      found = fd_dir_holds(path, inodes, n);
    }
  }
  close(dir);
  return found;
}

// The parent of `pid` (from /proc/PID/stat, after the command name), or 0.
long parent_of(long pid) {
  char path[48];
  std::snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
  const int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  const ssize_t r = read(fd, g_scan, 1024);
  close(fd);
  if (r <= 0) return 0;
  g_scan[r] = '\0';
  const char* paren = std::strrchr(g_scan, ')');
  long ppid = 0;
  if (paren == nullptr || std::sscanf(paren + 1, " %*c %ld", &ppid) != 1) return 0;
  return ppid;
}

// Whether `path` holds `needle` within its first `max` bytes.
bool file_contains(const char* path, const char* needle, std::size_t max) {
  const int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const std::size_t nlen = std::strlen(needle);
  std::size_t have = 0, total = 0;
  bool found = false;
  while (!found && total < max) {
    ssize_t r = read(fd, g_scan + have, sizeof(g_scan) - have);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    have += static_cast<std::size_t>(r), total += static_cast<std::size_t>(r);
    found = memmem(g_scan, have, needle, nlen) != nullptr;
    const std::size_t keep = std::min(have, nlen);  // a needle across two reads
    std::memmove(g_scan, g_scan + have - keep, keep);
    have = keep;
  }
  close(fd);
  return found;
}

// Whether another process of the measured tree listens on `port`: an ancestor started with an
// endpoint configured, or a descendant of the topmost such ancestor (siblings and cousins run the
// same programs with the same environment). A holder outside that tree is a real conflict.
constexpr int kMaxTreeProcs = 512;
long g_tree[kMaxTreeProcs];  // reporter thread only
char g_children[4096];

bool tree_serves(unsigned port) {
  unsigned long inodes[kMaxInodes];
  int n = listening_inodes("/proc/net/tcp", port, inodes, 0);
  n = listening_inodes("/proc/net/tcp6", port, inodes, n);
  if (n == 0) return false;
  // Up through the measured ancestors (each started with an endpoint configured: the tree of
  // measured processes is contiguous), then through the topmost one's descendants.
  static const char kVar[] = "FRAGSCOPE_METRICS_ADDR=";
  const long self = getpid();
  long pid = getppid(), root = self;
  char path[64];
  for (int depth = 0; depth < kMaxAncestors && pid > 0; ++depth) {
    std::snprintf(path, sizeof(path), "/proc/%ld/environ", pid);
    if (!file_contains(path, kVar, 1u << 20)) break;
    if (holds_socket(pid, inodes, n)) return true;
    root = pid;
    if (pid == 1) break;
    pid = parent_of(pid);
  }
  // Breadth first through the root's descendants (its threads' children lists), bounded.
  int head = 0, tail = 0;
  g_tree[tail++] = root;
  while (head < tail) {
    const long p = g_tree[head++];
    std::snprintf(path, sizeof(path), "/proc/%ld/task", p);
    const int dir = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir < 0) continue;
    alignas(8) static char dents[4096];
    int tasks = 0;
    for (long got; tasks < 64 && (got = syscall(SYS_getdents64, dir, dents, sizeof(dents))) > 0;) {
      for (long off = 0; off < got && tasks < 64;) {
        const auto* d = reinterpret_cast<const Dirent64*>(dents + off);
        off += d->d_reclen;
        const char* name = d->d_name;
        if (name[0] < '0' || name[0] > '9') continue;
        ++tasks;
        char cpath[96];
        std::snprintf(cpath, sizeof(cpath), "/proc/%ld/task/%s/children", p, name);
        const int cfd = open(cpath, O_RDONLY | O_CLOEXEC);
        if (cfd < 0) continue;
        const ssize_t r = read(cfd, g_children, sizeof(g_children) - 1);
        close(cfd);
        if (r <= 0) continue;
        g_children[r] = '\0';
        char* cur = g_children;
        for (;;) {
          char* end = nullptr;
          const long child = std::strtol(cur, &end, 10);
          if (end == cur) break;
          cur = end;
          if (child == self || child <= 0) continue;
          if (tail == kMaxTreeProcs) break;
          if (holds_socket(child, inodes, n)) {
            close(dir);
            return true;
          }
          g_tree[tail++] = child;
        }
      }
    }
    close(dir);
  }
  return false;
}

bool start_http() {
  char where[64];
  const std::uint32_t ip = g_cfg.metrics_ip;
  std::snprintf(where, sizeof(where), "%u.%u.%u.%u:%u", ip >> 24, (ip >> 16) & 255, (ip >> 8) & 255, ip & 255,
                g_cfg.metrics_port);
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  int one = 1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(g_cfg.metrics_port);
  addr.sin_addr.s_addr = htonl(ip);
  // A backlog as deep as the system allows: a flood of connections waits in the kernel's queue
  // (which we drain every wake-up) instead of making a scraper's SYN wait for a retransmission.
  if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
      bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 || listen(fd, SOMAXCONN) != 0) {
    const int err = errno;
    if (fd >= 0) close(fd);
    g_http_failed = true;
    // Another process of the measured tree (an ancestor, usually) serves it: nothing to say.
    if (err == EADDRINUSE && tree_serves(g_cfg.metrics_port)) return false;
    char line[200];
    std::snprintf(line, sizeof(line), "fragscope: cannot serve metrics on %s: %s; metrics endpoint off", where,
                  std::strerror(err));
    warn_once(line);
    return false;
  }
  g_listen_fd = fd;
  fstat(fd, &g_listen_st);
  g_http_running.store(true);
  if (!spawn_own_thread(http_main, "fragscope-http", 128 * 1024)) {
    g_http_running.store(false);
    close(fd);
    g_listen_fd = -1;
    say_once(g_http_failed, "fragscope: cannot start the metrics thread; metrics endpoint off");
    return false;
  }
  if ((ip >> 24) != 127) {
    char line[220];
    std::snprintf(line, sizeof(line),
                  "fragscope: serving metrics on %s, which is not a loopback address: anyone who can reach this "
                  "host can read them",
                  where);
    warn_once(line);
  }
  return true;
}

}  // namespace

void metrics_after_snapshot(const core::PrometheusInputs& in) noexcept {
  const bool want_file = g_cfg.metrics_file[0] != '\0' && !g_file_failed;
  const bool want_http = g_cfg.metrics_port != 0 && !g_http_failed && !in.meta->forked_child;
  if (!want_file && !want_http) return;
  if (!g_text.reserve(kMaxText)) return;
  g_text.clear();
  core::encode_prometheus(g_text, in);
  if (g_text.overflow()) return;
  if (want_file) write_file(g_cfg.metrics_file, g_text);
  if (want_http) {
    {
      core::LockGuard lock(g_serving_lock);
      if (g_serving.reserve(kMaxText)) {
        g_serving.clear();
        g_serving.append(g_text.data(), g_text.size());
        ++g_serving_gen;
      }
    }
    if (!g_http_started) g_http_started = start_http();
  }
}

unsigned metrics_threads() noexcept { return g_http_running.load(std::memory_order_relaxed) ? 1 : 0; }

void metrics_on_fork_child(bool own_fds) noexcept {
  // In the reporter's own table the number means nothing in the child (whose table is a copy of
  // the host's): whatever is on it is the host's, never closed. In the host's table, only if it
  // is still our socket (atomic enough: the child has one thread until its fork handlers return).
  if (!own_fds && listen_fd_ours()) close(g_listen_fd);
  g_listen_fd = -1;
  for (Conn& c : g_conns) {
    if (c.fd >= 0 && !own_fds && conn_ours(c)) close(c.fd);  // the same holds for the clients
    c.fd = -1;
    c.reply = -1;
  }
  g_nconns = 0;
  g_replies[0].users = g_replies[1].users = 0;
  g_http_running.store(false, std::memory_order_relaxed);
  g_http_started = false;
  g_http_failed = true;  // the endpoint stays the parent's
  g_serving_lock.reset();
}

}  // namespace fragscope::shim
