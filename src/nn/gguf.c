/* GGUF v3 reader. Layout: magic "GGUF", u32 version, u64 tensor count, u64 kv count, the kv
 * pairs (string key, u32 type, value), the tensor infos (string name, u32 n_dims, u64 dims,
 * u32 type, u64 offset), padding to general.alignment, then the tensor data. Everything is
 * little-endian. Every read goes through a bounds-checked cursor. */
#include "nn/gguf.h"
#include "nn/tensor.h"
#include "core/util.h"
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* Limits that no sane model reaches; they keep hostile counts from driving huge allocations. */
#define MAX_TENSORS   (1u << 16)
#define MAX_KV        (1u << 16)
#define MAX_NAME      1024          /* tensor names and keys */
#define MAX_ARR_DEPTH 1             /* arrays of arrays are not used by models we read */

typedef struct {
    char *key;
    int type;
    union { uint64_t u; int64_t i; double f; } v;   /* scalars */
    rg_gguf_str s;                                  /* string */
    int arr_type;                                   /* arrays */
    size_t arr_n;
    const void *arr_data;
    rg_gguf_str *arr_strs;                          /* string arrays */
} kv_t;

struct rg_gguf {
    const uint8_t *base;
    size_t size;
    int mapped;
    int writable;                  /* rg_gguf_tensor_data_mut made the mapping writable */
    size_t map_len;                /* what munmap gives back (rg_gguf_open_resident rounds up) */
    char *what;
    uint32_t version;
    size_t alignment;
    size_t header_len;
    kv_t *kv;
    size_t n_kv;
    size_t *kv_sorted;             /* indexes sorted by key, for lookup */
    rg_gguf_tensor *t;
    size_t n_t;
    size_t *t_sorted;
};

typedef struct {
    const uint8_t *p;
    size_t pos, size;
    const char *what;
    int failed;
} cur_t;

static int cur_fail(cur_t *c, const char *why) {
    if (!c->failed) rg_err("%s: invalid GGUF: %s (at byte %zu)", c->what, why, c->pos);
    c->failed = 1;
    return -1;
}

static int need(cur_t *c, size_t n, const char *why) {
    if (c->failed) return -1;
    if (n > c->size - c->pos) return cur_fail(c, why);
    return 0;
}

static uint64_t rd_le(const uint8_t *p, int n) {
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

static int rd_u32(cur_t *c, uint32_t *v, const char *why) {
    if (need(c, 4, why)) return -1;
    *v = (uint32_t)rd_le(c->p + c->pos, 4);
    c->pos += 4;
    return 0;
}

static int rd_u64(cur_t *c, uint64_t *v, const char *why) {
    if (need(c, 8, why)) return -1;
    *v = rd_le(c->p + c->pos, 8);
    c->pos += 8;
    return 0;
}

static int rd_str(cur_t *c, rg_gguf_str *s, const char *why) {
    uint64_t n;
    if (rd_u64(c, &n, why)) return -1;
    if (n > c->size - c->pos) return cur_fail(c, "string length past end of file");
    s->p = (const char *)c->p + c->pos;
    s->len = (size_t)n;
    c->pos += (size_t)n;
    return 0;
}

static int scalar_size(int type) {
    switch (type) {
    case RG_GGUF_U8: case RG_GGUF_I8: case RG_GGUF_BOOL: return 1;
    case RG_GGUF_U16: case RG_GGUF_I16: return 2;
    case RG_GGUF_U32: case RG_GGUF_I32: case RG_GGUF_F32: return 4;
    case RG_GGUF_U64: case RG_GGUF_I64: case RG_GGUF_F64: return 8;
    default: return 0;
    }
}

/* Decodes scalar of `type` at p into kv's union. */
static void decode_scalar(int type, const uint8_t *p, kv_t *kv) {
    uint64_t raw = rd_le(p, scalar_size(type));
    switch (type) {
    case RG_GGUF_U8: case RG_GGUF_U16: case RG_GGUF_U32: case RG_GGUF_U64: case RG_GGUF_BOOL:
        kv->v.u = raw; break;
    case RG_GGUF_I8: kv->v.i = (int8_t)raw; break;
    case RG_GGUF_I16: kv->v.i = (int16_t)raw; break;
    case RG_GGUF_I32: kv->v.i = (int32_t)raw; break;
    case RG_GGUF_I64: kv->v.i = (int64_t)raw; break;
    case RG_GGUF_F32: { uint32_t u = (uint32_t)raw; float f; memcpy(&f, &u, 4); kv->v.f = f; break; }
    case RG_GGUF_F64: { double d; memcpy(&d, &raw, 8); kv->v.f = d; break; }
    default: break;
    }
}

static int has_nul(const rg_gguf_str *s) { return s->len && memchr(s->p, 0, s->len) != NULL; }

static int read_kv(cur_t *c, kv_t *kv) {
    rg_gguf_str key;
    uint32_t type;
    if (rd_str(c, &key, "metadata key")) return -1;
    if (key.len == 0 || key.len > MAX_NAME || has_nul(&key)) return cur_fail(c, "bad metadata key");
    kv->key = xstrndup(key.p, key.len);
    if (rd_u32(c, &type, "metadata value type")) return -1;
    kv->type = (int)type;
    if (type == RG_GGUF_STRING) return rd_str(c, &kv->s, "metadata string");
    if (type == RG_GGUF_ARRAY) {
        uint32_t et;
        uint64_t n;
        if (rd_u32(c, &et, "array element type") || rd_u64(c, &n, "array length")) return -1;
        kv->arr_type = (int)et;
        if (et == RG_GGUF_STRING) {
            /* each string takes at least its 8-byte length: bounds n before allocating */
            if (n > (c->size - c->pos) / 8) return cur_fail(c, "string array length past end of file");
            kv->arr_n = (size_t)n;
            kv->arr_strs = xcalloc(n ? n : 1, sizeof *kv->arr_strs);
            for (size_t i = 0; i < n; i++)
                if (rd_str(c, &kv->arr_strs[i], "array string")) return -1;
            return 0;
        }
        int es = scalar_size((int)et);
        if (!es) return cur_fail(c, "unsupported array element type");
        if (n > (c->size - c->pos) / (size_t)es) return cur_fail(c, "array length past end of file");
        kv->arr_n = (size_t)n;
        kv->arr_data = c->p + c->pos;
        c->pos += (size_t)n * (size_t)es;
        return 0;
    }
    int sz = scalar_size((int)type);
    if (!sz) return cur_fail(c, "unknown metadata value type");
    if (need(c, (size_t)sz, "metadata value")) return -1;
    decode_scalar((int)type, c->p + c->pos, kv);
    c->pos += (size_t)sz;
    if (type == RG_GGUF_BOOL && kv->v.u > 1) return cur_fail(c, "bool value not 0 or 1");
    return 0;
}

/* Sorts index arrays by name with a merge sort (qsort has no context argument, and a global
 * would make opening files from several threads unsafe). */
static void msort(size_t *a, size_t *tmp, size_t n, const rg_gguf *g, int tensors) {
    if (n < 2) return;
    size_t h = n / 2;
    msort(a, tmp, h, g, tensors);
    msort(a + h, tmp, n - h, g, tensors);
    size_t i = 0, j = h, k = 0;
    while (i < h && j < n) {
        const char *x = tensors ? g->t[a[i]].name : g->kv[a[i]].key;
        const char *y = tensors ? g->t[a[j]].name : g->kv[a[j]].key;
        tmp[k++] = strcmp(x, y) <= 0 ? a[i++] : a[j++];
    }
    while (i < h) tmp[k++] = a[i++];
    while (j < n) tmp[k++] = a[j++];
    memcpy(a, tmp, n * sizeof *a);
}

static size_t *sorted_index(const rg_gguf *g, size_t n, int tensors) {
    size_t *a = xmalloc((n ? n : 1) * sizeof *a), *tmp = xmalloc((n ? n : 1) * sizeof *a);
    for (size_t i = 0; i < n; i++) a[i] = i;
    msort(a, tmp, n, g, tensors);
    free(tmp);
    return a;
}

static const kv_t *find_kv(const rg_gguf *g, const char *key) {
    if (!g || !key) return NULL;
    size_t lo = 0, hi = g->n_kv;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(g->kv[g->kv_sorted[mid]].key, key);
        if (c == 0) return &g->kv[g->kv_sorted[mid]];
        if (c < 0) lo = mid + 1; else hi = mid;
    }
    return NULL;
}

static int read_tensor_info(cur_t *c, rg_gguf_tensor *t) {
    rg_gguf_str name;
    uint32_t nd, type;
    if (rd_str(c, &name, "tensor name")) return -1;
    if (name.len == 0 || name.len > MAX_NAME || has_nul(&name)) return cur_fail(c, "bad tensor name");
    t->name = xstrndup(name.p, name.len);
    if (rd_u32(c, &nd, "tensor dimension count")) return -1;
    if (nd < 1 || nd > RG_GGUF_MAX_DIMS) return cur_fail(c, "tensor dimension count not 1..4");
    t->n_dims = (int)nd;
    int64_t nelem = 1;
    for (int d = 0; d < RG_GGUF_MAX_DIMS; d++) t->ne[d] = 1;
    for (uint32_t d = 0; d < nd; d++) {
        uint64_t v;
        if (rd_u64(c, &v, "tensor dimension")) return -1;
        if (v == 0 || v > (uint64_t)INT64_MAX / (uint64_t)nelem) return cur_fail(c, "tensor dimension zero or too large");
        t->ne[d] = (int64_t)v;
        nelem *= (int64_t)v;
    }
    t->nelem = nelem;
    if (rd_u32(c, &type, "tensor type")) return -1;
    t->type = (int)type;
    uint64_t off;
    if (rd_u64(c, &off, "tensor offset")) return -1;
    t->data = (const void *)(uintptr_t)off;     /* resolved after the header is read */
    return 0;
}

static int open_common(rg_gguf *g) {
    cur_t c = { g->base, 0, g->size, g->what, 0 };
    uint32_t magic, version;
    uint64_t n_t, n_kv;
    if (g->size < 24) return cur_fail(&c, "file too short for a header");
    rd_u32(&c, &magic, "magic");
    if (magic != 0x46554747u) return cur_fail(&c, "bad magic (not a GGUF file)");
    rd_u32(&c, &version, "version");
    if (version != 2 && version != 3) {
        rg_err("%s: unsupported GGUF version %u (want 3)", g->what, version);
        return -1;
    }
    g->version = version;
    rd_u64(&c, &n_t, "tensor count");
    rd_u64(&c, &n_kv, "metadata count");
    if (n_t > MAX_TENSORS) return cur_fail(&c, "tensor count too large");
    if (n_kv > MAX_KV) return cur_fail(&c, "metadata count too large");
    /* each kv needs at least 8+1+4 bytes, each tensor info 8+1+4+8+4+8 */
    if (n_kv > g->size / 13 || n_t > g->size / 33) return cur_fail(&c, "counts exceed file size");
    g->kv = xcalloc(n_kv ? n_kv : 1, sizeof *g->kv);
    for (size_t i = 0; i < n_kv; i++) {
        g->n_kv = i + 1;
        if (read_kv(&c, &g->kv[i])) return -1;
    }
    g->kv_sorted = sorted_index(g, g->n_kv, 0);
    for (size_t i = 1; i < g->n_kv; i++)
        if (!strcmp(g->kv[g->kv_sorted[i]].key, g->kv[g->kv_sorted[i - 1]].key)) {
            rg_err("%s: invalid GGUF: duplicate metadata key %s", g->what, g->kv[g->kv_sorted[i]].key);
            return -1;
        }
    g->alignment = 32;
    const kv_t *al = find_kv(g, "general.alignment");
    if (al) {
        if (al->type != RG_GGUF_U32 || al->v.u == 0 || al->v.u > (1u << 16) || (al->v.u & (al->v.u - 1))) {
            rg_err("%s: invalid GGUF: general.alignment must be a u32 power of two", g->what);
            return -1;
        }
        g->alignment = (size_t)al->v.u;
    }
    g->t = xcalloc(n_t ? n_t : 1, sizeof *g->t);
    for (size_t i = 0; i < n_t; i++) {
        g->n_t = i + 1;
        if (read_tensor_info(&c, &g->t[i])) return -1;
    }
    g->n_t = (size_t)n_t;
    g->header_len = c.pos;
    size_t data_start = c.pos + (g->alignment - c.pos % g->alignment) % g->alignment;
    if (n_t && data_start > g->size) return cur_fail(&c, "tensor data section past end of file");
    size_t data_size = n_t ? g->size - data_start : 0;
    for (size_t i = 0; i < n_t; i++) {
        rg_gguf_tensor *t = &g->t[i];
        uint64_t off = (uint64_t)(uintptr_t)t->data;
        t->data = NULL;
        const rg_type_traits *tr = rg_type_get(t->type);
        if (!tr) {
            rg_err("%s: tensor %s has unsupported type %d", g->what, t->name, t->type);
            return -1;
        }
        if (t->ne[0] % tr->blck) {
            rg_err("%s: invalid GGUF: tensor %s row of %lld not a multiple of block %d", g->what,
                   t->name, (long long)t->ne[0], tr->blck);
            return -1;
        }
        uint64_t blocks = (uint64_t)t->nelem / (uint64_t)tr->blck;
        if (blocks > SIZE_MAX / tr->bytes) {
            rg_err("%s: invalid GGUF: tensor %s too large", g->what, t->name);
            return -1;
        }
        t->nbytes = (size_t)blocks * tr->bytes;
        if (off % g->alignment || off > data_size || t->nbytes > data_size - off) {
            rg_err("%s: invalid GGUF: tensor %s offset %llu size %zu outside the data section "
                   "(%zu bytes) or misaligned", g->what, t->name, (unsigned long long)off,
                   t->nbytes, data_size);
            return -1;
        }
        t->data = g->base + data_start + off;
    }
    g->t_sorted = sorted_index(g, g->n_t, 1);
    for (size_t i = 1; i < g->n_t; i++)
        if (!strcmp(g->t[g->t_sorted[i]].name, g->t[g->t_sorted[i - 1]].name)) {
            rg_err("%s: invalid GGUF: duplicate tensor %s", g->what, g->t[g->t_sorted[i]].name);
            return -1;
        }
    return 0;
}

rg_gguf *rg_gguf_open_mem(const void *data, size_t len, const char *what) {
    rg_gguf *g = xcalloc(1, sizeof *g);
    g->base = data;
    g->size = len;
    g->what = xstrdup(what ? what : "(memory)");
    if (!data && len) { rg_err("%s: no data", g->what); rg_gguf_close(g); return NULL; }
    if (open_common(g)) { rg_gguf_close(g); return NULL; }
    return g;
}

/* The file read into anonymous memory the kernel may back with 2 MB pages: a mapped file
 * gets 4 KB pages, and streaming every weight once per generated token through 4 KB pages
 * cost 15-30% of the read rate (TLB misses; bench/matvec --small-pages). The page cache's
 * copy is dropped after reading. NULL (errno set) when that fails; the caller maps instead. */
static void *read_huge(int fd, size_t size, size_t *alloc) {
    const size_t huge = (size_t)2 << 20;
    size_t n = (size + huge - 1) / huge * huge;
    void *m = mmap(NULL, n + huge, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) return NULL;
    /* a 2 MB aligned start inside the reservation; the rest is given back */
    uint8_t *a = (uint8_t *)(((uintptr_t)m + huge - 1) & ~(uintptr_t)(huge - 1));
    if (a > (uint8_t *)m) munmap(m, (size_t)(a - (uint8_t *)m));
    size_t tail = (size_t)((uint8_t *)m + n + huge - (a + n));
    if (tail) munmap(a + n, tail);
#ifdef MADV_HUGEPAGE
    madvise(a, n, MADV_HUGEPAGE);
#endif
    for (size_t off = 0; off < size;) {
        ssize_t r = pread(fd, a + off, size - off < ((size_t)64 << 20) ? size - off : ((size_t)64 << 20), (off_t)off);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) { int e = r < 0 ? errno : EIO; munmap(a, n); errno = e; return NULL; }
        off += (size_t)r;
    }
    mprotect(a, n, PROT_READ);
#ifdef POSIX_FADV_DONTNEED
    posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
#endif
    *alloc = n;
    return a;
}

static rg_gguf *open_file(const char *path, int huge) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) { rg_err("%s: cannot open: %s", path, strerror(errno)); return NULL; }
    struct stat st;
    if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
        rg_err("%s: not a regular file", path);
        close(fd);
        return NULL;
    }
    if (st.st_size < 24) {
        rg_err("%s: invalid GGUF: file too short (%lld bytes)", path, (long long)st.st_size);
        close(fd);
        return NULL;
    }
    size_t alloc = 0;
    void *m = huge ? read_huge(fd, (size_t)st.st_size, &alloc) : NULL;
    if (!m) {
        alloc = (size_t)st.st_size;
        m = mmap(NULL, alloc, PROT_READ, MAP_PRIVATE, fd, 0);
    }
    close(fd);
    if (m == MAP_FAILED) { rg_err("%s: cannot map: %s", path, strerror(errno)); return NULL; }
    rg_gguf *g = xcalloc(1, sizeof *g);
    g->base = m;
    g->size = (size_t)st.st_size;
    g->mapped = 1;
    g->map_len = alloc;
    g->what = xstrdup(path);
    if (open_common(g)) { rg_gguf_close(g); return NULL; }
    return g;
}

rg_gguf *rg_gguf_open(const char *path) { return open_file(path, 0); }
rg_gguf *rg_gguf_open_resident(const char *path) { return open_file(path, 1); }

void rg_gguf_close(rg_gguf *g) {
    if (!g) return;
    for (size_t i = 0; i < g->n_kv; i++) { free(g->kv[i].key); free(g->kv[i].arr_strs); }
    for (size_t i = 0; i < g->n_t; i++) free(g->t[i].name);
    free(g->kv); free(g->kv_sorted); free(g->t); free(g->t_sorted);
    if (g->mapped) munmap((void *)g->base, g->map_len);
    free(g->what);
    free(g);
}

uint32_t rg_gguf_version(const rg_gguf *g) { return g->version; }
const void *rg_gguf_header(const rg_gguf *g, size_t *len) { *len = g->header_len; return g->base; }
size_t rg_gguf_alignment(const rg_gguf *g) { return g->alignment; }
int rg_gguf_has(const rg_gguf *g, const char *key) { return find_kv(g, key) != NULL; }
int rg_gguf_type(const rg_gguf *g, const char *key) {
    const kv_t *kv = find_kv(g, key);
    return kv ? kv->type : -1;
}

static int is_int_type(int t) {
    return t == RG_GGUF_U8 || t == RG_GGUF_I8 || t == RG_GGUF_U16 || t == RG_GGUF_I16 ||
           t == RG_GGUF_U32 || t == RG_GGUF_I32 || t == RG_GGUF_U64 || t == RG_GGUF_I64 ||
           t == RG_GGUF_BOOL;
}
static int is_signed(int t) {
    return t == RG_GGUF_I8 || t == RG_GGUF_I16 || t == RG_GGUF_I32 || t == RG_GGUF_I64;
}

int rg_gguf_get_int(const rg_gguf *g, const char *key, int64_t *out) {
    const kv_t *kv = find_kv(g, key);
    if (!kv || !is_int_type(kv->type)) return -1;
    if (!is_signed(kv->type) && kv->v.u > (uint64_t)INT64_MAX) return -1;
    *out = is_signed(kv->type) ? kv->v.i : (int64_t)kv->v.u;
    return 0;
}

int rg_gguf_req_int(const rg_gguf *g, const char *key, int64_t *out) {
    if (rg_gguf_get_int(g, key, out) == 0) return 0;
    rg_err("%s: missing or non-integer metadata %s", g->what, key);
    return -1;
}

int rg_gguf_get_float(const rg_gguf *g, const char *key, double *out) {
    const kv_t *kv = find_kv(g, key);
    if (!kv) return -1;
    if (kv->type == RG_GGUF_F32 || kv->type == RG_GGUF_F64) { *out = kv->v.f; return 0; }
    int64_t i;
    if (rg_gguf_get_int(g, key, &i) == 0) { *out = (double)i; return 0; }
    return -1;
}

int rg_gguf_get_str(const rg_gguf *g, const char *key, rg_gguf_str *out) {
    const kv_t *kv = find_kv(g, key);
    if (!kv || kv->type != RG_GGUF_STRING) return -1;
    *out = kv->s;
    return 0;
}

char *rg_gguf_get_strdup(const rg_gguf *g, const char *key) {
    rg_gguf_str s;
    if (rg_gguf_get_str(g, key, &s)) return NULL;
    return xstrndup(s.p, s.len);
}

int rg_gguf_get_arr(const rg_gguf *g, const char *key, int *elem_type, size_t *n, const void **data) {
    const kv_t *kv = find_kv(g, key);
    if (!kv || kv->type != RG_GGUF_ARRAY || kv->arr_type == RG_GGUF_STRING) return -1;
    *elem_type = kv->arr_type;
    *n = kv->arr_n;
    *data = kv->arr_data;
    return 0;
}

int rg_gguf_get_str_arr(const rg_gguf *g, const char *key, size_t *n, const rg_gguf_str **items) {
    const kv_t *kv = find_kv(g, key);
    if (!kv || kv->type != RG_GGUF_ARRAY || kv->arr_type != RG_GGUF_STRING) return -1;
    *n = kv->arr_n;
    *items = kv->arr_strs;
    return 0;
}

int rg_gguf_arr_int(int elem_type, const void *data, size_t i, int64_t *out) {
    int es = scalar_size(elem_type);
    if (!es || !is_int_type(elem_type)) return -1;
    kv_t tmp;
    decode_scalar(elem_type, (const uint8_t *)data + i * (size_t)es, &tmp);
    *out = is_signed(elem_type) ? tmp.v.i : (int64_t)tmp.v.u;
    return 0;
}

size_t rg_gguf_n_tensors(const rg_gguf *g) { return g->n_t; }
const rg_gguf_tensor *rg_gguf_tensor_at(const rg_gguf *g, size_t i) {
    return i < g->n_t ? &g->t[i] : NULL;
}

const rg_gguf_tensor *rg_gguf_tensor_find(const rg_gguf *g, const char *name) {
    if (!g || !name) return NULL;
    size_t lo = 0, hi = g->n_t;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(g->t[g->t_sorted[mid]].name, name);
        if (c == 0) return &g->t[g->t_sorted[mid]];
        if (c < 0) lo = mid + 1; else hi = mid;
    }
    return NULL;
}

void *rg_gguf_tensor_data_mut(rg_gguf *g, const rg_gguf_tensor *t) {
    if (!g || !t || !t->data || !t->nbytes) { rg_err("gguf: no tensor data to write"); return NULL; }
    if (!g->mapped) { rg_err("%s: tensor %s: the reader does not own its buffer", g->what, t->name); return NULL; }
    /* the whole mapping at once: changing the protection of part of it would split it, and
     * with it the 2 MB pages of rg_gguf_open_resident, into 4 KB ones */
    if (!g->writable) {
        if (mprotect((void *)g->base, g->map_len, PROT_READ | PROT_WRITE) != 0) {
            rg_err("%s: tensor %s: cannot make the model writable: %s", g->what, t->name, strerror(errno));
            return NULL;
        }
        g->writable = 1;
    }
    return (void *)t->data;
}

void rg_gguf_data_seal(rg_gguf *g) {
    if (g && g->writable && mprotect((void *)g->base, g->map_len, PROT_READ) == 0) g->writable = 0;
}
