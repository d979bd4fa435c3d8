# `ragd search` with a reranker: off and said so ("reranker": null) when none is configured; a
# bad model path fails with exit 1 naming it; with the tiny test cross-encoder
# (tests/models/tiny-*rerank*.gguf, skipped when absent) from --rerank, the config key or
# $RAGD_RERANKER, results come ordered by its score with the fused score kept and its time in
# timings; --no-rerank turns a configured one off.
. "$(dirname "$0")/lib.sh"
IDX="$T/idx"
R() { env -u RAGD_RERANKER "$RAGD" --index "$IDX" "$@"; }
expect index_reports R index "$RAGD_ROOT/corpora/reports"
R search --json -k 3 "operating profit" > "$T/s"
check no_reranker_is_null python3 -c '
import json,sys; d=json.load(open(sys.argv[1]))
assert d["reranker"] is None and d["timings"]["rerank_ms"] == 0 and len(d["results"]) == 3' "$T/s"
expect_rc bad_path_fails 1 R search --rerank "$T/missing-reranker.gguf" revenue
check bad_path_named grep -q "missing-reranker.gguf" "$T/err"
printf 'reranker = %s\n' "$T/missing-from-config.gguf" > "$T/bad.conf"
expect_rc bad_config_path_fails 1 R --config "$T/bad.conf" search revenue
check bad_config_path_named grep -q "missing-from-config.gguf" "$T/err"
expect no_rerank_overrides_config R --config "$T/bad.conf" search --no-rerank revenue

M=$(ls "$RAGD_ROOT"/tests/models/tiny-*rerank*.gguf 2>/dev/null | head -n 1)
if [ -z "$M" ]; then
  echo "skip rerank_cli: no tests/models/tiny-*rerank*.gguf"
  exit 0
fi
shape='
import json,sys; d=json.load(open(sys.argv[1])); r=d["results"]
assert d["reranker"] and d["reranker"]["model"] and d["reranker"]["scored"] == int(sys.argv[2]), d["reranker"]
assert len(r) == 3 and all("fused_score" in x for x in r)
assert all(r[i]["score"] >= r[i+1]["score"] for i in range(len(r)-1))
assert d["timings"]["rerank_ms"] > 0'
R search --json -k 3 --rerank "$M" --rerank-top 5 "operating profit" > "$T/r1"
check rerank_flag_orders python3 -c "$shape" "$T/r1" 5
printf 'reranker = %s\n' "$M" > "$T/good.conf"
R --config "$T/good.conf" search --json -k 3 "operating profit" > "$T/r2"
check rerank_config_orders python3 -c "$shape" "$T/r2" 20
RAGD_RERANKER="$M" "$RAGD" --index "$IDX" search --json -k 3 "operating profit" > "$T/r3"
check rerank_env_orders python3 -c "$shape" "$T/r3" 20
R --config "$T/good.conf" search --json --no-rerank -k 3 "operating profit" > "$T/r4"
check no_rerank_flag python3 -c 'import json,sys; assert json.load(open(sys.argv[1]))["reranker"] is None' "$T/r4"
