/* serve/cmd_eval: `ragd eval`: answers scored against gold answers.
 *   --format tatqa FILE.json: index the contexts (one document per table.uid), answer every
 *     question scoped to its own document (or --open: over the whole corpus), score with the
 *     official TAT-QA EM/F1, print them by answer type x source.
 *   --format jsonl FILE: users' own gold sets, {"question", "answer", "doc"?} per line, over
 *     the configured index. */
#include "serve/cli.h"
#include "serve/ask.h"
#include "serve/index_job.h"
#include "retrieve/eval_retrieval.h"
#include "core/util.h"
#include "generate/tatqa_metric.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *help_text =
    "usage: ragd eval --format tatqa FILE.json [--open] [--predictions OUT.json] [--errors OUT.jsonl]\n"
    "                 [--limit N] [--json]\n"
    "       ragd eval --format tatqa FILE.json --retrieval [--open] [--json]\n"
    "       ragd eval --format jsonl FILE.jsonl [--errors OUT.jsonl] [--json]\n"
    "tatqa: indexes the file's contexts into a fresh index (or --index DIR), answers every\n"
    "question scoped to its own document (--open: over the whole corpus), and prints exact match\n"
    "and F1 (the official TAT-QA metric) overall and by answer type and source. --predictions\n"
    "writes {question_uid: [answer, scale]}; --errors writes the misses with gold, prediction and\n"
    "derivation. --retrieval: recall@1/3/5/10 of each question's evidence for bm25, dense and\n"
    "hybrid, within its document (and over the whole corpus with --open). jsonl: {\"question\", \"answer\", \"doc\"?} per line, asked of the configured index.\n";

/* Gold answer strings: a string, a list of strings, or a number (as Python prints it). */
static int gold_strings(json_t *ans, char ***out) {
    int n = 0;
    char **v = NULL;
    if (json_is_array(ans)) {
        size_t i; json_t *x;
        v = xcalloc(json_array_size(ans) + 1, sizeof *v);
        json_array_foreach(ans, i, x) if (json_is_string(x)) v[n++] = xstrdup(json_string_value(x));
    } else {
        v = xcalloc(2, sizeof *v);
        char buf[64];
        if (json_is_string(ans)) v[n++] = xstrdup(json_string_value(ans));
        else if (json_is_integer(ans)) { snprintf(buf, sizeof buf, "%lld", (long long)json_integer_value(ans)); v[n++] = xstrdup(buf); }
        else if (json_is_real(ans)) { rg_tatqa_py_float_str(json_real_value(ans), buf, sizeof buf); v[n++] = xstrdup(buf); }
    }
    *out = v;
    return n;
}

static int pred_strings(json_t *a, const char ***out) {
    json_t *ans = json_object_get(a, "answer");
    int n = 0;
    const char **v = xcalloc(json_is_array(ans) ? json_array_size(ans) + 1 : 2, sizeof *v);
    if (json_is_array(ans)) {
        size_t i; json_t *x;
        json_array_foreach(ans, i, x) if (json_is_string(x)) v[n++] = json_string_value(x);
    } else if (json_is_string(ans) && *json_string_value(ans)) v[n++] = json_string_value(ans);
    *out = v;
    return n;
}

/* Writes v as one JSON line and frees it. */
static void write_jsonl(FILE *f, json_t *v) {
    char *line = json_dumps(v, JSON_COMPACT);
    if (line) fprintf(f, "%s\n", line);
    free(line);
    json_decref(v);
}

static void free_strs(char **v, int n) { for (int i = 0; i < n; i++) free(v[i]); free(v); }

static const char *source_of(json_t *q) {
    const char *f = json_string_value(json_object_get(q, "answer_from"));
    return f ? f : "table";
}

static int eval_tatqa(rg_cli *cli, const char *file, int open_domain, const char *pred_path, const char *err_path,
                      int limit, int json) {
    char tmpl[] = "/tmp/ragd-eval-XXXXXX";
    char *tmpdir = NULL;
    rg_cli c2 = *cli;
    if (!cli->index_explicit) {
        tmpdir = mkdtemp(tmpl);
        if (!tmpdir) { fprintf(stderr, "ragd eval: cannot make a temporary index\n"); return 1; }
        c2.index_dir = tmpdir;
    }
    json_error_t je;
    json_t *root = json_load_file(file, 0, &je);
    if (!json_is_array(root)) {
        fprintf(stderr, "ragd eval: %s: %s\n", file, root ? "not a TAT-QA file (expected a list of contexts)" : je.text);
        json_decref(root);
        return 1;
    }
    int rc = 1;
    rg_store *s = NULL;
    rg_encoder *e = NULL;
    FILE *errf = NULL;
    json_t *preds = json_object();
    if (cli_open(&c2, 1, 1, &s, &e) != 0) goto out;
    rg_index_opts io;
    rg_index_opts_default(&io);
    io.max_file_size = 1LL << 30;
    rg_index_report rep = {0};
    char *paths[1] = {(char *)file};
    double t0 = rg_now();
    if (rg_index_run(s, e, paths, 1, &io, &rep) != 0 || rep.failed) {
        fprintf(stderr, "ragd eval: indexing %s failed: %s\n", file, rep.nfailures ? rep.failures[0].why : rg_errmsg());
        rg_index_report_free(&rep);
        goto out;
    }
    rg_index_report_free(&rep);
    double t_index = rg_now() - t0;
    /* Answering only reads: reopen read-only so the writer lock is not held. */
    rg_store_close(s);
    s = NULL;
    if (cli_open(&c2, 0, 0, &s, NULL) != 0) goto out;
    if (err_path && !(errf = fopen(err_path, "w"))) { fprintf(stderr, "ragd eval: %s: cannot write\n", err_path); goto out; }
    rg_tatqa_tally tally;
    memset(&tally, 0, sizeof tally);
    int asked = 0;
    t0 = rg_now();
    size_t ci; json_t *ctx;
    json_array_foreach(root, ci, ctx) {
        const char *uid = json_string_value(json_object_get(json_object_get(ctx, "table"), "uid"));
        json_t *qs = json_object_get(ctx, "questions");
        size_t qi; json_t *q;
        json_array_foreach(qs, qi, q) {
            if (limit > 0 && asked >= limit) break;
            const char *question = json_string_value(json_object_get(q, "question"));
            const char *quid = json_string_value(json_object_get(q, "uid"));
            const char *gtype = json_string_value(json_object_get(q, "answer_type"));
            const char *gscale = json_string_value(json_object_get(q, "scale"));
            if (!question || !quid || !gtype) continue;
            rg_ask_opts o;
            rg_ask_opts_default(&o);
            if (!open_domain) o.doc_id = uid;
            json_t *a = rg_ask(s, e, question, &o);
            if (!a) { fprintf(stderr, "ragd eval: %s: %s\n", quid, rg_errmsg()); goto out; }
            char **gold;
            int ngold = gold_strings(json_object_get(q, "answer"), &gold);
            const char **pred;
            int npred = pred_strings(a, &pred);
            const char *pscale = json_string_value(json_object_get(a, "scale"));
            rg_tatqa_score sc = rg_tatqa_score_answer(gtype, (const char *const *)gold, ngold, gscale ? gscale : "",
                                                      pred, npred, pscale ? pscale : "");
            rg_tatqa_tally_add(&tally, gtype, source_of(q), sc);
            json_t *pa = json_object_get(a, "answer");
            json_object_set_new(preds, quid, json_pack("[O, s]", pa ? pa : json_string(""), pscale ? pscale : ""));
            if (errf && sc.em < 1) {
                json_t *miss = json_pack("{s:s, s:s, s:s, s:s, s:O, s:s, s:O, s:s, s:O, s:O, s:f}", "uid", quid, "doc", uid ? uid : "",
                                         "question", question, "answer_type", gtype, "gold", json_object_get(q, "answer"),
                                         "gold_scale", gscale ? gscale : "", "prediction", pa ? pa : json_null(),
                                         "scale", pscale ? pscale : "", "derivation", json_object_get(a, "derivation"),
                                         "type", json_object_get(a, "type"), "f1", sc.f1);
                write_jsonl(errf, miss);
            }
            free_strs(gold, ngold);
            free(pred);
            json_decref(a);
            asked++;
        }
    }
    double t_answer = rg_now() - t0;
    if (json) {
        json_t *o = json_pack("{s:i, s:f, s:f, s:f, s:f, s:s}", "questions", asked,
                              "em", tally.n[4][3] ? 100.0 * tally.em[4][3] / tally.n[4][3] : 0.0,
                              "f1", tally.n[4][3] ? 100.0 * tally.f1[4][3] / tally.n[4][3] : 0.0,
                              "index_seconds", t_index, "answer_seconds", t_answer, "scope", open_domain ? "open" : "document");
        static const char *types[] = {"span", "multi-span", "arithmetic", "count", "all"};
        static const char *srcs[] = {"table", "text", "table-text", "all"};
        json_t *by = json_object();
        for (int t = 0; t < 5; t++)
            for (int sidx = 0; sidx < 4; sidx++) {
                if (!tally.n[t][sidx]) continue;
                char key[64];
                snprintf(key, sizeof key, "%s/%s", types[t], srcs[sidx]);
                json_object_set_new(by, key, json_pack("{s:i, s:f, s:f}", "n", tally.n[t][sidx],
                                                       "em", 100.0 * tally.em[t][sidx] / tally.n[t][sidx],
                                                       "f1", 100.0 * tally.f1[t][sidx] / tally.n[t][sidx]));
            }
        json_object_set_new(o, "by_type_source", by);
        cli_print_json(o);
    } else {
        printf("TAT-QA: %d questions, scoped to %s; indexed in %.1fs, answered in %.1fs (%.1f ms/question)\n",
               asked, open_domain ? "the whole corpus (--open)" : "each question's own document", t_index, t_answer,
               asked ? 1e3 * t_answer / asked : 0.0);
        rg_tatqa_tally_print(&tally, stdout);
    }
    if (pred_path) {
        if (json_dump_file(preds, pred_path, JSON_INDENT(1)) != 0) { fprintf(stderr, "ragd eval: %s: cannot write\n", pred_path); goto out; }
    }
    rc = 0;
out:
    if (errf) fclose(errf);
    json_decref(preds);
    json_decref(root);
    rg_store_close(s);
    rg_encoder_free(e);
    if (tmpdir) {
        char *cmd = xasprintf("rm -rf '%s'", tmpdir);
        if (system(cmd) != 0) fprintf(stderr, "ragd eval: could not remove %s\n", tmpdir);
        free(cmd);
    }
    return rc;
}

static int eval_jsonl(rg_cli *cli, const char *file, const char *err_path, int json) {
    FILE *f = fopen(file, "r");
    if (!f) { fprintf(stderr, "ragd eval: %s: cannot open\n", file); return 1; }
    rg_store *s;
    rg_encoder *e;
    if (cli_open(cli, 0, 1, &s, &e) != 0) { fclose(f); return 1; }
    FILE *errf = err_path ? fopen(err_path, "w") : NULL;
    char *line = NULL;
    size_t cap = 0;
    int n = 0, lineno = 0, rc = 0;
    double em = 0, f1 = 0;
    while (getline(&line, &cap, f) > 0) {
        lineno++;
        json_t *in = json_loads(line, 0, NULL);
        const char *q = in ? json_string_value(json_object_get(in, "question")) : NULL;
        json_t *gans = in ? json_object_get(in, "answer") : NULL;
        if (!q || !gans) {
            if (in || strspn(line, " \t\r\n") != strlen(line)) { fprintf(stderr, "ragd eval: %s:%d: needs \"question\" and \"answer\"\n", file, lineno); rc = 1; }
            json_decref(in);
            continue;
        }
        rg_ask_opts o;
        rg_ask_opts_default(&o);
        o.doc_id = json_string_value(json_object_get(in, "doc"));
        json_t *a = rg_ask(s, e, q, &o);
        if (!a) { fprintf(stderr, "ragd eval: %s:%d: %s\n", file, lineno, rg_errmsg()); json_decref(in); rc = 1; break; }
        char **gold;
        int ngold = gold_strings(gans, &gold);
        const char **pred;
        int npred = pred_strings(a, &pred);
        const char *gtype = ngold > 1 ? "multi-span" : (ngold == 1 && rg_tatqa_is_number(gold[0])) ? "arithmetic" : "span";
        const char *ptype = json_string_value(json_object_get(a, "type"));
        const char *gscale = json_string_value(json_object_get(in, "scale"));
        const char *pscale = json_string_value(json_object_get(a, "scale"));
        /* Users' gold answers usually carry no scale: compare unscaled then. An empty gold
         * answer means the documents do not say: only type "none" is right. */
        rg_tatqa_score sc;
        if (ngold == 0 || (ngold == 1 && !gold[0][0])) {
            const char *pt = json_string_value(json_object_get(a, "type"));
            sc.em = sc.f1 = (pt && strcmp(pt, "none") == 0) ? 1 : 0;
        } else
            sc = rg_tatqa_score_answer(gtype, (const char *const *)gold, ngold, gscale ? gscale : "", pred, npred,
                                       gscale ? (pscale ? pscale : "") : "");
        em += sc.em; f1 += sc.f1; n++;
        if (errf && sc.em < 1) {
            json_t *miss = json_pack("{s:s, s:O, s:O, s:O, s:s}", "question", q, "gold", gans,
                                     "prediction", json_object_get(a, "answer"), "derivation", json_object_get(a, "derivation"),
                                     "type", ptype ? ptype : "");
            write_jsonl(errf, miss);
        }
        free_strs(gold, ngold);
        free(pred);
        json_decref(a);
        json_decref(in);
    }
    free(line);
    fclose(f);
    if (errf) fclose(errf);
    if (json) cli_print_json(json_pack("{s:i, s:f, s:f}", "questions", n, "em", n ? 100 * em / n : 0.0, "f1", n ? 100 * f1 / n : 0.0));
    else printf("%d questions: EM %.1f, F1 %.1f\n", n, n ? 100 * em / n : 0.0, n ? 100 * f1 / n : 0.0);
    rg_store_close(s);
    rg_encoder_free(e);
    return rc;
}

int cmd_eval(rg_cli *cli, int argc, char **argv) {
    int json = cli->json, help = 0, open_domain = 0, limit = 0, retrieval = 0;
    const char *format = "tatqa", *file = NULL, *pred = NULL, *errs = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (cli_common_flag(a, &json, &help)) continue;
        if (strcmp(a, "--format") == 0 && i + 1 < argc) format = argv[++i];
        else if (strcmp(a, "--open") == 0) open_domain = 1;
        else if (strcmp(a, "--retrieval") == 0) retrieval = 1;
        else if (strcmp(a, "--predictions") == 0 && i + 1 < argc) pred = argv[++i];
        else if (strcmp(a, "--errors") == 0 && i + 1 < argc) errs = argv[++i];
        else if (strcmp(a, "--limit") == 0 && i + 1 < argc) limit = atoi(argv[++i]);
        else if (a[0] == '-' && a[1]) { fprintf(stderr, "ragd eval: unknown option %s\n", a); return 2; }
        else if (!file) file = a;
        else { fprintf(stderr, "ragd eval: one file at a time\n"); return 2; }
    }
    if (help) { fputs(help_text, stdout); return 0; }
    if (!file) { fputs(help_text, stderr); return 2; }
    if (strcmp(format, "tatqa") == 0 && retrieval) {
        rg_eval_retrieval_opts o;
        rg_eval_retrieval_opts_default(&o);
        o.path = file;
        o.open_domain = open_domain;
        o.json_out = json;
        o.encoder_spec = cli->encoder_spec;
        o.index_dir = cli->index_explicit ? cli->index_dir : NULL;
        if (rg_eval_retrieval_run(&o) == 0) return 0;
        fprintf(stderr, "ragd eval: %s\n", rg_errmsg());
        return 1;
    }
    if (strcmp(format, "tatqa") == 0) return eval_tatqa(cli, file, open_domain, pred, errs, limit, json);
    if (strcmp(format, "jsonl") == 0) return eval_jsonl(cli, file, errs, json);
    fprintf(stderr, "ragd eval: unknown format \"%s\" (tatqa or jsonl)\n", format);
    return 2;
}
