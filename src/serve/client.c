/* serve/client: see client.h. */
#include "serve/client.h"
#include "serve/daemon.h"
#include "core/util.h"
#include <curl/curl.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_REPLY (64u << 20)

char *rg_index_identity(const char *index_dir) {
    char *r = realpath(index_dir, NULL);
    if (r) return r;
    if (index_dir[0] == '/') return xstrdup(index_dir);
    char cwd[PATH_MAX];
    if (!getcwd(cwd, sizeof cwd)) return xstrdup(index_dir);
    return xasprintf("%s/%s", cwd, index_dir);
}

typedef struct { const char *key; char *val; } config_lookup;
static void config_match(const char *k, const char *v, int lineno, void *ctx) {
    config_lookup *c = ctx;
    (void)lineno;
    if (strcmp(k, c->key) == 0) { free(c->val); c->val = xstrdup(v); }
}

char *rg_config_value(const char *config_path, const char *key) {
    if (!config_path) return NULL;
    config_lookup c = {key, NULL};
    cli_config_each(config_path, config_match, &c);
    return c.val;
}

char *rg_client_socket(const rg_cli *cli) {
    const char *env = getenv("RAGD_SOCKET");
    if (env && *env) return xstrdup(env);
    char *v = rg_config_value(cli->config_path, "socket");
    if (v && *v) return v;
    free(v);
    return rg_daemon_default_socket(cli->index_dir);
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }

static size_t on_data(char *p, size_t size, size_t n, void *ctx) {
    rg_buf *b = ctx;
    size_t len = size * n;
    if (b->len + len > MAX_REPLY) return 0;   /* aborts the transfer */
    rg_buf_put(b, p, len);
    return len;
}

int rg_client_call(const char *socket_path, const char *index_id, const char *method, const char *path,
                   json_t *body, double timeout, long *status, json_t **reply) {
    *reply = NULL;
    *status = 0;
    struct stat st;
    if (stat(socket_path, &st) != 0 || !S_ISSOCK(st.st_mode)) return 0;
    pthread_once(&curl_once, curl_init);
    CURL *c = curl_easy_init();
    if (!c) { rg_err("libcurl: cannot create a handle"); return -1; }
    char *url = xasprintf("http://localhost%s", path);
    char *payload = body ? json_dumps(body, JSON_COMPACT) : NULL;
    struct curl_slist *hdrs = curl_slist_append(NULL, "Content-Type: application/json");
    char *idh = NULL;
    if (index_id) { idh = xasprintf("X-Ragd-Index: %s", index_id); hdrs = curl_slist_append(hdrs, idh); }
    hdrs = curl_slist_append(hdrs, "Expect:");
    rg_buf out = {0};
    curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, socket_path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 2000L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)(timeout * 1000));
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &out);
    if (payload) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, payload);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(payload));
    }
    CURLcode rc = curl_easy_perform(c);
    int ret;
    if (rc == CURLE_COULDNT_CONNECT) ret = 0;   /* a stale socket: nobody is serving */
    else if (rc != CURLE_OK) { rg_err("daemon on %s: %s", socket_path, curl_easy_strerror(rc)); ret = -1; }
    else {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
        json_error_t err;
        *reply = out.len ? json_loadb(out.data, out.len, 0, &err) : NULL;
        if (!*reply) { rg_err("daemon on %s: %s %s: answer is not JSON (HTTP %ld)", socket_path, method, path, *status); ret = -1; }
        else ret = 1;
    }
    rg_buf_free(&out);
    curl_slist_free_all(hdrs);
    free(idh);
    free(payload);
    free(url);
    curl_easy_cleanup(c);
    return ret;
}

/* The body with each relative path made absolute (the daemon has another working directory). */
static json_t *absolute_paths(json_t *body) {
    json_t *b = json_deep_copy(body);
    json_t *paths = json_object_get(b, "paths");
    size_t i;
    json_t *p;
    json_array_foreach(paths, i, p) {
        const char *s = json_string_value(p);
        if (!s || s[0] == '/' || strncmp(s, "http://", 7) == 0 || strncmp(s, "https://", 8) == 0) continue;
        char *abs = rg_index_identity(s);
        json_array_set_new(paths, i, json_string(abs));
        free(abs);
    }
    return b;
}

int rg_client_try(const rg_cli *cli, const char *method, const char *path, json_t *body, json_t **reply) {
    *reply = NULL;
    if (getenv("RAGD_NO_DAEMON")) return 0;
    char *sock = rg_client_socket(cli);
    char *id = rg_index_identity(cli->index_dir);
    long status = 0;
    int is_index = strcmp(method, "POST") == 0 && strcmp(path, "/v1/index") == 0;
    json_t *b = is_index && body ? absolute_paths(body) : json_incref(body);
    int rc = rg_client_call(sock, id, method, path, b, 600, &status, reply);
    json_decref(b);
    if (rc == 1 && status == 409) {   /* serving another index */
        json_decref(*reply);
        *reply = NULL;
        rc = 0;
    }
    if (rc == 1 && is_index && status == 403) {   /* outside the daemon's allowed roots */
        json_decref(*reply);
        *reply = NULL;
        rc = 0;
    }
    if (rc == 1 && is_index && status == 202) {
        json_int_t job = json_integer_value(json_object_get(*reply, "job"));
        json_decref(*reply);
        *reply = NULL;
        char jpath[64];
        snprintf(jpath, sizeof jpath, "/v1/jobs/%lld", (long long)job);
        for (;;) {
            json_t *j = NULL;
            rc = rg_client_call(sock, id, "GET", jpath, NULL, 30, &status, &j);
            if (rc != 1) { if (rc == 0) rg_err("daemon on %s went away during index job %lld", sock, (long long)job); rc = -1; break; }
            const char *st = json_string_value(json_object_get(j, "state"));
            if (status != 200 || !st || (strcmp(st, "queued") && strcmp(st, "running"))) { *reply = j; break; }
            json_decref(j);
            usleep(100000);
        }
    }
    free(sock);
    free(id);
    return rc;
}
