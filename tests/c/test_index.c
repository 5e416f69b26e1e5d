/*
 * test_index.c - take, take_along_axis, sort, argsort and topk against
 * hand-computed values and simple reference loops (a stable reference
 * argsort through qsort on (value, position) pairs, NaNs last).
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buffer.h"
#include "core/half.h"
#include "harness.h"
#include "kiln.h"

/* ------------------------------------------------------------------ */
/* helpers                                                            */
/* ------------------------------------------------------------------ */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng(void)
{
    uint64_t x = rng_state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    rng_state = x;
    return x;
}

static kiln_array *arr(const void *data, kiln_dtype dt, int ndim, ...)
{
    int64_t shape[KILN_MAX_NDIM];
    va_list ap;
    va_start(ap, ndim);
    for (int i = 0; i < ndim; i++) {
        shape[i] = va_arg(ap, int64_t);
    }
    va_end(ap);
    return kiln_array_from_data(data, shape, ndim, dt);
}

static bool shape_is(kiln_array *a, int ndim, const int64_t *shape)
{
    if (!a || kiln_array_ndim(a) != ndim) {
        return false;
    }
    for (int i = 0; i < ndim; i++) {
        if (kiln_array_shape(a)[i] != shape[i]) {
            return false;
        }
    }
    return true;
}

/* x with its axes reversed: a strided view once evaluated. */
static kiln_array *reversed_view(kiln_array *x)
{
    return kiln_transpose(x, NULL, 0);
}

static void expect_err(kiln_array *r, kiln_status code, const char *what)
{
    CHECK_MSG(r == NULL, "%s: expected an error", what);
    CHECK_MSG(kiln_errcode() == code, "%s: code %s, msg %s", what,
              kiln_status_name(kiln_errcode()), kiln_errmsg());
    kiln_errclear();
}

/* The value of element i of an array of dtype dt, as a double. */
static double load(const void *p, kiln_dtype dt, int64_t i)
{
    switch (dt) {
    case KILN_DTYPE_BOOL:
    case KILN_DTYPE_UINT8:
        return ((const uint8_t *)p)[i];
    case KILN_DTYPE_UINT16:
        return ((const uint16_t *)p)[i];
    case KILN_DTYPE_UINT32:
        return ((const uint32_t *)p)[i];
    case KILN_DTYPE_UINT64:
        return (double)((const uint64_t *)p)[i];
    case KILN_DTYPE_INT8:
        return ((const int8_t *)p)[i];
    case KILN_DTYPE_INT16:
        return ((const int16_t *)p)[i];
    case KILN_DTYPE_INT32:
        return ((const int32_t *)p)[i];
    case KILN_DTYPE_INT64:
        return (double)((const int64_t *)p)[i];
    case KILN_DTYPE_FLOAT16:
        return kiln_f16_to_f32(((const uint16_t *)p)[i]);
    case KILN_DTYPE_BFLOAT16:
        return kiln_bf16_to_f32(((const uint16_t *)p)[i]);
    case KILN_DTYPE_FLOAT32:
        return ((const float *)p)[i];
    default:
        return ((const double *)p)[i];
    }
}

/* Stores v (exactly representable) as element i of dtype dt. */
static void store(void *p, kiln_dtype dt, int64_t i, double v)
{
    switch (dt) {
    case KILN_DTYPE_BOOL:
        ((uint8_t *)p)[i] = v != 0;
        break;
    case KILN_DTYPE_UINT8:
        ((uint8_t *)p)[i] = (uint8_t)v;
        break;
    case KILN_DTYPE_UINT16:
        ((uint16_t *)p)[i] = (uint16_t)v;
        break;
    case KILN_DTYPE_UINT32:
        ((uint32_t *)p)[i] = (uint32_t)v;
        break;
    case KILN_DTYPE_UINT64:
        ((uint64_t *)p)[i] = (uint64_t)v;
        break;
    case KILN_DTYPE_INT8:
        ((int8_t *)p)[i] = (int8_t)v;
        break;
    case KILN_DTYPE_INT16:
        ((int16_t *)p)[i] = (int16_t)v;
        break;
    case KILN_DTYPE_INT32:
        ((int32_t *)p)[i] = (int32_t)v;
        break;
    case KILN_DTYPE_INT64:
        ((int64_t *)p)[i] = (int64_t)v;
        break;
    case KILN_DTYPE_FLOAT16:
        ((uint16_t *)p)[i] = kiln_f32_to_f16((float)v);
        break;
    case KILN_DTYPE_BFLOAT16:
        ((uint16_t *)p)[i] = kiln_f32_to_bf16((float)v);
        break;
    case KILN_DTYPE_FLOAT32:
        ((float *)p)[i] = (float)v;
        break;
    default:
        ((double *)p)[i] = v;
        break;
    }
}

/* Reference stable argsort: (value, position) pairs, NaNs after
 * everything, -0.0 == 0.0, ties by position. */
typedef struct {
    double v;
    int64_t i;
} pair;

static int cmp_pair(const void *a, const void *b)
{
    const pair *x = a, *y = b;
    int xn = isnan(x->v), yn = isnan(y->v);
    if (xn != yn) {
        return xn - yn;
    }
    if (!xn && x->v != y->v) {
        return x->v < y->v ? -1 : 1;
    }
    return (x->i > y->i) - (x->i < y->i);
}

/* ref[j] = position of the j-th value of n values of x (stride s). */
static void ref_argsort(const void *x, kiln_dtype dt, int64_t off,
                        int64_t s, int64_t n, uint32_t *ref)
{
    pair *p = malloc(sizeof *p * (size_t)(n ? n : 1));
    for (int64_t i = 0; i < n; i++) {
        p[i].v = load(x, dt, off + i * s);
        p[i].i = i;
    }
    qsort(p, (size_t)n, sizeof *p, cmp_pair);
    for (int64_t i = 0; i < n; i++) {
        ref[i] = (uint32_t)p[i].i;
    }
    free(p);
}

static const kiln_dtype all_dtypes[] = {
    KILN_DTYPE_BOOL,    KILN_DTYPE_UINT8,   KILN_DTYPE_UINT16,
    KILN_DTYPE_UINT32,  KILN_DTYPE_UINT64,  KILN_DTYPE_INT8,
    KILN_DTYPE_INT16,   KILN_DTYPE_INT32,   KILN_DTYPE_INT64,
    KILN_DTYPE_FLOAT16, KILN_DTYPE_BFLOAT16, KILN_DTYPE_FLOAT32,
    KILN_DTYPE_FLOAT64};
#define NDTYPES (int)(sizeof all_dtypes / sizeof all_dtypes[0])

/* Fills n values of dt with duplicates and, for floats, specials. */
static void fill_random(void *p, kiln_dtype dt, int64_t n, int range)
{
    bool fl = kiln_dtype_is_float(dt);
    for (int64_t i = 0; i < n; i++) {
        double v = (double)(int64_t)(rng() % (uint64_t)range);
        if (kiln_dtype_is_signed(dt)) {
            v -= range / 2;
        }
        if (fl) {
            v *= 0.25;
            switch (rng() % 16) {
            case 0:
                v = NAN;
                break;
            case 1:
                v = -NAN;
                break;
            case 2:
                v = INFINITY;
                break;
            case 3:
                v = -INFINITY;
                break;
            case 4:
                v = -0.0;
                break;
            case 5:
                v = 0.0;
                break;
            default:
                break;
            }
        }
        store(p, dt, i, v);
    }
}

/* ------------------------------------------------------------------ */
/* take                                                               */
/* ------------------------------------------------------------------ */

TEST(take_axis_2d_indices)
{
    float x[12];
    for (int i = 0; i < 12; i++) {
        x[i] = (float)i;
    }
    int32_t idx[4] = {0, 2, -1, 1};
    kiln_scope_begin();
    kiln_array *a = arr(x, KILN_DTYPE_FLOAT32, 2, (int64_t)3, (int64_t)4);
    kiln_array *ix = arr(idx, KILN_DTYPE_INT32, 2, (int64_t)2, (int64_t)2);
    /* axis 0: y[i, j, c] = x[idx[i, j], c] */
    kiln_array *y = kiln_take(a, ix, 0, false);
    int64_t s0[3] = {2, 2, 4};
    CHECK(shape_is(y, 3, s0));
    const float *p = kiln_array_data(y);
    int rows[4] = {0, 2, 2, 1};
    for (int t = 0; p && t < 4; t++) {
        for (int c = 0; c < 4; c++) {
            CHECK(p[t * 4 + c] == x[rows[t] * 4 + c]);
        }
    }
    /* axis -1: y[r, i, j] = x[r, idx[i, j]] */
    y = kiln_take(a, ix, -1, false);
    int64_t s1[3] = {3, 2, 2};
    CHECK(shape_is(y, 3, s1));
    p = kiln_array_data(y);
    int cols[4] = {0, 2, 3, 1};
    for (int r = 0; p && r < 3; r++) {
        for (int t = 0; t < 4; t++) {
            CHECK(p[r * 4 + t] == x[r * 4 + cols[t]]);
        }
    }
    /* axis 1 of a 3-D array: the trailing dim is copied whole */
    double z[24];
    for (int i = 0; i < 24; i++) {
        z[i] = i * 1.5;
    }
    kiln_array *b = arr(z, KILN_DTYPE_FLOAT64, 3, (int64_t)2, (int64_t)3,
                        (int64_t)4);
    int64_t i1[3] = {2, -3, 1};
    y = kiln_take(b, arr(i1, KILN_DTYPE_INT64, 1, (int64_t)3), 1, false);
    int64_t s2[3] = {2, 3, 4};
    CHECK(shape_is(y, 3, s2));
    const double *q = kiln_array_data(y);
    int want_r[3] = {2, 0, 1};
    for (int a0 = 0; q && a0 < 2; a0++) {
        for (int j = 0; j < 3; j++) {
            for (int c = 0; c < 4; c++) {
                CHECK(q[(a0 * 3 + j) * 4 + c] ==
                      z[(a0 * 3 + want_r[j]) * 4 + c]);
            }
        }
    }
    kiln_scope_end(NULL);
}

TEST(take_flat_and_scalar_index)
{
    int16_t x[6] = {10, 11, 12, 13, 14, 15};
    int8_t idx[4] = {5, -1, 0, -6};
    kiln_scope_begin();
    kiln_array *a = arr(x, KILN_DTYPE_INT16, 2, (int64_t)2, (int64_t)3);
    kiln_array *y =
        kiln_take(a, arr(idx, KILN_DTYPE_INT8, 2, (int64_t)2, (int64_t)2),
                  0, true);
    int64_t s[2] = {2, 2};
    CHECK(shape_is(y, 2, s));
    CHECK(kiln_array_dtype(y) == KILN_DTYPE_INT16);
    const int16_t *p = kiln_array_data(y);
    int16_t want[4] = {15, 15, 10, 10};
    CHECK(p && memcmp(p, want, sizeof want) == 0);
    /* a 0-d index drops the axis */
    int32_t one = 1;
    y = kiln_take(a, arr(&one, KILN_DTYPE_INT32, 0), 1, false);
    int64_t s1[1] = {2};
    CHECK(shape_is(y, 1, s1));
    p = kiln_array_data(y);
    CHECK(p && p[0] == 11 && p[1] == 14);
    /* flat take from a 0-d array */
    float v = 2.5f;
    uint8_t z[3] = {0, 0, 7};
    y = kiln_take(arr(&v, KILN_DTYPE_FLOAT32, 0),
                  arr(z, KILN_DTYPE_UINT8, 1, (int64_t)3), 0, true);
    const float *f = kiln_array_data(y);
    CHECK(f && f[0] == 2.5f && f[1] == 2.5f && f[2] == 2.5f);
    kiln_scope_end(NULL);
}

TEST(take_each_index_dtype)
{
    float x[5] = {0.5f, 1.5f, 2.5f, 3.5f, 4.5f};
    kiln_dtype ints[8] = {KILN_DTYPE_UINT8,  KILN_DTYPE_UINT16,
                          KILN_DTYPE_UINT32, KILN_DTYPE_UINT64,
                          KILN_DTYPE_INT8,   KILN_DTYPE_INT16,
                          KILN_DTYPE_INT32,  KILN_DTYPE_INT64};
    kiln_scope_begin();
    kiln_array *a = arr(x, KILN_DTYPE_FLOAT32, 1, (int64_t)5);
    for (int t = 0; t < 8; t++) {
        kiln_dtype dt = ints[t];
        bool sgn = kiln_dtype_is_signed(dt);
        double iv[4] = {3, 0, 4, sgn ? -2 : 1};
        double want[4] = {3.5, 0.5, 4.5, sgn ? 3.5 : 1.5};
        uint64_t buf[4];
        for (int i = 0; i < 4; i++) {
            store(buf, dt, i, iv[i]);
        }
        kiln_array *y = kiln_take(a, arr(buf, dt, 1, (int64_t)4), 0, false);
        const float *p = kiln_array_data(y);
        CHECK_MSG(p != NULL, "dtype %s", kiln_dtype_name(dt));
        for (int i = 0; p && i < 4; i++) {
            CHECK_MSG(p[i] == want[i], "dtype %s [%d]: %g", kiln_dtype_name(dt),
                      i, p[i]);
        }
    }
    kiln_scope_end(NULL);
}

TEST(take_out_of_range_clamps)
{
    int32_t x[5] = {0, 10, 20, 30, 40};
    int64_t si[6] = {100, -100, INT64_MIN, INT64_MAX, -5, 5};
    uint64_t ui[3] = {UINT64_MAX, 5, 4};
    int8_t bi[3] = {-128, 127, -1};
    kiln_scope_begin();
    kiln_array *a = arr(x, KILN_DTYPE_INT32, 1, (int64_t)5);
    const int32_t *p = kiln_array_data(
        kiln_take(a, arr(si, KILN_DTYPE_INT64, 1, (int64_t)6), 0, false));
    int32_t w1[6] = {40, 0, 0, 40, 0, 40};
    CHECK(p && memcmp(p, w1, sizeof w1) == 0);
    p = kiln_array_data(
        kiln_take(a, arr(ui, KILN_DTYPE_UINT64, 1, (int64_t)3), 0, false));
    int32_t w2[3] = {40, 40, 40};
    CHECK(p && memcmp(p, w2, sizeof w2) == 0);
    p = kiln_array_data(kiln_take_along_axis(
        a, arr(bi, KILN_DTYPE_INT8, 1, (int64_t)3), 0, false));
    int32_t w3[3] = {0, 40, 40};
    CHECK(p && memcmp(p, w3, sizeof w3) == 0);
    kiln_scope_end(NULL);
}

TEST(take_value_dtypes_and_views)
{
    kiln_scope_begin();
    for (int t = 0; t < NDTYPES; t++) {
        kiln_dtype dt = all_dtypes[t];
        uint64_t buf[12];
        fill_random(buf, dt, 12, 40);
        kiln_array *a = arr(buf, dt, 2, (int64_t)3, (int64_t)4);
        int32_t idx[3] = {3, 0, -2};
        kiln_array *y =
            kiln_take(a, arr(idx, KILN_DTYPE_INT32, 1, (int64_t)3), 1, false);
        CHECK(kiln_array_dtype(y) == dt);
        const char *p = kiln_array_data(y);
        size_t z = kiln_dtype_size(dt);
        int cols[3] = {3, 0, 2};
        for (int r = 0; p && r < 3; r++) {
            for (int j = 0; j < 3; j++) {
                CHECK_MSG(memcmp(p + (r * 3 + j) * z,
                                 (char *)buf + (r * 4 + cols[j]) * z,
                                 z) == 0,
                          "dtype %s", kiln_dtype_name(dt));
            }
        }
    }
    /* a transposed x, gathered along each axis and flat */
    float x[12];
    for (int i = 0; i < 12; i++) {
        x[i] = (float)i;
    }
    kiln_array *a = arr(x, KILN_DTYPE_FLOAT32, 2, (int64_t)3, (int64_t)4);
    kiln_array *at = reversed_view(a); /* (4, 3): at[i, j] = x[j, i] */
    int32_t idx[2] = {2, 0};
    kiln_array *ix = arr(idx, KILN_DTYPE_INT32, 1, (int64_t)2);
    const float *p = kiln_array_data(kiln_take(at, ix, 1, false));
    for (int i = 0; p && i < 4; i++) {
        CHECK(p[i * 2] == x[2 * 4 + i] && p[i * 2 + 1] == x[i]);
    }
    p = kiln_array_data(kiln_take(at, ix, 0, false));
    for (int j = 0; p && j < 3; j++) {
        CHECK(p[j] == x[j * 4 + 2] && p[3 + j] == x[j * 4]);
    }
    /* flat reads the view in its own row-major order: at.flat[2] = x[2,0],
     * at.flat[0] = x[0,0] */
    p = kiln_array_data(kiln_take(at, ix, 0, true));
    CHECK(p && p[0] == x[8] && p[1] == x[0]);
    /* transposed indices */
    int32_t i2[6] = {0, 1, 2, 3, -1, -2};
    kiln_array *it = reversed_view(arr(i2, KILN_DTYPE_INT32, 2, (int64_t)2,
                                       (int64_t)3)); /* (3, 2) */
    p = kiln_array_data(kiln_take(a, it, 1, false)); /* (3, 3, 2) */
    int32_t flat_it[6] = {0, 3, 1, -1, 2, -2};
    for (int r = 0; p && r < 3; r++) {
        for (int t = 0; t < 6; t++) {
            int c = (flat_it[t] + 4) % 4;
            CHECK(p[r * 6 + t] == x[r * 4 + c]);
        }
    }
    kiln_scope_end(NULL);
}

TEST(take_size_zero)
{
    float x[6] = {0};
    kiln_scope_begin();
    kiln_array *a = arr(x, KILN_DTYPE_FLOAT32, 2, (int64_t)2, (int64_t)3);
    kiln_array *e = arr(NULL, KILN_DTYPE_INT32, 1, (int64_t)0);
    kiln_array *y = kiln_take(a, e, 1, false);
    int64_t s[2] = {2, 0};
    CHECK(shape_is(y, 2, s));
    CHECK(kiln_array_eval(y) == KILN_OK);
    /* empty indices from an empty axis are fine */
    kiln_array *z = arr(NULL, KILN_DTYPE_FLOAT32, 2, (int64_t)2, (int64_t)0);
    y = kiln_take(z, e, 1, false);
    CHECK(y && kiln_array_eval(y) == KILN_OK && kiln_array_size(y) == 0);
    /* an empty x along a different axis */
    int32_t zero = 0;
    kiln_array *w = arr(NULL, KILN_DTYPE_FLOAT32, 2, (int64_t)0, (int64_t)3);
    y = kiln_take(w, arr(&zero, KILN_DTYPE_INT32, 1, (int64_t)1), 1, false);
    int64_t s2[2] = {0, 1};
    CHECK(shape_is(y, 2, s2) && kiln_array_eval(y) == KILN_OK);
    kiln_scope_end(NULL);
}

TEST(take_errors)
{
    float x[6] = {0};
    float fi[2] = {0, 1};
    uint8_t bi[2] = {0, 1};
    int32_t ii[2] = {0, 1};
    kiln_errclear();
    kiln_scope_begin();
    kiln_array *a = arr(x, KILN_DTYPE_FLOAT32, 2, (int64_t)2, (int64_t)3);
    kiln_array *ix = arr(ii, KILN_DTYPE_INT32, 1, (int64_t)2);
    expect_err(kiln_take(a, arr(fi, KILN_DTYPE_FLOAT32, 1, (int64_t)2), 0,
                         false),
               KILN_ERR_TYPE, "float indices");
    expect_err(kiln_take(a, arr(bi, KILN_DTYPE_BOOL, 1, (int64_t)2), 0,
                         false),
               KILN_ERR_TYPE, "bool indices");
    expect_err(kiln_take_along_axis(
                   a, arr(fi, KILN_DTYPE_FLOAT32, 2, (int64_t)1, (int64_t)2),
                   0, false),
               KILN_ERR_TYPE, "take_along float indices");
    expect_err(kiln_take(a, ix, 2, false), KILN_ERR_INDEX, "axis 2");
    expect_err(kiln_take(a, ix, -3, false), KILN_ERR_INDEX, "axis -3");
    CHECK(kiln_take(a, ix, 2, false) == NULL);
    CHECK(strstr(kiln_errmsg(), "[take]") != NULL);
    kiln_errclear();
    float v = 1;
    expect_err(kiln_take(arr(&v, KILN_DTYPE_FLOAT32, 0), ix, 0, false),
               KILN_ERR_INDEX, "0-d x with an axis");
    kiln_array *empty = arr(NULL, KILN_DTYPE_FLOAT32, 1, (int64_t)0);
    expect_err(kiln_take(empty, ix, 0, false), KILN_ERR_INDEX,
               "non-empty take from an empty axis");
    expect_err(kiln_take_along_axis(empty, ix, 0, false), KILN_ERR_INDEX,
               "take_along from an empty axis");
    expect_err(kiln_take(NULL, ix, 0, false), KILN_ERR_VALUE, "NULL x");
    expect_err(kiln_take(a, NULL, 0, false), KILN_ERR_VALUE, "NULL idx");
    expect_err(kiln_take_along_axis(NULL, ix, 0, false), KILN_ERR_VALUE,
               "NULL x");
    expect_err(kiln_take_along_axis(a, NULL, 0, true), KILN_ERR_VALUE,
               "NULL idx");
    /* take_along_axis shape rules */
    expect_err(kiln_take_along_axis(a, ix, 0, false), KILN_ERR_VALUE,
               "ndim mismatch");
    int32_t i23[6] = {0};
    kiln_array *ix2 = arr(i23, KILN_DTYPE_INT32, 2, (int64_t)3, (int64_t)2);
    expect_err(kiln_take_along_axis(a, ix2, 1, false), KILN_ERR_VALUE,
               "no broadcast outside the axis");
    expect_err(kiln_take_along_axis(a, ix2, 0, true), KILN_ERR_VALUE,
               "flat needs 1-D indices");
    expect_err(kiln_take_along_axis(a, ix2, 5, false), KILN_ERR_INDEX,
               "take_along bad axis");
    kiln_scope_end(NULL);
}

/* ------------------------------------------------------------------ */
/* take_along_axis                                                    */
/* ------------------------------------------------------------------ */

TEST(take_along_axis_basic_and_broadcast)
{
    float x[12];
    for (int i = 0; i < 12; i++) {
        x[i] = (float)(i * i);
    }
    kiln_scope_begin();
    kiln_array *a = arr(x, KILN_DTYPE_FLOAT32, 2, (int64_t)3, (int64_t)4);
    /* axis 1, same leading dim */
    int64_t i1[6] = {3, 0, -1, 1, 2, 2};
    kiln_array *y = kiln_take_along_axis(
        a, arr(i1, KILN_DTYPE_INT64, 2, (int64_t)3, (int64_t)2), -1, false);
    int64_t s1[2] = {3, 2};
    CHECK(shape_is(y, 2, s1));
    const float *p = kiln_array_data(y);
    for (int r = 0; p && r < 3; r++) {
        for (int j = 0; j < 2; j++) {
            int c = (int)((i1[r * 2 + j] + 4) % 4);
            CHECK(p[r * 2 + j] == x[r * 4 + c]);
        }
    }
    /* indices (1, 2) broadcast over x's 3 rows */
    uint16_t i2[2] = {1, 3};
    y = kiln_take_along_axis(
        a, arr(i2, KILN_DTYPE_UINT16, 2, (int64_t)1, (int64_t)2), 1, false);
    CHECK(shape_is(y, 2, s1));
    p = kiln_array_data(y);
    for (int r = 0; p && r < 3; r++) {
        CHECK(p[r * 2] == x[r * 4 + 1] && p[r * 2 + 1] == x[r * 4 + 3]);
    }
    /* x (1, 4) broadcast over indices (3, 2) */
    kiln_array *row = arr(x, KILN_DTYPE_FLOAT32, 2, (int64_t)1, (int64_t)4);
    y = kiln_take_along_axis(
        row, arr(i1, KILN_DTYPE_INT64, 2, (int64_t)3, (int64_t)2), 1, false);
    CHECK(shape_is(y, 2, s1));
    p = kiln_array_data(y);
    for (int r = 0; p && r < 3; r++) {
        for (int j = 0; j < 2; j++) {
            int c = (int)((i1[r * 2 + j] + 4) % 4);
            CHECK(p[r * 2 + j] == x[c]);
        }
    }
    /* axis 0: y[i, c] = x[idx[i, c], c] */
    int32_t i3[8] = {2, 1, 0, 2, 0, 0, 1, -1};
    y = kiln_take_along_axis(
        a, arr(i3, KILN_DTYPE_INT32, 2, (int64_t)2, (int64_t)4), 0, false);
    int64_t s3[2] = {2, 4};
    CHECK(shape_is(y, 2, s3));
    p = kiln_array_data(y);
    for (int i = 0; p && i < 2; i++) {
        for (int c = 0; c < 4; c++) {
            int r = (i3[i * 4 + c] + 3) % 3;
            CHECK(p[i * 4 + c] == x[r * 4 + c]);
        }
    }
    /* flat */
    int32_t i4[3] = {11, 0, -2};
    y = kiln_take_along_axis(a, arr(i4, KILN_DTYPE_INT32, 1, (int64_t)3), 0,
                             true);
    p = kiln_array_data(y);
    CHECK(p && p[0] == x[11] && p[1] == x[0] && p[2] == x[10]);
    /* a transposed x (4, 3) along axis 1 */
    kiln_array *at = reversed_view(a);
    int32_t i5[4] = {2, 1, 0, 2};
    y = kiln_take_along_axis(
        at, arr(i5, KILN_DTYPE_INT32, 2, (int64_t)4, (int64_t)1), 1, false);
    p = kiln_array_data(y);
    for (int i = 0; p && i < 4; i++) {
        CHECK(p[i] == x[i5[i] * 4 + i]);
    }
    kiln_scope_end(NULL);
}

/* ------------------------------------------------------------------ */
/* sort and argsort                                                   */
/* ------------------------------------------------------------------ */

/* Sorts and argsorts rows of x (shape (rows, n), along axis 1, and its
 * transpose along axis 0) and compares with the reference. */
static void check_sort_rows(kiln_dtype dt, int64_t rows, int64_t n,
                            int range)
{
    size_t z = kiln_dtype_size(dt);
    char *buf = malloc(z * (size_t)(rows * n) + 1);
    uint32_t *ref = malloc(sizeof *ref * (size_t)(n + 1));
    fill_random(buf, dt, rows * n, range);
    kiln_scope_begin();
    kiln_array *a = arr(buf, dt, 2, rows, n);
    for (int pass = 0; pass < 2; pass++) {
        kiln_array *x = pass == 0 ? a : reversed_view(a);
        int axis = pass == 0 ? 1 : 0;
        kiln_array *s = kiln_sort(x, axis, false);
        kiln_array *as = kiln_argsort(x, axis - 2, false);
        CHECK(kiln_array_dtype(s) == dt);
        CHECK(kiln_array_dtype(as) == KILN_DTYPE_UINT32);
        const char *sp = kiln_array_data(s);
        const uint32_t *ap = kiln_array_data(as);
        CHECK(sp && ap);
        if (!sp || !ap) {
            break;
        }
        int bad = 0;
        for (int64_t r = 0; r < rows && bad < 3; r++) {
            ref_argsort(buf, dt, r * n, 1, n, ref);
            for (int64_t j = 0; j < n; j++) {
                /* row r of x is column r of the transposed result */
                int64_t at = pass == 0 ? r * n + j : j * rows + r;
                if (ap[at] != ref[j] ||
                    memcmp(sp + at * (int64_t)z, buf + (r * n + ref[j]) * z,
                           z) != 0) {
                    CHECK_MSG(0, "%s rows %lld n %lld pass %d: row %lld [%lld]",
                              kiln_dtype_name(dt), (long long)rows,
                              (long long)n, pass, (long long)r, (long long)j);
                    bad++;
                    break;
                }
            }
        }
    }
    kiln_scope_end(NULL);
    free(buf);
    free(ref);
}

TEST(sort_each_dtype)
{
    for (int t = 0; t < NDTYPES; t++) {
        kiln_dtype dt = all_dtypes[t];
        /* short rows (insertion sort) and long ones (radix), many
         * duplicates so stability shows */
        check_sort_rows(dt, 5, 7, 6);
        check_sort_rows(dt, 3, 300, 20);
        check_sort_rows(dt, 2, 1000, 1000);
        /* rows past the cache-sized split (CACHE_ROW in index_cpu.c):
         * wide values and heavy duplicates */
        check_sort_rows(dt, 1, 40000, 1 << 30);
        check_sort_rows(dt, 1, 40000, 3);
    }
}

TEST(sort_hand_values)
{
    float x[8] = {3.0f, -0.0f, NAN, 0.0f, -INFINITY, -NAN, 1.0f, 0.0f};
    kiln_scope_begin();
    kiln_array *a = arr(x, KILN_DTYPE_FLOAT32, 1, (int64_t)8);
    const uint32_t *ap = kiln_array_data(kiln_argsort(a, 0, false));
    /* -inf, then the zeros in their order, 1, 3, then the NaNs */
    uint32_t want[8] = {4, 1, 3, 7, 6, 0, 2, 5};
    CHECK(ap && memcmp(ap, want, sizeof want) == 0);
    const float *sp = kiln_array_data(kiln_sort(a, 0, true));
    CHECK(sp && sp[0] == -INFINITY && signbit(sp[1]) && !signbit(sp[2]) &&
          sp[4] == 1.0f && sp[5] == 3.0f && isnan(sp[6]) && isnan(sp[7]));
    /* the NaNs keep their own bits */
    CHECK(sp && !signbit(sp[6]) && signbit(sp[7]));
    /* int duplicates stay in order */
    int8_t b[6] = {2, -1, 2, -128, 127, -1};
    ap = kiln_array_data(
        kiln_argsort(arr(b, KILN_DTYPE_INT8, 1, (int64_t)6), -1, false));
    uint32_t wb[6] = {3, 1, 5, 0, 2, 4};
    CHECK(ap && memcmp(ap, wb, sizeof wb) == 0);
    /* extremes of the wide integer types */
    int64_t c[4] = {INT64_MAX, -1, INT64_MIN, 0};
    const int64_t *cp = kiln_array_data(
        kiln_sort(arr(c, KILN_DTYPE_INT64, 1, (int64_t)4), 0, false));
    CHECK(cp && cp[0] == INT64_MIN && cp[1] == -1 && cp[2] == 0 &&
          cp[3] == INT64_MAX);
    uint64_t d[3] = {UINT64_MAX, 0, 1ull << 63};
    const uint64_t *dp = kiln_array_data(
        kiln_sort(arr(d, KILN_DTYPE_UINT64, 1, (int64_t)3), 0, false));
    CHECK(dp && dp[0] == 0 && dp[1] == 1ull << 63 && dp[2] == UINT64_MAX);
    /* a 3-D array along its middle axis, and flat */
    int32_t e[12] = {5, 1, 4, 2, 0, 3, 9, 7, 8, 6, 11, 10};
    kiln_array *ea = arr(e, KILN_DTYPE_INT32, 3, (int64_t)2, (int64_t)3,
                         (int64_t)2);
    const int32_t *ep = kiln_array_data(kiln_sort(ea, 1, false));
    int32_t we[12] = {0, 1, 4, 2, 5, 3, 8, 6, 9, 7, 11, 10};
    CHECK(ep && memcmp(ep, we, sizeof we) == 0);
    kiln_array *ef = kiln_sort(ea, 0, true);
    int64_t s12[1] = {12};
    CHECK(shape_is(ef, 1, s12));
    ep = kiln_array_data(ef);
    for (int i = 0; ep && i < 12; i++) {
        CHECK(ep[i] == i);
    }
    /* bool */
    uint8_t g[5] = {1, 0, 1, 0, 0};
    ap = kiln_array_data(
        kiln_argsort(arr(g, KILN_DTYPE_BOOL, 1, (int64_t)5), 0, false));
    uint32_t wg[5] = {1, 3, 4, 0, 2};
    CHECK(ap && memcmp(ap, wg, sizeof wg) == 0);
    kiln_scope_end(NULL);
}

static int cmp_float_nan_last(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    if (isnan(x) || isnan(y)) {
        return isnan(x) - isnan(y);
    }
    return (x > y) - (x < y);
}

TEST(sort_large_row)
{
    int64_t n = 100000;
    float *x = malloc(sizeof *x * (size_t)n);
    float *ref = malloc(sizeof *ref * (size_t)n);
    for (int64_t i = 0; i < n; i++) {
        x[i] = (float)((double)(int64_t)(rng() >> 11) * 0x1p-53 * 2e6 - 1e6);
        if (i % 1000 == 7) {
            x[i] = NAN;
        }
    }
    memcpy(ref, x, sizeof *x * (size_t)n);
    qsort(ref, (size_t)n, sizeof *ref, cmp_float_nan_last);
    kiln_scope_begin();
    kiln_array *a = arr(x, KILN_DTYPE_FLOAT32, 1, n);
    const float *p = kiln_array_data(kiln_sort(a, 0, false));
    int64_t bad = -1;
    for (int64_t i = 0; p && i < n && bad < 0; i++) {
        if (!(p[i] == ref[i] || (isnan(p[i]) && isnan(ref[i])))) {
            bad = i;
        }
    }
    CHECK_MSG(p && bad < 0, "first mismatch at %lld", (long long)bad);
    /* stable argsort of many duplicates */
    int32_t *xi = malloc(sizeof *xi * (size_t)n);
    for (int64_t i = 0; i < n; i++) {
        xi[i] = (int32_t)(rng() % 1000) - 500;
    }
    uint32_t *ri = malloc(sizeof *ri * (size_t)n);
    ref_argsort(xi, KILN_DTYPE_INT32, 0, 1, n, ri);
    const uint32_t *ap = kiln_array_data(
        kiln_argsort(arr(xi, KILN_DTYPE_INT32, 1, n), 0, false));
    CHECK(ap && memcmp(ap, ri, sizeof *ri * (size_t)n) == 0);
    kiln_scope_end(NULL);
    free(x);
    free(ref);
    free(xi);
    free(ri);
}

TEST(sort_many_rows_parallel)
{
    /* enough rows that the pool splits them */
    check_sort_rows(KILN_DTYPE_FLOAT32, 2000, 40, 100);
    check_sort_rows(KILN_DTYPE_INT64, 300, 500, 50);
}

TEST(sort_edge_shapes_and_errors)
{
    kiln_errclear();
    kiln_scope_begin();
    float v = 4;
    kiln_array *s = kiln_sort(arr(&v, KILN_DTYPE_FLOAT32, 0), 0, true);
    int64_t one[1] = {1};
    CHECK(shape_is(s, 1, one));
    const float *p = kiln_array_data(s);
    CHECK(p && p[0] == 4);
    kiln_array *e = arr(NULL, KILN_DTYPE_FLOAT32, 2, (int64_t)3, (int64_t)0);
    CHECK(kiln_array_eval(kiln_sort(e, 1, false)) == KILN_OK);
    CHECK(kiln_array_eval(kiln_argsort(e, 0, false)) == KILN_OK);
    CHECK(kiln_array_eval(kiln_topk(e, 0, 1, false)) == KILN_OK);
    expect_err(kiln_sort(arr(&v, KILN_DTYPE_FLOAT32, 0), 0, false),
               KILN_ERR_INDEX, "sort of 0-d along an axis");
    expect_err(kiln_sort(e, 2, false), KILN_ERR_INDEX, "sort axis 2");
    expect_err(kiln_argsort(e, -3, false), KILN_ERR_INDEX, "argsort -3");
    expect_err(kiln_topk(e, 1, 5, false), KILN_ERR_INDEX, "topk axis");
    expect_err(kiln_sort(NULL, 0, false), KILN_ERR_VALUE, "sort NULL");
    expect_err(kiln_argsort(NULL, 0, true), KILN_ERR_VALUE, "argsort NULL");
    expect_err(kiln_topk(NULL, 1, 0, false), KILN_ERR_VALUE, "topk NULL");
    float x[6] = {1, 2, 3, 4, 5, 6};
    kiln_array *a = arr(x, KILN_DTYPE_FLOAT32, 2, (int64_t)2, (int64_t)3);
    expect_err(kiln_topk(a, 4, 1, false), KILN_ERR_VALUE, "k > n");
    expect_err(kiln_topk(a, -1, 1, false), KILN_ERR_VALUE, "k < 0");
    expect_err(kiln_topk(a, 3, 0, false), KILN_ERR_VALUE, "k > rows");
    expect_err(kiln_topk(a, 7, 0, true), KILN_ERR_VALUE, "k > size");
    CHECK(kiln_topk(a, 7, 0, true) == NULL);
    CHECK(strstr(kiln_errmsg(), "[topk]") != NULL);
    kiln_errclear();
    kiln_scope_end(NULL);
}

/* ------------------------------------------------------------------ */
/* topk                                                               */
/* ------------------------------------------------------------------ */

/* topk of the rows of (rows, n) data along axis 1 (and of its transpose
 * along axis 0): as a multiset, the last k values of the sorted row. */
static void check_topk(kiln_dtype dt, int64_t rows, int64_t n, int64_t k,
                       int range, const void *data)
{
    size_t z = kiln_dtype_size(dt);
    char *buf = malloc(z * (size_t)(rows * n) + 1);
    uint32_t *ref = malloc(sizeof *ref * (size_t)(n + 1));
    uint32_t *got = malloc(sizeof *got * (size_t)(k + 1));
    if (data) {
        memcpy(buf, data, z * (size_t)(rows * n));
    } else {
        fill_random(buf, dt, rows * n, range);
    }
    kiln_scope_begin();
    kiln_array *a = arr(buf, dt, 2, rows, n);
    for (int pass = 0; pass < 2; pass++) {
        kiln_array *x = pass == 0 ? a : reversed_view(a);
        kiln_array *t = kiln_topk(x, (int)k, pass == 0 ? -1 : 0, false);
        int64_t want[2] = {pass == 0 ? rows : k, pass == 0 ? k : rows};
        CHECK(shape_is(t, 2, want));
        const char *tp = kiln_array_data(t);
        CHECK(tp != NULL);
        for (int64_t r = 0; tp && r < rows; r++) {
            /* sort the k results by the reference order and compare
             * them, as values, with the reference's last k */
            char *row = malloc(z * (size_t)(k + 1));
            for (int64_t j = 0; j < k; j++) {
                int64_t at = pass == 0 ? r * k + j : j * rows + r;
                memcpy(row + j * (int64_t)z, tp + at * (int64_t)z, z);
            }
            ref_argsort(row, dt, 0, 1, k, got);
            ref_argsort(buf, dt, r * n, 1, n, ref);
            for (int64_t j = 0; j < k; j++) {
                double g = load(row, dt, got[j]);
                double w = load(buf, dt, r * n + ref[n - k + j]);
                if (!(g == w || (isnan(g) && isnan(w)))) {
                    CHECK_MSG(0, "%s topk k=%lld n=%lld row %lld: %g vs %g",
                              kiln_dtype_name(dt), (long long)k,
                              (long long)n, (long long)r, g, w);
                    break;
                }
            }
            free(row);
        }
    }
    kiln_scope_end(NULL);
    free(buf);
    free(ref);
    free(got);
}

TEST(topk_matches_sorted_reference)
{
    for (int t = 0; t < NDTYPES; t++) {
        kiln_dtype dt = all_dtypes[t];
        check_topk(dt, 4, 10, 3, 8, NULL);
        check_topk(dt, 3, 200, 17, 30, NULL);
        check_topk(dt, 2, 200, 200, 30, NULL);
        check_topk(dt, 2, 200, 1, 1000, NULL);
    }
    check_topk(KILN_DTYPE_FLOAT32, 300, 60, 5, 100, NULL);
}

TEST(topk_adversarial_and_hand)
{
    int64_t n = 20000;
    int32_t *x = malloc(sizeof *x * (size_t)n * 4);
    for (int64_t i = 0; i < n; i++) {
        x[i] = (int32_t)i;                      /* ascending */
        x[n + i] = (int32_t)(n - i);            /* descending */
        x[2 * n + i] = 7;                       /* all equal */
        x[3 * n + i] = (int32_t)(i < n / 2 ? i : n - i); /* organ pipe */
    }
    check_topk(KILN_DTYPE_INT32, 4, n, 1000, 0, x);
    check_topk(KILN_DTYPE_INT32, 4, n, n / 2, 0, x);
    free(x);
    /* hand values: NaN counts as largest; order kept along the row */
    float f[6] = {1, NAN, 5, 5, -2, 3};
    kiln_scope_begin();
    kiln_array *a = arr(f, KILN_DTYPE_FLOAT32, 1, (int64_t)6);
    const float *p = kiln_array_data(kiln_topk(a, 3, 0, false));
    CHECK(p && isnan(p[0]) && p[1] == 5 && p[2] == 5);
    p = kiln_array_data(kiln_topk(a, 2, 0, true));
    int has_nan = p && (isnan(p[0]) || isnan(p[1]));
    CHECK(p && has_nan && (p[0] == 5 || p[1] == 5));
    kiln_array *z = kiln_topk(a, 0, 0, false);
    int64_t s0[1] = {0};
    CHECK(shape_is(z, 1, s0) && kiln_array_eval(z) == KILN_OK);
    kiln_scope_end(NULL);
}

TEST(sort_take_along_roundtrip)
{
    /* take_along_axis(x, argsort(x)) == sort(x), along each axis */
    float x[60];
    fill_random(x, KILN_DTYPE_FLOAT32, 60, 50);
    kiln_scope_begin();
    kiln_array *a = arr(x, KILN_DTYPE_FLOAT32, 3, (int64_t)3, (int64_t)4,
                        (int64_t)5);
    for (int ax = 0; ax < 3; ax++) {
        const float *s = kiln_array_data(kiln_sort(a, ax, false));
        const float *t = kiln_array_data(
            kiln_take_along_axis(a, kiln_argsort(a, ax, false), ax, false));
        CHECK(s && t && memcmp(s, t, sizeof x) == 0);
    }
    const float *s = kiln_array_data(kiln_sort(a, 0, true));
    const float *t = kiln_array_data(
        kiln_take_along_axis(a, kiln_argsort(a, 0, true), 0, true));
    CHECK(s && t && memcmp(s, t, sizeof x) == 0);
    kiln_scope_end(NULL);
}

TEST(index_ops_on_views)
{
    int32_t v[3] = {5, 1, 4};
    int64_t s43[2] = {4, 3};
    kiln_scope_begin();
    /* zero strides: a broadcast (4, 3) */
    kiln_array *b = kiln_broadcast_to(arr(v, KILN_DTYPE_INT32, 1,
                                          (int64_t)3),
                                      s43, 2);
    const int32_t *p = kiln_array_data(kiln_sort(b, 0, false));
    for (int i = 0; p && i < 12; i++) {
        CHECK(p[i] == v[i % 3]);
    }
    const uint32_t *ap = kiln_array_data(kiln_argsort(b, 0, false));
    for (int i = 0; ap && i < 12; i++) {
        CHECK(ap[i] == (uint32_t)(i / 3));
    }
    p = kiln_array_data(kiln_sort(b, 1, false));
    for (int r = 0; p && r < 4; r++) {
        CHECK(p[r * 3] == 1 && p[r * 3 + 1] == 4 && p[r * 3 + 2] == 5);
    }
    p = kiln_array_data(kiln_topk(b, 2, 1, false));
    for (int r = 0; p && r < 4; r++) {
        CHECK(p[r * 2] == 5 && p[r * 2 + 1] == 4);
    }
    int32_t ii[2] = {2, 0};
    p = kiln_array_data(
        kiln_take(b, arr(ii, KILN_DTYPE_INT32, 1, (int64_t)2), 1, false));
    for (int r = 0; p && r < 4; r++) {
        CHECK(p[r * 2] == 4 && p[r * 2 + 1] == 5);
    }
    /* a negative step: r = x[::-1] */
    float x[10];
    for (int i = 0; i < 10; i++) {
        x[i] = (float)(i * 3 % 10);
    }
    int64_t start = 9, stop = KILN_SLICE_BEGIN, step = -1;
    kiln_array *r = kiln_slice(arr(x, KILN_DTYPE_FLOAT32, 1, (int64_t)10),
                               &start, &stop, &step);
    CHECK(kiln_array_size(r) == 10);
    int64_t iv[3] = {0, 1, -1};
    const float *f = kiln_array_data(
        kiln_take(r, arr(iv, KILN_DTYPE_INT64, 1, (int64_t)3), 0, false));
    CHECK(f && f[0] == x[9] && f[1] == x[8] && f[2] == x[0]);
    f = kiln_array_data(kiln_take_along_axis(
        r, arr(iv, KILN_DTYPE_INT64, 1, (int64_t)3), 0, true));
    CHECK(f && f[0] == x[9] && f[1] == x[8] && f[2] == x[0]);
    f = kiln_array_data(kiln_sort(r, 0, false));
    for (int i = 0; f && i < 10; i++) {
        CHECK(f[i] == (float)i);
    }
    ap = kiln_array_data(kiln_argsort(r, 0, true));
    for (int i = 0; ap && i < 10; i++) {
        /* r[j] = x[9 - j] = i  <=>  j = 9 - (position of i in x) */
        int at = 0;
        while (x[at] != (float)i) {
            at++;
        }
        CHECK(ap[i] == (uint32_t)(9 - at));
    }
    kiln_scope_end(NULL);
}

TEST(index_ops_out_of_memory)
{
    /* the n-th buffer allocation fails: each op either succeeds or
     * reports out of memory, never crashes or leaks */
    int64_t n = 5000;
    float *x = malloc(sizeof *x * (size_t)n);
    int32_t idx[4] = {0, -1, 7, 3};
    for (int64_t i = 0; i < n; i++) {
        x[i] = (float)(rng() % 1000);
    }
    int failures = 0;
    for (int t = 0; t < 5; t++) {
        for (long k = 1; k <= 4; k++) {
            kiln_scope_begin();
            kiln_array *a = arr(x, KILN_DTYPE_FLOAT32, 2, (int64_t)50,
                                (int64_t)100);
            kiln_array *at = reversed_view(a);
            kiln_array *ix = arr(idx, KILN_DTYPE_INT32, 1, (int64_t)4);
            kiln_array *ops[5] = {
                kiln_sort(at, 1, false), kiln_argsort(at, 0, true),
                kiln_topk(at, 3, 1, false), kiln_take(at, ix, 0, true),
                kiln_take(a, ix, 1, false)};
            kiln_errclear();
            kiln__buffer_fail_after(k);
            kiln_status st = kiln_array_eval(ops[t]);
            kiln__buffer_fail_after(0);
            if (st != KILN_OK) {
                CHECK_MSG(st == KILN_ERR_MEMORY, "op %d alloc %ld: %s", t, k,
                          kiln_errmsg());
                /* the result stays pending and evaluates later */
                CHECK(!kiln_array_is_evaluated(ops[t]));
                kiln_errclear();
                CHECK(kiln_array_eval(ops[t]) == KILN_OK);
                failures++;
            }
            kiln_errclear();
            kiln_scope_end(NULL);
        }
    }
    CHECK(failures > 0);
    free(x);
}
