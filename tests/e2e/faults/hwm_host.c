/* A host for the fault-injection tests: allocates a little every 50 ms for about 1 s (so the
 * shim's reporter thread starts and writes several periodic snapshots), then prints its own
 * VmHWM (peak resident memory, kB) from /proc/self/status on stdout and exits 0. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int main(int argc, char** argv) {
  int rounds = argc > 1 ? atoi(argv[1]) : 20;
  void* keep[64] = {0};
  for (int i = 0; i < rounds; ++i) {
    for (int j = 0; j < 64; ++j) {
      free(keep[j]);
      keep[j] = malloc(64 + 32 * (size_t)((i + j) % 16));
      if (keep[j]) memset(keep[j], i, 64);
    }
    struct timespec ts = {0, 50 * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
  for (int j = 0; j < 64; ++j) free(keep[j]);
  FILE* f = fopen("/proc/self/status", "r");
  char line[256];
  long hwm = -1;
  while (f && fgets(line, sizeof line, f))
    if (strncmp(line, "VmHWM:", 6) == 0) hwm = strtol(line + 6, NULL, 10);
  if (f) fclose(f);
  printf("%ld\n", hwm);
  return hwm > 0 ? 0 : 1;
}
