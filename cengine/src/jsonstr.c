#include "jsonstr.h"

#include <stdint.h>
#include <stdlib.h>

size_t json_skip_ws(const char *s, size_t n, size_t pos)
{
    while (pos < n && (s[pos] == ' ' || s[pos] == '\t' || s[pos] == '\n' || s[pos] == '\r'))
        pos++;
    return pos;
}

/* Four hex digits at s[i]: their value, or -1. */
static long hex4(const char *s, size_t n, size_t i)
{
    if (n < 4 || i > n - 4)
        return -1;
    long v = 0;
    for (size_t k = 0; k < 4; k++) {
        char c = s[i + k];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0)
            return -1;
        v = v * 16 + d;
    }
    return v;
}

static size_t put_utf8(char *o, uint32_t cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

int json_string(const char *s, size_t n, size_t *pos, char **out, size_t *len)
{
    size_t i = *pos, end;
    *out = NULL;
    if (i >= n || s[i] != '"')
        return -1;
    /* Find the closing quote first: the decoded text is never longer than the literal. */
    for (end = i + 1; end < n && s[end] != '"'; end++)
        if (s[end] == '\\')
            end++;
    if (end >= n)
        return -1;
    char *o = malloc(end - i);
    if (!o)
        return -2;
    size_t k = 0;
    for (i++; i < end; i++) {
        if (s[i] != '\\') {
            o[k++] = s[i];
            continue;
        }
        char e = s[++i];
        const char *simple = "\"\\/bfnrt", *value = "\"\\/\b\f\n\r\t";
        size_t j = 0;
        while (simple[j] && simple[j] != e)
            j++;
        if (simple[j]) {
            o[k++] = value[j];
            continue;
        }
        long cp = e == 'u' ? hex4(s, end, i + 1) : -1;
        if (cp < 0 || (cp >= 0xDC00 && cp <= 0xDFFF))
            goto bad;
        i += 4;
        if (cp >= 0xD800 && cp <= 0xDBFF) { /* a high surrogate: its low half must follow */
            long lo = i + 2 < end && s[i + 1] == '\\' && s[i + 2] == 'u' ? hex4(s, end, i + 3) : -1;
            if (lo < 0xDC00 || lo > 0xDFFF)
                goto bad;
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            i += 6;
        }
        k += put_utf8(o + k, (uint32_t)cp);
    }
    o[k] = '\0';
    *out = o;
    *len = k;
    *pos = end + 1;
    return 0;
bad:
    free(o);
    return -1;
}
