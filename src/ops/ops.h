/*
 * ops.h - helpers the public op functions share (internal).
 *
 * These return NEW references that are NOT handed to any scope, so ops can
 * build intermediate nodes and release them without caring whether the
 * caller has a scope open. Public functions end with `return
 * kiln__ret(result);`. Composite ops written from public ops open their
 * own scope instead (see kiln_softmax).
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

#endif
