/* embed/model_pull: `ragd model pull`: one file of a Hugging Face repository, downloaded with
 * libcurl into the model directory (see models.h for the protocol). Everything the hub sends is
 * untrusted: the API answer is size-capped JSON, file names are checked before they become
 * paths, redirects are limited to http/https, and nothing is moved into place unless its size
 * and sha256 match what the hub published. The partial file NAME.part only ever holds a prefix
 * of the download whose hash state we can rebuild, so a later pull resumes it with a Range
 * request (a server that answers 200 instead of 206 restarts it). */
#include "embed/models.h"
#include "core/util.h"
#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define API_MAX_BYTES (32 << 20)
#define ERR_BODY_MAX 2048

void rg_pull_result_free(rg_pull_result *r) {
    if (!r) return;
    free(r->path);
    free(r->file);
    memset(r, 0, sizeof *r);
}

/* ---- names ---- */

static int valid_repo(const char *repo) {
    /* "owner/name" or a bare legacy "name": letters, digits, '-', '_', '.'; no "..". */
    int slashes = 0;
    size_t n = strlen(repo);
    if (n == 0 || n > 200 || repo[0] == '/' || repo[n - 1] == '/' || strstr(repo, "..")) return 0;
    for (const char *p = repo; *p; p++) {
        if (*p == '/') { if (++slashes > 1 || p[1] == '/') return 0; continue; }
        if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_' && *p != '.') return 0;
    }
    return 1;
}

static int valid_file(const char *f) {
    size_t n = strlen(f);
    if (n == 0 || n > 400 || f[0] == '/' || f[n - 1] == '/') return 0;
    for (const char *p = f; *p; p++) if ((unsigned char)*p < 0x20 || *p == 0x7f || *p == '\\') return 0;
    /* no empty, "." or ".." segment */
    for (const char *s = f; s;) {
        const char *e = strchr(s, '/');
        size_t l = e ? (size_t)(e - s) : strlen(s);
        if (l == 0 || (l == 1 && s[0] == '.') || (l == 2 && s[0] == '.' && s[1] == '.')) return 0;
        s = e ? e + 1 : NULL;
    }
    const char *base = strrchr(f, '/');
    base = base ? base + 1 : f;
    return base[0] != '.';
}

static char *escape_path(CURL *h, const char *f) {
    rg_buf b = {0};
    for (const char *s = f; s;) {
        const char *e = strchr(s, '/');
        int l = e ? (int)(e - s) : (int)strlen(s);
        char *x = curl_easy_escape(h, s, l);
        if (b.len) rg_buf_putc(&b, '/');
        rg_buf_puts(&b, x ? x : "");
        curl_free(x);
        s = e ? e + 1 : NULL;
    }
    return rg_buf_take(&b);
}

/* ---- curl setup ---- */

static CURL *handle(const rg_pull_opts *o, const char *token, struct curl_slist **hdrs) {
    CURL *h = curl_easy_init();
    if (!h) { rg_err("libcurl: cannot create a handle"); return NULL; }
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(h, CURLOPT_MAXREDIRS, 5L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, o && o->connect_timeout_s > 0 ? o->connect_timeout_s : 30L);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, o && o->stall_timeout_s > 0 ? o->stall_timeout_s : 60L);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "ragd/1 (model pull)");
    *hdrs = NULL;
    if (token && *token) {
        /* libcurl sends a custom Authorization header only to the host first asked, so the
         * token never follows a redirect to a CDN. */
        char *a = xasprintf("Authorization: Bearer %s", token);
        *hdrs = curl_slist_append(NULL, a);
        memset(a, 0, strlen(a));
        free(a);
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, *hdrs);
    }
    return h;
}

static const char *http_why(long code, int have_token) {
    if (code == 401 || code == 403)
        return have_token ? "access denied (is HF_TOKEN allowed to read this repository? gated models need their terms accepted)"
                          : "access denied: a gated or private repository (set HF_TOKEN)";
    if (code == 404) return "not found";
    if (code == 416) return "the server refused the resume range";
    if (code == 429) return "rate limited by the hub; try again later";
    if (code >= 500) return "server error";
    return "unexpected HTTP status";
}

/* ---- the API answer ---- */

static size_t mem_write(char *p, size_t sz, size_t n, void *ctx) {
    rg_buf *b = ctx;
    if (b->len + sz * n > API_MAX_BYTES) return 0;
    rg_buf_put(b, p, sz * n);
    return sz * n;
}

static json_t *fetch_api(const char *base, const char *repo, const rg_pull_opts *o, const char *token) {
    struct curl_slist *hdrs;
    CURL *h = handle(o, token, &hdrs);
    if (!h) return NULL;
    char *url = xasprintf("%s/api/models/%s?blobs=true", base, repo);
    rg_buf body = {0};
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, mem_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &body);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 120L);
    CURLcode rc = curl_easy_perform(h);
    long code = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_cleanup(h);
    curl_slist_free_all(hdrs);
    json_t *j = NULL;
    if (rc == CURLE_WRITE_ERROR) rg_err("%s: the hub's answer for %s is larger than %d MiB", repo, url, API_MAX_BYTES >> 20);
    else if (rc != CURLE_OK) rg_err("%s: cannot reach %s: %s", repo, base, curl_easy_strerror(rc));
    else if (code == 404) rg_err("%s: repository not found on %s%s", repo, base, token && *token ? "" : " (private repositories need HF_TOKEN)");
    else if (code < 200 || code > 299) rg_err("%s: %s: HTTP %ld, %s", repo, url, code, http_why(code, token && *token));
    else {
        json_error_t je;
        j = json_loadb(body.data ? body.data : "", body.len, 0, &je);
        if (!j || !json_is_array(json_object_get(j, "siblings"))) {
            rg_err("%s: the hub's file list from %s is not valid (%s)", repo, url, j ? "no siblings" : je.text);
            json_decref(j);
            j = NULL;
        }
    }
    rg_buf_free(&body);
    free(url);
    return j;
}

static int is_hex64(const char *s) {
    if (!s || strlen(s) != 64) return 0;
    for (int i = 0; i < 64; i++) if (!isxdigit((unsigned char)s[i])) return 0;
    return 1;
}

static int ends_gguf(const char *s) {
    size_t n = strlen(s);
    return n > 5 && strcasecmp(s + n - 5, ".gguf") == 0;
}

/* Chooses the file: the named one, else the only .gguf, else the only Q8_0, else the only F16
 * one. Fills its size (-1 unknown) and sha256 ("" unknown). */
static char *choose_file(json_t *api, const char *repo, const char *want, int64_t *size, char sha[65]) {
    json_t *sib = json_object_get(api, "siblings"), *s;
    size_t i;
    const char **gg = xcalloc(json_array_size(sib) + 1, sizeof *gg);
    int ng = 0;
    json_t *found = NULL;
    json_array_foreach(sib, i, s) {
        const char *name = json_string_value(json_object_get(s, "rfilename"));
        if (!name || !valid_file(name)) continue;   /* never echo or use a hostile name */
        if (want && strcmp(name, want) == 0) found = s;
        if (ends_gguf(name)) gg[ng++] = name;
    }
    if (!want) {
        const char *prefs[] = {NULL, "q8_0", "f16"};
        for (int p = 0; p < 3 && !found; p++) {
            json_t *only = NULL;
            int cnt = 0;
            json_array_foreach(sib, i, s) {
                const char *name = json_string_value(json_object_get(s, "rfilename"));
                if (!name || !ends_gguf(name) || !valid_file(name)) continue;
                if (prefs[p] && !strcasestr(name, prefs[p])) continue;
                only = s;
                cnt++;
            }
            if (cnt == 1) found = only;
        }
    }
    if (!found) {
        rg_buf b = {0};
        for (int k = 0; k < ng && k < 30; k++) rg_buf_printf(&b, "%s%s", k ? ", " : "", gg[k]);
        if (ng > 30) rg_buf_printf(&b, ", ... (%d in all)", ng);
        if (want) rg_err("%s: no file %s in the repository%s%s", repo, want, ng ? "; its .gguf files: " : " (it has no .gguf file)", b.data ? b.data : "");
        else if (!ng) rg_err("%s: the repository has no .gguf file", repo);
        else rg_err("%s: %d .gguf files and none stands out; name one: ragd model pull %s FILE, FILE one of: %s", repo, ng, repo, b.data);
        rg_buf_free(&b);
        free(gg);
        return NULL;
    }
    free(gg);
    const char *name = json_string_value(json_object_get(found, "rfilename"));
    json_t *lfs = json_object_get(found, "lfs");
    json_t *sz = json_object_get(lfs, "size");
    if (!json_is_integer(sz)) sz = json_object_get(found, "size");
    *size = json_is_integer(sz) && json_integer_value(sz) >= 0 ? (int64_t)json_integer_value(sz) : -1;
    const char *h = json_string_value(json_object_get(lfs, "sha256"));
    sha[0] = 0;
    if (is_hex64(h)) {
        for (int k = 0; k < 64; k++) sha[k] = (char)tolower((unsigned char)h[k]);
        sha[64] = 0;
    }
    return xstrdup(name);
}

/* ---- the download ---- */

typedef struct {
    FILE *f;
    EVP_MD_CTX *md;
    CURL *h;
    int64_t offset;          /* bytes in the part file when this request started */
    int64_t written;         /* bytes in the part file now, all hashed */
    int64_t expect;          /* -1 unknown */
    long status;
    int body_started, restarted, write_errno, range_bad;
    char linked_etag[80], content_range[128];
    int64_t linked_size;
    rg_buf errbody;
    int progress;
    double t0, last_draw;
} dl;

static void trim(char *s) {
    size_t n = strlen(s);
    while (n && (s[n - 1] == '\r' || s[n - 1] == '\n' || s[n - 1] == ' ')) s[--n] = 0;
}

static size_t on_header(char *p, size_t sz, size_t n, void *ctx) {
    dl *d = ctx;
    size_t len = sz * n;
    char line[256];
    size_t l = len < sizeof line - 1 ? len : sizeof line - 1;
    memcpy(line, p, l);
    line[l] = 0;
    trim(line);
    if (strncmp(line, "HTTP/", 5) == 0) { d->content_range[0] = 0; return len; }
    const char *v;
    if (strncasecmp(line, "x-linked-etag:", 14) == 0) {
        v = line + 14;
        while (*v == ' ') v++;
        if (v[0] == 'W' && v[1] == '/') v += 2;   /* a weak validator */
        if (*v == '"') v++;
        snprintf(d->linked_etag, sizeof d->linked_etag, "%.*s", (int)sizeof d->linked_etag - 1, v);
        char *q = strchr(d->linked_etag, '"');
        if (q) *q = 0;
    } else if (strncasecmp(line, "x-linked-size:", 14) == 0) {
        d->linked_size = strtoll(line + 14, NULL, 10);
    } else if (strncasecmp(line, "content-range:", 14) == 0) {
        snprintf(d->content_range, sizeof d->content_range, "%.*s", (int)sizeof d->content_range - 1, line + 14);
    }
    return len;
}

static int restart_file(dl *d) {
    if (fflush(d->f) != 0 || ftruncate(fileno(d->f), 0) != 0 || fseeko(d->f, 0, SEEK_SET) != 0) return -1;
    EVP_DigestInit_ex(d->md, EVP_sha256(), NULL);
    d->written = 0;
    d->offset = 0;
    d->restarted = 1;
    return 0;
}

static size_t on_body(char *p, size_t sz, size_t n, void *ctx) {
    dl *d = ctx;
    size_t len = sz * n;
    if (!d->body_started) {
        d->body_started = 1;
        curl_easy_getinfo(d->h, CURLINFO_RESPONSE_CODE, &d->status);
        if (d->status == 206) {
            long long start = -1;
            const char *cr = d->content_range;
            while (*cr == ' ') cr++;
            if (sscanf(cr, "bytes %lld-", &start) != 1 || start != d->offset) { d->range_bad = 1; return 0; }
        } else if (d->status == 200 && d->offset > 0) {
            /* The server ignored Range: start over. */
            if (restart_file(d) != 0) { d->write_errno = errno; return 0; }
        }
    }
    if (d->status != 200 && d->status != 206) {
        if (d->errbody.len < ERR_BODY_MAX) rg_buf_put(&d->errbody, p, len < ERR_BODY_MAX ? len : ERR_BODY_MAX);
        return len;
    }
    if (d->expect >= 0 && d->written + (int64_t)len > d->expect) { d->range_bad = 2; return 0; }
    if (fwrite(p, 1, len, d->f) != len) { d->write_errno = errno ? errno : EIO; return 0; }
    EVP_DigestUpdate(d->md, p, len);
    d->written += (int64_t)len;
    return len;
}

static void draw(dl *d, int final) {
    double now = rg_now();
    if (!final && now - d->last_draw < 0.2) return;
    d->last_draw = now;
    int64_t total = d->expect;
    double mb = d->written / 1e6, rate = now > d->t0 ? (d->written - d->offset) / (now - d->t0) / 1e6 : 0;
    if (total > 0) {
        int w = 30, fill = (int)((double)d->written / (double)total * w);
        char bar[31];
        for (int i = 0; i < w; i++) bar[i] = i < fill ? '#' : '-';
        bar[w] = 0;
        fprintf(stderr, "\r[%s] %3d%% %.1f/%.1f MB %.1f MB/s ", bar, (int)(100.0 * (double)d->written / (double)total),
                mb, total / 1e6, rate);
    } else {
        fprintf(stderr, "\r%.1f MB %.1f MB/s ", mb, rate);
    }
    if (final) fputc('\n', stderr);
}

static int on_progress(void *ctx, curl_off_t dlt, curl_off_t dln, curl_off_t ult, curl_off_t uln) {
    (void)dlt; (void)dln; (void)ult; (void)uln;
    dl *d = ctx;
    if (d->progress) draw(d, 0);
    return 0;
}

static void hexdigest(EVP_MD_CTX *md, char out[65]) {
    unsigned char dg[32];
    unsigned int n = 0;
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    EVP_MD_CTX_copy_ex(c, md);
    EVP_DigestFinal_ex(c, dg, &n);
    EVP_MD_CTX_free(c);
    for (int i = 0; i < 32; i++) snprintf(out + 2 * i, 3, "%02x", dg[i]);
}

/* Hashes the first len bytes of f into md. */
static int hash_prefix(FILE *f, int64_t len, EVP_MD_CTX *md) {
    if (fseeko(f, 0, SEEK_SET) != 0) return -1;
    char *buf = xmalloc(1 << 20);
    int64_t left = len;
    while (left > 0) {
        size_t k = fread(buf, 1, left < (1 << 20) ? (size_t)left : (size_t)(1 << 20), f);
        if (k == 0) { free(buf); return -1; }
        EVP_DigestUpdate(md, buf, k);
        left -= (int64_t)k;
    }
    free(buf);
    return fseeko(f, len, SEEK_SET);
}

static int file_sha256(const char *path, char out[65], int64_t *size) {
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    struct stat st;
    if (fstat(fileno(f), &st) != 0) { fclose(f); return -1; }
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    EVP_DigestInit_ex(md, EVP_sha256(), NULL);
    int rc = hash_prefix(f, (int64_t)st.st_size, md);
    fclose(f);
    if (rc == 0) hexdigest(md, out);
    EVP_MD_CTX_free(md);
    *size = (int64_t)st.st_size;
    return rc;
}

static int fsync_dir(const char *dir) {
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0) return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

int rg_model_pull(const char *repo, const char *want, const char *dir, const rg_pull_opts *o, rg_pull_result *r) {
    memset(r, 0, sizeof *r);
    if (!repo || !valid_repo(repo)) { rg_err("\"%s\": not a repository name (expected OWNER/NAME)", repo ? repo : ""); return -1; }
    if (want && !valid_file(want)) { rg_err("%s: \"%s\" is not a valid file name", repo, want); return -1; }
    const char *ep = o && o->endpoint ? o->endpoint : getenv("RAGD_HF_ENDPOINT");
    if (!ep || !*ep) ep = "https://huggingface.co";
    if (strncmp(ep, "http://", 7) != 0 && strncmp(ep, "https://", 8) != 0) {
        rg_err("hub endpoint \"%s\" is not an http(s) URL (RAGD_HF_ENDPOINT)", ep);
        return -1;
    }
    char *base = xstrdup(ep);
    for (size_t n = strlen(base); n > 8 && base[n - 1] == '/'; n--) base[n - 1] = 0;
    const char *token = o && o->token ? o->token : getenv("HF_TOKEN");
    static int curl_ready;
    if (!__atomic_exchange_n(&curl_ready, 1, __ATOMIC_ACQ_REL)) curl_global_init(CURL_GLOBAL_DEFAULT);

    int rc = -1;
    char *file = NULL, *dest = NULL, *part = NULL, *url = NULL, *epath = NULL;
    struct curl_slist *hdrs = NULL;
    CURL *h = NULL;
    dl d;
    memset(&d, 0, sizeof d);
    int fd = -1;
    json_t *api = fetch_api(base, repo, o, token);
    if (!api) goto out;
    int64_t size = -1;
    char sha[65];
    file = choose_file(api, repo, want, &size, sha);
    json_decref(api);
    if (!file) goto out;
    if (!valid_file(file)) { rg_err("%s: the hub named an unusable file \"%s\"", repo, file); goto out; }
    const char *basename = strrchr(file, '/');
    basename = basename ? basename + 1 : file;
    if (rg_mkdir_p(dir, 0755) != 0) goto out;
    dest = xasprintf("%s/%s", dir, basename);
    part = xasprintf("%s.part", dest);
    r->file = xstrdup(file);
    r->path = xstrdup(dest);

    /* Already there and intact? */
    struct stat st;
    if (stat(dest, &st) == 0 && S_ISREG(st.st_mode) && (size < 0 || (int64_t)st.st_size == size)) {
        char have[65];
        int64_t hs;
        if (sha[0] && file_sha256(dest, have, &hs) == 0 && strcmp(have, sha) == 0) {
            snprintf(r->sha256, sizeof r->sha256, "%s", sha);
            r->size = hs; r->verified = 1; r->already = 1;
            rc = 0;
            goto out;
        }
    }

    fd = open(part, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) { rg_err("%s: %s", part, strerror(errno)); goto out; }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) { rg_err("%s: another download of this file is running", part); goto out; }
    d.f = fdopen(fd, "r+b");
    if (!d.f) { rg_err("%s: %s", part, strerror(errno)); goto out; }
    fd = -1;
    d.md = EVP_MD_CTX_new();
    EVP_DigestInit_ex(d.md, EVP_sha256(), NULL);
    d.expect = size;
    if (fstat(fileno(d.f), &st) != 0) { rg_err("%s: %s", part, strerror(errno)); goto out; }
    d.offset = (int64_t)st.st_size;
    if (size >= 0 && d.offset > size) d.offset = 0;
    if (d.offset > 0) {
        /* Resuming: the hash must cover the bytes already there. */
        if (hash_prefix(d.f, d.offset, d.md) != 0) { rg_err("%s: cannot re-read the partial download", part); goto out; }
        r->resumed = 1;
    }
    if (ftruncate(fileno(d.f), d.offset) != 0 || fseeko(d.f, d.offset, SEEK_SET) != 0) { rg_err("%s: %s", part, strerror(errno)); goto out; }
    d.written = d.offset;

    if (size < 0 || d.offset < size) {
        h = handle(o, token, &hdrs);
        if (!h) goto out;
        d.h = h;
        epath = escape_path(h, file);
        url = xasprintf("%s/%s/resolve/main/%s", base, repo, epath);
        char range[48];
        if (d.offset > 0) {
            snprintf(range, sizeof range, "%lld-", (long long)d.offset);
            curl_easy_setopt(h, CURLOPT_RANGE, range);
        }
        curl_easy_setopt(h, CURLOPT_URL, url);
        curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(h, CURLOPT_HEADERDATA, &d);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, &d);
        d.progress = o && o->progress;
        d.t0 = rg_now();
        if (d.progress) {
            curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
            curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
            curl_easy_setopt(h, CURLOPT_XFERINFODATA, &d);
        }
        CURLcode cc = curl_easy_perform(h);
        if (d.progress) draw(&d, 1);
        if (!d.body_started) curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &d.status);
        fflush(d.f);
        if (ftruncate(fileno(d.f), d.written) != 0) { /* keep what was hashed; best effort */ }
        if (d.write_errno) {
            rg_err("%s: writing %s: %s", repo, part, d.write_errno == ENOSPC ? "disk full" : strerror(d.write_errno));
            goto out;
        }
        if (d.range_bad == 1) {
            rg_err("%s: %s answered a different range than asked (%s); the partial download was removed", repo, file, d.content_range);
            unlink(part);
            goto out;
        }
        if (cc == CURLE_TOO_MANY_REDIRECTS || cc == CURLE_UNSUPPORTED_PROTOCOL) {
            rg_err("%s: %s: %s (redirects: at most 5, http/https only)", repo, file, curl_easy_strerror(cc));
            goto out;
        }
        if (d.status && d.status != 200 && d.status != 206) {
            if (d.status == 404) rg_err("%s: %s: file not found on the hub (HTTP 404)", repo, file);
            else rg_err("%s: %s: HTTP %ld, %s", repo, file, d.status, http_why(d.status, token && *token));
            if (d.status == 416) unlink(part);
            goto out;
        }
        if (cc != CURLE_OK && d.range_bad != 2) {
            char of[40] = "";
            if (size >= 0) snprintf(of, sizeof of, " of %lld", (long long)size);
            rg_err("%s: %s: download interrupted after %lld%s bytes (%s); run the same command again to resume",
                   repo, file, (long long)d.written, of, curl_easy_strerror(cc));
            goto out;
        }
    }
    /* Size, then the hash: the hub's X-Linked-Etag (the sha256 of what it served) if sent, else
     * the API's lfs.sha256. */
    const char *expect_sha = is_hex64(d.linked_etag) ? d.linked_etag : sha[0] ? sha : NULL;
    char lower[65] = "";
    if (expect_sha) { for (int k = 0; k < 64; k++) lower[k] = (char)tolower((unsigned char)expect_sha[k]); lower[64] = 0; }
    if (size < 0 && d.linked_size > 0) size = d.linked_size;   /* the hub's header, when the API had none */
    if (d.range_bad == 2 || (size >= 0 && d.written != size)) {
        if (d.written > size || d.range_bad == 2) {
            rg_err("%s: %s: the server sent more than the published %lld bytes; the partial download was removed", repo, file, (long long)size);
            unlink(part);
        } else {
            rg_err("%s: %s: the transfer ended after %lld of %lld bytes; run the same command again to resume", repo, file,
                   (long long)d.written, (long long)size);
        }
        goto out;
    }
    char got[65];
    hexdigest(d.md, got);
    if (lower[0] && strcmp(got, lower) != 0) {
        rg_err("%s: %s: checksum mismatch (sha256 %s, the hub published %s); the download was removed", repo, file, got, lower);
        unlink(part);
        goto out;
    }
    if (fsync(fileno(d.f)) != 0 || rename(part, dest) != 0) { rg_err("%s: %s", dest, strerror(errno)); goto out; }
    fsync_dir(dir);
    snprintf(r->sha256, sizeof r->sha256, "%s", got);
    r->size = d.written;
    r->verified = lower[0] != 0;
    rc = 0;
out:
    /* An empty partial file helps nobody: remove it (we hold its lock). */
    if (rc != 0 && d.f && d.written == 0) unlink(part);
    if (d.f) fclose(d.f);
    if (fd >= 0) close(fd);
    if (d.md) EVP_MD_CTX_free(d.md);
    rg_buf_free(&d.errbody);
    if (h) curl_easy_cleanup(h);
    curl_slist_free_all(hdrs);
    free(base); free(file); free(dest); free(part); free(url); free(epath);
    if (rc != 0) rg_pull_result_free(r);
    return rc;
}
