/* nn/gguf_write: a small GGUF v3 writer, for tests and the benchmark to build model files
 * (metadata scalars, strings, string and i32 arrays, tensors). Tensor data is referenced, not
 * copied: it must stay valid until rg_gguf_writer_save() returns. */
#ifndef RAGD_NN_GGUF_WRITE_H
#define RAGD_NN_GGUF_WRITE_H
#include <stddef.h>
#include <stdint.h>

typedef struct rg_gguf_writer rg_gguf_writer;

rg_gguf_writer *rg_gguf_writer_new(void);
void rg_gguf_writer_free(rg_gguf_writer *w);
void rg_gguf_w_str(rg_gguf_writer *w, const char *key, const char *val);
void rg_gguf_w_u32(rg_gguf_writer *w, const char *key, uint32_t val);
void rg_gguf_w_f32(rg_gguf_writer *w, const char *key, float val);
void rg_gguf_w_bool(rg_gguf_writer *w, const char *key, int val);
void rg_gguf_w_str_arr(rg_gguf_writer *w, const char *key, const char *const *vals, size_t n);
void rg_gguf_w_i32_arr(rg_gguf_writer *w, const char *key, const int32_t *vals, size_t n);
/* ne[0] is the contiguous dimension; nbytes must match the type and shape. */
void rg_gguf_w_tensor(rg_gguf_writer *w, const char *name, int type, int n_dims,
                      const int64_t *ne, const void *data, size_t nbytes);
/* Writes the file (alignment 32). 0, or -1 with rg_err set. */
int rg_gguf_writer_save(rg_gguf_writer *w, const char *path);
#endif
