/* ingest/csv: CSV/TSV (RFC 4180: quoted fields with "" escapes and embedded newlines, CRLF or
 * LF) into one table. The delimiter is sniffed from the first records (the one giving the
 * same field count on most lines). Leading lines with a single field above a wider table are
 * its caption (where "in millions" usually is). One read keeps the records' fields, then
 * the table is filled from them. */
#include "ingest/formats.h"
#include "core/numparse.h"
#include "core/util.h"
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define CSV_MAX_COLS 4096
#define CSV_MAX_CELLS 50000000L
#define SNIFF_RECORDS 30

typedef struct {
    const char *p, *end;
    char delim;
    int line;            /* current line, 1-based, for messages */
    rg_buf field;
    rg_strpool *strs;    /* where the fields' texts live (freed by the caller) */
    char **fields;
    int nf, capf;
    int count_only;      /* first pass: count fields, keep no text */
    int nonblank;        /* the record has a field with something but spaces/tabs */
} csv_reader;

static int has_ink(const char *p, size_t n) {
    for (size_t i = 0; i < n; i++) if (p[i] != ' ' && p[i] != '\t') return 1;
    return 0;
}

static void push_field(csv_reader *r) {
    if (r->count_only) { r->nf++; r->field.len = 0; return; }
    if (r->nf == r->capf) {
        r->capf = r->capf ? r->capf * 2 : 16;
        r->fields = xrealloc(r->fields, (size_t)r->capf * sizeof *r->fields);
    }
    r->fields[r->nf++] = rg_strpool_dup(r->strs, r->field.data ? r->field.data : "", r->field.len, 16384);
    r->field.len = 0;
}

/* A field whose text lies in the source as it is: copied once, straight into the list. */
static void push_span(csv_reader *r, const char *s, size_t n) {
    if (r->count_only) { r->nf++; return; }
    if (r->nf == r->capf) {
        r->capf = r->capf ? r->capf * 2 : 16;
        r->fields = xrealloc(r->fields, (size_t)r->capf * sizeof *r->fields);
    }
    r->fields[r->nf++] = rg_strpool_dup(r->strs, s, n, 16384);
}

static void clear_fields(csv_reader *r) {
    r->nf = 0;   /* their texts stay in the pool until the parse ends */
}

/* Reads one record into r->fields. 1: a record, 0: end of input, -1: error (rg_err set). */
static int next_record(csv_reader *r, const char *source) {
    clear_fields(r);
    r->nonblank = 0;
    if (r->p >= r->end) return 0;
    for (;;) {
        /* one field */
        r->field.len = 0;
        const char *span = NULL;   /* the field is span[0..span_n) of the source, as it is */
        size_t span_n = 0;
        if (r->p < r->end && *r->p == '"') {
            int start_line = r->line, pieces = 0;
            const char *first = NULL;   /* the first piece, copied only when more follow */
            size_t first_n = 0;
            r->p++;
            for (;;) {
                /* the next quote, counting lines: most fields are short, read here byte by
                 * byte; past 64 bytes memchr takes over */
                const char *q = r->p, *lim = r->end - r->p > 64 ? r->p + 64 : r->end;
                int nl = 0;
                while (q < lim && *q != '"') nl += *q++ == '\n';
                r->line += nl;
                if (q == lim) {
                    const char *from = q;
                    q = q < r->end ? memchr(q, '"', (size_t)(r->end - q)) : NULL;
                    if (!q) {
                        rg_err("%s: unterminated quoted field starting at line %d", source, start_line);
                        return -1;
                    }
                    for (const char *c = from; c < q && (c = memchr(c, '\n', (size_t)(q - c))); c++) r->line++;
                }
                if (!r->nonblank) r->nonblank = has_ink(r->p, (size_t)(q - r->p));
                if (!pieces++) { first = r->p; first_n = (size_t)(q - r->p); }
                else if (!r->count_only) rg_buf_put(&r->field, r->p, (size_t)(q - r->p));
                r->p = q + 1;
                if (r->p < r->end && *r->p == '"') {   /* "" is a quote inside the field */
                    if (!r->count_only) {
                        if (pieces == 1) rg_buf_put(&r->field, first, first_n);
                        rg_buf_putc(&r->field, '"');
                    }
                    r->p++;
                    continue;
                }
                break;
            }
            /* text after the closing quote (not RFC 4180) is kept as it is */
            int trailing = r->p < r->end && *r->p != r->delim && *r->p != '\n' && *r->p != '\r';
            if (trailing && pieces == 1 && !r->count_only) rg_buf_put(&r->field, first, first_n);
            const char *t = r->p;
            while (r->p < r->end && *r->p != r->delim && *r->p != '\n' && *r->p != '\r') r->p++;
            if (!r->count_only && r->p > t) rg_buf_put(&r->field, t, (size_t)(r->p - t));   /* at once; sniffing keeps none */
            if (pieces == 1 && !trailing) { span = first; span_n = first_n; }   /* "plain": no copy but one */
        } else {
            const char *s = r->p;
            while (r->p < r->end && *r->p != r->delim && *r->p != '\n') r->p++;
            size_t n = (size_t)(r->p - s);
            if (n && s[n - 1] == '\r' && (r->p >= r->end || *r->p == '\n')) n--;
            if (!r->nonblank) r->nonblank = has_ink(s, n);
            span = s;
            span_n = n;
        }
        if (r->nf >= CSV_MAX_COLS) {
            rg_err("%s: line %d has more than %d fields", source, r->line, CSV_MAX_COLS);
            return -1;
        }
        if (span) push_span(r, span, span_n);
        else push_field(r);
        if (r->p >= r->end) return 1;
        if (*r->p == '\r') r->p++;
        if (r->p >= r->end) return 1;
        if (*r->p == r->delim) { r->p++; continue; }
        if (*r->p == '\n') { r->p++; r->line++; return 1; }
    }
}

static int blank_record(const csv_reader *r) { return !r->nonblank; }

static void reader_free(csv_reader *r) {
    clear_fields(r);
    free(r->fields);
    rg_buf_free(&r->field);
}

/* Fraction of the first records having the most common field count (>= 2). */
static double consistency(const char *text, size_t len, char delim, int *fields) {
    csv_reader r = {text, text + len, delim, 1, {0}, NULL, NULL, 0, 0, 1, 0};
    int counts[SNIFF_RECORDS], n = 0;
    while (n < SNIFF_RECORDS) {
        int rc = next_record(&r, "sniff");
        if (rc == 0) break;
        if (rc < 0) { if (n < 2) n = 0; break; }
        if (blank_record(&r)) continue;
        counts[n++] = r.nf;
    }
    reader_free(&r);
    int best = 0, best_n = 0;
    for (int i = 0; i < n; i++) {
        int k = 0;
        for (int j = 0; j < n; j++) k += counts[j] == counts[i];
        if (k > best_n || (k == best_n && counts[i] > best)) { best_n = k; best = counts[i]; }
    }
    *fields = best;
    if (n < 2 || best < 2) return 0;
    return (double)best_n / n;
}

static char sniff(const char *text, size_t len, double *score) {
    static const char cands[] = ",\t;|";
    char best = 0;
    double best_s = 0;
    int best_f = 0;
    for (const char *c = cands; *c; c++) {
        int f;
        double s = consistency(text, len, *c, &f);
        if (s > best_s + 1e-9 || (s > 0 && s >= best_s - 1e-9 && f > best_f)) { best = *c; best_s = s; best_f = f; }
    }
    *score = best_s;
    return best;
}

int rg_sniff_csv(const char *text, size_t len, char *delim) {
    double s;
    char d = sniff(text, len, &s);
    if (!d || s < 0.8) return 0;
    *delim = d;
    return 1;
}

rg_doc *rg_parse_csv(const char *doc_id, const char *source, const char *text, size_t len, char delim) {
    if (!delim) {
        double s;
        delim = sniff(text, len, &s);
        if (!delim) delim = ',';   /* one column: any delimiter reads it */
    }
    /* read: the non-blank records, their fields taken over from the reader into one list
     * (record k is fields[start[k] .. start[k + 1])), and the table's shape */
    rg_strpool strs = {0};
    csv_reader r = {text, text + len, delim, 1, {0}, &strs, NULL, 0, 0, 0, 0};
    char **fields = NULL;
    size_t nfields = 0, capfields = 0, *start = xmalloc(sizeof *start), capstart = 1;
    start[0] = 0;
    long rows = 0;
    int cols = 0, rc;
    while ((rc = next_record(&r, source)) > 0) {
        if (blank_record(&r)) continue;
        rows++;
        if (r.nf > cols) cols = r.nf;
        if ((long)cols * rows > CSV_MAX_CELLS) {
            rg_err("%s: table larger than %ld cells", source, CSV_MAX_CELLS);
            rc = -1;
            break;
        }
        if (nfields + (size_t)r.nf > capfields) {
            capfields = capfields ? capfields * 2 : 256;
            while (capfields < nfields + (size_t)r.nf) capfields *= 2;
            fields = xrealloc(fields, capfields * sizeof *fields);
        }
        memcpy(fields + nfields, r.fields, (size_t)r.nf * sizeof *fields);
        nfields += (size_t)r.nf;
        r.nf = 0;
        if ((size_t)rows + 1 > capstart) {
            capstart *= 2;
            start = xrealloc(start, capstart * sizeof *start);
        }
        start[rows] = nfields;
    }
    reader_free(&r);
    if (rc < 0 || !rows) {
        if (rc >= 0) rg_err("%s: empty CSV file", source);
        rg_strpool_free(&strs);
        free(fields);
        free(start);
        return NULL;
    }
    /* fill. Leading records filling less than half the columns (or one) are the caption
     * (an unquoted caption may hold the delimiter: its fields are joined back); trailing
     * records with only a first field are notes, kept as paragraphs after the table. */
    rg_buf caption = {0};
    int in_caption = cols >= 2, row = 0;
    long nrecords = rows;
    rg_table *t = NULL;
    for (long k = 0; k < nrecords; k++) {
        char **f = fields + start[k];
        int nf = (int)(start[k + 1] - start[k]), ne = 0;
        for (int i = 0; i < nf; i++) if (f[i][0]) ne++;
        if (in_caption && (2 * ne < cols || ne == 1) && f[0][0] && row < rows - 1) {
            if (caption.len) rg_buf_putc(&caption, ' ');
            for (int i = 0; i < nf; i++) {
                if (i && f[i][0]) rg_buf_putc(&caption, delim == '\t' ? ' ' : delim);
                rg_buf_puts(&caption, f[i]);
            }
            rows--;
            continue;
        }
        in_caption = 0;
        if (!t) t = rg_table_new((int)rows, cols);
        for (int c = 0; c < nf; c++) rg_table_set_kept(t, row, c, f[c]);   /* the fields' pool becomes the table's, below */
        for (int c = nf; c < cols; c++) rg_table_set(t, row, c, "");
        row++;
    }
    rg_strpool_adopt(&t->strs, &strs);
    free(fields);
    free(start);
    if (caption.len) t->caption = rg_buf_take(&caption);
    rg_buf_free(&caption);
    int notes = 0;
    while (cols >= 3 && t->nrows - notes > 2) {
        int r = t->nrows - 1 - notes;
        const char *first = rg_table_cell(t, r, 0)->raw;
        int only_first = rg_table_cell(t, r, 0)->type == RG_CELL_TEXT &&
                         (strlen(first) >= 24 || strncasecmp(first, "note", 4) == 0 ||
                          strncasecmp(first, "source", 6) == 0 || first[0] == '*' || first[0] == '(');
        for (int c = 1; c < cols && only_first; c++) if (rg_table_cell(t, r, c)->type != RG_CELL_EMPTY) only_first = 0;
        if (!only_first) break;
        notes++;
    }
    t->nrows -= notes;   /* the note rows' cells are freed below, after use */
    rg_table_analyse(t, NULL);
    rg_doc *d = rg_doc_new(doc_id, source, "csv");
    if (t->caption) d->title = xstrdup(t->caption);
    const char *section = t->caption ? t->caption : "";
    rg_doc_add_table(d, t, section);
    for (int r = t->nrows; r < t->nrows + notes; r++) {
        rg_doc_add_text(d, RG_BLOCK_PARA, 0, t->cells[(size_t)r * (size_t)cols].raw, section);
        for (int c = 0; c < cols; c++) t->cells[(size_t)r * (size_t)cols + (size_t)c].raw = NULL;
    }
    return d;
}
