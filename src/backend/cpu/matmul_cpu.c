/*
 * matmul_cpu.c - eager matmul and addmm (shape rule in prim/matmul.c).
 *
 * Every product is seen as a batch of (m x k) @ (k x n) products, one per
 * index of the broadcast batch shape; each operand carries element strides
 * for its batch dims (zero where it is broadcast) and for its two matrix
 * dims, so transposed and sliced views need no copy. The output is always
 * a fresh contiguous buffer from the pool.
 *
 * Paths:
 * - gemv.c: float16/bfloat16 products with one row or one column of
 *   output whose matrix operand has contiguous rows or columns, or with 2
 *   to 4 rows, k >= KILN_GEMV_MIN_K and B given transposed; the matrix
 *   read where it lies (any build); KILN_GEMM=blas turns it off.
 * - kiln's GEMM (gemm.c, where built): big float32 products, any strides,
 *   addmm's c read in place; KILN_GEMM=blas turns it off.
 * - BLAS (KILN_HAVE_CBLAS, all dims fit BLAS's int): float32/float64 call
 *   cblas_sgemm/dgemm directly on the inputs when their matrix dims are
 *   row-major with a leading dimension or the transpose of that; otherwise
 *   the operand is packed first; a tile with one row or column of output
 *   calls ?gemv. float16/bfloat16 are widened to float32 over the pool (a
 *   transposed operand as stored), multiplied by sgemm and rounded back.
 *   addmm copies c into the output and passes beta. OpenBLAS is kept
 *   single-threaded and kiln's pool does
 *   the threading: batches of small products are split by product; a big
 *   product is cut into tiles of rows or columns of the output, one BLAS
 *   call each (gemm_split). One pool means no oversubscription (OpenBLAS's
 *   own workers spin for a long while after each call, taking cores from
 *   kiln's threads on a busy or small machine), small products run inline
 *   instead of waking threads, and a descheduled thread delays one tile
 *   rather than a fixed half of the product.
 * - loops (every other dtype, and every dtype without CBLAS): blocked
 *   i-k-j loops over row blocks of each product, split over kiln's pool.
 *   A (KB x NB) block of b is packed in the accumulation type, then each
 *   row of the (IB x NB) accumulator tile gets a[i, k] * b[k, :] added by
 *   a vectorised loop, four k at a time (same summation order as one at a
 *   time). Accumulation: float for float16/bfloat16/float32, double for
 *   float64, uint32 for integers up to 32 bits and uint64 for 64-bit ones
 *   (wrapping like the dtype itself), "or of ands" for bool.
 */
#include <limits.h>
#include <stdatomic.h>
#include <string.h>

#ifdef KILN_HAVE_CBLAS
#include <cblas.h>
#endif

#include "../../core/buffer.h"
#include "../../core/error.h"
#include "../../core/half.h"
#include "../../core/shape.h"
#include "../../runtime/env.h"
#include "../../runtime/pool.h"
#include "gemv.h"
#include "elementwise_cpu.h"
#include "gemm.h"
#include "matmul_cpu.h"

/* Loop blocking: rows of a per task, depth and width of a packed b block. */
#define IB 32
#define KB 256
#define NB 256

/* Multiply-adds worth giving a thread of their own. */
#define GRAIN_FLOPS (1 << 18)

/* Products up to this many multiply-adds are split by batch over kiln's
 * pool, one BLAS call each; bigger ones are cut into tiles of the output
 * (gemm_split) of at least TILE_FLOPS, at most TILES_PER_THREAD per
 * thread, starting at multiples of TILE_ALIGN rows or columns. */
#define SMALL_GEMM (4.0 * 65536.0)
#define TILE_FLOPS ((double)GRAIN_FLOPS)
#define TILES_PER_THREAD 2
#define TILE_ALIGN 16
/* Elements a pool chunk of a pack copies at least. */
#define PACK_GRAIN 65536

/* One matrix operand: its first element, element strides of the batch
 * dims (broadcast to the output's batch shape) and of rows and cols. */
typedef struct {
    const char *base;
    int64_t bs[KILN_MAX_NDIM];
    int64_t rs, cs;
} operand;

typedef struct mm_job {
    kiln_dtype dt;
    int64_t isz;
    int64_t m, n, k;
    int nb;
    int64_t bshape[KILN_MAX_NDIM];
    int64_t nbatch;
    operand a, b, c;
    bool has_c; /* addmm with beta != 0 */
    double alpha, beta;
    char *y; /* contiguous, batch stride m * n */
    int64_t ntiles; /* row blocks per product (loop path) */
    /* product t by one path (run_products); false: out of scratch */
    bool (*one)(const struct mm_job *j, int64_t t);
    atomic_int failed;
} mm_job;

static int64_t min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

/* Describes the product of a and b (and c for addmm) into y. */
static void setup(mm_job *j, const kiln_array *a, const kiln_array *b,
                  const kiln_array *c, const kiln_array *y)
{
    bool am = a->ndim > 1, bn = b->ndim > 1;
    int nd = y->ndim;
    memset(j, 0, sizeof *j);
    j->dt = y->dtype;
    j->isz = (int64_t)kiln_dtype_size(y->dtype);
    j->nb = nd - am - bn;
    j->m = am ? a->shape[a->ndim - 2] : 1;
    j->k = a->shape[a->ndim - 1];
    j->n = bn ? b->shape[b->ndim - 1] : 1;
    j->nbatch = 1;
    for (int i = 0; i < j->nb; i++) {
        j->bshape[i] = y->shape[i];
        j->nbatch *= y->shape[i];
    }
    j->a.base = kiln__array_ptr(a);
    kiln__shape_bcast_strides(a->shape, a->strides, am ? a->ndim - 2 : 0,
                              j->nb, j->bshape, j->a.bs);
    j->a.rs = am ? a->strides[a->ndim - 2] : 0;
    j->a.cs = a->strides[a->ndim - 1];
    j->b.base = kiln__array_ptr(b);
    kiln__shape_bcast_strides(b->shape, b->strides, bn ? b->ndim - 2 : 0,
                              j->nb, j->bshape, j->b.bs);
    j->b.rs = bn ? b->strides[b->ndim - 2] : b->strides[0];
    j->b.cs = bn ? b->strides[b->ndim - 1] : 0;
    j->alpha = 1.0;
    if (c) {
        int64_t cst[KILN_MAX_NDIM];
        kiln__shape_bcast_strides(c->shape, c->strides, c->ndim, nd,
                                  y->shape, cst);
        j->c.base = kiln__array_ptr(c);
        memcpy(j->c.bs, cst, sizeof *cst * (size_t)j->nb);
        j->c.rs = am ? cst[j->nb] : 0;
        j->c.cs = bn ? cst[nd - 1] : 0;
    }
    j->y = kiln__array_ptr(y);
    j->ntiles = (j->m + IB - 1) / IB;
    atomic_init(&j->failed, 0);
}

/* Element offsets of batch t in a, b and c. */
static void batch_at(const mm_job *j, int64_t t, int64_t *oa, int64_t *ob,
                     int64_t *oc)
{
    *oa = *ob = *oc = 0;
    for (int d = j->nb - 1; d >= 0; d--) {
        int64_t i = t % j->bshape[d];
        t /= j->bshape[d];
        *oa += i * j->a.bs[d];
        *ob += i * j->b.bs[d];
        *oc += i * j->c.bs[d];
    }
}

/* Items of `flops` multiply-adds each that make one pool part. */
static int64_t grain_for(double flops)
{
    double g = GRAIN_FLOPS / (flops > 1.0 ? flops : 1.0);
    return g < 1.0 ? 1 : (int64_t)g;
}

/* Products [lo, hi) by j->one, one after the other; the first that runs
 * out of scratch marks the job failed. */
static void one_range(void *ctx, int64_t lo, int64_t hi)
{
    mm_job *j = ctx;
    for (int64_t t = lo; t < hi; t++) {
        if (!j->one(j, t)) {
            atomic_store(&j->failed, 1);
            return;
        }
    }
}

/* j's products by one: a batch of small products split by product over
 * the pool (each then runs inline on its thread), else one product after
 * the other, each threading itself. */
static void run_products(mm_job *j, bool (*one)(const mm_job *, int64_t))
{
    double flops = (double)j->m * (double)j->n * (double)j->k;
    j->one = one;
    if (j->nbatch > 1 && flops <= SMALL_GEMM) {
        kiln__pool_for(j->nbatch, grain_for(flops), one_range, j);
        return;
    }
    one_range(j, 0, j->nbatch);
}

/* Whether KILN_GEMM=blas keeps kiln's own GEMM and gemv out. */
static bool knob_blas(void)
{
    return strcmp(kiln__env_str(KILN_ENV_GEMM), "blas") == 0;
}

/* ------------------------------------------------------------------ */
/* loops                                                              */
/* ------------------------------------------------------------------ */

/* Rows [i0, i1) of product t; scratch holds KB * NB + IB * NB ACCs.
 * LD loads a T as ACC, ST stores an ACC as T, MAC(x, a, b) is x "plus"
 * a "times" b, EPI(acc, i, col) the value stored for an accumulator. */
#define LOOP_KERNEL(name, T, ACC, LD, ST, MAC, EPI)                       \
    static void name(const mm_job *j, int64_t t, int64_t i0, int64_t i1,  \
                     void *scratch)                                       \
    {                                                                     \
        ACC *bp = scratch;                                                \
        ACC *acc = bp + KB * NB;                                          \
        int64_t oa, ob, oc;                                               \
        batch_at(j, t, &oa, &ob, &oc);                                    \
        const T *pa = (const T *)(const void *)j->a.base + oa;            \
        const T *pb = (const T *)(const void *)j->b.base + ob;            \
        const T *pc =                                                     \
            j->has_c ? (const T *)(const void *)j->c.base + oc : NULL;    \
        T *py = (T *)(void *)j->y + t * j->m * j->n;                      \
        const int64_t ars = j->a.rs, acs = j->a.cs;                       \
        const int64_t brs = j->b.rs, bcs = j->b.cs;                       \
        (void)pc;                                                         \
        for (int64_t j0 = 0; j0 < j->n; j0 += NB) {                       \
            int64_t nc = min64(NB, j->n - j0);                            \
            for (int64_t r = 0; r < (i1 - i0) * NB; r++) {                \
                acc[r] = 0;                                               \
            }                                                             \
            for (int64_t k0 = 0; k0 < j->k; k0 += KB) {                   \
                int64_t kc = min64(KB, j->k - k0);                        \
                for (int64_t kk = 0; kk < kc; kk++) {                     \
                    const T *src = pb + (k0 + kk) * brs + j0 * bcs;       \
                    ACC *dst = bp + kk * NB;                              \
                    for (int64_t jj = 0; jj < nc; jj++) {                 \
                        dst[jj] = LD(src[jj * bcs]);                      \
                    }                                                     \
                }                                                         \
                for (int64_t i = i0; i < i1; i++) {                       \
                    ACC *cr = acc + (i - i0) * NB;                        \
                    const T *ar = pa + i * ars + k0 * acs;                \
                    int64_t kk = 0;                                       \
                    for (; kk + 4 <= kc; kk += 4) {                       \
                        const ACC a0 = LD(ar[kk * acs]);                  \
                        const ACC a1 = LD(ar[(kk + 1) * acs]);            \
                        const ACC a2 = LD(ar[(kk + 2) * acs]);            \
                        const ACC a3 = LD(ar[(kk + 3) * acs]);            \
                        const ACC *b0 = bp + kk * NB;                     \
                        const ACC *b1 = b0 + NB, *b2 = b1 + NB;           \
                        const ACC *b3 = b2 + NB;                          \
                        for (int64_t jj = 0; jj < nc; jj++) {             \
                            cr[jj] = MAC(MAC(MAC(MAC(cr[jj], a0, b0[jj]), \
                                                 a1, b1[jj]),             \
                                             a2, b2[jj]),                 \
                                         a3, b3[jj]);                     \
                        }                                                 \
                    }                                                     \
                    for (; kk < kc; kk++) {                               \
                        const ACC a0 = LD(ar[kk * acs]);                  \
                        const ACC *b0 = bp + kk * NB;                     \
                        for (int64_t jj = 0; jj < nc; jj++) {             \
                            cr[jj] = MAC(cr[jj], a0, b0[jj]);             \
                        }                                                 \
                    }                                                     \
                }                                                         \
            }                                                             \
            for (int64_t i = i0; i < i1; i++) {                           \
                const ACC *cr = acc + (i - i0) * NB;                      \
                T *yr = py + i * j->n + j0;                               \
                for (int64_t jj = 0; jj < nc; jj++) {                     \
                    yr[jj] = ST(EPI(cr[jj], i, j0 + jj));                 \
                }                                                         \
            }                                                             \
        }                                                                 \
    }

#define MAC_NUM(x, a, b) ((x) + (a) * (b))
#define MAC_BOOL(x, a, b) ((uint8_t)((x) | ((a) & (b))))
#define EPI_NONE(v, i, col) (v)
/* alpha * v + beta * c[i, col], c read through its broadcast strides */
#define EPI_ADDMM(ACC, LD)                                                \
    ((ACC)j->alpha * v_ +                                                 \
     (pc ? (ACC)j->beta * LD(pc[i_ * j->c.rs + col_ * j->c.cs]) : (ACC)0))

#define LD_SAME(v) (v)
#define ST_SAME(v) (v)
#define LD_F16(v) kiln_f16_to_f32(v)
#define ST_F16(v) kiln_f32_to_f16(v)
#define LD_BF16(v) kiln_bf16_to_f32(v)
#define ST_BF16(v) kiln_f32_to_bf16(v)
#define LD_U32(v) ((uint32_t)(v))
#define LD_U64(v) ((uint64_t)(v))
#define LD_B(v) ((uint8_t)((v) != 0))

/* Float kernels come in two flavours: plain matmul and addmm. One
 * expansion: FLOAT_KERNELS(f32, float, float, LD_SAME, ST_SAME) defines
 * loop_f32 (stores acc) and loop_addmm_f32 (stores alpha*acc + beta*c). */
#define FLOAT_KERNELS(t, T, ACC, LD, ST)                                  \
    static inline ACC epi_##t(const mm_job *j, const T *pc, ACC v_,       \
                              int64_t i_, int64_t col_)                   \
    {                                                                     \
        return EPI_ADDMM(ACC, LD);                                        \
    }                                                                     \
    LOOP_KERNEL(loop_##t, T, ACC, LD, ST, MAC_NUM, EPI_NONE)              \
    LOOP_KERNEL(loop_addmm_##t, T, ACC, LD, ST, MAC_NUM, EPI_##t)
#define EPI_f32(v, i, col) epi_f32(j, pc, v, i, col)
#define EPI_f64(v, i, col) epi_f64(j, pc, v, i, col)
#define EPI_f16(v, i, col) epi_f16(j, pc, v, i, col)
#define EPI_bf16(v, i, col) epi_bf16(j, pc, v, i, col)

FLOAT_KERNELS(f32, float, float, LD_SAME, ST_SAME)
FLOAT_KERNELS(f64, double, double, LD_SAME, ST_SAME)
FLOAT_KERNELS(f16, kiln_f16, float, LD_F16, ST_F16)
FLOAT_KERNELS(bf16, kiln_bf16, float, LD_BF16, ST_BF16)

/* Integers accumulate in an unsigned type at least as wide, so overflow
 * wraps (defined behaviour) and the stored low bits are the dtype's. */
#define INT_KERNEL(t, T, ACC, LD)                                         \
    LOOP_KERNEL(loop_##t, T, ACC, LD, (T), MAC_NUM, EPI_NONE)
INT_KERNEL(u8, uint8_t, uint32_t, LD_U32)
INT_KERNEL(u16, uint16_t, uint32_t, LD_U32)
INT_KERNEL(u32, uint32_t, uint32_t, LD_U32)
INT_KERNEL(u64, uint64_t, uint64_t, LD_U64)
INT_KERNEL(i8, int8_t, uint32_t, LD_U32)
INT_KERNEL(i16, int16_t, uint32_t, LD_U32)
INT_KERNEL(i32, int32_t, uint32_t, LD_U32)
INT_KERNEL(i64, int64_t, uint64_t, LD_U64)
LOOP_KERNEL(loop_b, uint8_t, uint8_t, LD_B, ST_SAME, MAC_BOOL, EPI_NONE)

typedef void (*loop_fn)(const mm_job *j, int64_t t, int64_t i0, int64_t i1,
                        void *scratch);

static const loop_fn loops[KILN_DTYPE_COUNT] = {
    [KILN_DTYPE_BOOL] = loop_b,      [KILN_DTYPE_UINT8] = loop_u8,
    [KILN_DTYPE_UINT16] = loop_u16,  [KILN_DTYPE_UINT32] = loop_u32,
    [KILN_DTYPE_UINT64] = loop_u64,  [KILN_DTYPE_INT8] = loop_i8,
    [KILN_DTYPE_INT16] = loop_i16,   [KILN_DTYPE_INT32] = loop_i32,
    [KILN_DTYPE_INT64] = loop_i64,   [KILN_DTYPE_FLOAT16] = loop_f16,
    [KILN_DTYPE_BFLOAT16] = loop_bf16, [KILN_DTYPE_FLOAT32] = loop_f32,
    [KILN_DTYPE_FLOAT64] = loop_f64,
};

static const loop_fn loops_addmm[KILN_DTYPE_COUNT] = {
    [KILN_DTYPE_FLOAT16] = loop_addmm_f16,
    [KILN_DTYPE_BFLOAT16] = loop_addmm_bf16,
    [KILN_DTYPE_FLOAT32] = loop_addmm_f32,
    [KILN_DTYPE_FLOAT64] = loop_addmm_f64,
};

typedef struct {
    mm_job *j;
    loop_fn fn;
} loop_ctx;

/* Tasks [lo, hi): task = batch * ntiles + row block. */
static void loop_range(void *ctx, int64_t lo, int64_t hi)
{
    loop_ctx *lc = ctx;
    mm_job *j = lc->j;
    /* the widest accumulator is 8 bytes */
    kiln_buffer *scratch = kiln__buffer_new(8 * (size_t)(KB * NB + IB * NB));
    if (!scratch) {
        atomic_store(&j->failed, 1);
        return;
    }
    for (int64_t task = lo; task < hi; task++) {
        int64_t t = task / j->ntiles;
        int64_t i0 = (task % j->ntiles) * IB;
        lc->fn(j, t, i0, min64(i0 + IB, j->m), scratch->data);
    }
    kiln__buffer_release(scratch);
}

static void run_loops(mm_job *j, bool addmm)
{
    loop_ctx lc = {j, addmm ? loops_addmm[j->dt] : loops[j->dt]};
    double flops = (double)min64(IB, j->m) * (double)j->n *
                   (double)(j->k > 0 ? j->k : 1);
    kiln__pool_for(j->nbatch * j->ntiles, grain_for(flops), loop_range,
                   &lc);
}

/* ------------------------------------------------------------------ */
/* kiln's own float32 product (gemm.c)                                */
/* ------------------------------------------------------------------ */

#ifdef KILN_GEMM_VW

/* Whether a float32 m x k by k x n product goes to kiln__gemm_f32:
 * inside its envelope, or every one under KILN_GEMM=always, none under
 * KILN_GEMM=blas. */
static bool own_gemm(int64_t m, int64_t n, int64_t k)
{
    const char *mode = kiln__env_str(KILN_ENV_GEMM);
    if (m < 1 || n < 1 || k < 1 || knob_blas()) {
        return false;
    }
    return strcmp(mode, "always") == 0 || kiln__gemm_f32_worth(m, n, k);
}

/* Float32 products [lo, hi), one after the other; each over the whole
 * pool, or on the calling thread when this runs inside a pool range
 * (own_batch). */
static void own_range(void *ctx, int64_t lo, int64_t hi)
{
    mm_job *j = ctx;
    for (int64_t t = lo; t < hi; t++) {
        int64_t oa, ob, oc;
        batch_at(j, t, &oa, &ob, &oc);
        kiln_gemm_f32 p = {
            .m = j->m, .n = j->n, .k = j->k,
            .alpha = (float)j->alpha,
            .beta = j->has_c ? (float)j->beta : 0.0f,
            .a = (const float *)(const void *)j->a.base + oa,
            .ars = j->a.rs, .acs = j->a.cs,
            .b = (const float *)(const void *)j->b.base + ob,
            .brs = j->b.rs, .bcs = j->b.cs,
            .c = j->has_c ? (const float *)(const void *)j->c.base + oc
                          : NULL,
            .crs = j->c.rs, .ccs = j->c.cs,
            .y = (float *)(void *)j->y + t * j->m * j->n, .ldy = j->n,
        };
        if (!kiln__gemm_f32(&p)) {
            atomic_store(&j->failed, 1);
            return;
        }
    }
}

/* A batch of float32 products: small ones (as run_blas splits them; in
 * the envelope of a build without CBLAS) or a product for every pool
 * chunk, split by product, each on one thread (whole products balance the
 * threads as well as blocks of each would, with no dispatch and wait per
 * product: 24 x (128 x 768 x 768) 0.91 of the time, 32 x (256 x 256 x
 * 64) 0.94, 8 x (512 x 512 x 64) 0.97, 16 x (1024 x 1024 x 64) 1.00, on
 * a Zen 5 with 2 threads, both ways alternating); else one product after
 * the other over the pool. (OpenBLAS's single-threaded sgemm went the
 * other way, 1.17-1.21 for 96 x (128 x 128 x 64): BLAS batches keep the
 * tiles.) The bits are the same either way (gemm.h). */
static void own_batch(mm_job *j)
{
    double flops = (double)j->m * (double)j->n * (double)j->k;
    int64_t chunks = KILN_POOL_CHUNKS_PER_THREAD * kiln__pool_nthreads();
    if (j->nbatch > 1 && (flops <= SMALL_GEMM || j->nbatch >= chunks)) {
        kiln__pool_for(j->nbatch, grain_for(flops), own_range, j);
    } else {
        own_range(j, 0, j->nbatch);
    }
}

#endif /* KILN_GEMM_VW */

/* ------------------------------------------------------------------ */
/* float16/bfloat16 products with one row or column, or few (gemv.c) */
/* ------------------------------------------------------------------ */

/* The matrix operand of a one-row (a @ B) or one-column (A @ b) product
 * as gemv.c reads it, into g: y = B' x or y = A x where the matrix's rows
 * or columns are contiguous; false when neither are. A product with a few
 * rows (m <= KILN_GEMV_MAX_X), k >= KILN_GEMV_MIN_K and B given
 * transposed (the rows of the stored (n, k) matrix contiguous: x @ W.T)
 * is the dot form with m vectors, the rows of A; false otherwise. */
static bool half_matrix(const mm_job *j, kiln_gemv_half *g)
{
    g->dt = j->dt;
    g->nx = 1;
    if (j->m > 1 && j->n > 1) {
        if (j->m > KILN_GEMV_MAX_X || j->k < KILN_GEMV_MIN_K ||
            j->b.rs != 1) {
            return false;
        }
        g->rows = j->n;
        g->cols = j->k;
        g->ld = j->b.cs;
        g->trans = false;
        g->nx = (int)j->m;
        return true;
    }
    bool row = j->m == 1;
    const operand *o = row ? &j->b : &j->a;
    int64_t r = row ? j->k : j->m, c = row ? j->n : j->k;
    bool as_stored = (o->cs == 1 && c > 1) || (c == 1 && o->rs != 1);
    if (!as_stored && o->rs != 1 && r != 1) {
        return false;
    }
    g->rows = as_stored ? r : c;
    g->cols = as_stored ? c : r;
    g->ld = as_stored ? o->rs : o->cs;
    g->trans = as_stored == row;
    return true;
}

static bool is_half(kiln_dtype dt)
{
    return dt == KILN_DTYPE_FLOAT16 || dt == KILN_DTYPE_BFLOAT16;
}

/* Whether gemv.c takes the product: a half dtype, a layout half_matrix
 * takes, and not KILN_GEMM=blas (which keeps kiln's own kernels out, for
 * comparison). */
static bool half_gemv_fits(const mm_job *j)
{
    kiln_gemv_half g;
    return is_half(j->dt) && j->k > 0 && half_matrix(j, &g) &&
           !knob_blas();
}

/* Product t: x and y widened into float32 scratch, y narrowed back into
 * the output; false when scratch memory ran out. */
static bool half_gemv_one(const mm_job *j, int64_t t)
{
    int64_t oa, ob, oc;
    kiln_gemv_half g;
    half_matrix(j, &g);
    /* rows: the vectors are rows of A (m of them), y rows of the output;
     * else one column, B's */
    bool rows = j->m == 1 || g.nx > 1;
    int64_t nv = rows ? j->m : 1, len = rows ? j->n : j->m;
    kiln_buffer *s = kiln__buffer_new(sizeof(float) *
                                      (size_t)(nv * j->k + j->m * j->n));
    if (!s) {
        return false;
    }
    batch_at(j, t, &oa, &ob, &oc);
    const operand *v = rows ? &j->a : &j->b, *mo = rows ? &j->b : &j->a;
    g.m = mo->base + (rows ? ob : oa) * j->isz;
    float *x = (float *)(void *)s->data, *y = x + nv * j->k;
    kiln_unary_kernel up = kiln__cpu_astype[j->dt][KILN_DTYPE_FLOAT32];
    for (int64_t q = 0; q < nv; q++) {
        up(j->k, v->base + ((rows ? oa : ob) + q * v->rs) * j->isz,
           (rows ? v->cs : v->rs) * j->isz, (char *)(x + q * j->k),
           sizeof(float));
        if (j->has_c) {
            up(len, j->c.base + (oc + q * j->c.rs) * j->isz,
               (rows ? j->c.cs : j->c.rs) * j->isz, (char *)(y + q * len),
               sizeof(float));
        }
    }
    g.x = x;
    g.y = y;
    g.ldx = j->k;
    g.ldy = len;
    g.alpha = (float)j->alpha;
    g.beta = j->has_c ? (float)j->beta : 0.0f;
    kiln__gemv_half(&g);
    kiln__cpu_astype[KILN_DTYPE_FLOAT32][j->dt](
        j->m * j->n, (const char *)y, sizeof(float),
        j->y + t * j->m * j->n * j->isz, j->isz);
    kiln__buffer_release(s);
    return true;
}

/* ------------------------------------------------------------------ */
/* BLAS                                                               */
/* ------------------------------------------------------------------ */

#ifdef KILN_HAVE_CBLAS

/* Whether a rows x cols matrix with element strides (rs, cs) can be given
 * to row-major BLAS as is: as itself (ld = rs) or as the transpose of a
 * row-major matrix (ld = cs). Strides of unit dims do not matter. */
static bool blas_layout(int64_t rows, int64_t cols, int64_t rs, int64_t cs,
                        bool *trans, int *ld)
{
    if (cols == 1) {
        cs = 1;
    }
    if (rows == 1) {
        rs = cs == 1 ? cols : 1;
    }
    if (cs == 1 && rs >= cols && rs >= 1 && rs <= INT_MAX) {
        *trans = false;
        *ld = (int)rs;
        return true;
    }
    if (rs == 1 && cs >= rows && cs >= 1 && cs <= INT_MAX) {
        *trans = true;
        *ld = (int)cs;
        return true;
    }
    return false;
}

typedef struct {
    char *dst;
    const char *src;
    int64_t cols, rs, cs, isz, wsz;
    kiln_unary_kernel k;
} pack_job;

static void pack_rows(void *ctx, int64_t lo, int64_t hi)
{
    const pack_job *p = ctx;
    for (int64_t r = lo; r < hi; r++) {
        p->k(p->cols, p->src + r * p->rs * p->isz, p->cs * p->isz,
             p->dst + r * p->cols * p->wsz, p->wsz);
    }
}

/* Copies a strided rows x cols matrix of float32/float64 (or, with
 * widen, of float16/bfloat16 into float32) to contiguous dst; rs and cs
 * are in elements. One astype row kernel per row, rows over the pool
 * (inline inside a pool range). Callers keep cs small where they can: a
 * row read across a large cs touches a cache line per element. */
static void pack(void *dst, const char *src, int64_t rows, int64_t cols,
                 int64_t rs, int64_t cs, kiln_dtype dt)
{
    kiln_dtype wt = dt == KILN_DTYPE_FLOAT64 ? dt : KILN_DTYPE_FLOAT32;
    pack_job p = {
        .dst = dst, .src = src, .cols = cols, .rs = rs, .cs = cs,
        .isz = (int64_t)kiln_dtype_size(dt),
        .wsz = (int64_t)kiln_dtype_size(wt),
        .k = kiln__cpu_astype[dt][wt],
    };
    int64_t grain = cols >= PACK_GRAIN ? 1 : PACK_GRAIN / (cols ? cols : 1);
    kiln__pool_for(rows, grain, pack_rows, &p);
}

/* An operand of `rows` x `cols` (element strides rs, cs) copied for BLAS
 * into dst (float16/bfloat16 widened to float32). Where its layout suits
 * BLAS (*t, *ld from blas_layout: only half operands come here so) it is
 * copied as stored, rows of the stored matrix in order, and keeps *t;
 * else packed row by row (*t false). Either way *ld becomes the copy's
 * leading dimension. Widening a transposed view row by row read one
 * element per cache line: (64 x 4096) @ (4096 x 4096)' in bfloat16 took
 * 5.2x the float32 time. */
static void pack_for_blas(void *dst, const char *src, int64_t rows,
                          int64_t cols, int64_t rs, int64_t cs, bool layout,
                          bool *t, int *ld, kiln_dtype dt)
{
    if (layout && *t) {
        pack(dst, src, cols, rows, *ld, 1, dt);
        *ld = (int)rows;
        return;
    }
    pack(dst, src, rows, cols, rs, cs, dt);
    *t = false;
    *ld = (int)cols;
}

/* Rounds n float32 values to float16/bfloat16 (dt). */
static void narrow(char *dst, const float *src, int64_t n, kiln_dtype dt)
{
    kiln__cpu_astype[KILN_DTYPE_FLOAT32][dt](
        n, (const char *)src, (int64_t)sizeof(float), dst,
        (int64_t)kiln_dtype_size(dt));
}

/* Makes OpenBLAS run each call on the calling thread: kiln's pool threads
 * the products (gemm_split), so OpenBLAS's own workers never compete with
 * kiln's for the cores. This does not stop the workers OpenBLAS started
 * when it loaded (one per core but one): one of them, spinning in its
 * sched_yield loop, now and then took half a core from kiln's pool for a
 * whole run of a C program (a batch of 96 (128 x 128 x 64) products: 240
 * instead of 470 GFLOP/s in 1 run of 12, 2 of 4 in others). Only
 * OPENBLAS_NUM_THREADS=1 in the environment when OpenBLAS loads prevents
 * that: the Python module sets it (kiln/__init__.py), the Makefile's C
 * runs too, and the README asks C programs to. Stopping the workers here
 * (blas_thread_shutdown_) is not safe: it waits forever for a worker that
 * another thread's threaded OpenBLAS call is using. */
static void blas_single_thread(void)
{
#ifdef OPENBLAS_VERSION
    static atomic_int done;
    if (!atomic_load(&done)) {
        if (openblas_get_num_threads() != 1) {
            openblas_set_num_threads(1);
        }
        atomic_store(&done, 1);
    }
#endif
}

/* One BLAS product C = alpha A B + beta C, cut into tiles: blocks of rows
 * of C, or of columns (split_n), starting at multiples of TILE_ALIGN.
 * The dimension cut is the one whose cut copies less: each tile packs the
 * whole of the operand it shares (A for column blocks, B for row blocks).
 * Tile t starts at tile_at(t); boundaries depend on the shape and the
 * thread count only. */
typedef struct {
    bool f64, ta, tb, split_n;
    int m, n, k, lda, ldb;
    const char *A, *B;
    char *C;
    double alpha, beta;
    int64_t len, ntiles; /* the cut dimension's length, tile count */
} gemm_call;

static int64_t tile_at(const gemm_call *g, int64_t t)
{
    return t >= g->ntiles ? g->len
                          : g->len * t / g->ntiles / TILE_ALIGN * TILE_ALIGN;
}

/* A tile with one row (m == 1) or one column (n == 1) of C as one BLAS
 * matrix-vector call, with the matrix operand read where it lies: ?gemm
 * would copy (pack) all of it first, which for these products costs as
 * much memory traffic as the product itself (OpenBLAS 0.3.21 does not
 * hand them to ?gemv). C is zeroed first when beta is 0: ?gemv's scaling
 * of y by 0 is not guaranteed to clear NaNs left in fresh memory. */
static void gemv_tile(const gemm_call *g, const char *A, const char *B,
                      char *C, int m, int n)
{
    enum CBLAS_TRANSPOSE t;
    const char *M, *x;
    int rows, cols, ld, incx, len = m == 1 ? n : m;
    if (m == 1) {
        /* y = B' a: B is k x n (or n x k stored, tb) */
        M = B;
        ld = g->ldb;
        t = g->tb ? CblasNoTrans : CblasTrans;
        rows = g->tb ? n : g->k;
        cols = g->tb ? g->k : n;
        x = A;
        incx = g->ta ? g->lda : 1;
    } else {
        /* y = A b: A is m x k (or k x m stored, ta) */
        M = A;
        ld = g->lda;
        t = g->ta ? CblasTrans : CblasNoTrans;
        rows = g->ta ? g->k : m;
        cols = g->ta ? m : g->k;
        x = B;
        incx = g->tb ? 1 : g->ldb;
    }
    if (g->beta == 0.0) {
        memset(C, 0, (size_t)len * (g->f64 ? 8 : 4));
    }
    if (g->f64) {
        cblas_dgemv(CblasRowMajor, t, rows, cols, g->alpha,
                    (const double *)(const void *)M, ld,
                    (const double *)(const void *)x, incx, g->beta,
                    (double *)(void *)C, 1);
    } else {
        cblas_sgemv(CblasRowMajor, t, rows, cols, (float)g->alpha,
                    (const float *)(const void *)M, ld,
                    (const float *)(const void *)x, incx, (float)g->beta,
                    (float *)(void *)C, 1);
    }
}

/* Tiles [lo, hi) as one BLAS call. */
static void gemm_tiles(void *ctx, int64_t lo, int64_t hi)
{
    const gemm_call *g = ctx;
    int64_t a = tile_at(g, lo), b = tile_at(g, hi);
    int64_t es = g->f64 ? 8 : 4;
    const char *A = g->A, *B = g->B;
    char *C = g->C;
    int m = g->m, n = g->n;
    if (b <= a) {
        return;
    }
    if (g->split_n) {
        B += a * (g->tb ? g->ldb : 1) * es;
        C += a * es;
        n = (int)(b - a);
    } else {
        A += a * (g->ta ? 1 : g->lda) * es;
        C += a * g->n * es;
        m = (int)(b - a);
    }
    if (m == 1 || n == 1) {
        gemv_tile(g, A, B, C, m, n);
        return;
    }
    enum CBLAS_TRANSPOSE ca = g->ta ? CblasTrans : CblasNoTrans;
    enum CBLAS_TRANSPOSE cb = g->tb ? CblasTrans : CblasNoTrans;
    if (g->f64) {
        cblas_dgemm(CblasRowMajor, ca, cb, m, n, g->k, g->alpha,
                    (const double *)(const void *)A, g->lda,
                    (const double *)(const void *)B, g->ldb, g->beta,
                    (double *)(void *)C, g->n);
    } else {
        cblas_sgemm(CblasRowMajor, ca, cb, m, n, g->k, (float)g->alpha,
                    (const float *)(const void *)A, g->lda,
                    (const float *)(const void *)B, g->ldb, (float)g->beta,
                    (float *)(void *)C, g->n);
    }
}

/* Runs g over kiln's pool: up to TILES_PER_THREAD tiles per thread of at
 * least TILE_FLOPS multiply-adds each (fewer tiles: less packing), so a
 * thread that is descheduled delays one tile, not half the product. */
static void gemm_split(gemm_call *g)
{
    double flops = (double)g->m * (double)g->n * (double)g->k;
    int64_t most = (int64_t)TILES_PER_THREAD * kiln__pool_nthreads();
    g->split_n = g->m <= g->n;
    g->len = g->split_n ? g->n : g->m;
    g->ntiles = (int64_t)(flops / TILE_FLOPS);
    g->ntiles = min64(min64(g->ntiles, most), g->len / TILE_ALIGN);
    if (g->ntiles < 2) {
        g->ntiles = 1;
        gemm_tiles(g, 0, 1);
        return;
    }
    kiln__pool_for(g->ntiles, 1, gemm_tiles, g);
}

/* Product t through BLAS; false when scratch memory ran out. */
static bool gemm_one(const mm_job *j, int64_t t)
{
    int64_t oa, ob, oc;
    const int64_t m = j->m, n = j->n, k = j->k;
    bool half = is_half(j->dt);
    int64_t wsz = half ? 4 : j->isz;
    batch_at(j, t, &oa, &ob, &oc);
    const char *pa = j->a.base + oa * j->isz;
    const char *pb = j->b.base + ob * j->isz;
    char *py = j->y + t * m * n * j->isz;
    bool ta = false, tb = false;
    int lda = (int)k, ldb = (int)n;
    size_t need = 0;
    bool lay_a = blas_layout(m, k, j->a.rs, j->a.cs, &ta, &lda);
    bool lay_b = blas_layout(k, n, j->b.rs, j->b.cs, &tb, &ldb);
    bool pack_a = half || !lay_a, pack_b = half || !lay_b;
    need += pack_a ? (size_t)(m * k * wsz) : 0;
    need += pack_b ? (size_t)(k * n * wsz) : 0;
    need += half ? (size_t)(m * n * 4) : 0;
    /* scratch from the buffer pool: a big pack reuses warm pages */
    kiln_buffer *scratch = need > 0 ? kiln__buffer_new(need) : NULL;
    if (need > 0 && !scratch) {
        return false;
    }
    char *next = scratch ? scratch->data : NULL;
    const void *A = pa, *B = pb;
    void *C = py;
    if (pack_a) {
        pack_for_blas(next, pa, m, k, j->a.rs, j->a.cs, lay_a, &ta, &lda,
                      j->dt);
        A = next;
        next += m * k * wsz;
    }
    if (pack_b) {
        pack_for_blas(next, pb, k, n, j->b.rs, j->b.cs, lay_b, &tb, &ldb,
                      j->dt);
        B = next;
        next += k * n * wsz;
    }
    if (half) {
        C = next;
    }
    if (j->has_c) {
        /* C starts as c (broadcast); gemm scales it by beta */
        pack(C, j->c.base + oc * j->isz, m, n, j->c.rs, j->c.cs, j->dt);
    }
    gemm_call g = {
        .f64 = j->dt == KILN_DTYPE_FLOAT64,
        .ta = ta,
        .tb = tb,
        .m = (int)m,
        .n = (int)n,
        .k = (int)k,
        .lda = lda,
        .ldb = ldb,
        .A = A,
        .B = B,
        .C = C,
        .alpha = j->alpha,
        .beta = j->has_c ? j->beta : 0.0,
    };
#ifdef KILN_GEMM_VW
    if (!g.f64 && own_gemm(m, n, k)) {
        /* float16/bfloat16 widened (float32 went to own_range); C holds c
         * already: it is its own C operand */
        kiln_gemm_f32 p = {
            .m = m, .n = n, .k = k,
            .alpha = (float)g.alpha, .beta = (float)g.beta,
            .a = A, .ars = ta ? 1 : lda, .acs = ta ? lda : 1,
            .b = B, .brs = tb ? 1 : ldb, .bcs = tb ? ldb : 1,
            .c = C, .crs = n, .ccs = 1,
            .y = C, .ldy = n,
        };
        if (!kiln__gemm_f32(&p)) {
            kiln__buffer_release(scratch);
            return false;
        }
    } else {
        gemm_split(&g);
    }
#else
    gemm_split(&g);
#endif
    if (half) {
        narrow(py, C, m * n, j->dt);
    }
    kiln__buffer_release(scratch);
    return true;
}

/* Whether the BLAS path takes this product. */
static bool use_blas(const mm_job *j)
{
    bool blas_dt = j->dt == KILN_DTYPE_FLOAT32 ||
                   j->dt == KILN_DTYPE_FLOAT64 ||
                   j->dt == KILN_DTYPE_FLOAT16 ||
                   j->dt == KILN_DTYPE_BFLOAT16;
    return blas_dt && j->k > 0 && j->m <= INT_MAX && j->n <= INT_MAX &&
           j->k <= INT_MAX;
}

static void run_blas(mm_job *j)
{
    blas_single_thread();
    run_products(j, gemm_one);
}

#endif /* KILN_HAVE_CBLAS */

/* ------------------------------------------------------------------ */
/* eval                                                               */
/* ------------------------------------------------------------------ */

/* gemv.c for half products with one row or column or a few rows (
 * half_matrix), kiln's own GEMM for big float32 ones, else BLAS where it
 * takes the dtype, else the loops. */
static void dispatch(mm_job *j, bool addmm)
{
    if (half_gemv_fits(j)) {
        run_products(j, half_gemv_one);
        return;
    }
#ifdef KILN_GEMM_VW
    if (j->dt == KILN_DTYPE_FLOAT32 && own_gemm(j->m, j->n, j->k)) {
        own_batch(j);
        return;
    }
#endif
#ifdef KILN_HAVE_CBLAS
    if (use_blas(j)) {
        run_blas(j);
        return;
    }
#endif
    run_loops(j, addmm);
}

static kiln_status run(const kiln_node *n, kiln_array *c, kiln_array *a,
                       kiln_array *b, kiln_array *y, double alpha,
                       double beta)
{
    const char *fn = n->prim->name;
    mm_job j;
    if (kiln__array_alloc(y, fn) != KILN_OK) {
        return kiln_errcode();
    }
    if (y->size == 0) {
        return KILN_OK;
    }
    setup(&j, a, b, c && beta != 0.0 ? c : NULL, y);
    j.alpha = alpha;
    j.beta = beta;
    j.has_c = c && beta != 0.0;
    bool addmm = c != NULL;
    if (addmm && !loops_addmm[j.dt]) {
        return kiln__err(KILN_ERR_TYPE, "[%s] not supported for dtype %s",
                         fn, kiln_dtype_name(j.dt));
    }
    dispatch(&j, addmm);
    if (atomic_load(&j.failed)) {
        /* scratch of whichever path ran: packed operands or blocks */
        return kiln__err(KILN_ERR_MEMORY,
                         "[%s] out of memory allocating scratch", fn);
    }
    return KILN_OK;
}

kiln_status kiln__cpu_eval_matmul(const kiln_node *n, kiln_array *const *in,
                                  kiln_array *const *out)
{
    return run(n, NULL, in[0], in[1], out[0], 1.0, 0.0);
}

kiln_status kiln__cpu_eval_addmm(const kiln_node *n, kiln_array *const *in,
                                 kiln_array *const *out)
{
    const kiln_addmm_params *p = n->params;
    return run(n, in[0], in[1], in[2], out[0], p->alpha, p->beta);
}
