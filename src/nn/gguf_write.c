/* GGUF v3 writer: the header and metadata are built in memory, tensor data streamed. */
#include "nn/gguf_write.h"
#include "nn/gguf.h"
#include "core/util.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *name;
    int type, n_dims;
    int64_t ne[4];
    const void *data;
    size_t nbytes;
} wtensor;

struct rg_gguf_writer {
    rg_buf kv;
    uint64_t n_kv;
    wtensor *t;
    size_t n_t, cap_t;
};

static void put_u32(rg_buf *b, uint32_t v) {
    uint8_t p[4];
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
    rg_buf_put(b, p, 4);
}
static void put_u64(rg_buf *b, uint64_t v) {
    uint8_t p[8];
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
    rg_buf_put(b, p, 8);
}
static void put_str(rg_buf *b, const char *s) {
    size_t n = strlen(s);
    put_u64(b, n);
    rg_buf_put(b, s, n);
}

rg_gguf_writer *rg_gguf_writer_new(void) { return xcalloc(1, sizeof(rg_gguf_writer)); }

void rg_gguf_writer_free(rg_gguf_writer *w) {
    if (!w) return;
    rg_buf_free(&w->kv);
    for (size_t i = 0; i < w->n_t; i++) free(w->t[i].name);
    free(w->t);
    free(w);
}

static void key(rg_gguf_writer *w, const char *k, uint32_t type) {
    put_str(&w->kv, k);
    put_u32(&w->kv, type);
    w->n_kv++;
}

void rg_gguf_w_str(rg_gguf_writer *w, const char *k, const char *v) { key(w, k, RG_GGUF_STRING); put_str(&w->kv, v); }
void rg_gguf_w_u32(rg_gguf_writer *w, const char *k, uint32_t v) { key(w, k, RG_GGUF_U32); put_u32(&w->kv, v); }
void rg_gguf_w_f32(rg_gguf_writer *w, const char *k, float v) {
    uint32_t u;
    memcpy(&u, &v, 4);
    key(w, k, RG_GGUF_F32);
    put_u32(&w->kv, u);
}
void rg_gguf_w_bool(rg_gguf_writer *w, const char *k, int v) {
    key(w, k, RG_GGUF_BOOL);
    rg_buf_putc(&w->kv, v ? 1 : 0);
}
void rg_gguf_w_str_arr(rg_gguf_writer *w, const char *k, const char *const *v, size_t n) {
    key(w, k, RG_GGUF_ARRAY);
    put_u32(&w->kv, RG_GGUF_STRING);
    put_u64(&w->kv, n);
    for (size_t i = 0; i < n; i++) put_str(&w->kv, v[i]);
}
void rg_gguf_w_i32_arr(rg_gguf_writer *w, const char *k, const int32_t *v, size_t n) {
    key(w, k, RG_GGUF_ARRAY);
    put_u32(&w->kv, RG_GGUF_I32);
    put_u64(&w->kv, n);
    for (size_t i = 0; i < n; i++) put_u32(&w->kv, (uint32_t)v[i]);
}

void rg_gguf_w_tensor(rg_gguf_writer *w, const char *name, int type, int n_dims,
                      const int64_t *ne, const void *data, size_t nbytes) {
    if (w->n_t == w->cap_t) {
        w->cap_t = w->cap_t ? 2 * w->cap_t : 16;
        w->t = xrealloc(w->t, w->cap_t * sizeof *w->t);
    }
    wtensor *t = &w->t[w->n_t++];
    memset(t, 0, sizeof *t);
    t->name = xstrdup(name);
    t->type = type;
    t->n_dims = n_dims < 1 ? 1 : n_dims > 4 ? 4 : n_dims;
    for (int d = 0; d < t->n_dims; d++) t->ne[d] = ne[d];
    t->data = data;
    t->nbytes = nbytes;
}

#define ALIGN 32
static size_t pad(size_t x) { return (ALIGN - x % ALIGN) % ALIGN; }

int rg_gguf_writer_save(rg_gguf_writer *w, const char *path) {
    rg_buf h = {0};
    put_u32(&h, 0x46554747u);
    put_u32(&h, 3);
    put_u64(&h, w->n_t);
    put_u64(&h, w->n_kv);
    rg_buf_put(&h, w->kv.data, w->kv.len);
    size_t off = 0;
    for (size_t i = 0; i < w->n_t; i++) {
        const wtensor *t = &w->t[i];
        put_str(&h, t->name);
        put_u32(&h, (uint32_t)t->n_dims);
        for (int d = 0; d < t->n_dims; d++) put_u64(&h, (uint64_t)t->ne[d]);
        put_u32(&h, (uint32_t)t->type);
        put_u64(&h, off);
        off += t->nbytes + pad(t->nbytes);
    }
    static const char zeros[ALIGN];
    rg_buf_put(&h, zeros, pad(h.len));
    FILE *f = fopen(path, "wb");
    if (!f) { rg_err("%s: cannot create: %s", path, strerror(errno)); rg_buf_free(&h); return -1; }
    int ok = fwrite(h.data, 1, h.len, f) == h.len;
    for (size_t i = 0; ok && i < w->n_t; i++) {
        const wtensor *t = &w->t[i];
        size_t np = i + 1 < w->n_t ? pad(t->nbytes) : 0;   /* no tail padding: the file ends
                                                           * where the last tensor does */
        ok = fwrite(t->data, 1, t->nbytes, f) == t->nbytes && fwrite(zeros, 1, np, f) == np;
    }
    rg_buf_free(&h);
    if (fclose(f) || !ok) { rg_err("%s: write failed", path); return -1; }
    return 0;
}
