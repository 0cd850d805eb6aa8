#!/usr/bin/env bash
# Setup for the sort e2e scenario: writes input.txt, at least 50 MiB of seeded random lines of
# varying length, into the current directory. The scenario runs: sort input.txt
set -euo pipefail

awk -v limit=$((50 * 1024 * 1024)) 'BEGIN {
  srand(1)
  letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
  while (bytes < limit) {
    line = sprintf("%08x %s %d", int(rand() * 2^32), substr(letters, 1 + int(rand() * 52)),
                   int(rand() * 1000))
    print line
    bytes += length(line) + 1
  }
}' >input.txt
