/* JSON string literals with their length. cJSON hands strings on NUL-terminated, so a "\u0000"
 * (legal JSON, and what Python writes for a NUL in a template) would cut the string short; these
 * read literals again, byte for byte, from text cJSON has already accepted. */
#ifndef CENGINE_JSONSTR_H
#define CENGINE_JSONSTR_H

#include <stddef.h>

/* The position of the first non-whitespace byte at or after pos (n if none). */
size_t json_skip_ws(const char *s, size_t n, size_t pos);

/* Decode the string literal at s[*pos] (its opening quote) into a fresh buffer of *len bytes plus
 * a terminating NUL (the bytes may hold NULs of their own); *pos moves past the closing quote.
 * Escapes as cJSON reads them: \" \\ \/ \b \f \n \r \t and \uXXXX, surrogate pairs joined, a
 * lone surrogate refused. Returns 0, -1 if there is no well-formed literal at *pos, -2 when out
 * of memory. */
int json_string(const char *s, size_t n, size_t *pos, char **out, size_t *len);

#endif
