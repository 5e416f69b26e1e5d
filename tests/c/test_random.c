/*
 * test_random.c - the Threefry block function, random_bits' layout, keys,
 * the global key, and the samplers' statistics and errors.
 *
 * Statistical checks use 2^20 samples (or fewer) and 5-sigma bounds, with
 * fixed keys, so they are deterministic.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/array.h"
#include "harness.h"
#include "kiln.h"
#include "random_cpu.h"

#define N20 (1 << 20)

/* random_bits(key) through the primitive itself (inside a scope). */
static kiln_array *bits_of(kiln_array *key, const int64_t *shape, int nd,
                           int width)
{
    kiln_random_bits_params p;
    memset(&p, 0, sizeof p);
    p.ndim = nd;
    p.width = width;
    memcpy(p.shape, shape, sizeof *shape * (size_t)nd);
    return kiln__ret(
        kiln__node_make1(&kiln__prim_random_bits, &p, &key, 1, "test"));
}

static void tf(uint32_t k0, uint32_t k1, uint32_t c0, uint32_t c1,
               uint32_t *x0, uint32_t *x1)
{
    *x0 = c0;
    *x1 = c1;
    kiln__random_cpu_threefry(k0, k1, x0, x1);
}

/* Mean and variance of n float values read as doubles. */
static void moments(kiln_array *x, double *mean, double *var)
{
    kiln_array *d = kiln_astype(x, KILN_DTYPE_FLOAT64);
    const double *p = kiln_array_data(d);
    int64_t n = kiln_array_size(d);
    double s = 0, s2 = 0;
    for (int64_t i = 0; p && i < n; i++) {
        s += p[i];
    }
    *mean = s / (double)n;
    for (int64_t i = 0; p && i < n; i++) {
        s2 += (p[i] - *mean) * (p[i] - *mean);
    }
    *var = s2 / (double)n;
}

TEST(random_threefry_known_answers)
{
    /* Random123's kat_vectors for threefry2x32 with 20 rounds:
     * counter, key, result */
    static const uint32_t kat[3][6] = {
        {0x00000000, 0x00000000, 0x00000000, 0x00000000, 0x6b200159,
         0x99ba4efe},
        {0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0x1cb996fc,
         0xbb002be7},
        {0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344, 0xc4923a9c,
         0x483df7a0},
    };
    for (int i = 0; i < 3; i++) {
        uint32_t x0, x1;
        tf(kat[i][2], kat[i][3], kat[i][0], kat[i][1], &x0, &x1);
        CHECK_MSG(x0 == kat[i][4] && x1 == kat[i][5],
                  "vector %d: %08x %08x", i, x0, x1);
    }
}

TEST(random_bits_layout)
{
    kiln_scope_begin();
    kiln_array *key = kiln_random_key(0x0123456789abcdefull);
    const uint32_t *k = kiln_array_data(key);
    CHECK(k && k[0] == 0x01234567u && k[1] == 0x89abcdefu);
    uint32_t k0 = k ? k[0] : 0, k1 = k ? k[1] : 0, x0, x1, y0, y1;
    /* even word count: pairs (j, j + 2) */
    int64_t s4 = 4;
    const uint32_t *w = kiln_array_data(bits_of(key, &s4, 1, 4));
    tf(k0, k1, 0, 2, &x0, &x1);
    tf(k0, k1, 1, 3, &y0, &y1);
    CHECK(w && w[0] == x0 && w[1] == y0 && w[2] == x1 && w[3] == y1);
    /* odd word count: the middle word is counter (1, 0) */
    int64_t s3 = 3;
    w = kiln_array_data(bits_of(key, &s3, 1, 4));
    tf(k0, k1, 0, 2, &x0, &x1);
    tf(k0, k1, 1, 0, &y0, &y1);
    CHECK(w && w[0] == x0 && w[1] == y0 && w[2] == x1);
    /* partial last word: 5 bytes = words (0, 1) of pair (0, 1), the
     * second cut to its low byte */
    int64_t s5 = 5;
    const uint8_t *b = kiln_array_data(bits_of(key, &s5, 1, 1));
    tf(k0, k1, 0, 1, &x0, &x1);
    CHECK(b && memcmp(b, &x0, 4) == 0 && b[4] == (uint8_t)x1);
    /* a single partial word */
    int64_t s1 = 1;
    const uint16_t *h = kiln_array_data(bits_of(key, &s1, 1, 2));
    tf(k0, k1, 0, 0, &x0, &x1);
    CHECK(h && h[0] == (uint16_t)x0);
    /* 64-bit elements join two words, low word first */
    int64_t s2 = 2;
    const uint64_t *q = kiln_array_data(bits_of(key, &s2, 1, 8));
    tf(k0, k1, 0, 2, &x0, &x1);
    tf(k0, k1, 1, 3, &y0, &y1);
    CHECK(q && q[0] == ((uint64_t)y0 << 32 | x0) &&
          q[1] == ((uint64_t)y1 << 32 | x1));
    /* a batch of keys: each row is its own key's stream */
    kiln_array *keys = kiln_random_split(key, 3);
    int64_t s35[2] = {3, 5};
    const uint32_t *rows = kiln_array_data(bits_of(keys, s35, 2, 4));
    const uint32_t *kk = kiln_array_data(keys);
    for (int r = 0; rows && kk && r < 3; r++) {
        int64_t s5w = 5;
        kiln_array *one = kiln_array_from_data(kk + 2 * r, &s2, 1,
                                               KILN_DTYPE_UINT32);
        const uint32_t *want = kiln_array_data(bits_of(one, &s5w, 1, 4));
        CHECK(want && memcmp(rows + 5 * r, want, 20) == 0);
    }
    /* size 0 */
    int64_t s0 = 0;
    CHECK(kiln_array_eval(bits_of(key, &s0, 1, 4)) == KILN_OK);
    kiln_scope_end(NULL);
}

TEST(random_split_and_keys)
{
    kiln_scope_begin();
    kiln_array *key = kiln_random_key(42);
    const uint32_t *k = kiln_array_data(key);
    CHECK(k && k[0] == 0 && k[1] == 42);
    kiln_array *s = kiln_random_split(key, 4);
    CHECK(kiln_array_ndim(s) == 2 && kiln_array_dim(s, 0) == 4 &&
          kiln_array_dim(s, 1) == 2);
    CHECK(kiln_array_dtype(s) == KILN_DTYPE_UINT32);
    /* split(key, n): words p and p + n of pair (p, p + n) */
    const uint32_t *w = kiln_array_data(s);
    for (uint32_t p = 0; w && p < 4; p++) {
        uint32_t x0, x1;
        tf(0, 42, p, p + 4, &x0, &x1);
        CHECK(w[p] == x0 && w[p + 4] == x1);
    }
    /* keys differ from each other and from the parent */
    for (int i = 0; w && i < 4; i++) {
        CHECK(w[2 * i] != 0 || w[2 * i + 1] != 42);
        for (int j = 0; j < i; j++) {
            CHECK(w[2 * i] != w[2 * j] || w[2 * i + 1] != w[2 * j + 1]);
        }
    }
    /* same key, same numbers; other key, other numbers */
    int64_t n = 1000;
    kiln_dtype f = KILN_DTYPE_FLOAT32;
    const float *a = kiln_array_data(
        kiln_random_uniform(NULL, NULL, &n, 1, f, key));
    const float *b = kiln_array_data(
        kiln_random_uniform(NULL, NULL, &n, 1, f, key));
    const float *c = kiln_array_data(
        kiln_random_uniform(NULL, NULL, &n, 1, f, kiln_random_key(43)));
    CHECK(a && b && c && memcmp(a, b, 4000) == 0 && memcmp(a, c, 4000) != 0);
    CHECK(kiln_array_size(kiln_random_split(key, 0)) == 0);
    kiln_scope_end(NULL);
}

TEST(random_global_key)
{
    kiln_scope_begin();
    int64_t n = 256;
    kiln_dtype f = KILN_DTYPE_FLOAT32;
    CHECK(kiln_random_seed(7) == KILN_OK);
    kiln_array *st = kiln_random_state();
    const uint32_t *k = kiln_array_data(st);
    CHECK(k && k[0] == 0 && k[1] == 7);
    float a[256], b[256], c[256];
    kiln_array_read(kiln_random_uniform(NULL, NULL, &n, 1, f, NULL), a,
                    sizeof a);
    kiln_array_read(kiln_random_uniform(NULL, NULL, &n, 1, f, NULL), b,
                    sizeof b);
    CHECK(memcmp(a, b, sizeof a) != 0);
    /* the state still holds the old key: the global key was replaced */
    CHECK(k && k[0] == 0 && k[1] == 7);
    /* reseeding replays; so does restoring a saved state */
    CHECK(kiln_random_seed(7) == KILN_OK);
    kiln_array_read(kiln_random_uniform(NULL, NULL, &n, 1, f, NULL), c,
                    sizeof c);
    CHECK(memcmp(a, c, sizeof a) == 0);
    kiln_array *saved = kiln_random_state();
    kiln_array_read(kiln_random_uniform(NULL, NULL, &n, 1, f, NULL), a,
                    sizeof a);
    CHECK(kiln_random_set_state(saved) == KILN_OK);
    kiln_array_read(kiln_random_uniform(NULL, NULL, &n, 1, f, NULL), c,
                    sizeof c);
    CHECK(memcmp(a, c, sizeof a) == 0);
    /* the global key's split: new key = row 0, subkey = row 1 */
    CHECK(kiln_random_seed(9) == KILN_OK);
    kiln_array *sub = kiln_random_split(NULL, 1);
    const uint32_t *pair = kiln_array_data(
        kiln_random_split(kiln_random_key(9), 2));
    const uint32_t *g = kiln_array_data(kiln_random_state());
    const uint32_t *want = kiln_array_data(
        kiln_random_split(kiln_array_from_data(pair + 2, (int64_t[]){2}, 1,
                                               KILN_DTYPE_UINT32),
                          1));
    const uint32_t *got = kiln_array_data(sub);
    CHECK(pair && g && g[0] == pair[0] && g[1] == pair[1]);
    CHECK(want && got && got[0] == want[0] && got[1] == want[1]);
    /* set_state checks its key */
    float bad[2] = {0, 0};
    kiln_errclear();
    CHECK(kiln_random_set_state(kiln_array_from_data(
              bad, (int64_t[]){2}, 1, KILN_DTYPE_FLOAT32)) ==
          KILN_ERR_TYPE);
    kiln_errclear();
    CHECK(kiln_random_set_state(NULL) == KILN_ERR_VALUE);
    kiln_errclear();
    kiln_scope_end(NULL);
}

/* Draws 50 subkeys of the global key into ctx (100 uint32). */
static void *draw_keys(void *ctx)
{
    uint32_t *out = ctx;
    for (int i = 0; i < 50; i++) {
        kiln_array *k = kiln_random_split(NULL, 1);
        if (kiln_array_read(k, out + 2 * i, 8) != KILN_OK) {
            memset(out + 2 * i, 0, 8);
        }
        kiln_array_release(k);
    }
    return NULL;
}

TEST(random_global_key_threads)
{
    /* threads sharing the global key each get their own subkeys */
    uint32_t keys[4][100];
    pthread_t th[4];
    kiln_random_seed(11);
    for (int t = 0; t < 4; t++) {
        pthread_create(&th[t], NULL, draw_keys, keys[t]);
    }
    for (int t = 0; t < 4; t++) {
        pthread_join(th[t], NULL);
    }
    uint64_t all[200];
    for (int i = 0; i < 200; i++) {
        const uint32_t *k = &keys[i / 50][2 * (i % 50)];
        all[i] = (uint64_t)k[0] << 32 | k[1];
    }
    int dup = 0;
    for (int i = 0; i < 200; i++) {
        for (int j = 0; j < i; j++) {
            dup += all[i] == all[j];
        }
    }
    CHECK(dup == 0);
}

TEST(random_threads_same_numbers)
{
    kiln_scope_begin();
    int64_t n = N20 + 3;
    kiln_array *key = kiln_random_key(123);
    int was = kiln_num_threads();
    uint32_t *a = malloc(sizeof *a * (size_t)n);
    uint32_t *b = malloc(sizeof *b * (size_t)n);
    kiln_set_num_threads(1);
    kiln_array_read(bits_of(key, &n, 1, 4), a, sizeof *a * (size_t)n);
    kiln_set_num_threads(was > 1 ? was : 2);
    kiln_array_read(bits_of(key, &n, 1, 4), b, sizeof *b * (size_t)n);
    kiln_set_num_threads(was);
    CHECK(memcmp(a, b, sizeof *a * (size_t)n) == 0);
    /* the bits look random: each bit set about half the time */
    int64_t ones[32] = {0};
    for (int64_t i = 0; i < n; i++) {
        for (int j = 0; j < 32; j++) {
            ones[j] += (a[i] >> j) & 1u;
        }
    }
    for (int j = 0; j < 32; j++) {
        CHECK(fabs((double)ones[j] - n / 2.0) < 5 * sqrt(n / 4.0));
    }
    free(a);
    free(b);
    kiln_scope_end(NULL);
}

TEST(random_uniform_stats)
{
    kiln_scope_begin();
    int64_t n = N20;
    kiln_array *key = kiln_random_key(1);
    kiln_array *u = kiln_random_uniform(NULL, NULL, &n, 1,
                                        KILN_DTYPE_FLOAT32, key);
    CHECK(kiln_array_dtype(u) == KILN_DTYPE_FLOAT32);
    const float *p = kiln_array_data(u);
    float lo = 1, hi = 0;
    for (int64_t i = 0; p && i < n; i++) {
        lo = p[i] < lo ? p[i] : lo;
        hi = p[i] > hi ? p[i] : hi;
    }
    CHECK(lo >= 0.0f && hi < 1.0f && lo < 1e-4f && hi > 1.0f - 1e-4f);
    double mean, var;
    moments(u, &mean, &var);
    CHECK_NEAR(mean, 0.5, 5 * sqrt(1.0 / 12 / n));
    CHECK_NEAR(var, 1.0 / 12, 5 * sqrt(1.0 / 180 / n));
    /* other float dtypes */
    kiln_dtype dts[3] = {KILN_DTYPE_FLOAT16, KILN_DTYPE_BFLOAT16,
                         KILN_DTYPE_FLOAT64};
    for (int d = 0; d < 3; d++) {
        kiln_array *x = kiln_random_uniform(NULL, NULL, &n, 1, dts[d], key);
        CHECK(kiln_array_dtype(x) == dts[d]);
        moments(x, &mean, &var);
        CHECK_NEAR(mean, 0.5, 5 * sqrt(1.0 / 12 / n) + 1e-3);
        double mx = 0;
        const double *q = kiln_array_data(kiln_astype(x, KILN_DTYPE_FLOAT64));
        for (int64_t i = 0; q && i < n; i++) {
            mx = q[i] > mx ? q[i] : mx;
        }
        CHECK(mx < 1.0);
    }
    /* float64 uses 53 bits */
    const double *q = kiln_array_data(
        kiln_random_uniform(NULL, NULL, &n, 1, KILN_DTYPE_FLOAT64, key));
    int fine = 0;
    for (int64_t i = 0; q && i < 1000; i++) {
        fine += ldexp(q[i], 24) != floor(ldexp(q[i], 24));
    }
    CHECK(fine > 900);
    /* broadcast bounds: lo (2, 1), hi (3) into (m, 2, 3) */
    double l[2] = {-2, 3}, h[3] = {4, 5, 6};
    int64_t sl[2] = {2, 1}, sh[1] = {3}, so[3] = {20000, 2, 3};
    kiln_array *x = kiln_random_uniform(
        kiln_array_from_data(l, sl, 2, KILN_DTYPE_FLOAT64),
        kiln_array_from_data(h, sh, 1, KILN_DTYPE_FLOAT64), so, 3,
        KILN_DTYPE_FLOAT32, key);
    const float *r = kiln_array_data(x);
    double sum[6] = {0};
    for (int64_t i = 0; r && i < so[0]; i++) {
        for (int j = 0; j < 6; j++) {
            float v = r[i * 6 + j];
            CHECK(v >= l[j / 3] && v < h[j % 3]);
            sum[j] += v;
        }
    }
    for (int j = 0; j < 6; j++) {
        double w = h[j % 3] - l[j / 3];
        CHECK_NEAR(sum[j] / so[0], l[j / 3] + w / 2,
                   5 * w * sqrt(1.0 / 12 / so[0]));
    }
    /* a weak scalar bound and a 0-d result */
    x = kiln_random_uniform(kiln_weak_f64(5.0), NULL, NULL, 0,
                            KILN_DTYPE_FLOAT32, key);
    double v = 0;
    CHECK(kiln_array_item_f64(x, &v) == KILN_OK && v >= 0.0 && v < 5.0);
    /* size 0 */
    int64_t s0[2] = {0, 3};
    x = kiln_random_uniform(NULL, NULL, s0, 2, KILN_DTYPE_FLOAT32, key);
    CHECK(x && kiln_array_eval(x) == KILN_OK && kiln_array_size(x) == 0);
    kiln_scope_end(NULL);
}

TEST(random_normal_stats)
{
    kiln_scope_begin();
    int64_t n = N20;
    kiln_array *key = kiln_random_key(2);
    kiln_array *z = kiln_random_normal(&n, 1, KILN_DTYPE_FLOAT32, 0.0, 1.0,
                                       key);
    double mean, var;
    moments(z, &mean, &var);
    CHECK_NEAR(mean, 0.0, 5 * sqrt(1.0 / n));
    CHECK_NEAR(var, 1.0, 5 * sqrt(2.0 / n));
    const float *p = kiln_array_data(z);
    int64_t tail = 0, pos = 0;
    for (int64_t i = 0; p && i < n; i++) {
        CHECK(isfinite(p[i]));
        tail += fabsf(p[i]) > 2.0f;
        pos += p[i] > 0;
    }
    /* P(|z| > 2) = 0.0455003 */
    double pt = 0.0455003;
    CHECK_NEAR((double)tail / n, pt, 5 * sqrt(pt * (1 - pt) / n));
    CHECK_NEAR((double)pos / n, 0.5, 5 * sqrt(0.25 / n));
    /* loc and scale, float64 */
    z = kiln_random_normal(&n, 1, KILN_DTYPE_FLOAT64, 3.0, 0.5, key);
    CHECK(kiln_array_dtype(z) == KILN_DTYPE_FLOAT64);
    moments(z, &mean, &var);
    CHECK_NEAR(mean, 3.0, 5 * 0.5 * sqrt(1.0 / n));
    CHECK_NEAR(var, 0.25, 5 * 0.25 * sqrt(2.0 / n));
    /* half precision stays finite */
    z = kiln_random_normal(&n, 1, KILN_DTYPE_FLOAT16, 0.0, 1.0, key);
    CHECK(kiln_array_dtype(z) == KILN_DTYPE_FLOAT16);
    moments(z, &mean, &var);
    CHECK(isfinite(mean) && fabs(var - 1.0) < 0.01);
    kiln_scope_end(NULL);
}

TEST(random_randint)
{
    kiln_scope_begin();
    int64_t n = 100000;
    kiln_array *key = kiln_random_key(3);
    kiln_array *x = kiln_random_randint(kiln_weak_i64(-3), kiln_weak_i64(7),
                                        &n, 1, KILN_DTYPE_INT32, key);
    CHECK(kiln_array_dtype(x) == KILN_DTYPE_INT32);
    const int32_t *p = kiln_array_data(x);
    int64_t count[10] = {0};
    for (int64_t i = 0; p && i < n; i++) {
        CHECK(p[i] >= -3 && p[i] < 7);
        if (p[i] >= -3 && p[i] < 7) {
            count[p[i] + 3]++;
        }
    }
    for (int i = 0; i < 10; i++) {
        CHECK_NEAR((double)count[i] / n, 0.1, 5 * sqrt(0.09 / n));
    }
    /* a range wider than 2^32, in int64 */
    int64_t big = INT64_C(1) << 40;
    x = kiln_random_randint(kiln_scalar_i64(-big, KILN_DTYPE_INT64),
                            kiln_scalar_i64(big, KILN_DTYPE_INT64), &n, 1,
                            KILN_DTYPE_INT64, key);
    const int64_t *q = kiln_array_data(x);
    int64_t above = 0;
    for (int64_t i = 0; q && i < n; i++) {
        CHECK(q[i] >= -big && q[i] < big);
        above += q[i] > (INT64_C(1) << 39);
    }
    CHECK_NEAR((double)above / n, 0.25, 5 * sqrt(0.1875 / n));
    /* uint8 and bool results, per-element bounds */
    uint8_t hs[3] = {1, 2, 200};
    int64_t s3 = 3, s2[2] = {1000, 3};
    x = kiln_random_randint(kiln_weak_i64(0),
                            kiln_array_from_data(hs, &s3, 1,
                                                 KILN_DTYPE_UINT8),
                            s2, 2, KILN_DTYPE_UINT8, key);
    const uint8_t *r = kiln_array_data(x);
    int hit199 = 0;
    for (int64_t i = 0; r && i < 1000; i++) {
        CHECK(r[3 * i] == 0 && r[3 * i + 1] < 2 && r[3 * i + 2] < 200);
        hit199 |= r[3 * i + 2] >= 190;
    }
    CHECK(hit199);
    x = kiln_random_randint(kiln_weak_i64(0), kiln_weak_i64(2), &n, 1,
                            KILN_DTYPE_BOOL, key);
    CHECK(kiln_array_dtype(x) == KILN_DTYPE_BOOL);
    /* lazy bounds: an empty range gives lo */
    x = kiln_random_randint(kiln_add(kiln_weak_i64(5), kiln_weak_i64(0)),
                            kiln_add(kiln_weak_i64(5), kiln_weak_i64(0)),
                            &s3, 1, KILN_DTYPE_INT32, key);
    const int32_t *e = kiln_array_data(x);
    CHECK(e && e[0] == 5 && e[1] == 5 && e[2] == 5);
    /* evaluated bounds are not read at build time either: an empty or
     * reversed range gives lo, as in MLX */
    int32_t lohi[3] = {5, 7, -1};
    x = kiln_random_randint(kiln_array_from_data(lohi, &s3, 1,
                                                 KILN_DTYPE_INT32),
                            kiln_weak_i64(5), &s3, 1, KILN_DTYPE_INT32, key);
    CHECK(kiln_errcode() == KILN_OK);
    const int32_t *f = kiln_array_data(x);
    CHECK(f && f[0] == 5 && f[1] == 7 && f[2] >= -1 && f[2] < 5);
    /* errors */
    kiln_errclear();
    CHECK(kiln_random_randint(kiln_weak_i64(0), kiln_weak_i64(5), &n, 1,
                              KILN_DTYPE_FLOAT32, key) == NULL);
    CHECK(kiln_errcode() == KILN_ERR_TYPE);
    kiln_errclear();
    CHECK(kiln_random_randint(NULL, kiln_weak_i64(5), &n, 1,
                              KILN_DTYPE_INT32, key) == NULL);
    kiln_errclear();
    kiln_scope_end(NULL);
}

TEST(random_bernoulli)
{
    kiln_scope_begin();
    int64_t n = N20;
    kiln_array *key = kiln_random_key(4);
    kiln_array *x = kiln_random_bernoulli(
        kiln_scalar_f64(0.3, KILN_DTYPE_FLOAT32), &n, 1, key);
    CHECK(kiln_array_dtype(x) == KILN_DTYPE_BOOL);
    const uint8_t *p = kiln_array_data(x);
    int64_t ones = 0;
    for (int64_t i = 0; p && i < n; i++) {
        ones += p[i];
    }
    CHECK_NEAR((double)ones / n, 0.3, 5 * sqrt(0.21 / n));
    /* p NULL is 0.5 */
    p = kiln_array_data(kiln_random_bernoulli(NULL, &n, 1, key));
    ones = 0;
    for (int64_t i = 0; p && i < n; i++) {
        ones += p[i];
    }
    CHECK_NEAR((double)ones / n, 0.5, 5 * sqrt(0.25 / n));
    /* per-element p; shape NULL takes p's shape */
    float ps[3] = {0.0f, 0.5f, 1.0f};
    int64_t s3 = 3, s2[2] = {1000, 3};
    kiln_array *pa = kiln_array_from_data(ps, &s3, 1, KILN_DTYPE_FLOAT32);
    p = kiln_array_data(kiln_random_bernoulli(pa, s2, 2, key));
    for (int i = 0; p && i < 1000; i++) {
        CHECK(p[3 * i] == 0 && p[3 * i + 2] == 1);
    }
    x = kiln_random_bernoulli(pa, NULL, 0, key);
    CHECK(kiln_array_ndim(x) == 1 && kiln_array_dim(x, 0) == 3);
    kiln_errclear();
    CHECK(kiln_random_bernoulli(kiln_weak_i64(1), &n, 1, key) == NULL);
    CHECK(kiln_errcode() == KILN_ERR_TYPE);
    kiln_errclear();
    int64_t s4 = 4;
    CHECK(kiln_random_bernoulli(pa, &s4, 1, key) == NULL);
    CHECK(kiln_errcode() == KILN_ERR_VALUE);
    kiln_errclear();
    kiln_scope_end(NULL);
}

/* standard normal density and distribution */
static double phi(double x)
{
    return exp(-0.5 * x * x) / sqrt(2 * M_PI);
}

static double cdf(double x)
{
    return 0.5 * erfc(-x / sqrt(2.0));
}

TEST(random_truncated_normal)
{
    kiln_scope_begin();
    int64_t n = N20;
    kiln_array *key = kiln_random_key(5);
    double a = -1.0, b = 2.0;
    kiln_array *x = kiln_random_truncated_normal(
        kiln_weak_f64(a), kiln_weak_f64(b), &n, 1, KILN_DTYPE_FLOAT32, key);
    const float *p = kiln_array_data(x);
    for (int64_t i = 0; p && i < n; i++) {
        if (!(p[i] >= a && p[i] <= b)) {
            CHECK_MSG(0, "sample %lld = %g out of bounds", (long long)i,
                      p[i]);
            break;
        }
    }
    double z = cdf(b) - cdf(a);
    double mu = (phi(a) - phi(b)) / z;
    double var = 1 + (a * phi(a) - b * phi(b)) / z - mu * mu;
    double mean, v;
    moments(x, &mean, &v);
    CHECK_NEAR(mean, mu, 5 * sqrt(var / n));
    CHECK_NEAR(v, var, 0.01);
    /* an infinite bound, a far tail, and shape from the bounds */
    x = kiln_random_truncated_normal(kiln_scalar_f64(-INFINITY,
                                                     KILN_DTYPE_FLOAT32),
                                     kiln_weak_f64(0.5), &n, 1,
                                     KILN_DTYPE_FLOAT32, key);
    p = kiln_array_data(x);
    for (int64_t i = 0; p && i < n; i++) {
        if (!(isfinite(p[i]) && p[i] <= 0.5f)) {
            CHECK_MSG(0, "sample %lld = %g", (long long)i, p[i]);
            break;
        }
    }
    double lo3[2] = {3.0, -1.0}, hi3[2] = {4.0, 1.0};
    int64_t s2 = 2;
    x = kiln_random_truncated_normal(
        kiln_array_from_data(lo3, &s2, 1, KILN_DTYPE_FLOAT64),
        kiln_array_from_data(hi3, &s2, 1, KILN_DTYPE_FLOAT64), NULL, 0,
        KILN_DTYPE_FLOAT64, key);
    const double *q = kiln_array_data(x);
    CHECK(kiln_array_ndim(x) == 1 && kiln_array_dim(x, 0) == 2);
    CHECK(q && q[0] >= 3.0 && q[0] <= 4.0 && q[1] >= -1.0 && q[1] <= 1.0);
    kiln_errclear();
    CHECK(kiln_random_truncated_normal(kiln_weak_f64(0), kiln_weak_f64(1),
                                       &n, 1, KILN_DTYPE_INT32,
                                       key) == NULL);
    CHECK(kiln_errcode() == KILN_ERR_TYPE);
    kiln_errclear();
    kiln_scope_end(NULL);
}

TEST(random_categorical)
{
    kiln_scope_begin();
    kiln_array *key = kiln_random_key(6);
    float probs[4] = {0.1f, 0.2f, 0.3f, 0.4f};
    float logits[4];
    for (int i = 0; i < 4; i++) {
        logits[i] = logf(probs[i]) + 1.5f; /* unnormalised */
    }
    int64_t s4 = 4, n = 200000;
    kiln_array *l = kiln_array_from_data(logits, &s4, 1, KILN_DTYPE_FLOAT32);
    kiln_array *x = kiln_random_categorical(l, 0, &n, 1, key);
    CHECK(kiln_array_dtype(x) == KILN_DTYPE_UINT32);
    const uint32_t *p = kiln_array_data(x);
    int64_t count[4] = {0};
    for (int64_t i = 0; p && i < n; i++) {
        CHECK(p[i] < 4);
        if (p[i] < 4) {
            count[p[i]]++;
        }
    }
    for (int i = 0; i < 4; i++) {
        double q = probs[i];
        CHECK_NEAR((double)count[i] / n, q, 5 * sqrt(q * (1 - q) / n));
    }
    /* 2-D logits along either axis; -inf is never drawn */
    float l2[6] = {0.0f, -INFINITY, 0.0f, -INFINITY, 5.0f, -INFINITY};
    int64_t s23[2] = {2, 3};
    kiln_array *m = kiln_array_from_data(l2, s23, 2, KILN_DTYPE_FLOAT32);
    x = kiln_random_categorical(m, 1, NULL, 0, key);
    CHECK(kiln_array_ndim(x) == 1 && kiln_array_dim(x, 0) == 2);
    const uint32_t *r = kiln_array_data(x);
    CHECK(r && r[0] != 1 && r[1] == 1);
    int64_t s_b[2] = {500, 2};
    x = kiln_random_categorical(m, -1, s_b, 2, key);
    r = kiln_array_data(x);
    int hit0 = 0, hit2 = 0;
    for (int i = 0; r && i < 500; i++) {
        CHECK(r[2 * i] != 1 && r[2 * i + 1] == 1);
        hit0 |= r[2 * i] == 0;
        hit2 |= r[2 * i] == 2;
    }
    CHECK(hit0 && hit2);
    x = kiln_random_categorical(m, 0, NULL, 0, key);
    r = kiln_array_data(x);
    CHECK(kiln_array_dim(x, 0) == 3);
    CHECK(r && r[0] == 0 && r[1] == 1 && r[2] <= 1);
    kiln_errclear();
    int64_t s_bad[1] = {3};
    CHECK(kiln_random_categorical(m, 1, s_bad, 1, key) == NULL);
    CHECK(kiln_errcode() == KILN_ERR_VALUE);
    kiln_errclear();
    CHECK(kiln_random_categorical(m, 2, NULL, 0, key) == NULL);
    CHECK(kiln_errcode() != KILN_OK);
    kiln_errclear();
    kiln_scope_end(NULL);
}

TEST(random_errors)
{
    kiln_scope_begin();
    kiln_array *key = kiln_random_key(8);
    int64_t s[2] = {2, 3}, neg[2] = {2, -1};
    kiln_errclear();
    CHECK(kiln_random_uniform(NULL, NULL, s, 2, KILN_DTYPE_INT32, key) ==
          NULL);
    CHECK(kiln_errcode() == KILN_ERR_TYPE);
    CHECK(strstr(kiln_errmsg(), "[random_uniform]") != NULL);
    kiln_errclear();
    CHECK(kiln_random_uniform(NULL, NULL, s, 2, (kiln_dtype)99, key) ==
          NULL);
    CHECK(kiln_errcode() == KILN_ERR_TYPE);
    kiln_errclear();
    CHECK(kiln_random_normal(s, 2, KILN_DTYPE_BOOL, 0, 1, key) == NULL);
    CHECK(kiln_errcode() == KILN_ERR_TYPE);
    kiln_errclear();
    CHECK(kiln_random_uniform(NULL, NULL, neg, 2, KILN_DTYPE_FLOAT32,
                              key) == NULL);
    CHECK(kiln_errcode() == KILN_ERR_VALUE);
    kiln_errclear();
    CHECK(kiln_random_normal(NULL, 2, KILN_DTYPE_FLOAT32, 0, 1, key) ==
          NULL);
    CHECK(kiln_errcode() != KILN_OK);
    kiln_errclear();
    CHECK(kiln_random_normal(s, KILN_MAX_NDIM + 1, KILN_DTYPE_FLOAT32, 0, 1,
                             key) == NULL);
    CHECK(kiln_errcode() == KILN_ERR_VALUE);
    kiln_errclear();
    /* keys must be uint32 of shape (2) */
    uint32_t k3[3] = {1, 2, 3};
    int64_t s3 = 3;
    kiln_array *bad = kiln_array_from_data(k3, &s3, 1, KILN_DTYPE_UINT32);
    CHECK(kiln_random_uniform(NULL, NULL, s, 2, KILN_DTYPE_FLOAT32, bad) ==
          NULL);
    CHECK(kiln_errcode() == KILN_ERR_VALUE);
    kiln_errclear();
    CHECK(kiln_random_split(kiln_astype(key, KILN_DTYPE_INT32), 2) == NULL);
    CHECK(kiln_errcode() == KILN_ERR_TYPE);
    kiln_errclear();
    CHECK(kiln_random_split(key, -1) == NULL);
    CHECK(kiln_errcode() == KILN_ERR_VALUE);
    kiln_errclear();
    /* bounds that do not broadcast into the requested shape */
    int64_t s4 = 4;
    kiln_array *lo4 = kiln_zeros(&s4, 1, KILN_DTYPE_FLOAT32);
    CHECK(kiln_random_uniform(lo4, NULL, s, 2, KILN_DTYPE_FLOAT32, key) ==
          NULL);
    CHECK(kiln_errcode() == KILN_ERR_VALUE);
    kiln_errclear();
    /* the primitive's own checks */
    int64_t s33[2] = {3, 3};
    CHECK(bits_of(kiln_random_split(key, 2), s33, 2, 4) == NULL);
    CHECK(kiln_errcode() == KILN_ERR_VALUE);
    kiln_errclear();
    CHECK(bits_of(key, s33, 2, 3) == NULL);
    CHECK(kiln_errcode() == KILN_ERR_VALUE);
    kiln_errclear();
    kiln_scope_end(NULL);
}

/* A NULL optional argument (lo, hi, p, key) means its default only while
 * no error is pending; after a failed call it propagates that first error
 * and leaves the global key alone. */
static kiln_array *failed(void)
{
    int64_t two = 2, five = 5;
    kiln_errclear();
    kiln_array *y = kiln_reshape(kiln_zeros(&two, 1, KILN_DTYPE_FLOAT32),
                                 &five, 1);
    CHECK(y == NULL && kiln_errcode() == KILN_ERR_VALUE);
    return y;
}

static bool first_error_kept(kiln_array *y)
{
    bool ok = y == NULL && kiln_errcode() == KILN_ERR_VALUE &&
              strstr(kiln_errmsg(), "[reshape]") != NULL;
    kiln_errclear();
    return ok;
}

TEST(random_null_after_error)
{
    kiln_scope_begin();
    int64_t s = 3;
    kiln_array *key = kiln_random_key(9);
    kiln_array *one = kiln_weak_f64(1.0);
    CHECK(kiln_random_seed(11) == KILN_OK);
    uint32_t before[2] = {0}, after[2] = {1};
    CHECK(kiln_array_read(kiln_random_state(), before, sizeof before) ==
          KILN_OK);
    CHECK(first_error_kept(kiln_random_uniform(failed(), one, &s, 1,
                                               KILN_DTYPE_FLOAT32, key)));
    CHECK(first_error_kept(kiln_random_uniform(one, failed(), &s, 1,
                                               KILN_DTYPE_FLOAT32, key)));
    /* the error is kept even when another argument is also bad */
    CHECK(first_error_kept(kiln_random_uniform(failed(), NULL, &s, 1,
                                               KILN_DTYPE_INT32, key)));
    CHECK(first_error_kept(kiln_random_bernoulli(failed(), &s, 1, key)));
    CHECK(first_error_kept(kiln_random_uniform(NULL, NULL, &s, 1,
                                               KILN_DTYPE_FLOAT32,
                                               failed())));
    CHECK(first_error_kept(kiln_random_normal(&s, 1, KILN_DTYPE_FLOAT32, 0,
                                              1, failed())));
    CHECK(first_error_kept(kiln_random_randint(kiln_weak_i64(0),
                                               kiln_weak_i64(5), &s, 1,
                                               KILN_DTYPE_INT32,
                                               failed())));
    CHECK(first_error_kept(kiln_random_bernoulli(NULL, &s, 1, failed())));
    CHECK(first_error_kept(kiln_random_truncated_normal(
        kiln_weak_f64(-1), kiln_weak_f64(1), &s, 1, KILN_DTYPE_FLOAT32,
        failed())));
    CHECK(first_error_kept(kiln_random_categorical(
        kiln_zeros(&s, 1, KILN_DTYPE_FLOAT32), 0, NULL, 0, failed())));
    CHECK(first_error_kept(kiln_random_split(failed(), 2)));
    CHECK(kiln_array_read(kiln_random_state(), after, sizeof after) ==
          KILN_OK);
    CHECK(before[0] == after[0] && before[1] == after[1]);
    /* with no error pending, NULL is the default again */
    CHECK(kiln_random_uniform(NULL, NULL, &s, 1, KILN_DTYPE_FLOAT32, NULL) !=
          NULL);
    kiln_scope_end(NULL);
}
