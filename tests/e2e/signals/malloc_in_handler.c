/* A program that allocates in a signal handler (undefined behaviour, but common, and single-
 * threaded glibc takes no arena lock, so plain it does not hang): the main loop mallocs and frees
 * blocks of every size while a timer fires every 50 us, and the handler mallocs and
 * frees too. Prints "ok N" after SECONDS (default 1) with N the handler's runs.
 * Usage: malloc_in_handler [SECONDS] */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

static volatile sig_atomic_t g_runs = 0;

static void on_alarm(int sig) {
  (void)sig;
  char* p = malloc(24 + (size_t)(g_runs % 4096));
  if (p != NULL) {
    p[0] = 1;
    free(p);
  }
  g_runs = g_runs + 1;
}

int main(int argc, char** argv) {
  const double seconds = argc > 1 ? atof(argv[1]) : 1.0;
  struct sigaction sa;
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = on_alarm;
  sa.sa_flags = SA_RESTART;
  sigaction(SIGALRM, &sa, NULL);
  struct itimerval it = {{0, 50}, {0, 50}};
  setitimer(ITIMER_REAL, &it, NULL);
  struct timespec t0, t;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  void* keep[64] = {0};
  unsigned r = 1;
  for (;;) {
    for (int i = 0; i < 10000; ++i) {
      r = r * 1103515245u + 12345u;
      unsigned k = (r >> 8) % 64;
      free(keep[k]);
      keep[k] = malloc(16 + (r >> 12) % 20000);  /* tcache sizes and beyond: the arena's paths */
    }
    clock_gettime(CLOCK_MONOTONIC, &t);
    if ((double)(t.tv_sec - t0.tv_sec) + (double)(t.tv_nsec - t0.tv_nsec) / 1e9 > seconds) break;
  }
  struct itimerval off = {{0, 0}, {0, 0}};
  setitimer(ITIMER_REAL, &off, NULL);
  for (int k = 0; k < 64; ++k) free(keep[k]);
  printf("ok %d\n", (int)g_runs);
  return 0;
}
