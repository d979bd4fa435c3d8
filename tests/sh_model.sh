# `ragd model pull/list/rm` end to end against the stand-in hub (tests/hf_server.py, 127.0.0.1),
# and the LSA default encoder through `ragd index` / `ragd status` / `ragd search`.
. "$(dirname "$0")/lib.sh"
cp "$RAGD_ROOT/tests/models/tiny-bert-q8_0.gguf" "$T/q8.bin"
head -c 200000 /dev/urandom > "$T/big.bin"
cat > "$T/hub.json" <<JSON
{"acme/enc": {"files": {"enc-Q8_0.gguf": {"path": "$T/q8.bin"}, "enc-Q4_0.gguf": {"path": "$T/big.bin"}}},
 "acme/cut": {"files": {"cut.gguf": {"path": "$T/big.bin", "mode": "cut"}}}}
JSON
python3 "$RAGD_ROOT/tests/hf_server.py" "$T/hub.json" "$T/hub.log" > "$T/port" &
SRV=$!
trap 'kill $SRV 2>/dev/null; rm -rf "$T"' EXIT
for _ in $(seq 50); do [ -s "$T/port" ] && break; sleep 0.1; done
export RAGD_HF_ENDPOINT="http://127.0.0.1:$(cut -d' ' -f1 "$T/port")" RAGD_MODELS="$T/models"
unset HF_TOKEN

expect pull_picks_q8 "$RAGD" model pull --json acme/enc
check pull_json [ "$(jq_get 'd["file"], d["verified"]' < "$T/out")" = "('enc-Q8_0.gguf', True)" ]
check pull_same_bytes cmp -s "$T/q8.bin" "$T/models/enc-Q8_0.gguf"
expect_rc pull_cut_fails 1 "$RAGD" model pull acme/cut
check pull_cut_says_resume grep -q "resume" "$T/err"
expect pull_resumes "$RAGD" model pull --json acme/cut
check pull_resumed [ "$(jq_get 'd["resumed"], d["verified"]' < "$T/out")" = "(True, True)" ]
check pull_cut_same_bytes cmp -s "$T/big.bin" "$T/models/cut.gguf"
expect_rc pull_missing_repo 1 "$RAGD" model pull acme/nope
check pull_missing_says grep -q "not found" "$T/err"
expect_rc pull_usage 2 "$RAGD" model pull
expect list_json "$RAGD" model list --json
check list_arch [ "$(jq_get '[(m["name"], m.get("arch")) for m in d["models"]]' < "$T/out")" = "[('cut.gguf', None), ('enc-Q8_0.gguf', 'bert')]" ]
expect rm_model "$RAGD" model rm enc-Q8_0
check rm_gone [ ! -e "$T/models/enc-Q8_0.gguf" ]
expect_rc rm_missing 1 "$RAGD" model rm enc-Q8_0
expect_rc rm_bad_name 1 "$RAGD" model rm ../hub.json

# The default encoder: LSA, fitted once the corpus has 50 chunks, with the model file in the index.
mkdir -p "$T/docs"
for i in $(seq 1 60); do
  case $((i % 3)) in
    0) printf 'Pension plan obligations and actuarial discount rates for retirement benefits, note %d.\n' "$i" ;;
    1) printf 'Lease of office property: rent paid to the landlord for the premises, note %d.\n' "$i" ;;
    2) printf 'Inventory held in the warehouse, freight and shipping costs from suppliers, note %d.\n' "$i" ;;
  esac > "$T/docs/d$i.txt"
done
expect index_default "$RAGD" --index "$T/idx" index "$T/docs"
check lsa_model_file [ -f "$T/idx/lsa-1.bin" ]
expect status_json "$RAGD" --index "$T/idx" status --json
check status_lsa [ "$(jq_get 'd["encoder"], d["vectors"]==d["faiss_vectors"]==60' < "$T/out")" = "('lsa-256', True)" ]
expect search_dense "$RAGD" --index "$T/idx" search --json --mode dense -k 3 "retirement obligations"
check search_dense_topic [ "$(jq_get 'all("Pension" in r["text"] for r in d["results"])' < "$T/out")" = True ]
