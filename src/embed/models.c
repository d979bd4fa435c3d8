/* embed/models: the model directory: where it is, listing, removal, and a bounded reader for a
 * GGUF header's general.architecture (see models.h). Downloads are in model_pull.c. */
#include "embed/models.h"
#include "core/util.h"
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

char *rg_models_dir(void) {
    const char *m = getenv("RAGD_MODELS");
    if (m && *m) return xstrdup(m);
    const char *x = getenv("XDG_DATA_HOME");
    if (x && *x == '/') return xasprintf("%s/ragd/models", x);
    const char *h = getenv("HOME");
    return xasprintf("%s/.local/share/ragd/models", h && *h ? h : ".");
}

/* ---- GGUF header: magic, version, tensor count, kv count, then key/typed value pairs ---- */

typedef struct { const unsigned char *p; size_t len, pos; } reader;

static int rd(reader *r, void *out, size_t n) {
    if (n > r->len - r->pos) return -1;
    memcpy(out, r->p + r->pos, n);
    r->pos += n;
    return 0;
}

static int skip(reader *r, uint64_t n) {
    if (n > r->len - r->pos) return -1;
    r->pos += (size_t)n;
    return 0;
}

enum { G_U8, G_I8, G_U16, G_I16, G_U32, G_I32, G_F32, G_BOOL, G_STR, G_ARR, G_U64, G_I64, G_F64 };

static int scalar_size(uint32_t t) {
    switch (t) {
    case G_U8: case G_I8: case G_BOOL: return 1;
    case G_U16: case G_I16: return 2;
    case G_U32: case G_I32: case G_F32: return 4;
    case G_U64: case G_I64: case G_F64: return 8;
    }
    return 0;
}

static int skip_value(reader *r, uint32_t type, int depth) {
    if (type == G_STR) {
        uint64_t n;
        return rd(r, &n, 8) == 0 ? skip(r, n) : -1;
    }
    if (type == G_ARR) {
        uint32_t et;
        uint64_t n;
        if (depth > 2 || rd(r, &et, 4) != 0 || rd(r, &n, 8) != 0) return -1;
        int sz = scalar_size(et);
        if (sz) return n > (uint64_t)(r->len - r->pos) / (uint64_t)sz ? -1 : skip(r, n * (uint64_t)sz);
        for (uint64_t i = 0; i < n; i++) if (skip_value(r, et, depth + 1) != 0) return -1;
        return 0;
    }
    int sz = scalar_size(type);
    return sz ? skip(r, (uint64_t)sz) : -1;
}

int rg_gguf_peek_arch(const char *path, char *arch, size_t n) {
    arch[0] = 0;
    FILE *f = fopen(path, "rb");
    if (!f) { rg_err("%s: %s", path, strerror(errno)); return -1; }
    size_t cap = 1 << 20;
    unsigned char *buf = xmalloc(cap);
    size_t len = fread(buf, 1, cap, f);
    fclose(f);
    reader r = {buf, len, 0};
    char magic[4];
    uint32_t version;
    uint64_t ntensors, nkv;
    int rc = -1;
    if (rd(&r, magic, 4) != 0 || memcmp(magic, "GGUF", 4) != 0 || rd(&r, &version, 4) != 0 ||
        version < 2 || version > 3 || rd(&r, &ntensors, 8) != 0 || rd(&r, &nkv, 8) != 0) {
        rg_err("%s: not a GGUF file", path);
        goto out;
    }
    for (uint64_t i = 0; i < nkv && i < 4096; i++) {
        uint64_t kl;
        uint32_t type;
        if (rd(&r, &kl, 8) != 0 || kl > r.len - r.pos) break;
        const char *key = (const char *)r.p + r.pos;
        r.pos += (size_t)kl;
        if (rd(&r, &type, 4) != 0) break;
        if (type == G_STR && kl == 20 && memcmp(key, "general.architecture", 20) == 0) {
            uint64_t sl;
            if (rd(&r, &sl, 8) != 0 || sl > r.len - r.pos || sl >= n) break;
            memcpy(arch, r.p + r.pos, (size_t)sl);
            arch[sl] = 0;
            for (size_t k = 0; k < sl; k++)
                if ((unsigned char)arch[k] < 0x20 || (unsigned char)arch[k] == 0x7f) arch[k] = '?';
            rc = 0;
            goto out;
        }
        if (skip_value(&r, type, 0) != 0) break;
    }
    rg_err("%s: no general.architecture in the first MiB", path);
out:
    free(buf);
    return rc;
}

/* ---- listing and removal ---- */

static int cmp_info(const void *a, const void *b) {
    return strcmp(((const rg_model_info *)a)->name, ((const rg_model_info *)b)->name);
}

int rg_models_list(const char *dir, rg_model_info **out, int *n) {
    *out = NULL; *n = 0;
    DIR *d = opendir(dir);
    if (!d) {
        if (errno == ENOENT) return 0;
        rg_err("%s: %s", dir, strerror(errno));
        return -1;
    }
    struct dirent *de;
    while ((de = readdir(d))) {
        const char *nm = de->d_name;
        size_t l = strlen(nm);
        if (nm[0] == '.') continue;
        int partial = l > 5 && strcmp(nm + l - 5, ".part") == 0;
        int gguf = l > 5 && strcasecmp(nm + l - 5, ".gguf") == 0;
        if (!partial && !gguf) continue;
        char *p = xasprintf("%s/%s", dir, nm);
        struct stat st;
        if (stat(p, &st) != 0 || !S_ISREG(st.st_mode)) { free(p); continue; }
        *out = xrealloc(*out, (size_t)(*n + 1) * sizeof **out);
        rg_model_info *m = &(*out)[(*n)++];
        memset(m, 0, sizeof *m);
        m->name = partial ? xstrndup(nm, l - 5) : xstrdup(nm);
        m->size = (int64_t)st.st_size;
        m->partial = partial;
        if (!partial && rg_gguf_peek_arch(p, m->arch, sizeof m->arch) != 0) m->arch[0] = 0;
        free(p);
    }
    closedir(d);
    if (*n) qsort(*out, (size_t)*n, sizeof **out, cmp_info);
    return 0;
}

void rg_models_free(rg_model_info *m, int n) {
    for (int i = 0; i < n; i++) free(m[i].name);
    free(m);
}

static int rm_file(const char *path) {
    struct stat st;
    if (lstat(path, &st) != 0 || !S_ISREG(st.st_mode)) return 0;
    if (unlink(path) != 0) { rg_err("%s: %s", path, strerror(errno)); return -1; }
    return 1;
}

int rg_models_rm(const char *dir, const char *name) {
    if (!name || !*name || strchr(name, '/') || strcmp(name, ".") == 0 || strcmp(name, "..") == 0) {
        rg_err("\"%s\": not a model name (a file name in %s)", name ? name : "", dir);
        return -1;
    }
    /* NAME, else NAME.gguf; each with its unfinished download NAME.part. */
    int removed = 0;
    const char *fmts[] = {"%s/%s", "%s/%s.gguf"};
    for (int i = 0; i < 2 && !removed; i++) {
        char *p = xasprintf(fmts[i], dir, name), *part = xasprintf("%s.part", p);
        int a = rm_file(p), b = a >= 0 ? rm_file(part) : 0;
        free(p); free(part);
        if (a < 0 || b < 0) return -1;
        removed = a || b;
    }
    return removed;
}
