#include "vocab.h"

#include <stdlib.h>
#include <string.h>

#include "cJSON.h"
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

/* Keys are canonical decimals: "0", "17"; no sign, no leading zeros, no spaces. */
static int parse_key(const char *s, size_t limit, size_t *out)
{
    size_t v = 0;
    if (!s || !*s || (s[0] == '0' && s[1]))
        return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        size_t d = (size_t)(*s - '0');
        if (v > (limit - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    if (v >= limit)
        return -1;
    *out = v;
    return 0;
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
    if (!out->text || !out->len) {
        err_set(err, EXIT_RUNTIME, "%s: out of memory", origin);
        goto fail;
    }
    out->n = n;
    for (cJSON *it = root->child; it; it = it->next) {
        size_t key;
        if (parse_key(it->string, n, &key) != 0) {
            err_set(err, EXIT_INPUT, "%s: key \"%.40s\" is not an index in 0..%zu (keys must be 0..n-1)",
                    origin, it->string ? it->string : "", n - 1);
            goto fail;
        }
        if (!cJSON_IsString(it) || !it->valuestring) {
            err_set(err, EXIT_INPUT, "%s: value of key %zu is not a string", origin, key);
            goto fail;
        }
        if (out->text[key]) {
            err_set(err, EXIT_INPUT, "%s: key %zu appears twice", origin, key);
            goto fail;
        }
        out->len[key] = strlen(it->valuestring);
        if (!utf8_valid(it->valuestring, out->len[key])) {
            err_set(err, EXIT_INPUT, "%s: template %zu is not valid UTF-8", origin, key);
            goto fail;
        }
        out->text[key] = malloc(out->len[key] + 1);
        if (!out->text[key]) {
            err_set(err, EXIT_RUNTIME, "%s: out of memory", origin);
            goto fail;
        }
        memcpy(out->text[key], it->valuestring, out->len[key] + 1);
    }
    cJSON_Delete(root);
    return 0;
fail:
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
