/* embed/lsa: the LSA model: tokenizer, term dictionary, embedding, and the model file.
 * File layout (little-endian), all of it covered by the trailing SHA-256:
 *   "RGLSA01\n" | u32 format | u32 dim | u32 rank | u32 nterms | i64 fit_chunks | u32 0 | u32 0
 *   nterms x (u8 len, len bytes) | f32 idf[nterms] | f32 scale[dim] | f32 comp[nterms*dim]
 *   | sha256[32]
 * The file is untrusted on load: sizes are bounded, the layout must add up exactly, the checksum
 * must match and every float must be finite. Fitting is in lsa_fit.c, the encoder in
 * lsa_encoder.c. */
#include "embed/lsa_internal.h"
#include "core/util.h"
#include <ctype.h>
#include <math.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#define LSA_MAGIC "RGLSA01\n"
#define LSA_FORMAT 1
#define LSA_MAX_FILE (1u << 30)

/* ---- dictionary ---- */

static uint32_t hash_str(const char *s, int len) {
    uint32_t h = 2166136261u;
    for (int i = 0; i < len; i++) { h ^= (unsigned char)s[i]; h *= 16777619u; }
    return h;
}

void lsa_dict_init(lsa_dict *d) {
    memset(d, 0, sizeof *d);
    d->nslots = 1024;
    d->slots = xmalloc(d->nslots * sizeof *d->slots);
    memset(d->slots, 0xff, d->nslots * sizeof *d->slots);
}

void lsa_dict_free(lsa_dict *d) {
    free(d->pool); free(d->off); free(d->len); free(d->slots);
    memset(d, 0, sizeof *d);
}

static uint32_t dict_slot(const lsa_dict *d, const char *s, int len) {
    uint32_t mask = d->nslots - 1, i = hash_str(s, len) & mask;
    for (;;) {
        int32_t id = d->slots[i];
        if (id < 0) return i;
        if (d->len[id] == len && memcmp(d->pool + d->off[id], s, (size_t)len) == 0) return i;
        i = (i + 1) & mask;
    }
}

int32_t lsa_dict_find(const lsa_dict *d, const char *s, int len) {
    if (!d->slots) return -1;
    return d->slots[dict_slot(d, s, len)];
}

int32_t lsa_dict_add(lsa_dict *d, const char *s, int len) {
    if (len <= 0 || len > 255) return -1;
    uint32_t slot = dict_slot(d, s, len);
    if (d->slots[slot] >= 0) return d->slots[slot];
    if (d->n == d->cap) {
        d->cap = d->cap ? d->cap * 2 : 1024;
        d->off = xrealloc(d->off, d->cap * sizeof *d->off);
        d->len = xrealloc(d->len, d->cap * sizeof *d->len);
    }
    if (d->pool_len + (size_t)len + 1 > d->pool_cap) {
        d->pool_cap = (d->pool_cap ? d->pool_cap * 2 : 16384) + (size_t)len + 1;
        d->pool = xrealloc(d->pool, d->pool_cap);
    }
    int32_t id = (int32_t)d->n++;
    d->off[id] = (uint32_t)d->pool_len;
    d->len[id] = (uint8_t)len;
    memcpy(d->pool + d->pool_len, s, (size_t)len);
    d->pool[d->pool_len + (size_t)len] = 0;
    d->pool_len += (size_t)len + 1;
    d->slots[slot] = id;
    if (d->n * 2 > d->nslots) {   /* grow and rehash at half load */
        uint32_t ns = d->nslots * 2;
        int32_t *slots = xmalloc(ns * sizeof *slots);
        memset(slots, 0xff, ns * sizeof *slots);
        free(d->slots);
        d->slots = slots;
        d->nslots = ns;
        for (uint32_t k = 0; k < d->n; k++) {
            uint32_t i = hash_str(d->pool + d->off[k], d->len[k]) & (ns - 1);
            while (slots[i] >= 0) i = (i + 1) & (ns - 1);
            slots[i] = (int32_t)k;
        }
    }
    return id;
}

/* ---- tokenizer ---- */

static int is_stop(const char *w, int n) {
    static const char *stop[] = {"a", "about", "above", "after", "again", "all", "also", "am", "an", "and",
        "any", "are", "as", "at", "be", "been", "being", "both", "but", "by", "can", "could", "did", "do",
        "does", "doing", "during", "each", "for", "from", "further", "had", "has", "have", "having", "he",
        "her", "here", "him", "his", "how", "i", "if", "in", "into", "is", "it", "its", "itself", "me",
        "more", "most", "my", "no", "nor", "not", "of", "on", "once", "only", "or", "other", "our", "ours",
        "out", "over", "own", "same", "she", "should", "so", "some", "such", "than", "that", "the", "their",
        "them", "then", "there", "these", "they", "this", "those", "through", "to", "too", "under", "until",
        "up", "very", "was", "we", "were", "what", "when", "where", "which", "while", "who", "whom", "why",
        "will", "with", "would", "you", "your", NULL};
    /* The list is sorted: binary search (this runs for every word of the corpus). */
    int lo = 0, hi = (int)(sizeof stop / sizeof *stop) - 2;
    while (lo <= hi) {
        int mid = (lo + hi) / 2, c = strncmp(stop[mid], w, (size_t)n);
        if (c == 0) c = stop[mid][n] ? 1 : 0;
        if (c == 0) return 1;
        if (c < 0) lo = mid + 1; else hi = mid - 1;
    }
    return 0;
}

static int ends(const char *w, int n, const char *suf) {
    int k = (int)strlen(suf);
    return n >= k && memcmp(w + n - k, suf, (size_t)k) == 0;
}

/* A light suffix stripper: plurals, -ed, -ing, final -e; consistent for texts and queries,
 * which is all that matters here ("increased", "increases", "increase" meet). */
static int stem(char *w, int n) {
    for (int i = 0; i < n; i++) if (!isalpha((unsigned char)w[i])) return n;
    if (n > 4 && ends(w, n, "ies")) { w[n - 3] = 'y'; n -= 2; }
    else if (n > 3 && w[n - 1] == 's' && !ends(w, n, "ss") && !ends(w, n, "us") && !ends(w, n, "is")) n--;
    if (n > 5 && ends(w, n, "ing")) n -= 3;
    else if (n > 4 && ends(w, n, "ed")) n -= 2;
    if (n > 4 && w[n - 1] == 'e') n--;
    return n;
}

void rg_lsa_tokens(const char *text, void (*fn)(const char *term, int len, void *ctx), void *ctx) {
    if (!text) return;
    char w[LSA_MAX_TERM + 1], prev[LSA_MAX_TERM + 1], pair[2 * LSA_MAX_TERM + 2];
    int n = 0, digits = 1, over = 0, np = 0;
    for (const unsigned char *p = (const unsigned char *)text;; p++) {
        int c = *p;
        if (c && (isalnum(c) || c >= 0x80)) {
            if (n < LSA_MAX_TERM) w[n++] = (char)tolower(c); else over = 1;
            if (!isdigit(c)) digits = 0;
            continue;
        }
        /* "1,452.4" is one number: a separator between digits stays inside the token. */
        if ((c == ',' || c == '.') && n && digits && isdigit(p[1])) {
            if (c == '.' && n < LSA_MAX_TERM) w[n++] = '.';
            continue;
        }
        if (n > 1 && !over) {
            int m = stem(w, n);
            if (!is_stop(w, m)) {
                fn(w, m, ctx);
                /* Word pairs ("operating income"), joined by a space no word contains: they
                 * lifted recall@5 on TAT-QA dev by 1-2 points over words alone. */
                if (np) {
                    memcpy(pair, prev, (size_t)np);
                    pair[np] = ' ';
                    memcpy(pair + np + 1, w, (size_t)m);
                    fn(pair, np + 1 + m, ctx);
                }
                memcpy(prev, w, (size_t)m);
                np = m;
            }
        }
        n = 0; digits = 1; over = 0;
        if (!c) break;
    }
}

/* ---- model ---- */

rg_lsa_model *lsa_model_alloc(int dim, int nterms) {
    rg_lsa_model *m = xcalloc(1, sizeof *m);
    m->refs = 1;
    m->dim = dim;
    lsa_dict_init(&m->dict);
    m->idf = xcalloc((size_t)nterms + 1, sizeof *m->idf);
    m->scale = xcalloc((size_t)dim, sizeof *m->scale);
    m->comp = xcalloc((size_t)nterms * (size_t)dim + 1, sizeof *m->comp);
    return m;
}

void rg_lsa_model_ref(rg_lsa_model *m) { if (m) __atomic_add_fetch(&m->refs, 1, __ATOMIC_RELAXED); }

void rg_lsa_model_unref(rg_lsa_model *m) {
    if (!m || __atomic_sub_fetch(&m->refs, 1, __ATOMIC_ACQ_REL) != 0) return;
    lsa_dict_free(&m->dict);
    free(m->idf); free(m->scale); free(m->comp);
    free(m);
}

int rg_lsa_model_dim(const rg_lsa_model *m) { return m->dim; }
int rg_lsa_model_terms(const rg_lsa_model *m) { return (int)m->dict.n; }
int64_t rg_lsa_model_fit_chunks(const rg_lsa_model *m) { return m->fit_chunks; }

typedef struct { const rg_lsa_model *m; int32_t *ids; int n, cap, seen, known; } embed_ctx;

static void collect(const char *term, int len, void *p) {
    embed_ctx *c = p;
    int32_t id = lsa_dict_find(&c->m->dict, term, len);
    /* Coverage counts words, not numbers (mostly unique) or word pairs (often rare). */
    if (isalpha((unsigned char)term[0]) && !memchr(term, ' ', (size_t)len)) { c->seen++; c->known += id >= 0; }
    if (id < 0) return;
    if (c->n == c->cap) { c->cap = c->cap ? c->cap * 2 : 256; c->ids = xrealloc(c->ids, (size_t)c->cap * sizeof *c->ids); }
    c->ids[c->n++] = id;
}

static int cmp_i32(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

int rg_lsa_embed_one(const rg_lsa_model *m, const char *text, float *out, int *seen) {
    embed_ctx c = {m, NULL, 0, 0, 0, 0};
    rg_lsa_tokens(text, collect, &c);
    int dim = m->dim, known = c.known;
    memset(out, 0, (size_t)dim * sizeof *out);
    if (c.n) {
        qsort(c.ids, (size_t)c.n, sizeof *c.ids, cmp_i32);
        /* Sublinear tf times idf, L2-normalised like the fitted rows. */
        double wnorm = 0;
        int nu = 0;
        float *w = xmalloc((size_t)c.n * sizeof *w);
        for (int i = 0; i < c.n;) {
            int j = i;
            while (j < c.n && c.ids[j] == c.ids[i]) j++;
            float x = (1.0f + logf((float)(j - i))) * m->idf[c.ids[i]];
            c.ids[nu] = c.ids[i];
            w[nu++] = x;
            wnorm += (double)x * x;
            i = j;
        }
        float inv = wnorm > 0 ? (float)(1.0 / sqrt(wnorm)) : 0;
        for (int i = 0; i < nu; i++) {
            const float *row = m->comp + (size_t)c.ids[i] * (size_t)dim;
            float x = w[i] * inv;
            for (int d = 0; d < dim; d++) out[d] += x * row[d];
        }
        free(w);
        double norm = 0;
        for (int d = 0; d < dim; d++) { out[d] *= m->scale[d]; norm += (double)out[d] * out[d]; }
        if (norm > 0) {
            float s = (float)(1.0 / sqrt(norm));
            for (int d = 0; d < dim; d++) out[d] *= s;
        }
    }
    free(c.ids);
    if (seen) *seen = c.seen;
    return known;
}

/* ---- file ---- */

typedef struct {
    char magic[8];
    uint32_t format, dim, rank, nterms;
    int64_t fit_chunks;
    uint32_t reserved[2];
} lsa_header;

int rg_lsa_save(const rg_lsa_model *m, const char *path) {
    rg_buf b = {0};
    lsa_header h;
    memset(&h, 0, sizeof h);
    memcpy(h.magic, LSA_MAGIC, 8);
    h.format = LSA_FORMAT;
    h.dim = (uint32_t)m->dim;
    h.rank = (uint32_t)m->rank;
    h.nterms = m->dict.n;
    h.fit_chunks = m->fit_chunks;
    rg_buf_put(&b, &h, sizeof h);
    for (uint32_t i = 0; i < m->dict.n; i++) {
        uint8_t len = m->dict.len[i];
        rg_buf_put(&b, &len, 1);
        rg_buf_put(&b, lsa_dict_term(&m->dict, (int32_t)i), len);
    }
    rg_buf_put(&b, m->idf, (size_t)m->dict.n * sizeof *m->idf);
    rg_buf_put(&b, m->scale, (size_t)m->dim * sizeof *m->scale);
    rg_buf_put(&b, m->comp, (size_t)m->dict.n * (size_t)m->dim * sizeof *m->comp);
    unsigned char md[32];
    unsigned int mdlen = 0;
    if (!EVP_Digest(b.data, b.len, md, &mdlen, EVP_sha256(), NULL) || mdlen != 32) {
        rg_buf_free(&b);
        rg_err("%s: sha256 failed", path);
        return -1;
    }
    rg_buf_put(&b, md, 32);
    int rc = rg_write_file_atomic(path, b.data, b.len);
    rg_buf_free(&b);
    return rc;
}

static int all_finite(const float *x, size_t n) {
    for (size_t i = 0; i < n; i++) if (!isfinite(x[i])) return 0;
    return 1;
}

rg_lsa_model *rg_lsa_load(const char *path) {
    size_t len = 0;
    unsigned char *data = (unsigned char *)rg_read_file(path, LSA_MAX_FILE, &len);
    if (!data) return NULL;
    rg_lsa_model *m = NULL;
    lsa_header h;
    if (len < sizeof h + 32) { rg_err("%s: LSA model file truncated", path); goto out; }
    unsigned char md[32];
    unsigned int mdlen = 0;
    if (!EVP_Digest(data, len - 32, md, &mdlen, EVP_sha256(), NULL) || memcmp(md, data + len - 32, 32) != 0) {
        rg_err("%s: LSA model checksum mismatch (corrupt file)", path);
        goto out;
    }
    memcpy(&h, data, sizeof h);
    if (memcmp(h.magic, LSA_MAGIC, 8) != 0) { rg_err("%s: not an LSA model file", path); goto out; }
    if (h.format != LSA_FORMAT) { rg_err("%s: LSA model format %u, expected %d", path, h.format, LSA_FORMAT); goto out; }
    if (h.dim < 1 || h.dim > 4096 || h.rank > h.dim || h.nterms < 1 || h.nterms > LSA_MAX_TERMS || h.fit_chunks < 0) {
        rg_err("%s: LSA model header out of range", path);
        goto out;
    }
    size_t pos = sizeof h, end = len - 32;
    m = lsa_model_alloc((int)h.dim, (int)h.nterms);
    m->rank = (int)h.rank;
    m->fit_chunks = h.fit_chunks;
    for (uint32_t i = 0; i < h.nterms; i++) {
        if (pos >= end) { rg_err("%s: LSA model vocabulary truncated", path); goto bad; }
        int tl = data[pos++];
        if (tl < 1 || tl > 2 * LSA_MAX_TERM + 1 || (size_t)tl > end - pos) { rg_err("%s: bad term length in LSA model", path); goto bad; }
        if (lsa_dict_find(&m->dict, (const char *)data + pos, tl) >= 0 ||
            lsa_dict_add(&m->dict, (const char *)data + pos, tl) != (int32_t)i) {
            rg_err("%s: duplicate term in LSA model", path);
            goto bad;
        }
        pos += (size_t)tl;
    }
    /* nterms <= 2e6 and dim <= 4096: these products cannot overflow size_t. */
    size_t nidf = h.nterms, ncomp = (size_t)h.nterms * h.dim;
    size_t need = (nidf + h.dim + ncomp) * sizeof(float);
    if (end - pos != need) { rg_err("%s: LSA model size does not match its header", path); goto bad; }
    memcpy(m->idf, data + pos, nidf * sizeof(float)); pos += nidf * sizeof(float);
    memcpy(m->scale, data + pos, h.dim * sizeof(float)); pos += h.dim * sizeof(float);
    memcpy(m->comp, data + pos, ncomp * sizeof(float));
    if (!all_finite(m->idf, nidf) || !all_finite(m->scale, h.dim) || !all_finite(m->comp, ncomp)) {
        rg_err("%s: LSA model holds non-finite numbers", path);
        goto bad;
    }
    goto out;
bad:
    rg_lsa_model_unref(m);
    m = NULL;
out:
    free(data);
    return m;
}
