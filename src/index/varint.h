/* index/varint: LEB128 varints, as the store's binary columns keep their numbers (BM25 posting
 * lists and blocks, index/lex_block.h; table cells, index/cellpack.h). rg_varint_put writes v
 * at o (at most 10 bytes) and returns its length; rg_varint_get reads one at p[*pos] of n
 * bytes, -1 when it runs off the end or past 64 bits. Inline: they run once per posting. */
#ifndef RAGD_INDEX_VARINT_H
#define RAGD_INDEX_VARINT_H
#include <stddef.h>
#include <stdint.h>

static inline size_t rg_varint_put(unsigned char *o, uint64_t v) {
    size_t n = 0;
    while (v > 0x7f) { o[n++] = (unsigned char)(v | 0x80); v >>= 7; }
    o[n++] = (unsigned char)v;
    return n;
}
static inline int rg_varint_get(const unsigned char *p, size_t n, size_t *pos, uint64_t *v) {
    uint64_t x = 0;
    for (int shift = 0; shift < 64 && *pos < n; shift += 7) {
        unsigned char c = p[(*pos)++];
        x |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80)) { *v = x; return 0; }
    }
    return -1;
}
#endif
