/* bench/search: retrieval latency at scale.
 * Builds an index of N synthetic chunks (default 1,000,000) of report-like text with
 * 384-dimension vectors (random but clustered: each document belongs to a topic whose words
 * and vector centre its chunks share), through the store API, then measures p50/p99 latency
 * of BM25, dense and hybrid search (query embedding excluded, and included with the hashing
 * encoder), recall@10 of the FAISS index against exact search, index size on disk, peak RSS.
 *   usage: bench/search [N] [DIR] [QUERIES]     (DIR default /tmp/ragd-bench-search, removed
 *          first; kept afterwards so a rerun with N=0 measures the existing index)
 * The FAISS tier follows the size (flat below 50k, IVF-Flat, IVF-PQ from 2M);
 * RAGD_VEC_IVF_THRESHOLD / RAGD_VEC_PQ_THRESHOLD move the thresholds to measure a tier on a
 * smaller set (they act when the index is saved). RAGD_BENCH_MMAP=1 reads the database as
 * the daemon's workers do (SQLite mmap and an 8 MB page cache, rg_store_tune_reads). */
#include "core/util.h"
#include "index/store.h"
#include "retrieve/search.h"
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define DIM 384
#define CHUNKS_PER_DOC 100
#define NTOPICS 1000
#define VOCAB 20000
#define TOPIC_WORDS 40
#define WORDS_PER_CHUNK 48

static uint64_t rng = 0x9E3779B97F4A7C15ULL;
static inline uint64_t next_u64(void) {
    rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
    return rng;
}
static inline double next_unit(void) { return (double)(next_u64() >> 11) / 9007199254740992.0; }
static inline float next_gauss(void) {
    double u = next_unit(), v = next_unit();
    if (u < 1e-300) u = 1e-300;
    return (float)(sqrt(-2 * log(u)) * cos(6.283185307179586 * v));
}

static const char *base_words[] = {
    "revenue", "income", "operating", "net", "gross", "margin", "profit", "loss", "expenses", "costs",
    "assets", "liabilities", "equity", "cash", "flow", "capital", "debt", "interest", "tax", "deferred",
    "share", "shares", "stock", "dividend", "earnings", "fiscal", "year", "quarter", "segment", "sales",
    "customers", "contracts", "goodwill", "intangible", "amortization", "depreciation", "lease", "inventory",
    "receivable", "payable", "accrued", "pension", "compensation", "acquisition", "impairment", "restructuring",
    "currency", "exchange", "growth", "decline", "increase", "decrease", "compared", "primarily", "due",
    "total", "adjusted", "million", "billion", "percent", "basis", "points", "guidance", "outlook", "risk",
};

static char vocab[VOCAB][16];
static int topic_words[NTOPICS][TOPIC_WORDS];
static float *centres;

static void make_vocab(void) {
    int nb = (int)(sizeof base_words / sizeof *base_words);
    for (int i = 0; i < VOCAB; i++) {
        if (i < nb) { snprintf(vocab[i], sizeof vocab[i], "%s", base_words[i]); continue; }
        int len = 5 + (int)(next_u64() % 5);
        for (int j = 0; j < len; j++) vocab[i][j] = (char)('a' + next_u64() % 26);
        vocab[i][len] = 0;
    }
    for (int t = 0; t < NTOPICS; t++)
        for (int j = 0; j < TOPIC_WORDS; j++) topic_words[t][j] = 200 + (int)(next_u64() % (VOCAB - 200));
    centres = xmalloc((size_t)NTOPICS * DIM * sizeof *centres);
    for (int t = 0; t < NTOPICS; t++) {
        double n = 0;
        for (int j = 0; j < DIM; j++) { centres[t * DIM + j] = next_gauss(); n += centres[t * DIM + j] * centres[t * DIM + j]; }
        for (int j = 0; j < DIM; j++) centres[t * DIM + j] = (float)(centres[t * DIM + j] / sqrt(n));
    }
}

/* General words follow a Zipf-like law: index = VOCAB^u - 1 concentrates on the first ones. */
static int general_word(void) { return (int)(pow((double)VOCAB, next_unit()) - 1) % VOCAB; }

static void make_text(rg_buf *b, int topic) {
    b->len = 0;
    for (int w = 0; w < WORDS_PER_CHUNK; w++) {
        int id = (next_u64() % 10 < 4) ? topic_words[topic][next_u64() % TOPIC_WORDS] : general_word();
        if (w) rg_buf_putc(b, ' ');
        rg_buf_puts(b, vocab[id]);
        if (w % 12 == 11) rg_buf_printf(b, " %d: %d,%03d.%d", 2015 + (int)(next_u64() % 10),
                                        (int)(next_u64() % 999), (int)(next_u64() % 1000), (int)(next_u64() % 10));
    }
    rg_buf_putc(b, 0);
}

static void make_vec(float *v, int topic, float sigma) {
    double n = 0;
    const float s = sigma / sqrtf((float)DIM);
    for (int j = 0; j < DIM; j++) { v[j] = centres[topic * DIM + j] + s * next_gauss(); n += v[j] * v[j]; }
    float inv = (float)(1 / sqrt(n));
    for (int j = 0; j < DIM; j++) v[j] *= inv;
}

/* CPU seconds of this thread: the machine may be shared, so wall-clock latency is reported
 * next to the CPU time a query costs. */
static double cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double *cpu_ms;

static void pct(const char *what, double *ms, int n) {
    qsort(ms, (size_t)n, sizeof *ms, cmp_double);
    qsort(cpu_ms, (size_t)n, sizeof *cpu_ms, cmp_double);
    double sum = 0;
    for (int i = 0; i < n; i++) sum += ms[i];
    int p99 = (int)ceil(0.99 * n) - 1;
    if (p99 < 0) p99 = 0;
    printf("  %-34s wall p50 %7.2f p99 %7.2f mean %7.2f ms | cpu p50 %7.2f p99 %7.2f ms\n", what, ms[n / 2], ms[p99],
           sum / n, cpu_ms[n / 2], cpu_ms[p99]);
}

/* The FAISS index type, from the file's four-character code. */
static const char *faiss_kind(const char *dir) {
    char *p = xasprintf("%s/vectors.faiss", dir);
    FILE *f = fopen(p, "rb");
    free(p);
    char cc[5] = {0};
    if (!f) return "none";
    size_t got = fread(cc, 1, 4, f);
    fclose(f);
    if (got != 4) return "unreadable";
    if (memcmp(cc, "IxM2", 4) == 0) return "flat";
    if (memcmp(cc, "IwFl", 4) == 0) return "ivf-flat";
    if (memcmp(cc, "IwPQ", 4) == 0) return "ivf-pq";
    return "other";
}

static int64_t fsize(const char *dir, const char *name) {
    char *p = xasprintf("%s/%s", dir, name);
    struct stat st;
    int64_t n = stat(p, &st) == 0 ? (int64_t)st.st_size : 0;
    free(p);
    return n;
}

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 1000000;
    const char *dir = argc > 2 ? argv[2] : "/tmp/ragd-bench-search";
    int nq = argc > 3 ? atoi(argv[3]) : 200;
    if (n < 0 || n > 100000000 || nq < 1 || nq > 100000) { fprintf(stderr, "usage: search [N] [DIR] [QUERIES]\n"); return 2; }
    make_vocab();
    int ndocs = (int)((n + CHUNKS_PER_DOC - 1) / CHUNKS_PER_DOC);
    float *allvec = NULL;   /* kept for exact recall */
    int built = n > 0;
    if (n == 0) {   /* measure an existing index: its documents were made in the same order */
        rg_store_opts ro = {.writable = 0};
        rg_store *s = rg_store_open(dir, &ro);
        rg_store_stats st;
        if (!s || rg_store_stats_get(s, &st) != 0 || st.documents < 1) { fprintf(stderr, "bench: %s: no index\n", dir); return 1; }
        ndocs = (int)st.documents;
        rg_store_close(s);
        char *vp = xasprintf("%s/bench_vectors.f32", dir);
        size_t len = 0;
        char *data = rg_read_file(vp, (size_t)64 << 30, &len);
        free(vp);
        if (data && len % (sizeof(float) * DIM) == 0) { allvec = (float *)data; n = (long)(len / (sizeof(float) * DIM)); }
        else free(data);
    }
    int *doc_topic = xmalloc(((size_t)ndocs + 1) * sizeof *doc_topic);
    for (int d = 0; d < ndocs; d++) doc_topic[d] = (int)(next_u64() % NTOPICS);
    if (built) {
        char *cmd = xasprintf("rm -rf '%s'", dir);
        if (strncmp(dir, "/tmp/", 5) == 0 && system(cmd) != 0) fprintf(stderr, "could not clear %s\n", dir);
        free(cmd);
        rg_store_opts so = {.encoder = "bench-384", .dim = DIM, .writable = 1, .create = 1, .encoder_spec = "hash"};
        rg_store *s = rg_store_open(dir, &so);
        if (!s) { fprintf(stderr, "bench: %s\n", rg_errmsg()); return 1; }
        allvec = xmalloc((size_t)n * DIM * sizeof *allvec);
        double t0 = rg_now(), tgen = 0;
        rg_chunk *chunks = xcalloc(CHUNKS_PER_DOC, sizeof *chunks);
        rg_buf texts[CHUNKS_PER_DOC];
        memset(texts, 0, sizeof texts);
        long done = 0;
        for (int d = 0; d < ndocs; d++) {
            double tg = rg_now();
            int nc = (int)(n - done < CHUNKS_PER_DOC ? n - done : CHUNKS_PER_DOC);
            char id[32], src[64], meta[64], sec[64];
            snprintf(id, sizeof id, "report-%07d", d);
            snprintf(src, sizeof src, "/bench/%03d/report-%07d.txt", d % 100, d);
            snprintf(meta, sizeof meta, "{\"year\": %d, \"company\": \"C%d\"}", 2015 + d % 10, doc_topic[d]);
            snprintf(sec, sizeof sec, "Annual report %d > Results", d);
            rg_doc *doc = rg_doc_new(id, src, "text");
            doc->meta_json = xstrdup(meta);
            for (int c = 0; c < nc; c++) {
                make_text(&texts[c], doc_topic[d]);
                memset(&chunks[c], 0, sizeof chunks[c]);
                chunks[c].kind = RG_CHUNK_TEXT;
                chunks[c].text = texts[c].data;
                chunks[c].section = sec;
                chunks[c].parent = -1;
                chunks[c].table_index = -1;
                chunks[c].offset = -1;
                chunks[c].ntokens = WORDS_PER_CHUNK;
                make_vec(allvec + (size_t)(done + c) * DIM, doc_topic[d], 0.9f);
            }
            tgen += rg_now() - tg;
            if (rg_store_put_doc(s, doc, NULL, chunks, nc, allvec + (size_t)done * DIM) != 0) {
                fprintf(stderr, "bench: %s\n", rg_errmsg());
                return 1;
            }
            rg_doc_free(doc);
            done += nc;
            /* stored as `ragd index` stores: documents batched into transactions */
            if (rg_store_batch_tick(s, (int64_t)nc * WORDS_PER_CHUNK * 6) != 0) {
                fprintf(stderr, "bench: %s\n", rg_errmsg());
                return 1;
            }
            if ((d + 1) % 1000 == 0) {
                fprintf(stderr, "\r%ld chunks, %.0f s", done, rg_now() - t0);
            }
        }
        fprintf(stderr, "\n");
        for (int c = 0; c < CHUNKS_PER_DOC; c++) rg_buf_free(&texts[c]);
        free(chunks);
        if (rg_store_batch_commit(s) != 0) { fprintf(stderr, "bench: %s\n", rg_errmsg()); return 1; }
        double tput = rg_now() - t0;
        double tf = rg_now();
        if (rg_store_flush(s) != 0) { fprintf(stderr, "bench: %s\n", rg_errmsg()); return 1; }
        tf = rg_now() - tf;
        rg_store_close(s);
        /* the vectors, for exact recall when a later run measures this index (N = 0) */
        char *vp = xasprintf("%s/bench_vectors.f32", dir);
        FILE *vf = fopen(vp, "wb");
        if (!vf || fwrite(allvec, sizeof(float) * DIM, (size_t)n, vf) != (size_t)n) fprintf(stderr, "bench: cannot write %s\n", vp);
        if (vf) fclose(vf);
        free(vp);
        printf("build: %ld chunks in %.1f s (generation %.1f s, store %.1f s, %.0f chunks/s), FAISS save+index build %.1f s\n",
               n, tput + tf, tgen, tput - tgen, n / (tput + tf), tf);
    }
    double to = rg_now();
    rg_store_opts ro = {.writable = 0};
    rg_store *s = rg_store_open(dir, &ro);
    if (!s) { fprintf(stderr, "bench: %s\n", rg_errmsg()); return 1; }
    if (getenv("RAGD_BENCH_MMAP")) rg_store_tune_reads(s, (int64_t)1 << 30, 8192);
    to = rg_now() - to;
    rg_store_stats stt;
    rg_store_stats_get(s, &stt);
    printf("index: %lld chunks, %lld vectors, FAISS %s; open (read-only) %.2f s\n", (long long)stt.chunks,
           (long long)stt.faiss_vectors, faiss_kind(dir), to);
    printf("disk: ragd.db %.1f MB (+wal %.1f MB), vectors.faiss %.1f MB\n", fsize(dir, "ragd.db") / 1e6,
           fsize(dir, "ragd.db-wal") / 1e6, fsize(dir, "vectors.faiss") / 1e6);

    /* Queries: a topic's words and a vector near its centre. */
    rg_encoder *hash = rg_hash_encoder_new(DIM);
    char **qtext = xmalloc((size_t)nq * sizeof *qtext);
    float *qvec = xmalloc((size_t)nq * DIM * sizeof *qvec);
    rg_buf b = {0};
    for (int i = 0; i < nq; i++) {
        int t = doc_topic[next_u64() % (uint64_t)ndocs];
        b.len = 0;
        int words = 3 + (int)(next_u64() % 4);
        for (int w = 0; w < words; w++) {
            if (w) rg_buf_putc(&b, ' ');
            rg_buf_puts(&b, w % 3 == 2 ? vocab[general_word()] : vocab[topic_words[t][next_u64() % TOPIC_WORDS]]);
        }
        qtext[i] = xstrdup(b.data);
        make_vec(qvec + (size_t)i * DIM, t, 0.9f);
    }
    rg_buf_free(&b);
    double *ms = xmalloc((size_t)nq * sizeof *ms);
    cpu_ms = xmalloc((size_t)nq * sizeof *cpu_ms);
    const char *names[] = {"bm25", "dense (no embedding)", "hybrid (no embedding)"};
    rg_search_mode modes[] = {RG_MODE_BM25, RG_MODE_DENSE, RG_MODE_HYBRID};
    printf("latency over %d queries, k=10, 50 candidates per side:\n", nq);
    int64_t *dense_top = xmalloc((size_t)nq * 10 * sizeof *dense_top);
    for (int m = 0; m < 3; m++) {
        rg_search_opts o;
        rg_search_opts_default(&o);
        o.mode = modes[m];
        double stage[4] = {0, 0, 0, 0};
        for (int i = 0; i < nq; i++) {
            rg_results r;
            double t = rg_now(), c0 = cpu_now();
            if (rg_search_vec(s, qtext[i], qvec + (size_t)i * DIM, &o, &r) != 0) { fprintf(stderr, "bench: %s\n", rg_errmsg()); return 1; }
            ms[i] = (rg_now() - t) * 1e3;
            cpu_ms[i] = (cpu_now() - c0) * 1e3;
            stage[0] += r.t_bm25; stage[1] += r.t_dense; stage[2] += r.t_fuse; stage[3] += r.t_fetch;
            if (modes[m] == RG_MODE_DENSE)
                for (int j = 0; j < 10; j++) dense_top[i * 10 + j] = j < r.n ? r.v[j].chunk_id : -1;
            rg_results_free(&r);
        }
        pct(names[m], ms, nq);
        printf("  %34s stage means: bm25 %.2f, dense %.2f, fuse %.2f, fetch %.2f ms\n", "", stage[0] / nq * 1e3,
               stage[1] / nq * 1e3, stage[2] / nq * 1e3, stage[3] / nq * 1e3);
    }
    {   /* with the query embedded (hashing encoder at 384 dims; cache cleared: all distinct) */
        rg_search_opts o;
        rg_search_opts_default(&o);
        rg_query_cache_clear();
        for (int i = 0; i < nq; i++) {
            rg_results r;
            double t = rg_now(), c0 = cpu_now();
            if (rg_search(s, hash, qtext[i], &o, &r) != 0) { fprintf(stderr, "bench: %s\n", rg_errmsg()); return 1; }
            ms[i] = (rg_now() - t) * 1e3;
            cpu_ms[i] = (cpu_now() - c0) * 1e3;
            rg_results_free(&r);
        }
        pct("hybrid (with hash-384 embedding)", ms, nq);
        /* a metadata filter matching a tenth of the corpus, applied inside both searches */
        o.filter.nmeta = 1;
        o.filter.meta_key[0] = "year";
        o.filter.meta_value[0] = "2019";
        double stage[4] = {0, 0, 0, 0};
        for (int i = 0; i < nq; i++) {
            rg_results r;
            double t = rg_now(), c0 = cpu_now();
            if (rg_search_vec(s, qtext[i], qvec + (size_t)i * DIM, &o, &r) != 0) { fprintf(stderr, "bench: %s\n", rg_errmsg()); return 1; }
            ms[i] = (rg_now() - t) * 1e3;
            cpu_ms[i] = (cpu_now() - c0) * 1e3;
            stage[0] += r.t_bm25; stage[1] += r.t_dense; stage[2] += r.t_fuse; stage[3] += r.t_fetch;
            rg_results_free(&r);
        }
        pct("hybrid, filter year=2019 (10%)", ms, nq);
        printf("  %34s stage means: bm25 %.2f, dense %.2f, fuse %.2f, fetch %.2f ms\n", "", stage[0] / nq * 1e3,
               stage[1] / nq * 1e3, stage[2] / nq * 1e3, stage[3] / nq * 1e3);
    }
    if (allvec) {
        /* recall@10 of the FAISS index against exact inner-product search; chunk ids are
         * 1..N in insertion order in a fresh database */
        int nr = nq < 100 ? nq : 100;
        long hit = 0;
        float *sc = xmalloc((size_t)n * sizeof *sc);
        for (int i = 0; i < nr; i++) {
            const float *q = qvec + (size_t)i * DIM;
            for (long c = 0; c < n; c++) {
                const float *v = allvec + (size_t)c * DIM;
                float dot = 0;
                for (int j = 0; j < DIM; j++) dot += v[j] * q[j];
                sc[c] = dot;
            }
            long top[10];
            for (int j = 0; j < 10; j++) top[j] = -1;
            for (long c = 0; c < n; c++) {
                int pos = 10;
                while (pos > 0 && (top[pos - 1] < 0 || sc[c] > sc[top[pos - 1]])) pos--;
                if (pos >= 10) continue;
                memmove(top + pos + 1, top + pos, (size_t)(9 - pos) * sizeof *top);
                top[pos] = c;
            }
            for (int j = 0; j < 10; j++)
                for (int l = 0; l < 10; l++)
                    if (top[j] >= 0 && dense_top[i * 10 + l] == top[j] + 1) { hit++; break; }
        }
        free(sc);
        printf("dense recall@10 vs exact: %.3f (%d queries)\n", (double)hit / (nr * 10.0), nr);
    }
    printf("peak RSS %.0f MB\n", rg_peak_rss_kb() / 1024.0);
    for (int i = 0; i < nq; i++) free(qtext[i]);
    free(qtext); free(qvec); free(ms); free(cpu_ms); free(dense_top); free(allvec); free(doc_topic); free(centres);
    rg_encoder_free(hash);
    rg_store_close(s);
    return 0;
}
