/*
 * ptrmap.c - the open-addressing map of ptrmap.h (linear probing).
 */
#include "ptrmap.h"

#include <stdlib.h>

uint64_t kiln__hash_mix(uint64_t h, uint64_t x)
{
    /* splitmix64 finaliser over the combination */
    uint64_t z = h ^ (x + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2));
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static int64_t slot(const kiln_ptrmap *m, uint64_t key)
{
    int64_t i = (int64_t)(kiln__hash_mix(0, key) & (uint64_t)(m->cap - 1));
    while (m->keys[i] != 0 && m->keys[i] != key) {
        i = (i + 1) & (m->cap - 1);
    }
    return i;
}

int kiln__ptrmap_get(const kiln_ptrmap *m, uint64_t key)
{
    if (m->cap == 0 || key == 0) {
        return -1;
    }
    int64_t i = slot(m, key);
    return m->keys[i] == key ? m->vals[i] : -1;
}

static bool grow(kiln_ptrmap *m)
{
    kiln_ptrmap bigger = {0};
    bigger.cap = m->cap ? 2 * m->cap : 64;
    bigger.keys = calloc((size_t)bigger.cap, sizeof *bigger.keys);
    bigger.vals = malloc((size_t)bigger.cap * sizeof *bigger.vals);
    if (!bigger.keys || !bigger.vals) {
        free(bigger.keys);
        free(bigger.vals);
        return false;
    }
    for (int64_t i = 0; i < m->cap; i++) {
        if (m->keys[i]) {
            int64_t j = slot(&bigger, m->keys[i]);
            bigger.keys[j] = m->keys[i];
            bigger.vals[j] = m->vals[i];
            bigger.n++;
        }
    }
    kiln__ptrmap_free(m);
    *m = bigger;
    return true;
}

bool kiln__ptrmap_put(kiln_ptrmap *m, uint64_t key, int val)
{
    if (key == 0) {
        return false;
    }
    if (2 * (m->n + 1) > m->cap && !grow(m)) {
        return false;
    }
    int64_t i = slot(m, key);
    if (m->keys[i] == 0) {
        m->keys[i] = key;
        m->n++;
    }
    m->vals[i] = val;
    return true;
}

void kiln__ptrmap_free(kiln_ptrmap *m)
{
    free(m->keys);
    free(m->vals);
    m->keys = NULL;
    m->vals = NULL;
    m->cap = m->n = 0;
}
