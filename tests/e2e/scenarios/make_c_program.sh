#!/usr/bin/env bash
# Setup for the gcc e2e scenario: writes a C program of 20 modules plus main.c into the current
# directory. Each module has loops to vectorise, a switch, a malloc'ed list and string
# formatting, with different constants, so that `gcc -O2` has real work in every file.
set -euo pipefail

modules=20
{
  echo '#include <stdint.h>'
  for ((m = 0; m < modules; m++)); do
    printf 'uint64_t mod%02d_run(uint64_t seed);\n' "$m"
  done
} >modules.h

for ((m = 0; m < modules; m++)); do
  cat >"mod$(printf %02d "$m").c" <<EOF
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "modules.h"

#define N ($((512 + m * 32)))

struct item { struct item* next; uint64_t key; char label[24]; };

static uint64_t sum_of_products(const uint32_t* a, const uint32_t* b) {
  uint64_t sum = 0;
  for (int i = 0; i < N; ++i) sum += (uint64_t)a[i] * b[i];
  return sum;
}

static uint64_t step(uint64_t state, int op) {
  switch (op & 7) {
    case 0: return state * $((6364136223 + m)) + 1;
    case 1: return state ^ (state >> $((7 + m % 5)));
    case 2: return state + $((m * 1000 + 17));
    case 3: return (state << 3) | (state >> 61);
    case 4: return state - (state >> 2);
    case 5: return ~state;
    case 6: return state * state + $((m + 3));
    default: return state / 3 + op;
  }
}

static uint64_t list_work(uint64_t seed) {
  struct item* head = NULL;
  for (int i = 0; i < $((100 + m * 10)); ++i) {
    struct item* it = malloc(sizeof *it);
    if (!it) abort();
    it->key = seed = step(seed, i);
    snprintf(it->label, sizeof it->label, "m$m-%d-%llx", i, (unsigned long long)(it->key & 0xfff));
    it->next = head;
    head = it;
  }
  uint64_t digest = 0;
  while (head) {
    struct item* next = head->next;
    digest = digest * 31 + head->key + strlen(head->label);
    free(head);
    head = next;
  }
  return digest;
}

uint64_t mod$(printf %02d "$m")_run(uint64_t seed) {
  static uint32_t a[N], b[N];
  for (int i = 0; i < N; ++i) {
    a[i] = (uint32_t)(seed + i * $((m + 1)));
    b[i] = (uint32_t)(seed ^ (i * 2654435761u));
  }
  uint64_t state = sum_of_products(a, b);
  for (int i = 0; i < 1000; ++i) state = step(state, i + $m);
  return state ^ list_work(seed + $m);
}
EOF
done

{
  echo '#include <inttypes.h>'
  echo '#include <stdio.h>'
  echo '#include "modules.h"'
  echo 'int main(void) {'
  echo '  uint64_t seed = 1, all = 0;'
  for ((m = 0; m < modules; m++)); do
    printf '  seed = mod%02d_run(seed);\n' "$m"
    printf '  printf("mod%02d %%016" PRIx64 "\\n", seed);\n' "$m"
    echo '  all ^= seed;'
  done
  cat <<'EOF'
  printf("all %016" PRIx64 "\n", all);
  return 0;
}
EOF
} >main.c
