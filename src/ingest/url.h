/* ingest/url: fetching a document over http(s) with libcurl, for `ragd index URL`.
 * Only http and https (redirects too, at most 5), connect and total timeouts, a size cap,
 * compressed transfer allowed. The Content-Type is returned for format detection and the
 * ETag / Last-Modified validators for the index to store; passing them back on re-index
 * sends If-None-Match / If-Modified-Since, and a 304 answer sets not_modified. */
#ifndef RAGD_INGEST_URL_H
#define RAGD_INGEST_URL_H
#include <stddef.h>

typedef struct {
    size_t max_bytes;          /* body limit; 0: 64 MiB */
    long timeout_s;            /* whole transfer; 0: 30 s (connect: at most 10 s) */
    const char *etag;          /* validator from a previous fetch, or NULL */
    const char *last_modified; /* validator from a previous fetch, or NULL */
} rg_fetch_opts;

typedef struct {
    long status;               /* final HTTP status (200, 304, ...) */
    int not_modified;          /* 1 on 304: body is empty, the stored copy is current */
    char *body;                /* NUL-terminated; len bytes (may hold NULs) */
    size_t len;
    char *content_type;        /* e.g. "text/html; charset=utf-8", or NULL */
    char *etag, *last_modified;/* validators of the answer, or NULL */
    char *final_url;           /* after redirects */
} rg_fetch_result;

/* 1 when s starts with http:// or https:// (case-insensitive). */
int rg_is_url(const char *s);
/* Fetches url into *r (zeroed first). Returns 0 on a 2xx or 304 answer, else -1 with rg_err
 * naming the url: a scheme other than http(s), a transfer error or timeout, an HTTP error
 * status, too many redirects, or a body over the limit. opts may be NULL. */
int rg_fetch_url(const char *url, const rg_fetch_opts *opts, rg_fetch_result *r);
void rg_fetch_result_free(rg_fetch_result *r);
#endif
