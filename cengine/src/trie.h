/* The template index: every normalised template in one trie, literal bytes on path-compressed
 * edges and each "<*>" an edge of its own, searched against a line's content in time that grows
 * with the content, not with the number of templates.
 *
 * A wildcard edge consumes one or more characters. Entered at content position p, it can resume
 * at any position q > p; entered again at p' >= p it can resume nowhere new, so each wildcard node
 * scans each position at most once per line. Every node knows the best rank (most literal
 * characters, then lowest index) among the templates below it, which prunes subtrees that cannot
 * beat the match found so far. */
#ifndef CENGINE_TRIE_H
#define CENGINE_TRIE_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint32_t label, label_len; /* the bytes on the edge from the parent: pool[label, label + label_len) */
    uint32_t kids, nkids;      /* literal children: nodes kids .. kids + nkids - 1, by first byte */
    uint32_t wild;             /* wildcard child, 0 = none (node 0 is the root) */
    uint32_t slot;             /* wildcard nodes: index into the per-line scratch arrays */
    uint32_t term;             /* rank + 1 of the best template ending here, 0 = none */
    uint32_t best;             /* best rank of any template in this subtree */
} TrieNode;

typedef struct {
    uint32_t stamp;   /* line generation this slot belongs to */
    size_t done;      /* smallest entry position scanned (SIZE_MAX: none) */
    size_t pending;   /* smallest entry position waiting on the stack (SIZE_MAX: none) */
} TrieVisit;

typedef struct {
    TrieNode *nodes;
    size_t nnodes;
    char *pool;
    uint64_t (*firsts)[4];  /* per wildcard slot: bitmap of its literal children's first bytes */
    size_t nslots;
    TrieVisit *visit;       /* per wildcard slot, per line */
    uint32_t *slot_node;    /* the node of each wildcard slot */
    uint32_t *stack, gen;   /* wildcard slots waiting to be scanned */
    size_t nstack;
} Trie;

/* One template as the trie takes it: its literal segments (nseg = wildcards + 1, text holds them
 * side by side) and its rank (0 = the best: most literal characters, then lowest index). */
typedef struct {
    const char *text;
    const size_t *seg_off, *seg_len;
    size_t nseg;
    uint32_t rank;
} TrieKey;

/* Build from n keys; -1 on out of memory (t is then empty). */
int trie_build(Trie *t, const TrieKey *keys, size_t n);
void trie_free(Trie *t);

/* Best rank matching the whole of s (clean UTF-8), or -1. Not thread-safe: uses t's scratch. */
long trie_search(Trie *t, const char *s, size_t n);

#endif
