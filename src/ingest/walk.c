/* ingest/walk: see walk.h */
#include "ingest/walk.h"
#include "core/util.h"
#include <dirent.h>
#include <errno.h>
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef struct { dev_t dev; ino_t ino; } dir_id;
typedef struct { rg_walk_entry *v; int n, cap; } entries;

int rg_walk_excluded(const rg_walk_opts *o, const char *rel) {
    const char *base = strrchr(rel, '/');
    base = base ? base + 1 : rel;
    for (int i = 0; i < o->nexclude; i++)
        if (fnmatch(o->exclude[i], rel, 0) == 0 || fnmatch(o->exclude[i], base, 0) == 0) return 1;
    return 0;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void warn(const rg_walk_opts *o, const char *path, const char *why) {
    if (o->warn) o->warn(path, why, o->ctx);
}

static void walk_dir(const char *dir, const char *rel, const rg_walk_opts *o, dir_id *stack, int depth, entries *out) {
    if (depth >= 64) { warn(o, dir, "directory nesting deeper than 64 levels"); return; }
    DIR *d = opendir(dir);
    if (!d) { warn(o, dir, strerror(errno)); return; }
    char **names = NULL;
    int nn = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.') continue;  /* hidden, ".", ".." */
        names = xrealloc(names, (size_t)(nn + 1) * sizeof *names);
        names[nn++] = xstrdup(de->d_name);
    }
    closedir(d);
    if (nn) qsort(names, (size_t)nn, sizeof *names, cmp_str);
    for (int i = 0; i < nn; i++) {
        char *path = xasprintf("%s/%s", dir, names[i]);
        char *r = *rel ? xasprintf("%s/%s", rel, names[i]) : xstrdup(names[i]);
        struct stat st;
        if (rg_walk_excluded(o, r)) goto next;
        if (stat(path, &st) != 0) { warn(o, path, strerror(errno)); goto next; }
        if (S_ISDIR(st.st_mode)) {
            int loop = 0;
            for (int j = 0; j <= depth; j++)
                if (stack[j].dev == st.st_dev && stack[j].ino == st.st_ino) loop = 1;
            if (loop) { warn(o, path, "symlink loop, not followed"); goto next; }
            stack[depth + 1] = (dir_id){st.st_dev, st.st_ino};
            walk_dir(path, r, o, stack, depth + 1, out);
        } else if (S_ISREG(st.st_mode)) {
            if (out->n == out->cap) {
                out->cap = out->cap ? out->cap * 2 : 64;
                out->v = xrealloc(out->v, (size_t)out->cap * sizeof *out->v);
            }
            out->v[out->n++] = (rg_walk_entry){path, r, (int64_t)st.st_size, (int64_t)st.st_mtime};
            path = r = NULL;
        }
    next:
        free(path); free(r); free(names[i]);
    }
    free(names);
}

int rg_walk(const char *root, const rg_walk_opts *o, rg_walk_entry **out, int *n) {
    struct stat st;
    if (stat(root, &st) != 0) { rg_err("%s: %s", root, strerror(errno)); return -1; }
    if (!S_ISDIR(st.st_mode)) { rg_err("%s: not a directory", root); return -1; }
    dir_id stack[66];
    stack[0] = (dir_id){st.st_dev, st.st_ino};
    entries e = {*out, *n, *n};
    walk_dir(root, "", o, stack, 0, &e);
    *out = e.v;
    *n = e.n;
    return 0;
}

void rg_walk_free(rg_walk_entry *e, int n) {
    for (int i = 0; i < n; i++) { free(e[i].path); free(e[i].rel); }
    free(e);
}
