/* job.h -- one completion request on its way through the server: built by
 * the HTTP side, queued, run by a slot's thread, its output handed back
 * through a buffer under the job's lock. Reference-counted: the HTTP side
 * and the slot each hold one, so a client that goes away never leaves the
 * slot writing into freed memory. */
#ifndef SRV_JOB_H
#define SRV_JOB_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "jsonw.h"
#include "prompt.h"
#include "reply_parse.h"
#include "request.h"

typedef struct srv_tool_call_out {
    char id[32];
    srv_buf name, args;
} srv_tool_call_out;

typedef struct srv_job {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int refs;
    atomic_int cancel;      /* the client went away: stop generating */
    int done;               /* the slot has written everything        */
    int http_status;        /* non-streaming: the status of `out`      */
    srv_buf out;            /* bytes for the client not yet taken      */

    srv_request req;
    srv_prompt prompt;
    int32_t max_tokens;     /* after the server's cap                  */
    const char *model_id;
    char id[48];
    long long created;
    struct srv_job *next;   /* queue link (the pool's lock)            */
    int queued;

    /* the reply as it is parsed (the slot's thread only) */
    srv_reply_parser parser;
    srv_buf content, reasoning;
    srv_tool_call_out *calls;
    int n_calls, cap_calls;
    int sent_role;

    /* figures */
    int32_t n_cached, n_generated, n_drafted, n_accepted;
    int stop_reason;
    double t_submit, t_start, t_first, t_end;
    double prompt_seconds, generate_seconds;
} srv_job;

/* A job owning r and p (moved in); refs = 1. NULL when out of memory. */
srv_job *srv_job_new(srv_request *r, srv_prompt *p);
void srv_job_ref(srv_job *j);
void srv_job_unref(srv_job *j);
/* Append bytes for the client and wake the reader (takes the lock). */
void srv_job_push(srv_job *j, const char *s, size_t n);
/* Mark the job finished (takes the lock) and wake the reader. */
void srv_job_finish(srv_job *j, int http_status);

double srv_now(void);

#endif
