/*
 * sampling.c - the public random ops: keys, the global key, and samplers.
 *
 * Keys are uint32 arrays of shape (2); kiln_random_key(seed) is
 * (seed >> 32, seed & 0xffffffff), as in JAX and MLX. Every sampler draws
 * its bits from the random_bits primitive (prim/random.c) and shapes them
 * with ordinary primitives (shifts, conversions, arithmetic, erfinv, ...),
 * so compile and autodiff see through them.
 *
 * The global key is an ordinary array held here, guarded by a mutex. A
 * sampler given key == NULL splits it into (new global key, subkey) and
 * uses the subkey, as MLX's KeySequence does. When the global key is
 * evaluated (the usual case) the split is evaluated on the spot (a 4-word
 * kernel), so threads sharing the global key never share a pending graph.
 * When it is pending (compile put a traced value there) the split stays
 * lazy, so a trace can capture it as state. Before its first use the
 * global key is seeded from the clock, as in MLX.
 *
 * From bits to floats: the top p bits k, p the precision of the result
 * dtype (24 float32, 53 float64, 11 float16, 8 bfloat16), give k * 2^-p,
 * a uniform on an even grid in [0, 1) that no rounding can push to 1.
 * Samplers that must avoid both ends (normal, truncated normal, Gumbel)
 * take the grid's midpoints (k + 1/2) * 2^-(p-1) instead, which lie in
 * (0, 1) exactly and map to (-1, 1) exactly. (The mantissa trick,
 * (bits >> 9 | 0x3f800000) - 1.0, would need a bitcast primitive; this
 * uses shift, convert and scale, and gets one bit more.) float16 and
 * bfloat16 are computed in float32 and rounded at the end.
 */
#include <math.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

#include "../core/dtype.h"
#include "../core/error.h"
#include "../core/shape.h"
#include "../prim/random.h"
#include "ops.h"

static pthread_mutex_t global_lock = PTHREAD_MUTEX_INITIALIZER;
static kiln_array *global_key; /* guarded by global_lock */

/* ------------------------------------------------------------------ */
/* keys                                                               */
/* ------------------------------------------------------------------ */

/* An evaluated key for seed, untracked. */
static kiln_array *make_key(uint64_t seed, const char *fn)
{
    uint32_t k[2] = {(uint32_t)(seed >> 32), (uint32_t)seed};
    int64_t two = 2;
    kiln_array *key = kiln__array_new(KILN_DTYPE_UINT32, 1, &two, fn);
    if (key && kiln__array_alloc(key, fn) != KILN_OK) {
        kiln_array_release(key);
        return NULL;
    }
    if (key) {
        memcpy(kiln__array_ptr(key), k, sizeof k);
    }
    return key;
}

static kiln_status check_key(const kiln_array *key, const char *fn)
{
    char s[256];
    if (key->dtype != KILN_DTYPE_UINT32) {
        return kiln__err(KILN_ERR_TYPE, "[%s] key must be uint32, got %s",
                         fn, kiln_dtype_name(key->dtype));
    }
    if (key->ndim != 1 || key->shape[0] != 2) {
        return kiln__err(KILN_ERR_VALUE,
                         "[%s] key must have shape (2), got %s", fn,
                         kiln__shape_str(key->shape, key->ndim, s,
                                         sizeof s));
    }
    return KILN_OK;
}

/* random_bits(key) of the given shape and width: untracked. */
static kiln_array *bits(kiln_array *key, const int64_t *shape, int ndim,
                        int width, const char *fn)
{
    kiln_random_bits_params p;
    memset(&p, 0, sizeof p);
    p.ndim = ndim;
    p.width = width;
    for (int i = 0; i < ndim; i++) {
        p.shape[i] = shape[i];
    }
    return kiln__node_make1(&kiln__prim_random_bits, &p, &key, 1, fn);
}

/* Row r of a (2, 2) array of keys, as shape (2): untracked. */
static kiln_array *row(kiln_array *keys, int64_t r)
{
    int64_t start[2] = {r, 0}, stop[2] = {r + 1, 2}, step[2] = {1, 1};
    int64_t two = 2;
    kiln_scope_begin();
    kiln_array *y = kiln_reshape(kiln_slice(keys, start, stop, step), &two,
                                 1);
    kiln_array_retain(y);
    kiln_scope_end(NULL);
    return y;
}

/* Seeds the global key from the clock before its first use; false when
 * that failed. Called with global_lock held. */
static bool ensure_global(const char *fn)
{
    if (!global_key) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        global_key = make_key((uint64_t)ts.tv_sec * 1000000000u +
                                  (uint64_t)ts.tv_nsec,
                              fn);
    }
    return global_key != NULL;
}

/* The global key's next subkey (untracked); advances the global key. */
static kiln_array *next_key(const char *fn)
{
    int64_t shape[2] = {2, 2};
    kiln_array *sub = NULL;
    pthread_mutex_lock(&global_lock);
    if (ensure_global(fn)) {
        kiln_array *pair = bits(global_key, shape, 2, 4, fn);
        kiln_array *next = pair ? row(pair, 0) : NULL;
        sub = next ? row(pair, 1) : NULL;
        kiln_array *both[2] = {next, sub};
        if (sub && global_key->buf && kiln_eval(both, 2) != KILN_OK) {
            kiln_array_release(sub);
            sub = NULL;
        }
        if (sub) {
            kiln_array_release(global_key);
            global_key = kiln_array_retain(next);
        }
        kiln_array_release(next);
        kiln_array_release(pair);
    }
    pthread_mutex_unlock(&global_lock);
    return sub;
}

/* The key a sampler uses: key itself (checked) or the global key's next
 * subkey. A new untracked reference; NULL on error, and NULL without
 * touching the global key when key is NULL because an earlier call failed
 * (an error is pending). */
static kiln_array *use_key(kiln_array *key, const char *fn)
{
    if (!key) {
        return kiln__op_opt_failed(key) ? NULL : next_key(fn);
    }
    if (check_key(key, fn) != KILN_OK) {
        return NULL;
    }
    return kiln_array_retain(key);
}

kiln_status kiln_random_seed(uint64_t seed)
{
    kiln_array *key = make_key(seed, "random_seed");
    if (!key) {
        return kiln_errcode();
    }
    pthread_mutex_lock(&global_lock);
    kiln_array *old = global_key;
    global_key = key;
    pthread_mutex_unlock(&global_lock);
    kiln_array_release(old);
    return KILN_OK;
}

kiln_array *kiln_random_key(uint64_t seed)
{
    return kiln__ret(make_key(seed, "random_key"));
}

kiln_array *kiln__random_state_get(void)
{
    kiln_array *key = NULL;
    pthread_mutex_lock(&global_lock);
    if (ensure_global("random_state")) {
        key = kiln_array_retain(global_key);
    }
    pthread_mutex_unlock(&global_lock);
    return key;
}

kiln_array *kiln_random_state(void)
{
    return kiln__ret(kiln__random_state_get());
}

kiln_status kiln_random_set_state(kiln_array *key)
{
    const char *fn = "random_set_state";
    if (!key) {
        return kiln__err_null(fn);
    }
    if (check_key(key, fn) != KILN_OK) {
        return kiln_errcode();
    }
    kiln_array_retain(key);
    pthread_mutex_lock(&global_lock);
    kiln_array *old = global_key;
    global_key = key;
    pthread_mutex_unlock(&global_lock);
    kiln_array_release(old);
    return KILN_OK;
}

kiln_array *kiln_random_split(kiln_array *key, int num)
{
    const char *fn = "random_split";
    if (kiln__op_opt_failed(key)) {
        return NULL;
    }
    if (num < 0) {
        kiln__err(KILN_ERR_VALUE, "[%s] num must be >= 0, got %d", fn, num);
        return NULL;
    }
    kiln_array *k = use_key(key, fn);
    if (!k) {
        return NULL;
    }
    int64_t shape[2] = {num, 2};
    kiln_array *y = bits(k, shape, 2, 4, fn);
    kiln_array_release(k);
    return kiln__ret(y);
}

/* ------------------------------------------------------------------ */
/* shared pieces                                                      */
/* ------------------------------------------------------------------ */

/* Checks a requested shape: ndim in range, shape given, no negative
 * dims. */
static kiln_status check_shape(const int64_t *shape, int ndim,
                               const char *fn)
{
    int64_t size;
    return kiln__shape_size(shape, ndim, 0, &size, fn);
}

/* Whether arrays xs (NULLs skipped) broadcast into exactly `shape`. */
static kiln_status check_fits(const int64_t *shape, int ndim,
                              kiln_array *const *xs, int n, const char *fn)
{
    char s[256], t[256];
    for (int i = 0; i < n; i++) {
        const kiln_array *x = xs[i];
        if (!x) {
            continue;
        }
        bool fits = x->ndim <= ndim;
        for (int d = 0; fits && d < x->ndim; d++) {
            int64_t v = x->shape[x->ndim - 1 - d];
            fits = v == 1 || v == shape[ndim - 1 - d];
        }
        if (!fits) {
            return kiln__err(KILN_ERR_VALUE,
                             "[%s] an argument of shape %s cannot be "
                             "broadcast to the requested shape %s", fn,
                             kiln__shape_str(x->shape, x->ndim, t, sizeof t),
                             kiln__shape_str(shape, ndim, s, sizeof s));
        }
    }
    return KILN_OK;
}

static kiln_status check_float(kiln_dtype dt, const char *fn)
{
    if (!kiln__dtype_valid(dt)) {
        return kiln__err(KILN_ERR_TYPE, "[%s] invalid dtype %d", fn, (int)dt);
    }
    if (!kiln_dtype_is_float(dt)) {
        return kiln__err(KILN_ERR_TYPE,
                         "[%s] dtype must be a floating type, got %s", fn,
                         kiln_dtype_name(dt));
    }
    return KILN_OK;
}

/* The dtype floats are computed in: float64 stays, the rest use
 * float32. */
static kiln_dtype work_dtype(kiln_dtype dt)
{
    return dt == KILN_DTYPE_FLOAT64 ? KILN_DTYPE_FLOAT64
                                    : KILN_DTYPE_FLOAT32;
}

/* Bits of precision of a float dtype: a uniform on the grid k * 2^-p is
 * exact in it, and so never rounds up to 1. */
static int precision(kiln_dtype dt)
{
    switch (dt) {
    case KILN_DTYPE_FLOAT16:
        return 11;
    case KILN_DTYPE_BFLOAT16:
        return 8;
    case KILN_DTYPE_FLOAT64:
        return 53;
    default:
        return 24;
    }
}

/* Uniform floats of dtype ft (float32 or float64) from key: k * 2^-p for
 * the top p bits k, in [0, 1); when open, (k + 1/2) * 2^-(p-1) for the
 * top p - 1 bits k, in (0, 1) exactly. p is at most ft's precision.
 * Called inside a scope: the result belongs to it. */
static kiln_array *unit(kiln_array *key, const int64_t *shape, int ndim,
                        kiln_dtype ft, int p, bool open, const char *fn)
{
    bool f64 = ft == KILN_DTYPE_FLOAT64;
    kiln_dtype ut = f64 ? KILN_DTYPE_UINT64 : KILN_DTYPE_UINT32;
    int keep = p - open;
    int shift = (f64 ? 64 : 32) - keep;
    kiln_array *b = kiln__ret(bits(key, shape, ndim, f64 ? 8 : 4, fn));
    kiln_array *t = kiln_astype(
        kiln_right_shift(b, kiln_scalar_i64(shift, ut)), ft);
    kiln_array *u = kiln_multiply(t, kiln_scalar_f64(ldexp(1.0, -keep), ft));
    if (open) {
        u = kiln_add(u, kiln_scalar_f64(ldexp(1.0, -keep - 1), ft));
    }
    return u;
}

/* ------------------------------------------------------------------ */
/* samplers                                                           */
/* ------------------------------------------------------------------ */

kiln_array *kiln_random_uniform(kiln_array *lo, kiln_array *hi,
                                const int64_t *shape, int ndim,
                                kiln_dtype dt, kiln_array *key)
{
    const char *fn = "random_uniform";
    kiln_array *bounds[2] = {lo, hi};
    if (kiln__op_opt_failed(lo) || kiln__op_opt_failed(hi) ||
        kiln__op_opt_failed(key)) {
        return NULL;
    }
    if (check_float(dt, fn) || check_shape(shape, ndim, fn) ||
        check_fits(shape, ndim, bounds, 2, fn)) {
        return NULL;
    }
    kiln_array *k = use_key(key, fn);
    if (!k) {
        return NULL;
    }
    kiln_dtype ft = work_dtype(dt);
    kiln_scope_begin();
    kiln_array *u = unit(k, shape, ndim, ft, precision(dt), false, fn);
    if (lo || hi) {
        /* bounds in the requested dtype first, as MLX does; lo + (hi -
         * lo) u may still round up to hi, as in MLX and JAX */
        kiln_array *l = lo ? kiln_astype(kiln_astype(lo, dt), ft)
                           : kiln_scalar_f64(0.0, ft);
        kiln_array *h = hi ? kiln_astype(kiln_astype(hi, dt), ft)
                           : kiln_scalar_f64(1.0, ft);
        u = kiln_add(l, kiln_multiply(kiln_subtract(h, l), u));
    }
    kiln_array *y = kiln_astype(u, dt);
    kiln_array_release(k);
    return kiln_scope_end(y);
}

kiln_array *kiln_random_normal(const int64_t *shape, int ndim, kiln_dtype dt,
                               double loc, double scale, kiln_array *key)
{
    const char *fn = "random_normal";
    if (kiln__op_opt_failed(key)) {
        return NULL;
    }
    if (check_float(dt, fn) || check_shape(shape, ndim, fn)) {
        return NULL;
    }
    kiln_array *k = use_key(key, fn);
    if (!k) {
        return NULL;
    }
    kiln_dtype ft = work_dtype(dt);
    kiln_scope_begin();
    /* s in (-1, 1), exactly symmetric; z = sqrt(2) erfinv(s) */
    kiln_array *v = unit(k, shape, ndim, ft, precision(ft), true, fn);
    kiln_array *s = kiln_subtract(kiln_multiply(v, kiln_scalar_f64(2.0, ft)),
                                  kiln_scalar_f64(1.0, ft));
    kiln_array *z = kiln_multiply(kiln_erfinv(s),
                                  kiln_scalar_f64(sqrt(2.0) * scale, ft));
    if (loc != 0.0) {
        z = kiln_add(z, kiln_scalar_f64(loc, ft));
    }
    kiln_array *y = kiln_astype(z, dt);
    kiln_array_release(k);
    return kiln_scope_end(y);
}

kiln_array *kiln_random_randint(kiln_array *lo, kiln_array *hi,
                                const int64_t *shape, int ndim,
                                kiln_dtype dt, kiln_array *key)
{
    const char *fn = "random_randint";
    kiln_array *bounds[2] = {lo, hi};
    if (!lo || !hi || kiln__op_opt_failed(key)) {
        kiln__err_null(fn);
        return NULL;
    }
    if (!kiln__dtype_valid(dt) || kiln_dtype_is_float(dt)) {
        kiln__err(KILN_ERR_TYPE,
                  "[%s] dtype must be an integer type or bool, got %s", fn,
                  kiln__dtype_valid(dt) ? kiln_dtype_name(dt) : "invalid");
        return NULL;
    }
    if (check_shape(shape, ndim, fn) ||
        check_fits(shape, ndim, bounds, 2, fn)) {
        return NULL;
    }
    /* bounds as int64 (uint64 for a uint64 result) */
    kiln_dtype d = dt == KILN_DTYPE_UINT64 ? KILN_DTYPE_UINT64
                                           : KILN_DTYPE_INT64;
    kiln_dtype u64 = KILN_DTYPE_UINT64;
    kiln_array *k = use_key(key, fn);
    if (!k) {
        return NULL;
    }
    kiln_scope_begin();
    kiln_array *l = kiln_astype(lo, d), *h = kiln_astype(hi, d);
    /* lo + bits % (hi - lo), in uint64 where it wraps; the modulo bias is
     * below (hi - lo) / 2^64. The bounds are never read at graph-build
     * time: an empty range (hi <= lo) gives lo, as in MLX. */
    kiln_array *lu = kiln_astype(l, u64);
    kiln_array *range = kiln_subtract(kiln_astype(h, u64), lu);
    kiln_array *b = kiln__ret(bits(k, shape, ndim, 8, fn));
    kiln_array *y = kiln_astype(kiln_add(lu, kiln_remainder(b, range)), d);
    y = kiln_where(kiln_greater(h, l), y, l);
    y = kiln_astype(y, dt);
    kiln_array_release(k);
    return kiln_scope_end(y);
}

kiln_array *kiln_random_bernoulli(kiln_array *p, const int64_t *shape,
                                  int ndim, kiln_array *key)
{
    const char *fn = "random_bernoulli";
    if (kiln__op_opt_failed(p) || kiln__op_opt_failed(key)) {
        return NULL;
    }
    kiln_scope_begin();
    kiln_array *prob = p ? p : kiln_scalar_f64(0.5, KILN_DTYPE_FLOAT32);
    if (!prob || !kiln_dtype_is_float(prob->dtype)) {
        if (prob) {
            kiln__err(KILN_ERR_TYPE,
                      "[%s] p must have a floating dtype, got %s", fn,
                      kiln_dtype_name(prob->dtype));
        }
        return kiln_scope_end(NULL);
    }
    if (!shape && ndim == 0) {
        shape = prob->shape;
        ndim = prob->ndim;
    }
    if (check_shape(shape, ndim, fn) ||
        check_fits(shape, ndim, &prob, 1, fn)) {
        return kiln_scope_end(NULL);
    }
    kiln_array *k = use_key(key, fn);
    if (!k) {
        return kiln_scope_end(NULL);
    }
    kiln_dtype ft = work_dtype(prob->dtype);
    kiln_array *u = unit(k, shape, ndim, ft, precision(ft), false, fn);
    kiln_array *y = kiln_less(u, kiln_astype(prob, ft));
    kiln_array_release(k);
    return kiln_scope_end(y);
}

kiln_array *kiln_random_truncated_normal(kiln_array *lo, kiln_array *hi,
                                         const int64_t *shape, int ndim,
                                         kiln_dtype dt, kiln_array *key)
{
    const char *fn = "random_truncated_normal";
    int64_t bshape[KILN_MAX_NDIM];
    if (!lo || !hi || kiln__op_opt_failed(key)) {
        kiln__err_null(fn);
        return NULL;
    }
    if (check_float(dt, fn)) {
        return NULL;
    }
    if (!shape && ndim == 0) {
        if (kiln__shape_broadcast(lo->shape, lo->ndim, hi->shape, hi->ndim,
                                  bshape, &ndim, fn) != KILN_OK) {
            return NULL;
        }
        shape = bshape;
    }
    kiln_array *bounds[2] = {lo, hi};
    if (check_shape(shape, ndim, fn) ||
        check_fits(shape, ndim, bounds, 2, fn)) {
        return NULL;
    }
    kiln_array *k = use_key(key, fn);
    if (!k) {
        return NULL;
    }
    kiln_dtype ft = work_dtype(dt);
    kiln_scope_begin();
    /* invert the normal CDF between the bounds: with a = erf(lo / sqrt2)
     * and b = erf(hi / sqrt2), z = sqrt2 erfinv(a + (b - a) v), v in
     * (0, 1), clipped into [lo, hi] against rounding */
    kiln_array *l = kiln_astype(kiln_astype(lo, dt), ft);
    kiln_array *h = kiln_astype(kiln_astype(hi, dt), ft);
    kiln_array *r2 = kiln_scalar_f64(M_SQRT1_2, ft);
    kiln_array *a = kiln_erf(kiln_multiply(l, r2));
    kiln_array *b = kiln_erf(kiln_multiply(h, r2));
    kiln_array *v = unit(k, shape, ndim, ft, precision(ft), true, fn);
    kiln_array *s = kiln_add(a, kiln_multiply(kiln_subtract(b, a), v));
    kiln_array *z =
        kiln_multiply(kiln_erfinv(s), kiln_scalar_f64(M_SQRT2, ft));
    z = kiln_maximum(kiln_minimum(z, h), l);
    kiln_array *y = kiln_astype(z, dt);
    kiln_array_release(k);
    return kiln_scope_end(y);
}

kiln_array *kiln_random_categorical(kiln_array *logits, int axis,
                                    const int64_t *shape, int ndim,
                                    kiln_array *key)
{
    const char *fn = "random_categorical";
    int64_t reduced[KILN_MAX_NDIM], gshape[KILN_MAX_NDIM];
    int ax;
    if (!logits || kiln__op_opt_failed(key)) {
        kiln__err_null(fn);
        return NULL;
    }
    if (kiln__shape_axis(axis, logits->ndim, &ax, fn) != KILN_OK) {
        return NULL;
    }
    int nr = 0;
    for (int i = 0; i < logits->ndim; i++) {
        if (i != ax) {
            reduced[nr++] = logits->shape[i];
        }
    }
    if (!shape && ndim == 0) {
        shape = reduced;
        ndim = nr;
    }
    if (check_shape(shape, ndim, fn) != KILN_OK) {
        return NULL;
    }
    bool fits = ndim >= nr && ndim < KILN_MAX_NDIM;
    for (int i = 0; fits && i < nr; i++) {
        int64_t v = reduced[nr - 1 - i];
        fits = v == 1 || v == shape[ndim - 1 - i];
    }
    if (!fits) {
        char s[256], t[256];
        kiln__err(KILN_ERR_VALUE,
                  "[%s] shape %s is not broadcast compatible with the "
                  "logits' batch shape %s", fn,
                  kiln__shape_str(shape, ndim, s, sizeof s),
                  kiln__shape_str(reduced, nr, t, sizeof t));
        return NULL;
    }
    /* the category axis goes where logits' axis lands once the logits
     * broadcast against the sample shape */
    int at = ax + ndim - logits->ndim + 1;
    for (int i = 0, o = 0; i <= ndim; i++) {
        gshape[i] = i == at ? logits->shape[ax] : shape[o++];
    }
    kiln_array *k = use_key(key, fn);
    if (!k) {
        return NULL;
    }
    kiln_scope_begin();
    /* Gumbel-max: argmax(logits + g), g = -log(-log(v)), v in (0, 1) */
    kiln_array *v =
        unit(k, gshape, ndim + 1, KILN_DTYPE_FLOAT32, 24, true, fn);
    kiln_array *g = kiln_negative(kiln_log(kiln_negative(kiln_log(v))));
    kiln_array *y = kiln_argmax(kiln_add(g, logits), at, false, false);
    kiln_array_release(k);
    return kiln_scope_end(y);
}
