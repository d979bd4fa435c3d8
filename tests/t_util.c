/* core/util: reading files whole (rg_read_file), from real files, a directory and a pipe;
 * string pools; the content hash. */
#include "check.h"
#include "core/util.h"
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* n bytes of a repeating pattern with no NUL in it */
static char *pattern(size_t n) {
    char *p = xmalloc(n + 1);
    for (size_t i = 0; i < n; i++) p[i] = (char)('a' + (i * 7 + i / 251) % 26);
    p[n] = 0;
    return p;
}

static void test_read_sizes(void) {
    char *dir = test_tmpdir();
    static const size_t sizes[] = {0, 1, 4095, 65535, 65536, 65537, 300001};
    for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
        char *path = xasprintf("%s/f%zu", dir, k);
        char *want = pattern(sizes[k]);
        CHECK(test_write_file(path, want) == 0);
        size_t len = 12345;
        char *got = rg_read_file(path, 1 << 20, &len);
        CHECKF(got && len == sizes[k] && memcmp(got, want, sizes[k]) == 0 && got[len] == 0, "size %zu: len %zu", sizes[k], len);
        free(got);
        /* the limit: a file of exactly max bytes reads, one byte more is refused, naming it */
        if (sizes[k] > 0) {
            got = rg_read_file(path, sizes[k], &len);
            CHECK(got && len == sizes[k]);
            free(got);
            got = rg_read_file(path, sizes[k] - 1, &len);
            CHECK(got == NULL && strstr(rg_errmsg(), path) && strstr(rg_errmsg(), "limit"));
        }
        free(want);
        free(path);
    }
    CHECK(rg_read_file(dir, 100, NULL) == NULL && strstr(rg_errmsg(), "directory"));
    char *missing = xasprintf("%s/missing", dir);
    CHECK(rg_read_file(missing, 100, NULL) == NULL && strstr(rg_errmsg(), missing));
    free(missing);
    test_rm_rf(dir);
    free(dir);
}

/* A pipe has no size: the buffer grows as it reads, and the limit still holds. */
static void test_read_pipe(void) {
    char *dir = test_tmpdir();
    char *fifo = xasprintf("%s/fifo", dir);
    CHECK(mkfifo(fifo, 0600) == 0);
    const size_t n = 200000;
    char *want = pattern(n);
    for (int round = 0; round < 2; round++) {
        pid_t pid = fork();
        if (pid == 0) {
            int fd = open(fifo, O_WRONLY);
            size_t off = 0;
            while (fd >= 0 && off < n) {
                ssize_t w = write(fd, want + off, n - off);
                if (w <= 0) break;
                off += (size_t)w;
            }
            _exit(0);
        }
        size_t len = 0;
        char *got = rg_read_file(fifo, round == 0 ? n : n / 2, &len);
        if (round == 0) CHECK(got && len == n && memcmp(got, want, n) == 0 && got[n] == 0);
        else CHECK(got == NULL && strstr(rg_errmsg(), "limit"));
        free(got);
        int status;
        kill(pid, SIGKILL);   /* a writer the reader stopped listening to */
        waitpid(pid, &status, 0);
    }
    free(want);
    free(fifo);
    test_rm_rf(dir);
    free(dir);
}

/* Strings copied into a pool keep their bytes while more are added (blocks never move), one
 * larger than a block gets a block of its own, and a pool adopted by another lives with it. */
static void test_strpool(void) {
    rg_strpool a = {0}, b = {0};
    enum { N = 20000 };
    char **p = xmalloc(N * sizeof *p);
    char want[64];
    int bad = 0;
    for (int i = 0; i < N; i++) {
        int n = snprintf(want, sizeof want, "cell %d of %d", i, N);
        p[i] = rg_strpool_dup(i % 2 ? &a : &b, want, (size_t)n, 64);
    }
    char *big = pattern(200000);
    char *pb = rg_strpool_dup(&a, big, 200000, 64);
    char *empty = rg_strpool_dup(&a, "", 0, 64);
    rg_strpool_adopt(&a, &b);
    CHECK(b.head == NULL);
    for (int i = 0; i < N; i++) {
        snprintf(want, sizeof want, "cell %d of %d", i, N);
        if (strcmp(p[i], want) != 0) bad++;
    }
    CHECK_INT(bad, 0);
    CHECK(memcmp(pb, big, 200000) == 0 && pb[200000] == 0);
    CHECK(empty[0] == 0);
    rg_strpool_free(&a);
    CHECK(a.head == NULL);
    rg_strpool_free(&b);   /* empty: nothing to do */
    free(big);
    free(p);
}

/* rg_content_hash: "xxh3:" and XXH3-128 in hex (the empty input's is XXH3's published value),
 * the same for a text given in two parts, different for a one-byte change. */
static void test_content_hash(void) {
    char h[65], h2[65];
    rg_content_hash("", 0, NULL, 0, h);
    CHECK_STR(h, "xxh3:99aa06d3014798d86001c324468d497f");
    char *p = pattern(100000);
    rg_content_hash(p, 100000, NULL, 0, h);
    rg_content_hash(p, 65537, p + 65537, 100000 - 65537, h2);
    CHECK_STR(h, h2);
    CHECK_INT(strlen(h), 37);
    p[50000] ^= 1;
    rg_content_hash(p, 100000, NULL, 0, h2);
    CHECK(strcmp(h, h2) != 0);
    free(p);
}

int main(void) {
    RUN(test_read_sizes);
    RUN(test_read_pipe);
    RUN(test_strpool);
    RUN(test_content_hash);
    TESTS_DONE();
}
