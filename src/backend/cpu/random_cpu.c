/*
 * random_cpu.c - the eager kernel of random_bits (layout in prim/random.c).
 *
 * Work is the set of counter pairs of every key. The pool splits it into
 * ranges of pairs; each pair is one Threefry block writing two words at
 * fixed places, so the result is the same for any split. The loop over a
 * range of pairs of one key vectorises (no loads, two store streams).
 * The few words that are not whole pairs (the odd middle word, a partial
 * last word) are written afterwards, one block each per key.
 */
#include <stdlib.h>
#include <string.h>

#include "../../core/error.h"
#include "../../runtime/pool.h"
#include "random_cpu.h"

/* Pairs per pool range: a block costs about 100 simple operations. */
#define GRAIN_PAIRS (1 << 13)

typedef struct {
    const uint32_t *keys; /* nkeys (k0, k1) pairs */
    char *out;
    int64_t bytes;  /* per key */
    int64_t half;   /* H: counter pairs per key */
    int64_t off;    /* O: where the second words start */
    int64_t bulk;   /* pairs per key whose both words are whole */
} bits_job;

/* Pairs [p0, p1) of one key into words at w (bytes of that key). */
static void pairs(uint32_t k0, uint32_t k1, int64_t p0, int64_t p1,
                  int64_t off, char *w)
{
    for (int64_t p = p0; p < p1; p++) {
        uint32_t x0 = (uint32_t)p, x1 = (uint32_t)(p + off);
        kiln__random_cpu_threefry(k0, k1, &x0, &x1);
        memcpy(w + 4 * p, &x0, 4);
        memcpy(w + 4 * (p + off), &x1, 4);
    }
}

static void bits_range(void *ctx, int64_t lo, int64_t hi)
{
    const bits_job *j = ctx;
    while (lo < hi) {
        int64_t key = lo / j->bulk;
        int64_t p0 = lo % j->bulk;
        int64_t p1 = j->bulk;
        if (p1 - p0 > hi - lo) {
            p1 = p0 + (hi - lo);
        }
        pairs(j->keys[2 * key], j->keys[2 * key + 1], p0, p1, j->off,
              j->out + key * j->bytes);
        lo += p1 - p0;
    }
}

/* Word `index` of a key's bytes at w, keeping only the bytes that exist. */
static void put_word(char *w, int64_t bytes, int64_t index, uint32_t v)
{
    int64_t room = bytes - 4 * index;
    memcpy(w + 4 * index, &v, (size_t)(room < 4 ? room : 4));
}

/* Reads every key into a packed (k0, k1) array (keys may be strided). */
static uint32_t *read_keys(const kiln_array *k, int64_t nkeys)
{
    uint32_t *keys = malloc(sizeof *keys * 2 * (size_t)nkeys);
    if (!keys) {
        return NULL;
    }
    const uint32_t *base = (const uint32_t *)(const void *)kiln__array_ptr(k);
    int nb = k->ndim - 1;
    for (int64_t i = 0; i < nkeys; i++) {
        int64_t r = i, at = 0;
        for (int d = nb - 1; d >= 0; d--) {
            at += (r % k->shape[d]) * k->strides[d];
            r /= k->shape[d];
        }
        keys[2 * i] = base[at];
        keys[2 * i + 1] = base[at + k->strides[nb]];
    }
    return keys;
}

kiln_status kiln__cpu_eval_random_bits(const kiln_node *n,
                                       kiln_array *const *in,
                                       kiln_array *const *out)
{
    const char *fn = n->prim->name;
    kiln_array *y = out[0];
    if (kiln__array_alloc(y, fn) != KILN_OK) {
        return kiln_errcode();
    }
    int64_t nkeys = in[0]->size / 2;
    if (y->size == 0 || nkeys == 0) {
        return KILN_OK;
    }
    uint32_t *keys = read_keys(in[0], nkeys);
    if (!keys) {
        return kiln__err_oom(fn, sizeof *keys * 2 * (size_t)nkeys);
    }
    bits_job j;
    j.keys = keys;
    j.out = kiln__array_ptr(y);
    j.bytes = y->size / nkeys * (int64_t)kiln_dtype_size(y->dtype);
    int64_t words = (j.bytes + 3) / 4;
    j.half = words / 2;
    j.off = j.half + words % 2;
    /* the last pair's second word is partial when bytes % 4 != 0 */
    j.bulk = j.half - (j.half > 0 && j.bytes % 4 != 0);
    if (j.bulk > 0) {
        kiln__pool_for(nkeys * j.bulk, GRAIN_PAIRS, bits_range, &j);
    }
    for (int64_t key = 0; key < nkeys; key++) {
        uint32_t k0 = keys[2 * key], k1 = keys[2 * key + 1];
        char *w = j.out + key * j.bytes;
        if (j.bulk < j.half) {
            uint32_t x0 = (uint32_t)j.bulk, x1 = (uint32_t)(j.bulk + j.off);
            kiln__random_cpu_threefry(k0, k1, &x0, &x1);
            put_word(w, j.bytes, j.bulk, x0);
            put_word(w, j.bytes, j.bulk + j.off, x1);
        }
        if (words % 2) {
            uint32_t x0 = (uint32_t)j.half, x1 = 0;
            kiln__random_cpu_threefry(k0, k1, &x0, &x1);
            put_word(w, j.bytes, j.half, x0);
        }
    }
    free(keys);
    return KILN_OK;
}
