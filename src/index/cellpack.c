/* index/cellpack: see cellpack.h */
#include "index/cellpack.h"
#include "index/varint.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define CELLPACK_FORMAT 2
#define TAG_TYPE 0x07
#define TAG_UNIT 0x08
#define VAL_SHIFT 4
enum { VAL_NONE = 0, VAL_DECIMAL = 1, VAL_DOUBLE = 2 };

static int has_value(int type) {
    return type == RG_CELL_NUMBER || type == RG_CELL_PERCENT || type == RG_CELL_YEAR;
}

static const double pow10_[16] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15};

/* v as m / 10^k, when that gives v back bit for bit (m and 10^k are exact doubles, so the
 * division is one correctly rounded operation, the same on every machine). */
static int as_decimal(double v, int64_t *m, int *k) {
    for (int e = 0; e < 16; e++) {
        double x = v * pow10_[e];
        if (!(x > -9007199254740992.0 && x < 9007199254740992.0)) return 0;   /* NaN, inf, >= 2^53 */
        double r = (double)(int64_t)x;
        if (r != x) continue;
        double back = (double)(int64_t)x / pow10_[e];
        if (memcmp(&back, &v, sizeof v) != 0) continue;   /* -0.0, or not this k */
        *m = (int64_t)x;
        *k = e;
        return 1;
    }
    return 0;
}

/* Each cell is written straight into out's room (a table has many small cells). */
void rg_cells_pack(const rg_table *t, rg_buf *out) {
    rg_buf_putc(out, CELLPACK_FORMAT);
    size_t n = (size_t)t->nrows * (size_t)t->ncols;
    for (size_t i = 0; i < n; i++) {
        const rg_cell *c = &t->cells[i];
        const char *raw = c->raw ? c->raw : "";
        size_t rl = strlen(raw), ul = strnlen(c->unit, sizeof c->unit - 1);
        rg_buf_reserve(out, 1 + 1 + 10 + 8 + 10 + rl + 1 + ul);
        unsigned char *o = (unsigned char *)out->data + out->len;
        unsigned char *tag = o++;
        int enc = VAL_NONE;
        if (has_value((int)c->type)) {
            int64_t m;
            int k;
            if (as_decimal(c->value, &m, &k)) {
                enc = VAL_DECIMAL;
                *o++ = (unsigned char)k;
                o += rg_varint_put(o, ((uint64_t)m << 1) ^ (uint64_t)(m >> 63));   /* zigzag */
            } else {
                enc = VAL_DOUBLE;
                uint64_t bits;
                memcpy(&bits, &c->value, sizeof bits);
                for (int b = 0; b < 8; b++) *o++ = (unsigned char)(bits >> (8 * b));
            }
        }
        *tag = (unsigned char)(((unsigned)c->type & TAG_TYPE) | (ul ? TAG_UNIT : 0) | (unsigned)enc << VAL_SHIFT);
        o += rg_varint_put(o, rl);
        memcpy(o, raw, rl);
        o += rl;
        if (ul) {
            *o++ = (unsigned char)ul;
            memcpy(o, c->unit, ul);
            o += ul;
        }
        out->len = (size_t)(o - (unsigned char *)out->data);
    }
    out->data[out->len] = 0;
}

typedef struct { const unsigned char *p, *end; } reader;

static int get_u64(reader *r, uint64_t *v) {
    size_t pos = 0;
    if (rg_varint_get(r->p, (size_t)(r->end - r->p), &pos, v) != 0) return -1;
    r->p += pos;
    return 0;
}

/* A text length: at most 5 bytes (35 bits, more than any raw text a table holds); a longer
 * varint is damage. */
static int get_varint(reader *r, size_t *v) {
    size_t pos = 0, left = (size_t)(r->end - r->p);
    uint64_t x;
    if (rg_varint_get(r->p, left < 5 ? left : 5, &pos, &x) != 0) return -1;
    r->p += pos;
    *v = (size_t)x;
    return 0;
}

static int get_double(reader *r, double *v) {
    if (r->end - r->p < 8) return -1;
    uint64_t bits = 0;
    for (int k = 0; k < 8; k++) bits |= (uint64_t)r->p[k] << (8 * k);
    memcpy(v, &bits, sizeof *v);
    r->p += 8;
    return 0;
}

int rg_cells_unpack(rg_table *t, const void *blob, size_t len) {
    reader r = {blob, (const unsigned char *)blob + len};
    size_t n = (size_t)t->nrows * (size_t)t->ncols;
    int format = blob && len >= 1 ? *r.p : 0;
    if (format != 1 && format != 2) { rg_err("table cells: unknown format"); return -1; }
    r.p++;
    for (size_t i = 0; i < n; i++) {
        rg_cell *c = &t->cells[i];
        if (r.p >= r.end) { rg_err("table cells: %zu of %zu cells present", i, n); return -1; }
        int tag = *r.p++, type = format == 1 ? tag : tag & TAG_TYPE;
        int enc = format == 1 ? (has_value(type) ? VAL_DOUBLE : VAL_NONE) : tag >> VAL_SHIFT;
        if (type > RG_CELL_YEAR || (format == 2 && (enc > VAL_DOUBLE || (enc != VAL_NONE) != has_value(type)))) {
            rg_err("table cells: cell %zu has unknown type %d", i, tag);
            return -1;
        }
        double value = 0;
        if (enc == VAL_DOUBLE && get_double(&r, &value) != 0) { rg_err("table cells: cell %zu truncated", i); return -1; }
        if (enc == VAL_DECIMAL) {
            uint64_t zz;
            int k = r.p < r.end ? *r.p++ : 16;
            if (k > 15 || get_u64(&r, &zz) != 0) { rg_err("table cells: cell %zu value truncated", i); return -1; }
            int64_t m = (int64_t)(zz >> 1) ^ -(int64_t)(zz & 1);
            value = (double)m / pow10_[k];
        }
        size_t rl;
        if (get_varint(&r, &rl) != 0 || rl > (size_t)(r.end - r.p)) { rg_err("table cells: cell %zu text truncated", i); return -1; }
        const unsigned char *raw = r.p;
        r.p += rl;
        size_t ul = 0;
        if (format == 1 || (tag & TAG_UNIT)) {
            ul = r.p < r.end ? *r.p++ : sizeof c->unit;
            if (ul >= sizeof c->unit || ul > (size_t)(r.end - r.p) || (format == 2 && ul == 0)) {
                rg_err("table cells: cell %zu unit truncated", i);
                return -1;
            }
        }
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
