/* The engine's own timing modes. */
#ifndef CENGINE_BENCH_H
#define CENGINE_BENCH_H

#include <stdio.h>

#include "deeplog.h"

/* Time iterations Runs of batch windows: the whole engine batch step vs OrtApi::Run alone.
 * Prints one JSON object to out. */
int deeplog_bench(DeepLog *d, long iterations, long batch, FILE *out, Err *err);

/* Time template matching (header cut, cleaning, matching: detection's per-line work before any
 * window) of every line of the file at log_path, read into memory first. Prints one JSON object. */
int bench_match(DeepLog *d, const char *log_path, FILE *out, Err *err);

#endif
