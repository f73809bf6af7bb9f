/* A DeepLog model directory: deeplog.onnx, its metadata and the engine vocab, loaded and
 * cross-checked, with the Run and rank steps detection and the benchmark share. */
#ifndef CENGINE_DEEPLOG_H
#define CENGINE_DEEPLOG_H

#include <stdio.h>

#include "match.h"
#include "meta.h"
#include "model.h"
#include "vocab.h"

typedef struct {
    Meta meta;
    Vocab vocab;
    Matcher matcher;
    Model model;
    size_t in_index, out_index;
    long seq_len, vocab_size;
} DeepLog;

/* Load MODEL_DIR/{deeplog.onnx, deeplog.onnx.meta.json, vocab.json} and cross-check them. */
int deeplog_open(DeepLog *d, const OrtCtx *ctx, const char *dir, const SessionConfig *cfg, Err *err);
/* The same without the model: the metadata, the vocab and its matcher only. */
int deeplog_open_templates(DeepLog *d, const char *dir, Err *err);
void deeplog_close(DeepLog *d);

/* Run n windows (n x seq_len keys). On success *value holds the output (caller releases it) and
 * *logits its n x vocab_size floats, checked for type and shape. */
int deeplog_run(DeepLog *d, int64_t *windows, size_t n, OrtValue **value, const float **logits, double *run_seconds,
                Err *err);

/* Rank of key k in a row of n logits: logits strictly greater, plus equal ones at a lower index. */
long deeplog_rank(const float *row, long n, long k);

#endif
