/* generate/decimal: exact decimal numbers for the table reasoner.
 * A value is m / 10^e with a 128-bit mantissa, so sums, differences and products of
 * financial figures are exact; division is carried to 18 fractional digits and rounded
 * half away from zero. Every operation reports overflow or division by zero (ok = 0)
 * instead of producing a wrong number. rg_dec_parse reads table/text numbers:
 * "$ 1,452.4", "(12.6)" (negative), "12.5%", "−3", "1,234(1)" (footnote mark dropped). */
#ifndef RAGD_GENERATE_DECIMAL_H
#define RAGD_GENERATE_DECIMAL_H
#include <stddef.h>

typedef struct {
    __int128 m;   /* mantissa */
    int e;        /* decimal places: value = m / 10^e, 0 <= e <= RG_DEC_MAXE */
    int ok;       /* 0 after overflow, division by zero or a failed parse */
} rg_dec;

#define RG_DEC_MAXE 18

/* What rg_dec_parse saw besides the number. */
enum { RG_NUM_PERCENT = 1, RG_NUM_NEG_PAREN = 2, RG_NUM_CURRENCY = 4, RG_NUM_EXTRA_TEXT = 8 };

rg_dec rg_dec_int(long long v);
rg_dec rg_dec_add(rg_dec a, rg_dec b);
rg_dec rg_dec_sub(rg_dec a, rg_dec b);
rg_dec rg_dec_mul(rg_dec a, rg_dec b);
rg_dec rg_dec_div(rg_dec a, rg_dec b);
rg_dec rg_dec_neg(rg_dec a);
rg_dec rg_dec_round(rg_dec a, int places);    /* half away from zero */
int rg_dec_cmp(rg_dec a, rg_dec b);            /* -1, 0, 1 (both must be ok) */
int rg_dec_is_zero(rg_dec a);
double rg_dec_to_double(rg_dec a);
/* Writes the value rounded to at most `places` decimals, trailing zeros removed ("-12.6").
 * Returns the length, or -1 when !a.ok or the buffer is too small. */
int rg_dec_format(rg_dec a, int places, char *buf, size_t cap);

/* Parses the first number in s (see above). Returns 1 and sets *out and *flags when a number
 * was found, 0 when none. *flags gets RG_NUM_EXTRA_TEXT when letters other than a currency
 * code or scale word surround it (the cell is then text that contains a number). When
 * end != NULL it receives the offset just after the number (and its '%' or ')'). */
int rg_dec_parse(const char *s, rg_dec *out, int *flags, size_t *end);
#endif
