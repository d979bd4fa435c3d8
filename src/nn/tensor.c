/* Tensor element types: conversions, the built-in types' row functions and the type table. */
#include "nn/tensor.h"
#include <immintrin.h>
#include <math.h>
#include <pthread.h>
#include <string.h>

_Static_assert(sizeof(rg_block_q8_0) == 34, "Q8_0 blocks are 34 bytes in GGUF files");

float rg_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
    if (exp == 0) {
        if (man == 0) bits = sign;
        else {                                   /* subnormal: normalise */
            int e = -1;
            do { man <<= 1; e++; } while (!(man & 0x400));
            bits = sign | ((uint32_t)(127 - 15 - e) << 23) | ((man & 0x3ff) << 13);
        }
    } else if (exp == 31) bits = sign | 0x7f800000u | (man << 13);
    else bits = sign | ((exp + 127 - 15) << 23) | (man << 13);
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

uint16_t rg_f32_to_f16(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000;
    int32_t exp = (int32_t)((x >> 23) & 0xff);
    uint32_t man = x & 0x7fffff;
    if (exp == 0xff) return (uint16_t)(sign | 0x7c00 | (man ? 0x200 : 0));
    int32_t e = exp - 127 + 15;
    if (e >= 31) return (uint16_t)(sign | 0x7c00);
    if (e <= 0) {                                /* subnormal or zero in f16 */
        if (e < -10) return (uint16_t)sign;
        man |= 0x800000;
        int shift = 14 - e;
        uint32_t half = man >> shift, rem = man & ((1u << shift) - 1), mid = 1u << (shift - 1);
        if (rem > mid || (rem == mid && (half & 1))) half++;
        return (uint16_t)(sign | half);
    }
    uint32_t half = ((uint32_t)e << 10) | (man >> 13), rem = man & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (half & 1))) half++;   /* may carry into exp: ok */
    return (uint16_t)(sign | half);
}

float rg_bf16_to_f32(uint16_t h) {
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

uint16_t rg_f32_to_bf16(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    if ((x & 0x7fffffff) > 0x7f800000) return (uint16_t)((x >> 16) | 0x40);   /* quiet NaN */
    x += 0x7fff + ((x >> 16) & 1);
    return (uint16_t)(x >> 16);
}

void rg_quantize_q8_0(const float *x, rg_block_q8_0 *out, int64_t n) {
    for (int64_t b = 0; b < n / RG_Q8_0_BLCK; b++) {
        const float *v = x + b * RG_Q8_0_BLCK;
        float amax = 0;
        for (int i = 0; i < RG_Q8_0_BLCK; i++) amax = fmaxf(amax, fabsf(v[i]));
        float d = amax / 127.0f, id = d ? 1.0f / d : 0.0f;
        out[b].d = rg_f32_to_f16(d);
        for (int i = 0; i < RG_Q8_0_BLCK; i++) out[b].qs[i] = (int8_t)roundf(v[i] * id);
    }
}

/* ---- row functions of the built-in types (portable; kernels.c has the SIMD matmul) ---- */

static void f32_to_float(const void *src, float *dst, int64_t n) { memcpy(dst, src, (size_t)n * 4); }
static float f32_dot(const void *w, const float *x, int64_t n) {
    const float *a = w;
    float s[8] = {0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++) s[j] += a[i + j] * x[i + j];
    for (; i < n; i++) s[0] += a[i] * x[i];
    return ((s[0] + s[4]) + (s[1] + s[5])) + ((s[2] + s[6]) + (s[3] + s[7]));
}

/* F16C / AVX2 forms of the converters, used when the CPU has them (checked per call: cheap). */
static int simd_off;       /* tests compare both paths; see rg_tensor_simd() */
static int have_f16c_avx2(void) {
    return !__atomic_load_n(&simd_off, __ATOMIC_RELAXED) && __builtin_cpu_supports("f16c") &&
           __builtin_cpu_supports("avx2");
}

void rg_tensor_simd(int on) { __atomic_store_n(&simd_off, !on, __ATOMIC_RELAXED); }

__attribute__((target("avx2,f16c"))) static void f16_to_float_f16c(const void *src, float *dst, int64_t n) {
    const uint8_t *p = src;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)(p + 2 * i))));
    for (; i < n; i++) {
        uint16_t h;
        memcpy(&h, p + 2 * i, 2);
        dst[i] = rg_f16_to_f32(h);
    }
}

__attribute__((target("avx2,f16c"))) static void q8_0_to_float_avx2(const void *src, float *dst, int64_t n) {
    /* byte-wise access: a file with a small general.alignment may leave blocks unaligned */
    const uint8_t *b = src;
    for (int64_t k = 0; k < n / RG_Q8_0_BLCK; k++, b += sizeof(rg_block_q8_0)) {
        uint16_t h;
        memcpy(&h, b, 2);
        __m256 d = _mm256_set1_ps(_cvtsh_ss(h));
        for (int i = 0; i < RG_Q8_0_BLCK; i += 8) {
            __m256i q = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)(b + 2 + i)));
            _mm256_storeu_ps(dst + k * RG_Q8_0_BLCK + i, _mm256_mul_ps(d, _mm256_cvtepi32_ps(q)));
        }
    }
}

static void f16_to_float(const void *src, float *dst, int64_t n) {
    if (have_f16c_avx2()) { f16_to_float_f16c(src, dst, n); return; }
    const uint8_t *p = src;
    for (int64_t i = 0; i < n; i++) {
        uint16_t h;
        memcpy(&h, p + 2 * i, 2);
        dst[i] = rg_f16_to_f32(h);
    }
}
static void bf16_to_float(const void *src, float *dst, int64_t n) {
    const uint8_t *p = src;
    for (int64_t i = 0; i < n; i++) {
        uint16_t h;
        memcpy(&h, p + 2 * i, 2);
        dst[i] = rg_bf16_to_f32(h);
    }
}
static void q8_0_to_float(const void *src, float *dst, int64_t n) {
    if (have_f16c_avx2()) { q8_0_to_float_avx2(src, dst, n); return; }
    const uint8_t *b = src;
    for (int64_t k = 0; k < n / RG_Q8_0_BLCK; k++, b += sizeof(rg_block_q8_0)) {
        uint16_t h;
        memcpy(&h, b, 2);
        float d = rg_f16_to_f32(h);
        for (int i = 0; i < RG_Q8_0_BLCK; i++) dst[k * RG_Q8_0_BLCK + i] = d * (float)(int8_t)b[2 + i];
    }
}

/* Dot via dequantising 256 elements at a time onto the stack. */
#define DOT_VIA_FLOAT(fn, conv, bytes_per_elem_num, bytes_per_elem_den)                 \
    static float fn(const void *w, const float *x, int64_t n) {                        \
        float tmp[256], s = 0;                                                         \
        const uint8_t *p = w;                                                          \
        for (int64_t i = 0; i < n; i += 256) {                                         \
            int64_t m = n - i < 256 ? n - i : 256;                                     \
            conv(p + i * (bytes_per_elem_num) / (bytes_per_elem_den), tmp, m);         \
            s += f32_dot(tmp, x + i, m);                                               \
        }                                                                              \
        return s;                                                                      \
    }
DOT_VIA_FLOAT(f16_dot, f16_to_float, 2, 1)
DOT_VIA_FLOAT(bf16_dot, bf16_to_float, 2, 1)
DOT_VIA_FLOAT(q8_0_dot, q8_0_to_float, 34, 32)

static rg_type_traits table[RG_TYPE_MAX] = {
    [RG_TYPE_F32] = { "f32", 1, 4, f32_to_float, f32_dot },
    [RG_TYPE_F16] = { "f16", 1, 2, f16_to_float, f16_dot },
    [RG_TYPE_BF16] = { "bf16", 1, 2, bf16_to_float, bf16_dot },
    [RG_TYPE_Q8_0] = { "q8_0", RG_Q8_0_BLCK, sizeof(rg_block_q8_0), q8_0_to_float, q8_0_dot },
};

/* Optional extension module (nn/quant_k.c); weak so that linking it is not required. */
void rg_quant_k_init(void) __attribute__((weak));
static pthread_once_t ext_once = PTHREAD_ONCE_INIT;
static void ext_init(void) { if (rg_quant_k_init) rg_quant_k_init(); }

int rg_type_register(int type, const rg_type_traits *t) {
    if (type < 0 || type >= RG_TYPE_MAX || !t || t->blck <= 0 || !t->bytes || !t->to_float || !t->dot)
        return -1;
    table[type] = *t;
    return 0;
}

const rg_type_traits *rg_type_get(int type) {
    pthread_once(&ext_once, ext_init);
    if (type < 0 || type >= RG_TYPE_MAX || !table[type].name) return NULL;
    return &table[type];
}

size_t rg_type_row_bytes(int type, int64_t n) {
    const rg_type_traits *t = rg_type_get(type);
    if (!t || n < 0 || n % t->blck) return 0;
    uint64_t blocks = (uint64_t)n / (uint64_t)t->blck;
    if (blocks > SIZE_MAX / t->bytes) return 0;
    return (size_t)blocks * t->bytes;
}
