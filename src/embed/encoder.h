/* embed/encoder: what the index needs from any text encoder.
 * An encoder maps texts to L2-normalised float vectors of a fixed dimension. Its name is
 * recorded in the index manifest so that vectors from different encoders never mix.
 * Implementations: the hashing encoder (embed/hash_encoder.c, no model, no fitting), the
 * corpus-fitted LSA default and GGUF BERT models (embed/bert.c). */
#ifndef RAGD_EMBED_ENCODER_H
#define RAGD_EMBED_ENCODER_H

typedef struct rg_encoder rg_encoder;
struct rg_encoder {
    char name[160];      /* e.g. "hash-256", "gguf:bge-small-en-v1.5:<sha prefix>" */
    int dim;
    /* Embeds n texts into out (n * dim floats, each row L2-normalised). is_query selects the
     * model's query prefix. Returns 0, or -1 with rg_err set. Must be thread-safe. */
    int (*embed)(rg_encoder *e, const char *const *texts, int n, int is_query, float *out);
    void (*destroy)(rg_encoder *e);
    void *impl;
};

/* Opens an encoder from a spec: NULL or "default" (= "lsa", fitted on the corpus in index_dir), "lsa", "hash" (feature
 * hashing, 256 dims), or a path to a GGUF BERT-family model. index_dir lets a corpus-fitted
 * encoder find its state. Returns NULL with rg_err set. */
rg_encoder *rg_encoder_open(const char *spec, const char *index_dir);
int rg_encoder_embed(rg_encoder *e, const char *const *texts, int n, int is_query, float *out);
void rg_encoder_free(rg_encoder *e);

rg_encoder *rg_hash_encoder_new(int dim);
#endif
