/* generate/llama: see llama.h. One forward pass handles T tokens at positions pos..pos+T-1:
 * quantised weights meet int8 activations, through the int8 GEMM (nn/qgemm.h) for T > 1 and
 * a row-parallel matrix-vector product for T = 1 (where reading each weight once is what
 * bounds the speed), other types through rg_matmul; rows go to threads in units from a
 * shared counter. Attention runs (4 tokens, KV group, up to 4 heads) tasks on the pool
 * against the f32 KV cache, whose keys are stored transposed in blocks of 16 positions so
 * that scores come 8 positions at a time; per-token work (norms, rotary embedding, cache
 * writes, quantisation, SwiGLU) is split by rows over the pool too; a row's RMS norm or SwiGLU
 * is quantised for the next product as soon as it is made, in the same pass. Q4_0 matrices
 * are repacked in place at load with 8 rows interleaved (nn/q4_0x8.h), which generation's
 * matrix-vector product reads with a third of the vector work of the file's layout. */
#include "generate/llama.h"
#include "core/util.h"
#include "nn/gguf.h"
#include "nn/kernels.h"
#include "nn/pool.h"
#include "nn/q4_0x8.h"
#include "nn/qgemm.h"
#include "nn/quant_k.h"
#include "nn/simd_avx2.h"
#include "nn/tensor.h"
#include <immintrin.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAX_EMBD 16384
#define MAX_LAYERS 512
#define MAX_HEADS 256
#define MAX_FF 131072
#define MAX_VOCAB (1 << 21)
#define MAX_CTX 131072
#define ATT_HEADS 4            /* query heads of one KV group scored together */
/* The key cache of one (layer, KV head) is transposed in blocks of KBLK positions: block j
 * holds [head_dim][KBLK] floats for positions j*KBLK.. . Scores read KBLK positions of
 * every dimension contiguously; a plain [head_dim][n_ctx] transpose put the 64 dimension
 * rows n_ctx * 4 bytes apart (4 KB for 1024 positions), all in one L1 set, which thrashed. */
#define KBLK 16
#define ATT_TOK 4              /* query tokens of a prompt per attention task */
#define ATT_PBLK 64            /* key/value positions per block (16 KB each at head size 64) */
static inline size_t kidx(int hd, int i, int s) { return ((size_t)(s / KBLK) * (size_t)hd + (size_t)i) * KBLK + (size_t)(s % KBLK); }

typedef struct {
    const void *data;
    int type;
    int64_t ne0, ne1;          /* in, out */
    size_t row_bytes;
    const rg_type_traits *tr;
    const rg_gguf_tensor *t;
    int x8;                    /* Q4_0 repacked in place with 8 rows interleaved (nn/q4_0x8.h) */
} wt;

typedef struct {
    wt wq, wk, wv, wo, wg, wu, wd;
    float *attn_norm, *ffn_norm, *bq, *bk, *bv;
} layer;

struct rg_llama {
    char *path;
    rg_gguf *g;
    rg_llama_info info;
    char arch[16], wtype[16];
    int neox;                  /* qwen2: half-split rotary pairs */
    wt tok_embd, output;
    float *out_norm;
    layer *L;
    float *kc;                 /* keys transposed in blocks of KBLK positions: see kidx */
    float *vc;                 /* values: [layer][ctx][kv_dim] */
    int pos, n_batch, qdim, kvdim, exact;
    int kctx;                  /* n_ctx rounded up to KBLK: positions per (layer, KV head) of kc */
    int8_t *xq;                /* int8 activations for the matrix-vector path */
    float *xd, *xs;
    float *inv_freq;
    rg_pool *pool;
    int impl;
    float *x, *xb, *q, *k, *v, *att, *hb, *hb2, *scores, *cs, *sn;
    rg_bpe *tok;
    int32_t eog[8];
    int neog;
};

/* ---------------- small vector helpers (AVX2 when present) ---------------- */

#define AVX2 RG_AVX2
static int have_avx2, simd_off, repack_off;
void rg_llama_simd(int on) { simd_off = !on; }
void rg_llama_repack(int on) { repack_off = !on; }

AVX2 static void axpy_avx2(float a, const float *x, float *y, int n) {
    __m256 va = _mm256_set1_ps(a);
    int i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
    for (; i < n; i++) y[i] += a * x[i];
}
/* p[i] = e^(p[i] - mx); returns the sum. */
AVX2 static double exp_sum_avx2(float *p, int n, float mx) {
    __m256 z = _mm256_setzero_ps(), m = _mm256_set1_ps(mx);
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 e = rg_exp8_avx2(_mm256_sub_ps(_mm256_loadu_ps(p + i), m));
        _mm256_storeu_ps(p + i, e);
        z = _mm256_add_ps(z, e);
    }
    float zl[8];
    _mm256_storeu_ps(zl, z);
    double t = 0;
    for (int k = 0; k < 8; k++) t += zl[k];
    for (; i < n; i++) { p[i] = expf(p[i] - mx); t += p[i]; }
    return t;
}
/* max of p[0..n), n >= 1 */
AVX2 static float max_avx2(const float *p, int n) {
    float mx = p[0];
    int i = 0;
    if (n >= 8) {
        __m256 v = _mm256_loadu_ps(p);
        for (i = 8; i + 8 <= n; i += 8) v = _mm256_max_ps(v, _mm256_loadu_ps(p + i));
        float l[8];
        _mm256_storeu_ps(l, v);
        for (int k = 0; k < 8; k++) if (l[k] > mx) mx = l[k];
    }
    for (; i < n; i++) if (p[i] > mx) mx = p[i];
    return mx;
}
/* g[i] = silu(g[i]) * u[i] */
AVX2 static void swiglu_avx2(float *g, const float *u, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 x = _mm256_loadu_ps(g + i);
        __m256 d = _mm256_add_ps(_mm256_set1_ps(1.0f), rg_exp8_avx2(_mm256_sub_ps(_mm256_setzero_ps(), x)));
        _mm256_storeu_ps(g + i, _mm256_div_ps(_mm256_mul_ps(x, _mm256_loadu_ps(u + i)), d));
    }
    for (; i < n; i++) g[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
}
static void vaxpy(float a, const float *x, float *y, int n) {
    if (have_avx2) { axpy_avx2(a, x, y, n); return; }
    for (int i = 0; i < n; i++) y[i] += a * x[i];
}

/* sum of x[i]^2 in double, 8 lanes (the scalar loop does not vectorise: ordered adds) */
AVX2 static double sumsq_avx2(const float *x, int n) {
    __m256d a = _mm256_setzero_pd(), b = _mm256_setzero_pd();
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256d lo = _mm256_cvtps_pd(_mm_loadu_ps(x + i)), hi = _mm256_cvtps_pd(_mm_loadu_ps(x + i + 4));
        a = _mm256_fmadd_pd(lo, lo, a);
        b = _mm256_fmadd_pd(hi, hi, b);
    }
    double l[4];
    _mm256_storeu_pd(l, _mm256_add_pd(a, b));
    double ss = (l[0] + l[1]) + (l[2] + l[3]);
    for (; i < n; i++) ss += (double)x[i] * x[i];
    return ss;
}

static void rmsnorm(float *out, const float *x, const float *w, int n, float eps) {
    double ss = 0;
    if (have_avx2) ss = sumsq_avx2(x, n);
    else for (int i = 0; i < n; i++) ss += (double)x[i] * x[i];
    float inv = (float)(1.0 / sqrt(ss / n + eps));
    for (int i = 0; i < n; i++) out[i] = x[i] * inv * w[i];
}

/* ---------------- loading ---------------- */

static int get_w(rg_llama *m, const char *name, int64_t ne0, int64_t ne1, wt *w) {
    const rg_gguf_tensor *t = rg_gguf_tensor_find(m->g, name);
    if (!t) { rg_err("%s: tensor %s missing", m->path, name); return -1; }
    if (t->ne[0] != ne0 || t->ne[1] != ne1 || t->ne[2] != 1 || t->ne[3] != 1) {
        rg_err("%s: tensor %s has shape [%lld, %lld], expected [%lld, %lld]", m->path, name,
               (long long)t->ne[0], (long long)t->ne[1], (long long)ne0, (long long)ne1);
        return -1;
    }
    const rg_type_traits *tr = rg_type_get(t->type);
    size_t rb = tr ? rg_type_row_bytes(t->type, ne0) : 0;
    if (!tr || !rb) { rg_err("%s: tensor %s has unsupported type %d for rows of %lld", m->path, name, t->type, (long long)ne0); return -1; }
    if (t->nbytes < rb * (size_t)ne1) { rg_err("%s: tensor %s is truncated", m->path, name); return -1; }
    *w = (wt){t->data, t->type, ne0, ne1, rb, tr, t, 0};
    return 0;
}

/* A Q4_0 matrix with rows in octs of 8 goes to the interleaved layout, in place (nn/q4_0x8.h):
 * generation's matrix-vector product then does a third of the vector work per weight. When
 * the model's memory cannot be written the file's layout stays (both work). */
static void repack_q4_0(rg_llama *m, wt *w) {
    if (w->type != RG_TYPE_Q4_0 || w->ne1 % 8 || w->ne0 % 32) return;
    void *data = rg_gguf_tensor_data_mut(m->g, w->t);
    if (data && rg_q4x8_repack(data, w->row_bytes, w->ne1, w->ne0) == 0) w->x8 = 1;
}

/* A 1-D tensor of n values as an owned f32 copy; NULL with rg_err when missing or wrong. */
static float *get_vec(rg_llama *m, const char *name, int64_t n, int required) {
    const rg_gguf_tensor *t = rg_gguf_tensor_find(m->g, name);
    if (!t) { if (required) rg_err("%s: tensor %s missing", m->path, name); return NULL; }
    const rg_type_traits *tr = rg_type_get(t->type);
    if (t->nelem != n || !tr || n % tr->blck || t->nbytes < rg_type_row_bytes(t->type, n)) {
        rg_err("%s: tensor %s has %lld values (expected %lld) or an unsupported type", m->path, name,
               (long long)t->nelem, (long long)n);
        return NULL;
    }
    float *v = xmalloc(sizeof(float) * (size_t)n);
    tr->to_float(t->data, v, n);
    return v;
}

static int get_u(rg_llama *m, const char *key, int64_t lo, int64_t hi, int64_t dflt, int required, int *out) {
    char full[128];
    snprintf(full, sizeof full, "%s.%s", m->arch, key);
    int64_t v;
    if (rg_gguf_get_int(m->g, full, &v) < 0) {
        if (required) { rg_err("%s: metadata %s missing", m->path, full); return -1; }
        v = dflt;
    }
    if (v < lo || v > hi) { rg_err("%s: metadata %s = %lld out of range [%lld, %lld]", m->path, full, (long long)v, (long long)lo, (long long)hi); return -1; }
    *out = (int)v;
    return 0;
}

static rg_bpe *load_tokenizer(rg_llama *m) {
    char *model = rg_gguf_get_strdup(m->g, "tokenizer.ggml.model");
    if (!model) return NULL;
    int spm = !strcmp(model, "llama");
    if (!spm && strcmp(model, "gpt2") != 0) {
        fprintf(stderr, "ragd: %s: tokenizer model \"%s\" not supported (gpt2 BPE, llama SentencePiece); token ids only\n", m->path, model);
        free(model);
        return NULL;
    }
    free(model);
    size_t nt = 0, nm = 0, ntt = 0, nsc = 0;
    const rg_gguf_str *toks = NULL, *merges = NULL;
    const void *tt = NULL, *sc = NULL;
    int ttype = -1, sctype = -1;
    if (rg_gguf_get_str_arr(m->g, "tokenizer.ggml.tokens", &nt, &toks) < 0 || nt == 0 || nt > MAX_VOCAB) {
        fprintf(stderr, "ragd: %s: tokenizer.ggml.tokens missing or empty; token ids only\n", m->path);
        return NULL;
    }
    if (spm || rg_gguf_get_str_arr(m->g, "tokenizer.ggml.merges", &nm, &merges) < 0) nm = 0;
    if (rg_gguf_get_arr(m->g, "tokenizer.ggml.token_type", &ttype, &ntt, &tt) < 0 || ntt != nt) tt = NULL;
    if (rg_gguf_get_arr(m->g, "tokenizer.ggml.scores", &sctype, &nsc, &sc) < 0 || nsc != nt || sctype != RG_GGUF_F32) sc = NULL;
    char **ts = xmalloc(sizeof(char *) * nt), **ms = xmalloc(sizeof(char *) * (nm + 1));
    int32_t *types = tt ? xmalloc(sizeof(int32_t) * nt) : NULL;
    float *scores = sc ? xmalloc(sizeof(float) * nt) : NULL;
    if (scores) memcpy(scores, sc, sizeof(float) * nt);     /* little-endian f32, as GGUF stores them */
    for (size_t i = 0; i < nt; i++) {
        ts[i] = xstrndup(toks[i].p, toks[i].len);
        if (types) {
            int64_t v = RG_TOK_NORMAL;
            rg_gguf_arr_int(ttype, tt, i, &v);
            types[i] = (int32_t)v;
        }
    }
    for (size_t i = 0; i < nm; i++) ms[i] = xstrndup(merges[i].p, merges[i].len);
    rg_bpe *t;
    if (spm) {
        int64_t asp = 1;
        rg_gguf_get_int(m->g, "tokenizer.ggml.add_space_prefix", &asp);
        t = rg_bpe_new_spm((const char *const *)ts, (int)nt, scores, types, asp != 0);
    } else {
        char *pre = rg_gguf_get_strdup(m->g, "tokenizer.ggml.pre");
        rg_bpe_pre fam;
        if (rg_bpe_pre_from_name(pre, &fam) < 0 && pre)
            fprintf(stderr, "ragd: %s: pre-tokenizer \"%s\" unknown, using GPT-2's\n", m->path, pre);
        t = rg_bpe_new((const char *const *)ts, (int)nt, (const char *const *)ms, (int)nm, types, fam, fam == RG_PRE_QWEN2);
        free(pre);
    }
    for (size_t i = 0; i < nt; i++) free(ts[i]);
    for (size_t i = 0; i < nm; i++) free(ms[i]);
    free(ts); free(ms); free(types); free(scores);
    return t;
}

static void add_eog(rg_llama *m, int32_t id) {
    if (id < 0 || id >= m->info.n_vocab || m->neog >= 8) return;
    for (int i = 0; i < m->neog; i++) if (m->eog[i] == id) return;
    m->eog[m->neog++] = id;
}

void rg_llama_free(rg_llama *m) {
    if (!m) return;
    if (m->L) {
        for (int l = 0; l < m->info.n_layer; l++) {
            layer *L = &m->L[l];
            free(L->attn_norm); free(L->ffn_norm); free(L->bq); free(L->bk); free(L->bv);
        }
    }
    free(m->L);
    free(m->out_norm);
    free(m->kc); free(m->vc);
    free(m->inv_freq);
    free(m->x); free(m->xb); free(m->q); free(m->k); free(m->v); free(m->att);
    free(m->hb); free(m->hb2); free(m->scores); free(m->cs); free(m->sn);
    free(m->xq); free(m->xd); free(m->xs);
    rg_pool_free(m->pool);
    rg_bpe_free(m->tok);
    rg_gguf_close(m->g);
    free(m->path);
    free(m);
}

rg_llama *rg_llama_load(const char *path, const rg_llama_params *pp) {
    rg_llama_params p = pp ? *pp : (rg_llama_params){0};
    rg_type_get(RG_TYPE_F32);            /* table ready (registers the quant_k types) */
    have_avx2 = !simd_off && (rg_quant_k_avx2() || rg_kernels_impl() == RG_IMPL_AVX2);
    rg_llama *m = xcalloc(1, sizeof *m);
    m->path = xstrdup(path);
    m->g = rg_gguf_open_resident(path);   /* every weight is read per token: 2 MB pages */
    if (!m->g) { rg_llama_free(m); return NULL; }
    rg_gguf_str a;
    if (rg_gguf_get_str(m->g, "general.architecture", &a) < 0) { rg_err("%s: general.architecture missing", path); goto fail; }
    if (!(a.len == 5 && !memcmp(a.p, "llama", 5)) && !(a.len == 5 && !memcmp(a.p, "qwen2", 5))) {
        rg_err("%s: architecture \"%.*s\" not supported (llama, qwen2)", path, (int)(a.len < 40 ? a.len : 40), a.p);
        goto fail;
    }
    memcpy(m->arch, a.p, 5);
    m->neox = !strcmp(m->arch, "qwen2");
    rg_llama_info *I = &m->info;
    I->arch = m->arch;
    if (get_u(m, "embedding_length", 1, MAX_EMBD, 0, 1, &I->n_embd) < 0 ||
        get_u(m, "block_count", 1, MAX_LAYERS, 0, 1, &I->n_layer) < 0 ||
        get_u(m, "feed_forward_length", 1, MAX_FF, 0, 1, &I->n_ff) < 0 ||
        get_u(m, "attention.head_count", 1, MAX_HEADS, 0, 1, &I->n_head) < 0 ||
        get_u(m, "attention.head_count_kv", 1, MAX_HEADS, I->n_head, 0, &I->n_head_kv) < 0 ||
        get_u(m, "context_length", 1, 1 << 24, 4096, 0, &I->n_ctx_train) < 0)
        goto fail;
    if (I->n_head % I->n_head_kv) { rg_err("%s: %d heads not a multiple of %d KV heads", path, I->n_head, I->n_head_kv); goto fail; }
    if (get_u(m, "attention.key_length", 2, 1024, I->n_embd / I->n_head, 0, &I->head_dim) < 0) goto fail;
    if (I->head_dim % 2) { rg_err("%s: odd head size %d", path, I->head_dim); goto fail; }
    if (get_u(m, "rope.dimension_count", 2, I->head_dim, I->head_dim, 0, &I->n_rot) < 0) goto fail;
    I->n_rot &= ~1;
    char key[128];
    double dv;
    snprintf(key, sizeof key, "%s.rope.freq_base", m->arch);
    I->rope_base = rg_gguf_get_float(m->g, key, &dv) == 0 && dv > 0 && dv < 1e12 ? (float)dv : 10000.0f;
    snprintf(key, sizeof key, "%s.attention.layer_norm_rms_epsilon", m->arch);
    I->rms_eps = rg_gguf_get_float(m->g, key, &dv) == 0 && dv > 0 && dv < 1 ? (float)dv : 1e-6f;
    double rope_scale = 1;
    snprintf(key, sizeof key, "%s.rope.scaling.type", m->arch);
    char *stype = rg_gguf_get_strdup(m->g, key);
    snprintf(key, sizeof key, "%s.rope.scaling.factor", m->arch);
    if (stype && !strcmp(stype, "linear") && rg_gguf_get_float(m->g, key, &dv) == 0 && dv >= 1 && dv < 1024) rope_scale = dv;
    free(stype);

    int D = I->n_embd, H = I->n_head, KV = I->n_head_kv, hd = I->head_dim, F = I->n_ff;
    m->qdim = H * hd;
    m->kvdim = KV * hd;
    const rg_gguf_tensor *te = rg_gguf_tensor_find(m->g, "token_embd.weight");
    if (!te || te->ne[1] < 1 || te->ne[1] > MAX_VOCAB) { rg_err("%s: token_embd.weight missing or bad", path); goto fail; }
    I->n_vocab = (int)te->ne[1];
    if (get_w(m, "token_embd.weight", D, I->n_vocab, &m->tok_embd) < 0) goto fail;
    if (rg_gguf_tensor_find(m->g, "output.weight")) {
        if (get_w(m, "output.weight", D, I->n_vocab, &m->output) < 0) goto fail;
    } else m->output = m->tok_embd;        /* tied embeddings */
    if (!(m->out_norm = get_vec(m, "output_norm.weight", D, 1))) goto fail;
    m->L = xcalloc((size_t)I->n_layer, sizeof(layer));
    for (int l = 0; l < I->n_layer; l++) {
        layer *L = &m->L[l];
        char n[96];
#define W(field, nm, a0, a1) do { snprintf(n, sizeof n, "blk.%d." nm ".weight", l); if (get_w(m, n, a0, a1, &L->field) < 0) goto fail; } while (0)
#define V(field, nm, len, req) do { snprintf(n, sizeof n, "blk.%d." nm, l); L->field = get_vec(m, n, len, req); \
        if (!L->field && (req || rg_gguf_tensor_find(m->g, n))) goto fail; } while (0)
        W(wq, "attn_q", D, m->qdim);
        W(wk, "attn_k", D, m->kvdim);
        W(wv, "attn_v", D, m->kvdim);
        W(wo, "attn_output", m->qdim, D);
        W(wg, "ffn_gate", D, F);
        W(wu, "ffn_up", D, F);
        W(wd, "ffn_down", F, D);
        V(attn_norm, "attn_norm.weight", D, 1);
        V(ffn_norm, "ffn_norm.weight", D, 1);
        V(bq, "attn_q.bias", m->qdim, 0);
        V(bk, "attn_k.bias", m->kvdim, 0);
        V(bv, "attn_v.bias", m->kvdim, 0);
#undef W
#undef V
    }
    if (!p.exact && !repack_off && rg_qgemm_blocked(RG_TYPE_Q4_0)) {
        for (int l = 0; l < I->n_layer; l++) {
            layer *L = &m->L[l];
            wt *ws[] = {&L->wq, &L->wk, &L->wv, &L->wo, &L->wg, &L->wu, &L->wd};
            for (int j = 0; j < 7; j++) repack_q4_0(m, ws[j]);
        }
        repack_q4_0(m, &m->tok_embd);
        if (m->output.data == m->tok_embd.data) m->output.x8 = m->tok_embd.x8;   /* tied */
        else repack_q4_0(m, &m->output);
        rg_gguf_data_seal(m->g);       /* read-only again: a stray write faults */
    }
    snprintf(m->wtype, sizeof m->wtype, "%s", m->L[0].wq.tr->name);
    I->weight_type = m->wtype;

    /* rotary frequencies (Llama-3.1 files may carry per-pair divisors in rope_freqs) */
    m->inv_freq = xmalloc(sizeof(float) * (size_t)(I->n_rot / 2));
    float *ff = rg_gguf_tensor_find(m->g, "rope_freqs.weight") ? get_vec(m, "rope_freqs.weight", I->n_rot / 2, 1) : NULL;
    for (int i = 0; i < I->n_rot / 2; i++) {
        double f = pow((double)I->rope_base, -2.0 * i / I->n_rot) / rope_scale;
        if (ff && ff[i] > 0) f /= ff[i];
        m->inv_freq[i] = (float)f;
    }
    free(ff);

    I->n_ctx = p.n_ctx > 0 ? p.n_ctx : (I->n_ctx_train < 4096 ? I->n_ctx_train : 4096);
    if (I->n_ctx > MAX_CTX) I->n_ctx = MAX_CTX;
    m->n_batch = p.n_batch > 0 ? p.n_batch : 256;
    if (m->n_batch > I->n_ctx) m->n_batch = I->n_ctx;
    if (m->qdim > 4 * MAX_EMBD || m->kvdim > m->qdim) { rg_err("%s: %d heads of %d values do not fit", path, H, hd); goto fail; }
    size_t kvn = (size_t)I->n_layer * (size_t)I->n_ctx * (size_t)m->kvdim;
    m->kctx = (I->n_ctx + KBLK - 1) / KBLK * KBLK;
    I->kv_bytes = kvn * sizeof(float) * 2;
    /* a hostile header must not make us allocate what the machine does not have */
    double scratch = (double)m->n_batch * (4.0 * D + 3.0 * m->qdim + 2.0 * m->kvdim + 2.0 * F) * sizeof(float);
    if ((double)I->kv_bytes + scratch > 32e9) {
        rg_err("%s: context of %d tokens needs %.1f GB of cache; use a smaller context", path, I->n_ctx,
               ((double)I->kv_bytes + scratch) / 1e9);
        goto fail;
    }
    /* zeroed: scoring reads whole groups of 8 keys, some past the last position written */
    m->kc = xcalloc((size_t)I->n_layer * (size_t)m->kctx * (size_t)m->kvdim, sizeof(float));
    m->vc = xmalloc(kvn * sizeof(float));
    size_t B = (size_t)m->n_batch;
    m->x = xmalloc(sizeof(float) * B * (size_t)D);
    m->xb = xmalloc(sizeof(float) * B * (size_t)(D > m->qdim ? D : m->qdim));
    m->q = xmalloc(sizeof(float) * B * (size_t)m->qdim);
    m->k = xmalloc(sizeof(float) * B * (size_t)m->kvdim);
    m->v = xmalloc(sizeof(float) * B * (size_t)m->kvdim);
    m->att = xmalloc(sizeof(float) * B * (size_t)m->qdim);
    m->hb = xmalloc(sizeof(float) * B * (size_t)F);
    m->hb2 = xmalloc(sizeof(float) * B * (size_t)F);
    int kmax = D > m->qdim ? D : m->qdim;
    if (F > kmax) kmax = F;
    m->xq = xmalloc(B * (size_t)kmax);
    m->xd = xmalloc(sizeof(float) * B * (size_t)(kmax / 32 + 1));
    m->xs = xmalloc(sizeof(float) * B * (size_t)(kmax / 32 + 1));
    m->exact = p.exact;
    m->cs = xmalloc(sizeof(float) * B * (size_t)(I->n_rot / 2 + 1));   /* per batch row: see rope_tables */
    m->sn = xmalloc(sizeof(float) * B * (size_t)(I->n_rot / 2 + 1));
    m->pool = rg_pool_new(p.n_threads);
    m->scores = xmalloc(sizeof(float) * ATT_TOK * ATT_HEADS * (size_t)rg_pool_size(m->pool) * (size_t)I->n_ctx);
    m->impl = rg_kernels_impl();

    /* tokenizer and special ids */
    int64_t v;
    I->bos = rg_gguf_get_int(m->g, "tokenizer.ggml.bos_token_id", &v) == 0 && v >= 0 && v < I->n_vocab ? (int32_t)v : -1;
    I->eos = rg_gguf_get_int(m->g, "tokenizer.ggml.eos_token_id", &v) == 0 && v >= 0 && v < I->n_vocab ? (int32_t)v : -1;
    I->add_bos = rg_gguf_get_int(m->g, "tokenizer.ggml.add_bos_token", &v) == 0 ? v != 0 : !strcmp(m->arch, "llama");
    if (I->bos < 0) I->add_bos = 0;
    add_eog(m, I->eos);
    if (rg_gguf_get_int(m->g, "tokenizer.ggml.eot_token_id", &v) == 0) add_eog(m, (int32_t)v);
    char *tmpl = rg_gguf_get_strdup(m->g, "tokenizer.chat_template");
    I->chat = rg_chat_detect(tmpl);
    free(tmpl);
    m->tok = load_tokenizer(m);
    if (m->tok) {
        if (rg_bpe_vocab_size(m->tok) > I->n_vocab) { rg_err("%s: tokenizer has more tokens than the model", path); goto fail; }
        const char *marks[] = {"<|im_end|>", "<|eot_id|>", "<|endoftext|>", "<|end_of_text|>", "<|eom_id|>", "</s>"};
        for (int i = 0; i < 6; i++) {
            int32_t id = rg_bpe_find(m->tok, marks[i]);
            if (id >= 0 && rg_bpe_is_special(m->tok, id)) add_eog(m, id);
        }
    }
    return m;
fail:
    rg_llama_free(m);
    return NULL;
}

const rg_llama_info *rg_llama_get_info(const rg_llama *m) { return &m->info; }
const rg_bpe *rg_llama_tokenizer(const rg_llama *m) { return m->tok; }
int rg_llama_is_eog(const rg_llama *m, int32_t id) {
    for (int i = 0; i < m->neog; i++) if (m->eog[i] == id) return 1;
    return 0;
}
int rg_llama_pos(const rg_llama *m) { return m->pos; }
void rg_llama_reset(rg_llama *m) { m->pos = 0; }
int rg_llama_rewind(rg_llama *m, int pos) {
    if (pos < 0 || pos > m->pos) { rg_err("decoder: cannot rewind to %d (at %d)", pos, m->pos); return -1; }
    m->pos = pos;
    return 0;
}

/* ---------------- forward pass ---------------- */

typedef struct {
    const wt *w;
    const float *x, *bias, *resid;
    float *y;
    int T;
    rg_dot_q8_fn q8;           /* int8-activation dot, or NULL for the f32 dot */
    int qgemm;                 /* int8 activations and T > 1: the int8 GEMM (nn/qgemm.h) */
    const int8_t *xq;          /* T rows of K int8 activations, K/32 scales and sums each */
    const float *xd, *xs;
    int next;                  /* T = 1, int8, or qgemm: the next chunk of rows to take (atomic) */
} mv_ctx;

static inline void mv_store(const mv_ctx *c, int t, int64_t r, float v) {
    size_t o = (size_t)t * (size_t)c->w->ne1 + (size_t)r;
    if (c->bias) v += c->bias[r];
    if (c->resid) v += c->resid[o];
    c->y[o] = v;
}

/* One token, int8 activations (generation): threads take chunks of about 64 KB of rows from a
 * shared counter, so a thread that gets less CPU (a busy machine) leaves rows to the other,
 * and the two stream neighbouring parts of the matrix. Each chunk is one rg_matvec_q8 call
 * (rows read in order, prefetched ahead); bias and residual are added as mv_store does. */
#define MV_CHUNK_ROWS_MAX 256
static void mv_token(mv_ctx *c) {
    int64_t N = c->w->ne1, K = c->w->ne0;
    size_t rb = c->w->row_bytes;
    int64_t chunk = (int64_t)(65536 / rb) / 16 * 16;   /* whole 64-byte lines of y per thread */
    if (chunk < 16) chunk = 16;
    if (chunk > MV_CHUNK_ROWS_MAX) chunk = MV_CHUNK_ROWS_MAX;
    rg_matvec_q8_fn mv = rg_matvec_q8_for(c->w->type);
    const int x8 = c->w->x8;
    float tmp[MV_CHUNK_ROWS_MAX];      /* resid may alias y: each y[r] reads its resid first */
    for (;;) {
        int64_t r0 = (int64_t)__atomic_fetch_add(&c->next, 1, __ATOMIC_RELAXED) * chunk;
        if (r0 >= N) return;
        int64_t n = N - r0 < chunk ? N - r0 : chunk;
        /* nothing to add (most products): the kernel writes y itself */
        float *out = c->bias || c->resid ? tmp : c->y + r0;
        if (x8) rg_q4x8_matvec(c->w->data, rb, r0, r0 + n, c->xq, c->xd, K, out);   /* chunks: whole octs */
        else mv((const char *)c->w->data + (size_t)r0 * rb, rb, n, c->xq, c->xd, c->xs, K, out);
        if (out == tmp) for (int64_t i = 0; i < n; i++) mv_store(c, 0, r0 + i, tmp[i]);
    }
}

/* Rows per unit a thread takes in a batch: a multiple of the GEMM's groups of 16 rows; each
 * unit streams all the batch's activations again, so not much smaller (64 rows of 4864
 * columns x 512 tokens is about 1.3 ms of work). */
#define QG_UNIT 64
/* Thread ti's share of the rows (groups of 4), for every token: the int8 GEMM for batches,
 * else one dot per (row, token). */
static void mv_worker(void *arg, int ti, int nt) {
    mv_ctx *c = arg;
    if (c->T == 1 && c->q8 && !c->qgemm && rg_matvec_q8_for(c->w->type)) { mv_token(c); return; }
    int64_t N = c->w->ne1, K = c->w->ne0, groups = (N + 3) / 4;
    int64_t r0 = groups * ti / nt * 4, r1 = groups * (ti + 1) / nt * 4;
    if (r1 > N) r1 = N;
    const char *base = c->w->data;
    size_t rb = c->w->row_bytes;
    int64_t nb = K / 32;
    if (c->qgemm) {            /* units of QG_UNIT rows from the shared counter, as mv_token */
        rg_qact a = {c->xq, c->xd, c->xs, c->T, K};
        for (;;) {
            int64_t u0 = (int64_t)__atomic_fetch_add(&c->next, 1, __ATOMIC_RELAXED) * QG_UNIT;
            if (u0 >= N) return;
            int64_t u1 = N - u0 < QG_UNIT ? N : u0 + QG_UNIT;
            if (c->w->x8) rg_qgemm_q4x8(base, rb, u0, u1, &a, c->bias, c->resid, c->y, (size_t)N);
            else rg_qgemm(c->w->type, base, rb, u0, u1, &a, c->bias, c->resid, c->y, (size_t)N);
        }
    }
    for (int64_t r = r0; r < r1; r++)
        for (int t = 0; t < c->T; t++) {
            const char *row = base + (size_t)r * rb;
            float v;
            if (c->w->x8)              /* a single token with f32 activations (group mixing types) */
                v = c->q8 ? rg_q4x8_dot_scalar(base, rb, r, c->xq + (size_t)t * K, c->xd + (size_t)t * nb, K)
                          : rg_q4x8_dot_f32(base, rb, r, c->x + (size_t)t * K, K);
            else v = c->q8 ? c->q8(row, c->xq + (size_t)t * K, c->xd + (size_t)t * nb, c->xs + (size_t)t * nb, K)
                           : c->w->tr->dot(row, c->x + (size_t)t * K, K);
            mv_store(c, t, r, v);
        }
}

/* Per-token work of a batch (activation quantisation, SwiGLU) spread over the pool: in a
 * prompt it would otherwise run on one thread while the others wait. A single token stays
 * inline (a pool dispatch costs more than the work). */
typedef struct { rg_llama *m; const float *X; int T; int64_t K; } rows_ctx;
static void quant_rows(rg_llama *m, const float *X, int t0, int t1, int64_t K) {
    int64_t nb = K / 32;
    for (int t = t0; t < t1; t++)
        rg_quantize_act(X + (size_t)t * K, K, m->xq + (size_t)t * K, m->xd + (size_t)t * nb, m->xs + (size_t)t * nb);
}
static void quant_worker(void *arg, int ti, int nt) {
    rows_ctx *c = arg;
    quant_rows(c->m, c->X, (int)((int64_t)c->T * ti / nt), (int)((int64_t)c->T * (ti + 1) / nt), c->K);
}
static void quantize_batch(rg_llama *m, const float *X, int T, int64_t K) {
    rows_ctx c = {m, X, T, K};
    if (T >= 4) rg_pool_run(m->pool, quant_worker, &c);
    else quant_rows(m, X, 0, T, K);
}
static void swiglu_rows(rg_llama *m, int t0, int t1) {
    size_t F = (size_t)m->info.n_ff;
    if (have_avx2) { swiglu_avx2(m->hb + (size_t)t0 * F, m->hb2 + (size_t)t0 * F, (size_t)(t1 - t0) * F); return; }
    for (size_t i = (size_t)t0 * F; i < (size_t)t1 * F; i++) {
        float g = m->hb[i];
        m->hb[i] = g / (1.0f + expf(-g)) * m->hb2[i];
    }
}
/* SwiGLU of rows, each quantised for ffn_down right after (c->K != 0: the product takes int8
 * activations) while it is in L1: the quantiser otherwise re-read the whole T x n_ff batch
 * from L3 in a pool dispatch of its own */
static void swiglu_quant_rows(const rows_ctx *c, int t0, int t1) {
    if (!c->K) { swiglu_rows(c->m, t0, t1); return; }
    for (int t = t0; t < t1; t++) {
        swiglu_rows(c->m, t, t + 1);
        quant_rows(c->m, c->m->hb, t, t + 1, c->K);
    }
}
static void swiglu_worker(void *arg, int ti, int nt) {
    rows_ctx *c = arg;
    swiglu_quant_rows(c, (int)((int64_t)c->T * ti / nt), (int)((int64_t)c->T * (ti + 1) / nt));
}

/* 1 when the products of one input all take int8 activations (quantised weights with an
 * int8 kernel, one width, not exact mode): the input is then quantised once, up front */
static int int8_group(const rg_llama *m, int n, const wt *const *w) {
    int int8 = !m->exact;
    for (int j = 0; j < n; j++)
        int8 = int8 && w[j]->ne0 == w[0]->ne0 && w[j]->ne0 % 32 == 0 && rg_dot_q8_for(w[j]->type) != NULL;
    return int8;
}

/* Y[T, out] = X[T, in] W^T (+ bias) (+ resid, which may alias Y: each output element reads
 * only its own resid element first). Quantised weights use int8 activations unless exact
 * (quantized: m->xq already holds X's, as int8_group said it would be used);
 * other types use rg_matmul (T > 1) or the type's f32 dot. */
static int mm(rg_llama *m, const float *X, int T, const wt *w, const float *bias, const float *resid, float *Y, int quantized) {
    mv_ctx c = {w, X, bias, resid, Y, T, NULL, 0, NULL, NULL, NULL, 0};
    if (int8_group(m, 1, &w) && (c.q8 = rg_dot_q8_for(w->type)) != NULL) {
        /* a batch goes through the register-blocked GEMM; a single vector streams rows
         * best one at a time (sequential reads) */
        c.qgemm = T > 1;
        if (!quantized) quantize_batch(m, X, T, w->ne0);
        c.xq = m->xq; c.xd = m->xd; c.xs = m->xs;
        rg_pool_run(m->pool, mv_worker, &c);
        return 0;
    }
    if (T == 1) {
        rg_pool_run(m->pool, mv_worker, &c);
        return 0;
    }
    rg_epilogue ep = {bias, resid, 0};
    return rg_matmul(m->pool, m->impl, X, T, (int)w->ne0, w->data, w->type, (int)w->ne1, &ep, Y);
}

/* Several products of one input (q/k/v, gate/up) in a single pool dispatch: each thread
 * takes its share of every matrix, so generation wakes the pool 5 times per layer, not 8. */
typedef struct { mv_ctx c[3]; int n; } mv_group;
static void mv_group_worker(void *arg, int ti, int nt) {
    mv_group *g = arg;
    for (int j = 0; j < g->n; j++) mv_worker(&g->c[j], ti, nt);
}

static int mm_group(rg_llama *m, const float *X, int T, int n, const wt *const *w, float *const *bias, float *const *Y,
                    int quantized) {
    mv_group g = {.n = n};
    int int8 = int8_group(m, n, w);
    if (!int8 && T > 1) {                  /* f32 weights in a batch: the matmul kernel, one by one */
        for (int j = 0; j < n; j++)
            if (mm(m, X, T, w[j], bias[j], NULL, Y[j], 0) < 0) return -1;
        return 0;
    }
    if (int8 && !quantized) quantize_batch(m, X, T, w[0]->ne0);
    for (int j = 0; j < n; j++) {
        mv_ctx *c = &g.c[j];
        *c = (mv_ctx){w[j], X, bias[j], NULL, Y[j], T, NULL, 0, NULL, NULL, NULL, 0};
        if (int8) {
            c->q8 = rg_dot_q8_for(w[j]->type);
            c->qgemm = T > 1;
            c->xq = m->xq; c->xd = m->xd; c->xs = m->xs;
        }
    }
    rg_pool_run(m->pool, mv_group_worker, &g);
    return 0;
}

typedef struct {
    rg_llama *m;
    int T, pos0, layer;
    int next;                  /* the next task to take (atomic) */
} att_ctx;

/* Scores of nh query heads (one KV group) against positions 0..np-1 into sc[j * n_ctx + s].
 * With the transposed key cache, 8 positions are one vector: an FMA per head dimension, each
 * key vector loaded once for all nh heads, no horizontal sums. */
AVX2 static inline __attribute__((always_inline)) void scores_avx2(const float *const *qv, const int nh, const float *kt, int ctx,
                                                                  int hd, int np, float scale, float *sc) {
    int s0 = 0;
    for (; s0 + 16 <= np; s0 += 16) {         /* 16 positions (one key block): two key loads feed 2*nh FMAs */
        __m256 a[ATT_HEADS], b[ATT_HEADS];
        const float *kb = kt + kidx(hd, 0, s0);
#pragma GCC unroll 4
        for (int j = 0; j < nh; j++) a[j] = b[j] = _mm256_setzero_ps();
        for (int i = 0; i < hd; i++) {
            __m256 k0 = _mm256_loadu_ps(kb + (size_t)i * KBLK), k1 = _mm256_loadu_ps(kb + (size_t)i * KBLK + 8);
#pragma GCC unroll 4
            for (int j = 0; j < nh; j++) {
                __m256 qj = _mm256_set1_ps(qv[j][i]);
                a[j] = _mm256_fmadd_ps(qj, k0, a[j]);
                b[j] = _mm256_fmadd_ps(qj, k1, b[j]);
            }
        }
#pragma GCC unroll 4
        for (int j = 0; j < nh; j++) {
            _mm256_storeu_ps(sc + (size_t)j * ctx + s0, _mm256_mul_ps(a[j], _mm256_set1_ps(scale)));
            _mm256_storeu_ps(sc + (size_t)j * ctx + s0 + 8, _mm256_mul_ps(b[j], _mm256_set1_ps(scale)));
        }
    }
    for (; s0 + 8 <= np; s0 += 8) {
        __m256 a[ATT_HEADS];
#pragma GCC unroll 4
        for (int j = 0; j < nh; j++) a[j] = _mm256_setzero_ps();
        const float *kb = kt + kidx(hd, 0, s0);   /* s0 % 8 == 0: 8 positions inside one block */
        for (int i = 0; i < hd; i++) {
            __m256 kv = _mm256_loadu_ps(kb + (size_t)i * KBLK);
#pragma GCC unroll 4
            for (int j = 0; j < nh; j++) a[j] = _mm256_fmadd_ps(_mm256_set1_ps(qv[j][i]), kv, a[j]);
        }
#pragma GCC unroll 4
        for (int j = 0; j < nh; j++) _mm256_storeu_ps(sc + (size_t)j * ctx + s0, _mm256_mul_ps(a[j], _mm256_set1_ps(scale)));
    }
    if (s0 < np) {     /* the last 1..7 positions: 8 computed, the valid ones stored */
        /* (a scalar loop here, a chain of dependent adds per position, took a quarter of the
         * scoring time of a prompt: every token's diagonal block ends in one). The 8 keys are
         * inside the block of KBLK, allocated for kctx positions; past np they are stale or
         * zero, and their lanes are not stored. */
        __m256 a[ATT_HEADS];
        const __m256i keep = _mm256_cmpgt_epi32(_mm256_set1_epi32(np - s0), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
#pragma GCC unroll 4
        for (int j = 0; j < nh; j++) a[j] = _mm256_setzero_ps();
        const float *kb = kt + kidx(hd, 0, s0);
        for (int i = 0; i < hd; i++) {
            __m256 kv = _mm256_loadu_ps(kb + (size_t)i * KBLK);
#pragma GCC unroll 4
            for (int j = 0; j < nh; j++) a[j] = _mm256_fmadd_ps(_mm256_set1_ps(qv[j][i]), kv, a[j]);
        }
#pragma GCC unroll 4
        for (int j = 0; j < nh; j++) _mm256_maskstore_ps(sc + (size_t)j * ctx + s0, keep, _mm256_mul_ps(a[j], _mm256_set1_ps(scale)));
    }
}
AVX2 static void scores_avx2_1(const float *const *q, const float *kt, int ctx, int hd, int np, float sc_, float *sc) { scores_avx2(q, 1, kt, ctx, hd, np, sc_, sc); }
AVX2 static void scores_avx2_2(const float *const *q, const float *kt, int ctx, int hd, int np, float sc_, float *sc) { scores_avx2(q, 2, kt, ctx, hd, np, sc_, sc); }
AVX2 static void scores_avx2_3(const float *const *q, const float *kt, int ctx, int hd, int np, float sc_, float *sc) { scores_avx2(q, 3, kt, ctx, hd, np, sc_, sc); }
AVX2 static void scores_avx2_4(const float *const *q, const float *kt, int ctx, int hd, int np, float sc_, float *sc) { scores_avx2(q, 4, kt, ctx, hd, np, sc_, sc); }

/* out[0..hd) = sum_s p[s] * v_s (v_s = vbase + s * stride), plus out's own values when add:
 * the output stays in registers, 64, 32 or 8 values per pass over the positions. */
AVX2 static void wsum_avx2(const float *p, int np, const float *vbase, size_t stride, int hd, float *out, int add) {
    int d0 = 0;
    for (; d0 + 64 <= hd; d0 += 64) {           /* 64 values (a common head size) in one pass */
        __m256 a[8];
#pragma GCC unroll 8
        for (int k = 0; k < 8; k++) a[k] = add ? _mm256_loadu_ps(out + d0 + 8 * k) : _mm256_setzero_ps();
        const float *v = vbase + d0;
        for (int s = 0; s < np; s++, v += stride) {
            __m256 ps = _mm256_set1_ps(p[s]);
#pragma GCC unroll 8
            for (int k = 0; k < 8; k++) a[k] = _mm256_fmadd_ps(ps, _mm256_loadu_ps(v + 8 * k), a[k]);
        }
#pragma GCC unroll 8
        for (int k = 0; k < 8; k++) _mm256_storeu_ps(out + d0 + 8 * k, a[k]);
    }
    for (; d0 + 32 <= hd; d0 += 32) {
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        if (add) a0 = _mm256_loadu_ps(out + d0), a1 = _mm256_loadu_ps(out + d0 + 8), a2 = _mm256_loadu_ps(out + d0 + 16), a3 = _mm256_loadu_ps(out + d0 + 24);
        const float *v = vbase + d0;
        for (int s = 0; s < np; s++, v += stride) {
            __m256 ps = _mm256_set1_ps(p[s]);
            a0 = _mm256_fmadd_ps(ps, _mm256_loadu_ps(v), a0);
            a1 = _mm256_fmadd_ps(ps, _mm256_loadu_ps(v + 8), a1);
            a2 = _mm256_fmadd_ps(ps, _mm256_loadu_ps(v + 16), a2);
            a3 = _mm256_fmadd_ps(ps, _mm256_loadu_ps(v + 24), a3);
        }
        _mm256_storeu_ps(out + d0, a0); _mm256_storeu_ps(out + d0 + 8, a1);
        _mm256_storeu_ps(out + d0 + 16, a2); _mm256_storeu_ps(out + d0 + 24, a3);
    }
    for (; d0 + 8 <= hd; d0 += 8) {
        __m256 a0 = add ? _mm256_loadu_ps(out + d0) : _mm256_setzero_ps();
        const float *v = vbase + d0;
        for (int s = 0; s < np; s++, v += stride) a0 = _mm256_fmadd_ps(_mm256_set1_ps(p[s]), _mm256_loadu_ps(v), a0);
        _mm256_storeu_ps(out + d0, a0);
    }
    for (; d0 < hd; d0++) {
        float a = add ? out[d0] : 0;
        for (int s = 0; s < np; s++) a += p[s] * vbase[(size_t)s * stride + d0];
        out[d0] = a;
    }
}

/* Scores of one token's nh heads against positions s0..s0+n-1 (s0 a multiple of KBLK) into
 * sc[j * ctx + s0 ..] */
static void scores_block(const float *const *qv, int nh, const float *kt, int ctx, int hd, int s0, int n, float scale, float *sc) {
    const float *kb = kt + kidx(hd, 0, s0);
    sc += s0;
    if (have_avx2) {
        switch (nh) {
        case 1: scores_avx2_1(qv, kb, ctx, hd, n, scale, sc); break;
        case 2: scores_avx2_2(qv, kb, ctx, hd, n, scale, sc); break;
        case 3: scores_avx2_3(qv, kb, ctx, hd, n, scale, sc); break;
        default: scores_avx2_4(qv, kb, ctx, hd, n, scale, sc); break;
        }
        return;
    }
    for (int j = 0; j < nh; j++)
        for (int s = 0; s < n; s++) {
            float v = 0;
            for (int i = 0; i < hd; i++) v += qv[j][i] * kb[kidx(hd, i, s)];
            sc[(size_t)j * ctx + s] = v * scale;
        }
}

/* Tasks are (up to ATT_TOK consecutive tokens, KV group, chunk of up to ATT_HEADS query heads
 * of the group), taken from a shared counter. Keys and values go by blocks of ATT_PBLK
 * positions, each block meeting every token and head of the task while it is in L1: scored
 * or summed token by token over all positions, they were re-read from L2 for every token and
 * head chunk, and the attention of a 512-token prompt took about 3x its FMA time. */
static void att_worker(void *arg, int ti, int nt) {
    (void)nt;
    att_ctx *a = arg;
    rg_llama *m = a->m;
    const rg_llama_info *I = &m->info;
    int KV = I->n_head_kv, hd = I->head_dim, grp = I->n_head / KV, ctx = I->n_ctx;
    int chunks = (grp + ATT_HEADS - 1) / ATT_HEADS, ntok = (a->T + ATT_TOK - 1) / ATT_TOK;
    float *sc = m->scores + (size_t)ti * ATT_TOK * ATT_HEADS * (size_t)ctx;   /* row (u, j): u * ATT_HEADS + j */
    const float *vc = m->vc + (size_t)a->layer * (size_t)ctx * (size_t)m->kvdim;
    float scale = 1.0f / sqrtf((float)hd);
    for (;;) {
        int task = __atomic_fetch_add(&a->next, 1, __ATOMIC_RELAXED);
        if (task >= ntok * KV * chunks) return;
        int tb = task / (KV * chunks), g = task / chunks % KV, c = task % chunks;
        int t0 = tb * ATT_TOK, nu = a->T - t0 < ATT_TOK ? a->T - t0 : ATT_TOK;
        int h0 = g * grp + c * ATT_HEADS, nh = grp - c * ATT_HEADS < ATT_HEADS ? grp - c * ATT_HEADS : ATT_HEADS;
        int npmax = a->pos0 + t0 + nu;          /* token u sees positions 0..pos0 + t0 + u */
        const float *kt = m->kc + ((size_t)a->layer * KV + (size_t)g) * (size_t)hd * (size_t)m->kctx;
        const float *vb = vc + (size_t)g * hd;
        const float *qv[ATT_TOK][ATT_HEADS];
        float iz[ATT_TOK][ATT_HEADS], *out[ATT_TOK][ATT_HEADS];
        for (int u = 0; u < nu; u++)
            for (int j = 0; j < nh; j++) {
                qv[u][j] = m->q + (size_t)(t0 + u) * m->qdim + (size_t)(h0 + j) * hd;
                out[u][j] = m->att + (size_t)(t0 + u) * m->qdim + (size_t)(h0 + j) * hd;
            }
        for (int s0 = 0; s0 < npmax; s0 += ATT_PBLK)
            for (int u = 0; u < nu; u++) {
                int np = a->pos0 + t0 + u + 1, n = np - s0 < ATT_PBLK ? np - s0 : ATT_PBLK;
                if (n > 0) scores_block(qv[u], nh, kt, ctx, hd, s0, n, scale, sc + (size_t)u * ATT_HEADS * ctx);
            }
        for (int u = 0; u < nu; u++)
            for (int j = 0; j < nh; j++) {
                int np = a->pos0 + t0 + u + 1;
                float *p = sc + (size_t)(u * ATT_HEADS + j) * ctx;
                float mx = have_avx2 ? max_avx2(p, np) : -INFINITY;
                if (!have_avx2) for (int s = 0; s < np; s++) if (p[s] > mx) mx = p[s];
                double z = 0;
                if (have_avx2) z = exp_sum_avx2(p, np, mx);
                else for (int s = 0; s < np; s++) { p[s] = expf(p[s] - mx); z += p[s]; }
                iz[u][j] = (float)(1.0 / z);   /* applied to the head_dim outputs, not the np weights */
                if (!have_avx2) {
                    memset(out[u][j], 0, sizeof(float) * (size_t)hd);
                    for (int s = 0; s < np; s++) vaxpy(p[s], vb + (size_t)s * m->kvdim, out[u][j], hd);
                }
            }
        if (have_avx2)
            for (int s0 = 0; s0 < npmax; s0 += ATT_PBLK)
                for (int u = 0; u < nu; u++) {
                    int np = a->pos0 + t0 + u + 1, n = np - s0 < ATT_PBLK ? np - s0 : ATT_PBLK;
                    for (int j = 0; j < nh && n > 0; j++)
                        wsum_avx2(sc + (size_t)(u * ATT_HEADS + j) * ctx + s0, n, vb + (size_t)s0 * m->kvdim, (size_t)m->kvdim, hd,
                                  out[u][j], s0 > 0);
                }
        for (int u = 0; u < nu; u++)
            for (int j = 0; j < nh; j++)
                for (int i = 0; i < hd; i++) out[u][j][i] *= iz[u][j];
    }
}

static void rope_token(rg_llama *m, float *v, int nheads, const float *cs, const float *sn) {
    int hd = m->info.head_dim, half = m->info.n_rot / 2;
    for (int h = 0; h < nheads; h++, v += hd) {
        for (int i = 0; i < half; i++) {
            int ia = m->neox ? i : 2 * i, ib = m->neox ? i + half : 2 * i + 1;
            float a = v[ia], b = v[ib];
            v[ia] = a * cs[i] - b * sn[i];
            v[ib] = a * sn[i] + b * cs[i];
        }
    }
}

/* cos and sin of every rotary angle of the batch's positions, once per forward pass (row t:
 * position pos + t) rather than once per layer */
static void rope_tables(rg_llama *m, int T) {
    int half = m->info.n_rot / 2;
    for (int t = 0; t < T; t++)
        for (int i = 0; i < half; i++) {
            float th = (float)(m->pos + t) * m->inv_freq[i];
            m->cs[(size_t)t * half + i] = cosf(th);
            m->sn[(size_t)t * half + i] = sinf(th);
        }
}

/* Per-token work of a layer that would otherwise run on one thread while the pool waits:
 * the RMS norm of rows into xb, and rotary embedding of q and k with the key/value cache
 * writes (each token owns its cache position, so rows split freely between threads). */
typedef struct { rg_llama *m; const float *x, *w; int T, layer, quant; } tok_ctx;
/* quant: each normed row is also quantised for the next products right away, from L1 (one
 * pass over the batch and one pool dispatch fewer; the same values) */
static void norm_rows(const tok_ctx *c, int t0, int t1) {
    int D = c->m->info.n_embd;
    for (int t = t0; t < t1; t++) {
        rmsnorm(c->m->xb + (size_t)t * D, c->x + (size_t)t * D, c->w, D, c->m->info.rms_eps);
        if (c->quant) quant_rows(c->m, c->m->xb, t, t + 1, D);
    }
}
static void norm_worker(void *arg, int ti, int nt) {
    tok_ctx *c = arg;
    norm_rows(c, (int)((int64_t)c->T * ti / nt), (int)((int64_t)c->T * (ti + 1) / nt));
}
static void norm_batch(rg_llama *m, const float *x, const float *w, int T, int quant) {
    tok_ctx c = {m, x, w, T, 0, quant};
    if (T >= 4) rg_pool_run(m->pool, norm_worker, &c);
    else norm_rows(&c, 0, T);
}
static void rope_rows(const tok_ctx *c, int t0, int t1) {
    rg_llama *m = c->m;
    const rg_llama_info *I = &m->info;
    int hd = I->head_dim, half = I->n_rot / 2;
    float *kc = m->kc + (size_t)c->layer * m->kctx * m->kvdim, *vc = m->vc + (size_t)c->layer * I->n_ctx * m->kvdim;
    for (int t = t0; t < t1; t++) {
        int p = m->pos + t;
        const float *cs = m->cs + (size_t)t * half, *sn = m->sn + (size_t)t * half;
        rope_token(m, m->q + (size_t)t * m->qdim, I->n_head, cs, sn);
        rope_token(m, m->k + (size_t)t * m->kvdim, I->n_head_kv, cs, sn);
        const float *kt = m->k + (size_t)t * m->kvdim;   /* into the transposed key cache */
        for (int g = 0; g < I->n_head_kv; g++)
            for (int i = 0; i < hd; i++) kc[(size_t)g * hd * m->kctx + kidx(hd, i, p)] = kt[(size_t)g * hd + i];
        memcpy(vc + (size_t)p * m->kvdim, m->v + (size_t)t * m->kvdim, sizeof(float) * (size_t)m->kvdim);
    }
}
static void rope_worker(void *arg, int ti, int nt) {
    tok_ctx *c = arg;
    rope_rows(c, (int)((int64_t)c->T * ti / nt), (int)((int64_t)c->T * (ti + 1) / nt));
}

/* Runs T tokens; logits: NULL, last row only (all = 0) or every row (all = 1). */
static int forward(rg_llama *m, const int32_t *ids, int T, float *logits, int all) {
    const rg_llama_info *I = &m->info;
    int D = I->n_embd, F = I->n_ff;
    rope_tables(m, T);
    for (int t = 0; t < T; t++) {
        if (m->tok_embd.x8) rg_q4x8_row_to_float(m->tok_embd.data, m->tok_embd.row_bytes, ids[t], m->x + (size_t)t * D, D);
        else m->tok_embd.tr->to_float((const char *)m->tok_embd.data + (size_t)ids[t] * m->tok_embd.row_bytes,
                                      m->x + (size_t)t * D, D);
    }
    for (int l = 0; l < I->n_layer; l++) {
        layer *L = &m->L[l];
        const wt *qkv[3] = {&L->wq, &L->wk, &L->wv}, *gu[2] = {&L->wg, &L->wu}, *wd = &L->wd;
        int q_qkv = int8_group(m, 3, qkv), q_gu = int8_group(m, 2, gu), q_d = int8_group(m, 1, &wd);
        norm_batch(m, m->x, L->attn_norm, T, q_qkv);
        float *qkv_b[3] = {L->bq, L->bk, L->bv}, *qkv_y[3] = {m->q, m->k, m->v};
        if (mm_group(m, m->xb, T, 3, qkv, qkv_b, qkv_y, q_qkv) < 0) return -1;
        tok_ctx rc = {m, NULL, NULL, T, l, 0};
        if (T >= 4) rg_pool_run(m->pool, rope_worker, &rc);
        else rope_rows(&rc, 0, T);
        att_ctx ac = {m, T, m->pos, l, 0};
        rg_pool_run(m->pool, att_worker, &ac);
        if (mm(m, m->att, T, &L->wo, NULL, m->x, m->x, 0) < 0) return -1;
        norm_batch(m, m->x, L->ffn_norm, T, q_gu);
        float *gu_b[2] = {NULL, NULL}, *gu_y[2] = {m->hb, m->hb2};
        if (mm_group(m, m->xb, T, 2, gu, gu_b, gu_y, q_gu) < 0) return -1;
        rows_ctx sw = {m, NULL, T, q_d ? F : 0};
        if (T >= 4) rg_pool_run(m->pool, swiglu_worker, &sw);
        else swiglu_quant_rows(&sw, 0, T);
        if (mm(m, m->hb, T, wd, NULL, m->x, m->x, q_d) < 0) return -1;
    }
    m->pos += T;
    if (!logits) return 0;
    int first = all ? 0 : T - 1, rows = T - first;
    for (int t = first; t < T; t++)
        rmsnorm(m->xb + (size_t)(t - first) * D, m->x + (size_t)t * D, m->out_norm, D, I->rms_eps);
    return mm(m, m->xb, rows, &m->output, NULL, NULL, logits, 0);
}

int rg_llama_eval(rg_llama *m, const int32_t *ids, int n, float *logits, int all) {
    if (!m || n < 0 || (n && !ids)) { rg_err("decoder: bad arguments"); return -1; }
    for (int i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= m->info.n_vocab) { rg_err("decoder: token id %d out of range (vocabulary %d)", ids[i], m->info.n_vocab); return -1; }
    if (n > m->info.n_ctx - m->pos) { rg_err("decoder: context full (%d + %d tokens > %d)", m->pos, n, m->info.n_ctx); return -1; }
    for (int s = 0; s < n; s += m->n_batch) {
        int T = n - s < m->n_batch ? n - s : m->n_batch;
        int last = s + T == n;
        float *out = NULL;
        if (logits && all) out = logits + (size_t)s * m->info.n_vocab;
        else if (logits && last) out = logits;
        if (forward(m, ids + s, T, out, all) < 0) return -1;
    }
    return 0;
}

/* ---------------- completion ---------------- */

static int token_ok(const rg_llama *m, const rg_constraint *c, const char *gen, size_t glen, int32_t t) {
    if (rg_llama_is_eog(m, t)) return rg_constraint_can_end(c, gen, glen);
    if (rg_bpe_is_special(m->tok, t)) return 0;
    size_t tl;
    const char *piece = rg_bpe_token(m->tok, t, &tl);
    return piece && rg_constraint_allows(c, gen, glen, piece, tl);
}

/* Masks lg to the tokens the constraint allows: the 256 best-scored first, the whole
 * vocabulary only when none of those fits. Returns how many are allowed. */
static int constrain(const rg_llama *m, const rg_constraint *c, const char *gen, size_t glen, float *lg, float *tmp, int32_t *idx) {
    int V = m->info.n_vocab, k = V < 256 ? V : 256;
    memcpy(tmp, lg, sizeof(float) * (size_t)V);
    for (int i = 0; i < V; i++) idx[i] = i;
    int lo = 0, hi = V - 1;                 /* quickselect: the k best to the front */
    while (lo < hi) {
        float pv = tmp[idx[(lo + hi) / 2]];
        int i = lo, j = hi;
        while (i <= j) {
            while (tmp[idx[i]] > pv) i++;
            while (tmp[idx[j]] < pv) j--;
            if (i <= j) { int32_t x = idx[i]; idx[i] = idx[j]; idx[j] = x; i++; j--; }
        }
        if (k - 1 <= j) hi = j; else if (k - 1 >= i) lo = i; else break;
    }
    for (int i = 0; i < V; i++) lg[i] = -INFINITY;
    int n = 0;
    for (int i = 0; i < k; i++)
        if (!isnan(tmp[idx[i]]) && token_ok(m, c, gen, glen, idx[i])) { lg[idx[i]] = tmp[idx[i]]; n++; }
    if (n == 0)
        for (int t = 0; t < V; t++)
            if (!isnan(tmp[t]) && token_ok(m, c, gen, glen, t)) { lg[t] = tmp[t] > -1e30f ? tmp[t] : -1e30f; n++; }
    return n;
}

char *rg_llama_complete(rg_llama *m, const char *prompt, const rg_gen_params *g, rg_gen_cb cb, void *ud,
                        rg_gen_stats *st) {
    rg_gen_stats dummy;
    if (!st) st = &dummy;
    memset(st, 0, sizeof *st);
    if (!m->tok) { rg_err("%s: the model has no usable tokenizer", m->path); return NULL; }
    int32_t *pids;
    int np = rg_bpe_encode(m->tok, prompt, strlen(prompt), g->parse_special, &pids);
    if (np < 0) return NULL;
    int nb = m->info.add_bos && !(np > 0 && pids[0] == m->info.bos);
    int cap = np + nb + (g->n_predict > 0 ? g->n_predict : 128) + 1;
    int32_t *hist = xmalloc(sizeof(int32_t) * (size_t)cap);
    if (nb) hist[0] = m->info.bos;
    memcpy(hist + nb, pids, sizeof(int32_t) * (size_t)np);
    free(pids);
    int nh = np + nb;
    st->n_prompt = nh;
    if (nh == 0) { rg_err("decoder: empty prompt and the model has no BOS token"); free(hist); return NULL; }
    if (nh >= m->info.n_ctx) { rg_err("decoder: prompt of %d tokens does not fit the context of %d", nh, m->info.n_ctx); free(hist); return NULL; }
    float *logits = xmalloc(sizeof(float) * (size_t)m->info.n_vocab);
    rg_llama_reset(m);
    double t0 = rg_now();
    if (rg_llama_eval(m, hist, nh, logits, 0) < 0) { free(logits); free(hist); return NULL; }
    st->t_prompt = rg_now() - t0;
    t0 = rg_now();
    rg_sampler *smp = rg_sampler_new(&g->sample);
    rg_buf text = {0};
    size_t emitted = 0, maxstop = 0;
    for (int k = 0; k < g->nstops; k++) if (g->stops[k] && strlen(g->stops[k]) > maxstop) maxstop = strlen(g->stops[k]);
    int n_predict = g->n_predict > 0 ? g->n_predict : 128;
    st->stop_reason = "length";
    int ok = 1;
    float *ctmp = g->constraint ? xmalloc(sizeof(float) * (size_t)m->info.n_vocab) : NULL;
    int32_t *cidx = g->constraint ? xmalloc(sizeof(int32_t) * (size_t)m->info.n_vocab) : NULL;
    for (int i = 0; i < n_predict; i++) {
        if (g->constraint && constrain(m, g->constraint, text.data ? text.data : "", text.len, logits, ctmp, cidx) == 0) {
            st->stop_reason = "constraint";
            break;
        }
        int32_t id = rg_sampler_pick(smp, logits, m->info.n_vocab, hist, nh);
        if ((!g->ignore_eos || g->constraint) && rg_llama_is_eog(m, id)) { st->stop_reason = "eos"; break; }
        hist[nh++] = id;
        st->n_gen++;
        size_t tl;
        const char *piece = rg_bpe_token(m->tok, id, &tl);
        size_t before = text.len;
        if (piece && tl) rg_buf_put(&text, piece, tl);
        /* a stop string can only start within maxstop bytes before the new piece */
        size_t from = before > maxstop ? before - maxstop : 0;
        long hit = text.len ? rg_stop_find(text.data + from, text.len - from, g->stops, g->nstops) : -1;
        if (hit >= 0) {
            text.len = from + (size_t)hit;
            text.data[text.len] = 0;
            st->stop_reason = "stop";
            break;
        }
        size_t safe = text.len - rg_stop_holdback(text.data ? text.data : "", text.len, g->stops, g->nstops);
        if (cb && safe > emitted) {
            if (cb(text.data + emitted, safe - emitted, ud)) { emitted = safe; st->stop_reason = "callback"; break; }
            emitted = safe;
        }
        if (i + 1 == n_predict) break;
        if (m->pos >= m->info.n_ctx) { st->stop_reason = "context"; break; }
        if (rg_llama_eval(m, &id, 1, logits, 0) < 0) { ok = 0; break; }
    }
    if (ok && cb && text.len > emitted && strcmp(st->stop_reason, "callback") != 0) cb(text.data + emitted, text.len - emitted, ud);
    st->t_gen = rg_now() - t0;
    free(ctmp);
    free(cidx);
    rg_sampler_free(smp);
    free(logits);
    free(hist);
    if (!ok) { rg_buf_free(&text); return NULL; }
    return text.data ? rg_buf_take(&text) : xstrdup("");
}

char *rg_llama_answer_span(rg_llama *m, const char *question, const char *evidence, int max_tokens) {
    if (!question || !evidence || !*evidence) { rg_err("grounded answer: no question or no evidence"); return NULL; }
    rg_constraint *c = rg_constraint_span(evidence, strlen(evidence), 1);
    if (!c) return NULL;
    char *user = xasprintf("Evidence:\n%s\n\nQuestion: %s", evidence, question);
    rg_chat_msg msgs[] = {
        {"system", "Answer the question with a short phrase copied exactly from the evidence."},
        {"user", user}};
    char *prompt = rg_chat_format(m->info.chat, msgs, 2, 1);
    rg_gen_params g = {.n_predict = max_tokens > 0 ? max_tokens : 32, .parse_special = 1, .constraint = c};
    g.sample = rg_sample_defaults();
    g.sample.temperature = 0;
    const char *const *stops = rg_chat_stops(m->info.chat);
    int ns = 0;
    while (stops[ns]) ns++;
    g.stops = stops;
    g.nstops = ns;
    char *out = rg_llama_complete(m, prompt, &g, NULL, NULL, NULL);
    free(prompt);
    free(user);
    rg_constraint_free(c);
    if (out) {                                  /* spans may end on a space or newline */
        size_t n = strlen(out);
        while (n && (out[n - 1] == ' ' || out[n - 1] == '\n' || out[n - 1] == '\t')) out[--n] = 0;
    }
    return out;
}
