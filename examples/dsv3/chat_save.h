/* chat_save.h -- `dsv3 chat`'s /save and /load: the conversation (its
 * messages and the tokens the session holds) together with the session's
 * cache, in one file. */
#ifndef DSV3_CLI_CHAT_SAVE_H
#define DSV3_CLI_CHAT_SAVE_H

#include <stddef.h>
#include <stdint.h>

#include "dsv3.h"

typedef struct chat_saved {
    struct dsv3_chat_message *m; /* role and content malloc'd; no tool calls */
    size_t n;
    int32_t *held;               /* the tokens in the session               */
    size_t n_held;
} chat_saved;

/* Write messages m[0..n), the held tokens and s's state to path (through a
 * temporary file renamed over it). 0, or -1 with err set. */
int chat_save(const char *path, dsv3_session *s, const struct dsv3_chat_message *m, size_t n, const int32_t *held,
              size_t n_held, char *err, size_t err_size);
/* Read a file chat_save wrote. The session is loaded only when the whole
 * file is valid and the library accepts its state (same model, kv_type,
 * room in n_ctx); else it is untouched. 0 and *out filled (free it with
 * chat_saved_free), or -1 with err set. */
int chat_load(const char *path, dsv3_session *s, chat_saved *out, char *err, size_t err_size);
void chat_saved_free(chat_saved *c);

#endif
