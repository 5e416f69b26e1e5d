/*
 * ops_index.c - module functions that index, sort and read diagonals:
 * take, take_along_axis, sort, argsort, partition, argpartition, topk,
 * diag, diagonal, trace.
 *
 * Signatures follow mlx.core (python/src/ops.cpp); `stream` is accepted
 * and ignored; an axis of None means the flattened array. Indices are
 * any integer dtype; out-of-range indices are clamped by the core (never
 * read out of bounds). Registered from pk_init_ops_shape (ops_shape.c),
 * whose helpers (pk_ops_shape_*) it uses.
 *
 * Invariants: lazy only (no evaluation, no GIL release); every kiln array
 * made here is released or wrapped on every path.
 */
#include "pykiln.h"

#include <string.h>

/* ------------------------------------------------------------------ */
/* indexing and sorting                                               */
/* ------------------------------------------------------------------ */

/* take(a, indices, axis=None): an int index drops the axis, as a[.., i]. */
static PyObject *take(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"", "indices", "axis", "stream", NULL};
    PyObject *ao, *io, *xo = Py_None, *stream = NULL;
    int axis;
    bool flat;
    (void)self;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "OO|O$O:take", kwlist, &ao,
                                     &io, &xo, &stream) ||
        pk_ops_shape_opt_axis(xo, &axis, &flat) < 0) {
        return NULL;
    }
    kiln_array *idx = pk_to_array(io, -1);
    if (!idx) {
        return NULL;
    }
    kiln_array *a = pk_to_array(ao, -1);
    if (!a) {
        kiln_array_release(idx);
        return NULL;
    }
    kiln_array *y = kiln_take(a, idx, axis, flat);
    kiln_array_release(a);
    kiln_array_release(idx);
    return pk_ops_shape_wrap(y);
}

static PyObject *take_along_axis(PyObject *self, PyObject *args,
                                 PyObject *kw)
{
    static char *kwlist[] = {"", "indices", "axis", "stream", NULL};
    PyObject *ao, *io, *xo = Py_None, *stream = NULL;
    int axis;
    bool flat;
    (void)self;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "OO|O$O:take_along_axis",
                                     kwlist, &ao, &io, &xo, &stream) ||
        pk_ops_shape_opt_axis(xo, &axis, &flat) < 0) {
        return NULL;
    }
    kiln_array *idx = pk_to_array(io, -1);
    if (!idx) {
        return NULL;
    }
    kiln_array *a = pk_to_array(ao, -1);
    if (!a) {
        kiln_array_release(idx);
        return NULL;
    }
    kiln_array *y = kiln_take_along_axis(a, idx, axis, flat);
    kiln_array_release(a);
    kiln_array_release(idx);
    return pk_ops_shape_wrap(y);
}

/* sort/argsort(a, axis=-1): None sorts the flattened array. */
static PyObject *sorted(PyObject *args, PyObject *kw, const char *fmt,
                        kiln_array *(*op)(kiln_array *, int, bool))
{
    static char *kwlist[] = {"", "axis", "stream", NULL};
    PyObject *ao, *xo = NULL, *stream = NULL;
    int axis = -1;
    bool flat = false;
    if (!PyArg_ParseTupleAndKeywords(args, kw, fmt, kwlist, &ao, &xo,
                                     &stream) ||
        (xo && pk_ops_shape_opt_axis(xo, &axis, &flat) < 0)) {
        return NULL;
    }
    kiln_array *a = pk_to_array(ao, -1);
    if (!a) {
        return NULL;
    }
    kiln_array *y = op(a, axis, flat);
    kiln_array_release(a);
    return pk_ops_shape_wrap(y);
}

static PyObject *sort(PyObject *self, PyObject *args, PyObject *kw)
{
    (void)self;
    return sorted(args, kw, "O|O$O:sort", kiln_sort);
}

static PyObject *argsort(PyObject *self, PyObject *args, PyObject *kw)
{
    (void)self;
    return sorted(args, kw, "O|O$O:argsort", kiln_argsort);
}

/* a, then k and axis=-1 (None: flattened), for topk and the partitions.
 * *n is the length of the axis. 0, or -1 with an exception. */
static int k_axis_args(PyObject *args, PyObject *kw, char **kwlist,
                       const char *fmt, kiln_array **a, int *k, int *axis,
                       bool *flat, int64_t *n)
{
    PyObject *ao, *ko, *xo = NULL, *stream = NULL;
    *axis = -1;
    *flat = false;
    if (!PyArg_ParseTupleAndKeywords(args, kw, fmt, kwlist, &ao, &ko, &xo,
                                     &stream) ||
        pk_int(ko, k) < 0 ||
        (xo && pk_ops_shape_opt_axis(xo, axis, flat) < 0)) {
        return -1;
    }
    *a = pk_to_array(ao, -1);
    if (!*a) {
        return -1;
    }
    if (*flat) {
        *n = kiln_array_size(*a);
        return 0;
    }
    int nd = kiln_array_ndim(*a);
    int ax = pk_ops_shape_axis(*axis, nd, fmt + strlen("OO|O$O:"));
    if (ax < 0) {
        kiln_array_release(*a);
        return -1;
    }
    *n = kiln_array_dim(*a, ax);
    return 0;
}

static PyObject *topk(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"", "k", "axis", "stream", NULL};
    kiln_array *a;
    int k, axis;
    bool flat;
    int64_t n;
    (void)self;
    if (k_axis_args(args, kw, kwlist, "OO|O$O:topk", &a, &k, &axis, &flat,
                    &n) < 0) {
        return NULL;
    }
    kiln_array *y = kiln_topk(a, k, axis, flat);
    kiln_array_release(a);
    return pk_ops_shape_wrap(y);
}

/* partition and argpartition: a full sort is a valid partition. */
static PyObject *partitioned(PyObject *args, PyObject *kw, const char *fmt,
                             kiln_array *(*op)(kiln_array *, int, bool))
{
    static char *kwlist[] = {"", "kth", "axis", "stream", NULL};
    kiln_array *a;
    int kth, axis;
    bool flat;
    int64_t n;
    if (k_axis_args(args, kw, kwlist, fmt, &a, &kth, &axis, &flat, &n) < 0) {
        return NULL;
    }
    if (kth < -n || kth >= n) {
        kiln_array_release(a);
        PyErr_Format(PyExc_ValueError, "[%s] kth %d is out of bounds for an "
                     "axis of size %lld", fmt + strlen("OO|O$O:"), kth,
                     (long long)n);
        return NULL;
    }
    kiln_array *y = op(a, axis, flat);
    kiln_array_release(a);
    return pk_ops_shape_wrap(y);
}

static PyObject *partition(PyObject *self, PyObject *args, PyObject *kw)
{
    (void)self;
    return partitioned(args, kw, "OO|O$O:partition", kiln_sort);
}

static PyObject *argpartition(PyObject *self, PyObject *args, PyObject *kw)
{
    (void)self;
    return partitioned(args, kw, "OO|O$O:argpartition", kiln_argsort);
}

/* ------------------------------------------------------------------ */
/* diagonals                                                          */
/* ------------------------------------------------------------------ */

/* The diagonals of a over axes ax1, ax2 (removed; the diagonal becomes
 * the last axis): both axes moved last, merged, then a strided slice.
 * NULL with an exception. */
static kiln_array *diagonal_of(kiln_array *a, int64_t off, int ax1,
                               int ax2, const char *fn)
{
    int nd = kiln_array_ndim(a);
    if (nd < 2) {
        PyErr_Format(PyExc_ValueError, "[%s] array must have at least 2 "
                     "dimensions, got %d", fn, nd);
        return NULL;
    }
    int a1 = pk_ops_shape_axis(ax1, nd, fn);
    if (a1 < 0) {
        return NULL;
    }
    int a2 = pk_ops_shape_axis(ax2, nd, fn);
    if (a2 < 0) {
        return NULL;
    }
    if (a1 == a2) {
        PyErr_Format(PyExc_ValueError, "[%s] axis1 and axis2 cannot be the "
                     "same axis (%d)", fn, a1);
        return NULL;
    }
    int perm[KILN_MAX_NDIM], np = 0;
    for (int i = 0; i < nd; i++) {
        if (i != a1 && i != a2) {
            perm[np++] = i;
        }
    }
    perm[np++] = a1;
    perm[np++] = a2;
    int64_t n = kiln_array_dim(a, a1), m = kiln_array_dim(a, a2);
    int64_t len = off >= 0 ? (m - off < n ? m - off : n)
                           : (n + off < m ? n + off : m);
    if (len < 0) {
        len = 0;
    }
    int64_t start[KILN_MAX_NDIM], stop[KILN_MAX_NDIM], step[KILN_MAX_NDIM];
    for (int i = 0; i < nd - 1; i++) {
        start[i] = KILN_SLICE_BEGIN;
        stop[i] = KILN_SLICE_END;
        step[i] = 1;
    }
    start[nd - 2] = len == 0 ? 0 : (off >= 0 ? off : -off * m);
    stop[nd - 2] = len == 0 ? 0 : start[nd - 2] + (len - 1) * (m + 1) + 1;
    step[nd - 2] = m + 1;
    /* the bounds come from n and m: a whole slice guards both lengths
     * and the cut guards their product, so a shapeless replay on other
     * lengths fails instead of reading the wrong elements */
    int64_t ws[KILN_MAX_NDIM], we[KILN_MAX_NDIM];
    for (int i = 0; i < nd; i++) {
        ws[i] = KILN_SLICE_BEGIN;
        we[i] = KILN_SLICE_END;
    }
    kiln_array *t = kiln_transpose(a, perm, nd);
    kiln_array *g = kiln_slice_sized(t, ws, we, NULL,
                                     3u << (nd - 2));
    kiln_array *f = kiln_flatten(g, -2, -1);
    kiln_array *y = kiln_slice_sized(f, start, stop, step, 1u << (nd - 2));
    kiln_array_release(t);
    kiln_array_release(g);
    kiln_array_release(f);
    if (!y) {
        pk_ops_shape_fail();
    }
    return y;
}

static PyObject *diagonal(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"a", "offset", "axis1", "axis2", "stream",
                             NULL};
    PyObject *ao, *oo = NULL, *o1 = NULL, *o2 = NULL, *stream = NULL;
    int64_t off = 0;
    int ax1 = 0, ax2 = 1;
    (void)self;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O|OOOO:diagonal", kwlist,
                                     &ao, &oo, &o1, &o2, &stream) ||
        (oo && pk_ops_shape_i64(oo, &off) < 0) ||
        (o1 && pk_int(o1, &ax1) < 0) || (o2 && pk_int(o2, &ax2) < 0)) {
        return NULL;
    }
    kiln_array *a = pk_to_array(ao, -1);
    if (!a) {
        return NULL;
    }
    kiln_array *y = diagonal_of(a, off, ax1, ax2, "diagonal");
    kiln_array_release(a);
    return y ? pk_wrap(y) : NULL;
}

/* diag of a 1-D v: where(eye(N, N, k), v along the rows (k >= 0) or the
 * columns (k < 0), 0), N = len(v) + |k|. */
static kiln_array *diag_matrix(kiln_array *v, int64_t k)
{
    int64_t n = kiln_array_dim(v, 0), ak = k < 0 ? -k : k;
    int64_t pw[2] = {0, ak};
    int64_t shape[2] = {n + ak, 1};
    if (k < 0) {
        shape[0] = 1;
        shape[1] = n + ak;
    }
    kiln_array *p = kiln_pad(v, pw, 0.0);
    kiln_array *r = kiln_reshape(p, shape, 2);
    kiln_array *e = kiln_eye(n + ak, n + ak, k, KILN_DTYPE_BOOL);
    kiln_array *zero = kiln_scalar_i64(0, kiln_array_dtype(v));
    kiln_array *y = kiln_where(e, r, zero);
    kiln_array_release(p);
    kiln_array_release(r);
    kiln_array_release(e);
    kiln_array_release(zero);
    return y;
}

static PyObject *diag(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"", "k", "stream", NULL};
    PyObject *ao, *ko = NULL, *stream = NULL;
    int64_t k = 0;
    (void)self;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O|O$O:diag", kwlist, &ao,
                                     &ko, &stream) ||
        (ko && pk_ops_shape_i64(ko, &k) < 0)) {
        return NULL;
    }
    kiln_array *a = pk_to_array(ao, -1);
    if (!a) {
        return NULL;
    }
    int nd = kiln_array_ndim(a);
    kiln_array *y = NULL;
    if (nd == 1) {
        y = diag_matrix(a, k);
        kiln_array_release(a);
        return pk_ops_shape_wrap(y);
    }
    if (nd == 2) {
        y = diagonal_of(a, k, 0, 1, "diag");
    } else {
        PyErr_Format(PyExc_ValueError, "[diag] array must be 1-D or 2-D, "
                     "got %d dimensions", nd);
    }
    kiln_array_release(a);
    return y ? pk_wrap(y) : NULL;
}

static PyObject *trace(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"", "offset", "axis1", "axis2", "dtype",
                             "stream", NULL};
    PyObject *ao, *oo = NULL, *o1 = NULL, *o2 = NULL, *stream = NULL;
    int64_t off = 0;
    int ax1 = 0, ax2 = 1, dt = -1, last = -1;
    (void)self;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O|OOOO&$O:trace", kwlist,
                                     &ao, &oo, &o1, &o2, pk_conv_dtype, &dt,
                                     &stream) ||
        (oo && pk_ops_shape_i64(oo, &off) < 0) ||
        (o1 && pk_int(o1, &ax1) < 0) || (o2 && pk_int(o2, &ax2) < 0)) {
        return NULL;
    }
    kiln_array *a = pk_to_array(ao, -1);
    if (!a) {
        return NULL;
    }
    kiln_array *d = diagonal_of(a, off, ax1, ax2, "trace");
    kiln_array_release(a);
    if (!d) {
        return NULL;
    }
    kiln_array *c = kiln_astype(d, dt < 0 ? kiln_array_dtype(d)
                                          : (kiln_dtype)dt);
    kiln_array *y = kiln_sum(c, &last, 1, false);
    kiln_array_release(d);
    kiln_array_release(c);
    return pk_ops_shape_wrap(y);
}

/* ------------------------------------------------------------------ */
/* registration                                                       */
/* ------------------------------------------------------------------ */

static PyMethodDef index_methods[] = {
    {"take", PK_FN(take), PK_KW,
     "take(a, /, indices, axis=None, *, stream=None)\n--\n\n"
     "Elements of a at indices along axis (None: of the flattened array)."},
    {"take_along_axis", PK_FN(take_along_axis), PK_KW,
     "take_along_axis(a, /, indices, axis=None, *, stream=None)\n--\n\n"
     "Values of a at indices matched along axis (None: flattened)."},
    {"sort", PK_FN(sort), PK_KW,
     "sort(a, /, axis=-1, *, stream=None)\n--\n\n"
     "A sorted copy of a (axis None: the flattened array)."},
    {"argsort", PK_FN(argsort), PK_KW,
     "argsort(a, /, axis=-1, *, stream=None)\n--\n\n"
     "The uint32 indices that sort a (stable)."},
    {"partition", PK_FN(partition), PK_KW,
     "partition(a, /, kth, axis=-1, *, stream=None)\n--\n\n"
     "a partitioned around its kth element (here fully sorted)."},
    {"argpartition", PK_FN(argpartition), PK_KW,
     "argpartition(a, /, kth, axis=-1, *, stream=None)\n--\n\n"
     "The uint32 indices that partition a (here that sort it)."},
    {"topk", PK_FN(topk), PK_KW,
     "topk(a, /, k, axis=-1, *, stream=None)\n--\n\n"
     "The k largest elements along axis (not sorted)."},
    {"diag", PK_FN(diag), PK_KW,
     "diag(a, /, k=0, *, stream=None)\n--\n\n"
     "Diagonal k of a 2-D a, or a matrix with a 1-D a on diagonal k."},
    {"diagonal", PK_FN(diagonal), PK_KW,
     "diagonal(a, offset=0, axis1=0, axis2=1, stream=None)\n--\n\n"
     "The diagonals over axis1 and axis2, as a new last axis."},
    {"trace", PK_FN(trace), PK_KW,
     "trace(a, /, offset=0, axis1=0, axis2=1, dtype=None, *, "
     "stream=None)\n--\n\n"
     "The sum along a diagonal."},
    {NULL, NULL, 0, NULL},
};

int pk_init_ops_index(PyObject *m)
{
    return PyModule_AddFunctions(m, index_methods);
}
