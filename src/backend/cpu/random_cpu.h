/*
 * random_cpu.h - the Threefry-2x32 block function and the eager kernel of
 * random_bits (whose params live in prim/random.h).
 *
 * Threefry-2x32 with 20 rounds (Salmon et al., "Parallel random numbers:
 * as easy as 1, 2, 3", SC 2011; the generator JAX and MLX use) maps a key
 * (k0, k1) and a counter (x0, x1) to two uint32 words. It is a pure
 * function, so any range of counters can be computed by any thread: the
 * output of random_bits depends on the key alone, never on the thread
 * count.
 */
#ifndef KILN_CPU_RANDOM_H
#define KILN_CPU_RANDOM_H

#include <stdint.h>

#include "../../core/array.h"
#include "../../prim/random.h"

static inline uint32_t kiln__random_cpu_rotl(uint32_t x, int r)
{
    return (x << r) | (x >> (32 - r));
}

/* Threefry-2x32-20: encrypts the counter (*x0, *x1) in place under the key
 * (k0, k1). Key injections every four rounds, rotation constants
 * {13, 15, 26, 6} and {17, 29, 16, 24}, as in Random123. */
static inline void kiln__random_cpu_threefry(uint32_t k0, uint32_t k1,
                                             uint32_t *x0, uint32_t *x1)
{
    const uint32_t k2 = k0 ^ k1 ^ 0x1BD11BDAu;
    uint32_t a = *x0 + k0, b = *x1 + k1;
#define KILN_TF_ROUND(r)                                                  \
    a += b;                                                               \
    b = kiln__random_cpu_rotl(b, r);                                      \
    b ^= a;
#define KILN_TF_FOUR_A                                                    \
    KILN_TF_ROUND(13) KILN_TF_ROUND(15) KILN_TF_ROUND(26) KILN_TF_ROUND(6)
#define KILN_TF_FOUR_B                                                    \
    KILN_TF_ROUND(17) KILN_TF_ROUND(29) KILN_TF_ROUND(16) KILN_TF_ROUND(24)
    KILN_TF_FOUR_A
    a += k1;
    b += k2 + 1u;
    KILN_TF_FOUR_B
    a += k2;
    b += k0 + 2u;
    KILN_TF_FOUR_A
    a += k0;
    b += k1 + 3u;
    KILN_TF_FOUR_B
    a += k1;
    b += k2 + 4u;
    KILN_TF_FOUR_A
    a += k2;
    b += k0 + 5u;
#undef KILN_TF_FOUR_B
#undef KILN_TF_FOUR_A
#undef KILN_TF_ROUND
    *x0 = a;
    *x1 = b;
}

/* eval_cpu of random_bits (input: the key array, shape (..., 2)). */
kiln_status kiln__cpu_eval_random_bits(const kiln_node *n,
                                       kiln_array *const *in,
                                       kiln_array *const *out);

#endif
