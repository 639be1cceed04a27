/* chat_api.c -- dsv3_chat_render: the public entry point of the chat
 * template; the BOS text comes from the tokenizer. */
#include "chat_template.h"
#include "tokenizer.h"

int dsv3_chat_render(const dsv3_tokenizer *tok, const struct dsv3_chat_message *msgs, size_t n_msgs,
                     int add_generation_prompt, char *text, size_t capacity, size_t *len) {
    if (!tok) return DSV3_ERR_INVALID_ARG;
    /* The tokenizer is shared between threads and has no message slot: the
     * detailed message is dropped, the status is what the caller gets. */
    dsv3_err e;
    err_clear(&e);
    return chat_render_deepseek_v3(tokenizer_bos_text(tok), msgs, n_msgs, add_generation_prompt, text, capacity, len,
                                   &e);
}
