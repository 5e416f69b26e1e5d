/*
 * iter.c - dimension collapsing, loop ordering and range-split iteration
 * (see iter.h).
 *
 * kiln__iter_init keeps the caller's dim order: flat index i of the
 * iterator is the row-major position over the kept dims, which reductions
 * rely on (argmin/argmax count positions, partial sums are cut at fixed
 * flat indices). kiln__iter_range walks exactly that order.
 *
 * kiln__iter_run promises only that every element is visited once, so it
 * walks a private copy of the iterator in the order that is cheapest:
 *   1. dims are sorted like numpy's nditer: a dim moves inside another
 *      when every operand that moves along both steps less far along it
 *      (operands disagreeing, or broadcast along either, keep the order),
 *      then dims that became adjacent in memory are merged again;
 *   2. a short inner dim (a transposed (4M, 2) view has rows of 2: one
 *      indirect call and a strided loop per 2 elements) gives its place
 *      to a long dim where the operands step least, and the two are
 *      walked in tiles: TILE_ELEMS-element tiles of rows along the long
 *      dim, one row per index of the short dim, so each cache line an
 *      operand touches in the tile is used up before it is evicted;
 *   3. a transpose with a long inner dim (some operand steps a cache line
 *      or more per element along it but is contiguous along another long
 *      dim) is walked in TT x TT tiles of those two dims, as copy_cpu.c
 *      does for copies.
 * Rows then may have any stride for any operand, output included; every
 * row function handles that with its strided loop. With threads, ranges
 * of tiles (or of flat indices of the reordered copy) go to the pool.
 */
#include "iter.h"

#include <string.h>

#include "../../runtime/pool.h"

/* An inner dim shorter than this is replaced by a long dim when some
 * operand is strided along it (rows then run the kernels' slow strided
 * loop anyway, so only the per-row cost is at stake)... */
#define SHORT_ROW 64
/* ...and one shorter than this when every operand is unit-strided or
 * broadcast along it (rows then run the vectorised loops, which a
 * reordered walk gives up; a (N, k) slice of a (N, 64) float32 array ran
 * faster reordered up to k = 16, slower from k = 24 on). */
#define SHORT_UNIT_ROW 20
/* The replacing dim is at least this many times longer. */
#define LONG_FACTOR 8
/* Elements per tile when a short dim is walked under a long one. */
#define TILE_ELEMS 2048
/* A stride of a cache line or more: each element its own line. */
#define FAR_BYTES 64
/* A stride that packs at least 4 elements in a line. */
#define NEAR_BYTES 16
/* Tile side for transposes (copy_cpu.c found 32 the best of 8-64). */
#define TT 32

static int64_t abs64(int64_t v)
{
    return v < 0 ? -v : v;
}

/* Merges, in place, each dim into the kept dim before it when every
 * operand steps through both as one. */
static void merge_dims(kiln_iter *it)
{
    int nd = 0;
    for (int i = 0; i < it->nd; i++) {
        bool merge = nd > 0;
        for (int k = 0; k < it->nops && merge; k++) {
            merge = it->strides[k][nd - 1] ==
                    it->strides[k][i] * it->shape[i];
        }
        if (merge) {
            it->shape[nd - 1] *= it->shape[i];
            for (int k = 0; k < it->nops; k++) {
                it->strides[k][nd - 1] = it->strides[k][i];
            }
        } else {
            it->shape[nd] = it->shape[i];
            for (int k = 0; k < it->nops; k++) {
                it->strides[k][nd] = it->strides[k][i];
            }
            nd++;
        }
    }
    it->nd = nd;
}

void kiln__iter_init(kiln_iter *it, int ndim, const int64_t *shape, int nops,
                     char *const *base, const int64_t *const *strides)
{
    int nd = 0;
    it->nops = nops;
    it->size = 1;
    for (int k = 0; k < nops; k++) {
        it->base[k] = base[k];
    }
    for (int i = 0; i < ndim; i++) {
        it->size *= shape[i];
        if (shape[i] == 1) {
            continue;
        }
        it->shape[nd] = shape[i];
        for (int k = 0; k < nops; k++) {
            it->strides[k][nd] = strides[k][i];
        }
        nd++;
    }
    it->nd = nd;
    merge_dims(it);
    if (it->nd == 0) {
        it->shape[0] = 1;
        for (int k = 0; k < nops; k++) {
            it->strides[k][0] = 0;
        }
        it->nd = 1;
    }
}

void kiln__iter_range(const kiln_iter *it, int64_t lo, int64_t hi,
                      kiln_row_fn fn, void *ctx)
{
    int nd = it->nd;
    int64_t inner = it->shape[nd - 1];
    int64_t idx[KILN_MAX_NDIM];
    char *ptrs[KILN_ITER_MAX_OPS];
    int64_t rs[KILN_ITER_MAX_OPS];
    if (lo >= hi) {
        return;
    }
    /* multi-index of lo */
    int64_t r = lo;
    for (int i = nd - 1; i >= 0; i--) {
        idx[i] = r % it->shape[i];
        r /= it->shape[i];
    }
    for (int k = 0; k < it->nops; k++) {
        char *p = it->base[k];
        for (int i = 0; i < nd; i++) {
            p += idx[i] * it->strides[k][i];
        }
        ptrs[k] = p;
        rs[k] = it->strides[k][nd - 1];
    }
    int64_t pos = lo;
    while (pos < hi) {
        int64_t n = inner - idx[nd - 1];
        if (n > hi - pos) {
            n = hi - pos;
        }
        fn(ctx, ptrs, rs, n);
        pos += n;
        if (pos >= hi) {
            break;
        }
        /* advance to the start of the next row */
        for (int k = 0; k < it->nops; k++) {
            ptrs[k] += n * rs[k];
        }
        idx[nd - 1] += n;
        for (int i = nd - 1; i > 0 && idx[i] == it->shape[i]; i--) {
            for (int k = 0; k < it->nops; k++) {
                ptrs[k] -= idx[i] * it->strides[k][i];
                ptrs[k] += it->strides[k][i - 1];
            }
            idx[i] = 0;
            idx[i - 1]++;
        }
    }
}

/* ---------------------------------------------------------------------- */
/* Loop order for kiln__iter_run                                           */

/* A walk: the iterator in walking order, and how its two inner dims are
 * tiled. Dim a = nd - 1 is walked in rows of up to ta elements, one row per
 * index of dim b = nd - 2 inside a tile of tb such indices; ta == 0 means
 * no tiles (plain kiln__iter_range over flat indices). */
typedef struct walk {
    const kiln_iter *it;
    int64_t ta, tb;
    int64_t na, nb;  /* tiles along a and b */
    int64_t ntiles;  /* over every outer index too */
    kiln_row_fn fn;
    void *ctx;
} walk;

/* Whether the dim outer (now outside dim inner) should move inside it:
 * every operand that moves along both steps less far along outer, and
 * at least one does. */
static bool should_swap(const kiln_iter *it, int outer, int inner)
{
    bool vote = false;
    for (int k = 0; k < it->nops; k++) {
        int64_t so = abs64(it->strides[k][outer]);
        int64_t si = abs64(it->strides[k][inner]);
        if (so == 0 || si == 0 || so == si) {
            continue;
        }
        if (so > si) {
            return false;
        }
        vote = true;
    }
    return vote;
}

/* Rewrites the dims of it in the order perm[0] (outermost) ..
 * perm[nd - 1]. */
static void permute(kiln_iter *it, const int *perm)
{
    int64_t shape[KILN_MAX_NDIM], st[KILN_ITER_MAX_OPS][KILN_MAX_NDIM];
    int nd = it->nd;
    memcpy(shape, it->shape, sizeof shape);
    memcpy(st, it->strides, sizeof st);
    for (int i = 0; i < nd; i++) {
        it->shape[i] = shape[perm[i]];
        for (int k = 0; k < it->nops; k++) {
            it->strides[k][i] = st[k][perm[i]];
        }
    }
}

/* Step 1: the consensus sort (a stable insertion sort), then a merge. */
static void sort_dims(kiln_iter *it)
{
    int perm[KILN_MAX_NDIM];
    bool moved = false;
    for (int i = 0; i < it->nd; i++) {
        perm[i] = i;
    }
    for (int i = 1; i < it->nd; i++) {
        for (int j = i; j > 0 && should_swap(it, perm[j - 1], perm[j]);
             j--) {
            int t = perm[j - 1];
            perm[j - 1] = perm[j];
            perm[j] = t;
            moved = true;
        }
    }
    if (moved) {
        permute(it, perm);
        merge_dims(it);
    }
}

/* Moves dim d to position `to`, shifting the dims between. */
static void move_dim(kiln_iter *it, int d, int to)
{
    int perm[KILN_MAX_NDIM], n = 0;
    for (int i = 0; i < it->nd; i++) {
        if (i != d) {
            perm[n++] = i;
        }
    }
    for (int i = it->nd - 1; i > to; i--) {
        perm[i] = perm[i - 1];
    }
    perm[to] = d;
    permute(it, perm);
}

/* Step 2: a long dim to walk instead of a short inner one, or -1. */
static int pick_long_dim(const kiln_iter *it)
{
    int nd = it->nd, best = -1;
    int64_t inner = it->shape[nd - 1], best_cost = 0;
    int64_t limit = SHORT_UNIT_ROW;
    for (int k = 0; k < it->nops; k++) {
        int64_t s = it->strides[k][nd - 1];
        if (s < 0 || s > 8) {
            limit = SHORT_ROW; /* not a unit stride for any item size */
        }
    }
    if (inner >= limit) {
        return -1;
    }
    for (int d = 0; d < nd - 1; d++) {
        int64_t cost = 0;
        if (it->shape[d] < SHORT_ROW || it->shape[d] < LONG_FACTOR * inner) {
            continue;
        }
        for (int k = 0; k < it->nops; k++) {
            cost += abs64(it->strides[k][d]);
        }
        if (best < 0 || cost < best_cost ||
            (cost == best_cost && it->shape[d] > it->shape[best])) {
            best = d;
            best_cost = cost;
        }
    }
    return best;
}

/* Step 3: for a long inner dim along which some operand steps FAR_BYTES
 * or more, the long dim along which that operand is nearest (NEAR_BYTES at
 * most), or -1. */
static int pick_tile_dim(const kiln_iter *it)
{
    int nd = it->nd;
    if (it->shape[nd - 1] < TT) {
        return -1;
    }
    for (int k = 0; k < it->nops; k++) {
        int best = -1;
        if (abs64(it->strides[k][nd - 1]) < FAR_BYTES) {
            continue;
        }
        for (int d = 0; d < nd - 1; d++) {
            int64_t s = abs64(it->strides[k][d]);
            if (s == 0 || s > NEAR_BYTES || it->shape[d] < TT) {
                continue;
            }
            if (best < 0 || s < abs64(it->strides[k][best])) {
                best = d;
            }
        }
        if (best >= 0) {
            return best;
        }
    }
    return -1;
}

static void set_tiles(walk *w, int64_t ta, int64_t tb)
{
    int nd = w->it->nd;
    int64_t a = w->it->shape[nd - 1], b = w->it->shape[nd - 2];
    w->ta = ta < a ? ta : a;
    w->tb = tb < b ? tb : b;
    w->na = (a + w->ta - 1) / w->ta;
    w->nb = (b + w->tb - 1) / w->tb;
    w->ntiles = w->it->size / (a * b) * w->na * w->nb;
}

/* Writes to *own the dims of it (it->size > 0, it->nd > 1) in walking
 * order and fills w to walk them. */
static void plan_walk(walk *w, kiln_iter *own, const kiln_iter *it)
{
    int d;
    *own = *it;
    w->it = own;
    w->ta = 0;
    sort_dims(own);
    if (own->nd < 2) {
        return;
    }
    d = pick_long_dim(own);
    if (d >= 0) {
        /* the long dim inside, the short one just outside it */
        int64_t b = own->shape[own->nd - 1];
        move_dim(own, d, own->nd - 1);
        set_tiles(w, TILE_ELEMS / b > SHORT_ROW ? TILE_ELEMS / b : SHORT_ROW,
                  b);
        return;
    }
    d = pick_tile_dim(own);
    if (d >= 0) {
        move_dim(own, d, own->nd - 2);
        set_tiles(w, TT, TT);
    }
}

/* Tiles [lo, hi) of a tiled walk: tile t is tile (t / na) % nb along b and
 * t % na along a, at outer index t / (na * nb) (dims 0 .. nd - 3). */
static void walk_tiles(void *c, int64_t lo, int64_t hi)
{
    const walk *w = c;
    const kiln_iter *it = w->it;
    int nd = it->nd, nops = it->nops;
    int64_t a = it->shape[nd - 1], b = it->shape[nd - 2];
    char *p[KILN_ITER_MAX_OPS];
    int64_t rs[KILN_ITER_MAX_OPS];
    for (int k = 0; k < nops; k++) {
        rs[k] = it->strides[k][nd - 1];
    }
    for (int64_t t = lo; t < hi; t++) {
        int64_t o = t / (w->na * w->nb), r = t % (w->na * w->nb);
        int64_t b0 = r / w->na * w->tb, a0 = r % w->na * w->ta;
        int64_t b1 = b0 + w->tb < b ? b0 + w->tb : b;
        int64_t len = a0 + w->ta < a ? w->ta : a - a0;
        for (int k = 0; k < nops; k++) {
            p[k] = it->base[k] + b0 * it->strides[k][nd - 2] + a0 * rs[k];
        }
        for (int i = nd - 3; i >= 0; i--) {
            int64_t idx = o % it->shape[i];
            o /= it->shape[i];
            for (int k = 0; k < nops; k++) {
                p[k] += idx * it->strides[k][i];
            }
        }
        for (int64_t j = b0; j < b1; j++) {
            w->fn(w->ctx, p, rs, len);
            for (int k = 0; k < nops; k++) {
                p[k] += it->strides[k][nd - 2];
            }
        }
    }
}

static void walk_range(void *c, int64_t lo, int64_t hi)
{
    const walk *w = c;
    kiln__iter_range(w->it, lo, hi, w->fn, w->ctx);
}

void kiln__iter_run(const kiln_iter *it, int64_t grain, kiln_row_fn fn,
                    void *ctx)
{
    bool split = grain > 0 && it->size / 2 >= grain;
    kiln_iter own;
    walk w = {it, 0, 0, 0, 0, 0, fn, ctx};
    if (it->size == 0) {
        return;
    }
    if (it->nd > 1) {
        plan_walk(&w, &own, it);
    }
    if (w.ta == 0 && split) {
        kiln__pool_for(w.it->size, grain, walk_range, &w);
    } else if (w.ta == 0) {
        kiln__iter_range(w.it, 0, w.it->size, fn, ctx);
    } else if (split) {
        int64_t per = w.ta * w.tb;
        kiln__pool_for(w.ntiles, grain / per > 1 ? grain / per : 1,
                       walk_tiles, &w);
    } else {
        walk_tiles(&w, 0, w.ntiles);
    }
}
