/* generate/generate_cli: `ragd generate --model PATH [-n N] [--temp T] [--seed S]
 * [--ignore-eos] PROMPT`: prints the prompt, then the completion as it is generated. */
#include "generate/generate_cli.h"
#include "core/util.h"
#include "generate/chat.h"
#include "generate/llama.h"
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *USAGE =
    "usage: ragd generate --model PATH [options] PROMPT\n"
    "Raw completion with the built-in decoder (GGUF llama / qwen2 models); the prompt is\n"
    "printed, then the completion as it is generated.\n"
    "  --model PATH        GGUF model file (also $RAGD_GENERATOR)\n"
    "  -n, --n-predict N   tokens to generate (default 128)\n"
    "  --temp T            temperature; 0 = greedy (default 0.8)\n"
    "  --top-k K           (default 40; 0 = off)   --top-p P   (default 0.95; 1 = off)\n"
    "  --repeat-penalty R  (default 1.0 = off)\n"
    "  --seed S            sampling seed (default 42)\n"
    "  --ignore-eos        do not stop at end-of-generation tokens\n"
    "  --stop STR          stop before STR (repeatable)\n"
    "  --chat              wrap PROMPT as a user turn in the model's chat template\n"
    "  --span-of TEXT      constrain the output to a piece copied from TEXT\n"
    "  --choice STR        constrain the output to one of the given strings (repeatable)\n"
    "  --system TEXT       system message for --chat\n"
    "  --threads N         threads (default: all CPUs)   --ctx N   context length\n"
    "  --json              one JSON object: completion, token counts, speeds\n";

static int parse_num(const char *opt, const char *s, double lo, double hi, double *out) {
    char *end;
    errno = 0;
    double v = s ? strtod(s, &end) : 0;
    if (!s || end == s || *end || errno || !(v >= lo && v <= hi)) {
        fprintf(stderr, "ragd generate: %s needs a number in [%g, %g], got \"%s\"\n", opt, lo, hi, s ? s : "");
        return -1;
    }
    *out = v;
    return 0;
}

static int print_piece(const char *p, size_t n, void *ud) {
    (void)ud;
    fwrite(p, 1, n, stdout);
    fflush(stdout);
    return 0;
}

int rg_generate_cli(int argc, char **argv) {
    const char *model = getenv("RAGD_GENERATOR"), *prompt = NULL, *system = NULL;
    int json = 0, chat = 0, threads = 0, ctx = 0;
    rg_gen_params g = {.n_predict = 128};
    g.sample = rg_sample_defaults();
    const char *stops[16], *choices[32], *span_of = NULL;
    int nstops = 0, nchoices = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        double d;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { fputs(USAGE, stdout); return 0; }
        else if (!strcmp(a, "--json")) json = 1;
        else if (!strcmp(a, "--ignore-eos")) g.ignore_eos = 1;
        else if (!strcmp(a, "--chat")) chat = 1;
        else if (!strcmp(a, "--model") || !strcmp(a, "-m")) { if (!v) goto need; model = v; i++; }
        else if (!strcmp(a, "--system")) { if (!v) goto need; system = v; i++; }
        else if (!strcmp(a, "--span-of")) { if (!v) goto need; span_of = v; i++; }
        else if (!strcmp(a, "--choice")) {
            if (!v) goto need;
            if (nchoices < 32) choices[nchoices++] = v;
            i++;
        }
        else if (!strcmp(a, "--stop")) {
            if (!v) goto need;
            if (nstops < 16) stops[nstops++] = v;
            i++;
        }
        else if (!strcmp(a, "-n") || !strcmp(a, "--n-predict")) { if (parse_num(a, v, 1, 1 << 20, &d) < 0) return 2; g.n_predict = (int)d; i++; }
        else if (!strcmp(a, "--temp")) { if (parse_num(a, v, 0, 100, &d) < 0) return 2; g.sample.temperature = (float)d; i++; }
        else if (!strcmp(a, "--top-k")) { if (parse_num(a, v, 0, 1 << 24, &d) < 0) return 2; g.sample.top_k = (int)d; i++; }
        else if (!strcmp(a, "--top-p")) { if (parse_num(a, v, 0, 1, &d) < 0) return 2; g.sample.top_p = (float)d; i++; }
        else if (!strcmp(a, "--repeat-penalty")) { if (parse_num(a, v, 0.01, 100, &d) < 0) return 2; g.sample.repeat_penalty = (float)d; i++; }
        else if (!strcmp(a, "--seed")) { if (parse_num(a, v, 0, 18446744073709551615.0, &d) < 0) return 2; g.sample.seed = (uint64_t)d; i++; }
        else if (!strcmp(a, "--threads")) { if (parse_num(a, v, 1, 256, &d) < 0) return 2; threads = (int)d; i++; }
        else if (!strcmp(a, "--ctx")) { if (parse_num(a, v, 16, 131072, &d) < 0) return 2; ctx = (int)d; i++; }
        else if (a[0] == '-' && a[1]) { fprintf(stderr, "ragd generate: unknown option %s\n%s", a, USAGE); return 2; }
        else if (!prompt) prompt = a;
        else { fprintf(stderr, "ragd generate: one PROMPT only (quote it)\n"); return 2; }
        continue;
    need:
        fprintf(stderr, "ragd generate: %s needs a value\n", a);
        return 2;
    }
    if (!model || !*model) { fprintf(stderr, "ragd generate: --model PATH is required\n%s", USAGE); return 2; }
    if (!prompt) { fprintf(stderr, "ragd generate: PROMPT is required\n%s", USAGE); return 2; }
    if (span_of && nchoices) { fprintf(stderr, "ragd generate: --span-of and --choice exclude each other\n"); return 2; }
    rg_constraint *cons = NULL;
    if (span_of && !(cons = rg_constraint_span(span_of, strlen(span_of), 1))) { fprintf(stderr, "ragd generate: %s\n", rg_errmsg()); return 2; }
    if (nchoices && !(cons = rg_constraint_choice(choices, nchoices))) { fprintf(stderr, "ragd generate: %s\n", rg_errmsg()); return 2; }
    g.constraint = cons;
    rg_llama_params lp = {.n_ctx = ctx, .n_threads = threads};
    rg_llama *m = rg_llama_load(model, &lp);
    if (!m) { fprintf(stderr, "ragd generate: %s\n", rg_errmsg()); rg_constraint_free(cons); return 1; }
    const rg_llama_info *I = rg_llama_get_info(m);
    char *text = NULL;
    if (chat) {
        rg_chat_msg msgs[2];
        int n = 0;
        if (system) msgs[n++] = (rg_chat_msg){"system", system};
        msgs[n++] = (rg_chat_msg){"user", prompt};
        text = rg_chat_format(I->chat, msgs, n, 1);
        g.parse_special = 1;
        for (const char *const *s = rg_chat_stops(I->chat); *s && nstops < 16; s++) stops[nstops++] = *s;
    } else text = xstrdup(prompt);
    g.stops = stops;
    g.nstops = nstops;
    if (!json) { fputs(chat ? "" : prompt, stdout); fflush(stdout); }
    rg_gen_stats st;
    char *out = rg_llama_complete(m, text, &g, json ? NULL : print_piece, NULL, &st);
    int rc = 0;
    if (!out) {
        if (!json) putchar('\n');
        fprintf(stderr, "ragd generate: %s\n", rg_errmsg());
        rc = 1;
    } else if (json) {
        json_t *o = json_object();
        json_object_set_new(o, "model", json_string(model));
        json_object_set_new(o, "prompt", json_string(prompt));
        size_t cl;
        char *clean = rg_utf8_repair(out, strlen(out), &cl, NULL);   /* a token may end mid-character */
        json_object_set_new(o, "completion", json_stringn(clean, cl));
        free(clean);
        json_object_set_new(o, "tokens_prompt", json_integer(st.n_prompt));
        json_object_set_new(o, "tokens_generated", json_integer(st.n_gen));
        json_object_set_new(o, "stop_reason", json_string(st.stop_reason));
        json_object_set_new(o, "prompt_tokens_per_s", json_real(st.t_prompt > 0 ? st.n_prompt / st.t_prompt : 0));
        json_object_set_new(o, "gen_tokens_per_s", json_real(st.t_gen > 0 ? st.n_gen / st.t_gen : 0));
        char *s = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII);
        if (!json_object_get(o, "completion") || !s) { fprintf(stderr, "ragd generate: output is not valid UTF-8\n"); rc = 1; }
        else puts(s);
        free(s);
        json_decref(o);
    } else {
        putchar('\n');
        fprintf(stderr, "ragd generate: %d prompt tokens %.1f tok/s, %d generated %.1f tok/s (%s)\n", st.n_prompt,
                st.t_prompt > 0 ? st.n_prompt / st.t_prompt : 0, st.n_gen, st.t_gen > 0 ? st.n_gen / st.t_gen : 0,
                st.stop_reason);
    }
    free(out);
    free(text);
    rg_llama_free(m);
    rg_constraint_free(cons);
    return rc;
}
