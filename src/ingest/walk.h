/* ingest/walk: the files under a folder, recursively, in sorted order. Hidden entries and
 * --exclude globs (matched against the path relative to the root and the base name) are
 * skipped; symlinks are followed, but a directory already on the current path (a symlink
 * loop) is reported and not entered. */
#ifndef RAGD_INGEST_WALK_H
#define RAGD_INGEST_WALK_H
#include <stdint.h>

typedef struct {
    char *path;      /* as reachable from the root given */
    char *rel;       /* relative to the root */
    int64_t size, mtime;
} rg_walk_entry;

typedef struct {
    char **exclude; int nexclude;
    /* Called for every problem (unreadable dir, loop); may be NULL. */
    void (*warn)(const char *path, const char *why, void *ctx);
    void *ctx;
} rg_walk_opts;

/* Appends the regular files under root to *out (grown with realloc). Returns 0, or -1 with
 * rg_err when root itself cannot be read. */
int rg_walk(const char *root, const rg_walk_opts *o, rg_walk_entry **out, int *n);
void rg_walk_free(rg_walk_entry *e, int n);
int rg_walk_excluded(const rg_walk_opts *o, const char *rel);
#endif
