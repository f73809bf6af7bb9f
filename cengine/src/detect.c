#include "detect.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

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

static void write_record(FILE *out, int format, const Record *r)
{
    const char *verdict = (r->reason == R_UNKNOWN || r->reason == R_NOT_IN_TOP) ? "anomaly" : "normal";
    char key[32] = "null", rank[32] = "null";
    if (r->key >= 0)
        snprintf(key, sizeof key, "%ld", r->key);
    if (r->rank >= 0)
        snprintf(rank, sizeof rank, "%ld", r->rank);
    if (format == FORMAT_JSONL)
        fprintf(out, "{\"line\": %llu, \"template\": %s, \"verdict\": \"%s\", \"reason\": \"%s\", \"rank\": %s}\n",
                r->line, key, verdict, REASON[r->reason], rank);
    else
        fprintf(out, "%10llu  %-7s  %-16s  template=%-6s rank=%s\n", r->line, verdict, REASON[r->reason],
                r->key >= 0 ? key : "-", r->rank >= 0 ? rank : "-");
}

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
        size_t cap = p->caprec ? p->caprec * 2 : 1024;
        Record *nr = realloc(p->recs, cap * sizeof *nr);
        if (!nr) {
            err_set(err, EXIT_RUNTIME, "out of memory");
            return -1;
        }
        p->recs = nr;
        p->caprec = cap;
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

int detect_stream(DeepLog *d, const DetectOptions *o, LineReader *in, FILE *out, Err *err)
{
    long top_g = o->top_g >= 0 ? o->top_g : d->meta.top_g;
    size_t L = (size_t)d->seq_len, B = (size_t)o->batch;
    Pending p = {0};
    WindowCache cache;
    long *hist = malloc(L * sizeof *hist); /* ring of the last L keys */
    int64_t *window = malloc(L * sizeof *window);
    char *norm = NULL;
    size_t norm_cap = 0, hist_head = 0, hist_count = 0;
    int rc = -1;
    size_t wbytes;
    if (cache_init(&cache, o->cache, L, (size_t)d->vocab_size, B, err) != 0) {
        free(hist);
        free(window);
        return -1;
    }
    if (size_mul(B * L, sizeof *p.windows, &wbytes) != 0 || !hist || !window) {
        err_set(err, EXIT_RUNTIME, "out of memory");
        goto done;
    }
    p.windows = malloc(wbytes);
    p.win_entry = malloc(B * sizeof *p.win_entry);
    if (!p.windows || !p.win_entry) {
        err_set(err, EXIT_RUNTIME, "out of memory");
        goto done;
    }
    for (;;) {
        /* A live input (tail -f | engine): score what waits as soon as no more input is ready. */
        if (p.nrec && reader_idle(in) && flush(d, &p, &cache, top_g, o->format, in->live, out, err) != 0)
            goto done;
        const char *line;
        size_t n;
        int got = reader_next(in, &line, &n, err);
        if (got < 0)
            goto done;
        if (got == 0)
            break;
        if (is_blank(line, n))
            continue;
        Record r = {in->line, -1, -1, -1, R_UNKNOWN};
        const char *content;
        size_t clen;
        if (split_content(line, n, d->meta.header_fields, &content, &clen) == 0) {
            if (clen > norm_cap) {
                /* clean_text may grow invalid bytes into U+FFFD: up to 3 bytes each. */
                char *nn = clen <= SIZE_MAX / 3 ? realloc(norm, 3 * clen) : NULL;
                if (!nn) {
                    char detail[96];
                    snprintf(detail, sizeof detail, " (no room to clean its %zu bytes)", n);
                    reader_fail(in, ENOMEM, detail, err);
                    goto done;
                }
                norm = nn;
                norm_cap = clen;
            }
            size_t nlen = clean_text(content, clen, norm);
            r.key = matcher_match(&d->matcher, norm, nlen);
        }
        if (r.key >= 0) {
            if (hist_count < L) {
                r.reason = R_WARMUP;
            } else {
                /* The window: the last L keys, oldest first. */
                for (size_t i = 0; i < L; i++)
                    window[i] = hist[(hist_head + i) % L];
                int fresh;
                long e = cache_entry(&cache, window, &fresh);
                if (e < 0) { /* cache full: settle everything pending, then start afresh */
                    if (flush(d, &p, &cache, top_g, o->format, in->live, out, err) != 0)
                        goto done;
                    cache_clear(&cache);
                    e = cache_entry(&cache, window, &fresh);
                }
                r.entry = e;
                if (fresh) {
                    memcpy(p.windows + p.nwin * L, window, L * sizeof *window);
                    p.win_entry[p.nwin++] = (size_t)e;
                }
            }
            hist[(hist_head + hist_count) % L] = r.key;
            if (hist_count < L)
                hist_count++;
            else
                hist_head = (hist_head + 1) % L;
        }
        if (push_record(&p, r, err) != 0)
            goto done;
        if (p.nwin == B && flush(d, &p, &cache, top_g, o->format, in->live, out, err) != 0)
            goto done;
    }
    if (flush(d, &p, &cache, top_g, o->format, in->live, out, err) != 0)
        goto done;
    if (fflush(out) != 0 || ferror(out)) {
        err_set(err, EXIT_OUTPUT, "cannot write the output: %s", strerror(errno));
        goto done;
    }
    rc = 0;
done:
    free(norm);
    free(hist);
    free(window);
    free(p.recs);
    free(p.windows);
    free(p.win_entry);
    cache_free(&cache);
    return rc;
}
