#include "trie.h"

#include <stdlib.h>
#include <string.h>

#include "common.h"

#define WILD 256u /* the symbol of "<*>": above every byte, so wildcard edges sort last */
#define NONE SIZE_MAX

/* A key as a string of symbols (bytes and WILD), for sorting and splitting into edges. */
typedef struct {
    const uint16_t *sym;
    size_t len;
    uint32_t rank;
} Item;

typedef struct {
    uint32_t node;
    size_t lo, hi, depth; /* items[lo, hi) all pass through node, sharing their first depth symbols */
} Task;

static int item_order(const void *a, const void *b)
{
    const Item *x = a, *y = b;
    size_t n = x->len < y->len ? x->len : y->len;
    for (size_t i = 0; i < n; i++)
        if (x->sym[i] != y->sym[i])
            return x->sym[i] < y->sym[i] ? -1 : 1;
    return x->len < y->len ? -1 : x->len > y->len;
}

void trie_free(Trie *t)
{
    if (!t)
        return;
    free(t->nodes);
    free(t->pool);
    free(t->firsts);
    free(t->visit);
    free(t->slot_node);
    free(t->stack);
    memset(t, 0, sizeof *t);
}

/* Room for k more nodes (numbered in 32 bits). */
static int reserve(Trie *t, size_t *cap, size_t k)
{
    if (t->nnodes + k <= *cap)
        return 0;
    TrieNode *nodes = NULL;
    if (t->nnodes + k > UINT32_MAX || !(nodes = grow_array(t->nodes, cap, t->nnodes + k, sizeof *nodes, 64)))
        return -1;
    t->nodes = nodes;
    return 0;
}

static uint32_t new_node(Trie *t, uint32_t label, uint32_t label_len)
{
    TrieNode *v = &t->nodes[t->nnodes];
    memset(v, 0, sizeof *v);
    v->label = label;
    v->label_len = label_len;
    v->slot = UINT32_MAX;
    return (uint32_t)t->nnodes++;
}

typedef struct {
    Task *task;
    size_t n, cap;
} Todo;

static int todo_room(Todo *todo, size_t k)
{
    if (todo->n + k <= todo->cap)
        return 0;
    Task *task = grow_array(todo->task, &todo->cap, todo->n + k, sizeof *task, 256);
    if (!task)
        return -1;
    todo->task = task;
    return 0;
}

/* Split the items of one task into its node's terminal, literal children and wildcard child. */
static int expand(Trie *t, const Task *task, const Item *items, size_t *cap, size_t *pool_len, Todo *todo)
{
    size_t i = task->lo, d = task->depth;
    uint32_t term = UINT32_MAX;
    for (; i < task->hi && items[i].len == d; i++)
        if (items[i].rank < term)
            term = items[i].rank;
    size_t groups = 0, wild_from = task->hi;
    for (size_t j = i; j < task->hi;) {
        uint16_t s = items[j].sym[d];
        if (s == WILD) {
            wild_from = j;
            break;
        }
        while (j < task->hi && items[j].sym[d] == s)
            j++;
        groups++;
    }
    if (reserve(t, cap, groups + (wild_from < task->hi)) != 0 || todo_room(todo, groups + 1) != 0)
        return -1;
    TrieNode *v = &t->nodes[task->node];
    v->term = term == UINT32_MAX ? 0 : term + 1;
    v->kids = (uint32_t)t->nnodes;
    v->nkids = (uint32_t)groups;
    for (size_t j = i; j < wild_from;) {
        size_t a = j, b = j;
        uint16_t s = items[a].sym[d];
        while (b < task->hi && items[b].sym[d] == s)
            b++;
        /* The edge: the symbols all items of the group share (those of the first and the last, as
         * they are sorted), up to a wildcard. */
        const Item *x = &items[a], *y = &items[b - 1];
        size_t l = 0;
        while (d + l < x->len && d + l < y->len && x->sym[d + l] == y->sym[d + l] && x->sym[d + l] != WILD)
            l++;
        for (size_t k = 0; k < l; k++)
            t->pool[*pool_len + k] = (char)x->sym[d + k];
        uint32_t c = new_node(t, (uint32_t)*pool_len, (uint32_t)l);
        *pool_len += l;
        todo->task[todo->n++] = (Task){c, a, b, d + l};
        j = b;
    }
    if (wild_from < task->hi) {
        uint32_t w = new_node(t, 0, 0);
        t->nodes[w].slot = (uint32_t)t->nslots++;
        t->nodes[task->node].wild = w;
        todo->task[todo->n++] = (Task){w, wild_from, task->hi, d + 1};
    }
    return 0;
}

/* Per node, the best rank below it; per wildcard node, its scratch slot and first-byte bitmap. */
static int finish(Trie *t)
{
    uint32_t *parent = malloc(t->nnodes * sizeof *parent);
    t->firsts = calloc(t->nslots ? t->nslots : 1, sizeof *t->firsts);
    t->visit = calloc(t->nslots ? t->nslots : 1, sizeof *t->visit);
    t->slot_node = malloc((t->nslots ? t->nslots : 1) * sizeof *t->slot_node);
    t->stack = malloc((t->nslots ? t->nslots : 1) * sizeof *t->stack);
    if (!parent || !t->firsts || !t->visit || !t->slot_node || !t->stack) {
        free(parent);
        return -1;
    }
    for (size_t v = 0; v < t->nnodes; v++) {
        TrieNode *node = &t->nodes[v];
        node->best = node->term ? node->term - 1 : UINT32_MAX;
        for (uint32_t k = 0; k < node->nkids; k++)
            parent[node->kids + k] = (uint32_t)v;
        if (node->wild)
            parent[node->wild] = (uint32_t)v;
        if (node->slot != UINT32_MAX) {
            t->slot_node[node->slot] = (uint32_t)v;
            for (uint32_t k = 0; k < node->nkids; k++) {
                unsigned char c = (unsigned char)t->pool[t->nodes[node->kids + k].label];
                t->firsts[node->slot][c >> 6] |= (uint64_t)1 << (c & 63);
            }
        }
    }
    /* Children come after their parent. */
    for (size_t v = t->nnodes; v-- > 1;)
        if (t->nodes[v].best < t->nodes[parent[v]].best)
            t->nodes[parent[v]].best = t->nodes[v].best;
    free(parent);
    return 0;
}

int trie_build(Trie *t, const TrieKey *keys, size_t n)
{
    memset(t, 0, sizeof *t);
    size_t total = 0, cap = 0, pool_len = 0;
    Todo todo = {NULL, 0, 0};
    for (size_t i = 0; i < n; i++) {
        total += keys[i].nseg - 1;
        for (size_t s = 0; s < keys[i].nseg; s++)
            total += keys[i].seg_len[s];
    }
    Item *items = malloc((n ? n : 1) * sizeof *items);
    uint16_t *syms = malloc((total ? total : 1) * sizeof *syms);
    /* Every edge label is a distinct stretch of some key's symbols: the pool never needs more. */
    t->pool = malloc(total ? total : 1);
    int rc = -1;
    if (!items || !syms || !t->pool)
        goto done;
    uint16_t *p = syms;
    for (size_t i = 0; i < n; i++) {
        const TrieKey *k = &keys[i];
        items[i] = (Item){p, 0, k->rank};
        for (size_t s = 0; s < k->nseg; s++) {
            if (s)
                *p++ = WILD;
            for (size_t b = 0; b < k->seg_len[s]; b++)
                *p++ = (unsigned char)k->text[k->seg_off[s] + b];
        }
        items[i].len = (size_t)(p - items[i].sym);
    }
    qsort(items, n, sizeof *items, item_order);
    if (reserve(t, &cap, 1) != 0 || todo_room(&todo, 1) != 0)
        goto done;
    todo.task[todo.n++] = (Task){new_node(t, 0, 0), 0, n, 0};
    while (todo.n) {
        Task task = todo.task[--todo.n];
        if (expand(t, &task, items, &cap, &pool_len, &todo) != 0)
            goto done;
    }
    rc = finish(t);
done:
    free(items);
    free(syms);
    free(todo.task);
    if (rc != 0)
        trie_free(t);
    return rc;
}

static const TrieNode *kid_for(const Trie *t, const TrieNode *v, unsigned char c)
{
    const TrieNode *k = t->nodes + v->kids;
    size_t lo = 0, hi = v->nkids;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        unsigned char m = (unsigned char)t->pool[k[mid].label];
        if (m == c)
            return &k[mid];
        if (m < c)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* Queue wildcard node w, entered at content position p (< n), unless an entry at or before p is
 * already scanned or queued. */
static void enqueue(Trie *t, uint32_t w, size_t p)
{
    uint32_t slot = t->nodes[w].slot;
    TrieVisit *vis = &t->visit[slot];
    if (vis->stamp != t->gen) {
        vis->stamp = t->gen;
        vis->done = vis->pending = NONE;
    }
    if (p >= vis->done || p >= vis->pending)
        return;
    if (vis->pending == NONE)
        t->stack[t->nstack++] = slot;
    vis->pending = p;
}

/* Follow literal edges from node v at position r as far as s allows; queue the wildcards met. */
static void walk(Trie *t, uint32_t v, size_t r, const char *s, size_t n, uint32_t *best)
{
    for (;;) {
        const TrieNode *node = &t->nodes[v];
        if (node->best >= *best)
            return;
        if (r == n) {
            if (node->term && node->term - 1 < *best)
                *best = node->term - 1;
            return;
        }
        if (node->wild)
            enqueue(t, node->wild, r);
        const TrieNode *k = node->nkids ? kid_for(t, node, (unsigned char)s[r]) : NULL;
        if (!k || n - r < k->label_len || memcmp(s + r, t->pool + k->label, k->label_len) != 0)
            return;
        r += k->label_len;
        v = (uint32_t)(k - t->nodes);
    }
}

/* The wildcard node of slot takes s[p, q) for every q > p not covered by an earlier scan. */
static void scan(Trie *t, uint32_t slot, const char *s, size_t n, uint32_t *best)
{
    TrieVisit *vis = &t->visit[slot];
    const TrieNode *node = &t->nodes[t->slot_node[slot]];
    size_t p = vis->pending, covered = vis->done;
    vis->pending = NONE;
    if (node->best >= *best)
        return;
    vis->done = p;
    if (covered == NONE && node->term && node->term - 1 < *best) /* it takes the rest: s[p, n) */
        *best = node->term - 1;
    if (node->wild) { /* "<*><*>": the next one starts one character on, at the earliest */
        unsigned char c = (unsigned char)s[p];
        size_t q = p + (c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4);
        if (q < n)
            enqueue(t, node->wild, q);
    }
    if (!node->nkids)
        return;
    /* A literal child may start at q in (p, last]: earlier scans covered the positions after covered.
     * Few children (the usual case: the piece after a wildcard mostly starts with a space) are
     * found with memchr, one child at a time; many by testing each position against a bitmap. */
    size_t last = covered == NONE ? n - 1 : covered;
    if (last <= p)
        return;
    if (node->nkids <= 4) {
        for (uint32_t i = 0; i < node->nkids && node->best < *best; i++) {
            const TrieNode *k = &t->nodes[node->kids + i];
            const char *label = t->pool + k->label;
            const char *q = s + p + 1, *stop = s + last + 1;
            while (q < stop && (q = memchr(q, label[0], (size_t)(stop - q))) != NULL) {
                size_t at = (size_t)(q - s);
                if (n - at >= k->label_len && memcmp(q, label, k->label_len) == 0) {
                    walk(t, (uint32_t)(k - t->nodes), at + k->label_len, s, n, best);
                    if (node->best >= *best)
                        return;
                }
                q++;
            }
        }
        return;
    }
    const uint64_t *firsts = t->firsts[slot];
    for (size_t q = p + 1; q <= last && node->best < *best; q++) {
        unsigned char c = (unsigned char)s[q];
        if (!(firsts[c >> 6] >> (c & 63) & 1))
            continue;
        const TrieNode *k = kid_for(t, node, c);
        if (n - q >= k->label_len && memcmp(s + q, t->pool + k->label, k->label_len) == 0)
            walk(t, (uint32_t)(k - t->nodes), q + k->label_len, s, n, best);
    }
}

long trie_search(Trie *t, const char *s, size_t n)
{
    if (++t->gen == 0) { /* wrapped: forget every stamp */
        for (size_t i = 0; i < t->nslots; i++)
            t->visit[i].stamp = 0;
        t->gen = 1;
    }
    t->nstack = 0;
    uint32_t best = UINT32_MAX;
    walk(t, 0, 0, s, n, &best);
    while (t->nstack)
        scan(t, t->stack[--t->nstack], s, n, &best);
    return best == UINT32_MAX ? -1 : (long)best;
}
