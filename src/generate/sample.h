/* generate/sample: choosing the next token from logits, and stop-string handling.
 * Greedy (temperature <= 0), or temperature + top-k + top-p over a softmax, after a CTRL-style
 * repetition penalty on the recent history; a seeded RNG (xoshiro256**) makes runs repeatable.
 * Stop strings: where one occurs in generated text, and how many trailing bytes to hold back
 * while streaming because they might begin one. */
#ifndef RAGD_GENERATE_SAMPLE_H
#define RAGD_GENERATE_SAMPLE_H
#include <stddef.h>
#include <stdint.h>

typedef struct {
    float temperature;     /* <= 0: greedy */
    int top_k;             /* <= 0: off */
    float top_p;           /* >= 1 or <= 0: off */
    float repeat_penalty;  /* 1: off */
    int repeat_last_n;     /* history window for the penalty */
    uint64_t seed;
} rg_sample_params;

/* Defaults: temperature 0.8, top_k 40, top_p 0.95, repeat_penalty 1.0 (off), last_n 64. */
rg_sample_params rg_sample_defaults(void);

typedef struct rg_sampler rg_sampler;
rg_sampler *rg_sampler_new(const rg_sample_params *p);
void rg_sampler_free(rg_sampler *s);
/* Picks a token. logits (n of them) may be modified (penalty, temperature). history: the
 * tokens so far (prompt + generated), nhist of them. Returns the id, or -1 when n <= 0. */
int32_t rg_sampler_pick(rg_sampler *s, float *logits, int n, const int32_t *history, int nhist);

/* Uniform double in [0,1) from a xoshiro256** state seeded by splitmix64. */
typedef struct { uint64_t s[4]; } rg_rng;
void rg_rng_seed(rg_rng *r, uint64_t seed);
double rg_rng_uniform(rg_rng *r);

/* Offset of the earliest stop string inside text[0..len), or -1. */
long rg_stop_find(const char *text, size_t len, const char *const *stops, int nstops);
/* Bytes at the end of text that are a proper prefix of some stop string (to hold back). */
size_t rg_stop_holdback(const char *text, size_t len, const char *const *stops, int nstops);
#endif
