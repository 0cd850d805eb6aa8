/* The host of e2e.trim.*: fills a heap with KEEP_EVERY-spaced survivors and a lot of free pages,
 * then waits for the shim to take two snapshots and prints its RSS and glibc's arena count.
 *
 * usage: trim_heap KEEP_EVERY [MIB]
 * Allocates MIB (default 64) MiB of 200-byte blocks, frees all but every KEEP_EVERY-th, and then
 * waits until the shim's snapshot file ($FRAGSCOPE_OUTPUT, %p = our pid) has two more lines than
 * it had right after the frees (at most 60 s; without FRAGSCOPE_OUTPUT, 1 s): the second one was
 * analysed entirely after the frees, so a trim it triggered is done. Waiting for snapshots, not
 * for time, keeps the test independent of the machine's load (it gives up after 60 s, and the
 * test then fails on what it finds). Prints
 * "rss=BYTES arenas=N" (VmRSS from /proc/self/statm; <heap nr= elements of malloc_info). */
#define _GNU_SOURCE
#include <fcntl.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static long count_lines(const char* path) {
  static char buf[1 << 16];
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  long lines = 0;
  ssize_t n;
  while ((n = read(fd, buf, sizeof(buf))) > 0)
    for (ssize_t i = 0; i < n; ++i) lines += buf[i] == '\n';
  close(fd);
  return lines;
}

static int count_arenas(void) {
  static char buf[1 << 20];
  FILE* f = fmemopen(buf, sizeof(buf) - 1, "w");
  if (f == NULL) return -1;
  malloc_info(0, f);
  long len = ftell(f);
  fclose(f);
  if (len < 0) return -1;
  buf[len] = '\0';
  int n = 0;
  for (const char* p = buf; (p = strstr(p, "<heap nr=")) != NULL; ++p) ++n;
  return n;
}

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

int main(int argc, char** argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: trim_heap KEEP_EVERY [MIB]\n");
    return 2;
  }
  const long keep = atol(argv[1]);
  const long mib = argc > 2 ? atol(argv[2]) : 64;
  const size_t n = (size_t)mib * 1024 * 1024 / 200;
  void** blocks = malloc(n * sizeof(void*));
  if (blocks == NULL || keep <= 0) return 2;
  for (size_t i = 0; i < n; ++i) {
    blocks[i] = malloc(200);
    if (blocks[i] == NULL) return 3;
    memset(blocks[i], 1, 200);  /* resident */
  }
  for (size_t i = 0; i < n; ++i)
    if (i % (size_t)keep != 0) free(blocks[i]);

  char path[4096] = "";
  const char* pattern = getenv("FRAGSCOPE_OUTPUT");
  if (pattern != NULL && getenv("LD_PRELOAD") != NULL) {
    const char* p = strstr(pattern, "%p");
    if (p == NULL) snprintf(path, sizeof(path), "%s", pattern);
    else snprintf(path, sizeof(path), "%.*s%ld%s", (int)(p - pattern), pattern, (long)getpid(), p + 2);
  }
  if (path[0] == '\0') {
    sleep_ms(1000);
  } else {
    const long start = count_lines(path);
    for (int waited = 0; waited < 60000 && count_lines(path) < start + 2; waited += 20) {
      /* A few calls between naps, as a service makes: the shim starts its reporter from a hook
       * (it looks every 256 calls), and the allocation above may have ended before it would. */
      for (int i = 0; i < 300; ++i) {
        void* volatile sink = malloc(16);  /* volatile: the compiler may drop free(malloc(n)) */
        free(sink);
      }
      sleep_ms(20);
    }
  }

  long size = 0, resident = 0;
  FILE* f = fopen("/proc/self/statm", "r");
  if (f == NULL || fscanf(f, "%ld %ld", &size, &resident) != 2) return 4;
  fclose(f);
  printf("rss=%ld arenas=%d\n", resident * sysconf(_SC_PAGESIZE), count_arenas());
  for (size_t i = 0; i < n; i += (size_t)keep) free(blocks[i]);
  free(blocks);
  return 0;
}
