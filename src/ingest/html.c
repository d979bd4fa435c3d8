/* ingest/html: HTML and XHTML through libxml2's forgiving HTML parser (recover, no network,
 * no error output). Scripts, styles, navigation, asides and page headers/footers are
 * dropped; h1..h6 build the section path; block elements end paragraphs; each <table>
 * becomes an rg_table with colspan/rowspan expanded, header rows taken from <thead> or
 * leading all-<th> rows (else guessed from the cells), and the <caption> or the preceding
 * heading as caption. A table holding another table is layout, read as text.
 * Blocks carry the byte offset of their element's start tag in the source: a SAX hook notes
 * where the parser stands as each element starts (libxml2's nodes keep only line numbers). */
#include "ingest/formats.h"
#include "core/numparse.h"
#include "core/util.h"
#include <libxml/HTMLparser.h>
#include <libxml/SAX2.h>
#include <libxml/tree.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define HTML_MAX_DEPTH 400
#define TABLE_MAX_CELLS 2000000L
#define MAX_COLSPAN 256
#define MAX_ROWSPAN 1000

typedef struct {
    rg_doc *d;
    const char *source;
    rg_buf para;
    int space;              /* a space is pending before the next word */
    char *heads[6];
    char *section;
    char *last_heading;     /* caption for a following table without <caption> */
    char *last_para;        /* context (scale statement) for a following table */
    int content;            /* inside article/main/section: <header> is content there */
    int64_t at;             /* source offset of the innermost element being walked, -1 unknown */
    int64_t para_at;        /* offset of the paragraph being gathered */
} hctx;

/* ---- source offsets ---- */

typedef struct { const char *text; size_t len; } offset_src;

/* The parser has just read an element's start tag: its offset (the '<' before where the
 * parser stands) goes into the node's _private, plus one (0: unknown). */
static void start_element(void *ctx, const xmlChar *name, const xmlChar **atts) {
    htmlParserCtxtPtr c = ctx;
    xmlSAX2StartElement(ctx, name, atts);
    const offset_src *src = c->_private;
    /* Not xmlByteConsumed: with an encoder in place (UTF-8 to UTF-8 here) it re-encodes the
     * buffered input at every call. The input is valid UTF-8 (parse.c repairs it first), so
     * positions in the parser's buffer are positions in the source. */
    if (!src || !c->node || !c->input || !c->input->cur || !c->input->base) return;
    long pos = (long)c->input->consumed + (long)(c->input->cur - c->input->base);
    if (pos <= 0 || (size_t)pos > src->len) return;
    size_t i = (size_t)pos, stop = i > 65536 ? i - 65536 : 0;   /* a tag is short; bound the look back */
    while (i > stop && src->text[i - 1] != '<') i--;
    if (i > 0 && src->text[i - 1] == '<') c->node->_private = (void *)(uintptr_t)i;   /* offset + 1 */
}

static int64_t node_offset(const xmlNode *n) {
    return n->_private ? (int64_t)(uintptr_t)n->_private - 1 : -1;
}

static int name_is(const xmlNode *n, const char *name) {
    return n->type == XML_ELEMENT_NODE && n->name && strcasecmp((const char *)n->name, name) == 0;
}

static const char *const SKIP[] = {"script", "style", "noscript", "template", "nav", "aside",
                                   "iframe", "svg", "math", "object", "embed", "button", "select",
                                   "textarea", "head", "canvas", "audio", "video", "map", "form",
                                   NULL};
static const char *const BLOCK[] = {"p", "div", "section", "article", "main", "li", "ul", "ol",
                                    "dl", "dt", "dd", "blockquote", "pre", "figure", "figcaption",
                                    "address", "hr", "br", "tr", "td", "th", "details", "summary",
                                    "center", "body", "fieldset", "caption", "header", "footer",
                                    NULL};

/* What the walkers need to know of an element name, looked up once per visit instead of
 * comparing it against the lists above one by one (case-insensitively, as strcasecmp). */
enum { EL_SKIP = 1, EL_BLOCK = 2, EL_HEADFOOT = 4, EL_CONTENT = 8, EL_TABLE = 16, EL_BR = 32 };

typedef struct { const char *name; unsigned char bits; } el_class;
static el_class CLASSES[64];
static int nclasses;
static pthread_once_t class_once = PTHREAD_ONCE_INIT;

static void add_class(const char *name, unsigned bits) {
    for (int i = 0; i < nclasses; i++)
        if (strcmp(CLASSES[i].name, name) == 0) { CLASSES[i].bits |= (unsigned char)bits; return; }
    CLASSES[nclasses].name = name;
    CLASSES[nclasses++].bits = (unsigned char)bits;
}

static void init_classes(void) {
    for (int i = 0; SKIP[i]; i++) add_class(SKIP[i], EL_SKIP);
    for (int i = 0; BLOCK[i]; i++) add_class(BLOCK[i], EL_BLOCK);
    add_class("header", EL_HEADFOOT);
    add_class("footer", EL_HEADFOOT);
    add_class("article", EL_CONTENT);
    add_class("main", EL_CONTENT);
    add_class("section", EL_CONTENT);
    add_class("table", EL_TABLE);
    add_class("br", EL_BR);
}

/* The EL_* bits of an element node (0 for other nodes and other names). */
static unsigned el_bits(const xmlNode *n) {
    if (n->type != XML_ELEMENT_NODE || !n->name) return 0;
    char low[16];
    size_t i = 0;
    for (const unsigned char *p = n->name; *p; p++) {
        if (i + 1 >= sizeof low) return 0;   /* longer than any listed name */
        low[i++] = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
    }
    low[i] = 0;
    for (int k = 0; k < nclasses; k++)
        if (CLASSES[k].name[0] == low[0] && strcmp(CLASSES[k].name, low) == 0) return CLASSES[k].bits;
    return 0;
}

/* An attribute named name on n (any namespace), as xmlHasProp finds it without a DTD. */
static int has_attr(const xmlNode *n, const char *name) {
    for (const xmlAttr *a = n->properties; a; a = a->next)
        if (a->name && strcmp((const char *)a->name, name) == 0) return 1;
    return 0;
}

/* HTML documents have no attribute declarations, so an attribute not on the node is absent
 * and xmlHasProp/xmlGetProp (which also search the DTD) are only needed when it is there. */
static int skipped(const hctx *h, const xmlNode *n, unsigned bits) {
    if (bits & EL_SKIP) return 1;
    if ((bits & EL_HEADFOOT) && !h->content) return 1;
    if (n->type == XML_ELEMENT_NODE && n->properties) {
        if (has_attr(n, "hidden")) return 1;
        if (!has_attr(n, "role")) return 0;
        xmlChar *role = xmlGetProp((xmlNode *)n, (const xmlChar *)"role");
        int nav = role && (strcasecmp((char *)role, "navigation") == 0 || strcasecmp((char *)role, "banner") == 0 ||
                           strcasecmp((char *)role, "contentinfo") == 0);
        xmlFree(role);
        if (nav) return 1;
    }
    return 0;
}

/* Appends text with whitespace runs collapsed to one space. */
static int is_ws(const unsigned char *p) {
    return *p == ' ' || *p == '\n' || *p == '\t' || *p == '\r' || *p == '\f' || (p[0] == 0xC2 && p[1] == 0xA0);
}
/* 1: an ASCII space of is_ws; 2: NUL or 0xC2 (no-break space when 0xA0 follows); 0: a
 * byte inside a word. One load per byte in the word loop instead of is_ws's six tests. */
static const unsigned char WORD_STOP[256] = {[' '] = 1, ['\n'] = 1, ['\t'] = 1, ['\r'] = 1, ['\f'] = 1,
                                             [0] = 2, [0xC2] = 2};
static void put_text(rg_buf *b, int *space, const char *s) {
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        if (is_ws(p)) { *space = 1; p += *p == 0xC2 ? 2 : 1; continue; }   /* &nbsp; is a space */
        /* Words joined by single plain spaces come out as they are: the run is copied at once. */
        const unsigned char *w = p;
        for (;;) {
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
static void gather(const hctx *h, xmlNode *n, rg_buf *b, int *space, int depth) {
    for (xmlNode *c = n->children; c; c = c->next) {
        if (c->type == XML_TEXT_NODE || c->type == XML_CDATA_SECTION_NODE) {
            if (c->content) put_text(b, space, (const char *)c->content);
        } else if (c->type == XML_ELEMENT_NODE && depth < HTML_MAX_DEPTH) {
            unsigned bits = el_bits(c);
            if (bits & EL_SKIP) continue;
            if (bits & (EL_BR | EL_BLOCK)) *space = 1;
            gather(h, c, b, space, depth + 1);
            if (bits & EL_BLOCK) *space = 1;
        }
    }
}

static char *node_text(const hctx *h, xmlNode *n) {
    rg_buf b = {0};
    int space = 0;
    gather(h, n, &b, &space, 0);
    return rg_buf_take(&b);
}

static void set_last(char **slot, const char *s) {
    free(*slot);
    *slot = s ? xstrdup(s) : NULL;
}

static void flush_para(hctx *h) {
    if (!h->para.len) { h->space = 0; return; }
    rg_doc_add_text(h->d, RG_BLOCK_PARA, 0, h->para.data, h->section)->offset = h->para_at;
    set_last(&h->last_para, h->para.data);
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

static void heading(hctx *h, xmlNode *n, int level) {
    flush_para(h);
    char *text = node_text(h, n);
    if (!*text) { free(text); return; }
    for (int i = level - 1; i < 6; i++) { free(h->heads[i]); h->heads[i] = NULL; }
    h->heads[level - 1] = xstrdup(text);
    set_section(h);
    rg_doc_add_text(h->d, RG_BLOCK_HEADING, level, text, h->section)->offset = node_offset(n);
    if (!h->d->title && level == 1) h->d->title = xstrdup(text);
    set_last(&h->last_heading, text);
    set_last(&h->last_para, NULL);
    free(text);
}

/* ---- tables ---- */

typedef struct { char **cells; int *origin; int n, cap; int all_th, any; int thead; } hrow;
static char OCCUPIED[] = "";   /* a grid slot covered by a span but left empty */

static int has_descendant(xmlNode *n, const char *name, int depth) {
    if (depth > HTML_MAX_DEPTH) return 0;
    for (xmlNode *c = n->children; c; c = c->next) {
        if (c->type != XML_ELEMENT_NODE) continue;
        if (name_is(c, name) || has_descendant(c, name, depth + 1)) return 1;
    }
    return 0;
}

static int span_attr(xmlNode *n, const char *attr, int max) {
    if (!has_attr(n, attr)) return 1;
    xmlChar *v = xmlGetProp(n, (const xmlChar *)attr);
    int k = v ? atoi((const char *)v) : 1;
    xmlFree(v);
    if (k < 1) k = 1;
    return k > max ? max : k;
}

/* origin: for a slot left empty under a body cell's colspan, that cell's column (else -1);
 * if the row turns out to be a header row, the text is copied there after all. */
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
    if (row->cells[c] && row->cells[c] != OCCUPIED) free(row->cells[c]);
    row->cells[c] = text;
    row->origin[c] = origin;
    if (c >= row->n) row->n = c + 1;
}

static int slot_taken(const hrow *row, int c) { return c < row->n && row->cells[c]; }

typedef struct { xmlNode **tr; int *thead; int n, cap; } trlist;
static void tr_add(trlist *l, xmlNode *tr, int thead) {
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 16;
        l->tr = xrealloc(l->tr, (size_t)l->cap * sizeof *l->tr);
        l->thead = xrealloc(l->thead, (size_t)l->cap * sizeof *l->thead);
    }
    l->tr[l->n] = tr;
    l->thead[l->n++] = thead;
}

static void walk(hctx *h, xmlNode *n, int depth);

static void read_table(hctx *h, xmlNode *tab, int depth) {
    if (has_descendant(tab, "table", 0)) {   /* layout table: its content is text */
        walk(h, tab, depth + 1);
        flush_para(h);
        return;
    }
    flush_para(h);
    char *caption = NULL;
    trlist trs = {0};
    trlist foot = {0};
    for (xmlNode *c = tab->children; c; c = c->next) {
        if (name_is(c, "caption")) { free(caption); caption = node_text(h, c); }
        else if (name_is(c, "tr")) tr_add(&trs, c, 0);
        else if (name_is(c, "thead") || name_is(c, "tbody") || name_is(c, "tfoot")) {
            for (xmlNode *r = c->children; r; r = r->next)
                if (name_is(r, "tr")) tr_add(name_is(c, "tfoot") ? &foot : &trs, r, name_is(c, "thead"));
        }
    }
    for (int i = 0; i < foot.n; i++) tr_add(&trs, foot.tr[i], 0);
    free(foot.tr);
    free(foot.thead);
    int R = trs.n;
    hrow *rows = xcalloc((size_t)R + 1, sizeof *rows);
    long cells = 0;
    int truncated = 0;
    for (int r = 0; r < R && !truncated; r++) {
        rows[r].all_th = 1;
        rows[r].thead = trs.thead[r];
        int col = 0;
        for (xmlNode *c = trs.tr[r]->children; c; c = c->next) {
            int th = name_is(c, "th");
            if (!th && !name_is(c, "td")) continue;
            int cs = span_attr(c, "colspan", MAX_COLSPAN), rs = span_attr(c, "rowspan", MAX_ROWSPAN);
            if (r + rs > R) rs = R - r;
            while (slot_taken(&rows[r], col)) col++;
            char *text = node_text(h, c);
            if (!th) rows[r].all_th = 0;
            rows[r].any = 1;
            int header = th || trs.thead[r];
            if ((cells += (long)cs * rs) > TABLE_MAX_CELLS) { free(text); truncated = 1; break; }
            for (int dr = 0; dr < rs; dr++)
                for (int dc = 0; dc < cs; dc++) {
                    char *v;
                    int origin = -1;
                    if (!dr && !dc) v = text;
                    else if (dc && !header) { v = OCCUPIED; origin = col; }   /* a body label spanning columns: once */
                    else v = xstrdup(text);
                    row_set(&rows[r + dr], col + dc, v, origin);
                }
            col += cs;
        }
    }
    int C = 0, used = 0;
    for (int r = 0; r < R; r++) { if (rows[r].n > C) C = rows[r].n; if (rows[r].any || rows[r].n) used++; }
    if (C >= 2 && used >= 1) {
        rg_table *t = rg_table_new(used, C);
        int out = 0, header_rows = 0, leading = 1;
        for (int r = 0; r < R; r++) {
            if (!rows[r].any && !rows[r].n) continue;
            for (int c = 0; c < C; c++) {
                const char *v = c < rows[r].n && rows[r].cells[c] ? rows[r].cells[c] : "";
                rg_table_set(t, out, c, v);
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
        rg_doc_add_table(h->d, t, h->section)->offset = node_offset(tab);
    } else {
        /* one column: the cells are just text */
        if (caption && *caption) rg_doc_add_text(h->d, RG_BLOCK_PARA, 0, caption, h->section)->offset = node_offset(tab);
        for (int r = 0; r < R; r++)
            for (int c = 0; c < rows[r].n; c++)
                if (rows[r].cells[c] && rows[r].cells[c][0])
                    rg_doc_add_text(h->d, RG_BLOCK_PARA, 0, rows[r].cells[c], h->section)->offset = node_offset(tab);
    }
    for (int r = 0; r < R; r++) {
        for (int c = 0; c < rows[r].n; c++)
            if (rows[r].cells[c] != OCCUPIED) free(rows[r].cells[c]);
        free(rows[r].cells);
        free(rows[r].origin);
    }
    free(rows);
    free(trs.tr);
    free(trs.thead);
    free(caption);
    set_last(&h->last_para, NULL);
}

static void walk(hctx *h, xmlNode *n, int depth) {
    if (depth > HTML_MAX_DEPTH) return;
    for (xmlNode *c = n->children; c; c = c->next) {
        if (c->type == XML_TEXT_NODE || c->type == XML_CDATA_SECTION_NODE) {
            if (!h->para.len) h->para_at = h->at;   /* a paragraph starts where its element does */
            if (c->content) put_text(&h->para, &h->space, (const char *)c->content);
            continue;
        }
        if (c->type != XML_ELEMENT_NODE) continue;
        unsigned bits = el_bits(c);
        if (skipped(h, c, bits)) continue;
        int64_t outer = h->at;
        if (node_offset(c) >= 0) h->at = node_offset(c);
        const char *nm = (const char *)c->name;
        if ((nm[0] == 'h' || nm[0] == 'H') && nm[1] >= '1' && nm[1] <= '6' && !nm[2]) {
            heading(h, c, nm[1] - '0');
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

static pthread_once_t xml_once = PTHREAD_ONCE_INIT;
static void xml_init(void) { xmlInitParser(); }

rg_doc *rg_parse_html(const char *doc_id, const char *source, const char *text, size_t len) {
    pthread_once(&xml_once, xml_init);
    pthread_once(&class_once, init_classes);
    if (len > (size_t)INT32_MAX) {
        rg_err("%s: HTML document too large", source);
        return NULL;
    }
    htmlParserCtxtPtr ctxt = htmlNewParserCtxt();
    if (!ctxt) { rg_err("%s: out of memory for the HTML parser", source); return NULL; }
    offset_src src = {text, len};
    ctxt->_private = &src;
    ctxt->sax->startElement = start_element;
    htmlDocPtr doc = htmlCtxtReadMemory(ctxt, text, (int)len, NULL, "UTF-8",
                                        HTML_PARSE_RECOVER | HTML_PARSE_NOERROR | HTML_PARSE_NOWARNING |
                                        HTML_PARSE_NONET | HTML_PARSE_COMPACT);
    htmlFreeParserCtxt(ctxt);
    xmlNode *root = doc ? xmlDocGetRootElement(doc) : NULL;
    if (!root) {
        if (doc) xmlFreeDoc(doc);
        rg_err("%s: not readable as HTML (no elements)", source);
        return NULL;
    }
    hctx h = {0};
    h.d = rg_doc_new(doc_id, source, "html");
    h.source = source;
    h.section = xstrdup("");
    h.at = h.para_at = -1;
    /* <title> from the head, before the head itself is skipped */
    for (xmlNode *c = root->children; c; c = c->next)
        if (name_is(c, "head"))
            for (xmlNode *t = c->children; t; t = t->next)
                if (name_is(t, "title")) {
                    char *s = node_text(&h, t);
                    if (*s) h.d->title = s; else free(s);
                    break;
                }
    walk(&h, (xmlNode *)doc, 0);
    flush_para(&h);
    for (int i = 0; i < 6; i++) free(h.heads[i]);
    free(h.section);
    free(h.last_heading);
    free(h.last_para);
    rg_buf_free(&h.para);
    xmlFreeDoc(doc);
    if (!h.d->nblocks) {
        rg_doc_free(h.d);
        rg_err("%s: HTML page has no text content", source);
        return NULL;
    }
    return h.d;
}
