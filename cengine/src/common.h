/* Shared error reporting and small helpers for the engine's units. */
#ifndef CENGINE_COMMON_H
#define CENGINE_COMMON_H

#include <stddef.h>
#include <stdint.h>

/* Process exit codes besides 0; documented in the usage text (src/main.c). */
enum {
    EXIT_USAGE = 2,   /* bad or missing command-line arguments */
    EXIT_INPUT = 3,   /* bad model, metadata, vocab, NPY or log input */
    EXIT_RUNTIME = 4, /* ONNX Runtime missing, too old, or failing to run */
    EXIT_OUTPUT = 5   /* cannot write the output */
};

/* An error: an exit code and one line of text (no newline). */
typedef struct {
    int code;
    char msg[1024];
} Err;

void err_set(Err *err, int code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* Print "inference_engine: <msg>" on stderr as exactly one line. */
void err_print(const Err *err);

/* Read a whole regular file (at most max_bytes) into a NUL-terminated buffer. */
int read_file(const char *path, size_t max_bytes, char **out, size_t *out_len, Err *err);

/* Multiply/add sizes, returning -1 on overflow. */
int size_mul(size_t a, size_t b, size_t *out);

/* items (an array of *cap elements of size bytes) reallocated to hold at least need, the capacity
 * doubled from first as often as that takes; NULL on overflow or out of memory (items is then
 * still valid and *cap unchanged). */
void *grow_array(void *items, size_t *cap, size_t need, size_t size, size_t first);

/* Strict decimal parse of a whole string into [lo, hi]. */
int parse_long(const char *s, long lo, long hi, long *out);

/* Join a directory and a file name into a freshly allocated string (NULL on OOM). */
char *path_join(const char *dir, const char *name);

/* 1 if path is an existing directory, 0 otherwise. */
int is_dir(const char *path);

/* Monotonic clock in seconds. */
double now_seconds(void);

#endif
