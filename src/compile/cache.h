/*
 * cache.h - the compile cache: per function, entries keyed by signature
 * (DESIGN.md 5.1), found through a hash map; bounded per function and in
 * total by entries and bytes, least recently used first out.
 *
 * Invariants: one process-wide mutex guards every cache, the global LRU
 * list and the counters (lookups are short: hash, compare, relink); no
 * tracing or compiling happens under it. Entries are counted: a call
 * replaying an entry holds a reference, so eviction never frees a graph in
 * use. A function's cache dies with the function (fn.c calls back).
 */
#ifndef KILN_COMPILE_CACHE_H
#define KILN_COMPILE_CACHE_H

#include <stdatomic.h>

#include "../transforms/fn.h"
#include "graph.h"

typedef struct kiln_centry {
    atomic_int rc;
    uint64_t hash;
    uint8_t *sig;          /* the signature bytes */
    size_t siglen;
    int nmetas;            /* the inputs' metadata, for retrace reasons */
    kiln_meta *metas;
    kiln_graph *traced;    /* as traced (for dumps) */
    kiln_graph *fused;     /* simplified and fused: what a call replays */
    char *source;          /* generated C, or NULL */
    int nresults;          /* the body's results; then captured outputs */
    int ncap;              /* captured outputs: list slot of each */
    int *cap_slot;
    bool random_out;       /* the last output is the next random key */
    int64_t bytes;
    /* bookkeeping, under the cache lock */
    struct kiln_fcache *owner;
    struct kiln_centry *prev, *next; /* global LRU, most recent first */
} kiln_centry;

/* A new entry (refcount 1) taking ownership of what it is given later. */
kiln_centry *kiln__centry_new(void);
void kiln__centry_release(kiln_centry *e);

/* Which counter a call bumps. */
typedef enum kiln_ccount {
    KILN_CC_CALL,
    KILN_CC_TRACE,
    KILN_CC_HIT,
    KILN_CC_BYPASS,
    KILN_CC_BUILT,
    KILN_CC_LOADED,
    KILN_CC_INTERPRETED
} kiln_ccount;

/* The entry of f with this signature (a new reference; counts a hit), or
 * NULL. */
kiln_centry *kiln__cache_find(kiln_fn *f, uint64_t hash, const uint8_t *sig,
                              size_t len);
/* Inserts e (taking the caller's reference) unless an equal entry is
 * there already; returns a new reference to the entry to use. Evicts to
 * the bounds. NULL when out of memory (e is then released). */
kiln_centry *kiln__cache_insert(kiln_fn *f, kiln_centry *e);
void kiln__cache_count(kiln_fn *f, kiln_ccount what, int64_t n);
/* f's counters held apart from f (for a background build, which must not
 * keep f itself, whose destructor belongs to its caller): they stay
 * valid until kiln__cache_unhold even when f is released meanwhile (its
 * counts then go nowhere). NULL when out of memory. */
struct kiln_fcache *kiln__cache_hold(kiln_fn *f);
void kiln__cache_count_held(struct kiln_fcache *c, kiln_ccount what,
                            int64_t n);
void kiln__cache_unhold(struct kiln_fcache *c);
/* Adds ms to compile_ms: of f, or of held counters c (a background build's
 * compiler time; c may be NULL). */
void kiln__cache_add_ms(kiln_fn *f, double ms);
void kiln__cache_add_ms_held(struct kiln_fcache *c, double ms);
/* The most recently used entry of f (new reference) or NULL. */
kiln_centry *kiln__cache_last(const kiln_fn *f);
kiln_status kiln__cache_stats(const kiln_fn *f, kiln_compile_stats *out);
/* The most recently used entry of compiled function f (or of f itself
 * when it is not compiled); new reference or NULL (compile.c). */
kiln_centry *kiln__compile_last_entry(const kiln_fn *f);
/* Drops f's entries (NULL: every function's). */
void kiln__cache_clear(kiln_fn *f);
/* How many traces f has had (for the log line). */
int64_t kiln__cache_traces(const kiln_fn *f);

#endif
