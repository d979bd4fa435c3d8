/* bench/ingest: ingestion throughput on one core.
 * Generates a corpus of mixed HTML, Markdown and CSV annual-report-like files (default
 * 200 MB) in a temporary folder, then times walk + read + parse + chunk + store (SQLite with
 * its BM25 index; no embedding: the store gets no vectors) file by file, and reports MB/s, chunks/s,
 * the time in each stage, the peak RSS and the bytes written (/proc/self/io).
 *   usage: bench/ingest [MB] [DIR]     (DIR default /tmp/ragd-bench-ingest, removed first and
 *          after; MB=0 with an existing DIR/corpus re-times without regenerating)
 *   env RAGD_BENCH_NOSTORE=1 skips the store stage (parse + chunk only);
 *   env RAGD_BENCH_NOBATCH=1 stores one document per transaction (as before store batches)
 *   instead of batches committed like `ragd index` does (rg_store_batch_tick). */
#include "core/util.h"
#include "index/store.h"
#include "ingest/chunk.h"
#include "ingest/parse.h"
#include "ingest/walk.h"
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

/* CPU seconds of this process: the machine may be shared, so throughput is also given per
 * CPU second (the bench is single-threaded). */
static double cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static uint64_t rng = 0x2545F4914F6CDD1DULL;
static uint64_t next_u64(void) {
    rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
    return rng;
}
static int pick(int n) { return (int)(next_u64() % (uint64_t)n); }

static const char *companies[] = {"Northwind Robotics Inc.", "Blue Harbor Foods Co.", "Corvid Analytics Ltd.",
                                  "Halvorsen Shipping ASA", "Ardent Mining Corp.", "Lumen Grid Energy plc"};
static const char *items[] = {"Product revenue", "Service revenue", "Total revenue", "Cost of revenue",
                              "Gross profit", "Research and development", "Sales and marketing",
                              "General and administrative", "Operating income", "Interest expense",
                              "Income before taxes", "Provision for income taxes", "Net income",
                              "Cash and cash equivalents", "Trade receivables", "Inventories",
                              "Deferred revenue", "Long-term debt", "Total equity", "Capital expenditures"};
static const char *words[] = {"revenue", "growth", "customers", "margin", "operating", "market", "demand",
                              "costs", "contracts", "segment", "increased", "decreased", "compared", "primarily",
                              "due", "higher", "lower", "pricing", "volume", "currency", "exchange", "rates",
                              "acquisition", "integration", "fiscal", "year", "quarter", "guidance", "outlook",
                              "investment", "capacity", "plant", "software", "subscription", "services",
                              "Europe", "Asia", "the", "of", "and", "in", "to", "a", "for", "with", "our", "we"};
#define NWORDS ((int)(sizeof words / sizeof *words))

static void sentence(rg_buf *b) {
    int n = 8 + pick(18);
    for (int i = 0; i < n; i++) {
        const char *w = words[pick(NWORDS)];
        if (i == 0) rg_buf_printf(b, "%c%s", w[0] >= 'a' ? w[0] - 32 : w[0], w + 1);
        else if (pick(9) == 0) rg_buf_printf(b, " $%d.%d million", 10 + pick(2000), pick(10));
        else rg_buf_printf(b, " %s", w);
    }
    rg_buf_puts(b, pick(7) == 0 ? ", as in the U.S. and Europe. " : ". ");
}

static void paragraph(rg_buf *b) {
    int n = 3 + pick(6);
    for (int i = 0; i < n; i++) sentence(b);
}

static double amount(void) { return (pick(5) == 0 ? -1 : 1) * (double)(1 + pick(900000)) / 10.0; }

static void fmt_amount(char *out, size_t n, double v) {
    if (v < 0) snprintf(out, n, "(%.1f)", -v);
    else snprintf(out, n, "%.1f", v);
}

static void gen_markdown(rg_buf *b, int doc) {
    const char *co = companies[doc % 6];
    rg_buf_printf(b, "# %s Annual Report %d\n\n", co, 2000 + doc % 20);
    for (int s = 0; s < 30; s++) {
        rg_buf_printf(b, "## Section %d\n\n", s + 1);
        for (int p = 0; p < 3; p++) { paragraph(b); rg_buf_puts(b, "\n\n"); }
        if (s % 3 == 0) {
            rg_buf_puts(b, "(in millions)\n\n| Item | 2019 | 2018 |\n| --- | --- | --- |\n");
            for (int r = 0; r < 10; r++) {
                char x[32], y[32];
                fmt_amount(x, sizeof x, amount());
                fmt_amount(y, sizeof y, amount());
                rg_buf_printf(b, "| %s | %s | %s |\n", items[pick(20)], x, y);
            }
            rg_buf_puts(b, "\n");
        }
    }
}

static void gen_html(rg_buf *b, int doc) {
    const char *co = companies[doc % 6];
    rg_buf_printf(b, "<!DOCTYPE html>\n<html><head><title>%s %d</title><script>var x = 1;</script></head><body>\n"
                     "<nav><a href=\"/\">Home</a></nav><main>\n<h1>%s Form 10-K</h1>\n", co, 2000 + doc % 20, co);
    for (int s = 0; s < 30; s++) {
        rg_buf_printf(b, "<h2>Item %d</h2>\n", s + 1);
        for (int p = 0; p < 3; p++) { rg_buf_puts(b, "<p>"); paragraph(b); rg_buf_puts(b, "</p>\n"); }
        if (s % 3 == 0) {
            rg_buf_puts(b, "<table><caption>($ in thousands)</caption><thead><tr><th rowspan=\"2\">Item</th>"
                           "<th colspan=\"2\">Year Ended December 31,</th></tr><tr><th>2019</th><th>2018</th></tr></thead><tbody>\n");
            for (int r = 0; r < 12; r++) {
                char x[32], y[32];
                fmt_amount(x, sizeof x, amount());
                fmt_amount(y, sizeof y, amount());
                rg_buf_printf(b, "<tr><td>%s</td><td>$&nbsp;%s</td><td>%s</td></tr>\n", items[pick(20)], x, y);
            }
            rg_buf_puts(b, "</tbody></table>\n");
        }
    }
    rg_buf_puts(b, "</main><footer>Copyright</footer></body></html>\n");
}

static void gen_csv(rg_buf *b, int doc) {
    rg_buf_printf(b, "%s segment data (in thousands)\n", companies[doc % 6]);
    rg_buf_puts(b, "Segment,Region,Q1 2019,Q2 2019,Q3 2019,Q4 2019,Fiscal 2019\n");
    int rows = 300 + pick(400);
    for (int r = 0; r < rows; r++) {
        rg_buf_printf(b, "\"%s, unit %d\",%s", items[pick(20)], r, words[35 + pick(2)]);
        for (int c = 0; c < 5; c++) rg_buf_printf(b, ",\"%d,%03d\"", pick(900), pick(1000));
        rg_buf_putc(b, '\n');
    }
}

static int64_t generate(const char *dir, int64_t target) {
    int64_t total = 0;
    rg_buf b = {0};
    int64_t per[3] = {0};
    for (int doc = 0; total < target; doc++) {
        b.len = 0;
        const char *ext;
        int kind = 0;   /* the format with the fewest bytes so far: a third of the bytes each */
        for (int k = 1; k < 3; k++) if (per[k] < per[kind]) kind = k;
        switch (kind) {
        case 0: gen_html(&b, doc); ext = "html"; break;
        case 1: gen_markdown(&b, doc); ext = "md"; break;
        default: gen_csv(&b, doc); ext = "csv"; break;
        }
        char path[1024];
        snprintf(path, sizeof path, "%s/corpus/d%03d/report-%05d.%s", dir, doc / 500, doc, ext);
        char sub[1024];
        snprintf(sub, sizeof sub, "%s/corpus/d%03d", dir, doc / 500);
        if (rg_mkdir_p(sub, 0755) != 0) { fprintf(stderr, "%s\n", rg_errmsg()); exit(1); }
        FILE *f = fopen(path, "wb");
        if (!f || fwrite(b.data, 1, b.len, f) != b.len || fclose(f) != 0) { perror(path); exit(1); }
        total += (int64_t)b.len;
        per[kind] += (int64_t)b.len;
    }
    rg_buf_free(&b);
    return total;
}

int main(int argc, char **argv) {
    int64_t mb = argc > 1 ? atoll(argv[1]) : 200;
    const char *dir = argc > 2 ? argv[2] : "/tmp/ragd-bench-ingest";
    int nostore = getenv("RAGD_BENCH_NOSTORE") != NULL, batch = getenv("RAGD_BENCH_NOBATCH") == NULL;
    char cmd[1200];
    if (mb > 0) {
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (strncmp(dir, "/tmp/", 5) == 0 && system(cmd) != 0) return 1;
        double g0 = rg_now();
        int64_t bytes = generate(dir, mb << 20);
        printf("generated %.1f MB of HTML, Markdown and CSV in %.1fs\n", bytes / 1048576.0, rg_now() - g0);
    }
    char corpus[1100], index[1100];
    snprintf(corpus, sizeof corpus, "%s/corpus", dir);
    snprintf(index, sizeof index, "%s/index", dir);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", index);
    if (system(cmd) != 0) return 1;

    rg_store *st = NULL;
    if (!nostore) {
        rg_store_opts so = {0};
        so.encoder = "none";
        so.dim = 8;
        so.writable = 1;
        so.create = 1;
        so.encoder_spec = "";
        st = rg_store_open(index, &so);
        if (!st) { fprintf(stderr, "store: %s\n", rg_errmsg()); return 1; }
    }
    double t0 = rg_now(), cpu0 = cpu_now(), t_read = 0, t_parse = 0, t_chunk = 0, t_store = 0;
    rg_walk_opts wo = {0};
    rg_walk_entry *files = NULL;
    int nfiles = 0;
    if (rg_walk(corpus, &wo, &files, &nfiles) != 0) { fprintf(stderr, "walk: %s\n", rg_errmsg()); return 1; }
    int64_t bytes = 0, nchunks_total = 0, ndocs = 0, failures = 0;
    /* parse time and bytes per format, to say what bounds the run */
    const char *kinds[] = {"html", "markdown", "csv", "other"};
    double kt[4] = {0};
    int64_t kb[4] = {0};
    rg_chunk_opts co;
    rg_chunk_opts_default(&co);
    rg_buf readbuf = {0};   /* one buffer for every file, as ragd index reads them */
    for (int i = 0; i < nfiles; i++) {
        double a = cpu_now();
        int rrc = rg_read_file_into(files[i].path, (size_t)256 << 20, &readbuf);
        size_t len = readbuf.len;
        char *data = readbuf.data;
        double b = cpu_now();
        t_read += b - a;
        if (rrc != 0) { failures++; continue; }
        bytes += (int64_t)len;
        rg_doc **docs = NULL;
        int nd = 0;
        if (rg_parse_buffer(files[i].path, files[i].rel, data, len, NULL, &docs, &nd) != 0) {
            fprintf(stderr, "%s\n", rg_errmsg());
            failures++;
            continue;
        }
        double c = cpu_now();
        t_parse += c - b;
        int ki = 3;
        for (int q = 0; q < 3; q++) if (nd && strcmp(docs[0]->kind, kinds[q]) == 0) ki = q;
        kt[ki] += c - b;
        kb[ki] += (int64_t)len;
        char hash[65];
        rg_content_hash(data, len, NULL, 0, hash);   /* as ragd index stamps a source */
        for (int k = 0; k < nd; k++) {
            double c0 = cpu_now();
            rg_chunk *ch = NULL;
            int nch = 0;
            if (rg_chunk_doc(docs[k], &co, &ch, &nch) != 0) { failures++; continue; }
            double c1 = cpu_now();
            t_chunk += c1 - c0;
            if (st) {
                rg_source_stamp stamp = {hash, (int64_t)len, files[i].mtime, NULL, NULL};
                if (rg_store_put_doc(st, docs[k], &stamp, ch, nch, NULL) != 0) {
                    fprintf(stderr, "store: %s\n", rg_errmsg());
                    failures++;
                }
                t_store += cpu_now() - c1;
            }
            nchunks_total += nch;
            ndocs++;
            rg_chunks_free(ch, nch);
            rg_doc_free(docs[k]);
        }
        free(docs);
        if (st && batch) {
            double b0 = cpu_now();
            if (rg_store_batch_tick(st, (int64_t)len) != 0) { fprintf(stderr, "store: %s\n", rg_errmsg()); failures++; }
            t_store += cpu_now() - b0;
        }
    }
    if (st) {
        double f0 = cpu_now();
        if (rg_store_batch_commit(st) != 0) { fprintf(stderr, "store: %s\n", rg_errmsg()); failures++; }
        rg_store_flush(st);
        rg_store_close(st);
        t_store += cpu_now() - f0;
    }
    double dt = rg_now() - t0, cpu = cpu_now() - cpu0;
    rg_buf_free(&readbuf);
    rg_walk_free(files, nfiles);
    double mbs = bytes / 1048576.0;
    if (st) printf("store: %s\n", batch ? "batched transactions (rg_store_batch_tick)" : "one transaction per document");
    printf("ingested %d files, %lld documents, %.1f MB, %lld chunks, %lld failures in %.2fs (one core)\n",
           nfiles, (long long)ndocs, mbs, (long long)nchunks_total, (long long)failures, dt);
    printf("throughput: %.1f MB/s, %.0f chunks/s (wall); %.1f MB/s, %.0f chunks/s per CPU second (%.2f CPU s)\n",
           mbs / dt, nchunks_total / dt, mbs / cpu, nchunks_total / cpu, cpu);
    printf("stages (CPU s): read %.2fs, parse %.2fs (%.1f MB/s), chunk %.2fs (%.1f MB/s), store %.2fs%s\n", t_read, t_parse,
           mbs / (t_parse > 0 ? t_parse : 1e-9), t_chunk, mbs / (t_chunk > 0 ? t_chunk : 1e-9), t_store,
           st ? "" : " (skipped)");
    for (int q = 0; q < 4; q++)
        if (kb[q]) printf("  parse %-8s %7.1f MB in %6.2fs: %6.1f MB/s\n", kinds[q], kb[q] / 1048576.0, kt[q], kb[q] / 1048576.0 / (kt[q] > 0 ? kt[q] : 1e-9));
    printf("peak RSS: %.1f MB\n", rg_peak_rss_kb() / 1024.0);
    if (st) {
        /* what the store cost in I/O: bytes handed to write(2) and read(2) (SQLite's WAL, its
         * checkpoints, the database), source files included in the reads */
        FILE *io = fopen("/proc/self/io", "r");
        long long rchar = -1, wchar = -1;
        char line[128];
        while (io && fgets(line, sizeof line, io)) {
            sscanf(line, "rchar: %lld", &rchar);
            sscanf(line, "wchar: %lld", &wchar);
        }
        if (io) fclose(io);
        struct stat dbst;
        char dbpath[1200];
        snprintf(dbpath, sizeof dbpath, "%s/ragd.db", index);
        if (wchar >= 0 && stat(dbpath, &dbst) == 0)
            printf("I/O: %.0f MB written (%.2f per source byte), %.0f MB read; ragd.db %.0f MB\n", wchar / 1048576.0,
                   wchar / (double)(bytes > 0 ? bytes : 1), rchar / 1048576.0, dbst.st_size / 1048576.0);
    }
    if (mb > 0 && strncmp(dir, "/tmp/", 5) == 0 && !getenv("RAGD_BENCH_KEEP")) {
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system(cmd) != 0) return 1;
    }
    return failures ? 1 : 0;
}
