/* BERT encoder over a GGUF file. Weights stay in the mapping (any supported type); vectors
 * (biases, norms) are converted to f32 at load. Shapes are validated against the metadata at
 * load so the forward pass can index without further checks. */
#include "embed/bert.h"
#include "core/util.h"
#include "nn/gguf.h"
#include "nn/kernels.h"
#include "nn/pool.h"
#include "nn/tensor.h"
#include <ctype.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define BATCH_TOKENS 4096        /* tokens per packed forward pass (memory ~ tokens x ffn x 4) */

typedef struct { const void *data; int type; } wmat;   /* [out, in] weight */

typedef struct {
    wmat q, k, v, o, up, down;
    float *bq, *bk, *bv, *bo, *ln1_g, *ln1_b, *bup, *bdown, *ln2_g, *ln2_b;
    /* K, V and Q weights (rows in that order) and biases in one matrix, when the three have
     * one type: one matmul instead of three (one pass packing the tokens, one dispatch) */
    wmat kvq;                  /* data NULL: not fused */
    void *kvq_mem;
    float *bkvq;
} layer_t;

struct rg_bert {
    rg_gguf *g;
    rg_wordpiece *wp;
    rg_pool *pool;
    int impl;
    int n_vocab, n_ctx, d, n_head, n_ff, n_layer, n_types, pooling;   /* pooling: 1 mean, 2 cls */
    float eps;
    const rg_gguf_tensor *tok, *pos, *typ;
    float *ln_e_g, *ln_e_b;
    layer_t *L;
    char *name, *qprefix, *pprefix;
    char digest[9];
    pthread_mutex_t ws_lock;   /* guards the activation workspace below */
    int ws_busy;
    float *ws;
    size_t ws_n;
};

static const rg_gguf_tensor *get_t(rg_bert *m, const char *name, int64_t ne0, int64_t ne1, int need) {
    const rg_gguf_tensor *t = rg_gguf_tensor_find(m->g, name);
    if (!t) {
        if (need) rg_err("model lacks tensor %s", name);
        return NULL;
    }
    if (t->ne[0] != ne0 || (ne1 > 0 && t->ne[1] != ne1) || (ne1 <= 0 && t->n_dims != 1 && t->ne[1] != 1) ||
        t->ne[2] != 1 || t->ne[3] != 1) {
        rg_err("model tensor %s has shape [%lld, %lld], want [%lld, %lld]", name, (long long)t->ne[0],
               (long long)t->ne[1], (long long)ne0, (long long)(ne1 > 0 ? ne1 : 1));
        return NULL;
    }
    return t;
}

static float *vec(rg_bert *m, const char *name, int n) {
    const rg_gguf_tensor *t = get_t(m, name, n, 0, 1);
    if (!t) return NULL;
    float *v = xmalloc((size_t)n * sizeof *v);
    rg_type_get(t->type)->to_float(t->data, v, n);
    return v;
}

static int mat(rg_bert *m, const char *name, int in, int out, wmat *w) {
    const rg_gguf_tensor *t = get_t(m, name, in, out, 1);
    if (!t) return -1;
    w->data = t->data;
    w->type = t->type;
    return 0;
}

static int meta_int(rg_bert *m, const char *key, int lo, int hi, int *out) {
    int64_t v;
    if (rg_gguf_req_int(m->g, key, &v)) return -1;
    if (v < lo || v > hi) { rg_err("model metadata %s = %lld out of range", key, (long long)v); return -1; }
    *out = (int)v;
    return 0;
}

static char *lower_dup(const char *s) {
    char *r = xstrdup(s);
    for (char *p = r; *p; p++) *p = (char)tolower((unsigned char)*p);
    return r;
}

static void choose_prefixes(rg_bert *m, const char *path) {
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    char *n = lower_dup(m->name), *b = lower_dup(base);
    const char *q = "", *p = "";
    if (strstr(n, "e5") || strstr(b, "e5-") || strstr(b, "e5_")) { q = "query: "; p = "passage: "; }
    else if ((strstr(n, "bge") || strstr(b, "bge")) && !strstr(n, "-zh") && !strstr(b, "-zh"))
        q = "Represent this sentence for searching relevant passages: ";
    free(n);
    free(b);
    const char *eq = getenv("RAGD_QUERY_PREFIX"), *ep = getenv("RAGD_PASSAGE_PREFIX");
    m->qprefix = xstrdup(eq ? eq : q);
    m->pprefix = xstrdup(ep ? ep : p);
}

/* Releases the pages of a copied tensor from this process. rg_bert_load opens the file with
 * rg_gguf_open, a read-only private file mapping that is never written, so this only drops
 * the copy the process holds (counted in its RSS); a later access would read the file
 * again. Only whole pages inside [p, p + n) are released. */
static void drop_pages(const void *p, size_t n) {
    long pg = sysconf(_SC_PAGESIZE);
    if (pg <= 0) return;
    uintptr_t a = ((uintptr_t)p + (uintptr_t)pg - 1) & ~((uintptr_t)pg - 1);
    uintptr_t e = ((uintptr_t)p + n) & ~((uintptr_t)pg - 1);
    if (e > a) madvise((void *)a, e - a, MADV_DONTNEED);
}

static int load(rg_bert *m, const char *path) {
    char *arch = rg_gguf_get_strdup(m->g, "general.architecture");
    int ok = arch && !strcmp(arch, "bert");
    free(arch);
    if (!ok) { rg_err("not a BERT model (general.architecture is not \"bert\")"); return -1; }
    if (meta_int(m, "bert.embedding_length", 1, 1 << 16, &m->d) ||
        meta_int(m, "bert.block_count", 1, 256, &m->n_layer) ||
        meta_int(m, "bert.attention.head_count", 1, 1024, &m->n_head) ||
        meta_int(m, "bert.feed_forward_length", 1, 1 << 18, &m->n_ff) ||
        meta_int(m, "bert.context_length", 2, 1 << 16, &m->n_ctx))
        return -1;
    if (m->d % m->n_head) { rg_err("embedding length %d not divisible by %d heads", m->d, m->n_head); return -1; }
    double eps = 1e-12;
    rg_gguf_get_float(m->g, "bert.attention.layer_norm_epsilon", &eps);
    if (!(eps > 0 && eps < 1)) { rg_err("model layer_norm_epsilon out of range"); return -1; }
    m->eps = (float)eps;
    char *tm = rg_gguf_get_strdup(m->g, "tokenizer.ggml.model");
    ok = !tm || !strcmp(tm, "bert");
    if (!ok) rg_err("tokenizer \"%.40s\" is not WordPiece (tokenizer.ggml.model must be \"bert\")", tm);
    free(tm);
    if (!ok) return -1;
    m->wp = rg_wordpiece_from_gguf(m->g, -1);
    if (!m->wp) return -1;
    m->n_vocab = (int)rg_wordpiece_vocab_size(m->wp);
    const rg_gguf_tensor *tok = rg_gguf_tensor_find(m->g, "token_embd.weight");
    if (!tok || tok->ne[1] < m->n_vocab) {     /* every token id must have a row */
        rg_err("model lacks token_embd.weight with %d rows", m->n_vocab);
        return -1;
    }
    if (!(m->tok = get_t(m, "token_embd.weight", m->d, tok->ne[1], 1))) return -1;
    const rg_gguf_tensor *pos = rg_gguf_tensor_find(m->g, "position_embd.weight");
    if (!pos || pos->ne[0] != m->d || pos->ne[1] < 2) { rg_err("model lacks a usable position_embd.weight"); return -1; }
    if (m->n_ctx > pos->ne[1]) m->n_ctx = (int)pos->ne[1];
    if (!(m->pos = get_t(m, "position_embd.weight", m->d, pos->ne[1], 1))) return -1;
    const rg_gguf_tensor *typ = rg_gguf_tensor_find(m->g, "token_types.weight");
    if (typ && !(m->typ = get_t(m, "token_types.weight", m->d, typ->ne[1], 1))) return -1;
    m->n_types = m->typ ? (int)(m->typ->ne[1] < 1024 ? m->typ->ne[1] : 1024) : 1;
    if (!(m->ln_e_g = vec(m, "token_embd_norm.weight", m->d)) || !(m->ln_e_b = vec(m, "token_embd_norm.bias", m->d)))
        return -1;
    m->L = xcalloc((size_t)m->n_layer, sizeof *m->L);
    for (int i = 0; i < m->n_layer; i++) {
        layer_t *l = &m->L[i];
        char n[96];
#define NM(s) (snprintf(n, sizeof n, "blk.%d.%s", i, s), n)
        if (mat(m, NM("attn_q.weight"), m->d, m->d, &l->q) || !(l->bq = vec(m, NM("attn_q.bias"), m->d)) ||
            mat(m, NM("attn_k.weight"), m->d, m->d, &l->k) || !(l->bk = vec(m, NM("attn_k.bias"), m->d)) ||
            mat(m, NM("attn_v.weight"), m->d, m->d, &l->v) || !(l->bv = vec(m, NM("attn_v.bias"), m->d)) ||
            mat(m, NM("attn_output.weight"), m->d, m->d, &l->o) || !(l->bo = vec(m, NM("attn_output.bias"), m->d)) ||
            !(l->ln1_g = vec(m, NM("attn_output_norm.weight"), m->d)) ||
            !(l->ln1_b = vec(m, NM("attn_output_norm.bias"), m->d)) ||
            mat(m, NM("ffn_up.weight"), m->d, m->n_ff, &l->up) || !(l->bup = vec(m, NM("ffn_up.bias"), m->n_ff)) ||
            mat(m, NM("ffn_down.weight"), m->n_ff, m->d, &l->down) ||
            !(l->bdown = vec(m, NM("ffn_down.bias"), m->d)) ||
            !(l->ln2_g = vec(m, NM("layer_output_norm.weight"), m->d)) ||
            !(l->ln2_b = vec(m, NM("layer_output_norm.bias"), m->d)))
            return -1;
#undef NM
        /* the kernels need whole blocks along the input dimension */
        if (!rg_type_row_bytes(l->up.type, m->d) || !rg_type_row_bytes(l->down.type, m->n_ff)) {
            rg_err("layer %d weights are not whole blocks", i);
            return -1;
        }
        size_t rb = rg_type_row_bytes(l->q.type, m->d);
        if (rb && l->k.type == l->q.type && l->v.type == l->q.type) {
            size_t mb = rb * (size_t)m->d;
            uint8_t *w = xmalloc(3 * mb);
            memcpy(w, l->k.data, mb);
            memcpy(w + mb, l->v.data, mb);
            memcpy(w + 2 * mb, l->q.data, mb);
            drop_pages(l->k.data, mb);
            drop_pages(l->v.data, mb);
            drop_pages(l->q.data, mb);
            l->kvq_mem = w;
            l->kvq.data = w;
            l->kvq.type = l->q.type;
            l->bkvq = xmalloc(3 * (size_t)m->d * sizeof *l->bkvq);
            memcpy(l->bkvq, l->bk, (size_t)m->d * sizeof *l->bkvq);
            memcpy(l->bkvq + m->d, l->bv, (size_t)m->d * sizeof *l->bkvq);
            memcpy(l->bkvq + 2 * m->d, l->bq, (size_t)m->d * sizeof *l->bkvq);
        }
    }
    char *name = rg_gguf_get_strdup(m->g, "general.name");
    if (!name || !*name) {
        free(name);
        const char *base = strrchr(path, '/');
        base = base ? base + 1 : path;
        size_t bl = strlen(base);
        if (bl > 5 && !strcmp(base + bl - 5, ".gguf")) bl -= 5;
        name = xstrndup(base, bl);
    }
    if (strlen(name) > 100) name[100] = 0;
    for (char *p = name; *p; p++) if ((unsigned char)*p < 32 || *p == ' ') *p = '_';
    m->name = name;
    int64_t pt = 0;
    if (rg_gguf_get_int(m->g, "bert.pooling_type", &pt) == 0 && (pt == 1 || pt == 2)) m->pooling = (int)pt;
    else {
        char *n = lower_dup(name);
        m->pooling = strstr(n, "bge") ? 2 : 1;     /* bge uses CLS; sentence-transformers mostly mean */
        free(n);
    }
    choose_prefixes(m, path);
    size_t hl;
    const void *h = rg_gguf_header(m->g, &hl);
    char hex[65];
    rg_sha256_hex(h, hl, hex);
    memcpy(m->digest, hex, 8);
    m->digest[8] = 0;
    return 0;
}

void rg_bert_free(rg_bert *m) {
    if (!m) return;
    if (m->L)
        for (int i = 0; i < m->n_layer; i++) {
            layer_t *l = &m->L[i];
            free(l->bq); free(l->bk); free(l->bv); free(l->bo); free(l->ln1_g); free(l->ln1_b);
            free(l->bup); free(l->bdown); free(l->ln2_g); free(l->ln2_b);
            free(l->kvq_mem); free(l->bkvq);
        }
    free(m->L);
    free(m->ln_e_g);
    free(m->ln_e_b);
    free(m->name);
    free(m->qprefix);
    free(m->pprefix);
    rg_wordpiece_free(m->wp);
    rg_pool_free(m->pool);
    rg_gguf_close(m->g);
    free(m->ws);
    pthread_mutex_destroy(&m->ws_lock);
    free(m);
}

rg_bert *rg_bert_load(const char *path, int nthreads) {
    rg_gguf *g = rg_gguf_open(path);
    if (!g) return NULL;
    rg_bert *m = xcalloc(1, sizeof *m);
    m->g = g;
    pthread_mutex_init(&m->ws_lock, NULL);
    if (load(m, path)) {
        char *why = xstrdup(rg_errmsg());
        rg_err("%s: %s", path, why);
        free(why);
        rg_bert_free(m);
        return NULL;
    }
    m->pool = rg_pool_new(nthreads);
    return m;
}

int rg_bert_dim(const rg_bert *m) { return m->d; }
int rg_bert_max_tokens(const rg_bert *m) { return m->n_ctx; }
const char *rg_bert_name(const rg_bert *m) { return m->name; }
const char *rg_bert_prefix(const rg_bert *m, int is_query) { return is_query ? m->qprefix : m->pprefix; }
const rg_wordpiece *rg_bert_tokenizer(const rg_bert *m) { return m->wp; }
void rg_bert_set_impl(rg_bert *m, int impl) { m->impl = impl; }
const rg_gguf *rg_bert_gguf(const rg_bert *m) { return m->g; }
int rg_bert_type_count(const rg_bert *m) { return m->n_types; }

/* ---------------- forward pass ---------------- */

typedef struct {
    const rg_bert *m;
    const float *Q, *K, *V;
    int ldq, ldk;              /* row strides of Q and of K/V (ctx: the model width) */
    float *ctx;
    const int *kstart, *klen;  /* key/value rows of each sequence */
    const int *qstart, *qlen;  /* query (and output) rows of each sequence */
    int nseq, max_len;
    int group;                 /* heads per work item */
    int next;                  /* work counter: (sequence, head group) items */
} attn_job;

/* Heads per attention work item: adjacent heads share the cache lines of each row of Q, K
 * and V, so one thread should take several of them; as many as still leave 16 items per
 * thread for the dynamic split (a divisor of the head count). */
static int attn_group(const rg_bert *m, int nseq) {
    int want = 16 * rg_pool_size(m->pool);
    for (int g = m->n_head; g > 1; g--)
        if (m->n_head % g == 0 && (int64_t)nseq * (m->n_head / g) >= want) return g;
    return 1;
}

static void attn_worker(void *arg, int ti, int nt) {
    (void)nt;
    attn_job *j = arg;
    const rg_bert *m = j->m;
    int d = m->d, hd = d / m->n_head, per = m->n_head / j->group, items = j->nseq * per;
    size_t need = rg_attention_scratch(j->max_len, hd) * sizeof(float);
    float *scratch = rg_pool_scratch(m->pool, ti, need), *own = NULL;
    if (!scratch) scratch = own = xmalloc(need);
    for (;;) {
        int it = __atomic_fetch_add(&j->next, 1, __ATOMIC_RELAXED);
        if (it >= items) break;
        int sq = it / per, h0 = it % per * j->group;
        for (int h = h0; h < h0 + j->group; h++) {
            size_t kb = (size_t)j->kstart[sq] * j->ldk + (size_t)h * hd;
            size_t qb = (size_t)j->qstart[sq] * j->ldq + (size_t)h * hd;
            size_t ob = (size_t)j->qstart[sq] * d + (size_t)h * hd;
            rg_attn_args a = { j->Q + qb, j->K + kb, j->V + kb, j->ctx + ob, j->ldq, j->ldk, d,
                               j->qlen[sq], j->klen[sq], hd, 1.0f / sqrtf((float)hd) };
            rg_attention(m->impl, &a, scratch);
        }
    }
    free(own);
}

/* rows in blocks of 32 from a shared counter: a thread that starts late takes fewer */
typedef struct { float *x; int T, n; const float *g, *b; float eps; int impl, next; } ln_job;
static void ln_worker(void *arg, int ti, int nt) {
    (void)ti; (void)nt;
    ln_job *j = arg;
    for (int t0; (t0 = __atomic_fetch_add(&j->next, 32, __ATOMIC_RELAXED)) < j->T;)
        for (int t = t0; t < j->T && t < t0 + 32; t++)
            rg_layernorm(j->impl, j->x + (size_t)t * j->n, j->n, j->g, j->b, j->eps);
}

/* Y = X . w^T + bias (+ resid), then GELU, or then layer norm with ln_g/ln_b (NULL: none):
 * the norm runs in the matmul's epilogue, on rows still in cache. */
static int mm(rg_bert *m, const float *X, int T, int K, const wmat *w, int N, const float *bias,
              const float *resid, int gelu, const float *ln_g, const float *ln_b, float *Y) {
    rg_epilogue ep = { bias, resid, gelu };
    rg_rownorm ln = { ln_g, ln_b, m->eps };
    return rg_matmul_ln(m->pool, m->impl, X, T, K, w->data, w->type, N, &ep, ln_g ? &ln : NULL, Y);
}

/* 64-byte aligned floats, so that output tiles of 16 floats fill whole cache lines */
static float *ws_alloc(size_t n) {
    float *p = aligned_alloc(64, (n * sizeof(float) + 63) & ~(size_t)63);
    if (!p) { fprintf(stderr, "out of memory\n"); abort(); }
    return p;
}

/* The packed forward pass. types: per token type ids (NULL: all 0). raw_cls: out gets each
 * sequence's final hidden state at its first token, unnormalised; else the model's pooling,
 * L2-normalised. */
static int forward(rg_bert *m, const int32_t *const *ids, const int32_t *const *types, const int *lens, int nseq,
                   int raw_cls, float *out) {
    if (nseq <= 0) return 0;
    int T = 0, max_len = 0, d = m->d;
    int *start = xmalloc((size_t)nseq * sizeof *start);
    for (int s = 0; s < nseq; s++) {
        if (lens[s] < 1 || lens[s] > m->n_ctx) {
            rg_err("%s: sequence of %d tokens (limit %d)", m->name, lens[s], m->n_ctx);
            free(start);
            return -1;
        }
        for (int i = 0; i < lens[s]; i++) {
            int bad_id = ids[s][i] < 0 || ids[s][i] >= m->n_vocab;
            if (bad_id || (types && (types[s][i] < 0 || types[s][i] >= m->n_types))) {
                if (bad_id) rg_err("%s: token id %d out of range", m->name, ids[s][i]);
                else rg_err("%s: token type %d out of range (model has %d)", m->name, types[s][i], m->n_types);
                free(start);
                return -1;
            }
        }
        start[s] = T;
        T += lens[s];
        if (lens[s] > max_len) max_len = lens[s];
    }
    /* activations: one workspace kept by the model between calls (fresh pages cost page
     * faults and zeroing); a concurrent call that finds it busy allocates its own */
    size_t td = ((size_t)T * d + 15) & ~(size_t)15, need = 6 * td + (size_t)T * m->n_ff;
    float *ws = NULL, *own = NULL;
    pthread_mutex_lock(&m->ws_lock);
    if (!m->ws_busy) {
        m->ws_busy = 1;
        if (m->ws_n < need) { free(m->ws); m->ws = ws_alloc(need); m->ws_n = need; }
        ws = m->ws;
    }
    pthread_mutex_unlock(&m->ws_lock);
    if (!ws) ws = own = ws_alloc(need);
    float *X = ws, *X1 = ws + td, *Q = ws + 2 * td, *K = ws + 3 * td, *V = ws + 4 * td, *C = ws + 5 * td;
    float *H = ws + 6 * td;
    float *row = xmalloc((size_t)d * sizeof *row);
    const rg_type_traits *tt = rg_type_get(m->tok->type), *tp = rg_type_get(m->pos->type);
    size_t tok_rb = rg_type_row_bytes(m->tok->type, d), pos_rb = rg_type_row_bytes(m->pos->type, d);
    float *type0 = xcalloc((size_t)d, sizeof *type0), *typen = xmalloc((size_t)d * sizeof *typen);
    size_t typ_rb = m->typ ? rg_type_row_bytes(m->typ->type, d) : 0;
    if (m->typ) rg_type_get(m->typ->type)->to_float(m->typ->data, type0, d);
    /* embeddings: word + position + token type, then LayerNorm */
    for (int s = 0; s < nseq; s++)
        for (int i = 0; i < lens[s]; i++) {
            float *x = X + (size_t)(start[s] + i) * d;
            const float *ty = type0;
            if (types && types[s][i] > 0) {      /* validated above: < n_types, so m->typ exists */
                const uint8_t *src = (const uint8_t *)m->typ->data + (size_t)types[s][i] * typ_rb;
                rg_type_get(m->typ->type)->to_float(src, typen, d);
                ty = typen;
            }
            tt->to_float((const uint8_t *)m->tok->data + (size_t)ids[s][i] * tok_rb, x, d);
            tp->to_float((const uint8_t *)m->pos->data + (size_t)i * pos_rb, row, d);
            for (int e = 0; e < d; e++) x[e] += row[e] + ty[e];
        }
    ln_job lj = { X, T, d, m->ln_e_g, m->ln_e_b, m->eps, m->impl, 0 };
    rg_pool_run(m->pool, ln_worker, &lj);
    /* With CLS pooling (or a raw CLS output) only the first token's output of the last layer
     * is used: that layer computes keys and values for all tokens but queries, attention
     * output and FFN for the CLS rows only (about 7% of the work of a 12-layer model). */
    float *Xc = xmalloc((size_t)nseq * d * sizeof *Xc);
    int *cstart = xmalloc((size_t)nseq * sizeof *cstart), *ones = xmalloc((size_t)nseq * sizeof *ones);
    for (int s = 0; s < nseq; s++) { cstart[s] = s; ones[s] = 1; }
    float *final = X;
    int rc = 0;
    for (int l = 0; l < m->n_layer && rc == 0; l++) {
        const layer_t *L = &m->L[l];
        int cls_only = (raw_cls || m->pooling == 2) && l == m->n_layer - 1;
        float *Xq = X;                 /* rows whose outputs this layer must produce */
        int Tq = T;
        const int *qs = start, *ql = lens;
        if (cls_only) {
            for (int s = 0; s < nseq; s++) memcpy(Xc + (size_t)s * d, X + (size_t)start[s] * d, (size_t)d * sizeof *Xc);
            Xq = Xc; Tq = nseq; qs = cstart; ql = ones;
        }
        const float *Qa = Q, *Ka = K, *Va = V;
        int ldq = d, ldk = d;
        if (L->kvq.data) {             /* fused: [K V Q] rows of width 3d over Q..V's space */
            Ka = Q; Va = Q + d; Qa = Q + 2 * d;
            if (!cls_only) {
                rc |= mm(m, X, T, d, &L->kvq, 3 * d, L->bkvq, NULL, 0, NULL, NULL, Q);
                ldq = ldk = 3 * d;
            } else {                   /* K V for all rows (width 2d), Q for the CLS rows into V's third */
                size_t qoff = 2 * (size_t)d * rg_type_row_bytes(L->kvq.type, d);
                wmat wq = { (const uint8_t *)L->kvq.data + qoff, L->kvq.type };
                rc |= mm(m, X, T, d, &L->kvq, 2 * d, L->bkvq, NULL, 0, NULL, NULL, Q);
                rc |= mm(m, Xq, Tq, d, &wq, d, L->bq, NULL, 0, NULL, NULL, V);
                Qa = V;
                ldk = 2 * d;
            }
        } else {
            rc |= mm(m, Xq, Tq, d, &L->q, d, L->bq, NULL, 0, NULL, NULL, Q);
            rc |= mm(m, X, T, d, &L->k, d, L->bk, NULL, 0, NULL, NULL, K);
            rc |= mm(m, X, T, d, &L->v, d, L->bv, NULL, 0, NULL, NULL, V);
        }
        if (rc) break;
        attn_job aj = { m, Qa, Ka, Va, ldq, ldk, C, start, lens, qs, ql, nseq, max_len, attn_group(m, nseq), 0 };
        rg_pool_run(m->pool, attn_worker, &aj);
        /* X1 = LN(Xq + attn), Xq = LN(X1 + ffn) */
        rc |= mm(m, C, Tq, d, &L->o, d, L->bo, Xq, 0, L->ln1_g, L->ln1_b, X1);
        rc |= mm(m, X1, Tq, d, &L->up, m->n_ff, L->bup, NULL, 1, NULL, NULL, H);
        rc |= mm(m, H, Tq, m->n_ff, &L->down, d, L->bdown, X1, 0, L->ln2_g, L->ln2_b, Xq);
        final = Xq;
    }
    if (rc == 0)
        for (int s = 0; s < nseq; s++) {
            float *o = out + (size_t)s * d;
            const float *x = final + (size_t)(final == Xc ? s : start[s]) * d;
            if (raw_cls) { memcpy(o, x, (size_t)d * sizeof *o); continue; }
            if (m->pooling == 2) memcpy(o, x, (size_t)d * sizeof *o);
            else {
                for (int e = 0; e < d; e++) o[e] = 0;
                for (int i = 0; i < lens[s]; i++)
                    for (int e = 0; e < d; e++) o[e] += x[(size_t)i * d + e];
                for (int e = 0; e < d; e++) o[e] /= (float)lens[s];
            }
            double nn = 0;
            for (int e = 0; e < d; e++) nn += (double)o[e] * o[e];
            float inv = nn > 0 ? (float)(1.0 / sqrt(nn)) : 0.0f;
            for (int e = 0; e < d; e++) o[e] *= inv;
        }
    free(Xc); free(cstart); free(ones);
    if (own) free(own);
    else {
        pthread_mutex_lock(&m->ws_lock);
        m->ws_busy = 0;
        pthread_mutex_unlock(&m->ws_lock);
    }
    free(row); free(type0); free(typen); free(start);
    return rc ? -1 : 0;
}

int rg_bert_embed_tokens(rg_bert *m, const int32_t *const *ids, const int *lens, int nseq, float *out) {
    return forward(m, ids, NULL, lens, nseq, 0, out);
}

int rg_bert_forward_cls(rg_bert *m, const int32_t *const *ids, const int32_t *const *types, const int *lens,
                        int nseq, float *out) {
    return forward(m, ids, types, lens, nseq, 1, out);
}

int rg_bert_embed_texts(rg_bert *m, const char *const *texts, int n, int is_query, float *out) {
    const char *pre = rg_bert_prefix(m, is_query);
    size_t pl = strlen(pre), cap = (size_t)m->n_ctx * 256 + 4096;   /* bytes the tokenizer reads */
    /* consecutive texts are packed into passes of about BATCH_TOKENS tokens, fewer when the
     * model's layers are so wide that activations would pass ~256 MiB; texts are tokenised
     * pass by pass so memory stays bounded however many texts come in */
    int widest = m->n_ff > m->d ? m->n_ff : m->d, budget = BATCH_TOKENS;
    if ((size_t)budget * (size_t)widest * 4 * 3 > (256u << 20)) budget = (int)((256u << 20) / ((size_t)widest * 12));
    if (budget < m->n_ctx) budget = m->n_ctx;
    int32_t *pool = xmalloc((size_t)budget * sizeof *pool);
    int max_seq = budget / 2 + 1;                      /* every sequence has >= 2 tokens */
    const int32_t **seq = xmalloc((size_t)max_seq * sizeof *seq);
    int *lens = xmalloc((size_t)max_seq * sizeof *lens);
    rg_buf b = {0};
    int rc = 0, first = 0, nseq = 0, used = 0;
    for (int i = 0; i <= n && rc == 0; i++) {
        int32_t *dst = pool + used;
        int len = 0;
        if (i < n) {
            const char *t = texts[i] ? texts[i] : "";
            size_t tl = strnlen(t, cap);
            b.len = 0;
            rg_buf_put(&b, pre, pl);
            rg_buf_put(&b, t, tl);
            if (budget - used < m->n_ctx) dst = NULL;     /* may not fit: flush first */
            else len = rg_wordpiece_encode(m->wp, b.data, b.len, dst, m->n_ctx);
        }
        if (i == n || !dst) {
            if (nseq) rc = rg_bert_embed_tokens(m, seq, lens, nseq, out + (size_t)first * m->d);
            first = i;
            nseq = used = 0;
            if (i == n || rc) break;
            dst = pool;
            len = rg_wordpiece_encode(m->wp, b.data, b.len, dst, m->n_ctx);
        }
        seq[nseq] = dst;
        lens[nseq++] = len;
        used += len;
    }
    rg_buf_free(&b);
    free(pool);
    free(seq);
    free(lens);
    return rc;
}

/* ---------------- encoder interface ---------------- */

static int enc_embed(rg_encoder *e, const char *const *texts, int n, int is_query, float *out) {
    return rg_bert_embed_texts(e->impl, texts, n, is_query, out);
}

static void enc_destroy(rg_encoder *e) {
    rg_bert_free(e->impl);
    free(e);
}

rg_encoder *rg_bert_encoder_open(const char *path, int nthreads) {
    rg_bert *m = rg_bert_load(path, nthreads);
    if (!m) return NULL;
    rg_encoder *e = xcalloc(1, sizeof *e);
    snprintf(e->name, sizeof e->name, "gguf:%s:%s", m->name, m->digest);
    e->dim = m->d;
    e->embed = enc_embed;
    e->destroy = enc_destroy;
    e->impl = m;
    return e;
}
