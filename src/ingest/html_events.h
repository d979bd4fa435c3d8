/* ingest/html_events: libxml2's forgiving HTML parser driven through SAX callbacks into a flat
 * list of events (element start, element end, text) instead of a DOM tree. The list nests
 * exactly as the tree libxml2's own SAX2 tree builder would have built from the same callbacks
 * (same implied and auto-closed elements, same depth limit, same text limit, elements that
 * come after the root has closed placed inside it), so a reader walking the list sees that
 * tree. Each start carries what the HTML reader (html.c) asks of an element: its name class,
 * the attributes that hide it, col/row spans, whether a <table> holds another table, and the
 * byte offset of its start tag. */
#ifndef RAGD_INGEST_HTML_EVENTS_H
#define RAGD_INGEST_HTML_EVENTS_H
#include <stddef.h>
#include <stdint.h>

enum { HEV_START = 1, HEV_END = 2, HEV_TEXT = 3 };

/* name classes (hev.bits) */
enum { EL_SKIP = 1, EL_BLOCK = 2, EL_HEADFOOT = 4, EL_CONTENT = 8, EL_TABLE = 16, EL_BR = 32 };
/* names the reader looks for one by one (hev.kind); 1..6 are h1..h6 */
enum { HK_NONE = 0, HK_TABLE = 7, HK_CAPTION, HK_TR, HK_THEAD, HK_TBODY, HK_TFOOT, HK_TD, HK_TH,
       HK_HEAD, HK_TITLE };
/* hev.flags */
enum { HF_HIDDEN = 1,        /* hidden attribute, or role navigation/banner/contentinfo */
       HF_HOLDS_TABLE = 2 }; /* a table element with a table element below it */

typedef struct {
    uint8_t type, bits, kind, flags;
    uint16_t colspan, rowspan;   /* START: the spans as read (1..256, 1..1000) */
    size_t end;                  /* START: index of the matching END; TEXT: text length */
    union {
        int64_t offset;          /* START: source offset of the start tag, -1 unknown */
        size_t text;             /* TEXT: position of the NUL-terminated text in hevents.arena */
    } u;
} hev;

typedef struct {
    hev *ev;
    size_t n, cap;
    char *arena;                 /* all text, each piece NUL-terminated */
    size_t alen, acap;
} hevents;

#define HTML_MAX_COLSPAN 256
#define HTML_MAX_ROWSPAN 1000

/* Parses len bytes of UTF-8 HTML into *out (every START has its END, at a higher index),
 * reusing the arrays *out already has (zero it before the first use). Returns 0, or -1 with
 * rg_err naming source (the parser could not start; a list that does not nest, which would
 * be a bug here). */
int html_events_read(const char *source, const char *text, size_t len, hevents *out);
/* Frees the arrays; *e can be used again. */
void html_events_free(hevents *e);
#endif
