/*
 * index.h - what index.c (x[key]) and index_set.c (x[key] = v, x.at[...])
 * share: a pool of temporaries and the plan a key resolves to. Internal to
 * the Python module; index.c's file comment says how a key is resolved.
 */
#ifndef PK_INDEX_H
#define PK_INDEX_H

#include "pykiln.h"

/* kiln ops given a NULL argument return NULL and keep the first error,
 * so a chain of ops over pooled results is checked once at its end. */
typedef struct pool {
    kiln_array **a;
    int n, cap;
} pool;

enum { IX_INT, IX_SLICE, IX_NONE, IX_ELLIPSIS, IX_ARRAY };

/* A key resolved against an array x (pk_index_make_plan). */
typedef struct plan {
    kiln_array *x1;  /* x with the None axes inserted (pooled) */
    int nd;          /* x1's ndim, one entry per axis */
    int any_none;
    int nones[KILN_MAX_NDIM], nn;   /* x1's axes that None inserted */
    int kind[KILN_MAX_NDIM];        /* IX_INT, IX_SLICE or IX_ARRAY */
    kiln_array *arr[KILN_MAX_NDIM]; /* IX_ARRAY (pooled) */
    int64_t start[KILN_MAX_NDIM], stop[KILN_MAX_NDIM], step[KILN_MAX_NDIM];
    int64_t len[KILN_MAX_NDIM];     /* the axis length after slicing */
    int sliced;                     /* some axis is not taken whole */
    int nadv;                       /* advanced axes (see index.c) */
    int adv[KILN_MAX_NDIM];
    int adjacent;
} plan;

/* Records a (may be NULL) in the pool, which owns it from then on, for
 * release by pk_index_drain; returns a, or NULL (a released, MemoryError
 * set) when the pool cannot grow. */
kiln_array *pk_index_keep(pool *p, kiln_array *a);

/* Releases every array of the pool and empties it. */
void pk_index_drain(pool *p);

/* A new kiln.array wrapping y (NULL: raises the pending error, or the
 * kiln one), after draining the pool y may be in; NULL with an exception
 * set when y is NULL or the wrapper cannot be made. */
PyObject *pk_index_finish(pool *p, kiln_array *y);

/* An int64 scalar, and x reshaped, both pooled. NULL on error: a kiln
 * error, or a Python MemoryError from pk_index_keep; callers end with
 * pk_raise (through pk_index_finish), which keeps a Python error and turns
 * a kiln one into its exception. The same holds for pk_index_block. */
kiln_array *pk_index_i64(pool *p, int64_t v);
kiln_array *pk_index_reshape(pool *p, kiln_array *x, const int64_t *shape,
                          int nd);

/* Resolves key against x into p, one entry per axis of x with its Nones
 * inserted (p->x1); the arrays it makes are pooled. Returns 0, or -1 with
 * a Python exception set (IndexError, TypeError or ValueError). */
int pk_index_make_plan(pool *pl, kiln_array *x, PyObject *key, plan *p);

/* x1 cut by the plan's slices, int axes kept with length 1 (pooled;
 * x1 itself when nothing is cut); NULL on error, as pk_index_i64. */
kiln_array *pk_index_block(pool *pl, const plan *p);

/* The axis order with the advanced axes first (perm) and the lengths of
 * the others (rest); returns how many others. */
int pk_index_advanced_first(const plan *p, int *perm, int64_t *rest);

/* The shape of x[key] (and of what x[key] = v needs v broadcast to) when
 * the plan's advanced indices broadcast to bs (bnd dims): B in place of
 * the advanced axes when they are adjacent, else first. Fills perm and
 * rest as pk_index_advanced_first does, *nr with the count of rest and *at
 * with B's first axis. Returns the ndim, or -1 with IndexError set when
 * it would pass KILN_MAX_NDIM. */
int pk_index_view_shape(const plan *p, const int64_t *bs, int bnd, int *perm,
                     int64_t *rest, int *nr, int *at, int64_t *shape);

/* The flat index into the block's advanced axes, broadcast to the
 * indices' shape (pooled); *npos is the number of positions. Each index is
 * wrapped and clamped into its axis, except (for_take) a lone array,
 * which kiln_take wraps and clamps itself. NULL with an exception set on
 * error. */
kiln_array *pk_index_flat_index(pool *pl, const plan *p, int64_t *npos,
                             int for_take);

/* Sets IndexError for an index into an empty axis; returns -1. */
int pk_index_empty_axis_error(void);

#endif
