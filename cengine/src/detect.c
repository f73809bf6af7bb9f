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

int deeplog_open(DeepLog *d, const OrtCtx *ctx, const char *dir, int threads, Err *err)
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
        model_open(&d->model, ctx, onnx, threads, err) != 0)
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

/* Run n windows (n x seq_len keys) and store the rank of next[i] in ranks[i]. */
static int run_windows(DeepLog *d, int64_t *windows, size_t n, const long *next, long *ranks,
                       double *run_seconds, Err *err)
{
    const OrtApi *api = d->model.ctx->api;
    int64_t shape[2] = {(int64_t)n, d->seq_len};
    size_t bytes = n * (size_t)d->seq_len * sizeof(int64_t);
    OrtValue *out = NULL;
    if (model_run1(&d->model, d->in_index, ONNX_TENSOR_ELEMENT_DATA_TYPE_INT64, windows, bytes, shape, 2,
                   d->out_index, &out, run_seconds, err) != 0)
        return -1;
    int rc = -1;
    OrtTensorTypeAndShapeInfo *info = NULL;
    enum ONNXTensorElementDataType et;
    size_t rank = 0;
    int64_t dims[2] = {0, 0};
    float *logits = NULL;
    if (ort_check(api, api->GetTensorTypeAndShape(out, &info), EXIT_RUNTIME, "cannot read the output", err) ||
        ort_check(api, api->GetTensorElementType(info, &et), EXIT_RUNTIME, "cannot read the output", err) ||
        ort_check(api, api->GetDimensionsCount(info, &rank), EXIT_RUNTIME, "cannot read the output", err))
        goto done;
    if (et != ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT || rank != 2 ||
        ort_check(api, api->GetDimensions(info, dims, 2), EXIT_RUNTIME, "cannot read the output", err))
        goto shape;
    if (dims[0] != (int64_t)n || dims[1] != d->vocab_size)
        goto shape;
    if (ort_check(api, api->GetTensorMutableData(out, (void **)&logits), EXIT_RUNTIME, "cannot read the output", err))
        goto done;
    for (size_t i = 0; i < n; i++)
        ranks[i] = rank_of(logits + i * (size_t)d->vocab_size, d->vocab_size, next[i]);
    rc = 0;
    goto done;
shape:
    err_set(err, EXIT_INPUT, "the model returned %s [%lld, %lld] for %zu windows; expected float32 [%zu, %ld]",
            elem_type_name((int)et), (long long)dims[0], (long long)dims[1], n, n, d->vocab_size);
done:
    if (info)
        api->ReleaseTensorTypeAndShapeInfo(info);
    api->ReleaseValue(out);
    return rc;
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

typedef struct {
    Record *recs;
    size_t nrec, caprec;
    int64_t *windows;   /* batch x seq_len */
    long *next, *ranks; /* per window: the key that followed, its rank */
    size_t *win_rec;    /* per window: its record */
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

static int flush(DeepLog *d, Pending *p, long top_g, int format, FILE *out, Err *err)
{
    if (p->nwin) {
        if (run_windows(d, p->windows, p->nwin, p->next, p->ranks, NULL, err) != 0)
            return -1;
        for (size_t w = 0; w < p->nwin; w++) {
            Record *r = &p->recs[p->win_rec[w]];
            r->rank = p->ranks[w];
            r->reason = r->rank >= top_g ? R_NOT_IN_TOP : R_IN_TOP;
        }
    }
    for (size_t i = 0; i < p->nrec; i++)
        write_record(out, format, &p->recs[i]);
    p->nrec = 0;
    p->nwin = 0;
    if (ferror(out)) {
        err_set(err, EXIT_OUTPUT, "cannot write the output: %s", strerror(errno));
        return -1;
    }
    return 0;
}

int detect_stream(DeepLog *d, const DetectOptions *o, FILE *in, FILE *out, Err *err)
{
    long top_g = o->top_g >= 0 ? o->top_g : d->meta.top_g;
    size_t L = (size_t)d->seq_len, B = (size_t)o->batch;
    Pending p = {0};
    long *hist = malloc(L * sizeof *hist); /* ring of the last L keys */
    char *line = NULL, *norm = NULL;
    size_t cap = 0, norm_cap = 0, hist_head = 0, hist_count = 0;
    unsigned long long lineno = 0;
    int rc = -1;
    size_t wbytes;
    if (size_mul(B * L, sizeof *p.windows, &wbytes) != 0 || !hist) {
        err_set(err, EXIT_RUNTIME, "out of memory");
        goto done;
    }
    p.windows = malloc(wbytes);
    p.next = malloc(B * sizeof *p.next);
    p.ranks = malloc(B * sizeof *p.ranks);
    p.win_rec = malloc(B * sizeof *p.win_rec);
    if (!p.windows || !p.next || !p.ranks || !p.win_rec) {
        err_set(err, EXIT_RUNTIME, "out of memory");
        goto done;
    }
    for (;;) {
        errno = 0;
        ssize_t got = getline(&line, &cap, in);
        if (got < 0) {
            if (ferror(in)) {
                err_set(err, errno == ENOMEM ? EXIT_RUNTIME : EXIT_INPUT, "cannot read the log: %s",
                        strerror(errno ? errno : EIO));
                goto done;
            }
            break;
        }
        lineno++;
        size_t n = (size_t)got;
        if (is_blank(line, n))
            continue;
        Record r = {lineno, -1, -1, R_UNKNOWN};
        const char *content;
        size_t clen;
        if (split_content(line, n, d->meta.header_fields, &content, &clen) == 0) {
            if (clen > norm_cap) {
                /* clean_text may grow invalid bytes into U+FFFD: up to 3 bytes each. */
                if (clen > SIZE_MAX / 3) {
                    err_set(err, EXIT_INPUT, "line %llu is too long", lineno);
                    goto done;
                }
                char *nn = realloc(norm, 3 * clen);
                if (!nn) {
                    err_set(err, EXIT_RUNTIME, "out of memory (line %llu is %zu bytes)", lineno, n);
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
                int64_t *w = p.windows + p.nwin * L;
                for (size_t i = 0; i < L; i++)
                    w[i] = hist[(hist_head + i) % L];
                p.next[p.nwin] = r.key;
                p.win_rec[p.nwin] = p.nrec;
                p.nwin++;
            }
            hist[(hist_head + hist_count) % L] = r.key;
            if (hist_count < L)
                hist_count++;
            else
                hist_head = (hist_head + 1) % L;
        }
        if (push_record(&p, r, err) != 0)
            goto done;
        if (p.nwin == B && flush(d, &p, top_g, o->format, out, err) != 0)
            goto done;
    }
    if (flush(d, &p, top_g, o->format, out, err) != 0)
        goto done;
    if (fflush(out) != 0 || ferror(out)) {
        err_set(err, EXIT_OUTPUT, "cannot write the output: %s", strerror(errno));
        goto done;
    }
    rc = 0;
done:
    free(line);
    free(norm);
    free(hist);
    free(p.recs);
    free(p.windows);
    free(p.next);
    free(p.ranks);
    free(p.win_rec);
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
    double run_s = 0.0, total_run = 0.0;
    for (int w = 0; w < 5; w++)
        if (run_windows(d, windows, B, next, ranks, &run_s, err) != 0)
            goto done;
    double t0 = now_seconds();
    for (long it = 0; it < iterations; it++) {
        if (run_windows(d, windows, B, next, ranks, &run_s, err) != 0)
            goto done;
        total_run += run_s;
    }
    double total = now_seconds() - t0;
    double per_call = total / (double)iterations, per_run = total_run / (double)iterations;
    fprintf(out,
            "{\"batch\": %zu, \"iterations\": %ld, \"engine_us_per_call\": %.3f, \"ort_run_us_per_call\": %.3f, "
            "\"overhead_pct\": %.3f, \"windows_per_s\": %.1f}\n",
            B, iterations, per_call * 1e6, per_run * 1e6, per_run > 0 ? (per_call - per_run) / per_run * 100.0 : 0.0,
            (double)B * (double)iterations / total);
    rc = 0;
done:
    free(windows);
    free(next);
    free(ranks);
    return rc;
}
