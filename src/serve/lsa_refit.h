/* serve/lsa_refit: keeping an index's LSA model (embed/lsa.h) in step with its corpus.
 * The indexing pipeline calls rg_lsa_sync before writing (another writer may have refitted
 * since the encoder was opened) and rg_lsa_maybe_refit after. A refit fits a new model on all
 * chunk texts, saves it as DIR/lsa-<v+1>.bin, re-embeds every chunk into the vectors table and
 * records lsa_version = v+1 in one transaction (rg_store_reembed), then drops the old file.
 * When: the first time the index holds RG_LSA_MIN_CHUNKS chunks; when the corpus has doubled
 * since the last fit; when it has grown by a quarter and over 20% of the words of the chunks
 * indexed in this run are unknown to the model;
 * and whenever the model in force is missing or corrupt. Other encoders: both are no-ops. */
#ifndef RAGD_SERVE_LSA_REFIT_H
#define RAGD_SERVE_LSA_REFIT_H
#include "index/store.h"
#include "embed/encoder.h"

#define RG_LSA_MIN_CHUNKS 50

/* Loads the model in force if the encoder's is not it; refits at once when that model is
 * missing or corrupt. 0, or -1 with rg_err set. */
int rg_lsa_sync(rg_store *s, rg_encoder *e);
/* force: refit whatever the policy says. Returns 1 refitted, 0 not needed, -1 error (the old
 * model and vectors stay). progress draws on stderr. */
int rg_lsa_maybe_refit(rg_store *s, rg_encoder *e, int force, int progress);
#endif
