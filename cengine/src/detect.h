/* DeepLog detection over raw log lines: match each line to a template, slide a window of the
 * last seq_len template keys, and flag the next key when it is not among the top-g logits. */
#ifndef CENGINE_DETECT_H
#define CENGINE_DETECT_H

#include <stdio.h>

#include "match.h"
#include "meta.h"
#include "model.h"
#include "reader.h"
#include "vocab.h"

typedef struct {
    Meta meta;
    Vocab vocab;
    Matcher matcher;
    Model model;
    size_t in_index, out_index;
    long seq_len, vocab_size;
} DeepLog;

enum { FORMAT_JSONL = 0, FORMAT_TEXT = 1 };

typedef struct {
    long top_g;    /* -1: from the metadata */
    int format;    /* FORMAT_* */
    long batch;    /* windows per Run */
    int cache;     /* run each distinct window once (1) or every window (0) */
} DetectOptions;

/* Load MODEL_DIR/{deeplog.onnx, deeplog.onnx.meta.json, vocab.json} and cross-check them. */
int deeplog_open(DeepLog *d, const OrtCtx *ctx, const char *dir, const SessionConfig *cfg, Err *err);
void deeplog_close(DeepLog *d);

/* Read lines from in, write one verdict per non-blank line to out. */
int detect_stream(DeepLog *d, const DetectOptions *o, LineReader *in, FILE *out, Err *err);

/* Time iterations Runs of batch windows: the whole engine batch step vs OrtApi::Run alone.
 * Prints one JSON object to out. */
int deeplog_bench(DeepLog *d, long iterations, long batch, FILE *out, Err *err);

#endif
