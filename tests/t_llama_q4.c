/* t_llama_q4: a decoder whose Q4_0 matrices are repacked at load with 8 rows interleaved
 * (nn/q4_0x8.h) against the same file loaded in its own layout (rg_llama_repack(0)).
 * Prompts (the int8 GEMM, packed from either layout the same way) give identical logits;
 * generation (the interleaved matrix-vector product, whose float sums run in another order)
 * gives logits within rounding and the same greedy tokens, and is not bit-identical (so the
 * interleaved path did run). Also a tied, repacked token embedding (the lookup reads the
 * interleaved rows), a vocabulary that is not a multiple of 8 (left as it is), and a layer
 * mixing a Q4_0 matrix with an F32 one in one group.
 * Also a model with the types of a Q4_K_M file whose rows are not all multiples of 256 (as
 * llama.cpp writes Qwen2.5-0.5B: Q5_0, Q8_0 attn_v and embedding, Q6_K and Q4_K ffn_down),
 * hidden size 256: its prompt through the GEMM tiles (one batch of 40, batches of 7) against
 * batches of 3 (the per-row dots) and of 1 (generation's matvec). */
#include "check.h"
#include "core/util.h"
#include "generate/llama.h"
#include "nn/gguf_write.h"
#include "nn/quant_k.h"
#include "nn/tensor.h"
#include "tiny_qwen2.h"

enum { D = 64, H = 4, KVH = 2, F = 128, NP = 40, NG = 16 };

/* the type of matrix i of mats[] below in layer l of a Q4_K_M-like mix */
static int kmix_type(size_t i, int l) {
    if (i == 0 || i == 3) return RG_TYPE_Q8_0;                   /* embedding, attn_v */
    if (i == 7) return l == 0 ? RG_TYPE_Q6_K : RG_TYPE_Q4_K;     /* ffn_down */
    return RG_TYPE_Q5_0;
}

/* a two-layer qwen2 of Q4_0 matrices (wk F32 when mixed), or with kmix the types of
 * kmix_type (widths multiples of 256); hidden size dim, FFN ffn */
static int write_model(const char *path, int V, int mixed, int kmix, int dim, int ffn) {
    unsigned seed = 99;
    const int HD = dim / H;
    rg_gguf_writer *w = rg_gguf_writer_new();
    qwen2_keys(w, 256, dim, 2, ffn, H, KVH);
    rg_gguf_w_f32(w, "qwen2.rope.freq_base", 10000.0f);
    void *bufs[64];
    int nbuf = 0;
    struct { const char *name; int in, out; } mats[] = {
        {"token_embd.weight", dim, V}, {"blk.%d.attn_q.weight", dim, H * HD}, {"blk.%d.attn_k.weight", dim, KVH * HD},
        {"blk.%d.attn_v.weight", dim, KVH * HD}, {"blk.%d.attn_output.weight", H * HD, dim},
        {"blk.%d.ffn_gate.weight", dim, ffn}, {"blk.%d.ffn_up.weight", dim, ffn}, {"blk.%d.ffn_down.weight", ffn, dim}};
    for (int l = 0; l < 2; l++)
        for (size_t i = l ? 1 : 0; i < sizeof mats / sizeof mats[0]; i++) {
            char name[64];
            snprintf(name, sizeof name, mats[i].name, l);
            size_t n = (size_t)mats[i].in * (size_t)mats[i].out;
            float *f = malloc(sizeof(float) * n);
            for (size_t k = 0; k < n; k++) f[k] = lrand(&seed) * (i == 0 ? 1.0f : 0.25f);
            int64_t ne[2] = {mats[i].in, mats[i].out};
            if (mixed && i == 2) {
                bufs[nbuf++] = f;
                rg_gguf_w_tensor(w, name, RG_TYPE_F32, 2, ne, f, sizeof(float) * n);
                continue;
            }
            int type = kmix ? kmix_type(i, l) : RG_TYPE_Q4_0;
            size_t rb = rg_type_row_bytes(type, mats[i].in);
            char *q = bufs[nbuf++] = malloc(rb * (size_t)mats[i].out);
            for (int r = 0; r < mats[i].out; r++) {
                const float *src = f + (size_t)r * mats[i].in;
                char *dst = q + (size_t)r * rb;
                if (type == RG_TYPE_Q4_0) rg_quantize_q4_0(src, dst, mats[i].in);
                else if (type == RG_TYPE_Q5_0) rg_quantize_q5_0(src, dst, mats[i].in);
                else if (type == RG_TYPE_Q4_K) rg_quantize_q4_K(src, dst, mats[i].in);
                else if (type == RG_TYPE_Q6_K) rg_quantize_q6_K(src, dst, mats[i].in);
                else rg_quantize_q8_0(src, (rg_block_q8_0 *)dst, mats[i].in);
            }
            free(f);
            rg_gguf_w_tensor(w, name, type, 2, ne, q, rb * (size_t)mats[i].out);
        }
    const char *vecs[] = {"blk.0.attn_norm.weight", "blk.0.ffn_norm.weight", "blk.1.attn_norm.weight", "blk.1.ffn_norm.weight", "output_norm.weight"};
    qwen2_norms(w, vecs, 5, dim, &seed, bufs, &nbuf);
    int rc = rg_gguf_writer_save(w, path);
    rg_gguf_writer_free(w);
    for (int i = 0; i < nbuf; i++) free(bufs[i]);
    return rc;
}

typedef struct { float *prompt, *gen; int32_t greedy[NG]; } run_out;

/* a prompt with every row's logits, then NG greedy steps one token at a time */
static int run(const char *path, int V, int repack, int n_batch, int threads, run_out *o) {
    rg_llama_repack(repack);
    rg_llama_params lp = {.n_ctx = 128, .n_threads = threads, .n_batch = n_batch};
    rg_llama *m = rg_llama_load(path, &lp);
    rg_llama_repack(1);
    CHECKF(m != NULL, "%s", rg_errmsg());
    if (!m) return -1;
    int32_t ids[NP];
    for (int i = 0; i < NP; i++) ids[i] = (int32_t)((i * 37 + 5) % V);
    o->prompt = calloc((size_t)NP * V, sizeof(float));
    o->gen = calloc((size_t)NG * V, sizeof(float));
    int rc = rg_llama_eval(m, ids, NP, o->prompt, 1);
    const float *cur = o->prompt + (size_t)(NP - 1) * V;
    for (int s = 0; s < NG && rc == 0; s++) {
        int best = 0;
        for (int i = 1; i < V; i++) if (cur[i] > cur[best]) best = i;
        o->greedy[s] = best;
        rc = rg_llama_eval(m, &o->greedy[s], 1, o->gen + (size_t)s * V, 0);
        cur = o->gen + (size_t)s * V;
    }
    CHECKF(rc == 0, "%s", rg_errmsg());
    rg_llama_free(m);
    return rc;
}

static double maxdiff(const float *a, const float *b, size_t n, double *mag) {
    double md = 0;
    *mag = 0;
    for (size_t i = 0; i < n; i++) {
        if (fabs(a[i] - b[i]) > md) md = fabs(a[i] - b[i]);
        if (fabs(b[i]) > *mag) *mag = fabs(b[i]);
    }
    return md;
}

static void check_file(int V, int mixed, int expect_gen_change) {
    char *dir = test_tmpdir(), path[256];
    snprintf(path, sizeof path, "%s/q4.gguf", dir);
    CHECKF(write_model(path, V, mixed, 0, D, F) == 0, "%s", rg_errmsg());
    run_out a = {0}, b = {0}, c = {0};
    if (run(path, V, 0, 64, 2, &a) == 0 && run(path, V, 1, 64, 2, &b) == 0 && run(path, V, 1, 7, 1, &c) == 0) {
        double mag, dp = maxdiff(b.prompt, a.prompt, (size_t)NP * V, &mag);
        CHECKF(mag > 0.5 && dp == 0, "V %d mixed %d: prompt logits differ by %.3g (magnitude %.3g)", V, mixed, dp, mag);
        double dg = maxdiff(b.gen, a.gen, (size_t)NG * V, &mag);
        CHECKF(dg <= 1e-4 * (1 + mag), "V %d mixed %d: generation logits differ by %.3g (magnitude %.3g)", V, mixed, dg, mag);
        if (expect_gen_change) CHECKF(dg > 0, "V %d: generation bit-identical: the interleaved path did not run", V);
        CHECKF(memcmp(a.greedy, b.greedy, sizeof a.greedy) == 0, "V %d mixed %d: greedy tokens differ", V, mixed);
        /* batches of 7 on one thread: the 7-token GEMM and the 5-token tail */
        double d7 = maxdiff(c.prompt, b.prompt, (size_t)NP * V, &mag);
        CHECKF(d7 <= 1e-4 * (1 + mag), "V %d mixed %d: batches of 7 differ by %.3g", V, mixed, d7);
        CHECKF(memcmp(c.greedy, b.greedy, sizeof c.greedy) == 0, "V %d mixed %d: greedy tokens differ (batches of 7)", V, mixed);
    }
    free(a.prompt); free(a.gen); free(b.prompt); free(b.gen); free(c.prompt); free(c.gen);
    test_rm_rf(dir);
    free(dir);
}

/* The Q4_K_M-like mix: the same prompt in one batch of 40 and in batches of 7 (tiles of 4
 * tokens, then 3), 3 (below the tiles' minimum: the per-row dots) and 1 (the matvec): logits
 * within float rounding of each other (the integer sums are the same), the same greedy tokens */
static void test_k_mix_prompt_batches(void) {
    char *dir = test_tmpdir(), path[256];
    snprintf(path, sizeof path, "%s/kmix.gguf", dir);
    const int V = 200;
    CHECKF(write_model(path, V, 0, 1, 256, 256) == 0, "%s", rg_errmsg());
    run_out r[4] = {{0}};
    const int batch[4] = {64, 7, 3, 1};
    int ok = 1;
    for (int i = 0; i < 4 && ok; i++) ok = run(path, V, 1, batch[i], 2, &r[i]) == 0;
    for (int i = 1; i < 4 && ok; i++) {
        double mag, d = maxdiff(r[i].prompt, r[0].prompt, (size_t)NP * V, &mag);
        CHECKF(mag > 0.5 && d <= 1e-4 * (1 + mag), "batches of %d: prompt logits differ by %.3g (magnitude %.3g)", batch[i], d, mag);
        CHECKF(memcmp(r[i].greedy, r[0].greedy, sizeof r[0].greedy) == 0, "batches of %d: greedy tokens differ", batch[i]);
    }
    for (int i = 0; i < 4; i++) free(r[i].prompt), free(r[i].gen);
    test_rm_rf(dir);
    free(dir);
}

static void test_q4_0_tied_repacked(void) { check_file(200, 0, 1); }
static void test_q4_0_vocab_not_octs(void) { check_file(203, 0, 1); }
static void test_q4_0_mixed_group(void) { check_file(200, 1, 1); }

int main(void) {
    rg_type_get(RG_TYPE_F32);
    if (!rg_quant_k_avx2()) {
        printf("skip q4_0x8 decoder tests: no AVX2 (nothing is repacked)\n");
        return 0;
    }
    RUN(test_q4_0_tied_repacked);
    RUN(test_q4_0_vocab_not_octs);
    RUN(test_q4_0_mixed_group);
    RUN(test_k_mix_prompt_batches);
    TESTS_DONE();
}
