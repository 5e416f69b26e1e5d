/*
 * test_iter.c - the strided iterator (src/backend/cpu/iter.c).
 *
 * Random layouts (up to 6 dims, sizes 0 and 1 included, broadcast zero
 * strides, negative strides, permuted and overlapping strides, 1 to 4
 * operands) are walked three ways and compared against a naive multi-index
 * walk done here: kiln__iter_range over random consecutive pieces of
 * [0, size) must visit every flat index once, in row-major order, with the
 * right address for every operand; kiln__iter_run (free to reorder and
 * tile, inline or on the pool) must visit every element once with the
 * right addresses. Operand 0 is laid out one-to-one (a permuted, possibly
 * reversed, contiguous layout) so that its address names the element.
 * Then kiln ops on transposed, sliced, reversed and broadcast views are
 * compared with the same ops on contiguous copies of the views.
 */
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/array.h"
#include "harness.h"
#include "iter.h"
#include "kiln.h"
#include "pool.h"

/* ------------------------------------------------------------------ */
/* random layouts                                                     */
/* ------------------------------------------------------------------ */

static uint64_t rng = 0x9E3779B97F4A7C15ull;

static uint64_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* Uniform in [lo, hi]. */
static int64_t rand_in(int64_t lo, int64_t hi)
{
    return lo + (int64_t)(next_rand() % (uint64_t)(hi - lo + 1));
}

typedef struct layout {
    int ndim, nops;
    int64_t size;
    int64_t shape[KILN_MAX_NDIM];
    int64_t st[KILN_ITER_MAX_OPS][KILN_MAX_NDIM]; /* bytes */
    char *buf[KILN_ITER_MAX_OPS];
    char *base[KILN_ITER_MAX_OPS];
    int64_t lo[KILN_ITER_MAX_OPS], hi[KILN_ITER_MAX_OPS]; /* offsets */
    int64_t *off[KILN_ITER_MAX_OPS]; /* off[k][i]: flat i's offset */
    int64_t esz0;                    /* operand 0's item size */
    int64_t *who;                    /* (off0 - lo0) / esz0 -> flat */
    atomic_int *hits;
    atomic_int bad;
    atomic_int rows;
    int ordered;  /* kiln__iter_range walks: flat indices in order */
    int64_t next; /* the next flat index expected when ordered */
} layout;

/* Fills st (bytes) with a contiguous layout of items of esz bytes over the
 * dims taken in a random order, each dim reversed with probability 1/3. */
static void permuted_contiguous(const layout *l, int64_t esz, int64_t *st)
{
    int perm[KILN_MAX_NDIM];
    for (int i = 0; i < l->ndim; i++) {
        perm[i] = i;
    }
    for (int i = l->ndim - 1; i > 0; i--) {
        int j = (int)rand_in(0, i);
        int t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
    int64_t step = esz;
    for (int i = l->ndim - 1; i >= 0; i--) {
        int d = perm[i];
        st[d] = rand_in(0, 2) == 0 ? -step : step;
        step *= l->shape[d] > 0 ? l->shape[d] : 1;
    }
}

/* Computes off[][] by a naive multi-index walk, sizes and fills the
 * buffers, and the who table. Returns 0 when out of memory. */
static int finish_layout(layout *l)
{
    int64_t idx[KILN_MAX_NDIM] = {0};
    int64_t n = l->size > 0 ? l->size : 1;
    for (int k = 0; k < l->nops; k++) {
        l->off[k] = malloc(sizeof(int64_t) * (size_t)n);
        l->lo[k] = 0;
        l->hi[k] = 0;
        if (!l->off[k]) {
            return 0;
        }
    }
    for (int64_t i = 0; i < l->size; i++) {
        for (int k = 0; k < l->nops; k++) {
            int64_t o = 0;
            for (int d = 0; d < l->ndim; d++) {
                o += idx[d] * l->st[k][d];
            }
            l->off[k][i] = o;
            l->lo[k] = o < l->lo[k] ? o : l->lo[k];
            l->hi[k] = o > l->hi[k] ? o : l->hi[k];
        }
        for (int d = l->ndim - 1; d >= 0; d--) {
            if (++idx[d] < l->shape[d]) {
                break;
            }
            idx[d] = 0;
        }
    }
    for (int k = 0; k < l->nops; k++) {
        l->buf[k] = malloc((size_t)(l->hi[k] - l->lo[k] + 16));
        if (!l->buf[k]) {
            return 0;
        }
        l->base[k] = l->buf[k] - l->lo[k];
    }
    l->who = malloc(sizeof(int64_t) * (size_t)n);
    l->hits = calloc((size_t)n, sizeof(atomic_int));
    if (!l->who || !l->hits) {
        return 0;
    }
    for (int64_t i = 0; i < l->size; i++) {
        l->who[(l->off[0][i] - l->lo[0]) / l->esz0] = i;
    }
    atomic_init(&l->bad, 0);
    atomic_init(&l->rows, 0);
    return 1;
}

static void free_layout(layout *l)
{
    for (int k = 0; k < l->nops; k++) {
        free(l->off[k]);
        free(l->buf[k]);
    }
    free(l->who);
    free(l->hits);
}

/* A random layout of at most max_size elements. */
static int random_layout(layout *l, int64_t max_size)
{
    static const int64_t eszs[4] = {1, 2, 4, 8};
    memset(l, 0, sizeof *l);
    l->ndim = (int)rand_in(0, 6);
    l->nops = (int)rand_in(1, KILN_ITER_MAX_OPS);
    l->size = 1;
    for (int d = 0; d < l->ndim; d++) {
        int64_t r = rand_in(0, 99), s;
        if (r < 3) {
            s = 0;
        } else if (r < 25) {
            s = 1;
        } else if (r < 85) {
            s = rand_in(2, 7);
        } else {
            s = rand_in(8, 80);
        }
        if (l->size * s > max_size) {
            s = 1;
        }
        l->shape[d] = s;
        l->size *= s;
    }
    l->esz0 = eszs[rand_in(0, 3)];
    permuted_contiguous(l, l->esz0, l->st[0]);
    for (int k = 1; k < l->nops; k++) {
        int64_t esz = eszs[rand_in(0, 3)];
        int kind = (int)rand_in(0, 2);
        if (kind == 0) {
            permuted_contiguous(l, esz, l->st[k]);
        }
        for (int d = 0; d < l->ndim; d++) {
            int64_t r = rand_in(0, 9);
            if (kind == 1 || (kind == 2 && r >= 5)) {
                l->st[k][d] = rand_in(-40, 40) * esz;
            }
            if (r == 0) {
                l->st[k][d] = 0; /* broadcast */
            }
        }
    }
    return finish_layout(l);
}

/* Row function: checks each element's addresses against the naive walk. */
static void check_row(void *ctx, char *const *p, const int64_t *s, int64_t n)
{
    layout *l = ctx;
    atomic_fetch_add(&l->rows, 1);
    if (n <= 0) {
        atomic_fetch_add(&l->bad, 1);
        return;
    }
    for (int64_t e = 0; e < n; e++) {
        int64_t o0 = (int64_t)(p[0] - l->base[0]) + e * s[0];
        if (o0 < l->lo[0] || o0 > l->hi[0] ||
            (o0 - l->lo[0]) % l->esz0 != 0) {
            atomic_fetch_add(&l->bad, 1);
            return;
        }
        int64_t i = l->who[(o0 - l->lo[0]) / l->esz0];
        if (l->off[0][i] != o0) {
            atomic_fetch_add(&l->bad, 1);
            return;
        }
        if (l->ordered && i != l->next++) {
            atomic_fetch_add(&l->bad, 1);
            return;
        }
        atomic_fetch_add_explicit(&l->hits[i], 1, memory_order_relaxed);
        for (int k = 1; k < l->nops; k++) {
            if ((int64_t)(p[k] - l->base[k]) + e * s[k] != l->off[k][i]) {
                atomic_fetch_add(&l->bad, 1);
                return;
            }
        }
    }
}

static void init_iter(kiln_iter *it, const layout *l)
{
    const int64_t *st[KILN_ITER_MAX_OPS];
    for (int k = 0; k < l->nops; k++) {
        st[k] = l->st[k];
    }
    kiln__iter_init(it, l->ndim, l->shape, l->nops, l->base, st);
}

/* Every element visited exactly once, no bad address; clears the hits. */
static int all_once(layout *l)
{
    int ok = atomic_load(&l->bad) == 0;
    for (int64_t i = 0; i < l->size; i++) {
        ok = ok && atomic_load(&l->hits[i]) == 1;
        atomic_store(&l->hits[i], 0);
    }
    atomic_store(&l->bad, 0);
    atomic_store(&l->rows, 0);
    return ok;
}

static void describe(const layout *l, char *buf, size_t cap)
{
    int n = snprintf(buf, cap, "nops=%d shape=(", l->nops);
    for (int d = 0; d < l->ndim && n > 0 && (size_t)n < cap; d++) {
        n += snprintf(buf + n, cap - (size_t)n, "%lld,",
                      (long long)l->shape[d]);
    }
    for (int k = 0; k < l->nops && n > 0 && (size_t)n < cap; k++) {
        n += snprintf(buf + n, cap - (size_t)n, ") st%d=(", k);
        for (int d = 0; d < l->ndim && n > 0 && (size_t)n < cap; d++) {
            n += snprintf(buf + n, cap - (size_t)n, "%lld,",
                          (long long)l->st[k][d]);
        }
    }
    if (n > 0 && (size_t)n < cap) {
        snprintf(buf + n, cap - (size_t)n, ")");
    }
}

/* Walks l with kiln__iter_range over random pieces, then kiln__iter_run
 * with a few grains; returns 1 when every walk was right. */
static int check_layout(layout *l)
{
    static const int64_t grains[] = {0, 1, 7, 64, KILN_GRAIN_ELEMENTWISE};
    char what[512];
    kiln_iter it;
    int ok = 1;
    init_iter(&it, l);
    if (it.size != l->size || it.nd < 1 || it.nd > (l->ndim > 0 ? l->ndim
                                                                : 1)) {
        CHECK_MSG(0, "init: size %lld nd %d", (long long)it.size, it.nd);
        return 0;
    }
    /* ranges, in order, cut at random points */
    l->ordered = 1;
    l->next = 0;
    for (int64_t lo = 0; lo < l->size;) {
        int64_t hi = lo + rand_in(1, l->size > 8 ? l->size / 3 + 1 : 2);
        hi = hi > l->size ? l->size : hi;
        kiln__iter_range(&it, lo, hi, check_row, l);
        lo = hi;
    }
    kiln__iter_range(&it, 3, 3, check_row, l); /* empty: no call */
    if (!all_once(l) || l->next != l->size) {
        describe(l, what, sizeof what);
        CHECK_MSG(0, "iter_range walk wrong: %s", what);
        ok = 0;
    }
    l->ordered = 0;
    for (size_t g = 0; g < sizeof grains / sizeof grains[0]; g++) {
        kiln__iter_run(&it, grains[g], check_row, l);
        if (!all_once(l)) {
            describe(l, what, sizeof what);
            CHECK_MSG(0, "iter_run grain %lld wrong: %s",
                      (long long)grains[g], what);
            ok = 0;
        }
    }
    return ok;
}

TEST(iter_random_layouts_match_naive_walk)
{
    int saved = kiln__pool_nthreads();
    kiln__pool_set_nthreads(2);
    for (int round = 0; round < 400; round++) {
        layout l;
        int made = random_layout(&l, round % 10 == 0 ? 20000 : 600);
        CHECK(made);
        if (made && !check_layout(&l)) {
            round = 400; /* one failure tells enough */
        }
        free_layout(&l);
    }
    kiln__pool_set_nthreads(saved);
}

/* Layouts picked to hit the reordering and tiling paths: transposes with
 * a short inner dim, square transposes, moved axes, slices, reversed and
 * broadcast operands. */
TEST(iter_reordered_and_tiled_walks)
{
    typedef struct {
        int ndim;
        int64_t shape[4];
        int perm[4];  /* operand 1 is operand 0's layout taken in this */
        int flip;     /* bit d: operand 1 reversed along dim d */
        int bcast;    /* bit d: operand 2 broadcast along dim d */
    } spec;
    static const spec specs[] = {
        {2, {3000, 2}, {1, 0}, 0, 0},
        {2, {3000, 2}, {1, 0}, 1, 2},
        {2, {700, 5}, {1, 0}, 2, 1},
        {2, {1000, 16}, {1, 0}, 0, 0},
        {2, {100, 130}, {1, 0}, 0, 0},
        {2, {70, 33}, {1, 0}, 3, 2},
        {3, {2, 90, 70}, {0, 2, 1}, 4, 1},
        {3, {90, 70, 2}, {2, 0, 1}, 0, 4},
        {3, {65, 3, 64}, {1, 2, 0}, 5, 2},
        {4, {3, 40, 2, 50}, {3, 2, 1, 0}, 8, 5},
    };
    int saved = kiln__pool_nthreads();
    kiln__pool_set_nthreads(2);
    for (size_t c = 0; c < sizeof specs / sizeof specs[0]; c++) {
        const spec *sp = &specs[c];
        layout l;
        memset(&l, 0, sizeof l);
        l.ndim = sp->ndim;
        l.nops = 3;
        l.size = 1;
        l.esz0 = 4;
        for (int d = 0; d < sp->ndim; d++) {
            l.shape[d] = sp->shape[d];
            l.size *= sp->shape[d];
        }
        /* operand 0 contiguous; operand 1 contiguous in perm order;
         * operand 2 a sliced (every 3rd item) layout, broadcast on some
         * dims */
        int64_t step = 4, step1 = 8;
        for (int d = sp->ndim - 1; d >= 0; d--) {
            l.st[0][d] = step;
            step *= l.shape[d];
        }
        for (int i = sp->ndim - 1; i >= 0; i--) {
            int d = sp->perm[i];
            l.st[1][d] = (sp->flip >> d & 1) ? -step1 : step1;
            step1 *= l.shape[d];
        }
        for (int d = 0; d < sp->ndim; d++) {
            l.st[2][d] = (sp->bcast >> d & 1) ? 0 : 3 * l.st[0][d];
        }
        CHECK(finish_layout(&l));
        check_layout(&l);
        free_layout(&l);
    }
    kiln__pool_set_nthreads(saved);
}

/* A (3000, 2) walk of a transposed operand runs in a few long rows, not
 * 3000 rows of 2. */
TEST(iter_short_inner_dim_walks_long_rows)
{
    layout l;
    kiln_iter it;
    memset(&l, 0, sizeof l);
    l.ndim = 2;
    l.nops = 2;
    l.shape[0] = 3000;
    l.shape[1] = 2;
    l.size = 6000;
    l.esz0 = 4;
    l.st[0][0] = 8;
    l.st[0][1] = 4;
    l.st[1][0] = 4;
    l.st[1][1] = 12000;
    CHECK(finish_layout(&l));
    init_iter(&it, &l);
    CHECK(it.nd == 2);
    kiln__iter_run(&it, 0, check_row, &l);
    int rows = atomic_load(&l.rows);
    CHECK_MSG(rows <= 16, "%d rows", rows);
    CHECK(all_once(&l));
    free_layout(&l);
}

TEST(iter_init_collapses_in_logical_order)
{
    /* (2, 3, 4) contiguous int32 collapses to one row */
    int64_t shape[3] = {2, 3, 4}, c[3] = {48, 16, 4}, t[3] = {4, 8, 24};
    int64_t b[3] = {0, 16, 4};
    char buf[256];
    char *base[2] = {buf, buf};
    const int64_t *st[2] = {c, c};
    kiln_iter it;
    kiln__iter_init(&it, 3, shape, 2, base, st);
    CHECK(it.nd == 1 && it.shape[0] == 24 && it.strides[0][0] == 4);
    /* a transposed operand keeps the caller's order (the output's) */
    st[1] = t;
    kiln__iter_init(&it, 3, shape, 2, base, st);
    CHECK(it.nd == 3 && it.shape[0] == 2 && it.shape[2] == 4);
    CHECK(it.strides[1][2] == 24 && it.strides[0][2] == 4);
    /* a broadcast dim merges where every operand allows */
    st[1] = b;
    kiln__iter_init(&it, 3, shape, 2, base, st);
    CHECK(it.nd == 2 && it.shape[0] == 2 && it.shape[1] == 12);
    /* size-1 dims drop; 0-d is one element */
    int64_t ones[2] = {1, 1};
    kiln__iter_init(&it, 2, ones, 2, base, st);
    CHECK(it.nd == 1 && it.shape[0] == 1 && it.size == 1);
    kiln__iter_init(&it, 0, shape, 2, base, st);
    CHECK(it.nd == 1 && it.size == 1 && it.strides[1][0] == 0);
}

/* ------------------------------------------------------------------ */
/* kiln ops on views                                                  */
/* ------------------------------------------------------------------ */

/* An array of shape and dtype dt whose values vary along every axis and
 * from call to call, so that a recycled buffer never holds the expected
 * results by chance (owned by the caller's scope). */
static kiln_array *ramp(const int64_t *shape, int ndim, kiln_dtype dt)
{
    static int salt;
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        n *= shape[i];
    }
    double *v = malloc(sizeof *v * (size_t)(n > 0 ? n : 1));
    for (int64_t i = 0; i < n; i++) {
        v[i] = (double)((i * 7919 + salt) % 1000) * 0.01 - 4.0;
    }
    salt += 17;
    kiln_array *d = kiln_array_from_data(v, shape, ndim, KILN_DTYPE_FLOAT64);
    kiln_array *a = kiln_astype(d, dt);
    free(v);
    CHECK(kiln_array_eval(a) == KILN_OK);
    return a;
}

/* A contiguous array with the values of the view v, gathered here by a
 * naive multi-index walk (not by kiln, whose copies use the iterator). */
static kiln_array *contig_copy(kiln_array *v)
{
    int64_t st[KILN_MAX_NDIM], idx[KILN_MAX_NDIM] = {0};
    int nd = kiln_array_ndim(v);
    const int64_t *shape = kiln_array_shape(v);
    size_t isz = kiln_array_itemsize(v);
    if (kiln_array_eval(v) != KILN_OK) {
        return NULL;
    }
    char *out = malloc(kiln_array_nbytes(v) + 1);
    const char *base = kiln__array_ptr(v);
    kiln__array_byte_strides(v, st);
    for (int64_t i = 0; i < kiln_array_size(v); i++) {
        const char *p = base;
        for (int d = 0; d < nd; d++) {
            p += idx[d] * st[d];
        }
        memcpy(out + (size_t)i * isz, p, isz);
        for (int d = nd - 1; d >= 0; d--) {
            if (++idx[d] < shape[d]) {
                break;
            }
            idx[d] = 0;
        }
    }
    kiln_array *c = kiln_array_from_data(out, shape, nd, kiln_array_dtype(v));
    free(out);
    return c;
}

/* y and z have the same shape, dtype and bytes. */
static int same(kiln_array *y, kiln_array *z)
{
    if (!y || !z || kiln_array_nbytes(y) != kiln_array_nbytes(z) ||
        kiln_array_ndim(y) != kiln_array_ndim(z) ||
        kiln_array_dtype(y) != kiln_array_dtype(z)) {
        return 0;
    }
    for (int i = 0; i < kiln_array_ndim(y); i++) {
        if (kiln_array_shape(y)[i] != kiln_array_shape(z)[i]) {
            return 0;
        }
    }
    const void *a = kiln_array_data(y), *b = kiln_array_data(z);
    return a && b && memcmp(a, b, kiln_array_nbytes(y)) == 0;
}

#define NOPS 6

/* The ops checked on views: op k of (a, b). */
static kiln_array *apply(int k, kiln_array *a, kiln_array *b)
{
    switch (k) {
    case 0:
        return kiln_add(a, b);
    case 1:
        return kiln_multiply(a, a);
    case 2:
        return kiln_exp(a);
    case 3:
        return kiln_sqrt(kiln_abs(b));
    case 4:
        return kiln_astype(a, KILN_DTYPE_FLOAT16);
    default:
        return kiln_where(kiln_less(a, b), a, b);
    }
}

/* Runs the ops on the views a and b, then on contiguous copies of them;
 * the results must be bitwise equal. */
static void check_ops(kiln_array *a, kiln_array *b, const char *what)
{
    kiln_array *y[NOPS];
    kiln_scope_begin();
    for (int k = 0; k < NOPS; k++) {
        y[k] = apply(k, a, b);
    }
    CHECK_MSG(kiln_eval(y, NOPS) == KILN_OK, "%s: eval", what);
    kiln_array *ca = contig_copy(a), *cb = contig_copy(b);
    CHECK_MSG(ca && cb, "%s: copies", what);
    for (int k = 0; k < NOPS; k++) {
        CHECK_MSG(same(y[k], apply(k, ca, cb)), "%s: op %d", what, k);
    }
    kiln_scope_end(NULL);
}

TEST(iter_ops_on_views_equal_contiguous)
{
    int saved = kiln_num_threads();
    for (int nt = 1; nt <= 2; nt++) {
        kiln_set_num_threads(nt);
        kiln_scope_begin();
        /* (2, 40000) -> (40000, 2): the short inner dim */
        kiln_array *x = ramp((int64_t[]){2, 40000}, 2, KILN_DTYPE_FLOAT32);
        kiln_array *xt = kiln_transpose(x, NULL, 0);
        check_ops(xt, xt, "x_T (40000,2)");
        /* square-ish transpose: tiles */
        kiln_array *s = ramp((int64_t[]){300, 257}, 2, KILN_DTYPE_FLOAT32);
        kiln_array *st = kiln_transpose(s, NULL, 0);
        kiln_array *s2 = ramp((int64_t[]){257, 300}, 2, KILN_DTYPE_FLOAT32);
        check_ops(st, s2, "s_T (257,300) + contiguous");
        /* reversed rows, every other column: negative and step strides */
        kiln_array *r = kiln_slice(s, (int64_t[]){KILN_SLICE_BEGIN, 0},
                                   (int64_t[]){KILN_SLICE_END, 257},
                                   (int64_t[]){-1, 2});
        kiln_array *r2 = ramp((int64_t[]){300, 129}, 2, KILN_DTYPE_FLOAT32);
        check_ops(r, r2, "reversed/stepped slice");
        /* broadcast column against broadcast row, 3-D moved axis */
        kiln_array *col = ramp((int64_t[]){5000, 1}, 2, KILN_DTYPE_FLOAT32);
        kiln_array *row = ramp((int64_t[]){1, 3}, 2, KILN_DTYPE_FLOAT32);
        kiln_array *bc = kiln_broadcast_to(col, (int64_t[]){5000, 3}, 2);
        kiln_array *br = kiln_broadcast_to(row, (int64_t[]){5000, 3}, 2);
        check_ops(bc, br, "broadcast (5000,1) vs (1,3)");
        kiln_array *m = ramp((int64_t[]){3, 80, 90}, 3, KILN_DTYPE_FLOAT64);
        kiln_array *mm = kiln_moveaxis(m, 0, -1);
        kiln_array *mt = kiln_transpose(m, (int[]){1, 2, 0}, 3);
        check_ops(mm, mt, "moveaxis (80,90,3)");
        kiln_scope_end(NULL);
    }
    kiln_set_num_threads(saved);
}
