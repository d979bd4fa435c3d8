/* bench/lsa_recall: open-corpus retrieval recall on TAT-QA dev for each encoder.
 * Indexes the dataset's contexts (one document per context, id table.uid) into a fresh index per
 * encoder, then asks every question over the whole corpus and counts how often a chunk of the
 * question's own context is in the top k, for BM25, dense and hybrid search.
 * usage: lsa_recall [TATQA.json] [ENCODER...]   (default ../shared/... and "hash lsa") */
#include "core/util.h"
#include "embed/encoder.h"
#include "index/store.h"
#include "retrieve/search.h"
#include "serve/index_job.h"
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct { char *uid, *q; } question;

static int load_questions(const char *path, question **out, int *n) {
    json_error_t je;
    json_t *root = json_load_file(path, 0, &je);
    if (!root || !json_is_array(root)) { fprintf(stderr, "%s: %s\n", path, root ? "not a list" : je.text); json_decref(root); return -1; }
    *out = NULL; *n = 0;
    size_t i;
    json_t *ctx;
    json_array_foreach(root, i, ctx) {
        const char *uid = json_string_value(json_object_get(json_object_get(ctx, "table"), "uid"));
        json_t *qs = json_object_get(ctx, "questions"), *q;
        size_t j;
        if (!uid || !json_is_array(qs)) continue;
        json_array_foreach(qs, j, q) {
            const char *text = json_string_value(json_object_get(q, "question"));
            if (!text) continue;
            *out = xrealloc(*out, (size_t)(*n + 1) * sizeof **out);
            (*out)[*n].uid = xstrdup(uid);
            (*out)[(*n)++].q = xstrdup(text);
        }
    }
    json_decref(root);
    return 0;
}

static int rank_of(const rg_results *r, const char *uid) {
    for (int i = 0; i < r->n; i++) if (r->v[i].doc_id && strcmp(r->v[i].doc_id, uid) == 0) return i + 1;
    return 0;
}

int main(int argc, char **argv) {
    const char *path = argc > 1 ? argv[1] : "../shared/data/tatqa/tatqa_dataset_dev.json";
    const char *defaults[] = {"hash", "lsa"};
    const char **encs = argc > 2 ? (const char **)argv + 2 : defaults;
    int nenc = argc > 2 ? argc - 2 : 2;
    question *qs;
    int nq;
    if (load_questions(path, &qs, &nq) != 0) return 1;
    printf("%d questions from %s; recall = a chunk of the gold context in the top k over all contexts\n", nq, path);
    printf("%-8s %-7s %6s %6s %6s %6s\n", "encoder", "mode", "R@1", "R@5", "R@10", "MRR@10");
    for (int ei = 0; ei < nenc; ei++) {
        char dir[] = "/tmp/ragd-recall-XXXXXX";
        if (!mkdtemp(dir)) { perror("mkdtemp"); return 1; }
        rg_encoder *e = rg_encoder_open(encs[ei], dir);
        if (!e) { fprintf(stderr, "%s: %s\n", encs[ei], rg_errmsg()); return 1; }
        rg_store_opts so = {.encoder = e->name, .dim = e->dim, .writable = 1, .create = 1};
        rg_store *s = rg_store_open(dir, &so);
        if (!s) { fprintf(stderr, "%s\n", rg_errmsg()); return 1; }
        rg_index_opts io;
        rg_index_opts_default(&io);
        rg_index_report rep = {0};
        char *paths[] = {(char *)path};
        double t0 = rg_now();
        if (rg_index_run(s, e, paths, 1, &io, &rep) != 0 || rep.failed) { fprintf(stderr, "index: %s\n", rg_errmsg()); return 1; }
        double tindex = rg_now() - t0;
        rg_index_report_free(&rep);
        for (int mode = 0; mode < 3; mode++) {
            rg_search_opts o;
            rg_search_opts_default(&o);
            o.k = 10;
            o.mode = mode == 0 ? RG_MODE_BM25 : mode == 1 ? RG_MODE_DENSE : RG_MODE_HYBRID;
            if (ei > 0 && o.mode == RG_MODE_BM25) continue;   /* the same for every encoder */
            int r1 = 0, r5 = 0, r10 = 0;
            double mrr = 0;
            for (int i = 0; i < nq; i++) {
                rg_results res = {0};
                if (rg_search(s, e, qs[i].q, &o, &res) != 0) { fprintf(stderr, "search: %s\n", rg_errmsg()); return 1; }
                int r = rank_of(&res, qs[i].uid);
                if (r == 1) r1++;
                if (r && r <= 5) r5++;
                if (r) { r10++; mrr += 1.0 / r; }
                rg_results_free(&res);
            }
            printf("%-8s %-7s %6.3f %6.3f %6.3f %6.3f\n", o.mode == RG_MODE_BM25 ? "-" : e->name,
                   rg_search_mode_name(o.mode), (double)r1 / nq, (double)r5 / nq, (double)r10 / nq, mrr / nq);
        }
        fprintf(stderr, "(%s: indexing took %.2fs)\n", e->name, tindex);
        rg_store_close(s);
        rg_encoder_free(e);
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    }
    for (int i = 0; i < nq; i++) { free(qs[i].uid); free(qs[i].q); }
    free(qs);
    return 0;
}
