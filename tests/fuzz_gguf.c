/* Fuzz target for the GGUF reader and the GGUF vocabulary loader (not built by `make`).
 * libFuzzer:  clang -g -O1 -fsanitize=fuzzer,address,undefined -std=c17 -D_GNU_SOURCE -Isrc \
 *               tests/fuzz_gguf.c src/core/util.c src/nn/gguf.c src/nn/tensor.c \
 *               src/nn/wordpiece.c -lutf8proc -lcrypto -lm -pthread -o fuzz_gguf
 *             ./fuzz_gguf tests/models/
 * Standalone (any compiler, add -DFUZZ_STANDALONE): ./fuzz_gguf SEED.gguf [ITERATIONS]
 *   mutates the seed deterministically (byte flips, overwrites with boundary integers,
 *   truncation, duplication of ranges) and runs each mutant through the same entry point. */
#include "core/util.h"
#include "nn/gguf.h"
#include "nn/wordpiece.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    rg_gguf *g = rg_gguf_open_mem(data, size, "fuzz");
    if (!g) return 0;
    volatile unsigned sum = 0;
    for (size_t i = 0; i < rg_gguf_n_tensors(g); i++) {
        const rg_gguf_tensor *t = rg_gguf_tensor_at(g, i);
        if (t->nbytes) sum += ((const uint8_t *)t->data)[0] + ((const uint8_t *)t->data)[t->nbytes - 1];
    }
    rg_wordpiece *wp = rg_wordpiece_from_gguf(g, -1);
    if (wp) {
        int32_t ids[64];
        static const char text[] = "The quick brown fox, caf\xc3\xa9 \xe5\x8c\x97 unaffable!";
        rg_wordpiece_encode(wp, text, sizeof text - 1, ids, 64);
        rg_wordpiece_free(wp);
    }
    rg_gguf_close(g);
    return 0;
}

#ifdef FUZZ_STANDALONE
static uint64_t rng = 0x2545f4914f6cdd1dull;
static uint64_t next(void) { rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17; return rng; }

int main(int argc, char **argv) {
    if (argc < 2) { fprintf(stderr, "usage: %s SEED.gguf [ITERATIONS]\n", argv[0]); return 2; }
    size_t len;
    char *seed = rg_read_file(argv[1], 64u << 20, &len);
    if (!seed) { fprintf(stderr, "%s\n", rg_errmsg()); return 1; }
    long iters = argc > 2 ? atol(argv[2]) : 10000;
    static const uint64_t magic[] = { 0, 1, 0x7f, 0x80, 0xff, 0xffff, 0x7fffffff, 0xffffffff,
                                      0x100000000ull, 0x7fffffffffffffffull, UINT64_MAX };
    for (long it = 0; it < iters; it++) {
        size_t n = len;
        uint8_t *m = malloc(len * 2 + 16);
        memcpy(m, seed, len);
        int edits = 1 + (int)(next() % 4);
        for (int e = 0; e < edits && n > 0; e++) {
            size_t at = next() % n;
            switch (next() % 4) {
            case 0: m[at] ^= (uint8_t)(1u << (next() % 8)); break;
            case 1: {
                uint64_t v = magic[next() % (sizeof magic / sizeof magic[0])];
                for (int b = 0; b < 8 && at + b < n; b++) m[at + b] = (uint8_t)(v >> (8 * b));
                break;
            }
            case 2: n = at; break;
            default: {
                size_t l = next() % 64;
                if (at + l <= n && n + l <= len * 2 + 16) {
                    memmove(m + at + l, m + at, n - at);
                    n += l;
                }
            }
            }
        }
        uint8_t *exact = malloc(n ? n : 1);       /* exact size so sanitizers see over-reads */
        memcpy(exact, m, n);
        LLVMFuzzerTestOneInput(exact, n);
        free(exact);
        free(m);
    }
    printf("fuzz_gguf: %ld mutants of %s ran cleanly\n", iters, argv[1]);
    free(seed);
    return 0;
}
#endif
