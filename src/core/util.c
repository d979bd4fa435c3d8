/* core/util: see util.h */
#include "core/util.h"
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <libgen.h>
#include <openssl/evp.h>
#include <xxhash.h>

static _Thread_local char err_buf[1024];

void rg_err(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err_buf, sizeof err_buf, fmt, ap);
    va_end(ap);
}
const char *rg_errmsg(void) { return err_buf[0] ? err_buf : "unknown error"; }

static void oom(size_t n) {
    fprintf(stderr, "ragd: out of memory allocating %zu bytes\n", n);
    abort();
}
void *xmalloc(size_t n) { void *p = malloc(n ? n : 1); if (!p) oom(n); return p; }
void *xcalloc(size_t n, size_t size) { void *p = calloc(n ? n : 1, size ? size : 1); if (!p) oom(n * size); return p; }
void *xrealloc(void *p, size_t n) { void *q = realloc(p, n ? n : 1); if (!q) oom(n); return q; }
char *xstrdup(const char *s) { return xstrndup(s, strlen(s)); }
char *xstrndup(const char *s, size_t n) {
    char *p = xmalloc(n + 1);
    memcpy(p, s, n);
    p[n] = 0;
    return p;
}
char *xasprintf(const char *fmt, ...) {
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    char small[256];
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) n = 0;
    char *p = xmalloc((size_t)n + 1);
    if ((size_t)n < sizeof small) memcpy(p, small, (size_t)n + 1);
    else vsnprintf(p, (size_t)n + 1, fmt, ap2);
    va_end(ap2);
    return p;
}

void rg_buf_grow(rg_buf *b, size_t need) {
    if (need < b->cap - b->len) return;   /* room already (len < cap whenever cap > 0) */
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->len + need + 1) cap *= 2;
    b->data = xrealloc(b->data, cap);
    b->cap = cap;
}
void rg_buf_put_grow(rg_buf *b, const void *p, size_t n) {
    rg_buf_grow(b, n);
    if (n) memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = 0;
}

int rg_cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}
void rg_buf_puts(rg_buf *b, const char *s) { rg_buf_put(b, s, strlen(s)); }
void rg_buf_putc(rg_buf *b, char c) { rg_buf_put(b, &c, 1); }
void rg_buf_printf(rg_buf *b, const char *fmt, ...) {
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    char small[256];
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n > 0 && (size_t)n < sizeof small) rg_buf_put(b, small, (size_t)n);
    else if (n > 0) {
        rg_buf_grow(b, (size_t)n);
        vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap2);
        b->len += (size_t)n;
    }
    va_end(ap2);
}
char *rg_buf_take(rg_buf *b) {
    if (!b->data) return xstrdup("");
    char *p = b->data;
    b->data = NULL;
    b->len = b->cap = 0;
    return p;
}
void rg_buf_free(rg_buf *b) { free(b->data); b->data = NULL; b->len = b->cap = 0; }

struct rg_strblock {
    struct rg_strblock *next;
    size_t used, cap;
    char data[];
};
#define STRBLOCK_MAX (64 * 1024)

char *rg_strpool_dup(rg_strpool *p, const char *s, size_t n, size_t first) {
    struct rg_strblock *b = p->head;
    if (!b || b->cap - b->used < n + 1) {
        size_t cap = b ? 2 * b->cap : first;
        if (cap > STRBLOCK_MAX) cap = STRBLOCK_MAX;
        if (cap < n + 1) cap = n + 1;
        struct rg_strblock *nb = xmalloc(sizeof *nb + cap);
        nb->next = b;
        nb->used = 0;
        nb->cap = cap;
        p->head = b = nb;
    }
    char *d = b->data + b->used;
    if (n) memcpy(d, s, n);
    d[n] = 0;
    b->used += n + 1;
    return d;
}

void rg_strpool_adopt(rg_strpool *into, rg_strpool *from) {
    if (!from->head) return;
    if (!into->head) { into->head = from->head; from->head = NULL; return; }
    struct rg_strblock *tail = into->head;
    while (tail->next) tail = tail->next;
    tail->next = from->head;   /* behind into's head, which stays the block being filled */
    from->head = NULL;
}

void rg_strpool_free(rg_strpool *p) {
    for (struct rg_strblock *b = p->head, *next; b; b = next) { next = b->next; free(b); }
    p->head = NULL;
}

int rg_read_file_into(const char *path, size_t max_bytes, rg_buf *b) {
    b->len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) { rg_err("%s: %s", path, strerror(errno)); return -1; }
    struct stat st;
    if (fstat(fd, &st) != 0) { rg_err("%s: %s", path, strerror(errno)); close(fd); return -1; }
    if (S_ISDIR(st.st_mode)) { rg_err("%s: is a directory", path); close(fd); return -1; }
    if (S_ISREG(st.st_mode) && (uint64_t)st.st_size > max_bytes) {
        rg_err("%s: %lld bytes, over the limit of %zu", path, (long long)st.st_size, max_bytes);
        close(fd);
        return -1;
    }
    /* read straight into room for the file's size (one more read sees the end); a file that
     * grows meanwhile, or a pipe, grows the buffer */
    size_t want = (S_ISREG(st.st_mode) && st.st_size > 0 ? (size_t)st.st_size : 65536) + 2;
    if (b->cap < want) {   /* exactly that: a one-off read of a big file is not rounded up */
        b->data = xrealloc(b->data, want);
        b->cap = want;
    }
    b->data[0] = 0;
    for (;;) {
        if (b->cap - b->len - 1 == 0) rg_buf_grow(b, b->cap);
        ssize_t n = read(fd, b->data + b->len, b->cap - b->len - 1);
        if (n < 0) {
            if (errno == EINTR) continue;
            rg_err("%s: %s", path, strerror(errno));
            b->len = 0; b->data[0] = 0; close(fd); return -1;
        }
        if (n == 0) break;
        if (b->len + (size_t)n > max_bytes) {
            rg_err("%s: over the limit of %zu bytes", path, max_bytes);
            b->len = 0; b->data[0] = 0; close(fd); return -1;
        }
        b->len += (size_t)n;
        b->data[b->len] = 0;
    }
    close(fd);
    return 0;
}

char *rg_read_file(const char *path, size_t max_bytes, size_t *len) {
    rg_buf b = {0};
    if (rg_read_file_into(path, max_bytes, &b) != 0) { rg_buf_free(&b); return NULL; }
    if (len) *len = b.len;
    return rg_buf_take(&b);
}

int rg_write_file_atomic(const char *path, const void *data, size_t len) {
    char *tmp = xasprintf("%s.tmp.%d", path, (int)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) { rg_err("%s: %s", tmp, strerror(errno)); free(tmp); return -1; }
    const char *p = data;
    size_t left = len;
    while (left) {
        ssize_t n = write(fd, p, left);
        if (n < 0) {
            if (errno == EINTR) continue;
            rg_err("%s: %s", tmp, strerror(errno));
            close(fd); unlink(tmp); free(tmp); return -1;
        }
        p += n; left -= (size_t)n;
    }
    if (fsync(fd) != 0 || close(fd) != 0) {
        rg_err("%s: %s", tmp, strerror(errno)); unlink(tmp); free(tmp); return -1;
    }
    if (rename(tmp, path) != 0) {
        rg_err("%s: %s", path, strerror(errno)); unlink(tmp); free(tmp); return -1;
    }
    free(tmp);
    char *dcopy = xstrdup(path);
    int dfd = open(dirname(dcopy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) { fsync(dfd); close(dfd); }
    free(dcopy);
    return 0;
}

int rg_mkdir_p(const char *path, int mode) {
    char *p = xstrdup(path);
    for (char *s = p + 1; *s; s++) {
        if (*s != '/') continue;
        *s = 0;
        if (mkdir(p, (mode_t)mode) != 0 && errno != EEXIST) { rg_err("%s: %s", p, strerror(errno)); free(p); return -1; }
        *s = '/';
    }
    if (mkdir(p, (mode_t)mode) != 0 && errno != EEXIST) { rg_err("%s: %s", p, strerror(errno)); free(p); return -1; }
    free(p);
    return 0;
}

/* n bytes as 2n lower-case hex digits and a NUL */
static void hex_bytes(const unsigned char *b, size_t n, char *out) {
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) { out[2 * i] = hex[b[i] >> 4]; out[2 * i + 1] = hex[b[i] & 15]; }
    out[2 * n] = 0;
}

void rg_sha256_hex(const void *data, size_t len, char out[65]) {
    rg_sha256_hex2(data, len, NULL, 0, out);
}

void rg_sha256_hex2(const void *a, size_t alen, const void *b, size_t blen, char out[65]) {
    unsigned char md[32];
    unsigned int mdlen = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx) { fprintf(stderr, "ragd: out of memory for a digest\n"); abort(); }
    EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
    EVP_DigestUpdate(ctx, a, alen);
    if (blen) EVP_DigestUpdate(ctx, b, blen);
    EVP_DigestFinal_ex(ctx, md, &mdlen);
    EVP_MD_CTX_free(ctx);
    hex_bytes(md, 32, out);
}

void rg_content_hash(const void *a, size_t alen, const void *b, size_t blen, char out[65]) {
    XXH3_state_t *st = XXH3_createState();
    if (!st) { fprintf(stderr, "ragd: out of memory for a digest\n"); abort(); }
    XXH3_128bits_reset(st);
    XXH3_128bits_update(st, a, alen);
    if (blen) XXH3_128bits_update(st, b, blen);
    XXH128_canonical_t c;
    XXH128_canonicalFromHash(&c, XXH3_128bits_digest(st));
    XXH3_freeState(st);
    size_t n = sizeof RG_CONTENT_HASH_PREFIX - 1;
    memcpy(out, RG_CONTENT_HASH_PREFIX, n);
    hex_bytes(c.digest, sizeof c.digest, out + n);
}

double rg_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}
int64_t rg_unix_time(void) { return (int64_t)time(NULL); }
long rg_peak_rss_kb(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 when invalid. */
static int utf8_seq(const unsigned char *s, size_t left) {
    unsigned c = s[0];
    if (c < 0x80) return 1;
    int n; unsigned min;
    if ((c & 0xE0) == 0xC0) { n = 2; min = 0x80; c &= 0x1F; }
    else if ((c & 0xF0) == 0xE0) { n = 3; min = 0x800; c &= 0x0F; }
    else if ((c & 0xF8) == 0xF0) { n = 4; min = 0x10000; c &= 0x07; }
    else return 0;
    if ((size_t)n > left) return 0;
    for (int i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        c = (c << 6) | (s[i] & 0x3F);
    }
    if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) return 0;
    return n;
}
int rg_utf8_valid(const char *s, size_t len) {
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < len;) {
        int n = utf8_seq(p + i, len - i);
        if (!n || p[i] == 0) return 0;
        i += (size_t)n;
    }
    return 1;
}
char *rg_utf8_repair(const char *s, size_t len, size_t *out_len, int *repaired) {
    rg_buf b = {0};
    const unsigned char *p = (const unsigned char *)s;
    int fixed = 0;
    rg_buf_grow(&b, len);
    size_t run = 0;   /* start of the pending run of valid bytes, copied in one go */
    for (size_t i = 0; i < len;) {
        if (p[i] && p[i] < 0x80) { i++; continue; }   /* ASCII fast path */
        int n = utf8_seq(p + i, len - i);
        if (n && p[i]) { i += (size_t)n; continue; }
        rg_buf_put(&b, p + run, i - run);
        if (!n) rg_buf_put(&b, "\xEF\xBF\xBD", 3);
        fixed = 1;
        run = ++i;
    }
    rg_buf_put(&b, p + run, len - run);
    if (out_len) *out_len = b.len;
    if (repaired) *repaired = fixed;
    return rg_buf_take(&b);
}

int rg_strcasestr_pos(const char *hay, const char *needle) {
    const char *p = strcasestr(hay, needle);
    return p ? (int)(p - hay) : -1;
}
int rg_glob_match(const char *pattern, const char *text) {
    return fnmatch(pattern, text, 0) == 0;
}
