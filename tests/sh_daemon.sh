#!/usr/bin/env bash
# sh_daemon: the daemon as the README shows it: `ragd serve` in the background, then curl
# over the Unix socket (and Python's http.client over AF_UNIX), then SIGTERM. The full
# protocol, limits, concurrency and crash tests are in t_daemon.c.
set -u
RAGD=${RAGD:-$PWD/build/release/ragd}
if [ ! -x "$RAGD" ]; then echo "skip sh_daemon: no ragd binary at $RAGD"; exit 0; fi
if ! command -v curl >/dev/null; then echo "skip sh_daemon: curl not installed"; exit 0; fi
T=$(mktemp -d /tmp/ragd-test-XXXXXX)
PID=
cleanup() { [ -n "$PID" ] && kill -9 "$PID" 2>/dev/null; wait 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
export RAGD_ENCODER=hash
unset XDG_RUNTIME_DIR RAGD_SOCKET
ok() { echo "ok $1"; }
notok() { echo "not ok $1: $2"; }

mkdir -p "$T/docs"
printf 'Quarterly report\n\nRevenue grew by 12 percent to 84.6 million in the third quarter.\n' > "$T/docs/q3.txt"
printf 'Staff handbook\n\nThe office is closed on public holidays.\n' > "$T/docs/handbook.txt"
SOCK="$T/run/ragd.sock"
"$RAGD" --index "$T/idx" serve --socket "$SOCK" --allow-root "$T/docs" 2>"$T/serve.log" &
PID=$!
for _ in $(seq 100); do [ -S "$SOCK" ] && break; sleep 0.05; done
C=(curl -sS --max-time 20 --unix-socket "$SOCK")

h=$("${C[@]}" http://localhost/v1/health)
case "$h" in *'"status":"ok"'*) ok health ;; *) notok health "$h" ;; esac
mode=$(stat -c %a "$SOCK" 2>/dev/null)
[ "$mode" = 600 ] && ok socket_mode || notok socket_mode "mode $mode"

job=$("${C[@]}" -X POST -d "{\"paths\": [\"$T/docs\"]}" http://localhost/v1/index)
id=$(printf '%s' "$job" | sed -n 's/.*"job": *\([0-9]*\).*/\1/p')
state=
for _ in $(seq 200); do
  j=$("${C[@]}" "http://localhost/v1/jobs/$id")
  state=$(printf '%s' "$j" | sed -n 's/.*"state": *"\([a-z]*\)".*/\1/p')
  [ "$state" = queued ] || [ "$state" = running ] || break
  sleep 0.05
done
[ "$state" = done ] && ok index_job || notok index_job "$j"

s=$("${C[@]}" -X POST -H 'Content-Type: application/json' -d '{"query": "revenue quarter", "k": 1}' http://localhost/v1/search)
case "$s" in *'"doc_id":"q3.txt"'*) ok search ;; *) notok search "$s" ;; esac

a=$("${C[@]}" -N -X POST -d '{"question": "How much did revenue grow?", "stream": true}' http://localhost/v1/ask)
case "$a" in *'event: answer'*'event: done'*) ok ask_stream ;; *) notok ask_stream "$a" ;; esac

code=$("${C[@]}" -o /dev/null -w '%{http_code}' -X POST -d '{"paths": ["/etc"]}' http://localhost/v1/index)
[ "$code" = 403 ] && ok index_outside_root || notok index_outside_root "HTTP $code"

if command -v python3 >/dev/null; then
  py=$(python3 - "$SOCK" <<'EOF'
import http.client, json, socket, sys
class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("localhost")
        self.path = path
    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(self.path)
c = UnixHTTPConnection(sys.argv[1])
c.request("POST", "/v1/search", json.dumps({"query": "holidays", "k": 1}), {"Content-Type": "application/json"})
r = c.getresponse()
print(r.status, json.loads(r.read())["results"][0]["doc_id"])
EOF
)
  [ "$py" = "200 handbook.txt" ] && ok python_client || notok python_client "$py"
fi

# The CLI goes through the daemon that serves its index.
printf 'Dividend note\n\nThe board declared a dividend of 0.84 per share.\n' > "$T/docs/dividend.txt"
RAGD_SOCKET="$SOCK" "$RAGD" --index "$T/idx" index "$T/docs" > /dev/null 2>"$T/cli_index.err"
grep -q "by the daemon, job done" "$T/cli_index.err" && ok cli_index_via_daemon || notok cli_index_via_daemon "$(cat "$T/cli_index.err")"
r=$(RAGD_SOCKET="$SOCK" "$RAGD" --index "$T/idx" search --json --mode bm25 -k 1 dividend)
case "$r" in *'"doc_id":"dividend.txt"'*) ok cli_search_via_daemon ;; *) notok cli_search_via_daemon "$r" ;; esac
r=$(RAGD_SOCKET="$SOCK" "$RAGD" --index "$T/idx" status --json)
case "$r" in *'"daemon":"running"'*) ok cli_status_sees_daemon ;; *) notok cli_status_sees_daemon "$r" ;; esac
r=$(RAGD_NO_DAEMON=1 RAGD_SOCKET="$SOCK" "$RAGD" --index "$T/idx" search --json --mode bm25 -k 1 dividend)
case "$r" in *'"doc_id":"dividend.txt"'*) ok cli_search_direct ;; *) notok cli_search_direct "$r" ;; esac

kill -TERM "$PID"
for _ in $(seq 200); do kill -0 "$PID" 2>/dev/null || break; sleep 0.05; done
wait "$PID"; rc=$?
PID=
[ "$rc" = 0 ] && [ ! -e "$SOCK" ] && ok sigterm || notok sigterm "exit $rc, socket $(ls "$SOCK" 2>&1)"

# A generator through the daemon, as the README shows: tokens stream as "token" events with
# curl -N; SIGHUP after the config drops the generator: the reasoner alone answers.
TINY="${RAGD_ROOT:-$PWD}/tests/models/tiny-qwen2-f32.gguf"
if [ -f "$TINY" ] && command -v python3 >/dev/null; then
  mkdir -p "$T/g"
  printf 'Northwind sold small boats in Oslo.\n' > "$T/g/a.txt"
  printf 'generator = %s\n' "$TINY" > "$T/g.conf"
  SOCK2="$T/run2/ragd.sock"
  "$RAGD" --index "$T/gidx" --config "$T/g.conf" serve --socket "$SOCK2" --allow-root "$T/g" 2>"$T/serve2.log" &
  PID=$!
  for _ in $(seq 100); do [ -S "$SOCK2" ] && break; sleep 0.05; done
  C2=(curl -sS --max-time 60 --unix-socket "$SOCK2")
  job=$("${C2[@]}" -X POST -d "{\"paths\": [\"$T/g\"]}" http://localhost/v1/index)
  id=$(printf '%s' "$job" | sed -n 's/.*"job": *\([0-9]*\).*/\1/p')
  for _ in $(seq 200); do
    st=$("${C2[@]}" "http://localhost/v1/jobs/$id" | sed -n 's/.*"state": *"\([a-z]*\)".*/\1/p')
    [ "$st" = queued ] || [ "$st" = running ] || break
    sleep 0.05
  done
  Q='{"question": "What did Northwind sell in 2012?", "doc": "a.txt", "stream": true}'
  "${C2[@]}" -N -X POST -d "$Q" http://localhost/v1/ask > "$T/stream.txt"
  py=$(python3 - "$T/stream.txt" <<'PY'
import json, sys
evs = []
for block in open(sys.argv[1]).read().split("\n\n"):
    if not block.strip(): continue
    name = data = None
    for line in block.split("\n"):
        if line.startswith("event: "): name = line[7:]
        if line.startswith("data: "): data = json.loads(line[6:])
    evs.append((name, data))
names = [n for n, _ in evs]
assert names[-2:] == ["answer", "done"] and names.count("token") >= 1, names
assert all(n == "token" for n in names[:-2]), names
toks = "".join(d["text"] for n, d in evs if n == "token")
out = evs[-2][1]["generator"]["output"]
assert toks == out, (toks, out)
print("ok")
PY
)
  [ "$py" = ok ] && ok ask_stream_tokens || notok ask_stream_tokens "$py $(head -c 300 "$T/stream.txt")"
  : > "$T/g.conf"
  kill -HUP "$PID"
  used=
  for _ in $(seq 100); do
    used=$("${C2[@]}" -X POST -d '{"question": "What did Northwind sell in 2012?", "doc": "a.txt"}' http://localhost/v1/ask |
           python3 -c 'import json,sys; print(json.load(sys.stdin).get("generator", {}).get("used", False))' 2>/dev/null)
    [ "$used" = False ] && break
    sleep 0.05
  done
  [ "$used" = False ] && ok sighup_drops_generator || notok sighup_drops_generator "generator still used after SIGHUP"
  kill -TERM "$PID"; wait "$PID"; rc=$?; PID=
  [ "$rc" = 0 ] && ok sigterm_generator || notok sigterm_generator "exit $rc"
else
  echo "skip ask_stream_tokens: tests/models/tiny-qwen2-f32.gguf or python3 missing"
fi
