/* generate/chat: chat prompt templates for the built-in decoder.
 * ChatML (Qwen: "<|im_start|>role\ncontent<|im_end|>\n") and Llama-3
 * ("<|start_header_id|>role<|end_header_id|>\n\ncontent<|eot_id|>"), chosen from the GGUF
 * tokenizer.chat_template text; each kind names the strings that end an assistant turn. */
#ifndef RAGD_GENERATE_CHAT_H
#define RAGD_GENERATE_CHAT_H

typedef enum { RG_CHAT_CHATML = 0, RG_CHAT_LLAMA3 = 1 } rg_chat_kind;

typedef struct { const char *role, *content; } rg_chat_msg;

/* From a chat_template text (NULL or unrecognised: ChatML). */
rg_chat_kind rg_chat_detect(const char *tmpl);
const char *rg_chat_name(rg_chat_kind k);
/* The prompt text (malloc'd) for msgs, ending with the opening of an assistant turn when
 * add_assistant is set. Special tokens appear as text: encode with parse_special. No BOS. */
char *rg_chat_format(rg_chat_kind k, const rg_chat_msg *msgs, int n, int add_assistant);
/* Strings that end an assistant turn for this kind (NULL-terminated list). */
const char *const *rg_chat_stops(rg_chat_kind k);
#endif
