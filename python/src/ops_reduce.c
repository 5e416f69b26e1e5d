/*
 * ops_reduce.c - the reductions and scans of the kiln module with
 * mlx.core's signatures: sum, prod, mean, min, max, all, any, logsumexp
 * (stamped from kiln.h's KILN_REDUCE_OP_LIST), var, std, argmin, argmax,
 * softmax, and the scans cumsum, cumprod, cummax, cummin (stamped from
 * KILN_SCAN_OP_LIST).
 *
 * Axis conventions (MLX): reductions take None (every axis), an int or a
 * sequence of ints; argmin/argmax and the scans take None (the flattened
 * array) or one int. Range and duplicate checks are kiln's (an axis out of
 * range is an IndexError, a repeated one a ValueError, as MLX 0.32; the
 * scans too).
 *
 * Invariants: nothing here evaluates, so the GIL is held; the converted
 * input is released on every path.
 */
#include "pykiln.h"

typedef kiln_array *(*reduce_fn)(kiln_array *, const int *, int, bool);
typedef kiln_array *(*scan_fn)(kiln_array *, int, bool, bool, bool);
typedef kiln_array *(*arg_fn)(kiln_array *, int, bool, bool);

/* None -> *flat = 1, else one int axis. 0 or -1 with an exception. */
static int one_axis(PyObject *o, int *axis, int *flat)
{
    *axis = 0;
    *flat = o == Py_None;
    return *flat ? 0 : pk_int(o, axis);
}

/* ------------------------------------------------------------------ */
/* reductions over a list of axes                                     */
/* ------------------------------------------------------------------ */

static PyObject *call_reduce(PyObject *args, PyObject *kw, reduce_fn f,
                             const char *format)
{
    static char *kwlist[] = {"", "axis", "keepdims", "stream", NULL};
    PyObject *ao, *axis_o = Py_None, *stream = NULL;
    int keepdims = 0, axes[KILN_MAX_NDIM], naxes;
    if (!PyArg_ParseTupleAndKeywords(args, kw, format, kwlist, &ao, &axis_o,
                                     &keepdims, &stream)) {
        return NULL;
    }
    if (pk_axes(axis_o, axes, &naxes) < 0) {
        return NULL;
    }
    kiln_array *a = pk_to_array(ao, -1);
    if (!a) {
        return NULL;
    }
    kiln_array *y = f(a, naxes < 0 ? NULL : axes, naxes, keepdims != 0);
    kiln_array_release(a);
    return pk_wrap(y);
}

/* e.g. for sum:
 *   static PyObject *reduce_sum(PyObject *self, PyObject *args,
 *                               PyObject *kw)
 *   { (void)self; return call_reduce(args, kw, kiln_sum, "O|Op$O:sum"); }
 */
#define REDUCE_WRAPPER(name)                                              \
    static PyObject *reduce_##name(PyObject *self, PyObject *args,        \
                                   PyObject *kw)                          \
    {                                                                     \
        (void)self;                                                       \
        return call_reduce(args, kw, kiln_##name, "O|Op$O:" #name);       \
    }
KILN_REDUCE_OP_LIST(REDUCE_WRAPPER)
#undef REDUCE_WRAPPER

typedef kiln_array *(*moment_fn)(kiln_array *, const int *, int, bool, int);

static PyObject *call_moment(PyObject *args, PyObject *kw, moment_fn f,
                             const char *format)
{
    static char *kwlist[] = {"", "axis", "keepdims", "ddof", "stream",
                             NULL};
    PyObject *ao, *axis_o = Py_None, *stream = NULL;
    int keepdims = 0, ddof = 0, axes[KILN_MAX_NDIM], naxes;
    if (!PyArg_ParseTupleAndKeywords(args, kw, format, kwlist, &ao, &axis_o,
                                     &keepdims, &ddof, &stream)) {
        return NULL;
    }
    if (pk_axes(axis_o, axes, &naxes) < 0) {
        return NULL;
    }
    kiln_array *a = pk_to_array(ao, -1);
    if (!a) {
        return NULL;
    }
    kiln_array *y =
        f(a, naxes < 0 ? NULL : axes, naxes, keepdims != 0, ddof);
    kiln_array_release(a);
    return pk_wrap(y);
}

static PyObject *py_var(PyObject *self, PyObject *args, PyObject *kw)
{
    (void)self;
    return call_moment(args, kw, kiln_var, "O|Opi$O:var");
}

static PyObject *py_std(PyObject *self, PyObject *args, PyObject *kw)
{
    (void)self;
    return call_moment(args, kw, kiln_std, "O|Opi$O:std");
}

static PyObject *py_softmax(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"", "axis", "precise", "stream", NULL};
    PyObject *ao, *axis_o = Py_None, *stream = NULL;
    int precise = 0, axes[KILN_MAX_NDIM], naxes;
    (void)self;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O|O$pO:softmax", kwlist, &ao,
                                     &axis_o, &precise, &stream)) {
        return NULL;
    }
    if (pk_axes(axis_o, axes, &naxes) < 0) {
        return NULL;
    }
    kiln_array *a = pk_to_array(ao, -1);
    if (!a) {
        return NULL;
    }
    kiln_array *y =
        kiln_softmax(a, naxes < 0 ? NULL : axes, naxes, precise != 0);
    kiln_array_release(a);
    return pk_wrap(y);
}

/* ------------------------------------------------------------------ */
/* argmin, argmax                                                     */
/* ------------------------------------------------------------------ */

static PyObject *call_arg(PyObject *args, PyObject *kw, arg_fn f,
                          const char *format)
{
    static char *kwlist[] = {"", "axis", "keepdims", "stream", NULL};
    PyObject *ao, *axis_o = Py_None, *stream = NULL;
    int keepdims = 0, axis, flat;
    if (!PyArg_ParseTupleAndKeywords(args, kw, format, kwlist, &ao, &axis_o,
                                     &keepdims, &stream)) {
        return NULL;
    }
    if (one_axis(axis_o, &axis, &flat) < 0) {
        return NULL;
    }
    kiln_array *a = pk_to_array(ao, -1);
    if (!a) {
        return NULL;
    }
    kiln_array *y = f(a, axis, flat != 0, keepdims != 0);
    kiln_array_release(a);
    return pk_wrap(y);
}

static PyObject *py_argmin(PyObject *self, PyObject *args, PyObject *kw)
{
    (void)self;
    return call_arg(args, kw, kiln_argmin, "O|Op$O:argmin");
}

static PyObject *py_argmax(PyObject *self, PyObject *args, PyObject *kw)
{
    (void)self;
    return call_arg(args, kw, kiln_argmax, "O|Op$O:argmax");
}

/* ------------------------------------------------------------------ */
/* scans                                                              */
/* ------------------------------------------------------------------ */

static PyObject *call_scan(PyObject *args, PyObject *kw, scan_fn f,
                           const char *format, const char *name)
{
    static char *kwlist[] = {"", "axis", "reverse", "inclusive", "stream",
                             NULL};
    PyObject *ao, *axis_o = Py_None, *stream = NULL;
    int reverse = 0, inclusive = 1, axis, flat;
    if (!PyArg_ParseTupleAndKeywords(args, kw, format, kwlist, &ao, &axis_o,
                                     &reverse, &inclusive, &stream)) {
        return NULL;
    }
    if (one_axis(axis_o, &axis, &flat) < 0) {
        return NULL;
    }
    kiln_array *a = pk_to_array(ao, -1);
    if (!a) {
        return NULL;
    }
    int nd = kiln_array_ndim(a);
    if (!flat && (axis >= nd || axis < -nd)) {
        kiln_array_release(a);
        return PyErr_Format(PyExc_IndexError, "[%s] axis %d is out of "
                            "bounds for array with %d dimensions", name,
                            axis, nd);
    }
    kiln_array *y = f(a, axis, flat != 0, reverse != 0, inclusive != 0);
    kiln_array_release(a);
    return pk_wrap(y);
}

#define SCAN_WRAPPER(name)                                                \
    static PyObject *scan_##name(PyObject *self, PyObject *args,          \
                                 PyObject *kw)                            \
    {                                                                     \
        (void)self;                                                       \
        return call_scan(args, kw, kiln_##name, "O|O$ppO:" #name, #name); \
    }
KILN_SCAN_OP_LIST(SCAN_WRAPPER)
#undef SCAN_WRAPPER

/* ------------------------------------------------------------------ */
/* method table                                                       */
/* ------------------------------------------------------------------ */

#define REDUCE_ENTRY(name)                                                \
    {#name, PK_FN(reduce_##name), PK_KW,                                  \
     #name "(a, /, axis=None, keepdims=False, *, stream=None)\n--\n\n"    \
     "A " #name " reduction over axis (None: every axis)."},
#define SCAN_ENTRY(name)                                                  \
    {#name, PK_FN(scan_##name), PK_KW,                                    \
     #name "(a, /, axis=None, *, reverse=False, inclusive=True, "         \
     "stream=None)\n--\n\n"                                               \
     "The " #name " scan along axis (None: the flattened array)."},

static PyMethodDef reduce_methods[] = {
    KILN_REDUCE_OP_LIST(REDUCE_ENTRY)
    KILN_SCAN_OP_LIST(SCAN_ENTRY)
    {"var", PK_FN(py_var), PK_KW,
     "var(a, /, axis=None, keepdims=False, ddof=0, *, stream=None)\n--\n\n"
     "The variance over axis, dividing by N - ddof."},
    {"std", PK_FN(py_std), PK_KW,
     "std(a, /, axis=None, keepdims=False, ddof=0, *, stream=None)\n--\n\n"
     "The standard deviation over axis, dividing by N - ddof."},
    {"softmax", PK_FN(py_softmax), PK_KW,
     "softmax(a, /, axis=None, *, precise=False, stream=None)\n--\n\n"
     "exp(a) / sum(exp(a), axis), computed stably."},
    {"argmin", PK_FN(py_argmin), PK_KW,
     "argmin(a, /, axis=None, keepdims=False, *, stream=None)\n--\n\n"
     "uint32 indices of the minima along axis (None: flattened)."},
    {"argmax", PK_FN(py_argmax), PK_KW,
     "argmax(a, /, axis=None, keepdims=False, *, stream=None)\n--\n\n"
     "uint32 indices of the maxima along axis (None: flattened)."},
    {NULL, NULL, 0, NULL},
};

int pk_init_ops_reduce(PyObject *m)
{
    return PyModule_AddFunctions(m, reduce_methods);
}
