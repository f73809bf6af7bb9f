/* DeepLog detection over raw log lines: match each line to a template, slide a window of the
 * last seq_len template keys, and flag the next key when it is not among the top-g logits. */
#ifndef CENGINE_DETECT_H
#define CENGINE_DETECT_H

#include <stdio.h>

#include "deeplog.h"
#include "reader.h"

enum { FORMAT_JSONL = 0, FORMAT_TEXT = 1 };

typedef struct {
    long top_g;    /* -1: from the metadata */
    int format;    /* FORMAT_* */
    long batch;    /* windows per Run */
    int cache;     /* run each distinct window once (1) or every window (0) */
} DetectOptions;

/* Read lines from in, write one verdict per non-blank line to out. */
int detect_stream(DeepLog *d, const DetectOptions *o, LineReader *in, FILE *out, Err *err);

#endif
