/* t_sample: sampling (greedy, temperature, top-k, top-p, repetition penalty, seeds), stop
 * strings and chat templates. Distribution checks use enough draws that a wrong sampler
 * fails by many standard deviations. */
#include "check.h"
#include "core/util.h"
#include "generate/chat.h"
#include "generate/sample.h"

static void test_greedy_and_penalty(void) {
    rg_sample_params p = rg_sample_defaults();
    p.temperature = 0;
    rg_sampler *s = rg_sampler_new(&p);
    float lg[5] = {0.1f, 2.0f, 1.9f, -1.0f, NAN};
    CHECK_INT(rg_sampler_pick(s, lg, 5, NULL, 0), 1);
    rg_sampler_free(s);
    p.repeat_penalty = 1.5f;            /* 2.0/1.5 = 1.33 < 1.9: token 2 wins */
    s = rg_sampler_new(&p);
    float lg2[4] = {0.1f, 2.0f, 1.9f, -1.0f};
    int32_t hist[] = {1, 1, 3};
    CHECK_INT(rg_sampler_pick(s, lg2, 4, hist, 3), 2);
    CHECK_NEAR(lg2[1], 2.0 / 1.5, 1e-6);    /* penalised once, not per occurrence */
    CHECK_NEAR(lg2[3], -1.5, 1e-6);         /* negative logits are multiplied */
    rg_sampler_free(s);
    CHECK_INT(rg_sampler_pick(NULL, lg, 5, NULL, 0), -1);
}

static int draw(rg_sample_params p, const float *base, int n, int draws, int *counts) {
    rg_sampler *s = rg_sampler_new(&p);
    float *lg = malloc(sizeof(float) * (size_t)n);
    memset(counts, 0, sizeof(int) * (size_t)n);
    for (int i = 0; i < draws; i++) {
        memcpy(lg, base, sizeof(float) * (size_t)n);
        int t = rg_sampler_pick(s, lg, n, NULL, 0);
        if (t >= 0 && t < n) counts[t]++;
    }
    free(lg);
    rg_sampler_free(s);
    return 0;
}

static void test_distribution(void) {
    /* probabilities at T=1: exp(l)/Z with l = log(p) */
    float base[4] = {logf(0.5f), logf(0.3f), logf(0.15f), logf(0.05f)};
    int c[4];
    rg_sample_params p = {.temperature = 1, .top_k = 0, .top_p = 1, .repeat_penalty = 1, .seed = 7};
    draw(p, base, 4, 20000, c);
    CHECK_NEAR(c[0] / 20000.0, 0.5, 0.02);
    CHECK_NEAR(c[3] / 20000.0, 0.05, 0.01);
    p.top_k = 2;                         /* renormalised over the two best: 0.625 / 0.375 */
    draw(p, base, 4, 20000, c);
    CHECK_INT(c[2] + c[3], 0);
    CHECK_NEAR(c[0] / 20000.0, 0.625, 0.02);
    p.top_k = 0;
    p.top_p = 0.9f;                      /* 0.5+0.3+0.15 reaches 0.9: token 3 is cut */
    draw(p, base, 4, 20000, c);
    CHECK_INT(c[3], 0);
    CHECK(c[2] > 2000);
    p.top_p = 1;
    p.temperature = 0.5f;                /* p^2 renormalised: 0.25/0.365 = 0.685 */
    draw(p, base, 4, 20000, c);
    CHECK_NEAR(c[0] / 20000.0, 0.25 / 0.365, 0.02);
}

static void test_seed_repeatable_large_vocab(void) {
    int n = 151936;
    float *base = malloc(sizeof(float) * (size_t)n), *lg = malloc(sizeof(float) * (size_t)n);
    rg_rng r;
    rg_rng_seed(&r, 3);
    for (int i = 0; i < n; i++) base[i] = (float)(rg_rng_uniform(&r) * 8.0);
    rg_sample_params p = {.temperature = 0.8f, .top_k = 0, .top_p = 0.95f, .repeat_penalty = 1, .seed = 99};
    int32_t a[20], b[20];
    for (int run = 0; run < 2; run++) {
        rg_sampler *s = rg_sampler_new(&p);
        for (int i = 0; i < 20; i++) {
            memcpy(lg, base, sizeof(float) * (size_t)n);
            (run ? b : a)[i] = rg_sampler_pick(s, lg, n, NULL, 0);
        }
        rg_sampler_free(s);
    }
    CHECK(memcmp(a, b, sizeof a) == 0);
    int distinct = 0;
    for (int i = 1; i < 20; i++) distinct += a[i] != a[0];
    CHECK(distinct > 0);
    p.seed = 100;
    rg_sampler *s = rg_sampler_new(&p);
    int same = 0;
    for (int i = 0; i < 20; i++) {
        memcpy(lg, base, sizeof(float) * (size_t)n);
        same += rg_sampler_pick(s, lg, n, NULL, 0) == a[i];
    }
    CHECK(same < 20);
    rg_sampler_free(s);
    free(base);
    free(lg);
}

static void test_stops(void) {
    const char *stops[] = {"<|im_end|>", "\n\n"};
    const char *t = "answer: 42<|im_end|>more";
    CHECK_INT(rg_stop_find(t, strlen(t), stops, 2), 10);
    CHECK_INT(rg_stop_find("a\n\nb<|im_end|>", 14, stops, 2), 1);
    CHECK_INT(rg_stop_find("nothing", 7, stops, 2), -1);
    CHECK_INT(rg_stop_holdback("text<|im_", 9, stops, 2), 5);
    CHECK_INT(rg_stop_holdback("text\n", 5, stops, 2), 1);
    CHECK_INT(rg_stop_holdback("text", 4, stops, 2), 0);
}

static void test_chat_templates(void) {
    CHECK_INT(rg_chat_detect("{% for m in messages %}<|im_start|>{{m.role}}"), RG_CHAT_CHATML);
    CHECK_INT(rg_chat_detect("{{ '<|start_header_id|>' + message['role'] }}"), RG_CHAT_LLAMA3);
    CHECK_INT(rg_chat_detect(NULL), RG_CHAT_CHATML);
    rg_chat_msg m[] = {{"system", "Be brief."}, {"user", " What is 2+2? "}};
    char *s = rg_chat_format(RG_CHAT_CHATML, m, 2, 1);
    const char *want = "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\n What is 2+2? <|im_end|>\n"
                       "<|im_start|>assistant\n";
    CHECK(s && strcmp(s, want) == 0);
    free(s);
    s = rg_chat_format(RG_CHAT_LLAMA3, m, 2, 1);
    want = "<|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"
           "<|start_header_id|>user<|end_header_id|>\n\nWhat is 2+2?<|eot_id|>"
           "<|start_header_id|>assistant<|end_header_id|>\n\n";
    CHECK(s && strcmp(s, want) == 0);
    free(s);
    CHECK_STR(rg_chat_stops(RG_CHAT_LLAMA3)[0], "<|eot_id|>");
    CHECK_STR(rg_chat_stops(RG_CHAT_CHATML)[0], "<|im_end|>");
}

int main(void) {
    RUN(test_greedy_and_penalty);
    RUN(test_distribution);
    RUN(test_seed_repeatable_large_vocab);
    RUN(test_stops);
    RUN(test_chat_templates);
    TESTS_DONE();
}
