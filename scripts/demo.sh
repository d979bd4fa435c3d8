#!/usr/bin/env bash
# `make demo`: index corpora/ with the built-in defaults, search it, answer its gold questions.
set -euo pipefail
cd "$(dirname "$0")/.."
IDX=build/demo-index
rm -rf "$IDX"
R() { ./ragd --index "$IDX" "$@"; }
echo "== ragd index corpora/ (the gold questions file excluded)"
R index --exclude "questions*.jsonl" corpora
echo
R status
for q in "total revenue 2019" "ready meals operating profit"; do
  echo
  echo "== ragd search -k 2 \"$q\""
  R search -k 2 "$q"
done
echo
echo "== ragd ask \"What was the percentage change in net income from 2018 to 2019?\""
R ask --doc reports/northwind-2019.md "What was the percentage change in net income from 2018 to 2019?"
echo
echo "== the gold questions of corpora/questions.jsonl"
python3 - "$IDX" <<'PY'
import json, subprocess, sys
idx = sys.argv[1]
gold = [json.loads(l) for l in open("corpora/questions.jsonl") if l.strip()]
out = subprocess.run(["./ragd", "--index", idx, "ask", "--batch", "corpora/questions.jsonl"],
                     capture_output=True, text=True).stdout.splitlines()
for g, line in zip(gold, out):
    a = json.loads(line)
    ans = a.get("answer")
    ans = "; ".join(ans) if isinstance(ans, list) else ans
    if a.get("type") == "none": ans = "(none: the documents do not say)"
    der = a.get("derivation") or ""
    print(f"{g['id']:5} {g['question']}\n      -> {ans} {a.get('scale','')}" + (f"   [{der}]" if der else ""))
PY
echo
R eval --format jsonl corpora/questions.jsonl
