/*
 * autodiff.h - shared helpers for the transform rules (vjp/jvp/vmap) of the
 * primitive families.
 *
 * Like the rules themselves, these are called inside a scope the transform
 * opened: they build with PUBLIC ops (include/kiln.h), return arrays the
 * scope owns (never release them), and return NULL on error with the
 * failing op's message set.
 */
#ifndef KILN_PRIM_AUTODIFF_H
#define KILN_PRIM_AUTODIFF_H

#include "kiln.h"
#include "prim.h"

/* g (a cotangent of a broadcast result) reduced to the shape of `like`:
 * summed over g's leading extra axes and (keeping them) over the axes
 * where `like` has size 1 but g does not; no reshape, so a shapeless
 * compile can replay it. g's dtype is kept.
 * Returns g itself when the shapes already agree. NULL g gives NULL
 * without error (a zero cotangent stays zero). */
kiln_array *kiln__autodiff_unbroadcast(kiln_array *g, const kiln_array *like);

/* t (a tangent, or any array broadcastable to `shape`) broadcast to shape;
 * t itself when it already has it. NULL gives NULL (zero stays zero). */
kiln_array *kiln__autodiff_broadcast(kiln_array *t, const int64_t *shape,
                                     int ndim);

/* t broadcast to the broadcast shape of t and `like` (only like's shape
 * is read), through the broadcast_like primitive, which bakes no shape
 * into the graph (a shapeless compile can replay it); t itself when t
 * already has like's shape. NULL t gives NULL. */
kiln_array *kiln__autodiff_broadcast_like(kiln_array *t, kiln_array *like);

/* The status a rule returns when an op it called gave NULL: the recorded
 * error's code (KILN_ERR_RUNTIME if, oddly, none was recorded). */
kiln_status kiln__autodiff_fail(void);

/* The rules of an op with a zero derivative (comparisons and other bool
 * results, piecewise constants, stop_gradient): every cotangent and
 * tangent NULL. */
kiln_status kiln__autodiff_vjp_zero(const kiln_prim *p, const void *params,
                                    kiln_array *const *in, int nin,
                                    kiln_array *const *out, int nout,
                                    kiln_array *const *cot_out,
                                    const bool *need, kiln_array **cot_in);
kiln_status kiln__autodiff_jvp_zero(const kiln_prim *p, const void *params,
                                    kiln_array *const *in, int nin,
                                    kiln_array *const *out, int nout,
                                    kiln_array *const *tan_in,
                                    kiln_array **tan_out);

/* Whether p's vjp is one of the zero rules (this file's or
 * autodiff_shape.h's): its outputs carry no gradient back, so the reverse
 * pass does not differentiate what only they feed (rules written for
 * numbers would otherwise see their bool or index outputs). */
bool kiln__autodiff_zero_rule(const kiln_prim *p);

/* The vmap rule of every elementwise primitive (a kiln_vmap_fn): moves
 * each batched input's batch axis to the front, gives it singleton axes
 * after the batch axis up to the largest per-example rank (so unbatched
 * inputs keep numpy's right-aligned broadcasting against the per-example
 * shapes), and applies p to the result. out_bdim is 0 when any input is
 * batched, else -1. */
kiln_status kiln__autodiff_vmap_elementwise(const kiln_prim *p,
                                            const void *params,
                                            kiln_array *const *in,
                                            const int *bdim, int nin,
                                            kiln_array **out, int *out_bdim,
                                            int *nout);

#endif
