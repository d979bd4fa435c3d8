/* generate/grammar: see grammar.h. The checks are plain byte searches: evidence texts are a
 * few kilobytes and the decoder asks about a few hundred candidate tokens per step. */
#include "generate/grammar.h"
#include "core/util.h"
#include <stdlib.h>
#include <string.h>

typedef enum { SPAN, CHOICE, CUSTOM } kind;

struct rg_constraint {
    kind k;
    char *text;          /* SPAN: evidence */
    size_t len, min_len;
    char **opts;         /* CHOICE */
    size_t *optlen;
    int nopt;
    rg_prefix_fn fn_allows, fn_end;   /* CUSTOM */
    void *ud;
};

rg_constraint *rg_constraint_span(const char *evidence, size_t len, size_t min_len) {
    if (!evidence || !len) { rg_err("span constraint: empty evidence"); return NULL; }
    rg_constraint *c = xcalloc(1, sizeof *c);
    c->k = SPAN;
    c->text = xstrndup(evidence, len);
    c->len = len;
    c->min_len = min_len ? min_len : 1;
    return c;
}

rg_constraint *rg_constraint_choice(const char *const *options, int n) {
    rg_constraint *c = xcalloc(1, sizeof *c);
    c->k = CHOICE;
    c->opts = xcalloc((size_t)(n > 0 ? n : 1), sizeof(char *));
    c->optlen = xcalloc((size_t)(n > 0 ? n : 1), sizeof(size_t));
    for (int i = 0; i < n; i++) {
        if (!options[i] || !*options[i]) continue;
        c->opts[c->nopt] = xstrdup(options[i]);
        c->optlen[c->nopt++] = strlen(options[i]);
    }
    if (!c->nopt) { rg_err("choice constraint: no non-empty option"); rg_constraint_free(c); return NULL; }
    return c;
}

rg_constraint *rg_constraint_custom(rg_prefix_fn allows, rg_prefix_fn can_end, void *ud) {
    if (!allows || !can_end) { rg_err("custom constraint: missing check"); return NULL; }
    rg_constraint *c = xcalloc(1, sizeof *c);
    c->k = CUSTOM;
    c->fn_allows = allows;
    c->fn_end = can_end;
    c->ud = ud;
    return c;
}

/* gen + piece as one text for a CUSTOM check (short outputs: a stack buffer when it fits). */
static int custom_check(const rg_constraint *c, rg_prefix_fn fn, const char *gen, size_t glen, const char *piece, size_t plen) {
    char small[512];
    size_t n = glen + plen;
    char *buf = n < sizeof small ? small : xmalloc(n + 1);
    if (glen) memcpy(buf, gen, glen);
    if (plen) memcpy(buf + glen, piece, plen);
    buf[n] = 0;
    int r = fn(c->ud, buf, n);
    if (buf != small) free(buf);
    return r;
}

void rg_constraint_free(rg_constraint *c) {
    if (!c) return;
    free(c->text);
    for (int i = 0; i < c->nopt; i++) free(c->opts[i]);
    free(c->opts);
    free(c->optlen);
    free(c);
}

/* Is a[0..an) followed by b[0..bn) somewhere in the evidence? */
static int span_has(const rg_constraint *c, const char *a, size_t an, const char *b, size_t bn) {
    size_t n = an + bn;
    if (n == 0) return 1;
    if (n > c->len) return 0;
    const char *p = c->text, *end = c->text + c->len;
    while (p + n <= end) {
        const char *hit = an ? memmem(p, (size_t)(end - p), a, an) : memmem(p, (size_t)(end - p), b, bn);
        if (!hit || hit + n > end) return 0;
        if (!an || memcmp(hit + an, b, bn) == 0) return 1;
        p = hit + 1;
    }
    return 0;
}

int rg_constraint_allows(const rg_constraint *c, const char *gen, size_t glen, const char *piece, size_t plen) {
    if (!c || !plen) return 0;
    if (c->k == CUSTOM) return custom_check(c, c->fn_allows, gen, glen, piece, plen);
    if (c->k == SPAN) {
        if (glen == 0 && (piece[0] == ' ' || piece[0] == '\n' || piece[0] == '\t')) return 0;
        return span_has(c, gen, glen, piece, plen);
    }
    for (int i = 0; i < c->nopt; i++)
        if (glen + plen <= c->optlen[i] && memcmp(c->opts[i], gen, glen) == 0 && memcmp(c->opts[i] + glen, piece, plen) == 0)
            return 1;
    return 0;
}

int rg_constraint_can_end(const rg_constraint *c, const char *gen, size_t glen) {
    if (!c) return 1;
    if (c->k == CUSTOM) return custom_check(c, c->fn_end, gen, glen, "", 0);
    if (c->k == SPAN) return glen >= c->min_len && span_has(c, gen, glen, "", 0);
    for (int i = 0; i < c->nopt; i++)
        if (glen == c->optlen[i] && memcmp(c->opts[i], gen, glen) == 0) return 1;
    return 0;
}
