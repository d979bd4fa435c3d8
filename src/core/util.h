/* core/util: small helpers every module uses.
 * - rg_err/rg_errmsg: a per-thread "last error" message; functions return -1 or NULL and
 *   set it, callers print it once, naming the input.
 * - xmalloc & co: abort with a message on out-of-memory (the only thing we do not recover from).
 * - rg_buf: a growable byte buffer; rg_read_file with a size cap; sha256 hex digests.
 * - rg_strpool: many small strings freed together (blocks that never move). */
#ifndef RAGD_CORE_UTIL_H
#define RAGD_CORE_UTIL_H
#include <stddef.h>
#include <stdint.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void rg_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
const char *rg_errmsg(void);

void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2), nonnull(1), returns_nonnull));

typedef struct { char *data; size_t len, cap; } rg_buf;
void rg_buf_put_grow(rg_buf *b, const void *p, size_t n);   /* rg_buf_put when it must grow */
/* Appends n bytes (and keeps a NUL after them). Inline while the buffer has room: rows and
 * cells are built a few bytes at a time. */
static inline void rg_buf_put(rg_buf *b, const void *p, size_t n) {
    if (n < b->cap - b->len) {   /* room for n bytes and the NUL (no overflow: len < cap) */
        if (n) memcpy(b->data + b->len, p, n);   /* p may be NULL when n is 0 */
        b->len += n;
        b->data[b->len] = 0;
    } else {
        rg_buf_put_grow(b, p, n);
    }
}
void rg_buf_puts(rg_buf *b, const char *s);
void rg_buf_putc(rg_buf *b, char c);
void rg_buf_printf(rg_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
char *rg_buf_take(rg_buf *b);     /* NUL-terminated string; the buffer is reset */
/* Room for n more bytes and the NUL after them, for a writer that fills data + len itself
 * (then sets len and the NUL). Inline while there is room; rg_buf_grow makes it. */
void rg_buf_grow(rg_buf *b, size_t n);
static inline void rg_buf_reserve(rg_buf *b, size_t n) {
    if (n >= b->cap - b->len) rg_buf_grow(b, n);
}
void rg_buf_free(rg_buf *b);

/* qsort/bsearch order of int64_t values. */
int rg_cmp_i64(const void *a, const void *b);

/* Copies of strings that live until rg_strpool_free: one malloc per block, not per string.
 * first: the size of the first block (later ones double, up to 64 KB). */
typedef struct { struct rg_strblock *head; } rg_strpool;
char *rg_strpool_dup(rg_strpool *p, const char *s, size_t n, size_t first);   /* NUL-terminated */
void rg_strpool_free(rg_strpool *p);
void rg_strpool_adopt(rg_strpool *into, rg_strpool *from);   /* from's strings now live as long as into's */

/* Reads a whole file, NUL-terminated (the NUL is not counted in *len). Fails, with rg_err set,
 * when the file is unreadable or larger than max_bytes. */
char *rg_read_file(const char *path, size_t max_bytes, size_t *len);
/* The same into b (replacing its contents, NUL-terminated): a reader of many files reuses
 * one buffer instead of a fresh allocation, and its page faults, per file. 0 or -1. */
int rg_read_file_into(const char *path, size_t max_bytes, rg_buf *b);
/* Writes a file atomically: temp file in the same directory, fsync, rename, fsync dir. */
int rg_write_file_atomic(const char *path, const void *data, size_t len);
int rg_mkdir_p(const char *path, int mode);

void rg_sha256_hex(const void *data, size_t len, char out[65]);
/* The digest of a followed by b, without joining them. */
void rg_sha256_hex2(const void *a, size_t alen, const void *b, size_t blen, char out[65]);
/* A content hash of a followed by b, for noticing that a source changed: "xxh3:" and XXH3's
 * 128 bits in hex (about 20x SHA-256's speed here; not for adversaries, who could make two
 * sources collide, but a source's writer can change it anyway). */
#define RG_CONTENT_HASH_PREFIX "xxh3:"
void rg_content_hash(const void *a, size_t alen, const void *b, size_t blen, char out[65]);
double rg_now(void);                 /* monotonic seconds */
int64_t rg_unix_time(void);
long rg_peak_rss_kb(void);

/* UTF-8: copy of s with invalid sequences replaced by U+FFFD and NULs dropped. */
char *rg_utf8_repair(const char *s, size_t len, size_t *out_len, int *repaired);
int rg_utf8_valid(const char *s, size_t len);

/* Case-insensitive ASCII helpers */
int rg_strcasestr_pos(const char *hay, const char *needle);
int rg_glob_match(const char *pattern, const char *text);   /* fnmatch, '*' crosses '/' */
#endif
