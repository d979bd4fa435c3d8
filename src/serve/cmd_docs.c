/* serve/cmd_docs: `ragd list`, `ragd show`, `ragd status`. */
#include "serve/cli.h"
#include "serve/client.h"
#include "core/util.h"
#include <stdio.h>
#include <string.h>
#include <time.h>

static void fmt_time(int64_t t, char *buf, size_t n) {
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static json_t *doc_json(const rg_doc_info *d) {
    char ts[32];
    fmt_time(d->indexed_at, ts, sizeof ts);
    json_t *o = json_pack("{s:s, s:s, s:s, s:I, s:I, s:s}", "id", d->doc_id, "source", d->source ? d->source : "",
                          "kind", d->kind ? d->kind : "", "chunks", (json_int_t)d->nchunks,
                          "bytes", (json_int_t)d->size, "indexed_at", ts);
    if (d->title) json_object_set_new(o, "title", json_string(d->title));
    return o;
}

int cmd_list(rg_cli *cli, int argc, char **argv) {
    int json = cli->json, help = 0;
    for (int i = 1; i < argc; i++)
        if (!cli_common_flag(argv[i], &json, &help)) { fprintf(stderr, "ragd list: unexpected %s\n", argv[i]); return 2; }
    if (help) { puts("usage: ragd list [--json]\nLists documents: id, source, kind, chunks, bytes, indexed_at."); return 0; }
    rg_store *s;
    if (cli_open(cli, 0, 0, &s, NULL) != 0) return 1;
    rg_doc_info *docs;
    int n;
    if (rg_store_list_docs(s, &docs, &n) != 0) { fprintf(stderr, "ragd list: %s\n", rg_errmsg()); rg_store_close(s); return 1; }
    json_t *arr = json ? json_array() : NULL;
    if (!json && n) printf("%-40s %-8s %6s %10s  %s\n", "ID", "KIND", "CHUNKS", "BYTES", "INDEXED_AT");
    for (int i = 0; i < n; i++) {
        if (json) json_array_append_new(arr, doc_json(&docs[i]));
        else {
            char ts[32];
            fmt_time(docs[i].indexed_at, ts, sizeof ts);
            printf("%-40s %-8s %6lld %10lld  %s\n", docs[i].doc_id, docs[i].kind ? docs[i].kind : "",
                   (long long)docs[i].nchunks, (long long)docs[i].size, ts);
        }
        rg_doc_info_free(&docs[i]);
    }
    free(docs);
    if (json) cli_print_json(json_pack("{s:o}", "documents", arr));
    rg_store_close(s);
    return 0;
}

int cmd_show(rg_cli *cli, int argc, char **argv) {
    int json = cli->json, help = 0;
    const char *id = NULL;
    for (int i = 1; i < argc; i++) {
        if (cli_common_flag(argv[i], &json, &help)) continue;
        if (argv[i][0] == '-' || id) { fprintf(stderr, "ragd show: unexpected %s\n", argv[i]); return 2; }
        id = argv[i];
    }
    if (help) { puts("usage: ragd show [--json] DOC\nShows one document: its metadata, its chunks, its tables as parsed cells."); return 0; }
    if (!id) { fprintf(stderr, "usage: ragd show DOC\n"); return 2; }
    rg_store *s;
    if (cli_open(cli, 0, 0, &s, NULL) != 0) return 1;
    rg_doc_info d;
    int found = rg_store_get_doc(s, id, &d);
    if (found <= 0) {
        fprintf(stderr, "ragd show: %s: %s\n", id, found < 0 ? rg_errmsg() : "no such document");
        rg_store_close(s);
        return 1;
    }
    rg_chunk_row *chunks = NULL;
    rg_table **tables = NULL;
    int nc = 0, nt = 0, rc = 0;
    if (rg_store_doc_chunks(s, d.doc_id, &chunks, &nc) != 0 || rg_store_doc_tables(s, d.doc_id, &tables, NULL, &nt) != 0) {
        fprintf(stderr, "ragd show: %s: %s\n", id, rg_errmsg());
        rc = 1;
    } else if (json) {
        json_t *o = doc_json(&d);
        if (d.hash) json_object_set_new(o, "content_hash", json_string(d.hash));
        if (d.meta_json) {
            json_t *m = json_loads(d.meta_json, 0, NULL);
            if (m) json_object_set_new(o, "metadata", m);
        }
        json_t *jc = json_array(), *jt = json_array();
        for (int i = 0; i < nc; i++) {
            json_t *c = json_pack("{s:I, s:s, s:s, s:s, s:i, s:i}", "chunk_id", (json_int_t)chunks[i].id,
                                  "kind", chunks[i].kind ? "table" : "text", "section", chunks[i].section ? chunks[i].section : "",
                                  "text", chunks[i].text ? chunks[i].text : "", "tokens", chunks[i].ntokens, "page", chunks[i].page);
            if (chunks[i].parent >= 0) json_object_set_new(c, "parent", json_integer(chunks[i].parent));
            json_array_append_new(jc, c);
        }
        for (int i = 0; i < nt; i++) json_array_append_new(jt, cli_table_json(tables[i], 1));
        json_object_set_new(o, "chunks", jc);
        json_object_set_new(o, "tables", jt);
        cli_print_json(o);
    } else {
        printf("%s\n  source: %s\n  kind: %s\n  title: %s\n  bytes: %lld\n  chunks: %d\n  tables: %d\n",
               d.doc_id, d.source ? d.source : "", d.kind ? d.kind : "", d.title ? d.title : "",
               (long long)d.size, nc, nt);
        for (int i = 0; i < nc; i++)
            printf("\n[chunk %lld, %s%s%s]\n%s\n", (long long)chunks[i].id, chunks[i].kind ? "table" : "text",
                   chunks[i].section && *chunks[i].section ? ", " : "", chunks[i].section ? chunks[i].section : "",
                   chunks[i].text);
    }
    for (int i = 0; i < nc; i++) rg_chunk_row_free(&chunks[i]);
    free(chunks);
    for (int i = 0; i < nt; i++) rg_table_free(tables[i]);
    free(tables);
    rg_doc_info_free(&d);
    rg_store_close(s);
    return rc;
}

int cmd_status(rg_cli *cli, int argc, char **argv) {
    int json = cli->json, help = 0, check = 0;
    for (int i = 1; i < argc; i++) {
        if (cli_common_flag(argv[i], &json, &help)) continue;
        if (strcmp(argv[i], "--check") == 0) check = 1;
        else { fprintf(stderr, "ragd status: unexpected %s\n", argv[i]); return 2; }
    }
    if (help) {
        puts("usage: ragd status [--check] [--json]\nIndex size, documents, chunks, vectors, encoder, generator, daemon state.\n"
             "--check runs an integrity check (SQLite, the BM25 index, FAISS against SQLite) and exits 1 on problems.");
        return 0;
    }
    /* --check takes the writer lock so that the repairs it makes are persisted. */
    rg_store *s;
    if (cli_open(cli, check, 0, &s, NULL) != 0) return 1;
    rg_store_stats st;
    if (rg_store_stats_get(s, &st) != 0) { fprintf(stderr, "ragd status: %s\n", rg_errmsg()); rg_store_close(s); return 1; }
    char *report = NULL;
    int problems = 0;
    if (check) {
        problems = rg_store_check(s, &report);
        if (problems < 0) { fprintf(stderr, "ragd status: %s\n", rg_errmsg()); rg_store_close(s); return 1; }
    }
    const char *repairs = rg_store_repairs(s);
    /* A daemon serving this index? */
    json_t *health = NULL;
    const char *daemon = rg_client_try(cli, "GET", "/v1/health", NULL, &health) == 1 &&
                         !json_object_get(health, "error") ? "running" : "not running";
    json_decref(health);
    if (json) {
        json_t *o = cli_status_json(s, cli->index_dir, daemon, cli->generator_spec);
        if (!o) { fprintf(stderr, "ragd status: %s\n", rg_errmsg()); free(report); rg_store_close(s); return 1; }
        if (check) {
            json_object_set_new(o, "check", json_string(problems ? "problems" : "ok"));
            json_object_set_new(o, "problems", json_string(report ? report : ""));
        }
        cli_print_json(o);
    } else {
        printf("index:      %s\nencoder:    %s (%d dims)\ndocuments:  %lld\nchunks:     %lld\ntables:     %lld (%lld cells)\n"
               "vectors:    %lld in SQLite, %lld in FAISS\nbm25:       %lld segments, %lld removed chunks awaiting a merge\n"
               "size:       %.1f MB database, %.1f MB vectors\nschema:     %d\n"
               "generator:  %s\ndaemon:     %s\n",
               cli->index_dir, rg_store_encoder(s), rg_store_dim(s), (long long)st.documents, (long long)st.chunks,
               (long long)st.tables, (long long)st.cells, (long long)st.vectors, (long long)st.faiss_vectors,
               (long long)st.bm25_segments, (long long)st.bm25_removed,
               st.db_bytes / 1e6, st.faiss_bytes / 1e6, st.schema_version, cli->generator_spec ? cli->generator_spec : "reasoner", daemon);
        if (repairs[0]) printf("repaired:   %s\n", repairs);
        if (check) printf("check:      %s\n%s", problems ? "PROBLEMS" : "ok", report ? report : "");
    }
    free(report);
    rg_store_close(s);
    return problems ? 1 : 0;
}
