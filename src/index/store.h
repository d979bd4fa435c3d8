/* index/store: an index directory = SQLite database (WAL) + FAISS vectors + manifest.
 *   DIR/ragd.db        documents, chunks, tables and cells, vectors (source of truth), the
 *                      BM25 inverted index (index/lex.h)
 *   DIR/vectors.faiss  FAISS IndexIDMap2 (chunk id -> vector), derived, reconciled on open
 *   DIR/manifest.json  format version, encoder name, dimension, metric
 *   DIR/lock           flock()ed by the one writer; readers never take it
 * A document's chunks, tables and vectors are written in one SQLite transaction; the FAISS
 * file is saved after commits and repaired from SQLite when it disagrees (crash, kill -9).
 * One rg_store per thread; a store opened read-only never blocks on the writer. */
#ifndef RAGD_INDEX_STORE_H
#define RAGD_INDEX_STORE_H
#include <stdint.h>
#include "core/doc.h"
#include "embed/encoder.h"

typedef struct rg_store rg_store;

typedef struct {
    const char *encoder;   /* the configured encoder's name; NULL: take the manifest's */
    int dim;               /* its dimension (with encoder) */
    int writable;          /* take the writer lock (waits for another writer) */
    int create;            /* create the directory and database when missing */
    const char *encoder_spec; /* how to reopen the encoder (a model path, "hash"), kept in the manifest */
    int no_vectors;        /* read-only: skip loading FAISS (the caller lends one, rg_store_swap_vectors) */
} rg_store_opts;

/* Reads DIR/manifest.json without opening the index: 1 and the encoder name, spec (may be
 * "") and dim filled; 0 when there is no manifest; -1 when it is invalid (rg_err set). */
int rg_store_manifest_peek(const char *dir, char *encoder, size_t enclen, char *spec, size_t speclen, int *dim);

rg_store *rg_store_open(const char *dir, const rg_store_opts *o);
void rg_store_close(rg_store *s);
const char *rg_store_encoder(const rg_store *s);  /* from the manifest */
int rg_store_dim(const rg_store *s);
const char *rg_store_dir(const rg_store *s);
/* Puts v in place of the store's FAISS index and returns the one it had; the caller owns
 * what it swaps in and out (a daemon lends one shared, read-only copy to every reader). */
struct rg_vectors;
struct rg_vectors *rg_store_swap_vectors(rg_store *s, struct rg_vectors *v);
/* Reader tuning: SQLite memory-maps up to mmap_bytes of the database (page reads without a
 * copy or a system call) and keeps cache_kib of pages per connection. */
int rg_store_tune_reads(rg_store *s, int64_t mmap_bytes, int cache_kib);
/* What opening repaired ("" when nothing), e.g. "FAISS: 3 vectors added, 1 removed". */
const char *rg_store_repairs(const rg_store *s);

/* ---- documents ---- */
typedef struct {
    char *doc_id, *source, *kind, *title, *hash, *meta_json, *etag, *last_modified;
    int64_t size, mtime, indexed_at, nchunks, rowid;
} rg_doc_info;
void rg_doc_info_free(rg_doc_info *d);

/* 1 and *info filled when the document exists, 0 when not, -1 on error. info may be NULL. */
int rg_store_get_doc(rg_store *s, const char *doc_id, rg_doc_info *info);
typedef struct {
    const char *hash; int64_t size, mtime;
    const char *etag, *last_modified;  /* for URLs; may be NULL */
} rg_source_stamp;
/* Replaces doc (same id) with its chunks and their vectors (nchunks * dim floats, or NULL
 * when the encoder is off), all in one transaction. */
int rg_store_put_doc(rg_store *s, const rg_doc *d, const rg_source_stamp *st,
                     const rg_chunk *chunks, int nchunks, const float *vecs);
int rg_store_remove_doc(rg_store *s, const char *doc_id);  /* 1 removed, 0 absent, -1 error */

/* ---- batches: several documents per transaction (bulk indexing) ----
 * Between begin and commit, puts and removes share one SQLite transaction; FAISS takes the
 * batch's changes at the commit. A document that fails to store rolls back the whole open
 * batch (no savepoint per document). A crash loses at most the open batch: none of its
 * documents is recorded as indexed, so re-running the same command redoes them. SQL reads on
 * this handle see the batch's documents at once, BM25 and dense search only after the commit. rg_store_close commits an
 * open batch; rg_store_reembed commits it first. */
int rg_store_batch_begin(rg_store *s);     /* -1 when one is already open */
int rg_store_batch_commit(rg_store *s);    /* 0 also when none is open */
int rg_store_batch_rollback(rg_store *s);  /* drops the open batch's documents and removals */
int rg_store_batch_open(const rg_store *s);
/* For a loop over sources: counts `bytes` into the open batch (opening one when none is),
 * and commits it and opens the next once it holds RG_BATCH_DOCS documents, RG_BATCH_BYTES
 * source bytes (or as many bytes of vectors) or is RG_BATCH_SECONDS old: the bound on what a
 * crash can lose. */
#define RG_BATCH_DOCS 256
#define RG_BATCH_BYTES (32LL << 20)
#define RG_BATCH_SECONDS 5.0
int rg_store_batch_tick(rg_store *s, int64_t bytes);
int rg_store_list_docs(rg_store *s, rg_doc_info **out, int *n);
/* Ids of the documents read from one source (a multi-document file gives several). */
int rg_store_docs_of_source(rg_store *s, const char *source, char ***ids, int *n);
/* Persists the FAISS index (write-temp, fsync, rename). Called after a batch of puts. */
int rg_store_flush(rg_store *s);
/* Calls fn(chunk id, text) for each searchable chunk in id order; stops early (returning
 * that value) when fn returns non-zero. */
int rg_store_each_chunk(rg_store *s, int (*fn)(int64_t id, const char *text, void *ctx), void *ctx);
/* Replaces every stored vector by e's embedding of its chunk text (a refitted encoder) and
 * rebuilds FAISS, in one SQLite transaction that also sets meta[meta_key] = meta_value (when
 * meta_key is not NULL): after a crash either all old or all new vectors (and meta) survive.
 * progress (may be NULL) is called after each batch. */
int rg_store_reembed(rg_store *s, rg_encoder *e, const char *meta_key, const char *meta_value,
                     void (*progress)(int64_t done, int64_t total, void *ctx), void *ctx);

/* ---- chunks and tables ---- */
typedef struct {
    int64_t id, table_id;
    char *doc_id, *source, *text, *section;
    int kind, ord, ntokens, page, row_start, row_end;
    int64_t parent;
} rg_chunk_row;
void rg_chunk_row_free(rg_chunk_row *c);
int rg_store_get_chunk(rg_store *s, int64_t chunk_id, rg_chunk_row *out);  /* 1, 0, -1 */
int rg_store_doc_chunks(rg_store *s, const char *doc_id, rg_chunk_row **out, int *n);
/* The document's tables in order; caller frees each with rg_table_free. ids may be NULL. */
int rg_store_doc_tables(rg_store *s, const char *doc_id, rg_table ***out, int64_t **ids, int *n);
rg_table *rg_store_get_table(rg_store *s, int64_t table_id);

/* ---- search ---- */
typedef struct { int64_t chunk_id; double score; } rg_hit;
#define RG_FILTER_MAX_META 8
typedef struct {
    const char *doc_id;       /* only this document */
    const char *source_glob;  /* only sources matching */
    int kind;                 /* -1 any, else RG_CHUNK_TEXT / RG_CHUNK_TABLE */
    /* Date range, inclusive ISO-8601 prefixes ("2024", "2024-03-01"); NULL = open. The date is
     * the metadata value under date_key when set, else the indexing time (UTC). */
    const char *date_from, *date_to, *date_key;
    /* Metadata equality: top-level key meta_key[i] of the document's metadata JSON equals
     * meta_value[i] (compared as text). */
    int nmeta;
    const char *meta_key[RG_FILTER_MAX_META], *meta_value[RG_FILTER_MAX_META];
} rg_search_filter;
/* BM25 (k1 1.2, b 0.75, as FTS5's bm25()) over the query's words (index/lex_token.h), text
 * weighted 1, section path 0.5. On a big index the words are taken rarest first within a
 * posting budget (a word in most chunks adds nothing to the ranking but costs the most).
 * Scores: higher is better. */
int rg_store_search_bm25(rg_store *s, const char *query, int k, const rg_search_filter *f,
                         rg_hit **out, int *n);
/* Nearest chunks by inner product with q (dim floats). Filters are applied inside the search:
 * one document's chunks are scored exactly; other filters over-fetch from FAISS with a
 * growing k until k chunks pass, falling back to exact scoring of the filtered set. */
int rg_store_search_dense(rg_store *s, const float *q, int k, const rg_search_filter *f,
                          rg_hit **out, int *n);

/* ---- status and checks ---- */
typedef struct {
    int64_t documents, chunks, tables, cells, vectors, faiss_vectors, db_bytes, faiss_bytes;
    int64_t bm25_segments, bm25_removed;   /* segments; removed chunks awaiting a merge */
    int schema_version;
} rg_store_stats;
int rg_store_stats_get(rg_store *s, rg_store_stats *st);
/* Integrity check: SQLite's own check, the BM25 index's segments, FAISS ids == vector rows. 0 ok,
 * 1 problems found (described in *report, caller frees), -1 error. */
int rg_store_check(rg_store *s, char **report);
#endif
