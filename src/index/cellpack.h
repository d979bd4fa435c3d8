/* index/cellpack: a table's cells as one compact blob (schema 3 keeps it in tables.cells):
 * one row per table instead of one per cell, which made cells most of the store's writes.
 * Layout: a format byte, then per cell in row-major order:
 *   format 2 (written): a tag byte (bits 0-2 the type, bit 3 a unit follows, bits 4-5 how the
 *     value is kept: 0 none, 1 decimal, 2 IEEE double), then a decimal value as a byte k
 *     (0..15) and a zigzag LEB128 integer m (value = m / 10^k, exact: a report's amounts are
 *     short decimals, 3-4 bytes instead of 8) or a double as 8 bytes little-endian, then the
 *     raw text (length as a LEB128 varint, then the bytes), then the unit (a length byte and
 *     the bytes) when bit 3 says so;
 *   format 1 (read): the type byte, 8 bytes of value for a number, percent or year, the raw
 *     text as above, the unit's length byte and bytes.
 * Unpacking treats the blob as untrusted: every length is checked against what is left. */
#ifndef RAGD_INDEX_CELLPACK_H
#define RAGD_INDEX_CELLPACK_H
#include "core/doc.h"
#include "core/util.h"
#include <stddef.h>

/* Appends t's cells to out. */
void rg_cells_pack(const rg_table *t, rg_buf *out);
/* Fills t's nrows * ncols cells (raw strings allocated; the old ones freed) from a blob.
 * 0, or -1 with rg_err naming what is wrong when the blob does not hold exactly that many
 * well-formed cells. */
int rg_cells_unpack(rg_table *t, const void *blob, size_t len);
#endif
