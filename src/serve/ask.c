/* serve/ask: see ask.h. Until the reasoner is wired in, this returns the best evidence with
 * type "none": no invented answers. */
#include "serve/ask.h"
#include "core/util.h"
#include <string.h>

void rg_ask_opts_default(rg_ask_opts *o) {
    memset(o, 0, sizeof *o);
    o->filter.kind = -1;
    o->k = 8;
}

json_t *rg_ask(rg_store *s, rg_encoder *e, const char *question, const rg_ask_opts *o) {
    rg_search_opts so;
    rg_search_opts_default(&so);
    so.k = o->k;
    so.filter = o->filter;
    if (o->doc_id) so.filter.doc_id = o->doc_id;
    if (!e) so.mode = RG_MODE_BM25;
    rg_results r;
    if (rg_search(s, e, question, &so, &r) != 0) return NULL;
    json_t *cites = json_array();
    for (int i = 0; i < r.n && i < 3; i++)
        json_array_append_new(cites, json_pack("{s:s, s:I}", "doc_id", r.v[i].doc_id, "chunk_id", (json_int_t)r.v[i].chunk_id));
    rg_results_free(&r);
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:o, s:f}", "question", question, "answer", "", "scale", "",
                     "type", "none", "derivation", "", "citations", cites, "confidence", 0.0);
}
