/* A minimal test harness: TEST functions, CHECK assertions, one "ok"/"not ok" line per test.
 * tests/run.sh counts those lines. Temporary directories are made per test and removed. */
#ifndef RAGD_TEST_CHECK_H
#define RAGD_TEST_CHECK_H
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>

static int check_failed_;
static char check_why_[512];

#define CHECK(cond) do { if (!(cond)) { if (!check_failed_) { \
    snprintf(check_why_, sizeof check_why_, "%s:%d: %s", __FILE__, __LINE__, #cond); } \
    check_failed_ = 1; } } while (0)
#define CHECKF(cond, ...) do { if (!(cond)) { if (!check_failed_) { \
    int n_ = snprintf(check_why_, sizeof check_why_, "%s:%d: %s: ", __FILE__, __LINE__, #cond); \
    if (n_ > 0 && (size_t)n_ < sizeof check_why_) snprintf(check_why_ + n_, sizeof check_why_ - n_, __VA_ARGS__); } \
    check_failed_ = 1; } } while (0)
static inline int check_streq_(const char *a, const char *b) { return a && b && strcmp(a, b) == 0; }
static inline const char *check_str_(const char *a) { return a ? a : "(null)"; }
#define CHECK_STR(a, b) CHECKF(check_streq_((a), (b)), "got \"%s\", want \"%s\"", check_str_(a), check_str_(b))
#define CHECK_INT(a, b) CHECKF((long long)(a) == (long long)(b), "got %lld, want %lld", (long long)(a), (long long)(b))
#define CHECK_NEAR(a, b, eps) CHECKF(fabs((double)(a) - (double)(b)) <= (eps), "got %.9g, want %.9g", (double)(a), (double)(b))

static int tests_failed_;
#define RUN(fn) do { check_failed_ = 0; check_why_[0] = 0; fn(); \
    if (check_failed_) { printf("not ok %s: %s\n", #fn, check_why_); tests_failed_++; } \
    else { printf("ok %s\n", #fn); } fflush(stdout); } while (0)
#define SKIP(fn, why) do { printf("skip %s: %s\n", #fn, why); fflush(stdout); } while (0)
#define TESTS_DONE() return tests_failed_ ? 1 : 0

/* A fresh temporary directory; removed by rm_rf. */
static inline char *test_tmpdir(void) {
    char tmpl[] = "/tmp/ragd-test-XXXXXX";
    char *d = mkdtemp(tmpl);
    return d ? strdup(d) : NULL;
}
static inline void test_rm_rf(const char *dir) {
    char cmd[1024];
    if (dir && strncmp(dir, "/tmp/ragd-test-", 15) == 0) {
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    }
}
static inline int test_write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t n = strlen(text);
    int ok = fwrite(text, 1, n, f) == n;
    return (fclose(f) == 0 && ok) ? 0 : -1;
}
/* ../shared or $RAGD_SHARED; NULL when absent (tests then skip, saying so). */
static inline const char *test_shared_dir(void) {
    const char *s = getenv("RAGD_SHARED");
    static char buf[1024];
    if (!s) { snprintf(buf, sizeof buf, "../shared"); s = buf; }
    char probe[1100];
    snprintf(probe, sizeof probe, "%s/README.md", s);
    FILE *f = fopen(probe, "r");
    if (!f) return NULL;
    fclose(f);
    return s;
}
#endif
