#include "match.h"

#include <stdlib.h>
#include <string.h>

static const char WILDCARD[] = "<*>";
#define WILDCARD_LEN 3

static int is_ws(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

int is_blank(const char *line, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!is_ws((unsigned char)line[i]))
            return 0;
    return 1;
}

/* Length of the well-formed UTF-8 sequence starting at s[0] (n bytes available), or -m when
 * it is not: m is the length of its maximal invalid prefix (lead byte plus the continuation
 * bytes that were still valid), which Python's decoder turns into one U+FFFD. */
static long utf8_seq(const unsigned char *s, size_t n)
{
    unsigned char c = s[0], lo = 0x80, hi = 0xBF;
    size_t need;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        need = 1;
    else if (c >= 0xE0 && c <= 0xEF) {
        need = 2;
        if (c == 0xE0)
            lo = 0xA0;
        else if (c == 0xED)
            hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 3;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F;
    } else {
        return -1;
    }
    size_t m = 0;
    while (m < need && 1 + m < n) {
        unsigned char b = s[1 + m];
        if (b < (m == 0 ? lo : 0x80) || b > (m == 0 ? hi : 0xBF))
            break;
        m++;
    }
    return m == need ? (long)(need + 1) : -(long)(1 + m);
}

int utf8_valid(const char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        long k = utf8_seq((const unsigned char *)s + i, n - i);
        if (k < 0)
            return 0;
        i += (size_t)k;
    }
    return 1;
}

size_t clean_text(const char *in, size_t n, char *out)
{
    size_t k = 0, i = 0;
    int pending_space = 0;
    while (i < n) {
        /* The common case first: a run of printable ASCII is copied as it is. */
        size_t run = i;
        while (run < n && (unsigned char)in[run] > ' ' && (unsigned char)in[run] < 0x80)
            run++;
        if (run > i) {
            if (pending_space) {
                out[k++] = ' ';
                pending_space = 0;
            }
            memcpy(out + k, in + i, run - i);
            k += run - i;
            i = run;
            continue;
        }
        unsigned char c = (unsigned char)in[i];
        if (is_ws(c)) {
            pending_space = k > 0;
            i++;
            continue;
        }
        if (pending_space) {
            out[k++] = ' ';
            pending_space = 0;
        }
        if (c < 0x80) {
            out[k++] = (char)c;
            i++;
            continue;
        }
        long len = utf8_seq((const unsigned char *)in + i, n - i);
        if (len > 0) {
            memcpy(out + k, in + i, (size_t)len);
            k += (size_t)len;
            i += (size_t)len;
        } else {
            memcpy(out + k, "\xEF\xBF\xBD", 3); /* U+FFFD REPLACEMENT CHARACTER */
            k += 3;
            i += (size_t)-len;
        }
    }
    return k;
}

int split_content(const char *line, size_t n, long header_fields, const char **content, size_t *clen)
{
    size_t i = 0;
    while (i < n && is_ws((unsigned char)line[i]))
        i++;
    for (long f = 0; f < header_fields; f++) {
        if (i >= n)
            return -1;
        while (i < n && !is_ws((unsigned char)line[i]))
            i++;
        while (i < n && is_ws((unsigned char)line[i]))
            i++;
    }
    /* Exactly header_fields fields: the content is empty (only an empty template matches it). */
    *content = line + i;
    *clen = n - i;
    return 0;
}

/* Code points in UTF-8 text: bytes that are not continuation bytes. */
static size_t count_chars(const char *s, size_t n)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        c += ((unsigned char)s[i] & 0xC0) != 0x80;
    return c;
}

/* One template, normalised, cut at its wildcards: its literal pieces side by side in text. */
typedef struct {
    size_t index;         /* key in the vocab */
    size_t literal_chars; /* code points outside wildcards (tie-break) */
    size_t nseg;          /* literal segments = wildcards + 1 */
    char *text;
    size_t *seg_off, *seg_len;
} Pattern;

static int pattern_build(Pattern *p, size_t index, const char *tmpl, size_t len)
{
    memset(p, 0, sizeof *p);
    p->index = index;
    char *norm = malloc(3 * len + 1);
    if (!norm)
        return -1;
    size_t n = clean_text(tmpl, len, norm);
    size_t wild = 0;
    for (size_t i = 0; i + WILDCARD_LEN <= n;) {
        if (memcmp(norm + i, WILDCARD, WILDCARD_LEN) == 0) {
            wild++;
            i += WILDCARD_LEN;
        } else {
            i++;
        }
    }
    p->nseg = wild + 1;
    p->seg_off = malloc(p->nseg * sizeof *p->seg_off);
    p->seg_len = malloc(p->nseg * sizeof *p->seg_len);
    p->text = malloc(n + 1);
    if (!p->seg_off || !p->seg_len || !p->text) {
        free(norm);
        return -1;
    }
    /* Copy the literal pieces side by side; wildcards become segment boundaries. */
    size_t out = 0, seg = 0, start = 0;
    for (size_t i = 0; i < n;) {
        if (i + WILDCARD_LEN <= n && memcmp(norm + i, WILDCARD, WILDCARD_LEN) == 0) {
            p->seg_off[seg] = start;
            p->seg_len[seg] = out - start;
            seg++;
            start = out;
            i += WILDCARD_LEN;
        } else {
            p->text[out++] = norm[i++];
        }
    }
    p->seg_off[seg] = start;
    p->seg_len[seg] = out - start;
    p->text[out] = '\0';
    p->literal_chars = count_chars(p->text, out);
    free(norm);
    return 0;
}

static void pattern_free(Pattern *p)
{
    free(p->text);
    free(p->seg_off);
    free(p->seg_len);
}

static int pattern_order(const void *a, const void *b)
{
    const Pattern *x = a, *y = b;
    if (x->literal_chars != y->literal_chars)
        return x->literal_chars > y->literal_chars ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index;
}

void matcher_free(Matcher *m)
{
    if (!m)
        return;
    trie_free(&m->trie);
    free(m->index_of_rank);
    memset(m, 0, sizeof *m);
}

int matcher_build(Matcher *m, const Vocab *v, Err *err)
{
    memset(m, 0, sizeof *m);
    size_t n = v->n, built = 0;
    int rc = -1;
    Pattern *p = calloc(n ? n : 1, sizeof *p);
    TrieKey *keys = calloc(n ? n : 1, sizeof *keys);
    m->index_of_rank = malloc((n ? n : 1) * sizeof *m->index_of_rank);
    if (!p || !keys || !m->index_of_rank) /* n < 2^32: a vocab is at most 1 GiB */
        goto done;
    for (; built < n; built++)
        if (pattern_build(&p[built], built, v->text[built], v->len[built]) != 0) {
            built++;
            goto done;
        }
    /* Rank = position in (most literal characters, lowest index) order: the lowest rank wins. */
    qsort(p, n, sizeof *p, pattern_order);
    for (size_t r = 0; r < n; r++) {
        m->index_of_rank[r] = p[r].index;
        keys[r] = (TrieKey){p[r].text, p[r].seg_off, p[r].seg_len, p[r].nseg, (uint32_t)r};
    }
    if (trie_build(&m->trie, keys, n) != 0)
        goto done;
    m->n = n;
    rc = 0;
done:
    for (size_t i = 0; i < built; i++)
        pattern_free(&p[i]);
    free(p);
    free(keys);
    if (rc != 0) {
        matcher_free(m);
        err_set(err, EXIT_RUNTIME, "out of memory building the template matcher");
    }
    return rc;
}

long matcher_match(Matcher *m, const char *s, size_t n)
{
    long rank = trie_search(&m->trie, s, n);
    return rank < 0 ? -1 : (long)m->index_of_rank[rank];
}

long match_line(Matcher *m, long header_fields, const char *line, size_t n, CleanBuf *cb)
{
    const char *content;
    size_t clen;
    if (split_content(line, n, header_fields, &content, &clen) != 0)
        return -1;
    if (clen > cb->cap) {
        /* clean_text may grow invalid bytes into U+FFFD: up to 3 bytes each. */
        char *buf = clen <= SIZE_MAX / 3 ? realloc(cb->buf, 3 * clen) : NULL;
        if (!buf)
            return -2;
        cb->buf = buf;
        cb->cap = clen;
    }
    return matcher_match(m, cb->buf, clean_text(content, clen, cb->buf));
}
