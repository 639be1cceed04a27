/* output.h -- the OpenAI wire format of a reply: server-sent events
 * (`data: {chunk}` ... `data: [DONE]`) while it streams, or one JSON body
 * at the end; error objects. Called from the slot's thread; what is ready
 * for the client goes into the job's buffer. */
#ifndef SRV_OUTPUT_H
#define SRV_OUTPUT_H

#include <stdint.h>

#include "job.h"

/* {"error": {"message", "type", "param", "code"}} (param/code may be NULL). */
void srv_error_json(srv_buf *b, const char *message, const char *type, const char *param, const char *code);
/* A fresh random id: prefix followed by 24 hex digits. */
void srv_random_id(char *out, size_t size, const char *prefix);
/* A random 64-bit seed for requests without one. */
uint64_t srv_random_u64(void);

/* The reply begins: the parser is set up (the prompt's prefill goes
 * through it first) and a stream gets its first chunk. 0 or -1 (memory). */
int srv_out_begin(srv_job *j);
/* A piece of generated text. 0 or -1 (memory). */
int srv_out_piece(srv_job *j, const char *text, size_t len);
/* The reply is over: status is the generation's dsv3 status (DSV3_OK, or
 * an error described by message). Writes the end of the stream or the
 * whole body, and marks the job done. */
void srv_out_end(srv_job *j, int status, const char *message);

#endif
