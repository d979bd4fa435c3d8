/* index/cellpack: a table's cells as one compact blob (schema 3 keeps it in tables.cells):
 * one row per table instead of one per cell, which made cells most of the store's writes.
 * Layout: a format byte (1), then per cell in row-major order: its type (1 byte), its value
 * (8 bytes, IEEE little-endian) when the type is a number, percent or year, its raw text
 * (length as a LEB128 varint, then the bytes) and its unit (length byte, then the bytes).
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
