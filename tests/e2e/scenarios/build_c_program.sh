#!/usr/bin/env bash
# The gcc e2e scenario: compiles the program make_c_program.sh wrote (gcc -O2, all files in one
# gcc call, so gcc runs cc1 and as once per file, then collect2 and ld), runs it, and prints its
# output and a checksum of the executable, which is reproducible for identical inputs and paths.
set -euo pipefail

gcc -O2 -Wall -Werror -o program main.c mod*.c
./program
sha256sum program
