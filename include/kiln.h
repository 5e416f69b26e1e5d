/*
 * kiln.h - the public C API of kiln, lazy n-dimensional arrays for the CPU.
 *
 * Ownership: every function returning a kiln_array * returns a NEW reference
 * (or NULL on error); array arguments are always BORROWED.
 * kiln_array_release(NULL) is a no-op.
 *
 * Scopes: between kiln_scope_begin() and kiln_scope_end(), every array a kiln
 * function returns is owned by the scope and released when it ends; do not
 * release those yourself. kiln_scope_end(keep) hands `keep` out of the scope
 * (to the enclosing scope if there is one, else to the caller). So nested C
 * expressions such as kiln_exp(kiln_add(a, b)) do not leak inside a scope.
 *
 * Errors are values: calls returning a handle return NULL, others return a
 * kiln_status. The code and a message naming the entry point live in
 * thread-local storage (kiln_errcode(), kiln_errmsg()). An op given a NULL
 * argument returns NULL and keeps the first error, so chains stay readable.
 * A NULL optional argument means its default only when no error is
 * pending; otherwise it propagates the error.
 *
 * Arrays are immutable values. Ops build a lazy graph; kiln_eval (or reading
 * data) runs it. Shapes are int64_t; axes may be negative.
 */
#ifndef KILN_H
#define KILN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define KILN_API __attribute__((visibility("default")))
#else
#define KILN_API
#endif

#define KILN_MAX_NDIM 16

/* ------------------------------------------------------------------ */
/* dtypes                                                             */
/* ------------------------------------------------------------------ */

/* X(NAME, name, size in bytes) in promotion-table order. */
#define KILN_DTYPE_LIST(X)                                                \
    X(BOOL, bool, 1)                                                      \
    X(UINT8, uint8, 1)                                                    \
    X(UINT16, uint16, 2)                                                  \
    X(UINT32, uint32, 4)                                                  \
    X(UINT64, uint64, 8)                                                  \
    X(INT8, int8, 1)                                                      \
    X(INT16, int16, 2)                                                    \
    X(INT32, int32, 4)                                                    \
    X(INT64, int64, 8)                                                    \
    X(FLOAT16, float16, 2)                                                \
    X(BFLOAT16, bfloat16, 2)                                              \
    X(FLOAT32, float32, 4)                                                \
    X(FLOAT64, float64, 8)

typedef enum kiln_dtype {
#define KILN_X_(N, n, s) KILN_DTYPE_##N,
    KILN_DTYPE_LIST(KILN_X_)
#undef KILN_X_
    KILN_DTYPE_COUNT
} kiln_dtype;

KILN_API const char *kiln_dtype_name(kiln_dtype dt);
KILN_API size_t kiln_dtype_size(kiln_dtype dt);
KILN_API bool kiln_dtype_is_float(kiln_dtype dt);   /* f16 bf16 f32 f64 */
KILN_API bool kiln_dtype_is_integer(kiln_dtype dt); /* signed/unsigned */
KILN_API bool kiln_dtype_is_signed(kiln_dtype dt);  /* ints and floats */
/* The dtype both operands promote to, as in MLX. */
KILN_API kiln_dtype kiln_promote_types(kiln_dtype a, kiln_dtype b);

/* ------------------------------------------------------------------ */
/* errors                                                             */
/* ------------------------------------------------------------------ */

#define KILN_STATUS_LIST(X)                                               \
    X(OK, "ok")                                                           \
    X(ERR_VALUE, "value error")                                           \
    X(ERR_TYPE, "type error")                                             \
    X(ERR_INDEX, "index error")                                           \
    X(ERR_MEMORY, "out of memory")                                        \
    X(ERR_RUNTIME, "runtime error")                                       \
    X(ERR_UNSUPPORTED, "unsupported")

typedef enum kiln_status {
#define KILN_X_(N, s) KILN_##N,
    KILN_STATUS_LIST(KILN_X_)
#undef KILN_X_
} kiln_status;

/* The last error of this thread (KILN_OK when none). */
KILN_API kiln_status kiln_errcode(void);
/* Its message, "" when none; valid until the next kiln call on this
 * thread. */
KILN_API const char *kiln_errmsg(void);
KILN_API void kiln_errclear(void);
KILN_API const char *kiln_status_name(kiln_status s);

/* ------------------------------------------------------------------ */
/* arrays                                                             */
/* ------------------------------------------------------------------ */

typedef struct kiln_array kiln_array;

KILN_API kiln_array *kiln_array_retain(kiln_array *a);
KILN_API void kiln_array_release(kiln_array *a);

KILN_API void kiln_scope_begin(void);
/* Ends the innermost scope, releasing what was returned inside it; returns
 * `keep` (retained for the enclosing scope or the caller; may be NULL). */
KILN_API kiln_array *kiln_scope_end(kiln_array *keep);
/* Keeps `a` alive past the innermost scope's end (same as returning it from
 * kiln_scope_end). Returns a. */
KILN_API kiln_array *kiln_scope_keep(kiln_array *a);

/* Copies `data` (row-major, ndim dims of shape) into a new array. */
KILN_API kiln_array *kiln_array_from_data(const void *data,
                                          const int64_t *shape, int ndim,
                                          kiln_dtype dt);
/* 0-d arrays. The value is converted to dt (float to int truncates). */
KILN_API kiln_array *kiln_scalar_f64(double v, kiln_dtype dt);
KILN_API kiln_array *kiln_scalar_i64(int64_t v, kiln_dtype dt);
KILN_API kiln_array *kiln_scalar_u64(uint64_t v, kiln_dtype dt);
KILN_API kiln_array *kiln_scalar_bool(bool v);
/* "Weak" scalars, like Python numbers in MLX: they take the other
 * operand's dtype where it can hold them (x_f16 * 2.0 stays float16). */
KILN_API kiln_array *kiln_weak_f64(double v);
KILN_API kiln_array *kiln_weak_i64(int64_t v);
KILN_API bool kiln_array_is_weak(const kiln_array *a);

KILN_API kiln_array *kiln_zeros(const int64_t *shape, int ndim,
                                kiln_dtype dt);
KILN_API kiln_array *kiln_ones(const int64_t *shape, int ndim, kiln_dtype dt);
KILN_API kiln_array *kiln_full(const int64_t *shape, int ndim, double v,
                               kiln_dtype dt);
/* full with an array value broadcast to shape, in `dt`. */
KILN_API kiln_array *kiln_full_array(const int64_t *shape, int ndim,
                                     kiln_array *v, kiln_dtype dt);
KILN_API kiln_array *kiln_zeros_like(kiln_array *a);
KILN_API kiln_array *kiln_ones_like(kiln_array *a);
KILN_API kiln_array *kiln_arange(double start, double stop, double step,
                                 kiln_dtype dt);
KILN_API kiln_array *kiln_linspace(double start, double stop, int64_t num,
                                   kiln_dtype dt);
/* n x m with ones on diagonal k (m < 0 means m = n). */
KILN_API kiln_array *kiln_eye(int64_t n, int64_t m, int64_t k,
                              kiln_dtype dt);
KILN_API kiln_array *kiln_identity(int64_t n, kiln_dtype dt);

/* Accessors. They do not evaluate. shape() points into the array. */
KILN_API int kiln_array_ndim(const kiln_array *a);
KILN_API const int64_t *kiln_array_shape(const kiln_array *a);
KILN_API int64_t kiln_array_dim(const kiln_array *a, int axis);
KILN_API int64_t kiln_array_size(const kiln_array *a);
KILN_API kiln_dtype kiln_array_dtype(const kiln_array *a);
KILN_API size_t kiln_array_itemsize(const kiln_array *a);
KILN_API size_t kiln_array_nbytes(const kiln_array *a);
KILN_API bool kiln_array_is_evaluated(const kiln_array *a);

/* Evaluates `a` and returns its data in row-major order (making `a`
 * contiguous if it was a strided view); valid while `a` lives. NULL on
 * error. */
KILN_API const void *kiln_array_data(kiln_array *a);
/* Evaluates and copies nbytes (must equal kiln_array_nbytes) to dst. */
KILN_API kiln_status kiln_array_read(kiln_array *a, void *dst,
                                     size_t nbytes);
/* The value of a one-element array, converted. */
KILN_API kiln_status kiln_array_item_f64(kiln_array *a, double *out);
KILN_API kiln_status kiln_array_item_i64(kiln_array *a, int64_t *out);
/* Writes a short text form of the array into buf (NUL-terminated,
 * truncated to cap); returns the length it needed. */
KILN_API size_t kiln_array_format(kiln_array *a, char *buf, size_t cap);

/* ------------------------------------------------------------------ */
/* lists of arrays                                                    */
/* ------------------------------------------------------------------ */

typedef struct kiln_list kiln_list;

KILN_API kiln_list *kiln_list_new(void);
/* Releases every element and the list. NULL is a no-op. */
KILN_API void kiln_list_free(kiln_list *l);
KILN_API size_t kiln_list_size(const kiln_list *l);
/* Borrowed reference, NULL when out of range. */
KILN_API kiln_array *kiln_list_get(const kiln_list *l, size_t i);
/* push and set retain a. */
KILN_API kiln_status kiln_list_push(kiln_list *l, kiln_array *a);
KILN_API kiln_status kiln_list_set(kiln_list *l, size_t i, kiln_array *a);

/* ------------------------------------------------------------------ */
/* evaluation, memory, threads                                        */
/* ------------------------------------------------------------------ */

/* Evaluates the arrays together (shared work runs once). */
KILN_API kiln_status kiln_eval(kiln_array *const *xs, int n);
KILN_API kiln_status kiln_array_eval(kiln_array *a);

/* Bytes held by live buffers, the peak of that, and bytes cached in the
 * recycling pool. */
KILN_API size_t kiln_memory_active(void);
KILN_API size_t kiln_memory_peak(void);
KILN_API void kiln_memory_reset_peak(void);
KILN_API size_t kiln_memory_cache(void);
/* Caps the recycling pool (bytes); returns the previous cap. */
KILN_API size_t kiln_memory_set_cache_limit(size_t bytes);
KILN_API void kiln_memory_clear_cache(void);

KILN_API int kiln_num_threads(void);
KILN_API kiln_status kiln_set_num_threads(int n);

/* ------------------------------------------------------------------ */
/* elementwise ops                                                    */
/* ------------------------------------------------------------------ */

/* X(name) for every one-input elementwise op: kiln_<name>(x). */
#define KILN_UNARY_OP_LIST(X)                                             \
    X(abs) X(negative) X(sign) X(square) X(sqrt) X(rsqrt) X(reciprocal)   \
    X(exp) X(expm1) X(log) X(log1p) X(log2) X(log10) X(sin) X(cos) X(tan) \
    X(arcsin) X(arccos) X(arctan) X(sinh) X(cosh) X(tanh) X(arcsinh)      \
    X(arccosh) X(arctanh) X(sigmoid) X(erf) X(erfinv) X(floor) X(ceil)    \
    X(logical_not) X(bitwise_invert) X(isnan) X(isinf) X(isfinite)        \
    X(isposinf) X(isneginf) X(stop_gradient)

/* X(name) for every two-input elementwise op: kiln_<name>(a, b). */
#define KILN_BINARY_OP_LIST(X)                                            \
    X(add) X(subtract) X(multiply) X(divide) X(floor_divide) X(remainder) \
    X(power) X(maximum) X(minimum) X(equal) X(not_equal) X(less)          \
    X(less_equal) X(greater) X(greater_equal) X(logical_and)              \
    X(logical_or) X(bitwise_and) X(bitwise_or) X(bitwise_xor)             \
    X(left_shift) X(right_shift) X(arctan2) X(logaddexp)

#define KILN_X_(name) KILN_API kiln_array *kiln_##name(kiln_array *x);
KILN_UNARY_OP_LIST(KILN_X_)
#undef KILN_X_
#define KILN_X_(name)                                                     \
    KILN_API kiln_array *kiln_##name(kiln_array *a, kiln_array *b);
KILN_BINARY_OP_LIST(KILN_X_)
#undef KILN_X_

/* Round half to even, to `decimals` places (may be negative). */
KILN_API kiln_array *kiln_round(kiln_array *x, int decimals);
KILN_API kiln_array *kiln_where(kiln_array *cond, kiln_array *a,
                                kiln_array *b);
/* lo or hi may be NULL (no bound), not both. */
KILN_API kiln_array *kiln_clip(kiln_array *x, kiln_array *lo,
                               kiln_array *hi);
KILN_API kiln_array *kiln_astype(kiln_array *x, kiln_dtype dt);

/* ------------------------------------------------------------------ */
/* reductions and scans                                               */
/* ------------------------------------------------------------------ */

/* axes == NULL (naxes ignored) reduces over all axes. */
#define KILN_REDUCE_OP_LIST(X)                                            \
    X(sum) X(prod) X(mean) X(min) X(max) X(all) X(any) X(logsumexp)
#define KILN_X_(name)                                                     \
    KILN_API kiln_array *kiln_##name(kiln_array *x, const int *axes,      \
                                     int naxes, bool keepdims);
KILN_REDUCE_OP_LIST(KILN_X_)
#undef KILN_X_
KILN_API kiln_array *kiln_var(kiln_array *x, const int *axes, int naxes,
                              bool keepdims, int ddof);
KILN_API kiln_array *kiln_std(kiln_array *x, const int *axes, int naxes,
                              bool keepdims, int ddof);
/* argmin/argmax over one axis (uint32 result as in MLX); all axes of the
 * flattened array when flat is true. */
KILN_API kiln_array *kiln_argmin(kiln_array *x, int axis, bool flat,
                                 bool keepdims);
KILN_API kiln_array *kiln_argmax(kiln_array *x, int axis, bool flat,
                                 bool keepdims);
KILN_API kiln_array *kiln_softmax(kiln_array *x, const int *axes, int naxes,
                                  bool precise);

#define KILN_SCAN_OP_LIST(X) X(cumsum) X(cumprod) X(cummax) X(cummin)
#define KILN_X_(name)                                                     \
    KILN_API kiln_array *kiln_##name(kiln_array *x, int axis, bool flat,  \
                                     bool reverse, bool inclusive);
KILN_SCAN_OP_LIST(KILN_X_)
#undef KILN_X_

/* ------------------------------------------------------------------ */
/* linear algebra                                                     */
/* ------------------------------------------------------------------ */

/* numpy's matmul (1-D operands, broadcast batch dims). The operands
 * promote to one dtype, which the result keeps; integer and bool inputs
 * are allowed (MLX rejects them): integers wrap, bool is "or" of "and"s. */
KILN_API kiln_array *kiln_matmul(kiln_array *a, kiln_array *b);
/* alpha * (a @ b) + beta * c, in the promoted float dtype (integer and bool
 * operands compute in float32). c broadcasts to the shape of a @ b (it
 * never widens the result); beta == 0 ignores c, so NaN or Inf in c does
 * not propagate. */
KILN_API kiln_array *kiln_addmm(kiln_array *c, kiln_array *a, kiln_array *b,
                                double alpha, double beta);
KILN_API kiln_array *kiln_inner(kiln_array *a, kiln_array *b);
KILN_API kiln_array *kiln_outer(kiln_array *a, kiln_array *b);

/* ------------------------------------------------------------------ */
/* movement and indexing                                              */
/* ------------------------------------------------------------------ */

/* One entry of shape may be -1. */
KILN_API kiln_array *kiln_reshape(kiln_array *x, const int64_t *shape,
                                  int ndim);
KILN_API kiln_array *kiln_flatten(kiln_array *x, int start_axis,
                                  int end_axis);
KILN_API kiln_array *kiln_unflatten(kiln_array *x, int axis,
                                    const int64_t *shape, int ndim);
/* perm == NULL reverses the axes. */
KILN_API kiln_array *kiln_transpose(kiln_array *x, const int *perm,
                                    int nperm);
KILN_API kiln_array *kiln_swapaxes(kiln_array *x, int a, int b);
KILN_API kiln_array *kiln_moveaxis(kiln_array *x, int src, int dst);
KILN_API kiln_array *kiln_expand_dims(kiln_array *x, const int *axes,
                                      int naxes);
/* axes == NULL squeezes every size-1 axis. */
KILN_API kiln_array *kiln_squeeze(kiln_array *x, const int *axes,
                                  int naxes);
KILN_API kiln_array *kiln_broadcast_to(kiln_array *x, const int64_t *shape,
                                       int ndim);
KILN_API kiln_list *kiln_broadcast_arrays(kiln_array *const *xs, int n);
/* Python-style slicing per axis: start/stop/step arrays of length ndim,
 * already meaning what Python means (negative wraps; out of range clamps).
 * KILN_SLICE_BEGIN (start) and KILN_SLICE_END (stop) mean an omitted bound
 * (Python's None) whatever the step's sign: x[::-1] is start BEGIN, stop
 * END, step -1. Negative steps allowed, not 0; step == NULL means a step of
 * 1 on every axis. */
#define KILN_SLICE_END INT64_MAX
#define KILN_SLICE_BEGIN INT64_MIN
KILN_API kiln_array *kiln_slice(kiln_array *x, const int64_t *start,
                                const int64_t *stop, const int64_t *step);
/* kiln_slice for bounds computed from x's shape (bit i of sized_axes: axis
 * i's bounds came from its length, as for split into sections): inside a
 * shapeless compiled function, a replay on another length of such an
 * axis fails clearly instead of cutting the new axis where the traced one
 * was cut. With whole bounds it still makes a node, so it can guard the
 * lengths a computation baked. */
KILN_API kiln_array *kiln_slice_sized(kiln_array *x, const int64_t *start,
                                      const int64_t *stop,
                                      const int64_t *step,
                                      uint32_t sized_axes);
/* x with the slice [start:stop:step] replaced by update (broadcast). */
KILN_API kiln_array *kiln_slice_update(kiln_array *x, kiln_array *update,
                                       const int64_t *start,
                                       const int64_t *stop,
                                       const int64_t *step);
/* take along `axis` (of x flattened when flat), numpy's take: the
 * result has x's shape with that axis replaced by indices' shape. indices
 * may have any integer dtype; a negative index wraps once (i + n), then
 * every index is clamped into [0, n - 1], so none reads out of bounds. */
KILN_API kiln_array *kiln_take(kiln_array *x, kiln_array *indices, int axis,
                               bool flat);
/* numpy's take_along_axis: indices has x's ndim and broadcasts against x
 * on every axis but `axis`; when flat, x is read flattened and indices must
 * be 1-D. Index dtypes and bounds as kiln_take. */
KILN_API kiln_array *kiln_take_along_axis(kiln_array *x,
                                          kiln_array *indices, int axis,
                                          bool flat);
KILN_API kiln_array *kiln_concatenate(kiln_array *const *xs, int n,
                                      int axis);
KILN_API kiln_array *kiln_stack(kiln_array *const *xs, int n, int axis);
/* Into nsections equal parts, or at the given indices when
 * indices != NULL. */
KILN_API kiln_list *kiln_split(kiln_array *x, int nsections,
                               const int64_t *indices, int nindices,
                               int axis);
/* pad_width: ndim pairs (before, after), constant value. */
KILN_API kiln_array *kiln_pad(kiln_array *x, const int64_t *pad_width,
                              double value);
KILN_API kiln_array *kiln_tile(kiln_array *x, const int64_t *reps, int nreps);
KILN_API kiln_array *kiln_repeat(kiln_array *x, int64_t repeats, int axis,
                                 bool flat);
KILN_API kiln_array *kiln_sort(kiln_array *x, int axis, bool flat);
/* Stable sort order along axis (NaN last), as uint32 indices. */
KILN_API kiln_array *kiln_argsort(kiln_array *x, int axis, bool flat);
/* The k largest along axis (0 <= k <= the axis length), in their original
 * order along the axis (MLX leaves the order unspecified). */
KILN_API kiln_array *kiln_topk(kiln_array *x, int k, int axis, bool flat);
KILN_API kiln_array *kiln_array_equal(kiln_array *a, kiln_array *b,
                                      bool equal_nan);
KILN_API kiln_array *kiln_isclose(kiln_array *a, kiln_array *b, double rtol,
                                  double atol, bool equal_nan);
KILN_API kiln_array *kiln_allclose(kiln_array *a, kiln_array *b, double rtol,
                                   double atol, bool equal_nan);

/* ------------------------------------------------------------------ */
/* random (counter-based, explicit keys)                              */
/* ------------------------------------------------------------------ */

/* A key is a uint32 array of shape (2). key == NULL in the functions below
 * uses (and advances) the global key, itself an array. */
KILN_API kiln_status kiln_random_seed(uint64_t seed);
KILN_API kiln_array *kiln_random_key(uint64_t seed);
/* The global key (new reference) and a way to replace it. */
KILN_API kiln_array *kiln_random_state(void);
KILN_API kiln_status kiln_random_set_state(kiln_array *key);
/* num keys, shape (num, 2). */
KILN_API kiln_array *kiln_random_split(kiln_array *key, int num);
/* Uniform in [lo, hi) of dtype dt (a float type); lo == NULL means 0 and
 * hi == NULL means 1. lo and hi must broadcast into shape. */
KILN_API kiln_array *kiln_random_uniform(kiln_array *lo, kiln_array *hi,
                                         const int64_t *shape, int ndim,
                                         kiln_dtype dt, kiln_array *key);
KILN_API kiln_array *kiln_random_normal(const int64_t *shape, int ndim,
                                        kiln_dtype dt, double loc,
                                        double scale, kiln_array *key);
/* Integers in [lo, hi) of dtype dt (an integer type or bool). The bounds
 * are never read while the graph is built: where hi <= lo the result is
 * lo, as in MLX. */
KILN_API kiln_array *kiln_random_randint(kiln_array *lo, kiln_array *hi,
                                         const int64_t *shape, int ndim,
                                         kiln_dtype dt, kiln_array *key);
/* bool samples, true with probability p (a float array; NULL means 0.5);
 * shape == NULL (ndim 0) means p's shape. */
KILN_API kiln_array *kiln_random_bernoulli(kiln_array *p,
                                           const int64_t *shape, int ndim,
                                           kiln_array *key);
/* Standard normal samples truncated to [lo, hi]; shape == NULL (ndim 0)
 * means the broadcast shape of lo and hi. */
KILN_API kiln_array *kiln_random_truncated_normal(kiln_array *lo,
                                                  kiln_array *hi,
                                                  const int64_t *shape,
                                                  int ndim, kiln_dtype dt,
                                                  kiln_array *key);
/* Samples along axis of unnormalised log-probabilities; shape == NULL
 * drops that axis. */
KILN_API kiln_array *kiln_random_categorical(kiln_array *logits, int axis,
                                             const int64_t *shape, int ndim,
                                             kiln_array *key);

/* ------------------------------------------------------------------ */
/* functions and compile                                              */
/* ------------------------------------------------------------------ */

/* A function over arrays, as a value. Its body reads the arrays of `args`
 * (borrowed) and pushes its results onto `results` (kiln_list_push);
 * it returns KILN_OK, or an error status with the message set (kiln ops
 * set it for you). compile, and later grad/vjp/jvp/vmap, take and return
 * kiln_fn, so transforms compose in any order. */
typedef struct kiln_fn kiln_fn;
typedef kiln_status (*kiln_fn_body)(void *ctx, const kiln_list *args,
                                    kiln_list *results);

/* A function from a body and its context; dtor(ctx) runs when the last
 * reference goes (dtor may be NULL). name (may be NULL) appears in logs
 * and dumps; it is copied. */
KILN_API kiln_fn *kiln_fn_new(kiln_fn_body body, void *ctx,
                              void (*dtor)(void *ctx), const char *name);
KILN_API kiln_fn *kiln_fn_retain(kiln_fn *f);
/* NULL is a no-op. */
KILN_API void kiln_fn_release(kiln_fn *f);
KILN_API const char *kiln_fn_name(const kiln_fn *f);
/* Calls f on args (NULL: no arguments); a new list of results, or NULL
 * on error. */
KILN_API kiln_list *kiln_fn_call(kiln_fn *f, const kiln_list *args);
/* The same, with `key` bytes that language bindings use for the parts of
 * a call that are not arrays (tree structure, non-array leaves): for a
 * compiled function they are part of the signature (another key retraces),
 * and the body reads them back with kiln_fn_call_key while it runs. */
KILN_API kiln_list *kiln_fn_call_keyed(kiln_fn *f, const kiln_list *args,
                                       const void *key, size_t keylen);
/* Inside a body: the key bytes of the call being run (NULL, 0 when none).
 */
KILN_API const void *kiln_fn_call_key(size_t *keylen);

typedef struct kiln_compile_opts {
    /* One trace serves every shape of the same ndim and dtypes. */
    bool shapeless;
    /* Captured state (MLX's inputs= and outputs=), lists owned by the
     * caller and borrowed for the life of the compiled function:
     * `inputs`' arrays are read at every call as extra inputs; after
     * every call, `outputs`' entries are replaced by the values the body
     * gave them while tracing (kiln_list_set/push on the list it reaches
     * through its context), recomputed for this call. NULL: none. */
    kiln_list *inputs;
    kiln_list *outputs;
    /* The global random key is captured state too (read, and replaced
     * after every call), so random ops inside differ between calls. */
    bool random_state;
} kiln_compile_opts;

/* Compiles f (opts NULL: defaults). The result is a kiln_fn: call it with
 * kiln_fn_call. The first call with a new signature traces f's body on
 * placeholders (shape and dtype, no data); later calls replay the
 * simplified, fused, natively compiled graph. Compiling the same f twice
 * shares one cache. Arrays the body reaches through its context are
 * constants frozen at the trace, as in MLX. */
KILN_API kiln_fn *kiln_compile(kiln_fn *f, const kiln_compile_opts *opts);

/* Calls of compiled functions run their bodies directly while disabled
 * (also KILN_DISABLE_COMPILE=1); effective at call time. */
KILN_API void kiln_disable_compile(void);
KILN_API void kiln_enable_compile(void);

/* What a compiled function did (summed over every kiln_compile of the
 * same function). */
typedef struct kiln_compile_stats {
    int64_t calls;         /* calls of the compiled function */
    int64_t traces;        /* calls that traced the body */
    int64_t cache_hits;    /* calls that replayed a stored graph */
    int64_t bypassed;      /* calls that ran the body (disabled, or
                              inside another trace) */
    int64_t kernels_built; /* kernels the C compiler built */
    int64_t kernels_loaded;/* kernels found in the memory or disk cache */
    int64_t interpreted;   /* fused regions left to the interpreter */
    int64_t entries;       /* graphs cached now */
    double compile_ms;     /* time spent tracing, optimising, compiling
                              (a background build adds its time when it
                              ends; a trace's wait for it is not counted) */
} kiln_compile_stats;

KILN_API kiln_status kiln_compile_stats_get(const kiln_fn *f,
                                            kiln_compile_stats *out);
/* Drops f's cached graphs (f NULL: every function's). */
KILN_API void kiln_compile_clear_cache(kiln_fn *f);
/* Bounds of the cache of graphs: per function and in total (entries and
 * bytes of constants and kernels); least recently used entries go first.
 * 0 keeps a bound as it is. Defaults: 64 per function, 1024 and 1 GiB in
 * total. */
KILN_API void kiln_compile_set_limits(int64_t per_function,
                                      int64_t total_entries,
                                      int64_t total_bytes);

/* Dumps of the most recently used graph of a compiled function, as a
 * malloc'd NUL-terminated string (free it with kiln_free), NULL when there
 * is none. */
typedef enum kiln_dump_kind {
    KILN_DUMP_TRACED, /* the traced graph, one node per line */
    KILN_DUMP_FUSED,  /* after simplify and fuse */
    KILN_DUMP_DOT,    /* the fused graph in Graphviz DOT */
    KILN_DUMP_SOURCE  /* the generated C of its kernels */
} kiln_dump_kind;
KILN_API char *kiln_compile_dump(const kiln_fn *f, kiln_dump_kind kind);
/* The lazy graph behind arrays, in DOT (malloc'd; kiln_free). */
KILN_API char *kiln_graph_dot(kiln_array *const *xs, int n);
KILN_API void kiln_free(void *p);

/* ------------------------------------------------------------------ */
/* transforms: vjp, jvp, grad, value_and_grad, vmap                   */
/* ------------------------------------------------------------------ */

/* Each transform takes a kiln_fn and returns a new kiln_fn, so they
 * compose with each other and with kiln_compile in any order
 * (kiln_compile(kiln_grad(f)), kiln_grad(kiln_compile(f)), ...). */

/* vjp(f): a function of (primals..., cotangents...) where the first
 * nprimals arguments are f's arguments and the rest one cotangent per
 * output of f; it returns (f's outputs..., one cotangent per primal...).
 * Every dtype carries gradients, as in MLX: an integer primal gets an
 * integer cotangent (fractions truncated), and casts pass gradients
 * through; comparisons, floor, bitwise ops, argmax and the like pass
 * none. */
KILN_API kiln_fn *kiln_vjp(kiln_fn *f, int nprimals);
/* jvp(f): a function of (primals..., tangents...), one tangent per primal;
 * returns (f's outputs..., one tangent per output...). */
KILN_API kiln_fn *kiln_jvp(kiln_fn *f, int nprimals);
/* grad(f): the gradient of f's first output, which must be a scalar
 * (one element), with respect to the arguments argnums (NULL or 0 of
 * them: argument 0); returns one gradient per argnum, shaped like the
 * argument. */
KILN_API kiln_fn *kiln_grad(kiln_fn *f, const int *argnums, int nargnums);
/* value_and_grad(f): returns (f's outputs..., gradients...): the first
 * output is the loss, the others auxiliary values carried along. */
KILN_API kiln_fn *kiln_value_and_grad(kiln_fn *f, const int *argnums,
                                      int nargnums);
/* vmap(f): f mapped over a batch axis. in_axes[i] is argument i's batch
 * axis (-1: not batched, shared by every example), NULL means 0 for all;
 * out_axes[k] is where output k's batch axis goes (NULL: 0 for all). */
KILN_API kiln_fn *kiln_vmap(kiln_fn *f, const int *in_axes, int nin_axes,
                            const int *out_axes, int nout_axes);

#ifdef __cplusplus
}
#endif

#endif
