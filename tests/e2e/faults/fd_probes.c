// Host programs for the descriptor and endpoint probes of issue 16 (driven by endpoint_faults.py,
// which runs each one plain and under the shim and compares what the host sees). Each probe is
// deterministic: it waits for the driver on stdin instead of sleeping for the shim, and every
// wait is bounded.
//
//   fd_probes [--no-close-range] MODE ARGS...
//   --no-close-range  denies close_range(2) with a seccomp filter before anything else, so the
//                     shim's threads cannot have a descriptor table of their own and work in the
//                     host's (the path of kernels before 5.9)
//   idle              allocates for 300 ms, then waits for EOF on stdin; prints "done"
//   daemon PORT       allocates for 300 ms, waits for "go" on stdin, closes every descriptor from
//                     3 up, listens on 127.0.0.1:PORT and dup2()s that socket onto 3..63 (so any
//                     number the shim had is the host's now); answers every client "HOST-REPLY"
//                     until EOF on stdin, then prints how many it answered
//   forkreuse FILE    allocates for 300 ms, waits for "go", closes every descriptor from 3 up,
//                     opens FILE and dup2()s it onto 3..63, forks; the child writes a line
//                     through every one of them (exit 1 if any write fails), the parent checks
//                     the file holds exactly the child's lines
//   stderr FILE       closes fd 2 and opens FILE on it (a data file), writes a line, allocates
//                     for 600 ms (snapshots, warnings), writes another line, exits (the shim's
//                     exit summary comes after)
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <netinet/in.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

// Calls malloc and free for `seconds`, so the shim's reporter starts and takes snapshots.
static void allocate_for(double seconds) {
  const double end = now_s() + seconds;
  while (now_s() < end) {
    void* p[64];
    for (int i = 0; i < 64; ++i) p[i] = malloc(16 + (size_t)i * 8);
    for (int i = 0; i < 64; ++i) free(p[i]);
    usleep(2000);
  }
}

static void wait_for_go(void) {
  char buf[8];
  ssize_t n;
  do n = read(0, buf, sizeof(buf));
  while (n < 0 && errno == EINTR);
  if (n <= 0 || strncmp(buf, "go", 2) != 0) {
    fprintf(stderr, "fd_probes: no 'go' on stdin\n");
    exit(3);
  }
}

static void close_from_3(void) {
  for (int fd = 3; fd < 1024; ++fd) close(fd);
}

static void deny_close_range(void) {
  struct sock_filter f[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_close_range, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  struct sock_fprog prog = {sizeof(f) / sizeof(f[0]), f};
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 || prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0) {
    perror("fd_probes: seccomp");
    exit(3);
  }
}

static int idle(void) {
  allocate_for(0.3);
  char buf[64];
  while (read(0, buf, sizeof(buf)) != 0) {
  }
  printf("done\n");
  return 0;
}

static int daemon_probe(int port) {
  allocate_for(0.3);
  wait_for_go();
  close_from_3();
  int ls = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  struct sockaddr_in a = {0};
  a.sin_family = AF_INET;
  a.sin_port = htons((unsigned short)port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (ls < 0 || bind(ls, (struct sockaddr*)&a, sizeof(a)) != 0 || listen(ls, 64) != 0) {
    fprintf(stderr, "fd_probes: daemon cannot listen on %d: %s\n", port, strerror(errno));
    return 3;
  }
  // Every number from 3 to 63 is the host's socket now (one of them is whatever the shim had).
  for (int fd = 3; fd < 64; ++fd)
    if (fd != ls) dup2(ls, fd);
  if (ls >= 64) close(ls);
  ls = 3;
  printf("listening\n");
  fflush(stdout);
  int answered = 0;
  for (;;) {
    struct pollfd p[2] = {{0, POLLIN, 0}, {ls, POLLIN, 0}};
    if (poll(p, 2, 30000) <= 0) break;  // the driver never leaves it this long
    if (p[1].revents & POLLIN) {
      int c = accept(ls, NULL, NULL);
      if (c >= 0) {
        static const char kReply[] = "HOST-REPLY\n";
        if (write(c, kReply, sizeof(kReply) - 1) == (ssize_t)sizeof(kReply) - 1) ++answered;
        close(c);
        allocate_for(0.001);
      }
    }
    if (p[0].revents) {
      char buf[64];
      if (read(0, buf, sizeof(buf)) <= 0) break;
    }
  }
  printf("answered %d\n", answered);
  return 0;
}

static int forkreuse(const char* path) {
  allocate_for(0.3);
  wait_for_go();
  close_from_3();
  int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
  if (fd < 0) {
    fprintf(stderr, "fd_probes: cannot open %s: %s\n", path, strerror(errno));
    return 3;
  }
  for (int n = 3; n < 64; ++n)
    if (n != fd) dup2(fd, n);
  if (fd >= 64) close(fd);
  fflush(stdout);
  pid_t pid = fork();
  if (pid == 0) {
    int failed = 0;
    allocate_for(0.05);
    for (int n = 3; n < 64; ++n) {
      char line[16];
      int len = snprintf(line, sizeof(line), "child %02d\n", n);
      if (write(n, line, (size_t)len) != len) ++failed;
    }
    _exit(failed == 0 ? 0 : 1);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  char buf[2048];
  ssize_t got = pread(3, buf, sizeof(buf), 0);
  const int want = (64 - 3) * 9;
  printf("child exit %d, file %zd bytes (expected %d)\n", WIFEXITED(status) ? WEXITSTATUS(status) : -1, got, want);
  return WIFEXITED(status) && WEXITSTATUS(status) == 0 && got == want ? 0 : 1;
}

static int stderr_probe(const char* path) {
  close(2);
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd != 2) return 3;
  static const char kOne[] = "HOST-DATA 1\n", kTwo[] = "HOST-DATA 2\n";
  if (write(2, kOne, sizeof(kOne) - 1) < 0) return 3;
  allocate_for(0.6);
  if (write(2, kTwo, sizeof(kTwo) - 1) < 0) return 3;
  printf("wrote\n");
  return 0;
}

int main(int argc, char** argv) {
  int i = 1;
  if (i < argc && strcmp(argv[i], "--no-close-range") == 0) deny_close_range(), ++i;
  if (i >= argc) return 2;
  const char* mode = argv[i];
  if (strcmp(mode, "idle") == 0) return idle();
  if (strcmp(mode, "daemon") == 0 && i + 1 < argc) return daemon_probe(atoi(argv[i + 1]));
  if (strcmp(mode, "forkreuse") == 0 && i + 1 < argc) return forkreuse(argv[i + 1]);
  if (strcmp(mode, "stderr") == 0 && i + 1 < argc) return stderr_probe(argv[i + 1]);
  fprintf(stderr, "usage: fd_probes [--no-close-range] idle|daemon PORT|forkreuse FILE|stderr FILE\n");
  return 2;
}
