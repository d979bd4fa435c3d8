/* ingest/parse: format detection and dispatch (see parse.h). */
#include "ingest/parse.h"
#include "ingest/formats.h"
#include "core/util.h"
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcasecmp(s + n - m, suffix) == 0;
}

static int looks_binary(const char *data, size_t len) {
    size_t n = len < 8192 ? len : 8192, ctrl = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)data[i];
        if (c == 0) return 1;
        if (c < 32 && c != '\n' && c != '\r' && c != '\t' && c != '\f') ctrl++;
    }
    return n && ctrl * 10 > n;
}

const char *rg_detect_format(const char *name, const char *data, size_t len, const char *content_type) {
    const char *ct = content_type ? content_type : "";
    if (looks_binary(data, len)) {
        rg_err("%s: binary file, not a supported document format", name);
        return NULL;
    }
    if (ends_with(name, ".md") || ends_with(name, ".markdown") || strstr(ct, "markdown")) return "markdown";
    return "text";
}

int rg_parse_buffer(const char *source, const char *doc_id, const char *data, size_t len,
                    const char *content_type, rg_doc ***docs, int *ndocs) {
    *docs = NULL;
    *ndocs = 0;
    const char *fmt = rg_detect_format(source, data, len, content_type);
    if (!fmt) return -1;
    size_t tlen = len;
    int repaired = 0;
    char *text = rg_utf8_repair(data, len, &tlen, &repaired);
    rg_doc *d = NULL;
    if (strcmp(fmt, "markdown") == 0) d = rg_parse_markdown(doc_id, source, text, tlen);
    else d = rg_parse_text(doc_id, source, text, tlen);
    free(text);
    if (!d) return -1;
    *docs = xmalloc(sizeof **docs);
    (*docs)[0] = d;
    *ndocs = 1;
    return 0;
}
