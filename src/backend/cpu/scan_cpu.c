/*
 * scan_cpu.c - eager loops for scans (cumsum cumprod cummax cummin): the
 * typed loops scan_cpu.h's kiln_scan_fns describes, stamped per (kind,
 * input dtype) from the dtype table in accum.h, and one driver for every
 * kind.
 *
 * The input is read contiguously (a strided input is first copied);
 * a scan along the last axis runs one sequential loop per line; along an
 * outer axis it keeps CB accumulators and walks the axis, vectorised across
 * the columns. Float scans accumulate in sequence (error grows like n ulp),
 * as numpy's and MLX's do. The output may reuse the input's buffer: every
 * loop reads x[i] before it writes y[i].
 */
#include "scan_cpu.h"

#include <string.h>

#include "../../core/error.h"
#include "../../runtime/pool.h"
#include "accum.h"
#include "copy_cpu.h"

/* ------------------------------------------------------------------ */
/* typed loops                                                        */
/* ------------------------------------------------------------------ */

/*
 * SCAN_LOOPS(name, t, ST, CT, LD, AT, ID, OPV, STORE, OT) stamps a scan's
 * two loops; e.g. cumsum over int8 accumulates in uint32 (wrapping) and
 * stores (int8_t)acc, which is the int8 wrapping sum. Each reads x[i]
 * before writing y[i], so y may be x.
 */
#define SCAN_LOOPS(name, t, ST, CT, LD, AT, ID, OPV, STORE, OT)              \
    static void line_##name(const char *x, int64_t sx, char *y,              \
                            int64_t sy, int64_t n, bool inclusive)           \
    {                                                                        \
        AT acc = (AT)(ID);                                                   \
        for (int64_t i = 0; i < n; i++) {                                    \
            CT v = LD(*(const ST *)(const void *)(x + i * sx));              \
            AT next = OPV(acc, v);                                           \
            *(OT *)(void *)(y + i * sy) = (OT)STORE(inclusive ? next : acc); \
            acc = next;                                                      \
        }                                                                    \
    }                                                                        \
    static void cols_##name(const char *x, int64_t sxr, char *y,             \
                            int64_t syr, int64_t n, int64_t nrows,           \
                            bool inclusive)                                  \
    {                                                                        \
        AT acc[CB];                                                          \
        CT tmp[CB];                                                          \
        for (int64_t j = 0; j < n; j++) {                                    \
            acc[j] = (AT)(ID);                                               \
        }                                                                    \
        for (int64_t r = 0; r < nrows; r++) {                                \
            OT *yr = (OT *)(void *)(y + r * syr);                            \
            cvt_row_##t(tmp, (const ST *)(const void *)(x + r * sxr), n);    \
            if (inclusive) {                                                 \
                for (int64_t j = 0; j < n; j++) {                            \
                    acc[j] = OPV(acc[j], tmp[j]);                            \
                    yr[j] = (OT)STORE(acc[j]);                               \
                }                                                            \
            } else {                                                         \
                for (int64_t j = 0; j < n; j++) {                            \
                    yr[j] = (OT)STORE(acc[j]);                               \
                    acc[j] = OPV(acc[j], tmp[j]);                            \
                }                                                            \
            }                                                                \
        }                                                                    \
    }

#define SFNS(name) {line_##name, cols_##name}

/* cumsum keeps the dtype except bool -> int32 (as MLX); cumprod keeps
 * every dtype (bool: logical and) */
#define CUMSUM_OT_BOOL(ST) int32_t
#define CUMSUM_OT_OTHER(ST) ST
#define CUMSUM_OT_UINT8 CUMSUM_OT_OTHER
#define CUMSUM_OT_UINT16 CUMSUM_OT_OTHER
#define CUMSUM_OT_UINT32 CUMSUM_OT_OTHER
#define CUMSUM_OT_UINT64 CUMSUM_OT_OTHER
#define CUMSUM_OT_INT8 CUMSUM_OT_OTHER
#define CUMSUM_OT_INT16 CUMSUM_OT_OTHER
#define CUMSUM_OT_INT32 CUMSUM_OT_OTHER
#define CUMSUM_OT_INT64 CUMSUM_OT_OTHER
#define CUMSUM_OT_FLOAT16 CUMSUM_OT_OTHER
#define CUMSUM_OT_BFLOAT16 CUMSUM_OT_OTHER
#define CUMSUM_OT_FLOAT32 CUMSUM_OT_OTHER
#define CUMSUM_OT_FLOAT64 CUMSUM_OT_OTHER
#define SCAN_SUM(DT, t, ST, c, CT, LD, SA, SO, SODT, TO, LO, HI, F, u)       \
    SCAN_LOOPS(cumsum_##t, t, ST, CT, LD, SA, 0, ADD_V, TO,                  \
               CUMSUM_OT_##DT(ST))                                           \
    SCAN_LOOPS(cumprod_##t, t, ST, CT, LD, SA, 1, MUL_V, TO, ST)             \
    SCAN_LOOPS(cummax_##t, t, ST, CT, LD, CT, LO, kiln_s_maximum_##c, TO,    \
               ST)                                                           \
    SCAN_LOOPS(cummin_##t, t, ST, CT, LD, CT, HI, kiln_s_minimum_##c, TO, ST)
DTYPES(SCAN_SUM, 0)

#define E_SFNS(DT, t, ST, c, CT, LD, SA, SO, SODT, TO, LO, HI, F, k)         \
    [KILN_DTYPE_##DT] = SFNS(k##_##t),

const kiln_scan_fns kiln__cpu_scan_cumsum[KILN_DTYPE_COUNT] = {
    DTYPES(E_SFNS, cumsum)};
const kiln_scan_fns kiln__cpu_scan_cumprod[KILN_DTYPE_COUNT] = {
    DTYPES(E_SFNS, cumprod)};
const kiln_scan_fns kiln__cpu_scan_cummax[KILN_DTYPE_COUNT] = {
    DTYPES(E_SFNS, cummax)};
const kiln_scan_fns kiln__cpu_scan_cummin[KILN_DTYPE_COUNT] = {
    DTYPES(E_SFNS, cummin)};

/* ------------------------------------------------------------------ */
/* driver                                                             */
/* ------------------------------------------------------------------ */

#define GRAIN (1 << 15) /* elements of work per thread range, at least */

static int64_t max64(int64_t a, int64_t b)
{
    return a > b ? a : b;
}

typedef struct scan_plan {
    const kiln_scan_fns *f;
    const char *x;
    char *y;
    int64_t isz, osz;
    int64_t L, M, nc; /* axis length, elements after it, column tasks */
    bool reverse, inclusive;
} scan_plan;

static void scan_lines(void *c, int64_t lo, int64_t hi)
{
    const scan_plan *sp = c;
    int64_t L = sp->L;
    for (int64_t o = lo; o < hi; o++) {
        const char *x = sp->x + o * L * sp->isz;
        char *y = sp->y + o * L * sp->osz;
        if (sp->reverse) {
            sp->f->line(x + (L - 1) * sp->isz, -sp->isz,
                        y + (L - 1) * sp->osz, -sp->osz, L, sp->inclusive);
        } else {
            sp->f->line(x, sp->isz, y, sp->osz, L, sp->inclusive);
        }
    }
}

static void scan_cols(void *c, int64_t lo, int64_t hi)
{
    const scan_plan *sp = c;
    int64_t L = sp->L;
    for (int64_t t = lo; t < hi; t++) {
        int64_t o = t / sp->nc, j0 = (t % sp->nc) * CB;
        int64_t n = sp->M - j0 < CB ? sp->M - j0 : CB;
        int64_t first = o * L * sp->M + j0, step = sp->M;
        if (sp->reverse) {
            first += (L - 1) * sp->M;
            step = -step;
        }
        sp->f->cols(sp->x + first * sp->isz, step * sp->isz,
                    sp->y + first * sp->osz, step * sp->osz, n, L,
                    sp->inclusive);
    }
}

kiln_status kiln__cpu_eval_scan(const kiln_node *n, kiln_array *const *in,
                                kiln_array *const *out)
{
    const kiln_scan_kind *k = n->prim->kernels;
    const kiln_scan_params *sp = n->params;
    const char *fn = n->prim->name;
    kiln_array *x = in[0], *y = out[0];
    kiln_buffer *tmp = NULL;
    scan_plan pl;
    bool contig = kiln__array_is_contiguous(x);
    if (!(contig && kiln__array_donate(y, x)) &&
        kiln__array_alloc(y, fn) != KILN_OK) {
        return kiln_errcode();
    }
    if (y->size == 0) {
        return KILN_OK;
    }
    pl.f = &k->cpu[x->dtype];
    pl.isz = (int64_t)kiln_dtype_size(x->dtype);
    pl.osz = (int64_t)kiln_dtype_size(y->dtype);
    pl.y = kiln__array_ptr(y);
    if (contig) {
        pl.x = kiln__array_ptr(x);
    } else {
        tmp = kiln__buffer_new((size_t)(x->size * pl.isz));
        if (!tmp) {
            return kiln__err_oom(fn, (size_t)(x->size * pl.isz));
        }
        kiln__cpu_copy_contig(x, tmp->data);
        pl.x = tmp->data;
    }
    int64_t outer = 1;
    pl.L = x->size;
    pl.M = 1;
    if (!sp->flat) {
        pl.L = x->shape[sp->axis];
        for (int i = 0; i < sp->axis; i++) {
            outer *= x->shape[i];
        }
        for (int i = sp->axis + 1; i < x->ndim; i++) {
            pl.M *= x->shape[i];
        }
    }
    pl.reverse = sp->reverse;
    pl.inclusive = sp->inclusive;
    if (pl.M == 1) {
        kiln__pool_for(outer, max64(1, GRAIN / pl.L), scan_lines, &pl);
    } else {
        pl.nc = (pl.M + CB - 1) / CB;
        kiln__pool_for(outer * pl.nc, max64(1, GRAIN / (pl.L * CB)),
                       scan_cols, &pl);
    }
    kiln__buffer_release(tmp);
    return KILN_OK;
}
