/*
 * ops_layout.c - module functions that join, split, pad and repeat
 * arrays: concatenate, concat, stack, split, pad, tile, repeat, roll,
 * meshgrid.
 *
 * Signatures follow mlx.core (python/src/ops.cpp); `stream` is accepted
 * and ignored. An axis of None means the flattened array where MLX says
 * so. Registered from pk_init_ops_shape (ops_shape.c), whose helpers
 * (pk_ops_shape_*) it uses.
 *
 * Invariants: lazy only (no evaluation, no GIL release), so these work on
 * the placeholders of compile and the transforms; every kiln array made
 * here is released or wrapped on every path.
 */
#include "pykiln.h"

#include <string.h>

/* ------------------------------------------------------------------ */
/* joining and splitting                                              */
/* ------------------------------------------------------------------ */

/* concatenate/concat/stack(arrays, axis=0): axis None flattens every
 * array first (concatenate) or means 0 (stack). */
static PyObject *join(PyObject *args, PyObject *kw, const char *fmt,
                      const char *fn, bool stack)
{
    static char *kwlist[] = {"", "axis", "stream", NULL};
    PyObject *lo, *xo = NULL, *stream = NULL;
    int axis = 0, n;
    bool flat = false;
    if (!PyArg_ParseTupleAndKeywords(args, kw, fmt, kwlist, &lo, &xo,
                                     &stream) ||
        (xo && pk_ops_shape_opt_axis(xo, &axis, &flat) < 0)) {
        return NULL;
    }
    kiln_array **xs = pk_ops_shape_arrays(lo, &n);
    if (!xs) {
        return NULL;
    }
    if (n == 0) {
        pk_ops_shape_free(xs, n);
        PyErr_Format(PyExc_ValueError, "[%s] no arrays given", fn);
        return NULL;
    }
    kiln_array *y = NULL;
    if (flat && !stack) {
        int64_t all = -1;
        for (int i = 0; i < n; i++) {
            kiln_array *f = kiln_reshape(xs[i], &all, 1);
            kiln_array_release(xs[i]);
            xs[i] = f;
        }
    }
    y = stack ? kiln_stack(xs, n, axis) : kiln_concatenate(xs, n, axis);
    pk_ops_shape_free(xs, n);
    return pk_ops_shape_wrap(y);
}

static PyObject *concatenate(PyObject *self, PyObject *args, PyObject *kw)
{
    (void)self;
    return join(args, kw, "O|O$O:concatenate", "concatenate", false);
}

static PyObject *concat(PyObject *self, PyObject *args, PyObject *kw)
{
    (void)self;
    return join(args, kw, "O|O$O:concat", "concat", false);
}

static PyObject *stack(PyObject *self, PyObject *args, PyObject *kw)
{
    (void)self;
    return join(args, kw, "O|O$O:stack", "stack", true);
}

/* split(a, indices_or_sections, axis=0) -> list. */
static PyObject *split(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"", "indices_or_sections", "axis", "stream",
                             NULL};
    PyObject *ao, *io, *xo = NULL, *stream = NULL;
    int axis = 0, sections = 0;
    (void)self;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "OO|O$O:split", kwlist, &ao,
                                     &io, &xo, &stream) ||
        (xo && pk_int(xo, &axis) < 0)) {
        return NULL;
    }
    int64_t *idx = NULL;
    Py_ssize_t nidx = 0;
    if (PyList_Check(io) || PyTuple_Check(io) || pk_np_vector(io)) {
        /* a tuple copy: an entry's __index__ may change the list */
        PyObject *t = PySequence_Tuple(io);
        if (!t) {
            return NULL;
        }
        nidx = PyTuple_GET_SIZE(t);
        if (nidx > INT32_MAX / 2) {
            Py_DECREF(t);
            PyErr_SetString(PyExc_ValueError, "[split] too many indices");
            return NULL;
        }
        idx = PyMem_Calloc((size_t)(nidx > 0 ? nidx : 1), sizeof *idx);
        if (!idx) {
            Py_DECREF(t);
            return PyErr_NoMemory();
        }
        for (Py_ssize_t i = 0; i < nidx; i++) {
            if (pk_ops_shape_i64(PyTuple_GET_ITEM(t, i), &idx[i]) < 0) {
                Py_DECREF(t);
                PyMem_Free(idx);
                return NULL;
            }
        }
        Py_DECREF(t);
    } else if (pk_int(io, &sections) < 0) {
        return NULL;
    }
    kiln_array *a = pk_to_array(ao, -1);
    if (!a) {
        PyMem_Free(idx);
        return NULL;
    }
    kiln_list *l = kiln_split(a, sections, idx, (int)nidx, axis);
    kiln_array_release(a);
    PyMem_Free(idx);
    return pk_ops_shape_list(l);
}

/* ------------------------------------------------------------------ */
/* padding and repetition                                             */
/* ------------------------------------------------------------------ */

/* A sequence of exactly two ints (before, after). 1 when o is one, 0
 * when it is not (no exception), -1 on error. */
static int int_pair(PyObject *o, int64_t *p)
{
    if ((!PyList_Check(o) && !PyTuple_Check(o)) ||
        PySequence_Fast_GET_SIZE(o) != 2) {
        return 0;
    }
    /* a tuple copy: an entry's __index__ may change the list */
    PyObject *t = PySequence_Tuple(o);
    if (!t) {
        return -1;
    }
    int r = 1;
    for (int i = 0; i < 2 && r == 1; i++) {
        PyObject *v = PyTuple_GET_ITEM(t, i);
        if (PyBool_Check(v) || !PyIndex_Check(v)) {
            r = 0;
        } else if (pk_ops_shape_i64(v, &p[i]) < 0) {
            r = -1;
        }
    }
    Py_DECREF(t);
    return r;
}

/* MLX's pad_width forms into nd (before, after) pairs: an int, (int,),
 * (before, after), or a sequence of pairs (one pair, or one per axis). */
static int pad_widths(PyObject *o, int nd, int64_t *pw)
{
    int64_t p[2];
    int r;
    if (PyList_Check(o)) {
        /* a tuple copy: an entry's __index__ may change the list */
        PyObject *t = PyList_AsTuple(o);
        if (!t) {
            return -1;
        }
        r = pad_widths(t, nd, pw);
        Py_DECREF(t);
        return r;
    }
    if (PyIndex_Check(o) && !PyBool_Check(o)) {
        if (pk_ops_shape_i64(o, &p[0]) < 0) {
            return -1;
        }
        p[1] = p[0];
    } else if ((PyList_Check(o) || PyTuple_Check(o)) &&
               PySequence_Fast_GET_SIZE(o) == 1 &&
               PyIndex_Check(PySequence_Fast_GET_ITEM(o, 0))) {
        if (pk_ops_shape_i64(PySequence_Fast_GET_ITEM(o, 0), &p[0]) < 0) {
            return -1;
        }
        p[1] = p[0];
    } else if ((r = int_pair(o, p)) != 0) {
        if (r < 0) {
            return -1;
        }
    } else if (PyList_Check(o) || PyTuple_Check(o)) {
        Py_ssize_t n = PySequence_Fast_GET_SIZE(o);
        if (n != 1 && n != nd) {
            PyErr_Format(PyExc_ValueError, "[pad] %zd padding pairs given "
                         "for an array of ndim %d", n, nd);
            return -1;
        }
        for (Py_ssize_t i = 0; i < n; i++) {
            r = int_pair(PySequence_Fast_GET_ITEM(o, i), &pw[2 * i]);
            if (r <= 0) {
                if (r == 0) {
                    PyErr_SetString(PyExc_TypeError, "[pad] pad_width "
                                    "entries must be (before, after) pairs "
                                    "of ints");
                }
                return -1;
            }
        }
        if (n == nd) {
            return 0;
        }
        p[0] = pw[0];
        p[1] = pw[1];
    } else {
        PyErr_Format(PyExc_TypeError, "[pad] pad_width must be an int, a "
                     "pair or a sequence of pairs, got %.100s",
                     Py_TYPE(o)->tp_name);
        return -1;
    }
    for (int i = 0; i < nd; i++) {
        pw[2 * i] = p[0];
        pw[2 * i + 1] = p[1];
    }
    return 0;
}

/* Padding from the array's own values, per axis: 'edge' repeats the
 * first and last slices, 'reflect' mirrors about them (without repeating
 * them: w <= n - 1), 'symmetric' mirrors including them (w <= n), as
 * NumPy and MLX. Bounds count from the ends of the axis (negative or
 * omitted), so a shapeless replay mirrors the new ends. */
enum { PAD_EDGE, PAD_REFLECT, PAD_SYMMETRIC };

static kiln_array *pad_side(kiln_array *y, int ax, int64_t w, int mode,
                            int side)
{
    int nd = kiln_array_ndim(y);
    int64_t start[KILN_MAX_NDIM], stop[KILN_MAX_NDIM], step[KILN_MAX_NDIM];
    for (int i = 0; i < nd; i++) {
        start[i] = KILN_SLICE_BEGIN;
        stop[i] = KILN_SLICE_END;
        step[i] = 1;
    }
    if (mode == PAD_EDGE) {
        kiln_array *s = side == 0
                            ? pk_ops_shape_cut(y, ax, 0, 1, false)
                            : pk_ops_shape_cut(y, ax, -1, KILN_SLICE_END,
                                               false);
        int64_t shape[KILN_MAX_NDIM];
        memcpy(shape, kiln_array_shape(y), sizeof shape[0] * (size_t)nd);
        shape[ax] = w;
        kiln_array *b = s ? kiln_broadcast_to(s, shape, nd) : NULL;
        kiln_array_release(s);
        return b;
    }
    step[ax] = -1;
    if (mode == PAD_REFLECT) {
        /* before: y[w], ..., y[1]; after: y[n-2], ..., y[n-1-w] */
        start[ax] = side == 0 ? w : -2;
        stop[ax] = side == 0 ? 0 : -2 - w;
    } else {
        /* before: y[w-1], ..., y[0]; after: y[n-1], ..., y[n-w] */
        start[ax] = side == 0 ? w - 1 : KILN_SLICE_BEGIN;
        stop[ax] = side == 0 ? KILN_SLICE_END : -1 - w;
    }
    return kiln_slice(y, start, stop, step);
}

static kiln_array *pad_mirror(kiln_array *x, const int64_t *pw, int mode)
{
    static const char *const name[] = {"edge", "reflect", "symmetric"};
    kiln_array *y = kiln_array_retain(x);
    int nd = kiln_array_ndim(x);
    for (int ax = 0; y && ax < nd; ax++) {
        if (pw[2 * ax] == 0 && pw[2 * ax + 1] == 0) {
            continue;
        }
        int64_t n = kiln_array_dim(y, ax);
        int64_t most = mode == PAD_EDGE ? INT64_MAX
                       : mode == PAD_REFLECT ? n - 1 : n;
        for (int side = 0; side < 2; side++) {
            int64_t w = pw[2 * ax + side];
            if (n == 0 || w < 0 || w > most) {
                PyErr_Format(PyExc_ValueError, "[pad] cannot %s-pad axis %d "
                             "of size %lld by %lld", name[mode], ax,
                             (long long)n, (long long)w);
                kiln_array_release(y);
                return NULL;
            }
        }
        kiln_array *parts[3];
        int np = 0;
        for (int side = 0; side < 2; side++) {
            int64_t w = pw[2 * ax + side];
            if (side == 1) {
                parts[np++] = kiln_array_retain(y);
            }
            if (w > 0) {
                parts[np++] = pad_side(y, ax, w, mode, side);
            }
        }
        bool ok = true;
        for (int i = 0; i < np; i++) {
            ok = ok && parts[i];
        }
        kiln_array *z = ok ? kiln_concatenate(parts, np, ax) : NULL;
        for (int i = 0; i < np; i++) {
            kiln_array_release(parts[i]);
        }
        kiln_array_release(y);
        y = z;
    }
    if (!y && !PyErr_Occurred()) {
        pk_ops_shape_fail();
    }
    return y;
}

/* Constant padding with an array value (or an int too big for a double):
 * pad with 0, then put the value where a padded mask of ones is false. */
static kiln_array *pad_array_value(kiln_array *x, const int64_t *pw,
                                   kiln_array *v)
{
    int nd = kiln_array_ndim(x);
    kiln_array *y0 = kiln_pad(x, pw, 0.0);
    kiln_array *one = kiln_ones(kiln_array_shape(x), nd, KILN_DTYPE_BOOL);
    kiln_array *mask = kiln_pad(one, pw, 0.0);
    kiln_array *c = kiln_astype(v, kiln_array_dtype(x));
    kiln_array *y = kiln_where(mask, y0, c);
    kiln_array_release(y0);
    kiln_array_release(one);
    kiln_array_release(mask);
    kiln_array_release(c);
    return y;
}

static PyObject *pad(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"", "pad_width", "mode", "constant_values",
                             "stream", NULL};
    PyObject *ao, *po, *vo = NULL, *stream = NULL;
    const char *mode = "constant";
    int64_t pw[2 * KILN_MAX_NDIM];
    (void)self;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "OO|sO$O:pad", kwlist, &ao,
                                     &po, &mode, &vo, &stream)) {
        return NULL;
    }
    int mirror = strcmp(mode, "edge") == 0        ? PAD_EDGE
                 : strcmp(mode, "reflect") == 0   ? PAD_REFLECT
                 : strcmp(mode, "symmetric") == 0 ? PAD_SYMMETRIC
                                                  : -1;
    if (mirror < 0 && strcmp(mode, "constant") != 0) {
        PyErr_Format(PyExc_ValueError, "[pad] invalid padding mode '%s' "
                     "(expected 'constant', 'edge', 'reflect' or "
                     "'symmetric')", mode);
        return NULL;
    }
    kiln_array *a = pk_to_array(ao, -1);
    if (!a) {
        return NULL;
    }
    kiln_array *y = NULL;
    if (pad_widths(po, kiln_array_ndim(a), pw) < 0) {
        goto done;
    }
    if (mirror >= 0) {
        y = pad_mirror(a, pw, mirror);
        kiln_array_release(a);
        return y ? pk_wrap(y) : NULL;
    }
    if (!vo || PyFloat_Check(vo) || PyBool_Check(vo)) {
        y = kiln_pad(a, pw, vo ? PyFloat_AsDouble(vo) : 0.0);
    } else {
        int overflow = 0;
        long long iv = PyLong_Check(vo)
                           ? PyLong_AsLongLongAndOverflow(vo, &overflow)
                           : 0;
        if (PyLong_Check(vo) && !overflow && iv >= -(1LL << 53) &&
            iv <= (1LL << 53)) {
            y = kiln_pad(a, pw, (double)iv);
        } else {
            kiln_array *v = pk_to_array(vo, -1);
            if (!v) {
                goto done;
            }
            y = pad_array_value(a, pw, v);
            kiln_array_release(v);
        }
    }
    kiln_array_release(a);
    return pk_ops_shape_wrap(y);
done:
    kiln_array_release(a);
    return NULL;
}

static PyObject *tile(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"", "", "stream", NULL};
    PyObject *ao, *ro, *stream = NULL;
    int64_t reps[KILN_MAX_NDIM];
    int nreps;
    (void)self;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "OO|$O:tile", kwlist, &ao,
                                     &ro, &stream) ||
        pk_shape(ro, reps, &nreps, 0) < 0) {
        return NULL;
    }
    kiln_array *a = pk_to_array(ao, -1);
    if (!a) {
        return NULL;
    }
    kiln_array *y = kiln_tile(a, reps, nreps);
    kiln_array_release(a);
    return pk_ops_shape_wrap(y);
}

static PyObject *repeat(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"", "repeats", "axis", "stream", NULL};
    PyObject *ao, *ro, *xo = Py_None, *stream = NULL;
    int64_t repeats;
    int axis;
    bool flat;
    (void)self;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "OO|O$O:repeat", kwlist, &ao,
                                     &ro, &xo, &stream) ||
        pk_ops_shape_i64(ro, &repeats) < 0 ||
        pk_ops_shape_opt_axis(xo, &axis, &flat) < 0) {
        return NULL;
    }
    kiln_array *a = pk_to_array(ao, -1);
    if (!a) {
        return NULL;
    }
    kiln_array *y = kiln_repeat(a, repeats, axis, flat);
    kiln_array_release(a);
    return pk_ops_shape_wrap(y);
}

/* x rolled by s along ax: its last s elements first. */
static kiln_array *roll_axis(kiln_array *x, int ax, int64_t s)
{
    int64_t n = kiln_array_dim(x, ax);
    if (n == 0 || (s %= n) == 0) {
        return kiln_array_retain(x);
    }
    if (s < 0) {
        s += n;
    }
    /* bounds from the length: a shapeless replay on another one fails */
    kiln_array *parts[2] = {pk_ops_shape_cut(x, ax, n - s, n, true),
                            pk_ops_shape_cut(x, ax, 0, n - s, true)};
    kiln_array *y = kiln_concatenate(parts, 2, ax);
    kiln_array_release(parts[0]);
    kiln_array_release(parts[1]);
    return y;
}

/* Shifts as ints: one int, or a sequence of them. */
static int shifts_of(PyObject *o, int64_t *sh, int *n)
{
    if (PyIndex_Check(o) && !PyBool_Check(o)) {
        *n = 1;
        return pk_ops_shape_i64(o, &sh[0]);
    }
    if (!PyList_Check(o) && !PyTuple_Check(o)) {
        PyErr_Format(PyExc_TypeError, "[roll] shift must be an int or a "
                     "sequence of ints, got %.100s", Py_TYPE(o)->tp_name);
        return -1;
    }
    /* a tuple copy: an entry's __index__ may change the list */
    PyObject *t = PySequence_Tuple(o);
    if (!t) {
        return -1;
    }
    Py_ssize_t len = PyTuple_GET_SIZE(t);
    int r = 0;
    if (len > KILN_MAX_NDIM) {
        PyErr_SetString(PyExc_ValueError, "[roll] too many shifts");
        r = -1;
    }
    for (Py_ssize_t i = 0; i < len && r == 0; i++) {
        r = pk_ops_shape_i64(PyTuple_GET_ITEM(t, i), &sh[i]);
    }
    Py_DECREF(t);
    if (r == 0) {
        *n = (int)len;
    }
    return r;
}

/* roll(a, shift, axis=None): numpy's rules; axis None rolls the
 * flattened array by the sum of the shifts and restores the shape. */
static PyObject *roll(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"", "shift", "axis", "stream", NULL};
    PyObject *ao, *so, *xo = Py_None, *stream = NULL;
    int64_t sh[KILN_MAX_NDIM];
    int axes[KILN_MAX_NDIM], nsh, naxes;
    (void)self;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "OO|O$O:roll", kwlist, &ao,
                                     &so, &xo, &stream) ||
        shifts_of(so, sh, &nsh) < 0 || pk_axes(xo, axes, &naxes) < 0) {
        return NULL;
    }
    if (nsh == 0) {
        PyErr_SetString(PyExc_ValueError, "[roll] no shift given");
        return NULL;
    }
    if (naxes >= 0 && nsh != 1 && naxes != 1 && nsh != naxes) {
        PyErr_Format(PyExc_ValueError, "[roll] %d shifts for %d axes", nsh,
                     naxes);
        return NULL;
    }
    kiln_array *a = pk_to_array(ao, -1);
    if (!a) {
        return NULL;
    }
    int nd = kiln_array_ndim(a);
    kiln_array *y = NULL;
    if (naxes < 0 || (naxes == 1 && nsh > 1)) {
        /* every shift applies to one axis: their sum, taken mod n */
        int ax = naxes < 0 ? 0 : pk_ops_shape_axis(axes[0], nd, "roll");
        int64_t n = naxes < 0 ? kiln_array_size(a)
                              : (ax < 0 ? 0 : kiln_array_dim(a, ax));
        int64_t total = 0;
        for (int i = 0; n > 0 && i < nsh; i++) {
            total += sh[i] % n;
        }
        if (naxes < 0) {
            int64_t all = -1;
            kiln_array *f = kiln_reshape(a, &all, 1);
            kiln_array *r = f ? roll_axis(f, 0, total) : NULL;
            y = kiln_reshape(r, kiln_array_shape(a), nd);
            kiln_array_release(f);
            kiln_array_release(r);
        } else if (ax >= 0) {
            y = roll_axis(a, ax, total);
        }
    } else {
        y = kiln_array_retain(a);
        for (int i = 0; y && i < naxes; i++) {
            int ax = pk_ops_shape_axis(axes[i], nd, "roll");
            kiln_array *r = ax < 0 ? NULL
                                   : roll_axis(y, ax, sh[nsh == 1 ? 0 : i]);
            kiln_array_release(y);
            y = r;
        }
    }
    kiln_array_release(a);
    if (!y && PyErr_Occurred()) {
        return NULL;
    }
    return pk_ops_shape_wrap(y);
}

/* meshgrid(*arrays, sparse=False, indexing='xy') -> list, as MLX: each
 * array flattened onto its own axis ('xy' swaps the first two). */
static PyObject *meshgrid(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"sparse", "indexing", "stream", NULL};
    PyObject *empty = PyTuple_New(0), *stream = NULL;
    int sparse = 0, n;
    const char *indexing = "xy";
    (void)self;
    if (!empty || !PyArg_ParseTupleAndKeywords(empty, kw, "|psO:meshgrid",
                                               kwlist, &sparse, &indexing,
                                               &stream)) {
        Py_XDECREF(empty);
        return NULL;
    }
    Py_DECREF(empty);
    bool xy = strcmp(indexing, "xy") == 0;
    if (!xy && strcmp(indexing, "ij") != 0) {
        PyErr_Format(PyExc_ValueError, "[meshgrid] invalid indexing '%s' "
                     "(expected 'xy' or 'ij')", indexing);
        return NULL;
    }
    kiln_array **xs = pk_ops_shape_arrays(args, &n);
    if (!xs) {
        return NULL;
    }
    if (n > KILN_MAX_NDIM) {
        pk_ops_shape_free(xs, n);
        PyErr_Format(PyExc_ValueError, "[meshgrid] at most %d arrays",
                     KILN_MAX_NDIM);
        return NULL;
    }
    kiln_list *l = kiln_list_new();
    for (int i = 0; l && i < n; i++) {
        int64_t shape[KILN_MAX_NDIM];
        for (int j = 0; j < n; j++) {
            shape[j] = 1;
        }
        shape[xy && n > 1 && i < 2 ? 1 - i : i] = -1;
        kiln_array *r = kiln_reshape(xs[i], shape, n);
        if (!r || kiln_list_push(l, r) != KILN_OK) {
            kiln_list_free(l);
            l = NULL;
        }
        kiln_array_release(r);
    }
    pk_ops_shape_free(xs, n);
    if (l && !sparse) {
        kiln_array **rs = PyMem_Calloc((size_t)(n > 0 ? n : 1), sizeof *rs);
        if (!rs) {
            kiln_list_free(l);
            return PyErr_NoMemory();
        }
        for (int i = 0; i < n; i++) {
            rs[i] = kiln_list_get(l, (size_t)i);
        }
        kiln_list *b = kiln_broadcast_arrays(rs, n);
        PyMem_Free(rs);
        kiln_list_free(l);
        l = b;
    }
    return pk_ops_shape_list(l);
}

/* ------------------------------------------------------------------ */
/* registration                                                       */
/* ------------------------------------------------------------------ */

static PyMethodDef layout_methods[] = {
    {"concatenate", PK_FN(concatenate), PK_KW,
     "concatenate(arrays, /, axis=0, *, stream=None)\n--\n\n"
     "The arrays joined along axis (None: flattened first)."},
    {"concat", PK_FN(concat), PK_KW,
     "concat(arrays, /, axis=0, *, stream=None)\n--\n\n"
     "See concatenate."},
    {"stack", PK_FN(stack), PK_KW,
     "stack(arrays, /, axis=0, *, stream=None)\n--\n\n"
     "The arrays stacked along a new axis."},
    {"split", PK_FN(split), PK_KW,
     "split(a, /, indices_or_sections, axis=0, *, stream=None)\n--\n\n"
     "A list of parts of a: that many equal sections, or cut at the "
     "given indices."},
    {"pad", PK_FN(pad), PK_KW,
     "pad(a, /, pad_width, mode='constant', constant_values=0, *, "
     "stream=None)\n--\n\n"
     "a padded with a constant ('constant'), its edge values ('edge') or "
     "its mirror image ('reflect', 'symmetric')."},
    {"tile", PK_FN(tile), PK_KW,
     "tile(a, reps, /, *, stream=None)\n--\n\n"
     "a repeated reps times along each axis."},
    {"repeat", PK_FN(repeat), PK_KW,
     "repeat(array, /, repeats, axis=None, *, stream=None)\n--\n\n"
     "Each element repeated along axis (None: of the flattened array)."},
    {"roll", PK_FN(roll), PK_KW,
     "roll(a, /, shift, axis=None, *, stream=None)\n--\n\n"
     "a with elements shifted circularly along axis (None: flattened)."},
    {"meshgrid", PK_FN(meshgrid), PK_KW,
     "meshgrid(*arrays, sparse=False, indexing='xy', stream=None)\n--\n\n"
     "Coordinate grids from 1-D coordinate arrays, as a list."},
    {NULL, NULL, 0, NULL},
};

int pk_init_ops_layout(PyObject *m)
{
    return PyModule_AddFunctions(m, layout_methods);
}
