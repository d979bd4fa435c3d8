# Helpers for shell tests: ok/fail lines that tests/run.sh counts.
T=$(mktemp -d /tmp/ragd-test-XXXXXX)
trap 'rm -rf "$T"' EXIT
ok() { echo "ok $1"; }
notok() { echo "not ok $1: $2"; }
# expect NAME CMD...: the command must succeed
expect() { local n=$1; shift; if "$@" >"$T/out" 2>"$T/err"; then ok "$n"; else notok "$n" "exit $? from $*: $(head -c 300 "$T/err")"; fi; }
# expect_rc NAME RC CMD...: the command must exit with RC
expect_rc() { local n=$1 want=$2; shift 2; "$@" >"$T/out" 2>"$T/err"; local rc=$?
  if [ "$rc" = "$want" ]; then ok "$n"; else notok "$n" "exit $rc (want $want) from $*: $(head -c 300 "$T/err")"; fi; }
# check NAME CONDITION-COMMAND...
check() { local n=$1; shift; if "$@"; then ok "$n"; else notok "$n" "failed: $*"; fi; }
jq_get() { python3 -c 'import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1]))' "$1"; }
