/*
 * prim.h - the primitive descriptor: the one place a primitive lives.
 *
 * Each primitive is one `const kiln_prim` in its family file (unary.c,
 * binary.c, reduce.c, movement.c, matmul.c, index.c, random.c, creation.c)
 * and one line of prim_list.h, which generates the registry. Nothing
 * outside the registry switches on a primitive's identity: whatever
 * differs between primitives is a field here (flags, the dtype rule, the
 * kernel table). Params structs the ops layer fills live in the family's
 * header (prim/<family>.h), never in a backend header.
 *
 * Invariants:
 * - `infer` is the only shape rule. It is called when a node is created
 *   (kiln__node_make) and again whenever shapes must be recomputed.
 * - `eval_cpu` receives inputs that are all evaluated, and outputs whose
 *   dtype/ndim/shape are set (from infer) but which hold no buffer; it must
 *   give each output a buffer (kiln__array_alloc, a view, or a donated
 *   input buffer) or fail with an error naming the primitive. On failure
 *   the scheduler drops whatever buffers the outputs got, so they stay
 *   pending and a later eval runs the node again: kernels need no cleanup
 *   of their outputs.
 * - params are plain bytes, zero-initialised before being filled, so the
 *   default equal/hash compare and hash the bytes. The one exception is a
 *   params struct holding a counted pointer, whose primitive supplies
 *   params_retain/params_release (equal/hash then compare the pointer).
 */
#ifndef KILN_PRIM_PRIM_H
#define KILN_PRIM_PRIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kiln.h"

#define KILN_MAX_OUTPUTS 8

typedef struct kiln_node kiln_node;
typedef struct kiln_prim kiln_prim;

/* What infer sees of an input and writes for an output. */
typedef struct kiln_meta {
    kiln_dtype dtype;
    int ndim;
    int64_t shape[KILN_MAX_NDIM];
} kiln_meta;

enum {
    KILN_PRIM_ELEMENTWISE = 1u << 0, /* out[i] reads only in[i] (after
                                        broadcasting) */
    KILN_PRIM_FUSABLE = 1u << 1,     /* may join a fused region */
    KILN_PRIM_REDUCTION = 1u << 2,
    KILN_PRIM_VIEW = 1u << 3,        /* output shares its input's buffer */
    KILN_PRIM_RANDOM = 1u << 4,
    KILN_PRIM_NO_SHAPELESS = 1u << 5 /* cannot replay on new shapes */
};

/* How the public op chooses dtypes for an elementwise primitive; read by
 * the ops layer (ops/elementwise.c), never by name. */
typedef enum kiln_dtype_rule {
    KILN_RULE_SAME,      /* result in the (promoted) input dtype */
    KILN_RULE_FLOAT,     /* integers and bool promote to float32 first */
    KILN_RULE_TO_BOOL,   /* inputs promoted together, result bool */
    KILN_RULE_BOOL,      /* inputs cast to bool, result bool */
    KILN_RULE_INTEGER,   /* integers and bool only, result promoted */
    KILN_RULE_NUMERIC    /* like SAME, but bool inputs are rejected */
} kiln_dtype_rule;

/* What a primitive's `noop` facet answers (compile's simplify drops
 * no-op steps): never, always for these params and input dtype (a
 * transpose by the identity), or only at these shapes (a reshape to the
 * input's own shape, which a shapeless replay must still check). */
enum {
    KILN_NOOP_NEVER = 0,
    KILN_NOOP_ALWAYS = 1,
    KILN_NOOP_THIS_SHAPE = 2
};

/*
 * Transform rules. Each applies to one application of primitive p (its
 * params, its inputs in[0..nin) and outputs out[0..nout), arrays that may
 * be lazy) and builds new arrays with the PUBLIC ops (kiln_multiply, ...).
 * The transform always calls a rule inside a scope it opened
 * (kiln_scope_begin), so a rule never releases what ops return and never
 * opens a scope of its own; the caller retains the arrays it is given
 * before ending its scope. A rule returns KILN_OK or the failing op's
 * status.
 *
 * vjp: cot_out[k] is the cotangent of out[k] (NULL: zero); for each input
 * with need[i], set cot_in[i] to its cotangent, an array of in[i]'s shape
 * and dtype, or NULL for zero (index inputs, stop_gradient). Values of
 * every dtype carry cotangents: a rule computes an integer input's the
 * way it computes a float one's (the transform casts it).
 *
 * jvp: tan_in[i] is the tangent of in[i] (NULL: zero); set tan_out[k] to
 * each output's tangent (NULL: zero).
 *
 * vmap: bdim[i] is the batch axis of in[i] (-1: not batched; in[i] then
 * has the shape the primitive saw when traced); set out[k] (nout outputs)
 * and out_bdim[k] (-1: the output does not vary over the batch).
 */
typedef kiln_status (*kiln_vjp_fn)(const kiln_prim *p, const void *params,
                                   kiln_array *const *in, int nin,
                                   kiln_array *const *out, int nout,
                                   kiln_array *const *cot_out,
                                   const bool *need, kiln_array **cot_in);
typedef kiln_status (*kiln_jvp_fn)(const kiln_prim *p, const void *params,
                                   kiln_array *const *in, int nin,
                                   kiln_array *const *out, int nout,
                                   kiln_array *const *tan_in,
                                   kiln_array **tan_out);
typedef kiln_status (*kiln_vmap_fn)(const kiln_prim *p, const void *params,
                                    kiln_array *const *in, const int *bdim,
                                    int nin, kiln_array **out, int *out_bdim,
                                    int *nout);

typedef kiln_status (*kiln_infer_fn)(const kiln_prim *p, const void *params,
                                     const kiln_meta *in, int nin,
                                     kiln_meta *out, int *nout);
typedef kiln_status (*kiln_eval_fn)(const kiln_node *n,
                                    kiln_array *const *in,
                                    kiln_array *const *out);

struct kiln_prim {
    const char *name;
    unsigned flags;
    int nin;            /* number of inputs, -1 when variadic */
    size_t params_size; /* bytes of the params struct, 0 for none */
    kiln_infer_fn infer;
    kiln_eval_fn eval_cpu;
    /* NULL: never a no-op (see KILN_NOOP_*); else for one-input,
     * one-output primitives, whether the output equals the input. */
    int (*noop)(const void *params, const kiln_meta *in,
                const kiln_meta *out);
    /* NULL: the output's value depends on the inputs' values. Else the
     * output is one 0-d value that depends only on the inputs' metadata
     * (number_of_elements): its value at these input metas, which
     * compile's simplify folds into a constant where shapes are fixed. */
    double (*shape_value)(const void *params, const kiln_meta *in);
    /* NULL: compare/hash the params bytes */
    bool (*equal)(const void *a, const void *b, size_t size);
    uint64_t (*hash)(const void *params, size_t size);
    /* Transform facets (see the typedefs above); NULL vjp/jvp means "not
     * differentiable", a clear error naming the primitive when a
     * gradient must flow through it; NULL vmap falls back to a loop over
     * the batch. */
    /* Params holding a counted reference (the fused region primitive):
     * called after a node copies its params and before it frees them.
     * NULL for plain-bytes params. */
    void (*params_retain)(const void *params);
    void (*params_release)(const void *params);
    kiln_vjp_fn vjp;
    kiln_jvp_fn jvp;
    kiln_vmap_fn vmap;
    const struct kiln_emit *emit;
    /* Family data: the dtype rule of an elementwise op and its table of
     * kernels (one per input dtype), whose type the family file defines. */
    kiln_dtype_rule rule;
    const void *kernels;
};

/* Applies a fusable elementwise primitive to n elements, for the fused
 * region interpreter: in[k] with byte stride in_strides[k] (0 for a
 * broadcast scalar), all of dtype in_dt (where: the condition is bool and
 * the other two in_dt); y contiguous of dtype out_dt. Same loops as eager,
 * so the interpreter's results are eager's bit for bit. */
typedef void (*kiln_chunk_fn)(const kiln_prim *p, const void *params,
                              kiln_dtype in_dt, kiln_dtype out_dt, int64_t n,
                              const char *const *in,
                              const int64_t *in_strides, char *y);

/* How a primitive takes part in a fused region (compile/fuse.c,
 * codegen.c and the interpreter read only this; none names a primitive).
 *
 * Elementwise (the primitive has KILN_PRIM_ELEMENTWISE): `expr` is the C
 * expression of one output element, a template over the scalar functions
 * of backend/cpu/scalar.h. In it, $0 $1 $2 stand for the operands (values
 * in their compute type: float32 for float16/bfloat16, kiln_b for bool,
 * else the storage type), $t for the compute-type suffix of the operands
 * (of $1 for where), $o for the compute-type suffix of the output (b u8 ..
 * i64 f32 f64). The expression yields the output's compute type;
 * rounding a float16/bfloat16 result to its storage precision is the
 * code generator's job, not the template's. `vexpr`, where not NULL, is
 * the same op over float32 vectors (kiln_vf, backend/cpu/vecf.h; every
 * operand a vector, $t f32), lane for lane the bits of `expr`: a loop
 * that rounds float16 values it reads again is written over vectors when
 * all its ops have one (codegen_loop.c). `chunk` runs the same op in
 * the interpreter. `cost`: the op's work per element in a kernel relative
 * to an add (0 counts as 1; a division about 3, exp about 8, erf 10,
 * power 20): the sum over a region sets how finely its elements are cut
 * for the thread pool (fused_cpu.c), so an expensive region is spread
 * over the threads at sizes where a cheap one is not worth waking them.
 *
 * Reduction (KILN_PRIM_REDUCTION): `combine` is the binary elementwise
 * primitive folding a value into the accumulator (sum: add), `identity`
 * the start value (converted to the output dtype with saturation, so
 * -INFINITY is an integer max's INT_MIN; for bool, identity > 0), `nonempty` that reducing zero
 * elements is an error. The accumulator and result have the reduction's
 * output dtype; inputs are converted to it first. `order_free`: the fold
 * gives the same bits whatever order it combines elements in, for every
 * dtype (logical and/or); integer sums and products are order-free too,
 * float folds are not (nor max/min, for the sign of a zero).
 *
 * View-like identities that fusion may see through (broadcast_to,
 * stop_gradient) use expr "$0". */
typedef struct kiln_emit {
    const char *expr;
    const char *vexpr;
    kiln_chunk_fn chunk;
    const kiln_prim *combine;
    double identity;
    bool nonempty;
    bool order_free;
    unsigned char cost;
} kiln_emit;

/* The registry: every primitive, generated from prim_list.h. */
#define KILN_X_(name) extern const kiln_prim kiln__prim_##name;
#include "prim_list.h"
#undef KILN_X_

extern const kiln_prim *const kiln__prims[];
extern const int kiln__nprims;

/* Default params equality and hash (bytes). */
bool kiln__prim_params_equal(const kiln_prim *p, const void *a,
                             const void *b);
uint64_t kiln__prim_params_hash(const kiln_prim *p, const void *params);

#endif
