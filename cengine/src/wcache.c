#include "wcache.h"

#include <stdlib.h>
#include <string.h>

void cache_free(WindowCache *c)
{
    free(c->keys);
    free(c->rows);
    free(c->slots);
}

int cache_init(WindowCache *c, int enabled, size_t L, size_t V, size_t batch, Err *err)
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

void cache_clear(WindowCache *c)
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

long cache_entry(WindowCache *c, const int64_t *w, int *fresh)
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
