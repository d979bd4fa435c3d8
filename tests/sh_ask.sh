# `ragd ask` and `ragd eval` end to end: answer shape, batch order and ids, "none" when the
# documents do not say, the official prediction file, users' JSONL gold sets.
. "$(dirname "$0")/lib.sh"
IDX="$T/idx"
R() { "$RAGD" --index "$IDX" "$@"; }
expect index_corpus R index --quiet --exclude 'questions*.jsonl' "$RAGD_ROOT/corpora"

R ask --json --doc reports/northwind-2019.md "What was the change in net income from 2018 to 2019?" > "$T/a"
check ask_json_shape python3 -c '
import json,sys; a=json.load(open(sys.argv[1]))
assert {"question","answer","scale","type","derivation","citations","confidence"} <= set(a), a
assert a["type"]=="arithmetic" and float(a["answer"])==32.1 and a["scale"]=="million", a
assert "161" in a["derivation"] and "128.9" in a["derivation"], a
cells=[c for c in a["citations"] if "cell" in c]; assert len(cells)==2 and all(c["doc_id"]=="reports/northwind-2019.md" for c in cells), a
assert 0 <= a["confidence"] <= 1' "$T/a"

R ask --json --doc reports/northwind-2019.md "What was the research and development expense of Northwind in 2012?" > "$T/none"
check ask_none_when_unsupported python3 -c '
import json,sys; a=json.load(open(sys.argv[1])); assert a["type"]=="none" and a["answer"]=="", a' "$T/none"

printf '%s\n' '{"id": 7, "question": "What was the gross profit in 2018?", "doc": "reports/northwind-2019.md"}' \
  'not json' '{"id": "x", "question": "What were the frozen seafood net sales in 2019?"}' '{"id": "q"}' > "$T/batch.jsonl"
R ask --batch "$T/batch.jsonl" > "$T/b" 2>"$T/berr"
check batch_order_and_ids python3 -c '
import json,sys; rows=[json.loads(l) for l in open(sys.argv[1])]
assert len(rows)==4, rows
assert rows[0]["id"]==7 and rows[0]["answer"].replace(",","")=="556.2", rows[0]
assert "error" in rows[1] and rows[2]["id"]=="x" and "error" in rows[3] and rows[3]["id"]=="q", rows
assert rows[2]["answer"].replace(",","")=="1394220", rows[2]' "$T/b"
check batch_errors_named grep -q "batch.jsonl:2: invalid JSON" "$T/berr"
long=$(head -c 5000 /dev/zero | tr "\0" a); expect_rc ask_question_too_long 2 R ask "$long"

printf '%s\n' '{"question": "What was the gross profit in 2019?", "answer": "639.8", "doc": "reports/northwind-2019.md"}' \
  '{"question": "What was the gross profit in 2019?", "answer": "1", "doc": "reports/northwind-2019.md"}' > "$T/gold.jsonl"
R eval --json --format jsonl "$T/gold.jsonl" > "$T/ev"
check eval_jsonl_scores [ "$(jq_get 'd["questions"], d["em"]' < "$T/ev")" = "(2, 50.0)" ]

TATQA="$RAGD_SHARED/data/tatqa/tatqa_dataset_dev.json"
if [ -f "$TATQA" ]; then
  python3 -c 'import json,sys; json.dump(json.load(open(sys.argv[1]))[:12], open(sys.argv[2],"w"))' "$TATQA" "$T/small.json"
  "$RAGD" eval --json --format tatqa "$T/small.json" --predictions "$T/pred.json" --errors "$T/err.jsonl" > "$T/tq"
  check eval_tatqa_predictions python3 -c '
import json,sys
ctx=json.load(open(sys.argv[1])); pred=json.load(open(sys.argv[2])); res=json.load(open(sys.argv[3]))
uids=[q["uid"] for c in ctx for q in c["questions"]]
assert sorted(pred)==sorted(uids), "every question predicted"
assert all(isinstance(v,list) and len(v)==2 and isinstance(v[1],str) for v in pred.values())
assert res["questions"]==len(uids) and 0 <= res["em"] <= res["f1"] <= 100
misses=[json.loads(l) for l in open(sys.argv[4])]
assert all({"question","gold","prediction","derivation"} <= set(m) for m in misses)
assert len(misses) == sum(1 for _ in misses)' "$T/small.json" "$T/pred.json" "$T/tq" "$T/err.jsonl"
  check eval_leaves_no_index [ ! -d .ragd ]
  "$RAGD" eval --json --format tatqa "$T/small.json" --retrieval --open > "$T/rt" 2>"$T/rterr"
  check eval_retrieval_cli python3 -c '
import json,sys; d=json.load(open(sys.argv[1])); s=json.dumps(d)
assert "bm25" in s and "hybrid" in s and "dense" in s, d' "$T/rt"
else
  echo "skip eval_tatqa: $TATQA absent"
fi

# `make demo` answers every gold question of corpora/ correctly.
R eval --json --format jsonl "$RAGD_ROOT/corpora/questions.jsonl" --errors "$T/demo-miss.jsonl" > "$T/demo"
check demo_gold_questions_all_correct [ "$(jq_get 'd["em"]' < "$T/demo")" = 100.0 ]
