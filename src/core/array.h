/*
 * array.h - the array handle and graph node, as the library sees them.
 *
 * An array is either evaluated (buf != NULL: shape, strides and offset in
 * elements describe where its values live in buf) or pending (node != NULL:
 * output `out_index` of that node). A node owns references to its inputs;
 * each pending output owns one reference to its node, and the node keeps a
 * weak back-pointer to each output (cleared when that output dies), so the
 * graph has no cycles. Teardown is iterative (a million-op chain releases
 * without deep recursion).
 *
 * A graph under construction or evaluation belongs to one thread at a time;
 * evaluated arrays may be shared between threads (refcounts are atomic).
 */
#ifndef KILN_CORE_ARRAY_H
#define KILN_CORE_ARRAY_H

#include <stdatomic.h>

#include "buffer.h"
#include "kiln.h"
#include "../prim/prim.h"

struct kiln_array {
    atomic_int rc;
    kiln_dtype dtype;
    int ndim;
    bool weak;         /* a Python-style scalar (see kiln_weak_f64) */
    bool weak_exact;   /* a weak leaf whose exact value is below */
    bool weak_is_int;  /* weak_exact: the value is wint, else wfloat */
    int64_t wint;      /* weak scalars keep their exact value, so casting */
    double wfloat;     /* them to the other operand's dtype loses nothing */
    int out_index;     /* which output of node */
    int64_t size;
    int64_t shape[KILN_MAX_NDIM];
    /* evaluated */
    kiln_buffer *buf;
    int64_t offset;                  /* elements */
    int64_t strides[KILN_MAX_NDIM];  /* elements */
    /* pending */
    kiln_node *node;
};

struct kiln_node {
    atomic_int rc;           /* one per pending output, plus holders */
    const kiln_prim *prim;
    void *params;            /* prim->params_size bytes, owned */
    int nin;
    int nout;
    uint64_t mark;           /* scratch for graph walks (eval epoch) */
    kiln_array **in;         /* owned references */
    kiln_array *out[KILN_MAX_OUTPUTS]; /* weak; NULL once released */
};

/* A new array of the given metadata with neither buffer nor node
 * (refcount 1). NULL with an error naming fn on failure. */
kiln_array *kiln__array_new(kiln_dtype dt, int ndim, const int64_t *shape,
                            const char *fn);
/* Gives `a` a fresh contiguous buffer. */
kiln_status kiln__array_alloc(kiln_array *a, const char *fn);
/* Makes `a` a view into src's buffer. */
void kiln__array_set_view(kiln_array *a, const kiln_array *src,
                          int64_t offset, const int64_t *strides);
/* Reuses in's buffer for out when nothing else can see it (the node being
 * evaluated holds the only reference to `in` and `in` holds the only
 * reference to its buffer) and the layouts match; true when done. Only for
 * kernels that read in[i] before writing out[i]. */
bool kiln__array_donate(kiln_array *out, kiln_array *in);
/* true when the values are row-major contiguous from the offset. */
bool kiln__array_is_contiguous(const kiln_array *a);
/* Address of the first element (evaluated arrays only). */
char *kiln__array_ptr(const kiln_array *a);
/* Byte strides of an evaluated array. */
void kiln__array_byte_strides(const kiln_array *a, int64_t *out);
/* Metadata for infer. */
void kiln__array_meta(const kiln_array *a, kiln_meta *m);
/* Hands a new reference to the innermost scope, if one is active, and
 * returns it: every public function that returns an array ends with
 * `return kiln__ret(a);`. */
kiln_array *kiln__ret(kiln_array *a);

/* A 0-d array holding v converted to dt, not handed to any scope. */
kiln_array *kiln__scalar(double v, kiln_dtype dt, bool weak);

/* The output metadata of prim p on the inputs (their metadata gathered,
 * then p->infer): nout outputs into outm. On failure the status, with the
 * error renamed after the entry point fn. Used when a node is made and
 * when the scheduler recreates the metadata of an output nobody holds. */
kiln_status kiln__node_infer(const kiln_prim *p, const void *params,
                             kiln_array *const *in, int nin, kiln_meta *outm,
                             int *nout, const char *fn);
/* A node computing prim on the inputs, with its outputs (new references,
 * pending). params (prim->params_size bytes) is copied. Output metadata
 * comes from prim->infer. On failure returns the status (error recorded
 * and named after fn) and writes no outputs. */
kiln_status kiln__node_make(const kiln_prim *p, const void *params,
                            kiln_array *const *in, int nin, kiln_array **outs,
                            int *nout, const char *fn);
/* Single-output convenience; NULL on failure. Does not call kiln__ret. */
kiln_array *kiln__node_make1(const kiln_prim *p, const void *params,
                             kiln_array *const *in, int nin, const char *fn);
/* Adds a reference to the node and returns n; NULL is returned as is. */
kiln_node *kiln__node_retain(kiln_node *n);
/* Drops a reference; the last one frees the node's params and releases
 * its inputs (iteratively, so long chains cannot overflow the stack).
 * NULL is a no-op. */
void kiln__node_release(kiln_node *n);

#endif
