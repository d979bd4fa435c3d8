/* nn/bpe: byte-level BPE. See bpe.h. Tokens are stored as raw bytes; merges are a hash map
 * from (left id, right id) to (rank, merged id); each pre-token is merged lowest rank first
 * (leftmost on ties) with a binary heap over candidate pairs, so long pre-tokens stay fast. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "nn/bpe.h"
#include "core/util.h"
#include <jansson.h>
#include <math.h>
#include <pcre2.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#define MAX_VOCAB (1 << 21)
#define MAX_TOKEN_BYTES 1024
#define MAX_JSON_BYTES ((size_t)256 << 20)

/* Pre-tokenizer regexes, written from the tokenizer configs of each family. */
static const char *PRE_GPT2 =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
static const char *PRE_LLAMA3 =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}|"
    " ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
static const char *PRE_QWEN2 =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}|"
    " ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

typedef struct { char *s; uint32_t len; } tok;
typedef struct { uint64_t key; int32_t rank, id; } pair_ent;

struct rg_bpe {
    int n;
    tok *toks;
    uint8_t *special;        /* per id: matched before pre-tokenization */
    int32_t *map;            /* open addressing, normal tokens by bytes; -1 empty */
    uint32_t map_mask;
    pair_ent *pairs;         /* key 0 = empty (key stores a+1, b+1) */
    uint32_t pair_mask;
    int32_t byte_tok[256];   /* id of each single-byte token, -1 absent */
    int32_t *specials;       /* ids of special tokens, longest first */
    int nspecial;
    uint8_t special_first[256];
    pcre2_code *re;
    int nfc, ignore_merges;
    /* SentencePiece-style (tokenizer.ggml.model "llama"): pieces as written (with U+2581 for
     * spaces), merged by best piece score; toks[] then hold the decoded bytes */
    int spm, add_space_prefix;
    tok *pieces;
    float *scores;
    int32_t *pmap;
    uint32_t pmask;
    int32_t spm_byte[256], unk;
};

/* GPT-2 byte-to-unicode: printable Latin-1 bytes map to themselves, the rest to 256+k. */
static void byte_unicode(uint32_t b2u[256], int16_t u2b[512]) {
    int k = 0;
    for (int i = 0; i < 512; i++) u2b[i] = -1;
    for (int b = 0; b < 256; b++) {
        int keep = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
        b2u[b] = keep ? (uint32_t)b : (uint32_t)(256 + k++);
        u2b[b2u[b]] = (int16_t)b;
    }
}

static uint32_t hash_bytes(const char *s, size_t n) {
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) { h ^= (uint8_t)s[i]; h *= 16777619u; }
    return h;
}
static uint32_t hash_u64(uint64_t x) {
    x ^= x >> 33; x *= 0xff51afd7ed558ccdULL; x ^= x >> 33; x *= 0xc4ceb9fe1a85ec53ULL; x ^= x >> 33;
    return (uint32_t)x;
}

static int32_t map_get(const rg_bpe *t, const char *s, size_t n) {
    for (uint32_t i = hash_bytes(s, n) & t->map_mask;; i = (i + 1) & t->map_mask) {
        int32_t id = t->map[i];
        if (id < 0) return -1;
        if (t->toks[id].len == n && memcmp(t->toks[id].s, s, n) == 0) return id;
    }
}
static void map_put(rg_bpe *t, int32_t id) {
    const tok *k = &t->toks[id];
    for (uint32_t i = hash_bytes(k->s, k->len) & t->map_mask;; i = (i + 1) & t->map_mask) {
        int32_t o = t->map[i];
        if (o < 0) { t->map[i] = id; return; }
        if (t->toks[o].len == k->len && memcmp(t->toks[o].s, k->s, k->len) == 0) return; /* first wins */
    }
}
static const pair_ent *pair_get(const rg_bpe *t, int32_t a, int32_t b) {
    uint64_t key = ((uint64_t)(uint32_t)(a + 1) << 32) | (uint32_t)(b + 1);
    for (uint32_t i = hash_u64(key) & t->pair_mask;; i = (i + 1) & t->pair_mask) {
        if (t->pairs[i].key == 0) return NULL;
        if (t->pairs[i].key == key) return &t->pairs[i];
    }
}
static void pair_put(rg_bpe *t, int32_t a, int32_t b, int32_t rank, int32_t id) {
    uint64_t key = ((uint64_t)(uint32_t)(a + 1) << 32) | (uint32_t)(b + 1);
    for (uint32_t i = hash_u64(key) & t->pair_mask;; i = (i + 1) & t->pair_mask) {
        if (t->pairs[i].key == key) return;              /* a repeated merge keeps its first rank */
        if (t->pairs[i].key == 0) { t->pairs[i] = (pair_ent){key, rank, id}; return; }
    }
}

static uint32_t pow2_at_least(size_t n) {
    uint32_t m = 16;
    while (m < n * 2) m <<= 1;
    return m;
}

/* Undoes the byte-level mapping of a token written in unicode form. Returns -1 (and leaves
 * out untouched) when a code point is not one of the 256 mapped ones. */
static int unmap_bytelevel(const int16_t u2b[512], const char *s, size_t n, rg_buf *out) {
    size_t start = out->len;
    for (size_t i = 0; i < n;) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)s + i, (utf8proc_ssize_t)(n - i), &cp);
        if (k <= 0 || cp < 0 || cp >= 512 || u2b[cp] < 0) { out->len = start; return -1; }
        rg_buf_putc(out, (char)u2b[cp]);
        i += (size_t)k;
    }
    return 0;
}

int rg_bpe_pre_from_name(const char *name, rg_bpe_pre *out) {
    *out = RG_PRE_GPT2;
    if (!name) return -1;
    if (!strcmp(name, "qwen2") || !strcmp(name, "deepseek-r1-qwen")) { *out = RG_PRE_QWEN2; return 0; }
    if (!strcmp(name, "llama-bpe") || !strcmp(name, "llama3") || !strcmp(name, "llama-v3") ||
        !strcmp(name, "smaug-bpe") || !strcmp(name, "dbrx")) { *out = RG_PRE_LLAMA3; return 0; }
    if (!strcmp(name, "gpt2") || !strcmp(name, "default")) return 0;
    return -1;
}

static int compile_re(rg_bpe *t, const char *pattern, const char *what) {
    int errc;
    PCRE2_SIZE erroff;
    t->re = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED,
                          PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF, &errc, &erroff, NULL);
    if (!t->re) {
        PCRE2_UCHAR msg[160];
        pcre2_get_error_message(errc, msg, sizeof msg);
        rg_err("%s: pre-tokenizer regex does not compile at %zu: %s", what, (size_t)erroff, (char *)msg);
        return -1;
    }
    pcre2_jit_compile(t->re, PCRE2_JIT_COMPLETE);   /* optional speed-up; falls back silently */
    return 0;
}

static int cmp_special_len(const void *a, const void *b, void *ctx) {
    const rg_bpe *t = ctx;
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (int)t->toks[y].len - (int)t->toks[x].len;
}

/* Builds the maps once tokens and special flags are set. merges_bytes: 2*nm raw byte strings. */
static int finish(rg_bpe *t, const tok *merges, int nm, const char *what) {
    t->map_mask = pow2_at_least((size_t)t->n) - 1;
    t->map = xmalloc(sizeof(int32_t) * (t->map_mask + 1));
    memset(t->map, 0xff, sizeof(int32_t) * (t->map_mask + 1));
    for (int i = 0; i < 256; i++) t->byte_tok[i] = -1;
    t->specials = xmalloc(sizeof(int32_t) * (size_t)(t->n + 1));
    for (int32_t id = 0; id < t->n; id++) {
        if (t->special[id]) {
            if (t->toks[id].len) {
                t->specials[t->nspecial++] = id;
                t->special_first[(uint8_t)t->toks[id].s[0]] = 1;
            }
            continue;
        }
        if (!t->toks[id].len) continue;
        map_put(t, id);
        if (t->toks[id].len == 1 && t->byte_tok[(uint8_t)t->toks[id].s[0]] < 0)
            t->byte_tok[(uint8_t)t->toks[id].s[0]] = id;
    }
    qsort_r(t->specials, (size_t)t->nspecial, sizeof(int32_t), cmp_special_len, t);
    t->pair_mask = pow2_at_least((size_t)nm + 1) - 1;
    t->pairs = xcalloc(t->pair_mask + 1, sizeof(pair_ent));
    char *cat = xmalloc(2 * MAX_TOKEN_BYTES + 1);
    for (int r = 0; r < nm; r++) {
        const tok *a = &merges[2 * r], *b = &merges[2 * r + 1];
        if (!a->len || !b->len || a->len > MAX_TOKEN_BYTES || b->len > MAX_TOKEN_BYTES) continue;
        int32_t ia = map_get(t, a->s, a->len), ib = map_get(t, b->s, b->len);
        memcpy(cat, a->s, a->len);
        memcpy(cat + a->len, b->s, b->len);
        int32_t ic = map_get(t, cat, a->len + b->len);
        if (ia < 0 || ib < 0 || ic < 0) continue;      /* merges naming unknown tokens are inert */
        pair_put(t, ia, ib, r, ic);
    }
    free(cat);
    (void)what;
    return 0;
}

void rg_bpe_free(rg_bpe *t) {
    if (!t) return;
    if (t->pieces) for (int i = 0; i < t->n; i++) free(t->pieces[i].s);
    free(t->pieces);
    free(t->scores);
    free(t->pmap);
    for (int i = 0; i < t->n; i++) free(t->toks[i].s);
    free(t->toks);
    free(t->special);
    free(t->map);
    free(t->pairs);
    free(t->specials);
    if (t->re) pcre2_code_free(t->re);
    free(t);
}

static rg_bpe *alloc_bpe(int n) {
    rg_bpe *t = xcalloc(1, sizeof *t);
    t->n = n;
    t->toks = xcalloc((size_t)n, sizeof(tok));
    t->special = xcalloc((size_t)n, 1);
    return t;
}

/* Sets token id from its written form: byte-level unmapped unless raw. */
static void set_token(rg_bpe *t, const int16_t u2b[512], int32_t id, const char *s, size_t n, int raw) {
    rg_buf b = {0};
    if (raw || unmap_bytelevel(u2b, s, n, &b) < 0) rg_buf_put(&b, s, n);
    free(t->toks[id].s);
    t->toks[id].len = (uint32_t)b.len;
    t->toks[id].s = b.data ? b.data : xstrdup("");
    if (!b.data) t->toks[id].len = 0;
}

rg_bpe *rg_bpe_new(const char *const *tokens, int ntokens, const char *const *merges, int nmerges,
                   const int32_t *types, rg_bpe_pre pre, int nfc) {
    if (!tokens || ntokens <= 0 || ntokens > MAX_VOCAB || nmerges < 0 || (nmerges && !merges)) {
        rg_err("BPE tokenizer: bad vocabulary size %d or merges %d", ntokens, nmerges);
        return NULL;
    }
    uint32_t b2u[256];
    int16_t u2b[512];
    byte_unicode(b2u, u2b);
    rg_bpe *t = alloc_bpe(ntokens);
    for (int i = 0; i < ntokens; i++) {
        const char *s = tokens[i] ? tokens[i] : "";
        size_t n = strnlen(s, MAX_TOKEN_BYTES * 4 + 1);
        if (n > MAX_TOKEN_BYTES * 4) n = 0;
        int ty = types ? types[i] : RG_TOK_NORMAL;
        int sp = ty == RG_TOK_CONTROL || ty == RG_TOK_USER;
        set_token(t, u2b, i, s, n, sp);
        t->special[i] = (uint8_t)sp;
    }
    tok *mt = xcalloc((size_t)nmerges * 2 + 1, sizeof(tok));
    rg_buf tmp = {0};
    for (int r = 0; r < nmerges; r++) {
        const char *m = merges[r] ? merges[r] : "";
        const char *sp = strchr(m, ' ');
        if (!sp || sp == m || !sp[1]) continue;
        for (int side = 0; side < 2; side++) {
            const char *s = side ? sp + 1 : m;
            size_t n = side ? strlen(sp + 1) : (size_t)(sp - m);
            tmp.len = 0;
            if (unmap_bytelevel(u2b, s, n, &tmp) < 0) rg_buf_put(&tmp, s, n);
            mt[2 * r + side].s = xstrndup(tmp.data, tmp.len);
            mt[2 * r + side].len = (uint32_t)tmp.len;
        }
    }
    rg_buf_free(&tmp);
    finish(t, mt, nmerges, "GGUF tokenizer");
    for (int i = 0; i < nmerges * 2; i++) free(mt[i].s);
    free(mt);
    t->nfc = nfc;
    t->ignore_merges = pre == RG_PRE_LLAMA3;
    const char *pat = pre == RG_PRE_QWEN2 ? PRE_QWEN2 : pre == RG_PRE_LLAMA3 ? PRE_LLAMA3 : PRE_GPT2;
    if (compile_re(t, pat, "GGUF tokenizer") < 0) { rg_bpe_free(t); return NULL; }
    return t;
}

/* Finds the regex and flags of a tokenizer.json pre_tokenizer (Split + ByteLevel forms). */
static const char *json_pre_regex(json_t *pre, int *bytelevel_regex) {
    if (!json_is_object(pre)) return NULL;
    const char *type = json_string_value(json_object_get(pre, "type"));
    if (!type) return NULL;
    if (!strcmp(type, "Sequence")) {
        json_t *arr = json_object_get(pre, "pretokenizers"), *v;
        size_t i;
        const char *found = NULL;
        json_array_foreach(arr, i, v) {
            const char *r = json_pre_regex(v, bytelevel_regex);
            if (r && !found) found = r;
        }
        return found;
    }
    if (!strcmp(type, "Split"))
        return json_string_value(json_object_get(json_object_get(pre, "pattern"), "Regex"));
    if (!strcmp(type, "ByteLevel")) {
        json_t *u = json_object_get(pre, "use_regex");
        if (!u || json_is_true(u)) *bytelevel_regex = 1;
    }
    return NULL;
}

static int json_has_nfc(json_t *norm) {
    if (!json_is_object(norm)) return 0;
    const char *type = json_string_value(json_object_get(norm, "type"));
    if (!type) return 0;
    if (!strcmp(type, "NFC")) return 1;
    if (!strcmp(type, "Sequence")) {
        json_t *arr = json_object_get(norm, "normalizers"), *v;
        size_t i;
        json_array_foreach(arr, i, v) if (json_has_nfc(v)) return 1;
    }
    return 0;
}

rg_bpe *rg_bpe_load_json(const char *path) {
    size_t len;
    char *text = rg_read_file(path, MAX_JSON_BYTES, &len);
    if (!text) return NULL;
    json_error_t jerr;
    json_t *root = json_loadb(text, len, 0, &jerr);
    free(text);
    if (!root) { rg_err("%s: not JSON (line %d: %s)", path, jerr.line, jerr.text); return NULL; }
    rg_bpe *t = NULL;
    tok *mt = NULL;
    int nm = 0;
    json_t *model = json_object_get(root, "model");
    json_t *vocab = json_object_get(model, "vocab");
    json_t *merges = json_object_get(model, "merges");
    json_t *added = json_object_get(root, "added_tokens");
    const char *mtype = json_string_value(json_object_get(model, "type"));
    if (!json_is_object(vocab) || !json_is_array(merges) || (mtype && strcmp(mtype, "BPE"))) {
        rg_err("%s: not a BPE tokenizer.json (model.vocab/model.merges missing)", path);
        goto done;
    }
    /* Vocabulary size: the largest id named by vocab or added_tokens. */
    long long maxid = -1;
    const char *key;
    json_t *v;
    json_object_foreach(vocab, key, v) {
        if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) >= MAX_VOCAB) {
            rg_err("%s: vocab entry \"%.40s\" has a bad id", path, key);
            goto done;
        }
        if (json_integer_value(v) > maxid) maxid = json_integer_value(v);
    }
    size_t i;
    json_array_foreach(added, i, v) {
        json_t *id = json_object_get(v, "id");
        if (!json_is_integer(id) || json_integer_value(id) < 0 || json_integer_value(id) >= MAX_VOCAB ||
            !json_is_string(json_object_get(v, "content"))) {
            rg_err("%s: added_tokens[%zu] is malformed", path, i);
            goto done;
        }
        if (json_integer_value(id) > maxid) maxid = json_integer_value(id);
    }
    if (maxid < 0) { rg_err("%s: empty vocabulary", path); goto done; }
    uint32_t b2u[256];
    int16_t u2b[512];
    byte_unicode(b2u, u2b);
    t = alloc_bpe((int)maxid + 1);
    json_object_foreach(vocab, key, v) {
        size_t kl = strlen(key);
        if (kl > MAX_TOKEN_BYTES * 4) continue;
        set_token(t, u2b, (int32_t)json_integer_value(v), key, kl, 0);
    }
    json_array_foreach(added, i, v) {
        int32_t id = (int32_t)json_integer_value(json_object_get(v, "id"));
        const char *c = json_string_value(json_object_get(v, "content"));
        size_t cl = json_string_length(json_object_get(v, "content"));
        if (cl > MAX_TOKEN_BYTES * 4) continue;
        set_token(t, u2b, id, c, cl, 1);
        t->special[id] = 1;      /* HF matches every added token before the model runs */
    }
    nm = (int)json_array_size(merges);
    mt = xcalloc((size_t)nm * 2 + 1, sizeof(tok));
    rg_buf tmp = {0};
    json_array_foreach(merges, i, v) {
        const char *parts[2] = {0};
        size_t plen[2] = {0};
        if (json_is_string(v)) {
            const char *m = json_string_value(v), *sp = strchr(m, ' ');
            if (!sp) continue;
            parts[0] = m; plen[0] = (size_t)(sp - m);
            parts[1] = sp + 1; plen[1] = strlen(sp + 1);
        } else if (json_is_array(v) && json_array_size(v) == 2 &&
                   json_is_string(json_array_get(v, 0)) && json_is_string(json_array_get(v, 1))) {
            for (int s = 0; s < 2; s++) {
                parts[s] = json_string_value(json_array_get(v, s));
                plen[s] = json_string_length(json_array_get(v, s));
            }
        } else continue;
        for (int s = 0; s < 2; s++) {
            tmp.len = 0;
            if (plen[s] > MAX_TOKEN_BYTES * 4) break;
            if (unmap_bytelevel(u2b, parts[s], plen[s], &tmp) < 0) rg_buf_put(&tmp, parts[s], plen[s]);
            mt[2 * i + s].s = xstrndup(tmp.data ? tmp.data : "", tmp.len);
            mt[2 * i + s].len = (uint32_t)tmp.len;
        }
    }
    rg_buf_free(&tmp);
    finish(t, mt, nm, path);
    t->nfc = json_has_nfc(json_object_get(root, "normalizer"));
    t->ignore_merges = json_is_true(json_object_get(model, "ignore_merges"));
    int bl_regex = 0;
    const char *pat = json_pre_regex(json_object_get(root, "pre_tokenizer"), &bl_regex);
    if (!pat) pat = PRE_GPT2;
    if (compile_re(t, pat, path) < 0) { rg_bpe_free(t); t = NULL; }
done:
    if (mt) for (int k = 0; k < nm * 2; k++) free(mt[k].s);
    free(mt);
    json_decref(root);
    return t;
}

/* ---- encoding ---- */

typedef struct { int32_t *v; int n, cap; } ids_vec;
static void ids_push(ids_vec *o, int32_t id);

/* ---- SentencePiece-style BPE ---- */

static int32_t pmap_get(const rg_bpe *t, const char *s, size_t n) {
    for (uint32_t i = hash_bytes(s, n) & t->pmask;; i = (i + 1) & t->pmask) {
        int32_t id = t->pmap[i];
        if (id < 0) return -1;
        if (t->pieces[id].len == n && memcmp(t->pieces[id].s, s, n) == 0) return id;
    }
}

static const char SPACE_MARK[] = "\xe2\x96\x81";     /* U+2581 */

rg_bpe *rg_bpe_new_spm(const char *const *tokens, int ntokens, const float *scores, const int32_t *types,
                       int add_space_prefix) {
    if (!tokens || ntokens <= 0 || ntokens > MAX_VOCAB) { rg_err("SentencePiece tokenizer: bad vocabulary size %d", ntokens); return NULL; }
    rg_bpe *t = alloc_bpe(ntokens);
    t->spm = 1;
    t->add_space_prefix = add_space_prefix;
    t->unk = -1;
    t->pieces = xcalloc((size_t)ntokens, sizeof(tok));
    t->scores = xcalloc((size_t)ntokens, sizeof(float));
    for (int i = 0; i < 256; i++) t->spm_byte[i] = -1;
    t->pmask = pow2_at_least((size_t)ntokens) - 1;
    t->pmap = xmalloc(sizeof(int32_t) * (t->pmask + 1));
    memset(t->pmap, 0xff, sizeof(int32_t) * (t->pmask + 1));
    for (int i = 0; i < ntokens; i++) {
        const char *p = tokens[i] ? tokens[i] : "";
        size_t n = strnlen(p, MAX_TOKEN_BYTES * 4 + 1);
        if (n > MAX_TOKEN_BYTES * 4) n = 0;
        int ty = types ? types[i] : RG_TOK_NORMAL;
        t->scores[i] = scores && isfinite(scores[i]) ? scores[i] : 0;
        t->pieces[i].s = xstrndup(p, n);
        t->pieces[i].len = (uint32_t)n;
        rg_buf d = {0};
        unsigned bv;
        char tail;
        if (ty == RG_TOK_BYTE && n == 6 && sscanf(p, "<0x%2X>%c", &bv, &tail) == 1) {
            t->spm_byte[bv & 255] = i;
            rg_buf_putc(&d, (char)bv);
        } else if (ty == RG_TOK_CONTROL || ty == RG_TOK_USER || ty == RG_TOK_UNKNOWN || ty == RG_TOK_UNUSED) {
            if (ty == RG_TOK_UNKNOWN && t->unk < 0) t->unk = i;
            if (ty == RG_TOK_CONTROL || ty == RG_TOK_USER) t->special[i] = 1;
            rg_buf_put(&d, p, n);
        } else {
            for (size_t k = 0; k < n;) {         /* decoded form: U+2581 -> space */
                if (k + 3 <= n && memcmp(p + k, SPACE_MARK, 3) == 0) { rg_buf_putc(&d, ' '); k += 3; }
                else rg_buf_putc(&d, p[k++]);
            }
            /* the piece map: first id wins for duplicates */
            if (n) {
                uint32_t h = hash_bytes(p, n) & t->pmask;
                for (;; h = (h + 1) & t->pmask) {
                    int32_t o = t->pmap[h];
                    if (o < 0) { t->pmap[h] = i; break; }
                    if (t->pieces[o].len == n && memcmp(t->pieces[o].s, p, n) == 0) break;
                }
            }
        }
        t->toks[i].len = (uint32_t)d.len;
        t->toks[i].s = d.data ? d.data : xstrdup("");
    }
    /* specials, longest first, for matching in text */
    t->specials = xmalloc(sizeof(int32_t) * (size_t)(t->n + 1));
    for (int32_t id = 0; id < t->n; id++)
        if (t->special[id] && t->toks[id].len) {
            t->specials[t->nspecial++] = id;
            t->special_first[(uint8_t)t->toks[id].s[0]] = 1;
        }
    qsort_r(t->specials, (size_t)t->nspecial, sizeof(int32_t), cmp_special_len, t);
    return t;
}

typedef struct { float score; int32_t left, right; uint32_t size; } spm_ent;
typedef struct { uint32_t start, len; int32_t prev, next; } spm_sym;

static int spm_less(const spm_ent *a, const spm_ent *b) {     /* "a pops first" */
    return a->score > b->score || (a->score == b->score && a->left < b->left);
}
static void spm_push(spm_ent *h, int *n, spm_ent e) {
    int i = (*n)++;
    while (i > 0) { int p = (i - 1) / 2; if (!spm_less(&e, &h[p])) break; h[i] = h[p]; i = p; }
    h[i] = e;
}
static spm_ent spm_pop(spm_ent *h, int *n) {
    spm_ent top = h[0], last = h[--(*n)];
    int i = 0;
    for (;;) {
        int c = 2 * i + 1;
        if (c >= *n) break;
        if (c + 1 < *n && spm_less(&h[c + 1], &h[c])) c++;
        if (!spm_less(&h[c], &last)) break;
        h[i] = h[c];
        i = c;
    }
    if (*n > 0) h[i] = last;
    return top;
}
static void spm_try(const rg_bpe *t, const char *s, spm_sym *y, int left, spm_ent *h, int *hn) {
    if (left < 0 || y[left].next < 0) return;
    int right = y[left].next;
    int32_t id = pmap_get(t, s + y[left].start, y[left].len + y[right].len);
    if (id >= 0) spm_push(h, hn, (spm_ent){t->scores[id], left, right, y[left].len + y[right].len});
}

static int encode_spm(const rg_bpe *t, const char *text, size_t len, int at_start, ids_vec *out) {
    if (len == 0) return 0;
    rg_buf b = {0};
    if (at_start && t->add_space_prefix) rg_buf_puts(&b, SPACE_MARK);
    for (size_t i = 0; i < len; i++) {
        if (text[i] == ' ') rg_buf_puts(&b, SPACE_MARK);
        else rg_buf_putc(&b, text[i]);
    }
    const char *s = b.data;
    size_t n = b.len;
    spm_sym *y = xmalloc(sizeof(spm_sym) * n);
    int ns = 0;
    for (size_t i = 0; i < n;) {                 /* one symbol per UTF-8 character */
        uint8_t c = (uint8_t)s[i];
        size_t k = c < 0x80 ? 1 : c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
        if (i + k > n) k = n - i;
        y[ns] = (spm_sym){(uint32_t)i, (uint32_t)k, ns - 1, -1};
        if (ns > 0) y[ns - 1].next = ns;
        ns++;
        i += k;
    }
    spm_ent *h = xmalloc(sizeof(spm_ent) * (3 * (size_t)ns + 2));
    int hn = 0;
    for (int i = 0; i + 1 < ns; i++) spm_try(t, s, y, i, h, &hn);
    while (hn > 0) {
        spm_ent e = spm_pop(h, &hn);
        if (y[e.left].len == 0 || y[e.left].next != e.right || y[e.left].len + y[e.right].len != e.size) continue;
        y[e.left].len += y[e.right].len;
        int nx = y[e.right].next;
        y[e.left].next = nx;
        if (nx >= 0) y[nx].prev = e.left;
        y[e.right].len = 0;
        y[e.right].next = -1;
        spm_try(t, s, y, y[e.left].prev, h, &hn);
        spm_try(t, s, y, e.left, h, &hn);
    }
    int rc = 0;
    for (int i = 0; i >= 0 && i < ns; i = y[i].next) {
        int32_t id = pmap_get(t, s + y[i].start, y[i].len);
        if (id >= 0) { ids_push(out, id); continue; }
        for (uint32_t k = 0; k < y[i].len; k++) {   /* byte fallback */
            int32_t bid = t->spm_byte[(uint8_t)s[y[i].start + k]];
            if (bid < 0) bid = t->unk;
            if (bid < 0) { rg_err("SentencePiece tokenizer: no token for byte 0x%02x", (uint8_t)s[y[i].start + k]); rc = -1; break; }
            ids_push(out, bid);
        }
        if (rc) break;
    }
    free(h);
    free(y);
    rg_buf_free(&b);
    return rc;
}


static void ids_push(ids_vec *o, int32_t id) {
    if (o->n == o->cap) { o->cap = o->cap ? o->cap * 2 : 64; o->v = xrealloc(o->v, sizeof(int32_t) * (size_t)o->cap); }
    o->v[o->n++] = id;
}

typedef struct { int32_t rank, left, right, a, b; } heap_ent;
typedef struct { int32_t id, prev, next; } sym;

static int heap_less(const heap_ent *x, const heap_ent *y) {
    return x->rank < y->rank || (x->rank == y->rank && x->left < y->left);
}
static void heap_push(heap_ent *h, int *n, heap_ent e) {
    int i = (*n)++;
    while (i > 0) {
        int p = (i - 1) / 2;
        if (!heap_less(&e, &h[p])) break;
        h[i] = h[p];
        i = p;
    }
    h[i] = e;
}
static heap_ent heap_pop(heap_ent *h, int *n) {
    heap_ent top = h[0], last = h[--(*n)];
    int i = 0;
    for (;;) {
        int c = 2 * i + 1;
        if (c >= *n) break;
        if (c + 1 < *n && heap_less(&h[c + 1], &h[c])) c++;
        if (!heap_less(&h[c], &last)) break;
        h[i] = h[c];
        i = c;
    }
    if (*n > 0) h[i] = last;
    return top;
}

static void try_pair(const rg_bpe *t, sym *s, int left, heap_ent *h, int *hn) {
    if (left < 0 || s[left].next < 0) return;
    int right = s[left].next;
    const pair_ent *p = pair_get(t, s[left].id, s[right].id);
    if (p) heap_push(h, hn, (heap_ent){p->rank, left, right, s[left].id, s[right].id});
}

/* Merges one pre-token's bytes. */
static int bpe_piece(const rg_bpe *t, const char *p, size_t n, ids_vec *out) {
    if (n == 0) return 0;
    if (t->ignore_merges) {
        int32_t id = map_get(t, p, n);
        if (id >= 0) { ids_push(out, id); return 0; }
    }
    sym *s = xmalloc(sizeof(sym) * n);
    heap_ent *h = xmalloc(sizeof(heap_ent) * (3 * n + 2));   /* n-1 initial + 2 per merge */
    int hn = 0;
    for (size_t i = 0; i < n; i++) {
        int32_t id = t->byte_tok[(uint8_t)p[i]];
        if (id < 0) {
            rg_err("BPE tokenizer: byte 0x%02x has no token", (uint8_t)p[i]);
            free(s); free(h);
            return -1;
        }
        s[i] = (sym){id, (int32_t)i - 1, i + 1 < n ? (int32_t)i + 1 : -1};
    }
    for (size_t i = 0; i + 1 < n; i++) try_pair(t, s, (int)i, h, &hn);
    while (hn > 0) {
        heap_ent e = heap_pop(h, &hn);
        /* Stale entries: either side changed since the pair was pushed. */
        if (s[e.left].id != e.a || s[e.left].next != e.right || s[e.right].id != e.b) continue;
        const pair_ent *pe = pair_get(t, e.a, e.b);
        s[e.left].id = pe->id;
        int nx = s[e.right].next;
        s[e.left].next = nx;
        if (nx >= 0) s[nx].prev = e.left;
        s[e.right].id = -1;
        s[e.right].next = -1;
        try_pair(t, s, s[e.left].prev, h, &hn);
        try_pair(t, s, e.left, h, &hn);
    }
    for (int i = 0; i >= 0; i = s[i].next) ids_push(out, s[i].id);
    free(s);
    free(h);
    return 0;
}

/* Pre-tokenizes one stretch of ordinary text and merges each piece. */
static int encode_plain(const rg_bpe *t, const char *text, size_t len, ids_vec *out) {
    if (len == 0) return 0;
    char *norm = NULL;
    if (t->nfc) {
        int ascii = 1;
        for (size_t i = 0; i < len && ascii; i++) ascii = (uint8_t)text[i] < 0x80;
        if (!ascii && rg_utf8_valid(text, len)) {
            utf8proc_uint8_t *dst = NULL;
            utf8proc_ssize_t r = utf8proc_map((const utf8proc_uint8_t *)text, (utf8proc_ssize_t)len, &dst,
                                              UTF8PROC_STABLE | UTF8PROC_COMPOSE);
            if (r >= 0 && dst) { norm = (char *)dst; text = norm; len = (size_t)r; }
            else free(dst);
        }
    }
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(t->re, NULL);
    size_t pos = 0;
    int rc = 0;
    while (pos < len) {
        int m = pcre2_match(t->re, (PCRE2_SPTR)text, len, pos, 0, md, NULL);
        size_t ms, me;
        if (m < 0) { ms = me = len; }
        else {
            PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
            ms = ov[0]; me = ov[1];
            if (me <= ms) {                 /* empty match: never loop, take one byte as a gap */
                if (ms >= len) { ms = me = len; }
                else { me = ms + 1; }
            }
        }
        if (ms > pos && bpe_piece(t, text + pos, ms - pos, out) < 0) { rc = -1; break; }  /* unmatched gap */
        if (me > ms && bpe_piece(t, text + ms, me - ms, out) < 0) { rc = -1; break; }
        pos = me;
    }
    pcre2_match_data_free(md);
    free(norm);
    return rc;
}

static int encode_seg(const rg_bpe *t, const char *text, size_t len, int at_start, ids_vec *out) {
    return t->spm ? encode_spm(t, text, len, at_start, out) : encode_plain(t, text, len, out);
}

int rg_bpe_encode(const rg_bpe *t, const char *text, size_t len, int parse_special, int32_t **ids) {
    *ids = NULL;
    if (!t || (!text && len)) { rg_err("BPE tokenizer: no text"); return -1; }
    ids_vec out = {0};
    size_t start = 0, i = 0;
    if (parse_special && t->nspecial) {
        while (i < len) {
            int32_t hit = -1;
            if (t->special_first[(uint8_t)text[i]]) {
                for (int k = 0; k < t->nspecial; k++) {
                    const tok *sp = &t->toks[t->specials[k]];
                    if (sp->len <= len - i && memcmp(text + i, sp->s, sp->len) == 0) { hit = t->specials[k]; break; }
                }
            }
            if (hit < 0) { i++; continue; }
            if (encode_seg(t, text + start, i - start, start == 0, &out) < 0) { free(out.v); return -1; }
            ids_push(&out, hit);
            i += t->toks[hit].len;
            start = i;
        }
    }
    if (encode_seg(t, text + start, len - start, start == 0, &out) < 0) { free(out.v); return -1; }
    if (!out.v) out.v = xmalloc(sizeof(int32_t));
    *ids = out.v;
    return out.n;
}

char *rg_bpe_decode(const rg_bpe *t, const int32_t *ids, int n, size_t *len) {
    rg_buf b = {0};
    for (int i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= t->n) {
            rg_err("BPE tokenizer: token id %d out of range (vocabulary %d)", ids[i], t->n);
            rg_buf_free(&b);
            return NULL;
        }
        const tok *k = &t->toks[ids[i]];
        int skip = t->spm && t->add_space_prefix && i == 0 && k->len && k->s[0] == ' ' && !t->special[ids[i]];
        rg_buf_put(&b, k->s + skip, k->len - (uint32_t)skip);   /* the space encode put in front */
    }
    if (len) *len = b.len;
    if (!b.data) return xstrdup("");
    return rg_buf_take(&b);
}

const char *rg_bpe_token(const rg_bpe *t, int32_t id, size_t *len) {
    if (!t || id < 0 || id >= t->n) return NULL;
    if (len) *len = t->toks[id].len;
    return t->toks[id].s;
}
int rg_bpe_is_special(const rg_bpe *t, int32_t id) { return t && id >= 0 && id < t->n && t->special[id]; }
int rg_bpe_vocab_size(const rg_bpe *t) { return t ? t->n : 0; }

int32_t rg_bpe_find(const rg_bpe *t, const char *s) {
    size_t n = strlen(s);
    for (int k = 0; k < t->nspecial; k++) {
        const tok *sp = &t->toks[t->specials[k]];
        if (sp->len == n && memcmp(sp->s, s, n) == 0) return t->specials[k];
    }
    if (t->spm) return n ? pmap_get(t, s, n) : -1;
    return n ? map_get(t, s, n) : -1;
}
