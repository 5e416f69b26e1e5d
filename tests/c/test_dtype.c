/*
 * test_dtype.c - dtypes: their facts, scalars of every dtype, item
 * conversions, kiln_array_format, astype between every pair of dtypes
 * (float16/bfloat16 included: every bit pattern, rounding at every tie),
 * and promotion (MLX's table and weak scalars).
 *
 * Expectations are written out by hand (the tables) or computed in the
 * test with plain C (integer wrapping and saturation, float16/bfloat16
 * decoded with ldexp and rounded by bisection over the decoded values),
 * never read back from the library's own tables.
 */
#include <float.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/half.h"
#include "harness.h"
#include "kiln.h"
#include "ref.h"

#define NELEM(a) ((int64_t)(sizeof(a) / sizeof((a)[0])))
#define NDT KILN_DTYPE_COUNT

static const kiln_dtype all_dtypes[NDT] = {
    KILN_DTYPE_BOOL,    KILN_DTYPE_UINT8,    KILN_DTYPE_UINT16,
    KILN_DTYPE_UINT32,  KILN_DTYPE_UINT64,   KILN_DTYPE_INT8,
    KILN_DTYPE_INT16,   KILN_DTYPE_INT32,    KILN_DTYPE_INT64,
    KILN_DTYPE_FLOAT16, KILN_DTYPE_BFLOAT16, KILN_DTYPE_FLOAT32,
    KILN_DTYPE_FLOAT64};

/* ------------------------------------------------------------------ */
/* helpers                                                            */
/* ------------------------------------------------------------------ */

/* saturating truncation of a double into integer dt, NaN to 0 */
static uint64_t sat_bits(double v, kiln_dtype dt)
{
    int b = int_bits(dt);
    if (v != v) {
        return 0;
    }
    v = trunc(v);
    if (is_uint(dt)) {
        if (v <= 0) {
            return 0;
        }
        return v >= ldexp(1.0, b) ? int_max_bits(dt) : (uint64_t)v;
    }
    if (v >= ldexp(1.0, b - 1)) {
        return int_max_bits(dt);
    }
    if (v < -ldexp(1.0, b - 1)) {
        return int_min_bits(dt);
    }
    return (uint64_t)(int64_t)v;
}

TEST(dtype_names_sizes_kinds)
{
    static const struct {
        kiln_dtype dt;
        const char *name;
        size_t size;
        bool is_float, is_int, is_signed;
    } want[NDT] = {
        {KILN_DTYPE_BOOL, "bool", 1, false, false, false},
        {KILN_DTYPE_UINT8, "uint8", 1, false, true, false},
        {KILN_DTYPE_UINT16, "uint16", 2, false, true, false},
        {KILN_DTYPE_UINT32, "uint32", 4, false, true, false},
        {KILN_DTYPE_UINT64, "uint64", 8, false, true, false},
        {KILN_DTYPE_INT8, "int8", 1, false, true, true},
        {KILN_DTYPE_INT16, "int16", 2, false, true, true},
        {KILN_DTYPE_INT32, "int32", 4, false, true, true},
        {KILN_DTYPE_INT64, "int64", 8, false, true, true},
        {KILN_DTYPE_FLOAT16, "float16", 2, true, false, true},
        {KILN_DTYPE_BFLOAT16, "bfloat16", 2, true, false, true},
        {KILN_DTYPE_FLOAT32, "float32", 4, true, false, true},
        {KILN_DTYPE_FLOAT64, "float64", 8, true, false, true},
    };
    CHECK(KILN_DTYPE_COUNT == 13);
    for (int i = 0; i < NDT; i++) {
        kiln_dtype dt = want[i].dt;
        CHECK_MSG(strcmp(kiln_dtype_name(dt), want[i].name) == 0,
                  "name of %d: %s", (int)dt, kiln_dtype_name(dt));
        CHECK(kiln_dtype_size(dt) == want[i].size);
        CHECK(kiln_dtype_is_float(dt) == want[i].is_float);
        CHECK(kiln_dtype_is_integer(dt) == want[i].is_int);
        CHECK(kiln_dtype_is_signed(dt) == want[i].is_signed);
    }
    /* invalid enumerators: no crash, neutral answers */
    kiln_dtype bad[3] = {(kiln_dtype)-1, KILN_DTYPE_COUNT, (kiln_dtype)99};
    for (int i = 0; i < 3; i++) {
        CHECK(kiln_dtype_name(bad[i]) != NULL);
        CHECK(strcmp(kiln_dtype_name(bad[i]), "float32") != 0);
        CHECK(kiln_dtype_size(bad[i]) == 0);
        CHECK(!kiln_dtype_is_float(bad[i]));
        CHECK(!kiln_dtype_is_integer(bad[i]));
        CHECK(!kiln_dtype_is_signed(bad[i]));
    }
    CHECK(strcmp(kiln_status_name(KILN_OK), "ok") == 0);
    CHECK(strcmp(kiln_status_name(KILN_ERR_TYPE), "type error") == 0);
    CHECK(strcmp(kiln_status_name((kiln_status)77), "unknown status") == 0);
}

/* ------------------------------------------------------------------ */
/* scalars                                                            */
/* ------------------------------------------------------------------ */

/* The value of dt that a double v becomes through kiln_scalar_f64, read
 * back as a double. */
static double expect_from_f64(double v, kiln_dtype dt)
{
    switch (dt) {
    case KILN_DTYPE_BOOL:
        return v != 0;
    case KILN_DTYPE_FLOAT16:
        return f16_value(nearest_half(v, false));
    case KILN_DTYPE_BFLOAT16:
        return bf16_value(nearest_half(v, true));
    case KILN_DTYPE_FLOAT32:
        return (float)v;
    case KILN_DTYPE_FLOAT64:
        return v;
    case KILN_DTYPE_UINT64:
        return (double)sat_bits(v, dt);
    default:
        return (double)(int64_t)sat_bits(v, dt);
    }
}

TEST(dtype_scalar_f64_every_dtype)
{
    static const double vals[] = {
        0.0,  -0.0,  1.0,     -1.0,   2.7,     -2.7,  0.5,     -0.5,
        127.9, 128.0, -128.5, 255.5, 256.0,   -129.0, 65535.9, 65536.5,
        1e10, -1e10, 1e30,    -1e30,  INFINITY, -INFINITY, NAN,
        0.1,  3.14159, 1e-8,  65520.0, 65519.0, 4294967296.5,
        9.3e18, -9.3e18, 1.9e19, 2e19,
        /* just above a float16 / bfloat16 tie, with the excess below
         * float32 precision: one correct rounding goes up, rounding
         * through float32 first would land on the tie and go down */
        1.0 + 0x1p-11 + 0x1p-40, -(1.0 + 0x1p-11 + 0x1p-40),
        1.0 + 0x1p-8 + 0x1p-40, 0x1p-25 + 0x1p-60};
    size_t nv = sizeof vals / sizeof vals[0];
    for (int d = 0; d < NDT; d++) {
        kiln_dtype dt = all_dtypes[d];
        for (size_t i = 0; i < nv; i++) {
            kiln_array *a = kiln_scalar_f64(vals[i], dt);
            double got = -12345;
            CHECK(a != NULL);
            if (!a) {
                continue;
            }
            CHECK(kiln_array_dtype(a) == dt);
            CHECK(kiln_array_ndim(a) == 0);
            CHECK(kiln_array_size(a) == 1);
            CHECK(kiln_array_is_evaluated(a));
            CHECK(!kiln_array_is_weak(a));
            CHECK(kiln_array_item_f64(a, &got) == KILN_OK);
            double want = expect_from_f64(vals[i], dt);
            CHECK_MSG(same_f64(got, want),
                      "scalar_f64(%.17g, %s): got %.17g want %.17g", vals[i],
                      kiln_dtype_name(dt), got, want);
            if (dt == KILN_DTYPE_UINT64) {
                uint64_t bits;
                CHECK(kiln_array_read(a, &bits, 8) == KILN_OK);
                CHECK_MSG(bits == sat_bits(vals[i], dt),
                          "scalar_f64(%.17g, uint64) bits %llu", vals[i],
                          (unsigned long long)bits);
            }
            if (dt == KILN_DTYPE_INT64) {
                int64_t v;
                CHECK(kiln_array_read(a, &v, 8) == KILN_OK);
                CHECK_MSG(v == (int64_t)sat_bits(vals[i], dt),
                          "scalar_f64(%.17g, int64) = %lld", vals[i],
                          (long long)v);
            }
            kiln_array_release(a);
        }
    }
}

TEST(dtype_scalar_i64_u64_bool)
{
    static const int64_t ivals[] = {0,   1,      -1,        127,  128,
                                    -129, 255,   256,       300,  -300,
                                    65535, 65536, 70000,    -70000,
                                    INT32_MAX, INT32_MIN,   (int64_t)1 << 40,
                                    INT64_MAX, INT64_MIN,   16777217};
    size_t nv = sizeof ivals / sizeof ivals[0];
    for (int d = 0; d < NDT; d++) {
        kiln_dtype dt = all_dtypes[d];
        for (size_t i = 0; i < nv; i++) {
            int64_t v = ivals[i];
            kiln_array *a = kiln_scalar_i64(v, dt);
            CHECK(a && kiln_array_dtype(a) == dt && kiln_array_ndim(a) == 0);
            if (!a) {
                continue;
            }
            if (dt == KILN_DTYPE_BOOL) {
                uint8_t b;
                CHECK(kiln_array_read(a, &b, 1) == KILN_OK && b == (v != 0));
            } else if (kiln_dtype_is_integer(dt)) {
                /* integers wrap, as a C cast to the type */
                int64_t got = 0, want = (int64_t)wrap_bits((uint64_t)v, dt);
                uint64_t raw = 0;
                CHECK(kiln_array_read(a, &raw, kiln_dtype_size(dt)) ==
                      KILN_OK);
                got = (int64_t)wrap_bits(raw, dt);
                CHECK_MSG(got == want, "scalar_i64(%lld, %s) = %lld",
                          (long long)v, kiln_dtype_name(dt),
                          (long long)got);
            } else {
                double got;
                CHECK(kiln_array_item_f64(a, &got) == KILN_OK);
                /* the exact integer rounded once to dt (values up to
                 * 2^53 are exact doubles, larger ones only meet float32
                 * and narrower here, where one rounding of the double is
                 * still the correct answer except at exact ties, which
                 * these values avoid) */
                double want = expect_from_f64((double)v, dt);
                CHECK_MSG(same_f64(got, want),
                          "scalar_i64(%lld, %s) = %.17g want %.17g",
                          (long long)v, kiln_dtype_name(dt), got, want);
            }
            kiln_array_release(a);
        }
        /* uint64 values beyond int64 */
        kiln_array *u = kiln_scalar_u64(UINT64_MAX, dt);
        CHECK(u && kiln_array_dtype(u) == dt);
        if (u && dt == KILN_DTYPE_UINT64) {
            uint64_t r;
            CHECK(kiln_array_read(u, &r, 8) == KILN_OK && r == UINT64_MAX);
        } else if (u && kiln_dtype_is_float(dt)) {
            double r;
            CHECK(kiln_array_item_f64(u, &r) == KILN_OK);
            CHECK_MSG(same_f64(r, expect_from_f64(18446744073709551615.0,
                                                     dt)),
                      "scalar_u64(max, %s) = %.17g", kiln_dtype_name(dt), r);
        } else if (u && dt == KILN_DTYPE_BOOL) {
            uint8_t b;
            CHECK(kiln_array_read(u, &b, 1) == KILN_OK && b == 1);
        } else if (u) {
            uint64_t raw = 0;
            CHECK(kiln_array_read(u, &raw, kiln_dtype_size(dt)) == KILN_OK);
            CHECK(wrap_bits(raw, dt) == wrap_bits(UINT64_MAX, dt));
        }
        kiln_array_release(u);
    }
    kiln_array *t = kiln_scalar_bool(true), *f = kiln_scalar_bool(false);
    uint8_t bt = 7, bf = 7;
    CHECK(t && kiln_array_dtype(t) == KILN_DTYPE_BOOL);
    CHECK(kiln_array_read(t, &bt, 1) == KILN_OK && bt == 1);
    CHECK(kiln_array_read(f, &bf, 1) == KILN_OK && bf == 0);
    kiln_array_release(t);
    kiln_array_release(f);
}

TEST(dtype_scalar_errors_and_weak)
{
    kiln_errclear();
    CHECK(kiln_scalar_f64(1.0, (kiln_dtype)99) == NULL);
    CHECK(kiln_errcode() == KILN_ERR_TYPE);
    kiln_errclear();
    CHECK(kiln_scalar_i64(1, (kiln_dtype)-1) == NULL);
    CHECK(kiln_errcode() == KILN_ERR_TYPE);
    kiln_errclear();
    CHECK(kiln_scalar_u64(1, KILN_DTYPE_COUNT) == NULL);
    CHECK(kiln_errcode() == KILN_ERR_TYPE);
    kiln_errclear();

    kiln_array *wf = kiln_weak_f64(0.5), *wi = kiln_weak_i64(-3);
    double v;
    int64_t iv;
    CHECK(kiln_array_is_weak(wf) && kiln_array_is_weak(wi));
    CHECK(kiln_array_dtype(wf) == KILN_DTYPE_FLOAT32);
    CHECK(kiln_array_dtype(wi) == KILN_DTYPE_INT32);
    CHECK(kiln_array_item_f64(wf, &v) == KILN_OK && v == 0.5);
    CHECK(kiln_array_item_i64(wi, &iv) == KILN_OK && iv == -3);
    CHECK(!kiln_array_is_weak(NULL));
    kiln_array_release(wf);
    kiln_array_release(wi);
}

/* ------------------------------------------------------------------ */
/* items                                                              */
/* ------------------------------------------------------------------ */

TEST(dtype_item_conversions)
{
    /* item_f64 / item_i64 of one value stored in each dtype */
    static const double fvals[] = {2.9,  -2.9,  0.0,      -0.0, 1e300,
                                   -1e300, NAN, INFINITY, -INFINITY, 0.25,
                                   1e19, -1e19};
    for (size_t i = 0; i < sizeof fvals / sizeof fvals[0]; i++) {
        kiln_dtype fdt[2] = {KILN_DTYPE_FLOAT32, KILN_DTYPE_FLOAT64};
        for (int k = 0; k < 2; k++) {
            kiln_array *a = kiln_scalar_f64(fvals[i], fdt[k]);
            double f;
            int64_t n;
            double stored = fdt[k] == KILN_DTYPE_FLOAT32
                                ? (double)(float)fvals[i]
                                : fvals[i];
            CHECK(kiln_array_item_f64(a, &f) == KILN_OK);
            CHECK(same_f64(f, stored));
            CHECK(kiln_array_item_i64(a, &n) == KILN_OK);
            CHECK_MSG(n == (int64_t)sat_bits(stored, KILN_DTYPE_INT64),
                      "item_i64(%g) = %lld", stored, (long long)n);
            kiln_array_release(a);
        }
    }
    /* integers come back exactly, including beyond 2^53 */
    int64_t big = ((int64_t)1 << 60) + 1, got;
    kiln_array *a = kiln_scalar_i64(big, KILN_DTYPE_INT64);
    CHECK(kiln_array_item_i64(a, &got) == KILN_OK && got == big);
    kiln_array_release(a);
    a = kiln_scalar_i64(-5, KILN_DTYPE_INT8);
    CHECK(kiln_array_item_i64(a, &got) == KILN_OK && got == -5);
    kiln_array_release(a);
    a = kiln_scalar_u64(4000000000u, KILN_DTYPE_UINT32);
    CHECK(kiln_array_item_i64(a, &got) == KILN_OK && got == 4000000000);
    kiln_array_release(a);
    a = kiln_scalar_bool(true);
    CHECK(kiln_array_item_i64(a, &got) == KILN_OK && got == 1);
    kiln_array_release(a);
    /* float16 / bfloat16 items */
    a = kiln_scalar_f64(-2.5, KILN_DTYPE_FLOAT16);
    double f;
    CHECK(kiln_array_item_f64(a, &f) == KILN_OK && f == -2.5);
    CHECK(kiln_array_item_i64(a, &got) == KILN_OK && got == -2);
    kiln_array_release(a);
    a = kiln_scalar_f64(1e38, KILN_DTYPE_BFLOAT16);
    CHECK(kiln_array_item_f64(a, &f) == KILN_OK &&
          f == bf16_value(nearest_half(1e38, true)));
    kiln_array_release(a);

    /* a lazy one-element array is evaluated by item */
    kiln_array *x = kiln_scalar_f64(3.0, KILN_DTYPE_FLOAT32);
    kiln_array *y = kiln_add(x, x);
    CHECK(!kiln_array_is_evaluated(y));
    CHECK(kiln_array_item_f64(y, &f) == KILN_OK && f == 6.0);
    CHECK(kiln_array_is_evaluated(y));
    kiln_array_release(x);
    kiln_array_release(y);

    /* one element of a 3-d array is fine; two are not */
    int64_t s3[3] = {1, 1, 1}, s2[1] = {2};
    float one = 4.5f, two[2] = {1, 2};
    a = kiln_array_from_data(&one, s3, 3, KILN_DTYPE_FLOAT32);
    CHECK(kiln_array_item_f64(a, &f) == KILN_OK && f == 4.5);
    kiln_array_release(a);
    a = kiln_array_from_data(two, s2, 1, KILN_DTYPE_FLOAT32);
    kiln_errclear();
    CHECK(kiln_array_item_f64(a, &f) == KILN_ERR_VALUE);
    CHECK(strstr(kiln_errmsg(), "[array_item]") != NULL);
    kiln_errclear();
    CHECK(kiln_array_item_i64(a, &got) == KILN_ERR_VALUE);
    kiln_errclear();
    CHECK(kiln_array_item_f64(a, NULL) != KILN_OK);
    kiln_errclear();
    CHECK(kiln_array_item_f64(NULL, &f) != KILN_OK);
    kiln_errclear();
    CHECK(kiln_array_item_i64(NULL, &got) != KILN_OK);
    kiln_errclear();
    kiln_array_release(a);
}

/* ------------------------------------------------------------------ */
/* format                                                             */
/* ------------------------------------------------------------------ */

static void check_format(kiln_array *a, const char *want)
{
    char buf[512];
    size_t n = kiln_array_format(a, buf, sizeof buf);
    CHECK_MSG(strcmp(buf, want) == 0, "format: got '%s' want '%s'", buf,
              want);
    CHECK(n == strlen(want));
}

TEST(dtype_array_format)
{
    kiln_scope_begin();
    check_format(kiln_scalar_f64(1.5, KILN_DTYPE_FLOAT32),
                 "array(1.5, shape=(), dtype=float32)");
    check_format(kiln_scalar_bool(true), "array(true, shape=(), dtype=bool)");
    check_format(kiln_scalar_u64(UINT64_MAX, KILN_DTYPE_UINT64),
                 "array(18446744073709551615, shape=(), dtype=uint64)");
    check_format(kiln_scalar_i64(INT64_MIN, KILN_DTYPE_INT64),
                 "array(-9223372036854775808, shape=(), dtype=int64)");
    check_format(kiln_scalar_i64(-7, KILN_DTYPE_INT8),
                 "array(-7, shape=(), dtype=int8)");
    check_format(kiln_scalar_f64(0.5, KILN_DTYPE_FLOAT16),
                 "array(0.5, shape=(), dtype=float16)");
    check_format(kiln_scalar_f64(-2.0, KILN_DTYPE_BFLOAT16),
                 "array(-2, shape=(), dtype=bfloat16)");
    check_format(kiln_scalar_f64(NAN, KILN_DTYPE_FLOAT64),
                 "array(nan, shape=(), dtype=float64)");
    check_format(kiln_scalar_f64(-INFINITY, KILN_DTYPE_FLOAT64),
                 "array(-inf, shape=(), dtype=float64)");

    int32_t v[3] = {1, -2, 3};
    int64_t n3 = 3;
    kiln_array *a = kiln_array_from_data(v, &n3, 1, KILN_DTYPE_INT32);
    check_format(a, "array([1, -2, 3], shape=(3), dtype=int32)");
    /* a lazy array is evaluated to be shown */
    check_format(kiln_multiply(a, a),
                 "array([1, 4, 9], shape=(3), dtype=int32)");
    int64_t z = 0;
    check_format(kiln_array_from_data(NULL, &z, 1, KILN_DTYPE_FLOAT32),
                 "array([], shape=(0), dtype=float32)");
    uint8_t bb[2] = {1, 0};
    int64_t n2 = 2;
    check_format(kiln_array_from_data(bb, &n2, 1, KILN_DTYPE_BOOL),
                 "array([true, false], shape=(2), dtype=bool)");

    /* n-d arrays nest their rows */
    int32_t m[6] = {1, 2, 3, 4, 5, 6};
    int64_t s23[3] = {2, 1, 3};
    check_format(kiln_array_from_data(m, s23, 3, KILN_DTYPE_INT32),
                 "array([[[1, 2, 3]], [[4, 5, 6]]], shape=(2,1,3), "
                 "dtype=int32)");

    /* long arrays are cut after 32 values */
    float big[40];
    for (int i = 0; i < 40; i++) {
        big[i] = (float)i;
    }
    int64_t n40 = 40;
    char buf[1024];
    kiln_array *b = kiln_array_from_data(big, &n40, 1, KILN_DTYPE_FLOAT32);
    size_t len = kiln_array_format(b, buf, sizeof buf);
    CHECK(len == strlen(buf));
    CHECK(strstr(buf, ", 31, ...], shape=(40), dtype=float32)") != NULL);
    CHECK(strstr(buf, ", 32") == NULL);

    /* truncation: returns the length needed, writes a NUL-terminated
     * prefix */
    char small[8];
    memset(small, 'x', sizeof small);
    size_t need = kiln_array_format(a, small, sizeof small);
    CHECK(need == strlen("array([1, -2, 3], shape=(3), dtype=int32)"));
    CHECK(small[7] == '\0' && strcmp(small, "array([") == 0);
    CHECK(kiln_array_format(a, NULL, 0) == need);
    small[0] = 'q';
    CHECK(kiln_array_format(a, small, 0) == need);
    CHECK(small[0] == 'q');
    kiln_array_format(a, small, 1);
    CHECK(small[0] == '\0');

    /* NULL array: a readable placeholder, no crash */
    kiln_errclear();
    len = kiln_array_format(NULL, buf, sizeof buf);
    CHECK(len == strlen(buf) && strstr(buf, "error") != NULL);
    kiln_errclear();
    kiln_scope_end(NULL);
}

/* ------------------------------------------------------------------ */
/* float16 and bfloat16 conversions                                   */
/* ------------------------------------------------------------------ */

static uint16_t all_halves[65536];

static void fill_all_halves(void)
{
    for (int i = 0; i < 65536; i++) {
        all_halves[i] = (uint16_t)i;
    }
}

TEST(dtype_half_round_trip_all_patterns)
{
    fill_all_halves();
    for (int f = 0; f < 2; f++) {
        bool bf = f == 1;
        kiln_dtype hdt = bf ? KILN_DTYPE_BFLOAT16 : KILN_DTYPE_FLOAT16;
        kiln_scope_begin();
        kiln_array *h = vec(all_halves, 65536, hdt);
        kiln_array *x32 = kiln_astype(h, KILN_DTYPE_FLOAT32);
        kiln_array *x64 = kiln_astype(h, KILN_DTYPE_FLOAT64);
        float *p32 = fetch(x32);
        double *p64 = fetch(x64);
        uint16_t *back32 = fetch(kiln_astype(x32, hdt));
        uint16_t *back64 = fetch(kiln_astype(x64, hdt));
        int64_t bad = 0, badnan = 0;
        for (int i = 0; p32 && p64 && back32 && back64 && i < 65536; i++) {
            double want = half_value((uint16_t)i, bf);
            bad += !same_f64(p32[i], want) || !same_f64(p64[i], want);
            if (isnan(want)) {
                badnan += !isnan(half_value(back32[i], bf)) ||
                          !isnan(half_value(back64[i], bf)) ||
                          (back32[i] & 0x8000) != (i & 0x8000);
            } else {
                bad += back32[i] != i || back64[i] != i;
            }
        }
        CHECK(p32 && p64 && back32 && back64);
        CHECK_MSG(bad == 0, "%s round trip: %lld wrong", kiln_dtype_name(hdt),
                  (long long)bad);
        CHECK_MSG(badnan == 0, "%s NaN round trip: %lld wrong",
                  kiln_dtype_name(hdt), (long long)badnan);
        free(p32);
        free(p64);
        free(back32);
        free(back64);
        /* float16 <-> bfloat16 */
        kiln_dtype odt = bf ? KILN_DTYPE_FLOAT16 : KILN_DTYPE_BFLOAT16;
        uint16_t *o = fetch(kiln_astype(h, odt));
        bad = 0;
        for (int i = 0; o && i < 65536; i++) {
            uint16_t w = nearest_half(half_value((uint16_t)i, bf), !bf);
            bad += !same_half(o[i], w, !bf);
        }
        CHECK_MSG(o && bad == 0, "%s -> %s: %lld wrong", kiln_dtype_name(hdt),
                  kiln_dtype_name(odt), (long long)bad);
        free(o);
        kiln_scope_end(NULL);
    }
}

/* kiln_f16_round/kiln_bf16_round (half.h, the compiled kernels' rounding
 * of half op results) give the round trip's bits: for every sign,
 * exponent and kept significand bits, the dropped bits at zero, one, just
 * below, at and just above the tie, and all ones; and every float below
 * 2^-13 on a stride (the float16 subnormal grid). All 2^32:
 * tools/check_half_round.c. */
TEST(dtype_half_round_functions)
{
    static const uint32_t low[] = {0,      1,      0x0fff, 0x1000,
                                   0x1001, 0x1fff, 0x7fff, 0x8000,
                                   0x8001, 0xffff};
    int64_t bad16 = 0, badbf = 0, n = 0;
    for (uint32_t hi = 0; hi < (1u << 19); hi++) {
        for (size_t k = 0; k < sizeof low / sizeof low[0]; k++) {
            uint32_t u = hi << 13 | (low[k] & 0x1fffu);
            uint32_t v = (hi >> 3) << 16 | low[k];
            float f, g;
            memcpy(&f, &u, 4);
            memcpy(&g, &v, 4);
            float r16 = kiln_f16_round(f), w16 = kiln_f16_to_f32(
                                               kiln_f32_to_f16(f));
            float rbf = kiln_bf16_round(g), wbf = kiln_bf16_to_f32(
                                                kiln_f32_to_bf16(g));
            bad16 += memcmp(&r16, &w16, 4) != 0;
            badbf += memcmp(&rbf, &wbf, 4) != 0;
            n++;
        }
    }
    for (uint32_t u = 0; u < 0x39000000u; u += 97) {
        for (uint32_t s = 0; s < 2; s++) {
            uint32_t b = u | s << 31;
            float f;
            memcpy(&f, &b, 4);
            float r = kiln_f16_round(f), w = kiln_f16_to_f32(
                                             kiln_f32_to_f16(f));
            bad16 += memcmp(&r, &w, 4) != 0;
            n++;
        }
    }
    CHECK_MSG(bad16 == 0 && badbf == 0,
              "of %lld floats: float16 %lld differ, bfloat16 %lld differ",
              (long long)n, (long long)bad16, (long long)badbf);
}

/* float32 and float64 to float16/bfloat16 round to nearest even: at and
 * around every tie, overflow, subnormals, and random values. */
TEST(dtype_half_rounding)
{
    for (int f = 0; f < 2; f++) {
        bool bf = f == 1;
        kiln_dtype hdt = bf ? KILN_DTYPE_BFLOAT16 : KILN_DTYPE_FLOAT16;
        uint16_t maxbits = bf ? 0x7f7f : 0x7bff;
        int64_t cap = 8 * 65536 + 64, n = 0, n64 = 0;
        float *x = malloc(sizeof *x * (size_t)cap);
        double *x64 = malloc(sizeof *x64 * (size_t)cap);
        for (uint16_t h = 0; h < maxbits; h++) {
            double lo = half_value(h, bf), hi = half_value(h + 1, bf);
            float mid = (float)((lo + hi) / 2); /* exact */
            float v[4] = {mid, nextafterf(mid, 0), nextafterf(mid, INFINITY),
                          (float)lo};
            for (int k = 0; k < 4; k++) {
                x[n++] = v[k];
                x[n++] = -v[k];
            }
            /* doubles just off the tie, closer than float32 can tell */
            double m64 = (lo + hi) / 2;
            double eps = ldexp(fabs(m64) > 0 ? m64 : 1e-300, -40);
            x64[n64++] = m64 + eps;
            x64[n64++] = -(m64 - eps);
            x64[n64++] = m64;
        }
        float extra[] = {65504.0f, 65519.0f, 65519.996f, 65520.0f, 1e6f,
                         FLT_MAX, INFINITY, -INFINITY, NAN, 0x1p-25f,
                         0x1.000002p-25f, 0x1.8p-24f, 1e-30f, FLT_TRUE_MIN,
                         0x1.fep127f, 0x1.ffp127f, 0x1.fe8p127f};
        for (int64_t k = 0; k < NELEM(extra); k++) {
            x[n++] = extra[k];
            x[n++] = -extra[k];
        }
        for (int k = 0; k < 20000; k++) {
            uint32_t u = (uint32_t)rnd();
            float v;
            memcpy(&v, &u, sizeof v);
            x[n++] = v;
        }
        kiln_scope_begin();
        uint16_t *p = fetch(kiln_astype(vec(x, n, KILN_DTYPE_FLOAT32), hdt));
        uint16_t *p64 =
            fetch(kiln_astype(vec(x64, n64, KILN_DTYPE_FLOAT64), hdt));
        int64_t bad = 0, at = -1;
        for (int64_t i = 0; p && i < n; i++) {
            if (!same_half(p[i], nearest_half(x[i], bf), bf)) {
                bad++;
                at = i;
            }
        }
        CHECK_MSG(p && bad == 0, "float32 -> %s: %lld wrong, e.g. %a -> %#x "
                  "want %#x", kiln_dtype_name(hdt), (long long)bad,
                  at >= 0 ? x[at] : 0.0f, at >= 0 && p ? p[at] : 0,
                  at >= 0 ? nearest_half(x[at], bf) : 0);
        bad = 0;
        at = -1;
        for (int64_t i = 0; p64 && i < n64; i++) {
            if (!same_half(p64[i], nearest_half(x64[i], bf), bf)) {
                bad++;
                at = i;
            }
        }
        CHECK_MSG(p64 && bad == 0, "float64 -> %s: %lld wrong, e.g. %a -> "
                  "%#x want %#x", kiln_dtype_name(hdt), (long long)bad,
                  at >= 0 ? x64[at] : 0.0, at >= 0 && p64 ? p64[at] : 0,
                  at >= 0 ? nearest_half(x64[at], bf) : 0);
        free(p);
        free(p64);
        kiln_scope_end(NULL);
        free(x);
        free(x64);
    }
    /* the documented landmarks */
    kiln_scope_begin();
    float lm[] = {65519.0f, 65520.0f, 0x1p-25f, 0x1.000002p-25f, 0x1.8p-24f,
                  1.0f + 0x1p-11f, 1.0f + 0x1.8p-10f};
    uint16_t want[] = {0x7bff, 0x7c00, 0x0000, 0x0001, 0x0002, 0x3c00,
                       0x3c02};
    uint16_t *p = fetch(kiln_astype(vec(lm, 7, KILN_DTYPE_FLOAT32),
                                    KILN_DTYPE_FLOAT16));
    for (int i = 0; p && i < 7; i++) {
        CHECK_MSG(p[i] == want[i], "%a -> %#x want %#x", lm[i], p[i],
                  want[i]);
    }
    CHECK(p != NULL);
    free(p);
    kiln_scope_end(NULL);
}

/* ------------------------------------------------------------------ */
/* astype: every (src, dst) pair                                      */
/* ------------------------------------------------------------------ */

/* One source value: an exact integer (neg, mag) or a double. */
typedef struct {
    bool is_int;
    bool neg;
    uint64_t mag;
    double f;
} sval;

static double sval_double(const sval *s)
{
    if (!s->is_int) {
        return s->f;
    }
    return s->neg ? -(double)s->mag : (double)s->mag;
}

/* two's complement bits of an exact integer */
static uint64_t sval_bits(const sval *s)
{
    return s->neg ? 0 - s->mag : s->mag;
}

static bool sval_fits(const sval *s, kiln_dtype dt)
{
    if (dt == KILN_DTYPE_BOOL) {
        return !s->neg && s->mag <= 1;
    }
    int b = int_bits(dt);
    if (is_uint(dt)) {
        return !s->neg && (b == 64 || s->mag < (1ull << b));
    }
    uint64_t lim = 1ull << (b - 1);
    return s->neg ? s->mag <= lim : s->mag < lim;
}

/* the stored bits of s in src dtype (s must fit) */
static uint64_t store_src(const sval *s, kiln_dtype dt)
{
    switch (dt) {
    case KILN_DTYPE_FLOAT16:
        return nearest_half(sval_double(s), false);
    case KILN_DTYPE_BFLOAT16:
        return nearest_half(sval_double(s), true);
    case KILN_DTYPE_FLOAT32: {
        float v = (float)sval_double(s);
        uint32_t u;
        memcpy(&u, &v, sizeof u);
        return u;
    }
    case KILN_DTYPE_FLOAT64: {
        double v = sval_double(s);
        uint64_t u;
        memcpy(&u, &v, sizeof u);
        return u;
    }
    default:
        return sval_bits(s);
    }
}

static double load_float(uint64_t bits, kiln_dtype dt)
{
    switch (dt) {
    case KILN_DTYPE_FLOAT16:
        return f16_value((uint16_t)bits);
    case KILN_DTYPE_BFLOAT16:
        return bf16_value((uint16_t)bits);
    case KILN_DTYPE_FLOAT32: {
        uint32_t u = (uint32_t)bits;
        float v;
        memcpy(&v, &u, sizeof v);
        return v;
    }
    default: {
        double v;
        memcpy(&v, &bits, sizeof v);
        return v;
    }
    }
}

/* The expected bits (integers sign-extended) of the source value whose
 * stored bits are sb in src, converted to dst. */
static uint64_t astype_expect(uint64_t sb, kiln_dtype src, kiln_dtype dst,
                              double *fval)
{
    bool src_float = kiln_dtype_is_float(src);
    double v = src_float ? load_float(sb, src) : 0.0;
    uint64_t ibits = src_float ? 0 : sb;
    bool nonzero = src_float ? v != 0 : ibits != 0;
    *fval = 0;
    if (dst == KILN_DTYPE_BOOL) {
        return nonzero || (src_float && v != v);
    }
    if (!kiln_dtype_is_float(dst)) {
        return src_float ? sat_bits(v, dst) : wrap_bits(ibits, dst);
    }
    /* float destination: the exact value rounded once */
    double exact;
    if (src_float) {
        exact = v;
    } else if (is_uint(src)) {
        exact = dst == KILN_DTYPE_FLOAT32 ? (double)(float)ibits
                                          : (double)ibits;
    } else {
        exact = dst == KILN_DTYPE_FLOAT32 ? (double)(float)(int64_t)ibits
                                          : (double)(int64_t)ibits;
    }
    switch (dst) {
    case KILN_DTYPE_FLOAT16:
        *fval = f16_value(nearest_half(exact, false));
        break;
    case KILN_DTYPE_BFLOAT16:
        *fval = bf16_value(nearest_half(exact, true));
        break;
    case KILN_DTYPE_FLOAT32:
        *fval = (float)exact;
        break;
    default:
        *fval = exact;
        break;
    }
    return 0;
}

TEST(dtype_astype_grid)
{
    static const uint64_t imags[] = {0,          1,          2,
                                     100,        127,        128,
                                     129,        255,        256,
                                     32767,      32768,      32769,
                                     65504,      65519,      65520,
                                     65535,      65536,      16777217,
                                     2147483647, 2147483648u, 4294967295u,
                                     4294967296ull, 9007199254740993ull,
                                     9223372036854775807ull,
                                     9223372036854775808ull,
                                     18446744073709551615ull};
    static const double fvals[] = {
        0.0,    -0.0,   1.0,    -1.0,    0.5,     -0.5,    1.5,   2.5,
        -2.5,   0.1,    127.5,  128.0,   -128.7,  -129.0,  255.9, 256.0,
        65504,  65519,  65520,  1e5,     -1e5,    3e9,     -3e9,  4294967296.0,
        1e19,   2e19,   -1e19,  1e30,    3.4e38,  1e300,   -1e300, 1e-5,
        6e-8,   1e-40,  INFINITY, -INFINITY, NAN, 9.3e18, -9.3e18,
        2147483647.5, -2147483648.9, 1.0 + 0x1p-11 + 0x1p-40};
    sval vals[128];
    int64_t nvals = 0;
    for (int64_t i = 0; i < NELEM(imags); i++) {
        vals[nvals++] = (sval){true, false, imags[i], 0};
        if (imags[i] != 0 && imags[i] <= 9223372036854775808ull) {
            vals[nvals++] = (sval){true, true, imags[i], 0};
        }
    }
    for (int64_t i = 0; i < NELEM(fvals); i++) {
        vals[nvals++] = (sval){false, false, 0, fvals[i]};
    }
    kiln_scope_begin();
    for (int s = 0; s < KILN_DTYPE_COUNT; s++) {
        kiln_dtype src = all_dtypes[s];
        size_t isz = kiln_dtype_size(src);
        char *buf = malloc(isz * (size_t)nvals);
        uint64_t sbits[128];
        int64_t n = 0;
        for (int64_t i = 0; i < nvals; i++) {
            if (kiln_dtype_is_float(src) == !vals[i].is_int &&
                (!vals[i].is_int || sval_fits(&vals[i], src))) {
                sbits[n] = store_src(&vals[i], src);
                put_bits(buf, n, src, sbits[n]);
                n++;
            } else if (kiln_dtype_is_float(src) && vals[i].is_int &&
                       vals[i].mag < 70000) {
                /* small integers stored in floats too */
                sbits[n] = store_src(&vals[i], src);
                put_bits(buf, n, src, sbits[n]);
                n++;
            }
        }
        kiln_array *x = vec(buf, n, src);
        for (int d = 0; d < KILN_DTYPE_COUNT; d++) {
            kiln_dtype dst = all_dtypes[d];
            kiln_array *y = kiln_astype(x, dst);
            CHECK(y && kiln_array_dtype(y) == dst &&
                  kiln_array_size(y) == n);
            void *p = fetch(y);
            int64_t bad = 0, at = -1;
            for (int64_t i = 0; p && i < n; i++) {
                double fv;
                uint64_t sb = kiln_dtype_is_float(src)
                                  ? sbits[i]
                                  : get_bits(buf, i, src);
                uint64_t wb = astype_expect(sb, src, dst, &fv);
                bool ok;
                if (kiln_dtype_is_float(dst)) {
                    uint64_t gb = get_bits(p, i, dst);
                    if (kiln_dtype_size(dst) < 8) {
                        gb &= (1ull << (8 * kiln_dtype_size(dst))) - 1;
                    }
                    ok = same_f64(load_float(gb, dst), fv);
                } else {
                    ok = get_bits(p, i, dst) == wb;
                }
                if (!ok) {
                    bad++;
                    at = i;
                }
            }
            CHECK_MSG(p && bad == 0, "astype %s -> %s: %lld wrong, e.g. "
                      "element %lld (bits %#llx)", kiln_dtype_name(src),
                      kiln_dtype_name(dst), (long long)bad, (long long)at,
                      at >= 0 ? (unsigned long long)sbits[at] : 0ull);
            free(p);
        }
        free(buf);
    }
    /* astype to the same dtype keeps the values */
    int16_t v16[3] = {-3, 0, 9};
    kiln_array *x = vec(v16, 3, KILN_DTYPE_INT16);
    int16_t *p = fetch(kiln_astype(x, KILN_DTYPE_INT16));
    CHECK(p && memcmp(p, v16, sizeof v16) == 0);
    free(p);
    kiln_scope_end(NULL);
}

/* ------------------------------------------------------------------ */
/* promotion                                                          */
/* ------------------------------------------------------------------ */

TEST(dtype_promotion_table_mlx)
{
    enum { B = KILN_DTYPE_BOOL, U8 = KILN_DTYPE_UINT8,
           U16 = KILN_DTYPE_UINT16, U32 = KILN_DTYPE_UINT32,
           U64 = KILN_DTYPE_UINT64, I8 = KILN_DTYPE_INT8,
           I16 = KILN_DTYPE_INT16, I32 = KILN_DTYPE_INT32,
           I64 = KILN_DTYPE_INT64, F16 = KILN_DTYPE_FLOAT16,
           BF = KILN_DTYPE_BFLOAT16, F32 = KILN_DTYPE_FLOAT32,
           F64 = KILN_DTYPE_FLOAT64 };
    /* MLX's promotion table (mlx/dtype.cpp), rows and columns in kiln's
     * enum order: bool u8 u16 u32 u64 i8 i16 i32 i64 f16 bf16 f32 f64 */
    static const int table[13][13] = {
        {B, U8, U16, U32, U64, I8, I16, I32, I64, F16, BF, F32, F64},
        {U8, U8, U16, U32, U64, I16, I16, I32, I64, F16, BF, F32, F64},
        {U16, U16, U16, U32, U64, I32, I32, I32, I64, F16, BF, F32, F64},
        {U32, U32, U32, U32, U64, I64, I64, I64, I64, F16, BF, F32, F64},
        {U64, U64, U64, U64, U64, F32, F32, F32, F32, F16, BF, F32, F64},
        {I8, I16, I32, I64, F32, I8, I16, I32, I64, F16, BF, F32, F64},
        {I16, I16, I32, I64, F32, I16, I16, I32, I64, F16, BF, F32, F64},
        {I32, I32, I32, I64, F32, I32, I32, I32, I64, F16, BF, F32, F64},
        {I64, I64, I64, I64, F32, I64, I64, I64, I64, F16, BF, F32, F64},
        {F16, F16, F16, F16, F16, F16, F16, F16, F16, F16, F32, F32, F64},
        {BF, BF, BF, BF, BF, BF, BF, BF, BF, F32, BF, F32, F64},
        {F32, F32, F32, F32, F32, F32, F32, F32, F32, F32, F32, F32, F64},
        {F64, F64, F64, F64, F64, F64, F64, F64, F64, F64, F64, F64, F64},
    };
    kiln_scope_begin();
    for (int i = 0; i < 13; i++) {
        for (int j = 0; j < 13; j++) {
            kiln_dtype a = all_dtypes[i], b = all_dtypes[j];
            kiln_dtype got = kiln_promote_types(a, b);
            CHECK_MSG(got == (kiln_dtype)table[i][j],
                      "promote(%s, %s) = %s want %s", kiln_dtype_name(a),
                      kiln_dtype_name(b), kiln_dtype_name(got),
                      kiln_dtype_name((kiln_dtype)table[i][j]));
            /* and the ops use it: 1 + 2 in the promoted dtype */
            kiln_array *y = kiln_add(kiln_scalar_i64(1, a),
                                     kiln_scalar_i64(i == 0 && j == 0 ? 1 : 2,
                                                     b));
            double v = -1;
            CHECK(y && kiln_array_dtype(y) == (kiln_dtype)table[i][j]);
            CHECK(kiln_array_item_f64(y, &v) == KILN_OK);
            bool ab = (int)a == B, bb = (int)b == B;
            CHECK_MSG(v == ((ab && bb) ? 1.0 : (ab ? 3.0 : (bb ? 2.0 : 3.0))),
                      "1 + 2 in (%s, %s) = %g", kiln_dtype_name(a),
                      kiln_dtype_name(b), v);
        }
    }
    /* invalid enumerators do not crash */
    (void)kiln_promote_types((kiln_dtype)99, KILN_DTYPE_INT8);
    (void)kiln_promote_types(KILN_DTYPE_INT8, (kiln_dtype)-1);
    kiln_scope_end(NULL);
}

static kiln_dtype dt_of(kiln_array *a)
{
    return a ? kiln_array_dtype(a) : (kiln_dtype)-1;
}

TEST(dtype_weak_scalars)
{
    kiln_scope_begin();
    uint16_t h[2] = {0x3c00, 0x4000};
    int8_t i8[2] = {1, -2};
    uint8_t u8[2] = {1, 250}, bl[2] = {0, 1};
    int64_t n = 2;
    kiln_array *xh = kiln_array_from_data(h, &n, 1, KILN_DTYPE_FLOAT16);
    kiln_array *xb16 = kiln_astype(xh, KILN_DTYPE_BFLOAT16);
    kiln_array *xi = kiln_array_from_data(i8, &n, 1, KILN_DTYPE_INT8);
    kiln_array *xu = kiln_array_from_data(u8, &n, 1, KILN_DTYPE_UINT8);
    kiln_array *xbool = kiln_array_from_data(bl, &n, 1, KILN_DTYPE_BOOL);
    kiln_array *x64 = kiln_astype(xi, KILN_DTYPE_FLOAT64);
    kiln_array *x32 = kiln_astype(xi, KILN_DTYPE_FLOAT32);

    kiln_array *y = kiln_multiply(xh, kiln_weak_f64(2.0));
    CHECK(dt_of(y) == KILN_DTYPE_FLOAT16);
    uint16_t *ph = fetch(y);
    CHECK(ph && ph[0] == 0x4000 && ph[1] == 0x4400);
    free(ph);
    CHECK(dt_of(kiln_subtract(kiln_weak_f64(2.0), xh)) == KILN_DTYPE_FLOAT16);
    CHECK(dt_of(kiln_multiply(xb16, kiln_weak_f64(3.0))) ==
          KILN_DTYPE_BFLOAT16);
    CHECK(dt_of(kiln_add(xh, kiln_weak_i64(3))) == KILN_DTYPE_FLOAT16);
    CHECK(dt_of(kiln_add(x32, kiln_weak_i64(3))) == KILN_DTYPE_FLOAT32);
    CHECK(dt_of(kiln_add(x64, kiln_weak_f64(0.5))) == KILN_DTYPE_FLOAT64);

    y = kiln_add(xi, kiln_weak_i64(3));
    CHECK(dt_of(y) == KILN_DTYPE_INT8 && !kiln_array_is_weak(y));
    int8_t *pi = fetch(y);
    CHECK(pi && pi[0] == 4 && pi[1] == 1);
    free(pi);
    y = kiln_add(xi, kiln_weak_f64(0.5));
    CHECK(dt_of(y) == KILN_DTYPE_FLOAT32);
    float *pf = fetch(y);
    CHECK(pf && pf[0] == 1.5f && pf[1] == -1.5f);
    free(pf);
    /* uint8 with a weak int stays uint8 (wrapping as MLX does) */
    y = kiln_add(xu, kiln_weak_i64(10));
    uint8_t *pu = fetch(y);
    CHECK(dt_of(y) == KILN_DTYPE_UINT8 && pu && pu[0] == 11 && pu[1] == 4);
    free(pu);
    /* bool with weak numbers */
    CHECK(dt_of(kiln_add(xbool, kiln_weak_i64(1))) == KILN_DTYPE_INT32);
    CHECK(dt_of(kiln_add(xbool, kiln_weak_f64(1.5))) == KILN_DTYPE_FLOAT32);
    /* both weak: int32 / float32, still weak */
    y = kiln_add(kiln_weak_i64(2), kiln_weak_i64(3));
    CHECK(dt_of(y) == KILN_DTYPE_INT32 && kiln_array_is_weak(y));
    y = kiln_add(kiln_weak_f64(2), kiln_weak_i64(3));
    CHECK(dt_of(y) == KILN_DTYPE_FLOAT32 && kiln_array_is_weak(y));
    double v;
    CHECK(kiln_array_item_f64(y, &v) == KILN_OK && v == 5.0);
    y = kiln_multiply(kiln_weak_f64(2), kiln_weak_f64(3));
    CHECK(dt_of(y) == KILN_DTYPE_FLOAT32 && kiln_array_is_weak(y));
    /* strong with weak is strong */
    CHECK(!kiln_array_is_weak(kiln_add(xh, kiln_weak_f64(1))));
    /* comparisons, where, float rules with weak operands */
    CHECK(dt_of(kiln_less(xi, kiln_weak_f64(0.5))) == KILN_DTYPE_BOOL);
    uint8_t *pl = fetch(kiln_less(xi, kiln_weak_f64(0.5)));
    CHECK(pl && pl[0] == 0 && pl[1] == 1);
    free(pl);
    CHECK(dt_of(kiln_where(xbool, xh, kiln_weak_f64(0.0))) ==
          KILN_DTYPE_FLOAT16);
    CHECK(dt_of(kiln_divide(xi, kiln_weak_i64(2))) == KILN_DTYPE_FLOAT32);
    CHECK(dt_of(kiln_divide(xh, kiln_weak_i64(2))) == KILN_DTYPE_FLOAT16);
    CHECK(dt_of(kiln_maximum(xi, kiln_weak_i64(0))) == KILN_DTYPE_INT8);
    CHECK(dt_of(kiln_left_shift(xi, kiln_weak_i64(1))) == KILN_DTYPE_INT8);
    /* non-weak scalars promote normally */
    CHECK(dt_of(kiln_add(xi, kiln_scalar_i64(3, KILN_DTYPE_INT32))) ==
          KILN_DTYPE_INT32);
    CHECK(dt_of(kiln_multiply(xh, kiln_scalar_f64(2, KILN_DTYPE_FLOAT32))) ==
          KILN_DTYPE_FLOAT32);
    kiln_scope_end(NULL);
}
