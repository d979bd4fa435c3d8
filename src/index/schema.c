/* index/schema: see schema.h */
#include "index/schema.h"
#include "core/util.h"
#include "index/cellpack.h"
#include "index/lex.h"
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *migrations[] = {
    /* 1: the first schema */
    "CREATE TABLE documents("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  doc_id TEXT NOT NULL UNIQUE,"
    "  source TEXT NOT NULL,"
    "  content_hash TEXT, size INTEGER, mtime INTEGER,"
    "  kind TEXT, title TEXT, metadata TEXT,"
    "  etag TEXT, last_modified TEXT,"
    "  indexed_at INTEGER);"
    "CREATE INDEX documents_source ON documents(source);"
    "CREATE TABLE tables("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  doc INTEGER NOT NULL, ord INTEGER NOT NULL,"
    "  nrows INTEGER, ncols INTEGER, header_rows INTEGER, header_cols INTEGER,"
    "  caption TEXT, scale TEXT, section TEXT);"
    "CREATE INDEX tables_doc ON tables(doc);"
    "CREATE TABLE cells("
    "  table_id INTEGER NOT NULL, row INTEGER NOT NULL, col INTEGER NOT NULL,"
    "  raw TEXT, type INTEGER, value REAL, unit TEXT,"
    "  PRIMARY KEY(table_id, row, col)) WITHOUT ROWID;"
    "CREATE TABLE chunks("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  doc INTEGER NOT NULL, ord INTEGER NOT NULL,"
    "  kind INTEGER NOT NULL,"             /* 0 text, 1 table */
    "  text TEXT NOT NULL, section TEXT,"
    "  parent INTEGER,"                    /* chunk id of the parent (small-to-big) */
    "  table_id INTEGER, row_start INTEGER, row_end INTEGER,"
    "  ntokens INTEGER, page INTEGER, offset INTEGER,"
    "  context_only INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX chunks_doc ON chunks(doc);"
    "CREATE TABLE vectors(chunk_id INTEGER PRIMARY KEY, vec BLOB NOT NULL);"
    /* FTS5 indexes searchable chunks only; parent/context chunks are stored, not searched.
     * Its external content is a view of exactly those, so integrity-check agrees. */
    "CREATE VIEW chunks_searchable AS SELECT id, text, section FROM chunks WHERE context_only = 0;"
    "CREATE VIRTUAL TABLE chunks_fts USING fts5(text, section, content='chunks_searchable', content_rowid='id',"
    "  tokenize='porter unicode61 remove_diacritics 2');"
    "CREATE TRIGGER chunks_ai AFTER INSERT ON chunks WHEN new.context_only = 0 BEGIN"
    "  INSERT INTO chunks_fts(rowid, text, section) VALUES (new.id, new.text, new.section); END;"
    "CREATE TRIGGER chunks_ad AFTER DELETE ON chunks WHEN old.context_only = 0 BEGIN"
    "  INSERT INTO chunks_fts(chunks_fts, rowid, text, section) VALUES('delete', old.id, old.text, old.section); END;"
    "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT);"
    "INSERT INTO meta VALUES('generation', '0');",
    /* 2: a narrow index over vector ids, so counting and listing them on open does not read
     * every vector blob */
    "CREATE INDEX vectors_ids ON vectors(chunk_id);",
    /* 3: the store writes FTS rows itself (store_write.c). A statement with a trigger runs in
     * a statement journal, and SQLite 3.40's FTS5 flushes its pending terms to a new segment at
     * every such savepoint: a segment (and merge work) per chunk inserted. And a table's cells
     * become one blob (index/cellpack.h) instead of a row per cell; cells_to_blobs converts. */
    "DROP TRIGGER chunks_ai;"
    "DROP TRIGGER chunks_ad;"
    "ALTER TABLE tables ADD COLUMN cells BLOB;",
    /* 4: BM25 moves from FTS5 to the store's own inverted index (index/lex.h): FTS5 indexed
     * about 14 MB of text a second here and spent ~3 ms ranking a query on 100k chunks; the
     * segments are built from the stored chunks by rg_lex_build. */
    "CREATE TABLE lex_seg(id INTEGER PRIMARY KEY, level INTEGER NOT NULL, first INTEGER NOT NULL,"
    "  last INTEGER NOT NULL, ndocs INTEGER NOT NULL, ntok INTEGER NOT NULL);"
    "CREATE INDEX lex_seg_level ON lex_seg(level, first);"
    /* keyed by segment first: a commit's segment is one run of appended pages, not a row on
     * every page of a term-ordered tree */
    "CREATE TABLE lex_term(seg INTEGER NOT NULL, term TEXT NOT NULL, df INTEGER NOT NULL, post BLOB NOT NULL,"
    "  PRIMARY KEY(seg, term)) WITHOUT ROWID;"
    "CREATE TABLE lex_dead(chunk_id INTEGER PRIMARY KEY, ntok INTEGER NOT NULL);"
    "DROP TABLE chunks_fts;"
    "DROP VIEW chunks_searchable;",
    /* 5: a segment's posting lists in rows of consecutive terms (index/lex_block.h), not a row
     * per term: writing and merging a row per term was a quarter of ingestion. Rebuilt from
     * the stored chunks by rg_lex_build. */
    "DROP TABLE lex_term;"
    "DELETE FROM lex_seg;"
    "DELETE FROM lex_dead;"
    "CREATE TABLE lex_block(seg INTEGER NOT NULL, term TEXT NOT NULL, data BLOB NOT NULL,"
    "  PRIMARY KEY(seg, term)) WITHOUT ROWID;",
    /* 6: a table chunk made from its table's rows is stored with text '' and rebuilt from the
     * cells on read (index/table_rows.h): a quarter of the bytes ingestion wrote. Nothing to
     * convert (stored texts still read as they are); the version keeps an older ragd, which
     * would read those chunks as empty, away. */
    "",
};

/* Migration 3: each table's cell rows packed into tables.cells, then the cells table dropped.
 * Cells the old rows lack read as empty, as they did. */
static int cells_to_blobs(sqlite3 *db) {
    sqlite3_stmt *tabs = NULL, *cells = NULL, *upd = NULL;
    int rc = -1;
    rg_buf b = {0};
    if (sqlite3_prepare_v2(db, "SELECT id, nrows, ncols FROM tables", -1, &tabs, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "SELECT row, col, raw, type, value, unit FROM cells WHERE table_id = ?", -1, &cells, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "UPDATE tables SET cells = ? WHERE id = ?", -1, &upd, NULL) != SQLITE_OK)
        goto out;
    int step;
    while ((step = sqlite3_step(tabs)) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(tabs, 0);
        int nr = sqlite3_column_int(tabs, 1), nc = sqlite3_column_int(tabs, 2);
        if (nr < 0 || nc < 0 || (int64_t)nr * nc > 10000000) nr = nc = 0;   /* as the reader refused it */
        rg_table *t = rg_table_new(nr, nc);
        sqlite3_bind_int64(cells, 1, id);
        while (sqlite3_step(cells) == SQLITE_ROW) {
            rg_cell *c = rg_table_cell(t, sqlite3_column_int(cells, 0), sqlite3_column_int(cells, 1));
            if (!c) continue;
            const unsigned char *raw = sqlite3_column_text(cells, 2), *unit = sqlite3_column_text(cells, 5);
            int type = sqlite3_column_int(cells, 3);
            c->raw = rg_table_strdup(t, raw ? (const char *)raw : "", raw ? strlen((const char *)raw) : 0);
            c->type = type >= RG_CELL_EMPTY && type <= RG_CELL_YEAR ? (rg_cell_type)type : RG_CELL_TEXT;
            c->value = sqlite3_column_double(cells, 4);
            snprintf(c->unit, sizeof c->unit, "%s", unit ? (const char *)unit : "");
        }
        sqlite3_reset(cells);
        b.len = 0;
        rg_cells_pack(t, &b);
        rg_table_free(t);
        sqlite3_bind_blob(upd, 1, b.data, (int)b.len, SQLITE_STATIC);
        sqlite3_bind_int64(upd, 2, id);
        int urc = sqlite3_step(upd);
        sqlite3_reset(upd);
        if (urc != SQLITE_DONE) goto out;
    }
    if (step != SQLITE_DONE) goto out;
    rc = sqlite3_exec(db, "DROP TABLE cells", NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
out:
    sqlite3_finalize(tabs);
    sqlite3_finalize(cells);
    sqlite3_finalize(upd);
    rg_buf_free(&b);
    return rc;
}

/* C steps run after a migration's SQL, in its transaction (NULL: none). */
static int (*const migration_steps[])(sqlite3 *) = {NULL, NULL, cells_to_blobs, NULL, rg_lex_build, NULL};
_Static_assert(sizeof migration_steps / sizeof *migration_steps == sizeof migrations / sizeof *migrations,
               "one C step (or NULL) per migration");
_Static_assert(sizeof migrations / sizeof *migrations == RG_SCHEMA_VERSION, "RG_SCHEMA_VERSION is the last migration");

int rg_schema_migrate(sqlite3 *db, const char *path) {
    sqlite3_stmt *st;
    int version = 0;
    if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK) {
        if (sqlite3_step(st) == SQLITE_ROW) version = sqlite3_column_int(st, 0);
        sqlite3_finalize(st);
    }
    int target = (int)(sizeof migrations / sizeof *migrations);
    if (version > target) {
        rg_err("%s: schema version %d is newer than this ragd understands (%d); upgrade ragd", path, version, target);
        return -1;
    }
    for (int v = version; v < target; v++) {
        char *err = NULL;
        char *sql = xasprintf("BEGIN IMMEDIATE; %s PRAGMA user_version = %d;", migrations[v], v + 1);
        int rc = sqlite3_exec(db, sql, NULL, NULL, &err);
        free(sql);
        if (rc == SQLITE_OK && migration_steps[v] && migration_steps[v](db) != 0) rc = SQLITE_ERROR;
        if (rc == SQLITE_OK) rc = sqlite3_exec(db, "COMMIT", NULL, NULL, &err);
        if (rc != SQLITE_OK) {
            rg_err("%s: migration to schema %d failed: %s", path, v + 1, err ? err : sqlite3_errmsg(db));
            sqlite3_free(err);
            sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
            return -1;
        }
    }
    return 0;
}
