#!/usr/bin/env bash
# The fork/exec e2e scenario: this bash script forks and execs 200 processes (coreutils, each a
# single exec in its own child), capturing their output and exit status, 40 of them running in
# the background; plus 20 forked subshells that run only builtins and never exec. With
# LD_PRELOAD set, every exec'd image loads the shim again and every forked child writes its own
# file, so the scenario leaves 221 output files (200 exec'd children, 20 subshells, this shell).
# Prints totals that depend on every child.
# shellcheck disable=SC2003,SC2116 # external expr and $(echo) are the point: a process each
set -euo pipefail

sum=0 nonzero=0
for ((i = 1; i <= 200; i++)); do
  case $((i % 5)) in
    0) /usr/bin/expr "$i" \* "$i" >"square.$i" & ;; # collected after `wait` below
    1) sum=$((sum + $(/bin/echo "$i"))) ;;
    2) sum=$((sum + $(/usr/bin/printf '%d\n' "$i"))) ;;
    3) # expr exits 1 when the result is 0
      rest=$(/usr/bin/expr "$i" % 17) || nonzero=$((nonzero + 1))
      sum=$((sum + rest)) ;;
    4) /usr/bin/test $((i % 3)) -eq 0 || nonzero=$((nonzero + 1)) ;;
  esac
done
wait

squares=0
for file in square.*; do
  read -r square <"$file"
  squares=$((squares + square))
done

forked=0
for ((i = 1; i <= 20; i++)); do
  forked=$((forked + $(echo $((i * 3))))) # builtin echo: a forked child that does not exec
done

echo "sum $sum nonzero $nonzero squares $squares forked $forked"
