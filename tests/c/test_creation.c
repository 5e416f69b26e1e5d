/*
 * test_creation.c - zeros, ones, full (and _like, full_array), arange,
 * linspace, eye, identity: values, dtypes, laziness, error paths.
 */
#include <string.h>

#include "core/array.h"
#include "harness.h"
#include "kiln.h"

static bool failed(const void *r, kiln_status code, const char *text)
{
    bool ok = r == NULL && kiln_errcode() == code &&
              (!text || strstr(kiln_errmsg(), text) != NULL);
    if (!ok) {
        fprintf(stderr, "    got %s: %s\n", kiln_status_name(kiln_errcode()),
                kiln_errmsg());
    }
    kiln_errclear();
    return ok;
}

/* every element of a (read as double) equals want[i], or all equal
 * want[0] when n == 1 */
static bool values(kiln_array *a, const double *want, int64_t n)
{
    if (!a) {
        return false;
    }
    kiln_array *f = kiln_astype(a, KILN_DTYPE_FLOAT64);
    const double *p = f ? kiln_array_data(f) : NULL;
    bool ok = p != NULL;
    for (int64_t i = 0; ok && i < kiln_array_size(a); i++) {
        double w = n == 1 ? want[0] : want[i];
        ok = p[i] == w || (w != w && p[i] != p[i]);
        if (!ok) {
            fprintf(stderr, "    [%lld] %.17g != %.17g\n", (long long)i,
                    p[i], w);
        }
    }
    return ok && (n == 1 || kiln_array_size(a) == n);
}

#define VALUES(a, ...)                                                    \
    values((a), (double[]){__VA_ARGS__},                                  \
           (int64_t)(sizeof((double[]){__VA_ARGS__}) / sizeof(double)))

static bool is_1d(kiln_array *a, int64_t n, kiln_dtype dt)
{
    return a && kiln_array_ndim(a) == 1 && kiln_array_dim(a, 0) == n &&
           kiln_array_dtype(a) == dt;
}

TEST(creation_zeros_ones_full)
{
    kiln_scope_begin();
    kiln_errclear();
    int64_t shape[3] = {2, 3, 4};
    kiln_array *z = kiln_zeros(shape, 3, KILN_DTYPE_FLOAT32);
    CHECK(z && kiln_array_ndim(z) == 3 && kiln_array_size(z) == 24);
    CHECK(kiln_array_dtype(z) == KILN_DTYPE_FLOAT32);
    CHECK(VALUES(z, 0));
    /* a broadcast view of one element until something writes it */
    kiln_array *big = kiln_zeros((int64_t[]){1 << 20, 1 << 20}, 2,
                                 KILN_DTYPE_FLOAT64);
    CHECK(big && kiln_array_eval(big) == KILN_OK);
    CHECK(big && big->buf && big->buf->nbytes <= 64);
    CHECK(big && big->strides[0] == 0 && big->strides[1] == 0);
    kiln_array *o = kiln_ones(shape, 3, KILN_DTYPE_INT8);
    CHECK(kiln_array_dtype(o) == KILN_DTYPE_INT8 && VALUES(o, 1));
    CHECK(VALUES(kiln_full(shape, 3, 2.5, KILN_DTYPE_FLOAT16), 2.5));
    CHECK(VALUES(kiln_full(shape, 3, 2.9, KILN_DTYPE_INT32), 2));
    CHECK(VALUES(kiln_full(shape, 3, -3.0, KILN_DTYPE_BOOL), 1));
    CHECK(VALUES(kiln_full(shape, 3, 1e300, KILN_DTYPE_FLOAT32), INFINITY));
    kiln_array *s = kiln_full(NULL, 0, 7, KILN_DTYPE_INT64);
    CHECK(s && kiln_array_ndim(s) == 0 && VALUES(s, 7));
    kiln_array *e = kiln_ones((int64_t[]){3, 0}, 2, KILN_DTYPE_FLOAT32);
    CHECK(e && kiln_array_size(e) == 0 && kiln_array_eval(e) == KILN_OK);
    /* used in arithmetic with a strided view */
    float v[6] = {1, 2, 3, 4, 5, 6};
    kiln_array *x = kiln_array_from_data(v, (int64_t[]){2, 3}, 2,
                                         KILN_DTYPE_FLOAT32);
    kiln_array *y = kiln_add(kiln_transpose(x, NULL, 0),
                             kiln_ones((int64_t[]){3, 2}, 2,
                                       KILN_DTYPE_FLOAT32));
    CHECK(VALUES(y, 2, 5, 3, 6, 4, 7));
    kiln_array *zl = kiln_zeros_like(kiln_transpose(x, NULL, 0));
    CHECK(zl && kiln_array_dim(zl, 0) == 3 && kiln_array_dim(zl, 1) == 2 &&
          kiln_array_dtype(zl) == KILN_DTYPE_FLOAT32 && VALUES(zl, 0));
    kiln_array *ol = kiln_ones_like(o);
    CHECK(ol && kiln_array_dtype(ol) == KILN_DTYPE_INT8 && VALUES(ol, 1));

    CHECK(failed(kiln_zeros((int64_t[]){2, -1}, 2, KILN_DTYPE_FLOAT32),
                 KILN_ERR_VALUE, "[zeros] negative dimension"));
    CHECK(failed(kiln_ones((int64_t[]){INT64_MAX / 4, 8}, 2,
                           KILN_DTYPE_FLOAT32),
                 KILN_ERR_VALUE, "[ones]"));
    CHECK(failed(kiln_full(shape, 3, 1, (kiln_dtype)99), KILN_ERR_TYPE,
                 "[full] invalid dtype"));
    CHECK(failed(kiln_zeros(NULL, 2, KILN_DTYPE_FLOAT32), KILN_ERR_VALUE,
                 "NULL"));
    int64_t many[KILN_MAX_NDIM + 1] = {0};
    CHECK(failed(kiln_zeros(many, KILN_MAX_NDIM + 1, KILN_DTYPE_FLOAT32),
                 KILN_ERR_VALUE, "[zeros]"));
    CHECK(failed(kiln_zeros_like(NULL), KILN_ERR_VALUE, "NULL"));
    CHECK(failed(kiln_ones_like(NULL), KILN_ERR_VALUE, "NULL"));
    kiln_scope_end(NULL);
}

TEST(creation_full_array)
{
    kiln_scope_begin();
    kiln_errclear();
    double v[3] = {1.5, -2.5, 3.5};
    kiln_array *a = kiln_array_from_data(v, (int64_t[]){3}, 1,
                                         KILN_DTYPE_FLOAT64);
    kiln_array *f = kiln_full_array((int64_t[]){2, 3}, 2, a,
                                    KILN_DTYPE_INT32);
    CHECK(f && kiln_array_dtype(f) == KILN_DTYPE_INT32);
    CHECK(f && kiln_array_dim(f, 0) == 2);
    CHECK(VALUES(f, 1, -2, 3, 1, -2, 3));
    kiln_array *g = kiln_full_array((int64_t[]){2, 3}, 2,
                                    kiln_scalar_f64(4, KILN_DTYPE_FLOAT32),
                                    KILN_DTYPE_FLOAT16);
    CHECK(kiln_array_dtype(g) == KILN_DTYPE_FLOAT16 && VALUES(g, 4));
    CHECK(failed(kiln_full_array((int64_t[]){2, 4}, 2, a, KILN_DTYPE_INT32),
                 KILN_ERR_VALUE, "[full_array] cannot broadcast"));
    CHECK(failed(kiln_full_array((int64_t[]){3}, 1, NULL, KILN_DTYPE_INT32),
                 KILN_ERR_VALUE, "NULL"));
    CHECK(failed(kiln_full_array((int64_t[]){3}, 1, a, (kiln_dtype)-1),
                 KILN_ERR_TYPE, "[full_array]"));
    kiln_scope_end(NULL);
}

TEST(creation_arange)
{
    kiln_scope_begin();
    kiln_errclear();
    kiln_array *a = kiln_arange(0, 5, 1, KILN_DTYPE_INT32);
    /* lazy: nothing computed until asked */
    CHECK(a && !kiln_array_is_evaluated(a));
    CHECK(is_1d(a, 5, KILN_DTYPE_INT32) && VALUES(a, 0, 1, 2, 3, 4));
    kiln_array *f = kiln_arange(0, 1, 0.25, KILN_DTYPE_FLOAT32);
    CHECK(is_1d(f, 4, KILN_DTYPE_FLOAT32) && VALUES(f, 0, 0.25, 0.5, 0.75));
    kiln_array *r = kiln_arange(5, 0, -1.5, KILN_DTYPE_FLOAT64);
    CHECK(is_1d(r, 4, KILN_DTYPE_FLOAT64) && VALUES(r, 5, 3.5, 2, 0.5));
    /* ceil((stop - start) / step) elements */
    CHECK(is_1d(kiln_arange(0, 10, 3, KILN_DTYPE_INT64), 4,
                KILN_DTYPE_INT64));
    CHECK(is_1d(kiln_arange(0, 0.30000000000000004, 0.1, KILN_DTYPE_FLOAT64),
                4, KILN_DTYPE_FLOAT64));
    kiln_array *e = kiln_arange(5, 0, 1, KILN_DTYPE_FLOAT32);
    CHECK(is_1d(e, 0, KILN_DTYPE_FLOAT32) && kiln_array_eval(e) == KILN_OK);
    /* integer dtypes as MLX: start and start + step converted, then the
     * difference repeated (numpy agrees) */
    CHECK(VALUES(kiln_arange(0, 2, 0.5, KILN_DTYPE_INT32), 0, 0, 0, 0));
    CHECK(VALUES(kiln_arange(0.5, 3, 1, KILN_DTYPE_INT32), 0, 1, 2));
    CHECK(VALUES(kiln_arange(-3, 3, 2, KILN_DTYPE_INT8), -3, -1, 1));
    CHECK(VALUES(kiln_arange(10, 0, -4, KILN_DTYPE_UINT16), 10, 6, 2));
    CHECK(VALUES(kiln_arange(0, 3, 1, KILN_DTYPE_FLOAT16), 0, 1, 2));
    CHECK(VALUES(kiln_arange(0, 3, 1, KILN_DTYPE_BFLOAT16), 0, 1, 2));
    /* a large range (filled by the pool) */
    int64_t n = 1 << 20;
    kiln_array *big = kiln_arange(-7, (double)n - 7, 1, KILN_DTYPE_INT64);
    const int64_t *p = kiln_array_data(big);
    int64_t wrong = 0;
    for (int64_t i = 0; p && i < n; i++) {
        wrong += p[i] != i - 7;
    }
    CHECK(p && wrong == 0);
    kiln_array *bigf = kiln_arange(0, (double)n, 1, KILN_DTYPE_FLOAT32);
    const float *pf = kiln_array_data(bigf);
    CHECK(pf && pf[n - 1] == (float)(n - 1) && pf[12345] == 12345.0f);

    CHECK(failed(kiln_arange(0, 5, 0, KILN_DTYPE_INT32), KILN_ERR_VALUE,
                 "[arange] step cannot be zero"));
    CHECK(failed(kiln_arange(0, NAN, 1, KILN_DTYPE_FLOAT32), KILN_ERR_VALUE,
                 "[arange]"));
    CHECK(failed(kiln_arange(0, INFINITY, 1, KILN_DTYPE_FLOAT32),
                 KILN_ERR_VALUE, "[arange]"));
    CHECK(failed(kiln_arange(0, 1e30, 1, KILN_DTYPE_FLOAT32), KILN_ERR_VALUE,
                 "[arange]"));
    CHECK(failed(kiln_arange(0, 0x1p61, 1, KILN_DTYPE_FLOAT64),
                 KILN_ERR_VALUE, "[arange]"));
    CHECK(failed(kiln_arange(0, 5, 1, KILN_DTYPE_BOOL), KILN_ERR_VALUE,
                 "[arange]"));
    CHECK(failed(kiln_arange(0, 5, 1, (kiln_dtype)42), KILN_ERR_TYPE,
                 "[arange]"));
    /* a length that fits the shape rules but not in memory fails when
     * evaluated, with an error rather than a crash */
    kiln_array *huge = kiln_arange(0, 1e17, 1, KILN_DTYPE_FLOAT32);
    CHECK(huge != NULL);
    CHECK(kiln_array_eval(huge) == KILN_ERR_MEMORY);
    kiln_errclear();
    kiln_scope_end(NULL);
}

TEST(creation_linspace)
{
    kiln_scope_begin();
    kiln_errclear();
    kiln_array *l = kiln_linspace(0, 1, 5, KILN_DTYPE_FLOAT32);
    CHECK(is_1d(l, 5, KILN_DTYPE_FLOAT32) &&
          VALUES(l, 0, 0.25, 0.5, 0.75, 1));
    kiln_array *d = kiln_linspace(1, 0, 3, KILN_DTYPE_FLOAT64);
    CHECK(VALUES(d, 1, 0.5, 0));
    /* the endpoint is exact even where start + i * step is not */
    kiln_array *t = kiln_linspace(0.1, 0.7, 7, KILN_DTYPE_FLOAT64);
    const double *pt = kiln_array_data(t);
    CHECK(pt && pt[6] == 0.7 && pt[0] == 0.1);
    CHECK(VALUES(kiln_linspace(3, 9, 1, KILN_DTYPE_FLOAT32), 3));
    CHECK(is_1d(kiln_linspace(3, 9, 0, KILN_DTYPE_FLOAT32), 0,
                KILN_DTYPE_FLOAT32));
    CHECK(VALUES(kiln_linspace(0, 10, 5, KILN_DTYPE_INT32), 0, 2, 5, 7, 10));
    CHECK(VALUES(kiln_linspace(0, 1, 3, KILN_DTYPE_BOOL), 0, 1, 1));
    CHECK(failed(kiln_linspace(0, 1, -1, KILN_DTYPE_FLOAT32),
                 KILN_ERR_VALUE, "[linspace]"));
    CHECK(failed(kiln_linspace(0, 1, 3, (kiln_dtype)42), KILN_ERR_TYPE,
                 "[linspace]"));
    CHECK(failed(kiln_linspace(0, 1, INT64_MAX, KILN_DTYPE_FLOAT32),
                 KILN_ERR_VALUE, "[linspace]"));
    kiln_scope_end(NULL);
}

TEST(creation_eye)
{
    kiln_scope_begin();
    kiln_errclear();
    kiln_array *i3 = kiln_eye(3, -1, 0, KILN_DTYPE_FLOAT32);
    CHECK(i3 && kiln_array_ndim(i3) == 2 && kiln_array_dim(i3, 1) == 3);
    CHECK(VALUES(i3, 1, 0, 0, 0, 1, 0, 0, 0, 1));
    CHECK(VALUES(kiln_eye(3, 4, 1, KILN_DTYPE_INT32), /* */
                 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1));
    CHECK(VALUES(kiln_eye(3, 4, -2, KILN_DTYPE_UINT8), /* */
                 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0));
    CHECK(VALUES(kiln_eye(2, 3, 5, KILN_DTYPE_FLOAT64), 0));
    CHECK(VALUES(kiln_eye(2, 3, INT64_MIN, KILN_DTYPE_FLOAT64), 0));
    CHECK(VALUES(kiln_eye(2, 3, INT64_MAX, KILN_DTYPE_FLOAT64), 0));
    kiln_array *e0 = kiln_eye(0, -1, 0, KILN_DTYPE_FLOAT32);
    CHECK(e0 && kiln_array_size(e0) == 0 && kiln_array_eval(e0) == KILN_OK);
    kiln_array *e1 = kiln_eye(2, 0, 0, KILN_DTYPE_FLOAT32);
    CHECK(e1 && kiln_array_dim(e1, 1) == 0 && kiln_array_eval(e1) == KILN_OK);
    kiln_array *b = kiln_identity(2, KILN_DTYPE_BOOL);
    CHECK(b && kiln_array_dtype(b) == KILN_DTYPE_BOOL && VALUES(b, 1, 0, 0, 1));
    kiln_array *h = kiln_identity(2, KILN_DTYPE_BFLOAT16);
    CHECK(VALUES(h, 1, 0, 0, 1));
    CHECK(failed(kiln_eye(-1, 2, 0, KILN_DTYPE_FLOAT32), KILN_ERR_VALUE,
                 "[eye]"));
    CHECK(failed(kiln_eye(INT64_MAX, INT64_MAX, 0, KILN_DTYPE_FLOAT32),
                 KILN_ERR_VALUE, "[eye]"));
    CHECK(failed(kiln_identity(-3, KILN_DTYPE_FLOAT32), KILN_ERR_VALUE,
                 "[identity]"));
    CHECK(failed(kiln_identity(3, (kiln_dtype)42), KILN_ERR_TYPE,
                 "[identity]"));
    kiln_scope_end(NULL);
}
