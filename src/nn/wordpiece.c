/* WordPiece tokenizer. The normalisation order follows the Hugging Face `tokenizers`
 * BertNormalizer (clean, CJK padding, NFD + strip Mn, lower case), then the BertPreTokenizer
 * split and the WordPiece model (max 100 characters per word). */
#include "nn/wordpiece.h"
#include "core/util.h"
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#define MAX_WORD_CHARS 100
#define MAX_TOKEN_BYTES 512

struct rg_wordpiece {
    char **tok;
    uint32_t *tok_len;
    size_t n;
    int32_t *slots;          /* open addressing: id or -1 */
    size_t mask;
    int lower;
    int32_t cls, sep, unk;
};

static uint64_t hash_bytes(const char *p, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) { h ^= (unsigned char)p[i]; h *= 1099511628211ull; }
    return h;
}

static int32_t lookup(const rg_wordpiece *wp, const char *p, size_t n) {
    for (size_t i = hash_bytes(p, n) & wp->mask;; i = (i + 1) & wp->mask) {
        int32_t id = wp->slots[i];
        if (id < 0) return -1;
        if (wp->tok_len[id] == n && memcmp(wp->tok[id], p, n) == 0) return id;
    }
}

int32_t rg_wordpiece_id(const rg_wordpiece *wp, const char *token) {
    return lookup(wp, token, strlen(token));
}

static int ascii_upper_in_ordinary(const char *t) {
    size_t n = strlen(t);
    if (n >= 2 && t[0] == '[' && t[n - 1] == ']') return 0;    /* [CLS], [unused0] ... */
    for (; *t; t++) if (*t >= 'A' && *t <= 'Z') return 1;
    return 0;
}

/* Takes ownership of tok[] (n malloc'd strings). */
static rg_wordpiece *build(char **tok, size_t n, int lowercase, const char *what) {
    if (n == 0 || n > (1u << 24)) {
        rg_err("%s: vocabulary size %zu out of range", what, n);
        for (size_t i = 0; i < n; i++) free(tok[i]);
        free(tok);
        return NULL;
    }
    rg_wordpiece *wp = xcalloc(1, sizeof *wp);
    wp->tok = tok;
    wp->n = n;
    wp->tok_len = xmalloc(n * sizeof *wp->tok_len);
    size_t cap = 16;
    while (cap < 2 * n) cap <<= 1;
    wp->mask = cap - 1;
    wp->slots = xmalloc(cap * sizeof *wp->slots);
    for (size_t i = 0; i < cap; i++) wp->slots[i] = -1;
    int upper = 0;
    for (size_t id = 0; id < n; id++) {
        size_t len = strlen(tok[id]);
        wp->tok_len[id] = (uint32_t)(len > UINT32_MAX ? UINT32_MAX : len);
        upper |= ascii_upper_in_ordinary(tok[id]);
        if (lookup(wp, tok[id], len) >= 0) continue;     /* duplicates: the first id wins */
        size_t i = hash_bytes(tok[id], len) & wp->mask;
        while (wp->slots[i] >= 0) i = (i + 1) & wp->mask;
        wp->slots[i] = (int32_t)id;
    }
    wp->lower = lowercase < 0 ? !upper : lowercase != 0;
    wp->cls = rg_wordpiece_id(wp, "[CLS]");
    wp->sep = rg_wordpiece_id(wp, "[SEP]");
    wp->unk = rg_wordpiece_id(wp, "[UNK]");
    if (wp->cls < 0 || wp->sep < 0 || wp->unk < 0) {
        rg_err("%s: vocabulary lacks [CLS], [SEP] or [UNK]", what);
        rg_wordpiece_free(wp);
        return NULL;
    }
    return wp;
}

rg_wordpiece *rg_wordpiece_new(const char *const *tokens, size_t n, int lowercase) {
    char **tok = xmalloc((n ? n : 1) * sizeof *tok);
    for (size_t i = 0; i < n; i++) tok[i] = xstrdup(tokens[i] ? tokens[i] : "");
    return build(tok, n, lowercase, "tokenizer");
}

rg_wordpiece *rg_wordpiece_from_vocab_file(const char *path, int lowercase) {
    size_t len;
    char *data = rg_read_file(path, 64u << 20, &len);
    if (!data) return NULL;
    size_t n = 0, cap = 1024;
    char **tok = xmalloc(cap * sizeof *tok);
    char *p = data, *end = data + len;
    while (p < end) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *e = nl ? nl : end;
        size_t l = (size_t)(e - p);
        if (l && p[l - 1] == '\r') l--;
        if (n == cap) { cap *= 2; tok = xrealloc(tok, cap * sizeof *tok); }
        tok[n++] = xstrndup(p, l);
        p = nl ? nl + 1 : end;
    }
    free(data);
    return build(tok, n, lowercase, path);
}

rg_wordpiece *rg_wordpiece_from_gguf(const rg_gguf *g, int lowercase) {
    size_t n;
    const rg_gguf_str *s;
    if (rg_gguf_get_str_arr(g, "tokenizer.ggml.tokens", &n, &s)) {
        rg_err("model has no tokenizer.ggml.tokens");
        return NULL;
    }
    int et = -1;
    size_t nt = 0;
    const void *types = NULL;
    if (rg_gguf_get_arr(g, "tokenizer.ggml.token_type", &et, &nt, &types) || nt != n) types = NULL;
    /* llama.cpp writes word starts as U+2581 + token and continuations bare; files written
     * with the original spelling have "##" continuations and no U+2581 starts. */
    static const char ph[] = "\xe2\x96\x81";
    int phantom = 0;
    for (size_t i = 0; i < n && !phantom; i++) phantom = s[i].len >= 3 && !memcmp(s[i].p, ph, 3);
    char **tok = xmalloc((n ? n : 1) * sizeof *tok);
    for (size_t i = 0; i < n; i++) {
        int64_t ty = 1;
        if (types) rg_gguf_arr_int(et, types, i, &ty);
        int special = ty == 3 || (s[i].len >= 2 && s[i].p[0] == '[' && s[i].p[s[i].len - 1] == ']');
        if (!phantom || special) tok[i] = xstrndup(s[i].p, s[i].len);
        else if (s[i].len >= 3 && !memcmp(s[i].p, ph, 3)) tok[i] = xstrndup(s[i].p + 3, s[i].len - 3);
        else {
            tok[i] = xmalloc(s[i].len + 3);
            memcpy(tok[i], "##", 2);
            memcpy(tok[i] + 2, s[i].p, s[i].len);
            tok[i][s[i].len + 2] = 0;
        }
    }
    return build(tok, n, lowercase, "model vocabulary");
}

void rg_wordpiece_free(rg_wordpiece *wp) {
    if (!wp) return;
    for (size_t i = 0; i < wp->n; i++) free(wp->tok[i]);
    free(wp->tok);
    free(wp->tok_len);
    free(wp->slots);
    free(wp);
}

size_t rg_wordpiece_vocab_size(const rg_wordpiece *wp) { return wp->n; }
const char *rg_wordpiece_token(const rg_wordpiece *wp, int32_t id) {
    return id >= 0 && (size_t)id < wp->n ? wp->tok[id] : NULL;
}
int rg_wordpiece_lowercase(const rg_wordpiece *wp) { return wp->lower; }
int32_t rg_wordpiece_cls(const rg_wordpiece *wp) { return wp->cls; }
int32_t rg_wordpiece_sep(const rg_wordpiece *wp) { return wp->sep; }
int32_t rg_wordpiece_unk(const rg_wordpiece *wp) { return wp->unk; }

/* ---- character classes (as the Rust tokenizers library defines them) ---- */

static int is_ws(int32_t c) {       /* Unicode White_Space */
    return c == ' ' || (c >= 9 && c <= 13) || c == 0x85 || c == 0xa0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 || c == 0x202f ||
           c == 0x205f || c == 0x3000;
}
static int is_control(int32_t c) {
    if (c == '\t' || c == '\n' || c == '\r') return 0;
    utf8proc_category_t k = utf8proc_category(c);
    return k == UTF8PROC_CATEGORY_CC || k == UTF8PROC_CATEGORY_CF || k == UTF8PROC_CATEGORY_CN ||
           k == UTF8PROC_CATEGORY_CO || k == UTF8PROC_CATEGORY_CS;
}
static int is_cjk(int32_t c) {
    return (c >= 0x4e00 && c <= 0x9fff) || (c >= 0x3400 && c <= 0x4dbf) ||
           (c >= 0x20000 && c <= 0x2a6df) || (c >= 0x2a700 && c <= 0x2b73f) ||
           (c >= 0x2b740 && c <= 0x2b81f) || (c >= 0x2b820 && c <= 0x2ceaf) ||
           (c >= 0xf900 && c <= 0xfaff) || (c >= 0x2f800 && c <= 0x2fa1f);
}
static int is_punct(int32_t c) {
    if ((c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126))
        return 1;
    utf8proc_category_t k = utf8proc_category(c);
    return k >= UTF8PROC_CATEGORY_PC && k <= UTF8PROC_CATEGORY_PO;
}

typedef struct { int32_t *c; size_t n, cap; } cpvec;
static void cp_push(cpvec *v, int32_t c) {
    if (v->n == v->cap) { v->cap = v->cap ? 2 * v->cap : 256; v->c = xrealloc(v->c, v->cap * sizeof *v->c); }
    v->c[v->n++] = c;
}

/* Normalises text into code points; spaces separate words. */
static void normalise(const rg_wordpiece *wp, const char *text, size_t len, cpvec *out) {
    const utf8proc_uint8_t *p = (const utf8proc_uint8_t *)text;
    size_t i = 0;
    while (i < len) {
        int32_t c;
        utf8proc_ssize_t k = utf8proc_iterate(p + i, (utf8proc_ssize_t)(len - i), &c);
        if (k <= 0) { i++; continue; }                 /* invalid byte: dropped like U+FFFD */
        i += (size_t)k;
        if (c == 0 || c == 0xfffd || is_control(c)) continue;
        if (is_ws(c)) { cp_push(out, ' '); continue; }
        if (is_cjk(c)) { cp_push(out, ' '); cp_push(out, c); cp_push(out, ' '); continue; }
        if (!wp->lower) { cp_push(out, c); continue; }
        utf8proc_int32_t d[32];
        int last = 0;
        utf8proc_ssize_t m = utf8proc_decompose_char(c, d, 32, UTF8PROC_DECOMPOSE, &last);
        if (m < 0 || m > 32) { d[0] = c; m = 1; }
        for (utf8proc_ssize_t j = 0; j < m; j++) {
            if (utf8proc_category(d[j]) == UTF8PROC_CATEGORY_MN) continue;
            cp_push(out, utf8proc_tolower(d[j]));
        }
    }
}

/* Appends the pieces of one word (code points w[0..n)); returns ids written. */
static int word_pieces(const rg_wordpiece *wp, const int32_t *w, size_t n, int32_t *ids, int room) {
    if (room <= 0) return 0;
    if (n > MAX_WORD_CHARS) { ids[0] = wp->unk; return 1; }
    char bytes[MAX_WORD_CHARS * 4 + 4], key[MAX_WORD_CHARS * 4 + 8];
    size_t off[MAX_WORD_CHARS + 1];
    off[0] = 0;
    for (size_t i = 0; i < n; i++)
        off[i + 1] = off[i] + (size_t)utf8proc_encode_char(w[i], (utf8proc_uint8_t *)bytes + off[i]);
    int32_t tmp[MAX_WORD_CHARS];
    int cnt = 0;
    size_t start = 0;
    while (start < n) {
        int32_t found = -1;
        size_t end = n;
        for (; end > start; end--) {
            size_t kl = 0;
            if (start > 0) { key[0] = '#'; key[1] = '#'; kl = 2; }
            memcpy(key + kl, bytes + off[start], off[end] - off[start]);
            kl += off[end] - off[start];
            if ((found = lookup(wp, key, kl)) >= 0) break;
        }
        if (found < 0) { ids[0] = wp->unk; return 1; }
        tmp[cnt++] = found;
        start = end;
    }
    if (cnt > room) cnt = room;
    memcpy(ids, tmp, (size_t)cnt * sizeof *ids);
    return cnt;
}

int rg_wordpiece_encode(const rg_wordpiece *wp, const char *text, size_t len, int32_t *ids, int max_ids) {
    if (max_ids < 2) return -1;
    cpvec v = {0};
    /* only a prefix can contribute max_ids tokens; bounding it keeps huge inputs from driving
     * huge allocations (a token averaging over 256 bytes needs pathological whitespace or words) */
    size_t cap = (size_t)max_ids * 256 + 4096;
    if (text && len > cap) {
        len = cap;
        while (len > 0 && ((unsigned char)text[len] & 0xc0) == 0x80) len--;   /* whole characters */
    }
    if (text) normalise(wp, text, len, &v);
    int n = 0, room = max_ids - 1;            /* keep one slot for [SEP] */
    ids[n++] = wp->cls;
    size_t i = 0;
    while (i < v.n && n < room) {
        if (v.c[i] == ' ') { i++; continue; }
        size_t j = i;
        if (is_punct(v.c[i])) j = i + 1;
        else while (j < v.n && v.c[j] != ' ' && !is_punct(v.c[j])) j++;
        n += word_pieces(wp, v.c + i, j - i, ids + n, room - n);
        i = j;
    }
    ids[n++] = wp->sep;
    free(v.c);
    return n;
}
