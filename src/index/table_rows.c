/* index/table_rows: see table_rows.h. */
#include "index/table_rows.h"
#include "index/cellpack.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

rg_table *rg_table_from_row(sqlite3_stmt *st, const char *db_path, int64_t table_id) {
    int nr = sqlite3_column_int(st, 0), nc = sqlite3_column_int(st, 1);
    if (nr < 0 || nc < 0 || (int64_t)nr * nc > 10000000) {
        rg_err("%s: table %lld: bad shape %d x %d", db_path, (long long)table_id, nr, nc);
        return NULL;
    }
    rg_table *t = rg_table_new(nr, nc);
    t->header_rows = sqlite3_column_int(st, 2);
    t->header_cols = sqlite3_column_int(st, 3);
    const unsigned char *cap = sqlite3_column_text(st, 4);
    t->caption = cap ? xstrdup((const char *)cap) : NULL;
    const unsigned char *sc = sqlite3_column_text(st, 5);
    snprintf(t->scale, sizeof t->scale, "%s", sc ? (const char *)sc : "");
    /* the cells: one blob per table (index/cellpack.h, schema 3) */
    const void *blob = sqlite3_column_blob(st, 6);
    if (rg_cells_unpack(t, blob, (size_t)sqlite3_column_bytes(st, 6)) != 0) {
        char *why = xstrdup(rg_errmsg());
        rg_err("%s: table %lld: %s", db_path, (long long)table_id, why);
        free(why);
        rg_table_free(t);
        return NULL;
    }
    return t;
}

void rg_table_rows_init(rg_table_rows *r, sqlite3_stmt *sel, const char *db_path) {
    memset(r, 0, sizeof *r);
    r->sel = sel;
    r->db_path = db_path;
}

static void forget(rg_table_rows *r) {
    if (r->t) {
        rg_table_text_free(&r->x);
        rg_table_free(r->t);
    }
    r->t = NULL;
    r->id = 0;
}

void rg_table_rows_free(rg_table_rows *r) {
    forget(r);
    rg_buf_free(&r->text);
}

int rg_table_rows_elided(sqlite3_stmt *st, int col) {
    return sqlite3_column_int(st, col + 1) == RG_CHUNK_TABLE && sqlite3_column_bytes(st, col) == 0 &&
           sqlite3_column_type(st, col + 2) != SQLITE_NULL;
}

static int load(rg_table_rows *r, int64_t id) {
    if (r->t && r->id == id) return 0;
    forget(r);
    sqlite3_reset(r->sel);
    sqlite3_bind_int64(r->sel, 1, id);
    int rc = sqlite3_step(r->sel);
    if (rc != SQLITE_ROW) {
        if (rc == SQLITE_DONE) rg_err("%s: table %lld of a table chunk is missing", r->db_path, (long long)id);
        else rg_err("%s: reading table %lld: %s", r->db_path, (long long)id, sqlite3_errmsg(sqlite3_db_handle(r->sel)));
        sqlite3_reset(r->sel);
        return -1;
    }
    r->t = rg_table_from_row(r->sel, r->db_path, id);
    sqlite3_reset(r->sel);
    if (!r->t) return -1;
    r->id = id;
    rg_table_text_init(&r->x, r->t, r->t->caption);
    return 0;
}

const char *rg_table_rows_chunk(rg_table_rows *r, sqlite3_stmt *st, int col, size_t *len) {
    if (!rg_table_rows_elided(st, col)) {
        const char *t = (const char *)sqlite3_column_text(st, col);
        if (len) *len = t ? (size_t)sqlite3_column_bytes(st, col) : 0;
        return t ? t : "";
    }
    if (load(r, sqlite3_column_int64(st, col + 2)) != 0) return NULL;
    rg_table_text_rows(&r->x, &r->text, sqlite3_column_int(st, col + 3), sqlite3_column_int(st, col + 4));
    if (len) *len = r->text.len;
    return r->text.data;
}
