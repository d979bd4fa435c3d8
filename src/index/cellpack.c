/* index/cellpack: see cellpack.h */
#include "index/cellpack.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define CELLPACK_FORMAT 1

static int has_value(int type) {
    return type == RG_CELL_NUMBER || type == RG_CELL_PERCENT || type == RG_CELL_YEAR;
}

/* Each cell is written straight into out's room (a table has many small cells). */
void rg_cells_pack(const rg_table *t, rg_buf *out) {
    rg_buf_putc(out, CELLPACK_FORMAT);
    size_t n = (size_t)t->nrows * (size_t)t->ncols;
    for (size_t i = 0; i < n; i++) {
        const rg_cell *c = &t->cells[i];
        const char *raw = c->raw ? c->raw : "";
        size_t rl = strlen(raw), ul = strnlen(c->unit, sizeof c->unit - 1);
        rg_buf_reserve(out, 1 + 8 + 10 + rl + 1 + ul);
        unsigned char *o = (unsigned char *)out->data + out->len;
        *o++ = (unsigned char)c->type;
        if (has_value((int)c->type)) {
            uint64_t bits;
            memcpy(&bits, &c->value, sizeof bits);
            for (int k = 0; k < 8; k++) *o++ = (unsigned char)(bits >> (8 * k));
        }
        size_t v = rl;
        while (v > 0x7f) { *o++ = (unsigned char)(v | 0x80); v >>= 7; }
        *o++ = (unsigned char)v;
        memcpy(o, raw, rl);
        o += rl;
        *o++ = (unsigned char)ul;
        memcpy(o, c->unit, ul);
        o += ul;
        out->len = (size_t)(o - (unsigned char *)out->data);
    }
    out->data[out->len] = 0;
}

typedef struct { const unsigned char *p, *end; } reader;

static int get_varint(reader *r, size_t *v) {
    size_t x = 0;
    for (int shift = 0; shift < 35; shift += 7) {
        if (r->p >= r->end) return -1;
        unsigned char b = *r->p++;
        x |= (size_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) { *v = x; return 0; }
    }
    return -1;   /* longer than any raw text a table holds */
}

int rg_cells_unpack(rg_table *t, const void *blob, size_t len) {
    reader r = {blob, (const unsigned char *)blob + len};
    size_t n = (size_t)t->nrows * (size_t)t->ncols;
    if (!blob || len < 1 || *r.p != CELLPACK_FORMAT) { rg_err("table cells: unknown format"); return -1; }
    r.p++;
    for (size_t i = 0; i < n; i++) {
        rg_cell *c = &t->cells[i];
        if (r.p >= r.end) { rg_err("table cells: %zu of %zu cells present", i, n); return -1; }
        int type = *r.p++;
        if (type > RG_CELL_YEAR) { rg_err("table cells: cell %zu has unknown type %d", i, type); return -1; }
        double value = 0;
        if (has_value(type)) {
            if (r.end - r.p < 8) { rg_err("table cells: cell %zu truncated", i); return -1; }
            uint64_t bits = 0;
            for (int k = 0; k < 8; k++) bits |= (uint64_t)r.p[k] << (8 * k);
            memcpy(&value, &bits, sizeof value);
            r.p += 8;
        }
        size_t rl;
        if (get_varint(&r, &rl) != 0 || rl > (size_t)(r.end - r.p)) { rg_err("table cells: cell %zu text truncated", i); return -1; }
        const unsigned char *raw = r.p;
        r.p += rl;
        size_t ul = r.p < r.end ? *r.p++ : sizeof c->unit;
        if (ul >= sizeof c->unit || ul > (size_t)(r.end - r.p)) { rg_err("table cells: cell %zu unit truncated", i); return -1; }
        c->raw = rg_table_strdup(t, (const char *)raw, rl);
        c->type = (rg_cell_type)type;
        c->value = value;
        memcpy(c->unit, r.p, ul);
        c->unit[ul] = 0;
        r.p += ul;
    }
    if (r.p != r.end) { rg_err("table cells: %zu bytes after the last cell", (size_t)(r.end - r.p)); return -1; }
    return 0;
}
