/* serve/cmd_ask: `ragd ask QUESTION` and `ragd ask --batch FILE.jsonl`. */
#include "serve/cli.h"
#include "serve/ask.h"
#include "serve/client.h"
#include "core/util.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_QUESTION 4096

static const char *help_text =
    "usage: ragd ask [--doc ID] [--filter KEY=VALUE]... [-k N] [--stream] [--json] QUESTION\n"
    "       ragd ask --batch FILE.jsonl [--json]\n"
    "Answers a question from the indexed documents: the answer, its scale, how it was computed,\n"
    "and where each input came from; type \"none\" when the documents do not say.\n"
    "--batch reads one {\"id\", \"question\", \"doc\"?} object per line and writes one answer\n"
    "object per line, in input order, each with the input id. Filters: doc=ID, source=GLOB, kind=text|table.\n"
    "With a generator configured (config \"generator\", $RAGD_GENERATOR: a .gguf file or \"remote\"), questions\n"
    "the reasoner is unsure of go to the model, whose answer is verified against the evidence.\n"
    "--stream prints the model's output as it comes (to stderr with --json).\n";

static void print_human(json_t *a) {
    const char *type = json_string_value(json_object_get(a, "type"));
    json_t *ans = json_object_get(a, "answer");
    const char *scale = json_string_value(json_object_get(a, "scale"));
    if (!type || strcmp(type, "none") == 0) {
        printf("No answer: the indexed documents do not support one.\n");
    } else {
        printf("Answer: ");
        if (json_is_array(ans)) {
            size_t i; json_t *v;
            json_array_foreach(ans, i, v) printf("%s%s", i ? "; " : "", json_string_value(v));
        } else printf("%s", json_string_value(ans) ? json_string_value(ans) : "");
        if (scale && *scale) printf(" (%s)", scale);
        printf("\n");
        const char *der = json_string_value(json_object_get(a, "derivation"));
        if (der && *der) printf("Derivation: %s\n", der);
        printf("Type: %s, confidence %.2f\n", type, json_real_value(json_object_get(a, "confidence")));
    }
    json_t *cites = json_object_get(a, "citations");
    size_t i; json_t *c;
    json_array_foreach(cites, i, c) {
        json_t *cell = json_object_get(c, "cell");
        printf("  [%zu] %s, chunk %lld", i + 1, json_string_value(json_object_get(c, "doc_id")),
               (long long)json_integer_value(json_object_get(c, "chunk_id")));
        if (json_is_array(cell) && json_array_size(cell) == 2)
            printf(", table cell (row %lld, column %lld)", (long long)json_integer_value(json_array_get(cell, 0)),
                   (long long)json_integer_value(json_array_get(cell, 1)));
        printf("\n");
    }
}

/* --stream: the model's output as it comes. */
static int print_piece(const char *piece, size_t len, void *ud) {
    fwrite(piece, 1, len, (FILE *)ud);
    fflush((FILE *)ud);
    return 0;
}

static int parse_filter(const char *f, rg_ask_opts *o) {
    if (strncmp(f, "doc=", 4) == 0) o->doc_id = f + 4;
    else if (strncmp(f, "source=", 7) == 0) o->filter.source_glob = f + 7;
    else if (strcmp(f, "kind=text") == 0) o->filter.kind = 0;
    else if (strcmp(f, "kind=table") == 0) o->filter.kind = 1;
    else return -1;
    return 0;
}

static int run_batch(rg_store *s, rg_encoder *e, const char *path, const rg_ask_opts *base) {
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
    if (!f) { fprintf(stderr, "ragd ask: %s: cannot open\n", path); return 1; }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int lineno = 0, rc = 0;
    while ((n = getline(&line, &cap, f)) > 0) {
        lineno++;
        if (n > 1 << 20) { fprintf(stderr, "ragd ask: %s:%d: line too long\n", path, lineno); rc = 1; continue; }
        json_error_t je;
        json_t *in = json_loads(line, JSON_REJECT_DUPLICATES, &je);
        const char *q = in ? json_string_value(json_object_get(in, "question")) : NULL;
        json_t *id = in ? json_object_get(in, "id") : NULL;
        json_t *out;
        if (!in || !json_is_object(in)) {
            int blank = 1;
            for (char *p = line; *p; p++) if (*p != ' ' && *p != '\n' && *p != '\r' && *p != '\t') blank = 0;
            if (blank) { json_decref(in); continue; }
            out = json_pack("{s:o, s:{s:s, s:s}}", "id", json_null(), "error", "code", "bad_request", "message", "invalid JSON");
            fprintf(stderr, "ragd ask: %s:%d: invalid JSON: %s\n", path, lineno, je.text);
            rc = 1;
        } else if (!q || strlen(q) > MAX_QUESTION) {
            out = json_pack("{s:O, s:{s:s, s:s}}", "id", id ? id : json_null(), "error", "code", "bad_request",
                            "message", q ? "question longer than 4096 bytes" : "no \"question\" string");
            fprintf(stderr, "ragd ask: %s:%d: %s\n", path, lineno, q ? "question too long" : "no \"question\" string");
            rc = 1;
        } else {
            rg_ask_opts o = *base;
            const char *doc = json_string_value(json_object_get(in, "doc"));
            if (doc) o.doc_id = doc;
            out = rg_ask(s, e, q, &o);
            if (!out) {
                out = json_pack("{s:{s:s, s:s}}", "error", "code", "internal", "message", rg_errmsg());
                fprintf(stderr, "ragd ask: %s:%d: %s\n", path, lineno, rg_errmsg());
                rc = 1;
            }
            json_object_set(out, "id", id ? id : json_null());
        }
        cli_print_json(out);
        fflush(stdout);
        json_decref(in);
    }
    free(line);
    if (f != stdin) fclose(f);
    return rc;
}

int cmd_ask(rg_cli *cli, int argc, char **argv) {
    int json = cli->json, help = 0;
    rg_ask_opts o;
    rg_ask_opts_default(&o);
    const char *batch = NULL;
    int stream = 0;
    rg_buf q = {0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (cli_common_flag(a, &json, &help)) continue;
        if (strcmp(a, "--doc") == 0 && i + 1 < argc) o.doc_id = argv[++i];
        else if (strcmp(a, "--batch") == 0 && i + 1 < argc) batch = argv[++i];
        else if (strcmp(a, "--stream") == 0) stream = 1;
        else if (strcmp(a, "-k") == 0 && i + 1 < argc) {
            o.k = atoi(argv[++i]);
            if (o.k < 1 || o.k > 100) { fprintf(stderr, "ragd ask: -k must be 1..100\n"); rg_buf_free(&q); return 2; }
        } else if (strcmp(a, "--filter") == 0 && i + 1 < argc) {
            if (parse_filter(argv[++i], &o) != 0) { fprintf(stderr, "ragd ask: unsupported filter %s\n", argv[i]); rg_buf_free(&q); return 2; }
        } else if (a[0] == '-' && a[1] && !q.len) { fprintf(stderr, "ragd ask: unknown option %s\n", a); rg_buf_free(&q); return 2; }
        else { if (q.len) rg_buf_putc(&q, ' '); rg_buf_puts(&q, a); }
    }
    if (help) { fputs(help_text, stdout); rg_buf_free(&q); return 0; }
    if (!batch && !q.len) { fputs(help_text, stderr); rg_buf_free(&q); return 2; }
    if (q.len > MAX_QUESTION) { fprintf(stderr, "ragd ask: question longer than %d bytes\n", MAX_QUESTION); rg_buf_free(&q); return 2; }
    if (!batch && !stream && !cli->generator_spec && !o.filter.source_glob && o.filter.kind < 0) {
        /* A daemon serving this index answers for us. */
        json_t *body = json_pack("{s:s, s:i}", "question", q.data, "k", o.k);
        if (o.doc_id) json_object_set_new(body, "doc", json_string(o.doc_id));
        json_t *a = NULL;
        int d = rg_client_try(cli, "POST", "/v1/ask", body, &a);
        json_decref(body);
        if (d != 0) {
            int rc = 0;
            if (d < 0) { fprintf(stderr, "ragd ask: daemon: %s\n", rg_errmsg()); rc = 1; }
            else if (json_object_get(a, "error")) {
                fprintf(stderr, "ragd ask: daemon: %s\n", json_string_value(json_object_get(json_object_get(a, "error"), "message")));
                rc = 1;
            } else if (json) { cli_print_json(a); a = NULL; }
            else print_human(a);
            json_decref(a);
            rg_buf_free(&q);
            return rc;
        }
    }
    rg_store *s;
    rg_encoder *e;
    if (cli_open(cli, 0, 1, &s, &e) != 0) { rg_buf_free(&q); return 1; }
    rg_generator *g = NULL;
    if (cli->generator_spec) {
        rg_generator_config gc = {.spec = cli->generator_spec, .remote_url = cli->remote_url,
                                  .remote_model = cli->remote_model, .remote_api_key_env = cli->remote_api_key_env};
        g = rg_generator_open(&gc);
        if (!g) {
            fprintf(stderr, "ragd ask: generator %s: %s\n", cli->generator_spec, rg_errmsg());
            rg_store_close(s); rg_encoder_free(e); rg_buf_free(&q);
            return 1;
        }
        o.generator = g;
        if (stream) { o.on_token = print_piece; o.on_token_ud = json ? stderr : stdout; }
    }
    int rc = 0;
    if (batch) rc = run_batch(s, e, batch, &o);
    else {
        json_t *a = rg_ask(s, e, q.data, &o);
        if (o.on_token && json_is_true(json_object_get(json_object_get(a, "generator"), "used")))
            fputc('\n', o.on_token_ud);
        if (!a) { fprintf(stderr, "ragd ask: %s\n", rg_errmsg()); rc = 1; }
        else if (json) cli_print_json(a);
        else { print_human(a); json_decref(a); }
    }
    rg_generator_free(g);
    rg_store_close(s);
    rg_encoder_free(e);
    rg_buf_free(&q);
    return rc;
}
