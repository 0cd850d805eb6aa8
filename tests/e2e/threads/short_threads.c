/* mstress-like: THREADS short-lived threads, two at a time, each allocating and freeing a few
 * hundred blocks (issue 16: each used to leave a counter block of ~189 KB behind).
 * Usage: short_threads [THREADS] */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

static void* work(void* arg) {
  void* keep[256];
  unsigned seed = (unsigned)(size_t)arg;
  for (int i = 0; i < 256; ++i) keep[i] = malloc(16 + (rand_r(&seed) % 512));
  for (int i = 0; i < 256; ++i) free(keep[i]);
  return NULL;
}

int main(int argc, char** argv) {
  int n = argc > 1 ? atoi(argv[1]) : 400;
  for (int i = 0; i < n; i += 2) {
    pthread_t a, b;
    if (pthread_create(&a, NULL, work, (void*)(size_t)i) != 0) return 1;
    if (pthread_create(&b, NULL, work, (void*)(size_t)(i + 1)) != 0) return 1;
    pthread_join(a, NULL);
    pthread_join(b, NULL);
  }
  puts("done");
  return 0;
}
