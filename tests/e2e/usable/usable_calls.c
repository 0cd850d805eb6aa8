// malloc_usable_size under the shim: counted once per call, whichever path answers it (the short
// path of an initialised thread, the long one of a thread's first call), and the allocator's
// answer passed on. Prints the calls it made; the test compares them with the snapshot's count.
// usage: usable_calls N   (N calls on each of 2 threads, plus one on NULL from main)
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

static long n_calls;

static void* worker(void* arg) {
  (void)arg;
  // The thread's first hook call is malloc_usable_size itself: the long path makes its block.
  size_t z = malloc_usable_size(NULL);
  if (z != 0) abort();
  for (long i = 0; i < n_calls; ++i) {
    size_t want = (size_t)(16 + (i * 37) % 2000);
    void* p = malloc(want);
    if (p == NULL) abort();
    if (malloc_usable_size(p) < want) abort();
    free(p);
  }
  return NULL;
}

int main(int argc, char** argv) {
  n_calls = argc > 1 ? atol(argv[1]) : 1000;
  pthread_t t[2];
  for (int i = 0; i < 2; ++i)
    if (pthread_create(&t[i], NULL, worker, NULL) != 0) return 1;
  for (int i = 0; i < 2; ++i) pthread_join(t[i], NULL);
  if (malloc_usable_size(NULL) != 0) return 1;
  printf("%ld\n", 2 * (n_calls + 1) + 1);
  return 0;
}
