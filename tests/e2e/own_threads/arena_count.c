/* A single-threaded host for e2e.own_threads: mallocs and frees for about 2.5 s (so that a
 * preloaded shim starts its reporter thread, takes snapshots and starts its metrics thread), then
 * prints how many malloc arenas glibc has (the <heap nr=...> elements of malloc_info) and how
 * many of the process's threads are fragscope's (named "fragscope" or "fragscope-http"). */
#define _GNU_SOURCE
#include <dirent.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int count_arenas(void) {
  static char buf[1 << 20]; /* static: the count must not depend on a malloc of ours */
  FILE* f = fmemopen(buf, sizeof(buf) - 1, "w");
  if (f == NULL) return -1;
  malloc_info(0, f);
  long len = ftell(f);
  fclose(f);
  if (len < 0 || (size_t)len >= sizeof(buf)) return -1;
  buf[len] = '\0';
  int n = 0;
  for (const char* p = buf; (p = strstr(p, "<heap nr=")) != NULL; ++p) ++n;
  return n;
}

static int own_threads(void) {
  int n = 0;
  DIR* d = opendir("/proc/self/task");
  if (d == NULL) return -1;
  struct dirent* e;
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.') continue;
    char path[300], comm[64] = "";
    snprintf(path, sizeof(path), "/proc/self/task/%s/comm", e->d_name);
    FILE* f = fopen(path, "r");
    if (f == NULL) continue;
    /* Not a prefix: this program's own name starts with "fragscope" too. */
    if (fgets(comm, sizeof(comm), f) != NULL && (strcmp(comm, "fragscope\n") == 0 || strcmp(comm, "fragscope-http\n") == 0))
      ++n;
    fclose(f);
  }
  closedir(d);
  return n;
}

int main(int argc, char** argv) {
  double seconds = argc > 1 ? atof(argv[1]) : 2.5;
  enum { kSlots = 4096 };
  static void* slots[kSlots];
  unsigned x = 12345;
  const double end = now_s() + seconds;
  unsigned long calls = 0;
  while (now_s() < end) {
    for (int i = 0; i < 1000; ++i) {
      x = x * 1103515245u + 12345u;
      unsigned k = (x >> 8) % kSlots;
      free(slots[k]);
      slots[k] = malloc(16 + (x >> 20) % 2000);
      ++calls;
    }
  }
  for (int k = 0; k < kSlots; ++k) free(slots[k]);
  /* Counted before the second count: the opendir and fopen blocks are freed again. */
  int threads = own_threads();
  printf("arenas=%d own_threads=%d calls=%s\n", count_arenas(), threads, calls > 0 ? "yes" : "no");
  return 0;
}
