/* ingest/parse: one entry point from bytes to documents. The format is detected from the
 * content first (PDF magic, HTML tags, JSON shape, CSV regularity), then the name, then the
 * HTTP content type; each format's parser lives in its own file (ingest/formats.h). */
#ifndef RAGD_INGEST_PARSE_H
#define RAGD_INGEST_PARSE_H
#include <stddef.h>
#include "core/doc.h"

/* "text", "markdown", "html", "csv", "tsv", "pdf", "tatqa", "json", or NULL (binary/unknown,
 * rg_err says why). */
const char *rg_detect_format(const char *name, const char *data, size_t len, const char *content_type);

/* Parses len bytes from source into *docs (*ndocs of them; TAT-QA files give several).
 * doc_id names the document for single-document formats. Returns 0, or -1 with rg_err
 * naming the source and the reason. */
int rg_parse_buffer(const char *source, const char *doc_id, const char *data, size_t len,
                    const char *content_type, rg_doc ***docs, int *ndocs);
#endif
