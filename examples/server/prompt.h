/* prompt.h -- a checked request turned into the token ids the model reads:
 * chat messages rendered with the model's chat template (tool definitions
 * added as a system block), or a raw completion prompt. */
#ifndef SRV_PROMPT_H
#define SRV_PROMPT_H

#include <stddef.h>
#include <stdint.h>

#include "dsv3.h"
#include "request.h"

typedef struct srv_prompt {
    int32_t *ids;
    size_t n;
    /* Text at the end of the prompt that belongs to the reply (the opening
     * of a tool call that tool_choice forces); fed to the reply parser
     * before the generated text. NULL when none. */
    char *prefill;
    int parse_tools, parse_think;
} srv_prompt;

/* Returns 0, or -1 with a message in err (a prompt that cannot be encoded
 * or is empty), -2 when out of memory. */
int srv_prompt_build(const dsv3_tokenizer *tok, const srv_request *r, srv_prompt *out, char *err, size_t err_size);
void srv_prompt_free(srv_prompt *p);

#endif
