/* serve/index_job: the indexing pipeline: sources -> parse -> chunk -> embed -> store.
 * Used by `ragd index` and by the daemon's index jobs. Unchanged sources (same content hash
 * and pipeline version) are skipped; a changed source replaces its documents in one
 * transaction; bad inputs are reported once each and never stop the run. */
#ifndef RAGD_SERVE_INDEX_JOB_H
#define RAGD_SERVE_INDEX_JOB_H
#include <stdint.h>
#include "index/store.h"
#include "embed/encoder.h"

typedef struct {
    char **exclude; int nexclude;
    int64_t max_file_size;   /* default 64 MiB */
    int prune;               /* remove documents whose source file is gone */
    int progress;            /* draw a progress line on stderr */
    int max_tokens;          /* chunk budget, 0 = default */
    _Atomic int *cancel;     /* when set non-zero, stop after the current source */
} rg_index_opts;

typedef struct { char *source, *why; } rg_index_failure;

typedef struct {
    int sources, indexed, unchanged, failed, removed, docs;
    int64_t chunks, bytes;
    double seconds;
    rg_index_failure *failures; int nfailures;
    /* progress, readable while running (the daemon's job status) */
    _Atomic int done, total;
} rg_index_report;

void rg_index_opts_default(rg_index_opts *o);
/* Indexes paths (files, folders, http(s) URLs). Returns 0 when the run completed (even with
 * failed sources), -1 when the store itself failed. */
int rg_index_run(rg_store *s, rg_encoder *e, char *const *paths, int npaths, const rg_index_opts *o,
                 rg_index_report *r);
void rg_index_report_free(rg_index_report *r);
#endif
