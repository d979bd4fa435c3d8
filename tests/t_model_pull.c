/* Tests for model management (embed/models.h): pulls from a local stand-in hub
 * (tests/hf_server.py on 127.0.0.1, never the internet): choosing the file, redirects, sha256
 * checks, resuming cut downloads, servers that ignore Range, bad partial files, errors; then
 * list and rm. */
#include "check.h"
#include "core/util.h"
#include "embed/models.h"
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char *root, *models, *logpath;
static char endpoint[64];
static int server_pid;
static FILE *server;

static char *copy_file(const char *src, const char *name) {
    size_t n;
    char *d = rg_read_file(src, 1 << 24, &n);
    if (!d) return NULL;
    char *p = xasprintf("%s/%s", root, name);
    FILE *f = fopen(p, "wb");
    if (f) { fwrite(d, 1, n, f); fclose(f); }
    free(d);
    return p;
}

static char *random_file(const char *name, size_t n) {
    char *p = xasprintf("%s/%s", root, name);
    FILE *f = fopen(p, "wb");
    uint64_t s = 0x1234567;
    for (size_t i = 0; f && i < n; i++) {
        s ^= s << 13; s ^= s >> 7; s ^= s << 17;
        fputc((int)(s & 0xff), f);
    }
    if (f) fclose(f);
    return p;
}

static int start_server(void) {
    char *q8 = copy_file("tests/models/tiny-bert-q8_0.gguf", "q8.bin");
    char *f16 = copy_file("tests/models/tiny-bert-f16.gguf", "f16.bin");
    char *rnd = random_file("rnd.bin", 3 << 20);
    char *small = random_file("small.bin", 5000);
    if (!q8 || !f16) return -1;
    char *conf = xasprintf("%s/hub.json", root);
    char *text = xasprintf(
        "{\"acme/enc\": {\"files\": {\"enc-Q4_K_M.gguf\": {\"path\": \"%s\"}, \"enc-Q8_0.gguf\": {\"path\": \"%s\"},"
        "  \"enc-F16.gguf\": {\"path\": \"%s\"}}},"
        " \"acme/one\": {\"files\": {\"sub/only.gguf\": {\"path\": \"%s\"}}},"
        " \"acme/many\": {\"files\": {\"a-Q4_0.gguf\": {\"path\": \"%s\"}, \"b-Q5_K.gguf\": {\"path\": \"%s\"}}},"
        " \"acme/cut\": {\"files\": {\"big.gguf\": {\"path\": \"%s\", \"mode\": \"cut\"}}},"
        " \"acme/norange\": {\"files\": {\"nr.gguf\": {\"path\": \"%s\", \"mode\": \"norange\"}}},"
        " \"acme/plain\": {\"files\": {\"p.gguf\": {\"path\": \"%s\"}}},"
        " \"acme/bad\": {\"files\": {\"x.gguf\": {\"path\": \"%s\", \"mode\": \"corrupt\"}}},"
        " \"acme/loop\": {\"files\": {\"l.gguf\": {\"path\": \"%s\", \"mode\": \"loop\"}}},"
        " \"acme/scheme\": {\"files\": {\"s.gguf\": {\"path\": \"%s\", \"mode\": \"badscheme\"}}},"
        " \"acme/private\": {\"private\": true, \"files\": {\"secret.gguf\": {\"path\": \"%s\"}}}}",
        small, q8, f16, small, small, small, rnd, rnd, rnd, rnd, small, small, q8);
    test_write_file(conf, text);
    logpath = xasprintf("%s/hub.log", root);
    char *cmd = xasprintf("exec python3 tests/hf_server.py '%s' '%s'", conf, logpath);
    server = popen(cmd, "r");
    free(cmd); free(text); free(conf); free(q8); free(f16); free(rnd); free(small);
    int port = 0;
    if (!server || fscanf(server, "%d %d", &port, &server_pid) != 2) return -1;
    snprintf(endpoint, sizeof endpoint, "http://127.0.0.1:%d", port);
    return 0;
}

static void stop_server(void) {
    if (server_pid > 0) kill(server_pid, SIGTERM);
    if (server) pclose(server);
}

static int pull(const char *repo, const char *file, rg_pull_result *r) {
    rg_pull_opts o = {.endpoint = endpoint};
    return rg_model_pull(repo, file, models, &o, r);
}

static int same_file(const char *a, const char *b) {
    size_t na, nb;
    char *x = rg_read_file(a, 1 << 24, &na), *y = rg_read_file(b, 1 << 24, &nb);
    int same = x && y && na == nb && memcmp(x, y, na) == 0;
    free(x); free(y);
    return same;
}

static int exists(const char *name) {
    char *p = xasprintf("%s/%s", models, name);
    int ok = access(p, F_OK) == 0;
    free(p);
    return ok;
}

static int64_t fsize(const char *name) {
    char *p = xasprintf("%s/%s", models, name);
    struct stat st;
    int64_t s = stat(p, &st) == 0 ? (int64_t)st.st_size : -1;
    free(p);
    return s;
}

static int log_has(const char *needle) {
    size_t n;
    char *t = rg_read_file(logpath, 1 << 22, &n);
    int ok = t && strstr(t, needle);
    free(t);
    return ok;
}

static void test_pick_q8(void) {
    rg_pull_result r;
    CHECKF(pull("acme/enc", NULL, &r) == 0, "%s", rg_errmsg());
    CHECK_STR(r.file, "enc-Q8_0.gguf");
    CHECK(r.verified && !r.resumed && !r.already);
    CHECK_INT(strlen(r.sha256), 64);
    char *src = xasprintf("%s/q8.bin", root);
    CHECK(r.path && same_file(r.path, src));
    CHECK(!exists("enc-Q8_0.gguf.part"));
    CHECK(log_has("GET /acme/enc/resolve/main/enc-Q8_0.gguf"));   /* through the redirect */
    CHECK(log_has("GET /cdn/acme/enc/enc-Q8_0.gguf"));
    rg_pull_result_free(&r);
    /* Again: already there, verified, nothing downloaded. */
    CHECK_INT(pull("acme/enc", "enc-Q8_0.gguf", &r), 0);
    CHECK(r.already && r.verified);
    rg_pull_result_free(&r);
    /* A named file in a folder of the repository lands under its base name. */
    CHECKF(pull("acme/one", NULL, &r) == 0, "%s", rg_errmsg());
    CHECK(exists("only.gguf"));
    rg_pull_result_free(&r);
    free(src);
}

static void test_choices_and_errors(void) {
    rg_pull_result r;
    CHECK_INT(pull("acme/many", NULL, &r), -1);
    CHECKF(strstr(rg_errmsg(), "a-Q4_0.gguf") && strstr(rg_errmsg(), "b-Q5_K.gguf"), "%s", rg_errmsg());
    CHECK_INT(pull("acme/many", "nope.gguf", &r), -1);
    CHECKF(strstr(rg_errmsg(), "no file nope.gguf"), "%s", rg_errmsg());
    CHECK_INT(pull("acme/missing", NULL, &r), -1);
    CHECKF(strstr(rg_errmsg(), "not found"), "%s", rg_errmsg());
    CHECK_INT(pull("../etc", NULL, &r), -1);
    CHECK_INT(pull("acme/enc", "../x.gguf", &r), -1);
    CHECK_INT(pull("acme/enc", "/abs.gguf", &r), -1);
    /* Redirect loops and non-http redirects are refused. */
    CHECK_INT(pull("acme/loop", NULL, &r), -1);
    CHECKF(strstr(rg_errmsg(), "redirect"), "%s", rg_errmsg());
    CHECK_INT(pull("acme/scheme", NULL, &r), -1);
    CHECK(!exists("s.gguf"));
    /* Nobody listening. */
    rg_pull_opts o = {.endpoint = "http://127.0.0.1:1"};
    CHECK_INT(rg_model_pull("acme/enc", NULL, models, &o, &r), -1);
    CHECKF(strstr(rg_errmsg(), "cannot reach"), "%s", rg_errmsg());
    rg_pull_opts bad = {.endpoint = "ftp://x"};
    CHECK_INT(rg_model_pull("acme/enc", NULL, models, &bad, &r), -1);
}

static void test_checksum_mismatch(void) {
    rg_pull_result r;
    CHECK_INT(pull("acme/bad", NULL, &r), -1);
    CHECKF(strstr(rg_errmsg(), "checksum mismatch"), "%s", rg_errmsg());
    CHECK(!exists("x.gguf") && !exists("x.gguf.part"));
}

static void test_resume_after_cut(void) {
    rg_pull_result r;
    CHECK_INT(pull("acme/cut", NULL, &r), -1);
    CHECKF(strstr(rg_errmsg(), "resume"), "%s", rg_errmsg());
    int64_t got = fsize("big.gguf.part");
    CHECKF(got > 0 && got < (3 << 20), "partial %lld", (long long)got);
    CHECK(!exists("big.gguf"));
    CHECKF(pull("acme/cut", NULL, &r) == 0, "%s", rg_errmsg());
    CHECK(r.resumed && r.verified);
    char *src = xasprintf("%s/rnd.bin", root), want[64];
    CHECK(r.path && same_file(r.path, src));
    snprintf(want, sizeof want, "range=bytes=%lld-", (long long)got);
    CHECKF(log_has(want), "no request with %s", want);
    CHECK(!exists("big.gguf.part"));
    rg_pull_result_free(&r);
    free(src);
}

static void test_resume_without_range_support(void) {
    /* A partial file that is a true prefix, on a server that answers 200: started over. */
    char *src = xasprintf("%s/rnd.bin", root), *part = xasprintf("%s/nr.gguf.part", models);
    size_t n;
    char *data = rg_read_file(src, 1 << 24, &n);
    FILE *f = fopen(part, "wb");
    fwrite(data, 1, 1000, f);
    fclose(f);
    rg_pull_result r;
    CHECKF(pull("acme/norange", NULL, &r) == 0, "%s", rg_errmsg());
    CHECK(r.verified && r.path && same_file(r.path, src));
    rg_pull_result_free(&r);
    /* A partial file with wrong bytes: the whole-file hash catches it, the part is dropped,
     * and the next pull succeeds from scratch. */
    f = fopen(part, "wb");
    char junk[4096];
    memset(junk, 'j', sizeof junk);
    fwrite(junk, 1, sizeof junk, f);
    fclose(f);
    char *part2 = xasprintf("%s/p.gguf.part", models);
    rename(part, part2);
    CHECK_INT(pull("acme/plain", NULL, &r), -1);
    CHECKF(strstr(rg_errmsg(), "checksum mismatch"), "%s", rg_errmsg());
    CHECK(!exists("p.gguf.part") && !exists("p.gguf"));
    CHECKF(pull("acme/plain", NULL, &r) == 0, "%s", rg_errmsg());
    CHECK(r.verified && !r.resumed);
    rg_pull_result_free(&r);
    free(src); free(part); free(part2); free(data);
}

static void test_token(void) {
    rg_pull_result r;
    CHECK_INT(pull("acme/private", NULL, &r), -1);
    CHECKF(strstr(rg_errmsg(), "HF_TOKEN"), "%s", rg_errmsg());
    rg_pull_opts o = {.endpoint = endpoint, .token = "wrong-token"};
    CHECK_INT(rg_model_pull("acme/private", NULL, models, &o, &r), -1);
    CHECK(!strstr(rg_errmsg(), "wrong-token"));   /* never echoed */
    setenv("HF_TOKEN", "secret-token", 1);
    CHECKF(pull("acme/private", NULL, &r) == 0, "%s", rg_errmsg());
    unsetenv("HF_TOKEN");
    CHECK(r.verified);
    rg_pull_result_free(&r);
    /* The token went to the hub, not to the redirect target. */
    CHECK(log_has("GET /acme/private/resolve/main/secret.gguf range=- auth=yes"));
    CHECK(log_has("GET /cdn/acme/private/secret.gguf range=- auth=no"));
}

static void test_list_and_rm(void) {
    rg_model_info *m;
    int n;
    CHECK_INT(rg_models_list(models, &m, &n), 0);
    int saw_q8 = 0, saw_secret = 0;
    for (int i = 0; i < n; i++) {
        if (strcmp(m[i].name, "enc-Q8_0.gguf") == 0) { saw_q8 = 1; CHECK_STR(m[i].arch, "bert"); CHECK_INT(m[i].size, 36224); }
        if (strcmp(m[i].name, "secret.gguf") == 0) saw_secret = 1;
        CHECK(!m[i].partial);
    }
    CHECK(saw_q8 && saw_secret);
    rg_models_free(m, n);
    CHECK_INT(rg_models_rm(models, "enc-Q8_0"), 1);   /* .gguf may be left out */
    CHECK(!exists("enc-Q8_0.gguf"));
    CHECK_INT(rg_models_rm(models, "enc-Q8_0.gguf"), 0);
    CHECK_INT(rg_models_rm(models, "../hub.json"), -1);
    CHECK_INT(rg_models_rm(models, ".."), -1);
    CHECK_INT(rg_models_list("/nonexistent/models", &m, &n), 0);
    CHECK_INT(n, 0);
    /* A header that lies about its sizes yields no architecture, no crash. */
    char *p = xasprintf("%s/liar.gguf", models);
    unsigned char hdr[32] = {'G', 'G', 'U', 'F', 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0,
                             0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f};
    FILE *f = fopen(p, "wb");
    fwrite(hdr, 1, sizeof hdr, f);
    fclose(f);
    char arch[64];
    CHECK_INT(rg_gguf_peek_arch(p, arch, sizeof arch), -1);
    free(p);
}

static void test_models_dir(void) {
    setenv("RAGD_MODELS", "/x/models", 1);
    char *d = rg_models_dir();
    CHECK_STR(d, "/x/models");
    free(d);
    unsetenv("RAGD_MODELS");
    unsetenv("XDG_DATA_HOME");
    setenv("HOME", "/home/u", 1);
    d = rg_models_dir();
    CHECK_STR(d, "/home/u/.local/share/ragd/models");
    free(d);
}

int main(void) {
    unsetenv("HF_TOKEN");
    if (system("python3 -c 'import http.server' 2>/dev/null") != 0) {
        SKIP(test_model_pull, "python3 is needed for the stand-in hub");
        return 0;
    }
    root = test_tmpdir();
    models = xasprintf("%s/models", root);
    if (start_server() != 0) {
        printf("not ok start_server: could not start tests/hf_server.py\n");
        stop_server();
        test_rm_rf(root);
        return 1;
    }
    RUN(test_pick_q8);
    RUN(test_choices_and_errors);
    RUN(test_checksum_mismatch);
    RUN(test_resume_after_cut);
    RUN(test_resume_without_range_support);
    RUN(test_token);
    RUN(test_list_and_rm);
    RUN(test_models_dir);
    stop_server();
    test_rm_rf(root);
    free(root); free(models); free(logpath);
    TESTS_DONE();
}
