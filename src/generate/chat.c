/* generate/chat: see chat.h. */
#include "generate/chat.h"
#include "core/util.h"
#include <string.h>

rg_chat_kind rg_chat_detect(const char *tmpl) {
    if (tmpl && strstr(tmpl, "<|start_header_id|>")) return RG_CHAT_LLAMA3;
    return RG_CHAT_CHATML;     /* "<|im_start|>" and the fallback */
}

const char *rg_chat_name(rg_chat_kind k) { return k == RG_CHAT_LLAMA3 ? "llama3" : "chatml"; }

/* Llama-3's template trims each message. */
static void put_trimmed(rg_buf *b, const char *s) {
    size_t n = strlen(s);
    while (n && strchr(" \t\r\n", s[0])) { s++; n--; }
    while (n && strchr(" \t\r\n", s[n - 1])) n--;
    rg_buf_put(b, s, n);
}

char *rg_chat_format(rg_chat_kind k, const rg_chat_msg *msgs, int n, int add_assistant) {
    rg_buf b = {0};
    for (int i = 0; i < n; i++) {
        const char *role = msgs[i].role ? msgs[i].role : "user";
        const char *content = msgs[i].content ? msgs[i].content : "";
        if (k == RG_CHAT_LLAMA3) {
            rg_buf_printf(&b, "<|start_header_id|>%s<|end_header_id|>\n\n", role);
            put_trimmed(&b, content);
            rg_buf_puts(&b, "<|eot_id|>");
        } else {
            rg_buf_printf(&b, "<|im_start|>%s\n%s<|im_end|>\n", role, content);
        }
    }
    if (add_assistant)
        rg_buf_puts(&b, k == RG_CHAT_LLAMA3 ? "<|start_header_id|>assistant<|end_header_id|>\n\n"
                                            : "<|im_start|>assistant\n");
    return b.data ? rg_buf_take(&b) : xstrdup("");
}

const char *const *rg_chat_stops(rg_chat_kind k) {
    static const char *const chatml[] = {"<|im_end|>", "<|endoftext|>", NULL};
    static const char *const llama3[] = {"<|eot_id|>", "<|end_of_text|>", NULL};
    return k == RG_CHAT_LLAMA3 ? llama3 : chatml;
}
