/* ingest/parse: format detection and dispatch (see parse.h). */
#include "ingest/parse.h"
#include "ingest/formats.h"
#include "core/util.h"
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcasecmp(s + n - m, suffix) == 0;
}

/* Per byte: 1 a control character that text does not hold, 2 NUL. */
static const unsigned char CTRL[256] = {
    [0] = 2, [1] = 1, [2] = 1, [3] = 1, [4] = 1, [5] = 1, [6] = 1, [7] = 1, [8] = 1, [11] = 1,
    [14] = 1, [15] = 1, [16] = 1, [17] = 1, [18] = 1, [19] = 1, [20] = 1, [21] = 1, [22] = 1,
    [23] = 1, [24] = 1, [25] = 1, [26] = 1, [27] = 1, [28] = 1, [29] = 1, [30] = 1, [31] = 1};

/* A NUL in the first 8 KB, or more than a tenth of them control characters. One table load
 * per byte and no branch (this runs on every file). */
static int looks_binary(const char *data, size_t len) {
    size_t n = len < 8192 ? len : 8192, ctrl = 0;
    unsigned nul = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned k = CTRL[(unsigned char)data[i]];
        ctrl += k & 1;
        nul |= k & 2;
    }
    if (nul) return 1;
    return n && ctrl * 10 > n;
}

/* First non-blank bytes of data (after a UTF-8 BOM). */
static const char *content_start(const char *data, size_t len, size_t *rest) {
    size_t i = 0;
    if (len >= 3 && memcmp(data, "\xEF\xBB\xBF", 3) == 0) i = 3;
    while (i < len && isspace((unsigned char)data[i])) i++;
    *rest = len - i;
    return data + i;
}

static int starts_ci(const char *p, size_t n, const char *lit) {
    size_t m = strlen(lit);
    return n >= m && strncasecmp(p, lit, m) == 0;
}

/* Strong HTML signals: a doctype or <html> at the start, or (weak=1) any common tag early. */
static int looks_html(const char *p, size_t n, int weak) {
    if (!p || !n || *p != '<') return 0;
    if (starts_ci(p, n, "<!doctype html") || starts_ci(p, n, "<html")) return 1;
    size_t win = n < 4096 ? n : 4096;
    if (starts_ci(p, n, "<?xml") && (memmem(p, win, "<html", 5) || memmem(p, win, "<HTML", 5))) return 1;
    if (!weak) return 0;
    static const char *tags[] = {"<head", "<body", "<table", "<div", "<p>", "<p ", "<h1", "<h2", "<title", NULL};
    for (int i = 0; tags[i]; i++) {
        size_t m = strlen(tags[i]);
        for (size_t j = 0; j + m <= win; j++) if (strncasecmp(p + j, tags[i], m) == 0) return 1;
    }
    return 0;
}

static int looks_markdown(const char *data, size_t len) {
    size_t n = len < 65536 ? len : 65536;
    for (size_t i = 0; i < n; i++)
        if ((i == 0 || data[i - 1] == '\n') && data[i] == '#') {
            size_t j = i;
            while (j < n && data[j] == '#' && j - i < 6) j++;
            if (j < n && data[j] == ' ') return 1;
        }
    return 0;
}

/* Length of the valid UTF-8 sequence at p (2..4; p[0] >= 0x80), 0 when invalid: the rules
 * of rg_utf8_repair (no overlong forms, surrogates or code points past U+10FFFF). */
static size_t utf8_len(const unsigned char *p, size_t left) {
    unsigned c = p[0], min;
    size_t n;
    if ((c & 0xE0) == 0xC0) { n = 2; min = 0x80; c &= 0x1F; }
    else if ((c & 0xF0) == 0xE0) { n = 3; min = 0x800; c &= 0x0F; }
    else if ((c & 0xF8) == 0xF0) { n = 4; min = 0x10000; c &= 0x07; }
    else return 0;
    if (n > left) return 0;
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xC0) != 0x80) return 0;
        c = (c << 6) | (p[i] & 0x3F);
    }
    if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) return 0;
    return n;
}

/* 1 when data is valid UTF-8 without NUL bytes, i.e. rg_utf8_repair would return it as it is:
 * then a plain copy does. ASCII is checked eight bytes at a time. */
static int clean_utf8(const char *data, size_t len) {
    const unsigned char *p = (const unsigned char *)data;
    const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
    size_t i = 0;
    while (i < len) {
        if (i + 8 <= len) {
            uint64_t w;
            memcpy(&w, p + i, 8);
            if (!(w & highs) && !((w - ones) & ~w & highs)) { i += 8; continue; }   /* ASCII, no NUL */
        }
        if (p[i] == 0) return 0;
        if (p[i] < 0x80) { i++; continue; }
        size_t n = utf8_len(p + i, len - i);
        if (!n) return 0;
        i += n;
    }
    return 1;
}

const char *rg_detect_format(const char *name, const char *data, size_t len, const char *content_type) {
    const char *ct = content_type ? content_type : "";
    if (!name) name = "";
    /* strong content signals first */
    size_t pdfwin = len < 1024 ? len : 1024;
    if (pdfwin >= 5 && memmem(data, pdfwin, "%PDF-", 5)) return "pdf";
    if (looks_binary(data, len)) {
        rg_err("%s: binary file, not a supported document format", name);
        return NULL;
    }
    size_t rest;
    const char *p = content_start(data, len, &rest);
    if (looks_html(p, rest, 0)) return "html";
    if (rest && *p == '[' && rg_is_tatqa(p, rest)) return "tatqa";
    /* then the name */
    if (ends_with(name, ".md") || ends_with(name, ".markdown")) return "markdown";
    if (ends_with(name, ".html") || ends_with(name, ".htm") || ends_with(name, ".xhtml")) return "html";
    if (ends_with(name, ".csv")) return "csv";
    if (ends_with(name, ".tsv") || ends_with(name, ".tab")) return "tsv";
    if (ends_with(name, ".json") || ends_with(name, ".jsonl") || ends_with(name, ".ndjson")) return "json";
    if (ends_with(name, ".pdf")) return "pdf";
    if (ends_with(name, ".txt")) return "text";
    /* then the HTTP content type */
    if (strstr(ct, "html")) return "html";
    if (strstr(ct, "markdown")) return "markdown";
    if (strstr(ct, "text/csv")) return "csv";
    if (strstr(ct, "tab-separated")) return "tsv";
    if (strstr(ct, "json")) return "json";
    if (strstr(ct, "application/pdf")) return "pdf";
    /* then weaker content signals */
    if (looks_html(p, rest, 1)) return "html";
    if (rest && (*p == '{' || *p == '[')) {
        const char *e = data + len;
        while (e > p && isspace((unsigned char)e[-1])) e--;
        if (e > p && (e[-1] == '}' || e[-1] == ']')) return "json";
    }
    if (strstr(ct, "text/plain")) return "text";
    if (looks_markdown(data, len)) return "markdown";
    char delim;
    if (rg_sniff_csv(data, len < 65536 ? len : 65536, &delim)) return delim == '\t' ? "tsv" : "csv";
    return "text";
}

int rg_parse_buffer(const char *source, const char *doc_id, const char *data, size_t len,
                    const char *content_type, rg_doc ***docs, int *ndocs) {
    *docs = NULL;
    *ndocs = 0;
    size_t rest;
    content_start(data, len, &rest);
    if (!rest) {
        rg_err("%s: empty file", source);
        return -1;
    }
    const char *fmt = rg_detect_format(source, data, len, content_type);
    if (!fmt) return -1;
    if (strcmp(fmt, "pdf") == 0) {
        rg_doc *pd = rg_parse_pdf(doc_id, source, data, len);
        if (!pd) return -1;
        *docs = xmalloc(sizeof **docs);
        (*docs)[0] = pd;
        *ndocs = 1;
        return 0;
    }
    size_t tlen = len;
    int repaired = 0;
    char *text = clean_utf8(data, len) ? xstrndup(data, len) : rg_utf8_repair(data, len, &tlen, &repaired);
    rg_doc *d = NULL;
    if (strcmp(fmt, "tatqa") == 0) {
        int rc = rg_parse_tatqa(source, text, tlen, docs, ndocs);
        free(text);
        return rc;
    }
    if (strcmp(fmt, "markdown") == 0) d = rg_parse_markdown(doc_id, source, text, tlen);
    else if (strcmp(fmt, "html") == 0) d = rg_parse_html(doc_id, source, text, tlen);
    else if (strcmp(fmt, "csv") == 0) d = rg_parse_csv(doc_id, source, text, tlen, 0);
    else if (strcmp(fmt, "tsv") == 0) d = rg_parse_csv(doc_id, source, text, tlen, '\t');
    else if (strcmp(fmt, "json") == 0) d = rg_parse_json_text(doc_id, source, text, tlen);
    else d = rg_parse_text(doc_id, source, text, tlen);
    free(text);
    if (!d) return -1;
    *docs = xmalloc(sizeof **docs);
    (*docs)[0] = d;
    *ndocs = 1;
    return 0;
}
