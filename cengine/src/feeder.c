#include "feeder.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NBLOCKS 4
#define BLOCK_LINES 4096

struct Feeder {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    KeyBlock blocks[NBLOCKS];
    size_t head, count; /* the blocks handed on and not yet done: head .. head + count - 1 */
    int stop;           /* the consumer wants no more */
    int wake[2];        /* a pipe: written to stop, it wakes a blocking read of a live input */
    LineReader *in;
    Matcher *m;
    long header_fields;
    CleanBuf clean;
    int failed;
    Err err;
};


/* Fill one block: until it is full, the input ends or fails, or a live input has nothing ready. */
static void fill(Feeder *f, KeyBlock *b)
{
    b->n = 0;
    b->idle = b->last = 0;
    while (b->n < BLOCK_LINES) {
        if (b->n && reader_idle(f->in)) {
            b->idle = 1;
            return;
        }
        const char *line;
        size_t n;
        int got = reader_next(f->in, &line, &n, &f->err);
        if (got <= 0) {
            f->failed = got < 0;
            b->last = 1;
            return;
        }
        if (is_blank(line, n))
            continue;
        long key = match_line(f->m, f->header_fields, line, n, &f->clean);
        if (key == -2) {
            char detail[96];
            snprintf(detail, sizeof detail, " (no room to clean its %zu bytes)", n);
            reader_fail(f->in, ENOMEM, detail, &f->err);
            f->failed = 1;
            b->last = 1;
            return;
        }
        b->rec[b->n++] = (Keyed){f->in->line, key};
    }
}

static void *run(void *arg)
{
    Feeder *f = arg;
    for (;;) {
        pthread_mutex_lock(&f->mu);
        while (f->count == NBLOCKS && !f->stop)
            pthread_cond_wait(&f->cv, &f->mu);
        int stop = f->stop;
        KeyBlock *b = &f->blocks[(f->head + f->count) % NBLOCKS];
        pthread_mutex_unlock(&f->mu);
        if (stop)
            return NULL;
        fill(f, b);
        pthread_mutex_lock(&f->mu);
        f->count++;
        pthread_cond_broadcast(&f->cv);
        pthread_mutex_unlock(&f->mu);
        if (b->last)
            return NULL;
    }
}

static void release(Feeder *f)
{
    for (size_t i = 0; i < NBLOCKS; i++)
        free(f->blocks[i].rec);
    if (f->wake[0] >= 0) {
        close(f->wake[0]);
        close(f->wake[1]);
    }
    free(f->clean.buf);
    free(f);
}

int feeder_start(Feeder **out, LineReader *in, Matcher *m, long header_fields, Err *err)
{
    Feeder *f = calloc(1, sizeof *f);
    *out = NULL;
    if (!f) {
        err_set(err, EXIT_RUNTIME, "out of memory");
        return -1;
    }
    f->in = in;
    f->m = m;
    f->header_fields = header_fields;
    f->wake[0] = f->wake[1] = -1;
    int ok = 1;
    for (size_t i = 0; i < NBLOCKS; i++)
        ok = ok && (f->blocks[i].rec = malloc(BLOCK_LINES * sizeof *f->blocks[i].rec)) != NULL;
    if (!ok) {
        release(f);
        err_set(err, EXIT_RUNTIME, "out of memory");
        return -1;
    }
    if (pipe(f->wake) != 0) {
        f->wake[0] = f->wake[1] = -1;
        release(f);
        err_set(err, EXIT_RUNTIME, "cannot start the line reader: %s", strerror(errno));
        return -1;
    }
    fcntl(f->wake[0], F_SETFD, FD_CLOEXEC);
    fcntl(f->wake[1], F_SETFD, FD_CLOEXEC);
    reader_wake_on(in, f->wake[0]);
    pthread_mutex_init(&f->mu, NULL);
    pthread_cond_init(&f->cv, NULL);
    int rc = pthread_create(&f->thread, NULL, run, f);
    if (rc != 0) {
        pthread_mutex_destroy(&f->mu);
        pthread_cond_destroy(&f->cv);
        reader_wake_on(in, -1);
        release(f);
        err_set(err, EXIT_RUNTIME, "cannot start the line reader: %s", strerror(rc));
        return -1;
    }
    *out = f;
    return 0;
}

const KeyBlock *feeder_take(Feeder *f)
{
    pthread_mutex_lock(&f->mu);
    while (f->count == 0)
        pthread_cond_wait(&f->cv, &f->mu);
    const KeyBlock *b = &f->blocks[f->head];
    pthread_mutex_unlock(&f->mu);
    return b;
}

void feeder_done(Feeder *f)
{
    pthread_mutex_lock(&f->mu);
    f->head = (f->head + 1) % NBLOCKS;
    f->count--;
    pthread_cond_broadcast(&f->cv);
    pthread_mutex_unlock(&f->mu);
}

int feeder_finish(Feeder *f, Err *err)
{
    pthread_mutex_lock(&f->mu);
    f->stop = 1;
    pthread_cond_broadcast(&f->cv);
    pthread_mutex_unlock(&f->mu);
    ssize_t w;
    do
        w = write(f->wake[1], "", 1);
    while (w < 0 && errno == EINTR);
    pthread_join(f->thread, NULL);
    reader_wake_on(f->in, -1);
    pthread_mutex_destroy(&f->mu);
    pthread_cond_destroy(&f->cv);
    int rc = 0;
    if (f->failed) {
        *err = f->err;
        rc = -1;
    }
    release(f);
    return rc;
}
