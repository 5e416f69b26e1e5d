/*
 * test_matmul.c - matmul, addmm, inner, outer against a reference loop.
 *
 * The reference implements numpy's matmul in double from the values the
 * inputs actually hold (read back after conversion to their dtype), so
 * float16/bfloat16 inputs are compared fairly; integer products are
 * checked exactly with wrapping arithmetic.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/gemm.h"
#include "core/buffer.h"
#include "harness.h"
#include "kiln.h"

static uint64_t seed_ = 0x9e3779b97f4a7c15ull;

/* uniform in [-1, 1) */
static double rnd(void)
{
    seed_ = seed_ * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(seed_ >> 11) * 0x1p-52 - 1.0;
}

static int64_t numel(const int64_t *shape, int nd)
{
    int64_t n = 1;
    for (int i = 0; i < nd; i++) {
        n *= shape[i];
    }
    return n;
}

/* A random array of dtype dt (inside a scope). */
static kiln_array *rand_array(const int64_t *shape, int nd, kiln_dtype dt)
{
    int64_t n = numel(shape, nd);
    double *v = malloc(sizeof *v * (size_t)(n ? n : 1));
    for (int64_t i = 0; i < n; i++) {
        v[i] = kiln_dtype_is_float(dt) ? rnd() * 4.0
                                        : (double)(int64_t)(rnd() * 100.0);
    }
    kiln_array *x = kiln_astype(
        kiln_array_from_data(v, shape, nd, KILN_DTYPE_FLOAT64), dt);
    free(v);
    return x;
}

/* The values of x as doubles (malloc'ed), in row-major order. */
static double *values(kiln_array *x)
{
    kiln_array *d = kiln_astype(x, KILN_DTYPE_FLOAT64);
    int64_t n = kiln_array_size(d);
    double *v = malloc(sizeof *v * (size_t)(n ? n : 1));
    if (kiln_array_read(d, v, sizeof *v * (size_t)n) != KILN_OK) {
        memset(v, 0, sizeof *v * (size_t)n);
    }
    return v;
}

/* numpy matmul in double. Writes the result shape to so/no; returns the
 * malloc'ed values. */
static double *ref_matmul(const double *a, const int64_t *sa0, int na0,
                          const double *b, const int64_t *sb0, int nb0,
                          int64_t *so, int *no)
{
    int64_t sa[KILN_MAX_NDIM + 1], sb[KILN_MAX_NDIM + 1];
    int na = na0, nb = nb0;
    memcpy(sa + (na0 == 1), sa0, sizeof *sa * (size_t)na0);
    memcpy(sb, sb0, sizeof *sb * (size_t)nb0);
    if (na0 == 1) {
        sa[0] = 1;
        na = 2;
    }
    if (nb0 == 1) {
        sb[1] = 1;
        nb = 2;
    }
    int64_t m = sa[na - 2], k = sa[na - 1], n = sb[nb - 1];
    int nbat = (na > nb ? na : nb) - 2;
    int64_t bat[KILN_MAX_NDIM];
    for (int i = 0; i < nbat; i++) {
        int ia = i - (nbat - (na - 2)), ib = i - (nbat - (nb - 2));
        int64_t da = ia >= 0 ? sa[ia] : 1, db = ib >= 0 ? sb[ib] : 1;
        bat[i] = da > db ? da : db;
    }
    int64_t nbatch = numel(bat, nbat);
    double *y = calloc((size_t)(nbatch * m * n + 1), sizeof *y);
    for (int64_t t = 0; t < nbatch; t++) {
        int64_t oa = 0, ob = 0, sta = m * k, stb = k * n, r = t;
        for (int i = nbat - 1; i >= 0; i--) {
            int64_t idx = r % bat[i];
            r /= bat[i];
            int ia = i - (nbat - (na - 2)), ib = i - (nbat - (nb - 2));
            if (ia >= 0) {
                oa += (sa[ia] == 1 ? 0 : idx) * sta;
                sta *= sa[ia];
            }
            if (ib >= 0) {
                ob += (sb[ib] == 1 ? 0 : idx) * stb;
                stb *= sb[ib];
            }
        }
        for (int64_t i = 0; i < m; i++) {
            for (int64_t j = 0; j < n; j++) {
                double s = 0;
                for (int64_t q = 0; q < k; q++) {
                    s += a[oa + i * k + q] * b[ob + q * n + j];
                }
                y[(t * m + i) * n + j] = s;
            }
        }
    }
    *no = 0;
    for (int i = 0; i < nbat; i++) {
        so[(*no)++] = bat[i];
    }
    if (na0 > 1) {
        so[(*no)++] = m;
    }
    if (nb0 > 1) {
        so[(*no)++] = n;
    }
    return y;
}

/* An exact integer result wrapped to dtype dt, as the dtype stores it. */
static double wrap(double v, kiln_dtype dt)
{
    uint64_t u = (uint64_t)(int64_t)v;
    switch (dt) {
    case KILN_DTYPE_INT8:
        return (int8_t)(uint8_t)u;
    case KILN_DTYPE_INT16:
        return (int16_t)(uint16_t)u;
    case KILN_DTYPE_INT32:
        return (int32_t)(uint32_t)u;
    case KILN_DTYPE_UINT8:
        return (uint8_t)u;
    case KILN_DTYPE_UINT16:
        return (uint16_t)u;
    case KILN_DTYPE_UINT32:
        return (uint32_t)u;
    default:
        return v;
    }
}

/* Checks kiln_matmul(a, b) against the reference, relative tolerance tol
 * (scaled by k). */
static void check_product(kiln_array *a, kiln_array *b, double tol,
                          int line)
{
    kiln_array *y = kiln_matmul(a, b);
    CHECK_MSG(y != NULL, "line %d: matmul failed: %s", line, kiln_errmsg());
    if (!y) {
        return;
    }
    /* evaluate before reading: reading a view makes it contiguous */
    CHECK(kiln_array_eval(y) == KILN_OK);
    double *va = values(a), *vb = values(b);
    int64_t so[KILN_MAX_NDIM];
    int no;
    double *want = ref_matmul(va, kiln_array_shape(a), kiln_array_ndim(a),
                              vb, kiln_array_shape(b), kiln_array_ndim(b),
                              so, &no);
    CHECK_MSG(kiln_array_ndim(y) == no &&
                  memcmp(kiln_array_shape(y), so, sizeof *so * (size_t)no) ==
                      0,
              "line %d: wrong shape", line);
    CHECK_MSG(kiln_array_dtype(y) == kiln_array_dtype(a),
              "line %d: wrong dtype", line);
    double *got = values(y);
    int bad = 0;
    for (int64_t i = 0; i < kiln_array_size(y) && bad < 3; i++) {
        if (kiln_dtype_is_integer(kiln_array_dtype(y))) {
            want[i] = wrap(want[i], kiln_array_dtype(y));
        }
        double err = fabs(got[i] - want[i]);
        if (err > tol * (1.0 + fabs(want[i]))) {
            kt_fail(__FILE__, line, "element %lld: %.9g vs %.9g",
                    (long long)i, got[i], want[i]);
            bad++;
        }
    }
    free(va);
    free(vb);
    free(want);
    free(got);
}

#define CHECK_PRODUCT(a, b, tol) check_product(a, b, tol, __LINE__)

TEST(matmul_shapes_f32)
{
    kiln_scope_begin();
    int64_t s34[2] = {3, 4}, s45[2] = {4, 5}, s4[1] = {4};
    int64_t s243[3] = {2, 4, 3}, s2134[4] = {2, 1, 3, 4};
    int64_t s546[3] = {5, 4, 6}, s11[2] = {1, 1}, s1[1] = {1};
    kiln_dtype f = KILN_DTYPE_FLOAT32;
    CHECK_PRODUCT(rand_array(s34, 2, f), rand_array(s45, 2, f), 1e-5);
    /* 1-D operands: the added dim is dropped */
    CHECK_PRODUCT(rand_array(s4, 1, f), rand_array(s4, 1, f), 1e-5);
    CHECK_PRODUCT(rand_array(s4, 1, f), rand_array(s45, 2, f), 1e-5);
    CHECK_PRODUCT(rand_array(s34, 2, f), rand_array(s4, 1, f), 1e-5);
    CHECK_PRODUCT(rand_array(s4, 1, f), rand_array(s546, 3, f), 1e-5);
    CHECK_PRODUCT(rand_array(s243, 3, f), rand_array(s34, 2, f), 1e-5);
    CHECK_PRODUCT(rand_array(s2134, 4, f), rand_array(s4, 1, f), 1e-5);
    /* broadcast batch dims */
    CHECK_PRODUCT(rand_array(s2134, 4, f), rand_array(s546, 3, f), 1e-5);
    CHECK_PRODUCT(rand_array(s11, 2, f), rand_array(s1, 1, f), 1e-5);
    kiln_array *v = kiln_matmul(rand_array(s4, 1, f), rand_array(s4, 1, f));
    CHECK(kiln_array_ndim(v) == 0);
    kiln_scope_end(NULL);
}

TEST(matmul_dtypes)
{
    kiln_scope_begin();
    int64_t sa[3] = {3, 17, 33}, sb[2] = {33, 9};
    CHECK_PRODUCT(rand_array(sa, 3, KILN_DTYPE_FLOAT64),
                  rand_array(sb, 2, KILN_DTYPE_FLOAT64), 1e-13);
    /* float16/bfloat16 accumulate in float32, then round once */
    CHECK_PRODUCT(rand_array(sa, 3, KILN_DTYPE_FLOAT16),
                  rand_array(sb, 2, KILN_DTYPE_FLOAT16), 2e-3);
    CHECK_PRODUCT(rand_array(sa, 3, KILN_DTYPE_BFLOAT16),
                  rand_array(sb, 2, KILN_DTYPE_BFLOAT16), 1e-2);
    CHECK_PRODUCT(rand_array(sa, 3, KILN_DTYPE_INT32),
                  rand_array(sb, 2, KILN_DTYPE_INT32), 0);
    CHECK_PRODUCT(rand_array(sa, 3, KILN_DTYPE_INT64),
                  rand_array(sb, 2, KILN_DTYPE_INT64), 0);
    /* promotion: int32 @ float32 -> float32, uint8 @ int8 -> int16 */
    kiln_array *y = kiln_matmul(rand_array(sa, 3, KILN_DTYPE_INT32),
                                rand_array(sb, 2, KILN_DTYPE_FLOAT32));
    CHECK(kiln_array_dtype(y) == KILN_DTYPE_FLOAT32);
    y = kiln_matmul(rand_array(sa, 3, KILN_DTYPE_UINT8),
                    rand_array(sb, 2, KILN_DTYPE_INT8));
    CHECK(kiln_array_dtype(y) == KILN_DTYPE_INT16);
    kiln_scope_end(NULL);
}

TEST(matmul_int_wraps)
{
    kiln_scope_begin();
    /* int8: 100 * 100 * 3 wraps modulo 256, as numpy does */
    int8_t a8[3] = {100, 100, 100}, b8[3] = {100, 100, 100};
    int64_t s3 = 3;
    kiln_array *y = kiln_matmul(
        kiln_array_from_data(a8, &s3, 1, KILN_DTYPE_INT8),
        kiln_array_from_data(b8, &s3, 1, KILN_DTYPE_INT8));
    int64_t v = 0;
    CHECK(kiln_array_item_i64(y, &v) == KILN_OK);
    CHECK(v == (int8_t)(uint8_t)(30000u & 0xffu));
    /* int32 near the top of the range */
    int32_t a32[2] = {INT32_MAX, 3}, b32[2] = {2, INT32_MAX};
    int64_t s2 = 2;
    y = kiln_matmul(kiln_array_from_data(a32, &s2, 1, KILN_DTYPE_INT32),
                    kiln_array_from_data(b32, &s2, 1, KILN_DTYPE_INT32));
    CHECK(kiln_array_item_i64(y, &v) == KILN_OK);
    uint32_t want = (uint32_t)INT32_MAX * 2u + 3u * (uint32_t)INT32_MAX;
    CHECK(v == (int32_t)want);
    /* uint64 wraps modulo 2^64 */
    uint64_t a64[2] = {UINT64_MAX, 2}, b64[2] = {2, 3};
    y = kiln_matmul(kiln_array_from_data(a64, &s2, 1, KILN_DTYPE_UINT64),
                    kiln_array_from_data(b64, &s2, 1, KILN_DTYPE_UINT64));
    const uint64_t *p = kiln_array_data(y);
    CHECK(p && *p == UINT64_MAX * 2 + 6);
    /* bool: or of ands */
    uint8_t ba[4] = {1, 0, 0, 0}, bb[4] = {0, 1, 1, 0};
    int64_t s22[2] = {2, 2};
    y = kiln_matmul(kiln_array_from_data(ba, s22, 2, KILN_DTYPE_BOOL),
                    kiln_array_from_data(bb, s22, 2, KILN_DTYPE_BOOL));
    CHECK(kiln_array_dtype(y) == KILN_DTYPE_BOOL);
    const uint8_t *q = kiln_array_data(y);
    CHECK(q && q[0] == 0 && q[1] == 1 && q[2] == 0 && q[3] == 0);
    kiln_scope_end(NULL);
}

TEST(matmul_large_blocks)
{
    /* several row tiles and packed b blocks in both directions, over the
     * pool: loops for int32, kiln's GEMM, BLAS or loops for the floats */
    kiln_scope_begin();
    int64_t sa[2] = {70, 300}, sb[2] = {300, 270};
    CHECK_PRODUCT(rand_array(sa, 2, KILN_DTYPE_INT32),
                  rand_array(sb, 2, KILN_DTYPE_INT32), 0);
    CHECK_PRODUCT(rand_array(sa, 2, KILN_DTYPE_FLOAT32),
                  rand_array(sb, 2, KILN_DTYPE_FLOAT32), 1e-4);
    CHECK_PRODUCT(rand_array(sa, 2, KILN_DTYPE_FLOAT16),
                  rand_array(sb, 2, KILN_DTYPE_FLOAT16), 1e-2);
    /* many small products: split over batches */
    int64_t bs[3] = {64, 8, 8};
    CHECK_PRODUCT(rand_array(bs, 3, KILN_DTYPE_FLOAT32),
                  rand_array(bs, 3, KILN_DTYPE_FLOAT32), 1e-5);
    CHECK_PRODUCT(rand_array(bs, 3, KILN_DTYPE_INT16),
                  rand_array(bs, 3, KILN_DTYPE_INT16), 0);
    kiln_scope_end(NULL);
}

TEST(matmul_strided_inputs)
{
    kiln_scope_begin();
    int64_t s[2] = {6, 8}, sv[1] = {8}, sb[3] = {3, 6, 8};
    kiln_dtype dts[3] = {KILN_DTYPE_FLOAT32, KILN_DTYPE_FLOAT64,
                         KILN_DTYPE_INT32};
    for (int d = 0; d < 3; d++) {
        kiln_dtype dt = dts[d];
        kiln_array *a = rand_array(s, 2, dt);
        kiln_array *b = rand_array(s, 2, dt);
        /* transposes: BLAS reads them as they are */
        CHECK_PRODUCT(kiln_transpose(a, NULL, 0), b, 1e-5);
        CHECK_PRODUCT(a, kiln_transpose(b, NULL, 0), 1e-5);
        CHECK_PRODUCT(kiln_transpose(b, NULL, 0), a,
                      1e-5);
        /* every other row and column, and reversed: packed first */
        int64_t st[2] = {0, 0}, sp[2] = {KILN_SLICE_END, KILN_SLICE_END};
        int64_t step2[2] = {2, 2}, rev[2] = {-1, -1};
        int64_t rst[2] = {KILN_SLICE_BEGIN, KILN_SLICE_BEGIN};
        int64_t rsp[2] = {KILN_SLICE_END, KILN_SLICE_END};
        kiln_array *a2 = kiln_slice(a, st, sp, step2);   /* (3, 4) */
        kiln_array *b2 = kiln_slice(b, st, sp, step2);   /* (3, 4) */
        CHECK_PRODUCT(a2, kiln_transpose(b2, NULL, 0), 1e-5);
        CHECK_PRODUCT(kiln_slice(a, rst, rsp, rev),
                      kiln_transpose(b, NULL, 0), 1e-5);
        /* a column slice keeps a leading dimension: BLAS reads it */
        int64_t cst[2] = {0, 0}, csp[2] = {6, 5}, one[2] = {1, 1};
        CHECK_PRODUCT(kiln_slice(a, cst, csp, one),
                      kiln_slice(kiln_transpose(b, NULL, 0), cst,
                                 (int64_t[]){5, 6}, one),
                      1e-5);
        /* broadcast views (zero strides) */
        kiln_array *bv = kiln_broadcast_to(rand_array(sv, 1, dt), s, 2);
        CHECK_PRODUCT(kiln_transpose(bv, NULL, 0), a, 1e-5);
        CHECK_PRODUCT(a, kiln_transpose(bv, NULL, 0), 1e-5);
        kiln_array *ab = kiln_broadcast_to(a, sb, 3);
        CHECK_PRODUCT(ab, kiln_transpose(b, NULL, 0), 1e-5);
        /* a strided vector */
        int64_t vst[1] = {0}, vsp[1] = {KILN_SLICE_END}, vstep[1] = {2};
        int64_t s16 = 16;
        kiln_array *v = kiln_slice(rand_array(&s16, 1, dt), vst, vsp, vstep);
        CHECK_PRODUCT(a, v, 1e-5);
        CHECK_PRODUCT(v, kiln_transpose(a, NULL, 0), 1e-5);
    }
    kiln_scope_end(NULL);
}

TEST(matmul_size_zero)
{
    kiln_scope_begin();
    int64_t s03[2] = {0, 3}, s34[2] = {3, 4}, s30[2] = {3, 0};
    int64_t s04[2] = {0, 4}, s204[3] = {2, 0, 4};
    kiln_dtype f = KILN_DTYPE_FLOAT32;
    kiln_array *y = kiln_matmul(rand_array(s03, 2, f), rand_array(s34, 2, f));
    CHECK(y && kiln_array_dim(y, 0) == 0 && kiln_array_dim(y, 1) == 4);
    CHECK(kiln_array_eval(y) == KILN_OK);
    /* k == 0: zeros */
    CHECK_PRODUCT(rand_array(s30, 2, f), rand_array(s04, 2, f), 0);
    CHECK_PRODUCT(rand_array(s30, 2, KILN_DTYPE_INT32),
                  rand_array(s04, 2, KILN_DTYPE_INT32), 0);
    y = kiln_matmul(rand_array(s34, 2, f), rand_array(s204, 3, f));
    CHECK(y == NULL && kiln_errcode() == KILN_ERR_VALUE);
    kiln_errclear();
    int64_t s230[3] = {2, 3, 0};
    y = kiln_matmul(rand_array(s230, 3, f), rand_array(s04, 2, f));
    CHECK(y && kiln_array_size(y) == 24);
    const float *p = kiln_array_data(y);
    for (int i = 0; p && i < 24; i++) {
        CHECK(p[i] == 0.0f);
    }
    kiln_scope_end(NULL);
}

TEST(matmul_errors)
{
    kiln_scope_begin();
    int64_t s23[2] = {2, 3}, s45[2] = {4, 5}, s3[1] = {3};
    int64_t s234[3] = {2, 3, 4}, s345[3] = {3, 4, 5};
    kiln_dtype f = KILN_DTYPE_FLOAT32;
    kiln_errclear();
    CHECK(kiln_matmul(rand_array(s23, 2, f), rand_array(s45, 2, f)) == NULL);
    CHECK(kiln_errcode() == KILN_ERR_VALUE);
    CHECK(strstr(kiln_errmsg(), "[matmul]") != NULL);
    CHECK(strstr(kiln_errmsg(), "(2,3)") != NULL);
    CHECK(strstr(kiln_errmsg(), "(4,5)") != NULL);
    kiln_errclear();
    /* batch dims that do not broadcast */
    CHECK(kiln_matmul(rand_array(s234, 3, f), rand_array(s345, 3, f)) ==
          NULL);
    CHECK(kiln_errcode() == KILN_ERR_VALUE);
    CHECK(strstr(kiln_errmsg(), "(2,3,4)") != NULL);
    kiln_errclear();
    /* 0-d operands */
    CHECK(kiln_matmul(kiln_scalar_f64(2, f), rand_array(s3, 1, f)) == NULL);
    CHECK(kiln_errcode() == KILN_ERR_VALUE);
    kiln_errclear();
    CHECK(kiln_matmul(NULL, rand_array(s3, 1, f)) == NULL);
    CHECK(strstr(kiln_errmsg(), "[matmul] argument is NULL") != NULL);
    kiln_errclear();
    CHECK(kiln_addmm(NULL, rand_array(s3, 1, f), rand_array(s3, 1, f), 1,
                     1) == NULL);
    kiln_errclear();
    CHECK(kiln_inner(rand_array(s23, 2, f), rand_array(s45, 2, f)) == NULL);
    CHECK(kiln_errcode() == KILN_ERR_VALUE);
    CHECK(strstr(kiln_errmsg(), "[inner]") != NULL);
    kiln_errclear();
    CHECK(kiln_outer(NULL, rand_array(s3, 1, f)) == NULL);
    kiln_errclear();
    kiln_scope_end(NULL);
}

/* alpha * a @ b + beta * c against the reference, c broadcast. */
static void check_addmm(kiln_array *c, kiln_array *a, kiln_array *b,
                        double alpha, double beta, double tol, int line)
{
    kiln_array *y = kiln_addmm(c, a, b, alpha, beta);
    CHECK_MSG(y != NULL, "line %d: addmm failed: %s", line, kiln_errmsg());
    if (!y) {
        return;
    }
    CHECK(kiln_array_eval(y) == KILN_OK);
    kiln_array *cb = kiln_broadcast_to(c, kiln_array_shape(y),
                                       kiln_array_ndim(y));
    double *va = values(a), *vb = values(b), *vc = values(cb);
    int64_t so[KILN_MAX_NDIM];
    int no;
    double *p = ref_matmul(va, kiln_array_shape(a), kiln_array_ndim(a), vb,
                           kiln_array_shape(b), kiln_array_ndim(b), so, &no);
    double *got = values(y);
    for (int64_t i = 0; i < kiln_array_size(y); i++) {
        /* as BLAS: alpha = 0 forms no product, beta = 0 reads no c (so
         * NaNs there stay out); a NaN result fails */
        double want = (alpha != 0 ? alpha * p[i] : 0.0) +
                      (beta != 0 ? beta * vc[i] : 0.0);
        if (!(fabs(got[i] - want) <= tol * (1 + fabs(want)))) {
            kt_fail(__FILE__, line, "element %lld: %.9g vs %.9g",
                    (long long)i, got[i], want);
            break;
        }
    }
    free(va);
    free(vb);
    free(vc);
    free(p);
    free(got);
}

TEST(matmul_addmm)
{
    kiln_scope_begin();
    int64_t s34[2] = {3, 4}, s45[2] = {4, 5}, s35[2] = {3, 5}, s5[1] = {5};
    int64_t s235[3] = {2, 3, 5}, s245[3] = {2, 4, 5}, s31[2] = {3, 1};
    kiln_dtype f = KILN_DTYPE_FLOAT32;
    kiln_array *a = rand_array(s34, 2, f), *b = rand_array(s45, 2, f);
    check_addmm(rand_array(s35, 2, f), a, b, 2.0, 0.5, 1e-5, __LINE__);
    check_addmm(rand_array(s5, 1, f), a, b, -1.0, 3.0, 1e-5, __LINE__);
    check_addmm(rand_array(s31, 2, f), a, b, 1.0, 1.0, 1e-5, __LINE__);
    check_addmm(kiln_scalar_f64(7, f), a, b, 1.0, 1.0, 1e-5, __LINE__);
    check_addmm(rand_array(s235, 3, f), a, rand_array(s245, 3, f), 0.5, 2.0,
                1e-5, __LINE__);
    check_addmm(rand_array(s35, 2, KILN_DTYPE_FLOAT64),
                rand_array(s34, 2, KILN_DTYPE_FLOAT64),
                rand_array(s45, 2, KILN_DTYPE_FLOAT64), 1.5, -2.0, 1e-13,
                __LINE__);
    check_addmm(rand_array(s35, 2, KILN_DTYPE_FLOAT16),
                rand_array(s34, 2, KILN_DTYPE_FLOAT16),
                rand_array(s45, 2, KILN_DTYPE_FLOAT16), 1.5, -2.0, 3e-3,
                __LINE__);
    /* transposed c */
    int64_t s53[2] = {5, 3};
    check_addmm(kiln_transpose(rand_array(s53, 2, f), NULL, 0), a, b, 1.0,
                1.0, 1e-5, __LINE__);
    /* beta == 0 ignores c, NaN included */
    kiln_array *nan = kiln_full(s35, 2, NAN, f);
    kiln_array *y = kiln_addmm(nan, a, b, 1.0, 0.0);
    const float *p = kiln_array_data(y);
    for (int i = 0; p && i < 15; i++) {
        CHECK(!isnan(p[i]));
    }
    /* k == 0: beta * c */
    int64_t s30[2] = {3, 0}, s05[2] = {0, 5};
    check_addmm(rand_array(s35, 2, f), rand_array(s30, 2, f),
                rand_array(s05, 2, f), 1.0, 2.0, 1e-6, __LINE__);
    /* integers compute in float32 */
    y = kiln_addmm(rand_array(s35, 2, KILN_DTYPE_INT32),
                   rand_array(s34, 2, KILN_DTYPE_INT32),
                   rand_array(s45, 2, KILN_DTYPE_INT32), 1.0, 1.0);
    CHECK(kiln_array_dtype(y) == KILN_DTYPE_FLOAT32);
    /* a weak c takes the product's dtype */
    y = kiln_addmm(kiln_weak_f64(1.0), rand_array(s34, 2, KILN_DTYPE_FLOAT16),
                   rand_array(s45, 2, KILN_DTYPE_FLOAT16), 1.0, 1.0);
    CHECK(kiln_array_dtype(y) == KILN_DTYPE_FLOAT16);
    /* c may not widen the result */
    int64_t s25[2] = {2, 5};
    kiln_errclear();
    CHECK(kiln_addmm(rand_array(s25, 2, f), a, b, 1, 1) == NULL);
    CHECK(kiln_errcode() == KILN_ERR_VALUE);
    CHECK(strstr(kiln_errmsg(), "[addmm]") != NULL);
    kiln_errclear();
    kiln_scope_end(NULL);
}

TEST(matmul_inner_outer)
{
    kiln_scope_begin();
    kiln_dtype f = KILN_DTYPE_FLOAT64;
    int64_t s23[2] = {2, 3}, s423[3] = {4, 2, 3}, s3[1] = {3};
    kiln_array *a = rand_array(s23, 2, f), *b = rand_array(s423, 3, f);
    kiln_array *y = kiln_inner(a, b);
    CHECK(y && kiln_array_ndim(y) == 3 && kiln_array_dim(y, 0) == 2 &&
          kiln_array_dim(y, 1) == 4 && kiln_array_dim(y, 2) == 2);
    double *va = values(a), *vb = values(b), *vy = values(y);
    for (int i = 0; i < 2; i++) {
        for (int j = 0; j < 8; j++) {
            double s = 0;
            for (int q = 0; q < 3; q++) {
                s += va[i * 3 + q] * vb[j * 3 + q];
            }
            CHECK_NEAR(vy[i * 8 + j], s, 1e-12);
        }
    }
    free(va);
    free(vb);
    free(vy);
    /* vectors, and vector with matrix */
    kiln_array *v = rand_array(s3, 1, f);
    CHECK(kiln_array_ndim(kiln_inner(v, v)) == 0);
    y = kiln_inner(a, v);
    CHECK(kiln_array_ndim(y) == 1 && kiln_array_dim(y, 0) == 2);
    y = kiln_inner(v, b);
    CHECK(kiln_array_ndim(y) == 2 && kiln_array_dim(y, 0) == 4);
    /* a 0-d operand multiplies */
    y = kiln_inner(kiln_scalar_f64(2, f), a);
    CHECK(kiln_array_ndim(y) == 2);
    /* k == 0 */
    int64_t s20[2] = {2, 0}, s30[2] = {3, 0};
    y = kiln_inner(rand_array(s20, 2, f), rand_array(s30, 2, f));
    CHECK(y && kiln_array_dim(y, 0) == 2 && kiln_array_dim(y, 1) == 3);
    const double *p = kiln_array_data(y);
    for (int i = 0; p && i < 6; i++) {
        CHECK(p[i] == 0.0);
    }
    /* outer flattens both */
    int32_t ia[4] = {1, 2, 3, 4}, ib[3] = {1, -1, 10};
    int64_t s22[2] = {2, 2};
    y = kiln_outer(kiln_array_from_data(ia, s22, 2, KILN_DTYPE_INT32),
                   kiln_array_from_data(ib, s3, 1, KILN_DTYPE_INT32));
    CHECK(kiln_array_dtype(y) == KILN_DTYPE_INT32);
    CHECK(kiln_array_dim(y, 0) == 4 && kiln_array_dim(y, 1) == 3);
    const int32_t *q = kiln_array_data(y);
    for (int i = 0; q && i < 4; i++) {
        for (int j = 0; j < 3; j++) {
            CHECK(q[i * 3 + j] == ia[i] * ib[j]);
        }
    }
    kiln_scope_end(NULL);
}

TEST(matmul_blas_tiles)
{
    /* products big enough to be cut into tiles of rows (m > n) or of
     * columns (m <= n) over the pool, with transposed operands (whose
     * tiles start at a column of the stored matrix), addmm's c, float64,
     * half types and batches of big products; under 1, 2 and 3 threads
     * the tile count changes, the values must not */
    const kiln_dtype f = KILN_DTYPE_FLOAT32;
    int64_t s_wide_a[2] = {48, 300}, s_wide_b[2] = {300, 260};
    int64_t s_tall_a[2] = {260, 300}, s_tall_b[2] = {300, 48};
    int64_t s_ta[2] = {300, 260}, s_tb[2] = {260, 300};
    int64_t s_c[1] = {260}, s_batch_a[3] = {2, 260, 300};
    int before = kiln_num_threads();
    for (int t = 1; t <= 3; t++) {
        CHECK(kiln_set_num_threads(t) == KILN_OK);
        kiln_scope_begin();
        CHECK_PRODUCT(rand_array(s_wide_a, 2, f),
                      rand_array(s_wide_b, 2, f), 1e-4);
        CHECK_PRODUCT(rand_array(s_tall_a, 2, f),
                      rand_array(s_tall_b, 2, f), 1e-4);
        /* a stored transposed, cut by rows; b transposed, cut by
         * columns */
        CHECK_PRODUCT(kiln_transpose(rand_array(s_ta, 2, f), NULL, 0),
                      rand_array(s_tall_b, 2, f), 1e-4);
        CHECK_PRODUCT(rand_array(s_wide_a, 2, f),
                      kiln_transpose(rand_array(s_tb, 2, f), NULL, 0), 1e-4);
        CHECK_PRODUCT(rand_array(s_wide_a, 2, KILN_DTYPE_FLOAT64),
                      rand_array(s_wide_b, 2, KILN_DTYPE_FLOAT64), 1e-12);
        CHECK_PRODUCT(rand_array(s_tall_a, 2, KILN_DTYPE_BFLOAT16),
                      rand_array(s_tall_b, 2, KILN_DTYPE_BFLOAT16), 2e-2);
        CHECK_PRODUCT(rand_array(s_batch_a, 3, f),
                      rand_array(s_tall_b, 2, f), 1e-4);
        check_addmm(rand_array(s_c, 1, f), rand_array(s_wide_a, 2, f),
                    rand_array(s_wide_b, 2, f), 0.5, -2.0, 1e-4, __LINE__);
        check_addmm(rand_array(s_c, 1, KILN_DTYPE_FLOAT64),
                    kiln_transpose(rand_array(s_ta, 2, KILN_DTYPE_FLOAT64),
                                   NULL, 0),
                    rand_array(s_wide_b, 2, KILN_DTYPE_FLOAT64), 1.5, 1.0,
                    1e-12, __LINE__);
        kiln_scope_end(NULL);
    }
    CHECK(kiln_set_num_threads(before) == KILN_OK);
}

/* The bytes of x, evaluated (malloc'ed; NULL on failure). */
static void *bytes_of(kiln_array *x, size_t *n)
{
    *n = (size_t)kiln_array_size(x) * kiln_dtype_size(kiln_array_dtype(x));
    void *p = malloc(*n ? *n : 1);
    if (p && kiln_array_read(x, p, *n) != KILN_OK) {
        free(p);
        p = NULL;
    }
    return p;
}

/* A product to recompute: addmm(c, a, b, alpha, beta), or matmul(a, b)
 * when c is NULL. */
typedef struct {
    kiln_array *c, *a, *b;
    double alpha, beta;
} product;

/* Checks that each of the n products gives the same bits under 1 to
 * maxt threads (the thread count is restored). Inside a scope. */
static void check_same_bits(const product *ps, int n, int maxt, int line)
{
    int before = kiln_num_threads();
    void *first[8] = {NULL};
    size_t nfirst[8] = {0};
    CHECK_MSG(n <= 8, "line %d: at most 8 products", line);
    for (int t = 1; t <= maxt; t++) {
        CHECK(kiln_set_num_threads(t) == KILN_OK);
        for (int i = 0; i < n && i < 8; i++) {
            const product *p = &ps[i];
            kiln_array *y = p->c ? kiln_addmm(p->c, p->a, p->b, p->alpha,
                                              p->beta)
                                 : kiln_matmul(p->a, p->b);
            size_t nb = 0;
            void *got = y ? bytes_of(y, &nb) : NULL;
            CHECK_MSG(got != NULL, "line %d: product %d: %s", line, i,
                      kiln_errmsg());
            if (t == 1) {
                first[i] = got;
                nfirst[i] = nb;
                continue;
            }
            CHECK_MSG(got && first[i] && nb == nfirst[i] &&
                          memcmp(got, first[i], nb) == 0,
                      "line %d: %d threads: product %d differs from 1 "
                      "thread", line, t, i);
            free(got);
        }
    }
    for (int i = 0; i < n && i < 8; i++) {
        free(first[i]);
    }
    CHECK(kiln_set_num_threads(before) == KILN_OK);
}

/* KILN_GEMM as the run set it (malloc'ed, NULL when unset), for
 * knob_restore: tests that turn the knob leave it as they found it. */
static char *knob_save(void)
{
    const char *v = getenv("KILN_GEMM");
    return v ? strdup(v) : NULL;
}

static void knob_restore(char *saved)
{
    if (saved) {
        setenv("KILN_GEMM", saved, 1);
    } else {
        unsetenv("KILN_GEMM");
    }
    free(saved);
}

TEST(matmul_own_gemm)
{
    /* float32 products inside kiln's GEMM's envelope (gemm.c: n from 128
     * to 1024, at least 2^22 multiply-adds): row micro-panels with a tail
     * (45, 100 rows), column panels with a tail (150, 600 columns), two
     * column blocks (600), three uneven k blocks (k = 800), one short one
     * (k = 70), a wide output with k = 10 (BLAS's under both), operands
     * stored transposed, sliced with steps and reversed (any strides, read
     * in place), b's panels read in place (rows 160 floats apart) with and
     * without a packed tail, a column slice of it starting on a cache line
     * (read in place) or not (packed), broadcast batches, a batch with a
     * product for every pool chunk (split by product), and addmm's c as a
     * row, a column (the scalar write-back), a transposed matrix and full;
     * each against the double reference, and under KILN_GEMM=blas too.
     * Then the invariant of gemm.h: the bits do not depend on the thread
     * count. */
    const kiln_dtype f = KILN_DTYPE_FLOAT32;
    int64_t sa[2] = {45, 800}, sb[2] = {800, 150}, sat[2] = {800, 45};
    int64_t sbt[2] = {150, 800}, s2a[2] = {400, 160}, s2b[2] = {160, 600};
    int64_t sk[2] = {100, 70}, skb[2] = {70, 600}, s3[3] = {3, 128, 128};
    int64_t s3b[2] = {128, 256}, sc_row[1] = {150}, sc_col[2] = {45, 1};
    int64_t sc_t[2] = {150, 45}, sc[2] = {45, 150};
    int64_t st[2] = {0, 0}, sp[2] = {KILN_SLICE_END, KILN_SLICE_END};
    int64_t step2[2] = {2, 2}, rev[2] = {-1, -1};
    int64_t rst[2] = {KILN_SLICE_BEGIN, KILN_SLICE_BEGIN};
    const int64_t c0s[3] = {0, 16, 21};
    const char *knobs[2] = {"kiln", "blas"};
    char *saved = knob_save();
    for (int kb = 0; kb < 2; kb++) {
        setenv("KILN_GEMM", knobs[kb], 1);
        kiln_scope_begin();
        kiln_array *a = rand_array(sa, 2, f), *b = rand_array(sb, 2, f);
        /* k = 800 float32 sums of terms up to 16: 1e-3 */
        CHECK_PRODUCT(a, b, 1e-3);
        CHECK_PRODUCT(kiln_transpose(rand_array(sat, 2, f), NULL, 0), b,
                      1e-3);
        CHECK_PRODUCT(a, kiln_transpose(rand_array(sbt, 2, f), NULL, 0),
                      1e-3);
        CHECK_PRODUCT(rand_array(sk, 2, f), rand_array(skb, 2, f), 1e-4);
        /* two column blocks (512 + 88 columns); then a wide product with
         * a short k, which kiln's GEMM leaves to BLAS */
        CHECK_PRODUCT(a, rand_array((int64_t[]){800, 600}, 2, f), 1e-3);
        CHECK_PRODUCT(rand_array((int64_t[]){256, 10}, 2, f),
                      rand_array((int64_t[]){10, 600}, 2, f), 1e-5);
        kiln_array *b160 = rand_array((int64_t[]){800, 160}, 2, f);
        CHECK_PRODUCT(a, b160, 1e-3);
        /* rows reversed: read in place with a negative row stride */
        CHECK_PRODUCT(a, kiln_slice(b160, rst, sp, (int64_t[]){-1, 1}),
                      1e-3);
        for (int i = 0; i < 3; i++) {
            CHECK_PRODUCT(a,
                          kiln_slice(b160, (int64_t[]){0, c0s[i]},
                                     (int64_t[]){800, c0s[i] + 130},
                                     (int64_t[]){1, 1}),
                          1e-3);
        }
        /* (200, 80) and (80, 300) views: every other row and column */
        CHECK_PRODUCT(kiln_slice(rand_array(s2a, 2, f), st, sp, step2),
                      kiln_slice(rand_array(s2b, 2, f), st, sp, step2),
                      1e-4);
        CHECK_PRODUCT(kiln_slice(a, rst, sp, rev),
                      kiln_slice(b, rst, sp, rev), 1e-3);
        CHECK_PRODUCT(rand_array(s3, 3, f), rand_array(s3b, 2, f), 1e-4);
        CHECK_PRODUCT(kiln_broadcast_to(rand_array(sk, 2, f),
                                        (int64_t[]){4, 100, 70}, 3),
                      rand_array(skb, 2, f), 1e-4);
        /* a product for every pool chunk (2 threads: 8): split by
         * product, each on one thread (own_batch) */
        int nt0 = kiln_num_threads();
        CHECK(kiln_set_num_threads(2) == KILN_OK);
        CHECK_PRODUCT(rand_array((int64_t[]){9, 64, 256}, 3, f),
                      rand_array((int64_t[]){9, 256, 256}, 3, f), 1e-3);
        CHECK(kiln_set_num_threads(nt0) == KILN_OK);
        check_addmm(rand_array(sc_row, 1, f), a, b, 0.5, -2.0, 1e-3,
                    __LINE__);
        check_addmm(rand_array(sc_col, 2, f), a, b, 1.0, 1.0, 1e-3,
                    __LINE__);
        check_addmm(kiln_transpose(rand_array(sc_t, 2, f), NULL, 0), a, b,
                    -1.5, 0.25, 1e-3, __LINE__);
        check_addmm(rand_array(sc, 2, f), a, b, 2.0, 3.0, 1e-3, __LINE__);
        kiln_scope_end(NULL);
    }
    knob_restore(saved);

#ifdef KILN_GEMM_VW
    /* (a build without kiln's GEMM sends these to BLAS tiles, whose bits
     * depend on where the tiles fall) */
    kiln_scope_begin();
    /* k = 800: three k blocks; two column blocks; a last micro-panel of 4
     * rows (m = 100) and of 1 (m = 37, with k = 385: two k blocks) */
    kiln_array *a = rand_array((int64_t[]){100, 800}, 2, f);
    kiln_array *b = rand_array((int64_t[]){800, 640}, 2, f);
    kiln_array *c = rand_array((int64_t[]){640}, 1, f);
    kiln_array *a37 = rand_array((int64_t[]){37, 385}, 2, f);
    kiln_array *b37 = rand_array((int64_t[]){385, 700}, 2, f);
    /* 21 products: split by product from 1 to 5 threads (pool chunks) */
    kiln_array *ab = rand_array((int64_t[]){21, 64, 256}, 3, f);
    kiln_array *bb = rand_array((int64_t[]){256, 256}, 2, f);
    const product ps[4] = {{NULL, a, b, 1, 0},
                           {c, a, b, 0.5, 2.0},
                           {NULL, a37, b37, 1, 0},
                           {NULL, ab, bb, 1, 0}};
    check_same_bits(ps, 4, 5, __LINE__);
    kiln_scope_end(NULL);
#endif

    /* scratch that runs out (the output, B's packed panels, a range's A)
     * is a memory error, never a crash; the same product then works */
    int failed = 0;
    for (long k = 1; k <= 6; k++) {
        kiln_scope_begin();
        /* b's rows 150 floats apart: packed */
        kiln_array *fa = rand_array(sa, 2, f), *fb = rand_array(sb, 2, f);
        CHECK(kiln_array_eval(fa) == KILN_OK &&
              kiln_array_eval(fb) == KILN_OK);
        kiln_array *z = kiln_matmul(fa, fb);
        kiln_errclear();
        kiln__buffer_fail_after(k);
        kiln_status got = kiln_array_eval(z);
        kiln__buffer_fail_after(0);
        if (got != KILN_OK) {
            failed++;
            CHECK(got == KILN_ERR_MEMORY);
            kiln_errclear();
            CHECK(kiln_array_eval(z) == KILN_OK);
        }
        kiln_errclear();
        kiln_scope_end(NULL);
    }
    CHECK(failed > 0);
}

TEST(matmul_own_gemm_always)
{
    /* KILN_GEMM=always gives every float32 product to kiln's GEMM, the
     * shapes its envelope leaves to others too: fewer rows than a
     * micro-panel and columns than a panel, k = 1, vectors on either
     * side, k just past a k block, m one more than a multiple of the
     * micro-panel, last micro-panels of a third and two thirds of one
     * (run by the shorter kernels), batches with a broadcast side,
     * transposes and addmm with a column c (the scalar write-back) and a
     * full one (the vector write-back where tiles are whole); each against
     * the double reference. A k = 0 product (no GEMM at all) is zeros. */
    const kiln_dtype f = KILN_DTYPE_FLOAT32;
    static const int64_t mnk[][3] = {
        {1, 1, 1},   {1, 5, 3},    {5, 1, 7},     {11, 31, 1},
        {13, 33, 2}, {12, 32, 384}, {25, 65, 385}, {37, 200, 769},
        {2, 700, 9}, {300, 3, 40},  {257, 129, 17}, {20, 64, 33},
        {16, 96, 5},
    };
    char *saved = knob_save();
    setenv("KILN_GEMM", "always", 1);
    kiln_scope_begin();
    for (size_t i = 0; i < sizeof mnk / sizeof *mnk; i++) {
        int64_t sa[2] = {mnk[i][0], mnk[i][2]};
        int64_t sb[2] = {mnk[i][2], mnk[i][1]};
        /* float32 sums of k terms up to 16 */
        double tol = 1e-6 * (double)(mnk[i][2] + 8);
        kiln_array *a = rand_array(sa, 2, f), *b = rand_array(sb, 2, f);
        CHECK_PRODUCT(a, b, tol);
        CHECK_PRODUCT(kiln_transpose(rand_array((int64_t[]){sa[1], sa[0]},
                                                2, f),
                                     NULL, 0),
                      kiln_transpose(rand_array((int64_t[]){sb[1], sb[0]},
                                                2, f),
                                     NULL, 0),
                      tol);
        check_addmm(rand_array((int64_t[]){sa[0], 1}, 2, f), a, b, 0.5,
                    -1.0, tol, __LINE__);
        check_addmm(rand_array((int64_t[]){sa[0], sb[1]}, 2, f), a, b, 2.0,
                    0.5, tol, __LINE__);
    }
    CHECK_PRODUCT(rand_array((int64_t[]){70}, 1, f),
                  rand_array((int64_t[]){70, 45}, 2, f), 1e-4);
    CHECK_PRODUCT(rand_array((int64_t[]){45, 70}, 2, f),
                  rand_array((int64_t[]){70}, 1, f), 1e-4);
    CHECK_PRODUCT(rand_array((int64_t[]){3, 13, 40}, 3, f),
                  rand_array((int64_t[]){40, 33}, 2, f), 1e-4);
    CHECK_PRODUCT(rand_array((int64_t[]){13, 40}, 2, f),
                  rand_array((int64_t[]){2, 40, 33}, 3, f), 1e-4);
    kiln_array *z = kiln_matmul(rand_array((int64_t[]){5, 0}, 2, f),
                                rand_array((int64_t[]){0, 7}, 2, f));
    CHECK(z && kiln_array_eval(z) == KILN_OK);
    double *v = z ? values(z) : NULL;
    for (int i = 0; v && i < 35; i++) {
        CHECK(v[i] == 0.0);
    }
    free(v);
    kiln_scope_end(NULL);
    knob_restore(saved);
}

TEST(matmul_own_gemm_half)
{
    /* float16 and bfloat16 products inside kiln's GEMM's envelope widen to
     * float32 and take it, addmm's c first copied into the float32 output
     * that is then also the GEMM's c (beta applied in place); plain
     * products, c as a row and as a full matrix, under KILN_GEMM=kiln and
     * blas, against the double reference of the rounded inputs. */
    static const kiln_dtype dts[2] = {KILN_DTYPE_FLOAT16,
                                      KILN_DTYPE_BFLOAT16};
    /* the output's rounding: 2^-11 and 2^-8 relative, and float32 sums */
    static const double tols[2] = {1.5e-3, 8e-3};
    const char *knobs[2] = {"kiln", "blas"};
    char *saved = knob_save();
    for (int kb = 0; kb < 2; kb++) {
        setenv("KILN_GEMM", knobs[kb], 1);
        for (int d = 0; d < 2; d++) {
            kiln_scope_begin();
            kiln_array *a = rand_array((int64_t[]){45, 800}, 2, dts[d]);
            kiln_array *b = rand_array((int64_t[]){800, 150}, 2, dts[d]);
            CHECK_PRODUCT(a, b, tols[d]);
            check_addmm(rand_array((int64_t[]){150}, 1, dts[d]), a, b, 0.5,
                        -2.0, tols[d], __LINE__);
            check_addmm(rand_array((int64_t[]){45, 150}, 2, dts[d]), a, b,
                        1.0, 3.0, tols[d], __LINE__);
            kiln_scope_end(NULL);
        }
    }
    knob_restore(saved);
}

TEST(matmul_half_gemv)
{
    /* float16/bfloat16 products with one row or column of output go to
     * gemv.c, which reads the matrix where it lies: rows of it dotted
     * with the vector (B given transposed, A row-major) or the vector's
     * elements times its rows (B row-major, A given transposed), and 2 to
     * 4 rows of A at once in the first form (5: the widening path); every
     * tail (columns past 16 and 64, rows past 4, a thread's columns past
     * a block of 2048, an odd count of 16-column groups), 1-D operands,
     * batches with a broadcast matrix, addmm (alpha 0 forms no product,
     * beta 0 reads no c: NaNs there stay out), a matrix with rows longer
     * than its columns (a column slice), rows 0 apart (broadcast) or
     * reversed (a negative row stride), and one reversed both ways
     * (neither rows nor columns contiguous: the widening path). Against
     * the double reference of the rounded inputs; and bit-identical from
     * 1 to 3 threads. */
    static const kiln_dtype dts[2] = {KILN_DTYPE_FLOAT16,
                                      KILN_DTYPE_BFLOAT16};
    static const double tols[2] = {2e-3, 1e-2};
    static const int64_t sizes[][2] = {
        {1, 1},     {5, 3},    {16, 64},  {67, 77},  {300, 530},
        {1030, 129}, {7, 1100}, {9, 4112}, {5, 4500}, {3, 6000}};
    for (int d = 0; d < 2; d++) {
        kiln_dtype dt = dts[d];
        double tol = tols[d];
        for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
            int64_t k = sizes[s][0], n = sizes[s][1];
            kiln_scope_begin();
            kiln_array *v = rand_array((int64_t[]){1, k}, 2, dt);
            kiln_array *w = rand_array((int64_t[]){k, n}, 2, dt);
            kiln_array *wt = rand_array((int64_t[]){n, k}, 2, dt);
            kiln_array *col = rand_array((int64_t[]){k, 1}, 2, dt);
            /* (1 x k) @ (k x n), both layouts of the matrix */
            CHECK_PRODUCT(v, w, tol);
            CHECK_PRODUCT(v, kiln_transpose(wt, NULL, 0), tol);
            /* (n x k) @ (k x 1), both layouts */
            CHECK_PRODUCT(wt, col, tol);
            CHECK_PRODUCT(kiln_transpose(w, NULL, 0), col, tol);
            /* 1-D vectors */
            kiln_array *v1 = kiln_reshape(v, (int64_t[]){k}, 1);
            CHECK_PRODUCT(v1, w, tol);
            CHECK_PRODUCT(wt, v1, tol);
            /* addmm: c a row (or a column), alpha and beta */
            check_addmm(rand_array((int64_t[]){n}, 1, dt), v, w, 0.5, -2.0,
                        tol, __LINE__);
            check_addmm(rand_array((int64_t[]){n, 1}, 2, dt), wt, col, 1.5,
                        0.25, tol, __LINE__);
            /* 2 to 4 rows times B given transposed (k >= 64): one read
             * of W for all rows, each row's bits those of its product
             * alone; with B row-major, 5 rows or a short k: the widening
             * path */
            for (int64_t m = 2; m <= 5; m++) {
                kiln_array *am = rand_array((int64_t[]){m, k}, 2, dt);
                kiln_array *wtt = kiln_transpose(wt, NULL, 0);
                CHECK_PRODUCT(am, wtt, tol);
                CHECK_PRODUCT(am, w, tol);
                check_addmm(rand_array((int64_t[]){m, n}, 2, dt), am, wtt,
                            0.5, 2.0, tol, __LINE__);
                check_addmm(rand_array((int64_t[]){n}, 1, dt), am, wtt, 1.0,
                            -1.0, tol, __LINE__);
                kiln_array *ym = kiln_matmul(am, wtt);
                kiln_array *last = kiln_slice(am, (int64_t[]){m - 1, 0},
                                              (int64_t[]){m, k},
                                              (int64_t[]){1, 1});
                kiln_array *y1 = kiln_matmul(last, wtt);
                kiln_array *ylast = kiln_slice(ym, (int64_t[]){m - 1, 0},
                                               (int64_t[]){m, n},
                                               (int64_t[]){1, 1});
                size_t n1 = 0, n2 = 0;
                void *b1 = y1 ? bytes_of(y1, &n1) : NULL;
                void *b2 = ylast ? bytes_of(ylast, &n2) : NULL;
                /* (sgemm's sums differ) */
                CHECK_MSG(m > 4 || k < 64 ||
                              (b1 && b2 && n1 == n2 &&
                               memcmp(b1, b2, n1) == 0),
                          "k %lld n %lld m %lld: the last row's bits differ "
                          "from its product alone", (long long)k,
                          (long long)n, (long long)m);
                free(b1);
                free(b2);
            }
            kiln_scope_end(NULL);
        }
        kiln_scope_begin();
        /* batches: 3 vectors times one broadcast matrix and 3 matrices */
        kiln_array *vb = rand_array((int64_t[]){3, 1, 70}, 3, dt);
        kiln_array *m2 = rand_array((int64_t[]){70, 90}, 2, dt);
        kiln_array *m3 = rand_array((int64_t[]){3, 90, 70}, 3, dt);
        CHECK_PRODUCT(vb, m2, tols[d]);
        CHECK_PRODUCT(vb, kiln_transpose(m3, (int[]){0, 2, 1}, 3), tols[d]);
        CHECK_PRODUCT(m3, kiln_transpose(vb, (int[]){0, 2, 1}, 3), tols[d]);
        /* 3 rows (batched, and a slice of them) times W's rows every
         * other one (400 elements apart, 100 long) or reversed (-200);
         * c a column; alpha 0 keeps NaN out */
        kiln_array *wk = rand_array((int64_t[]){40, 200}, 2, dt);
        kiln_array *a3 = rand_array((int64_t[]){2, 3, 100}, 3, dt);
        kiln_array *w2 = kiln_slice(wk, (int64_t[]){0, 0},
                                    (int64_t[]){40, 100},
                                    (int64_t[]){2, 1}); /* (20, 100) */
        kiln_array *wr = kiln_slice(wk, (int64_t[]){KILN_SLICE_BEGIN, 0},
                                    (int64_t[]){KILN_SLICE_END, 100},
                                    (int64_t[]){-1, 1}); /* (40, 100) */
        CHECK_PRODUCT(a3, kiln_transpose(w2, NULL, 0), tols[d]);
        CHECK_PRODUCT(a3, kiln_transpose(wr, NULL, 0), tols[d]);
        CHECK_PRODUCT(kiln_slice(a3, (int64_t[]){0, 0, 0},
                                 (int64_t[]){2, 3, 100},
                                 (int64_t[]){1, 1, 1}),
                      kiln_transpose(wr, NULL, 0), tols[d]);
        kiln_array *a2 = rand_array((int64_t[]){3, 100}, 2, dt);
        check_addmm(rand_array((int64_t[]){3, 1}, 2, dt), a2,
                    kiln_transpose(w2, NULL, 0), 1.5, 0.5, tols[d],
                    __LINE__);
        check_addmm(rand_array((int64_t[]){20}, 1, dt),
                    kiln_full((int64_t[]){3, 100}, 2, NAN, dt),
                    kiln_transpose(w2, NULL, 0), 0.0, 1.0, tols[d],
                    __LINE__);
        /* a column slice: rows 90 apart, 40 long */
        int64_t z[2] = {0, 0}, one[2] = {1, 1};
        kiln_array *cs = kiln_slice(m2, z, (int64_t[]){70, 40}, one);
        CHECK_PRODUCT(kiln_slice(vb, (int64_t[]){0, 0, 0},
                                 (int64_t[]){1, 1, 70},
                                 (int64_t[]){1, 1, 1}),
                      cs, tols[d]);
        /* a broadcast matrix, and a reversed one */
        kiln_array *r = rand_array((int64_t[]){90}, 1, dt);
        kiln_array *v70 = rand_array((int64_t[]){70}, 1, dt);
        CHECK_PRODUCT(kiln_broadcast_to(r, (int64_t[]){70, 90}, 2),
                      rand_array((int64_t[]){90}, 1, dt), tols[d]);
        CHECK_PRODUCT(v70, kiln_broadcast_to(r, (int64_t[]){70, 90}, 2),
                      tols[d]);
        CHECK_PRODUCT(v70,
                      kiln_slice(m2,
                                 (int64_t[]){KILN_SLICE_BEGIN, 0},
                                 (int64_t[]){KILN_SLICE_END, 90},
                                 (int64_t[]){-1, 1}),
                      tols[d]);
        /* NaN where alpha = 0 or beta = 0 takes it out */
        kiln_array *nan = kiln_full((int64_t[]){90}, 1, NAN, dt);
        kiln_array *vnan = kiln_full((int64_t[]){1, 70}, 2, NAN, dt);
        check_addmm(nan, kiln_reshape(v70, (int64_t[]){1, 70}, 2), m2, 1.0,
                    0.0, tols[d], __LINE__);
        check_addmm(r, vnan, m2, 0.0, 2.0, tols[d], __LINE__);
        CHECK_PRODUCT(rand_array((int64_t[]){70}, 1, dt),
                      kiln_slice(m2,
                                 (int64_t[]){KILN_SLICE_BEGIN,
                                             KILN_SLICE_BEGIN},
                                 (int64_t[]){KILN_SLICE_END, KILN_SLICE_END},
                                 (int64_t[]){-1, -1}),
                      tols[d]);
        /* thread counts: the same bits */
        kiln_array *big = rand_array((int64_t[]){600, 1100}, 2, dt);
        kiln_array *x6 = rand_array((int64_t[]){600}, 1, dt);
        kiln_array *x11 = rand_array((int64_t[]){1100}, 1, dt);
        kiln_array *r3 = rand_array((int64_t[]){3, 1100}, 2, dt);
        const product ps[3] = {{NULL, x6, big, 1, 0},
                               {NULL, big, x11, 1, 0},
                               {NULL, r3, kiln_transpose(big, NULL, 0), 1,
                                0}};
        check_same_bits(ps, 3, 3, __LINE__);
        kiln_scope_end(NULL);
    }
}

TEST(matmul_gemv_tiles)
{
    /* float32/float64 products with one row or column of output through
     * BLAS: each tile one ?gemv call on the matrix where it lies, the
     * vector strided (a row of every other column, every other element)
     * or not, the matrix plain or transposed; under 1 to 3 threads the
     * tiles move, the values must not */
    static const kiln_dtype dts[2] = {KILN_DTYPE_FLOAT32,
                                      KILN_DTYPE_FLOAT64};
    static const double tols[2] = {1e-4, 1e-12};
    int before = kiln_num_threads();
    for (int t = 1; t <= 3; t++) {
        CHECK(kiln_set_num_threads(t) == KILN_OK);
        for (int d = 0; d < 2; d++) {
            kiln_dtype dt = dts[d];
            kiln_scope_begin();
            kiln_array *x2 = rand_array((int64_t[]){2, 600}, 2, dt);
            /* (1, 300), elements 2 apart */
            kiln_array *row = kiln_slice(x2, (int64_t[]){0, 0},
                                         (int64_t[]){1, 600},
                                         (int64_t[]){1, 2});
            kiln_array *v600 = rand_array((int64_t[]){600}, 1, dt);
            kiln_array *vs = kiln_slice(v600, (int64_t[]){0},
                                        (int64_t[]){600}, (int64_t[]){2});
            kiln_array *b = rand_array((int64_t[]){300, 3000}, 2, dt);
            kiln_array *bt = rand_array((int64_t[]){3000, 300}, 2, dt);
            CHECK_PRODUCT(row, b, tols[d]);
            CHECK_PRODUCT(row, kiln_transpose(bt, NULL, 0), tols[d]);
            CHECK_PRODUCT(bt, vs, tols[d]);
            CHECK_PRODUCT(kiln_transpose(b, NULL, 0), vs, tols[d]);
            CHECK_PRODUCT(kiln_transpose(row, NULL, 0),
                          rand_array((int64_t[]){1, 3000}, 2, dt), tols[d]);
            check_addmm(rand_array((int64_t[]){3000}, 1, dt), row, b, 0.5,
                        -1.0, tols[d], __LINE__);
            kiln_scope_end(NULL);
        }
    }
    CHECK(kiln_set_num_threads(before) == KILN_OK);
}
