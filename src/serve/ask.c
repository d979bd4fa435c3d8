/* serve/ask: see ask.h. Evidence: with a document scope and a document small enough, the whole
 * document (all its tables and paragraphs); otherwise the top retrieved chunks, each table hit
 * expanded to its whole table, and for open questions each text hit widened small-to-big
 * (TAT-QA dev --open: 37.6 EM / 42.5 F1 with the bare hits, 38.5 / 43.5 widened). The
 * reasoner (generate/reasoner.h) answers from that evidence. */
#include "serve/ask.h"
#include "core/util.h"
#include "generate/reasoner.h"
#include "retrieve/context.h"
#include <stdlib.h>
#include <string.h>

/* A whole document is evidence when it is at most this many chunks. */
#define WHOLE_DOC_MAX_CHUNKS 64
/* Evidence budget of an open question, in approximate word pieces. */
#define ASK_CONTEXT_TOKENS 3000

void rg_ask_opts_default(rg_ask_opts *o) {
    memset(o, 0, sizeof *o);
    o->filter.kind = -1;
    o->k = 8;
}

typedef struct {
    rg_evidence ev;
    rg_table **tables;       /* owned */
    int64_t *table_ids;
    char **strings;          /* owned paragraph texts and doc ids */
    int nstrings;
    int order;
} evidence;

static const char *keep(evidence *e, char *s) {
    e->strings = xrealloc(e->strings, (size_t)(e->nstrings + 1) * sizeof *e->strings);
    e->strings[e->nstrings++] = s;
    return s;
}

static void add_table(evidence *e, rg_table *t, int64_t table_id, const char *doc_id, int64_t chunk_id) {
    for (int i = 0; i < e->ev.ntables; i++)
        if (e->table_ids[i] == table_id) { rg_table_free(t); return; }
    int n = e->ev.ntables;
    e->tables = xrealloc(e->tables, (size_t)(n + 1) * sizeof *e->tables);
    e->table_ids = xrealloc(e->table_ids, (size_t)(n + 1) * sizeof *e->table_ids);
    e->ev.tables = xrealloc(e->ev.tables, (size_t)(n + 1) * sizeof *e->ev.tables);
    e->tables[n] = t;
    e->table_ids[n] = table_id;
    e->ev.tables[n] = (rg_ev_table){t, keep(e, xstrdup(doc_id)), chunk_id};
    e->ev.ntables++;
}

/* A text chunk's paragraphs (blank-line separated), each once. */
static void add_paragraphs(evidence *e, const char *text, const char *doc_id, int64_t chunk_id) {
    const char *did = keep(e, xstrdup(doc_id));
    const char *p = text;
    while (*p) {
        const char *end = strstr(p, "\n\n");
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if (n) {
            char *para = xstrndup(p, n);
            int dup = 0;
            for (int i = 0; i < e->ev.nparas && !dup; i++) dup = strcmp(e->ev.paras[i].text, para) == 0;
            if (dup) free(para);
            else {
                e->ev.paras = xrealloc(e->ev.paras, (size_t)(e->ev.nparas + 1) * sizeof *e->ev.paras);
                e->ev.paras[e->ev.nparas++] = (rg_ev_para){keep(e, para), did, chunk_id, ++e->order};
            }
        }
        p += n;
        while (*p == '\n') p++;
    }
}

static void evidence_free(evidence *e) {
    for (int i = 0; i < e->ev.ntables; i++) rg_table_free(e->tables[i]);
    for (int i = 0; i < e->nstrings; i++) free(e->strings[i]);
    free(e->tables); free(e->table_ids); free(e->strings);
    free(e->ev.tables); free(e->ev.paras);
}

/* The whole document as evidence; 0 done, 1 too big (use retrieval), -1 error. */
static int whole_document(rg_store *s, const char *doc_id, evidence *e) {
    rg_chunk_row *chunks;
    int n;
    if (rg_store_doc_chunks(s, doc_id, &chunks, &n) != 0) return -1;
    int searchable = 0;
    for (int i = 0; i < n; i++) searchable += chunks[i].kind == RG_CHUNK_TEXT || chunks[i].kind == RG_CHUNK_TABLE;
    int rc = 0;
    if (searchable > WHOLE_DOC_MAX_CHUNKS) rc = 1;
    for (int i = 0; i < n && rc == 0; i++) {
        rg_chunk_row *c = &chunks[i];
        if (c->table_id >= 0) {
            rg_table *t = rg_store_get_table(s, c->table_id);
            if (!t) { rc = -1; break; }
            add_table(e, t, c->table_id, c->doc_id, c->id);
        } else if (c->kind == RG_CHUNK_TEXT) {
            add_paragraphs(e, c->text, c->doc_id, c->id);
        }
    }
    for (int i = 0; i < n; i++) rg_chunk_row_free(&chunks[i]);
    free(chunks);
    return rc;
}

/* Open questions: the hits widened small-to-big (retrieve/context.h): a text hit with its
 * neighbours or parent section, overlapping windows merged; a table hit as its whole table;
 * best first within a token budget. Frees r. */
static int from_context(rg_store *s, rg_results *r, evidence *e) {
    rg_context cx;
    rg_context_opts co;
    rg_context_opts_default(&co);
    co.max_tokens = ASK_CONTEXT_TOKENS;
    int rc = rg_context_build(s, r, &co, &cx);
    rg_results_free(r);
    if (rc != 0) return -1;
    for (int i = 0; i < cx.n; i++) {
        rg_passage *p = &cx.v[i];
        int64_t first = p->nhits ? p->hits[0] : -1;
        if (p->table) { add_table(e, p->table, p->table_id, p->doc_id, first); p->table = NULL; }
        else add_paragraphs(e, p->text, p->doc_id, first);
    }
    rg_context_free(&cx);
    return 0;
}

static int retrieved(rg_store *s, rg_encoder *enc, const char *question, const rg_ask_opts *o, evidence *e) {
    rg_search_opts so;
    rg_search_opts_default(&so);
    so.k = o->k > 0 ? o->k : 8;
    so.filter = o->filter;
    if (o->doc_id) so.filter.doc_id = o->doc_id;
    if (!enc) so.mode = RG_MODE_BM25;
    rg_results r;
    if (rg_search(s, enc, question, &so, &r) != 0) return -1;
    if (!o->doc_id) return from_context(s, &r, e);
    for (int i = 0; i < r.n; i++) {
        rg_result *h = &r.v[i];
        if (h->table) { add_table(e, h->table, h->table_id, h->doc_id, h->chunk_id); h->table = NULL; }
        else add_paragraphs(e, h->text, h->doc_id, h->chunk_id);
    }
    rg_results_free(&r);
    return 0;
}

json_t *rg_ask(rg_store *s, rg_encoder *enc, const char *question, const rg_ask_opts *o) {
    evidence e = {0};
    int rc = 1;
    if (o->doc_id) {
        rc = whole_document(s, o->doc_id, &e);
        if (rc < 0) { evidence_free(&e); return NULL; }
    }
    if (rc == 1) {
        evidence_free(&e);
        memset(&e, 0, sizeof e);
        if (retrieved(s, enc, question, o, &e) != 0) { evidence_free(&e); return NULL; }
    }
    rg_answer *a = rg_reason(question, &e.ev);
    json_t *out = NULL;
    if (a && o->generator) {
        out = rg_ask_llm_until(o->generator, question, &e.ev, a, o->on_token, o->on_token_ud, o->deadline);
        if (out) json_object_set_new(out, "evidence", json_pack("{s:i, s:i}", "tables", e.ev.ntables, "paragraphs", e.ev.nparas));
        rg_answer_free(a);
    } else if (a) {
        char *js = rg_answer_json(question, a);
        out = js ? json_loads(js, 0, NULL) : NULL;
        free(js);
        if (out) {
            json_object_set_new(out, "answered_by", json_string("reasoner"));
            json_object_set_new(out, "evidence", json_pack("{s:i, s:i}", "tables", e.ev.ntables, "paragraphs", e.ev.nparas));
        } else rg_err("reasoner produced no answer object");
        rg_answer_free(a);
    }
    evidence_free(&e);
    return out;
}
