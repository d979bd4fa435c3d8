/* index/schema: see schema.h */
#include "index/schema.h"
#include "core/util.h"
#include <stdlib.h>

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
};

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
        char *sql = xasprintf("BEGIN IMMEDIATE; %s PRAGMA user_version = %d; COMMIT;", migrations[v], v + 1);
        int rc = sqlite3_exec(db, sql, NULL, NULL, &err);
        free(sql);
        if (rc != SQLITE_OK) {
            rg_err("%s: migration to schema %d failed: %s", path, v + 1, err ? err : sqlite3_errmsg(db));
            sqlite3_free(err);
            sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
            return -1;
        }
    }
    return 0;
}
