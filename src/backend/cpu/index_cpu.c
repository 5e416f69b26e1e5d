/*
 * index_cpu.c - eager loops of the index family: gathers (take,
 * take_along_axis) and sorts (sort, argsort, topk). See prim/index.c for
 * each primitive's meaning and index_cpu.h for the invariants infer has
 * already checked.
 *
 * Gathers. The indices are first converted, once, into a contiguous int64
 * array already wrapped (negative + n) and clamped into [0, n): so no
 * index can address memory outside x, whatever the data. Then the output is
 * walked by the shared strided iterator with three operands: y, x (stride
 * 0 on the dims the indices supply) and the int64 indices (stride 0 on the
 * dims they do not vary along). Element i of a row is
 *     y[i] = x[i * sx + idx[i * si] * sax]
 * where sax is x's byte stride along the gathered axis. A row whose index
 * is constant (si == 0) is a plain copy of one slice (memcpy when both are
 * contiguous); a row where only the index moves is a pure gather.
 *
 * Sorts. Each value becomes an unsigned key whose unsigned order is the
 * sort order (prim/index.c): integers flip the sign bit; floats map
 * sign-magnitude bits onto a monotone range, send -0.0 to +0.0's key and
 * every NaN to the largest key; float16/bfloat16 use their own bits (their
 * order is that of their float32 values). A row is read (strided) into
 * scratch as (key, position) pairs: packed into one uint64 as key << 32 |
 * position for dtypes of up to 4 bytes, two arrays for 8-byte dtypes.
 * The pairs are sorted by a stable radix sort on the key bytes (8-bit
 * digits, skipping digits every key shares; insertion sort for short
 * rows; rows larger than the cache split by their top digit first), then
 * written back: positions for argsort, the values read at those positions
 * for sort (so the bits of -0.0 and of NaN payloads survive). topk finds
 * the threshold key by a radix select (at most one histogram pass per key
 * byte, no bad inputs) and copies, in their original order, the values
 * above it and the first ones equal to it. Rows are split over the thread
 * pool; each range allocates its own scratch.
 */
#include "index_cpu.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>

#include "../../core/error.h"
#include "../../core/half.h"
#include "../../core/shape.h"
#include "../../runtime/pool.h"
#include "copy_cpu.h"
#include "iter.h"

/* ------------------------------------------------------------------ */
/* flat views                                                         */
/* ------------------------------------------------------------------ */

/* x as a contiguous 1-D run of x->size values: x's own memory when it is
 * contiguous, else a copy in *tmp (released by the caller). NULL when out
 * of memory. */
static const char *flat_data(const kiln_array *x, kiln_buffer **tmp,
                             const char *fn)
{
    *tmp = NULL;
    if (kiln__array_is_contiguous(x)) {
        return kiln__array_ptr(x);
    }
    size_t nbytes = (size_t)x->size * kiln_dtype_size(x->dtype);
    *tmp = kiln__buffer_new(nbytes);
    if (!*tmp) {
        kiln__err_oom(fn, nbytes);
        return NULL;
    }
    kiln__cpu_copy_contig(x, (*tmp)->data);
    return (*tmp)->data;
}

/* ------------------------------------------------------------------ */
/* index normalisation                                                */
/* ------------------------------------------------------------------ */

typedef struct {
    int64_t n; /* length of the indexed axis, > 0 */
} norm_ctx;

/* Operand 0: int64 out, operand 1: the raw index. One expansion:
 * NORM_S(norm_i8, int8_t) reads an int8 v and stores v, plus n when
 * negative, clamped into [0, n). */
#define NORM_S(name, T)                                                   \
    static void name(void *ctx, char *const *p, const int64_t *s,         \
                     int64_t cnt)                                         \
    {                                                                     \
        const int64_t n = ((const norm_ctx *)ctx)->n;                     \
        for (int64_t i = 0; i < cnt; i++) {                               \
            int64_t r = *(const T *)(const void *)(p[1] + i * s[1]);      \
            r = r < 0 ? r + n : r;                                        \
            r = r < 0 ? 0 : r;                                            \
            r = r >= n ? n - 1 : r;                                       \
            *(int64_t *)(void *)(p[0] + i * s[0]) = r;                    \
        }                                                                 \
    }
#define NORM_U(name, T)                                                   \
    static void name(void *ctx, char *const *p, const int64_t *s,         \
                     int64_t cnt)                                         \
    {                                                                     \
        const uint64_t n = (uint64_t)((const norm_ctx *)ctx)->n;          \
        for (int64_t i = 0; i < cnt; i++) {                               \
            uint64_t r = *(const T *)(const void *)(p[1] + i * s[1]);     \
            r = r >= n ? n - 1 : r;                                       \
            *(int64_t *)(void *)(p[0] + i * s[0]) = (int64_t)r;           \
        }                                                                 \
    }
NORM_S(norm_i8, int8_t)
NORM_S(norm_i16, int16_t)
NORM_S(norm_i32, int32_t)
NORM_S(norm_i64, int64_t)
NORM_U(norm_u8, uint8_t)
NORM_U(norm_u16, uint16_t)
NORM_U(norm_u32, uint32_t)
NORM_U(norm_u64, uint64_t)

static const kiln_row_fn norm_rows[KILN_DTYPE_COUNT] = {
    [KILN_DTYPE_INT8] = norm_i8,   [KILN_DTYPE_INT16] = norm_i16,
    [KILN_DTYPE_INT32] = norm_i32, [KILN_DTYPE_INT64] = norm_i64,
    [KILN_DTYPE_UINT8] = norm_u8,  [KILN_DTYPE_UINT16] = norm_u16,
    [KILN_DTYPE_UINT32] = norm_u32, [KILN_DTYPE_UINT64] = norm_u64,
};

/* The indices as a contiguous int64 array of idx's shape, wrapped and
 * clamped into [0, n); *st gets its byte strides. NULL when out of
 * memory. */
static kiln_buffer *normalise(const kiln_array *idx, int64_t n, int64_t *st,
                              const char *fn)
{
    size_t nbytes = (size_t)idx->size * sizeof(int64_t);
    kiln_buffer *b = kiln__buffer_new(nbytes);
    int64_t src[KILN_MAX_NDIM];
    if (!b) {
        kiln__err_oom(fn, nbytes);
        return NULL;
    }
    kiln__shape_strides(idx->shape, idx->ndim, st);
    for (int i = 0; i < idx->ndim; i++) {
        st[i] *= (int64_t)sizeof(int64_t);
    }
    if (idx->size == 0 || n <= 0) {
        return b;
    }
    kiln__array_byte_strides(idx, src);
    char *base[2] = {b->data, kiln__array_ptr(idx)};
    const int64_t *strides[2] = {st, src};
    kiln_iter it;
    norm_ctx c = {n};
    kiln__iter_init(&it, idx->ndim, idx->shape, 2, base, strides);
    kiln__iter_run(&it, KILN_GRAIN_ELEMENTWISE, norm_rows[idx->dtype], &c);
    return b;
}

/* ------------------------------------------------------------------ */
/* gather                                                             */
/* ------------------------------------------------------------------ */

typedef struct {
    int64_t sax; /* x's byte stride along the gathered axis */
} gather_ctx;

/* Operands: 0 y, 1 x, 2 int64 indices. One expansion: GATHER(gather_4,
 * uint32_t) moves 4-byte values, y[i] = x[i * sx + idx[i * si] * sax]. */
#define GATHER(name, T)                                                   \
    static void name(void *ctx, char *const *p, const int64_t *s,         \
                     int64_t n)                                           \
    {                                                                     \
        const int64_t sax = ((const gather_ctx *)ctx)->sax;               \
        const int64_t z = (int64_t)sizeof(T);                             \
        if (s[2] == 0) {                                                  \
            const char *src =                                             \
                p[1] + *(const int64_t *)(const void *)p[2] * sax;        \
            if (s[0] == z && s[1] == z) {                                 \
                memcpy(p[0], src, (size_t)(n * z));                       \
                return;                                                   \
            }                                                             \
            for (int64_t i = 0; i < n; i++) {                             \
                *(T *)(void *)(p[0] + i * s[0]) =                         \
                    *(const T *)(const void *)(src + i * s[1]);           \
            }                                                             \
        } else if (s[0] == z && s[1] == 0 &&                              \
                   s[2] == (int64_t)sizeof(int64_t)) {                    \
            T *y = (T *)(void *)p[0];                                     \
            const int64_t *ix = (const int64_t *)(const void *)p[2];      \
            const char *x = p[1];                                         \
            for (int64_t i = 0; i < n; i++) {                             \
                y[i] = *(const T *)(const void *)(x + ix[i] * sax);       \
            }                                                             \
        } else {                                                          \
            for (int64_t i = 0; i < n; i++) {                             \
                int64_t j = *(const int64_t *)(const void *)(p[2] +       \
                                                             i * s[2]);   \
                *(T *)(void *)(p[0] + i * s[0]) =                         \
                    *(const T *)(const void *)(p[1] + i * s[1] +          \
                                               j * sax);                  \
            }                                                             \
        }                                                                 \
    }
GATHER(gather_1, uint8_t)
GATHER(gather_2, uint16_t)
GATHER(gather_4, uint32_t)
GATHER(gather_8, uint64_t)

static const kiln_row_fn gathers[9] = {
    [1] = gather_1, [2] = gather_2, [4] = gather_4, [8] = gather_8};

/* Runs the gather over y (contiguous, allocated) with x at xbase with
 * byte strides sx per y dim, indices at ibase with byte strides si. */
static void run_gather(kiln_array *y, const char *xbase, const int64_t *sx,
                       const char *ibase, const int64_t *si, int64_t sax)
{
    int64_t sy[KILN_MAX_NDIM];
    kiln__array_byte_strides(y, sy);
    char *base[3] = {kiln__array_ptr(y), (char *)xbase, (char *)ibase};
    const int64_t *strides[3] = {sy, sx, si};
    kiln_iter it;
    gather_ctx c = {sax};
    kiln__iter_init(&it, y->ndim, y->shape, 3, base, strides);
    kiln__iter_run(&it, KILN_GRAIN_ELEMENTWISE,
                   gathers[kiln_dtype_size(y->dtype)], &c);
}

/* The gathered axis of x: its base, byte strides, length and byte stride
 * along the axis (x read flat when ip->flat). */
typedef struct {
    const char *base;
    int64_t st[KILN_MAX_NDIM];
    int64_t len;
    int64_t sax;
    kiln_buffer *tmp;
} gather_src;

static kiln_status gather_source(const kiln_index_params *ip,
                                 const kiln_array *x, gather_src *g,
                                 const char *fn)
{
    if (ip->flat) {
        g->base = flat_data(x, &g->tmp, fn);
        g->len = x->size;
        g->sax = (int64_t)kiln_dtype_size(x->dtype);
        return g->base ? KILN_OK : kiln_errcode();
    }
    g->tmp = NULL;
    g->base = kiln__array_ptr(x);
    kiln__array_byte_strides(x, g->st);
    g->len = x->shape[ip->axis];
    g->sax = g->st[ip->axis];
    return KILN_OK;
}

kiln_status kiln__cpu_eval_take(const kiln_node *n, kiln_array *const *in,
                                kiln_array *const *out)
{
    const kiln_index_params *ip = n->params;
    const char *fn = n->prim->name;
    kiln_array *x = in[0], *idx = in[1], *y = out[0];
    int64_t ist[KILN_MAX_NDIM], sx[KILN_MAX_NDIM], si[KILN_MAX_NDIM];
    gather_src g;
    if (kiln__array_alloc(y, fn) != KILN_OK) {
        return kiln_errcode();
    }
    if (y->size == 0) {
        return KILN_OK;
    }
    if (gather_source(ip, x, &g, fn) != KILN_OK) {
        return kiln_errcode();
    }
    kiln_buffer *ib = normalise(idx, g.len, ist, fn);
    if (!ib) {
        kiln__buffer_release(g.tmp);
        return kiln_errcode();
    }
    /* y dims: x's leading dims, the index dims, x's trailing dims */
    int pre = ip->flat ? 0 : ip->axis;
    int post = y->ndim - pre - idx->ndim;
    for (int d = 0; d < pre; d++) {
        sx[d] = g.st[d];
        si[d] = 0;
    }
    for (int d = 0; d < idx->ndim; d++) {
        sx[pre + d] = 0;
        si[pre + d] = ist[d];
    }
    for (int d = 0; d < post; d++) {
        sx[pre + idx->ndim + d] = g.st[ip->axis + 1 + d];
        si[pre + idx->ndim + d] = 0;
    }
    run_gather(y, g.base, sx, ib->data, si, g.sax);
    kiln__buffer_release(ib);
    kiln__buffer_release(g.tmp);
    return KILN_OK;
}

kiln_status kiln__cpu_eval_take_along(const kiln_node *n,
                                      kiln_array *const *in,
                                      kiln_array *const *out)
{
    const kiln_index_params *ip = n->params;
    const char *fn = n->prim->name;
    kiln_array *x = in[0], *idx = in[1], *y = out[0];
    int64_t ist[KILN_MAX_NDIM], sx[KILN_MAX_NDIM], si[KILN_MAX_NDIM];
    gather_src g;
    if (kiln__array_alloc(y, fn) != KILN_OK) {
        return kiln_errcode();
    }
    if (y->size == 0) {
        return KILN_OK;
    }
    if (gather_source(ip, x, &g, fn) != KILN_OK) {
        return kiln_errcode();
    }
    kiln_buffer *ib = normalise(idx, g.len, ist, fn);
    if (!ib) {
        kiln__buffer_release(g.tmp);
        return kiln_errcode();
    }
    /* x and the indices broadcast to y on every dim but the axis, where
     * the index supplies the position */
    for (int d = 0; d < y->ndim; d++) {
        bool along = ip->flat || d == ip->axis;
        sx[d] = (along || x->shape[d] == 1) ? 0 : g.st[d];
        si[d] = idx->shape[d] == 1 ? 0 : ist[d];
    }
    run_gather(y, g.base, sx, ib->data, si, g.sax);
    kiln__buffer_release(ib);
    kiln__buffer_release(g.tmp);
    return KILN_OK;
}

/* ------------------------------------------------------------------ */
/* sort keys                                                          */
/* ------------------------------------------------------------------ */

/* Sign-magnitude float bits to a monotone unsigned key (W bits, the
 * magnitude mask M, the infinity's bits INF): -0.0 gets +0.0's key, NaNs
 * the largest key. */
#define FLOAT_KEY(name, U, SIGN, INF)                                     \
    static inline U name(U b)                                             \
    {                                                                     \
        U a = b & (U)~(U)SIGN;                                            \
        U k = (b & (U)SIGN) ? (U)~b : (U)(b | (U)SIGN);                   \
        k = a == 0 ? (U)SIGN : k;                                         \
        return a > (U)INF ? (U)~(U)0 : k;                                 \
    }
FLOAT_KEY(key_f16, uint16_t, 0x8000u, 0x7c00u)
FLOAT_KEY(key_bf16, uint16_t, 0x8000u, 0x7f80u)
FLOAT_KEY(key_f32, uint32_t, 0x80000000u, 0x7f800000u)
FLOAT_KEY(key_f64, uint64_t, 0x8000000000000000ull, 0x7ff0000000000000ull)

static inline uint64_t bits_f64(double f)
{
    uint64_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

/* Loads n values of a strided row as keys. One expansion:
 * LOAD_KEYS(keys_i8, int8_t, uint32_t, (uint8_t)v ^ 0x80u) stores
 * keys[i] = (uint8_t)x[i] ^ 0x80 as uint32. */
typedef void (*load_keys_fn)(const char *x, int64_t s, int64_t n,
                             void *keys);
#define LOAD_KEYS(name, T, K, EXPR)                                       \
    static void name(const char *x, int64_t s, int64_t n, void *keys)     \
    {                                                                     \
        K *k = keys;                                                      \
        if (s == (int64_t)sizeof(T)) {                                    \
            const T *xp = (const T *)(const void *)x;                     \
            for (int64_t i = 0; i < n; i++) {                             \
                T v = xp[i];                                              \
                k[i] = (K)(EXPR);                                         \
            }                                                             \
        } else {                                                          \
            for (int64_t i = 0; i < n; i++) {                             \
                T v = *(const T *)(const void *)(x + i * s);              \
                k[i] = (K)(EXPR);                                         \
            }                                                             \
        }                                                                 \
    }
LOAD_KEYS(keys_b, uint8_t, uint32_t, v != 0)
LOAD_KEYS(keys_u8, uint8_t, uint32_t, v)
LOAD_KEYS(keys_u16, uint16_t, uint32_t, v)
LOAD_KEYS(keys_u32, uint32_t, uint32_t, v)
LOAD_KEYS(keys_u64, uint64_t, uint64_t, v)
LOAD_KEYS(keys_i8, int8_t, uint32_t, (uint8_t)v ^ 0x80u)
LOAD_KEYS(keys_i16, int16_t, uint32_t, (uint16_t)v ^ 0x8000u)
LOAD_KEYS(keys_i32, int32_t, uint32_t, (uint32_t)v ^ 0x80000000u)
LOAD_KEYS(keys_i64, int64_t, uint64_t, (uint64_t)v ^ 0x8000000000000000ull)
LOAD_KEYS(keys_f16, uint16_t, uint32_t, key_f16(v))
LOAD_KEYS(keys_bf16, uint16_t, uint32_t, key_bf16(v))
LOAD_KEYS(keys_f32, float, uint32_t, key_f32(kiln_f32_bits(v)))
LOAD_KEYS(keys_f64, double, uint64_t, key_f64(bits_f64(v)))

static const load_keys_fn key_loaders[KILN_DTYPE_COUNT] = {
    [KILN_DTYPE_BOOL] = keys_b,       [KILN_DTYPE_UINT8] = keys_u8,
    [KILN_DTYPE_UINT16] = keys_u16,   [KILN_DTYPE_UINT32] = keys_u32,
    [KILN_DTYPE_UINT64] = keys_u64,   [KILN_DTYPE_INT8] = keys_i8,
    [KILN_DTYPE_INT16] = keys_i16,    [KILN_DTYPE_INT32] = keys_i32,
    [KILN_DTYPE_INT64] = keys_i64,    [KILN_DTYPE_FLOAT16] = keys_f16,
    [KILN_DTYPE_BFLOAT16] = keys_bf16, [KILN_DTYPE_FLOAT32] = keys_f32,
    [KILN_DTYPE_FLOAT64] = keys_f64,
};

/* ------------------------------------------------------------------ */
/* sorting and selecting keys                                         */
/* ------------------------------------------------------------------ */

/* Rows up to this length are insertion-sorted; up to CACHE_ROW they are
 * radix-sorted digit by digit (low first), beyond it split by the top
 * digit first so that each part is sorted while in cache. */
#define SMALL_ROW 32
#define CACHE_ROW (1 << 14)

/* Stamped for K = uint32_t (suffix 32) and uint64_t (64):
 *   insertion_K(k, ix, n): stable insertion sort of k (and ix, if not
 *     NULL);
 *   select_K(a, n, pos, bytes): the key of rank pos among the n keys of
 *     a, whose low `bytes` bytes vary. A radix select: histogram the top
 *     digit, keep (in place) the keys of the digit holding rank pos, go on
 *     with the next digit; at most `bytes` passes, no bad inputs. a is
 *     overwritten. */
#define SELECTORS(K, W)                                                   \
    static void insertion_##W(K *k, uint32_t *ix, int64_t n)              \
    {                                                                     \
        for (int64_t i = 1; i < n; i++) {                                 \
            K v = k[i];                                                   \
            uint32_t p = ix ? ix[i] : 0;                                  \
            int64_t j = i;                                                \
            while (j > 0 && k[j - 1] > v) {                               \
                k[j] = k[j - 1];                                          \
                if (ix) {                                                 \
                    ix[j] = ix[j - 1];                                    \
                }                                                         \
                j--;                                                      \
            }                                                             \
            k[j] = v;                                                     \
            if (ix) {                                                     \
                ix[j] = p;                                                \
            }                                                             \
        }                                                                 \
    }                                                                     \
    static K select_##W(K *a, int64_t n, int64_t pos, int bytes)          \
    {                                                                     \
        uint32_t c[256];                                                  \
        for (int b = bytes - 1; b >= 0 && n > SMALL_ROW; b--) {           \
            int sh = 8 * b;                                               \
            int d = 0;                                                    \
            memset(c, 0, sizeof c);                                       \
            for (int64_t i = 0; i < n; i++) {                             \
                c[(a[i] >> sh) & 255u]++;                                 \
            }                                                             \
            while (pos >= (int64_t)c[d]) {                                \
                pos -= c[d];                                              \
                d++;                                                      \
            }                                                             \
            if (c[d] == (uint64_t)n) {                                    \
                continue; /* every key has this digit */                  \
            }                                                             \
            /* keep the keys with digit d, in place */                    \
            int64_t m = 0;                                                \
            for (int64_t i = 0; i < n; i++) {                             \
                K v = a[i];                                               \
                a[m] = v;                                                 \
                m += ((v >> sh) & 255u) == (unsigned)d;                   \
            }                                                             \
            n = m;                                                        \
        }                                                                 \
        insertion_##W(a, NULL, n);                                        \
        return a[pos];                                                    \
    }
SELECTORS(uint32_t, 32)
SELECTORS(uint64_t, 64)

/* Stable LSD radix sort of 64-bit keys k by their bytes [first, first +
 * bytes), moving ix along when it is not NULL; k2/ix2 are scratch of n.
 * Returns true when the result ended in k2/ix2. Digits every key shares
 * are skipped. */
static bool lsd_64(uint64_t *k, uint32_t *ix, uint64_t *k2, uint32_t *ix2,
                   int64_t n, int first, int bytes)
{
    uint32_t cnt[sizeof(uint64_t)][256];
    bool swapped = false;
    memset(cnt, 0, sizeof cnt);
    for (int64_t i = 0; i < n; i++) {
        uint64_t v = k[i];
        for (int b = first; b < first + bytes; b++) {
            cnt[b][(v >> (8 * b)) & 255u]++;
        }
    }
    for (int b = first; b < first + bytes; b++) {
        uint32_t *c = cnt[b];
        int sh = 8 * b;
        if (c[(k[0] >> sh) & 255u] == (uint64_t)n) {
            continue; /* every key has this digit */
        }
        uint32_t sum = 0;
        for (int d = 0; d < 256; d++) {
            uint32_t t = c[d];
            c[d] = sum;
            sum += t;
        }
        if (ix) {
            for (int64_t i = 0; i < n; i++) {
                uint64_t v = k[i];
                uint32_t pos = c[(v >> sh) & 255u]++;
                k2[pos] = v;
                ix2[pos] = ix[i];
            }
        } else {
            for (int64_t i = 0; i < n; i++) {
                uint64_t v = k[i];
                k2[c[(v >> sh) & 255u]++] = v;
            }
        }
        uint64_t *tk = k;
        k = k2;
        k2 = tk;
        uint32_t *ti = ix;
        ix = ix2;
        ix2 = ti;
        swapped = !swapped;
    }
    return swapped;
}

/* Like lsd_64 (same contract), for rows of any length: short rows are
 * insertion-sorted; rows too big for the cache are first split by their
 * top digit (stable), and each part, far smaller, is sorted on the other
 * digits while in cache. */
static bool radix_64(uint64_t *k, uint32_t *ix, uint64_t *k2, uint32_t *ix2,
                     int64_t n, int first, int bytes)
{
    uint32_t c[256];
    if (n <= SMALL_ROW) {
        insertion_64(k, ix, n);
        return false;
    }
    if (n <= CACHE_ROW || bytes == 1) {
        return lsd_64(k, ix, k2, ix2, n, first, bytes);
    }
    /* too big for the cache: split by the top digit (stable), then
     * sort each bucket, which is far smaller, on the other digits */
    int sh = 8 * (first + bytes - 1);
    memset(c, 0, sizeof c);
    for (int64_t i = 0; i < n; i++) {
        c[(k[i] >> sh) & 255u]++;
    }
    if (c[(k[0] >> sh) & 255u] == (uint64_t)n) {
        return radix_64(k, ix, k2, ix2, n, first, bytes - 1);
    }
    uint32_t start[257], sum = 0;
    for (int d = 0; d < 256; d++) {
        start[d] = sum;
        sum += c[d];
        c[d] = start[d];
    }
    start[256] = sum;
    for (int64_t i = 0; i < n; i++) {
        uint64_t v = k[i];
        uint32_t pos = c[(v >> sh) & 255u]++;
        k2[pos] = v;
        if (ix) {
            ix2[pos] = ix[i];
        }
    }
    for (int d = 0; d < 256; d++) {
        int64_t off = start[d], m = start[d + 1] - start[d];
        if (m > 1 &&
            radix_64(k2 + off, ix ? ix2 + off : NULL, k + off,
                     ix ? ix + off : NULL, m, first, bytes - 1)) {
            /* the bucket ended in the scratch half: copy it back */
            memcpy(k2 + off, k + off, sizeof(uint64_t) * (size_t)m);
            if (ix) {
                memcpy(ix2 + off, ix + off, sizeof *ix * (size_t)m);
            }
        }
    }
    return true;
}

/* ------------------------------------------------------------------ */
/* row jobs                                                           */
/* ------------------------------------------------------------------ */

typedef enum { JOB_SORT, JOB_ARGSORT, JOB_TOPK } job_kind;

typedef struct {
    job_kind kind;
    kiln_iter it;     /* over rows: operand 0 y's row start, 1 x's */
    int64_t len;      /* values per row of x */
    int64_t sx, sy;   /* byte strides along the row */
    int64_t k;        /* topk */
    int isz;          /* item size of x */
    int wide;         /* 64-bit keys */
    load_keys_fn load;
    size_t scratch;   /* bytes of scratch per range */
    atomic_int failed;
} sort_job;

typedef struct {
    sort_job *job;
    char *mem; /* this range's scratch (sort_job.scratch bytes) */
} sort_range;

/* Writes y[j] = x[pos[j]] for the n positions, by item size. */
static void gather_row(const char *x, int64_t sx, char *y, int64_t sy,
                       const uint32_t *pos, int64_t n, int isz)
{
#define COPY_ROW(T)                                                       \
    for (int64_t j = 0; j < n; j++) {                                     \
        *(T *)(void *)(y + j * sy) =                                      \
            *(const T *)(const void *)(x + (int64_t)pos[j] * sx);         \
    }
    switch (isz) {
    case 1:
        COPY_ROW(uint8_t)
        break;
    case 2:
        COPY_ROW(uint16_t)
        break;
    case 4:
        COPY_ROW(uint32_t)
        break;
    default:
        COPY_ROW(uint64_t)
        break;
    }
#undef COPY_ROW
}

static void sort_one(const sort_range *r, char *y, const char *x)
{
    const sort_job *job = r->job;
    int64_t n = job->len;
    uint64_t *ka = (uint64_t *)(void *)r->mem, *kb = ka + n;
    const uint64_t *res;
    uint32_t *pos;
    if (job->wide) {
        uint32_t *pa = (uint32_t *)(kb + n), *pb = pa + n;
        job->load(x, job->sx, n, ka);
        for (int64_t i = 0; i < n; i++) {
            pa[i] = (uint32_t)i;
        }
        pos = radix_64(ka, pa, kb, pb, n, 0, 8) ? pb : pa;
    } else {
        /* (key << 32 | position): one stream per radix bucket, and ties
         * already broken by position */
        uint32_t *k32 = (uint32_t *)(void *)kb;
        job->load(x, job->sx, n, k32);
        for (int64_t i = 0; i < n; i++) {
            ka[i] = (uint64_t)k32[i] << 32 | (uint64_t)i;
        }
        res = radix_64(ka, NULL, kb, NULL, n, 4, job->isz) ? kb : ka;
        pos = (uint32_t *)(void *)(res == ka ? kb : ka);
        for (int64_t j = 0; j < n; j++) {
            pos[j] = (uint32_t)res[j];
        }
    }
    if (job->kind == JOB_ARGSORT) {
        for (int64_t j = 0; j < n; j++) {
            *(uint32_t *)(void *)(y + j * job->sy) = pos[j];
        }
    } else {
        gather_row(x, job->sx, y, job->sy, pos, n, job->isz);
    }
}

/* Copies the k largest values of the row into y, in their row order. */
static void topk_one(const sort_range *r, char *y, const char *x)
{
    const sort_job *job = r->job;
    int64_t n = job->len, k = job->k;
    size_t kw = job->wide ? 8 : 4;
    void *ka = r->mem, *kb = r->mem + kw * (size_t)n;
    uint32_t *pos = (uint32_t *)(void *)(r->mem + 2 * kw * (size_t)n);
    int64_t m = 0;
    job->load(x, job->sx, n, ka);
    if (job->wide) {
        uint64_t t = select_64(ka, n, n - k, job->isz);
        const uint64_t *key = kb;
        int64_t above = 0;
        job->load(x, job->sx, n, kb);
        for (int64_t i = 0; i < n; i++) {
            above += key[i] > t;
        }
        for (int64_t i = 0, eq = k - above; i < n && m < k; i++) {
            if (key[i] > t || (key[i] == t && eq-- > 0)) {
                pos[m++] = (uint32_t)i;
            }
        }
    } else {
        uint32_t t = select_32(ka, n, n - k, job->isz);
        const uint32_t *key = kb;
        int64_t above = 0;
        job->load(x, job->sx, n, kb);
        for (int64_t i = 0; i < n; i++) {
            above += key[i] > t;
        }
        for (int64_t i = 0, eq = k - above; i < n && m < k; i++) {
            if (key[i] > t || (key[i] == t && eq-- > 0)) {
                pos[m++] = (uint32_t)i;
            }
        }
    }
    gather_row(x, job->sx, y, job->sy, pos, k, job->isz);
}

static void rows_fn(void *ctx, char *const *p, const int64_t *s, int64_t n)
{
    const sort_range *r = ctx;
    for (int64_t i = 0; i < n; i++) {
        char *y = p[0] + i * s[0];
        const char *x = p[1] + i * s[1];
        if (r->job->kind == JOB_TOPK) {
            topk_one(r, y, x);
        } else {
            sort_one(r, y, x);
        }
    }
}

static void range_fn(void *ctx, int64_t lo, int64_t hi)
{
    sort_job *job = ctx;
    kiln_buffer *b = kiln__buffer_new(job->scratch);
    if (!b) {
        atomic_store(&job->failed, 1);
        return;
    }
    sort_range r = {job, b->data};
    kiln__iter_range(&job->it, lo, hi, rows_fn, &r);
    kiln__buffer_release(b);
}

/* Sets up and runs a row job over x along ip's axis into y (allocated
 * here). */
static kiln_status run_rows(const kiln_node *n, kiln_array *x, kiln_array *y,
                            job_kind kind)
{
    const kiln_index_params *ip = n->params;
    const char *fn = n->prim->name;
    int64_t xs[KILN_MAX_NDIM], ys[KILN_MAX_NDIM];
    int64_t shape[KILN_MAX_NDIM], rx[KILN_MAX_NDIM], ry[KILN_MAX_NDIM];
    kiln_buffer *tmp = NULL;
    const char *xbase;
    sort_job job;
    int nd = 0;
    memset(&job, 0, sizeof job);
    atomic_init(&job.failed, 0);
    if (kiln__array_alloc(y, fn) != KILN_OK) {
        return kiln_errcode();
    }
    if (y->size == 0) {
        return KILN_OK;
    }
    job.kind = kind;
    job.isz = (int)kiln_dtype_size(x->dtype);
    job.wide = job.isz == 8;
    job.load = key_loaders[x->dtype];
    job.k = ip->k;
    kiln__array_byte_strides(y, ys);
    if (ip->flat) {
        xbase = flat_data(x, &tmp, fn);
        if (!xbase) {
            return kiln_errcode();
        }
        job.len = x->size;
        job.sx = job.isz;
        job.sy = ys[0];
    } else {
        int ax = ip->axis;
        xbase = kiln__array_ptr(x);
        kiln__array_byte_strides(x, xs);
        job.len = x->shape[ax];
        job.sx = xs[ax];
        job.sy = ys[ax];
        for (int d = 0; d < x->ndim; d++) {
            if (d != ax) {
                shape[nd] = x->shape[d];
                rx[nd] = xs[d];
                ry[nd] = ys[d];
                nd++;
            }
        }
    }
    char *base[2] = {kiln__array_ptr(y), (char *)xbase};
    const int64_t *strides[2] = {ry, rx};
    kiln__iter_init(&job.it, nd, shape, 2, base, strides);
    /* two uint64 arrays, plus two uint32 position arrays for wide keys
     * (sort_one, topk_one) */
    job.scratch = (size_t)job.len * (job.wide ? 24 : 16);
    /* a range should hold enough values to be worth a thread */
    int64_t grain = job.len >= 16384 ? 1 : 16384 / job.len;
    kiln__pool_for(job.it.size, grain, range_fn, &job);
    kiln__buffer_release(tmp);
    if (atomic_load(&job.failed)) {
        kiln__err_oom(fn, job.scratch);
        return kiln_errcode();
    }
    return KILN_OK;
}

kiln_status kiln__cpu_eval_sort(const kiln_node *n, kiln_array *const *in,
                                kiln_array *const *out)
{
    return run_rows(n, in[0], out[0], JOB_SORT);
}

kiln_status kiln__cpu_eval_argsort(const kiln_node *n, kiln_array *const *in,
                                   kiln_array *const *out)
{
    return run_rows(n, in[0], out[0], JOB_ARGSORT);
}

kiln_status kiln__cpu_eval_topk(const kiln_node *n, kiln_array *const *in,
                                kiln_array *const *out)
{
    return run_rows(n, in[0], out[0], JOB_TOPK);
}
