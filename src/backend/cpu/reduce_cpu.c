/*
 * reduce_cpu.c - eager loops for reductions (sum prod max min all any
 * argmax argmin); the scans live in scan_cpu.c.
 *
 * Part 1 stamps, per (kind, input dtype), the typed loops that
 * reduce_cpu.h's kiln_reduce_fns describes (from the dtype table in
 * accum.h). Part 2 is one driver for every reduction kind.
 *
 * Reduction plan. The input's axes split into kept axes (the output's
 * order; the output is contiguous in it) and reduced axes. Both sets are
 * collapsed with the strided iterator (iter.h). Then one of two layouts:
 *   - row mode: each output reduces runs along the innermost reduced axis
 *     (for all kinds but argmin/argmax the reduced axes are first sorted
 *     so that the smallest stride is innermost). A contiguous run goes
 *     through a vectorised loop of 32 independent lanes;
 *   - column mode, when the last kept axis steps through memory faster than
 *     any reduced axis (e.g. axis 0 of a row-major (N, M) array): up to
 *     CB accumulators, one per output column, take whole rows at a time,
 *     vectorised along the row. Adjacent rows narrower than the lane count
 *     (M = 2, 4, 8, 16) are folded as one contiguous run whose lane l
 *     always holds column l % M.
 * argmin/argmax find each chunk's extreme with the vectorised max/min
 * loop and search a chunk only when its extreme beats the best so far.
 * float16 runs are converted in blocks by F16C where the compiler targets
 * it (half.h's portable conversion does not vectorise).
 * Work is split for the thread pool into tasks whose boundaries depend only
 * on shapes and strides, never on the thread count: outputs (row mode),
 * column blocks (column mode), and, for long reductions, blocks of the
 * reduced range whose partial results are combined afterwards by a fixed
 * pairwise tree. So a result is bit-identical for any number of threads.
 *
 * Accuracy of float sums (float16/bfloat16 accumulate in float32, float32
 * in float32, float64 in float64): a contiguous run is summed pairwise with
 * leaves of LEAF elements, each leaf in 32 lanes (so each lane adds at most
 * LEAF / 32 = 64 values in sequence) combined by a tree; runs longer than
 * ROW_BLOCK are cut into blocks combined by a tree. The worst-case relative
 * error is thus about (64 + log2 n) ulp instead of n ulp for a naive loop.
 * Several runs of one output (reduced axes that do not collapse into one)
 * are added in sequence. Column mode adds at most COL_ROWS rows in sequence
 * per block and combines blocks by a tree: about (COL_ROWS + log2 n) ulp.
 * Integer sums and products wrap in the output type; min/max propagate NaN;
 * argmin/argmax return the first extreme index, and the first NaN if any.
 */
#include "reduce_cpu.h"

#include <stdlib.h>
#include <string.h>

#include "../../core/error.h"
#include "../../runtime/pool.h"
#include "accum.h"
#include "iter.h"

/* ------------------------------------------------------------------ */
/* Part 1: typed loops                                                */
/* ------------------------------------------------------------------ */

#define NL 32    /* independent lanes in a contiguous run */
#define LEAF 2048 /* pairwise leaf of a run (elements) */


/* Element k of a run at x: contiguous (typed pointer p) or strided. */
#define AT_C(ST, k) (p[k])
#define AT_S(ST, k) (*(const ST *)(const void *)(x + (k) * s))

/* FOLD(t, ST, CT, LD, AT_K, OPV, acc, k, m): acc[l] op= element k + l for
 * l < m. Directly, which keeps acc in registers, or, for contiguous float16
 * with F16C, through a block converted by the hardware. */
#define FOLD_DIRECT(t, ST, CT, LD, AT_K, OPV, acc, k, m)                     \
    for (int64_t l = 0; l < (m); l++) {                                      \
        acc[l] = OPV(acc[l], LD(AT_K(ST, (k) + l)));                         \
    }
#define FOLD_BLOCK(t, ST, CT, LD, AT_K, OPV, acc, k, m)                      \
    {                                                                        \
        CT tmp_[CB];                                                         \
        cvt_row_##t(tmp_, &AT_K(ST, k), m);                                  \
        for (int64_t l = 0; l < (m); l++) {                                  \
            acc[l] = OPV(acc[l], tmp_[l]);                                   \
        }                                                                    \
    }
#define FOLD_C_ID_ FOLD_DIRECT
#define FOLD_C_BF16_LD FOLD_DIRECT
#if defined(__F16C__)
#define FOLD_C_F16_LD FOLD_BLOCK
#else
#define FOLD_C_F16_LD FOLD_DIRECT
#endif

/*
 * REDUCE_LOOPS(name, t, ST, CT, LD, AT, ID, OPV, OPA, STORE, OT) stamps
 * the five loops of a non-index reduction over dtype tag t. OPV(a, v) folds
 * a compute value into an accumulator, OPA(a, b) two accumulators;
 * STORE(a) converts an accumulator to the output type OT. For example sum
 * over float32,
 *   REDUCE_LOOPS(sum_f32, f32, float, float, ID_, float, 0, ADD_V, ...)
 * defines run_c_sum_f32 (pairwise over 32 lanes, vectorised), run_s_sum_f32
 * (the same order, strided), init_sum_f32, rows_sum_f32, cols_sum_f32,
 * merge_sum_f32 and store_sum_f32. A run shorter than NL folds in
 * sequence, which is what the lanes would compute for it.
 */
#define RUN_FN(fname, t, ST, CT, AT, LD, ID, OPV, OPA, PTR, AT_K, FOLD)      \
    static AT fname(const char *x, int64_t s, int64_t n)                     \
    {                                                                        \
        if (n > LEAF) {                                                      \
            int64_t h = (n / 2) / NL * NL;                                   \
            AT lo = fname(x, s, h);                                          \
            return OPA(lo, fname(x + h * s, s, n - h));                      \
        }                                                                    \
        PTR;                                                                 \
        AT t_ = (AT)(ID);                                                    \
        if (n < NL) {                                                        \
            for (int64_t i = 0; i < n; i++) {                                \
                t_ = OPV(t_, LD(AT_K(ST, i)));                               \
            }                                                                \
            return t_;                                                       \
        }                                                                    \
        AT acc[NL];                                                          \
        for (int l = 0; l < NL; l++) {                                       \
            acc[l] = (AT)(ID);                                               \
        }                                                                    \
        int64_t nfull = n / NL * NL;                                         \
        for (int64_t i = 0; i < nfull; i += NL) {                            \
            FOLD(t, ST, CT, LD, AT_K, OPV, acc, i, NL);                      \
        }                                                                    \
        for (int64_t i = nfull; i < n; i++) {                                \
            t_ = OPV(t_, LD(AT_K(ST, i)));                                   \
        }                                                                    \
        for (int w = NL / 2; w > 0; w /= 2) {                                \
            for (int l = 0; l < w; l++) {                                    \
                acc[l] = OPA(acc[l], acc[l + w]);                            \
            }                                                                \
        }                                                                    \
        return OPA(acc[0], t_);                                              \
    }

#define REDUCE_LOOPS(name, t, ST, CT, LD, AT, ID, OPV, OPA, STORE, OT)       \
    RUN_FN(run_c_##name, t, ST, CT, AT, LD, ID, OPV, OPA,                    \
           const ST *p = (const ST *)(const void *)x;                        \
           (void)s, AT_C, FOLD_C_##LD)                                       \
    RUN_FN(run_s_##name, t, ST, CT, AT, LD, ID, OPV, OPA, (void)0, AT_S,     \
           FOLD_DIRECT)                                                      \
    static void init_##name(void *accv, int64_t *idx, int64_t n)             \
    {                                                                        \
        AT *acc = accv;                                                      \
        (void)idx;                                                           \
        for (int64_t j = 0; j < n; j++) {                                    \
            acc[j] = (AT)(ID);                                               \
        }                                                                    \
    }                                                                        \
    static void rows_##name(void *accv, int64_t *idx, const char *x,         \
                            int64_t s, int64_t n, int64_t rs,                \
                            int64_t nrows, int64_t pos)                      \
    {                                                                        \
        AT *acc = accv;                                                      \
        (void)idx;                                                           \
        (void)pos;                                                           \
        if (n < NL) {                                                        \
            /* short runs inline: what run_* computes for them */            \
            for (int64_t r = 0; r < nrows; r++) {                            \
                const char *xr = x + r * rs;                                 \
                AT t_ = (AT)(ID);                                            \
                for (int64_t i = 0; i < n; i++) {                            \
                    ST v = *(const ST *)(const void *)(xr + i * s);          \
                    t_ = OPV(t_, LD(v));                                     \
                }                                                            \
                acc[r] = OPA(acc[r], t_);                                    \
            }                                                                \
        } else if (s == (int64_t)sizeof(ST)) {                               \
            for (int64_t r = 0; r < nrows; r++) {                            \
                acc[r] = OPA(acc[r], run_c_##name(x + r * rs, s, n));        \
            }                                                                \
        } else {                                                             \
            for (int64_t r = 0; r < nrows; r++) {                            \
                acc[r] = OPA(acc[r], run_s_##name(x + r * rs, s, n));        \
            }                                                                \
        }                                                                    \
    }                                                                        \
    /* n <= CB; a local copy keeps acc apart from x for the compiler */      \
    static void cols_##name(void *accv, int64_t *idx, const char *x,         \
                            int64_t s, int64_t n, int64_t rs,                \
                            int64_t nrows, int64_t pos)                      \
    {                                                                        \
        AT loc[CB];                                                          \
        (void)idx;                                                           \
        (void)pos;                                                           \
        memcpy(loc, accv, sizeof(AT) * (size_t)n);                           \
        if (s == (int64_t)sizeof(ST) && rs == n * s && NL % n == 0 &&        \
            nrows * n >= 2 * NL) {                                           \
            /* adjacent narrow rows: one contiguous run whose lane l */      \
            /* always holds column l % n */                                  \
            const ST *p = (const ST *)(const void *)x;                       \
            int64_t total = nrows * n, nfull = total / NL * NL;              \
            AT lanes[NL];                                                    \
            for (int l = 0; l < NL; l++) {                                   \
                lanes[l] = (AT)(ID);                                         \
            }                                                                \
            for (int64_t i = 0; i < nfull; i += NL) {                        \
                FOLD_C_##LD(t, ST, CT, LD, AT_C, OPV, lanes, i, NL);         \
            }                                                                \
            for (int l = 0; l < NL; l++) {                                   \
                loc[l % n] = OPA(loc[l % n], lanes[l]);                      \
            }                                                                \
            for (int64_t e = nfull; e < total; e++) {                        \
                loc[e % n] = OPV(loc[e % n], LD(p[e]));                      \
            }                                                                \
        } else if (s == (int64_t)sizeof(ST)) {                               \
            for (int64_t r = 0; r < nrows; r++) {                            \
                const ST *p = (const ST *)(const void *)(x + r * rs);        \
                FOLD_C_##LD(t, ST, CT, LD, AT_C, OPV, loc, 0, n);            \
            }                                                                \
        } else {                                                             \
            for (int64_t r = 0; r < nrows; r++) {                            \
                const char *xr = x + r * rs;                                 \
                for (int64_t j = 0; j < n; j++) {                            \
                    ST v = *(const ST *)(const void *)(xr + j * s);          \
                    loc[j] = OPV(loc[j], LD(v));                             \
                }                                                            \
            }                                                                \
        }                                                                    \
        memcpy(accv, loc, sizeof(AT) * (size_t)n);                           \
    }                                                                        \
    static void merge_##name(void *accv, int64_t *idx, const void *bv,       \
                             const int64_t *bidx, int64_t n)                 \
    {                                                                        \
        AT *acc = accv;                                                      \
        const AT *b = bv;                                                    \
        (void)idx;                                                           \
        (void)bidx;                                                          \
        for (int64_t j = 0; j < n; j++) {                                    \
            acc[j] = OPA(acc[j], b[j]);                                      \
        }                                                                    \
    }                                                                        \
    static void store_##name(char *out, const void *accv,                    \
                             const int64_t *idx, int64_t n)                  \
    {                                                                        \
        const AT *acc = accv;                                                \
        OT *y = (OT *)(void *)out;                                           \
        (void)idx;                                                           \
        for (int64_t j = 0; j < n; j++) {                                    \
            y[j] = (OT)STORE(acc[j]);                                        \
        }                                                                    \
    }

#define FNS(name, AT)                                                        \
    {                                                                        \
        sizeof(AT), init_##name, rows_##name, cols_##name, merge_##name,     \
            store_##name                                                     \
    }

/* sum and prod: accumulate in SA, store as SO */
#define SUM_LOOPS(DT, t, ST, c, CT, LD, SA, SO, SODT, TO, LO, HI, F, u)      \
    REDUCE_LOOPS(sum_##t, t, ST, CT, LD, SA, 0, ADD_V, ADD_V, TO, SO)        \
    REDUCE_LOOPS(prod_##t, t, ST, CT, LD, SA, 1, MUL_V, MUL_V, TO, SO)
DTYPES(SUM_LOOPS, 0)

/* max and min: accumulate in CT with scalar.h's NaN-propagating
 * maximum/minimum */
#define MAX_LOOPS(DT, t, ST, c, CT, LD, SA, SO, SODT, TO, LO, HI, F, u)      \
    REDUCE_LOOPS(max_##t, t, ST, CT, LD, CT, LO, kiln_s_maximum_##c,         \
                 kiln_s_maximum_##c, TO, ST)                                 \
    REDUCE_LOOPS(min_##t, t, ST, CT, LD, CT, HI, kiln_s_minimum_##c,         \
                 kiln_s_minimum_##c, TO, ST)
DTYPES(MAX_LOOPS, 0)

/* all and any: uint8 accumulators of (x != 0) */
#define AND_V(a, v) ((kiln_b)((a) & ((v) != 0)))
#define OR_V(a, v) ((kiln_b)((a) | ((v) != 0)))
#define AND_A(a, b) ((kiln_b)((a) & (b)))
#define OR_A(a, b) ((kiln_b)((a) | (b)))
#define ALL_LOOPS(DT, t, ST, c, CT, LD, SA, SO, SODT, TO, LO, HI, F, u)      \
    REDUCE_LOOPS(all_##t, t, ST, CT, LD, kiln_b, 1, AND_V, AND_A, ID_,       \
                 kiln_b)                                                     \
    REDUCE_LOOPS(any_##t, t, ST, CT, LD, kiln_b, 0, OR_V, OR_A, ID_, kiln_b)
DTYPES(ALL_LOOPS, 0)

/*
 * argmax/argmin: a value (CT) and an index per accumulator. `better(v, b)`
 * is strict, so the first extreme wins; for floats a NaN beats any number
 * and nothing beats a NaN, so the first NaN wins. An index of -1 means
 * empty: the first element seen is taken as is.
 */
#define BETTER_argmax_0(v, b) ((v) > (b))
#define BETTER_argmin_0(v, b) ((v) < (b))
#define BETTER_argmax_1(v, b) ((v) > (b) || ((v) != (v) && (b) == (b)))
#define BETTER_argmin_1(v, b) ((v) < (b) || ((v) != (v) && (b) == (b)))
/* v is the value m a chunk's max/min found (a NaN for a NaN) */
#define SAME_0(v, m) ((v) == (m))
#define SAME_1(v, m) ((v) == (m) || ((v) != (v) && (m) != (m)))
#define ARG_CHUNK 1024

/* A contiguous run goes by chunks: the chunk's extreme m comes from the
 * vectorised max/min run (RUNX, which propagates NaN); only when m beats
 * the best so far is the chunk searched for m's first position. */
#define ARG_LOOPS_K(name, t, ST, CT, LD, BETTER, SAME, RUNX)                 \
    static void init_##name(void *accv, int64_t *idx, int64_t n)             \
    {                                                                        \
        CT *acc = accv;                                                      \
        for (int64_t j = 0; j < n; j++) {                                    \
            acc[j] = 0;                                                      \
            idx[j] = -1;                                                     \
        }                                                                    \
    }                                                                        \
    static void rows_##name(void *accv, int64_t *idx, const char *x,         \
                            int64_t s, int64_t n, int64_t rs,                \
                            int64_t nrows, int64_t pos)                      \
    {                                                                        \
        CT *acc = accv;                                                      \
        bool contig = s == (int64_t)sizeof(ST);                              \
        for (int64_t r = 0; r < nrows; r++) {                                \
            const char *xr = x + r * rs;                                     \
            CT best = acc[r];                                                \
            int64_t bi = idx[r], i = 0;                                      \
            for (; contig && i + ARG_CHUNK <= n; i += ARG_CHUNK) {           \
                const ST *p = (const ST *)(const void *)xr + i;              \
                CT m = RUNX((const char *)p, s, ARG_CHUNK);                  \
                if (bi < 0 || BETTER(m, best)) {                             \
                    int64_t j = 0;                                           \
                    while (j < ARG_CHUNK - 1 && !SAME(LD(p[j]), m)) {        \
                        j++;                                                 \
                    }                                                        \
                    best = LD(p[j]);                                         \
                    bi = pos + i + j;                                        \
                }                                                            \
            }                                                                \
            if (bi < 0 && i < n) {                                           \
                best = LD(*(const ST *)(const void *)(xr + i * s));          \
                bi = pos + i;                                                \
                i++;                                                         \
            }                                                                \
            for (; i < n; i++) {                                             \
                CT v = LD(*(const ST *)(const void *)(xr + i * s));          \
                if (BETTER(v, best)) {                                       \
                    best = v;                                                \
                    bi = pos + i;                                            \
                }                                                            \
            }                                                                \
            acc[r] = best;                                                   \
            idx[r] = bi;                                                     \
        }                                                                    \
    }                                                                        \
    static void cols_##name(void *accv, int64_t *idx, const char *x,         \
                            int64_t s, int64_t n, int64_t rs,                \
                            int64_t nrows, int64_t pos)                      \
    {                                                                        \
        CT *acc = accv;                                                      \
        CT loc[CB], tmp[CB];                                                 \
        int64_t li[CB];                                                      \
        int64_t r = 0;                                                       \
        if (nrows > 0 && idx[0] < 0) {                                       \
            /* columns start together: the first row is the best yet */      \
            cvt_str_##t(loc, x, s, n);                                       \
            for (int64_t j = 0; j < n; j++) {                                \
                li[j] = pos;                                                 \
            }                                                                \
            r = 1;                                                           \
        } else {                                                             \
            memcpy(loc, acc, sizeof(CT) * (size_t)n);                        \
            memcpy(li, idx, sizeof(int64_t) * (size_t)n);                    \
        }                                                                    \
        for (; r < nrows; r++) {                                             \
            if (s == (int64_t)sizeof(ST)) {                                  \
                cvt_row_##t(tmp, (const ST *)(const void *)(x + r * rs), n); \
            } else {                                                         \
                cvt_str_##t(tmp, x + r * rs, s, n);                          \
            }                                                                \
            for (int64_t j = 0; j < n; j++) {                                \
                bool b = BETTER(tmp[j], loc[j]);                             \
                loc[j] = b ? tmp[j] : loc[j];                                \
                li[j] = b ? pos + r : li[j];                                 \
            }                                                                \
        }                                                                    \
        if (nrows > 0) {                                                     \
            memcpy(acc, loc, sizeof(CT) * (size_t)n);                        \
            memcpy(idx, li, sizeof(int64_t) * (size_t)n);                    \
        }                                                                    \
    }                                                                        \
    static void merge_##name(void *accv, int64_t *idx, const void *bv,       \
                             const int64_t *bidx, int64_t n)                 \
    {                                                                        \
        CT *acc = accv;                                                      \
        const CT *b = bv;                                                    \
        for (int64_t j = 0; j < n; j++) {                                    \
            if (bidx[j] >= 0 && (idx[j] < 0 || BETTER(b[j], acc[j]))) {      \
                acc[j] = b[j];                                               \
                idx[j] = bidx[j];                                            \
            }                                                                \
        }                                                                    \
    }                                                                        \
    static void store_##name(char *out, const void *accv,                    \
                             const int64_t *idx, int64_t n)                  \
    {                                                                        \
        uint32_t *y = (uint32_t *)(void *)out;                               \
        (void)accv;                                                          \
        for (int64_t j = 0; j < n; j++) {                                    \
            y[j] = (uint32_t)idx[j];                                         \
        }                                                                    \
    }
#define ARG_LOOPS(DT, t, ST, c, CT, LD, SA, SO, SODT, TO, LO, HI, F, u)      \
    ARG_LOOPS_K(argmax_##t, t, ST, CT, LD, BETTER_argmax_##F, SAME_##F,      \
                run_c_max_##t)                                               \
    ARG_LOOPS_K(argmin_##t, t, ST, CT, LD, BETTER_argmin_##F, SAME_##F,      \
                run_c_min_##t)
DTYPES(ARG_LOOPS, 0)
/* The loop tables, one entry per input dtype (prim/reduce.c pairs each
 * with its kind's dtype rule). */
#define E_FNS_SA(DT, t, ST, c, CT, LD, SA, SO, SODT, TO, LO, HI, F, k)       \
    [KILN_DTYPE_##DT] = FNS(k##_##t, SA),
#define E_FNS_CT(DT, t, ST, c, CT, LD, SA, SO, SODT, TO, LO, HI, F, k)       \
    [KILN_DTYPE_##DT] = FNS(k##_##t, CT),
#define E_FNS_B(DT, t, ST, c, CT, LD, SA, SO, SODT, TO, LO, HI, F, k)        \
    [KILN_DTYPE_##DT] = FNS(k##_##t, kiln_b),

const kiln_reduce_fns kiln__cpu_reduce_sum[KILN_DTYPE_COUNT] = {
    DTYPES(E_FNS_SA, sum)};
const kiln_reduce_fns kiln__cpu_reduce_prod[KILN_DTYPE_COUNT] = {
    DTYPES(E_FNS_SA, prod)};
const kiln_reduce_fns kiln__cpu_reduce_max[KILN_DTYPE_COUNT] = {
    DTYPES(E_FNS_CT, max)};
const kiln_reduce_fns kiln__cpu_reduce_min[KILN_DTYPE_COUNT] = {
    DTYPES(E_FNS_CT, min)};
const kiln_reduce_fns kiln__cpu_reduce_all[KILN_DTYPE_COUNT] = {
    DTYPES(E_FNS_B, all)};
const kiln_reduce_fns kiln__cpu_reduce_any[KILN_DTYPE_COUNT] = {
    DTYPES(E_FNS_B, any)};
const kiln_reduce_fns kiln__cpu_reduce_argmax[KILN_DTYPE_COUNT] = {
    DTYPES(E_FNS_CT, argmax)};
const kiln_reduce_fns kiln__cpu_reduce_argmin[KILN_DTYPE_COUNT] = {
    DTYPES(E_FNS_CT, argmin)};

/* ------------------------------------------------------------------ */
/* Part 2: drivers                                                    */
/* ------------------------------------------------------------------ */

#define ROW_BLOCK (1 << 16) /* reduced elements per block in row mode */
#define COL_ROWS 1024       /* most rows per block in column mode */
#define GRAIN (1 << 15)     /* elements of work per thread range, at least */
#define ACC_MAX 8           /* largest accumulator, bytes */

typedef struct plan {
    const kiln_reduce_fns *f;
    kiln_iter kept;  /* kept axes; operand 0 the output, 1 the input */
    kiln_iter red;   /* reduced axes; operand 0 the input */
    kiln_iter outer; /* column mode: kept axes but the last */
    int64_t O, R;    /* outputs, reduced elements per output */
    bool col;
    int64_t M, sm;   /* column mode: last kept axis length, input stride */
    int64_t W, nc;   /* column mode: columns per task, tasks per outer */
    int64_t nb, bsz; /* blocks per output (or column task), their size */
    char *pacc;      /* partials of blocks when nb > 1 */
    int64_t *pidx;
} plan;

typedef struct walk {
    const plan *pl;
    void *acc;
    int64_t *idx;
    int64_t pos; /* flat reduced index of the next run */
    int64_t n;   /* column mode: columns */
} walk;

static void walk_row(void *c, char *const *p, const int64_t *s, int64_t n)
{
    walk *w = c;
    const plan *pl = w->pl;
    if (pl->col) {
        pl->f->cols(w->acc, w->idx, p[0], pl->sm, w->n, s[0], n, w->pos);
    } else {
        pl->f->rows(w->acc, w->idx, p[0], s[0], n, 0, 1, w->pos);
    }
    w->pos += n;
}

/* Folds reduced elements [r0, r1) starting at input address base into
 * w's accumulators. red is the caller's private copy of pl->red. */
static void walk_range(kiln_iter *red, char *base, int64_t r0, int64_t r1,
                       walk *w)
{
    if (r0 >= r1) {
        return;
    }
    w->pos = r0;
    if (red->nd == 1) {
        char *p = base + r0 * red->strides[0][0];
        walk_row(w, &p, red->strides[0], r1 - r0);
        return;
    }
    red->base[0] = base;
    kiln__iter_range(red, r0, r1, walk_row, w);
}

/* The operand addresses of flat index i of an iterator. */
static void grab_row(void *c, char *const *p, const int64_t *s, int64_t n)
{
    char **dst = c;
    (void)s;
    (void)n;
    dst[0] = p[0];
    dst[1] = p[1];
}

static void locate(const kiln_iter *it, int64_t i, char **ptrs)
{
    kiln__iter_range(it, i, i + 1, grab_row, ptrs);
}

/* Combines nb blocks of n accumulators (block stride n) by a pairwise tree
 * into block 0. */
static void tree_merge(const kiln_reduce_fns *f, char *acc, int64_t *idx,
                       int64_t nb, int64_t n)
{
    size_t asz = f->acc_size;
    for (int64_t w = 1; w < nb; w *= 2) {
        for (int64_t b = 0; b + w < nb; b += 2 * w) {
            f->merge(acc + (size_t)(b * n) * asz, idx + b * n,
                     acc + (size_t)((b + w) * n) * asz, idx + (b + w) * n,
                     n);
        }
    }
}

/* Row mode, one block per output: n consecutive outputs of the kept
 * iterator at p[0] (output) and p[1] (input). */
static void row_outputs(void *c, char *const *p, const int64_t *s,
                        int64_t n)
{
    const plan *pl = c;
    const kiln_reduce_fns *f = pl->f;
    _Alignas(64) char acc[CB * ACC_MAX];
    int64_t idx[CB];
    kiln_iter red;
    walk w = {pl, NULL, NULL, 0, 0};
    if (pl->red.nd > 1) {
        red = pl->red;
    }
    for (int64_t o = 0; o < n; o += CB) {
        int64_t m = n - o < CB ? n - o : CB;
        char *x = p[1] + o * s[1];
        f->init(acc, idx, m);
        if (pl->red.nd == 1) {
            f->rows(acc, idx, x, pl->red.strides[0][0], pl->R, s[1], m, 0);
        } else {
            for (int64_t i = 0; i < m; i++) {
                w.acc = acc + (size_t)i * f->acc_size;
                w.idx = idx + i;
                walk_range(&red, x + i * s[1], 0, pl->R, &w);
            }
        }
        f->store(p[0] + o * s[0], acc, idx, m);
    }
}

static void row_range(void *c, int64_t lo, int64_t hi)
{
    const plan *pl = c;
    kiln__iter_range(&pl->kept, lo, hi, row_outputs, c);
}

/* Row mode with blocks: task t is block t % nb of output t / nb. */
static void row_block_range(void *c, int64_t lo, int64_t hi)
{
    const plan *pl = c;
    kiln_iter red = pl->red;
    walk w = {pl, NULL, NULL, 0, 0};
    for (int64_t t = lo; t < hi; t++) {
        int64_t o = t / pl->nb, b = t % pl->nb;
        int64_t r0 = b * pl->bsz;
        int64_t r1 = r0 + pl->bsz < pl->R ? r0 + pl->bsz : pl->R;
        char *ptrs[2];
        locate(&pl->kept, o, ptrs);
        w.acc = pl->pacc + (size_t)t * pl->f->acc_size;
        w.idx = pl->pidx + t;
        pl->f->init(w.acc, w.idx, 1);
        walk_range(&red, ptrs[1], r0, r1, &w);
    }
}

static void row_combine_range(void *c, int64_t lo, int64_t hi)
{
    const plan *pl = c;
    size_t asz = pl->f->acc_size;
    for (int64_t o = lo; o < hi; o++) {
        char *acc = pl->pacc + (size_t)(o * pl->nb) * asz;
        int64_t *idx = pl->pidx + o * pl->nb;
        char *ptrs[2];
        tree_merge(pl->f, acc, idx, pl->nb, 1);
        locate(&pl->kept, o, ptrs);
        pl->f->store(ptrs[0], acc, idx, 1);
    }
}

/* Column mode: task t is block t % nb of column task q = t / nb, which is
 * columns [j0, j0 + W) (j0 = (q % nc) * CB) of outer index q / nc. With
 * one block the task stores its result; otherwise it writes partials. */
static void col_range(void *c, int64_t lo, int64_t hi)
{
    const plan *pl = c;
    const kiln_reduce_fns *f = pl->f;
    _Alignas(64) char accbuf[CB * ACC_MAX];
    int64_t idxbuf[CB];
    kiln_iter red = pl->red;
    walk w = {pl, NULL, NULL, 0, 0};
    for (int64_t t = lo; t < hi; t++) {
        int64_t q = t / pl->nb, b = t % pl->nb;
        int64_t j0 = (q % pl->nc) * CB;
        int64_t n = pl->M - j0 < CB ? pl->M - j0 : CB;
        int64_t r0 = b * pl->bsz;
        int64_t r1 = r0 + pl->bsz < pl->R ? r0 + pl->bsz : pl->R;
        char *ptrs[2];
        locate(&pl->outer, q / pl->nc, ptrs);
        if (pl->nb == 1) {
            w.acc = accbuf;
            w.idx = idxbuf;
        } else {
            w.acc = pl->pacc + (size_t)(t * pl->W) * f->acc_size;
            w.idx = pl->pidx + t * pl->W;
        }
        w.n = n;
        f->init(w.acc, w.idx, n);
        walk_range(&red, ptrs[1] + j0 * pl->sm, r0, r1, &w);
        if (pl->nb == 1) {
            f->store(ptrs[0] + j0 * (int64_t)(pl->kept.strides[0][
                                        pl->kept.nd - 1]),
                     w.acc, w.idx, n);
        }
    }
}

static void col_combine_range(void *c, int64_t lo, int64_t hi)
{
    const plan *pl = c;
    size_t asz = pl->f->acc_size;
    int64_t ys = pl->kept.strides[0][pl->kept.nd - 1];
    for (int64_t q = lo; q < hi; q++) {
        int64_t j0 = (q % pl->nc) * CB;
        int64_t n = pl->M - j0 < CB ? pl->M - j0 : CB;
        char *acc = pl->pacc + (size_t)(q * pl->nb * pl->W) * asz;
        int64_t *idx = pl->pidx + q * pl->nb * pl->W;
        char *ptrs[2];
        tree_merge(pl->f, acc, idx, pl->nb, pl->W);
        locate(&pl->outer, q / pl->nc, ptrs);
        pl->f->store(ptrs[0] + j0 * ys, acc, idx, n);
    }
}

static int64_t abs64(int64_t v)
{
    return v < 0 ? -v : v;
}

static int64_t max64(int64_t a, int64_t b)
{
    return a > b ? a : b;
}

/* Splits x's axes into kept and reduced, collapses both, picks the mode. */
static void make_plan(plan *pl, const kiln_reduce_kind *k,
                      const kiln_reduce_params *rp, kiln_array *x,
                      kiln_array *y)
{
    int64_t xst[KILN_MAX_NDIM], kshape[KILN_MAX_NDIM], kx[KILN_MAX_NDIM];
    int64_t ky[KILN_MAX_NDIM], rshape[KILN_MAX_NDIM], rx[KILN_MAX_NDIM];
    int nk = 0, nr = 0;
    int64_t isz = (int64_t)kiln_dtype_size(y->dtype);
    kiln__array_byte_strides(x, xst);
    for (int i = 0; i < x->ndim; i++) {
        if (rp->axes & (1u << i)) {
            rshape[nr] = x->shape[i];
            rx[nr++] = xst[i];
        } else {
            kshape[nk] = x->shape[i];
            kx[nk++] = xst[i];
        }
    }
    /* output: contiguous in kept order */
    for (int i = nk - 1; i >= 0; i--) {
        ky[i] = i == nk - 1 ? isz : ky[i + 1] * kshape[i + 1];
    }
    /* index kinds walk the reduced axes in logical order; the others
     * walk them by decreasing stride so the innermost run is the most
     * local one (stable insertion sort) */
    for (int i = 1; i < nr && !k->arg; i++) {
        for (int j = i; j > 0 && abs64(rx[j]) > abs64(rx[j - 1]); j--) {
            int64_t ts = rshape[j], tx = rx[j];
            rshape[j] = rshape[j - 1];
            rx[j] = rx[j - 1];
            rshape[j - 1] = ts;
            rx[j - 1] = tx;
        }
    }
    char *base[2] = {kiln__array_ptr(y), kiln__array_ptr(x)};
    const int64_t *kst[2] = {ky, kx};
    const int64_t *rst[1] = {rx};
    kiln__iter_init(&pl->kept, nk, kshape, 2, base, kst);
    kiln__iter_init(&pl->red, nr, rshape, 1, &base[1], rst);
    pl->f = &k->cpu[x->dtype];
    pl->O = pl->kept.size;
    pl->R = pl->red.size;
    /* column mode when the last kept axis is the most local one */
    int64_t rmin = INT64_MAX;
    for (int i = 0; i < pl->red.nd; i++) {
        if (pl->red.shape[i] > 1 && abs64(pl->red.strides[0][i]) < rmin) {
            rmin = abs64(pl->red.strides[0][i]);
        }
    }
    int last = pl->kept.nd - 1;
    pl->M = pl->kept.shape[last];
    pl->sm = pl->kept.strides[1][last];
    pl->col = pl->M >= 2 && abs64(pl->sm) < rmin;
    pl->nb = 1;
    pl->bsz = max64(pl->R, 1);
    if (pl->col) {
        char *obase[2] = {pl->kept.base[0], pl->kept.base[1]};
        const int64_t *ost[2] = {pl->kept.strides[0], pl->kept.strides[1]};
        kiln__iter_init(&pl->outer, last, pl->kept.shape, 2, obase, ost);
        pl->W = pl->M < CB ? pl->M : CB;
        pl->nc = (pl->M + CB - 1) / CB;
        int64_t rows = GRAIN * 2 / pl->W;
        rows = rows < 256 ? 256 : (rows > COL_ROWS ? COL_ROWS : rows);
        if (pl->R > rows) {
            pl->bsz = rows;
            pl->nb = (pl->R + rows - 1) / rows;
        }
    } else if (pl->R > ROW_BLOCK) {
        pl->bsz = ROW_BLOCK;
        pl->nb = (pl->R + ROW_BLOCK - 1) / ROW_BLOCK;
    }
}

kiln_status kiln__cpu_eval_reduce(const kiln_node *n, kiln_array *const *in,
                                  kiln_array *const *out)
{
    const kiln_reduce_kind *k = n->prim->kernels;
    const char *fn = n->prim->name;
    kiln_array *x = in[0], *y = out[0];
    plan pl;
    if (kiln__array_alloc(y, fn) != KILN_OK) {
        return kiln_errcode();
    }
    if (y->size == 0) {
        return KILN_OK;
    }
    make_plan(&pl, k, n->params, x, y);
    pl.pacc = NULL;
    pl.pidx = NULL;
    int64_t ntasks = pl.col ? pl.outer.size * pl.nc : pl.O;
    if (pl.nb > 1) {
        int64_t nacc = ntasks * pl.nb * (pl.col ? pl.W : 1);
        pl.pacc = malloc((size_t)nacc * pl.f->acc_size);
        pl.pidx = malloc((size_t)nacc * sizeof(int64_t));
        if (!pl.pacc || !pl.pidx) {
            free(pl.pacc);
            free(pl.pidx);
            return kiln__err_oom(fn, (size_t)nacc * 16);
        }
    }
    /* work per task, in elements, sets the grain */
    int64_t per = max64(pl.bsz, 1) * (pl.col ? pl.W : 1);
    int64_t grain = max64(1, GRAIN / per);
    if (pl.col) {
        kiln__pool_for(ntasks * pl.nb, grain, col_range, &pl);
        if (pl.nb > 1) {
            kiln__pool_for(ntasks, max64(1, GRAIN / (pl.nb * pl.W)),
                           col_combine_range, &pl);
        }
    } else if (pl.nb == 1) {
        kiln__pool_for(pl.O, grain, row_range, &pl);
    } else {
        kiln__pool_for(pl.O * pl.nb, grain, row_block_range, &pl);
        kiln__pool_for(pl.O, max64(1, GRAIN / pl.nb), row_combine_range,
                       &pl);
    }
    free(pl.pacc);
    free(pl.pidx);
    return KILN_OK;
}
