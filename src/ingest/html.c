/* ingest/html: HTML and XHTML through libxml2's forgiving HTML parser (recover, no network,
 * no error output). Scripts, styles, navigation, asides and page headers/footers are
 * dropped; h1..h6 build the section path; block elements end paragraphs; each <table>
 * becomes an rg_table with colspan/rowspan expanded, header rows taken from <thead> or
 * leading all-<th> rows (else guessed from the cells), and the <caption> or the preceding
 * heading as caption. A table holding another table is layout, read as text.
 * Blocks carry the byte offset of their element's start tag in the source.
 * The parser's SAX callbacks fill a flat list of events (html_events.h) that nests as
 * libxml2's tree would; this file walks that list as it would walk the tree: a start event
 * knows its end, so an element's children are the events between. */
#include "ingest/formats.h"
#include "ingest/html_events.h"
#include "core/numparse.h"
#include "core/util.h"
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define HTML_MAX_DEPTH 400
#define TABLE_MAX_CELLS 2000000L

typedef struct {
    const hevents *e;
    rg_doc *d;
    rg_buf para;
    int space;              /* a space is pending before the next word */
    /* heads and last_*: block texts, which live in the doc's pool as long as the doc */
    const char *heads[6];
    char *section;
    const char *last_heading;  /* caption for a following table without <caption> */
    const char *last_para;     /* context (scale statement) for a following table */
    int content;            /* inside article/main/section: <header> is content there */
    int64_t at;             /* source offset of the innermost element being walked, -1 unknown */
    int64_t para_at;        /* offset of the paragraph being gathered */
} hctx;

/* ---- the event list as a tree ---- */

#define DOC ((size_t)-1)    /* the document: its children are the top-level events */

static size_t first_child(size_t n) { return n == DOC ? 0 : n + 1; }
static size_t child_end(const hctx *h, size_t n) { return n == DOC ? h->e->n : h->e->ev[n].end; }
static size_t next_sibling(const hctx *h, size_t c) {
    const hev *v = &h->e->ev[c];
    return v->type == HEV_START ? v->end + 1 : c + 1;
}
#define CHILDREN(h, c, n) for (size_t c = first_child(n), c##_stop = child_end(h, n); c < c##_stop; c = next_sibling(h, c))

static const hev *ev(const hctx *h, size_t i) { return &h->e->ev[i]; }
static int is_kind(const hctx *h, size_t i, int kind) { return ev(h, i)->type == HEV_START && ev(h, i)->kind == kind; }
static const char *text_of(const hctx *h, size_t i) { return h->e->arena + ev(h, i)->u.text; }

static int skipped(const hctx *h, size_t c) {
    unsigned bits = ev(h, c)->bits;
    if (bits & EL_SKIP) return 1;
    if ((bits & EL_HEADFOOT) && !h->content) return 1;
    return (ev(h, c)->flags & HF_HIDDEN) != 0;
}

/* Appends text with whitespace runs collapsed to one space. */
static int is_ws(const unsigned char *p) {
    return *p == ' ' || *p == '\n' || *p == '\t' || *p == '\r' || *p == '\f' || (p[0] == 0xC2 && p[1] == 0xA0);
}
/* 1: an ASCII space of is_ws; 2: NUL or 0xC2 (no-break space when 0xA0 follows); 0: a
 * byte inside a word. One load per byte in the word loop instead of is_ws's six tests. */
static const unsigned char WORD_STOP[256] = {[' '] = 1, ['\n'] = 1, ['\t'] = 1, ['\r'] = 1, ['\f'] = 1,
                                             [0] = 2, [0xC2] = 2};

/* How many of the 8 bytes at p come before the first that may stop a word (below 0x21 or
 * 0xC2); 8 if none. The lowest flagged byte of these bit tricks is exact: a byte is only
 * flagged wrongly by a borrow from a flagged byte below it. */
static unsigned plain_run8(const unsigned char *p) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    uint64_t x, y;
    memcpy(&x, p, 8);
    y = x ^ 0xC2C2C2C2C2C2C2C2ull;
    uint64_t m = ((x - 0x2121212121212121ull) & ~x) | ((y - 0x0101010101010101ull) & ~y);
    m &= 0x8080808080808080ull;
    return m ? (unsigned)__builtin_ctzll(m) >> 3 : 8;
#else
    (void)p;
    return 0;
#endif
}

/* s has len bytes and a NUL after them. */
static void put_text(rg_buf *b, int *space, const char *s, size_t len) {
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    while (*p) {
        if (is_ws(p)) { *space = 1; p += *p == 0xC2 ? 2 : 1; continue; }   /* &nbsp; is a space */
        /* Words joined by single plain spaces come out as they are: the run is copied at once. */
        const unsigned char *w = p;
        for (;;) {
            if (end - p >= 8) {   /* skip plain bytes eight at a time */
                unsigned i = plain_run8(p);
                p += i;
                if (i == 8) continue;
            }
            unsigned k = WORD_STOP[*p];   /* a word: up to NUL or white space (is_ws) */
            if (!k) { p++; continue; }
            if (k == 2 && *p && p[1] != 0xA0) { p++; continue; }   /* 0xC2 starting another character */
            if (*p == ' ' && p[1] && !is_ws(p + 1)) { p++; continue; }   /* one space, then a word */
            break;
        }
        if (*space && b->len) rg_buf_putc(b, ' ');
        *space = 0;
        rg_buf_put(b, w, (size_t)(p - w));
    }
}

/* All text under n (for headings, cells, captions), collapsed. */
static void gather(const hctx *h, size_t n, rg_buf *b, int *space, int depth) {
    CHILDREN(h, c, n) {
        const hev *v = ev(h, c);
        if (v->type == HEV_TEXT) {
            put_text(b, space, text_of(h, c), v->end);
        } else if (v->type == HEV_START && depth < HTML_MAX_DEPTH) {
            unsigned bits = v->bits;
            if (bits & EL_SKIP) continue;
            if (bits & (EL_BR | EL_BLOCK)) *space = 1;
            gather(h, c, b, space, depth + 1);
            if (bits & EL_BLOCK) *space = 1;
        }
    }
}

static char *node_text(const hctx *h, size_t n) {
    rg_buf b = {0};
    int space = 0;
    gather(h, n, &b, &space, 0);
    return rg_buf_take(&b);
}

static void flush_para(hctx *h) {
    if (!h->para.len) { h->space = 0; return; }
    rg_block *b = rg_doc_add_text(h->d, RG_BLOCK_PARA, 0, h->para.data, h->section);
    b->offset = h->para_at;
    h->last_para = b->text;
    h->para.len = 0;
    h->para.data[0] = 0;
    h->space = 0;
}

static void set_section(hctx *h) {
    rg_buf b = {0};
    for (int i = 0; i < 6; i++) {
        if (!h->heads[i]) continue;
        if (b.len) rg_buf_puts(&b, " > ");
        rg_buf_puts(&b, h->heads[i]);
    }
    free(h->section);
    h->section = rg_buf_take(&b);
}

static void heading(hctx *h, size_t n, int level) {
    flush_para(h);
    char *text = node_text(h, n);
    if (!*text) { free(text); return; }
    for (int i = level - 1; i < 6; i++) h->heads[i] = NULL;
    h->heads[level - 1] = text;   /* for set_section; then the block's copy */
    set_section(h);
    rg_block *b = rg_doc_add_text(h->d, RG_BLOCK_HEADING, level, text, h->section);
    b->offset = ev(h, n)->u.offset;
    h->heads[level - 1] = b->text;
    if (!h->d->title && level == 1) h->d->title = xstrdup(text);
    h->last_heading = b->text;
    h->last_para = NULL;
    free(text);
}

/* ---- tables ---- */

typedef struct { char **cells; int *origin; int n, cap; int all_th, any; int thead; } hrow;
static char OCCUPIED[] = "";   /* a grid slot covered by a span but left empty */

/* origin: for a slot left empty under a body cell's colspan, that cell's column (else -1);
 * if the row turns out to be a header row, the text is copied there after all. Texts live
 * in the table's cell pool (read_table), so a replaced one is just dropped. */
static void row_set(hrow *row, int c, char *text, int origin) {
    if (c >= row->cap) {
        int nc = row->cap ? row->cap : 8;
        while (nc <= c) nc *= 2;
        row->cells = xrealloc(row->cells, (size_t)nc * sizeof *row->cells);
        row->origin = xrealloc(row->origin, (size_t)nc * sizeof *row->origin);
        memset(row->cells + row->cap, 0, (size_t)(nc - row->cap) * sizeof *row->cells);
        for (int i = row->cap; i < nc; i++) row->origin[i] = -1;
        row->cap = nc;
    }
    row->cells[c] = text;
    row->origin[c] = origin;
    if (c >= row->n) row->n = c + 1;
}

static int slot_taken(const hrow *row, int c) { return c < row->n && row->cells[c]; }

typedef struct { size_t *tr; int *thead; int n, cap; } trlist;
static void tr_add(trlist *l, size_t tr, int thead) {
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 16;
        l->tr = xrealloc(l->tr, (size_t)l->cap * sizeof *l->tr);
        l->thead = xrealloc(l->thead, (size_t)l->cap * sizeof *l->thead);
    }
    l->tr[l->n] = tr;
    l->thead[l->n++] = thead;
}

static void walk(hctx *h, size_t n, int depth);

static void read_table(hctx *h, size_t tab, int depth) {
    if (ev(h, tab)->flags & HF_HOLDS_TABLE) {   /* layout table: its content is text */
        walk(h, tab, depth + 1);
        flush_para(h);
        return;
    }
    flush_para(h);
    char *caption = NULL;
    trlist trs = {0};
    trlist foot = {0};
    CHILDREN(h, c, tab) {
        if (is_kind(h, c, HK_CAPTION)) { free(caption); caption = node_text(h, c); }
        else if (is_kind(h, c, HK_TR)) tr_add(&trs, c, 0);
        else if (is_kind(h, c, HK_THEAD) || is_kind(h, c, HK_TBODY) || is_kind(h, c, HK_TFOOT)) {
            CHILDREN(h, r, c)
                if (is_kind(h, r, HK_TR)) tr_add(is_kind(h, c, HK_TFOOT) ? &foot : &trs, r, is_kind(h, c, HK_THEAD));
        }
    }
    for (int i = 0; i < foot.n; i++) tr_add(&trs, foot.tr[i], 0);
    free(foot.tr);
    free(foot.thead);
    int R = trs.n;
    hrow *rows = xcalloc((size_t)R + 1, sizeof *rows);
    /* the cells' texts, gathered in one scratch buffer and kept in one pool, which the
     * table takes over: no malloc and free per cell */
    rg_strpool cell_strs = {0};
    rg_buf scratch = {0};
    long cells = 0;
    int truncated = 0;
    for (int r = 0; r < R && !truncated; r++) {
        rows[r].all_th = 1;
        rows[r].thead = trs.thead[r];
        int col = 0;
        CHILDREN(h, c, trs.tr[r]) {
            int th = is_kind(h, c, HK_TH);
            if (!th && !is_kind(h, c, HK_TD)) continue;
            int cs = ev(h, c)->colspan, rs = ev(h, c)->rowspan;
            if (r + rs > R) rs = R - r;
            while (slot_taken(&rows[r], col)) col++;
            scratch.len = 0;
            int space = 0;
            gather(h, c, &scratch, &space, 0);
            char *text = rg_strpool_dup(&cell_strs, scratch.len ? scratch.data : "", scratch.len, 4096);
            if (!th) rows[r].all_th = 0;
            rows[r].any = 1;
            int header = th || trs.thead[r];
            if ((cells += (long)cs * rs) > TABLE_MAX_CELLS) { truncated = 1; break; }
            for (int dr = 0; dr < rs; dr++)
                for (int dc = 0; dc < cs; dc++) {
                    char *v;
                    int origin = -1;
                    if (dc && !header) { v = OCCUPIED; origin = col; }   /* a body label spanning columns: once */
                    else v = text;   /* one copy in the pool serves every slot */
                    row_set(&rows[r + dr], col + dc, v, origin);
                }
            col += cs;
        }
    }
    int C = 0, used = 0;
    for (int r = 0; r < R; r++) { if (rows[r].n > C) C = rows[r].n; if (rows[r].any || rows[r].n) used++; }
    int64_t tab_at = ev(h, tab)->u.offset;
    if (C >= 2 && used >= 1) {
        rg_table *t = rg_table_new(used, C);
        int out = 0, header_rows = 0, leading = 1;
        for (int r = 0; r < R; r++) {
            if (!rows[r].any && !rows[r].n) continue;
            for (int c = 0; c < C; c++) {
                char *v = c < rows[r].n ? rows[r].cells[c] : NULL;
                if (!v || !*v) rg_table_set(t, out, c, "");
                else rg_table_set_kept(t, out, c, v);   /* in cell_strs, which the table adopts */
            }
            if (leading && rows[r].any && (rows[r].thead || rows[r].all_th)) header_rows = out + 1;
            else leading = 0;
            out++;
        }
        if (header_rows >= used && used > 1) header_rows = used - 1;
        t->header_rows = header_rows;
        if (caption && *caption) t->caption = xstrdup(caption);
        else if (h->last_heading) t->caption = xstrdup(h->last_heading);
        rg_table_analyse(t, h->last_para);
        /* a <td colspan> in what proved to be a header row ("Fiscal 2019" over Q1..Q4) heads
         * every column it spans */
        for (int r = 0, o = 0; r < R && o < t->header_rows; r++) {
            if (!rows[r].any && !rows[r].n) continue;
            for (int c = 0; c < rows[r].n && c < C; c++) {
                int oc = rows[r].origin[c];
                if (rows[r].cells[c] == OCCUPIED && oc >= 0 && oc < c)
                    rg_table_set(t, o, c, rg_table_cell(t, o, oc)->raw);
            }
            o++;
        }
        rg_strpool_adopt(&t->strs, &cell_strs);
        rg_doc_add_table(h->d, t, h->section)->offset = tab_at;
    } else {
        /* one column: the cells are just text */
        if (caption && *caption) rg_doc_add_text(h->d, RG_BLOCK_PARA, 0, caption, h->section)->offset = tab_at;
        for (int r = 0; r < R; r++)
            for (int c = 0; c < rows[r].n; c++)
                if (rows[r].cells[c] && rows[r].cells[c][0])
                    rg_doc_add_text(h->d, RG_BLOCK_PARA, 0, rows[r].cells[c], h->section)->offset = tab_at;
    }
    for (int r = 0; r < R; r++) {
        free(rows[r].cells);
        free(rows[r].origin);
    }
    rg_strpool_free(&cell_strs);   /* empty when the table took it */
    rg_buf_free(&scratch);
    free(rows);
    free(trs.tr);
    free(trs.thead);
    free(caption);
    h->last_para = NULL;
}

static void walk(hctx *h, size_t n, int depth) {
    if (depth > HTML_MAX_DEPTH) return;
    CHILDREN(h, c, n) {
        const hev *v = ev(h, c);
        if (v->type == HEV_TEXT) {
            if (!h->para.len) h->para_at = h->at;   /* a paragraph starts where its element does */
            put_text(&h->para, &h->space, text_of(h, c), v->end);
            continue;
        }
        if (v->type != HEV_START || skipped(h, c)) continue;
        unsigned bits = v->bits;
        int64_t outer = h->at;
        if (v->u.offset >= 0) h->at = v->u.offset;
        if (v->kind >= 1 && v->kind <= 6) {
            heading(h, c, v->kind);
        } else if (bits & EL_TABLE) {
            read_table(h, c, depth);
        } else if (bits & EL_BR) {
            h->space = 1;
        } else if (bits & EL_BLOCK) {
            int content = (bits & EL_CONTENT) != 0;
            flush_para(h);
            h->content += content;
            walk(h, c, depth + 1);
            h->content -= content;
            flush_para(h);
        } else {
            walk(h, c, depth + 1);   /* inline: span, a, b, em, ... */
        }
        h->at = outer;
    }
}

/* Each thread keeps its event arrays for its next document (up to CACHE_MAX bytes): fresh
 * arrays the size of each document cost as many page faults as filling them. */
#define CACHE_MAX ((size_t)16 << 20)
static pthread_key_t cache_key;
static int cache_ok;
static pthread_once_t cache_once = PTHREAD_ONCE_INIT;
static void cache_free(void *p) {
    html_events_free(p);
    free(p);
}
static void cache_init(void) { cache_ok = pthread_key_create(&cache_key, cache_free) == 0; }

/* *kept: the arrays belong to the thread's cache (else to this call alone) */
static hevents *events_take(int *kept) {
    pthread_once(&cache_once, cache_init);
    hevents *e = cache_ok ? pthread_getspecific(cache_key) : NULL;
    *kept = e != NULL;
    if (e) return e;
    e = xcalloc(1, sizeof *e);
    *kept = cache_ok && pthread_setspecific(cache_key, e) == 0;
    return e;
}

static void events_give_back(hevents *e, int kept) {
    if (!kept) cache_free(e);
    else if (e->acap + e->cap * sizeof *e->ev > CACHE_MAX) html_events_free(e);
}

rg_doc *rg_parse_html(const char *doc_id, const char *source, const char *text, size_t len) {
    if (len > (size_t)INT32_MAX) {
        rg_err("%s: HTML document too large", source);
        return NULL;
    }
    int kept;
    hevents *ep = events_take(&kept);
    if (html_events_read(source, text, len, ep) < 0) {
        events_give_back(ep, kept);
        return NULL;
    }
    hctx h = {0};
    h.e = ep;
    size_t root = DOC;   /* the first top-level element */
    CHILDREN(&h, c, DOC)
        if (ev(&h, c)->type == HEV_START) { root = c; break; }
    if (root == DOC) {
        events_give_back(ep, kept);
        rg_err("%s: not readable as HTML (no elements)", source);
        return NULL;
    }
    h.d = rg_doc_new(doc_id, source, "html");
    h.section = xstrdup("");
    h.at = h.para_at = -1;
    /* <title> from the head, before the head itself is skipped */
    CHILDREN(&h, c, root)
        if (is_kind(&h, c, HK_HEAD))
            CHILDREN(&h, t, c)
                if (is_kind(&h, t, HK_TITLE)) {
                    char *s = node_text(&h, t);
                    if (*s) { free(h.d->title); h.d->title = s; } else free(s);
                    break;
                }
    walk(&h, DOC, 0);
    flush_para(&h);
    free(h.section);
    rg_buf_free(&h.para);
    events_give_back(ep, kept);
    if (!h.d->nblocks) {
        rg_doc_free(h.d);
        rg_err("%s: HTML page has no text content", source);
        return NULL;
    }
    return h.d;
}
