/* embed/lsa: the corpus-fitted default encoder (latent semantic analysis).
 * A model is a vocabulary with idf weights and a term -> 256-dim projection, fitted on the
 * indexed chunks: TF-IDF (sublinear tf, smooth idf, lowercased lightly stemmed words and word
 * pairs) and a truncated randomized SVD (Halko, Martinsson, Tropp 2011). A text's vector is its
 * L2-normalised TF-IDF vector projected on the top singular vectors, L2-normalised; unknown
 * words are ignored.
 * Models are saved in the index directory as DIR/lsa-<version>.bin (header, checksum; checked on
 * load) and the version in force is the meta row 'lsa_version' of DIR/ragd.db, written in the
 * same transaction as the vectors (see serve/lsa_refit.h). Version 0 means "not fitted yet":
 * the encoder then hashes words (like the hash encoder) so that small indexes still work. */
#ifndef RAGD_EMBED_LSA_H
#define RAGD_EMBED_LSA_H
#include <stdint.h>
#include "embed/encoder.h"

#define RG_LSA_DIM 256

typedef struct rg_lsa_model rg_lsa_model;

/* Fitting: add the corpus texts, then fit. */
typedef struct rg_lsa_builder rg_lsa_builder;
rg_lsa_builder *rg_lsa_builder_new(void);
void rg_lsa_builder_add(rg_lsa_builder *b, const char *text);
int64_t rg_lsa_builder_count(const rg_lsa_builder *b);
/* Fits a dim-dimensional model (dims past the corpus rank are zero). seed makes it
 * reproducible. NULL with rg_err when the corpus has no usable words. */
rg_lsa_model *rg_lsa_fit(rg_lsa_builder *b, int dim, uint64_t seed);
void rg_lsa_builder_free(rg_lsa_builder *b);

int rg_lsa_save(const rg_lsa_model *m, const char *path);      /* atomic write */
rg_lsa_model *rg_lsa_load(const char *path);                   /* NULL + rg_err when invalid */
void rg_lsa_model_ref(rg_lsa_model *m);
void rg_lsa_model_unref(rg_lsa_model *m);
int rg_lsa_model_dim(const rg_lsa_model *m);
int rg_lsa_model_terms(const rg_lsa_model *m);
int64_t rg_lsa_model_fit_chunks(const rg_lsa_model *m);       /* corpus size when fitted */
/* Embeds one text into out (dim floats). Returns the number of words (numbers and word pairs
 * not counted) the model knew and stores the number of words seen in *seen. */
int rg_lsa_embed_one(const rg_lsa_model *m, const char *text, float *out, int *seen);

/* The tokenizer shared by fitting and embedding: calls fn for each normalised term. */
void rg_lsa_tokens(const char *text, void (*fn)(const char *term, int len, void *ctx), void *ctx);

/* ---- the encoder ("lsa-256") ---- */
/* Opens the model in force for the index at index_dir (version 0 when none). A model file
 * that is missing or corrupt does not fail the open: embedding then fails, naming it, and the
 * next `ragd index` refits (rg_lsa_encoder_broken). */
rg_encoder *rg_lsa_encoder_open(const char *index_dir);
/* An encoder over a given model (ref taken), for re-embedding during a refit. */
rg_encoder *rg_lsa_encoder_with_model(rg_lsa_model *m, int64_t version);
int rg_lsa_is_encoder(const rg_encoder *e);
int64_t rg_lsa_encoder_version(rg_encoder *e);
rg_lsa_model *rg_lsa_encoder_model(rg_encoder *e);   /* new ref, or NULL at version 0 */
const char *rg_lsa_encoder_broken(rg_encoder *e);    /* why the model did not load, or NULL */
void rg_lsa_encoder_set(rg_encoder *e, rg_lsa_model *m, int64_t version);   /* ref taken */
/* Words known / words seen over the document (not query) texts embedded since the last call;
 * resets the counters. */
void rg_lsa_encoder_take_coverage(rg_encoder *e, int64_t *known, int64_t *seen);
/* The version recorded in index_dir/ragd.db (0 when none), -1 on error. */
int64_t rg_lsa_index_version(const char *index_dir);
char *rg_lsa_model_path(const char *index_dir, int64_t version);
#endif
