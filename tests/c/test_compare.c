/*
 * test_compare.c - isclose, allclose and array_equal against values
 * worked out by hand from numpy's formula |a - b| <= atol + rtol * |b|.
 */
#include <stdint.h>
#include <string.h>

#include "harness.h"
#include "kiln.h"

static kiln_array *vec(const void *data, kiln_dtype dt, int64_t n)
{
    return kiln_array_from_data(data, &n, 1, dt);
}

/* The single bool of a 0-d result; -1 on error. */
static int truth(kiln_array *a)
{
    if (!a || kiln_array_ndim(a) != 0 ||
        kiln_array_dtype(a) != KILN_DTYPE_BOOL) {
        return -1;
    }
    const uint8_t *p = kiln_array_data(a);
    return p ? p[0] : -1;
}

static void check_mask(kiln_array *m, const uint8_t *want, int64_t n,
                       const char *what)
{
    CHECK_MSG(m && kiln_array_dtype(m) == KILN_DTYPE_BOOL &&
                  kiln_array_size(m) == n,
              "%s: bad result", what);
    const uint8_t *p = m ? kiln_array_data(m) : NULL;
    for (int64_t i = 0; p && i < n; i++) {
        CHECK_MSG(p[i] == want[i], "%s [%lld]: %d", what, (long long)i,
                  p[i]);
    }
}

TEST(isclose_values_inf_nan)
{
    double a[10] = {1, 1 + 1e-6, 1.1, INFINITY, INFINITY, -INFINITY,
                    NAN, NAN, 0, 1e-9};
    double b[10] = {1, 1, 1, INFINITY, -INFINITY, -INFINITY, NAN, 1,
                    1e-9, 0};
    uint8_t w0[10] = {1, 1, 0, 1, 0, 1, 0, 0, 1, 1};
    uint8_t w1[10] = {1, 1, 0, 1, 0, 1, 1, 0, 1, 1};
    kiln_scope_begin();
    kiln_array *x = vec(a, KILN_DTYPE_FLOAT64, 10);
    kiln_array *y = vec(b, KILN_DTYPE_FLOAT64, 10);
    check_mask(kiln_isclose(x, y, 1e-5, 1e-8, false), w0, 10, "nan apart");
    check_mask(kiln_isclose(x, y, 1e-5, 1e-8, true), w1, 10, "equal_nan");
    /* the same in float32 */
    float af[10], bf[10];
    for (int i = 0; i < 10; i++) {
        af[i] = (float)a[i];
        bf[i] = (float)b[i];
    }
    check_mask(kiln_isclose(vec(af, KILN_DTYPE_FLOAT32, 10),
                            vec(bf, KILN_DTYPE_FLOAT32, 10), 1e-5, 1e-8,
                            true),
               w1, 10, "float32");
    /* an infinity is not close to a finite value even with atol = inf;
     * finite values are */
    double c[3] = {INFINITY, 1, -INFINITY};
    double d[3] = {1, 1e300, 5};
    uint8_t w2[3] = {0, 1, 0};
    check_mask(kiln_isclose(vec(c, KILN_DTYPE_FLOAT64, 3),
                            vec(d, KILN_DTYPE_FLOAT64, 3), 0, INFINITY,
                            false),
               w2, 3, "atol inf");
    /* asymmetric in b; equal values are close even with atol < 0 */
    double e[3] = {0, 1, 2};
    double f[3] = {1, 0, 2};
    uint8_t w3[3] = {1, 0, 1};
    check_mask(kiln_isclose(vec(e, KILN_DTYPE_FLOAT64, 3),
                            vec(f, KILN_DTYPE_FLOAT64, 3), 1, 0, false),
               w3, 3, "rtol * |b|");
    uint8_t w4[3] = {0, 0, 1};
    check_mask(kiln_isclose(vec(e, KILN_DTYPE_FLOAT64, 3),
                            vec(f, KILN_DTYPE_FLOAT64, 3), 0, -1, false),
               w4, 3, "negative atol");
    kiln_scope_end(NULL);
}

TEST(isclose_dtypes_and_broadcast)
{
    kiln_scope_begin();
    /* int8 distances do not wrap: |100 - (-100)| = 200 */
    int8_t i8a[2] = {100, -100}, i8b[2] = {-100, -100};
    kiln_array *ia = vec(i8a, KILN_DTYPE_INT8, 2);
    kiln_array *ib = vec(i8b, KILN_DTYPE_INT8, 2);
    uint8_t w0[2] = {0, 1};
    check_mask(kiln_isclose(ia, ib, 0, 100, false), w0, 2, "int8");
    uint8_t w1[2] = {1, 1};
    check_mask(kiln_isclose(ia, ib, 0, 200, false), w1, 2, "int8 atol");
    /* int32 against float32 */
    int32_t i32[3] = {1, 2, 3};
    float f32[3] = {1.0f, 2.00001f, 3.5f};
    uint8_t w2[3] = {1, 1, 0};
    check_mask(kiln_isclose(vec(i32, KILN_DTYPE_INT32, 3),
                            vec(f32, KILN_DTYPE_FLOAT32, 3), 1e-5, 1e-8,
                            false),
               w2, 3, "int32 vs float32");
    /* float16: 1 and its next value 1 + 2^-10 */
    uint16_t h[2] = {0x3c00, 0x3c01};
    uint16_t one[2] = {0x3c00, 0x3c00};
    kiln_array *ha = vec(h, KILN_DTYPE_FLOAT16, 2);
    kiln_array *hb = vec(one, KILN_DTYPE_FLOAT16, 2);
    uint8_t w3[2] = {1, 1}, w4[2] = {1, 0};
    check_mask(kiln_isclose(ha, hb, 1e-3, 0, false), w3, 2, "f16 1e-3");
    check_mask(kiln_isclose(ha, hb, 1e-4, 0, false), w4, 2, "f16 1e-4");
    /* a weak scalar b */
    check_mask(kiln_isclose(ha, kiln_weak_f64(1.0), 1e-4, 0, false), w4, 2,
               "weak scalar");
    /* bool */
    uint8_t bb[2] = {1, 0};
    check_mask(kiln_isclose(vec(bb, KILN_DTYPE_BOOL, 2),
                            vec(bb, KILN_DTYPE_BOOL, 2), 0, 0, false),
               w3, 2, "bool");
    /* (2, 3) against (3) */
    float m[6] = {1, 2, 3, 1, 2.5f, 3};
    float r[3] = {1, 2, 3};
    int64_t s23[2] = {2, 3};
    kiln_array *mc = kiln_isclose(kiln_array_from_data(m, s23, 2,
                                                       KILN_DTYPE_FLOAT32),
                                  vec(r, KILN_DTYPE_FLOAT32, 3), 1e-5, 1e-8,
                                  false);
    CHECK(mc && kiln_array_ndim(mc) == 2 && kiln_array_dim(mc, 0) == 2 &&
          kiln_array_dim(mc, 1) == 3);
    uint8_t w5[6] = {1, 1, 1, 1, 0, 1};
    check_mask(mc, w5, 6, "broadcast");
    kiln_scope_end(NULL);
}

TEST(allclose_and_array_equal)
{
    kiln_scope_begin();
    float a[4] = {1, 2, NAN, -0.0f};
    float b[4] = {1, 2, NAN, 0.0f};
    float c[4] = {1, 2.001f, NAN, 0};
    kiln_array *x = vec(a, KILN_DTYPE_FLOAT32, 4);
    kiln_array *y = vec(b, KILN_DTYPE_FLOAT32, 4);
    kiln_array *z = vec(c, KILN_DTYPE_FLOAT32, 4);
    CHECK(truth(kiln_allclose(x, y, 1e-5, 1e-8, false)) == 0);
    CHECK(truth(kiln_allclose(x, y, 1e-5, 1e-8, true)) == 1);
    CHECK(truth(kiln_allclose(x, z, 1e-5, 1e-8, true)) == 0);
    CHECK(truth(kiln_allclose(x, z, 1e-3, 1e-8, true)) == 1);
    CHECK(truth(kiln_array_equal(x, y, false)) == 0);
    CHECK(truth(kiln_array_equal(x, y, true)) == 1); /* -0.0 == 0.0 */
    CHECK(truth(kiln_array_equal(x, z, true)) == 0);
    /* dtypes may differ */
    int32_t i[3] = {1, 2, 3};
    double d[3] = {1, 2, 3};
    CHECK(truth(kiln_array_equal(vec(i, KILN_DTYPE_INT32, 3),
                                 vec(d, KILN_DTYPE_FLOAT64, 3), false)) == 1);
    d[2] = 3.5;
    CHECK(truth(kiln_array_equal(vec(i, KILN_DTYPE_INT32, 3),
                                 vec(d, KILN_DTYPE_FLOAT64, 3), true)) == 0);
    /* shapes must match exactly, even when they would broadcast */
    int64_t s13[2] = {1, 3};
    kiln_array *row = kiln_array_from_data(i, s13, 2, KILN_DTYPE_INT32);
    CHECK(truth(kiln_array_equal(vec(i, KILN_DTYPE_INT32, 3), row, false)) ==
          0);
    int64_t s23[2] = {2, 3}, s32[2] = {3, 2};
    float six[6] = {0};
    CHECK(truth(kiln_array_equal(
              kiln_array_from_data(six, s23, 2, KILN_DTYPE_FLOAT32),
              kiln_array_from_data(six, s32, 2, KILN_DTYPE_FLOAT32),
              false)) == 0);
    /* a transposed view against its contiguous copy */
    float t[6] = {1, 2, 3, 4, 5, 6};
    float tt[6] = {1, 4, 2, 5, 3, 6};
    kiln_array *m = kiln_array_from_data(t, s23, 2, KILN_DTYPE_FLOAT32);
    kiln_array *mt = kiln_transpose(m, NULL, 0);
    kiln_array *mtc = kiln_array_from_data(tt, s32, 2, KILN_DTYPE_FLOAT32);
    CHECK(truth(kiln_array_equal(mt, mtc, false)) == 1);
    CHECK(truth(kiln_allclose(mt, mtc, 0, 0, false)) == 1);
    /* empty and 0-d */
    kiln_array *e = vec(NULL, KILN_DTYPE_FLOAT32, 0);
    CHECK(truth(kiln_array_equal(e, e, false)) == 1);
    CHECK(truth(kiln_allclose(e, e, 0, 0, false)) == 1);
    CHECK(truth(kiln_array_equal(kiln_scalar_f64(2, KILN_DTYPE_FLOAT32),
                                 kiln_scalar_i64(2, KILN_DTYPE_INT64),
                                 false)) == 1);
    /* allclose broadcasts (numpy) */
    CHECK(truth(kiln_allclose(row, vec(i, KILN_DTYPE_INT32, 3), 0, 0,
                              false)) == 1);
    kiln_scope_end(NULL);
}

TEST(compare_errors)
{
    float a[3] = {0}, b[2] = {0};
    kiln_errclear();
    kiln_scope_begin();
    kiln_array *x = vec(a, KILN_DTYPE_FLOAT32, 3);
    kiln_array *y = vec(b, KILN_DTYPE_FLOAT32, 2);
    CHECK(kiln_isclose(NULL, x, 0, 0, false) == NULL);
    CHECK(kiln_errcode() == KILN_ERR_VALUE);
    CHECK(strstr(kiln_errmsg(), "[isclose]") != NULL);
    kiln_errclear();
    CHECK(kiln_allclose(x, NULL, 0, 0, false) == NULL);
    CHECK(strstr(kiln_errmsg(), "[allclose]") != NULL);
    kiln_errclear();
    CHECK(kiln_array_equal(NULL, NULL, true) == NULL);
    CHECK(strstr(kiln_errmsg(), "[array_equal]") != NULL);
    kiln_errclear();
    CHECK(kiln_isclose(x, y, 0, 0, false) == NULL);
    CHECK(kiln_errcode() == KILN_ERR_VALUE);
    CHECK(strstr(kiln_errmsg(), "[isclose]") != NULL);
    kiln_errclear();
    CHECK(kiln_allclose(x, y, 0, 0, true) == NULL);
    CHECK(strstr(kiln_errmsg(), "[allclose]") != NULL);
    kiln_errclear();
    /* shapes that do not broadcast are simply unequal */
    CHECK(truth(kiln_array_equal(x, y, false)) == 0);
    CHECK(kiln_errcode() == KILN_OK);
    kiln_scope_end(NULL);
}
