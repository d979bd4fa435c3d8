/* bench/generate: decoder speed on a random-weight model with the exact shape of
 * Qwen2.5-0.5B (24 layers, hidden 896, 14 heads, 2 KV heads, FFN 4864, vocab 151936, tied
 * embeddings), written to a temporary GGUF from C. Reports pp512 (prompt tokens/s, one batch
 * of 512) and tg128 (generated tokens/s, one at a time from an empty context), like
 * llama-bench, and peak RSS.
 * Types: q8_0 (every matrix Q8_0), q4_k (Q4_K where rows are a multiple of 256, which for
 * this shape is ffn_down only, Q4_0 elsewhere: llama.cpp also falls back for 896-wide rows),
 * and q4_k_m, the types llama.cpp's Q4_K_M gives this shape (those of the published
 * Qwen2.5-0.5B-Instruct Q4_K_M file): Q4_K, but Q6_K for attn_v and ffn_down in the layers it
 * gives more bits (the first and last eighth, every third between) and for the (tied)
 * embedding; rows not a multiple of 256 fall back to Q5_0 for Q4_K and Q8_0 for Q6_K, so all
 * 896-wide matrices are Q5_0 or Q8_0 and ffn_down is Q4_K or Q6_K.
 * usage: generate [--type q8_0|q4_k|q4_k_m|all] [--threads N] [--reps N] [--keep DIR] [--model FILE.gguf]
 *                 [--only pp|tg] [--gemm] [--no-repack] [--llama-bench PATH]
 * --llama-bench PATH: the reference, measured in the same run: after each of our passes,
 * llama.cpp's llama-bench (a build the user has, never fetched) runs pp512/tg128 on the same
 * file with the same threads, and each pair of figures is printed with its ratio. The written
 * models carry a byte-level BPE vocabulary (256 byte symbols, then fillers) so that llama.cpp
 * loads them.
 * (--no-repack keeps Q4_0 matrices in the file's layout, not 8 rows interleaved: the
 * decoder before nn/q4_0x8.h, for a comparison in one session; --keep DIR leaves the written
 * models there; --model benches an existing file instead;
 * --only runs one phase, for profiling; the other's figure then reads 0).
 * pp512 is also given as GMAC/s: the weight products' multiply-adds per token (attention not
 * counted) times tokens/s. --gemm instead times the int8 GEMM alone (nn/qgemm.h) on one
 * thread over the same products for 512 tokens, with weights read from memory as in a
 * model: what the whole prompt pass is compared with. */
#include "core/util.h"
#include "generate/llama.h"
#include <jansson.h>
#include "nn/gguf_write.h"
#include "nn/qgemm.h"
#include "nn/quant_k.h"
#include "nn/tensor.h"
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

/* process CPU seconds: on a shared machine wall time includes waiting for a core, so the
 * report also gives tokens per (CPU seconds / threads) */
static double cpu_s(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6 + (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec * 1e-6;
}

enum { D = 896, L = 24, H = 14, KVH = 2, HD = 64, F = 4864, V = 151936 };

static uint64_t rng_state = 0x9E3779B97F4A7C15ULL;
static float frand(void) {      /* xorshift64*, uniform in [-1, 1) */
    rng_state ^= rng_state >> 12; rng_state ^= rng_state << 25; rng_state ^= rng_state >> 27;
    return (float)((rng_state * 2685821657736338717ULL) >> 40) / 8388608.0f - 1.0f;
}

typedef struct { void **bufs; int n, cap; } keep;
static void *hold(keep *k, size_t n) {
    if (k->n == k->cap) { k->cap = k->cap ? k->cap * 2 : 64; k->bufs = xrealloc(k->bufs, sizeof(void *) * (size_t)k->cap); }
    return k->bufs[k->n++] = xmalloc(n);
}

enum { MIX_Q8_0, MIX_Q4_K, MIX_Q4_K_M, NMIX };
static const char *mix_name[NMIX] = {"q8_0", "q4_k", "q4_k_m"};

/* llama.cpp's choice of the layers that get more bits in a Q4_K_M file */
static int more_bits(int layer) { return layer < L / 8 || layer >= 7 * L / 8 || (layer - L / 8) % 3 == 2; }

/* the weight type of matrix nm ("attn_v.weight", ...; layer -1: not in a layer) with in columns */
static int mat_type(int mix, const char *nm, int layer, int64_t in) {
    if (mix == MIX_Q8_0) return RG_TYPE_Q8_0;
    if (mix == MIX_Q4_K) return in % 256 == 0 ? RG_TYPE_Q4_K : RG_TYPE_Q4_0;
    int more = layer < 0 || (more_bits(layer) && (!strcmp(nm, "ffn_down.weight") || !strcmp(nm, "attn_v.weight")));
    if (in % 256 == 0) return more ? RG_TYPE_Q6_K : RG_TYPE_Q4_K;
    return more ? RG_TYPE_Q8_0 : RG_TYPE_Q5_0;        /* llama.cpp's fallbacks */
}

static void quantize_row(int type, const float *row, void *dst, int64_t in) {
    if (type == RG_TYPE_Q8_0) rg_quantize_q8_0(row, (rg_block_q8_0 *)dst, in);
    else if (type == RG_TYPE_Q4_K) rg_quantize_q4_K(row, dst, in);
    else if (type == RG_TYPE_Q6_K) rg_quantize_q6_K(row, dst, in);
    else if (type == RG_TYPE_Q5_0) rg_quantize_q5_0(row, dst, in);
    else rg_quantize_q4_0(row, dst, in);
}

static void add_matrix(rg_gguf_writer *w, keep *k, const char *name, int64_t in, int64_t out, int type) {
    size_t rb = rg_type_row_bytes(type, in);
    char *data = hold(k, rb * (size_t)out);
    float *row = xmalloc(sizeof(float) * (size_t)in);
    float scale = 1.0f / (float)in;
    for (int64_t r = 0; r < out; r++) {
        for (int64_t i = 0; i < in; i++) row[i] = frand() * 3.4f * scale * 16;
        quantize_row(type, row, data + (size_t)r * rb, in);
    }
    free(row);
    int64_t ne[2] = {in, out};
    rg_gguf_w_tensor(w, name, type, 2, ne, data, rb * (size_t)out);
}
static void add_vec(rg_gguf_writer *w, keep *k, const char *name, int64_t n, float base, float jitter) {
    float *v = hold(k, sizeof(float) * (size_t)n);
    for (int64_t i = 0; i < n; i++) v[i] = base + jitter * frand();
    rg_gguf_w_tensor(w, name, RG_TYPE_F32, 1, &n, v, sizeof(float) * (size_t)n);
}

/* The GPT-2 byte symbols (printable bytes stand for themselves, the others for U+0100 on, in
 * byte order), then fillers up to V tokens, no merges: a vocabulary llama.cpp accepts
 * (llama-bench refuses a file without one); the benchmark feeds token ids directly. */
static void add_tokenizer(rg_gguf_writer *w) {
    char **tok = xmalloc(sizeof(char *) * V);
    int32_t *type = xmalloc(sizeof(int32_t) * V);
    int shifted = 0;
    for (int b = 0; b < 256; b++) {
        int keep = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
        unsigned cp = keep ? (unsigned)b : 256u + (unsigned)shifted++;
        char u[3] = {0};
        if (cp < 0x80) u[0] = (char)cp;
        else u[0] = (char)(0xC0 | (cp >> 6)), u[1] = (char)(0x80 | (cp & 0x3F));
        tok[b] = xstrdup(u);
    }
    for (int i = 256; i < V; i++) {
        char f[24];
        snprintf(f, sizeof f, "<f%d>", i);
        tok[i] = xstrdup(f);
    }
    for (int i = 0; i < V; i++) type[i] = 1;     /* normal */
    rg_gguf_w_str(w, "tokenizer.ggml.model", "gpt2");
    rg_gguf_w_str(w, "tokenizer.ggml.pre", "qwen2");
    rg_gguf_w_str_arr(w, "tokenizer.ggml.tokens", (const char *const *)tok, V);
    rg_gguf_w_i32_arr(w, "tokenizer.ggml.token_type", type, V);
    rg_gguf_w_str_arr(w, "tokenizer.ggml.merges", NULL, 0);
    rg_gguf_w_u32(w, "tokenizer.ggml.eos_token_id", V - 1);
    for (int i = 0; i < V; i++) free(tok[i]);
    free(tok);
    free(type);
}

static int write_model(const char *path, int mix) {
    rg_gguf_writer *w = rg_gguf_writer_new();
    keep k = {0};
    rg_gguf_w_str(w, "general.architecture", "qwen2");
    char gname[64];
    snprintf(gname, sizeof gname, "bench-qwen2.5-0.5b-shape-%s", mix_name[mix]);
    rg_gguf_w_str(w, "general.name", gname);
    rg_gguf_w_u32(w, "qwen2.context_length", 32768);
    rg_gguf_w_u32(w, "qwen2.embedding_length", D);
    rg_gguf_w_u32(w, "qwen2.block_count", L);
    rg_gguf_w_u32(w, "qwen2.feed_forward_length", F);
    rg_gguf_w_u32(w, "qwen2.attention.head_count", H);
    rg_gguf_w_u32(w, "qwen2.attention.head_count_kv", KVH);
    rg_gguf_w_f32(w, "qwen2.rope.freq_base", 1000000.0f);
    rg_gguf_w_f32(w, "qwen2.attention.layer_norm_rms_epsilon", 1e-6f);
    add_tokenizer(w);
    add_matrix(w, &k, "token_embd.weight", D, V, mat_type(mix, "token_embd.weight", -1, D));
    for (int l = 0; l < L; l++) {
        char n[64];
#define M(nm, a, b) snprintf(n, sizeof n, "blk.%d." nm, l), add_matrix(w, &k, n, a, b, mat_type(mix, nm, l, a))
#define B(nm, len, base, j) snprintf(n, sizeof n, "blk.%d." nm, l), add_vec(w, &k, n, len, base, j)
        B("attn_norm.weight", D, 1, 0.1f);
        M("attn_q.weight", D, H * HD);
        B("attn_q.bias", H * HD, 0, 0.1f);
        M("attn_k.weight", D, KVH * HD);
        B("attn_k.bias", KVH * HD, 0, 0.1f);
        M("attn_v.weight", D, KVH * HD);
        B("attn_v.bias", KVH * HD, 0, 0.1f);
        M("attn_output.weight", H * HD, D);
        B("ffn_norm.weight", D, 1, 0.1f);
        M("ffn_gate.weight", D, F);
        M("ffn_up.weight", D, F);
        M("ffn_down.weight", F, D);
#undef M
#undef B
    }
    add_vec(w, &k, "output_norm.weight", D, 1, 0.1f);
    int rc = rg_gguf_writer_save(w, path);
    rg_gguf_writer_free(w);
    for (int i = 0; i < k.n; i++) free(k.bufs[i]);
    free(k.bufs);
    return rc;
}

/* --gemm: the int8 GEMM alone, one thread, on the model's products for 512 tokens (q, k, v
 * as one 1152-row matrix, output, gate and up as one, down), 8 copies of each weight matrix
 * used in turn so that weights come from memory; CPU time, best of reps. */
static int bench_gemm(int mix, int reps) {
    const int T = 512, shapes[4][2] = {{D, (H + 2 * KVH) * HD}, {H * HD, D}, {D, 2 * F}, {F, D}};   /* in, out */
    const char *names[4] = {"qkv", "output", "gate+up", "down"};
    const char *mats[4] = {"attn_q.weight", "attn_output.weight", "ffn_up.weight", "ffn_down.weight"};   /* layer 0's types */
    double tot_macs = 0, tot_s = 0;
    for (int k = 0; k < 4; k++) {
        int K = shapes[k][0], N = shapes[k][1], type = mat_type(mix, mats[k], 0, K);
        size_t rb = rg_type_row_bytes(type, K), wb = rb * (size_t)N;
        char *w = xmalloc(wb * 8);
        float *row = xmalloc(sizeof(float) * (size_t)K), *x = xmalloc(sizeof(float) * (size_t)T * K);
        for (int r = 0; r < N; r++) {
            for (int i = 0; i < K; i++) row[i] = frand() * 0.1f;
            quantize_row(type, row, w + (size_t)r * rb, K);
        }
        for (int c = 1; c < 8; c++) memcpy(w + (size_t)c * wb, w, wb);
        for (size_t i = 0; i < (size_t)T * K; i++) x[i] = frand();
        int8_t *q = xmalloc((size_t)T * K);
        float *d = xmalloc(sizeof(float) * (size_t)T * (K / 32)), *sm = xmalloc(sizeof(float) * (size_t)T * (K / 32));
        for (int t = 0; t < T; t++) rg_quantize_act(x + (size_t)t * K, K, q + (size_t)t * K, d + t * (K / 32), sm + t * (K / 32));
        float *y = xmalloc(sizeof(float) * (size_t)T * N);
        rg_qact a = {q, d, sm, T, K};
        double best = 1e30;
        for (int r = 0; r < 2 * reps + 2; r++) {
            double c0 = cpu_s();
            if (rg_qgemm(type, w + (size_t)(r % 8) * wb, rb, 0, N, &a, NULL, NULL, y, (size_t)N) < 0) { fprintf(stderr, "bench: %s\n", rg_errmsg()); return -1; }
            double dt = cpu_s() - c0;
            if (dt < best) best = dt;
        }
        double macs = (double)T * K * N;
        printf("gemm %-6s %-7s %-4s %4d x %5d, 512 tokens: %6.1f GMAC/s (one thread)\n", mix_name[mix], names[k], rg_type_get(type)->name,
               K, N, macs / best / 1e9);
        tot_macs += macs * L;
        tot_s += best * L;
        free(w); free(row); free(x); free(q); free(d); free(sm); free(y);
    }
    printf("gemm %-6s all products of a 512-token prompt (layer 0's types): %.1f GMAC/s on one thread (%.2f s of CPU)\n", mix_name[mix],
           tot_macs / tot_s / 1e9, tot_s);
    fflush(stdout);
    return 0;
}

static double load1(void) {
    double l[1] = {0};
    return getloadavg(l, 1) == 1 ? l[0] : -1;
}

static int do_pp = 1, do_tg = 1;     /* --only pp|tg (for profiling one phase) */

static int bench(const char *path, const char *label, int threads, int reps, double *pp_out, double *tg_out) {
    rg_llama_params lp = {.n_ctx = 1024, .n_threads = threads, .n_batch = 512};
    rg_llama *m = rg_llama_load(path, &lp);
    if (!m) { fprintf(stderr, "bench: %s\n", rg_errmsg()); return -1; }
    const rg_llama_info *I = rg_llama_get_info(m);
    int32_t *ids = xmalloc(sizeof(int32_t) * 512);
    for (int i = 0; i < 512; i++) ids[i] = (int32_t)(((unsigned)i * 2654435761u) % (unsigned)I->n_vocab);
    float *logits = xmalloc(sizeof(float) * (size_t)I->n_vocab);
    double best_pp = 0, best_tg = 0, best_pp_cpu = 0, best_tg_cpu = 0;
    for (int r = 0; r < reps; r++) {
        rg_llama_reset(m);
        double t0 = rg_now(), c0 = cpu_s();
        if (do_pp && rg_llama_eval(m, ids, 512, logits, 0) < 0) { fprintf(stderr, "bench: %s\n", rg_errmsg()); break; }
        double pp = 512 / (rg_now() - t0), pp_cpu = 512 / ((cpu_s() - c0) / threads);
        rg_llama_reset(m);
        t0 = rg_now();
        c0 = cpu_s();
        int32_t tok = ids[0];
        for (int i = 0; i < (do_tg ? 128 : 0); i++) {
            if (rg_llama_eval(m, &tok, 1, logits, 0) < 0) { fprintf(stderr, "bench: %s\n", rg_errmsg()); break; }
            int best = 0;
            for (int v = 1; v < I->n_vocab; v++) if (logits[v] > logits[best]) best = v;
            tok = best;
        }
        double tg = 128 / (rg_now() - t0), tg_cpu = 128 / ((cpu_s() - c0) / threads);
        if (pp > best_pp) best_pp = pp;
        if (tg > best_tg) best_tg = tg;
        if (pp_cpu > best_pp_cpu) best_pp_cpu = pp_cpu;
        if (tg_cpu > best_tg_cpu) best_tg_cpu = tg_cpu;
    }
    double macs = (double)I->n_layer * ((double)I->n_embd * (I->n_head + 2 * I->n_head_kv) * I->head_dim +
                                        (double)I->n_head * I->head_dim * I->n_embd + 3.0 * I->n_embd * I->n_ff);
    if (!do_pp) best_pp = best_pp_cpu = 0;        /* --only: the phase not run reads 0 */
    if (!do_tg) best_tg = best_tg_cpu = 0;
    printf("%-6s weights %-5s threads %d: pp512 %7.1f tok/s (%.1f GMAC/s)   tg128 %6.1f tok/s   peak RSS %ld MB"
           "   (per CPU-second/thread: pp %.1f, tg %.1f; load average %.1f)\n", label, I->weight_type, threads,
           best_pp, best_pp * macs / 1e9, best_tg, rg_peak_rss_kb() / 1024, best_pp_cpu, best_tg_cpu, load1());
    fflush(stdout);
    *pp_out = best_pp;
    *tg_out = best_tg;
    free(ids);
    free(logits);
    rg_llama_free(m);
    return 0;
}

/* s in single quotes for sh (each ' as '\''), or -1 when it does not fit in n bytes */
static int sh_quote(const char *s, char *out, size_t n) {
    size_t o = 0;
    if (n < 3) return -1;
    out[o++] = '\'';
    for (; *s; s++) {
        if (o + 5 >= n) return -1;
        if (*s == '\'') { memcpy(out + o, "'\\''", 4); o += 4; }
        else out[o++] = *s;
    }
    out[o++] = '\'';
    out[o] = 0;
    return 0;
}

/* The reference: llama-bench on the same file (one repetition, JSON output); its pp512 and
 * tg128 tokens/s in *pp, *tg (0 for a phase not run). 0, or -1 when it failed. */
static int ref_bench(const char *exe, const char *path, int threads, double *pp, double *tg) {
    char qe[1024], qp[1024], cmd[2200];
    *pp = *tg = 0;
    if (sh_quote(exe, qe, sizeof qe) < 0 || sh_quote(path, qp, sizeof qp) < 0) { fprintf(stderr, "bench: path too long\n"); return -1; }
    snprintf(cmd, sizeof cmd, "%s -m %s -t %d -p %d -n %d -r 1 -o json 2>/dev/null", qe, qp, threads, do_pp ? 512 : 0, do_tg ? 128 : 0);
    FILE *f = popen(cmd, "r");
    if (!f) { fprintf(stderr, "bench: cannot run %s\n", exe); return -1; }
    json_error_t jerr;
    json_t *runs = json_loadf(f, 0, &jerr);
    int st = pclose(f);
    if (!json_is_array(runs) || st != 0) {
        fprintf(stderr, "bench: %s gave no result on %s (exit status %d)\n", exe, path, st);
        json_decref(runs);
        return -1;
    }
    for (size_t i = 0; i < json_array_size(runs); i++) {
        json_t *r = json_array_get(runs, i);
        json_int_t np = json_integer_value(json_object_get(r, "n_prompt")), ng = json_integer_value(json_object_get(r, "n_gen"));
        double ts = json_number_value(json_object_get(r, "avg_ts"));
        if (np > 0 && ng == 0) *pp = ts;
        else if (ng > 0 && np == 0) *tg = ts;
    }
    json_decref(runs);
    return 0;
}

/* Our passes, each followed by the reference's when there is one (alternated, so that the
 * ratios hold on a shared machine whose speed drifts) */
static int bench_file(const char *path, const char *label, int threads, int reps, const char *ref) {
    double pp, tg, rpp, rtg;
    if (!ref) return bench(path, label, threads, reps, &pp, &tg);
    for (int r = 0; r < reps; r++) {
        if (bench(path, label, threads, 1, &pp, &tg) < 0 || ref_bench(ref, path, threads, &rpp, &rtg) < 0) return -1;
        printf("llama.cpp (llama-bench, same file)  pp512 %7.1f tok/s   tg128 %6.1f tok/s   ratio ragd/llama.cpp: pp %.2fx, tg %.2fx\n",
               rpp, rtg, rpp > 0 ? pp / rpp : 0, rtg > 0 ? tg / rtg : 0);
        fflush(stdout);
    }
    return 0;
}

int main(int argc, char **argv) {
    const char *type = "all", *model = NULL, *keep_dir = NULL, *ref = NULL;
    int threads = 2, reps = 2, gemm = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--type") && i + 1 < argc) type = argv[++i];
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--model") && i + 1 < argc) model = argv[++i];
        else if (!strcmp(argv[i], "--keep") && i + 1 < argc) keep_dir = argv[++i];
        else if (!strcmp(argv[i], "--only") && i + 1 < argc) { i++; do_pp = !strcmp(argv[i], "pp"); do_tg = !strcmp(argv[i], "tg"); }
        else if (!strcmp(argv[i], "--gemm")) gemm = 1;
        else if (!strcmp(argv[i], "--no-repack")) rg_llama_repack(0);
        else if (!strcmp(argv[i], "--llama-bench") && i + 1 < argc) ref = argv[++i];
        else {
            fprintf(stderr, "usage: %s [--type q8_0|q4_k|q4_k_m|all] [--threads N] [--reps N] [--keep DIR] [--model FILE.gguf] [--only pp|tg] [--gemm] [--no-repack] [--llama-bench PATH]\n", argv[0]);
            return 2;
        }
    }
    if (reps < 1) reps = 1;
    if (model) return bench_file(model, "file", threads, reps, ref) < 0;
    rg_quant_k_init();
    if (gemm) {
        for (int t = 0; t < NMIX; t++)
            if ((!strcmp(type, "all") || !strcmp(type, mix_name[t])) && bench_gemm(t, reps) < 0) return 1;
        return 0;
    }
    for (int t = 0; t < NMIX; t++) {
        if (strcmp(type, "all") && strcmp(type, mix_name[t])) continue;
        char path[128];
        if (keep_dir) snprintf(path, sizeof path, "%s/bench-qwen2-0.5b-%s.gguf", keep_dir, mix_name[t]);
        else snprintf(path, sizeof path, "/tmp/ragd-bench-gen-%d-%s.gguf", (int)getpid(), mix_name[t]);
        double t0 = rg_now();
        if (write_model(path, t) < 0) { fprintf(stderr, "bench: %s\n", rg_errmsg()); return 1; }
        fprintf(stderr, "wrote %s in %.1f s\n", path, rg_now() - t0);
        int rc = bench_file(path, mix_name[t], threads, reps, ref);
        if (!keep_dir) unlink(path);
        if (rc < 0) return 1;
    }
    return 0;
}
