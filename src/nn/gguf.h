/* nn/gguf: a strict reader for GGUF v3 model files (the llama.cpp container format).
 * The file is mapped read-only; every count, length, offset and size is checked against the
 * file before use, so a truncated or hostile file yields NULL with rg_err set, never a crash.
 * Offers: metadata lookup by key (ints, floats, bools, strings, numeric and string arrays)
 * and tensors by name (type, shape, pointer to the data inside the mapping).
 * Shapes follow GGUF: ne[0] is the contiguous dimension, so a PyTorch weight [out, in] has
 * ne[0] = in, ne[1] = out. */
#ifndef RAGD_NN_GGUF_H
#define RAGD_NN_GGUF_H
#include <stddef.h>
#include <stdint.h>

/* Metadata value types, as numbered by the format. */
enum {
    RG_GGUF_U8 = 0, RG_GGUF_I8 = 1, RG_GGUF_U16 = 2, RG_GGUF_I16 = 3, RG_GGUF_U32 = 4,
    RG_GGUF_I32 = 5, RG_GGUF_F32 = 6, RG_GGUF_BOOL = 7, RG_GGUF_STRING = 8, RG_GGUF_ARRAY = 9,
    RG_GGUF_U64 = 10, RG_GGUF_I64 = 11, RG_GGUF_F64 = 12
};

#define RG_GGUF_MAX_DIMS 4

typedef struct {
    const char *p;       /* points into the mapping; NOT NUL-terminated */
    size_t len;
} rg_gguf_str;

typedef struct {
    char *name;          /* NUL-terminated copy */
    int type;            /* ggml tensor type id (see nn/tensor.h) */
    int n_dims;
    int64_t ne[RG_GGUF_MAX_DIMS];   /* unused dims are 1 */
    int64_t nelem;
    size_t nbytes;
    const void *data;    /* inside the mapping, aligned to general.alignment */
} rg_gguf_tensor;

typedef struct rg_gguf rg_gguf;

/* Opens and validates a file (mmap). NULL with rg_err naming the file on any problem. */
rg_gguf *rg_gguf_open(const char *path);      /* versions 3 and 2 (same layout) */
/* Same, with the whole file read into memory backed by 2 MB pages where the kernel allows
 * (transparent huge pages): for weights streamed on every token. Falls back to the mapping. */
rg_gguf *rg_gguf_open_resident(const char *path);
/* Same over a caller-owned buffer that must outlive the reader (tests, fuzzing). */
rg_gguf *rg_gguf_open_mem(const void *data, size_t len, const char *what);
void rg_gguf_close(rg_gguf *g);

uint32_t rg_gguf_version(const rg_gguf *g);
/* The header bytes (metadata and tensor infos, up to the data section), e.g. to fingerprint a
 * model cheaply: *len receives their count. */
const void *rg_gguf_header(const rg_gguf *g, size_t *len);
size_t rg_gguf_alignment(const rg_gguf *g);

/* Metadata. All return -1 (without setting rg_err) when the key is absent or has another type,
 * so callers can try alternatives; they set rg_err only via the *_req helpers below. */
int rg_gguf_has(const rg_gguf *g, const char *key);
int rg_gguf_type(const rg_gguf *g, const char *key);           /* value type or -1 */
int rg_gguf_get_int(const rg_gguf *g, const char *key, int64_t *out);   /* any int type or bool */
int rg_gguf_get_float(const rg_gguf *g, const char *key, double *out);  /* float or int types */
int rg_gguf_get_str(const rg_gguf *g, const char *key, rg_gguf_str *out);
char *rg_gguf_get_strdup(const rg_gguf *g, const char *key);   /* malloc'd copy or NULL */
/* Numeric array: element type, count and pointer to the packed little-endian elements. */
int rg_gguf_get_arr(const rg_gguf *g, const char *key, int *elem_type, size_t *n, const void **data);
/* String array: *items points to n entries owned by the reader. */
int rg_gguf_get_str_arr(const rg_gguf *g, const char *key, size_t *n, const rg_gguf_str **items);
/* Integer array element i (any int type), for e.g. tokenizer.ggml.token_type. */
int rg_gguf_arr_int(int elem_type, const void *data, size_t i, int64_t *out);

/* Like rg_gguf_get_int but sets rg_err("<what>: missing or bad <key>") on failure. */
int rg_gguf_req_int(const rg_gguf *g, const char *key, int64_t *out);

/* Tensors */
size_t rg_gguf_n_tensors(const rg_gguf *g);
const rg_gguf_tensor *rg_gguf_tensor_at(const rg_gguf *g, size_t i);
const rg_gguf_tensor *rg_gguf_tensor_find(const rg_gguf *g, const char *name);  /* NULL if absent */
/* A tensor's data made writable in place (the reader's private copy or copy-on-write
 * mapping; the file is never changed), for a loader that repacks weights into a faster layout
 * without a second copy. NULL with rg_err for a reader over a caller's buffer
 * (rg_gguf_open_mem) or when the pages cannot be made writable. */
void *rg_gguf_tensor_data_mut(rg_gguf *g, const rg_gguf_tensor *t);
/* Makes the data read-only again once those writes are done (no-op when none were made). */
void rg_gguf_data_seal(rg_gguf *g);
#endif
