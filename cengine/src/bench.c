#include "bench.h"

#include <stdlib.h>
#include <string.h>

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
        if (deeplog_run(d, windows, B, &value, &logits, &run_s, err) != 0)
            goto done;
        for (size_t i = 0; i < B; i++)
            ranks[i] = deeplog_rank(logits + i * (size_t)d->vocab_size, d->vocab_size, next[i]);
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

#define BENCH_LOG_MAX_BYTES ((size_t)1 << 30)

int bench_match(DeepLog *d, const char *log_path, FILE *out, Err *err)
{
    char *log;
    size_t len, lines = 0, matched = 0;
    if (read_file(log_path, BENCH_LOG_MAX_BYTES, &log, &len, err) != 0)
        return -1;
    CleanBuf clean = {NULL, 0};
    int rc = -1;
    double t0 = now_seconds();
    for (size_t start = 0; start < len;) {
        const char *nl = memchr(log + start, '\n', len - start);
        size_t stop = nl ? (size_t)(nl - log) : len;
        if (!is_blank(log + start, stop - start)) {
            long key = match_line(&d->matcher, d->meta.header_fields, log + start, stop - start, &clean);
            if (key == -2) {
                err_set(err, EXIT_RUNTIME, "out of memory cleaning line %zu of %s", lines + 1, log_path);
                goto done;
            }
            lines++;
            matched += key >= 0;
        }
        start = stop + 1;
    }
    double seconds = now_seconds() - t0;
    fprintf(out, "{\"templates\": %zu, \"lines\": %zu, \"matched\": %zu, \"seconds\": %.6f, \"lines_per_s\": %.1f}\n",
            d->vocab.n, lines, matched, seconds, seconds > 0 ? (double)lines / seconds : 0.0);
    rc = 0;
done:
    free(clean.buf);
    free(log);
    return rc;
}
