#!/usr/bin/env bash
# `make demo`: index corpora/ with the built-in defaults, then search and answer its questions.
set -euo pipefail
cd "$(dirname "$0")/.."
IDX=build/demo-index
rm -rf "$IDX"
echo "== ragd index corpora/"
./ragd --index "$IDX" index corpora
echo
./ragd --index "$IDX" status
for q in "total revenue 2019" "ready meals operating profit" "net revenue retention"; do
  echo
  echo "== ragd search -k 2 \"$q\""
  ./ragd --index "$IDX" search -k 2 "$q"
done
if [ -f corpora/questions.jsonl ] && ./ragd ask --help >/dev/null 2>&1 && ./ragd --index "$IDX" ask "test" >/dev/null 2>&1; then
  echo
  echo "== ragd ask (gold questions in corpora/questions.jsonl)"
  ./ragd --index "$IDX" ask --batch corpora/questions.jsonl
fi
