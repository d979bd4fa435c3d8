/* core/numparse: reading numbers the way a reader of a financial report does.
 * "$ 1,452.4" -> 1452.4 unit "$"; "(12.6)" -> -12.6; "12.5%" / "(13%)" -> percent 12.5 / -13;
 * "-", "—", "–", "$ -" -> empty; "1.2 billion" / "$3.4m" -> 1.2e9 / 3.4e6; footnote marks
 * ("1,234(1)", "1,234*", "2019 (4)") are ignored. Years and periods ("2019", "Fiscal 2018",
 * "FY19", "Q4 2019", "Dec 31, 2019", "Year ended 30 June 2019", "2018/19") are RG_CELL_YEAR
 * with value = the year and unit = "Q4"/"H1" for quarters/halves; comparisons ("2019 vs 2018")
 * stay text. rg_table_analyse fills a table's scale and header rows/columns from its cells. */
#ifndef RAGD_CORE_NUMPARSE_H
#define RAGD_CORE_NUMPARSE_H
#include "core/doc.h"

/* Parses raw cell text into type, value and unit (raw itself is not stored here). */
void rg_cell_parse(const char *raw, rg_cell_type *type, double *value, char unit[12]);
/* Scale named in a caption, heading or header cell ("in thousands", "$ in millions",
 * "(In millions, except per share data)", "$'000", "€m"): writes "thousand", "million",
 * "billion" or "" into scale. Returns 1 when one was found. */
int rg_scale_from_text(const char *text, char scale[12]);
/* After a parser filled a table's cells: sets t->scale (caption, then context — e.g. the
 * preceding heading or paragraph, may be NULL — then the header rows and top-left cells) when
 * still empty; t->header_rows when still 0 (leading rows holding no numbers but something in
 * a value column); t->header_cols (1 when column 0 holds row labels); and turns bare-year
 * cells inside a numeric body column back into numbers ("2019" units sold). */
void rg_table_analyse(rg_table *t, const char *context);
#endif
