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
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "runtime.hpp"
#include "safe_file.hpp"
#include "spinlock.hpp"

namespace fragscope::shim {
namespace {

constexpr std::size_t kMaxText = 4u << 20;

core::TextBuffer g_text;     // built by the reporter thread
core::TextBuffer g_serving;  // what the HTTP thread sends. GUARDED_BY g_serving_lock
core::SpinLock g_serving_lock;
core::TextBuffer g_reply;    // the HTTP thread's own copy
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

void serve_one(int client) {
  // Read the request head (a few hundred bytes), at most 1 s.
  char req[2048];
  std::size_t got = 0;
  while (got < sizeof(req) - 1) {
    pollfd pfd{client, POLLIN, 0};
    if (poll(&pfd, 1, 1000) <= 0) break;
    ssize_t r = read(client, req + got, sizeof(req) - 1 - got);
    if (r <= 0) break;
    got += static_cast<std::size_t>(r);
    req[got] = '\0';
    if (std::strstr(req, "\r\n\r\n") != nullptr) break;
  }
  req[got] = '\0';
  const bool metrics = std::strncmp(req, "GET /metrics ", 13) == 0 || std::strncmp(req, "GET /metrics?", 13) == 0;
  g_reply.clear();
  if (metrics) {
    core::LockGuard lock(g_serving_lock);
    core::append_printf(g_reply,
                        "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
                        "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                        g_serving.size());
    g_reply.append(g_serving.data(), g_serving.size());
  } else {
    static const char kNotFound[] = "fragscope serves /metrics only\n";
    core::append_printf(g_reply,
                        "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n"
                        "Connection: close\r\n\r\n%s",
                        sizeof(kNotFound) - 1, kNotFound);
  }
  const char* p = g_reply.data();
  std::size_t left = g_reply.size();
  while (left > 0) {
    ssize_t w = send(client, p, left, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) break;
    p += w, left -= static_cast<std::size_t>(w);
  }
}

void* http_main(void*) {
  become_own_thread();  // its allocations are not the host's
  const int fd = g_listen_fd;
  for (;;) {
    if (!listen_fd_ours()) return nullptr;  // the host took the number: never accept on its socket
    int client = accept4(fd, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) {
      if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO) continue;
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        usleep(100000);  // out of descriptors or memory for a while: never spin
        continue;
      }
      return nullptr;  // EBADF, ENOTSOCK, EINVAL: not our listening socket any more
    }
    timeval tv{1, 0};
    setsockopt(client, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    serve_one(client);
    close(client);
  }
}

bool start_http() {
  char where[64];
  const std::uint32_t ip = g_cfg.metrics_ip;
  std::snprintf(where, sizeof(where), "%u.%u.%u.%u:%u", ip >> 24, (ip >> 16) & 255, (ip >> 8) & 255, ip & 255,
                g_cfg.metrics_port);
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(g_cfg.metrics_port);
  addr.sin_addr.s_addr = htonl(ip);
  if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
      bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 || listen(fd, 16) != 0) {
    const int err = errno;
    if (fd >= 0) close(fd);
    char line[200];
    std::snprintf(line, sizeof(line), "fragscope: cannot serve metrics on %s: %s; metrics endpoint off", where,
                  std::strerror(err));
    say_once(g_http_failed, line);
    return false;
  }
  g_listen_fd = fd;
  fstat(fd, &g_listen_st);
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_attr_setstacksize(&attr, 128 * 1024);
  pthread_t th;
  const bool ok = pthread_create(&th, &attr, http_main, nullptr) == 0;
  if (ok) pthread_setname_np(th, "fragscope-http");
  pthread_attr_destroy(&attr);
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  if (!ok) {
    close(fd);
    g_listen_fd = -1;
    say_once(g_http_failed, "fragscope: cannot start the metrics thread; metrics endpoint off");
  }
  return ok;
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
      if (g_serving.reserve(kMaxText) && g_reply.reserve(kMaxText + 512)) {
        g_serving.clear();
        g_serving.append(g_text.data(), g_text.size());
      }
    }
    if (!g_http_started) g_http_started = start_http();
  }
}

unsigned metrics_threads() noexcept { return g_http_started && g_listen_fd >= 0 ? 1 : 0; }

void metrics_on_fork_child(bool own_fds) noexcept {
  // In the reporter's own table the number means nothing in the child (whose table is a copy of
  // the host's): whatever is on it is the host's, never closed. In the host's table, only if it
  // is still our socket (atomic enough: the child has one thread until its fork handlers return).
  if (!own_fds && listen_fd_ours()) close(g_listen_fd);
  g_listen_fd = -1;
  g_http_started = false;
  g_http_failed = true;  // the endpoint stays the parent's
  g_serving_lock.reset();
}

}  // namespace fragscope::shim
