#include "common.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

void err_set(Err *err, int code, const char *fmt, ...)
{
    va_list ap;
    if (!err)
        return;
    err->code = code;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    /* Keep it one line: messages from ONNX Runtime may span several. */
    for (char *p = err->msg; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
}

void err_print(const Err *err)
{
    fprintf(stderr, "inference_engine: %s\n", err->msg[0] ? err->msg : "unknown error");
}

int read_file(const char *path, size_t max_bytes, char **out, size_t *out_len, Err *err)
{
    struct stat st;
    FILE *f = fopen(path, "rb");
    if (!f) {
        err_set(err, EXIT_INPUT, "cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        err_set(err, EXIT_INPUT, "%s is not a regular file", path);
        fclose(f);
        return -1;
    }
    if ((unsigned long long)st.st_size > max_bytes) {
        err_set(err, EXIT_INPUT, "%s is too large (%lld bytes, limit %zu)", path, (long long)st.st_size, max_bytes);
        fclose(f);
        return -1;
    }
    size_t n = (size_t)st.st_size;
    char *buf = malloc(n + 1);
    if (!buf) {
        err_set(err, EXIT_RUNTIME, "out of memory reading %s", path);
        fclose(f);
        return -1;
    }
    size_t got = n ? fread(buf, 1, n, f) : 0;
    int bad = ferror(f);
    fclose(f);
    if (bad || got != n) {
        err_set(err, EXIT_INPUT, "cannot read %s", path);
        free(buf);
        return -1;
    }
    buf[n] = '\0';
    *out = buf;
    *out_len = n;
    return 0;
}

int size_mul(size_t a, size_t b, size_t *out)
{
    if (a != 0 && b > SIZE_MAX / a)
        return -1;
    *out = a * b;
    return 0;
}

void *grow_array(void *items, size_t *cap, size_t need, size_t size, size_t first)
{
    size_t want = *cap ? *cap : first, bytes;
    while (want < need) {
        if (want > SIZE_MAX / 2)
            return NULL;
        want *= 2;
    }
    if (size_mul(want, size, &bytes) != 0)
        return NULL;
    void *p = realloc(items, bytes);
    if (p)
        *cap = want;
    return p;
}

int parse_long(const char *s, long lo, long hi, long *out)
{
    char *end = NULL;
    if (!s || !*s || (*s != '-' && (*s < '0' || *s > '9')))
        return -1;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

char *path_join(const char *dir, const char *name)
{
    size_t a = strlen(dir), b = strlen(name);
    char *p = malloc(a + b + 2);
    if (!p)
        return NULL;
    memcpy(p, dir, a);
    size_t k = a;
    if (k && p[k - 1] != '/')
        p[k++] = '/';
    memcpy(p + k, name, b + 1);
    return p;
}

int is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}
