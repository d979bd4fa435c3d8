/* GGUF reader: round trip through the writer, then a deterministic mutation test (every
 * truncation, byte flips, hostile counts, lengths and offsets) asserting clean errors. */
#include "check.h"
#include "core/util.h"
#include "nn/gguf.h"
#include "nn/gguf_write.h"
#include "nn/tensor.h"
#include <stdint.h>

static char *tmpdir;

/* Builds a small valid model file and returns its bytes. */
static char *make_valid(size_t *len) {
    static float w32[4 * 8];
    static uint16_t w16[64];
    static rg_block_q8_0 q8[2];
    float src[64];
    for (int i = 0; i < 64; i++) src[i] = (float)(i - 32) / 8.0f;
    for (int i = 0; i < 32; i++) w32[i] = (float)i * 0.5f;
    for (int i = 0; i < 64; i++) w16[i] = rg_f32_to_f16(src[i]);
    rg_quantize_q8_0(src, q8, 64);
    rg_gguf_writer *w = rg_gguf_writer_new();
    rg_gguf_w_str(w, "general.architecture", "bert");
    rg_gguf_w_str(w, "general.name", "tiny test");
    rg_gguf_w_u32(w, "bert.block_count", 2);
    rg_gguf_w_f32(w, "bert.attention.layer_norm_epsilon", 1e-12f);
    rg_gguf_w_bool(w, "bert.attention.causal", 0);
    const char *toks[] = { "[PAD]", "hello", "world", "" };
    rg_gguf_w_str_arr(w, "tokenizer.ggml.tokens", toks, 4);
    int32_t types[] = { 3, 1, 1, 1 };
    rg_gguf_w_i32_arr(w, "tokenizer.ggml.token_type", types, 4);
    int64_t ne_a[2] = { 8, 4 }, ne_b[1] = { 64 }, ne_c[2] = { 32, 2 };
    rg_gguf_w_tensor(w, "a.weight", RG_TYPE_F32, 2, ne_a, w32, sizeof w32);
    rg_gguf_w_tensor(w, "b.weight", RG_TYPE_F16, 1, ne_b, w16, sizeof w16);
    rg_gguf_w_tensor(w, "c.weight", RG_TYPE_Q8_0, 2, ne_c, q8, sizeof q8);
    char path[1200];
    snprintf(path, sizeof path, "%s/valid.gguf", tmpdir);
    char *data = NULL;
    if (rg_gguf_writer_save(w, path) == 0) data = rg_read_file(path, 1 << 20, len);
    rg_gguf_writer_free(w);
    return data;
}

static void test_roundtrip(void) {
    size_t len;
    char *data = make_valid(&len);
    CHECK(data);
    if (!data) return;
    char path[1200];
    snprintf(path, sizeof path, "%s/valid.gguf", tmpdir);
    rg_gguf *g = rg_gguf_open(path);
    CHECKF(g, "%s", rg_errmsg());
    if (!g) { free(data); return; }
    CHECK_INT(rg_gguf_version(g), 3);
    CHECK_INT(rg_gguf_alignment(g), 32);
    char *arch = rg_gguf_get_strdup(g, "general.architecture");
    CHECK_STR(arch, "bert");
    free(arch);
    int64_t v;
    CHECK(rg_gguf_get_int(g, "bert.block_count", &v) == 0 && v == 2);
    CHECK(rg_gguf_get_int(g, "bert.attention.causal", &v) == 0 && v == 0);
    CHECK(rg_gguf_get_int(g, "general.name", &v) == -1);      /* wrong type */
    CHECK(rg_gguf_get_int(g, "no.such.key", &v) == -1);
    CHECK(rg_gguf_req_int(g, "no.such.key", &v) == -1 && strstr(rg_errmsg(), "no.such.key"));
    double d;
    CHECK(rg_gguf_get_float(g, "bert.attention.layer_norm_epsilon", &d) == 0);
    CHECK_NEAR(d, 1e-12, 1e-18);
    size_t n;
    const rg_gguf_str *toks;
    CHECK(rg_gguf_get_str_arr(g, "tokenizer.ggml.tokens", &n, &toks) == 0);
    CHECK_INT(n, 4);
    if (n == 4) {
        CHECK(toks[1].len == 5 && memcmp(toks[1].p, "hello", 5) == 0);
        CHECK(toks[3].len == 0);
    }
    int et;
    const void *arr;
    CHECK(rg_gguf_get_arr(g, "tokenizer.ggml.token_type", &et, &n, &arr) == 0);
    CHECK(et == RG_GGUF_I32 && n == 4);
    CHECK(rg_gguf_arr_int(et, arr, 0, &v) == 0 && v == 3);
    CHECK_INT(rg_gguf_n_tensors(g), 3);
    const rg_gguf_tensor *a = rg_gguf_tensor_find(g, "a.weight");
    CHECK(a && a->type == RG_TYPE_F32 && a->ne[0] == 8 && a->ne[1] == 4 && a->nbytes == 128);
    if (a) CHECK(((const float *)a->data)[5] == 2.5f);
    CHECK(a && (uintptr_t)a->data % 32 == 0);
    const rg_gguf_tensor *b = rg_gguf_tensor_find(g, "b.weight");
    CHECK(b && b->type == RG_TYPE_F16 && b->nelem == 64);
    if (b) {
        float f[64];
        rg_type_get(RG_TYPE_F16)->to_float(b->data, f, 64);
        CHECK(f[0] == -4.0f && f[63] == 3.875f);
    }
    const rg_gguf_tensor *c = rg_gguf_tensor_find(g, "c.weight");
    CHECK(c && c->type == RG_TYPE_Q8_0 && c->nbytes == 68);
    if (c) {
        float f[64];
        rg_type_get(RG_TYPE_Q8_0)->to_float(c->data, f, 64);
        CHECK_NEAR(f[0], -4.0, 0.02);
        CHECK_NEAR(f[40], 1.0, 0.02);
    }
    CHECK(rg_gguf_tensor_find(g, "nope") == NULL);
    /* the same bytes at an odd address: converters must not assume alignment (UBSan) */
    char *odd = malloc(len + 1);
    memcpy(odd + 1, data, len);
    rg_gguf *g2 = rg_gguf_open_mem(odd + 1, len, "odd");
    CHECK(g2);
    for (size_t i = 0; g2 && i < rg_gguf_n_tensors(g2); i++) {
        const rg_gguf_tensor *t1 = rg_gguf_tensor_at(g, i), *t2 = rg_gguf_tensor_at(g2, i);
        float f1[64], f2[64];
        for (int simd = 0; simd < 2; simd++) {
            rg_tensor_simd(simd);
            rg_type_get(t1->type)->to_float(t1->data, f1, t1->nelem);
            rg_type_get(t2->type)->to_float(t2->data, f2, t2->nelem);
            CHECK(memcmp(f1, f2, (size_t)t1->nelem * 4) == 0);
        }
    }
    rg_gguf_close(g2);
    free(odd);
    rg_gguf_close(g);
    free(data);
}

/* Opens a private heap copy of exactly len bytes so ASan sees any over-read; touches all
 * metadata and tensor bytes when the open succeeds. Returns 1 if it opened. */
static int try_open(const char *bytes, size_t len) {
    char *copy = malloc(len ? len : 1);
    memcpy(copy, bytes, len);
    rg_gguf *g = rg_gguf_open_mem(copy, len, "mutant");
    int ok = g != NULL;
    if (g) {
        size_t n;
        const rg_gguf_str *s;
        volatile unsigned sum = 0;
        if (rg_gguf_get_str_arr(g, "tokenizer.ggml.tokens", &n, &s) == 0)
            for (size_t i = 0; i < n; i++)
                for (size_t j = 0; j < s[i].len; j++) sum += (unsigned char)s[i].p[j];
        for (size_t i = 0; i < rg_gguf_n_tensors(g); i++) {
            const rg_gguf_tensor *t = rg_gguf_tensor_at(g, i);
            for (size_t j = 0; j < t->nbytes; j++) sum += ((const unsigned char *)t->data)[j];
        }
        rg_gguf_close(g);
    } else {
        CHECKF(strstr(rg_errmsg(), "mutant") != NULL, "error does not name the input: %s", rg_errmsg());
    }
    free(copy);
    return ok;
}

static void test_truncations(void) {
    size_t len;
    char *data = make_valid(&len);
    CHECK(data);
    if (!data) return;
    int opened = 0;
    for (size_t cut = 0; cut < len; cut++) opened += try_open(data, cut);
    /* the last tensor's data ends at the file end: every truncation must fail */
    CHECK_INT(opened, 0);
    CHECK(try_open(data, len) == 1);
    free(data);
}

/* The committed tiny BERT model: every truncation inside the header, a sample inside the
 * data, and byte flips over the header, all fail cleanly or open consistently. */
static void test_model_file(void) {
    size_t len;
    char *data = rg_read_file("tests/models/tiny-bert-q8_0.gguf", 1 << 24, &len);
    CHECKF(data, "%s (run from the repository root)", rg_errmsg());
    if (!data) return;
    rg_gguf *g = rg_gguf_open_mem(data, len, "mutant");
    CHECK(g);
    size_t hl = 0;
    if (g) rg_gguf_header(g, &hl);
    rg_gguf_close(g);
    CHECK(hl > 1000 && hl < len);
    int opened = 0;
    for (size_t cut = 0; cut < len; cut += cut < hl + 64 ? 1 : 97) opened += try_open(data, cut);
    CHECK_INT(opened, 0);
    for (size_t i = 0; i < hl; i += 3) {
        char save = data[i];
        data[i] = (char)(data[i] ^ 0x5a);
        try_open(data, len);
        data[i] = save;
    }
    free(data);
}

static void test_flips(void) {
    size_t len;
    char *data = make_valid(&len);
    CHECK(data);
    if (!data) return;
    static const unsigned char pats[] = { 0xff, 0x80, 0x01, 0x7f };
    int rejected = 0;
    for (size_t i = 0; i < len; i++)
        for (size_t p = 0; p < sizeof pats; p++) {
            char save = data[i];
            data[i] = (char)(data[i] ^ pats[p]);
            rejected += !try_open(data, len);
            data[i] = save;
        }
    CHECK(rejected > 100);      /* header bytes must be caught; data bytes may pass */
    free(data);
}

/* Hand-built headers with hostile numbers. */
static void put64(rg_buf *b, uint64_t v) { for (int i = 0; i < 8; i++) rg_buf_putc(b, (char)(v >> (8 * i))); }
static void put32(rg_buf *b, uint32_t v) { for (int i = 0; i < 4; i++) rg_buf_putc(b, (char)(v >> (8 * i))); }
static void header(rg_buf *b, uint64_t nt, uint64_t nkv) {
    b->len = 0;
    rg_buf_put(b, "GGUF", 4);
    put32(b, 3);
    put64(b, nt);
    put64(b, nkv);
}

static void test_hostile(void) {
    rg_buf b = {0};
    header(&b, UINT64_MAX, 0); CHECK(!try_open(b.data, b.len));
    header(&b, 0, UINT64_MAX); CHECK(!try_open(b.data, b.len));
    header(&b, 0, 1000); CHECK(!try_open(b.data, b.len));
    header(&b, 0, 1); put64(&b, UINT64_MAX); rg_buf_put(&b, "k", 1); CHECK(!try_open(b.data, b.len));
    /* string value with huge length */
    header(&b, 0, 1); put64(&b, 1); rg_buf_put(&b, "k", 1); put32(&b, RG_GGUF_STRING);
    put64(&b, (uint64_t)1 << 62); CHECK(!try_open(b.data, b.len));
    /* array with huge count */
    header(&b, 0, 1); put64(&b, 1); rg_buf_put(&b, "k", 1); put32(&b, RG_GGUF_ARRAY);
    put32(&b, RG_GGUF_U64); put64(&b, (uint64_t)1 << 61); CHECK(!try_open(b.data, b.len));
    header(&b, 0, 1); put64(&b, 1); rg_buf_put(&b, "k", 1); put32(&b, RG_GGUF_ARRAY);
    put32(&b, RG_GGUF_STRING); put64(&b, UINT64_MAX); CHECK(!try_open(b.data, b.len));
    /* unknown value type, nested array */
    header(&b, 0, 1); put64(&b, 1); rg_buf_put(&b, "k", 1); put32(&b, 99); put64(&b, 0);
    CHECK(!try_open(b.data, b.len));
    header(&b, 0, 1); put64(&b, 1); rg_buf_put(&b, "k", 1); put32(&b, RG_GGUF_ARRAY);
    put32(&b, RG_GGUF_ARRAY); put64(&b, 1); put64(&b, 0); CHECK(!try_open(b.data, b.len));
    /* bad alignment values */
    header(&b, 0, 1); put64(&b, 17); rg_buf_put(&b, "general.alignment", 17); put32(&b, RG_GGUF_U32);
    put32(&b, 3); CHECK(!try_open(b.data, b.len));
    header(&b, 0, 1); put64(&b, 17); rg_buf_put(&b, "general.alignment", 17); put32(&b, RG_GGUF_U32);
    put32(&b, 0); CHECK(!try_open(b.data, b.len));
    /* tensors: huge dims (overflow), zero dim, bad type, out-of-range and misaligned offsets */
    struct { uint32_t nd; uint64_t d0, d1; uint32_t type; uint64_t off; } tc[] = {
        { 2, UINT64_MAX, 2, RG_TYPE_F32, 0 }, { 2, (uint64_t)1 << 40, (uint64_t)1 << 40, RG_TYPE_F32, 0 },
        { 2, 0, 4, RG_TYPE_F32, 0 }, { 1, 8, 1, 77, 0 }, { 1, 8, 1, RG_TYPE_F32, UINT64_MAX - 8 },
        { 1, 8, 1, RG_TYPE_F32, 64 }, { 1, 8, 1, RG_TYPE_F32, 4 }, { 1, 16, 1, RG_TYPE_Q8_0, 0 },
        { 5, 1, 1, RG_TYPE_F32, 0 }, { 1, 1, 1, 1u << 31, 0 },
    };
    for (size_t i = 0; i < sizeof tc / sizeof tc[0]; i++) {
        header(&b, 1, 0);
        put64(&b, 1); rg_buf_put(&b, "t", 1); put32(&b, tc[i].nd);
        put64(&b, tc[i].d0);
        if (tc[i].nd >= 2) put64(&b, tc[i].d1);
        put32(&b, tc[i].type); put64(&b, tc[i].off);
        while (b.len % 32) rg_buf_putc(&b, 0);
        for (int k = 0; k < 64; k++) rg_buf_putc(&b, 0);     /* 64 bytes of data */
        CHECKF(!try_open(b.data, b.len), "case %zu opened", i);
    }
    /* the same layout with sane values opens */
    header(&b, 1, 0);
    put64(&b, 1); rg_buf_put(&b, "t", 1); put32(&b, 1); put64(&b, 16); put32(&b, RG_TYPE_F32); put64(&b, 0);
    while (b.len % 32) rg_buf_putc(&b, 0);
    for (int k = 0; k < 64; k++) rg_buf_putc(&b, 0);
    CHECK(try_open(b.data, b.len));
    /* duplicate tensor names */
    header(&b, 2, 0);
    for (int k = 0; k < 2; k++) { put64(&b, 1); rg_buf_put(&b, "t", 1); put32(&b, 1); put64(&b, 8); put32(&b, 0); put64(&b, 0); }
    while (b.len % 32) rg_buf_putc(&b, 0);
    for (int k = 0; k < 64; k++) rg_buf_putc(&b, 0);
    CHECK(!try_open(b.data, b.len) && strstr(rg_errmsg(), "duplicate"));
    /* bad magic and version */
    header(&b, 0, 0); b.data[0] = 'X'; CHECK(!try_open(b.data, b.len));
    header(&b, 0, 0); b.data[4] = 9; CHECK(!try_open(b.data, b.len));
    header(&b, 0, 0); CHECK(try_open(b.data, b.len));
    rg_buf_free(&b);
}

static void test_files(void) {
    char path[1200];
    snprintf(path, sizeof path, "%s/short.gguf", tmpdir);
    test_write_file(path, "GGUF");
    CHECK(rg_gguf_open(path) == NULL && strstr(rg_errmsg(), "short.gguf"));
    snprintf(path, sizeof path, "%s/missing.gguf", tmpdir);
    CHECK(rg_gguf_open(path) == NULL && strstr(rg_errmsg(), "missing.gguf"));
    CHECK(rg_gguf_open(tmpdir) == NULL);
}

/* The resident open (whole file read into 2 MB-page memory, for decoder weights) reads the
 * same file as the mapping does: same header, tensors and bytes; bad files fail alike. */
static void test_resident(void) {
    size_t len;
    char *data = make_valid(&len);
    CHECK(data);
    if (!data) return;
    free(data);
    char path[1200];
    snprintf(path, sizeof path, "%s/valid.gguf", tmpdir);
    rg_gguf *a = rg_gguf_open(path), *b = rg_gguf_open_resident(path);
    CHECK(a && b);
    if (a && b) {
        size_t ha, hb;
        const void *pa = rg_gguf_header(a, &ha), *pb = rg_gguf_header(b, &hb);
        CHECK(ha == hb && memcmp(pa, pb, ha) == 0);
        CHECK(pa != pb);   /* b holds its own copy */
        CHECK_INT(rg_gguf_n_tensors(b), rg_gguf_n_tensors(a));
        for (size_t i = 0; i < rg_gguf_n_tensors(a) && i < rg_gguf_n_tensors(b); i++) {
            const rg_gguf_tensor *x = rg_gguf_tensor_at(a, i), *y = rg_gguf_tensor_at(b, i);
            CHECK_STR(y->name, x->name);
            CHECK(y->type == x->type && y->nbytes == x->nbytes && memcmp(x->data, y->data, x->nbytes) == 0);
            CHECK(((uintptr_t)y->data & (rg_gguf_alignment(b) - 1)) == 0);
        }
    }
    rg_gguf_close(a);
    rg_gguf_close(b);
    snprintf(path, sizeof path, "%s/short2.gguf", tmpdir);
    test_write_file(path, "GGUF");
    CHECK(rg_gguf_open_resident(path) == NULL && strstr(rg_errmsg(), "short2.gguf"));
    snprintf(path, sizeof path, "%s/missing.gguf", tmpdir);
    CHECK(rg_gguf_open_resident(path) == NULL && strstr(rg_errmsg(), "missing.gguf"));
}

static void test_f16_conv(void) {
    /* exhaustive: f16 -> f32 -> f16 is the identity for all non-NaN values */
    int bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = rg_f16_to_f32((uint16_t)h);
        if (f != f) continue;
        if (rg_f32_to_f16(f) != h) bad++;
    }
    CHECK_INT(bad, 0);
    /* the table's (possibly F16C) row converter agrees with the scalar one on every value */
    static uint16_t all[65536];
    static float conv[65536];
    for (uint32_t h = 0; h < 65536; h++) all[h] = (uint16_t)h;
    rg_type_get(RG_TYPE_F16)->to_float(all, conv, 65536);
    bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = rg_f16_to_f32((uint16_t)h);
        if (f == f ? memcmp(&f, &conv[h], 4) != 0 : conv[h] == conv[h]) bad++;
    }
    CHECK_INT(bad, 0);
    /* Q8_0 row converter: d * q */
    rg_block_q8_0 blk[2];
    for (int b = 0; b < 2; b++) {
        blk[b].d = rg_f32_to_f16(b ? 0.25f : -1.5f);
        for (int i = 0; i < 32; i++) blk[b].qs[i] = (int8_t)(i * 8 - 128 + b);
    }
    float q[64];
    rg_type_get(RG_TYPE_Q8_0)->to_float(blk, q, 64);
    bad = 0;
    for (int i = 0; i < 64; i++) bad += q[i] != (i < 32 ? -1.5f : 0.25f) * (float)blk[i / 32].qs[i % 32];
    CHECK_INT(bad, 0);
    /* the portable converters give the same bits as the SIMD ones */
    float q2[64];
    static float conv2[65536];
    rg_tensor_simd(0);
    rg_type_get(RG_TYPE_Q8_0)->to_float(blk, q2, 64);
    rg_type_get(RG_TYPE_F16)->to_float(all, conv2, 65536);
    rg_tensor_simd(1);
    CHECK(memcmp(q, q2, sizeof q) == 0);
    bad = 0;
    for (uint32_t h = 0; h < 65536; h++) bad += conv[h] == conv[h] && memcmp(&conv[h], &conv2[h], 4) != 0;
    CHECK_INT(bad, 0);
    CHECK(rg_f32_to_f16(1.0f) == 0x3c00);
    CHECK(rg_f32_to_f16(65520.0f) == 0x7c00);      /* rounds to inf */
    CHECK(rg_f16_to_f32(0x0001) == 5.9604644775390625e-08f);
    CHECK(rg_bf16_to_f32(rg_f32_to_bf16(1.5f)) == 1.5f);
    CHECK(rg_f32_to_bf16(1.00390625f) == 0x3f80);  /* tie rounds to even */
}

int main(void) {
    tmpdir = test_tmpdir();
    RUN(test_roundtrip);
    RUN(test_truncations);
    RUN(test_flips);
    RUN(test_model_file);
    RUN(test_hostile);
    RUN(test_files);
    RUN(test_resident);
    RUN(test_f16_conv);
    test_rm_rf(tmpdir);
    free(tmpdir);
    TESTS_DONE();
}
