/* index/lex: see lex.h. The writer's in-memory index, segment writing, merging and checks. */
#include "index/lex.h"
#include "index/table_rows.h"
#include "index/lex_block.h"
#include <stdlib.h>
#include <string.h>

/* One posting appended to b, written in place (rg_buf_put per varint costs more than the
 * encoding). */
static void post_put(rg_buf *b, uint64_t delta, uint64_t wtf, uint64_t len) {
    rg_buf_reserve(b, 30);   /* three varints of at most 10 bytes */
    unsigned char *o = (unsigned char *)b->data + b->len;
    size_t n = rg_varint_put(o, delta);
    n += rg_varint_put(o + n, wtf);
    n += rg_varint_put(o + n, len);
    b->len += n;
}

int64_t rg_lex_decode(const unsigned char *p, size_t n, int64_t df, int64_t last, rg_lex_posting *out) {
    size_t pos = 0;
    int64_t prev = 0, i;
    for (i = 0; i < df; i++) {
        uint64_t d, wtf, len;
        if (rg_varint_get(p, n, &pos, &d) || rg_varint_get(p, n, &pos, &wtf) || rg_varint_get(p, n, &pos, &len)) break;
        if (last < prev) break;
        if (d == 0 || d > (uint64_t)(last - prev) || wtf == 0 || wtf > UINT32_MAX || len > UINT32_MAX) break;
        prev += (int64_t)d;
        out[i] = (rg_lex_posting){prev, (uint32_t)wtf, (uint32_t)len};
    }
    return i;
}

/* Postings a blob of n bytes can hold at most (three varints of a byte or more each): the
 * bound on what a df read from the database may make us allocate. */
static int64_t df_bound(int64_t df, size_t n) {
    int64_t cap = (int64_t)(n / 3);
    return df < 0 ? 0 : df < cap ? df : cap;
}

/* ---- the writer's in-memory index ---- */

/* A batch's postings are collected as records in the order chunks come, and sorted by term
 * only when the segment is written: appending to a list per term touched a random list for
 * nearly every number of a table (numbers are most of a batch's terms), a cache miss each. */
typedef struct { uint32_t off, len; } lx_term;          /* the stem in the arena */
typedef struct { uint32_t term, chunk, wtf; } lx_rec;   /* chunk: ordinal in the batch */

/* Open addressing, 32-byte slots. A key of up to 24 bytes (nearly every word) sits in the
 * slot zero-padded, so a lookup compares three integers of the line it already loaded (words
 * hold no NUL byte, so equal padded keys are equal words). A longer key lives in the arena:
 * k = {offset, length, LONG_KEY}, a value no padded key can have (0xff is never in UTF-8).
 * Value: a term index, or -1 for a stopword. */
#define LONG_KEY UINT64_MAX
typedef struct { uint64_t k[3]; uint32_t hash; int32_t val; } lx_slot;
typedef struct { lx_slot *slot; uint32_t cap, used; } lx_map;
typedef struct { uint64_t k[3]; const char *s; uint32_t len, hash; } lx_key;
/* A word of the chunk being added: its key (a long one's bytes at offset s in long_words
 * until the chunk is all split), its weight, and what it is: a word, a number, or a number
 * of at most SMALL_DIGITS digits, whose term is found by its code in a direct table. */
enum { Q_WORD, Q_NUMBER, Q_SMALL };
typedef struct { lx_key key; uint32_t code; uint16_t weight, kind; } lx_word;

/* Numbers of up to 4 digits (thousands groups, years: nearly every number of a report, as
 * "1,452.4" splits into 1, 452 and 4) have a slot each, keyed by length and value (so "07"
 * is not "7"): 10 + 100 + 1000 + 10000 slots of a term id, which stay in cache where a hash
 * map of the batch's terms does not. */
#define SMALL_DIGITS 4
#define SMALL_CODES 11110
static const uint32_t small_base[SMALL_DIGITS + 1] = {0, 0, 10, 110, 1110};
_Static_assert(sizeof(lx_slot) == 32, "two slots a cache line");

/* Records a batch may hold (12 bytes each, and as many again to sort them) before its
 * postings are written as a segment of their own, inside the same transaction: 4M records
 * are about 100 MB at the flush. */
#define LX_MAX_RECS (4u << 20)

/* The writer's statements, prepared once (a document's own commit runs each of them). */
enum { W_DEAD, W_SEG, W_TERM, W_LEVEL, W_NSTMT };
static const char *const w_sql[W_NSTMT] = {
    "INSERT OR IGNORE INTO lex_dead(chunk_id, ntok) VALUES (?, ?)",
    "INSERT INTO lex_seg(level, first, last, ndocs, ntok) VALUES (?, ?, ?, ?, ?)",
    "INSERT INTO lex_block(seg, term, data) VALUES (?1, ?2, ?3)",
    "SELECT id, first, last, ndocs, ntok FROM lex_seg WHERE level = ? ORDER BY first",
};

struct rg_lex_writer {
    sqlite3 *db;
    sqlite3_stmt *st[W_NSTMT];
    rg_lex_tok *tok;
    rg_buf arena;
    lx_map words, stems;    /* folded word -> term; stem -> term */
    int32_t *small;         /* SMALL_CODES: small number -> term + 1 (0: none yet) */
    lx_term *terms;
    uint32_t *wtf;          /* per term, in the chunk being added (a dense array) */
    int32_t nterms, capterms;
    int32_t *touched;       /* the chunk's terms */
    int32_t ntouched, captouched;
    lx_word *queue;         /* the chunk's words, keyed, their slots fetched ahead */
    int32_t nq, capq;
    rg_buf long_words;      /* the bytes of queued words longer than a padded key */
    uint32_t weight;        /* of the words being split: 2 text, 1 section */
    /* the last section counted, with its terms and weights: consecutive chunks share their
     * section path, which is then split and keyed once per run of chunks, not per chunk */
    rg_buf sec;
    int32_t *sec_terms;
    uint32_t *sec_wtf;
    int32_t nsec, capsec;
    int64_t sec_words;
    int sec_valid;          /* the terms are this batch's (forget_batch clears it) */
    lx_rec *recs;           /* the batch's postings, chunk by chunk */
    size_t nrecs, caprecs;
    lx_rec *spare;          /* the sort's second array, kept like recs: a fresh one's page */
    size_t capspare;        /* faults were a tenth of writing a segment */
    int64_t *ids;           /* per chunk of the batch: its id and length */
    uint32_t *lens;
    size_t capchunks;
    size_t max_recs;        /* LX_MAX_RECS unless rg_lex_writer_limit says otherwise */
    int64_t first, last, ndocs, ntok;
    int failed;             /* a segment written early failed: the next flush says so */
};

/* s holds n bytes and, when n <= RG_LEX_PAD, zeros up to s[RG_LEX_PAD] (lex_token.h): the
 * key is three plain loads. Written field by field through a pointer, and read back as the
 * same 8-byte words: a struct returned by value, or copied with wider loads than it was
 * stored with, defeats store-to-load forwarding (that stall was a seventh of indexing). */
static void make_key(lx_key *k, const char *s, size_t n) {
    uint64_t a = 0, b = 0, c = 0, h = 0x9E3779B97F4A7C15ull ^ n;
    if (n <= RG_LEX_PAD) {
        memcpy(&a, s, 8);
        memcpy(&b, s + 8, 8);
        memcpy(&c, s + 16, 8);
        h ^= a * 0xff51afd7ed558ccdull;
        h ^= (h >> 29) ^ b * 0xc4ceb9fe1a85ec53ull;
        h ^= (h >> 31) ^ c * 0x9E3779B97F4A7C15ull;
        h *= 0xff51afd7ed558ccdull;
    } else {
        for (size_t i = 0; i < n; i++) { h ^= (unsigned char)s[i]; h *= 0x100000001b3ull; }
    }
    k->k[0] = a;
    k->k[1] = b;
    k->k[2] = c;
    k->s = s;
    k->len = (uint32_t)n;
    k->hash = (uint32_t)(h ^ (h >> 32));
}

static void map_free(lx_map *m) { free(m->slot); memset(m, 0, sizeof *m); }

static lx_slot *map_find(lx_map *m, const rg_buf *arena, const lx_key *k) {
    for (uint32_t i = k->hash & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        lx_slot *e = &m->slot[i];
        if (e->val == INT32_MIN) return e;   /* empty: where it would go */
        if (e->hash != k->hash) continue;
        if (k->len <= RG_LEX_PAD) {
            if (e->k[0] == k->k[0] && e->k[1] == k->k[1] && e->k[2] == k->k[2]) return e;
        } else if (e->k[2] == LONG_KEY && e->k[1] == k->len && memcmp(arena->data + e->k[0], k->s, k->len) == 0) {
            return e;
        }
    }
}

static void map_grow(lx_map *m) {
    uint32_t cap = m->cap ? m->cap * 2 : 256;   /* a document's commit starts small */
    lx_slot *old = m->slot;
    uint32_t ocap = m->cap;
    m->slot = xmalloc((size_t)cap * sizeof *m->slot);
    for (uint32_t i = 0; i < cap; i++) m->slot[i].val = INT32_MIN;
    m->cap = cap;
    for (uint32_t i = 0; i < ocap; i++) {
        if (old[i].val == INT32_MIN) continue;
        uint32_t j = old[i].hash & (cap - 1);
        while (m->slot[j].val != INT32_MIN) j = (j + 1) & (cap - 1);
        m->slot[j] = old[i];
    }
    free(old);
}

/* The slot for k (found, or empty and ready to fill); the map never fills past half. */
static lx_slot *map_slot(lx_map *m, const rg_buf *arena, const lx_key *k) {
    if ((m->used + 1) * 2 > m->cap) map_grow(m);
    return map_find(m, arena, k);
}

static uint32_t arena_put(rg_buf *a, const char *s, size_t n) {
    uint32_t off = (uint32_t)a->len;
    rg_buf_put(a, s, n);
    return off;
}

/* Fills an empty slot with k; a long key is copied to the arena. */
static void map_fill(lx_slot *e, rg_buf *arena, const lx_key *k, int32_t val) {
    if (k->len <= RG_LEX_PAD) { e->k[0] = k->k[0]; e->k[1] = k->k[1]; e->k[2] = k->k[2]; }
    else { e->k[0] = arena_put(arena, k->s, k->len); e->k[1] = k->len; e->k[2] = LONG_KEY; }
    e->hash = k->hash;
    e->val = val;
}

/* The term of a stem's key, made on first sight. */
static int32_t key_term(rg_lex_writer *w, const lx_key *sk) {
    lx_slot *se = map_slot(&w->stems, &w->arena, sk);
    if (se->val != INT32_MIN) return se->val;
    if (w->nterms == w->capterms) {
        w->capterms = w->capterms ? w->capterms * 2 : 1024;
        w->terms = xrealloc(w->terms, (size_t)w->capterms * sizeof *w->terms);
        w->wtf = xrealloc(w->wtf, (size_t)w->capterms * sizeof *w->wtf);
    }
    w->wtf[w->nterms] = 0;
    w->terms[w->nterms] = (lx_term){arena_put(&w->arena, sk->s, sk->len), sk->len};
    map_fill(se, &w->arena, sk, w->nterms);
    w->stems.used++;
    return w->nterms++;
}

/* The term of a queued folded word (-1: a stopword), stemming it the first time it is seen.
 * A number is its own stem: it skips the word map (reports are full of distinct numbers). */
static int32_t word_term(rg_lex_writer *w, const lx_word *q) {
    const lx_key *key = &q->key;
    if (q->kind == Q_SMALL) {
        int32_t *slot = &w->small[q->code];
        if (!*slot) {
            lx_key sk;
            make_key(&sk, (const char *)q->key.k, q->key.len);
            *slot = key_term(w, &sk) + 1;
        }
        return *slot - 1;
    }
    if (q->kind == Q_NUMBER) return key_term(w, key);
    lx_slot *e = map_slot(&w->words, &w->arena, key);
    if (e->val != INT32_MIN) return e->val;
    int32_t t = -1;
    if (!rg_lex_stopword(key->s, key->len)) {
        union { uint64_t q[(RG_LEX_MAX_WORD + 8) / 8]; char c[RG_LEX_MAX_WORD + 8]; } stem = {{0}};
        size_t sn = rg_lex_stem(w->tok, key->s, key->len, stem.c);
        lx_key sk;
        make_key(&sk, stem.c, sn);
        t = key_term(w, &sk);
    }
    map_fill(e, &w->arena, key, t);
    w->words.used++;
    return t;
}

/* rg_lex_split's callback: queues the word with its key made and its map slot fetched. The
 * batch's maps outgrow the caches: keyed all at once, the chunk's lookups overlap instead of
 * each waiting on memory in turn. */
static void queue_word(const char *word, size_t n, void *ctx) {
    rg_lex_writer *w = ctx;
    if (n == 0) return;
    if (w->nq == w->capq) {
        w->capq = w->capq ? w->capq * 2 : 512;
        w->queue = xrealloc(w->queue, (size_t)w->capq * sizeof *w->queue);
    }
    lx_word *q = &w->queue[w->nq++];
    size_t d = 0;
    uint32_t value = 0;
    while (d < n && word[d] >= '0' && word[d] <= '9') value = value * 10 + (uint32_t)(word[d++] - '0');
    q->weight = (uint16_t)w->weight;
    if (d == n && n <= SMALL_DIGITS) {
        q->kind = Q_SMALL;
        q->code = small_base[n] + value;
        memcpy(&q->key.k[0], word, 8);   /* the padded digits, for the term's first sight */
        q->key.k[1] = q->key.k[2] = 0;
        q->key.len = (uint32_t)n;
        return;
    }
    q->kind = d == n ? Q_NUMBER : Q_WORD;
    make_key(&q->key, word, n);
    if (n > RG_LEX_PAD) {   /* the word is in the splitter's buffer: keep its bytes */
        q->key.s = (const char *)(uintptr_t)w->long_words.len;
        rg_buf_put(&w->long_words, word, n);
    }
    const lx_map *m = q->kind == Q_NUMBER ? &w->stems : &w->words;
    if (m->cap) __builtin_prefetch(&m->slot[q->key.hash & (m->cap - 1)]);
}

/* Counts the queued words into the chunk's per-term weights. */
static void count_queued(rg_lex_writer *w) {
    if (!w->small) w->small = xcalloc(SMALL_CODES, sizeof *w->small);
    for (int32_t i = 0; i < w->nq; i++) {
        lx_word *q = &w->queue[i];
        /* a short key's bytes are its padded integers (what make_key reads) */
        q->key.s = q->key.len > RG_LEX_PAD ? w->long_words.data + (uintptr_t)q->key.s : (const char *)q->key.k;
        int32_t t = word_term(w, q);
        if (t < 0) continue;
        uint32_t *wtf = &w->wtf[t];
        if (*wtf == 0) {
            if (w->ntouched == w->captouched) {
                w->captouched = w->captouched ? w->captouched * 2 : 256;
                w->touched = xrealloc(w->touched, (size_t)w->captouched * sizeof *w->touched);
            }
            w->touched[w->ntouched++] = t;
        }
        if (*wtf < UINT32_MAX - 2) *wtf += q->weight;
    }
    w->nq = 0;
    w->long_words.len = 0;
}

static void count_word(const char *word, size_t n, void *ctx) { (void)word; (void)n; (void)ctx; }

rg_lex_writer *rg_lex_writer_new(sqlite3 *db) {
    rg_lex_tok *tok = rg_lex_tok_new();
    if (!tok) return NULL;
    rg_lex_writer *w = xcalloc(1, sizeof *w);
    w->db = db;
    w->tok = tok;
    w->max_recs = LX_MAX_RECS;
    return w;
}

void rg_lex_writer_limit(rg_lex_writer *w, size_t max_records) { w->max_recs = max_records ? max_records : 1; }

/* Forgets the batch's terms and postings (the record and chunk arrays are kept for the next). */
static void forget_batch(rg_lex_writer *w) {
    free(w->terms);
    free(w->wtf);
    w->terms = NULL;
    w->wtf = NULL;
    w->nterms = w->capterms = 0;
    map_free(&w->words);
    map_free(&w->stems);
    free(w->small);
    w->small = NULL;
    rg_buf_free(&w->arena);
    w->ntouched = 0;
    w->nrecs = 0;
    w->first = w->last = w->ndocs = w->ntok = 0;
    w->sec_valid = 0;
}

void rg_lex_discard(rg_lex_writer *w) {
    if (!w) return;
    forget_batch(w);
    w->failed = 0;
}

void rg_lex_writer_free(rg_lex_writer *w) {
    if (!w) return;
    rg_lex_discard(w);
    for (int i = 0; i < W_NSTMT; i++) sqlite3_finalize(w->st[i]);
    free(w->touched);
    free(w->queue);
    rg_buf_free(&w->long_words);
    rg_buf_free(&w->sec);
    free(w->sec_terms);
    free(w->sec_wtf);
    free(w->recs);
    free(w->spare);
    free(w->ids);
    free(w->lens);
    rg_lex_tok_free(w->tok);
    free(w);
}

static int write_segment(rg_lex_writer *w);

/* Counts the section's words into the chunk (the first terms it touches): split and keyed
 * when it differs from the last chunk's, else from the terms kept then. Returns its words. */
static int64_t count_section(rg_lex_writer *w, const char *section) {
    size_t n = section ? strlen(section) : 0;
    if (w->sec_valid && n == w->sec.len && (n == 0 || memcmp(section, w->sec.data, n) == 0)) {
        for (int32_t i = 0; i < w->nsec; i++) {
            w->touched[i] = w->sec_terms[i];
            w->wtf[w->sec_terms[i]] = w->sec_wtf[i];
        }
        w->ntouched = w->nsec;
        return w->sec_words;
    }
    w->weight = 1;
    w->sec_words = rg_lex_split(section ? section : "", n, queue_word, w);
    count_queued(w);
    if (w->ntouched > w->capsec) {
        w->capsec = w->ntouched;
        w->sec_terms = xrealloc(w->sec_terms, (size_t)w->capsec * sizeof *w->sec_terms);
        w->sec_wtf = xrealloc(w->sec_wtf, (size_t)w->capsec * sizeof *w->sec_wtf);
    }
    for (int32_t i = 0; i < w->ntouched; i++) {
        w->sec_terms[i] = w->touched[i];
        w->sec_wtf[i] = w->wtf[w->touched[i]];
    }
    w->nsec = w->ntouched;
    w->sec.len = 0;
    rg_buf_put(&w->sec, section ? section : "", n);
    w->sec_valid = 1;
    return w->sec_words;
}

void rg_lex_add(rg_lex_writer *w, int64_t id, const char *text, const char *section) {
    w->ntouched = 0;
    int64_t len = count_section(w, section);
    w->weight = 2;
    len += rg_lex_split(text ? text : "", text ? strlen(text) : 0, queue_word, w);
    count_queued(w);
    if (len > UINT32_MAX) len = UINT32_MAX;
    if (w->nrecs + (size_t)w->ntouched > w->max_recs && w->ndocs) {
        /* a segment of its own keeps memory bounded however large the transaction */
        if (!w->failed && write_segment(w) != 0) w->failed = 1;
        forget_batch(w);
        /* the chunk's terms went with the batch: count it again */
        rg_lex_add(w, id, text, section);
        return;
    }
    if ((size_t)w->ndocs == w->capchunks) {
        w->capchunks = w->capchunks ? w->capchunks * 2 : 1024;
        w->ids = xrealloc(w->ids, w->capchunks * sizeof *w->ids);
        w->lens = xrealloc(w->lens, w->capchunks * sizeof *w->lens);
    }
    uint32_t chunk = (uint32_t)w->ndocs;
    w->ids[chunk] = id;
    w->lens[chunk] = (uint32_t)len;
    if (w->nrecs + (size_t)w->ntouched > w->caprecs) {
        while (w->nrecs + (size_t)w->ntouched > w->caprecs) w->caprecs = w->caprecs ? w->caprecs * 2 : 65536;
        w->recs = xrealloc(w->recs, w->caprecs * sizeof *w->recs);
    }
    lx_rec *r = w->recs + w->nrecs;
    for (int32_t i = 0; i < w->ntouched; i++) {
        int32_t k = w->touched[i];
        r[i] = (lx_rec){(uint32_t)k, chunk, w->wtf[k]};
        w->wtf[k] = 0;
    }
    w->nrecs += (size_t)w->ntouched;
    w->ntouched = 0;
    if (!w->ndocs) w->first = id;
    w->last = id;
    w->ndocs++;
    w->ntok += len;
}

/* The length a chunk was counted with: the same split as rg_lex_add's. */
static int64_t chunk_len(const char *text, const char *section) {
    return rg_lex_split(text ? text : "", text ? strlen(text) : 0, count_word, NULL) +
           rg_lex_split(section ? section : "", section ? strlen(section) : 0, count_word, NULL);
}

static int lx_fail(sqlite3 *db, const char *what) {
    rg_err("BM25 index: %s: %s", what, sqlite3_errmsg(db));
    return -1;
}

static sqlite3_stmt *lx_prep(sqlite3 *db, const char *sql) {
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) { lx_fail(db, "prepare"); return NULL; }
    return st;
}

/* One of the writer's statements, reset and ready to bind. */
static sqlite3_stmt *w_stmt(rg_lex_writer *w, int i) {
    if (w->st[i]) { sqlite3_reset(w->st[i]); sqlite3_clear_bindings(w->st[i]); }
    else w->st[i] = lx_prep(w->db, w_sql[i]);
    return w->st[i];
}

int rg_lex_remove(rg_lex_writer *w, int64_t chunk_id, const char *text, const char *section) {
    sqlite3_stmt *st = w_stmt(w, W_DEAD);
    if (!st) return -1;
    sqlite3_bind_int64(st, 1, chunk_id);
    sqlite3_bind_int64(st, 2, chunk_len(text, section));
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : lx_fail(w->db, "mark a chunk removed");
}

/* A term's sort key: its first 8 bytes as a big-endian integer, zero-padded (a term holds no
 * NUL byte, so the keys order as rg_lex_term_cmp does), the whole terms compared only on a
 * tie. Comparing through the term array and the arena missed the cache twice a comparison. */
typedef struct { uint64_t prefix; int32_t term; } lx_sortkey;

static int cmp_sortkey(const void *a, const void *b, void *ctx) {
    const lx_sortkey *x = a, *y = b;
    if (x->prefix != y->prefix) return x->prefix < y->prefix ? -1 : 1;
    const rg_lex_writer *w = ctx;
    const lx_term *s = &w->terms[x->term], *t = &w->terms[y->term];
    return rg_lex_term_cmp(w->arena.data + s->off, s->len, w->arena.data + t->off, t->len);
}

/* order[rank] = the term of that rank, in byte order of the terms. */
static void sort_terms(const rg_lex_writer *w, int32_t *order) {
    lx_sortkey *k = xmalloc(((size_t)w->nterms + 1) * sizeof *k);
    for (int32_t i = 0; i < w->nterms; i++) {
        const unsigned char *p = (const unsigned char *)w->arena.data + w->terms[i].off;
        uint64_t v = 0;
        for (uint32_t j = 0; j < 8; j++) v = v << 8 | (j < w->terms[i].len ? p[j] : 0);
        k[i] = (lx_sortkey){v, i};
    }
    if (w->nterms > 1) qsort_r(k, (size_t)w->nterms, sizeof *k, cmp_sortkey, (void *)w);
    for (int32_t i = 0; i < w->nterms; i++) order[i] = k[i].term;
    free(k);
}

/* Sorts the records by term rank, keeping chunk order within a term: least significant
 * digit first, each pass stable. One counting pass turns term ids into ranks (in place) and
 * counts every digit; then one scatter per digit, two for up to 4M terms (digits of at most
 * 11 bits keep the 2,048 write streams in cache). Returns the sorted array (a or tmp). */
static lx_rec *sort_recs(lx_rec *a, lx_rec *tmp, size_t n, const uint32_t *rank, uint32_t nranks) {
    int bits = 1;
    while (bits < 32 && ((uint64_t)1 << bits) < nranks) bits++;
    int passes = bits <= 11 ? 1 : bits <= 22 ? 2 : 3;
    int width = (bits + passes - 1) / passes;
    size_t nb = (size_t)1 << width;
    uint32_t mask = (uint32_t)nb - 1;
    size_t *count = xcalloc((size_t)passes * (nb + 1), sizeof *count);
    for (size_t i = 0; i < n; i++) {
        uint32_t r = rank[a[i].term];
        a[i].term = r;
        for (int p = 0; p < passes; p++) count[(size_t)p * (nb + 1) + ((r >> (p * width)) & mask) + 1]++;
    }
    for (int p = 0; p < passes; p++) {
        size_t *c = count + (size_t)p * (nb + 1);
        for (size_t b = 0; b < nb; b++) c[b + 1] += c[b];
        int shift = p * width;
        for (size_t i = 0; i < n; i++) tmp[c[(a[i].term >> shift) & mask]++] = a[i];
        lx_rec *t = a; a = tmp; tmp = t;
    }
    free(count);
    return a;
}

/* Writes the batch's postings as a level-0 segment: terms in key order (the b-tree takes
 * them as appends), each term's chunks in id order. */
static int write_segment(rg_lex_writer *w) {
    sqlite3_stmt *seg = w_stmt(w, W_SEG), *ins = w_stmt(w, W_TERM);
    if (!seg || !ins) return -1;
    sqlite3_bind_int(seg, 1, 0);
    sqlite3_bind_int64(seg, 2, w->first);
    sqlite3_bind_int64(seg, 3, w->last);
    sqlite3_bind_int64(seg, 4, w->ndocs);
    sqlite3_bind_int64(seg, 5, w->ntok);
    int r = sqlite3_step(seg);
    sqlite3_reset(seg);
    if (r != SQLITE_DONE) return lx_fail(w->db, "write a segment");
    int64_t id = sqlite3_last_insert_rowid(w->db);
    int32_t *order = xmalloc(((size_t)w->nterms + 1) * sizeof *order);
    uint32_t *rank = xmalloc(((size_t)w->nterms + 1) * sizeof *rank);
    sort_terms(w, order);
    for (int32_t i = 0; i < w->nterms; i++) rank[order[i]] = (uint32_t)i;
    if (w->capspare < w->nrecs + 1) {
        free(w->spare);
        w->capspare = w->caprecs + 1;
        w->spare = xmalloc(w->capspare * sizeof *w->spare);
    }
    lx_rec *sorted = sort_recs(w->recs, w->spare, w->nrecs, rank, (uint32_t)w->nterms);
    rg_lex_rows rows = {ins, id, {0}, {0}};
    rg_buf post = {0};
    int rc = 0;
    const int64_t *ids = w->ids;
    const uint32_t *lens = w->lens;
    for (size_t i = 0; i < w->nrecs && rc == 0;) {
        uint32_t t = sorted[i].term;
        size_t end = i;
        while (end < w->nrecs && sorted[end].term == t) end++;
        int64_t prev = 0, df = (int64_t)(end - i);
        post.len = 0;
        for (; i < end; i++) {
            const lx_rec *e = &sorted[i];
            post_put(&post, (uint64_t)(ids[e->chunk] - prev), e->wtf, lens[e->chunk]);
            prev = ids[e->chunk];
        }
        const lx_term *term = &w->terms[order[t]];
        rc = rg_lex_rows_add(&rows, w->arena.data + term->off, term->len, df, post.data, post.len);
    }
    if (rc == 0) rc = rg_lex_rows_end(&rows);
    rg_lex_rows_free(&rows);
    rg_buf_free(&post);
    free(rank);
    free(order);
    return rc;
}

static int merge_level(rg_lex_writer *w, int level, int *merged);

int rg_lex_flush(rg_lex_writer *w) {
    if (w->failed) {
        rg_err("BM25 index: a segment could not be written during this transaction");
        rg_lex_discard(w);
        return -1;
    }
    if (!w->ndocs) { rg_lex_discard(w); return 0; }
    int rc = write_segment(w);
    for (int level = 0, merged = 1; rc == 0 && merged; level++) rc = merge_level(w, level, &merged);
    rg_lex_discard(w);
    return rc;
}

/* ---- merging ---- */

/* A segment being merged: its rows in term order, the entry under the cursor, and the term
 * before it (a damaged row whose terms go backwards is read no further). */
typedef struct {
    int64_t id, first, last, ndocs, ntok;
    sqlite3_stmt *cur;
    rg_lex_block blk;
    rg_lex_entry e;
    char prev[RG_LEX_MAX_WORD];
    size_t prevn;
    int done;
} lx_seg;

static int in_dead(const int64_t *dead, int64_t n, int64_t id) {
    return n && bsearch(&id, dead, (size_t)n, sizeof *dead, rg_cmp_i64) != NULL;
}

/* Moves g to its next entry, reading the next row when a row ends. */
static int cursor_next(sqlite3 *db, lx_seg *g) {
    for (;;) {
        int r = rg_lex_block_next(&g->blk, &g->e);
        if (r == 1) {
            if (g->prevn && rg_lex_term_cmp(g->e.term, g->e.tn, g->prev, g->prevn) <= 0) {
                g->blk.pos = g->blk.n;   /* out of order: damaged, the rest of the row is skipped */
                continue;
            }
            memcpy(g->prev, g->e.term, g->e.tn);
            g->prevn = g->e.tn;
            return 0;
        }
        r = sqlite3_step(g->cur);
        if (r != SQLITE_ROW) {
            g->done = 1;
            return r == SQLITE_DONE ? 0 : lx_fail(db, "read a segment");
        }
        const void *p = sqlite3_column_blob(g->cur, 0);
        g->blk = (rg_lex_block){p, p ? (size_t)sqlite3_column_bytes(g->cur, 0) : 0, 0};
    }
}

static int cmp_cursor_term(const lx_seg *a, const lx_seg *b) {
    return rg_lex_term_cmp(a->e.term, a->e.tn, b->e.term, b->e.tn);
}

/* Sets the connection's PRAGMA secure_delete (0 off, 1 on, 2 fast); returns the value it had,
 * or -1, changing nothing, when that could not be read. */
static int secure_delete_set(sqlite3 *db, int value) {
    sqlite3_stmt *st = NULL;
    int old = -1;
    if (sqlite3_prepare_v2(db, "PRAGMA secure_delete", -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        old = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    if (old < 0) return -1;
    /* by name: SQLite reads a number here as a boolean, so 2 would mean on */
    sqlite3_exec(db, value == 2 ? "PRAGMA secure_delete=FAST" : value ? "PRAGMA secure_delete=ON" : "PRAGMA secure_delete=OFF",
                 NULL, NULL, NULL);
    return old;
}

/* Merges the level's segments into one of the next level when it has RG_LEX_MERGE of them. */
static int merge_level(rg_lex_writer *w, int level, int *merged) {
    *merged = 0;
    sqlite3 *db = w->db;
    sqlite3_stmt *sel = w_stmt(w, W_LEVEL);
    if (!sel) return -1;
    sqlite3_bind_int(sel, 1, level);
    lx_seg *g = NULL;
    int ng = 0, capg = 0, r;
    while ((r = sqlite3_step(sel)) == SQLITE_ROW) {
        if (ng == capg) { capg = capg ? capg * 2 : 16; g = xrealloc(g, (size_t)capg * sizeof *g); }
        memset(&g[ng], 0, sizeof g[ng]);
        g[ng].id = sqlite3_column_int64(sel, 0);
        g[ng].first = sqlite3_column_int64(sel, 1);
        g[ng].last = sqlite3_column_int64(sel, 2);
        g[ng].ndocs = sqlite3_column_int64(sel, 3);
        g[ng].ntok = sqlite3_column_int64(sel, 4);
        ng++;
    }
    sqlite3_reset(sel);
    if (r != SQLITE_DONE) { free(g); return lx_fail(db, "list segments"); }
    if (ng < RG_LEX_MERGE) { free(g); return 0; }

    int rc = -1, secure = -1;
    int64_t *dead = NULL, ndead = 0, capdead = 0, deadtok = 0, ndocs = 0, ntok = 0;
    rg_lex_posting *ps = NULL;
    int64_t capps = 0;
    rg_buf post = {0};
    rg_lex_rows rows = {0};
    sqlite3_stmt *ds = lx_prep(db, "SELECT chunk_id, ntok FROM lex_dead WHERE chunk_id BETWEEN ? AND ? ORDER BY chunk_id");
    sqlite3_stmt *seg = w_stmt(w, W_SEG), *ins = w_stmt(w, W_TERM);
    sqlite3_stmt *del = lx_prep(db, "DELETE FROM lex_block WHERE seg = ?");
    sqlite3_stmt *delseg = lx_prep(db, "DELETE FROM lex_seg WHERE id = ?");
    sqlite3_stmt *deldead = lx_prep(db, "DELETE FROM lex_dead WHERE chunk_id BETWEEN ? AND ?");
    if (!ds || !seg || !ins || !del || !delseg || !deldead) goto out;
    for (int i = 0; i < ng; i++) {
        sqlite3_bind_int64(ds, 1, g[i].first);
        sqlite3_bind_int64(ds, 2, g[i].last);
        while ((r = sqlite3_step(ds)) == SQLITE_ROW) {
            if (ndead == capdead) { capdead = capdead ? capdead * 2 : 256; dead = xrealloc(dead, (size_t)capdead * sizeof *dead); }
            dead[ndead++] = sqlite3_column_int64(ds, 0);
            deadtok += sqlite3_column_int64(ds, 1);
        }
        sqlite3_reset(ds);
        if (r != SQLITE_DONE) { lx_fail(db, "read removed chunks"); goto out; }
        ndocs += g[i].ndocs;
        ntok += g[i].ntok;
    }
    if (ndead > 1) qsort(dead, (size_t)ndead, sizeof *dead, rg_cmp_i64);
    ndocs -= ndead;
    ntok -= deadtok;
    sqlite3_bind_int(seg, 1, level + 1);
    sqlite3_bind_int64(seg, 2, g[0].first);
    sqlite3_bind_int64(seg, 3, g[ng - 1].last);
    sqlite3_bind_int64(seg, 4, ndocs < 0 ? 0 : ndocs);
    sqlite3_bind_int64(seg, 5, ntok < 0 ? 0 : ntok);
    r = sqlite3_step(seg);
    sqlite3_reset(seg);
    if (r != SQLITE_DONE) { lx_fail(db, "write a merged segment"); goto out; }
    int64_t nid = sqlite3_last_insert_rowid(db);

    /* One cursor per segment, each in term order; a term's lists are concatenated in segment
     * order (segments hold disjoint, ordered id ranges), re-encoded without removed chunks. */
    rows.ins = ins;
    rows.seg = nid;
    for (int i = 0; i < ng; i++) {
        g[i].cur = lx_prep(db, "SELECT data FROM lex_block WHERE seg = ? ORDER BY term");
        if (!g[i].cur) goto out;
        sqlite3_bind_int64(g[i].cur, 1, g[i].id);
        if (cursor_next(db, &g[i]) != 0) goto out;
    }
    for (;;) {
        int lo = -1;
        for (int i = 0; i < ng; i++)
            if (!g[i].done && (lo < 0 || cmp_cursor_term(&g[i], &g[lo]) < 0)) lo = i;
        if (lo < 0) break;
        char term[RG_LEX_MAX_WORD];
        size_t tn = g[lo].e.tn;
        memcpy(term, g[lo].e.term, tn);
        post.len = 0;
        int64_t df = 0, prev = 0;
        for (int i = lo; i < ng; i++) {
            if (g[i].done || rg_lex_term_cmp(g[i].e.term, g[i].e.tn, term, tn) != 0) continue;
            int64_t want = df_bound(g[i].e.df, g[i].e.pn);
            if (want > capps) { capps = want; ps = xrealloc(ps, (size_t)capps * sizeof *ps); }
            int64_t got = rg_lex_decode(g[i].e.post, g[i].e.pn, want, g[i].last, ps);
            for (int64_t j = 0; j < got; j++) {
                if (ps[j].id < g[i].first || ps[j].id <= prev || in_dead(dead, ndead, ps[j].id)) continue;
                post_put(&post, (uint64_t)(ps[j].id - prev), ps[j].wtf, ps[j].len);
                prev = ps[j].id;
                df++;
            }
            if (cursor_next(db, &g[i]) != 0) goto out;
        }
        if (df && rg_lex_rows_add(&rows, term, tn, df, post.data, post.len) != 0) goto out;
    }
    if (rg_lex_rows_end(&rows) != 0) goto out;
    /* The merged segments' rows go with secure_delete at FAST: their postings live on in the
     * new segment, and zeroing the pages they free (Debian builds SQLite with secure_delete
     * on) wrote 58 of the bench's 919 MB. The connection's setting comes back below. */
    secure = secure_delete_set(db, 2);
    for (int i = 0; i < ng; i++) {
        sqlite3_finalize(g[i].cur);
        g[i].cur = NULL;
        sqlite3_bind_int64(del, 1, g[i].id);
        sqlite3_bind_int64(delseg, 1, g[i].id);
        sqlite3_bind_int64(deldead, 1, g[i].first);
        sqlite3_bind_int64(deldead, 2, g[i].last);
        if (sqlite3_step(del) != SQLITE_DONE || sqlite3_step(delseg) != SQLITE_DONE || sqlite3_step(deldead) != SQLITE_DONE) {
            lx_fail(db, "drop merged segments");
            goto out;
        }
        sqlite3_reset(del);
        sqlite3_reset(delseg);
        sqlite3_reset(deldead);
    }
    *merged = 1;
    rc = 0;
out:
    if (secure >= 0) secure_delete_set(db, secure);
    rg_lex_rows_free(&rows);
    for (int i = 0; i < ng; i++) sqlite3_finalize(g[i].cur);
    free(g);
    free(dead);
    free(ps);
    rg_buf_free(&post);
    sqlite3_finalize(ds);
    sqlite3_reset(ins);
    sqlite3_finalize(del);
    sqlite3_finalize(delseg);
    sqlite3_finalize(deldead);
    return rc;
}

/* ---- building and checking ---- */

#define BUILD_SEGMENT_CHUNKS 65536

int rg_lex_build(sqlite3 *db) {
    rg_lex_writer *w = rg_lex_writer_new(db);
    if (!w) return -1;
    sqlite3_stmt *st = lx_prep(db, "SELECT id, section, " RG_CHUNK_TEXT_COLS("") " FROM chunks WHERE context_only = 0 ORDER BY id");
    sqlite3_stmt *tsel = st ? lx_prep(db, RG_TABLE_SQL) : NULL;
    rg_table_rows tr;
    rg_table_rows_init(&tr, tsel, sqlite3_db_filename(db, "main"));
    int rc = tsel ? 0 : -1, r = SQLITE_DONE;
    while (rc == 0 && (r = sqlite3_step(st)) == SQLITE_ROW) {
        const char *text = rg_table_rows_chunk(&tr, st, 2, NULL);   /* table chunks stored without text */
        if (!text) { rc = -1; break; }
        rg_lex_add(w, sqlite3_column_int64(st, 0), text, (const char *)sqlite3_column_text(st, 1));
        if (w->ndocs >= BUILD_SEGMENT_CHUNKS) rc = rg_lex_flush(w);
    }
    if (rc == 0 && r != SQLITE_DONE) rc = lx_fail(db, "read chunks");
    if (rc == 0) rc = rg_lex_flush(w);
    rg_table_rows_free(&tr);
    sqlite3_finalize(tsel);
    sqlite3_finalize(st);
    rg_lex_writer_free(w);
    return rc;
}

static int64_t count1(sqlite3 *db, const char *sql) {
    sqlite3_stmt *st = lx_prep(db, sql);
    int64_t v = -1;
    if (st && sqlite3_step(st) == SQLITE_ROW) v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

int rg_lex_check(sqlite3 *db, rg_buf *b) {
    int problems = 0;
    sqlite3_stmt *st = lx_prep(db, "SELECT k.seg, k.term, k.data, g.first, g.last FROM lex_block k "
                                   "LEFT JOIN lex_seg g ON g.id = k.seg ORDER BY k.seg, k.term");
    if (!st) { rg_buf_printf(b, "bm25: %s\n", rg_errmsg()); return 1; }
    rg_lex_posting *ps = NULL;
    int64_t capps = 0, damaged = 0, orphan = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        if (sqlite3_column_type(st, 3) == SQLITE_NULL) { orphan++; continue; }
        int64_t seg = sqlite3_column_int64(st, 0), first = sqlite3_column_int64(st, 3), last = sqlite3_column_int64(st, 4);
        const char *key = (const char *)sqlite3_column_text(st, 1);
        size_t keyn = key ? (size_t)sqlite3_column_bytes(st, 1) : 0;
        const unsigned char *p = sqlite3_column_blob(st, 2);
        rg_lex_block blk = {p, p ? (size_t)sqlite3_column_bytes(st, 2) : 0, 0};
        rg_lex_entry e, prev = {0};
        int r, n = 0;
        while ((r = rg_lex_block_next(&blk, &e)) == 1) {
            /* the row's key is its first term; terms rise; each list decodes whole */
            int bad = n == 0 ? rg_lex_term_cmp(e.term, e.tn, key ? key : "", keyn) != 0
                             : rg_lex_term_cmp(e.term, e.tn, prev.term, prev.tn) <= 0;
            int64_t want = df_bound(e.df, e.pn);
            if (want > capps) { capps = want; ps = xrealloc(ps, (size_t)capps * sizeof *ps); }
            int64_t got = rg_lex_decode(e.post, e.pn, want, last, ps);
            if (bad || got != e.df || (got && ps[0].id < first)) {
                if (damaged++ < 5)
                    rg_buf_printf(b, "bm25: the posting list of \"%.*s\" in segment %lld is damaged\n", (int)e.tn, e.term,
                                  (long long)seg);
            }
            prev = e;
            n++;
        }
        if (r < 0 || n == 0) {
            if (damaged++ < 5)
                rg_buf_printf(b, "bm25: the block \"%s\" of segment %lld is damaged\n", key ? key : "", (long long)seg);
        }
    }
    sqlite3_finalize(st);
    free(ps);
    if (damaged) problems++;
    if (damaged > 5) rg_buf_printf(b, "bm25: %lld damaged posting lists or blocks in all\n", (long long)damaged);
    if (orphan) { rg_buf_printf(b, "bm25: %lld blocks of posting lists without a segment\n", (long long)orphan); problems++; }
    static const char *counts[][2] = {
        {"SELECT count(*) FROM chunks c WHERE context_only = 0 AND NOT EXISTS "
         "(SELECT 1 FROM lex_seg g WHERE c.id BETWEEN g.first AND g.last)", "searchable chunks not in the BM25 index"},
        {"SELECT count(*) FROM lex_dead d JOIN chunks c ON c.id = d.chunk_id", "stored chunks marked removed from the BM25 index"},
        {"SELECT (SELECT coalesce(sum(ndocs), 0) FROM lex_seg) - (SELECT count(*) FROM lex_dead) - "
         "(SELECT count(*) FROM chunks WHERE context_only = 0)", "chunks more (or fewer) in the BM25 index than stored"},
    };
    for (size_t i = 0; i < sizeof counts / sizeof *counts; i++) {
        int64_t n = count1(db, counts[i][0]);
        if (n != 0) { rg_buf_printf(b, "%lld %s\n", (long long)n, counts[i][1]); problems++; }
    }
    return problems;
}
