/* retrieve/eval_retrieval: see eval_retrieval.h. */
#include "retrieve/eval_retrieval.h"
#include "core/util.h"
#include "serve/index_job.h"
#include <ctype.h>
#include <ftw.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define EVAL_MAX_FILE (512u << 20)
#define EVAL_TOPK 10
#define EVAL_MAX_EVIDENCE 32

static const int cutoffs[4] = {1, 3, 5, 10};
static const rg_search_mode modes[3] = {RG_MODE_BM25, RG_MODE_DENSE, RG_MODE_HYBRID};

void rg_eval_retrieval_opts_default(rg_eval_retrieval_opts *o) {
    memset(o, 0, sizeof *o);
    rg_search_opts_default(&o->search);
}

/* Lowercased letters and digits only (non-ASCII bytes kept), so containment survives
 * whitespace and punctuation normalisation by the parser or chunker. */
static char *norm(const char *s) {
    size_t n = strlen(s), j = 0;
    char *o = xmalloc(n + 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (isalnum(c) || c >= 0x80) o[j++] = (char)tolower(c);
    }
    o[j] = 0;
    return o;
}

/* Whether a chunk holds the paragraph, or a part of it when the chunker split a long one:
 * the whole normalised paragraph, or one of three probes (start, middle, end) of it. */
#define PROBE 64
static int holds_part(const char *chunk, const char *para) {
    size_t n = strlen(para);
    if (strstr(chunk, para)) return 1;
    if (n <= PROBE) return 0;
    size_t at[3] = {0, (n - PROBE) / 2, n - PROBE};
    char probe[PROBE + 1];
    for (int i = 0; i < 3; i++) {
        memcpy(probe, para + at[i], PROBE);
        probe[PROBE] = 0;
        if (strstr(chunk, probe)) return 1;
    }
    return 0;
}

/* One piece of evidence: satisfied by any of its chunks. */
typedef struct { int64_t ids[EVAL_MAX_EVIDENCE]; int n; } evidence;

typedef struct {
    rg_chunk_row *rows; int n;
    char **normed;
} doc_chunks;

static void doc_chunks_free(doc_chunks *d) {
    for (int i = 0; i < d->n; i++) { rg_chunk_row_free(&d->rows[i]); free(d->normed[i]); }
    free(d->rows); free(d->normed);
    memset(d, 0, sizeof *d);
}

/* Rank (1-based) of the worst-placed piece of evidence within r, or a big number. */
static int evidence_rank(const evidence *ev, int nev, const rg_results *r) {
    int worst = 0;
    for (int e = 0; e < nev; e++) {
        int best = 1 << 20;
        for (int i = 0; i < r->n && best > i + 1; i++)
            for (int j = 0; j < ev[e].n; j++)
                if (r->v[i].chunk_id == ev[e].ids[j]) { best = i + 1; break; }
        if (best > worst) worst = best;
    }
    return worst;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb; (void)flag; (void)ftw;
    return remove(path);
}

static const char *json_str(json_t *o, const char *k) {
    json_t *v = json_object_get(o, k);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

int rg_eval_retrieval_measure(const rg_eval_retrieval_opts *o, rg_eval_retrieval_result *res) {
    memset(res, 0, sizeof *res);
    size_t len;
    char *text = rg_read_file(o->path, EVAL_MAX_FILE, &len);
    if (!text) return -1;
    json_error_t je;
    json_t *root = json_loadb(text, len, 0, &je);
    free(text);
    if (!root || !json_is_array(root)) {
        rg_err("%s: not a TAT-QA file (%s)", o->path, root ? "expected a list of contexts" : je.text);
        json_decref(root);
        return -1;
    }
    char tmpl[] = "/tmp/ragd-eval-XXXXXX";
    char *dir = NULL;
    int made_tmp = 0;
    if (o->index_dir) dir = xstrdup(o->index_dir);
    else {
        if (!mkdtemp(tmpl)) { rg_err("cannot make a temporary index directory"); json_decref(root); return -1; }
        dir = xstrdup(tmpl);
        made_tmp = 1;
    }
    int rc = -1;
    rg_store *s = NULL;
    rg_encoder *e = rg_encoder_open(o->encoder_spec ? o->encoder_spec : "default", dir);
    if (!e) goto done;
    rg_store_opts so = {.encoder = e->name, .dim = e->dim, .writable = 1, .create = 1};
    s = rg_store_open(dir, &so);
    if (!s) goto done;

    /* Index the file with the normal pipeline (parser, chunker, encoder fitting). */
    double t0 = rg_now();
    rg_index_opts io;
    rg_index_opts_default(&io);
    io.max_file_size = EVAL_MAX_FILE;
    rg_index_report rep;
    memset(&rep, 0, sizeof rep);
    char *paths[1] = {(char *)o->path};
    int irc = rg_index_run(s, e, paths, 1, &io, &rep);
    if (irc != 0 || rep.failed) {
        if (irc == 0) rg_err("%s: %s", o->path, rep.nfailures ? rep.failures[0].why : "indexing failed");
        rg_index_report_free(&rep);
        goto done;
    }
    rg_index_report_free(&rep);
    double t_index = rg_now() - t0;

    int nscopes = o->open_domain ? 2 : 1;
    long found[2][3][4] = {{{0}}};
    long nq = 0, unmapped = 0, nsearch = 0;
    double t_search = 0;
    t0 = rg_now();
    size_t nctx = json_array_size(root);
    for (size_t ci = 0; ci < nctx; ci++) {
        if (o->max_questions && nq >= o->max_questions) break;
        json_t *ctx = json_array_get(root, ci);
        const char *uid = json_str(json_object_get(ctx, "table"), "uid");
        json_t *qs = json_object_get(ctx, "questions"), *paras = json_object_get(ctx, "paragraphs");
        if (!uid || !json_is_array(qs)) continue;
        doc_chunks dc = {0};
        if (rg_store_doc_chunks(s, uid, &dc.rows, &dc.n) != 0) goto done;
        dc.normed = xcalloc((size_t)dc.n + 1, sizeof *dc.normed);
        for (int i = 0; i < dc.n; i++) dc.normed[i] = norm(dc.rows[i].text ? dc.rows[i].text : "");
        for (size_t qi = 0; qi < json_array_size(qs); qi++) {
            if (o->max_questions && nq >= o->max_questions) break;
            json_t *q = json_array_get(qs, qi);
            const char *question = json_str(q, "question"), *from = json_str(q, "answer_from");
            if (!question || !from) continue;
            evidence ev[EVAL_MAX_EVIDENCE];
            int nev = 0, ok = 1;
            if (strstr(from, "table")) {
                evidence *t = &ev[nev++];
                t->n = 0;
                for (int i = 0; i < dc.n && t->n < EVAL_MAX_EVIDENCE; i++)
                    if (dc.rows[i].kind == RG_CHUNK_TABLE) t->ids[t->n++] = dc.rows[i].id;
                if (!t->n) ok = 0;
            }
            json_t *rel = json_object_get(q, "rel_paragraphs");
            if (strstr(from, "text"))
                for (size_t ri = 0; ri < json_array_size(rel) && nev < EVAL_MAX_EVIDENCE; ri++) {
                    json_t *rv = json_array_get(rel, ri);
                    long want = json_is_string(rv) ? strtol(json_string_value(rv), NULL, 10)
                              : json_is_integer(rv) ? (long)json_integer_value(rv) : -1;
                    const char *ptext = NULL;
                    for (size_t pi = 0; pi < json_array_size(paras); pi++) {
                        json_t *p = json_array_get(paras, pi), *ord = json_object_get(p, "order");
                        if (json_is_integer(ord) && json_integer_value(ord) == want) ptext = json_str(p, "text");
                    }
                    char *np = ptext ? norm(ptext) : NULL;
                    evidence *pe = &ev[nev++];
                    pe->n = 0;
                    for (int i = 0; np && *np && i < dc.n && pe->n < EVAL_MAX_EVIDENCE; i++)
                        if (holds_part(dc.normed[i], np)) pe->ids[pe->n++] = dc.rows[i].id;
                    if (!pe->n) ok = 0;
                    free(np);
                }
            if (!nev || !ok) {
                if (getenv("RAGD_EVAL_DEBUG")) fprintf(stderr, "unmapped: %s: %s\n", uid, question);
                unmapped++;
                continue;
            }
            nq++;
            for (int sc = 0; sc < nscopes; sc++)
                for (int m = 0; m < 3; m++) {
                    rg_search_opts so2 = o->search;
                    so2.k = EVAL_TOPK;
                    so2.mode = modes[m];
                    so2.filter.doc_id = sc == 0 ? uid : NULL;
                    rg_results r;
                    double ts = rg_now();
                    if (rg_search(s, e, question, &so2, &r) != 0) { doc_chunks_free(&dc); goto done; }
                    t_search += rg_now() - ts;
                    nsearch++;
                    int rank = evidence_rank(ev, nev, &r);
                    for (int c = 0; c < 4; c++) if (rank <= cutoffs[c]) found[sc][m][c]++;
                    rg_results_free(&r);
                }
        }
        doc_chunks_free(&dc);
    }
    res->questions = nq;
    res->unmapped = unmapped;
    res->scopes = nscopes;
    for (int sc = 0; sc < nscopes; sc++)
        for (int m = 0; m < 3; m++)
            for (int c = 0; c < 4; c++) res->recall[sc][m][c] = nq ? (double)found[sc][m][c] / (double)nq : 0;
    res->index_seconds = t_index;
    res->search_ms_mean = nsearch ? t_search / (double)nsearch * 1e3 : 0;
    snprintf(res->encoder, sizeof res->encoder, "%s", e->name);
    rc = 0;
done:
    rg_store_close(s);
    rg_encoder_free(e);
    json_decref(root);
    if (made_tmp) nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(dir);
    return rc;
}

int rg_eval_retrieval_run(const rg_eval_retrieval_opts *o) {
    rg_eval_retrieval_result r;
    double t0 = rg_now();
    if (rg_eval_retrieval_measure(o, &r) != 0) return -1;
    const char *scope_names[2] = {"doc", "open"};
    if (o->json_out) {
        json_t *res = json_object();
        for (int sc = 0; sc < r.scopes; sc++) {
            json_t *js = json_object();
            for (int m = 0; m < 3; m++) {
                json_t *jm = json_object();
                for (int c = 0; c < 4; c++) {
                    char key[16];
                    snprintf(key, sizeof key, "recall@%d", cutoffs[c]);
                    json_object_set_new(jm, key, json_real(r.recall[sc][m][c]));
                }
                json_object_set_new(js, rg_search_mode_name(modes[m]), jm);
            }
            json_object_set_new(res, scope_names[sc], js);
        }
        json_t *out = json_pack("{s:s, s:I, s:I, s:s, s:s, s:f, s:f, s:f, s:f, s:o}", "file", o->path,
                                "questions", (json_int_t)r.questions, "unmapped", (json_int_t)r.unmapped, "encoder", r.encoder,
                                "fusion", rg_fusion_name(o->search.fusion), "bm25_weight", o->search.bm25_weight,
                                "dense_weight", o->search.dense_weight, "index_seconds", r.index_seconds,
                                "search_ms_mean", r.search_ms_mean, "recall", res);
        char *txt = json_dumps(out, JSON_COMPACT);
        if (txt) { puts(txt); free(txt); }
        json_decref(out);
        return 0;
    }
    printf("TAT-QA retrieval: %s\n", o->path);
    printf("%ld questions (%ld without mappable evidence skipped), encoder %s, fusion %s (bm25 %.2f, dense %.2f)\n",
           r.questions, r.unmapped, r.encoder, rg_fusion_name(o->search.fusion), o->search.bm25_weight, o->search.dense_weight);
    printf("found at k = every piece of evidence (table chunk, each relevant paragraph) in the top k\n\n");
    printf("%-6s %-7s %8s %8s %8s %8s\n", "scope", "mode", "R@1", "R@3", "R@5", "R@10");
    for (int sc = 0; sc < r.scopes; sc++)
        for (int m = 0; m < 3; m++) {
            printf("%-6s %-7s", scope_names[sc], rg_search_mode_name(modes[m]));
            for (int c = 0; c < 4; c++) printf(" %8.3f", r.recall[sc][m][c]);
            printf("\n");
        }
    printf("\nindexing %.1fs, mean search %.2f ms, total %.1fs\n", r.index_seconds, r.search_ms_mean, rg_now() - t0);
    return 0;
}

int rg_eval_retrieval(const char *tatqa_json_path, const char *index_dir, int open_domain, int json_out) {
    rg_eval_retrieval_opts o;
    rg_eval_retrieval_opts_default(&o);
    o.path = tatqa_json_path;
    o.index_dir = index_dir;
    o.open_domain = open_domain;
    o.json_out = json_out;
    return rg_eval_retrieval_run(&o);
}
