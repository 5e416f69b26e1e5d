/*
 * ptrmap.h - an open-addressing map from pointers (or 64-bit keys) to ints,
 * for graph walks that must stay linear in the graph's size.
 *
 * Invariants: key 0 is never stored (it marks an empty slot); the table is
 * at most half full; values are whatever the caller stores (>= 0 by
 * convention, lookups of absent keys return -1).
 */
#ifndef KILN_COMPILE_PTRMAP_H
#define KILN_COMPILE_PTRMAP_H

#include <stdbool.h>
#include <stdint.h>

typedef struct kiln_ptrmap {
    uint64_t *keys;
    int *vals;
    int64_t cap; /* power of two, or 0 */
    int64_t n;
} kiln_ptrmap;

/* The value stored for key, or -1. */
int kiln__ptrmap_get(const kiln_ptrmap *m, uint64_t key);
/* Stores (key, val), replacing an earlier value; false when out of
 * memory. */
bool kiln__ptrmap_put(kiln_ptrmap *m, uint64_t key, int val);
void kiln__ptrmap_free(kiln_ptrmap *m);
/* A well-mixed 64-bit hash (also used to combine hashes). */
uint64_t kiln__hash_mix(uint64_t h, uint64_t x);

#endif
