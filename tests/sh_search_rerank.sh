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

# A daemon started with a reranker reranks /v1/search (unless "rerank": false), and `ragd
# search` without a reranker going through that daemon gets the plain fused order.
SOCK="$T/rr.sock"
RAGD_RERANKER="$M" "$RAGD" --index "$IDX" serve --socket "$SOCK" --quiet 2>"$T/serve.log" &
DPID=$!
for _ in $(seq 200); do [ -S "$SOCK" ] && break; sleep 0.05; done
post='
import http.client, json, socket, sys
class U(http.client.HTTPConnection):
    def __init__(s, p): super().__init__("localhost", timeout=30); s.p = p
    def connect(s): s.sock = socket.socket(socket.AF_UNIX); s.sock.connect(s.p)
c = U(sys.argv[1]); c.request("POST", "/v1/search", sys.argv[2]); print(c.getresponse().read().decode())'
python3 -c "$post" "$SOCK" '{"query": "operating profit", "k": 3}' > "$T/d1"
check daemon_reranks python3 -c "$shape" "$T/d1" 20
python3 -c "$post" "$SOCK" '{"query": "operating profit", "k": 3, "rerank": false}' > "$T/d2"
check daemon_rerank_off python3 -c 'import json,sys; d=json.load(open(sys.argv[1]))
assert d["reranker"] is None and len(d["results"]) == 3 and "fused_score" not in d["results"][0], d' "$T/d2"
RAGD_SOCKET="$SOCK" R search --json -k 3 "operating profit" > "$T/d3"
check cli_through_daemon_not_reranked python3 -c 'import json,sys
a=json.load(open(sys.argv[1])); b=json.load(open(sys.argv[2]))
assert a["reranker"] is None and [x["chunk_id"] for x in a["results"]] == [x["chunk_id"] for x in b["results"]]' "$T/d3" "$T/s"
kill -TERM "$DPID"; wait "$DPID"

# SIGHUP reloads the reranker from the config: another model, then none; a path that fails to
# load keeps the current one and says so in the log.
M2="$RAGD_ROOT/tests/models/tiny-bert-rerank-nopool-f32.gguf"
SOCK2="$T/rr2.sock"
printf 'reranker = %s\n' "$M" > "$T/hup.conf"
env -u RAGD_RERANKER "$RAGD" --index "$IDX" --config "$T/hup.conf" serve --socket "$SOCK2" 2>"$T/serve2.log" &
DPID=$!
for _ in $(seq 200); do [ -S "$SOCK2" ] && break; sleep 0.05; done
python3 -c "$post" "$SOCK2" '{"query": "operating profit", "k": 3}' > "$T/h1"
hup() {   # rewrites the config, signals, and waits for the daemon to log the outcome
  printf 'reranker = %s\n' "$1" > "$T/hup.conf"
  n=$(grep -c "reload" "$T/serve2.log")
  kill -HUP "$DPID"
  for _ in $(seq 100); do [ "$(grep -c "reload" "$T/serve2.log")" -gt "$n" ] && break; sleep 0.05; done
}
hup "$M2"
python3 -c "$post" "$SOCK2" '{"query": "operating profit", "k": 3}' > "$T/h2"
check hup_reranker_swapped grep -q "reloaded: reranker $M2" "$T/serve2.log"
check hup_reranker_used python3 -c "$shape" "$T/h2" 20
hup "$T/missing-after-hup.gguf"
check hup_bad_reranker_kept grep -q "reload: reranker $T/missing-after-hup.gguf" "$T/serve2.log"
python3 -c "$post" "$SOCK2" '{"query": "operating profit", "k": 3}' > "$T/h3"
check hup_bad_keeps_current python3 -c 'import json,sys; a=json.load(open(sys.argv[1])); b=json.load(open(sys.argv[2]))
assert a["reranker"] is not None and [x["chunk_id"] for x in a["results"]] == [x["chunk_id"] for x in b["results"]]' "$T/h3" "$T/h2"
hup ""
python3 -c "$post" "$SOCK2" '{"query": "operating profit", "k": 3}' > "$T/h4"
check hup_reranker_off python3 -c 'import json,sys; assert json.load(open(sys.argv[1]))["reranker"] is None' "$T/h4"
kill -TERM "$DPID"; wait "$DPID"
