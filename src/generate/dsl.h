/* generate/dsl: the reasoner's program language and its exact executor.
 * A program is a comma-separated list of steps, FinQA style:
 *     subtract(r3c1, r3c2), divide(#0, r3c2), multiply(#1, const_100)
 * Arguments: a number literal ("56.7", "-3"), #k (the result of step k), const_N (N), or a table
 * cell rRcC, whose raw text is read with rg_dec_parse ("(12.6)" is -12.6, "12.5%" is 12.5).
 * Steps: add, subtract, multiply, divide (2 args), exp (integer power 0..64), greater (1 or 0),
 * table_sum, table_average, table_max, table_min, count (1..64 args). The program's value is
 * that of its last step. Execution is exact (decimal.h); division by zero, overflow, a missing
 * or non-numeric cell, or a malformed program fail with rg_err set. */
#ifndef RAGD_GENERATE_DSL_H
#define RAGD_GENERATE_DSL_H
#include "core/doc.h"
#include "generate/decimal.h"

#define RG_DSL_MAX_STEPS 32
#define RG_DSL_MAX_ARGS 64

/* Runs prog against table t (may be NULL when the program has no cell references).
 * On success returns 0, sets *out, and when derivation != NULL stores a malloc'd human
 * form such as "(44.1 - 56.7) / 56.7 * 100". */
int rg_dsl_run(const char *prog, const rg_table *t, rg_dec *out, char **derivation);
/* Reads the number in a cell's raw text; 0 when the cell is empty or not a number. */
int rg_dsl_cell_value(const rg_table *t, int r, int c, rg_dec *out);
#endif
