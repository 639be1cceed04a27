/* job.c -- job lifetime and the hand-over buffer. */
#include "job.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

double srv_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

srv_job *srv_job_new(srv_request *r, srv_prompt *p) {
    srv_job *j = calloc(1, sizeof *j);
    if (!j) return NULL;
    pthread_mutex_init(&j->mu, NULL);
    pthread_cond_init(&j->cv, NULL);
    j->refs = 1;
    atomic_init(&j->cancel, 0);
    j->req = *r;
    j->prompt = *p;
    memset(r, 0, sizeof *r);
    memset(p, 0, sizeof *p);
    j->t_submit = srv_now();
    j->created = (long long)time(NULL);
    return j;
}

void srv_job_ref(srv_job *j) {
    pthread_mutex_lock(&j->mu);
    j->refs++;
    pthread_mutex_unlock(&j->mu);
}

void srv_job_unref(srv_job *j) {
    if (!j) return;
    pthread_mutex_lock(&j->mu);
    int last = --j->refs == 0;
    pthread_mutex_unlock(&j->mu);
    if (!last) return;
    srv_request_free(&j->req);
    srv_prompt_free(&j->prompt);
    srv_reply_free(&j->parser);
    srv_buf_free(&j->out);
    srv_buf_free(&j->content);
    srv_buf_free(&j->reasoning);
    for (int i = 0; i < j->n_calls; i++) {
        srv_buf_free(&j->calls[i].name);
        srv_buf_free(&j->calls[i].args);
    }
    free(j->calls);
    pthread_cond_destroy(&j->cv);
    pthread_mutex_destroy(&j->mu);
    free(j);
}

void srv_job_push(srv_job *j, const char *s, size_t n) {
    pthread_mutex_lock(&j->mu);
    srv_buf_put(&j->out, s, n);
    pthread_cond_broadcast(&j->cv);
    pthread_mutex_unlock(&j->mu);
}

void srv_job_finish(srv_job *j, int http_status) {
    pthread_mutex_lock(&j->mu);
    j->done = 1;
    j->http_status = http_status;
    pthread_cond_broadcast(&j->cv);
    pthread_mutex_unlock(&j->mu);
}
