/*
 * test_reduce.c - reductions, argmin/argmax, the composites (mean, var,
 * std, logsumexp, softmax) and scans, against reference loops written here
 * that accumulate in double (floats) or in wrapping uint64 (integers).
 *
 * Inputs are built from raw bytes (no astype), over every dtype, every
 * subset of axes (negative spellings too), keepdims, non-contiguous views
 * (transpose, stepped and reversed slices, broadcasts), size-0 and 0-d
 * arrays, NaN, and arrays large enough for the threaded and blocked paths
 * (whose results must not depend on the thread count).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/half.h"
#include "harness.h"
#include "kiln.h"

/* ------------------------------------------------------------------ */
/* helpers                                                            */
/* ------------------------------------------------------------------ */

static uint64_t rng_state = 0x243f6a8885a308d3ull;

static uint64_t rng(void)
{
    uint64_t x = rng_state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    rng_state = x;
    return x;
}

static const kiln_dtype all_dtypes[] = {
    KILN_DTYPE_BOOL,    KILN_DTYPE_UINT8,   KILN_DTYPE_UINT16,
    KILN_DTYPE_UINT32,  KILN_DTYPE_UINT64,  KILN_DTYPE_INT8,
    KILN_DTYPE_INT16,   KILN_DTYPE_INT32,   KILN_DTYPE_INT64,
    KILN_DTYPE_FLOAT16, KILN_DTYPE_BFLOAT16, KILN_DTYPE_FLOAT32,
    KILN_DTYPE_FLOAT64};
#define NDTYPES ((int)(sizeof all_dtypes / sizeof all_dtypes[0]))

static bool is_float(kiln_dtype dt)
{
    return dt >= KILN_DTYPE_FLOAT16;
}

static bool is_unsigned(kiln_dtype dt)
{
    return dt >= KILN_DTYPE_UINT8 && dt <= KILN_DTYPE_UINT64;
}

/* Stores v (exactly representable) as element i of a dt buffer. */
static void store(void *p, kiln_dtype dt, int64_t i, double v)
{
    switch (dt) {
    case KILN_DTYPE_BOOL: ((uint8_t *)p)[i] = v != 0; break;
    case KILN_DTYPE_UINT8: ((uint8_t *)p)[i] = (uint8_t)v; break;
    case KILN_DTYPE_UINT16: ((uint16_t *)p)[i] = (uint16_t)v; break;
    case KILN_DTYPE_UINT32: ((uint32_t *)p)[i] = (uint32_t)v; break;
    case KILN_DTYPE_UINT64: ((uint64_t *)p)[i] = (uint64_t)v; break;
    case KILN_DTYPE_INT8: ((int8_t *)p)[i] = (int8_t)v; break;
    case KILN_DTYPE_INT16: ((int16_t *)p)[i] = (int16_t)v; break;
    case KILN_DTYPE_INT32: ((int32_t *)p)[i] = (int32_t)v; break;
    case KILN_DTYPE_INT64: ((int64_t *)p)[i] = (int64_t)v; break;
    case KILN_DTYPE_FLOAT16:
        ((uint16_t *)p)[i] = kiln_f32_to_f16((float)v);
        break;
    case KILN_DTYPE_BFLOAT16:
        ((uint16_t *)p)[i] = kiln_f32_to_bf16((float)v);
        break;
    case KILN_DTYPE_FLOAT32: ((float *)p)[i] = (float)v; break;
    default: ((double *)p)[i] = v; break;
    }
}

static double load(const void *p, kiln_dtype dt, int64_t i)
{
    switch (dt) {
    case KILN_DTYPE_BOOL: return ((const uint8_t *)p)[i];
    case KILN_DTYPE_UINT8: return ((const uint8_t *)p)[i];
    case KILN_DTYPE_UINT16: return ((const uint16_t *)p)[i];
    case KILN_DTYPE_UINT32: return ((const uint32_t *)p)[i];
    case KILN_DTYPE_UINT64: return (double)((const uint64_t *)p)[i];
    case KILN_DTYPE_INT8: return ((const int8_t *)p)[i];
    case KILN_DTYPE_INT16: return ((const int16_t *)p)[i];
    case KILN_DTYPE_INT32: return ((const int32_t *)p)[i];
    case KILN_DTYPE_INT64: return (double)((const int64_t *)p)[i];
    case KILN_DTYPE_FLOAT16:
        return kiln_f16_to_f32(((const uint16_t *)p)[i]);
    case KILN_DTYPE_BFLOAT16:
        return kiln_bf16_to_f32(((const uint16_t *)p)[i]);
    case KILN_DTYPE_FLOAT32: return ((const float *)p)[i];
    default: return ((const double *)p)[i];
    }
}

/* An integer element, sign- or zero-extended, as 64 bits. */
static uint64_t load_int(const void *p, kiln_dtype dt, int64_t i)
{
    switch (dt) {
    case KILN_DTYPE_UINT8: return ((const uint8_t *)p)[i];
    case KILN_DTYPE_UINT16: return ((const uint16_t *)p)[i];
    case KILN_DTYPE_UINT32: return ((const uint32_t *)p)[i];
    case KILN_DTYPE_UINT64: return ((const uint64_t *)p)[i];
    case KILN_DTYPE_INT8: return (uint64_t)(int64_t)((const int8_t *)p)[i];
    case KILN_DTYPE_INT16:
        return (uint64_t)(int64_t)((const int16_t *)p)[i];
    case KILN_DTYPE_INT32:
        return (uint64_t)(int64_t)((const int32_t *)p)[i];
    case KILN_DTYPE_INT64: return (uint64_t)((const int64_t *)p)[i];
    default: return ((const uint8_t *)p)[i];
    }
}

/* A wrapping 64-bit integer result as the dtype dt would hold it. */
static uint64_t wrap_to(uint64_t v, kiln_dtype dt)
{
    switch (dt) {
    case KILN_DTYPE_UINT8: return (uint8_t)v;
    case KILN_DTYPE_UINT16: return (uint16_t)v;
    case KILN_DTYPE_UINT32: return (uint32_t)v;
    case KILN_DTYPE_INT8: return (uint64_t)(int64_t)(int8_t)(uint8_t)v;
    case KILN_DTYPE_INT16:
        return (uint64_t)(int64_t)(int16_t)(uint16_t)v;
    case KILN_DTYPE_INT32:
        return (uint64_t)(int64_t)(int32_t)(uint32_t)v;
    case KILN_DTYPE_BOOL: return v != 0;
    default: return v;
    }
}

static kiln_array *make(const double *v, const int64_t *shape, int nd,
                        kiln_dtype dt)
{
    int64_t n = 1;
    for (int i = 0; i < nd; i++) {
        n *= shape[i];
    }
    void *buf = malloc((size_t)(n > 0 ? n : 1) * 8);
    for (int64_t i = 0; i < n; i++) {
        store(buf, dt, i, v[i]);
    }
    kiln_array *a = kiln_array_from_data(buf, shape, nd, dt);
    free(buf);
    return a;
}

/* Small values exact in every dtype: 0/1, [0, 5], [-3, 3], k/4. */
static double gen(kiln_dtype dt)
{
    if (dt == KILN_DTYPE_BOOL) {
        return (double)(rng() % 2);
    }
    if (is_unsigned(dt)) {
        return (double)(rng() % 6);
    }
    if (!is_float(dt)) {
        return (double)(int)(rng() % 7) - 3;
    }
    return ((double)(int)(rng() % 13) - 6) / 4;
}

enum { K_SUM, K_PROD, K_MAX, K_MIN, K_ALL, K_ANY, K_ARGMAX, K_ARGMIN };

static const char *kind_name[] = {"sum", "prod",   "max",   "min",
                                  "all", "any", "argmax", "argmin"};

static kiln_dtype expect_dtype(int kind, kiln_dtype dt)
{
    switch (kind) {
    case K_SUM:
    case K_PROD:
        switch (dt) {
        case KILN_DTYPE_BOOL:
        case KILN_DTYPE_INT8:
        case KILN_DTYPE_INT16:
        case KILN_DTYPE_INT32: return KILN_DTYPE_INT32;
        case KILN_DTYPE_UINT8:
        case KILN_DTYPE_UINT16:
        case KILN_DTYPE_UINT32: return KILN_DTYPE_UINT32;
        default: return dt;
        }
    case K_ALL:
    case K_ANY: return KILN_DTYPE_BOOL;
    case K_ARGMAX:
    case K_ARGMIN: return KILN_DTYPE_UINT32;
    default: return dt;
    }
}

typedef struct refout {
    double d[4096];
    uint64_t u[4096];
    int64_t idx[4096];
    int64_t n;
} refout;

/*
 * The reference reduction of logical row-major values x (shape, nd) over
 * the axes in mask: double accumulation for floats, wrapping uint64 for
 * integers, NaN propagation, first index (first NaN) for arg kinds.
 */
static void ref_reduce(const double *x, const int64_t *shape, int nd,
                       uint32_t mask, int kind, bool ints, refout *r)
{
    int64_t size = 1, nout = 1;
    for (int i = 0; i < nd; i++) {
        size *= shape[i];
        nout *= (mask >> i) & 1 ? 1 : shape[i];
    }
    r->n = nout;
    for (int64_t o = 0; o < nout; o++) {
        r->idx[o] = -1;
        r->u[o] = kind == K_PROD;
        r->d[o] = kind == K_PROD ? 1 : 0;
        if (kind == K_MAX) {
            r->d[o] = -INFINITY;
        } else if (kind == K_MIN) {
            r->d[o] = INFINITY;
        } else if (kind == K_ALL) {
            r->d[o] = 1;
        }
    }
    for (int64_t i = 0; i < size; i++) {
        int64_t rem = i, o = 0, ostride = 1, ri = 0, rstride = 1;
        for (int d = nd - 1; d >= 0; d--) {
            int64_t c = rem % shape[d];
            rem /= shape[d];
            if ((mask >> d) & 1) {
                ri += c * rstride;
                rstride *= shape[d];
            } else {
                o += c * ostride;
                ostride *= shape[d];
            }
        }
        double v = x[i];
        double *a = &r->d[o];
        switch (kind) {
        case K_SUM:
            *a += v;
            r->u[o] += (uint64_t)(int64_t)v;
            break;
        case K_PROD:
            *a *= v;
            r->u[o] *= (uint64_t)(int64_t)v;
            break;
        case K_MAX:
            *a = (isnan(*a) || *a >= v) ? *a : v;
            break;
        case K_MIN:
            *a = (isnan(*a) || *a <= v) ? *a : v;
            break;
        case K_ALL: *a = *a && v != 0; break;
        case K_ANY: *a = *a || v != 0; break;
        default: {
            bool max = kind == K_ARGMAX;
            bool better = r->idx[o] < 0 ||
                          (isnan(v) && !isnan(*a)) ||
                          (max ? v > *a : v < *a);
            /* keep the element with the lowest reduced index on ties */
            if (better && !(r->idx[o] >= 0 && ri > r->idx[o] && v == *a)) {
                *a = v;
                r->idx[o] = ri;
            }
            break;
        }
        }
    }
    (void)ints;
}

static kiln_array *call_reduce(int kind, kiln_array *x, const int *axes,
                               int naxes, bool keepdims)
{
    switch (kind) {
    case K_SUM: return kiln_sum(x, axes, naxes, keepdims);
    case K_PROD: return kiln_prod(x, axes, naxes, keepdims);
    case K_MAX: return kiln_max(x, axes, naxes, keepdims);
    case K_MIN: return kiln_min(x, axes, naxes, keepdims);
    case K_ALL: return kiln_all(x, axes, naxes, keepdims);
    default: return kiln_any(x, axes, naxes, keepdims);
    }
}

/* Relative precision of a float dtype's storage. */
static double eps_of(kiln_dtype dt)
{
    switch (dt) {
    case KILN_DTYPE_FLOAT16: return 1.0 / 1024;
    case KILN_DTYPE_BFLOAT16: return 1.0 / 128;
    case KILN_DTYPE_FLOAT32: return 2e-7;
    default: return 1e-15;
    }
}

/* Checks y (evaluated by the caller) against reference r. */
static void check_against(kiln_array *y, int kind, kiln_dtype in_dt,
                          const refout *r, const char *what)
{
    kiln_dtype odt = kiln_array_dtype(y);
    const void *p = kiln_array_data(y);
    CHECK_MSG(p != NULL, "%s: %s", what, kiln_errmsg());
    if (!p) {
        return;
    }
    CHECK_MSG(kiln_array_size(y) == r->n, "%s: size %lld vs %lld", what,
              (long long)kiln_array_size(y), (long long)r->n);
    for (int64_t o = 0; o < r->n && o < kiln_array_size(y); o++) {
        if (kind == K_ARGMAX || kind == K_ARGMIN) {
            CHECK_MSG(load_int(p, odt, o) == (uint64_t)r->idx[o],
                      "%s: out %lld: %llu want %lld", what, (long long)o,
                      (unsigned long long)load_int(p, odt, o),
                      (long long)r->idx[o]);
        } else if (!is_float(odt) && odt != KILN_DTYPE_BOOL &&
                   (kind == K_SUM || kind == K_PROD)) {
            uint64_t want = wrap_to(r->u[o], odt);
            CHECK_MSG(load_int(p, odt, o) == want,
                      "%s: out %lld: %llu want %llu", what, (long long)o,
                      (unsigned long long)load_int(p, odt, o),
                      (unsigned long long)want);
        } else {
            double got = load(p, odt, o), want = r->d[o];
            double tol = is_float(in_dt) ? 4 * eps_of(in_dt) * fabs(want)
                                         : 0;
            CHECK_MSG((isnan(got) && isnan(want)) || got == want ||
                          fabs(got - want) <= tol,
                      "%s: out %lld: %.9g want %.9g", what, (long long)o,
                      got, want);
        }
    }
}

/* ------------------------------------------------------------------ */
/* reductions                                                         */
/* ------------------------------------------------------------------ */

TEST(reduce_every_dtype_axes_keepdims)
{
    int64_t shape[3] = {2, 3, 4};
    double v[24];
    char what[160];
    for (int di = 0; di < NDTYPES; di++) {
        kiln_dtype dt = all_dtypes[di];
        for (int i = 0; i < 24; i++) {
            v[i] = gen(dt);
        }
        kiln_scope_begin();
        kiln_array *x = make(v, shape, 3, dt);
        for (int kind = K_SUM; kind <= K_ANY; kind++) {
            for (int mask = -1; mask < 8; mask++) {
                for (int keep = 0; keep < 2; keep++) {
                    int axes[3], na = 0;
                    uint32_t m = mask < 0 ? 7u : (uint32_t)mask;
                    for (int a = 0; a < 3 && mask >= 0; a++) {
                        if (m & (1u << a)) {
                            /* alternate negative spellings */
                            axes[na++] = (a + kind + keep) % 2 ? a - 3 : a;
                        }
                    }
                    snprintf(what, sizeof what, "%s %s mask %d keep %d",
                             kind_name[kind], kiln_dtype_name(dt), mask,
                             keep);
                    kiln_array *y = call_reduce(
                        kind, x, mask < 0 ? NULL : axes, na, keep);
                    CHECK_MSG(y != NULL, "%s: %s", what, kiln_errmsg());
                    if (!y) {
                        continue;
                    }
                    CHECK_MSG(kiln_array_dtype(y) == expect_dtype(kind, dt),
                              "%s: dtype %s", what,
                              kiln_dtype_name(kiln_array_dtype(y)));
                    /* shape: reduced axes dropped or kept as 1 */
                    int nd = 0;
                    for (int a = 0; a < 3; a++) {
                        if (!(m & (1u << a))) {
                            CHECK(kiln_array_dim(y, nd++) == shape[a]);
                        } else if (keep) {
                            CHECK(kiln_array_dim(y, nd++) == 1);
                        }
                    }
                    CHECK_MSG(kiln_array_ndim(y) == nd, "%s: ndim", what);
                    refout *r = malloc(sizeof *r);
                    ref_reduce(v, shape, 3, m, kind, !is_float(dt), r);
                    check_against(y, kind, dt, r, what);
                    free(r);
                }
            }
        }
        kiln_scope_end(NULL);
    }
}

TEST(reduce_arg_every_dtype_axis_flat)
{
    int64_t shape[3] = {3, 4, 5};
    double v[60];
    char what[160];
    for (int di = 0; di < NDTYPES; di++) {
        kiln_dtype dt = all_dtypes[di];
        for (int i = 0; i < 60; i++) {
            v[i] = gen(dt); /* few distinct values: many ties */
        }
        kiln_scope_begin();
        kiln_array *x = make(v, shape, 3, dt);
        for (int kind = K_ARGMAX; kind <= K_ARGMIN; kind++) {
            for (int axis = -3; axis <= 3; axis++) {
                for (int keep = 0; keep < 2; keep++) {
                    bool flat = axis == 3;
                    kiln_array *y =
                        kind == K_ARGMAX ? kiln_argmax(x, axis, flat, keep)
                                         : kiln_argmin(x, axis, flat, keep);
                    snprintf(what, sizeof what, "%s %s axis %d keep %d",
                             kind_name[kind], kiln_dtype_name(dt), axis,
                             keep);
                    CHECK_MSG(y != NULL, "%s: %s", what, kiln_errmsg());
                    if (!y) {
                        continue;
                    }
                    CHECK(kiln_array_dtype(y) == KILN_DTYPE_UINT32);
                    uint32_t m = flat ? 7u : 1u << ((axis + 3) % 3);
                    int want_nd = keep ? 3 : (flat ? 0 : 2);
                    CHECK_MSG(kiln_array_ndim(y) == want_nd, "%s: ndim %d",
                              what, kiln_array_ndim(y));
                    refout *r = malloc(sizeof *r);
                    ref_reduce(v, shape, 3, m, kind, false, r);
                    check_against(y, kind, dt, r, what);
                    free(r);
                }
            }
        }
        kiln_scope_end(NULL);
    }
}

TEST(reduce_nan_handling)
{
    float v[8] = {1, NAN, 3, -INFINITY, 2, 5, NAN, 0};
    int64_t shape[2] = {2, 4};
    int ax1 = 1;
    kiln_scope_begin();
    kiln_array *x = kiln_array_from_data(v, shape, 2, KILN_DTYPE_FLOAT32);
    const float *mx = kiln_array_data(kiln_max(x, &ax1, 1, false));
    const float *mn = kiln_array_data(kiln_min(x, &ax1, 1, false));
    CHECK(mx && isnan(mx[0]) && isnan(mx[1]));
    CHECK(mn && isnan(mn[0]) && isnan(mn[1]));
    const uint32_t *am = kiln_array_data(kiln_argmax(x, 1, false, false));
    const uint32_t *an = kiln_array_data(kiln_argmin(x, 1, false, false));
    CHECK(am && am[0] == 1 && am[1] == 2);
    CHECK(an && an[0] == 1 && an[1] == 2);
    /* flat: the first NaN of the whole array */
    const uint32_t *af = kiln_array_data(kiln_argmin(x, 0, true, false));
    CHECK(af && af[0] == 1);
    /* column mode: axis 0 */
    int ax0 = 0;
    const float *m0 = kiln_array_data(kiln_max(x, &ax0, 1, false));
    CHECK(m0 && m0[0] == 2 && isnan(m0[1]) && isnan(m0[2]) && m0[3] == 0);
    const uint32_t *a0 = kiln_array_data(kiln_argmin(x, 0, false, false));
    CHECK(a0 && a0[0] == 0 && a0[1] == 0 && a0[2] == 1 && a0[3] == 0);
    /* NaN != 0: all/any see NaN as true */
    const uint8_t *al = kiln_array_data(kiln_all(x, &ax1, 1, false));
    CHECK(al && al[0] == 1 && al[1] == 0);
    float h[3] = {NAN, 1, 2};
    int64_t n3 = 3;
    kiln_array *xh = kiln_astype(
        kiln_array_from_data(h, &n3, 1, KILN_DTYPE_FLOAT32),
        KILN_DTYPE_FLOAT16);
    const uint8_t *ah = kiln_array_data(kiln_all(xh, NULL, 0, false));
    CHECK(ah && ah[0] == 1);
    double s;
    CHECK(kiln_array_item_f64(kiln_sum(xh, NULL, 0, false), &s) == KILN_OK &&
          isnan(s));
    kiln_scope_end(NULL);
}

TEST(reduce_integer_wrap_and_promotion)
{
    int32_t a[2] = {INT32_MAX, 1};
    int8_t b[3] = {127, 127, 100};
    uint8_t c[2] = {200, 200};
    int64_t n2 = 2, n3 = 3;
    int64_t i;
    kiln_scope_begin();
    kiln_array *xa = kiln_array_from_data(a, &n2, 1, KILN_DTYPE_INT32);
    CHECK(kiln_array_item_i64(kiln_sum(xa, NULL, 0, false), &i) == KILN_OK &&
          i == INT32_MIN);
    kiln_array *xb = kiln_array_from_data(b, &n3, 1, KILN_DTYPE_INT8);
    kiln_array *sb = kiln_sum(xb, NULL, 0, false);
    CHECK(kiln_array_dtype(sb) == KILN_DTYPE_INT32);
    CHECK(kiln_array_item_i64(sb, &i) == KILN_OK && i == 354);
    kiln_array *pb = kiln_prod(xb, NULL, 0, false);
    CHECK(kiln_array_item_i64(pb, &i) == KILN_OK && i == 127 * 127 * 100);
    kiln_array *xc = kiln_array_from_data(c, &n2, 1, KILN_DTYPE_UINT8);
    kiln_array *sc = kiln_sum(xc, NULL, 0, false);
    CHECK(kiln_array_dtype(sc) == KILN_DTYPE_UINT32);
    CHECK(kiln_array_item_i64(sc, &i) == KILN_OK && i == 400);
    CHECK(kiln_array_dtype(kiln_max(xc, NULL, 0, false)) ==
          KILN_DTYPE_UINT8);
    CHECK(kiln_array_dtype(kiln_mean(xc, NULL, 0, false)) ==
          KILN_DTYPE_FLOAT32);
    CHECK(kiln_array_dtype(kiln_logsumexp(xb, NULL, 0, false)) ==
          KILN_DTYPE_FLOAT32);
    CHECK(kiln_array_dtype(kiln_softmax(xb, NULL, 0, false)) ==
          KILN_DTYPE_FLOAT32);
    /* cumsum keeps int8 (wrapping) and turns bool into int32 */
    kiln_array *cb = kiln_cumsum(xb, 0, false, false, true);
    CHECK(kiln_array_dtype(cb) == KILN_DTYPE_INT8);
    const int8_t *pc = kiln_array_data(cb);
    CHECK(pc && pc[0] == 127 && pc[1] == -2 && pc[2] == 98);
    uint8_t t[3] = {1, 1, 0};
    kiln_array *xt = kiln_array_from_data(t, &n3, 1, KILN_DTYPE_BOOL);
    kiln_array *ct = kiln_cumsum(xt, 0, false, false, true);
    CHECK(kiln_array_dtype(ct) == KILN_DTYPE_INT32);
    const int32_t *pt = kiln_array_data(ct);
    CHECK(pt && pt[0] == 1 && pt[1] == 2 && pt[2] == 2);
    CHECK(kiln_array_dtype(kiln_cumprod(xt, 0, false, false, true)) ==
          KILN_DTYPE_BOOL);
    kiln_scope_end(NULL);
}

TEST(reduce_errors)
{
    float v[6] = {0};
    int64_t shape[2] = {2, 3};
    kiln_scope_begin();
    kiln_array *x = kiln_array_from_data(v, shape, 2, KILN_DTYPE_FLOAT32);
    int bad[1] = {2}, neg_bad[1] = {-3}, dup[2] = {1, -1};
    kiln_errclear();
    CHECK(kiln_sum(x, bad, 1, false) == NULL);
    CHECK(kiln_errcode() == KILN_ERR_INDEX);
    CHECK(strstr(kiln_errmsg(), "[sum]") != NULL);
    kiln_errclear();
    CHECK(kiln_mean(x, neg_bad, 1, false) == NULL);
    CHECK(kiln_errcode() == KILN_ERR_INDEX);
    kiln_errclear();
    CHECK(kiln_max(x, dup, 2, false) == NULL);
    CHECK(kiln_errcode() == KILN_ERR_VALUE);
    kiln_errclear();
    CHECK(kiln_var(x, dup, 2, false, 0) == NULL);
    CHECK(kiln_errcode() == KILN_ERR_VALUE);
    kiln_errclear();
    CHECK(kiln_logsumexp(x, bad, 1, false) == NULL);
    CHECK(kiln_errcode() == KILN_ERR_INDEX);
    kiln_errclear();
    CHECK(kiln_softmax(x, dup, 2, false) == NULL);
    CHECK(kiln_errcode() == KILN_ERR_VALUE);
    kiln_errclear();
    CHECK(kiln_sum(x, bad, -1, false) == NULL);
    CHECK(kiln_errcode() == KILN_ERR_VALUE);
    kiln_errclear();
    CHECK(kiln_argmax(x, 2, false, false) == NULL);
    CHECK(kiln_errcode() == KILN_ERR_INDEX);
    kiln_errclear();
    CHECK(kiln_cumsum(x, -3, false, false, true) == NULL);
    CHECK(kiln_errcode() == KILN_ERR_INDEX);
    kiln_errclear();
    CHECK(kiln_cummax(x, 2, false, false, true) == NULL);
    CHECK(kiln_errcode() == KILN_ERR_INDEX);
    /* NULL inputs */
    kiln_errclear();
    CHECK(kiln_sum(NULL, NULL, 0, false) == NULL);
    CHECK(strstr(kiln_errmsg(), "[sum] argument is NULL") != NULL);
    CHECK(kiln_std(NULL, NULL, 0, false, 0) == NULL);
    CHECK(kiln_softmax(NULL, NULL, 0, true) == NULL);
    CHECK(kiln_logsumexp(NULL, NULL, 0, true) == NULL);
    CHECK(kiln_argmin(NULL, 0, true, false) == NULL);
    CHECK(kiln_cumprod(NULL, 0, true, false, true) == NULL);
    CHECK(strstr(kiln_errmsg(), "[sum] argument is NULL") != NULL);
    /* min/max/argmin/argmax of an empty axis */
    int64_t es[2] = {0, 3};
    kiln_array *e = kiln_zeros(es, 2, KILN_DTYPE_FLOAT32);
    int ax0 = 0, ax1 = 1;
    kiln_errclear();
    CHECK(kiln_max(e, &ax0, 1, false) == NULL);
    CHECK(kiln_errcode() == KILN_ERR_VALUE);
    CHECK(strstr(kiln_errmsg(), "[max]") != NULL);
    kiln_errclear();
    CHECK(kiln_min(e, NULL, 0, true) == NULL);
    CHECK(kiln_errcode() == KILN_ERR_VALUE);
    kiln_errclear();
    CHECK(kiln_argmax(e, 0, true, false) == NULL);
    CHECK(kiln_errcode() == KILN_ERR_VALUE);
    kiln_errclear();
    CHECK(kiln_logsumexp(e, NULL, 0, false) == NULL);
    CHECK(kiln_errcode() == KILN_ERR_VALUE);
    /* reducing only non-empty axes of an empty array is fine */
    kiln_errclear();
    kiln_array *m1 = kiln_max(e, &ax1, 1, false);
    CHECK(m1 && kiln_array_ndim(m1) == 1 && kiln_array_dim(m1, 0) == 0);
    CHECK(kiln_array_eval(m1) == KILN_OK);
    kiln_scope_end(NULL);
}

TEST(reduce_empty_and_0d)
{
    int64_t es[2] = {0, 3};
    int ax0 = 0, ax1 = 1;
    kiln_scope_begin();
    kiln_array *e = kiln_zeros(es, 2, KILN_DTYPE_FLOAT32);
    const float *s = kiln_array_data(kiln_sum(e, &ax0, 1, false));
    const float *p = kiln_array_data(kiln_prod(e, &ax0, 1, false));
    const float *m = kiln_array_data(kiln_mean(e, &ax0, 1, false));
    const uint8_t *al = kiln_array_data(kiln_all(e, &ax0, 1, false));
    const uint8_t *an = kiln_array_data(kiln_any(e, &ax0, 1, false));
    for (int i = 0; i < 3; i++) {
        CHECK(s && s[i] == 0);
        CHECK(p && p[i] == 1);
        CHECK(m && isnan(m[i]));
        CHECK(al && al[i] == 1);
        CHECK(an && an[i] == 0);
    }
    kiln_array *s1 = kiln_sum(e, &ax1, 1, true);
    CHECK(s1 && kiln_array_ndim(s1) == 2 && kiln_array_dim(s1, 0) == 0 &&
          kiln_array_dim(s1, 1) == 1);
    CHECK(kiln_array_eval(s1) == KILN_OK);
    double d;
    CHECK(kiln_array_item_f64(kiln_sum(e, NULL, 0, false), &d) == KILN_OK &&
          d == 0);
    CHECK(kiln_array_item_f64(kiln_var(e, NULL, 0, false, 0), &d) ==
              KILN_OK &&
          isnan(d));
    kiln_array *sm = kiln_softmax(e, NULL, 0, false);
    CHECK(sm && kiln_array_size(sm) == 0 && kiln_array_eval(sm) == KILN_OK);
    kiln_array *cs = kiln_cumsum(e, 1, false, false, true);
    CHECK(cs && kiln_array_size(cs) == 0 && kiln_array_eval(cs) == KILN_OK);
    kiln_array *cf = kiln_cumsum(e, 0, true, false, true);
    CHECK(cf && kiln_array_ndim(cf) == 1 && kiln_array_dim(cf, 0) == 0);
    /* 0-d */
    kiln_array *z = kiln_scalar_f64(2.5, KILN_DTYPE_FLOAT32);
    CHECK(kiln_array_item_f64(kiln_sum(z, NULL, 0, false), &d) == KILN_OK &&
          d == 2.5);
    CHECK(kiln_array_item_f64(kiln_max(z, NULL, 0, true), &d) == KILN_OK &&
          d == 2.5);
    CHECK(kiln_array_ndim(kiln_mean(z, NULL, 0, true)) == 0);
    int64_t i;
    CHECK(kiln_array_item_i64(kiln_argmax(z, 0, true, false), &i) ==
              KILN_OK &&
          i == 0);
    kiln_errclear();
    CHECK(kiln_argmax(z, 0, false, false) == NULL);
    CHECK(kiln_errcode() == KILN_ERR_INDEX);
    kiln_errclear();
    CHECK(kiln_sum(z, &ax0, 1, false) == NULL);
    CHECK(kiln_errcode() == KILN_ERR_INDEX);
    kiln_errclear();
    kiln_array *c0 = kiln_cumsum(z, 0, true, false, true);
    CHECK(c0 && kiln_array_ndim(c0) == 1 && kiln_array_dim(c0, 0) == 1);
    CHECK(kiln_array_item_f64(c0, &d) == KILN_OK && d == 2.5);
    /* an empty axes list reduces nothing: a conversion */
    int none[1] = {0};
    uint8_t bb[2] = {1, 1};
    int64_t n2 = 2;
    kiln_array *xb = kiln_array_from_data(bb, &n2, 1, KILN_DTYPE_BOOL);
    kiln_array *sb = kiln_sum(xb, none, 0, false);
    CHECK(sb && kiln_array_dtype(sb) == KILN_DTYPE_INT32 &&
          kiln_array_ndim(sb) == 1);
    const int32_t *psb = kiln_array_data(sb);
    CHECK(psb && psb[0] == 1 && psb[1] == 1);
    kiln_scope_end(NULL);
}

/* ------------------------------------------------------------------ */
/* non-contiguous inputs                                              */
/* ------------------------------------------------------------------ */

TEST(reduce_strided_views)
{
    /* base (6, 5, 8) float32; views: a transpose, a stepped and reversed
     * slice, and a broadcast */
    enum { A = 6, B = 5, C = 8 };
    double v[A * B * C];
    int64_t shape[3] = {A, B, C};
    char what[160];
    for (int i = 0; i < A * B * C; i++) {
        v[i] = gen(KILN_DTYPE_FLOAT32);
    }
    kiln_scope_begin();
    kiln_array *x = make(v, shape, 3, KILN_DTYPE_FLOAT32);
    /* transpose (2, 0, 1): t[k][i][j] = v[i][j][k] */
    int perm[3] = {2, 0, 1};
    kiln_array *t = kiln_transpose(x, perm, 3);
    double tv[A * B * C];
    int64_t tshape[3] = {C, A, B};
    for (int k = 0; k < C; k++) {
        for (int i = 0; i < A; i++) {
            for (int j = 0; j < B; j++) {
                tv[(k * A + i) * B + j] = v[(i * B + j) * C + k];
            }
        }
    }
    /* slice [::2, ::-1, 1:7:3] -> (3, 5, 2) */
    int64_t st[3] = {0, KILN_SLICE_END, 1};
    int64_t sp[3] = {KILN_SLICE_END, KILN_SLICE_BEGIN, 7};
    int64_t ss[3] = {2, -1, 3};
    kiln_array *s = kiln_slice(x, st, sp, ss);
    double sv[3 * 5 * 2];
    int64_t sshape[3] = {3, 5, 2};
    for (int i = 0; i < 3; i++) {
        for (int j = 0; j < 5; j++) {
            for (int k = 0; k < 2; k++) {
                sv[(i * 5 + j) * 2 + k] =
                    v[((2 * i) * B + (4 - j)) * C + 1 + 3 * k];
            }
        }
    }
    /* broadcast of a (1, 5, 1) slice... built directly: (4, 5, 3) */
    double bsrc[5] = {1.5, -2, 0.25, 3, -0.5};
    int64_t b1[3] = {1, 5, 1}, bshape[3] = {4, 5, 3};
    kiln_array *bx = kiln_broadcast_to(make(bsrc, b1, 3, KILN_DTYPE_FLOAT32),
                                       bshape, 3);
    double bv[60];
    for (int i = 0; i < 60; i++) {
        bv[i] = bsrc[(i / 3) % 5];
    }
    struct {
        kiln_array *a;
        const double *vals;
        const int64_t *shape;
    } cases[3] = {{t, tv, tshape}, {s, sv, sshape}, {bx, bv, bshape}};
    for (int c = 0; c < 3; c++) {
        CHECK_MSG(cases[c].a != NULL, "view %d: %s", c, kiln_errmsg());
        if (!cases[c].a) {
            continue;
        }
        for (int kind = K_SUM; kind <= K_ARGMIN; kind++) {
            for (uint32_t m = 0; m < 8; m++) {
                if ((kind == K_ARGMAX || kind == K_ARGMIN) &&
                    __builtin_popcount(m) != 1 && m != 7) {
                    continue;
                }
                int axes[3], na = 0;
                for (int a = 0; a < 3; a++) {
                    if (m & (1u << a)) {
                        axes[na++] = a;
                    }
                }
                kiln_array *y;
                if (kind == K_ARGMAX || kind == K_ARGMIN) {
                    bool flat = m == 7;
                    y = kind == K_ARGMAX
                            ? kiln_argmax(cases[c].a, axes[0], flat, false)
                            : kiln_argmin(cases[c].a, axes[0], flat, false);
                } else {
                    y = call_reduce(kind, cases[c].a, axes, na, false);
                }
                snprintf(what, sizeof what, "view %d %s mask %u", c,
                         kind_name[kind], m);
                refout *r = malloc(sizeof *r);
                ref_reduce(cases[c].vals, cases[c].shape, 3, m, kind, false,
                           r);
                check_against(y, kind, KILN_DTYPE_FLOAT32, r, what);
                free(r);
            }
        }
    }
    kiln_scope_end(NULL);
}

/* Shapes that take the special layouts: narrow columns (adjacent rows of
 * 2, 4 or 16 folded as one run), short rows, odd widths, row chunks of the
 * index kinds, and column blocks (more rows than one block holds). */
TEST(reduce_layout_paths)
{
    static const int64_t shapes[][2] = {
        {300, 4}, {301, 2}, {100, 16}, {257, 3}, {7, 3000}, {600, 260}};
    static const kiln_dtype dts[] = {KILN_DTYPE_BOOL, KILN_DTYPE_INT8,
                                     KILN_DTYPE_UINT16, KILN_DTYPE_INT64,
                                     KILN_DTYPE_FLOAT16, KILN_DTYPE_FLOAT32,
                                     KILN_DTYPE_FLOAT64};
    char what[160];
    double *v = malloc(sizeof(double) * 600 * 260);
    refout *r = malloc(sizeof *r);
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
        const int64_t *shape = shapes[si];
        int64_t size = shape[0] * shape[1];
        for (size_t di = 0; di < sizeof dts / sizeof dts[0]; di++) {
            kiln_dtype dt = dts[di];
            for (int64_t i = 0; i < size; i++) {
                v[i] = gen(dt);
            }
            if (is_float(dt) && size > 2000) {
                v[1500] = NAN;
                v[size - 3] = NAN;
            }
            kiln_scope_begin();
            kiln_array *x = make(v, shape, 2, dt);
            for (int kind = K_SUM; kind <= K_ARGMIN; kind++) {
                if (kind == K_PROD && is_float(dt)) {
                    continue; /* overflows differ from a double product */
                }
                for (int ax = 0; ax < 2; ax++) {
                    kiln_array *y =
                        kind == K_ARGMAX   ? kiln_argmax(x, ax, false, false)
                        : kind == K_ARGMIN ? kiln_argmin(x, ax, false, false)
                                           : call_reduce(kind, x, &ax, 1,
                                                         false);
                    snprintf(what, sizeof what, "%s %s (%lld,%lld) axis %d",
                             kind_name[kind], kiln_dtype_name(dt),
                             (long long)shape[0], (long long)shape[1], ax);
                    ref_reduce(v, shape, 2, 1u << ax, kind, false, r);
                    check_against(y, kind, dt, r, what);
                }
            }
            kiln_scope_end(NULL);
        }
    }
    free(r);
    free(v);
}

/* ------------------------------------------------------------------ */
/* large arrays: threads, blocks, determinism                         */
/* ------------------------------------------------------------------ */

TEST(reduce_large_threads_deterministic)
{
    const int64_t n = 1 << 22;
    float *v = malloc((size_t)n * sizeof *v);
    double ref = 0, ref_abs = 0;
    for (int64_t i = 0; i < n; i++) {
        v[i] = (float)((double)(rng() >> 11) / 9007199254740992.0) - 0.25f;
        ref += v[i];
        ref_abs += fabs(v[i]);
    }
    int nthreads = kiln_num_threads();
    kiln_scope_begin();
    kiln_array *x = kiln_array_from_data(v, &n, 1, KILN_DTYPE_FLOAT32);
    float got[2];
    for (int t = 0; t < 2; t++) {
        kiln_set_num_threads(t + 1);
        CHECK(kiln_array_read(kiln_sum(x, NULL, 0, false), &got[t],
                              sizeof got[t]) == KILN_OK);
    }
    CHECK(memcmp(&got[0], &got[1], sizeof got[0]) == 0);
    /* pairwise: far below the n * eps of a naive loop */
    CHECK_NEAR(got[0], ref, 1e-6 * ref_abs);
    double m;
    CHECK(kiln_array_item_f64(kiln_mean(x, NULL, 0, false), &m) == KILN_OK);
    CHECK_NEAR(m, ref / (double)n, 1e-6 * ref_abs / (double)n);
    /* a unique max late in the array, NaNs in two different blocks */
    v[n - 100] = 7;
    kiln_array *x2 = kiln_array_from_data(v, &n, 1, KILN_DTYPE_FLOAT32);
    int64_t i;
    CHECK(kiln_array_item_i64(kiln_argmax(x2, 0, false, false), &i) ==
              KILN_OK &&
          i == n - 100);
    v[3 * 65536 + 5] = NAN;
    v[65536 + 17] = NAN;
    kiln_array *x3 = kiln_array_from_data(v, &n, 1, KILN_DTYPE_FLOAT32);
    CHECK(kiln_array_item_i64(kiln_argmin(x3, 0, true, false), &i) ==
              KILN_OK &&
          i == 65536 + 17);
    double mx;
    CHECK(kiln_array_item_f64(kiln_max(x3, NULL, 0, false), &mx) ==
              KILN_OK &&
          isnan(mx));

    /* (1024, 4096) along each axis: column mode with row blocks, and
     * row mode; both against double, and the same bits on 1 and 2
     * threads */
    int64_t shape[2] = {1024, 4096};
    kiln_array *y = kiln_array_from_data(v, shape, 2, KILN_DTYPE_FLOAT32);
    for (int ax = 0; ax < 2; ax++) {
        int64_t nout = shape[1 - ax];
        float *r[2];
        for (int t = 0; t < 2; t++) {
            kiln_set_num_threads(t + 1);
            r[t] = malloc((size_t)nout * sizeof(float));
            CHECK(kiln_array_read(kiln_sum(y, &ax, 1, false), r[t],
                                  (size_t)nout * sizeof(float)) == KILN_OK);
        }
        CHECK(memcmp(r[0], r[1], (size_t)nout * sizeof(float)) == 0);
        for (int64_t o = 0; o < nout; o += 97) {
            double s = 0, sa = 0;
            for (int64_t k = 0; k < shape[ax]; k++) {
                double e = ax == 0 ? v[k * 4096 + o] : v[o * 4096 + k];
                s += e;
                sa += fabs(e);
            }
            if (isnan(s)) {
                CHECK(isnan(r[0][o]));
            } else {
                CHECK_NEAR(r[0][o], s, 2e-6 * sa);
            }
        }
        free(r[0]);
        free(r[1]);
    }
    kiln_set_num_threads(nthreads);
    kiln_scope_end(NULL);
    free(v);
}

TEST(reduce_half_accumulates_in_float32)
{
    /* 4096 ones in float16: a float16 accumulator would stop at 2048 */
    int64_t n = 4096;
    kiln_scope_begin();
    kiln_array *x = kiln_ones(&n, 1, KILN_DTYPE_FLOAT16);
    double s;
    CHECK(kiln_array_item_f64(kiln_sum(x, NULL, 0, false), &s) == KILN_OK &&
          s == 4096);
    kiln_array *xb = kiln_ones(&n, 1, KILN_DTYPE_BFLOAT16);
    CHECK(kiln_array_item_f64(kiln_sum(xb, NULL, 0, false), &s) == KILN_OK &&
          s == 4096);
    /* mean of 100000 float16 ones: the float16 sum would overflow */
    int64_t big = 100000;
    kiln_array *ones = kiln_ones(&big, 1, KILN_DTYPE_FLOAT16);
    kiln_array *mean = kiln_mean(ones, NULL, 0, false);
    CHECK(kiln_array_dtype(mean) == KILN_DTYPE_FLOAT16);
    CHECK(kiln_array_item_f64(mean, &s) == KILN_OK && s == 1);
    CHECK(kiln_array_item_f64(kiln_logsumexp(ones, NULL, 0, false), &s) ==
          KILN_OK);
    CHECK_NEAR(s, 1 + log(100000.0), 0.02);
    kiln_scope_end(NULL);
}

/* ------------------------------------------------------------------ */
/* composites                                                         */
/* ------------------------------------------------------------------ */

TEST(reduce_mean_var_std)
{
    double v[12];
    int64_t shape[2] = {3, 4};
    for (int i = 0; i < 12; i++) {
        v[i] = gen(KILN_DTYPE_FLOAT64) * 3 + i;
    }
    kiln_scope_begin();
    for (int di = 0; di < NDTYPES; di++) {
        kiln_dtype dt = all_dtypes[di];
        double w[12];
        for (int i = 0; i < 12; i++) {
            w[i] = dt == KILN_DTYPE_BOOL ? (double)(i % 3 == 0)
                   : is_float(dt)        ? v[i]
                                         : (double)(i * 7 % 11);
        }
        kiln_array *x = make(w, shape, 2, dt);
        for (int ax = -1; ax < 2; ax++) {
            for (int ddof = 0; ddof < 5; ddof += 2) {
                int axis = ax;
                kiln_array *mu = kiln_mean(x, ax < 0 ? NULL : &axis, 1,
                                           false);
                kiln_array *va =
                    kiln_var(x, ax < 0 ? NULL : &axis, 1, false, ddof);
                kiln_array *sd =
                    kiln_std(x, ax < 0 ? NULL : &axis, 1, true, ddof);
                kiln_dtype fdt = is_float(dt) ? dt : KILN_DTYPE_FLOAT32;
                CHECK(kiln_array_dtype(mu) == fdt);
                CHECK(kiln_array_dtype(va) == fdt);
                CHECK(kiln_array_dtype(sd) == fdt);
                CHECK(kiln_array_ndim(sd) == 2);
                const void *pm = kiln_array_data(mu);
                const void *pv = kiln_array_data(va);
                const void *ps = kiln_array_data(sd);
                CHECK(pm && pv && ps);
                if (!pm || !pv || !ps) {
                    continue;
                }
                int nout = ax < 0 ? 1 : (ax == 0 ? 4 : 3);
                int cnt = ax < 0 ? 12 : (ax == 0 ? 3 : 4);
                for (int o = 0; o < nout; o++) {
                    double s = 0, q = 0;
                    for (int k = 0; k < cnt; k++) {
                        int i = ax < 0 ? k : (ax == 0 ? k * 4 + o : o * 4 + k);
                        s += load(kiln_array_data(x), dt, i);
                    }
                    double mean = s / cnt;
                    for (int k = 0; k < cnt; k++) {
                        int i = ax < 0 ? k : (ax == 0 ? k * 4 + o : o * 4 + k);
                        double d = load(kiln_array_data(x), dt, i) - mean;
                        q += d * d;
                    }
                    double den = cnt - ddof > 0 ? cnt - ddof : 0;
                    double var = q / den;
                    double tol = is_float(dt) ? 4 * eps_of(dt) : 1e-6;
                    CHECK_NEAR(load(pm, fdt, o), mean,
                               tol * (fabs(mean) + 1));
                    CHECK_NEAR(load(pv, fdt, o), var, tol * (fabs(var) + 1));
                    CHECK_NEAR(load(ps, fdt, o), sqrt(var),
                               tol * (sqrt(var) + 1));
                }
            }
        }
    }
    /* ddof >= count: division by zero, as numpy (inf, or NaN for 0/0) */
    double two[2] = {1, 3}, d;
    int64_t n2 = 2;
    kiln_array *x2 = make(two, &n2, 1, KILN_DTYPE_FLOAT32);
    CHECK(kiln_array_item_f64(kiln_var(x2, NULL, 0, false, 2), &d) ==
              KILN_OK &&
          isinf(d) && d > 0);
    CHECK(kiln_array_item_f64(kiln_var(x2, NULL, 0, false, 1), &d) ==
              KILN_OK &&
          d == 2);
    kiln_scope_end(NULL);
}

TEST(reduce_logsumexp_softmax)
{
    double v[6] = {1000, 1001, 999, -2, 0.5, 3};
    int64_t shape[2] = {2, 3};
    int ax1 = 1;
    kiln_scope_begin();
    for (int di = KILN_DTYPE_FLOAT16; di <= KILN_DTYPE_FLOAT64; di++) {
        kiln_dtype dt = (kiln_dtype)di;
        double w[6];
        memcpy(w, v, sizeof w);
        if (dt == KILN_DTYPE_FLOAT16) {
            w[0] = 10, w[1] = 11, w[2] = 9; /* 1000 + 1 is inexact */
        }
        if (dt == KILN_DTYPE_BFLOAT16) {
            w[0] = 100, w[1] = 101, w[2] = 99;
        }
        kiln_array *x = make(w, shape, 2, dt);
        for (int keep = 0; keep < 2; keep++) {
            kiln_array *l = kiln_logsumexp(x, &ax1, 1, keep);
            CHECK(kiln_array_dtype(l) == dt);
            CHECK(kiln_array_ndim(l) == 1 + keep);
            const void *p = kiln_array_data(l);
            CHECK(p != NULL);
            for (int o = 0; p && o < 2; o++) {
                double m = fmax(fmax(w[3 * o], w[3 * o + 1]), w[3 * o + 2]);
                double s = 0;
                for (int k = 0; k < 3; k++) {
                    s += exp(w[3 * o + k] - m);
                }
                double want = m + log(s);
                CHECK_NEAR(load(p, dt, o), want, 4 * eps_of(dt) * fabs(want));
            }
        }
        for (int precise = 0; precise < 2; precise++) {
            kiln_array *sm = kiln_softmax(x, &ax1, 1, precise);
            CHECK(kiln_array_dtype(sm) == dt);
            const void *p = kiln_array_data(sm);
            CHECK(p != NULL);
            for (int o = 0; p && o < 2; o++) {
                double m = fmax(fmax(w[3 * o], w[3 * o + 1]), w[3 * o + 2]);
                double s = 0;
                for (int k = 0; k < 3; k++) {
                    s += exp(w[3 * o + k] - m);
                }
                for (int k = 0; k < 3; k++) {
                    double want = exp(w[3 * o + k] - m) / s;
                    CHECK_NEAR(load(p, dt, 3 * o + k), want,
                               4 * eps_of(dt) + 1e-7);
                }
            }
        }
    }
    /* infinities: -inf rows give -inf, +inf gives +inf, NaN propagates */
    float iv[6] = {-INFINITY, -INFINITY, INFINITY, 1, NAN, 2};
    int64_t s3[2] = {3, 2};
    kiln_array *xi = kiln_array_from_data(iv, s3, 2, KILN_DTYPE_FLOAT32);
    const float *pl = kiln_array_data(kiln_logsumexp(xi, &ax1, 1, false));
    CHECK(pl && isinf(pl[0]) && pl[0] < 0);
    CHECK(pl && isinf(pl[1]) && pl[1] > 0);
    CHECK(pl && isnan(pl[2]));
    /* softmax over all axes sums to one; over no axes gives ones */
    const float *pa = kiln_array_data(
        kiln_sum(kiln_softmax(kiln_array_from_data(v, shape, 2,
                                                   KILN_DTYPE_FLOAT64),
                              NULL, 0, false),
                 NULL, 0, false));
    CHECK(pa != NULL);
    double tot;
    CHECK(kiln_array_item_f64(
              kiln_sum(kiln_softmax(make(v, shape, 2, KILN_DTYPE_FLOAT32),
                                    NULL, 0, false),
                       NULL, 0, false),
              &tot) == KILN_OK);
    CHECK_NEAR(tot, 1, 1e-6);
    int none[1] = {0};
    CHECK(kiln_array_item_f64(
              kiln_min(kiln_softmax(make(v, shape, 2, KILN_DTYPE_FLOAT32),
                                    none, 0, false),
                       NULL, 0, false),
              &tot) == KILN_OK &&
          tot == 1);
    /* logsumexp over every axis, keepdims */
    kiln_array *la = kiln_logsumexp(make(v, shape, 2, KILN_DTYPE_FLOAT64),
                                    NULL, 0, true);
    CHECK(kiln_array_ndim(la) == 2 && kiln_array_dim(la, 0) == 1);
    CHECK(kiln_array_item_f64(la, &tot) == KILN_OK);
    CHECK_NEAR(tot, 1001 + log(exp(-1.0) + 1 + exp(-2.0)), 1e-9);
    kiln_scope_end(NULL);
}

/* ------------------------------------------------------------------ */
/* scans                                                              */
/* ------------------------------------------------------------------ */

enum { S_SUM, S_PROD, S_MAX, S_MIN };

static kiln_array *call_scan(int kind, kiln_array *x, int axis, bool flat,
                             bool rev, bool incl)
{
    switch (kind) {
    case S_SUM: return kiln_cumsum(x, axis, flat, rev, incl);
    case S_PROD: return kiln_cumprod(x, axis, flat, rev, incl);
    case S_MAX: return kiln_cummax(x, axis, flat, rev, incl);
    default: return kiln_cummin(x, axis, flat, rev, incl);
    }
}

/* Reference scan over axis (or flat when axis < 0) of logical values. */
static void ref_scan(const double *x, const int64_t *shape, int nd,
                     int axis, int kind, bool rev, bool incl, bool ints,
                     double *out, uint64_t *uout)
{
    int64_t size = 1, outer = 1, len, inner = 1;
    for (int i = 0; i < nd; i++) {
        size *= shape[i];
    }
    if (axis < 0) {
        len = size;
    } else {
        len = shape[axis];
        for (int i = 0; i < axis; i++) {
            outer *= shape[i];
        }
        for (int i = axis + 1; i < nd; i++) {
            inner *= shape[i];
        }
    }
    for (int64_t o = 0; o < outer; o++) {
        for (int64_t j = 0; j < inner; j++) {
            double acc = kind == S_PROD ? 1
                         : kind == S_MAX ? -INFINITY
                         : kind == S_MIN ? INFINITY
                                         : 0;
            uint64_t uacc = kind == S_PROD;
            for (int64_t l = 0; l < len; l++) {
                int64_t li = rev ? len - 1 - l : l;
                int64_t e = (o * len + li) * inner + j;
                double v = x[e];
                if (!incl) {
                    out[e] = acc;
                    uout[e] = uacc;
                }
                switch (kind) {
                case S_SUM:
                    acc += v;
                    uacc += (uint64_t)(int64_t)v;
                    break;
                case S_PROD:
                    acc *= v;
                    uacc *= (uint64_t)(int64_t)v;
                    break;
                case S_MAX:
                    acc = (isnan(acc) || acc >= v) ? acc : v;
                    break;
                default:
                    acc = (isnan(acc) || acc <= v) ? acc : v;
                    break;
                }
                if (incl) {
                    out[e] = acc;
                    uout[e] = uacc;
                }
            }
        }
    }
    (void)ints;
}

TEST(reduce_scans)
{
    static const char *names[] = {"cumsum", "cumprod", "cummax", "cummin"};
    int64_t shape[3] = {3, 4, 5};
    double v[60], out[60];
    uint64_t uout[60];
    char what[160];
    int perm[3] = {1, 2, 0};
    for (int di = 0; di < NDTYPES; di++) {
        kiln_dtype dt = all_dtypes[di];
        for (int i = 0; i < 60; i++) {
            v[i] = gen(dt);
        }
        kiln_scope_begin();
        kiln_array *x = make(v, shape, 3, dt);
        /* a transposed view of a (5, 3, 4) array with the same values */
        double vt[60];
        int64_t tshape[3] = {5, 3, 4};
        for (int i = 0; i < 3; i++) {
            for (int j = 0; j < 4; j++) {
                for (int k = 0; k < 5; k++) {
                    vt[(k * 3 + i) * 4 + j] = v[(i * 4 + j) * 5 + k];
                }
            }
        }
        kiln_array *xt = kiln_transpose(make(vt, tshape, 3, dt), perm, 3);
        for (int kind = S_SUM; kind <= S_MIN; kind++) {
            for (int axis = -1; axis < 4; axis++) {
                for (int flags = 0; flags < 8; flags++) {
                    bool rev = flags & 1, incl = !(flags & 2);
                    kiln_array *src = flags & 4 ? xt : x;
                    bool flat = axis == 3;
                    int ax = axis;
                    kiln_array *y = call_scan(kind, src, ax, flat, rev, incl);
                    snprintf(what, sizeof what, "%s %s axis %d flags %d",
                             names[kind], kiln_dtype_name(dt), axis, flags);
                    CHECK_MSG(y != NULL, "%s: %s", what, kiln_errmsg());
                    if (!y) {
                        continue;
                    }
                    kiln_dtype odt = kind == S_SUM && dt == KILN_DTYPE_BOOL
                                         ? KILN_DTYPE_INT32
                                         : dt;
                    CHECK_MSG(kiln_array_dtype(y) == odt, "%s: dtype", what);
                    CHECK(kiln_array_ndim(y) == (flat ? 1 : 3));
                    ref_scan(v, shape, 3, flat ? -1 : (axis + 3) % 3, kind,
                             rev, incl, !is_float(dt), out, uout);
                    const void *p = kiln_array_data(y);
                    CHECK_MSG(p != NULL, "%s: %s", what, kiln_errmsg());
                    for (int e = 0; p && e < 60; e++) {
                        if (!is_float(odt) && odt != KILN_DTYPE_BOOL &&
                            kind <= S_PROD) {
                            CHECK_MSG(load_int(p, odt, e) ==
                                          wrap_to(uout[e], odt),
                                      "%s: elem %d", what, e);
                        } else if (!is_float(odt)) {
                            double want =
                                odt == KILN_DTYPE_BOOL ? (out[e] != 0)
                                                       : out[e];
                            if (kind >= S_MAX && !incl &&
                                isinf(out[e])) {
                                /* exclusive start: the dtype's extreme */
                                continue;
                            }
                            CHECK_MSG(load(p, odt, e) == want,
                                      "%s: elem %d: %g want %g", what, e,
                                      load(p, odt, e), want);
                        } else {
                            double got = load(p, odt, e);
                            CHECK_MSG(got == out[e] ||
                                          fabs(got - out[e]) <=
                                              4 * eps_of(dt) * fabs(out[e]),
                                      "%s: elem %d: %g want %g", what, e,
                                      got, out[e]);
                        }
                    }
                }
            }
        }
        kiln_scope_end(NULL);
    }
    /* NaN propagates through cummax; exclusive cummax starts at -inf */
    float nv[4] = {1, NAN, 3, 0};
    int64_t n4 = 4;
    kiln_scope_begin();
    kiln_array *xn = kiln_array_from_data(nv, &n4, 1, KILN_DTYPE_FLOAT32);
    const float *pm = kiln_array_data(kiln_cummax(xn, 0, false, false, true));
    CHECK(pm && pm[0] == 1 && isnan(pm[1]) && isnan(pm[2]) && isnan(pm[3]));
    const float *pe = kiln_array_data(kiln_cummax(xn, 0, false, true, false));
    CHECK(pe && pe[3] == -INFINITY && pe[2] == 0 && pe[1] == 3 &&
          isnan(pe[0]));
    int32_t iv[3] = {5, -7, 2};
    int64_t n3 = 3;
    kiln_array *xi = kiln_array_from_data(iv, &n3, 1, KILN_DTYPE_INT32);
    const int32_t *pi = kiln_array_data(kiln_cummin(xi, 0, false, false,
                                                    false));
    CHECK(pi && pi[0] == INT32_MAX && pi[1] == 5 && pi[2] == -7);
    kiln_scope_end(NULL);
}

TEST(reduce_scan_large_columns)
{
    /* (300, 700) along axis 0 (column scan, several column blocks) and
     * axis 1, on 2 threads, against a double reference */
    enum { R = 300, M = 700 };
    float *v = malloc(sizeof(float) * R * M);
    for (int i = 0; i < R * M; i++) {
        v[i] = (float)(int)(rng() % 9) - 4;
    }
    int64_t shape[2] = {R, M};
    kiln_scope_begin();
    kiln_array *x = kiln_array_from_data(v, shape, 2, KILN_DTYPE_FLOAT32);
    const float *c0 = kiln_array_data(kiln_cumsum(x, 0, false, true, true));
    const float *c1 = kiln_array_data(kiln_cumsum(x, 1, false, false, false));
    CHECK(c0 && c1);
    for (int j = 0; c0 && j < M; j += 13) {
        double s = 0;
        for (int i = R - 1; i >= 0; i--) {
            s += v[i * M + j];
            CHECK_NEAR(c0[i * M + j], s, 0);
        }
    }
    for (int i = 0; c1 && i < R; i += 7) {
        double s = 0;
        for (int j = 0; j < M; j++) {
            CHECK_NEAR(c1[i * M + j], s, 0);
            s += v[i * M + j];
        }
    }
    kiln_scope_end(NULL);
    free(v);
}
