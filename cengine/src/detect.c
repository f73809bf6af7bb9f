#include "detect.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "feeder.h"
#include "wcache.h"

enum { R_UNKNOWN, R_WARMUP, R_IN_TOP, R_NOT_IN_TOP };
static const char *const REASON[] = {"unknown_template", "warmup", "in_top_g", "not_in_top_g"};

typedef struct {
    unsigned long long line;
    long key;    /* -1: unmatched */
    long rank;   /* -1: none */
    long entry;  /* cache entry of its window, -1: no window */
    int reason;
} Record;

static char *put_str(char *b, const char *s)
{
    size_t n = strlen(s);
    memcpy(b, s, n);
    return b + n;
}

static char *put_uint(char *b, unsigned long long v)
{
    char tmp[24], *p = tmp + sizeof tmp;
    do
        *--p = (char)('0' + v % 10);
    while (v /= 10);
    memcpy(b, p, (size_t)(tmp + sizeof tmp - p));
    return b + (tmp + sizeof tmp - p);
}

/* A key or rank; -1 is JSON's null. */
static char *put_opt(char *b, long v)
{
    return v < 0 ? put_str(b, "null") : put_uint(b, (unsigned long long)v);
}

/* One verdict line. JSONL is put together by hand: fprintf was a quarter of a cached run's time. */
static void write_record(FILE *out, int format, const Record *r)
{
    const char *verdict = (r->reason == R_UNKNOWN || r->reason == R_NOT_IN_TOP) ? "anomaly" : "normal";
    if (format != FORMAT_JSONL) {
        char key[32] = "-", rank[32] = "-";
        if (r->key >= 0)
            snprintf(key, sizeof key, "%ld", r->key);
        if (r->rank >= 0)
            snprintf(rank, sizeof rank, "%ld", r->rank);
        fprintf(out, "%10llu  %-7s  %-16s  template=%-6s rank=%s\n", r->line, verdict, REASON[r->reason], key, rank);
        return;
    }
    char line[192], *b = line; /* two numbers of at most 20 digits and the fixed text */
    b = put_str(b, "{\"line\": ");
    b = put_uint(b, r->line);
    b = put_str(b, ", \"template\": ");
    b = put_opt(b, r->key);
    b = put_str(b, ", \"verdict\": \"");
    b = put_str(b, verdict);
    b = put_str(b, "\", \"reason\": \"");
    b = put_str(b, REASON[r->reason]);
    b = put_str(b, "\", \"rank\": ");
    b = put_opt(b, r->rank);
    b = put_str(b, "}\n");
    fwrite(line, 1, (size_t)(b - line), out);
}

/* The last L keys (a ring) and the window built from them. */
typedef struct {
    long *keys;
    int64_t *window;
    size_t head, count;
} History;

typedef struct {
    Record *recs;
    size_t nrec, caprec;
    int64_t *windows; /* batch x seq_len: the windows not run yet */
    size_t *win_entry; /* their cache entries */
    size_t nwin;
} Pending;

static int push_record(Pending *p, Record r, Err *err)
{
    if (p->nrec == p->caprec) {
        Record *nr = grow_array(p->recs, &p->caprec, p->nrec + 1, sizeof *nr, 1024);
        if (!nr) {
            err_set(err, EXIT_RUNTIME, "out of memory");
            return -1;
        }
        p->recs = nr;
    }
    p->recs[p->nrec++] = r;
    return 0;
}

/* Run the pending windows, rank every pending record and write them out in line order; for a
 * live input, hand them on at once (the output is otherwise fully buffered). */
static int flush(DeepLog *d, Pending *p, WindowCache *c, long top_g, int format, int live, FILE *out, Err *err)
{
    size_t V = (size_t)d->vocab_size;
    if (p->nwin) {
        OrtValue *value;
        const float *logits;
        if (deeplog_run(d, p->windows, p->nwin, &value, &logits, NULL, err) != 0)
            return -1;
        for (size_t w = 0; w < p->nwin; w++)
            memcpy(c->rows + p->win_entry[w] * V, logits + w * V, V * sizeof *logits);
        d->model.ctx->api->ReleaseValue(value);
    }
    for (size_t i = 0; i < p->nrec; i++) {
        Record *r = &p->recs[i];
        if (r->entry >= 0) {
            r->rank = deeplog_rank(c->rows + (size_t)r->entry * V, d->vocab_size, r->key);
            r->reason = r->rank >= top_g ? R_NOT_IN_TOP : R_IN_TOP;
        }
        write_record(out, format, r);
    }
    p->nrec = 0;
    p->nwin = 0;
    if (!c->enabled)
        cache_clear(c);
    if ((live && fflush(out) != 0) || ferror(out)) {
        err_set(err, EXIT_OUTPUT, "cannot write the output: %s", strerror(errno));
        return -1;
    }
    return 0;
}

/* One matched line into the pending work: its window (the last L keys, oldest first) joins the
 * batch unless the cache already holds its row; a full cache settles everything pending first. */
static int take_line(DeepLog *d, Pending *p, WindowCache *c, History *h, const Keyed *k, const DetectOptions *o,
                     long top_g, int live, FILE *out, Err *err)
{
    size_t L = (size_t)d->seq_len;
    Record r = {k->line, k->key, -1, -1, R_UNKNOWN};
    if (r.key >= 0) {
        if (h->count < L) {
            r.reason = R_WARMUP;
        } else {
            for (size_t i = 0; i < L; i++)
                h->window[i] = h->keys[(h->head + i) % L];
            int fresh;
            long e = cache_entry(c, h->window, &fresh);
            if (e < 0) { /* cache full: settle everything pending, then start afresh */
                if (flush(d, p, c, top_g, o->format, live, out, err) != 0)
                    return -1;
                cache_clear(c);
                e = cache_entry(c, h->window, &fresh);
            }
            r.entry = e;
            if (fresh) {
                memcpy(p->windows + p->nwin * L, h->window, L * sizeof *h->window);
                p->win_entry[p->nwin++] = (size_t)e;
            }
        }
        h->keys[(h->head + h->count) % L] = r.key;
        if (h->count < L)
            h->count++;
        else
            h->head = (h->head + 1) % L;
    }
    if (push_record(p, r, err) != 0)
        return -1;
    if (p->nwin == (size_t)o->batch)
        return flush(d, p, c, top_g, o->format, live, out, err);
    return 0;
}

int detect_stream(DeepLog *d, const DetectOptions *o, LineReader *in, FILE *out, Err *err)
{
    long top_g = o->top_g >= 0 ? o->top_g : d->meta.top_g;
    size_t L = (size_t)d->seq_len, B = (size_t)o->batch;
    Pending p = {0};
    WindowCache cache;
    History h = {malloc(L * sizeof *h.keys), malloc(L * sizeof *h.window), 0, 0};
    Feeder *feeder = NULL;
    int rc = -1, ended = 0;
    size_t wbytes;
    if (cache_init(&cache, o->cache, L, (size_t)d->vocab_size, B, err) != 0) {
        free(h.keys);
        free(h.window);
        return -1;
    }
    if (size_mul(B * L, sizeof *p.windows, &wbytes) != 0 || !h.keys || !h.window ||
        !(p.windows = malloc(wbytes)) || !(p.win_entry = malloc(B * sizeof *p.win_entry))) {
        err_set(err, EXIT_RUNTIME, "out of memory");
        goto done;
    }
    if (feeder_start(&feeder, in, &d->matcher, d->meta.header_fields, err) != 0)
        goto done;
    while (!ended) {
        const KeyBlock *b = feeder_take(feeder);
        int failed = 0;
        for (size_t i = 0; i < b->n && !failed; i++)
            failed = take_line(d, &p, &cache, &h, &b->rec[i], o, top_g, in->live, out, err) != 0;
        /* A live input (tail -f | engine) had nothing more ready: score what waits now. */
        if (!failed && b->idle && p.nrec)
            failed = flush(d, &p, &cache, top_g, o->format, in->live, out, err) != 0;
        ended = b->last;
        feeder_done(feeder);
        if (failed)
            goto done;
    }
    Feeder *f = feeder;
    feeder = NULL;
    if (feeder_finish(f, err) != 0 || flush(d, &p, &cache, top_g, o->format, in->live, out, err) != 0)
        goto done;
    if (fflush(out) != 0 || ferror(out)) {
        err_set(err, EXIT_OUTPUT, "cannot write the output: %s", strerror(errno));
        goto done;
    }
    rc = 0;
done:
    if (feeder) {
        Err ignored;
        feeder_finish(feeder, &ignored);
    }
    free(h.keys);
    free(h.window);
    free(p.recs);
    free(p.windows);
    free(p.win_entry);
    cache_free(&cache);
    return rc;
}
