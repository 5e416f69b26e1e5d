/*
 * region.h - a fused region: the unit that fuse.c builds, codegen.c turns
 * into C, jit.c compiles, and the interpreter (backend/cpu/interp_cpu.c)
 * runs when no compiler works. Both executors implement the same kernel
 * ABI (below), so the runtime (backend/cpu/fused_cpu.c) cannot tell them
 * apart.
 *
 * The domain. Every value of a region lives on one iteration space, the
 * domain, of rank D (`ndim`). A value's shape, right-aligned to rank D,
 * has each dim equal to the domain's or 1 (numpy broadcasting): reading an
 * operand uses stride 0 on its broadcast dims. Sizes are known only at run
 * time (a shapeless function replays one region on every shape), so
 * nothing in a region depends on a size.
 *
 * Reductions. When `nreduce` = k > 0, every reduction in the region folds
 * the trailing k dims of the domain (its input has rank D, its output has
 * those dims as 1, keepdims or not). The domain then splits into outer
 * dims (the first D - k, one "row" each) and inner dims (the last k,
 * `len` elements per row). A value is *inner* when it varies along the
 * inner dims, else *outer* (one value per row). Values have a `level`:
 * inputs and constants 0; an op max(level of its args); a reduction one
 * more than its argument. Per row, the kernel runs passes 0..L over the
 * inner elements: pass l computes the inner values of level l that are
 * needed (recomputing cheaper ones rather than storing them) and folds the
 * reductions whose argument has level l; outer values of level l are
 * computed once per row before pass l; outputs are stored in the pass of
 * their level (inner) or after the last pass (outer). Softmax is three
 * passes over a row held in cache, one read and one write of memory.
 * With k = 0 (a purely elementwise region) every value has level 0 and is
 * inner, and a kernel call is one row of n elements.
 *
 * Invariants (fuse.c establishes them, the executors rely on them):
 * - vals are in topological order: every arg index is smaller than the
 *   value's own index; the last values need not be outputs;
 * - an OP value's prim has an emit facet with `expr` and `chunk` and the
 *   KILN_PRIM_ELEMENTWISE flag; its args share the dtype the primitive's
 *   infer accepted (where: bool condition, then two of one dtype);
 * - a REDUCE value's prim has an emit facet with `combine`; its arg is an
 *   inner value; its dtype is the reduction's output dtype; params are
 *   the node's kiln_reduce_params (the reduced axes are the trailing k);
 * - an INPUT value's `input` indexes the region's inputs; each input
 *   appears as exactly one INPUT value; `in_ndim[i]` is its rank at trace
 *   time (rank 0: a scalar, always read with stride 0); an input marked
 *   `in_outer[i]` has size 1 on every inner dim (read once per row);
 * - CONST values hold their value in the storage of their dtype;
 * - an OP value is inner when an argument is, or when its result spans an
 *   inner dim (a broadcast_to of an outer value: inner, its argument
 *   outer);
 * - outputs are values of the domain shape (inner) or of the reduced shape
 *   (outer); `out_ndim[j]` is the output array's rank (D, or D - k for a
 *   reduction without keepdims; the memory layout is the same).
 */
#ifndef KILN_COMPILE_REGION_H
#define KILN_COMPILE_REGION_H

#include <stdbool.h>
#include <stdint.h>

#include "../prim/prim.h"

/* Limits fusion respects (tunable; see fuse.c). Operands = inputs plus
 * outputs, at most KILN_ITER_MAX_OPS (backend/cpu/iter.h). */
#define KILN_REGION_MAX_OPERANDS 16

typedef enum kiln_rval_kind {
    KILN_RVAL_INPUT,
    KILN_RVAL_CONST,
    KILN_RVAL_OP,
    KILN_RVAL_REDUCE
} kiln_rval_kind;

typedef struct kiln_rval {
    kiln_rval_kind kind;
    kiln_dtype dtype;
    bool inner;           /* varies along the inner (reduced) dims */
    int level;            /* see above */
    int input;            /* INPUT: index into the region's inputs */
    const kiln_prim *prim;/* OP, REDUCE */
    const void *params;   /* OP, REDUCE: prim->params_size bytes (owned by
                             the region) or NULL */
    int nargs;            /* OP: prim->nin; REDUCE: 1 */
    int args[3];          /* indices of earlier values */
    uint8_t value[8];     /* CONST: the value in dtype's storage */
} kiln_rval;

typedef struct kiln_region {
    int ndim;             /* D, the domain rank (>= 0) */
    int nreduce;          /* k, trailing dims reduced (0: elementwise) */
    int nvals;
    kiln_rval *vals;
    int ninputs;
    kiln_dtype *in_dtype; /* [ninputs] */
    int *in_ndim;         /* [ninputs] rank at trace time */
    bool *in_outer;       /* [ninputs] size 1 on every inner dim */
    int noutputs;
    int *out_val;         /* [noutputs] value index of each output */
    int *out_ndim;        /* [noutputs] rank of the output array */
    int64_t *dom;         /* [ndim] the traced domain, or NULL (below) */
} kiln_region;

/*
 * The kernel ABI (one function per region; the same shape as kiln_row_fn
 * of backend/cpu/iter.h so the shared iterator drives it):
 *
 *     void kernel(void *ctx, char *const *p, const int64_t *s, int64_t n);
 *
 * Operands are the region's outputs first (0 .. noutputs-1), then its
 * inputs (noutputs .. noutputs+ninputs-1). p[o] is operand o's first
 * element, s[o] its byte stride along the walked dim.
 *
 * Elementwise region (nreduce == 0): ctx is unused (NULL); the call covers
 * n elements of the domain along one row of the iterator; s[o] may be any
 * value (0 for broadcast, negative, non-unit); a kernel takes a fast path
 * when every stride is the element size (rank-0 inputs: 0) and a strided
 * path otherwise.
 *
 * Reduction region (nreduce > 0): ctx points at a kiln_region_inner; the
 * call covers n consecutive rows (outer positions) along one outer dim; s
 * is each operand's byte stride between rows (0 where broadcast); along a
 * row, operand o's element i is at p[o] + i * inner->stride[o] (0 for
 * outer values and outputs); a kernel takes a fast path when every inner
 * operand's stride is its element size.
 */
typedef struct kiln_region_inner {
    int64_t len;                               /* elements per row */
    int64_t stride[KILN_REGION_MAX_OPERANDS];  /* bytes, per operand */
    int64_t stream; /* nonzero: write the output rows with streaming
                     * stores where the kernel can (codegen.c) */
} kiln_region_inner;

typedef void (*kiln_region_kernel)(void *ctx, char *const *p,
                                   const int64_t *s, int64_t n);

/* Compute-type suffix of a dtype as scalar.h spells it: "b", "u8".."u64",
 * "i8".."i64", "f32" (also for float16/bfloat16), "f64"; and its C
 * compute type ("kiln_b", "uint8_t", ..., "float", "double"). */
const char *kiln__region_tsuffix(kiln_dtype dt);
const char *kiln__region_ctype(kiln_dtype dt);
/* Storage C type ("kiln_f16" and "kiln_bf16" for the half types). */
const char *kiln__region_stype(kiln_dtype dt);

/* Frees a region made by fuse.c (its arrays and owned params). NULL is a
 * no-op. */
void kiln__region_free(kiln_region *r);

/* The domain of a call: dom[] holds the broadcast of the inputs' shapes
 * (right-aligned to rank D); where the inputs do not span the region's
 * domain (a broadcast_to inside it enlarges a value: the region keeps its
 * traced domain in r->dom), the axes they leave at 1 take the traced
 * size. Such a region comes only from a fixed-shape compile (shapeless
 * refuses broadcast_to), whose calls have the traced shapes, so that is
 * the call's domain; every other region's domain is its inputs'. */
static inline void kiln__region_domain_fill(const kiln_region *r,
                                            int64_t *dom)
{
    for (int d = 0; r->dom && d < r->ndim; d++) {
        dom[d] = dom[d] == 1 ? r->dom[d] : dom[d];
    }
}

#endif
