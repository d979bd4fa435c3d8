/* ingest/chunk: see chunk.h.
 * Text: the blocks of one section (same section path, possibly around tables) are packed
 * paragraph by paragraph up to max_tokens; a paragraph that does not fit in the room left
 * starts a new chunk, and one larger than the budget is cut at sentence ends (ingest/
 * sentence.h), consecutive pieces sharing up to overlap_tokens of trailing sentences; a
 * sentence longer than the budget is cut between words. A section with two or more text
 * chunks also gets context-only parent chunks (its text in windows of PARENT_FACTOR budgets)
 * that the context builder returns in place of a matched child (small-to-big).
 * Tables: linearised once per row ("Revenue | 2019: 1,452.4 | 2018: 1,301.2" under a caption
 * line and the column headers), then rows grouped up to table_max_tokens, header lines
 * repeated in every group. Everything is linear in the document size. */
#include "ingest/chunk.h"
#include "ingest/sentence.h"
#include "core/util.h"
#include <ctype.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define PARENT_FACTOR 4

void rg_chunk_opts_default(rg_chunk_opts *o) {
    memset(o, 0, sizeof *o);
    o->max_tokens = 256;
    o->overlap_tokens = 32;
    o->table_max_tokens = 384;
}

/* Byte classes for the token counter, as the C locale's isalpha/isdigit/isspace see them
 * (ragd never calls setlocale), with every byte >= 0x80 a letter: one table load per byte. */
enum { CL_OTHER = 0, CL_ALPHA = 1, CL_DIGIT = 2, CL_SPACE = 3 };
static const unsigned char CLASS[256] = {
    ['\t'] = CL_SPACE, ['\n'] = CL_SPACE, ['\v'] = CL_SPACE, ['\f'] = CL_SPACE, ['\r'] = CL_SPACE, [' '] = CL_SPACE,
    ['0'] = CL_DIGIT, ['1'] = CL_DIGIT, ['2'] = CL_DIGIT, ['3'] = CL_DIGIT, ['4'] = CL_DIGIT,
    ['5'] = CL_DIGIT, ['6'] = CL_DIGIT, ['7'] = CL_DIGIT, ['8'] = CL_DIGIT, ['9'] = CL_DIGIT,
#define AZ(c) [c] = CL_ALPHA, [c + 32] = CL_ALPHA
    AZ('A'), AZ('B'), AZ('C'), AZ('D'), AZ('E'), AZ('F'), AZ('G'), AZ('H'), AZ('I'), AZ('J'), AZ('K'),
    AZ('L'), AZ('M'), AZ('N'), AZ('O'), AZ('P'), AZ('Q'), AZ('R'), AZ('S'), AZ('T'), AZ('U'), AZ('V'),
    AZ('W'), AZ('X'), AZ('Y'), AZ('Z'),
#undef AZ
#define HI16(c) [c] = 1, [c + 1] = 1, [c + 2] = 1, [c + 3] = 1, [c + 4] = 1, [c + 5] = 1, [c + 6] = 1, [c + 7] = 1, \
                [c + 8] = 1, [c + 9] = 1, [c + 10] = 1, [c + 11] = 1, [c + 12] = 1, [c + 13] = 1, [c + 14] = 1, [c + 15] = 1
    HI16(0x80), HI16(0x90), HI16(0xA0), HI16(0xB0), HI16(0xC0), HI16(0xD0), HI16(0xE0), HI16(0xF0),
#undef HI16
};

/* Word pieces without a vocabulary: a word of up to 7 letters is one piece, longer words
 * more; a number of up to 4 digits one piece, longer ones about one per 3 digits; each
 * punctuation mark one. On the 332 reference strings of bert-base-uncased this counts 8%
 * more pieces than the real tokenizer (a budget errs on the safe side). One pass. */
static int approx_scalar(const char *text, size_t n) {
    int pieces = 0;
    size_t i = 0;
    const unsigned char *p = (const unsigned char *)text;
    while (i < n) {
        unsigned k = CLASS[p[i]];
        if (k == CL_SPACE) { i++; continue; }
        if (k == CL_OTHER) { pieces++; i++; continue; }
        size_t s = i++;
        while (i < n && CLASS[p[i]] == k) i++;
        size_t len = i - s;
        if (k == CL_ALPHA) pieces += len <= 7 ? 1 : len <= 12 ? 2 : 2 + (int)((len - 12) / 5);
        else pieces += len <= 4 ? 1 : 1 + (int)((len - 2) / 3);
    }
    return pieces;
}

#if defined(__SSE2__) && defined(__GNUC__)
#include <emmintrin.h>
/* The same count 64 bytes at a time, from bit masks of the byte classes (bit i: byte i).
 * Per letter run the formula gives one piece at its 1st and 8th letters and one at every
 * 5th from the 17th; per digit run one at its 1st digit and every 3rd from the 5th. A
 * position j of a run is found from the masks alone: the j bytes ending there are in the
 * class and the byte before them is not. Runs reach 16 bytes rarely; then the caller
 * counts with approx_scalar (returns -1). */
typedef struct { uint64_t m, g2, g4, g8; } run_masks;   /* the previous block's masks */
/* x shifted up by k (1..63), the previous block's top bits coming in */
#define SHL(x, prev, k) (((x) << (k)) | ((prev) >> (64 - (k))))

static inline __m128i in_range(__m128i v, char lo, char span) {   /* (v - lo) <= span, unsigned */
    __m128i x = _mm_sub_epi8(v, _mm_set1_epi8(lo));
    return _mm_cmpeq_epi8(_mm_min_epu8(x, _mm_set1_epi8(span)), x);
}

static inline uint64_t mask64(const __m128i m[4]) {
    return (uint64_t)(uint16_t)_mm_movemask_epi8(m[0]) | (uint64_t)(uint16_t)_mm_movemask_epi8(m[1]) << 16 |
           (uint64_t)(uint16_t)_mm_movemask_epi8(m[2]) << 32 | (uint64_t)(uint16_t)_mm_movemask_epi8(m[3]) << 48;
}

static int approx_blocks(const unsigned char *p, size_t n) {
    run_masks pa = {0, 0, 0, 0}, pd = {0, 0, 0, 0};
    int pieces = 0;
    unsigned char tail[64];
    for (size_t o = 0; o < n; o += 64) {
        const unsigned char *b = p + o;
        if (n - o < 64) {   /* the last block, padded with spaces (which count nothing) */
            memset(tail, ' ', sizeof tail);
            memcpy(tail, b, n - o);
            b = tail;
        }
        __m128i alpha[4], digit[4], space[4];
        for (int k = 0; k < 4; k++) {
            __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(b + 16 * k));
            alpha[k] = _mm_or_si128(_mm_cmplt_epi8(v, _mm_setzero_si128()),   /* >= 0x80 */
                                    in_range(_mm_or_si128(v, _mm_set1_epi8(0x20)), 'a', 25));
            digit[k] = in_range(v, '0', 9);
            space[k] = _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8(' ')), in_range(v, '\t', 4));
        }
        uint64_t A = mask64(alpha), D = mask64(digit), S = mask64(space);
        /* gK: the K bytes ending here are all in the class */
        uint64_t a2 = A & SHL(A, pa.m, 1), a4 = a2 & SHL(a2, pa.g2, 2), a8 = a4 & SHL(a4, pa.g4, 4);
        uint64_t d2 = D & SHL(D, pd.m, 1), d4 = d2 & SHL(d2, pd.g2, 2), d8 = d4 & SHL(d4, pd.g4, 4);
        if ((a8 & SHL(a8, pa.g8, 8)) || (d8 & SHL(d8, pd.g8, 8))) return -1;   /* a run of 16 */
        uint64_t d5 = d4 & SHL(D, pd.m, 4);
        uint64_t d11 = d8 & SHL(d2, pd.g2, 8) & SHL(D, pd.m, 10);
        uint64_t d14 = d8 & SHL(d4, pd.g4, 8) & SHL(d2, pd.g2, 12);
        /* a byte is in one class at one run position: the positions that count are disjoint
         * bit sets, so one popcount of their union sums them */
        uint64_t count = ~(A | D | S) |                                        /* punctuation */
                         (A & ~SHL(A, pa.m, 1)) | (a8 & ~SHL(A, pa.m, 8)) |    /* letter 1, 8 */
                         (D & ~SHL(D, pd.m, 1)) | (d5 & ~SHL(D, pd.m, 5)) |    /* digit 1, 5 */
                         (d8 & ~SHL(D, pd.m, 8)) | (d11 & ~SHL(D, pd.m, 11)) | /* digit 8, 11 */
                         (d14 & ~SHL(D, pd.m, 14));                            /* digit 14 */
        pieces += __builtin_popcountll(count);
        pa = (run_masks){A, a2, a4, a8};
        pd = (run_masks){D, d2, d4, d8};
    }
    return pieces;
}
#undef SHL
#endif

static int approx_tokens_n(const char *text, size_t n) {
#if defined(__SSE2__) && defined(__GNUC__)
    if (n >= 32) {   /* shorter text (table cells) is quicker byte by byte */
        int k = approx_blocks((const unsigned char *)text, n);
        if (k >= 0) return k;
    }
#endif
    return approx_scalar(text, n);
}

int rg_approx_tokens(const char *text) { return text ? approx_tokens_n(text, strlen(text)) : 0; }

/* ---- chunk list ---- */

/* The array rg_chunk_doc returns sits behind this header, which holds the pool of every
 * chunk's text and section: one malloc per 64 KB of text instead of two per chunk, and
 * rg_chunks_free finds the pool from the array. */
typedef struct { rg_strpool strs; } chunk_head;
#define HEAD_SIZE ((sizeof(chunk_head) + _Alignof(max_align_t) - 1) / _Alignof(max_align_t) * _Alignof(max_align_t))

typedef struct {
    rg_chunk *v;
    int n, cap;
    char *base;              /* the allocation: header, then v */
    rg_strpool strs;         /* moves into the header at the end */
    const char *sec;         /* the section of the last chunk pushed (in strs) */
    rg_buf text, cur;        /* scratch: the text chunk being packed; table groups, parents */
} chunk_list;

static char *keep(chunk_list *l, const char *s, size_t n) { return rg_strpool_dup(&l->strs, s, n, 16384); }

static rg_chunk *push(chunk_list *l, rg_chunk_kind kind, const char *section, int page, int64_t offset) {
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 16;
        l->base = xrealloc(l->base, HEAD_SIZE + (size_t)l->cap * sizeof *l->v);
        l->v = (rg_chunk *)(void *)(l->base + HEAD_SIZE);
    }
    rg_chunk *c = &l->v[l->n++];
    memset(c, 0, sizeof *c);
    c->kind = kind;
    if (!section) section = "";
    /* chunks in a row share their section: one copy */
    if (!l->sec || (section != l->sec && strcmp(section, l->sec) != 0)) l->sec = keep(l, section, strlen(section));
    c->section = (char *)l->sec;
    c->parent = -1;
    c->table_index = -1;
    c->page = page;
    c->offset = offset;
    return c;
}

/* b's text as the chunk's; b is emptied for the next one */
static void take_text(chunk_list *l, rg_chunk *c, rg_buf *b) {
    c->text = keep(l, b->data ? b->data : "", b->len);
    b->len = 0;
    if (b->data) b->data[0] = 0;
}

/* ---- tables ---- */

static const char *cell_raw(const rg_table *t, int r, int c) {
    const rg_cell *cell = &t->cells[(size_t)r * (size_t)t->ncols + (size_t)c];
    return cell->raw ? cell->raw : "";
}

/* rg_buf_put without the call while the buffer has room (rows are built a few bytes at a time). */
static inline void put(rg_buf *b, const void *p, size_t n) {
    if (b->len + n + 1 <= b->cap) {
        memcpy(b->data + b->len, p, n);
        b->len += n;
        b->data[b->len] = 0;
    } else {
        rg_buf_put(b, p, n);
    }
}

/* Appends s with white space runs collapsed to one space (cells may hold newlines), and
 * returns approx_tokens_n of what it wrote, in the same pass: white space only separates runs
 * there, so the count of the cleaned text is the count of s's own bytes. Word by word (cells,
 * captions and headers are short). */
static int put_clean(rg_buf *b, const char *s) {
    const unsigned char *p = (const unsigned char *)s;
    int space = 0, tok = 0;
    while (*p) {
        if (CLASS[*p] == CL_SPACE) { space = 1; p++; continue; }
        if (space && b->len && b->data[b->len - 1] != ' ' && b->data[b->len - 1] != '\n') put(b, " ", 1);
        space = 0;
        const unsigned char *w = p;
        unsigned k;
        while (*p && (k = CLASS[*p]) != CL_SPACE) {
            const unsigned char *run = p++;
            if (k == CL_OTHER) { tok++; continue; }
            while (*p && CLASS[*p] == k) p++;
            size_t len = (size_t)(p - run);
            if (k == CL_ALPHA) tok += len <= 7 ? 1 : len <= 12 ? 2 : 2 + (int)((len - 12) / 5);
            else tok += len <= 4 ? 1 : 1 + (int)((len - 2) / 3);
        }
        put(b, w, (size_t)(p - w));
    }
    return tok;
}

/* Column headers: the header rows' cells of each column, joined, repeats (from spans) once.
 * Built in b (scratch), kept in pool (the caller frees it with the array). */
static char **column_headers(const rg_table *t, rg_buf *b, rg_strpool *pool) {
    char **h = xcalloc((size_t)t->ncols + 1, sizeof *h);
    for (int c = 0; c < t->ncols; c++) {
        b->len = 0;
        const char *prev = NULL;
        for (int r = 0; r < t->header_rows && r < t->nrows; r++) {
            const char *s = cell_raw(t, r, c);
            if (!*s || (prev && strcmp(prev, s) == 0)) continue;
            if (b->len) rg_buf_putc(b, ' ');
            put_clean(b, s);
            prev = s;
        }
        h[c] = rg_strpool_dup(pool, b->len ? b->data : "", b->len, 1024);
    }
    b->len = 0;
    if (b->data) b->data[0] = 0;
    return h;
}

/* The lines every chunk of the table starts with: caption (with its scale) and headers. */
static char *table_head(const rg_table *t, const char *caption, char **heads) {
    rg_buf b = {0};
    if (caption && *caption) put_clean(&b, caption);
    if (t->scale[0] && (!caption || !strcasestr(caption, t->scale))) {
        if (b.len) rg_buf_putc(&b, ' ');
        rg_buf_printf(&b, "(in %ss)", t->scale);
    }
    if (b.len) rg_buf_putc(&b, '\n');
    if (t->header_rows > 0) {
        int any = 0;
        for (int c = 0; c < t->ncols; c++) {
            if (!heads[c][0]) continue;
            if (any) rg_buf_puts(&b, " | ");
            rg_buf_puts(&b, heads[c]);
            any = 1;
        }
        if (any) rg_buf_putc(&b, '\n');
    }
    if (b.len) return rg_buf_take(&b);
    rg_buf_free(&b);
    return xstrdup("");
}

/* The column headers with their lengths and token counts. */
typedef struct { char **s; size_t *len; int *tok; } col_heads;

/* One body row: "label | header: value | header: value". Returns its approx_tokens_n count,
 * summed part by part (h->tok[c] holds each header's): every part written is bounded by
 * white space, ':' or '|', so no letter or digit run spans two parts and the sum is the
 * count of the whole line, without reading the repeated headers again. */
static int table_row(rg_buf *b, const rg_table *t, int r, const col_heads *h) {
    int hc = t->header_cols > 0 ? t->header_cols : 0, tok = 0, nc = t->ncols;
    size_t start = b->len;
    for (int c = 0; c < hc && c < nc; c++) {
        const char *s = cell_raw(t, r, c);
        if (!*s) continue;
        if (b->len > start) put(b, " ", 1);
        tok += put_clean(b, s);
    }
    for (int c = hc; c < nc; c++) {
        const char *s = cell_raw(t, r, c);
        if (!*s) continue;
        if (b->len > start) { put(b, " | ", 3); tok++; }
        if (h->len[c]) {
            put(b, h->s[c], h->len[c]);
            put(b, ": ", 2);
            tok += h->tok[c] + 1;
        }
        tok += put_clean(b, s);
    }
    if (b->len > start) put(b, "\n", 1);
    return tok;
}

static col_heads header_info(const rg_table *t, char **heads) {
    col_heads h = {heads, xcalloc((size_t)t->ncols + 1, sizeof *h.len), xcalloc((size_t)t->ncols + 1, sizeof *h.tok)};
    for (int c = 0; c < t->ncols; c++) {
        h.len[c] = strlen(heads[c]);
        h.tok[c] = approx_tokens_n(heads[c], h.len[c]);
    }
    return h;
}

static void header_info_free(col_heads *h) { free(h->len); free(h->tok); }

char *rg_table_linearize(const rg_table *t, const char *caption, int row_start, int row_end) {
    if (!t) return xstrdup("");
    rg_buf b = {0};
    rg_strpool hp = {0};
    char **heads = column_headers(t, &b, &hp);
    char *head = table_head(t, caption, heads);
    rg_buf_puts(&b, head);
    if (row_start < t->header_rows) row_start = t->header_rows;
    if (row_end > t->nrows) row_end = t->nrows;
    col_heads hi = header_info(t, heads);
    for (int r = row_start; r < row_end; r++) table_row(&b, t, r, &hi);
    header_info_free(&hi);
    free(head);
    free(heads);
    rg_strpool_free(&hp);
    while (b.len && b.data[b.len - 1] == '\n') b.data[--b.len] = 0;
    if (b.len) return rg_buf_take(&b);
    rg_buf_free(&b);   /* an empty head still allocated the buffer */
    return xstrdup("");
}

static void chunk_table(chunk_list *l, const rg_block *blk, int table_index, int budget) {
    const rg_table *t = blk->table;
    rg_strpool hp = {0};
    char **heads = column_headers(t, &l->cur, &hp);
    char *head = table_head(t, t->caption, heads);
    size_t head_len = strlen(head);
    int head_tok = rg_approx_tokens(head);
    col_heads hi = header_info(t, heads);
    int body = t->header_rows < t->nrows ? t->header_rows : t->nrows;
    /* cur: the group's text, the head then its rows; each row is written at its end and, when
     * it would overflow the group, moved behind the head of the next */
    rg_buf *cur = &l->cur;
    cur->len = 0;
    rg_buf_put(cur, head, head_len);
    int cur_tok = 0, start = body;
    for (int r = body; r <= t->nrows; r++) {
        int ltok = 0;
        size_t row_at = cur->len;
        if (r < t->nrows) ltok = table_row(cur, t, r, &hi);
        /* close the group when the table ends or this row would overflow a non-empty group */
        if (r == t->nrows || (r > start && head_tok + cur_tok + ltok > budget)) {
            size_t n = row_at;
            while (n && cur->data[n - 1] == '\n') n--;
            if (n && (r > start || (r == t->nrows && start == body))) {
                rg_chunk *c = push(l, RG_CHUNK_TABLE, blk->section, blk->page, blk->offset);
                c->text = keep(l, cur->data, n);
                c->table_index = table_index;
                c->row_start = start;
                c->row_end = r;
                c->ntokens = head_tok + cur_tok;
            }
            if (r == t->nrows) break;
            size_t row_n = cur->len - row_at;
            memmove(cur->data + head_len, cur->data + row_at, row_n);
            cur->len = head_len + row_n;
            cur->data[cur->len] = 0;
            cur_tok = 0;
            start = r;
        }
        cur_tok += ltok;
    }
    cur->len = 0;
    cur->data[0] = 0;
    header_info_free(&hi);
    free(head);
    free(heads);
    rg_strpool_free(&hp);
}

/* ---- text ---- */

typedef struct {
    chunk_list *l;
    const rg_chunk_opts *o;
    const char *section;
    rg_buf *text;           /* current chunk (the list's scratch) */
    int ntok;
    int page;
    int64_t offset;
    int first_child, nchildren;   /* this section's text chunks, for parents */
} packer;

static void flush(packer *p) {
    while (p->text->len && isspace((unsigned char)p->text->data[p->text->len - 1])) p->text->data[--p->text->len] = 0;
    if (!p->text->len) { p->ntok = 0; return; }
    rg_chunk *c = push(p->l, RG_CHUNK_TEXT, p->section, p->page, p->offset);
    take_text(p->l, c, p->text);
    c->ntokens = p->ntok;
    if (!p->nchildren++) p->first_child = p->l->n - 1;
    p->ntok = 0;
}

static void append(packer *p, const char *s, size_t n, int ntok, const char *sep, const rg_block *b) {
    if (!p->text->len) { p->page = b->page; p->offset = b->offset; }
    else rg_buf_puts(p->text, sep);
    rg_buf_put(p->text, s, n);
    p->ntok += ntok;
}

/* A sentence longer than the budget: pieces cut between words; a word longer than the
 * budget is cut every max_tokens bytes (a byte is at most one piece), on a UTF-8 boundary. */
static void add_long_sentence(packer *p, const char *s, size_t n, const rg_block *b) {
    int max = p->o->max_tokens;
    size_t i = 0;
    while (i < n && isspace((unsigned char)s[i])) i++;
    while (i < n) {
        size_t j = i;
        int tok = 0;
        while (j < n) {
            size_t e = j;
            while (e < n && !isspace((unsigned char)s[e])) e++;
            int wt = approx_tokens_n(s + j, e - j);
            if (tok && tok + wt > max) break;
            tok += wt;
            j = e;
            while (j < n && isspace((unsigned char)s[j])) j++;
            if (tok >= max) break;
        }
        size_t end = j;
        if (tok > max) {
            end = i + (size_t)max;
            while (end < n && ((unsigned char)s[end] & 0xC0) == 0x80) end++;
            if (end > n) end = n;
            tok = approx_tokens_n(s + i, end - i);
        }
        size_t len = end - i;
        while (len && isspace((unsigned char)s[i + len - 1])) len--;
        if (p->ntok && p->ntok + tok > max) flush(p);
        append(p, s + i, len, tok, " ", b);
        i = end;
        while (i < n && isspace((unsigned char)s[i])) i++;
    }
}

/* A paragraph longer than the room left: sentence by sentence, with overlap. */
static void add_long_para(packer *p, const char *text, size_t n, const rg_block *b) {
    rg_span *sp = NULL;
    int ns = rg_sentences(text, n, &sp);
    int *tok = xmalloc(((size_t)ns + 1) * sizeof *tok);
    for (int i = 0; i < ns; i++) tok[i] = approx_tokens_n(text + sp[i].start, sp[i].len);
    int chunk_first = -1;   /* first sentence of this paragraph in the current chunk */
    for (int i = 0; i < ns; i++) {
        if (tok[i] > p->o->max_tokens) {
            add_long_sentence(p, text + sp[i].start, sp[i].len, b);
            chunk_first = -1;
            continue;
        }
        if (p->ntok + tok[i] > p->o->max_tokens && p->ntok) {
            flush(p);
            /* overlap: trailing sentences of the chunk just closed, within overlap_tokens */
            if (chunk_first >= 0 && p->o->overlap_tokens > 0) {
                int k = i, sum = 0;
                while (k - 1 >= chunk_first && sum + tok[k - 1] <= p->o->overlap_tokens) sum += tok[--k];
                for (int m = k; m < i; m++) append(p, text + sp[m].start, sp[m].len, tok[m], " ", b);
                chunk_first = k < i ? k : -1;
            } else chunk_first = -1;
        }
        if (chunk_first < 0) chunk_first = i;
        append(p, text + sp[i].start, sp[i].len, tok[i], p->ntok ? (i == chunk_first ? "\n\n" : " ") : "", b);
    }
    free(tok);
    free(sp);
}

static void add_para(packer *p, const rg_block *b) {
    const char *text = b->text;
    size_t n = strlen(text);
    int t = approx_tokens_n(text, n);
    if (p->ntok + t <= p->o->max_tokens) { append(p, text, n, t, "\n\n", b); return; }
    if (t <= p->o->max_tokens) {   /* keep the paragraph whole in a chunk of its own */
        flush(p);
        append(p, text, n, t, "\n\n", b);
        return;
    }
    add_long_para(p, text, n, b);
}

/* Parents for a section's text chunks idx[0..n) (tables between them left out): windows of
 * whole children up to PARENT_FACTOR budgets, each a context-only chunk they point to. */
static void add_parents(chunk_list *l, const int *idx, int n, int budget) {
    if (n < 2) return;
    int i = 0;
    while (i < n) {
        int j = i, tok = 0;
        while (j < n && (j == i || tok + l->v[idx[j]].ntokens <= budget)) tok += l->v[idx[j++]].ntokens;
        if (j - i >= 2) {
            rg_buf *b = &l->cur;   /* free here: tables are done with it */
            b->len = 0;
            for (int k = i; k < j; k++) {
                if (b->len) rg_buf_put(b, "\n\n", 2);
                rg_buf_puts(b, l->v[idx[k]].text);
            }
            const rg_chunk *c0 = &l->v[idx[i]];
            const char *section = c0->section;   /* in the pool: stays where it is */
            int page = c0->page;
            int64_t off = c0->offset;
            rg_chunk *pc = push(l, RG_CHUNK_TEXT, section, page, off);   /* may move l->v */
            pc->ntokens = tok;   /* a child's ntokens counts its text; "\n\n" joins add none */
            take_text(l, pc, b);
            pc->context_only = 1;
            int pi = l->n - 1;
            for (int k = i; k < j; k++) l->v[idx[k]].parent = pi;
        }
        i = j;
    }
}

static int same_section(const rg_block *a, const rg_block *b) {
    if (a->section == b->section) return 1;   /* the doc keeps one copy per run of a section */
    return strcmp(a->section ? a->section : "", b->section ? b->section : "") == 0;
}

int rg_chunk_doc(const rg_doc *d, const rg_chunk_opts *o, rg_chunk **out, int *n) {
    rg_chunk_opts def;
    rg_chunk_opts_default(&def);
    rg_chunk_opts eff = o ? *o : def;
    if (eff.max_tokens <= 0) eff.max_tokens = def.max_tokens;
    if (eff.max_tokens < 8) eff.max_tokens = 8;
    if (eff.overlap_tokens < 0) eff.overlap_tokens = 0;
    if (eff.overlap_tokens > eff.max_tokens / 2) eff.overlap_tokens = eff.max_tokens / 2;
    if (eff.table_max_tokens <= 0) eff.table_max_tokens = eff.max_tokens;
    chunk_list l = {0};
    int table_index = 0;
    for (int i = 0; i < d->nblocks;) {
        /* one section: blocks sharing a section path */
        int e = i + 1;
        while (e < d->nblocks && same_section(&d->blocks[e], &d->blocks[i])) e++;
        packer p = {&l, &eff, d->blocks[i].section ? d->blocks[i].section : "", &l.text, 0, 0, -1, 0, 0};
        for (int k = i; k < e; k++) {
            const rg_block *b = &d->blocks[k];
            if (b->kind == RG_BLOCK_TABLE) {
                flush(&p);
                if (b->table) chunk_table(&l, b, table_index, eff.table_max_tokens);
                table_index++;
                continue;
            }
            if (b->kind == RG_BLOCK_HEADING || !b->text || !*b->text) continue;   /* headings live in the path */
            add_para(&p, b);
        }
        flush(&p);
        if (p.nchildren >= 2) {
            int hi = l.n, cnt = 0;
            int *idx = xmalloc((size_t)(hi - p.first_child) * sizeof *idx);
            for (int k = p.first_child; k < hi; k++) if (l.v[k].kind == RG_CHUNK_TEXT) idx[cnt++] = k;
            add_parents(&l, idx, cnt, eff.max_tokens * PARENT_FACTOR);
            free(idx);
        }
        i = e;
    }
    rg_buf_free(&l.text);
    rg_buf_free(&l.cur);
    if (!l.n) {
        rg_strpool_free(&l.strs);
        free(l.base);
        *out = NULL;
        *n = 0;
        return 0;
    }
    ((chunk_head *)(void *)l.base)->strs = l.strs;
    *out = l.v;
    *n = l.n;
    return 0;
}

void rg_chunks_free(rg_chunk *c, int n) {
    (void)n;
    if (!c) return;
    chunk_head *h = (chunk_head *)(void *)((char *)c - HEAD_SIZE);
    rg_strpool_free(&h->strs);
    free(h);
}
