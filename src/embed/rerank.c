/* Cross-encoder reranker: a BERT GGUF with llama.cpp's sequence-classification head
 * (bert.pooling_type = 4, "rank"), computed as llama.cpp's rank pooling does: the final hidden
 * state of [CLS] goes through the pooler when the file has one ("cls.weight", optional
 * "cls.bias", then tanh) and then the classifier ("cls.output.weight", optional
 * "cls.output.bias"); the first classifier output is the score. llama.cpp's converter drops
 * a BERT model's pooler, so files it makes from Hugging Face BertForSequenceClassification
 * models have the classifier only (and score like llama.cpp, not like transformers).
 * Pairs are "[CLS] query [SEP] passage [SEP]" with token type 0 up to the first [SEP] and 1
 * after it; the query keeps at most half the model's positions, the passage is truncated to
 * the rest. Pairs are scored in packed passes through bert.c's forward pass. */
#include "embed/rerank.h"
#include "core/util.h"
#include "embed/bert.h"
#include "nn/gguf.h"
#include "nn/tensor.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define PASS_TOKENS 4096       /* tokens per packed forward pass */
#define RANK_POOLING 4         /* llama.cpp's LLAMA_POOLING_TYPE_RANK */

struct rg_reranker {
    rg_bert *m;
    int d, n_ctx;
    float *pool_w, *pool_b;    /* d x d (row o = output o) and d, or NULL: no pooler */
    float *out_w, out_b;       /* first classifier row (d) and its bias */
    char name[160];
};

/* An f32 copy of the first `rows` rows of a tensor whose rows have ne0 values (a 1-D tensor
 * is one row). */
static float *load_rows(const rg_gguf *g, const char *name, int64_t ne0, int64_t rows) {
    const rg_gguf_tensor *t = rg_gguf_tensor_find(g, name);
    if (!t) { rg_err("not a sequence-classification (reranker) model: no tensor %s", name); return NULL; }
    const rg_type_traits *tr = rg_type_get(t->type);
    size_t rb = tr ? rg_type_row_bytes(t->type, ne0) : 0;
    if (!rb || t->ne[0] != ne0 || t->ne[1] < rows || t->ne[2] != 1 || t->ne[3] != 1) {
        rg_err("reranker tensor %s (shape [%lld, %lld], type %d) does not fit a hidden size of %lld", name,
               (long long)t->ne[0], (long long)t->ne[1], t->type, (long long)ne0);
        return NULL;
    }
    float *v = xmalloc((size_t)(rows * ne0) * sizeof *v);
    for (int64_t r = 0; r < rows; r++) tr->to_float((const uint8_t *)t->data + (size_t)r * rb, v + r * ne0, ne0);
    return v;
}

void rg_reranker_close(rg_reranker *r) {
    if (!r) return;
    rg_bert_free(r->m);
    free(r->pool_w);
    free(r->pool_b);
    free(r->out_w);
    free(r);
}

static int check_head(rg_reranker *r) {
    const rg_gguf *g = rg_bert_gguf(r->m);
    int64_t pt = -1;
    if (rg_gguf_get_int(g, "bert.pooling_type", &pt) == 0 && pt != RANK_POOLING) {
        rg_err("not a reranker: bert.pooling_type is %lld, not %d (rank)", (long long)pt, RANK_POOLING);
        return -1;
    }
    if (rg_bert_type_count(r->m) < 2) { rg_err("not a reranker: the model has no token type 1"); return -1; }
    /* the classifier is what makes a reranker; the pooler before it is optional */
    if (!(r->out_w = load_rows(g, "cls.output.weight", r->d, 1))) return -1;
    const rg_gguf_tensor *ow = rg_gguf_tensor_find(g, "cls.output.weight"), *t = rg_gguf_tensor_find(g, "cls.output.bias");
    if (t && (t->ne[1] != 1 || t->ne[0] != ow->ne[1])) {
        rg_err("reranker: cls.output.bias does not match cls.output.weight");
        return -1;
    }
    if (rg_gguf_tensor_find(g, "cls.weight")) {
        const rg_gguf_tensor *pw = rg_gguf_tensor_find(g, "cls.weight"), *pb = rg_gguf_tensor_find(g, "cls.bias");
        if (pw->ne[1] != r->d || (pb && pb->ne[1] != 1)) {
            rg_err("reranker pooler cls.weight/cls.bias is not %d x %d", r->d, r->d);
            return -1;
        }
        if (!(r->pool_w = load_rows(g, "cls.weight", r->d, r->d))) return -1;
        r->pool_b = pb ? load_rows(g, "cls.bias", r->d, 1) : xcalloc((size_t)r->d, sizeof *r->pool_b);
        if (!r->pool_b) return -1;
    }
    if (!t) return 0;
    float *ob = load_rows(g, "cls.output.bias", t->ne[0], 1);
    if (!ob) return -1;
    r->out_b = ob[0];
    free(ob);
    return 0;
}

rg_reranker *rg_reranker_open(const char *path, int threads) {
    rg_bert *m = rg_bert_load(path, threads);
    if (!m) return NULL;
    rg_reranker *r = xcalloc(1, sizeof *r);
    r->m = m;
    r->d = rg_bert_dim(m);
    r->n_ctx = rg_bert_max_tokens(m);
    if (r->n_ctx < 8) rg_err("reranker context of %d tokens is too short", r->n_ctx);
    if (r->n_ctx < 8 || check_head(r)) {
        char *why = xstrdup(rg_errmsg());
        rg_err("%s: %s", path, why);
        free(why);
        rg_reranker_close(r);
        return NULL;
    }
    snprintf(r->name, sizeof r->name, "gguf:%s", rg_bert_name(m));
    return r;
}

const char *rg_reranker_name(const rg_reranker *r) { return r->name; }

/* score = out_w . tanh(pool_w . h + pool_b) + out_b (without a pooler: out_w . h + out_b),
 * in double for the small sums. */
static float head(const rg_reranker *r, const float *h) {
    double s = r->out_b;
    for (int o = 0; o < r->d; o++) {
        double a = h[o];
        if (r->pool_w) {
            const float *w = r->pool_w + (size_t)o * r->d;
            a = r->pool_b[o];
            for (int k = 0; k < r->d; k++) a += (double)w[k] * h[k];
            a = tanh(a);
        }
        s += a * r->out_w[o];
    }
    return (float)s;
}

/* Tokenises one pair into ids/types (capacity n_ctx): [CLS] q [SEP] (type 0) p [SEP] (type 1). */
static int encode_pair(const rg_reranker *r, const int32_t *q, int lq, const char *p, int32_t *ids,
                       int32_t *types) {
    const rg_wordpiece *wp = rg_bert_tokenizer(r->m);
    memcpy(ids, q, (size_t)lq * sizeof *ids);
    /* the passage's own [CLS] lands on ids[lq - 1] and is dropped: [SEP] of the query goes back */
    int32_t sep = ids[lq - 1];
    size_t pl = strnlen(p ? p : "", (size_t)r->n_ctx * 256 + 4096);
    int lp = rg_wordpiece_encode(wp, p ? p : "", pl, ids + lq - 1, r->n_ctx - lq + 1);
    if (lp < 2) { rg_err("reranker: passage could not be tokenised"); return -1; }
    ids[lq - 1] = sep;
    int n = lq + lp - 1;
    for (int i = 0; i < n; i++) types[i] = i < lq ? 0 : 1;
    return n;
}

int rg_reranker_score(rg_reranker *r, const char *query, const char *const *passages, int n, float *scores) {
    if (n <= 0) return 0;
    if (!r || !passages || !scores) { rg_err("reranker: no model, passages or score array"); return -1; }
    if (!query) query = "";
    const rg_wordpiece *wp = rg_bert_tokenizer(r->m);
    int qmax = r->n_ctx / 2;
    int32_t *q = xmalloc((size_t)qmax * sizeof *q);
    int lq = rg_wordpiece_encode(wp, query, strnlen(query, (size_t)qmax * 256 + 4096), q, qmax);
    if (lq < 2) { free(q); rg_err("reranker: query could not be tokenised"); return -1; }
    int budget = PASS_TOKENS > r->n_ctx ? PASS_TOKENS : r->n_ctx, max_seq = budget / 3 + 1;
    int32_t *ids = xmalloc((size_t)budget * sizeof *ids), *types = xmalloc((size_t)budget * sizeof *types);
    const int32_t **sid = xmalloc((size_t)max_seq * sizeof *sid), **sty = xmalloc((size_t)max_seq * sizeof *sty);
    int *lens = xmalloc((size_t)max_seq * sizeof *lens);
    float *h = xmalloc((size_t)max_seq * r->d * sizeof *h);
    int rc = 0, first = 0, nseq = 0, used = 0;
    for (int i = 0; i <= n && rc == 0; i++) {
        /* flush the pass when the next pair might not fit (or at the end) */
        if (i == n || budget - used < r->n_ctx || nseq == max_seq) {
            if (nseq && (rc = rg_bert_forward_cls(r->m, sid, sty, lens, nseq, h)) == 0)
                for (int s = 0; s < nseq; s++) scores[first + s] = head(r, h + (size_t)s * r->d);
            first = i;
            nseq = used = 0;
            if (i == n || rc) break;
        }
        int len = encode_pair(r, q, lq, passages[i], ids + used, types + used);
        if (len < 0) { rc = -1; break; }
        sid[nseq] = ids + used;
        sty[nseq] = types + used;
        lens[nseq++] = len;
        used += len;
    }
    free(q); free(ids); free(types); free(sid); free(sty); free(lens); free(h);
    return rc ? -1 : 0;
}
