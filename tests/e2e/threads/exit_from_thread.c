/* exit() from a thread while the others go on allocating (issue 16: the final snapshot failed
 * `check` in 1 of 3 runs): THREADS threads churn malloc/free; one of them calls exit(0) after
 * MS milliseconds. Usage: exit_from_thread [THREADS] [MS] */
#include <pthread.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static int g_ms = 50;

static void* churn(void* arg) {
  unsigned r = (unsigned)(size_t)arg * 2654435761u + 1;
  void* keep[128] = {0};
  for (;;) {
    for (int i = 0; i < 1000; ++i) {
      r = r * 1103515245u + 12345u;
      unsigned k = (r >> 8) % 128;
      free(keep[k]);
      keep[k] = malloc(16 + (r >> 12) % 2000);
    }
  }
  return NULL;
}

static void* quitter(void* arg) {
  (void)arg;
  struct timespec t = {0, g_ms * 1000000L};
  nanosleep(&t, NULL);
  exit(0);
}

int main(int argc, char** argv) {
  int threads = argc > 1 ? atoi(argv[1]) : 3;
  if (argc > 2) g_ms = atoi(argv[2]);
  pthread_t t;
  for (int i = 0; i < threads; ++i) pthread_create(&t, NULL, churn, (void*)(size_t)(i + 1));
  pthread_create(&t, NULL, quitter, NULL);
  churn(NULL); /* the main thread churns too, until the quitter's exit() ends the process */
  return 0;
}
