#!/usr/bin/env bash
# Setup for the git e2e scenario: writes 300 text files (src/ and docs/, nested directories,
# 0.1 to 20 KB each) into the current directory, with content from a seeded generator.
set -euo pipefail

awk 'BEGIN {
  srand(1)
  for (f = 0; f < 300; f++) {
    dir = (f < 200 ? "src" : "docs") "/part" (f % 7) "/sub" (f % 3)
    path = dir "/file" f ".txt"
    system("mkdir -p " dir)
    lines = 2 + int(rand() * 400)
    for (l = 0; l < lines; l++)
      printf "%d %d line %d of file %d %s\n", f, l, int(rand() * 1e9), f, (l % 5 ? "" : "five") > path
    close(path)
  }
}'
