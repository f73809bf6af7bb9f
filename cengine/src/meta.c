#include "meta.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cJSON.h"

#define META_MAX_BYTES ((size_t)64 << 20)

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

static int get_json(const cJSON *root, const char *key, char **out, Err *err)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!it)
        return 0;
    if (!(*out = cJSON_PrintUnformatted(it))) {
        err_set(err, EXIT_RUNTIME, "out of memory");
        return -1;
    }
    return 0;
}

int meta_parse(const char *json, size_t len, const char *origin, Meta *m, Err *err)
{
    memset(m, 0, sizeof *m);
    m->format_version = -1;
    m->vocab_size = m->seq_len = m->header_fields = m->opset = -1;
    m->sensors = m->scales = m->step = -1;
    m->top_g = 9;

    cJSON *root = cJSON_ParseWithLength(json, len);
    if (!root) {
        err_set(err, EXIT_INPUT, "%s: not valid JSON", origin);
        return -1;
    }
    if (!cJSON_IsObject(root)) {
        err_set(err, EXIT_INPUT, "%s: expected a JSON object", origin);
        goto fail;
    }
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
    if (get_int(root, "vocab_size", 1, 100000000, &m->vocab_size, origin, err) != 0 ||
        get_int(root, "seq_len", 1, 1000000, &m->seq_len, origin, err) != 0 ||
        get_int(root, "top_g", 0, 100000000, &m->top_g, origin, err) != 0 ||
        get_int(root, "header_fields", 0, 100000, &m->header_fields, origin, err) != 0 ||
        get_int(root, "opset", 1, 100000, &m->opset, origin, err) != 0 ||
        get_int(root, "sensors", 1, 100000, &m->sensors, origin, err) != 0 ||
        get_int(root, "scales", 1, 100000, &m->scales, origin, err) != 0 ||
        get_int(root, "step", 1, 100000, &m->step, origin, err) != 0)
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
