/* Log line -> template index, with the semantics of converter/matching.py:
 * whitespace runs collapse to one space and both ends are stripped (template and content);
 * a template matches iff it covers the whole content, each "<*>" standing for one or more
 * characters of any kind and everything else literal; among matching templates the one with
 * the most literal characters wins, ties going to the lowest index. The templates are searched
 * through one trie (trie.h), so a line costs about the same against 100 or 100,000 of them. */
#ifndef CENGINE_MATCH_H
#define CENGINE_MATCH_H

#include "common.h"
#include "trie.h"
#include "vocab.h"

typedef struct {
    size_t n;
    Trie trie;
    size_t *index_of_rank; /* template index of each rank (0 = most literal characters, lowest index) */
} Matcher;

int matcher_build(Matcher *m, const Vocab *v, Err *err);
void matcher_free(Matcher *m);

/* Index of the winning template for content already passed through clean_text, or -1. Uses the
 * matcher's scratch space: one thread at a time. */
long matcher_match(Matcher *m, const char *s, size_t n);

/* Room for the cleaned content of a line (grown as needed; free buf when done). */
typedef struct {
    char *buf;
    size_t cap;
} CleanBuf;

/* The template key of a raw, non-blank log line: its header cut, its content cleaned into cb and
 * matched. -1 when no template matches or the line is too short for the header, -2 when there is
 * no memory to clean it. */
long match_line(Matcher *m, long header_fields, const char *line, size_t n, CleanBuf *cb);

/* The form both sides match in: decode as UTF-8 replacing each maximal invalid sequence with
 * U+FFFD (exactly Python's bytes.decode("utf-8", "replace")), collapse ASCII whitespace runs to
 * one space and strip both ends. out needs 3 * n bytes. Returns the new length. */
size_t clean_text(const char *in, size_t n, char *out);

/* 1 if s is well-formed UTF-8 (no overlongs, surrogates or code points above U+10FFFF). */
int utf8_valid(const char *s, size_t n);

/* Skip header_fields fields separated by ASCII whitespace runs. 0 and the rest of the line in
 * content/clen (possibly empty), or -1 when the line has fewer than header_fields fields. */
int split_content(const char *line, size_t n, long header_fields, const char **content, size_t *clen);

/* 1 if the line holds only ASCII whitespace (such lines are skipped). */
int is_blank(const char *line, size_t n);

#endif
