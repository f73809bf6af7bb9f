#include "meta.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bounds.h"
#include "cJSON.h"
#include "match.h"

#define META_MAX_BYTES ((size_t)64 << 20)
#define META_MAX_DEPTH 64 /* objects and arrays inside each other; converter/metafile.py has the same */

/* The end of the JSON number at s[i] by JSON's grammar, or 0 if there is none (cJSON hands any run of
 * [0-9+-.eE] to strtod, so it takes "01" and "1."). */
static size_t number_end(const char *s, size_t n, size_t i)
{
#define DIGIT(k) ((k) < n && s[k] >= '0' && s[k] <= '9')
    if (i < n && s[i] == '-')
        i++;
    if (!DIGIT(i))
        return 0;
    if (s[i] == '0')
        i++;
    else
        while (DIGIT(i))
            i++;
    if (i < n && s[i] == '.') {
        if (!DIGIT(i + 1))
            return 0;
        for (i++; DIGIT(i); i++)
            ;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            i++;
        if (!DIGIT(i))
            return 0;
        while (DIGIT(i))
            i++;
    }
    if (i < n && strchr("0123456789.eE+-", s[i]) && s[i] != '\0')
        return 0;
    return i;
#undef DIGIT
}

/* What makes the text something other than strict JSON in UTF-8, beyond what cJSON checks, so the engine
 * and the Python reader (converter/metafile.py) give every file the same verdict: cJSON skips a BOM and
 * any byte below 0x21 between tokens, keeps control characters inside strings, and ends a string at
 * "\u0000" (a key "top_g\u0000x" would read as "top_g"). NULL when there is nothing. */
static const char *text_problem(const char *s, size_t n)
{
    if (!utf8_valid(s, n))
        return "not valid UTF-8";
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"') {
            for (i++; i < n && s[i] != '"'; i++) {
                if ((unsigned char)s[i] < 0x20)
                    return "a control character inside a string";
                if (s[i] == '\\') {
                    if (i + 5 < n && s[i + 1] == 'u' && memcmp(s + i + 2, "0000", 4) == 0)
                        return "a NUL character (\\u0000) inside a string";
                    i++;
                }
            }
            i++;
        } else if (c == '-' || (c >= '0' && c <= '9')) {
            if (!(i = number_end(s, n, i)))
                return "a number JSON does not allow";
        } else if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c >= 0x80) {
            return "a byte that is not JSON outside the strings";
        } else {
            i++;
        }
    }
    return NULL;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Duplicate keys in any object (cJSON keeps them all and finds the first; Python keeps the last) and
 * nesting deeper than META_MAX_DEPTH. 0, or -1 with err set. */
static int tree_check(const cJSON *it, int depth, const char *origin, Err *err)
{
    if (!cJSON_IsObject(it) && !cJSON_IsArray(it))
        return 0;
    if (depth > META_MAX_DEPTH) {
        err_set(err, EXIT_INPUT, "%s: nested deeper than %d levels", origin, META_MAX_DEPTH);
        return -1;
    }
    size_t n = 0;
    for (const cJSON *c = it->child; c; c = c->next)
        n++;
    if (cJSON_IsObject(it) && n > 1) {
        const char **keys = malloc(n * sizeof *keys);
        if (!keys) {
            err_set(err, EXIT_RUNTIME, "out of memory");
            return -1;
        }
        size_t k = 0;
        for (const cJSON *c = it->child; c; c = c->next)
            keys[k++] = c->string ? c->string : "";
        qsort(keys, n, sizeof *keys, cmp_str);
        for (k = 1; k < n && strcmp(keys[k - 1], keys[k]) != 0; k++)
            ;
        if (k < n)
            err_set(err, EXIT_INPUT, "%s: duplicate key \"%.100s\"", origin, keys[k]);
        free(keys);
        if (k < n)
            return -1;
    }
    for (const cJSON *c = it->child; c; c = c->next)
        if (tree_check(c, depth + 1, origin, err) != 0)
            return -1;
    return 0;
}

void meta_free(Meta *m)
{
    if (!m)
        return;
    free(m->model_type);
    free(m->input_name);
    free(m->output_name);
    free(m->log_format);
    free(m->dynamic_axes);
    free(m->export_rec);
    free(m->versions);
    free(m->model_config);
    memset(m, 0, sizeof *m);
}

static char *dup_str(const char *s)
{
    size_t n = strlen(s);
    char *p = malloc(n + 1);
    if (p)
        memcpy(p, s, n + 1);
    return p;
}

/* Optional integer key in [lo, hi]: absent -> *out untouched, 0; wrong type/range -> -1. */
static int get_int(const cJSON *root, const char *key, long lo, long hi, long *out, const char *origin, Err *err)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!it || cJSON_IsNull(it))
        return 0;
    double v = it->valuedouble;
    if (!cJSON_IsNumber(it) || !isfinite(v) || v != floor(v) || v < (double)lo || v > (double)hi) {
        err_set(err, EXIT_INPUT, "%s: \"%s\" must be an integer in %ld..%ld", origin, key, lo, hi);
        return -1;
    }
    *out = (long)v;
    return 0;
}

/* Optional string key: absent -> *out stays NULL. */
static int get_str(const cJSON *root, const char *key, char **out, const char *origin, Err *err)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!it || cJSON_IsNull(it))
        return 0;
    if (!cJSON_IsString(it) || !it->valuestring) {
        err_set(err, EXIT_INPUT, "%s: \"%s\" must be a string", origin, key);
        return -1;
    }
    if (!(*out = dup_str(it->valuestring))) {
        err_set(err, EXIT_RUNTIME, "out of memory");
        return -1;
    }
    return 0;
}

/* A growable string for printing JSON. */
typedef struct {
    char *s;
    size_t n, cap;
    int oom;
} Buf;

static void put(Buf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n + 1)
            cap *= 2;
        char *p = realloc(b->s, cap);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->s = p;
        b->cap = cap;
    }
    memcpy(b->s + b->n, s, n);
    b->n += n;
    b->s[b->n] = '\0';
}

static void put_str(Buf *b, const char *s)
{
    put(b, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char esc[8];
        if (*p == '"' || *p == '\\') {
            esc[0] = '\\';
            esc[1] = (char)*p;
            put(b, esc, 2);
        } else if (*p < 0x20) {
            snprintf(esc, sizeof esc, "\\u%04x", *p);
            put(b, esc, 6);
        } else {
            put(b, (const char *)p, 1);
        }
    }
    put(b, "\"", 1);
}

/* Numbers in their shortest form that reads back to the same double (as Python prints them):
 * cJSON's own printer rounds some doubles, and info mode must show the metadata as written. */
static void put_num(Buf *b, double v)
{
    char tmp[40];
    if (!isfinite(v)) {
        put(b, "null", 4);
        return;
    }
    if (v == floor(v) && fabs(v) < 9007199254740992.0) {
        snprintf(tmp, sizeof tmp, "%.0f", v);
    } else {
        for (int prec = 15; prec <= 17; prec++) {
            snprintf(tmp, sizeof tmp, "%.*g", prec, v);
            if (strtod(tmp, NULL) == v)
                break;
        }
    }
    put(b, tmp, strlen(tmp));
}

static void put_json(Buf *b, const cJSON *it)
{
    if (cJSON_IsObject(it) || cJSON_IsArray(it)) {
        int obj = cJSON_IsObject(it);
        put(b, obj ? "{" : "[", 1);
        for (const cJSON *c = it->child; c; c = c->next) {
            if (obj) {
                put_str(b, c->string ? c->string : "");
                put(b, ": ", 2);
            }
            put_json(b, c);
            if (c->next)
                put(b, ", ", 2);
        }
        put(b, obj ? "}" : "]", 1);
    } else if (cJSON_IsString(it)) {
        put_str(b, it->valuestring ? it->valuestring : "");
    } else if (cJSON_IsNumber(it)) {
        put_num(b, it->valuedouble);
    } else if (cJSON_IsTrue(it)) {
        put(b, "true", 4);
    } else if (cJSON_IsFalse(it)) {
        put(b, "false", 5);
    } else {
        put(b, "null", 4);
    }
}

static int get_json(const cJSON *root, const char *key, char **out, Err *err)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!it)
        return 0;
    Buf b = {0};
    put_json(&b, it);
    if (b.oom || !b.s) {
        free(b.s);
        err_set(err, EXIT_RUNTIME, "out of memory");
        return -1;
    }
    *out = b.s;
    return 0;
}

int meta_parse(const char *json, size_t len, const char *origin, Meta *m, Err *err)
{
    memset(m, 0, sizeof *m);
    m->format_version = -1;
    m->vocab_size = m->seq_len = m->header_fields = m->opset = -1;
    m->sensors = m->scales = m->step = -1;
    m->top_g = 9;

    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(json, len, &end, 0);
    size_t rest = root ? (size_t)(end - json) : len;
    while (rest < len && strchr(" \t\n\r", json[rest]) && json[rest] != '\0')
        rest++;
    if (!root || rest < len) {
        err_set(err, EXIT_INPUT, "%s: not valid JSON%s", origin, root ? " (text after the value)" : "");
        goto fail;
    }
    const char *problem = text_problem(json, len);
    if (problem) {
        err_set(err, EXIT_INPUT, "%s: not valid JSON (%s)", origin, problem);
        goto fail;
    }
    if (!cJSON_IsObject(root)) {
        err_set(err, EXIT_INPUT, "%s: expected a JSON object", origin);
        goto fail;
    }
    if (tree_check(root, 1, origin, err) != 0)
        goto fail;
    if (get_int(root, "format_version", 0, 1000000, &m->format_version, origin, err) != 0)
        goto fail;
    if (m->format_version != 1) {
        if (m->format_version < 0)
            err_set(err, EXIT_INPUT, "%s: missing \"format_version\"", origin);
        else
            err_set(err, EXIT_INPUT, "%s: format_version %ld is not supported (expected 1)", origin, m->format_version);
        goto fail;
    }
    if (get_str(root, "model_type", &m->model_type, origin, err) != 0 ||
        get_str(root, "input_name", &m->input_name, origin, err) != 0 ||
        get_str(root, "output_name", &m->output_name, origin, err) != 0 ||
        get_str(root, "log_format", &m->log_format, origin, err) != 0)
        goto fail;
    if (!m->model_type || !m->input_name || !m->output_name) {
        err_set(err, EXIT_INPUT, "%s: missing \"%s\"", origin,
                !m->model_type ? "model_type" : !m->input_name ? "input_name" : "output_name");
        goto fail;
    }
#define BOUNDED(key, name, field) get_int(root, key, BOUND_##name##_MIN, BOUND_##name##_MAX, &m->field, origin, err)
    if (BOUNDED("vocab_size", VOCAB_SIZE, vocab_size) != 0 || BOUNDED("seq_len", SEQ_LEN, seq_len) != 0 ||
        BOUNDED("top_g", TOP_G, top_g) != 0 || BOUNDED("header_fields", HEADER_FIELDS, header_fields) != 0 ||
        BOUNDED("opset", OPSET, opset) != 0 || BOUNDED("sensors", SENSORS, sensors) != 0 ||
        BOUNDED("scales", SCALES, scales) != 0 || BOUNDED("step", STEP, step) != 0)
        goto fail;
    if (get_json(root, "dynamic_axes", &m->dynamic_axes, err) != 0 ||
        get_json(root, "export", &m->export_rec, err) != 0 ||
        get_json(root, "versions", &m->versions, err) != 0 ||
        get_json(root, "model_config", &m->model_config, err) != 0)
        goto fail;
    cJSON_Delete(root);
    return 0;
fail:
    cJSON_Delete(root);
    meta_free(m);
    return -1;
}

int meta_require_deeplog(const Meta *m, const char *origin, Err *err)
{
    if (strcmp(m->model_type, "deeplog") != 0) {
        err_set(err, EXIT_INPUT, "%s: model_type is \"%.40s\", expected \"deeplog\"", origin, m->model_type);
        return -1;
    }
    const char *missing = m->vocab_size < 0 ? "vocab_size" : m->seq_len < 0 ? "seq_len"
                        : m->header_fields < 0 ? "header_fields" : NULL;
    if (missing) {
        err_set(err, EXIT_INPUT, "%s: missing \"%s\"", origin, missing);
        return -1;
    }
    return 0;
}

int meta_load(const char *path, Meta *out, Err *err)
{
    char *buf;
    size_t len;
    memset(out, 0, sizeof *out);
    if (read_file(path, META_MAX_BYTES, &buf, &len, err) != 0)
        return -1;
    int rc = meta_parse(buf, len, path, out, err);
    free(buf);
    return rc;
}
