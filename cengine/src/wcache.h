/* Logits rows of windows, keyed by the window's keys. Logs repeat the same windows over and over;
 * each distinct window is run once (ONNX Runtime's rows do not depend on the rest of the batch:
 * measured, and checked by the tests against the reference's chunking). Disabled, every window
 * gets an entry of its own and the batches are exactly the reference's. */
#ifndef CENGINE_WCACHE_H
#define CENGINE_WCACHE_H

#include "common.h"

typedef struct {
    int enabled;
    size_t L, V, cap, n;
    int64_t *keys;    /* cap x L */
    float *rows;      /* cap x V, valid once the entry's batch has run */
    uint32_t *slots;  /* open addressing: entry + 1, 0 = free */
    size_t nslots;    /* power of two >= 2 * cap */
} WindowCache;

/* Room for up to 64 MiB of rows and keys, at least one batch; enabled 0: entries are never shared. */
int cache_init(WindowCache *c, int enabled, size_t L, size_t V, size_t batch, Err *err);
void cache_free(WindowCache *c);
void cache_clear(WindowCache *c);

/* Entry of window w (L keys): an existing one (*fresh = 0) or a new one (*fresh = 1); -1 when full. */
long cache_entry(WindowCache *c, const int64_t *w, int *fresh);

#endif
