#include "vocab.h"

#include <stdlib.h>
#include <string.h>

#include "cJSON.h"
#include "jsonstr.h"
#include "match.h"

#define VOCAB_MAX_BYTES ((size_t)1 << 30)

void vocab_free(Vocab *v)
{
    if (!v)
        return;
    if (v->text)
        for (size_t i = 0; i < v->n; i++)
            free(v->text[i]);
    free(v->text);
    free(v->len);
    memset(v, 0, sizeof *v);
}

/* Keys are canonical decimals: "0", "17"; no sign, no leading zeros, no spaces (nor NULs). */
static int parse_key(const char *s, size_t len, size_t limit, size_t *out)
{
    size_t v = 0;
    if (len == 0 || (s[0] == '0' && len > 1))
        return -1;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        size_t d = (size_t)(s[i] - '0');
        if (v > (limit - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    if (v >= limit)
        return -1;
    *out = v;
    return 0;
}

/* The next member's key and string value, read with their lengths from json at *pos (cJSON has
 * accepted the document; its own copies end at the first NUL). want_value 0: key only. */
static int next_member(const char *json, size_t len, size_t *pos, int first, int want_value, char **key,
                       size_t *klen, char **value, size_t *vlen)
{
    size_t p = json_skip_ws(json, len, *pos);
    if (p < len && json[p] == (first ? '{' : ','))
        p = json_skip_ws(json, len, p + 1);
    int rc = json_string(json, len, &p, key, klen);
    if (rc == 0 && want_value) {
        p = json_skip_ws(json, len, p);
        p = p < len && json[p] == ':' ? json_skip_ws(json, len, p + 1) : len;
        rc = json_string(json, len, &p, value, vlen);
    }
    *pos = p;
    return rc;
}

int vocab_parse(const char *json, size_t len, const char *origin, Vocab *out, Err *err)
{
    memset(out, 0, sizeof *out);
    cJSON *root = cJSON_ParseWithLength(json, len);
    if (!root) {
        err_set(err, EXIT_INPUT, "%s: not valid JSON", origin);
        return -1;
    }
    if (!cJSON_IsObject(root)) {
        err_set(err, EXIT_INPUT, "%s: expected a JSON object {\"0\": \"template\", ...}", origin);
        cJSON_Delete(root);
        return -1;
    }
    size_t n = (size_t)cJSON_GetArraySize(root);
    if (n == 0) {
        err_set(err, EXIT_INPUT, "%s: vocab is empty", origin);
        cJSON_Delete(root);
        return -1;
    }
    out->text = calloc(n, sizeof *out->text);
    out->len = calloc(n, sizeof *out->len);
    char *key = NULL, *value = NULL;
    if (!out->text || !out->len) {
        err_set(err, EXIT_RUNTIME, "%s: out of memory", origin);
        goto fail;
    }
    out->n = n;
    size_t pos = 0;
    for (cJSON *it = root->child; it; it = it->next) {
        size_t k, klen, vlen;
        int rc = next_member(json, len, &pos, it == root->child, cJSON_IsString(it), &key, &klen, &value, &vlen);
        if (rc != 0) {
            if (rc == -2)
                err_set(err, EXIT_RUNTIME, "%s: out of memory", origin);
            else
                err_set(err, EXIT_INPUT, "%s: not valid JSON", origin);
            goto fail;
        }
        if (parse_key(key, klen, n, &k) != 0) {
            err_set(err, EXIT_INPUT, "%s: key \"%.40s\" is not an index in 0..%zu (keys must be 0..n-1)", origin, key,
                    n - 1);
            goto fail;
        }
        if (!cJSON_IsString(it)) {
            err_set(err, EXIT_INPUT, "%s: value of key %zu is not a string", origin, k);
            goto fail;
        }
        if (out->text[k]) {
            err_set(err, EXIT_INPUT, "%s: key %zu appears twice", origin, k);
            goto fail;
        }
        if (!utf8_valid(value, vlen)) {
            err_set(err, EXIT_INPUT, "%s: template %zu is not valid UTF-8", origin, k);
            goto fail;
        }
        out->text[k] = value;
        out->len[k] = vlen;
        value = NULL;
        free(key);
        key = NULL;
    }
    cJSON_Delete(root);
    return 0;
fail:
    free(key);
    free(value);
    cJSON_Delete(root);
    vocab_free(out);
    return -1;
}

int vocab_load(const char *path, Vocab *out, Err *err)
{
    char *buf;
    size_t len;
    memset(out, 0, sizeof *out);
    if (read_file(path, VOCAB_MAX_BYTES, &buf, &len, err) != 0)
        return -1;
    int rc = vocab_parse(buf, len, path, out, err);
    free(buf);
    return rc;
}
