/* Encoder throughput: builds random-weight models with the exact shape of bge-small-en-v1.5
 * (12 layers, hidden 384, 12 heads, FFN 1536, vocab 30522 = the real bert-base-uncased
 * vocabulary from ../shared, 512 positions) in F32, F16 and Q8_0 in a temporary directory,
 * tokenises the first 64 paragraphs of the TAT-QA dev set, embeds them with 1 and 2 threads
 * and prints tokens/s and the peak RSS of each run (each run in its own fresh process).
 * Then a cross-encoder reranker with the shape of ms-marco-MiniLM-L-6-v2 (6 layers, hidden 384,
 * random weights, F32) scores 50 passages of about 100 tokens against one query: pairs/s.
 * Usage: bench/embed [types (default f32,f16,q8_0,rerank)] [threads (default 1,2)] [repeats (3)]
 *        bench/embed matmul   -- one-thread GFLOPS of our F32 matmul vs OpenBLAS sgemm on the
 *                                model's shapes (CPU time, so other load matters less)
 * Env: RAGD_SHARED, RAGD_KERNELS=scalar. */
#include "core/util.h"
#include "embed/bert.h"
#include "embed/rerank.h"
#include "nn/gguf_write.h"
#include "nn/kernels.h"
#include "nn/tensor.h"
#include "nn/wordpiece.h"
#include <cblas.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#define D 384
#define LAYERS 12
#define HEADS 12
#define FF 1536
#define CTX 512
#define NPARA 64

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static float nrand(void) {      /* roughly N(0,1): sum of 4 uniforms, scaled */
    float s = 0;
    for (int i = 0; i < 4; i++) {
        rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
        s += (float)((rng >> 40) * (1.0 / (1ull << 24))) - 0.5f;
    }
    return s * 1.7320508f;
}

typedef struct { char *name; int64_t ne[2]; int nd; float *f; void *enc; size_t nbytes; } bt;

static void *encode(int type, const float *f, int64_t n, size_t *nbytes) {
    size_t nb = rg_type_row_bytes(type, n);
    uint8_t *o = xmalloc(nb);
    if (type == RG_TYPE_F32) memcpy(o, f, nb);
    else if (type == RG_TYPE_F16)
        for (int64_t i = 0; i < n; i++) { uint16_t h = rg_f32_to_f16(f[i]); memcpy(o + 2 * i, &h, 2); }
    else rg_quantize_q8_0(f, (rg_block_q8_0 *)(void *)o, n);
    *nbytes = nb;
    return o;
}

/* layers: the block count; rerank: add llama.cpp's classification head (pooling type 4). */
static int write_model(const char *path, int type, char **vocab, size_t nv, int layers, int rerank) {
    rg_gguf_writer *w = rg_gguf_writer_new();
    rg_gguf_w_str(w, "general.architecture", "bert");
    rg_gguf_w_str(w, "general.name", rerank ? "random-minilm-l6-reranker-shape" : "random-bge-small-shape");
    rg_gguf_w_u32(w, "bert.context_length", CTX);
    rg_gguf_w_u32(w, "bert.embedding_length", D);
    rg_gguf_w_u32(w, "bert.feed_forward_length", FF);
    rg_gguf_w_u32(w, "bert.block_count", (uint32_t)layers);
    rg_gguf_w_u32(w, "bert.attention.head_count", HEADS);
    rg_gguf_w_f32(w, "bert.attention.layer_norm_epsilon", 1e-12f);
    rg_gguf_w_u32(w, "bert.pooling_type", rerank ? 4 : 2);
    rg_gguf_w_str(w, "tokenizer.ggml.model", "bert");
    /* llama.cpp spelling of the vocabulary */
    char **ph = xmalloc(nv * sizeof *ph);
    int32_t *tt = xmalloc(nv * sizeof *tt);
    for (size_t i = 0; i < nv; i++) {
        size_t l = strlen(vocab[i]);
        int special = l >= 2 && vocab[i][0] == '[' && vocab[i][l - 1] == ']';
        tt[i] = special ? 3 : 1;
        ph[i] = special ? xstrdup(vocab[i]) : !strncmp(vocab[i], "##", 2) ? xstrdup(vocab[i] + 2)
                                                                          : xasprintf("\xe2\x96\x81%s", vocab[i]);
    }
    rg_gguf_w_str_arr(w, "tokenizer.ggml.tokens", (const char *const *)ph, nv);
    rg_gguf_w_i32_arr(w, "tokenizer.ggml.token_type", tt, nv);
    bt ts[12 + LAYERS * 16];
    int n = 0;
#define ADD(nm, a, b, std, one) do {                                                           \
        bt *t = &ts[n++];                                                                      \
        t->name = nm; t->ne[0] = a; t->ne[1] = b; t->nd = b > 1 ? 2 : 1;                       \
        int64_t cnt = (int64_t)(a) * (b);                                                      \
        t->f = xmalloc((size_t)cnt * sizeof(float));                                           \
        for (int64_t i = 0; i < cnt; i++) t->f[i] = (one) + (std) * nrand();                   \
        t->enc = encode(t->nd == 2 ? type : RG_TYPE_F32, t->f, cnt, &t->nbytes);               \
        free(t->f);                                                                            \
        rg_gguf_w_tensor(w, t->name, t->nd == 2 ? type : RG_TYPE_F32, t->nd, t->ne, t->enc, t->nbytes); \
    } while (0)
    ADD(xstrdup("token_embd.weight"), D, (int64_t)nv, 0.05f, 0);
    ADD(xstrdup("position_embd.weight"), D, CTX, 0.02f, 0);
    ADD(xstrdup("token_types.weight"), D, 2, 0.02f, 0);
    ADD(xstrdup("token_embd_norm.weight"), D, 1, 0.05f, 1);
    ADD(xstrdup("token_embd_norm.bias"), D, 1, 0.02f, 0);
    if (rerank) {
        ADD(xstrdup("cls.weight"), D, D, 0.05f, 0);
        ADD(xstrdup("cls.bias"), D, 1, 0.02f, 0);
        ADD(xstrdup("cls.output.weight"), D, 1, 0.05f, 0);
        ADD(xstrdup("cls.output.bias"), 1, 1, 0.02f, 0);
    }
    for (int l = 0; l < layers && l < LAYERS; l++) {
        static const char *sq[] = { "attn_q", "attn_k", "attn_v", "attn_output" };
        for (int k = 0; k < 4; k++) {
            ADD(xasprintf("blk.%d.%s.weight", l, sq[k]), D, D, 0.05f, 0);
            ADD(xasprintf("blk.%d.%s.bias", l, sq[k]), D, 1, 0.02f, 0);
        }
        ADD(xasprintf("blk.%d.attn_output_norm.weight", l), D, 1, 0.05f, 1);
        ADD(xasprintf("blk.%d.attn_output_norm.bias", l), D, 1, 0.02f, 0);
        ADD(xasprintf("blk.%d.ffn_up.weight", l), D, FF, 0.05f, 0);
        ADD(xasprintf("blk.%d.ffn_up.bias", l), FF, 1, 0.02f, 0);
        ADD(xasprintf("blk.%d.ffn_down.weight", l), FF, D, 0.03f, 0);
        ADD(xasprintf("blk.%d.ffn_down.bias", l), D, 1, 0.02f, 0);
        ADD(xasprintf("blk.%d.layer_output_norm.weight", l), D, 1, 0.05f, 1);
        ADD(xasprintf("blk.%d.layer_output_norm.bias", l), D, 1, 0.02f, 0);
    }
    int rc = rg_gguf_writer_save(w, path);
    rg_gguf_writer_free(w);
    for (int i = 0; i < n; i++) { free(ts[i].name); free(ts[i].enc); }
    for (size_t i = 0; i < nv; i++) free(ph[i]);
    free(ph);
    free(tt);
    return rc;
}

static double cpu_seconds(void) {        /* user + system time of the whole process */
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6 + (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec * 1e-6;
}

/* Child (a fresh process): load the model, embed the paragraphs `repeats` times, print the
 * best rate. */
static void run_child(const char *path, const char *type, int threads, char **para, int np, int repeats) {
    double t0 = rg_now();
    rg_bert *m = rg_bert_load(path, threads);
    if (!m) { fprintf(stderr, "bench: %s\n", rg_errmsg()); _exit(1); }
    double tload = rg_now() - t0;
    int tokens = 0;
    int32_t *ids = xmalloc(CTX * sizeof *ids);
    for (int i = 0; i < np; i++) tokens += rg_wordpiece_encode(rg_bert_tokenizer(m), para[i], strlen(para[i]), ids, CTX);
    free(ids);
    float *out = xmalloc((size_t)np * D * sizeof *out);
    rg_bert_embed_texts(m, (const char *const *)para, 4, 0, out);     /* warm the mapping */
    double best = 1e30, best_cpu = 1e30;
    for (int r = 0; r < repeats; r++) {
        double t = rg_now(), c = cpu_seconds();
        if (rg_bert_embed_texts(m, (const char *const *)para, np, 0, out)) { fprintf(stderr, "bench: %s\n", rg_errmsg()); _exit(1); }
        t = rg_now() - t;
        c = cpu_seconds() - c;
        if (t < best) best = t;
        if (c < best_cpu) best_cpu = c;
    }
    /* latency of one short query (with the model's query prefix), as a search would see it */
    const char *q[1] = { "What is the average voyage revenue in 2018 and 2019?" };
    double ql = 1e30, qc = 1e30;
    for (int r = 0; r < 5; r++) {
        double t = rg_now(), c = cpu_seconds();
        rg_bert_embed_texts(m, q, 1, 1, out);
        t = rg_now() - t;
        c = cpu_seconds() - c;
        if (t < ql) ql = t;
        if (c < qc) qc = c;
    }
    /* CPU time shows the work done even when other processes share the cores: on a busy
     * machine wall-clock rates understate what an idle one does. */
    printf("%-5s threads=%d kernels=%-8s tokens=%d  wall %.3f s = %5.0f tokens/s  cpu %.3f s = %5.0f tokens/cpu-s"
           "  query %.0f ms (cpu %.0f ms)  load %.2f s  peak RSS %ld MiB\n",
           type, threads, rg_kernels_name(RG_IMPL_AUTO), tokens, best, tokens / best, best_cpu,
           tokens / best_cpu, ql * 1e3, qc * 1e3, tload, rg_peak_rss_kb() / 1024);
    fflush(stdout);
    free(out);
    rg_bert_free(m);
    _exit(0);
}

/* Child: the reranker scores 50 passages of 100 word pieces (the paragraphs' words in order,
 * cut into pieces of 98 tokens + [CLS] + [SEP]) for one question; prints pairs/s. */
static void run_rerank(const char *path, int threads, char **para, int np, int repeats) {
    rg_reranker *r = rg_reranker_open(path, threads);
    if (!r) { fprintf(stderr, "bench: %s\n", rg_errmsg()); _exit(1); }
    enum { NPAS = 50, PTOK = 100 };
    char *pas[NPAS];
    rg_gguf *g = rg_gguf_open(path);
    rg_wordpiece *wp = g ? rg_wordpiece_from_gguf(g, -1) : NULL;
    if (!wp) { fprintf(stderr, "bench: %s\n", rg_errmsg()); _exit(1); }
    rg_buf all = {0};
    for (int i = 0; i < np; i++) { rg_buf_put(&all, para[i], strlen(para[i])); rg_buf_put(&all, " ", 1); }
    int32_t ids[CTX];
    const char *t = all.data, *end = all.data + all.len;
    long tokens = 0;
    for (int i = 0; i < NPAS; i++) {
        const char *e = t;
        while (e < end) {                 /* add words while the passage stays within PTOK ids */
            const char *f = e;
            while (f < end && *f == ' ') f++;
            while (f < end && *f != ' ') f++;
            if (rg_wordpiece_encode(wp, t, (size_t)(f - t), ids, CTX) > PTOK) break;
            e = f;
        }
        if (e == t && t != all.data) { t = all.data; i--; continue; }   /* from the start again */
        pas[i] = xstrndup(t, (size_t)(e - t));
        tokens += rg_wordpiece_encode(wp, pas[i], strlen(pas[i]), ids, CTX);
        t = e;
    }
    const char *q = "What is the average voyage revenue in 2018 and 2019?";
    tokens += NPAS * (rg_wordpiece_encode(wp, q, strlen(q), ids, CTX) - 1);   /* pair = q + p - 1 */
    rg_wordpiece_free(wp);
    rg_gguf_close(g);
    rg_buf_free(&all);
    float sc[NPAS];
    rg_reranker_score(r, q, (const char *const *)pas, 4, sc);       /* warm the mapping */
    double best = 1e30, best_cpu = 1e30;
    for (int k = 0; k < repeats; k++) {
        double t = rg_now(), c = cpu_seconds();
        if (rg_reranker_score(r, q, (const char *const *)pas, NPAS, sc)) { fprintf(stderr, "bench: %s\n", rg_errmsg()); _exit(1); }
        t = rg_now() - t;
        c = cpu_seconds() - c;
        if (t < best) best = t;
        if (c < best_cpu) best_cpu = c;
    }
    printf("rerank threads=%d: MiniLM-L6 shape (6 x 384, F32), %d pairs (%ld tokens): wall %.0f ms = %.0f pairs/s"
           "  cpu %.0f ms = %.0f pairs/cpu-s  peak RSS %ld MiB\n", threads, NPAS, tokens, best * 1e3, NPAS / best,
           best_cpu * 1e3, NPAS / best_cpu, rg_peak_rss_kb() / 1024);
    fflush(stdout);
    for (int i = 0; i < NPAS; i++) free(pas[i]);
    rg_reranker_close(r);
    _exit(0);
}

/* Our kernel against OpenBLAS sgemm (both one thread) on the encoder's matmul shapes. */
static int matmul_compare(void) {
    static const int shapes[][3] = { { 3790, 384, 384 }, { 3790, 384, 1536 }, { 3790, 1536, 384 } };
    openblas_set_num_threads(1);
    for (size_t s = 0; s < 3; s++) {
        int T = shapes[s][0], K = shapes[s][1], N = shapes[s][2];
        float *X = xmalloc(sizeof(float) * T * K), *W = xmalloc(sizeof(float) * N * K);
        float *Y = xmalloc(sizeof(float) * T * N), *bias = xcalloc((size_t)N, sizeof(float));
        for (size_t i = 0; i < (size_t)T * K; i++) X[i] = nrand();
        for (size_t i = 0; i < (size_t)N * K; i++) W[i] = nrand();
        rg_epilogue ep = { bias, NULL, 0 };
        double best_own = 1e30, best_blas = 1e30;
        for (int r = 0; r < 5; r++) {
            double c = cpu_seconds();
            rg_matmul(NULL, RG_IMPL_AUTO, X, T, K, W, RG_TYPE_F32, N, &ep, Y);
            c = cpu_seconds() - c;
            if (c < best_own) best_own = c;
            c = cpu_seconds();
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, N, K, 1.0f, X, K, W, K, 0.0f, Y, N);
            c = cpu_seconds() - c;
            if (c < best_blas) best_blas = c;
        }
        double fl = 2.0 * T * K * N;
        printf("matmul T=%d K=%d N=%d: ours %.1f GFLOPS, OpenBLAS sgemm %.1f GFLOPS (per CPU-second, 1 thread)\n",
               T, K, N, fl / best_own / 1e9, fl / best_blas / 1e9);
        free(X); free(W); free(Y); free(bias);
    }
    return 0;
}

/* The first NPARA paragraph texts of the TAT-QA dev set, or -1. */
static int load_paragraphs(const char *sh, char **para) {
    char p[1024];
    snprintf(p, sizeof p, "%s/data/tatqa/tatqa_dataset_dev.json", sh);
    json_error_t jerr;
    json_t *ds = json_load_file(p, 0, &jerr);
    if (!ds) { fprintf(stderr, "bench: %s: %s\n", p, jerr.text); return -1; }
    int np = 0;
    for (size_t i = 0; i < json_array_size(ds) && np < NPARA; i++) {
        json_t *ps = json_object_get(json_array_get(ds, i), "paragraphs");
        for (size_t k = 0; k < json_array_size(ps) && np < NPARA; k++) {
            const char *t = json_string_value(json_object_get(json_array_get(ps, k), "text"));
            if (t) para[np++] = xstrdup(t);
        }
    }
    json_decref(ds);
    return np;
}

int main(int argc, char **argv) {
    const char *types = argc > 1 ? argv[1] : "f32,f16,q8_0,rerank", *threads = argc > 2 ? argv[2] : "1,2";
    int repeats = argc > 3 ? atoi(argv[3]) : 3;
    if (argc == 2 && !strcmp(argv[1], "matmul")) return matmul_compare();
    const char *sh = getenv("RAGD_SHARED");
    if (!sh) sh = "../shared";
    if (argc == 6 && !strcmp(argv[1], "--run")) {    /* a fresh process per run: own peak RSS */
        char *para[NPARA];
        int np = load_paragraphs(sh, para);
        if (np < 0) return 1;
        if (!strcmp(argv[3], "rerank")) run_rerank(argv[2], atoi(argv[4]), para, np, atoi(argv[5]));
        run_child(argv[2], argv[3], atoi(argv[4]), para, np, atoi(argv[5]));
    }
    char p[1024];
    snprintf(p, sizeof p, "%s/data/tokenizers/bert-base-uncased-vocab.txt", sh);
    size_t len;
    char *vt = rg_read_file(p, 16 << 20, &len);
    if (!vt) { fprintf(stderr, "bench: %s (set RAGD_SHARED)\n", rg_errmsg()); return 1; }
    char **vocab = NULL;
    size_t nv = 0;
    for (char *s = vt, *e; s < vt + len; s = e + 1) {
        e = strchr(s, '\n');
        if (!e) e = vt + len;
        vocab = xrealloc(vocab, (nv + 1) * sizeof *vocab);
        vocab[nv++] = xstrndup(s, (size_t)(e - s));
    }
    char *para[NPARA];
    int np = load_paragraphs(sh, para);
    if (np < 0) return 1;
    char tmpl[] = "/tmp/ragd-bench-XXXXXX";
    char *dir = mkdtemp(tmpl);
    if (!dir) { perror("mkdtemp"); return 1; }
    printf("bench/embed: random weights, bge-small-en-v1.5 shape (12 x 384, 12 heads, FFN 1536, vocab %zu), "
           "first %d TAT-QA dev paragraphs, best of %d runs\n", nv, np, repeats);
    static const struct { const char *name; int type; } all[] = {
        { "f32", RG_TYPE_F32 }, { "f16", RG_TYPE_F16 }, { "q8_0", RG_TYPE_Q8_0 }, { "rerank", RG_TYPE_F32 } };
    for (size_t k = 0; k < 4; k++) {
        int rerank = k == 3;         /* last: the reranker, F32 */
        if (!strstr(types, all[k].name)) continue;
        char path[256];
        snprintf(path, sizeof path, "%s/%s.gguf", dir, all[k].name);
        if (write_model(path, all[k].type, vocab, nv, rerank ? 6 : LAYERS, rerank)) {
            fprintf(stderr, "bench: %s\n", rg_errmsg());
            return 1;
        }
        for (const char *t = threads; *t;) {
            int nt = atoi(t);
            fflush(stdout);
            pid_t pid = fork();
            if (pid == 0) {
                char nts[16], reps[16];
                snprintf(nts, sizeof nts, "%d", nt);
                snprintf(reps, sizeof reps, "%d", repeats);
                execl("/proc/self/exe", argv[0], "--run", path, all[k].name, nts, reps, (char *)NULL);
                perror("bench: exec");
                _exit(1);
            }
            int st;
            waitpid(pid, &st, 0);
            const char *c = strchr(t, ',');
            t = c ? c + 1 : t + strlen(t);
        }
        unlink(path);
    }
    rmdir(dir);
    for (int i = 0; i < np; i++) free(para[i]);
    for (size_t i = 0; i < nv; i++) free(vocab[i]);
    free(vocab);
    free(vt);
    return 0;
}
