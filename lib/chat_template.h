/* chat_template.h -- the DeepSeek-V3 chat template (tokenizer_config.json's
 * chat_template), hand-translated from Jinja to C. */
#ifndef DSV3_CHAT_TEMPLATE_H
#define DSV3_CHAT_TEMPLATE_H

#include <stddef.h>

#include "dsv3.h"
#include "err.h"

/* Render msgs[0..n) as the DeepSeek-V3 template does, starting with
 * bos_text (NULL renders as "", like an undefined bos_token).
 *
 * Output: out[0..cap). *len (optional) always receives the full length in
 * bytes, excluding the NUL. When cap > full length the text is written and
 * NUL-terminated and DSV3_OK is returned; otherwise DSV3_ERR_TOO_SMALL is
 * returned and, if cap > 0, out holds the first cap-1 bytes and a NUL (like
 * snprintf). out may be NULL only when cap is 0 (a size query).
 *
 * DSV3_ERR_INVALID_ARG (with a message in *e, which may be NULL) for: msgs
 * NULL with n > 0, a NULL role, NULL content in a system, user or tool
 * message, tool_calls NULL with n_tool_calls > 0, or a NULL type, name or
 * arguments in a tool call that is rendered. Nothing is written then. */
int chat_render_deepseek_v3(const char *bos_text, const struct dsv3_chat_message *msgs, size_t n,
                            int add_generation_prompt, char *out, size_t cap, size_t *len, dsv3_err *e);

#endif
