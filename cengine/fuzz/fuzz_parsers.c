/* libFuzzer target over every parser of untrusted bytes: vocab JSON, meta JSON, NPY headers and
 * log line matching. The first input byte picks the parser. For matching, the engine's template
 * trie is checked against a brute-force dynamic-programming matcher on the same rules. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "match.h"
#include "meta.h"
#include "npy.h"
#include "vocab.h"

#define MAX_TEMPLATES 16
#define MAX_TEXT 512

/* Start offsets of the UTF-8 characters of clean (valid UTF-8) text; returns their count. */
static size_t char_starts(const char *s, size_t n, size_t *starts)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        if (((unsigned char)s[i] & 0xC0) != 0x80)
            starts[c++] = i;
    starts[c] = n;
    return c;
}

/* Does clean text t match clean template p ("<*>" = one or more characters)? O(|p| * |t|). */
static int dp_match(const char *p, size_t pn, const char *t, size_t tn)
{
    static size_t ts[MAX_TEXT * 3 + 2];
    static unsigned char prev[MAX_TEXT * 3 + 2], cur[MAX_TEXT * 3 + 2];
    size_t nt = char_starts(t, tn, ts);
    memset(prev, 0, nt + 1);
    prev[0] = 1; /* empty pattern matches empty text */
    size_t i = 0;
    while (i < pn) {
        int wild = pn - i >= 3 && memcmp(p + i, "<*>", 3) == 0;
        size_t len = 1;
        if (!wild)
            while (i + len < pn && ((unsigned char)p[i + len] & 0xC0) == 0x80)
                len++;
        memset(cur, 0, nt + 1);
        for (size_t j = 1; j <= nt; j++) {
            if (wild) /* take one more char: extend a wildcard, or start one */
                cur[j] = prev[j - 1] || cur[j - 1];
            else
                cur[j] = prev[j - 1] && ts[j] - ts[j - 1] == len && memcmp(t + ts[j - 1], p + i, len) == 0;
        }
        memcpy(prev, cur, nt + 1);
        i += wild ? 3 : len;
    }
    return prev[nt];
}

static size_t literal_chars(const char *p, size_t n)
{
    size_t c = 0;
    for (size_t i = 0; i < n;) {
        if (n - i >= 3 && memcmp(p + i, "<*>", 3) == 0) {
            i += 3;
            continue;
        }
        c += ((unsigned char)p[i] & 0xC0) != 0x80;
        i++;
    }
    return c;
}

static void fuzz_match(const uint8_t *data, size_t size)
{
    if (size < 2)
        return;
    long header_fields = data[0] % 4;
    data++, size--;
    /* Templates, then the line: separated by NUL bytes; templates that are not UTF-8 are dropped
     * (vocab_parse refuses them). */
    const uint8_t *sep = memchr(data, 0, size);
    if (!sep)
        return;
    const char *line = (const char *)sep + 1;
    size_t line_len = size - (size_t)(sep - data) - 1;
    if (line_len > MAX_TEXT)
        return;
    Vocab v = {0};
    char *text[MAX_TEMPLATES];
    size_t len[MAX_TEMPLATES];
    v.text = text;
    v.len = len;
    for (const uint8_t *p = data; p < sep && v.n < MAX_TEMPLATES;) {
        const uint8_t *nl = memchr(p, '\n', (size_t)(sep - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(sep - p);
        if (n <= 64 && utf8_valid((const char *)p, n)) {
            text[v.n] = malloc(n + 1);
            memcpy(text[v.n], p, n);
            text[v.n][n] = '\0';
            len[v.n++] = n;
        }
        p += n + 1;
    }
    Matcher m;
    Err err;
    if (v.n == 0 || matcher_build(&m, &v, &err) != 0)
        goto done;
    const char *content;
    size_t clen;
    long got = -1, want = -1;
    if (split_content(line, line_len, header_fields, &content, &clen) == 0) {
        char *clean = malloc(3 * clen + 1);
        size_t cn = clean_text(content, clen, clean);
        got = matcher_match(&m, clean, cn);
        /* Brute force: every template, most literal characters first, ties to the lowest index. */
        size_t best = 0;
        for (size_t k = 0; k < v.n; k++) {
            char *pt = malloc(3 * len[k] + 1);
            size_t pn = clean_text(text[k], len[k], pt);
            size_t lit = literal_chars(pt, pn);
            if (dp_match(pt, pn, clean, cn) && (want < 0 || lit > best)) {
                want = (long)k;
                best = lit;
            }
            free(pt);
        }
        free(clean);
    }
    if (got != want)
        abort(); /* the template trie disagrees with the specification */
    matcher_free(&m);
done:
    for (size_t k = 0; k < v.n; k++)
        free(text[k]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t which = data[0] % 4;
    data++, size--;
    Err err;
    if (which == 0) {
        Vocab v;
        if (vocab_parse((const char *)data, size, "fuzz", &v, &err) == 0) {
            Matcher m;
            if (matcher_build(&m, &v, &err) == 0) {
                char clean[64];
                size_t n = clean_text("a  b <*> c", 10, clean);
                (void)matcher_match(&m, clean, n);
                matcher_free(&m);
            }
            vocab_free(&v);
        }
    } else if (which == 1) {
        Meta m;
        if (meta_parse((const char *)data, size, "fuzz", &m, &err) == 0) {
            (void)meta_require_deeplog(&m, "fuzz", &err);
            meta_free(&m);
        }
    } else if (which == 2) {
        NpyInfo info;
        if (npy_parse_header(data, size, &info, &err) == 0 && info.data_offset > size + 12 + NPY_MAX_HEADER)
            abort(); /* the data offset can never lie beyond the header we were given */
    } else {
        fuzz_match(data, size);
    }
    return 0;
}
