/* WordPiece: exact agreement with the Hugging Face tokenizer on 332 reference strings
 * (shared data), plus behaviour on a small hand-made vocabulary and GGUF vocabularies. */
#include "check.h"
#include "core/util.h"
#include "nn/gguf.h"
#include "nn/gguf_write.h"
#include "nn/wordpiece.h"
#include <jansson.h>

static void test_reference(void) {
    const char *sh = test_shared_dir();
    char vpath[1200], rpath[1200];
    snprintf(vpath, sizeof vpath, "%s/data/tokenizers/bert-base-uncased-vocab.txt", sh);
    snprintf(rpath, sizeof rpath, "%s/data/tokenizers/bert-base-uncased.reference.jsonl", sh);
    rg_wordpiece *wp = rg_wordpiece_from_vocab_file(vpath, -1);
    CHECKF(wp, "%s", rg_errmsg());
    if (!wp) return;
    CHECK_INT(rg_wordpiece_vocab_size(wp), 30522);
    CHECK(rg_wordpiece_lowercase(wp) == 1);
    CHECK_INT(rg_wordpiece_cls(wp), 101);
    size_t len;
    char *data = rg_read_file(rpath, 16 << 20, &len);
    CHECK(data);
    int lines = 0, match = 0;
    char *save = NULL;
    static int32_t ids[4096];
    for (char *line = data ? strtok_r(data, "\n", &save) : NULL; line; line = strtok_r(NULL, "\n", &save)) {
        json_error_t err;
        json_t *o = json_loads(line, 0, &err);
        json_t *jt = json_object_get(o, "text"), *ji = json_object_get(o, "ids");
        CHECK(json_is_string(jt) && json_is_array(ji));
        if (!json_is_string(jt) || !json_is_array(ji)) { json_decref(o); continue; }
        lines++;
        int n = rg_wordpiece_encode(wp, json_string_value(jt), json_string_length(jt), ids, 4096);
        int same = (size_t)n == json_array_size(ji);
        for (int i = 0; same && i < n; i++) same = json_integer_value(json_array_get(ji, (size_t)i)) == ids[i];
        if (same) match++;
        else if (!check_failed_) {
            CHECKF(same, "mismatch on line %d \"%.60s\" (got %d ids)", lines, json_string_value(jt), n);
        }
        json_decref(o);
    }
    CHECK_INT(lines, 332);
    CHECK_INT(match, 332);
    /* truncation keeps [CLS] ... [SEP] */
    const char *t = "What is the average voyage revenue in 2018 and 2019?";
    int n = rg_wordpiece_encode(wp, t, strlen(t), ids, 5);
    CHECK_INT(n, 5);
    CHECK(ids[0] == 101 && ids[1] == 2054 && ids[3] == 1996 && ids[4] == 102);
    CHECK(rg_wordpiece_encode(wp, t, strlen(t), ids, 1) == -1);
    free(data);
    rg_wordpiece_free(wp);
}

static const char *small_vocab[] = {
    "[PAD]", "[UNK]", "[CLS]", "[SEP]", "hello", "world", "##s", "un", "##aff", "##able",
    ",", "!", "cafe", "Hello", "##ly", "a",
};
#define NSMALL (sizeof small_vocab / sizeof small_vocab[0])

static void enc(const rg_wordpiece *wp, const char *s, int32_t *ids, int *n) {
    *n = rg_wordpiece_encode(wp, s, strlen(s), ids, 64);
}

static void test_small(void) {
    rg_wordpiece *wp = rg_wordpiece_new(small_vocab, NSMALL, 1);
    CHECK(wp);
    if (!wp) return;
    int32_t ids[64];
    int n;
    enc(wp, "Hello,  WORLDS! unaffable", ids, &n);
    int32_t want[] = { 2, 4, 10, 5, 6, 11, 7, 8, 9, 3 };
    CHECK_INT(n, 10);
    for (int i = 0; i < n && i < 10; i++) CHECKF(ids[i] == want[i], "pos %d: %d", i, ids[i]);
    enc(wp, "Caf\xc3\xa9 hellox", ids, &n);               /* accent stripped; no match -> UNK */
    CHECK(n == 4 && ids[1] == 12 && ids[2] == 1);
    enc(wp, "\xff\xfe hello \xc3", ids, &n);               /* invalid UTF-8 is dropped */
    CHECK(n == 3 && ids[1] == 4);
    char longw[202];
    for (int i = 0; i < 201; i++) longw[i] = 'a';
    longw[201] = 0;
    enc(wp, longw, ids, &n);                               /* over 100 chars -> [UNK] */
    CHECK(n == 3 && ids[1] == 1);
    longw[100] = 0;
    enc(wp, longw, ids, &n);                               /* 100 x "a": no "##a" -> [UNK] */
    CHECK(n == 3 && ids[1] == 1);
    CHECK(rg_wordpiece_encode(wp, NULL, 0, ids, 64) == 2);
    /* a 16 MB input is truncated to 64 ids */
    size_t big = 16u << 20;
    char *huge = xmalloc(big + 1);
    for (size_t i = 0; i < big; i += 2) { huge[i] = 'a'; huge[i + 1] = ' '; }
    huge[big] = 0;
    n = rg_wordpiece_encode(wp, huge, big, ids, 64);
    CHECK(n == 64 && ids[1] == 15 && ids[62] == 15 && ids[63] == 3);
    free(huge);
    rg_wordpiece_free(wp);
    /* cased: no lower-casing, "Hello" matches its own token */
    wp = rg_wordpiece_new(small_vocab, NSMALL, -1);
    CHECK(wp && !rg_wordpiece_lowercase(wp));
    if (wp) {
        enc(wp, "Hello hello", ids, &n);
        CHECK(n == 4 && ids[1] == 13 && ids[2] == 4);
        rg_wordpiece_free(wp);
    }
    const char *bad[] = { "a", "b" };
    CHECK(rg_wordpiece_new(bad, 2, 1) == NULL);           /* no [CLS]/[SEP]/[UNK] */
}

/* A GGUF vocabulary in llama.cpp's phantom-space spelling gives the same ids. */
static void test_gguf_vocab(void) {
    char *dir = test_tmpdir();
    char path[1200];
    snprintf(path, sizeof path, "%s/v.gguf", dir);
    char *ph[NSMALL];
    int32_t types[NSMALL];
    for (size_t i = 0; i < NSMALL; i++) {
        const char *t = small_vocab[i];
        types[i] = t[0] == '[' ? 3 : 1;
        if (t[0] == '[') ph[i] = xstrdup(t);
        else if (!strncmp(t, "##", 2)) ph[i] = xstrdup(t + 2);
        else ph[i] = xasprintf("\xe2\x96\x81%s", t);
    }
    rg_gguf_writer *w = rg_gguf_writer_new();
    rg_gguf_w_str(w, "tokenizer.ggml.model", "bert");
    rg_gguf_w_str_arr(w, "tokenizer.ggml.tokens", (const char *const *)ph, NSMALL);
    rg_gguf_w_i32_arr(w, "tokenizer.ggml.token_type", types, NSMALL);
    CHECK(rg_gguf_writer_save(w, path) == 0);
    rg_gguf_writer_free(w);
    rg_gguf *g = rg_gguf_open(path);
    CHECKF(g, "%s", rg_errmsg());
    rg_wordpiece *wp = g ? rg_wordpiece_from_gguf(g, 1) : NULL;
    CHECK(wp);
    if (wp) {
        int32_t ids[64];
        int n;
        enc(wp, "hello worlds unaffable", ids, &n);
        int32_t want[] = { 2, 4, 5, 6, 7, 8, 9, 3 };
        CHECK_INT(n, 8);
        for (int i = 0; i < n && i < 8; i++) CHECK(ids[i] == want[i]);
        CHECK_STR(rg_wordpiece_token(wp, 6), "##s");
        rg_wordpiece_free(wp);
    }
    rg_gguf_close(g);
    for (size_t i = 0; i < NSMALL; i++) free(ph[i]);
    test_rm_rf(dir);
    free(dir);
}

int main(void) {
    if (test_shared_dir()) RUN(test_reference);
    else SKIP(test_reference, "shared data absent (set RAGD_SHARED)");
    RUN(test_small);
    RUN(test_gguf_vocab);
    TESTS_DONE();
}
