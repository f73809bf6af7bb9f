#include "detect.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

enum { R_UNKNOWN, R_WARMUP, R_IN_TOP, R_NOT_IN_TOP };
static const char *const REASON[] = {"unknown_template", "warmup", "in_top_g", "not_in_top_g"};

typedef struct {
    unsigned long long line;
    long key;    /* -1: unmatched */
    long rank;   /* -1: none */
    long entry;  /* cache entry of its window, -1: no window */
    int reason;
} Record;

void deeplog_close(DeepLog *d)
{
    if (!d)
        return;
    model_close(&d->model);
    matcher_free(&d->matcher);
    vocab_free(&d->vocab);
    meta_free(&d->meta);
}

static long find_io(const IoSpec *s, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(s[i].name, name) == 0)
            return (long)i;
    return -1;
}

int deeplog_open(DeepLog *d, const OrtCtx *ctx, const char *dir, const SessionConfig *cfg, Err *err)
{
    memset(d, 0, sizeof *d);
    if (!is_dir(dir)) {
        err_set(err, EXIT_INPUT, "model directory %s does not exist or is not a directory", dir);
        return -1;
    }
    char *onnx = path_join(dir, "deeplog.onnx");
    char *meta = path_join(dir, "deeplog.onnx.meta.json");
    char *vocab = path_join(dir, "vocab.json");
    int rc = -1;
    if (!onnx || !meta || !vocab) {
        err_set(err, EXIT_RUNTIME, "out of memory");
        goto done;
    }
    if (meta_load(meta, &d->meta, err) != 0 || meta_require_deeplog(&d->meta, meta, err) != 0 ||
        vocab_load(vocab, &d->vocab, err) != 0 || matcher_build(&d->matcher, &d->vocab, err) != 0 ||
        model_open(&d->model, ctx, onnx, cfg, err) != 0)
        goto done;
    d->seq_len = d->meta.seq_len;
    d->vocab_size = d->meta.vocab_size;
    if ((long)d->vocab.n != d->vocab_size) {
        err_set(err, EXIT_INPUT, "%s has %zu templates but the metadata says vocab_size %ld", vocab, d->vocab.n,
                d->vocab_size);
        goto done;
    }
    long in = find_io(d->model.in, d->model.n_in, d->meta.input_name);
    long out = find_io(d->model.out, d->model.n_out, d->meta.output_name);
    if (in < 0 || out < 0) {
        err_set(err, EXIT_INPUT, "%s has no %s named \"%.100s\" (as the metadata says)", onnx, in < 0 ? "input" : "output",
                in < 0 ? d->meta.input_name : d->meta.output_name);
        goto done;
    }
    const IoSpec *is = &d->model.in[in], *os = &d->model.out[out];
    if (d->model.n_in != 1) {
        err_set(err, EXIT_INPUT, "%s has %zu inputs; a DeepLog model has one", onnx, d->model.n_in);
        goto done;
    }
    if (!is->is_tensor || is->elem != ONNX_TENSOR_ELEMENT_DATA_TYPE_INT64 || is->rank != 2) {
        err_set(err, EXIT_INPUT, "%s input \"%s\" must be an int64 tensor [batch, sequence]", onnx, is->name);
        goto done;
    }
    if (is->dims[1] > 0 && is->dims[1] != d->seq_len) {
        err_set(err, EXIT_INPUT, "%s takes sequences of %lld keys but the metadata says seq_len %ld", onnx,
                (long long)is->dims[1], d->seq_len);
        goto done;
    }
    if (!os->is_tensor || os->elem != ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT || os->rank != 2) {
        err_set(err, EXIT_INPUT, "%s output \"%s\" must be a float32 tensor [batch, vocab]", onnx, os->name);
        goto done;
    }
    if (os->dims[1] > 0 && os->dims[1] != d->vocab_size) {
        err_set(err, EXIT_INPUT, "%s outputs %lld logits but the vocab has %ld templates", onnx,
                (long long)os->dims[1], d->vocab_size);
        goto done;
    }
    d->in_index = (size_t)in;
    d->out_index = (size_t)out;
    rc = 0;
done:
    free(onnx);
    free(meta);
    free(vocab);
    if (rc != 0)
        deeplog_close(d);
    return rc;
}

/* rank of key k in row: logits strictly greater, plus equal ones at a lower index. */
static long rank_of(const float *row, long n, long k)
{
    float a = row[k];
    long r = 0;
    for (long j = 0; j < n; j++)
        r += (row[j] > a) | ((row[j] == a) & (j < k));
    return r;
}

/* Run n windows (n x seq_len keys). On success *value holds the output (caller releases it) and
 * *logits its n x vocab_size floats, checked for type and shape. */
static int run_logits(DeepLog *d, int64_t *windows, size_t n, OrtValue **value, const float **logits,
                      double *run_seconds, Err *err)
{
    const OrtApi *api = d->model.ctx->api;
    int64_t shape[2] = {(int64_t)n, d->seq_len};
    size_t bytes = n * (size_t)d->seq_len * sizeof(int64_t);
    OrtValue *out = NULL;
    if (model_run1(&d->model, d->in_index, ONNX_TENSOR_ELEMENT_DATA_TYPE_INT64, windows, bytes, shape, 2,
                   d->out_index, &out, run_seconds, err) != 0)
        return -1;
    OrtTensorTypeAndShapeInfo *info = NULL;
    enum ONNXTensorElementDataType et = ONNX_TENSOR_ELEMENT_DATA_TYPE_UNDEFINED;
    size_t rank = 0;
    int64_t dims[2] = {0, 0};
    void *data = NULL;
    if (ort_check(api, api->GetTensorTypeAndShape(out, &info), EXIT_RUNTIME, "cannot read the output", err) ||
        ort_check(api, api->GetTensorElementType(info, &et), EXIT_RUNTIME, "cannot read the output", err) ||
        ort_check(api, api->GetDimensionsCount(info, &rank), EXIT_RUNTIME, "cannot read the output", err))
        goto fail;
    if (et != ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT || rank != 2 ||
        ort_check(api, api->GetDimensions(info, dims, 2), EXIT_RUNTIME, "cannot read the output", err) ||
        dims[0] != (int64_t)n || dims[1] != d->vocab_size) {
        err_set(err, EXIT_INPUT, "the model returned %s of rank %zu [%lld, %lld] for %zu windows; expected float32 [%zu, %ld]",
                elem_type_name((int)et), rank, (long long)dims[0], (long long)dims[1], n, n, d->vocab_size);
        goto fail;
    }
    if (ort_check(api, api->GetTensorMutableData(out, &data), EXIT_RUNTIME, "cannot read the output", err))
        goto fail;
    api->ReleaseTensorTypeAndShapeInfo(info);
    *value = out;
    *logits = data;
    return 0;
fail:
    if (info)
        api->ReleaseTensorTypeAndShapeInfo(info);
    api->ReleaseValue(out);
    return -1;
}

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

/* Logits rows of windows, keyed by the window's keys. Logs repeat the same windows over and over;
 * each distinct window is run once (ONNX Runtime's rows do not depend on the rest of the batch:
 * measured, and checked by the tests against the reference's chunking). Disabled, every window
 * gets an entry of its own and the batches are exactly the reference's. */
typedef struct {
    int enabled;
    size_t L, V, cap, n;
    int64_t *keys;    /* cap x L */
    float *rows;      /* cap x V, valid once the entry's batch has run */
    uint32_t *slots;  /* open addressing: entry + 1, 0 = free */
    size_t nslots;    /* power of two >= 2 * cap */
} WindowCache;

static void cache_free(WindowCache *c)
{
    free(c->keys);
    free(c->rows);
    free(c->slots);
}

static int cache_init(WindowCache *c, int enabled, size_t L, size_t V, size_t batch, Err *err)
{
    memset(c, 0, sizeof *c);
    c->enabled = enabled;
    c->L = L;
    c->V = V;
    /* Up to 64 MiB of rows and keys, at least one batch, at most 2^20 windows. */
    size_t per = V * sizeof(float) + L * sizeof(int64_t);
    size_t cap = enabled ? ((size_t)64 << 20) / per : batch;
    if (cap > ((size_t)1 << 20))
        cap = (size_t)1 << 20;
    if (cap < batch)
        cap = batch;
    c->cap = cap;
    size_t kb, rb;
    if (size_mul(cap, L * sizeof(int64_t), &kb) || size_mul(cap, V * sizeof(float), &rb))
        goto oom;
    c->keys = malloc(kb ? kb : 1);
    c->rows = malloc(rb ? rb : 1);
    if (!c->keys || !c->rows)
        goto oom;
    if (enabled) {
        for (c->nslots = 1; c->nslots < 2 * cap; c->nslots <<= 1)
            ;
        c->slots = calloc(c->nslots, sizeof *c->slots);
        if (!c->slots)
            goto oom;
    }
    return 0;
oom:
    cache_free(c);
    err_set(err, EXIT_RUNTIME, "out of memory for %zu windows", cap);
    return -1;
}

static void cache_clear(WindowCache *c)
{
    c->n = 0;
    if (c->enabled)
        memset(c->slots, 0, c->nslots * sizeof *c->slots);
}

static uint64_t hash_window(const int64_t *w, size_t L)
{
    uint64_t h = 0x9E3779B97F4A7C15ULL;
    for (size_t i = 0; i < L; i++) {
        h ^= (uint64_t)w[i] + 0x9E3779B97F4A7C15ULL + (h << 6) + (h >> 2);
        h *= 0xFF51AFD7ED558CCDULL;
    }
    return h ^ (h >> 33);
}

/* Entry of window w: an existing one (*fresh = 0) or a new one (*fresh = 1); -1 when full. */
static long cache_entry(WindowCache *c, const int64_t *w, int *fresh)
{
    size_t slot = 0;
    if (c->enabled) {
        slot = (size_t)hash_window(w, c->L) & (c->nslots - 1);
        for (; c->slots[slot]; slot = (slot + 1) & (c->nslots - 1)) {
            size_t e = c->slots[slot] - 1;
            if (memcmp(c->keys + e * c->L, w, c->L * sizeof *w) == 0) {
                *fresh = 0;
                return (long)e;
            }
        }
    }
    if (c->n == c->cap)
        return -1;
    size_t e = c->n++;
    memcpy(c->keys + e * c->L, w, c->L * sizeof *w);
    if (c->enabled)
        c->slots[slot] = (uint32_t)(e + 1);
    *fresh = 1;
    return (long)e;
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
        if (run_logits(d, p->windows, p->nwin, &value, &logits, NULL, err) != 0)
            return -1;
        for (size_t w = 0; w < p->nwin; w++)
            memcpy(c->rows + p->win_entry[w] * V, logits + w * V, V * sizeof *logits);
        d->model.ctx->api->ReleaseValue(value);
    }
    for (size_t i = 0; i < p->nrec; i++) {
        Record *r = &p->recs[i];
        if (r->entry >= 0) {
            r->rank = rank_of(c->rows + (size_t)r->entry * V, d->vocab_size, r->key);
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

int deeplog_bench(DeepLog *d, long iterations, long batch, FILE *out, Err *err)
{
    size_t L = (size_t)d->seq_len, B = (size_t)batch;
    int64_t *windows = malloc(B * L * sizeof *windows);
    long *next = malloc(B * sizeof *next), *ranks = malloc(B * sizeof *ranks);
    int rc = -1;
    if (!windows || !next || !ranks) {
        err_set(err, EXIT_RUNTIME, "out of memory");
        goto done;
    }
    /* Deterministic keys (a small LCG) so every run times the same work. */
    unsigned long long s = 88172645463325252ULL;
    for (size_t i = 0; i < B * L + B; i++) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        long k = (long)((s >> 33) % (unsigned long long)d->vocab_size);
        if (i < B * L)
            windows[i] = k;
        else
            next[i - B * L] = k;
    }
    /* One engine step = what detection does per batch: tensor, Run, output checks, ranks. */
    double run_s = 0.0, total_run = 0.0, t0 = 0.0;
    for (long it = -5; it < iterations; it++) { /* 5 warm-up calls */
        if (it == 0) {
            total_run = 0.0;
            t0 = now_seconds();
        }
        OrtValue *value;
        const float *logits;
        if (run_logits(d, windows, B, &value, &logits, &run_s, err) != 0)
            goto done;
        for (size_t i = 0; i < B; i++)
            ranks[i] = rank_of(logits + i * (size_t)d->vocab_size, d->vocab_size, next[i]);
        d->model.ctx->api->ReleaseValue(value);
        total_run += run_s;
    }
    double total = now_seconds() - t0;
    double per_call = total / (double)iterations, per_run = total_run / (double)iterations;
    fprintf(out,
            "{\"batch\": %zu, \"iterations\": %ld, \"engine_us_per_call\": %.3f, \"ort_run_us_per_call\": %.3f, "
            "\"overhead_pct\": %.3f, \"windows_per_s\": %.1f, \"checksum\": %ld}\n",
            B, iterations, per_call * 1e6, per_run * 1e6, per_run > 0 ? (per_call - per_run) / per_run * 100.0 : 0.0,
            (double)B * (double)iterations / total, ranks[0]);
    rc = 0;
done:
    free(windows);
    free(next);
    free(ranks);
    return rc;
}
