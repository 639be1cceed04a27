/* slots.h -- the generation slots: N sessions on the one shared model, each
 * run by its own thread, fed from one bounded FIFO queue of jobs.
 *
 * A job goes to the idle slot whose cached tokens share the longest prefix
 * with its prompt (ties: the slot idle the longest); the slot rewinds its
 * session to that prefix and steps only the rest, so a conversation that
 * comes back to the slot it used does not prefill its history again. */
#ifndef SRV_SLOTS_H
#define SRV_SLOTS_H

#include <stdint.h>

#include "dsv3.h"
#include "job.h"

typedef struct srv_pool srv_pool;

typedef struct srv_pool_params {
    const dsv3_model *model;
    const dsv3_tokenizer *tok;
    int n_slots;
    int32_t n_ctx;
    int queue_size;       /* jobs waiting beyond the slots                */
    int32_t max_tokens;   /* the cap on a request's max_tokens            */
    int mtp;              /* speculative decoding with the MTP draft      */
    int32_t mtp_depth;    /* draft tokens per main step (0 = 1)           */
    int quiet;            /* no per-request log line on stderr            */
} srv_pool_params;

/* Returns NULL and a message in err on failure. */
srv_pool *srv_pool_create(const srv_pool_params *p, char *err, size_t err_size);
/* Stop: running jobs are cancelled, queued ones answered 503, the threads
 * joined. The pool stays valid (submit refuses) until srv_pool_free. */
void srv_pool_shutdown(srv_pool *pool);
/* Shut down if not yet, and free everything. */
void srv_pool_free(srv_pool *pool);
/* Queue a job (the pool takes a reference). -1 when the queue is full. */
int srv_pool_submit(srv_pool *pool, srv_job *j);
/* The client went away: cancel the job, and drop it from the queue if it
 * has not started. */
void srv_pool_cancel(srv_pool *pool, srv_job *j);
int32_t srv_pool_n_ctx(const srv_pool *pool);

typedef struct srv_pool_stats {
    int n_slots, idle, queued, queue_size;
    long long done, rejected, cancelled;
} srv_pool_stats;
void srv_pool_get_stats(srv_pool *pool, srv_pool_stats *st);

#endif
