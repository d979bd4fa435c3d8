/* ingest/html_events: libxml2's HTML parser through SAX callbacks into a flat event list
 * (see html_events.h). Building, walking and freeing libxml2's tree (a malloc per node,
 * attribute and text piece) took about as long as the parse itself; the list is two arrays.
 *
 * The list must nest as libxml2's SAX2 tree builder (xmlSAX2StartElement & co.) would have
 * nested the same callbacks, so the reader sees the same tree. Where that builder does more
 * than follow the callbacks, this file does the same by hand:
 * - a start tag that is not finished ("<div" at the end, "<a href=x <b>") is popped by the
 *   parser without an end callback: we notice from the parser's name stack and end it;
 * - a node deeper than xmlParserMaxDepth (256) is refused and the parse stops;
 * - a text node over XML_MAX_TEXT_LENGTH (10 MB) stops the parse;
 * - text outside every element is dropped;
 * - an element starting after the root element has closed becomes the root's last child
 *   when the root is the document's first child (no DOCTYPE, comment or PI before it);
 * - element names lose a namespace prefix (xmlSplitQName), attribute names keep theirs.
 * Text inside script and style (CDATA callbacks) is left out: the reader skips both. */
#include "ingest/html_events.h"
#include "core/util.h"
#include <libxml/HTMLparser.h>
#include <libxml/parserInternals.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const SKIP[] = {"script", "style", "noscript", "template", "nav", "aside",
                                   "iframe", "svg", "math", "object", "embed", "button", "select",
                                   "textarea", "head", "canvas", "audio", "video", "map", "form",
                                   NULL};
static const char *const BLOCK[] = {"p", "div", "section", "article", "main", "li", "ul", "ol",
                                    "dl", "dt", "dd", "blockquote", "pre", "figure", "figcaption",
                                    "address", "hr", "br", "tr", "td", "th", "details", "summary",
                                    "center", "body", "fieldset", "caption", "header", "footer",
                                    NULL};
static const struct { const char *name; unsigned char kind; } KINDS[] = {
    {"table", HK_TABLE}, {"caption", HK_CAPTION}, {"tr", HK_TR}, {"thead", HK_THEAD},
    {"tbody", HK_TBODY}, {"tfoot", HK_TFOOT}, {"td", HK_TD}, {"th", HK_TH}, {"head", HK_HEAD},
    {"title", HK_TITLE}};

/* Every name the reader cares about, with its EL_* bits and HK_* kind, looked up once per
 * start tag (names are compared lower-cased, as strcasecmp would). */
typedef struct { const char *name; unsigned char bits, kind; } el_class;
static el_class CLASSES[64];
static int nclasses;
static pthread_once_t class_once = PTHREAD_ONCE_INIT;

static el_class *class_slot(const char *name) {
    for (int i = 0; i < nclasses; i++)
        if (strcmp(CLASSES[i].name, name) == 0) return &CLASSES[i];
    CLASSES[nclasses].name = name;
    return &CLASSES[nclasses++];
}

static void init_classes(void) {
    for (int i = 0; SKIP[i]; i++) class_slot(SKIP[i])->bits |= EL_SKIP;
    for (int i = 0; BLOCK[i]; i++) class_slot(BLOCK[i])->bits |= EL_BLOCK;
    class_slot("header")->bits |= EL_HEADFOOT;
    class_slot("footer")->bits |= EL_HEADFOOT;
    class_slot("article")->bits |= EL_CONTENT;
    class_slot("main")->bits |= EL_CONTENT;
    class_slot("section")->bits |= EL_CONTENT;
    class_slot("table")->bits |= EL_TABLE;
    class_slot("br")->bits |= EL_BR;
    for (size_t i = 0; i < sizeof KINDS / sizeof *KINDS; i++) class_slot(KINDS[i].name)->kind = KINDS[i].kind;
}

/* bits and kind of an element name; h1..h6 give kind 1..6 */
static void classify(const char *nm, uint8_t *bits, uint8_t *kind) {
    *bits = 0;
    *kind = 0;
    if ((nm[0] == 'h' || nm[0] == 'H') && nm[1] >= '1' && nm[1] <= '6' && !nm[2]) *kind = (uint8_t)(nm[1] - '0');
    char low[16];
    size_t i = 0;
    for (const unsigned char *p = (const unsigned char *)nm; *p; p++) {
        if (i + 1 >= sizeof low) return;   /* longer than any listed name */
        low[i++] = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
    }
    low[i] = 0;
    for (int k = 0; k < nclasses; k++)
        if (CLASSES[k].name[0] == low[0] && strcmp(CLASSES[k].name, low) == 0) {
            *bits = CLASSES[k].bits;
            if (CLASSES[k].kind) *kind = CLASSES[k].kind;
            return;
        }
}

/* ---- the list ---- */

static size_t push_ev(hevents *e) {
    if (e->n == e->cap) {
        e->cap = e->cap ? e->cap * 2 : 256;
        e->ev = xrealloc(e->ev, e->cap * sizeof *e->ev);
    }
    memset(&e->ev[e->n], 0, sizeof *e->ev);
    return e->n++;
}

static void arena_put(hevents *e, const void *p, size_t n) {
    if (e->alen + n + 1 > e->acap) {
        size_t c = e->acap ? e->acap : 4096;
        while (c < e->alen + n + 1) c *= 2;
        e->arena = xrealloc(e->arena, c);
        e->acap = c;
    }
    memcpy(e->arena + e->alen, p, n);
    e->alen += n;
}

void html_events_free(hevents *e) {
    free(e->ev);
    free(e->arena);
    memset(e, 0, sizeof *e);
}

/* ---- SAX side ---- */

enum { DOC_EMPTY, DOC_ROOT_FIRST, DOC_OTHER_FIRST };

typedef struct {
    hevents *e;
    htmlParserCtxtPtr ctxt;
    const char *text;
    size_t len;
    size_t *open;          /* START indices of the open elements: libxml2's node stack */
    size_t nopen, capopen;
    size_t *tables;        /* START indices of the open table elements */
    size_t ntables, captables;
    int doc_first;         /* what the document's first child is (DOC_*) */
    int has_dtd;
    size_t root;           /* START of the root element when doc_first is DOC_ROOT_FIRST */
    int root_held;         /* the root has closed but its END waits: later elements go inside */
    long long text_run;    /* length of the text node ending the current element, -1 none */
    int halted;            /* we stopped the parse as the tree builder would have */
    struct { const xmlChar *name; uint8_t bits, kind; } seen[128];   /* classes by name pointer */
} sax_state;

/* The offset of the start tag the parser has just read: the '<' before where it stands.
 * Not xmlByteConsumed: with an encoder in place (UTF-8 to UTF-8 here) it re-encodes the
 * buffered input at every call. The input is valid UTF-8 (parse.c repairs it first), so
 * positions in the parser's buffer are positions in the source. -1 when unknown. */
static int64_t tag_offset(const sax_state *s) {
    htmlParserCtxtPtr c = s->ctxt;
    if (!c->input || !c->input->cur || !c->input->base) return -1;
    long pos = (long)c->input->consumed + (long)(c->input->cur - c->input->base);
    if (pos <= 0 || (size_t)pos > s->len) return -1;
    size_t i = (size_t)pos, stop = i > 65536 ? i - 65536 : 0;   /* a tag is short; bound the look back */
    while (i > stop && s->text[i - 1] != '<') i--;
    return i > 0 && s->text[i - 1] == '<' ? (int64_t)i - 1 : -1;
}

static void close_top(sax_state *s) {
    size_t start = s->open[--s->nopen];
    s->text_run = -1;
    if (s->ntables && s->tables[s->ntables - 1] == start) s->ntables--;
    if (s->nopen == 0 && s->doc_first == DOC_ROOT_FIRST && start == s->root) {
        s->root_held = 1;
        return;
    }
    size_t end = push_ev(s->e);
    s->e->ev[end].type = HEV_END;
    s->e->ev[start].end = end;
}

static void release_root(sax_state *s) {
    if (!s->root_held) return;
    s->root_held = 0;
    size_t end = push_ev(s->e);
    s->e->ev[end].type = HEV_END;
    s->e->ev[s->root].end = end;
}

/* Before each callback: ends the elements the parser popped without telling (an unfinished
 * start tag); its name stack holds one more name than our list during a start callback.
 * Returns 0 once the parse has been stopped here. */
static int sync(sax_state *s, size_t extra) {
    if (s->halted) return 0;
    while (s->nopen && (size_t)(s->ctxt->nameNr < 0 ? 0 : s->ctxt->nameNr) < s->nopen + extra) close_top(s);
    return 1;
}

static void halt(sax_state *s) {
    xmlStopParser(s->ctxt);
    s->halted = 1;
}

/* The class of an element name. The parser hands out names from its dictionary (or string
 * constants for implied elements), so one name is one pointer: classify each once. */
static void name_class(sax_state *s, const xmlChar *name, uint8_t *bits, uint8_t *kind) {
    uintptr_t p = (uintptr_t)name;
    size_t slot = (size_t)((p >> 3) ^ (p >> 10)) & 127;
    if (s->seen[slot].name == name) {
        *bits = s->seen[slot].bits;
        *kind = s->seen[slot].kind;
        return;
    }
    const char *nm = (const char *)name;
    xmlChar *local = NULL;
    if (strchr(nm, ':')) {   /* the tree builder keeps the local part of a prefixed name */
        xmlChar *prefix = NULL;
        local = xmlSplitQName(s->ctxt, name, &prefix);
        xmlFree(prefix);
        if (local) nm = (const char *)local;
    }
    classify(nm, bits, kind);
    xmlFree(local);
    s->seen[slot].name = name;
    s->seen[slot].bits = *bits;
    s->seen[slot].kind = *kind;
}

static int span_value(const xmlChar *v, int max) {
    /* as atoi() on the attribute's text ("" when it has no value) */
    int k = v ? (int)strtol((const char *)v, NULL, 10) : 0;
    if (k < 1) k = 1;
    return k > max ? max : k;
}

static void on_start(void *ctx, const xmlChar *name, const xmlChar **atts) {
    htmlParserCtxtPtr c = ctx;
    sax_state *s = c->_private;
    if (!sync(s, 1)) return;
    s->text_run = -1;
    if (s->nopen > xmlParserMaxDepth && !(c->options & XML_PARSE_HUGE)) {
        halt(s);   /* the tree builder refuses a node this deep and stops the parse */
        return;
    }
    if (s->nopen == s->capopen) {
        s->capopen = s->capopen ? s->capopen * 2 : 64;
        s->open = xrealloc(s->open, s->capopen * sizeof *s->open);
    }
    int is_root = 0;
    if (s->nopen == 0) {
        if (s->doc_first == DOC_EMPTY) {
            s->doc_first = DOC_ROOT_FIRST;
            is_root = 1;
        } else if (s->doc_first == DOC_OTHER_FIRST) {
            release_root(s);   /* a DOCTYPE came first since: this one is the root's sibling */
        }
        /* else the root is held open and this element goes inside it */
    }
    size_t i = push_ev(s->e);
    hev *ev = &s->e->ev[i];
    ev->type = HEV_START;
    ev->colspan = ev->rowspan = 1;
    name_class(s, name ? name : (const xmlChar *)"", &ev->bits, &ev->kind);
    int hidden = 0, role = 0, cs = 0, rs = 0;
    for (size_t k = 0; atts && atts[k]; k += 2) {
        const char *an = (const char *)atts[k];
        const xmlChar *v = atts[k + 1];
        if (!hidden && strcmp(an, "hidden") == 0) hidden = 1;
        else if (!role && strcmp(an, "role") == 0) {
            role = 1;
            if (v && (strcasecmp((const char *)v, "navigation") == 0 || strcasecmp((const char *)v, "banner") == 0 ||
                      strcasecmp((const char *)v, "contentinfo") == 0))
                hidden = 1;
        } else if (!cs && strcmp(an, "colspan") == 0) {
            cs = 1;
            ev->colspan = (uint16_t)span_value(v, HTML_MAX_COLSPAN);
        } else if (!rs && strcmp(an, "rowspan") == 0) {
            rs = 1;
            ev->rowspan = (uint16_t)span_value(v, HTML_MAX_ROWSPAN);
        }
    }
    if (hidden) ev->flags |= HF_HIDDEN;
    ev->u.offset = tag_offset(s);
    if (ev->kind == HK_TABLE) {
        for (size_t k = 0; k < s->ntables; k++) s->e->ev[s->tables[k]].flags |= HF_HOLDS_TABLE;
        if (s->root_held && s->e->ev[s->root].kind == HK_TABLE) s->e->ev[s->root].flags |= HF_HOLDS_TABLE;
        if (s->ntables == s->captables) {
            s->captables = s->captables ? s->captables * 2 : 16;
            s->tables = xrealloc(s->tables, s->captables * sizeof *s->tables);
        }
        s->tables[s->ntables++] = i;
    }
    if (is_root) s->root = i;
    s->open[s->nopen++] = i;
}

static void on_end(void *ctx, const xmlChar *name) {
    sax_state *s = ((htmlParserCtxtPtr)ctx)->_private;
    if (!sync(s, 0) || !s->nopen) return;
    close_top(s);
}

static void on_text(void *ctx, const xmlChar *ch, int len) {
    htmlParserCtxtPtr c = ctx;
    sax_state *s = c->_private;
    if (!sync(s, 0) || !s->nopen || len <= 0) return;   /* no element: the tree builder drops it */
    if (s->text_run >= 0) {
        if ((unsigned long long)s->text_run + (unsigned)len > XML_MAX_TEXT_LENGTH && !(c->options & XML_PARSE_HUGE)) {
            halt(s);   /* the tree builder's "huge text node" stop */
            return;
        }
        s->text_run += len;
    } else {
        s->text_run = len;
    }
    hevents *e = s->e;
    if (e->n && e->ev[e->n - 1].type == HEV_TEXT) {   /* one text node, as the tree joins them */
        e->alen--;   /* over the NUL */
        arena_put(e, ch, (size_t)len);
        e->ev[e->n - 1].end += (size_t)len;
    } else {
        size_t i = push_ev(e);
        e->ev[i].type = HEV_TEXT;
        e->ev[i].u.text = e->alen;
        e->ev[i].end = (size_t)len;
        arena_put(e, ch, (size_t)len);
    }
    e->arena[e->alen++] = 0;
}

/* script/style text: never read, but it ends the current text node */
static void on_cdata(void *ctx, const xmlChar *ch, int len) {
    sax_state *s = ((htmlParserCtxtPtr)ctx)->_private;
    if (!sync(s, 0)) return;
    s->text_run = -1;
}

/* a comment or processing instruction: a node of its own (ends a text node); as the
 * document's first child it keeps later top-level elements out of the root */
static void other_node(sax_state *s) {
    if (!sync(s, 0)) return;
    s->text_run = -1;
    if (!s->nopen && s->doc_first == DOC_EMPTY) s->doc_first = DOC_OTHER_FIRST;
}
static void on_comment(void *ctx, const xmlChar *value) { other_node(((htmlParserCtxtPtr)ctx)->_private); }
static void on_pi(void *ctx, const xmlChar *target, const xmlChar *data) { other_node(((htmlParserCtxtPtr)ctx)->_private); }

/* <!DOCTYPE>: the first one becomes the document's first child, wherever it appears; a held
 * root takes no more top-level elements (what it holds already stays) */
static void on_doctype(void *ctx, const xmlChar *name, const xmlChar *ext, const xmlChar *sys) {
    sax_state *s = ((htmlParserCtxtPtr)ctx)->_private;
    if (!sync(s, 0) || s->has_dtd) return;
    s->has_dtd = 1;
    s->doc_first = DOC_OTHER_FIRST;
}

static pthread_once_t xml_once = PTHREAD_ONCE_INIT;
static void xml_init(void) { xmlInitParser(); }

int html_events_read(const char *source, const char *text, size_t len, hevents *out) {
    pthread_once(&xml_once, xml_init);
    pthread_once(&class_once, init_classes);
    /* text never outgrows the source (entities only shrink), so an arena of its size rarely
     * grows; about one event per 24 bytes of HTML. Arrays already there are reused. */
    out->n = out->alen = 0;
    size_t acap = (len < ((size_t)256 << 20) ? len : ((size_t)256 << 20)) + 4096;
    size_t cap = (len < ((size_t)64 << 20) ? len : ((size_t)64 << 20)) / 24 + 256;
    if (out->acap < acap) {
        free(out->arena);
        out->arena = xmalloc(acap);
        out->acap = acap;
    }
    if (out->cap < cap) {
        free(out->ev);
        out->ev = xmalloc(cap * sizeof *out->ev);
        out->cap = cap;
    }
    htmlParserCtxtPtr ctxt = htmlNewParserCtxt();
    if (!ctxt) { rg_err("%s: out of memory for the HTML parser", source); return -1; }
    sax_state s = {.e = out, .ctxt = ctxt, .text = text, .len = len, .text_run = -1};
    htmlSAXHandler *sax = ctxt->sax;
    sax->startDocument = NULL;
    sax->endDocument = NULL;
    sax->setDocumentLocator = NULL;
    sax->startElement = on_start;
    sax->endElement = on_end;
    sax->characters = on_text;
    sax->ignorableWhitespace = NULL;   /* the tree builder's is a no-op too */
    sax->cdataBlock = on_cdata;
    sax->comment = on_comment;
    sax->processingInstruction = on_pi;
    sax->internalSubset = on_doctype;
    sax->reference = NULL;
    ctxt->_private = &s;
    htmlDocPtr doc = htmlCtxtReadMemory(ctxt, text, (int)len, NULL, "UTF-8",
                                        HTML_PARSE_RECOVER | HTML_PARSE_NOERROR | HTML_PARSE_NOWARNING |
                                        HTML_PARSE_NONET | HTML_PARSE_COMPACT);
    if (doc) xmlFreeDoc(doc);   /* none is built; defensive */
    htmlFreeParserCtxt(ctxt);
    s.halted = 1;
    while (s.nopen) close_top(&s);
    release_root(&s);
    free(s.open);
    free(s.tables);
    /* every start knows its end, past itself, or a reader could loop */
    for (size_t i = 0; i < out->n; i++)
        if (out->ev[i].type == HEV_START &&
            (out->ev[i].end <= i || out->ev[i].end >= out->n || out->ev[out->ev[i].end].type != HEV_END)) {
            out->n = out->alen = 0;
            rg_err("%s: HTML structure could not be read", source);
            return -1;
        }
    return 0;
}
