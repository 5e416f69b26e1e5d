/*
 * ops_shape.c - module functions that make arrays and change their shape:
 * zeros, ones, full, arange, linspace, eye, tri, tril, triu; reshape,
 * flatten, transpose, squeeze, broadcast_to, atleast_nd and kin.
 *
 * Signatures follow mlx.core (python/src/ops.cpp): the first array
 * argument is positional-only, `stream` is keyword-only and ignored (kiln
 * has one CPU stream). Array arguments take anything pk_to_array takes.
 * The joining and padding functions live in ops_layout.c, indexing and
 * sorting in ops_index.c, dtype information in dtype_info.c; all are
 * registered from pk_init_ops_shape.
 *
 * Invariants: every function is lazy (builds graph nodes, never
 * evaluates), so none releases the GIL; every kiln array made here is
 * released or wrapped on every path. A bad axis is an IndexError, as in
 * MLX 0.32 (the core reports it as an index error).
 */
#include "pykiln.h"

/* ------------------------------------------------------------------ */
/* helpers shared with ops_layout.c                                   */
/* ------------------------------------------------------------------ */

PyObject *pk_ops_shape_fail(void)
{
    return pk_raise();
}

kiln_array *pk_ops_shape_cut(kiln_array *x, int ax, int64_t lo, int64_t hi,
                             bool sized)
{
    int64_t start[KILN_MAX_NDIM], stop[KILN_MAX_NDIM];
    int nd = kiln_array_ndim(x);
    for (int i = 0; i < nd; i++) {
        start[i] = KILN_SLICE_BEGIN;
        stop[i] = KILN_SLICE_END;
    }
    start[ax] = lo;
    stop[ax] = hi;
    return kiln_slice_sized(x, start, stop, NULL, sized ? 1u << ax : 0);
}

PyObject *pk_ops_shape_wrap(kiln_array *y)
{
    return y ? pk_wrap(y) : pk_ops_shape_fail();
}

PyObject *pk_ops_shape_list(kiln_list *l)
{
    if (!l) {
        return pk_ops_shape_fail();
    }
    size_t n = kiln_list_size(l);
    PyObject *out = PyList_New((Py_ssize_t)n);
    for (size_t i = 0; out && i < n; i++) {
        PyObject *v = pk_wrap(kiln_array_retain(kiln_list_get(l, i)));
        if (!v) {
            Py_CLEAR(out);
            break;
        }
        PyList_SET_ITEM(out, (Py_ssize_t)i, v);
    }
    kiln_list_free(l);
    return out;
}

kiln_array **pk_ops_shape_arrays(PyObject *seq, int *n)
{
    if (!PyList_Check(seq) && !PyTuple_Check(seq)) {
        PyErr_Format(PyExc_TypeError, "expected a list or tuple of arrays, "
                     "got %.100s", Py_TYPE(seq)->tp_name);
        return NULL;
    }
    /* a tuple copy: converting an item may run Python code (__array__)
     * that changes the list */
    PyObject *t = PySequence_Tuple(seq);
    if (!t) {
        return NULL;
    }
    Py_ssize_t len = PyTuple_GET_SIZE(t);
    kiln_array **xs = NULL;
    if (len > INT32_MAX / 2) {
        PyErr_SetString(PyExc_ValueError, "too many arrays");
        goto release_tuple;
    }
    xs = PyMem_Calloc((size_t)(len > 0 ? len : 1), sizeof *xs);
    if (!xs) {
        PyErr_NoMemory();
        goto release_tuple;
    }
    for (Py_ssize_t i = 0; i < len; i++) {
        xs[i] = pk_to_array(PyTuple_GET_ITEM(t, i), -1);
        if (!xs[i]) {
            pk_ops_shape_free(xs, (int)i);
            xs = NULL;
            goto release_tuple;
        }
    }
    *n = (int)len;
release_tuple:
    Py_DECREF(t);
    return xs;
}

void pk_ops_shape_free(kiln_array **xs, int n)
{
    if (!xs) {
        return;
    }
    for (int i = 0; i < n; i++) {
        kiln_array_release(xs[i]);
    }
    PyMem_Free(xs);
}

int pk_ops_shape_i64(PyObject *o, int64_t *out)
{
    if (PyBool_Check(o) || !PyIndex_Check(o)) {
        PyErr_Format(PyExc_TypeError, "expected an int, got %.100s",
                     Py_TYPE(o)->tp_name);
        return -1;
    }
    long long v = PyLong_AsLongLong(o);
    if (v == -1 && PyErr_Occurred()) {
        return -1;
    }
    *out = (int64_t)v;
    return 0;
}

/* Normalises naxes axes of an nd-dim array in place; -1 with IndexError
 * (out of range) or ValueError (repeated) naming fn. */
int pk_ops_shape_norm_axes(int *axes, int naxes, int nd, const char *fn)
{
    for (int i = 0; i < naxes; i++) {
        axes[i] = pk_ops_shape_axis(axes[i], nd, fn);
        if (axes[i] < 0) {
            return -1;
        }
        for (int j = 0; j < i; j++) {
            if (axes[j] == axes[i]) {
                PyErr_Format(PyExc_ValueError, "[%s] repeated axis %d", fn,
                             axes[i]);
                return -1;
            }
        }
    }
    return 0;
}

int pk_ops_shape_axis(int axis, int nd, const char *fn)
{
    if (axis < -nd || axis >= nd) {
        PyErr_Format(PyExc_IndexError, "[%s] axis %d is out of bounds for "
                     "array of ndim %d", fn, axis, nd);
        return -1;
    }
    return axis < 0 ? axis + nd : axis;
}

int pk_ops_shape_opt_axis(PyObject *o, int *axis, bool *flat)
{
    *flat = o == Py_None;
    *axis = 0;
    return *flat ? 0 : pk_int(o, axis);
}

/* ------------------------------------------------------------------ */
/* creation                                                           */
/* ------------------------------------------------------------------ */

/* zeros/ones: shape, dtype=float32 (None means float32 too). */
static PyObject *filled(PyObject *args, PyObject *kw, const char *fmt,
                        kiln_array *(*make)(const int64_t *, int,
                                            kiln_dtype))
{
    static char *kwlist[] = {"shape", "dtype", "stream", NULL};
    PyObject *so, *stream = NULL;
    int dt = KILN_DTYPE_FLOAT32, nd;
    int64_t shape[KILN_MAX_NDIM];
    if (!PyArg_ParseTupleAndKeywords(args, kw, fmt, kwlist, &so,
                                     pk_conv_dtype, &dt, &stream) ||
        pk_shape(so, shape, &nd, 0) < 0) {
        return NULL;
    }
    return pk_ops_shape_wrap(
        make(shape, nd, dt < 0 ? KILN_DTYPE_FLOAT32 : (kiln_dtype)dt));
}

static PyObject *zeros(PyObject *self, PyObject *args, PyObject *kw)
{
    (void)self;
    return filled(args, kw, "O|O&$O:zeros", kiln_zeros);
}

static PyObject *ones(PyObject *self, PyObject *args, PyObject *kw)
{
    (void)self;
    return filled(args, kw, "O|O&$O:ones", kiln_ones);
}

static PyObject *full(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"shape", "vals", "dtype", "stream", NULL};
    PyObject *so, *vo, *stream = NULL;
    int dt = -1, nd;
    int64_t shape[KILN_MAX_NDIM];
    (void)self;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "OO|O&$O:full", kwlist, &so,
                                     &vo, pk_conv_dtype, &dt, &stream) ||
        pk_shape(so, shape, &nd, 0) < 0) {
        return NULL;
    }
    kiln_array *v = pk_to_array(vo, dt);
    if (!v) {
        return NULL;
    }
    kiln_array *y = kiln_full_array(shape, nd, v, kiln_array_dtype(v));
    kiln_array_release(v);
    return pk_ops_shape_wrap(y);
}

/* zeros_like/ones_like: one positional array, and (MLX 0.32) a dtype,
 * default the array's. */
static PyObject *like(PyObject *args, PyObject *kw, const char *fmt,
                      kiln_array *(*make)(kiln_array *))
{
    static char *kwlist[] = {"", "dtype", "stream", NULL};
    PyObject *ao, *stream = NULL;
    int dt = -1;
    if (!PyArg_ParseTupleAndKeywords(args, kw, fmt, kwlist, &ao,
                                     pk_conv_dtype, &dt, &stream)) {
        return NULL;
    }
    kiln_array *a = pk_to_array(ao, -1);
    if (!a) {
        return NULL;
    }
    kiln_array *y = make(a);
    kiln_array_release(a);
    if (y && dt >= 0 && (kiln_dtype)dt != kiln_array_dtype(y)) {
        kiln_array *c = kiln_astype(y, (kiln_dtype)dt);
        kiln_array_release(y);
        y = c;
    }
    return pk_ops_shape_wrap(y);
}

static PyObject *zeros_like(PyObject *self, PyObject *args, PyObject *kw)
{
    (void)self;
    return like(args, kw, "O|O&$O:zeros_like", kiln_zeros_like);
}

static PyObject *ones_like(PyObject *self, PyObject *args, PyObject *kw)
{
    (void)self;
    return like(args, kw, "O|O&$O:ones_like", kiln_ones_like);
}

/* A Python number as arange/linspace read it: bool, int (int32) or float
 * (float32), as MLX's Scalar. Arrays are refused (they would need
 * evaluating). -1 with TypeError. */
static int scalar_of(PyObject *o, double *v, kiln_dtype *dt)
{
    if (PkArray_Check(o)) {
        PyErr_SetString(PyExc_TypeError, "expected an int or a float, got "
                        "a kiln.array");
        return -1;
    }
    if (PyBool_Check(o)) {
        *v = o == Py_True;
        *dt = KILN_DTYPE_BOOL;
        return 0;
    }
    if (PyLong_Check(o) || (!PyFloat_Check(o) && PyIndex_Check(o))) {
        PyObject *i = PyNumber_Index(o);
        if (!i) {
            return -1;
        }
        *v = PyLong_AsDouble(i);
        Py_DECREF(i);
        *dt = KILN_DTYPE_INT32;
        return *v == -1.0 && PyErr_Occurred() ? -1 : 0;
    }
    if (PyFloat_Check(o) || (Py_TYPE(o)->tp_as_number &&
                             Py_TYPE(o)->tp_as_number->nb_float)) {
        *v = PyFloat_AsDouble(o);
        *dt = KILN_DTYPE_FLOAT32;
        return *v == -1.0 && PyErr_Occurred() ? -1 : 0;
    }
    PyErr_Format(PyExc_TypeError, "expected an int or a float, got %.100s",
                 Py_TYPE(o)->tp_name);
    return -1;
}

/* One arange overload: start may be NULL (0), step None (1). */
static PyObject *make_range(PyObject *start, PyObject *stop, PyObject *step,
                            PyObject *dto)
{
    double v0 = 0.0, v1, dv = 1.0;
    kiln_dtype d0 = KILN_DTYPE_INT32, d1, dd = KILN_DTYPE_INT32;
    int dt;
    if ((start && scalar_of(start, &v0, &d0) < 0) ||
        scalar_of(stop, &v1, &d1) < 0 ||
        (step != Py_None && scalar_of(step, &dv, &dd) < 0) ||
        pk_dtype_from(dto, &dt, 1) < 0) {
        return NULL;
    }
    if (dt < 0) {
        /* as MLX: the promoted type of the arguments given */
        kiln_dtype t = start ? kiln_promote_types(d0, d1) : d1;
        dt = (int)(step != Py_None ? kiln_promote_types(t, dd) : t);
    }
    return pk_ops_shape_wrap(kiln_arange(v0, v1, dv, (kiln_dtype)dt));
}

/* MLX's two overloads: arange(start, stop, step=None, dtype=None) and
 * arange(stop, step=None, dtype=None). Like nanobind, the second is tried
 * when the first does not take the arguments. */
static PyObject *arange(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *kw1[] = {"start", "stop", "step", "dtype", "stream", NULL};
    static char *kw2[] = {"stop", "step", "dtype", "stream", NULL};
    PyObject *start, *stop, *step = Py_None, *dto = Py_None, *stream = NULL;
    (void)self;
    if (PyArg_ParseTupleAndKeywords(args, kw, "OO|OO$O:arange", kw1, &start,
                                    &stop, &step, &dto, &stream)) {
        PyObject *r = make_range(start, stop, step, dto);
        if (r || !PyErr_ExceptionMatches(PyExc_TypeError)) {
            return r;
        }
    }
    PyErr_Clear();
    step = Py_None;
    dto = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O|OO$O:arange", kw2, &stop,
                                     &step, &dto, &stream)) {
        return NULL;
    }
    return make_range(NULL, stop, step, dto);
}

static PyObject *linspace(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"start", "stop", "num", "dtype", "stream",
                             NULL};
    PyObject *so, *eo, *no = NULL, *stream = NULL;
    int dt = KILN_DTYPE_FLOAT32;
    double v0, v1;
    kiln_dtype unused;
    int64_t num = 50;
    (void)self;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "OO|OO&O:linspace", kwlist,
                                     &so, &eo, &no, pk_conv_dtype, &dt,
                                     &stream) ||
        scalar_of(so, &v0, &unused) < 0 || scalar_of(eo, &v1, &unused) < 0 ||
        (no && no != Py_None && pk_ops_shape_i64(no, &num) < 0)) {
        return NULL;
    }
    return pk_ops_shape_wrap(kiln_linspace(
        v0, v1, num, dt < 0 ? KILN_DTYPE_FLOAT32 : (kiln_dtype)dt));
}

/* n, m (None: n) and k of eye and tri; m must not be negative. */
static int matrix_args(PyObject *no, PyObject *mo, PyObject *ko, int64_t *n,
                       int64_t *m, int64_t *k)
{
    *k = 0;
    if (pk_ops_shape_i64(no, n) < 0 ||
        (mo != Py_None && pk_ops_shape_i64(mo, m) < 0) ||
        (ko && pk_ops_shape_i64(ko, k) < 0)) {
        return -1;
    }
    if (mo == Py_None) {
        *m = *n;
    }
    if (*n < 0 || *m < 0) {
        PyErr_Format(PyExc_ValueError, "matrix dimensions must be "
                     "non-negative, got %lld x %lld", (long long)*n,
                     (long long)*m);
        return -1;
    }
    return 0;
}

static PyObject *eye(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"n", "m", "k", "dtype", "stream", NULL};
    PyObject *no, *mo = Py_None, *ko = NULL, *stream = NULL;
    int dt = KILN_DTYPE_FLOAT32;
    int64_t n = 0, m = 0, k = 0;
    (void)self;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O|OOO&$O:eye", kwlist, &no,
                                     &mo, &ko, pk_conv_dtype, &dt,
                                     &stream) ||
        matrix_args(no, mo, ko, &n, &m, &k) < 0) {
        return NULL;
    }
    return pk_ops_shape_wrap(
        kiln_eye(n, m, k, dt < 0 ? KILN_DTYPE_FLOAT32 : (kiln_dtype)dt));
}

static PyObject *identity(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"n", "dtype", "stream", NULL};
    PyObject *no, *stream = NULL;
    int dt = KILN_DTYPE_FLOAT32;
    int64_t n = 0, m = 0, k = 0;
    (void)self;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O|O&$O:identity", kwlist,
                                     &no, pk_conv_dtype, &dt, &stream) ||
        matrix_args(no, Py_None, NULL, &n, &m, &k) < 0) {
        return NULL;
    }
    return pk_ops_shape_wrap(
        kiln_identity(n, dt < 0 ? KILN_DTYPE_FLOAT32 : (kiln_dtype)dt));
}

/* The bool n x m mask of j - i <= k (at and below diagonal k), from two
 * aranges; kiln has no tri primitive. NULL with a kiln error. */
static kiln_array *tri_mask(int64_t n, int64_t m, int64_t k)
{
    int64_t rs[2] = {n, 1}, cs[2] = {1, m};
    if (n == 0 || m == 0) {
        /* no element: skip the aranges, which would still be computed */
        int64_t shape[2] = {n, m};
        return kiln_zeros(shape, 2, KILN_DTYPE_BOOL);
    }
    kiln_array *r0 = kiln_arange(0.0, (double)n, 1.0, KILN_DTYPE_INT64);
    kiln_array *c0 = kiln_arange(0.0, (double)m, 1.0, KILN_DTYPE_INT64);
    kiln_array *r = kiln_reshape(r0, rs, 2);
    kiln_array *c = kiln_reshape(c0, cs, 2);
    kiln_array *d = kiln_subtract(c, r);
    kiln_array *kk = kiln_scalar_i64(k, KILN_DTYPE_INT64);
    kiln_array *mask = kiln_less_equal(d, kk);
    kiln_array_release(r0);
    kiln_array_release(c0);
    kiln_array_release(r);
    kiln_array_release(c);
    kiln_array_release(d);
    kiln_array_release(kk);
    return mask;
}

static PyObject *tri(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"n", "m", "k", "dtype", "stream", NULL};
    PyObject *no, *mo = Py_None, *ko = NULL, *stream = NULL;
    int dt = KILN_DTYPE_FLOAT32;
    int64_t n = 0, m = 0, k = 0;
    (void)self;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O|OOO&$O:tri", kwlist, &no,
                                     &mo, &ko, pk_conv_dtype, &dt,
                                     &stream) ||
        matrix_args(no, mo, ko, &n, &m, &k) < 0) {
        return NULL;
    }
    kiln_array *mask = tri_mask(n, m, k);
    kiln_array *y = kiln_astype(
        mask, dt < 0 ? KILN_DTYPE_FLOAT32 : (kiln_dtype)dt);
    kiln_array_release(mask);
    return pk_ops_shape_wrap(y);
}

/* tril keeps j - i <= k; triu keeps j - i >= k, i.e. not (j - i <= k - 1),
 * over the last two axes. */
static PyObject *triangle(PyObject *args, PyObject *kw, const char *fmt,
                          bool upper)
{
    static char *kwlist[] = {"x", "k", "stream", NULL};
    PyObject *xo, *ko = NULL, *stream = NULL;
    int64_t k = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, fmt, kwlist, &xo, &ko,
                                     &stream) ||
        (ko && pk_ops_shape_i64(ko, &k) < 0)) {
        return NULL;
    }
    kiln_array *x = pk_to_array(xo, -1);
    if (!x) {
        return NULL;
    }
    int nd = kiln_array_ndim(x);
    if (nd < 2) {
        kiln_array_release(x);
        PyErr_Format(PyExc_ValueError, "[%s] array must be at least 2 "
                     "dimensional, got %d", upper ? "triu" : "tril", nd);
        return NULL;
    }
    const int64_t *sh = kiln_array_shape(x);
    kiln_array *mask = tri_mask(sh[nd - 2], sh[nd - 1], upper ? k - 1 : k);
    kiln_array *zero = kiln_scalar_i64(0, kiln_array_dtype(x));
    kiln_array *y = upper ? kiln_where(mask, zero, x)
                          : kiln_where(mask, x, zero);
    kiln_array_release(mask);
    kiln_array_release(zero);
    kiln_array_release(x);
    return pk_ops_shape_wrap(y);
}

static PyObject *tril(PyObject *self, PyObject *args, PyObject *kw)
{
    (void)self;
    return triangle(args, kw, "O|O$O:tril", false);
}

static PyObject *triu(PyObject *self, PyObject *args, PyObject *kw)
{
    (void)self;
    return triangle(args, kw, "O|O$O:triu", true);
}

/* ------------------------------------------------------------------ */
/* shape                                                              */
/* ------------------------------------------------------------------ */

static PyObject *reshape(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"", "shape", "stream", NULL};
    PyObject *ao, *so, *stream = NULL;
    int64_t shape[KILN_MAX_NDIM];
    int nd;
    (void)self;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "OO|$O:reshape", kwlist, &ao,
                                     &so, &stream) ||
        pk_shape(so, shape, &nd, 1) < 0) {
        return NULL;
    }
    kiln_array *a = pk_to_array(ao, -1);
    if (!a) {
        return NULL;
    }
    kiln_array *y = kiln_reshape(a, shape, nd);
    kiln_array_release(a);
    return pk_ops_shape_wrap(y);
}

static PyObject *flatten(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"", "start_axis", "end_axis", "stream", NULL};
    PyObject *ao, *so = NULL, *eo = NULL, *stream = NULL;
    int s = 0, e = -1;
    (void)self;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O|OO$O:flatten", kwlist, &ao,
                                     &so, &eo, &stream) ||
        (so && pk_int(so, &s) < 0) || (eo && pk_int(eo, &e) < 0)) {
        return NULL;
    }
    kiln_array *a = pk_to_array(ao, -1);
    if (!a) {
        return NULL;
    }
    kiln_array *y = kiln_flatten(a, s, e);
    kiln_array_release(a);
    return pk_ops_shape_wrap(y);
}

static PyObject *unflatten(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"", "axis", "shape", "stream", NULL};
    PyObject *ao, *xo, *so, *stream = NULL;
    int64_t shape[KILN_MAX_NDIM];
    int nd, axis;
    (void)self;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "OOO|$O:unflatten", kwlist,
                                     &ao, &xo, &so, &stream) ||
        pk_int(xo, &axis) < 0 || pk_shape(so, shape, &nd, 1) < 0) {
        return NULL;
    }
    kiln_array *a = pk_to_array(ao, -1);
    if (!a) {
        return NULL;
    }
    kiln_array *y = kiln_unflatten(a, axis, shape, nd);
    kiln_array_release(a);
    return pk_ops_shape_wrap(y);
}

static PyObject *squeeze(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"", "axis", "stream", NULL};
    PyObject *ao, *xo = Py_None, *stream = NULL;
    int axes[KILN_MAX_NDIM], naxes;
    (void)self;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O|O$O:squeeze", kwlist, &ao,
                                     &xo, &stream) ||
        pk_axes(xo, axes, &naxes) < 0) {
        return NULL;
    }
    kiln_array *a = pk_to_array(ao, -1);
    if (!a) {
        return NULL;
    }
    kiln_array *y = kiln_squeeze(a, naxes < 0 ? NULL : axes,
                                 naxes < 0 ? 0 : naxes);
    kiln_array_release(a);
    return pk_ops_shape_wrap(y);
}

static PyObject *expand_dims(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"", "axis", "stream", NULL};
    PyObject *ao, *xo, *stream = NULL;
    int axes[KILN_MAX_NDIM], naxes;
    (void)self;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "OO|$O:expand_dims", kwlist,
                                     &ao, &xo, &stream)) {
        return NULL;
    }
    if (xo == Py_None) {
        PyErr_SetString(PyExc_TypeError, "[expand_dims] axis must be an int "
                        "or a sequence of ints, not None");
        return NULL;
    }
    if (pk_axes(xo, axes, &naxes) < 0) {
        return NULL;
    }
    kiln_array *a = pk_to_array(ao, -1);
    if (!a) {
        return NULL;
    }
    kiln_array *y = kiln_expand_dims(a, axes, naxes);
    kiln_array_release(a);
    return pk_ops_shape_wrap(y);
}

/* transpose and permute_dims: axes None reverses. */
static PyObject *permute(PyObject *args, PyObject *kw, const char *fmt)
{
    static char *kwlist[] = {"", "axes", "stream", NULL};
    PyObject *ao, *xo = Py_None, *stream = NULL;
    int axes[KILN_MAX_NDIM], naxes;
    if (!PyArg_ParseTupleAndKeywords(args, kw, fmt, kwlist, &ao, &xo,
                                     &stream)) {
        return NULL;
    }
    if (xo != Py_None && !PyList_Check(xo) && !PyTuple_Check(xo)) {
        PyErr_Format(PyExc_TypeError, "axes must be None or a sequence of "
                     "ints, got %.100s", Py_TYPE(xo)->tp_name);
        return NULL;
    }
    if (pk_axes(xo, axes, &naxes) < 0) {
        return NULL;
    }
    kiln_array *a = pk_to_array(ao, -1);
    if (!a) {
        return NULL;
    }
    kiln_array *y = kiln_transpose(a, naxes < 0 ? NULL : axes,
                                   naxes < 0 ? 0 : naxes);
    kiln_array_release(a);
    return pk_ops_shape_wrap(y);
}

static PyObject *transpose(PyObject *self, PyObject *args, PyObject *kw)
{
    (void)self;
    return permute(args, kw, "O|O$O:transpose");
}

static PyObject *permute_dims(PyObject *self, PyObject *args, PyObject *kw)
{
    (void)self;
    return permute(args, kw, "O|O$O:permute_dims");
}

/* swapaxes and moveaxis: an array and two axes. */
static PyObject *two_axes(PyObject *args, PyObject *kw, char **kwlist,
                          const char *fmt,
                          kiln_array *(*op)(kiln_array *, int, int))
{
    PyObject *ao, *o1, *o2, *stream = NULL;
    int a1, a2;
    if (!PyArg_ParseTupleAndKeywords(args, kw, fmt, kwlist, &ao, &o1, &o2,
                                     &stream) ||
        pk_int(o1, &a1) < 0 || pk_int(o2, &a2) < 0) {
        return NULL;
    }
    kiln_array *a = pk_to_array(ao, -1);
    if (!a) {
        return NULL;
    }
    kiln_array *y = op(a, a1, a2);
    kiln_array_release(a);
    return pk_ops_shape_wrap(y);
}

static PyObject *swapaxes(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"", "axis1", "axis2", "stream", NULL};
    (void)self;
    return two_axes(args, kw, kwlist, "OOO|$O:swapaxes", kiln_swapaxes);
}

static PyObject *moveaxis(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"", "source", "destination", "stream", NULL};
    (void)self;
    return two_axes(args, kw, kwlist, "OOO|$O:moveaxis", kiln_moveaxis);
}

static PyObject *broadcast_to(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"", "shape", "stream", NULL};
    PyObject *ao, *so, *stream = NULL;
    int64_t shape[KILN_MAX_NDIM];
    int nd;
    (void)self;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "OO|$O:broadcast_to", kwlist,
                                     &ao, &so, &stream) ||
        pk_shape(so, shape, &nd, 0) < 0) {
        return NULL;
    }
    kiln_array *a = pk_to_array(ao, -1);
    if (!a) {
        return NULL;
    }
    kiln_array *y = kiln_broadcast_to(a, shape, nd);
    kiln_array_release(a);
    return pk_ops_shape_wrap(y);
}

/* The only keyword of a *args function: stream (ignored). */
static int stream_only(PyObject *kw, const char *fn)
{
    if (!kw) {
        return 0;
    }
    PyObject *key;
    Py_ssize_t pos = 0;
    while (PyDict_Next(kw, &pos, &key, NULL)) {
        if (!PyUnicode_Check(key) ||
            PyUnicode_CompareWithASCIIString(key, "stream") != 0) {
            PyErr_Format(PyExc_TypeError, "%s() got an unexpected keyword "
                         "argument %R", fn, key);
            return -1;
        }
    }
    return 0;
}

/* broadcast_arrays(*arrays): a list, as MLX returns. */
static PyObject *broadcast_arrays(PyObject *self, PyObject *args,
                                  PyObject *kw)
{
    int n;
    (void)self;
    if (stream_only(kw, "broadcast_arrays") < 0) {
        return NULL;
    }
    kiln_array **xs = pk_ops_shape_arrays(args, &n);
    if (!xs) {
        return NULL;
    }
    kiln_list *l = kiln_broadcast_arrays(xs, n);
    pk_ops_shape_free(xs, n);
    return pk_ops_shape_list(l);
}

/* x with at least `least` dims: numpy's placement (a 1-D (n) becomes
 * (1, n) and (1, n, 1); a 2-D (m, n) becomes (m, n, 1)). */
static kiln_array *at_least(kiln_array *x, int least)
{
    int nd = kiln_array_ndim(x);
    if (nd >= least) {
        return kiln_array_retain(x);
    }
    const int64_t *sh = kiln_array_shape(x);
    int64_t shape[3] = {1, 1, 1};
    if (nd == 1) {
        shape[least == 1 ? 0 : 1] = sh[0];
    } else if (nd == 2) {
        shape[0] = sh[0];
        shape[1] = sh[1];
    }
    return kiln_reshape(x, shape, least);
}

/* atleast_nd(*arys): one array for one argument, else a list. */
static PyObject *atleast(PyObject *args, PyObject *kw, int least,
                         const char *fn)
{
    int n;
    if (stream_only(kw, fn) < 0) {
        return NULL;
    }
    kiln_array **xs = pk_ops_shape_arrays(args, &n);
    if (!xs) {
        return NULL;
    }
    PyObject *out = NULL;
    if (n == 1) {
        out = pk_ops_shape_wrap(at_least(xs[0], least));
    } else if ((out = PyList_New(n)) != NULL) {
        for (int i = 0; i < n; i++) {
            PyObject *v = pk_ops_shape_wrap(at_least(xs[i], least));
            if (!v) {
                Py_CLEAR(out);
                break;
            }
            PyList_SET_ITEM(out, i, v);
        }
    }
    pk_ops_shape_free(xs, n);
    return out;
}

static PyObject *atleast_1d(PyObject *self, PyObject *args, PyObject *kw)
{
    (void)self;
    return atleast(args, kw, 1, "atleast_1d");
}

static PyObject *atleast_2d(PyObject *self, PyObject *args, PyObject *kw)
{
    (void)self;
    return atleast(args, kw, 2, "atleast_2d");
}

static PyObject *atleast_3d(PyObject *self, PyObject *args, PyObject *kw)
{
    (void)self;
    return atleast(args, kw, 3, "atleast_3d");
}

/* ------------------------------------------------------------------ */
/* registration                                                       */
/* ------------------------------------------------------------------ */

static PyMethodDef shape_methods[] = {
    {"zeros", PK_FN(zeros), PK_KW,
     "zeros(shape, dtype=None, *, stream=None)\n--\n\n"
     "An array of zeros of the given shape and dtype (None: float32)."},
    {"ones", PK_FN(ones), PK_KW,
     "ones(shape, dtype=None, *, stream=None)\n--\n\n"
     "An array of ones of the given shape and dtype (None: float32)."},
    {"full", PK_FN(full), PK_KW,
     "full(shape, vals, dtype=None, *, stream=None)\n--\n\n"
     "An array of the given shape filled with vals (a scalar or an array "
     "broadcast to shape); dtype None takes vals' dtype."},
    {"zeros_like", PK_FN(zeros_like), PK_KW,
     "zeros_like(a, /, dtype=None, *, stream=None)\n--\n\n"
     "Zeros of a's shape and dtype."},
    {"ones_like", PK_FN(ones_like), PK_KW,
     "ones_like(a, /, dtype=None, *, stream=None)\n--\n\n"
     "Ones of a's shape and dtype."},
    {"arange", PK_FN(arange), PK_KW,
     "arange(start, stop, step=None, dtype=None, *, stream=None)\n"
     "arange(stop, step=None, dtype=None, *, stream=None)\n\n"
     "Numbers in [start, stop) in increments of step; int arguments give "
     "int32, any float float32."},
    {"linspace", PK_FN(linspace), PK_KW,
     "linspace(start, stop, num=50, dtype=None, stream=None)\n--\n\n"
     "num evenly spaced numbers over [start, stop] (dtype None: "
     "float32)."},
    {"eye", PK_FN(eye), PK_KW,
     "eye(n, m=None, k=0, dtype=None, *, stream=None)\n--\n\n"
     "An n x m matrix with ones on diagonal k (dtype None: float32)."},
    {"identity", PK_FN(identity), PK_KW,
     "identity(n, dtype=None, *, stream=None)\n--\n\n"
     "The n x n identity matrix (dtype None: float32)."},
    {"tri", PK_FN(tri), PK_KW,
     "tri(n, m=None, k=0, dtype=None, *, stream=None)\n--\n\n"
     "An n x m array with ones at and below diagonal k (dtype None: "
     "float32)."},
    {"tril", PK_FN(tril), PK_KW,
     "tril(x, k=0, *, stream=None)\n--\n\n"
     "x with the elements above diagonal k zeroed (last two axes)."},
    {"triu", PK_FN(triu), PK_KW,
     "triu(x, k=0, *, stream=None)\n--\n\n"
     "x with the elements below diagonal k zeroed (last two axes)."},
    {"reshape", PK_FN(reshape), PK_KW,
     "reshape(a, /, shape, *, stream=None)\n--\n\n"
     "a with a new shape of the same size (one entry may be -1)."},
    {"flatten", PK_FN(flatten), PK_KW,
     "flatten(a, /, start_axis=0, end_axis=-1, *, stream=None)\n--\n\n"
     "a with axes start_axis..end_axis (inclusive) merged into one."},
    {"unflatten", PK_FN(unflatten), PK_KW,
     "unflatten(a, /, axis, shape, *, stream=None)\n--\n\n"
     "a with axis split into shape (one entry may be -1)."},
    {"squeeze", PK_FN(squeeze), PK_KW,
     "squeeze(a, /, axis=None, *, stream=None)\n--\n\n"
     "a without the given size-one axes (None: all of them)."},
    {"expand_dims", PK_FN(expand_dims), PK_KW,
     "expand_dims(a, /, axis, *, stream=None)\n--\n\n"
     "a with size-one axes inserted at the given positions."},
    {"transpose", PK_FN(transpose), PK_KW,
     "transpose(a, /, axes=None, *, stream=None)\n--\n\n"
     "a with its axes permuted (None reverses them)."},
    {"permute_dims", PK_FN(permute_dims), PK_KW,
     "permute_dims(a, /, axes=None, *, stream=None)\n--\n\n"
     "See transpose."},
    {"swapaxes", PK_FN(swapaxes), PK_KW,
     "swapaxes(a, /, axis1, axis2, *, stream=None)\n--\n\n"
     "a with two axes swapped."},
    {"moveaxis", PK_FN(moveaxis), PK_KW,
     "moveaxis(a, /, source, destination, *, stream=None)\n--\n\n"
     "a with one axis moved to a new position."},
    {"broadcast_to", PK_FN(broadcast_to), PK_KW,
     "broadcast_to(a, /, shape, *, stream=None)\n--\n\n"
     "a broadcast to shape (numpy's rules)."},
    {"broadcast_arrays", PK_FN(broadcast_arrays), PK_KW,
     "broadcast_arrays(*arrays, stream=None)\n--\n\n"
     "The arrays broadcast against one another, as a list."},
    {"atleast_1d", PK_FN(atleast_1d), PK_KW,
     "atleast_1d(*arys, stream=None)\n--\n\n"
     "The arrays with at least one dimension (one array, or a list)."},
    {"atleast_2d", PK_FN(atleast_2d), PK_KW,
     "atleast_2d(*arys, stream=None)\n--\n\n"
     "The arrays with at least two dimensions (one array, or a list)."},
    {"atleast_3d", PK_FN(atleast_3d), PK_KW,
     "atleast_3d(*arys, stream=None)\n--\n\n"
     "The arrays with at least three dimensions (one array, or a list)."},
    {NULL, NULL, 0, NULL},
};

int pk_init_ops_shape(PyObject *m)
{
    if (PyModule_AddFunctions(m, shape_methods) < 0 ||
        pk_init_ops_layout(m) < 0 || pk_init_ops_index(m) < 0 ||
        pk_init_dtype_info(m) < 0) {
        return -1;
    }
    return 0;
}
