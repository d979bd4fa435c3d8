#!/usr/bin/python3
"""Writes tiny random decoder models as GGUF files, with reference outputs, for tests/t_llama.

The models follow llama.cpp's GGUF conventions for the `llama` and `qwen2` architectures:
tensor names token_embd / blk.N.* / output_norm / output, [out, in] weights stored with
ne[0] = in, and for `llama` the Q and K rows permuted the way llama.cpp's HF converter does,
so that the runtime applies interleaved-pair RoPE there and half-split (NEOX) RoPE for qwen2.
The reference forward pass below is an independent PyTorch implementation in float64, in the
Hugging Face layout (rotate_half RoPE, unpermuted weights).

Also writes a tiny byte-level BPE vocabulary (256 byte tokens, merges learned from a few
sentences, ChatML special tokens) into the GGUF metadata.

Usage: scripts/make_tiny_llama.py [OUTDIR]   (default tests/models)
"""
import json
import os
import struct
import sys

import numpy as np
import torch

HIDDEN, HEADS, KV_HEADS, FFN, LAYERS, CTX = 64, 4, 2, 96, 2, 256
HEAD_DIM = HIDDEN // HEADS

# ---------------------------------------------------------------- tokenizer


def byte_to_unicode():
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    m, k = {}, 0
    for b in range(256):
        if b in keep:
            m[b] = chr(b)
        else:
            m[b] = chr(256 + k)
            k += 1
    return m


CORPUS = ("the cat sat on the mat. the dog ate the bone. a table of the revenue in 2019 and 2018 "
          "shows the total net income of the company, the other income and the tax.")


def train_bpe(n_merges):
    b2u = byte_to_unicode()
    words = []
    for i, w in enumerate(CORPUS.split(" ")):
        w = (" " if i else "") + w
        words.append([b2u[b] for b in w.encode()])
    merges = []
    for _ in range(n_merges):
        counts = {}
        for w in words:
            for a, b in zip(w, w[1:]):
                counts[(a, b)] = counts.get((a, b), 0) + 1
        if not counts:
            break
        best = max(sorted(counts), key=lambda p: counts[p])
        merges.append(best)
        for w in words:
            i = 0
            while i < len(w) - 1:
                if (w[i], w[i + 1]) == best:
                    w[i:i + 2] = [w[i] + w[i + 1]]
                else:
                    i += 1
    b2u_list = [b2u[b] for b in range(256)]
    tokens = b2u_list + [a + b for a, b in merges]
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    types = [1] * len(tokens) + [3] * len(specials)
    return tokens + specials, types, [a + " " + b for a, b in merges]


# ---------------------------------------------------------------- GGUF writer

GGUF_U32, GGUF_F32, GGUF_BOOL, GGUF_STR, GGUF_ARR, GGUF_I32 = 4, 6, 7, 8, 9, 5
T_F32, T_Q8_0 = 0, 8


def s_bytes(s):
    b = s.encode("utf-8")
    return struct.pack("<Q", len(b)) + b


def kv_bytes(key, vtype, val):
    out = s_bytes(key) + struct.pack("<I", vtype)
    if vtype == GGUF_U32:
        out += struct.pack("<I", val)
    elif vtype == GGUF_F32:
        out += struct.pack("<f", val)
    elif vtype == GGUF_BOOL:
        out += struct.pack("<B", 1 if val else 0)
    elif vtype == GGUF_STR:
        out += s_bytes(val)
    elif vtype == GGUF_ARR:
        etype, items = val
        out += struct.pack("<IQ", etype, len(items))
        for it in items:
            out += s_bytes(it) if etype == GGUF_STR else struct.pack("<i", it)
    return out


def q8_0(a):
    """ggml Q8_0: blocks of 32, d = max|x| / 127 (f16), q = round(x / d)."""
    x = a.reshape(-1, 32).astype(np.float32)
    amax = np.abs(x).max(axis=1)
    d = (amax / 127.0).astype(np.float32)
    inv = np.where(d > 0, 1.0 / np.where(d > 0, d, 1), 0).astype(np.float32)
    q = np.clip(np.round(x * inv[:, None]), -127, 127).astype(np.int8)
    d16 = d.astype(np.float16)
    raw = b"".join(d16[i].tobytes() + q[i].tobytes() for i in range(x.shape[0]))
    deq = (d16.astype(np.float32)[:, None] * q.astype(np.float32)).reshape(a.shape)
    return raw, deq


def write_gguf(path, kvs, tensors, qtype):
    """tensors: list of (name, float32 array in torch layout). 1-D tensors stay F32."""
    align = 32
    infos, blobs, off = b"", [], 0
    deq = {}
    for name, arr in tensors:
        arr = np.ascontiguousarray(arr, dtype=np.float32)
        if qtype == T_Q8_0 and arr.ndim == 2 and arr.shape[1] % 32 == 0:
            raw, d = q8_0(arr)
            t = T_Q8_0
        else:
            raw, d, t = arr.tobytes(), arr, T_F32
        deq[name] = d
        ne = list(reversed(arr.shape))
        infos += s_bytes(name) + struct.pack("<I", len(ne)) + b"".join(struct.pack("<Q", n) for n in ne)
        infos += struct.pack("<IQ", t, off)
        blobs.append(raw)
        off += len(raw)
        off = (off + align - 1) // align * align
    head = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kvs))
    head += b"".join(kv_bytes(*kv) for kv in kvs) + infos
    with open(path, "wb") as f:
        f.write(head)
        f.write(b"\0" * ((-len(head)) % align))
        for raw in blobs:
            f.write(raw)
            f.write(b"\0" * ((-len(raw)) % align))
    return deq


# ---------------------------------------------------------------- reference model


def rms(x, w, eps):
    return x / torch.sqrt((x * x).mean(-1, keepdim=True) + eps) * w


def rope_half(x, pos, base):
    """HF rotate_half RoPE on [T, H, D]."""
    d = x.shape[-1]
    inv = 1.0 / (base ** (torch.arange(0, d, 2, dtype=torch.float64) / d))
    ang = pos[:, None].double() * inv[None, :]
    cos = torch.cat([ang.cos(), ang.cos()], -1)[:, None, :]
    sin = torch.cat([ang.sin(), ang.sin()], -1)[:, None, :]
    x1, x2 = x[..., : d // 2], x[..., d // 2:]
    rot = torch.cat([-x2, x1], -1)
    return x * cos + rot * sin


def forward(W, ids, cfg):
    """Logits [T, vocab] for ids, float64, HF layout weights in W (torch tensors)."""
    T = len(ids)
    x = W["token_embd"][ids]
    pos = torch.arange(T)
    mask = torch.full((T, T), float("-inf"), dtype=torch.float64).triu(1)
    for L in range(LAYERS):
        p = f"blk.{L}."
        h = rms(x, W[p + "attn_norm"], cfg["eps"])
        q = h @ W[p + "attn_q"].T
        k = h @ W[p + "attn_k"].T
        v = h @ W[p + "attn_v"].T
        if cfg["bias"]:
            q, k, v = q + W[p + "attn_q.bias"], k + W[p + "attn_k.bias"], v + W[p + "attn_v.bias"]
        q = rope_half(q.view(T, HEADS, HEAD_DIM), pos, cfg["base"])
        k = rope_half(k.view(T, KV_HEADS, HEAD_DIM), pos, cfg["base"])
        v = v.view(T, KV_HEADS, HEAD_DIM)
        rep = HEADS // KV_HEADS
        k = k.repeat_interleave(rep, dim=1)
        v = v.repeat_interleave(rep, dim=1)
        att = torch.einsum("thd,shd->hts", q, k) / (HEAD_DIM ** 0.5) + mask
        o = torch.einsum("hts,shd->thd", att.softmax(-1), v).reshape(T, HIDDEN)
        x = x + o @ W[p + "attn_output"].T
        h = rms(x, W[p + "ffn_norm"], cfg["eps"])
        g = h @ W[p + "ffn_gate"].T
        u = h @ W[p + "ffn_up"].T
        x = x + (torch.nn.functional.silu(g) * u) @ W[p + "ffn_down"].T
    x = rms(x, W["output_norm"], cfg["eps"])
    out = W["output"] if "output" in W else W["token_embd"]
    return x @ out.T


def permute_qk(w, n_head):
    """llama.cpp's converter: HF rotate_half rows -> interleaved pairs, per head."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def make(outdir, arch, qtype, seed, n_vocab_tokens, tok):
    tokens, types, merges = tok
    rng = np.random.default_rng(seed)
    V = len(tokens)

    def rnd(*shape, scale=None):
        s = scale if scale is not None else 1.0 / np.sqrt(shape[-1])
        return (rng.standard_normal(shape) * s).astype(np.float32)

    W = {"token_embd": rnd(V, HIDDEN, scale=1.0)}
    for L in range(LAYERS):
        p = f"blk.{L}."
        W[p + "attn_norm"] = (1 + 0.1 * rng.standard_normal(HIDDEN)).astype(np.float32)
        W[p + "attn_q"] = rnd(HIDDEN, HIDDEN)
        W[p + "attn_k"] = rnd(KV_HEADS * HEAD_DIM, HIDDEN)
        W[p + "attn_v"] = rnd(KV_HEADS * HEAD_DIM, HIDDEN)
        if arch == "qwen2":
            W[p + "attn_q.bias"] = rnd(HIDDEN, scale=0.5)
            W[p + "attn_k.bias"] = rnd(KV_HEADS * HEAD_DIM, scale=0.5)
            W[p + "attn_v.bias"] = rnd(KV_HEADS * HEAD_DIM, scale=0.5)
        W[p + "attn_output"] = rnd(HIDDEN, HIDDEN)
        W[p + "ffn_norm"] = (1 + 0.1 * rng.standard_normal(HIDDEN)).astype(np.float32)
        W[p + "ffn_gate"] = rnd(FFN, HIDDEN)
        W[p + "ffn_up"] = rnd(FFN, HIDDEN)
        W[p + "ffn_down"] = rnd(HIDDEN, FFN)
    W["output_norm"] = (1 + 0.1 * rng.standard_normal(HIDDEN)).astype(np.float32)
    if arch == "llama":
        W["output"] = rnd(V, HIDDEN, scale=2.0 / np.sqrt(HIDDEN))
    cfg = {"eps": 1e-5 if arch == "llama" else 1e-6, "base": 10000.0 if arch == "llama" else 1000000.0,
           "bias": arch == "qwen2"}

    # GGUF tensors in file order; llama gets permuted Q/K rows
    order = ["token_embd"] + [k for k in W if k.startswith("blk.")] + ["output_norm"] + (["output"] if "output" in W else [])
    file_t = []
    for name in order:
        a = W[name]
        if arch == "llama" and (name.endswith("attn_q") or name.endswith("attn_k")):
            a = permute_qk(a, HEADS if name.endswith("attn_q") else KV_HEADS)
        gname = name if name.endswith(".bias") else name + ".weight"
        file_t.append((gname, a))
    tmpl = ("{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + "
            "'<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}")
    kvs = [
        ("general.architecture", GGUF_STR, arch),
        ("general.name", GGUF_STR, f"tiny-{arch}"),
        (f"{arch}.context_length", GGUF_U32, CTX),
        (f"{arch}.embedding_length", GGUF_U32, HIDDEN),
        (f"{arch}.block_count", GGUF_U32, LAYERS),
        (f"{arch}.feed_forward_length", GGUF_U32, FFN),
        (f"{arch}.attention.head_count", GGUF_U32, HEADS),
        (f"{arch}.attention.head_count_kv", GGUF_U32, KV_HEADS),
        (f"{arch}.rope.freq_base", GGUF_F32, cfg["base"]),
        (f"{arch}.attention.layer_norm_rms_epsilon", GGUF_F32, cfg["eps"]),
        (f"{arch}.rope.dimension_count", GGUF_U32, HEAD_DIM),
        ("tokenizer.ggml.model", GGUF_STR, "gpt2"),
        ("tokenizer.ggml.pre", GGUF_STR, "qwen2" if arch == "qwen2" else "llama-bpe"),
        ("tokenizer.ggml.tokens", GGUF_ARR, (GGUF_STR, tokens)),
        ("tokenizer.ggml.token_type", GGUF_ARR, (GGUF_I32, types)),
        ("tokenizer.ggml.merges", GGUF_ARR, (GGUF_STR, merges)),
        ("tokenizer.ggml.eos_token_id", GGUF_U32, V - 1),
        ("tokenizer.ggml.bos_token_id", GGUF_U32, V - 3),
        ("tokenizer.ggml.add_bos_token", GGUF_BOOL, False),
        ("tokenizer.chat_template", GGUF_STR, tmpl),
    ]
    qname = "f32" if qtype == T_F32 else "q8_0"
    path = os.path.join(outdir, f"tiny-{arch}-{qname}.gguf")
    deq = write_gguf(path, kvs, file_t, qtype)

    # reference on what the file holds (dequantised), back in HF layout
    R = {}
    for gname, _ in file_t:
        name = gname[: -len(".weight")] if gname.endswith(".weight") else gname
        a = deq[gname]
        if arch == "llama" and (name.endswith("attn_q") or name.endswith("attn_k")):
            n_head = HEADS if name.endswith("attn_q") else KV_HEADS
            # inverse permutation
            a = a.reshape(n_head, a.shape[0] // n_head // 2, 2, *a.shape[1:]).swapaxes(1, 2).reshape(a.shape)
        R[name] = torch.from_numpy(np.ascontiguousarray(a)).double()
    prompt = [int(t) for t in rng.integers(0, V - 3, size=12)]
    with torch.no_grad():
        logits = forward(R, prompt, cfg)
        seq = list(prompt)
        for _ in range(32):
            seq.append(int(forward(R, seq, cfg)[-1].argmax()))
        long_prompt = [int(t) for t in rng.integers(0, V - 3, size=100)]
        long_last = forward(R, long_prompt, cfg)[-1]
    ref = {
        "model": os.path.basename(path), "arch": arch, "type": qname, "vocab": V,
        "prompt": prompt,
        "logits_last4": [[round(float(v), 6) for v in row] for row in logits[-4:]],
        "greedy": seq[len(prompt):],
        "long_prompt": long_prompt,
        "long_last_logits": [round(float(v), 6) for v in long_last],
    }
    with open(path[:-5] + ".ref.json", "w") as f:
        json.dump(ref, f, separators=(",", ":"))
    print(f"wrote {path} ({os.path.getsize(path)} bytes)")


def main():
    outdir = sys.argv[1] if len(sys.argv) > 1 else "tests/models"
    os.makedirs(outdir, exist_ok=True)
    tok = train_bpe(29)
    make(outdir, "llama", T_F32, 1, None, tok)
    make(outdir, "qwen2", T_F32, 2, None, tok)
    make(outdir, "qwen2", T_Q8_0, 3, None, tok)


if __name__ == "__main__":
    main()
