/* reply_parse.h -- the model's reply text, as it streams, split into what
 * an OpenAI client expects: reasoning (DeepSeek-R1's <think>...</think> at
 * the start of a reply), content, and tool calls written in DeepSeek-V3's
 * markup:
 *   <｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>NAME
 *   ```json
 *   {"arguments": ...}
 *   ```<｜tool▁call▁end｜>...<｜tool▁calls▁end｜>
 * Text that may be the beginning of a marker is held back until the next
 * piece decides, so no event ever carries part of a marker. */
#ifndef SRV_REPLY_PARSE_H
#define SRV_REPLY_PARSE_H

#include <stddef.h>

#include "jsonw.h"

#define SRV_CALLS_BEGIN "<\xEF\xBD\x9Ctool\xE2\x96\x81" "calls\xE2\x96\x81" "begin\xEF\xBD\x9C>"
#define SRV_CALLS_END "<\xEF\xBD\x9Ctool\xE2\x96\x81" "calls\xE2\x96\x81" "end\xEF\xBD\x9C>"
#define SRV_CALL_BEGIN "<\xEF\xBD\x9Ctool\xE2\x96\x81" "call\xE2\x96\x81" "begin\xEF\xBD\x9C>"
#define SRV_CALL_END "<\xEF\xBD\x9Ctool\xE2\x96\x81" "call\xE2\x96\x81" "end\xEF\xBD\x9C>"
#define SRV_TOOL_SEP "<\xEF\xBD\x9Ctool\xE2\x96\x81sep\xEF\xBD\x9C>"

enum srv_reply_event {
    SRV_EV_CONTENT,    /* text: a piece of content                         */
    SRV_EV_REASONING,  /* text: a piece of reasoning                       */
    SRV_EV_TOOL_START, /* a new tool call (index), text: the function name */
    SRV_EV_TOOL_ARGS   /* text: a piece of the call's JSON arguments       */
};

/* Returns 0, or a negative value to make feed/finish fail with it. */
typedef int (*srv_reply_cb)(void *user, int event, int tool_index, const char *text, size_t len);

typedef struct srv_reply_parser {
    int state, parse_tools, parse_think, think_text;
    int n_calls;
    srv_buf pend; /* received, not yet decided */
    srv_reply_cb cb;
    void *user;
} srv_reply_parser;

void srv_reply_init(srv_reply_parser *p, int parse_tools, int parse_think, srv_reply_cb cb, void *user);
/* Feed the next piece. Returns 0, the callback's negative value, or -1
 * when out of memory. */
int srv_reply_feed(srv_reply_parser *p, const char *text, size_t len);
/* The reply ended: deliver what was held back (an unfinished call's
 * arguments; an unfinished marker is dropped). */
int srv_reply_finish(srv_reply_parser *p);
void srv_reply_free(srv_reply_parser *p);

#endif
