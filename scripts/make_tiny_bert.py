#!/usr/bin/python3
"""Builds tiny random BERT models as GGUF files (F32, F16, Q8_0; mean and CLS pooling) and a
reference JSON of their token ids and sentence embeddings, computed with a plain PyTorch
implementation of the BERT encoder (written here; no transformers library). Also a tiny
random cross-encoder reranker (llama.cpp's "rank" pooling: pooler cls.weight/cls.bias + tanh,
classifier cls.output.weight/cls.output.bias) and the reference scores of query/passage pairs.

Usage: scripts/make_tiny_bert.py [OUTDIR]   (default tests/models)
The tensor names and metadata keys are those llama.cpp's converter writes for arch "bert",
including its vocabulary spelling (word starts prefixed with U+2581, continuations bare).
"""
import json
import math
import os
import struct
import sys

import numpy as np
import torch

HIDDEN, HEADS, FFN, LAYERS, CTX, TYPES = 32, 4, 64, 2, 64, 2
EPS = 1e-12

SENTENCES = [
    "the company reported revenue of 12 million dollars in 2019.",
    "what is the total amount of cash paid for income taxes?",
    "net income increased, mainly due to lower operating costs!",
    "shares were sold at a price of $ 4.50 each",
    "quarterly results : sales grew faster than expected",
    "a",
    "the the the the the the the the the the the the the the the the the the the the the the the "
    "the the the the the the the the the the the the the the the the the the the the the the the "
    "the the the the the the the the the the the the the the the the the the the the the the the",
]

WORDS = """the of and to in is was for on that by with as at from are were this be it an or
which total amount company revenue million dollars income net cash paid taxes increased mainly
due lower operating costs shares sold price each quarterly results sales grew faster than expected
what year years table value change average percentage interest expense assets liabilities equity
stock share per report reported operations financial period ended december fiscal tax rate
compared prior growth decrease increase other current non long term debt balance sheet""".split()
SUFFIXES = ["s", "ed", "ing", "ly", "er", "es", "al", "ion"]


def build_vocab():
    toks = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    chars = [chr(c) for c in range(33, 127) if not chr(c).isupper()]
    toks += chars
    toks += ["##" + c for c in chars if c.isalnum()]
    toks += ["##" + s for s in SUFFIXES]
    for w in WORDS:
        if w not in toks:
            toks.append(w)
    return toks


def is_punct(ch):
    c = ord(ch)
    return 33 <= c <= 47 or 58 <= c <= 64 or 91 <= c <= 96 or 123 <= c <= 126


def tokenize(text, vocab, max_len):
    """BERT basic + WordPiece tokenisation for plain lower-case ASCII text."""
    index = {t: i for i, t in enumerate(vocab)}
    words, cur = [], ""
    for ch in text.lower():
        if ch.isspace() or is_punct(ch):
            if cur:
                words.append(cur)
            cur = ""
            if is_punct(ch):
                words.append(ch)
        else:
            cur += ch
    if cur:
        words.append(cur)
    ids = [index["[CLS]"]]
    for w in words:
        pieces, start = [], 0
        while start < len(w):
            end, found = len(w), None
            while end > start:
                sub = ("##" if start else "") + w[start:end]
                if sub in index:
                    found = index[sub]
                    break
                end -= 1
            if found is None:
                pieces = [index["[UNK]"]]
                break
            pieces.append(found)
            start = end
        ids += pieces
    ids = ids[: max_len - 1] + [index["[SEP]"]]
    return ids


def make_weights(n_vocab, seed):
    g = torch.Generator().manual_seed(seed)

    def r(*shape, std=0.2):
        return (torch.randn(*shape, generator=g, dtype=torch.float64) * std)

    w = {
        "token_embd.weight": r(n_vocab, HIDDEN, std=0.5),
        "position_embd.weight": r(CTX, HIDDEN, std=0.3),
        "token_types.weight": r(TYPES, HIDDEN, std=0.3),
        "token_embd_norm.weight": 1 + r(HIDDEN, std=0.1),
        "token_embd_norm.bias": r(HIDDEN, std=0.1),
    }
    for i in range(LAYERS):
        p = f"blk.{i}."
        for n in ["attn_q", "attn_k", "attn_v", "attn_output"]:
            w[p + n + ".weight"] = r(HIDDEN, HIDDEN)
            w[p + n + ".bias"] = r(HIDDEN, std=0.1)
        w[p + "attn_output_norm.weight"] = 1 + r(HIDDEN, std=0.1)
        w[p + "attn_output_norm.bias"] = r(HIDDEN, std=0.1)
        w[p + "ffn_up.weight"] = r(FFN, HIDDEN)
        w[p + "ffn_up.bias"] = r(FFN, std=0.1)
        w[p + "ffn_down.weight"] = r(HIDDEN, FFN)
        w[p + "ffn_down.bias"] = r(HIDDEN, std=0.1)
        w[p + "layer_output_norm.weight"] = 1 + r(HIDDEN, std=0.1)
        w[p + "layer_output_norm.bias"] = r(HIDDEN, std=0.1)
    return w


def layer_norm(x, g, b):
    mu = x.mean(-1, keepdim=True)
    var = ((x - mu) ** 2).mean(-1, keepdim=True)
    return (x - mu) / torch.sqrt(var + EPS) * g + b


def forward(w, ids, pooling):
    """BERT encoder on one sequence (float64), then pooling and L2 normalisation."""
    x = hidden_states(w, ids, [0] * len(ids))
    e = x[0] if pooling == 2 else x.mean(0)
    return (e / e.norm()).tolist()


def hidden_states(w, ids, types):
    """The final hidden states of the BERT encoder on one sequence (float64)."""
    n = len(ids)
    x = w["token_embd.weight"][ids] + w["position_embd.weight"][:n] + w["token_types.weight"][types]
    x = layer_norm(x, w["token_embd_norm.weight"], w["token_embd_norm.bias"])
    hd = HIDDEN // HEADS
    for i in range(LAYERS):
        p = f"blk.{i}."

        def lin(v, name):
            return v @ w[p + name + ".weight"].T + w[p + name + ".bias"]

        q = lin(x, "attn_q").view(n, HEADS, hd).transpose(0, 1)
        k = lin(x, "attn_k").view(n, HEADS, hd).transpose(0, 1)
        v = lin(x, "attn_v").view(n, HEADS, hd).transpose(0, 1)
        att = torch.softmax(q @ k.transpose(1, 2) / math.sqrt(hd), dim=-1)
        ctx = (att @ v).transpose(0, 1).reshape(n, HIDDEN)
        x = layer_norm(x + lin(ctx, "attn_output"), w[p + "attn_output_norm.weight"], w[p + "attn_output_norm.bias"])
        h = lin(x, "ffn_up")
        h = 0.5 * h * (1 + torch.erf(h / math.sqrt(2)))
        x = layer_norm(x + lin(h, "ffn_down"), w[p + "layer_output_norm.weight"], w[p + "layer_output_norm.bias"])
    return x


# ---------------- reranker (cross-encoder) ----------------

PAIRS_QUERY = [
    "what was the total revenue in 2019?",
    "why did net income increase?",
    "the total revenue and net income of the company in the fiscal year ended december 2019 compared "
    "to the prior year , and the average interest rate on long term debt per share of stock",
]
PAIRS_PASSAGES = [
    "the company reported revenue of 12 million dollars in 2019.",
    "net income increased, mainly due to lower operating costs!",
    "shares were sold at a price of $ 4.50 each",
    "quarterly results : sales grew faster than expected",
    "total cash paid for income taxes was 3 million dollars",
    "",
    " ".join(["the revenue of the company increased"] * 20),
]


def make_reranker_weights(n_vocab, seed):
    w = make_weights(n_vocab, seed)
    g = torch.Generator().manual_seed(seed + 1)
    w["cls.weight"] = torch.randn(HIDDEN, HIDDEN, generator=g, dtype=torch.float64) * 0.3
    w["cls.bias"] = torch.randn(HIDDEN, generator=g, dtype=torch.float64) * 0.1
    w["cls.output.weight"] = torch.randn(1, HIDDEN, generator=g, dtype=torch.float64) * 0.5
    w["cls.output.bias"] = torch.randn(1, generator=g, dtype=torch.float64) * 0.1
    return w


def pair_ids(query, passage, vocab):
    """[CLS] query [SEP] passage [SEP]: the query keeps at most CTX // 2 ids, the passage the rest."""
    q = tokenize(query, vocab, CTX // 2)
    p = tokenize(passage, vocab, CTX - len(q) + 1)
    return q + p[1:], [0] * len(q) + [1] * (len(p) - 1)


def rerank_score(w, ids, types):
    """llama.cpp's rank head: the pooler (dense + tanh) when the file has one, then the classifier."""
    h = hidden_states(w, ids, types)[0]
    if "cls.weight" in w:
        h = torch.tanh(w["cls.weight"] @ h + w["cls.bias"])
    return float(w["cls.output.weight"][0] @ h + w["cls.output.bias"][0])


# ---------------- GGUF writer ----------------

GGUF_U32, GGUF_F32, GGUF_BOOL, GGUF_STRING, GGUF_ARRAY, GGUF_I32 = 4, 6, 7, 8, 9, 5
T_F32, T_F16, T_Q8_0 = 0, 1, 8


def gstr(s):
    b = s.encode("utf-8")
    return struct.pack("<Q", len(b)) + b


def kv(key, vtype, value):
    out = gstr(key) + struct.pack("<I", vtype)
    if vtype == GGUF_STRING:
        out += gstr(value)
    elif vtype == GGUF_U32:
        out += struct.pack("<I", value)
    elif vtype == GGUF_F32:
        out += struct.pack("<f", value)
    elif vtype == GGUF_BOOL:
        out += struct.pack("<B", 1 if value else 0)
    elif vtype == GGUF_ARRAY:
        etype, items = value
        out += struct.pack("<IQ", etype, len(items))
        for it in items:
            out += gstr(it) if etype == GGUF_STRING else struct.pack("<i", it)
    return out


def q8_0(a):
    """Quantises rows (last dim multiple of 32) to Q8_0 blocks: f16 scale + 32 int8."""
    blocks = a.astype(np.float32).reshape(-1, 32)
    amax = np.abs(blocks).max(axis=1)
    d = (amax / 127.0).astype(np.float32)
    inv = np.where(d > 0, 1.0 / np.where(d > 0, d, 1), 0).astype(np.float32)
    q = np.round(blocks * inv[:, None]).astype(np.int8)
    out = bytearray()
    for i in range(blocks.shape[0]):
        out += np.float16(d[i]).tobytes() + q[i].tobytes()
    return bytes(out)


def write_gguf(path, name, weights, vocab, wtype, pooling, extra=()):
    toktypes = [3 if (t.startswith("[") and t.endswith("]")) else 1 for t in vocab]
    phantom = [t if tt == 3 else (t[2:] if t.startswith("##") else "\u2581" + t) for t, tt in zip(vocab, toktypes)]
    meta = [
        kv("general.architecture", GGUF_STRING, "bert"),
        kv("general.name", GGUF_STRING, name),
        kv("bert.context_length", GGUF_U32, CTX),
        kv("bert.embedding_length", GGUF_U32, HIDDEN),
        kv("bert.feed_forward_length", GGUF_U32, FFN),
        kv("bert.block_count", GGUF_U32, LAYERS),
        kv("bert.attention.head_count", GGUF_U32, HEADS),
        kv("bert.attention.layer_norm_epsilon", GGUF_F32, EPS),
        kv("bert.attention.causal", GGUF_BOOL, False),
        kv("bert.pooling_type", GGUF_U32, pooling),
        kv("general.file_type", GGUF_U32, {T_F32: 0, T_F16: 1, T_Q8_0: 7}[wtype]),
        kv("tokenizer.ggml.model", GGUF_STRING, "bert"),
        kv("tokenizer.ggml.tokens", GGUF_ARRAY, (GGUF_STRING, phantom)),
        kv("tokenizer.ggml.token_type", GGUF_ARRAY, (GGUF_I32, toktypes)),
        kv("tokenizer.ggml.unknown_token_id", GGUF_U32, vocab.index("[UNK]")),
        kv("tokenizer.ggml.seperator_token_id", GGUF_U32, vocab.index("[SEP]")),
        kv("tokenizer.ggml.padding_token_id", GGUF_U32, vocab.index("[PAD]")),
        kv("tokenizer.ggml.cls_token_id", GGUF_U32, vocab.index("[CLS]")),
    ] + list(extra)
    infos, datas, off = [], [], 0
    for tname, t in weights.items():
        a = t.numpy()
        ttype = T_F32 if a.ndim == 1 else wtype
        if ttype == T_F32:
            data = a.astype("<f4").tobytes()
        elif ttype == T_F16:
            data = a.astype("<f2").tobytes()
        else:
            data = q8_0(a)
        ne = list(reversed(a.shape))
        infos.append(gstr(tname) + struct.pack("<I", len(ne)) + b"".join(struct.pack("<Q", n) for n in ne)
                     + struct.pack("<IQ", ttype, off))
        pad = (-len(data)) % 32
        datas.append(data + b"\0" * pad)
        off += len(data) + pad
    header = b"GGUF" + struct.pack("<IQQ", 3, len(infos), len(meta)) + b"".join(meta) + b"".join(infos)
    header += b"\0" * ((-len(header)) % 32)
    with open(path, "wb") as f:
        f.write(header)
        f.write(b"".join(datas))


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "tests", "models")
    os.makedirs(out, exist_ok=True)
    vocab = build_vocab()
    w = make_weights(len(vocab), seed=1234)
    files = [("tiny-bert-f32.gguf", T_F32, 1), ("tiny-bert-f16.gguf", T_F16, 1),
             ("tiny-bert-q8_0.gguf", T_Q8_0, 1), ("tiny-bert-cls-f32.gguf", T_F32, 2)]
    for fname, wtype, pooling in files:
        write_gguf(os.path.join(out, fname), "tiny-bert", w, vocab, wtype, pooling)
    ref = {"hidden": HIDDEN, "context_length": CTX, "sentences": []}
    for s in SENTENCES:
        ids = tokenize(s, vocab, CTX)
        ref["sentences"].append({"text": s, "ids": ids, "mean": forward(w, ids, 1), "cls": forward(w, ids, 2)})
    with open(os.path.join(out, "tiny-bert.reference.json"), "w") as f:
        json.dump(ref, f, indent=1)
    # the reranker: its own weights, pooling type 4 (rank), one output label
    rw = make_reranker_weights(len(vocab), seed=4321)
    write_gguf(os.path.join(out, "tiny-bert-rerank-f32.gguf"), "tiny-bert-rerank", rw, vocab, T_F32, 4,
               [kv("bert.classifier.output_labels", GGUF_ARRAY, (GGUF_STRING, ["LABEL_0"]))])
    # as llama.cpp's converter writes BERT cross-encoders: the pooler dropped, classifier only
    nw = {k: v for k, v in rw.items() if k not in ("cls.weight", "cls.bias")}
    write_gguf(os.path.join(out, "tiny-bert-rerank-nopool-f32.gguf"), "tiny-bert-rerank-nopool", nw, vocab, T_F32, 4,
               [kv("bert.classifier.output_labels", GGUF_ARRAY, (GGUF_STRING, ["LABEL_0"]))])
    rref = {"context_length": CTX, "queries": []}
    for qtext in PAIRS_QUERY:
        item = {"query": qtext, "passages": []}
        for ptext in PAIRS_PASSAGES:
            ids, types = pair_ids(qtext, ptext, vocab)
            item["passages"].append({"text": ptext, "ids": ids, "types": types, "score": rerank_score(rw, ids, types),
                                     "score_nopool": rerank_score(nw, ids, types)})
        rref["queries"].append(item)
    with open(os.path.join(out, "tiny-bert-rerank.reference.json"), "w") as f:
        json.dump(rref, f, indent=1)
    print(f"wrote {len(files) + 2} models ({len(vocab)} tokens) and the references to {out}")


if __name__ == "__main__":
    main()
