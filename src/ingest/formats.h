/* ingest/formats: the per-format parsers behind rg_parse_buffer. Each takes the whole source
 * text (valid UTF-8 except PDF, which takes bytes) and returns a document, or NULL with rg_err. */
#ifndef RAGD_INGEST_FORMATS_H
#define RAGD_INGEST_FORMATS_H
#include <stddef.h>
#include "core/doc.h"

rg_doc *rg_parse_text(const char *doc_id, const char *source, const char *text, size_t len);
rg_doc *rg_parse_markdown(const char *doc_id, const char *source, const char *text, size_t len);

/* Ingestion formats (html.c, csv.c, pdf.c, tatqa.c, json_text.c). */
rg_doc *rg_parse_html(const char *doc_id, const char *source, const char *text, size_t len);
/* delim: ',', '\t', ';', '|', or 0 to sniff it. */
rg_doc *rg_parse_csv(const char *doc_id, const char *source, const char *text, size_t len, char delim);
/* 1 when text looks like delimited rows (consistent field counts); *delim gets the delimiter. */
int rg_sniff_csv(const char *text, size_t len, char *delim);
/* Takes the raw bytes of a PDF; one paragraph block per text run, page numbers kept. */
rg_doc *rg_parse_pdf(const char *doc_id, const char *source, const char *data, size_t len);
/* 1 when text is a JSON array of TAT-QA-shaped objects (table.uid, table.table, paragraphs). */
int rg_is_tatqa(const char *text, size_t len);
/* One document per TAT-QA object (id = table.uid): its table, then its paragraphs in order. */
int rg_parse_tatqa(const char *source, const char *text, size_t len, rg_doc ***docs, int *ndocs);
/* Any other JSON or JSON Lines: values flattened to "key: value" paragraphs. */
rg_doc *rg_parse_json_text(const char *doc_id, const char *source, const char *text, size_t len);
#endif
