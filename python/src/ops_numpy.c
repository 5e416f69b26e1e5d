/*
 * ops_numpy.c - the NumPy-style functions of mlx.core written from kiln's
 * ops: flip, trunc, logical_xor, count_nonzero, diff, unstack,
 * matrix_transpose, full_like, astype, positive, conj, conjugate,
 * tensordot, median, put_along_axis, kron, vecdot, searchsorted and
 * small ones (broadcast_shapes, result_type, checkpoint, real, imag).
 * einsum lives in einsum.c, kiln.linalg in linalg.c.
 *
 * Signatures follow mlx.core's (the first array positional-only, `stream`
 * keyword-only and ignored). Each converts its Python arguments first,
 * then builds its graph inside a kiln scope, so intermediate arrays never
 * leak on an error path; the inputs are released after the scope.
 *
 * Invariants: lazy (nothing is evaluated); no Python object is converted
 * while a kiln scope is open (an __index__ or __array__ could run kiln
 * code whose arrays the scope would then release twice); slices are
 * written relative to the axis ends (KILN_SLICE_BEGIN/END, negative
 * bounds), so diff and flip replay under a shapeless compile; a bad axis
 * is an IndexError as in MLX 0.32's ops (pk_ops_shape_axis).
 */
#include "pykiln.h"

#include <math.h>
#include <string.h>

/* One array argument and `stream`; the array (new reference) or NULL. */
static kiln_array *one_array(PyObject *args, PyObject *kw, const char *fmt)
{
    static char *kwlist[] = {"", "stream", NULL};
    PyObject *ao, *stream = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kw, fmt, kwlist, &ao, &stream)) {
        return NULL;
    }
    return pk_to_array(ao, -1);
}

/* ------------------------------------------------------------------ */
/* elementwise                                                        */
/* ------------------------------------------------------------------ */

/* trunc: toward zero (floats); integers and bool unchanged. */
static PyObject *py_trunc(PyObject *self, PyObject *args, PyObject *kw)
{
    (void)self;
    kiln_array *a = one_array(args, kw, "O|$O:trunc");
    if (!a) {
        return NULL;
    }
    kiln_scope_begin();
    kiln_array *y = a;
    if (kiln_dtype_is_float(kiln_array_dtype(a))) {
        y = kiln_where(kiln_less(a, kiln_weak_f64(0.0)), kiln_ceil(a),
                       kiln_floor(a));
    }
    y = kiln_scope_end(y); /* a itself comes back retained */
    kiln_array_release(a);
    return pk_ops_shape_wrap(y);
}

/* positive, conj (conjugate is its alias): the array itself (kiln has no
 * complex dtype). */
static PyObject *identity_of(PyObject *args, PyObject *kw, const char *fmt)
{
    kiln_array *a = one_array(args, kw, fmt);
    return a ? pk_wrap(a) : NULL;
}

static PyObject *py_positive(PyObject *self, PyObject *args, PyObject *kw)
{
    (void)self;
    return identity_of(args, kw, "O|$O:positive");
}

static PyObject *py_conj(PyObject *self, PyObject *args, PyObject *kw)
{
    (void)self;
    return identity_of(args, kw, "O|$O:conj");
}

static PyObject *py_logical_xor(PyObject *self, PyObject *args,
                                PyObject *kw)
{
    static char *kwlist[] = {"", "", "stream", NULL};
    PyObject *ao, *bo, *stream = NULL;
    (void)self;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "OO|$O:logical_xor", kwlist,
                                     &ao, &bo, &stream)) {
        return NULL;
    }
    kiln_array *a = pk_operand(ao);
    kiln_array *b = a ? pk_operand(bo) : NULL;
    if (!b) {
        kiln_array_release(a);
        return NULL;
    }
    kiln_scope_begin();
    kiln_array *y = kiln_not_equal(kiln_astype(a, KILN_DTYPE_BOOL),
                                   kiln_astype(b, KILN_DTYPE_BOOL));
    y = kiln_scope_end(y);
    kiln_array_release(a);
    kiln_array_release(b);
    return pk_ops_shape_wrap(y);
}

static PyObject *py_astype(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"", "", "stream", NULL};
    PyObject *ao, *stream = NULL;
    int dt = -1;
    (void)self;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "OO&|$O:astype", kwlist, &ao,
                                     pk_conv_dtype, &dt, &stream)) {
        return NULL;
    }
    if (dt < 0) {
        PyErr_SetString(PyExc_TypeError, "[astype] dtype cannot be None");
        return NULL;
    }
    kiln_array *a = pk_to_array(ao, -1);
    if (!a) {
        return NULL;
    }
    kiln_array *y = kiln_astype(a, (kiln_dtype)dt);
    kiln_array_release(a);
    return pk_ops_shape_wrap(y);
}

/* full_like(a, vals, dtype=None): vals (cast to dtype, default a's)
 * broadcast to a's shape. */
static PyObject *py_full_like(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"", "vals", "dtype", "stream", NULL};
    PyObject *ao, *vo, *stream = NULL;
    int dt = -1;
    (void)self;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "OO|O&$O:full_like", kwlist,
                                     &ao, &vo, pk_conv_dtype, &dt, &stream)) {
        return NULL;
    }
    kiln_array *a = pk_to_array(ao, -1);
    kiln_array *v = a ? pk_operand(vo) : NULL;
    if (!v) {
        kiln_array_release(a);
        return NULL;
    }
    kiln_dtype t = dt < 0 ? kiln_array_dtype(a) : (kiln_dtype)dt;
    int an = kiln_array_ndim(a), vn = kiln_array_ndim(v);
    bool fits = vn <= an;
    for (int i = 1; fits && i <= vn; i++) {
        int64_t d = kiln_array_shape(v)[vn - i];
        fits = d == 1 || d == kiln_array_shape(a)[an - i];
    }
    if (!fits) {
        kiln_array_release(a);
        kiln_array_release(v);
        PyErr_SetString(PyExc_ValueError, "[full_like] vals cannot be "
                        "broadcast to the array's shape");
        return NULL;
    }
    /* where(ones_like(a), v, v): v in a's shape through ones_like, which
     * follows a's shape in a shapeless replay (a full of a's traced
     * shape would not) */
    kiln_scope_begin();
    kiln_array *vt = kiln_astype(v, t);
    kiln_array *y = kiln_where(kiln_astype(kiln_ones_like(a),
                                           KILN_DTYPE_BOOL),
                               vt, vt);
    y = kiln_scope_end(y);
    kiln_array_release(a);
    kiln_array_release(v);
    return pk_ops_shape_wrap(y);
}

/* ------------------------------------------------------------------ */
/* shape                                                              */
/* ------------------------------------------------------------------ */

/* flip(a, axis=None): reversed along the axes (all when None). */
static PyObject *py_flip(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"", "axis", "stream", NULL};
    PyObject *ao, *axo = Py_None, *stream = NULL;
    int axes[KILN_MAX_NDIM], naxes;
    (void)self;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O|O$O:flip", kwlist, &ao,
                                     &axo, &stream) ||
        pk_axes(axo, axes, &naxes) < 0) {
        return NULL;
    }
    kiln_array *a = pk_to_array(ao, -1);
    if (!a) {
        return NULL;
    }
    int nd = kiln_array_ndim(a);
    if (naxes < 0) {
        naxes = nd;
        for (int i = 0; i < nd; i++) {
            axes[i] = i;
        }
    }
    if (pk_ops_shape_norm_axes(axes, naxes, nd, "flip") < 0) {
        kiln_array_release(a);
        return NULL;
    }
    int64_t start[KILN_MAX_NDIM], stop[KILN_MAX_NDIM], step[KILN_MAX_NDIM];
    for (int i = 0; i < nd; i++) {
        start[i] = KILN_SLICE_BEGIN;
        stop[i] = KILN_SLICE_END;
        step[i] = 1;
    }
    for (int i = 0; i < naxes; i++) {
        step[axes[i]] = -1;
    }
    kiln_array *y = kiln_slice(a, start, stop, step);
    kiln_array_release(a);
    return pk_ops_shape_wrap(y);
}

static PyObject *py_matrix_transpose(PyObject *self, PyObject *args,
                                     PyObject *kw)
{
    (void)self;
    kiln_array *a = one_array(args, kw, "O|$O:matrix_transpose");
    if (!a) {
        return NULL;
    }
    if (kiln_array_ndim(a) < 2) {
        kiln_array_release(a);
        PyErr_SetString(PyExc_ValueError, "[matrix_transpose] needs an "
                        "array of at least 2 dimensions");
        return NULL;
    }
    kiln_array *y = kiln_swapaxes(a, -1, -2);
    kiln_array_release(a);
    return pk_ops_shape_wrap(y);
}

/* diff(a, n=1, axis=-1): n times a[1:] - a[:-1] along axis (not_equal
 * for bool, as NumPy). */
static PyObject *py_diff(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"", "n", "axis", "stream", NULL};
    PyObject *ao, *stream = NULL;
    int n = 1, axis = -1;
    (void)self;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O|ii$O:diff", kwlist, &ao,
                                     &n, &axis, &stream)) {
        return NULL;
    }
    if (n < 0) {
        PyErr_Format(PyExc_ValueError, "[diff] order must be >= 0, got %d",
                     n);
        return NULL;
    }
    kiln_array *a = pk_to_array(ao, -1);
    if (!a) {
        return NULL;
    }
    int ax = pk_ops_shape_axis(axis, kiln_array_ndim(a), "diff");
    if (ax < 0) {
        kiln_array_release(a);
        return NULL;
    }
    bool is_bool = kiln_array_dtype(a) == KILN_DTYPE_BOOL;
    kiln_scope_begin();
    kiln_array *y = a;
    for (int i = 0; i < n && y; i++) {
        kiln_array *hi = pk_ops_shape_cut(y, ax, 1, KILN_SLICE_END, false);
        kiln_array *lo = pk_ops_shape_cut(y, ax, KILN_SLICE_BEGIN, -1, false);
        y = is_bool ? kiln_not_equal(hi, lo) : kiln_subtract(hi, lo);
    }
    y = kiln_scope_end(y); /* a itself (n == 0) comes back retained */
    kiln_array_release(a);
    return pk_ops_shape_wrap(y);
}

/* unstack(x, axis=0): the slices along axis, that axis removed (a
 * tuple). */
static PyObject *py_unstack(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"", "axis", "stream", NULL};
    PyObject *ao, *stream = NULL;
    int axis = 0;
    (void)self;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O|$iO:unstack", kwlist, &ao,
                                     &axis, &stream)) {
        return NULL;
    }
    kiln_array *a = pk_to_array(ao, -1);
    if (!a) {
        return NULL;
    }
    int ax = pk_ops_shape_axis(axis, kiln_array_ndim(a), "unstack");
    if (ax < 0) {
        kiln_array_release(a);
        return NULL;
    }
    int64_t len = kiln_array_shape(a)[ax];
    PyObject *out = PyTuple_New((Py_ssize_t)len);
    for (int64_t i = 0; out && i < len; i++) {
        kiln_scope_begin();
        /* the number of parts is the length: sized, so a shapeless
         * replay on another length fails instead of dropping parts */
        kiln_array *y = kiln_squeeze(pk_ops_shape_cut(a, ax, i, i + 1, true),
                                     &ax, 1);
        y = kiln_scope_end(y);
        PyObject *v = pk_ops_shape_wrap(y);
        if (!v) {
            Py_CLEAR(out);
            break;
        }
        PyTuple_SET_ITEM(out, (Py_ssize_t)i, v);
    }
    kiln_array_release(a);
    return out;
}

/* ------------------------------------------------------------------ */
/* reductions                                                         */
/* ------------------------------------------------------------------ */

/* Axes argument of a reduction: *pa = NULL for None (all). */
static int reduce_axes(PyObject *o, int *axes, int *naxes, const int **pa)
{
    if (pk_axes(o, axes, naxes) < 0) {
        return -1;
    }
    *pa = *naxes < 0 ? NULL : axes;
    return 0;
}

static PyObject *py_count_nonzero(PyObject *self, PyObject *args,
                                  PyObject *kw)
{
    static char *kwlist[] = {"", "axis", "keepdims", "stream", NULL};
    PyObject *ao, *axo = Py_None, *stream = NULL;
    int keep = 0, axes[KILN_MAX_NDIM], naxes;
    const int *pa;
    (void)self;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O|$OpO:count_nonzero",
                                     kwlist, &ao, &axo, &keep, &stream) ||
        reduce_axes(axo, axes, &naxes, &pa) < 0) {
        return NULL;
    }
    kiln_array *a = pk_to_array(ao, -1);
    if (!a) {
        return NULL;
    }
    kiln_scope_begin();
    kiln_array *y = kiln_sum(kiln_not_equal(a, kiln_weak_i64(0)), pa, naxes,
                             keep);
    y = kiln_scope_end(y);
    kiln_array_release(a);
    return pk_ops_shape_wrap(y);
}

/* median(a, axis=None, keepdims=False): the middle of the sorted values
 * over the axes (the mean of the two middle ones for an even count), in
 * a's float dtype. The reduced axes move to the end and merge into one. */
static PyObject *py_median(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"", "axis", "keepdims", "stream", NULL};
    PyObject *ao, *axo = Py_None, *stream = NULL;
    int keep = 0, axes[KILN_MAX_NDIM], naxes;
    (void)self;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O|Op$O:median", kwlist, &ao,
                                     &axo, &keep, &stream) ||
        pk_axes(axo, axes, &naxes) < 0) {
        return NULL;
    }
    kiln_array *a = pk_to_array(ao, -1);
    if (!a) {
        return NULL;
    }
    int nd = kiln_array_ndim(a);
    const int64_t *sh = kiln_array_shape(a);
    if (naxes < 0) {
        naxes = nd;
        for (int i = 0; i < nd; i++) {
            axes[i] = i;
        }
    }
    if (pk_ops_shape_norm_axes(axes, naxes, nd, "median") < 0) {
        kiln_array_release(a);
        return NULL;
    }
    int perm[KILN_MAX_NDIM], np = 0;
    bool red[KILN_MAX_NDIM] = {false};
    int64_t kept[KILN_MAX_NDIM + 1], count = 1;
    for (int i = 0; i < naxes; i++) {
        red[axes[i]] = true;
        count *= sh[axes[i]];
    }
    for (int i = 0; i < nd; i++) {
        if (!red[i]) {
            kept[np] = sh[i];
            perm[np++] = i;
        }
    }
    int nk = np;
    for (int i = 0; i < nd; i++) {
        if (red[i]) {
            perm[np++] = i;
        }
    }
    if (count == 0) {
        kiln_array_release(a);
        PyErr_SetString(PyExc_ValueError, "[median] of an empty array");
        return NULL;
    }
    (void)kept;
    kiln_scope_begin();
    kiln_array *f = kiln_astype(a, pk_float_dtype(kiln_array_dtype(a)));
    /* the reduced axes merged last (flatten follows the kept axes' new
     * lengths in a shapeless replay; the middle's position comes from
     * the count, so that axis is sized) */
    kiln_array *t = kiln_transpose(f, perm, nd);
    kiln_array *s = kiln_sort(nk < nd - 1 ? kiln_flatten(t, nk, nd - 1)
                              : nk == nd ? kiln_expand_dims(t, &nk, 1)
                                         : t,
                              -1, false);
    kiln_array *mid = pk_ops_shape_cut(s, nk, (count - 1) / 2,
                                       count / 2 + 1, true);
    kiln_array *y = kiln_squeeze(kiln_mean(mid, &nk, 1, true), &nk, 1);
    if (keep && y) {
        int ra[KILN_MAX_NDIM], nr = 0;
        for (int i = 0; i < nd; i++) {
            if (red[i]) {
                ra[nr++] = i;
            }
        }
        y = kiln_expand_dims(y, ra, nr);
    }
    y = kiln_scope_end(y);
    kiln_array_release(a);
    return pk_ops_shape_wrap(y);
}

/* ------------------------------------------------------------------ */
/* tensordot                                                          */
/* ------------------------------------------------------------------ */

/* tensordot(a, b, axes=2): sums over the last `axes` axes of a and the
 * first of b, or over the axes listed in axes = [a_axes, b_axes]; the
 * contracted axes move together and the product is one matmul. */
static PyObject *py_tensordot(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"", "", "axes", "stream", NULL};
    PyObject *ao, *bo, *axo = NULL, *stream = NULL;
    int aa[KILN_MAX_NDIM], ba[KILN_MAX_NDIM], na, nb;
    (void)self;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "OO|O$O:tensordot", kwlist,
                                     &ao, &bo, &axo, &stream)) {
        return NULL;
    }
    kiln_array *a = pk_to_array(ao, -1);
    kiln_array *b = a ? pk_to_array(bo, -1) : NULL;
    if (!b) {
        kiln_array_release(a);
        return NULL;
    }
    int nda = kiln_array_ndim(a), ndb = kiln_array_ndim(b);
    const int64_t *sa = kiln_array_shape(a), *sb = kiln_array_shape(b);
    PyObject *y_obj = NULL;
    if (!axo || PyLong_Check(axo)) {
        int n = 2;
        if (axo && pk_int(axo, &n) < 0) {
            goto done;
        }
        if (n < 0 || n > nda || n > ndb) {
            PyErr_Format(PyExc_ValueError, "[tensordot] cannot contract %d "
                         "axes of arrays of %d and %d dimensions", n, nda,
                         ndb);
            goto done;
        }
        na = nb = n;
        for (int i = 0; i < n; i++) {
            aa[i] = nda - n + i;
            ba[i] = i;
        }
    } else {
        PyObject *seq = PySequence_Fast(axo, "[tensordot] axes must be an "
                                        "int or two sequences of axes");
        int ok = seq && PySequence_Fast_GET_SIZE(seq) == 2 &&
                 pk_axes(PySequence_Fast_GET_ITEM(seq, 0), aa, &na) == 0 &&
                 pk_axes(PySequence_Fast_GET_ITEM(seq, 1), ba, &nb) == 0;
        Py_XDECREF(seq);
        if (!ok) {
            if (!PyErr_Occurred()) {
                PyErr_SetString(PyExc_ValueError, "[tensordot] axes must be "
                                "an int or two sequences of axes");
            }
            goto done;
        }
        if (na < 0 || nb < 0 || na != nb) {
            PyErr_SetString(PyExc_ValueError, "[tensordot] the two lists of "
                            "axes must have the same length");
            goto done;
        }
        if (pk_ops_shape_norm_axes(aa, na, nda, "tensordot") < 0 ||
            pk_ops_shape_norm_axes(ba, nb, ndb, "tensordot") < 0) {
            goto done;
        }
    }
    int64_t k = 1;
    for (int i = 0; i < na; i++) {
        if (sa[aa[i]] != sb[ba[i]]) {
            PyErr_Format(PyExc_ValueError, "[tensordot] axis %d of a (%lld) "
                         "and axis %d of b (%lld) differ", aa[i],
                         (long long)sa[aa[i]], ba[i], (long long)sb[ba[i]]);
            goto done;
        }
        k *= sa[aa[i]];
    }
    /* a: free axes, then the contracted ones; b: contracted, then free */
    int pa[KILN_MAX_NDIM], pb[KILN_MAX_NDIM], fa = 0, fb = 0;
    int64_t out[2 * KILN_MAX_NDIM], m = 1, n2 = 1;
    bool ca[KILN_MAX_NDIM] = {false}, cb[KILN_MAX_NDIM] = {false};
    for (int i = 0; i < na; i++) {
        ca[aa[i]] = true;
        cb[ba[i]] = true;
    }
    for (int i = 0; i < nda; i++) {
        if (!ca[i]) {
            out[fa] = sa[i];
            m *= sa[i];
            pa[fa++] = i;
        }
    }
    for (int i = 0; i < na; i++) {
        pa[fa + i] = aa[i];
        pb[i] = ba[i];
    }
    for (int i = 0; i < ndb; i++) {
        if (!cb[i]) {
            out[fa + fb] = sb[i];
            n2 *= sb[i];
            pb[na + fb++] = i;
        }
    }
    if (fa + fb > KILN_MAX_NDIM) {
        PyErr_Format(PyExc_ValueError, "[tensordot] the result would have "
                     "more than %d dimensions", KILN_MAX_NDIM);
        goto done;
    }
    kiln_scope_begin();
    kiln_array *am = kiln_reshape(kiln_transpose(a, pa, nda),
                                  (int64_t[]){m, k}, 2);
    kiln_array *bm = kiln_reshape(kiln_transpose(b, pb, ndb),
                                  (int64_t[]){k, n2}, 2);
    kiln_array *y = kiln_reshape(kiln_matmul(am, bm), out, fa + fb);
    y = kiln_scope_end(y);
    y_obj = pk_ops_shape_wrap(y);
done:
    kiln_array_release(a);
    kiln_array_release(b);
    return y_obj;
}

/* ------------------------------------------------------------------ */
/* put_along_axis                                                     */
/* ------------------------------------------------------------------ */

/* put_along_axis(a, indices, values, axis): a with a[..., indices[..., j,
 * ...], ...] = values along axis (NumPy's; the last of repeated indices
 * wins; axis None: the flattened a). With the axis moved last: a one-hot
 * (..., k, n) of the (wrapped) indices marks the written places; the
 * last writer of each place is found by an argmax over the reversed
 * one-hot, and its value taken along the axis. O(k * n) per row. */
static PyObject *py_put_along_axis(PyObject *self, PyObject *args,
                                   PyObject *kw)
{
    static char *kwlist[] = {"", "indices", "values", "axis", "stream",
                             NULL};
    PyObject *ao, *io, *vo, *axo = Py_None, *stream = NULL;
    (void)self;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "OOO|O$O:put_along_axis",
                                     kwlist, &ao, &io, &vo, &axo, &stream)) {
        return NULL;
    }
    kiln_array *a = pk_to_array(ao, -1);
    kiln_array *ix = a ? pk_to_array(io, -1) : NULL;
    kiln_array *v = ix ? pk_convert_operand(vo, kiln_array_dtype(a)) : NULL;
    PyObject *res = NULL;
    if (!v) {
        goto done;
    }
    if (!kiln_dtype_is_integer(kiln_array_dtype(ix))) {
        PyErr_SetString(PyExc_TypeError, "[put_along_axis] indices must be "
                        "integers");
        goto done;
    }
    /* the axis first: its __index__ may run Python code (a kiln.array),
     * which must not happen while a kiln scope is open */
    int ax = 0;
    bool flat = axo == Py_None;
    if (!flat) {
        int axis;
        if (pk_int(axo, &axis) < 0 ||
            (ax = pk_ops_shape_axis(axis, kiln_array_ndim(a),
                                    "put_along_axis")) < 0) {
            goto done;
        }
    }
    kiln_scope_begin();
    kiln_array *x = a, *id = ix;
    if (flat) {
        x = kiln_flatten(a, 0, -1);
        id = kiln_flatten(ix, 0, -1);
    }
    int nd = x ? kiln_array_ndim(x) : 0;
    if (x && id && kiln_array_ndim(id) != nd) {
        kiln_scope_end(NULL);
        PyErr_Format(PyExc_ValueError, "[put_along_axis] indices have %d "
                     "dimensions, the array %d", kiln_array_ndim(id), nd);
        goto done;
    }
    kiln_array *y = NULL;
    if (x && id && (kiln_array_shape(id)[ax] == 0 ||
                    kiln_array_shape(x)[ax] == 0)) {
        y = a; /* nothing written */
    } else if (x && id) {
        int64_t n = kiln_array_shape(x)[ax];
        int64_t k = kiln_array_shape(id)[ax];
        kiln_dtype dt = kiln_array_dtype(x);
        /* axis last: x (..., n), indices and values (..., k) */
        kiln_array *xm = kiln_moveaxis(x, ax, -1);
        kiln_array *im = kiln_moveaxis(kiln_astype(id, KILN_DTYPE_INT64),
                                       ax, -1);
        kiln_array *vb = kiln_broadcast_to(kiln_astype(v, dt),
                                           kiln_array_shape(id), nd);
        kiln_array *vm = kiln_moveaxis(vb, ax, -1);
        /* negative indices wrap once */
        kiln_array *iw = kiln_where(kiln_less(im, kiln_weak_i64(0)),
                                    kiln_add(im, kiln_weak_i64(n)), im);
        int last = -1, pen = -2;
        kiln_array *oh = kiln_equal(
            kiln_expand_dims(iw, &last, 1),
            kiln_arange(0, (double)n, 1, KILN_DTYPE_INT64)); /* (..,k,n) */
        kiln_array *hit = kiln_any(oh, &pen, 1, false);     /* (..., n) */
        int64_t st[KILN_MAX_NDIM + 1], sp[KILN_MAX_NDIM + 1],
            sd[KILN_MAX_NDIM + 1];
        for (int i = 0; i <= nd; i++) {
            st[i] = KILN_SLICE_BEGIN;
            sp[i] = KILN_SLICE_END;
            sd[i] = 1;
        }
        sd[nd - 1] = -1; /* the k axis reversed */
        kiln_array *rev = kiln_slice(oh, st, sp, sd);
        kiln_array *jl = kiln_subtract(
            kiln_scalar_i64(k - 1, KILN_DTYPE_INT64),
            kiln_astype(kiln_argmax(rev, -2, false, false),
                        KILN_DTYPE_INT64));                  /* (..., n) */
        kiln_array *got = kiln_take_along_axis(vm, jl, -1, false);
        y = kiln_moveaxis(kiln_where(hit, got, xm), -1, ax);
        if (flat && y) {
            y = kiln_reshape(y, kiln_array_shape(a), kiln_array_ndim(a));
        }
    }
    y = kiln_scope_end(y);
    res = pk_ops_shape_wrap(y);
done:
    kiln_array_release(a);
    kiln_array_release(ix);
    kiln_array_release(v);
    return res;
}

/* ------------------------------------------------------------------ */
/* small ones: shapes, dtypes, real/imag, kron, vecdot, searchsorted   */
/* ------------------------------------------------------------------ */

/* broadcast_shapes(*shapes): NumPy's broadcast of the shapes, a tuple. */
static PyObject *py_broadcast_shapes(PyObject *self, PyObject *args)
{
    int64_t out[KILN_MAX_NDIM];
    int nout = 0;
    (void)self;
    if (PyTuple_GET_SIZE(args) == 0) {
        PyErr_SetString(PyExc_ValueError, "[broadcast_shapes] needs at "
                        "least one shape");
        return NULL;
    }
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(args); i++) {
        int64_t sh[KILN_MAX_NDIM];
        int nd;
        if (pk_shape(PyTuple_GET_ITEM(args, i), sh, &nd, 0) < 0) {
            return NULL;
        }
        int m = nd > nout ? nd : nout;
        int64_t r[KILN_MAX_NDIM];
        for (int k = 1; k <= m; k++) {
            int64_t a = k <= nout ? out[nout - k] : 1;
            int64_t b = k <= nd ? sh[nd - k] : 1;
            if (a != b && a != 1 && b != 1) {
                PyErr_Format(PyExc_ValueError, "[broadcast_shapes] shapes "
                             "cannot be broadcast (%lld and %lld)",
                             (long long)a, (long long)b);
                return NULL;
            }
            r[m - k] = a == 1 ? b : a;
        }
        memcpy(out, r, sizeof r[0] * (size_t)m);
        nout = m;
    }
    PyObject *t = PyTuple_New(nout);
    for (int i = 0; t && i < nout; i++) {
        PyObject *v = PyLong_FromLongLong(out[i]);
        if (!v) {
            Py_CLEAR(t);
            break;
        }
        PyTuple_SET_ITEM(t, i, v);
    }
    return t;
}

/* result_type(*arrays_and_dtypes): the dtype they promote to together. */
static PyObject *py_result_type(PyObject *self, PyObject *args)
{
    int acc = -1;
    (void)self;
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(args); i++) {
        PyObject *o = PyTuple_GET_ITEM(args, i);
        int dt;
        if (PkArray_Check(o)) {
            dt = (int)kiln_array_dtype(((PkArray *)o)->a);
        } else if (pk_dtype_from(o, &dt, 0) < 0) {
            PyErr_Clear();
            PyErr_SetString(PyExc_ValueError, "[result_type] inputs must "
                            "be arrays or dtypes");
            return NULL;
        }
        acc = acc < 0 ? dt
                      : (int)kiln_promote_types((kiln_dtype)acc,
                                                (kiln_dtype)dt);
    }
    if (acc < 0) {
        PyErr_SetString(PyExc_ValueError, "[result_type] needs at least one "
                        "array or dtype");
        return NULL;
    }
    return Py_NewRef(pk_dtype_obj((kiln_dtype)acc));
}

/* checkpoint(fun): fun itself. MLX recomputes fun's intermediates in the
 * backward pass to save memory; kiln keeps them (the values, and so the
 * gradients, are the same). */
static PyObject *py_checkpoint(PyObject *self, PyObject *fun)
{
    (void)self;
    if (!PyCallable_Check(fun)) {
        PyErr_SetString(PyExc_TypeError, "[checkpoint] needs a callable");
        return NULL;
    }
    return Py_NewRef(fun);
}

/* real, contiguous: the array (kiln has no complex dtype; arrays are
 * values, so any layout is as good as contiguous to the caller). */
static PyObject *py_real(PyObject *self, PyObject *args, PyObject *kw)
{
    (void)self;
    return identity_of(args, kw, "O|$O:real");
}

static PyObject *py_contiguous(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"", "allow_col_major", "stream", NULL};
    PyObject *ao, *stream = NULL;
    int col = 0;
    (void)self;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O|p$O:contiguous", kwlist,
                                     &ao, &col, &stream)) {
        return NULL;
    }
    kiln_array *a = pk_to_array(ao, -1);
    return a ? pk_wrap(a) : NULL;
}

/* imag: zeros of a real array's shape and dtype. */
static PyObject *py_imag(PyObject *self, PyObject *args, PyObject *kw)
{
    (void)self;
    kiln_array *a = one_array(args, kw, "O|$O:imag");
    if (!a) {
        return NULL;
    }
    kiln_array *y = kiln_zeros_like(a);
    kiln_array_release(a);
    return pk_ops_shape_wrap(y);
}

/* vecdot(a, b, axis=-1): sum(a * b) over axis, broadcasting. */
static PyObject *py_vecdot(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"", "", "axis", "stream", NULL};
    PyObject *ao, *bo, *stream = NULL;
    int axis = -1;
    (void)self;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "OO|$iO:vecdot", kwlist, &ao,
                                     &bo, &axis, &stream)) {
        return NULL;
    }
    kiln_array *a = pk_to_array(ao, -1);
    kiln_array *b = a ? pk_to_array(bo, -1) : NULL;
    if (!b) {
        kiln_array_release(a);
        return NULL;
    }
    kiln_scope_begin();
    kiln_array *y = kiln_sum(kiln_multiply(a, b), &axis, 1, false);
    y = kiln_scope_end(y);
    kiln_array_release(a);
    kiln_array_release(b);
    return pk_ops_shape_wrap(y);
}

/* kron(a, b): the Kronecker product; the shorter shape gets leading 1s,
 * a's axes interleave with b's, and each pair merges. */
static PyObject *py_kron(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"", "", "stream", NULL};
    PyObject *ao, *bo, *stream = NULL;
    (void)self;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "OO|$O:kron", kwlist, &ao,
                                     &bo, &stream)) {
        return NULL;
    }
    kiln_array *a = pk_to_array(ao, -1);
    kiln_array *b = a ? pk_to_array(bo, -1) : NULL;
    if (!b) {
        kiln_array_release(a);
        return NULL;
    }
    int na = kiln_array_ndim(a), nb = kiln_array_ndim(b);
    int nd = na > nb ? na : nb;
    if (2 * nd > KILN_MAX_NDIM) {
        kiln_array_release(a);
        kiln_array_release(b);
        PyErr_SetString(PyExc_ValueError, "[kron] too many dimensions");
        return NULL;
    }
    int64_t sa[2 * KILN_MAX_NDIM], sb[2 * KILN_MAX_NDIM], so[KILN_MAX_NDIM];
    for (int i = 0; i < nd; i++) {
        int64_t x = i < nd - na ? 1 : kiln_array_shape(a)[i - (nd - na)];
        int64_t y = i < nd - nb ? 1 : kiln_array_shape(b)[i - (nd - nb)];
        sa[2 * i] = x;
        sa[2 * i + 1] = 1;
        sb[2 * i] = 1;
        sb[2 * i + 1] = y;
        so[i] = x * y;
    }
    kiln_scope_begin();
    kiln_array *y = kiln_reshape(kiln_multiply(kiln_reshape(a, sa, 2 * nd),
                                               kiln_reshape(b, sb, 2 * nd)),
                                 so, nd);
    y = kiln_scope_end(y);
    kiln_array_release(a);
    kiln_array_release(b);
    return pk_ops_shape_wrap(y);
}

/* searchsorted(sorted_sequence, values, side='left'): per value, the
 * number of elements of the 1-D sequence below it ('left') or not above
 * it ('right'), as uint32 (MLX's). O(len(sequence)) per value. */
static PyObject *py_searchsorted(PyObject *self, PyObject *args,
                                 PyObject *kw)
{
    static char *kwlist[] = {"", "", "side", "stream", NULL};
    PyObject *ao, *vo, *stream = NULL;
    const char *side = "left";
    (void)self;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "OO|s$O:searchsorted",
                                     kwlist, &ao, &vo, &side, &stream)) {
        return NULL;
    }
    bool right = strcmp(side, "right") == 0;
    if (!right && strcmp(side, "left") != 0) {
        PyErr_Format(PyExc_ValueError, "[searchsorted] side must be 'left' "
                     "or 'right', got '%s'", side);
        return NULL;
    }
    kiln_array *a = pk_to_array(ao, -1);
    kiln_array *v = a ? pk_operand(vo) : NULL;
    if (!v) {
        kiln_array_release(a);
        return NULL;
    }
    if (kiln_array_ndim(a) != 1) {
        kiln_array_release(a);
        kiln_array_release(v);
        PyErr_SetString(PyExc_ValueError, "[searchsorted] the sorted "
                        "sequence must be 1-D");
        return NULL;
    }
    kiln_scope_begin();
    int last = -1;
    kiln_array *ve = kiln_expand_dims(v, &last, 1);
    kiln_array *c = right ? kiln_less_equal(a, ve) : kiln_less(a, ve);
    kiln_array *y = kiln_astype(kiln_sum(c, &last, 1, false),
                                KILN_DTYPE_UINT32);
    y = kiln_scope_end(y);
    kiln_array_release(a);
    kiln_array_release(v);
    return pk_ops_shape_wrap(y);
}

/* ------------------------------------------------------------------ */
/* registration                                                       */
/* ------------------------------------------------------------------ */

static PyMethodDef numpy_methods[] = {
    {"trunc", PK_FN(py_trunc), PK_KW,
     "trunc(a, /, *, stream=None)\n--\n\nRounds toward zero."},
    {"positive", PK_FN(py_positive), PK_KW,
     "positive(a, /, *, stream=None)\n--\n\nThe array itself (+a)."},
    {"conj", PK_FN(py_conj), PK_KW,
     "conj(a, /, *, stream=None)\n--\n\nThe complex conjugate: kiln has no "
     "complex dtype, so a itself."},
    {"logical_xor", PK_FN(py_logical_xor), PK_KW,
     "logical_xor(a, b, /, *, stream=None)\n--\n\nElementwise exclusive or "
     "of the truth values."},
    {"astype", PK_FN(py_astype), PK_KW,
     "astype(a, dtype, /, *, stream=None)\n--\n\na cast to dtype."},
    {"full_like", PK_FN(py_full_like), PK_KW,
     "full_like(a, /, vals, dtype=None, *, stream=None)\n--\n\nvals in a's "
     "shape, as dtype (default a's)."},
    {"flip", PK_FN(py_flip), PK_KW,
     "flip(a, /, axis=None, *, stream=None)\n--\n\na reversed along the "
     "axes (all when None)."},
    {"matrix_transpose", PK_FN(py_matrix_transpose), PK_KW,
     "matrix_transpose(a, /, *, stream=None)\n--\n\nThe last two axes "
     "swapped."},
    {"diff", PK_FN(py_diff), PK_KW,
     "diff(a, /, n=1, axis=-1, *, stream=None)\n--\n\nThe n-th difference "
     "along axis."},
    {"unstack", PK_FN(py_unstack), PK_KW,
     "unstack(x, /, *, axis=0, stream=None)\n--\n\nThe slices along axis, "
     "as a tuple."},
    {"count_nonzero", PK_FN(py_count_nonzero), PK_KW,
     "count_nonzero(a, /, *, axis=None, keepdims=False, stream=None)\n--\n\n"
     "The number of nonzero elements (int32)."},
    {"median", PK_FN(py_median), PK_KW,
     "median(a, /, axis=None, keepdims=False, *, stream=None)\n--\n\nThe "
     "median over the axes (all when None), in a's float dtype."},
    {"put_along_axis", PK_FN(py_put_along_axis), PK_KW,
     "put_along_axis(a, /, indices, values, axis=None, *, stream=None)\n"
     "--\n\na with values written at indices along axis (NumPy's; the "
     "flattened a when axis is None)."},
    {"broadcast_shapes", (PyCFunction)py_broadcast_shapes, METH_VARARGS,
     "broadcast_shapes(*shapes)\n--\n\nThe shape the shapes broadcast "
     "to, a tuple."},
    {"result_type", (PyCFunction)py_result_type, METH_VARARGS,
     "result_type(*arrays_and_dtypes)\n--\n\nThe dtype they promote to."},
    {"checkpoint", (PyCFunction)py_checkpoint, METH_O,
     "checkpoint(fun)\n--\n\nfun itself: kiln keeps intermediates rather "
     "than recomputing them (same values and gradients)."},
    {"real", PK_FN(py_real), PK_KW,
     "real(a, /, *, stream=None)\n--\n\nThe real part: a itself."},
    {"imag", PK_FN(py_imag), PK_KW,
     "imag(a, /, *, stream=None)\n--\n\nThe imaginary part: zeros."},
    {"contiguous", PK_FN(py_contiguous), PK_KW,
     "contiguous(a, /, allow_col_major=False, *, stream=None)\n--\n\n"
     "a (kiln arrays are values; layout is kiln's business)."},
    {"vecdot", PK_FN(py_vecdot), PK_KW,
     "vecdot(a, b, /, *, axis=-1, stream=None)\n--\n\nsum(a * b) over "
     "axis."},
    {"kron", PK_FN(py_kron), PK_KW,
     "kron(a, b, *, stream=None)\n--\n\nThe Kronecker product."},
    {"searchsorted", PK_FN(py_searchsorted), PK_KW,
     "searchsorted(sorted_sequence, values, /, side='left', *, "
     "stream=None)\n--\n\nInsertion indices of values in a sorted 1-D "
     "sequence (uint32)."},
    {"tensordot", PK_FN(py_tensordot), PK_KW,
     "tensordot(a, b, /, axes=2, *, stream=None)\n--\n\nSum of products "
     "over the last `axes` axes of a and the first of b, or over two lists "
     "of axes."},
    {NULL, NULL, 0, NULL}};

int pk_init_ops_numpy(PyObject *m)
{
    return PyModule_AddFunctions(m, numpy_methods);
}
