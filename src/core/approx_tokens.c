/* core/approx_tokens: see approx_tokens.h. */
#include "core/approx_tokens.h"
#include <stdint.h>
#include <string.h>

/* one table load per byte */
const unsigned char rg_char_class[256] = {
    ['\t'] = RG_CL_SPACE, ['\n'] = RG_CL_SPACE, ['\v'] = RG_CL_SPACE, ['\f'] = RG_CL_SPACE, ['\r'] = RG_CL_SPACE, [' '] = RG_CL_SPACE,
    ['0'] = RG_CL_DIGIT, ['1'] = RG_CL_DIGIT, ['2'] = RG_CL_DIGIT, ['3'] = RG_CL_DIGIT, ['4'] = RG_CL_DIGIT,
    ['5'] = RG_CL_DIGIT, ['6'] = RG_CL_DIGIT, ['7'] = RG_CL_DIGIT, ['8'] = RG_CL_DIGIT, ['9'] = RG_CL_DIGIT,
#define AZ(c) [c] = RG_CL_ALPHA, [c + 32] = RG_CL_ALPHA
    AZ('A'), AZ('B'), AZ('C'), AZ('D'), AZ('E'), AZ('F'), AZ('G'), AZ('H'), AZ('I'), AZ('J'), AZ('K'),
    AZ('L'), AZ('M'), AZ('N'), AZ('O'), AZ('P'), AZ('Q'), AZ('R'), AZ('S'), AZ('T'), AZ('U'), AZ('V'),
    AZ('W'), AZ('X'), AZ('Y'), AZ('Z'),
#undef AZ
#define HI16(c) [c] = 1, [c + 1] = 1, [c + 2] = 1, [c + 3] = 1, [c + 4] = 1, [c + 5] = 1, [c + 6] = 1, [c + 7] = 1, \
                [c + 8] = 1, [c + 9] = 1, [c + 10] = 1, [c + 11] = 1, [c + 12] = 1, [c + 13] = 1, [c + 14] = 1, [c + 15] = 1
    HI16(0x80), HI16(0x90), HI16(0xA0), HI16(0xB0), HI16(0xC0), HI16(0xD0), HI16(0xE0), HI16(0xF0),
#undef HI16
};

/* One pass, a run at a time. */
static int approx_scalar(const char *text, size_t n) {
    int pieces = 0;
    size_t i = 0;
    const unsigned char *p = (const unsigned char *)text;
    while (i < n) {
        unsigned k = rg_char_class[p[i]];
        if (k == RG_CL_SPACE) { i++; continue; }
        if (k == RG_CL_OTHER) { pieces++; i++; continue; }
        size_t s = i++;
        while (i < n && rg_char_class[p[i]] == k) i++;
        pieces += rg_run_pieces(k, i - s);
    }
    return pieces;
}

#if defined(__SSE2__) && defined(__GNUC__)
#include <emmintrin.h>
/* The same count 64 bytes at a time, from bit masks of the byte classes (bit i: byte i).
 * Per letter run the formula gives one piece at its 1st and 8th letters and one at every
 * 5th from the 17th; per digit run one at its 1st digit and every 3rd from the 5th. A
 * position j of a run is found from the masks alone: the j bytes ending there are in the
 * class and the byte before them is not. Runs reach 16 bytes rarely; then the caller
 * counts with approx_scalar (returns -1). */
typedef struct { uint64_t m, g2, g4, g8; } run_masks;   /* the previous block's masks */
/* x shifted up by k (1..63), the previous block's top bits coming in */
#define SHL(x, prev, k) (((x) << (k)) | ((prev) >> (64 - (k))))

static inline __m128i in_range(__m128i v, char lo, char span) {   /* (v - lo) <= span, unsigned */
    __m128i x = _mm_sub_epi8(v, _mm_set1_epi8(lo));
    return _mm_cmpeq_epi8(_mm_min_epu8(x, _mm_set1_epi8(span)), x);
}

static inline uint64_t mask64(const __m128i m[4]) {
    return (uint64_t)(uint16_t)_mm_movemask_epi8(m[0]) | (uint64_t)(uint16_t)_mm_movemask_epi8(m[1]) << 16 |
           (uint64_t)(uint16_t)_mm_movemask_epi8(m[2]) << 32 | (uint64_t)(uint16_t)_mm_movemask_epi8(m[3]) << 48;
}

static int approx_blocks(const unsigned char *p, size_t n) {
    run_masks pa = {0, 0, 0, 0}, pd = {0, 0, 0, 0};
    int pieces = 0;
    unsigned char tail[64];
    for (size_t o = 0; o < n; o += 64) {
        const unsigned char *b = p + o;
        if (n - o < 64) {   /* the last block, padded with spaces (which count nothing) */
            memset(tail, ' ', sizeof tail);
            memcpy(tail, b, n - o);
            b = tail;
        }
        __m128i alpha[4], digit[4], space[4];
        for (int k = 0; k < 4; k++) {
            __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(b + 16 * k));
            alpha[k] = _mm_or_si128(_mm_cmplt_epi8(v, _mm_setzero_si128()),   /* >= 0x80 */
                                    in_range(_mm_or_si128(v, _mm_set1_epi8(0x20)), 'a', 25));
            digit[k] = in_range(v, '0', 9);
            space[k] = _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8(' ')), in_range(v, '\t', 4));
        }
        uint64_t A = mask64(alpha), D = mask64(digit), S = mask64(space);
        /* gK: the K bytes ending here are all in the class */
        uint64_t a2 = A & SHL(A, pa.m, 1), a4 = a2 & SHL(a2, pa.g2, 2), a8 = a4 & SHL(a4, pa.g4, 4);
        uint64_t d2 = D & SHL(D, pd.m, 1), d4 = d2 & SHL(d2, pd.g2, 2), d8 = d4 & SHL(d4, pd.g4, 4);
        if ((a8 & SHL(a8, pa.g8, 8)) || (d8 & SHL(d8, pd.g8, 8))) return -1;   /* a run of 16 */
        uint64_t d5 = d4 & SHL(D, pd.m, 4);
        uint64_t d11 = d8 & SHL(d2, pd.g2, 8) & SHL(D, pd.m, 10);
        uint64_t d14 = d8 & SHL(d4, pd.g4, 8) & SHL(d2, pd.g2, 12);
        /* a byte is in one class at one run position: the positions that count are disjoint
         * bit sets, so one popcount of their union sums them */
        uint64_t count = ~(A | D | S) |                                        /* punctuation */
                         (A & ~SHL(A, pa.m, 1)) | (a8 & ~SHL(A, pa.m, 8)) |    /* letter 1, 8 */
                         (D & ~SHL(D, pd.m, 1)) | (d5 & ~SHL(D, pd.m, 5)) |    /* digit 1, 5 */
                         (d8 & ~SHL(D, pd.m, 8)) | (d11 & ~SHL(D, pd.m, 11)) | /* digit 8, 11 */
                         (d14 & ~SHL(D, pd.m, 14));                            /* digit 14 */
        pieces += __builtin_popcountll(count);
        pa = (run_masks){A, a2, a4, a8};
        pd = (run_masks){D, d2, d4, d8};
    }
    return pieces;
}
#undef SHL
#endif

int rg_approx_tokens_n(const char *text, size_t n) {
#if defined(__SSE2__) && defined(__GNUC__)
    if (n >= 32) {   /* shorter text (table cells) is quicker byte by byte */
        int k = approx_blocks((const unsigned char *)text, n);
        if (k >= 0) return k;
    }
#endif
    return approx_scalar(text, n);
}

int rg_approx_tokens(const char *text) { return text ? rg_approx_tokens_n(text, strlen(text)) : 0; }
