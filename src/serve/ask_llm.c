/* serve/ask_llm: see ask_llm.h. The prompt lists each evidence item once with its id; items are
 * added in evidence order until the prompt budget (from the model's context) is spent, and only
 * the items in the prompt may be cited. Numbers in a generator answer always come from the DSL
 * executor reading cited cells, never from the model's text. */
#include "serve/ask_llm.h"
#include "generate/answer_format.h"
#include "generate/dsl.h"
#include "generate/llama.h"
#include "generate/remote.h"
#include "core/util.h"
#include <ctype.h>
#include <pthread.h>
#include <time.h>
#include <strings.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_KEEP 0.8
#define GENERATOR_CONFIDENCE 0.6   /* a verified model answer: below a sure reasoner answer */
#define REMOTE_PROMPT_BYTES 24000

struct rg_generator {
    rg_generator_config cfg;
    rg_llama *m;                 /* local; NULL for remote */
    rg_remote_config rc;
    char *spec, *url, *model, *keyenv;
    pthread_mutex_t mu;
};

rg_generator *rg_generator_open(const rg_generator_config *c) {
    if (!c || !c->spec || !*c->spec) { rg_err("generator: no model given"); return NULL; }
    rg_generator *g = xcalloc(1, sizeof *g);
    g->cfg = *c;
    g->spec = xstrdup(c->spec);
    g->cfg.spec = g->spec;
    if (strcmp(c->spec, "remote") == 0) {
        if (!c->remote_url || !*c->remote_url) { rg_err("generator \"remote\": no remote_url configured"); free(g->spec); free(g); return NULL; }
        g->url = xstrdup(c->remote_url);
        g->model = xstrdup(c->remote_model ? c->remote_model : "default");
        g->keyenv = c->remote_api_key_env ? xstrdup(c->remote_api_key_env) : NULL;
        g->rc = (rg_remote_config){.base_url = g->url, .model = g->model, .api_key_env = g->keyenv, .max_retries = 2};
    } else {
        rg_llama_params p = {.n_threads = c->n_threads};
        g->m = rg_llama_load(c->spec, &p);
        if (!g->m) { free(g->spec); free(g); return NULL; }
    }
    g->cfg.remote_url = g->cfg.remote_model = g->cfg.remote_api_key_env = NULL;
    pthread_mutex_init(&g->mu, NULL);
    return g;
}

void rg_generator_free(rg_generator *g) {
    if (!g) return;
    rg_llama_free(g->m);
    pthread_mutex_destroy(&g->mu);
    free(g->spec); free(g->url); free(g->model); free(g->keyenv);
    free(g);
}

static const char *SYSTEM =
    "You answer questions about documents using only the evidence given. Reply with one line: "
    "the id of the evidence item you use in brackets, then either a short phrase copied exactly "
    "from it, for example \"[P2] the acquisition of Halvorsen\", or, when the answer must be "
    "calculated from a table, \"= \" and a program, for example "
    "\"[T1] = subtract(r2c1, r2c2), divide(#0, r2c2), multiply(#1, const_100)\", where rRcC is the "
    "cell in row R, column C of that table (as listed), #k the result of step k, const_N the number N. "
    "Operations: add, subtract, multiply, divide.";

/* One table as numbered rows: "r1: c0 Revenue | c1 1,452.4 | c2 1,234". */
static void put_table(rg_buf *b, int id, const rg_table *t) {
    rg_buf_printf(b, "[T%d] table%s%s%s%s\n", id, t->caption ? ": " : "", t->caption ? t->caption : "",
                  t->scale[0] ? ", in " : "", t->scale);
    for (int r = 0; r < t->nrows; r++) {
        rg_buf_printf(b, "r%d:", r);
        for (int c = 0; c < t->ncols; c++) {
            const char *raw = t->cells[(size_t)r * (size_t)t->ncols + (size_t)c].raw;
            rg_buf_printf(b, "%s c%d %s", c ? " |" : "", c, raw ? raw : "");
        }
        rg_buf_putc(b, '\n');
    }
}

/* The user message; sets f to the items it holds. */
static char *build_prompt(const char *question, const rg_evidence *ev, size_t budget, rg_afmt *f) {
    rg_buf b = {0};
    rg_buf_puts(&b, "Evidence:\n");
    f->ev = ev;
    f->ntables = f->nparas = 0;
    for (int i = 0; i < ev->ntables; i++) {
        size_t before = b.len;
        put_table(&b, i + 1, ev->tables[i].table);
        if (b.len > budget) { b.len = before; b.data[b.len] = 0; break; }
        f->ntables++;
    }
    for (int i = 0; i < ev->nparas; i++) {
        size_t before = b.len;
        rg_buf_printf(&b, "[P%d] %s\n", i + 1, ev->paras[i].text ? ev->paras[i].text : "");
        if (b.len > budget) { b.len = before; b.data[b.len] = 0; break; }
        f->nparas++;
    }
    rg_buf_printf(&b, "\nQuestion: %s\nAnswer:", question);
    return rg_buf_take(&b);
}

typedef struct { rg_ask_token_cb cb; void *ud; double deadline; int late; } stream_ctx;
static int relay(const char *piece, size_t len, void *ud) {
    stream_ctx *s = ud;
    if (s->deadline > 0 && rg_now() > s->deadline) { s->late = 1; return 1; }
    return s->cb ? s->cb(piece, len, s->ud) : 0;
}

/* Small contexts (test models) get this shorter instruction. */
static const char *SYSTEM_SHORT = "Answer with [id] and a phrase copied from that item, or [Tn] = a program.";

/* The local chat prompt with as many evidence items as fit the context with room for the
 * answer; sets f. NULL with rg_err when not even the question fits. */
static char *local_prompt(rg_generator *g, const char *question, const rg_evidence *ev, rg_afmt *f) {
    const rg_llama_info *info = rg_llama_get_info(g->m);
    const rg_bpe *tok = rg_llama_tokenizer(g->m);
    if (!tok) { rg_err("%s: the model has no tokenizer", g->spec); return NULL; }
    int max_tokens = g->cfg.max_tokens > 0 ? g->cfg.max_tokens : 64;
    long room = (long)info->n_ctx - max_tokens - 2;
    size_t budget = room > 0 ? (size_t)room * 4 : 0;
    for (;;) {
        char *user = build_prompt(question, ev, budget, f);
        rg_chat_msg msgs[] = {{"system", info->n_ctx >= 2048 ? SYSTEM : SYSTEM_SHORT}, {"user", user}};
        char *prompt = rg_chat_format(info->chat, msgs, 2, 1);
        free(user);
        int32_t *ids = NULL;
        int n = rg_bpe_encode(tok, prompt, strlen(prompt), 1, &ids);
        free(ids);
        if (n >= 0 && n <= room && f->ntables + f->nparas > 0) return prompt;
        free(prompt);
        if (n < 0) return NULL;
        if (budget < 64 || f->ntables + f->nparas == 0) { rg_err("%s: the evidence does not fit the model's context of %d tokens", g->spec, info->n_ctx); return NULL; }
        budget = budget * 3 / 4;
    }
}

/* The model's raw output, or NULL with rg_err. */
static char *run_model(rg_generator *g, const char *question, const rg_evidence *ev, rg_afmt *f, rg_ask_token_cb cb, void *ud,
                       double deadline) {
    int max_tokens = g->cfg.max_tokens > 0 ? g->cfg.max_tokens : 64;
    stream_ctx sc = {cb, ud, deadline, 0};
    if (!g->m) {
        char *user = build_prompt(question, ev, REMOTE_PROMPT_BYTES, f);
        rg_remote_msg msgs[] = {{"system", SYSTEM}, {"user", user}};
        const char *stop[] = {"\n"};
        rg_remote_params p = {.max_tokens = max_tokens, .temperature = 0, .stop = stop, .nstop = 1, .stream = cb != NULL};
        char *out = rg_remote_chat(&g->rc, msgs, 2, &p, cb ? relay : NULL, &sc, NULL);
        free(user);
        if (out && sc.late) { rg_err("deadline: the model was stopped"); free(out); out = NULL; }
        return out;
    }
    const rg_llama_info *info = rg_llama_get_info(g->m);
    char *prompt = local_prompt(g, question, ev, f);
    if (!prompt) return NULL;
    rg_constraint *c = g->cfg.unconstrained ? NULL : rg_constraint_custom(rg_afmt_allows, rg_afmt_complete, (void *)f);
    const char *stops[8];
    int ns = 0;
    for (const char *const *s = rg_chat_stops(info->chat); *s && ns < 7; s++) stops[ns++] = *s;
    stops[ns++] = "\n";
    rg_gen_params gp = {.n_predict = max_tokens, .parse_special = 1, .constraint = c, .stops = stops, .nstops = ns};
    gp.sample = rg_sample_defaults();
    gp.sample.temperature = 0;
    rg_gen_stats st;
    char *out = rg_llama_complete(g->m, prompt, &gp, cb || deadline > 0 ? relay : NULL, &sc, &st);
    if (out && sc.late) {
        rg_err("deadline: the model was stopped after \"%.200s\"", out);
        free(out);
        out = NULL;
    } else if (out && c && strcmp(st.stop_reason, "eos") != 0 && strcmp(st.stop_reason, "stop") != 0 &&
        !rg_afmt_complete((void *)f, out, strlen(out))) {
        /* cut off (length, context): the constraint only guarantees a prefix */
        rg_err("model output ended early (%s) after \"%.200s\"", st.stop_reason, out);
        free(out);
        out = NULL;
    }
    rg_constraint_free(c);
    free(prompt);
    return out;
}

static void add_cite(rg_answer *a, const char *doc_id, long long chunk_id, int row, int col) {
    for (int i = 0; i < a->ncites; i++)
        if (a->cites[i].chunk_id == chunk_id && a->cites[i].row == row && a->cites[i].col == col) return;
    a->cites = xrealloc(a->cites, (size_t)(a->ncites + 1) * sizeof *a->cites);
    a->cites[a->ncites++] = (rg_citation){xstrdup(doc_id ? doc_id : ""), chunk_id, row, col};
}

/* The verified answer for parsed output o, or NULL with rg_err (the program failed). */
static rg_answer *verified_answer(const rg_evidence *ev, const rg_afmt_out *o) {
    rg_answer *a = xcalloc(1, sizeof *a);
    a->confidence = GENERATOR_CONFIDENCE;
    a->answers = xcalloc(1, sizeof *a->answers);
    a->nanswers = 1;
    if (!o->table) {
        const rg_ev_para *p = &ev->paras[o->index];
        snprintf(a->type, sizeof a->type, "span");
        a->answers[0] = xstrdup(o->body);
        a->derivation = xstrdup("");
        a->program = xstrdup("");
        add_cite(a, p->doc_id, p->chunk_id, -1, -1);
        return a;
    }
    const rg_ev_table *et = &ev->tables[o->index];
    const rg_table *t = et->table;
    if (!o->program) {
        snprintf(a->type, sizeof a->type, "span");
        a->answers[0] = xstrdup(o->body);
        a->derivation = xstrdup("");
        a->program = xstrdup("");
        for (int k = 0; k < t->nrows * t->ncols; k++) {
            const char *raw = t->cells[k].raw;
            if (raw && strstr(raw, o->body)) { add_cite(a, et->doc_id, et->chunk_id, k / t->ncols, k % t->ncols); break; }
        }
        return a;
    }
    rg_dec v;
    char *deriv = NULL;
    if (rg_dsl_run(o->body, t, &v, &deriv) != 0) { rg_answer_free(a); return NULL; }
    char num[80];
    if (rg_dec_format(rg_dec_round(v, 2), 2, num, sizeof num) < 0) { free(deriv); rg_answer_free(a); rg_err("program value out of range"); return NULL; }
    snprintf(a->type, sizeof a->type, "arithmetic");
    a->answers[0] = xstrdup(num);
    a->derivation = deriv;
    a->program = xstrdup(o->body);
    size_t bl = strlen(o->body);
    int pct = bl >= 11 && strcmp(o->body + bl - 11, "const_100))") == 0;
    pct |= bl >= 10 && strcmp(o->body + bl - 10, "const_100)") == 0;
    snprintf(a->scale, sizeof a->scale, "%s", pct ? "percent" : t->scale);
    for (const char *p = o->body; (p = strchr(p, 'r')) != NULL; p++) {   /* cells used: rRcC */
        int r, c, n = 0;
        if (p > o->body && (p[-1] >= 'a' && p[-1] <= 'z')) continue;      /* inside "divide" etc. */
        if (sscanf(p, "r%dc%d%n", &r, &c, &n) == 2 && n > 0) add_cite(a, et->doc_id, et->chunk_id, r, c);
    }
    return a;
}

/* Words of the question that say what it is about (lower case, 3+ letters or any digits). */
static int content_word(const char *w, size_t n) {
    static const char *const STOP[] = {"what", "was", "were", "the", "how", "many", "much", "did", "does", "which",
                                       "for", "and", "from", "with", "that", "this", "are", "is", "its", "their",
                                       "who", "when", "where", "why", "between", "change", "value", "total", NULL};
    if (n < 3) return n > 0 && w[0] >= '0' && w[0] <= '9';
    for (int i = 0; STOP[i]; i++) if (strlen(STOP[i]) == n && strncasecmp(STOP[i], w, n) == 0) return 0;
    return 1;
}

/* Does text share a content word of the question (same first 5 letters, or the whole word)? */
static int shares_word(const char *question, const char *text) {
    if (!text) return 0;
    for (const char *q = question; *q;) {
        while (*q && !isalnum((unsigned char)*q)) q++;
        const char *w = q;
        while (isalnum((unsigned char)*q)) q++;
        size_t n = (size_t)(q - w);
        if (!content_word(w, n)) continue;
        size_t key = n < 5 ? n : 5;
        for (const char *t = text; *t;) {
            while (*t && !isalnum((unsigned char)*t)) t++;
            const char *v = t;
            while (isalnum((unsigned char)*t)) t++;
            size_t m = (size_t)(t - v);
            if (m >= key && strncasecmp(v, w, key) == 0 && (n >= 5 || m == n)) return 1;
        }
    }
    return 0;
}

/* The cited item must be about the question: a span from an unrelated item is a guess. */
static int relevant(const char *question, const rg_evidence *ev, const rg_afmt_out *o) {
    if (!o->table) return shares_word(question, ev->paras[o->index].text);
    const rg_table *t = ev->tables[o->index].table;
    if (shares_word(question, t->caption)) return 1;
    for (int k = 0; k < t->nrows * t->ncols; k++) if (shares_word(question, t->cells[k].raw)) return 1;
    return 0;
}

static json_t *answer_object(const char *question, const rg_answer *a) {
    char *js = rg_answer_json(question, a);
    json_t *o = js ? json_loads(js, 0, NULL) : NULL;
    free(js);
    if (!o) rg_err("could not build the answer object");
    return o;
}

json_t *rg_ask_llm(rg_generator *g, const char *question, const rg_evidence *ev, const rg_answer *r,
                   rg_ask_token_cb cb, void *ud) {
    return rg_ask_llm_until(g, question, ev, r, cb, ud, 0);
}

/* Takes the model's lock, waiting at most until deadline (0: for ever); 0 when taken. */
static int lock_until(pthread_mutex_t *mu, double deadline) {
    if (deadline <= 0) return pthread_mutex_lock(mu);
    double left = deadline - rg_now();
    if (left <= 0) return pthread_mutex_trylock(mu);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    long long ns = (long long)ts.tv_nsec + (long long)((left - (double)(long long)left) * 1e9);
    ts.tv_sec += (time_t)left + (time_t)(ns / 1000000000);
    ts.tv_nsec = (long)(ns % 1000000000);
    return pthread_mutex_timedlock(mu, &ts);
}

json_t *rg_ask_llm_until(rg_generator *g, const char *question, const rg_evidence *ev, const rg_answer *r,
                         rg_ask_token_cb cb, void *ud, double deadline) {
    if (!question || !ev || !r) { rg_err("generator answer: no question, evidence or reasoner answer"); return NULL; }
    double keep = g && g->cfg.keep_confidence > 0 ? g->cfg.keep_confidence : DEFAULT_KEEP;
    json_t *gen = json_object();
    if (!g || r->confidence >= keep || ev->ntables + ev->nparas == 0) {
        json_t *o = answer_object(question, r);
        if (!o) { json_decref(gen); return NULL; }
        json_object_set_new(gen, "used", json_false());
        json_object_set_new(gen, "reason", json_string(!g ? "no generator configured"
                                                       : r->confidence >= keep ? "reasoner confidence high enough"
                                                                               : "no evidence"));
        json_object_set_new(o, "answered_by", json_string("reasoner"));
        json_object_set_new(o, "generator", gen);
        return o;
    }
    json_object_set_new(gen, "used", json_true());
    json_object_set_new(gen, "backend", json_string(g->m ? "local" : "remote"));
    rg_afmt f = {ev, 0, 0};
    char *out = NULL;
    if (lock_until(&g->mu, deadline) != 0) rg_err("deadline: the model was busy with other questions");
    else {
        out = run_model(g, question, ev, &f, cb, ud, deadline);
        pthread_mutex_unlock(&g->mu);
    }
    rg_answer *va = NULL;
    rg_afmt_out po = {0};
    if (out) {
        json_t *js = json_string(out);
        json_object_set_new(gen, "output", js ? js : json_string("(output is not valid UTF-8)"));
        if (rg_afmt_parse(&f, out, &po) == 0) {
            json_t *ids = json_array();
            json_array_append_new(ids, json_string(po.cite));
            json_object_set_new(gen, "cited", ids);
            if (relevant(question, ev, &po)) va = verified_answer(ev, &po);
            else rg_err("model cited [%s], which shares no word with the question", po.cite);
        }
    }
    if (!va) json_object_set_new(gen, "rejected", json_string(rg_errmsg()));
    json_object_set_new(gen, "verified", json_boolean(va != NULL));
    free(out);
    rg_afmt_out_free(&po);
    int by_gen = va != NULL;
    json_t *o = answer_object(question, va ? va : r);
    rg_answer_free(va);
    if (!o) { json_decref(gen); return NULL; }
    json_object_set_new(o, "answered_by", json_string(by_gen ? "generator" : "reasoner"));
    json_object_set_new(o, "generator", gen);
    return o;
}
