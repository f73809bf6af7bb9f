/* Engine vocab: vocab.json {"0": "template", "1": ...} with dense keys 0..n-1. */
#ifndef CENGINE_VOCAB_H
#define CENGINE_VOCAB_H

#include "common.h"

typedef struct {
    size_t n;
    char **text; /* text[i]: template of key i (owned; NUL-terminated, and may hold NULs itself) */
    size_t *len; /* byte length of text[i] */
} Vocab;

/* Parse a vocab document of len bytes; on error fills err (EXIT_INPUT) and leaves *out empty. */
int vocab_parse(const char *json, size_t len, const char *origin, Vocab *out, Err *err);
int vocab_load(const char *path, Vocab *out, Err *err);
void vocab_free(Vocab *v);

#endif
