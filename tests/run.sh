#!/usr/bin/env bash
# Runs every test: the C test binaries (tests/t_*.c) and the shell tests (tests/sh_*.sh).
# Each prints lines "ok NAME", "not ok NAME: why" or "skip NAME: why"; a test program that
# crashes or exits non-zero without saying why counts as one failure. Ends "N passed, N failed".
set -u
cd "$(dirname "$0")/.."
BUILD=${RAGD_BUILD:-build/release}
export RAGD="$PWD/$BUILD/ragd"
export RAGD_ROOT="$PWD"
export RAGD_SHARED="${RAGD_SHARED:-$PWD/../shared}"
pass=0; fail=0; skip=0
only=${1:-}
tmpout=$(mktemp)
run_one() { # name, command...
  local name=$1; shift
  local t0=$(date +%s.%N)
  "$@" >"$tmpout" 2>&1
  local rc=$?
  local p f s
  p=$(grep -c '^ok ' "$tmpout"); f=$(grep -c '^not ok ' "$tmpout"); s=$(grep -c '^skip ' "$tmpout")
  grep -E '^(not ok|skip) ' "$tmpout" | sed "s|^|  $name: |"
  if [ $rc -ne 0 ] && [ "$f" -eq 0 ]; then
    f=1; echo "  $name: not ok: exited with status $rc"; tail -n 15 "$tmpout" | sed 's/^/    | /'
  elif [ "$f" -gt 0 ]; then
    grep -A3 '^not ok ' "$tmpout" | grep -v '^not ok ' | head -n 20 | sed 's/^/    | /'
  fi
  printf '%-28s %3d ok %3d failed %3d skipped  %.1fs\n' "$name" "$p" "$f" "$s" \
    "$(echo "$(date +%s.%N) - $t0" | bc)"
  pass=$((pass + p)); fail=$((fail + f)); skip=$((skip + s))
}
for t in "$BUILD"/tests/t_*; do
  [ -x "$t" ] || continue
  n=$(basename "$t"); [ -n "$only" ] && [[ "$n" != *"$only"* ]] && continue
  run_one "$n" "$t"
done
for t in tests/sh_*.sh; do
  [ -f "$t" ] || continue
  n=$(basename "$t" .sh); [ -n "$only" ] && [[ "$n" != *"$only"* ]] && continue
  run_one "$n" bash "$t"
done
rm -f "$tmpout"
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
