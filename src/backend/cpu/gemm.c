/*
 * gemm.c - kiln's own float32 matrix product (interface in gemm.h).
 *
 * The classic blocked scheme. k is cut into blocks of at most KC_MAX
 * (equal lengths but the last; the cut depends on k alone). B is read in
 * panels of NR = 2 * VW columns (32 with AVX-512, 16 with AVX2), where it
 * lies when read_in_place says so, else packed once by the pool per k
 * block (element (p, j) of a panel at p * NR + j, zeros past n) and
 * shared by every thread. The output is cut into blocks of at most
 * NC_PANELS panels (512 columns) by near-equal row blocks of micro-panels
 * of MR rows, the pool's items, column block outermost so that
 * consecutive items share a k block of B in L2. An item packs its
 * rows of A one k block at a time (element (i, p) at p * MR + i, zeros
 * past m), then runs the micro-kernel over each micro-panel and each panel
 * of its column block: an MR x NR tile of Y held in 2 * MR vector
 * registers, one k step adding a broadcast element of A times two vectors
 * of B (a copy with a third or two thirds of the rows for a short last
 * micro-panel). The A micro-panel stays in L1 while the B panels stream
 * from L2. A batch with a product for every pool chunk runs each product
 * on one thread instead (matmul_cpu.c): kiln__gemm_f32 called inside a
 * pool range runs inline.
 *
 * Summation order: each element of Y is the k blocks' partial sums added
 * into Y in block order (the first to beta * C), each block summed over p
 * in order, one thread per element; so the bits depend on k only, not on
 * the thread count.
 */
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include "gemm.h"

#ifdef KILN_GEMM_VW
#include <immintrin.h>
#endif

#include "../../core/buffer.h"
#include "../../runtime/pool.h"

#ifdef KILN_GEMM_VW

#define VW KILN_GEMM_VW
#define NR (2 * VW)
/* 2 * MR accumulators, two B vectors and a broadcast fit the registers:
 * 24 + 3 of AVX-512's 32, 12 + 3 of AVX2's 16. */
#define MR (VW == 16 ? 12 : 6)
#define KC_MAX 384
/* Micro-panels of a row block at most: its packed A, MR * KC_MAX *
 * MC_PANELS floats (221 KB with AVX-512), sits in L2 beside a k block of
 * a column block of B (KC_MAX x 512 floats, 768 KB). */
#define MC_PANELS 12
/* Panels of a column block: 512 columns. */
#define NC_PANELS (512 / NR)
/* Multiply-adds a pool chunk should hold at least. */
#define CHUNK_FLOPS (1 << 20)

typedef float vf __attribute__((vector_size(VW * 4)));
/* acc += s * v as one fused multiply-add (ISO C mode never contracts) */
#if VW == 16
#define VFMA(acc, s, v) ((acc) = _mm512_fmadd_ps(_mm512_set1_ps(s), v, acc))
#else
#define VFMA(acc, s, v) ((acc) = _mm256_fmadd_ps(_mm256_set1_ps(s), v, acc))
#endif
/* the same vector at any float alignment: rows of Y and C */
typedef float vfu __attribute__((vector_size(VW * 4), aligned(4)));

typedef struct {
    kiln_gemm_f32 p;
    int64_t kc, nkb; /* k block length (all but the last), block count */
    int64_t npan;    /* NR panels across n */
    int64_t nread;   /* panels [0, nread) read from B in place */
    int64_t ncp, ncb; /* panels per column block, column blocks */
    /* row blocks: nrb of them, near-equal, block r of rbq + (r < rbr)
     * micro-panels starting at micro-panel r * rbq + min(r, rbr) */
    int64_t nrb, rbq, rbr;
    /* packed B, panels [nread, npan): block q at q * kc * (npan - nread)
     * * NR, panel jp of it at (jp - nread) * kq * NR; NULL when none */
    float *pb;
    atomic_int failed;
} gemm_job;

static int64_t min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

/* With CBLAS, the shapes where kiln's GEMM was measured at or ahead of
 * OpenBLAS's SkylakeX sgemm on kiln's tiles (Sapphire Rapids, 2 threads,
 * the two alternating per call, median of 400 time ratios; run to run
 * noise about 0.05; a Zen 5 agrees where checked): 0.81-0.96 for
 * (m, n, k) = (128, 512, 512), (256, 512, 784), (784, 512, 256), (512,
 * 256, 1024), (256, 128, 1024), (64, 1024, 1024), (256, 1024, 1024),
 * (1024, 1024, 1024), (4096, 1024, 256), (128, 256, 128), (256, 256,
 * 256), (64, 128, 512), (32, 512, 512), (512, 512, 16); 0.98-1.01 for
 * (2048, 768, 768), (1024, 1024, 4096). Outside: 128^3 1.05-1.17, (512,
 * 128, 32) 1.39, (1024, 256, 8) 1.46, (128, 256, 10) 1.51 (little work a
 * thread, two dispatches); n above 1024: 2048^3 1.04, (1024, 4096, 1024)
 * 1.06, (64, 4096, 4096) 1.11 (B packed in a pass of its own); (4096, 64,
 * 4096) 1.30 (A packed over few columns). Wide outputs with a short k
 * measured both ways: (256, 512, 10) 0.70 in one harness, 0.89-1.54 in
 * gemm_bench; (1024, 1024, 10) 0.30: left to BLAS until understood. */
bool kiln__gemm_f32_worth(int64_t m, int64_t n, int64_t k)
{
    double work = (double)m * (double)n * (double)k;
#ifdef KILN_HAVE_CBLAS
    return m >= 32 && n >= 128 && n <= 1024 && k >= 16 &&
           work >= (double)(1 << 22);
#else
    /* Against kiln's blocked loops (a build made with `make BLAS_CFLAGS=
     * BLAS_LIBS=`; Zen 5, 2 threads; kiln_matmul under KILN_GEMM=always and
     * KILN_GEMM=blas alternating per call as bench/gemm_bench does, median of
     * 31 ratios): 0.25-0.68 from 32^3 up, n = 10 products (0.35-0.43),
     * matrix-vector (1024, 1, 1024) 0.46, (2000, 2, 2000) 0.40 and
     * vector-matrix (1, 1024, 1024) 0.92 included; 1.10-1.15 at 16^3 and
     * below, 1.20 for the outer product (1000, 1000, 1), 2.0 for (3, 3,
     * 100000) (a 12 x 32 tile for 9 outputs). */
    return k >= 2 && (double)m * (double)n >= 64 &&
           work >= (double)(1 << 15);
#endif
}

/* Items are (k block, panel) pairs of B, panels [nread, npan). */
static void pack_b(void *ctx, int64_t lo, int64_t hi)
{
    const gemm_job *g = ctx;
    int64_t npack = g->npan - g->nread;
    for (int64_t t = lo; t < hi; t++) {
        const kiln_gemm_f32 *P = &g->p;
        int64_t q = t / npack, jp = g->nread + t % npack;
        int64_t p0 = q * g->kc, kq = min64(g->kc, P->k - p0);
        int64_t j0 = jp * NR, nr = min64(NR, P->n - j0);
        float *d = g->pb + (q * g->kc * npack + (jp - g->nread) * kq) * NR;
        const float *s = P->b + p0 * P->brs + j0 * P->bcs;
        for (int64_t p = 0; p < kq; p++, d += NR, s += P->brs) {
            if (P->bcs == 1 && nr == NR) {
                memcpy(d, s, NR * sizeof *d);
                continue;
            }
            int64_t j = 0;
            for (; j < nr; j++) {
                d[j] = s[j * P->bcs];
            }
            for (; j < NR; j++) {
                d[j] = 0.0f;
            }
        }
    }
}

/* Packs micro-panels [mp0, mp1) of A for k block [p0, p0 + kq) to pa. */
static void pack_a(const gemm_job *g, int64_t mp0, int64_t mp1, int64_t p0,
                   int64_t kq, float *pa)
{
    const kiln_gemm_f32 *P = &g->p;
    for (int64_t mp = mp0; mp < mp1; mp++, pa += MR * kq) {
        int64_t i0 = mp * MR, mr = min64(MR, P->m - i0);
        const float *s = P->a + i0 * P->ars + p0 * P->acs;
        if (P->ars == 1 && mr == MR) {
            /* columns of A contiguous (a transpose): one row of the panel
             * is MR floats in a row */
            for (int64_t p = 0; p < kq; p++) {
                memcpy(pa + p * MR, s + p * P->acs, MR * sizeof *pa);
            }
            continue;
        }
        if (P->acs == 1 && mr == MR) {
            /* rows of A contiguous: MR streams read in step, the panel
             * written in order */
            const float *r[MR];
            for (int i = 0; i < MR; i++) {
                r[i] = s + i * P->ars;
            }
            for (int64_t p = 0; p < kq; p++) {
                for (int i = 0; i < MR; i++) {
                    pa[p * MR + i] = r[i][p];
                }
            }
            continue;
        }
        if (P->acs == 1) {
            for (int64_t i = 0; i < mr; i++) {
                const float *r = s + i * P->ars;
                for (int64_t p = 0; p < kq; p++) {
                    pa[p * MR + i] = r[p];
                }
            }
        } else {
            for (int64_t p = 0; p < kq; p++) {
                const float *c = s + p * P->acs;
                for (int64_t i = 0; i < mr; i++) {
                    pa[p * MR + i] = c[i * P->ars];
                }
            }
        }
        for (int64_t i = mr; i < MR; i++) {
            for (int64_t p = 0; p < kq; p++) {
                pa[p * MR + i] = 0.0f;
            }
        }
    }
}

/* The tile of Y at row i0, column j0 (mr x nr of it inside Y, mr <=
 * rows) gets the product of the first `rows` rows of packed micro-panel a
 * and panel b (rows ldb floats apart: NR when packed) over kq steps:
 * Y = alpha * AB + beta * C for the first k block (C unread when beta is
 * 0), Y += alpha * AB for the others. `rows`, a constant where inlined, is
 * MR or, for the last micro-panel, fewer. */
static inline __attribute__((always_inline)) void
micro_rows(const kiln_gemm_f32 *P, int64_t kq, const float *restrict a,
           const float *restrict b, int64_t ldb, int64_t i0, int64_t j0,
           bool first, const int rows)
{
    float *y = P->y + i0 * P->ldy + j0;
    for (int i = 0; i < rows; i++) {
        __builtin_prefetch(y + i * P->ldy, 1);
        __builtin_prefetch(y + i * P->ldy + VW, 1);
    }
    vf acc[MR][2];
    for (int i = 0; i < MR; i++) {
        acc[i][0] = (vf){0};
        acc[i][1] = (vf){0};
    }
    for (int64_t p = 0; p < kq; p++, a += MR, b += ldb) {
        __builtin_prefetch(b + 8 * ldb);
        __builtin_prefetch(b + 8 * ldb + VW);
        vf b0 = *(const vf *)(const void *)b;
        vf b1 = *(const vf *)(const void *)(b + VW);
#pragma GCC unroll 16
        for (int i = 0; i < rows; i++) {
            VFMA(acc[i][0], a[i], b0);
            VFMA(acc[i][1], a[i], b1);
        }
    }
    const float alpha = P->alpha;
    /* where C is read: Y itself after the first k block; with beta 0,
     * nowhere (c then walks Y's rows unread, P->c may be NULL) */
    const float beta = first ? P->beta : 1.0f;
    bool from_c = first && beta != 0.0f;
    const float *c = from_c ? P->c + i0 * P->crs + j0 * P->ccs : y;
    int64_t crs = from_c ? P->crs : P->ldy, ccs = from_c ? P->ccs : 1;
    int64_t mr = min64(rows, P->m - i0), nr = min64(NR, P->n - j0);
    if (mr == rows && nr == NR && (beta == 0.0f || ccs == 1)) {
        for (int i = 0; i < rows; i++, y += P->ldy, c += crs) {
            vfu *r = (vfu *)(void *)y;
            if (beta == 0.0f) {
                r[0] = alpha * acc[i][0];
                r[1] = alpha * acc[i][1];
            } else {
                const vfu *s = (const vfu *)(const void *)c;
                r[0] = beta * s[0] + alpha * acc[i][0];
                r[1] = beta * s[1] + alpha * acc[i][1];
            }
        }
        return;
    }
    float t[MR][NR];
    memcpy(t, acc, sizeof t);
    for (int64_t i = 0; i < mr; i++, y += P->ldy, c += crs) {
        for (int64_t j = 0; j < nr; j++) {
            y[j] = beta == 0.0f ? alpha * t[i][j]
                                : beta * c[j * ccs] + alpha * t[i][j];
        }
    }
}

/* micro_rows for the tile at row i0: all MR rows, or a third or two
 * thirds of them for a last micro-panel that short (m = 256 leaves 4 of
 * 12 rows: 3% of the product's multiply-adds spent on padding). Each
 * element of Y gets the same multiply-adds in the same order whichever
 * runs. */
static void micro(const kiln_gemm_f32 *P, int64_t kq, const float *restrict a,
                  const float *restrict b, int64_t ldb, int64_t i0,
                  int64_t j0, bool first)
{
    int64_t left = P->m - i0;
    if (left > 2 * MR / 3) {
        micro_rows(P, kq, a, b, ldb, i0, j0, first, MR);
    } else if (left > MR / 3) {
        micro_rows(P, kq, a, b, ldb, i0, j0, first, 2 * MR / 3);
    } else {
        micro_rows(P, kq, a, b, ldb, i0, j0, first, MR / 3);
    }
}

/* Items are blocks of the output: column block t / nrb (ncp panels), row
 * block t % nrb; consecutive items share a column block, whose k block of
 * B (kc x 512 floats at most) stays in L2 while the item packs its rows of
 * A beside it. */
static void compute(void *ctx, int64_t lo, int64_t hi)
{
    gemm_job *g = ctx;
    const kiln_gemm_f32 *P = &g->p;
    int64_t rbmax = g->rbq + (g->rbr > 0);
    kiln_buffer *scratch =
        kiln__buffer_new(sizeof(float) * MR * (size_t)(rbmax * g->kc));
    if (!scratch) {
        atomic_store(&g->failed, 1);
        return;
    }
    float *pa = scratch->data;
    for (int64_t t = lo; t < hi; t++) {
        int64_t rb = t % g->nrb;
        int64_t mp0 = rb * g->rbq + min64(rb, g->rbr);
        int64_t mp1 = mp0 + g->rbq + (rb < g->rbr);
        int64_t jp0 = t / g->nrb * g->ncp;
        int64_t jp1 = min64(g->npan, jp0 + g->ncp);
        for (int64_t q = 0; q < g->nkb; q++) {
            int64_t p0 = q * g->kc, kq = min64(g->kc, P->k - p0);
            const float *pb =
                g->pb ? g->pb + q * g->kc * (g->npan - g->nread) * NR : NULL;
            const float *b = P->b + p0 * P->brs;
            pack_a(g, mp0, mp1, p0, kq, pa);
            for (int64_t mp = mp0; mp < mp1; mp++) {
                const float *a = pa + (mp - mp0) * MR * kq;
                for (int64_t jp = jp0; jp < jp1; jp++) {
                    if (jp < g->nread) {
                        micro(P, kq, a, b + jp * NR, P->brs, mp * MR,
                              jp * NR, q == 0);
                    } else {
                        micro(P, kq, a, pb + (jp - g->nread) * kq * NR, NR,
                              mp * MR, jp * NR, q == 0);
                    }
                }
            }
        }
    }
    kiln__buffer_release(scratch);
}

/* Whether the full panels of B are read where B lies rather than packed:
 * its rows contiguous, starting on cache lines (each panel row is then two
 * aligned vectors), and few enough rows of A to amortise a packing. Rows a
 * multiple of 4 KB apart fall in few cache sets, which costs more as m
 * grows. Measured on (m x 784) @ (784 x n) and (m x 1024) @ (1024 x 1024),
 * read in place against packed: n = 512 0.90-0.94 for m up to 512, 0.96 at
 * 784-1024, 0.99 at 2048; n = 1024 0.93 at m = 256, 1.01 at 512, 1.08 at
 * 1024. */
static bool read_in_place(const kiln_gemm_f32 *p)
{
    if (p->bcs != 1 || p->brs % VW != 0 ||
        (uintptr_t)(const void *)p->b % (VW * sizeof(float)) != 0) {
        return false;
    }
    bool aliased = p->brs % 1024 == 0;
    return p->m <= (aliased ? 256 : 2048);
}

bool kiln__gemm_f32(const kiln_gemm_f32 *p)
{
    gemm_job g = {.p = *p};
    int64_t m = p->m, n = p->n, k = p->k;
    g.nkb = (k + KC_MAX - 1) / KC_MAX;
    g.kc = (k + g.nkb - 1) / g.nkb;
    g.npan = (n + NR - 1) / NR;
    g.nread = read_in_place(p) ? n / NR : 0;
    atomic_init(&g.failed, 0);
    size_t npb = sizeof(float) * (size_t)(k * (g.npan - g.nread) * NR);
    kiln_buffer *packed = npb > 0 ? kiln__buffer_new(npb) : NULL;
    if (npb > 0 && !packed) {
        return false;
    }
    g.pb = packed ? packed->data : NULL;
    /* a (k block, panel) item copies kq * NR floats */
    kiln__pool_for(g.nkb * (g.npan - g.nread), 4, pack_b, &g);
    /* Row blocks near-equal (q or q + 1 micro-panels), at most MC_PANELS,
     * at least the pool's chunks in all, and (where there are micro-panels
     * enough) as many items as a multiple of the pool's chunks: each chunk
     * then holds as many items, near-equal work, and the threads finish
     * together. Blocks of a fixed size with a short last one (22
     * micro-panels as 7 x 3 + 1) left one thread finishing alone: 5-8% on
     * the MLP's products (docs/internals.md). */
    int64_t nmp = (m + MR - 1) / MR;
    int64_t chunks = KILN_POOL_CHUNKS_PER_THREAD * kiln__pool_nthreads();
    g.ncp = min64(g.npan, NC_PANELS);
    g.ncb = (g.npan + g.ncp - 1) / g.ncp;
    int64_t nrb = (nmp + MC_PANELS - 1) / MC_PANELS;
    int64_t want = (chunks + g.ncb - 1) / g.ncb;
    nrb = nrb > want ? nrb : want;
    while (nrb < nmp && nrb * g.ncb % chunks != 0) {
        nrb++;
    }
    g.nrb = min64(nrb, nmp);
    g.rbq = nmp / g.nrb;
    g.rbr = nmp % g.nrb;
    int64_t rbmax = g.rbq + (g.rbr > 0);
    double per = (double)(MR * rbmax) * (double)(NR * g.ncp) * (double)k;
    int64_t grain = per >= CHUNK_FLOPS ? 1 : (int64_t)(CHUNK_FLOPS / per);
    kiln__pool_for(g.nrb * g.ncb, grain, compute, &g);
    kiln__buffer_release(packed);
    return !atomic_load(&g.failed);
}

#endif /* KILN_GEMM_VW */
