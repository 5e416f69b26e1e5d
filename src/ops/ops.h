/*
 * ops.h - helpers the public op functions share (internal).
 *
 * These return NEW references that are NOT handed to any scope, so ops can
 * build intermediate nodes and release them without caring whether the
 * caller has a scope open. Public functions end with `return
 * kiln__ret(result);`. Composite ops written from public ops open their
 * own scope instead (see kiln_outer in linalg.c, or the samplers in
 * sampling.c).
 */
#ifndef KILN_OPS_OPS_H
#define KILN_OPS_OPS_H

#include "../core/array.h"
#include "../prim/prim.h"

/* x converted to dt (a new reference to x itself when it already is). */
kiln_array *kiln__op_astype(kiln_array *x, kiln_dtype dt, const char *fn);
/* The primitive applied with its dtype rule (prim->rule). */
kiln_array *kiln__op_unary(const kiln_prim *p, kiln_array *x, const char *fn);
kiln_array *kiln__op_binary(const kiln_prim *p, kiln_array *a, kiln_array *b,
                            const char *fn);
/* Broadcast view of x to shape. */
kiln_array *kiln__op_broadcast(kiln_array *x, const int64_t *shape, int ndim,
                               const char *fn);
/* Releases n arrays (NULLs skipped). */
void kiln__release_all(kiln_array **xs, int n);

/* Whether an optional argument given as NULL stands for an earlier failure
 * rather than "use the default": NULL means the default only while no error
 * is pending (include/kiln.h). An op seeing true returns NULL, keeping the
 * first error. */
static inline bool kiln__op_opt_failed(const kiln_array *x)
{
    return !x && kiln_errcode() != KILN_OK;
}

/* The global random key, a new reference not handed to any scope (for
 * compile, which swaps it while tracing). */
kiln_array *kiln__random_state_get(void);

#endif
