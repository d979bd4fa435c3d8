/* generate/dsl: parse and run reasoner programs (see dsl.h). */
#include "generate/dsl.h"
#include "core/util.h"
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

typedef enum { OP_ADD, OP_SUB, OP_MUL, OP_DIV, OP_EXP, OP_GREATER, OP_TSUM, OP_TAVG, OP_TMAX, OP_TMIN, OP_COUNT } dsl_op;
static const struct { const char *name; dsl_op op; int minargs, maxargs; } OPS[] = {
    {"add", OP_ADD, 2, 2}, {"subtract", OP_SUB, 2, 2}, {"multiply", OP_MUL, 2, 2},
    {"divide", OP_DIV, 2, 2}, {"exp", OP_EXP, 2, 2}, {"greater", OP_GREATER, 2, 2},
    {"table_sum", OP_TSUM, 1, RG_DSL_MAX_ARGS}, {"table_average", OP_TAVG, 1, RG_DSL_MAX_ARGS},
    {"table_max", OP_TMAX, 1, RG_DSL_MAX_ARGS}, {"table_min", OP_TMIN, 1, RG_DSL_MAX_ARGS},
    {"count", OP_COUNT, 1, RG_DSL_MAX_ARGS},
};

int rg_dsl_cell_value(const rg_table *t, int r, int c, rg_dec *out) {
    if (!t || r < 0 || c < 0 || r >= t->nrows || c >= t->ncols) return 0;
    const rg_cell *cell = &t->cells[(size_t)r * (size_t)t->ncols + (size_t)c];
    int fl;
    if (!cell->raw || !rg_dec_parse(cell->raw, out, &fl, NULL)) return 0;
    return !(fl & RG_NUM_EXTRA_TEXT);
}

/* A step's value and how to print it; prec: 0 atom, 1 product, 2 sum (for parentheses). */
typedef struct { rg_dec v; char *text; int prec; } val;

static void skip_ws(const char **p) { while (isspace((unsigned char)**p)) (*p)++; }

static int parse_arg(const char **pp, const rg_table *t, val *steps, int nsteps, val *out) {
    const char *p = *pp;
    skip_ws(&p);
    char tok[64];
    size_t n = 0;
    while (*p && *p != ',' && *p != ')' && !isspace((unsigned char)*p)) {
        if (n + 1 >= sizeof tok) { rg_err("program argument too long"); return -1; }
        tok[n++] = *p++;
    }
    tok[n] = 0;
    skip_ws(&p);
    *pp = p;
    if (!n) { rg_err("program: empty argument"); return -1; }
    char buf[80];
    if (tok[0] == '#') {
        char *e;
        long k = strtol(tok + 1, &e, 10);
        if (*e || k < 0 || k >= nsteps) { rg_err("program: bad step reference %s", tok); return -1; }
        out->v = steps[k].v;
        out->text = xstrdup(steps[k].text);
        out->prec = steps[k].prec;
        return 0;
    }
    if (!strncmp(tok, "const_", 6)) {
        char *e;
        long long k = strtoll(tok + 6, &e, 10);
        if (*e || e == tok + 6) { rg_err("program: bad constant %s", tok); return -1; }
        out->v = rg_dec_int(k);
    } else if (tok[0] == 'r' && isdigit((unsigned char)tok[1])) {
        int r, c;
        char extra;
        if (sscanf(tok, "r%dc%d%c", &r, &c, &extra) != 2) { rg_err("program: bad cell %s", tok); return -1; }
        if (!rg_dsl_cell_value(t, r, c, &out->v)) { rg_err("program: cell %s is not a number", tok); return -1; }
    } else {
        char *e;
        int fl;
        size_t end;
        strtod(tok, &e);
        if (*e || !rg_dec_parse(tok, &out->v, &fl, &end) || end != strlen(tok)) {
            rg_err("program: bad number %s", tok); return -1;
        }
    }
    if (rg_dec_format(out->v, RG_DEC_MAXE, buf, sizeof buf) < 0) { rg_err("program: bad value %s", tok); return -1; }
    out->text = xstrdup(buf);
    out->prec = out->v.m < 0 ? 3 : 0;   /* a negative literal is wrapped unless it leads a sum */
    return 0;
}

/* text of a operand, parenthesised when its precedence is looser than allowed */
static char *wrap(const val *a, int maxprec) {
    if (a->prec > maxprec) return xasprintf("(%s)", a->text);
    return xstrdup(a->text);
}

int rg_dsl_run(const char *prog, const rg_table *t, rg_dec *out, char **derivation) {
    if (derivation) *derivation = NULL;
    if (!prog || strlen(prog) > 8192) { rg_err("program missing or too long"); return -1; }
    val steps[RG_DSL_MAX_STEPS];
    int nsteps = 0, rc = -1;
    const char *p = prog;
    val args[RG_DSL_MAX_ARGS];
    int nargs = 0;
    for (;;) {
        skip_ws(&p);
        if (!*p) break;
        if (nsteps == RG_DSL_MAX_STEPS) { rg_err("program has too many steps"); goto done; }
        char name[24];
        size_t n = 0;
        while (isalpha((unsigned char)*p) || *p == '_') {
            if (n + 1 >= sizeof name) { rg_err("program: operation name too long"); goto done; }
            name[n++] = *p++;
        }
        name[n] = 0;
        int oi = -1;
        for (size_t i = 0; i < sizeof OPS / sizeof OPS[0]; i++) if (!strcmp(OPS[i].name, name)) oi = (int)i;
        if (oi < 0) { rg_err("program: unknown operation '%s'", name); goto done; }
        skip_ws(&p);
        if (*p != '(') { rg_err("program: '(' expected after %s", name); goto done; }
        p++;
        nargs = 0;
        for (;;) {
            if (nargs == RG_DSL_MAX_ARGS) { rg_err("program: too many arguments"); goto done; }
            if (parse_arg(&p, t, steps, nsteps, &args[nargs]) < 0) goto done;
            nargs++;
            if (*p == ',') { p++; continue; }
            if (*p == ')') { p++; break; }
            rg_err("program: ',' or ')' expected in %s", name); goto done;
        }
        if (nargs < OPS[oi].minargs || nargs > OPS[oi].maxargs) { rg_err("program: %s takes %d argument(s)", name, OPS[oi].minargs); goto done; }
        val r = {{0, 0, 1}, NULL, 0};
        dsl_op op = OPS[oi].op;
        switch (op) {
        case OP_ADD: case OP_SUB: {
            r.v = op == OP_ADD ? rg_dec_add(args[0].v, args[1].v) : rg_dec_sub(args[0].v, args[1].v);
            char *a = wrap(&args[0], args[0].prec == 3 && args[0].v.m < 0 ? 3 : 2), *b = wrap(&args[1], op == OP_ADD ? 2 : 1);
            r.text = xasprintf("%s %s %s", a, op == OP_ADD ? "+" : "-", b);
            r.prec = 2;
            free(a); free(b);
            break;
        }
        case OP_MUL: case OP_DIV: {
            r.v = op == OP_MUL ? rg_dec_mul(args[0].v, args[1].v) : rg_dec_div(args[0].v, args[1].v);
            char *a = wrap(&args[0], 1), *b = wrap(&args[1], op == OP_MUL ? 1 : 0);
            r.text = xasprintf("%s %s %s", a, op == OP_MUL ? "*" : "/", b);
            r.prec = 1;
            free(a); free(b);
            break;
        }
        case OP_EXP: {
            rg_dec e = args[1].v;
            if (!e.ok || e.e != 0 || e.m < 0 || e.m > 64) { rg_err("program: exp needs a power 0..64"); goto fail_args; }
            r.v = rg_dec_int(1);
            for (int i = 0; i < (int)e.m; i++) r.v = rg_dec_mul(r.v, args[0].v);
            char *a = wrap(&args[0], 0);
            r.text = xasprintf("%s ^ %s", a, args[1].text);
            free(a);
            break;
        }
        case OP_GREATER:
            r.v = rg_dec_int(rg_dec_cmp(args[0].v, args[1].v) > 0);
            r.text = xasprintf("%s > %s", args[0].text, args[1].text);
            r.prec = 3;
            break;
        case OP_TSUM: case OP_TAVG: case OP_TMAX: case OP_TMIN: case OP_COUNT: {
            rg_buf b = {0};
            r.v = op == OP_COUNT ? rg_dec_int(nargs) : args[0].v;
            for (int i = 0; i < nargs; i++) {
                if (i && (op == OP_TSUM || op == OP_TAVG)) r.v = rg_dec_add(r.v, args[i].v);
                if (i && op == OP_TMAX && rg_dec_cmp(args[i].v, r.v) > 0) r.v = args[i].v;
                if (i && op == OP_TMIN && rg_dec_cmp(args[i].v, r.v) < 0) r.v = args[i].v;
                char *a = wrap(&args[i], op == OP_TSUM || op == OP_TAVG ? 2 : 1);
                if (i) rg_buf_puts(&b, op == OP_TSUM || op == OP_TAVG ? " + " : ", ");
                rg_buf_puts(&b, a);
                free(a);
            }
            char *list = rg_buf_take(&b);
            if (op == OP_TSUM) { r.text = list; r.prec = nargs > 1 ? 2 : args[0].prec; }
            else if (op == OP_TAVG) {
                r.v = rg_dec_div(r.v, rg_dec_int(nargs));
                r.text = nargs > 1 ? xasprintf("(%s) / %d", list, nargs) : xstrdup(list);
                r.prec = 1;
                free(list);
            } else {
                r.text = xasprintf("%s(%s)", op == OP_TMAX ? "max" : op == OP_TMIN ? "min" : "count", list);
                free(list);
            }
            break;
        }
        }
        if (!r.v.ok) {
            rg_err("program: step %d (%s) overflowed or divided by zero", nsteps, name);
            free(r.text);
            goto fail_args;
        }
        for (int i = 0; i < nargs; i++) free(args[i].text);
        nargs = 0;
        steps[nsteps++] = r;
        skip_ws(&p);
        if (*p == ',') p++;
        else if (*p) { rg_err("program: ',' expected between steps"); goto done; }
    }
    if (!nsteps) { rg_err("program is empty"); goto done; }
    *out = steps[nsteps - 1].v;
    if (derivation) *derivation = xstrdup(steps[nsteps - 1].text);
    rc = 0;
    goto done;
fail_args:
    for (int i = 0; i < nargs; i++) free(args[i].text);
    nargs = 0;
done:
    for (int i = 0; i < nargs; i++) free(args[i].text);
    for (int i = 0; i < nsteps; i++) free(steps[i].text);
    return rc;
}
