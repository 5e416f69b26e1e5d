/*
 * cache.c - the compile cache of cache.h.
 */
#include "cache.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "../core/error.h"
#include "ptrmap.h"

typedef struct kiln_fcache {
    kiln_centry **entries;
    int n, cap;
    kiln_ptrmap map; /* hash probe key -> index in entries */
    kiln_centry *last;
    kiln_compile_stats stats;
    int holds; /* kiln__cache_hold references (lock) */
    bool dead; /* its function is gone; freed at the last unhold */
} kiln_fcache;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static kiln_centry *lru_head, *lru_tail;
static int64_t total_entries, total_bytes;
static int64_t limit_per_fn = 64, limit_entries = 1024,
               limit_bytes = (int64_t)1 << 30;

kiln_centry *kiln__centry_new(void)
{
    kiln_centry *e = calloc(1, sizeof *e);
    if (e) {
        atomic_init(&e->rc, 1);
    }
    return e;
}

void kiln__centry_release(kiln_centry *e)
{
    if (!e ||
        atomic_fetch_sub_explicit(&e->rc, 1, memory_order_acq_rel) != 1) {
        return;
    }
    free(e->sig);
    free(e->metas);
    kiln__graph_free(e->traced);
    kiln__graph_free(e->fused);
    free(e->source);
    free(e->cap_slot);
    free(e);
}

static void lru_unlink(kiln_centry *e)
{
    if (e->prev) {
        e->prev->next = e->next;
    } else {
        lru_head = e->next;
    }
    if (e->next) {
        e->next->prev = e->prev;
    } else {
        lru_tail = e->prev;
    }
    e->prev = e->next = NULL;
}

static void lru_front(kiln_centry *e)
{
    e->next = lru_head;
    e->prev = NULL;
    if (lru_head) {
        lru_head->prev = e;
    }
    lru_head = e;
    if (!lru_tail) {
        lru_tail = e;
    }
}

/* Rebuilds c's map from its entries (after removals). */
static bool remap(kiln_fcache *c)
{
    kiln__ptrmap_free(&c->map);
    for (int i = 0; i < c->n; i++) {
        uint64_t key = c->entries[i]->hash | 1u;
        while (kiln__ptrmap_get(&c->map, key) >= 0) {
            key = kiln__hash_mix(key, 1) | 1u;
        }
        if (!kiln__ptrmap_put(&c->map, key, i)) {
            return false;
        }
    }
    return true;
}

/* Removes e from its cache and the LRU (lock held); drops the cache's
 * reference. */
static void evict(kiln_centry *e)
{
    kiln_fcache *c = e->owner;
    lru_unlink(e);
    for (int i = 0; i < c->n; i++) {
        if (c->entries[i] == e) {
            c->entries[i] = c->entries[--c->n];
            break;
        }
    }
    if (c->last == e) {
        c->last = NULL;
        kiln__centry_release(e);
    }
    total_entries--;
    total_bytes -= e->bytes;
    c->stats.entries = c->n;
    remap(c); /* on failure lookups miss and retrace: still correct */
    e->owner = NULL;
    kiln__centry_release(e);
}

static void cache_destroy(kiln_fcache *c)
{
    kiln__ptrmap_free(&c->map);
    free(c->entries);
    free(c);
}

/* Its function's last release: the entries go now, the record when no
 * background build holds it any more. */
static void cache_free(kiln_fcache *c)
{
    pthread_mutex_lock(&lock);
    while (c->n > 0) {
        evict(c->entries[c->n - 1]);
    }
    if (c->last) {
        kiln__centry_release(c->last);
        c->last = NULL;
    }
    c->dead = true;
    bool now = c->holds == 0;
    pthread_mutex_unlock(&lock);
    if (now) {
        cache_destroy(c);
    }
}

/* f's cache, made on first use (lock held). */
static kiln_fcache *cache_of(kiln_fn *f)
{
    kiln_fcache *c = atomic_load(&f->cache);
    if (!c) {
        c = calloc(1, sizeof *c);
        if (!c) {
            return NULL;
        }
        kiln__fn_cache_free = cache_free;
        atomic_store(&f->cache, c);
    }
    return c;
}

static void set_last(kiln_fcache *c, kiln_centry *e)
{
    if (c->last != e) {
        atomic_fetch_add(&e->rc, 1);
        if (c->last) {
            kiln__centry_release(c->last);
        }
        c->last = e;
    }
}

kiln_centry *kiln__cache_find(kiln_fn *f, uint64_t hash, const uint8_t *sig,
                              size_t len)
{
    kiln_centry *found = NULL;
    pthread_mutex_lock(&lock);
    kiln_fcache *c = cache_of(f);
    uint64_t key = hash | 1u;
    for (int i; c && (i = kiln__ptrmap_get(&c->map, key)) >= 0;
         key = kiln__hash_mix(key, 1) | 1u) {
        kiln_centry *e = c->entries[i];
        if (e->hash == hash && e->siglen == len &&
            memcmp(e->sig, sig, len) == 0) {
            found = e;
            break;
        }
    }
    if (found) {
        atomic_fetch_add(&found->rc, 1);
        lru_unlink(found);
        lru_front(found);
        set_last(c, found);
        c->stats.cache_hits++;
    }
    pthread_mutex_unlock(&lock);
    return found;
}

kiln_centry *kiln__cache_insert(kiln_fn *f, kiln_centry *e)
{
    pthread_mutex_lock(&lock);
    kiln_fcache *c = cache_of(f);
    uint64_t key = e->hash | 1u;
    for (int i; c && (i = kiln__ptrmap_get(&c->map, key)) >= 0;
         key = kiln__hash_mix(key, 1) | 1u) {
        kiln_centry *old = c->entries[i];
        if (old->hash == e->hash && old->siglen == e->siglen &&
            memcmp(old->sig, e->sig, e->siglen) == 0) {
            /* another thread traced the same signature first */
            atomic_fetch_add(&old->rc, 1);
            pthread_mutex_unlock(&lock);
            kiln__centry_release(e);
            return old;
        }
    }
    if (!c || (c->n == c->cap && c->cap >= 0)) {
        int cap = c && c->cap ? 2 * c->cap : 8;
        kiln_centry **es = c ? realloc(c->entries, sizeof *es * (size_t)cap)
                             : NULL;
        if (!es) {
            pthread_mutex_unlock(&lock);
            kiln__centry_release(e);
            kiln__err_oom("compile", 0);
            return NULL;
        }
        c->entries = es;
        c->cap = cap;
    }
    if (!kiln__ptrmap_put(&c->map, key, c->n)) {
        pthread_mutex_unlock(&lock);
        kiln__centry_release(e);
        kiln__err_oom("compile", 0);
        return NULL;
    }
    c->entries[c->n++] = e;
    e->owner = c;
    lru_front(e);
    total_entries++;
    total_bytes += e->bytes;
    set_last(c, e);
    atomic_fetch_add(&e->rc, 1); /* the caller's */
    /* bounds: this function's oldest first, then the global tail */
    while (c->n > limit_per_fn) {
        kiln_centry *victim = NULL;
        for (kiln_centry *x = lru_tail; x; x = x->prev) {
            if (x->owner == c && x != e) {
                victim = x;
                break;
            }
        }
        if (!victim) {
            break;
        }
        evict(victim);
    }
    while ((total_entries > limit_entries || total_bytes > limit_bytes) &&
           lru_tail && lru_tail != e) {
        evict(lru_tail);
    }
    c->stats.entries = c->n;
    pthread_mutex_unlock(&lock);
    return e;
}

static void count_into(kiln_fcache *c, kiln_ccount what, int64_t n);

void kiln__cache_count(kiln_fn *f, kiln_ccount what, int64_t n)
{
    pthread_mutex_lock(&lock);
    count_into(cache_of(f), what, n);
    pthread_mutex_unlock(&lock);
}

kiln_fcache *kiln__cache_hold(kiln_fn *f)
{
    pthread_mutex_lock(&lock);
    kiln_fcache *c = cache_of(f);
    if (c) {
        c->holds++;
    }
    pthread_mutex_unlock(&lock);
    return c;
}

void kiln__cache_count_held(kiln_fcache *c, kiln_ccount what, int64_t n)
{
    pthread_mutex_lock(&lock);
    count_into(c && !c->dead ? c : NULL, what, n);
    pthread_mutex_unlock(&lock);
}

void kiln__cache_unhold(kiln_fcache *c)
{
    if (!c) {
        return;
    }
    pthread_mutex_lock(&lock);
    bool now = --c->holds == 0 && c->dead;
    pthread_mutex_unlock(&lock);
    if (now) {
        cache_destroy(c);
    }
}

/* Bumps counter `what` of c (NULL: nothing); lock held. */
static void count_into(kiln_fcache *c, kiln_ccount what, int64_t n)
{
    if (c) {
        switch (what) {
        case KILN_CC_CALL:
            c->stats.calls += n;
            break;
        case KILN_CC_TRACE:
            c->stats.traces += n;
            break;
        case KILN_CC_HIT:
            c->stats.cache_hits += n;
            break;
        case KILN_CC_BYPASS:
            c->stats.bypassed += n;
            break;
        case KILN_CC_BUILT:
            c->stats.kernels_built += n;
            break;
        case KILN_CC_LOADED:
            c->stats.kernels_loaded += n;
            break;
        case KILN_CC_INTERPRETED:
            c->stats.interpreted += n;
            break;
        }
    }
}

void kiln__cache_add_ms_held(kiln_fcache *c, double ms)
{
    if (c) {
        pthread_mutex_lock(&lock);
        c->stats.compile_ms += ms;
        pthread_mutex_unlock(&lock);
    }
}

void kiln__cache_add_ms(kiln_fn *f, double ms)
{
    pthread_mutex_lock(&lock);
    kiln_fcache *c = cache_of(f);
    if (c) {
        c->stats.compile_ms += ms;
    }
    pthread_mutex_unlock(&lock);
}

kiln_centry *kiln__cache_last(const kiln_fn *f)
{
    kiln_centry *e = NULL;
    pthread_mutex_lock(&lock);
    kiln_fcache *c = atomic_load(&f->cache);
    if (c && c->last) {
        e = c->last;
        atomic_fetch_add(&e->rc, 1);
    }
    pthread_mutex_unlock(&lock);
    return e;
}

kiln_status kiln__cache_stats(const kiln_fn *f, kiln_compile_stats *out)
{
    pthread_mutex_lock(&lock);
    kiln_fcache *c = atomic_load(&f->cache);
    if (c) {
        *out = c->stats;
        out->entries = c->n;
    } else {
        memset(out, 0, sizeof *out);
    }
    pthread_mutex_unlock(&lock);
    return KILN_OK;
}

int64_t kiln__cache_traces(const kiln_fn *f)
{
    kiln_compile_stats s;
    kiln__cache_stats(f, &s);
    return s.traces;
}

void kiln__cache_clear(kiln_fn *f)
{
    pthread_mutex_lock(&lock);
    if (f) {
        kiln_fcache *c = atomic_load(&f->cache);
        while (c && c->n > 0) {
            evict(c->entries[c->n - 1]);
        }
    } else {
        while (lru_tail) {
            evict(lru_tail);
        }
    }
    pthread_mutex_unlock(&lock);
}

void kiln_compile_set_limits(int64_t per_function, int64_t total,
                             int64_t bytes)
{
    pthread_mutex_lock(&lock);
    if (per_function > 0) {
        limit_per_fn = per_function;
    }
    if (total > 0) {
        limit_entries = total;
    }
    if (bytes > 0) {
        limit_bytes = bytes;
    }
    pthread_mutex_unlock(&lock);
}
