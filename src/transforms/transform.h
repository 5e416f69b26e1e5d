/*
 * transform.h - what the function transforms (vjp.c, jvp.c, vmap.c) and
 * the fused primitive's rules (prim/compiled_ad.c) share: a function
 * traced into a graph of steps, replayed on real arrays, and the three
 * passes over such a graph (reverse cotangents, forward tangents,
 * batching).
 *
 * A transform's body traces the inner function on placeholders shaped
 * like its arguments (per example for vmap), with the trace depth raised
 * so compiled functions inline their bodies; replays the recorded steps on
 * the real arguments (lazy arrays: nothing is evaluated); then runs one
 * pass over the steps, calling each primitive's rule (prim.h).
 *
 * The graph is compile's kiln_graph (compile/graph.h) with one
 * difference: a constant may be a lazy array (work that does not depend
 * on the placeholders: closure arrays, an outer trace's placeholders such
 * as a captured random key), kept as it is, never evaluated here.
 *
 * Invariants: every `vals` array below has one entry per graph value,
 * each NULL or an owned reference; the passes call rules inside scopes of
 * their own and keep (retain) only what they store in the arrays given.
 */
#ifndef KILN_TRANSFORMS_TRANSFORM_H
#define KILN_TRANSFORMS_TRANSFORM_H

#include "../compile/graph.h"
#include "fn.h"

/* f's body traced on placeholders of metas[0..n) (value ids 0..n-1):
 * its outputs are f's results. NULL with an error naming fn (the
 * transform: "grad", "vmap", ...) on failure. */
kiln_graph *kiln__transform_trace(kiln_fn *f, const kiln_meta *metas, int n,
                                  const char *fn);

/* A calloc'd array of g->nvals NULL entries (NULL when out of memory,
 * with the error set). */
kiln_array **kiln__transform_vals(const kiln_graph *g, const char *fn);
/* Releases every entry and frees the array. NULL is a no-op. */
void kiln__transform_vals_free(kiln_array **vals, int n);

/* The forward values of g on inputs[0..g->ninputs) (borrowed): sets every
 * NULL entry of vals to a new reference (inputs and constants retained,
 * steps made with kiln__node_make). A step whose outputs are all set
 * already is skipped (prim/compiled_ad.c presets a fused node's outputs).
 */
kiln_status kiln__transform_replay(const kiln_graph *g,
                                   kiln_array *const *inputs,
                                   kiln_array **vals, const char *fn);

/* Zeros (ones) of x's shape and dtype. Inside an outer trace they are
 * computed from x, so a shapeless replay gives them x's new shape;
 * otherwise a broadcast scalar. New references (no scope). */
kiln_array *kiln__transform_zeros_like(kiln_array *x, const char *fn);
kiln_array *kiln__transform_ones_like(kiln_array *x, const char *fn);

/* Whether a and b have the same shape. */
bool kiln__transform_same_shape(const kiln_array *a, const kiln_array *b);

/* "(2,3)" of x into buf. */
const char *kiln__transform_shape_str(const kiln_array *x, char *buf,
                                      size_t cap);

/* The reverse pass (vjp.c). vals: g's forward values. cot: on entry, the
 * seeds (cotangents of any values, outputs usually; NULL: zero); on
 * return, for each input i with need[i], cot[i] is its cotangent or NULL
 * for zero; every other entry is released and NULL. need: per input. */
kiln_status kiln__vjp_graph(const kiln_graph *g, kiln_array *const *vals,
                            const bool *need, kiln_array **cot,
                            const char *fn);

/* The forward tangent pass (jvp.c). tan: on entry the inputs' tangents
 * (NULL: zero); on return every value's tangent (NULL: zero). */
kiln_status kiln__jvp_graph(const kiln_graph *g, kiln_array *const *vals,
                            kiln_array **tan, const char *fn);

/* The batching pass (vmap.c). g was traced on per-example shapes. vals
 * and bdim: on entry the inputs' arrays (owned) and batch axes (-1: not
 * batched) and the constants' entries NULL; on return every value's array
 * and batch axis. B: the batch size. */
kiln_status kiln__vmap_graph(const kiln_graph *g, kiln_array **vals,
                             int *bdim, int64_t B, const char *fn);

/* The fused region primitive's rules (prim/compiled_ad.c). */
kiln_status kiln__compiled_ad_vjp(const kiln_prim *p, const void *params,
                                  kiln_array *const *in, int nin,
                                  kiln_array *const *out, int nout,
                                  kiln_array *const *cot_out,
                                  const bool *need, kiln_array **cot_in);
kiln_status kiln__compiled_ad_jvp(const kiln_prim *p, const void *params,
                                  kiln_array *const *in, int nin,
                                  kiln_array *const *out, int nout,
                                  kiln_array *const *tan_in,
                                  kiln_array **tan_out);
kiln_status kiln__compiled_ad_vmap(const kiln_prim *p, const void *params,
                                   kiln_array *const *in, const int *bdim,
                                   int nin, kiln_array **out, int *out_bdim,
                                   int *nout);

#endif
