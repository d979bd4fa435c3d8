/* generate/grammar: constrained decoding for the built-in decoder. A constraint decides,
 * from the text generated so far, which next token texts are allowed and whether the output
 * may end there. Two kinds:
 *  - span: the output must be a contiguous piece of an evidence text (copy, never invent);
 *  - choice: the output must be exactly one of a list of strings.
 * The decoder masks disallowed tokens (checking the best-scored candidates first, then the
 * whole vocabulary only if none of those fits) and ends when only "end" remains. */
#ifndef RAGD_GENERATE_GRAMMAR_H
#define RAGD_GENERATE_GRAMMAR_H
#include <stddef.h>

typedef struct rg_constraint rg_constraint;

/* The evidence is copied. Leading spaces of the output are not allowed (spans start on a
 * non-space byte); min_len: the shortest output that may end (>= 1). */
rg_constraint *rg_constraint_span(const char *evidence, size_t len, size_t min_len);
/* n strings (copied); empty strings are ignored. */
rg_constraint *rg_constraint_choice(const char *const *options, int n);
/* A caller-defined grammar: allows(ud, text, len) says whether text[0..len) is a prefix of
 * some valid output, can_end(ud, text, len) whether it is a whole one (ud is not copied). */
typedef int (*rg_prefix_fn)(void *ud, const char *text, size_t len);
rg_constraint *rg_constraint_custom(rg_prefix_fn allows, rg_prefix_fn can_end, void *ud);
void rg_constraint_free(rg_constraint *c);

/* May the output text gen[0..glen) be followed by piece[0..plen)? */
int rg_constraint_allows(const rg_constraint *c, const char *gen, size_t glen, const char *piece, size_t plen);
/* May the output end after gen[0..glen)? */
int rg_constraint_can_end(const rg_constraint *c, const char *gen, size_t glen);
#endif
