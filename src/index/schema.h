/* index/schema: the SQLite schema and its migrations (PRAGMA user_version is the
 * schema_version). Each migration runs once, in a transaction, in order. */
#ifndef RAGD_INDEX_SCHEMA_H
#define RAGD_INDEX_SCHEMA_H
#include <sqlite3.h>
#define RG_SCHEMA_VERSION 6
/* Brings db up to RG_SCHEMA_VERSION. Refuses a newer schema than this program knows. */
int rg_schema_migrate(sqlite3 *db, const char *path);
#endif
