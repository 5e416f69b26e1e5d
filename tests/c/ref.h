/*
 * ref.h - reference helpers shared by the dtype and elementwise tests:
 * building and reading arrays, integer bit patterns per dtype, exact
 * float16/bfloat16 values and rounding, a small deterministic generator.
 * Functions are static inline so each test file uses what it needs.
 */
#ifndef KILN_TEST_REF_H
#define KILN_TEST_REF_H

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "kiln.h"

static inline kiln_array *vec(const void *data, int64_t n, kiln_dtype dt)
{
    return kiln_array_from_data(data, &n, 1, dt);
}

/* a's values in row-major order, malloc'ed (caller frees); NULL on
 * error. */
static inline void *fetch(kiln_array *a)
{
    if (!a) {
        return NULL;
    }
    size_t nb = kiln_array_nbytes(a);
    void *p = malloc(nb ? nb : 1);
    if (p && kiln_array_read(a, p, nb) != KILN_OK) {
        free(p);
        p = NULL;
    }
    return p;
}

static inline bool is_uint(kiln_dtype dt)
{
    return dt >= KILN_DTYPE_UINT8 && dt <= KILN_DTYPE_UINT64;
}

static inline int int_bits(kiln_dtype dt)
{
    return (int)kiln_dtype_size(dt) * 8;
}

/* bits wrapped into dt (two's complement), sign-extended to 64 bits */
static inline uint64_t wrap_bits(uint64_t bits, kiln_dtype dt)
{
    int b = int_bits(dt);
    if (b == 64) {
        return bits;
    }
    uint64_t m = bits & ((1ull << b) - 1);
    if (!is_uint(dt) && (m >> (b - 1))) {
        m |= ~((1ull << b) - 1);
    }
    return m;
}

static inline void put_bits(void *p, int64_t i, kiln_dtype dt, uint64_t bits)
{
    switch (kiln_dtype_size(dt)) {
    case 1:
        ((uint8_t *)p)[i] = (uint8_t)bits;
        break;
    case 2:
        ((uint16_t *)p)[i] = (uint16_t)bits;
        break;
    case 4:
        ((uint32_t *)p)[i] = (uint32_t)bits;
        break;
    default:
        ((uint64_t *)p)[i] = bits;
        break;
    }
}

/* element i of an integer (or bool) buffer, sign-extended for signed
 * dtypes */
static inline uint64_t get_bits(const void *p, int64_t i, kiln_dtype dt)
{
    uint64_t v;
    switch (kiln_dtype_size(dt)) {
    case 1:
        v = ((const uint8_t *)p)[i];
        break;
    case 2:
        v = ((const uint16_t *)p)[i];
        break;
    case 4:
        v = ((const uint32_t *)p)[i];
        break;
    default:
        v = ((const uint64_t *)p)[i];
        break;
    }
    return dt == KILN_DTYPE_BOOL ? v : wrap_bits(v, dt);
}

static inline uint64_t int_max_bits(kiln_dtype dt)
{
    int b = int_bits(dt);
    if (is_uint(dt)) {
        return b == 64 ? UINT64_MAX : (1ull << b) - 1;
    }
    return b == 64 ? (uint64_t)INT64_MAX : (1ull << (b - 1)) - 1;
}

static inline uint64_t int_min_bits(kiln_dtype dt)
{
    if (is_uint(dt)) {
        return 0;
    }
    return wrap_bits(1ull << (int_bits(dt) - 1), dt);
}

/* same value: NaN equals NaN, zeros must have the same sign */
static inline bool same_f64(double a, double b)
{
    if (isnan(a) || isnan(b)) {
        return isnan(a) && isnan(b);
    }
    return a == b && !signbit(a) == !signbit(b);
}

/* float16 / bfloat16 values decoded with ldexp (independent of half.h) */
static inline double f16_value(uint16_t h)
{
    int e = (h >> 10) & 0x1f;
    int m = h & 0x3ff;
    double s = (h & 0x8000) ? -1.0 : 1.0;
    if (e == 31) {
        return m ? NAN : s * INFINITY;
    }
    if (e == 0) {
        return s * ldexp(m, -24);
    }
    return s * ldexp(1024 + m, e - 25);
}

static inline double bf16_value(uint16_t h)
{
    int e = (h >> 7) & 0xff;
    int m = h & 0x7f;
    double s = (h & 0x8000) ? -1.0 : 1.0;
    if (e == 255) {
        return m ? NAN : s * INFINITY;
    }
    if (e == 0) {
        return s * ldexp(m, -133);
    }
    return s * ldexp(128 + m, e - 134);
}

/* every float16 / bfloat16 value, decoded once (the checks below decode
 * millions of them) */
static double half_table[2][65536];
static bool half_table_ready;

static inline double half_value(uint16_t h, bool bf)
{
    if (!half_table_ready) {
        for (int i = 0; i < 65536; i++) {
            half_table[0][i] = f16_value((uint16_t)i);
            half_table[1][i] = bf16_value((uint16_t)i);
        }
        half_table_ready = true;
    }
    return half_table[bf][h];
}

/* Nearest float16 / bfloat16 bits of v, ties to even bits, by bisection
 * over the decoded values. NaN gives a NaN pattern. */
static inline uint16_t nearest_half(double v, bool bf)
{
    uint16_t sign = signbit(v) ? 0x8000 : 0;
    uint16_t maxbits = bf ? 0x7f7f : 0x7bff;
    double a = fabs(v);
    if (v != v) {
        return 0x7fff;
    }
    double top = half_value(maxbits, bf);
    double next = bf ? ldexp(1.0, 128) : 65536.0;
    if (a >= top + (next - top) / 2) {
        return sign | (uint16_t)(maxbits + 1);
    }
    if (a >= top) {
        return sign | maxbits;
    }
    uint16_t lo = 0, hi = maxbits;
    while (hi - lo > 1) {
        uint16_t mid = (uint16_t)((lo + hi) / 2);
        if (half_value(mid, bf) <= a) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    double dl = a - half_value(lo, bf), dh = half_value(hi, bf) - a;
    uint16_t r = dl < dh ? lo : (dh < dl ? hi : ((lo & 1) ? hi : lo));
    return sign | r;
}

static inline bool same_half(uint16_t a, uint16_t b, bool bf)
{
    return same_f64(half_value(a, bf), half_value(b, bf));
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static inline uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

#endif
