/*
 * array.c - the kiln.array type: construction, properties (shape, dtype,
 * T, at, ...), conversion to Python and numpy (buffer protocol, tolist,
 * item), len() and iteration over the first axis, repr, copies and
 * pickling, and the methods. Operators live in number.c, indexing and
 * item assignment in index.c, the repr text in convert.c.
 *
 * Methods that mirror a module function (x.sum(...) is kiln.sum(x, ...))
 * forward to it, looked up on the module when called, so each op has one
 * implementation; astype, reshape, transpose, flatten and squeeze, whose
 * method forms take other arguments (x.reshape(2, 3)), are built here.
 *
 * Invariants: self->a is a kiln array reference owned by the object and
 * never NULL after construction. Arrays are immutable values; only
 * in-place operators, item assignment and __setstate__ replace self->a
 * (releasing the old value after the new one exists), as MLX overwrites
 * an array in place. The buffer this type exports is read-only and
 * holds its own reference to the kiln array it shows, so it stays valid
 * even if the object's value is replaced meanwhile.
 */
#include "pykiln.h"

#include <string.h>

PyObject *pk_wrap(kiln_array *a)
{
    if (!a) {
        return pk_raise();
    }
    PkArray *self = PyObject_New(PkArray, &PkArray_Type);
    if (!self) {
        kiln_array_release(a);
        return NULL;
    }
    self->a = a;
    self->weakrefs = NULL;
    return (PyObject *)self;
}

static void array_dealloc(PyObject *o)
{
    PkArray *self = (PkArray *)o;
    if (self->weakrefs) {
        PyObject_ClearWeakRefs(o);
    }
    kiln_array_release(self->a);
    Py_TYPE(o)->tp_free(o);
}

static PyObject *array_new(PyTypeObject *type, PyObject *args,
                           PyObject *kwds)
{
    static char *kwlist[] = {"val", "dtype", NULL};
    PyObject *val;
    int dt = -1;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O|O&:array", kwlist, &val,
                                     pk_conv_dtype, &dt)) {
        return NULL;
    }
    kiln_array *a = pk_to_array(val, dt);
    if (!a) {
        return NULL;
    }
    PkArray *self = (PkArray *)type->tp_alloc(type, 0);
    if (!self) {
        kiln_array_release(a);
        return NULL;
    }
    self->a = a;
    self->weakrefs = NULL;
    return (PyObject *)self;
}

/* ------------------------------------------------------------------ */
/* properties                                                         */
/* ------------------------------------------------------------------ */

static PyObject *array_shape(PyObject *o, void *unused)
{
    (void)unused;
    kiln_array *a = ((PkArray *)o)->a;
    int nd = kiln_array_ndim(a);
    const int64_t *sh = kiln_array_shape(a);
    PyObject *t = PyTuple_New(nd);
    if (!t) {
        return NULL;
    }
    for (int i = 0; i < nd; i++) {
        PyObject *v = PyLong_FromLongLong(sh[i]);
        if (!v) {
            Py_DECREF(t);
            return NULL;
        }
        PyTuple_SET_ITEM(t, i, v);
    }
    return t;
}

static PyObject *array_ndim(PyObject *o, void *unused)
{
    (void)unused;
    return PyLong_FromLong(kiln_array_ndim(((PkArray *)o)->a));
}

static PyObject *array_size(PyObject *o, void *unused)
{
    (void)unused;
    return PyLong_FromLongLong(kiln_array_size(((PkArray *)o)->a));
}

static PyObject *array_dtype(PyObject *o, void *unused)
{
    (void)unused;
    return Py_NewRef(pk_dtype_obj(kiln_array_dtype(((PkArray *)o)->a)));
}

static PyObject *array_itemsize(PyObject *o, void *unused)
{
    (void)unused;
    return PyLong_FromSize_t(kiln_array_itemsize(((PkArray *)o)->a));
}

static PyObject *array_nbytes(PyObject *o, void *unused)
{
    (void)unused;
    return PyLong_FromSize_t(kiln_array_nbytes(((PkArray *)o)->a));
}

static PyObject *array_T(PyObject *o, void *unused)
{
    (void)unused;
    return pk_wrap(kiln_transpose(((PkArray *)o)->a, NULL, 0));
}

static PyObject *array_at(PyObject *o, void *unused)
{
    (void)unused;
    return pk_index_at((PkArray *)o);
}

static PyGetSetDef array_getset[] = {
    {"shape", array_shape, NULL, "the shape, a tuple of ints", NULL},
    {"ndim", array_ndim, NULL, "number of dimensions", NULL},
    {"size", array_size, NULL, "number of elements", NULL},
    {"dtype", array_dtype, NULL, "element type", NULL},
    {"itemsize", array_itemsize, NULL, "bytes per element", NULL},
    {"nbytes", array_nbytes, NULL, "bytes of the data", NULL},
    {"T", array_T, NULL, "the array with its axes reversed", NULL},
    {"at", array_at, NULL, "x.at[idx].add(y) etc.: updates at indices "
     "(repeated indices accumulate), as new arrays", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

/* ------------------------------------------------------------------ */
/* conversion                                                         */
/* ------------------------------------------------------------------ */

static PyObject *array_item(PyObject *o, PyObject *unused)
{
    (void)unused;
    return pk_item(((PkArray *)o)->a);
}

static PyObject *array_tolist(PyObject *o, PyObject *unused)
{
    (void)unused;
    return pk_tolist(((PkArray *)o)->a);
}

/* The struct-module format of a dtype, NULL for bfloat16 (none). */
static const char *dtype_format(kiln_dtype dt)
{
    switch (dt) {
    case KILN_DTYPE_BOOL: return "?";
    case KILN_DTYPE_UINT8: return "B";
    case KILN_DTYPE_UINT16: return "H";
    case KILN_DTYPE_UINT32: return "I";
    case KILN_DTYPE_UINT64: return "Q";
    case KILN_DTYPE_INT8: return "b";
    case KILN_DTYPE_INT16: return "h";
    case KILN_DTYPE_INT32: return "i";
    case KILN_DTYPE_INT64: return "q";
    case KILN_DTYPE_FLOAT16: return "e";
    case KILN_DTYPE_FLOAT32: return "f";
    case KILN_DTYPE_FLOAT64: return "d";
    default: return NULL;
    }
}

/* What a Py_buffer holds (view->internal): the array it shows, retained,
 * and its shape and strides. */
typedef struct exported {
    kiln_array *a;
    Py_ssize_t dims[]; /* shape, then strides */
} exported;

/* The buffer shows the evaluated, row-major data. */
static int array_getbuffer(PyObject *o, Py_buffer *view, int flags)
{
    kiln_array *a = ((PkArray *)o)->a;
    kiln_dtype dt = kiln_array_dtype(a);
    const char *fmt = dtype_format(dt);
    if (!fmt) {
        PyErr_SetString(PyExc_TypeError, "bfloat16 has no buffer format; "
                        "convert with x.astype(kiln.float32) first");
        return -1;
    }
    if (flags & PyBUF_WRITABLE) {
        PyErr_SetString(PyExc_BufferError, "kiln arrays are immutable; "
                        "their buffer is read-only");
        return -1;
    }
    const void *data = kiln_array_data(a);
    if (!data) {
        pk_raise();
        return -1;
    }
    int nd = kiln_array_ndim(a);
    exported *ex = PyMem_Malloc(sizeof *ex + sizeof(Py_ssize_t) *
                                            (size_t)(2 * nd + 1));
    if (!ex) {
        PyErr_NoMemory();
        return -1;
    }
    ex->a = kiln_array_retain(a);
    Py_ssize_t *dims = ex->dims;
    const int64_t *sh = kiln_array_shape(a);
    Py_ssize_t isz = (Py_ssize_t)kiln_dtype_size(dt);
    Py_ssize_t stride = isz;
    for (int i = nd - 1; i >= 0; i--) {
        dims[i] = (Py_ssize_t)sh[i];
        dims[nd + i] = stride;
        stride *= (Py_ssize_t)sh[i];
    }
    view->buf = (void *)data;
    view->obj = Py_NewRef(o);
    view->len = (Py_ssize_t)kiln_array_nbytes(a);
    view->readonly = 1;
    view->itemsize = isz;
    view->format = (flags & PyBUF_FORMAT) ? (char *)fmt : NULL;
    view->ndim = nd;
    view->shape = (flags & PyBUF_ND) ? dims : NULL;
    view->strides = (flags & PyBUF_STRIDES) ? dims + nd : NULL;
    view->suboffsets = NULL;
    view->internal = ex;
    return 0;
}

static void array_releasebuffer(PyObject *o, Py_buffer *view)
{
    (void)o;
    exported *ex = view->internal;
    kiln_array_release(ex->a);
    PyMem_Free(ex);
}

static PyBufferProcs array_as_buffer = {
    .bf_getbuffer = array_getbuffer,
    .bf_releasebuffer = array_releasebuffer,
};

/* ------------------------------------------------------------------ */
/* sequence-like behaviour                                            */
/* ------------------------------------------------------------------ */

static Py_ssize_t array_length(PyObject *o)
{
    kiln_array *a = ((PkArray *)o)->a;
    if (kiln_array_ndim(a) == 0) {
        PyErr_SetString(PyExc_TypeError, "len() of a 0-d array");
        return -1;
    }
    return (Py_ssize_t)kiln_array_dim(a, 0);
}

static PyObject *array_subscript(PyObject *o, PyObject *key)
{
    return pk_index_get((PkArray *)o, key);
}

static int array_ass_subscript(PyObject *o, PyObject *key, PyObject *v)
{
    return pk_index_set((PkArray *)o, key, v);
}

static PyMappingMethods array_as_mapping = {
    .mp_length = array_length,
    .mp_subscript = array_subscript,
    .mp_ass_subscript = array_ass_subscript,
};

/* Iteration over the first axis; the iterator holds the array's value
 * when iteration began. */
typedef struct ArrayIter {
    PyObject_HEAD
    kiln_array *a;
    int64_t i, n;
} ArrayIter;

static void iter_dealloc(PyObject *o)
{
    kiln_array_release(((ArrayIter *)o)->a);
    PyObject_Free(o);
}

static PyObject *iter_next(PyObject *o)
{
    ArrayIter *it = (ArrayIter *)o;
    if (it->i >= it->n) {
        return NULL;
    }
    int nd = kiln_array_ndim(it->a);
    int64_t start[KILN_MAX_NDIM], stop[KILN_MAX_NDIM];
    for (int d = 0; d < nd; d++) {
        start[d] = KILN_SLICE_BEGIN;
        stop[d] = KILN_SLICE_END;
    }
    start[0] = it->i;
    stop[0] = it->i + 1;
    it->i++;
    kiln_array *row = kiln_slice(it->a, start, stop, NULL);
    kiln_array *y = kiln_reshape(row, kiln_array_shape(it->a) + 1, nd - 1);
    kiln_array_release(row);
    return pk_wrap(y);
}

static PyTypeObject ArrayIter_Type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "kiln.ArrayIterator",
    .tp_basicsize = sizeof(ArrayIter),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "An iterator over the first axis of an array.",
    .tp_dealloc = iter_dealloc,
    .tp_iter = PyObject_SelfIter,
    .tp_iternext = iter_next,
};

static PyObject *array_iter(PyObject *o)
{
    kiln_array *a = ((PkArray *)o)->a;
    if (kiln_array_ndim(a) == 0) {
        PyErr_SetString(PyExc_TypeError, "iteration over a 0-d array");
        return NULL;
    }
    ArrayIter *it = PyObject_New(ArrayIter, &ArrayIter_Type);
    if (!it) {
        return NULL;
    }
    it->a = kiln_array_retain(a);
    it->i = 0;
    it->n = kiln_array_dim(a, 0);
    return (PyObject *)it;
}

/* ------------------------------------------------------------------ */
/* text, copies, pickling                                             */
/* ------------------------------------------------------------------ */

static PyObject *array_repr(PyObject *o)
{
    return pk_convert_repr(((PkArray *)o)->a);
}

/* format(x, spec): 0-d arrays format their value; others only with an
 * empty spec (as MLX). */
static PyObject *array_format(PyObject *o, PyObject *spec)
{
    kiln_array *a = ((PkArray *)o)->a;
    if (!PyUnicode_Check(spec)) {
        PyErr_Format(PyExc_TypeError, "__format__() argument must be str, "
                     "not %.100s", Py_TYPE(spec)->tp_name);
        return NULL;
    }
    if (kiln_array_ndim(a) == 0) {
        PyObject *v = pk_item(a);
        if (!v) {
            return NULL;
        }
        PyObject *r = PyObject_Format(v, spec);
        Py_DECREF(v);
        return r;
    }
    if (PyUnicode_GetLength(spec) != 0) {
        PyErr_SetString(PyExc_TypeError, "unsupported format string "
                        "passed to kiln.array.__format__");
        return NULL;
    }
    return array_repr(o);
}

/* A new wrapper of the same value: in-place operators on one do not
 * reach the other. */
static PyObject *array_copy(PyObject *o, PyObject *unused)
{
    (void)unused;
    return pk_wrap(kiln_array_retain(((PkArray *)o)->a));
}

static PyObject *array_deepcopy(PyObject *o, PyObject *memo)
{
    (void)memo;
    return array_copy(o, NULL);
}

/* The pickled state: (dtype name, shape, row-major bytes). */
static PyObject *array_getstate(PyObject *o, PyObject *unused)
{
    (void)unused;
    kiln_array *a = ((PkArray *)o)->a;
    const void *data = kiln_array_data(a);
    if (!data) {
        return pk_raise();
    }
    PyObject *shape = array_shape(o, NULL);
    if (!shape) {
        return NULL;
    }
    return Py_BuildValue("(sNy#)", kiln_dtype_name(kiln_array_dtype(a)),
                         shape, (const char *)data,
                         (Py_ssize_t)kiln_array_nbytes(a));
}

static PyObject *array_setstate(PyObject *o, PyObject *state)
{
    const char *name;
    PyObject *shape_o;
    const char *bytes;
    Py_ssize_t nbytes;
    if (!PyTuple_Check(state)) {
        PyErr_Format(PyExc_TypeError, "__setstate__ expects a tuple, got "
                     "%.100s", Py_TYPE(state)->tp_name);
        return NULL;
    }
    if (!PyArg_ParseTuple(state, "sOy#:__setstate__", &name, &shape_o,
                          &bytes, &nbytes)) {
        return NULL;
    }
    int dt = -1;
    for (int i = 0; i < KILN_DTYPE_COUNT; i++) {
        if (strcmp(name, kiln_dtype_name((kiln_dtype)i)) == 0) {
            dt = i;
        }
    }
    int64_t shape[KILN_MAX_NDIM];
    int nd;
    if (dt < 0) {
        PyErr_Format(PyExc_ValueError, "unknown dtype '%s'", name);
        return NULL;
    }
    if (pk_shape(shape_o, shape, &nd, 0) < 0) {
        return NULL;
    }
    int64_t size = 1;
    for (int i = 0; i < nd; i++) {
        if (shape[i] != 0 && size > INT64_MAX / shape[i]) {
            PyErr_SetString(PyExc_ValueError, "shape too large");
            return NULL;
        }
        size *= shape[i];
    }
    if (size > PY_SSIZE_T_MAX / 16 ||
        (Py_ssize_t)size * (Py_ssize_t)kiln_dtype_size((kiln_dtype)dt) !=
            nbytes) {
        PyErr_SetString(PyExc_ValueError, "pickled array data does not "
                        "match its shape and dtype");
        return NULL;
    }
    kiln_array *a = kiln_array_from_data(bytes, shape, nd, (kiln_dtype)dt);
    if (!a) {
        return pk_raise();
    }
    PkArray *self = (PkArray *)o;
    kiln_array *old = self->a;
    self->a = a;
    kiln_array_release(old);
    Py_RETURN_NONE;
}

static PyObject *array_reduce(PyObject *o, PyObject *unused)
{
    (void)unused;
    PyObject *state = array_getstate(o, NULL);
    if (!state) {
        return NULL;
    }
    return Py_BuildValue("(O(i)N)", (PyObject *)Py_TYPE(o), 0, state);
}

/* ------------------------------------------------------------------ */
/* methods implemented here                                           */
/* ------------------------------------------------------------------ */

/* Methods take a keyword-only `stream` as MLX's do, and ignore it. */
static int stream_only(PyObject *kw, const char *fn)
{
    if (!kw || PyDict_GET_SIZE(kw) == 0) {
        return 0;
    }
    if (PyDict_GET_SIZE(kw) == 1 && PyDict_GetItemString(kw, "stream")) {
        return 0;
    }
    PyErr_Format(PyExc_TypeError, "%s() takes no keyword arguments but "
                 "stream", fn);
    return -1;
}

static PyObject *array_astype(PyObject *o, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"dtype", "stream", NULL};
    PyObject *dto, *stream = NULL;
    int dt;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O|O:astype", kwlist, &dto,
                                     &stream) ||
        pk_dtype_from(dto, &dt, 0) < 0) {
        return NULL;
    }
    return pk_wrap(kiln_astype(((PkArray *)o)->a, (kiln_dtype)dt));
}

/* The one argument that holds a sequence, or the arguments themselves:
 * x.reshape(2, 3) and x.reshape((2, 3)). */
static PyObject *spread_args(PyObject *args)
{
    if (PyTuple_GET_SIZE(args) == 1) {
        PyObject *a0 = PyTuple_GET_ITEM(args, 0);
        if (!PyIndex_Check(a0) || PkArray_Check(a0)) {
            return a0;
        }
    }
    return args;
}

static PyObject *array_reshape(PyObject *o, PyObject *args, PyObject *kw)
{
    if (stream_only(kw, "reshape") < 0) {
        return NULL;
    }
    if (PyTuple_GET_SIZE(args) == 0) {
        PyErr_SetString(PyExc_TypeError, "reshape() needs a shape");
        return NULL;
    }
    int64_t shape[KILN_MAX_NDIM];
    int nd;
    if (pk_shape(spread_args(args), shape, &nd, 1) < 0) {
        return NULL;
    }
    return pk_wrap(kiln_reshape(((PkArray *)o)->a, shape, nd));
}

static PyObject *array_transpose(PyObject *o, PyObject *args, PyObject *kw)
{
    if (stream_only(kw, "transpose") < 0) {
        return NULL;
    }
    int axes[KILN_MAX_NDIM];
    int n = -1;
    if (PyTuple_GET_SIZE(args) > 0 &&
        pk_axes(spread_args(args), axes, &n) < 0) {
        return NULL;
    }
    return pk_wrap(kiln_transpose(((PkArray *)o)->a, n < 0 ? NULL : axes,
                                  n < 0 ? 0 : n));
}

static PyObject *array_flatten(PyObject *o, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"start_axis", "end_axis", "stream", NULL};
    int start = 0, end = -1;
    PyObject *stream = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|ii$O:flatten", kwlist,
                                     &start, &end, &stream)) {
        return NULL;
    }
    return pk_wrap(kiln_flatten(((PkArray *)o)->a, start, end));
}

static PyObject *array_squeeze(PyObject *o, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"axis", "stream", NULL};
    PyObject *axis = Py_None, *stream = NULL;
    int axes[KILN_MAX_NDIM];
    int n;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|O$O:squeeze", kwlist,
                                     &axis, &stream) ||
        pk_axes(axis, axes, &n) < 0) {
        return NULL;
    }
    return pk_wrap(kiln_squeeze(((PkArray *)o)->a, n < 0 ? NULL : axes,
                                n < 0 ? 0 : n));
}

/* ------------------------------------------------------------------ */
/* methods forwarded to module functions                              */
/* ------------------------------------------------------------------ */

/* x.name(*args, **kw) is kiln.name(x, *args, **kw), looked up when
 * called, so each op has one implementation (in ops*.c). */
static PyObject *forward(const char *name, PyObject *self, PyObject *args,
                         PyObject *kw)
{
    PyObject *f = PyObject_GetAttrString(pk_module, name);
    if (!f) {
        if (PyErr_ExceptionMatches(PyExc_AttributeError)) {
            PyErr_Format(PyExc_AttributeError, "kiln.array.%s needs "
                         "kiln.%s, which this build lacks", name, name);
        }
        return NULL;
    }
    Py_ssize_t n = PyTuple_GET_SIZE(args);
    PyObject *all = PyTuple_New(n + 1);
    if (!all) {
        Py_DECREF(f);
        return NULL;
    }
    PyTuple_SET_ITEM(all, 0, Py_NewRef(self));
    for (Py_ssize_t i = 0; i < n; i++) {
        PyTuple_SET_ITEM(all, i + 1, Py_NewRef(PyTuple_GET_ITEM(args, i)));
    }
    PyObject *r = PyObject_Call(f, all, kw);
    Py_DECREF(all);
    Py_DECREF(f);
    return r;
}

/* numpy reads arrays through the buffer protocol first; it comes here
 * when that fails (bfloat16, which numpy lacks, arrives as float32) or was
 * refused, so an array that cannot be evaluated (a placeholder inside a
 * trace) raises instead of becoming a numpy object array. */
static PyObject *array_to_numpy(PyObject *self, PyObject *args,
                                PyObject *kw)
{
    static char *kwlist[] = {"dtype", "copy", NULL};
    PyObject *dtype = Py_None, *copy = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|OO:__array__", kwlist,
                                     &dtype, &copy)) {
        return NULL;
    }
    kiln_array *a = ((PkArray *)self)->a;
    kiln_array *r = kiln_array_dtype(a) == KILN_DTYPE_BFLOAT16
                        ? kiln_astype(a, KILN_DTYPE_FLOAT32)
                        : kiln_array_retain(a);
    kiln_status st = KILN_ERR_RUNTIME;
    if (r) {
        st = kiln_array_eval(r);
    }
    if (st != KILN_OK) {
        kiln_array_release(r);
        return pk_raise();
    }
    PyObject *w = pk_wrap(r), *np = NULL, *view = NULL, *out = NULL;
    if (!w || !(np = PyImport_ImportModule("numpy")) ||
        !(view = PyMemoryView_FromObject(w))) {
        goto release;
    }
    out = PyObject_CallMethod(np, "array", "OO", view,
                              dtype == Py_None ? Py_None : dtype);
release:
    Py_XDECREF(view);
    Py_XDECREF(np);
    Py_XDECREF(w);
    return out;
}

#define FORWARDED_LIST(X)                                                 \
    X(sum) X(mean) X(max) X(min) X(prod) X(all) X(any) X(logsumexp)       \
    X(argmax) X(argmin) X(var) X(std) X(cumsum) X(cumprod) X(cummax)      \
    X(cummin) X(abs) X(exp) X(log) X(log1p) X(log2) X(log10) X(sin)       \
    X(cos) X(sqrt) X(rsqrt) X(square) X(reciprocal) X(round) X(split)     \
    X(diag) X(diagonal) X(swapaxes) X(moveaxis)

/* One wrapper per name, e.g. for sum:
 *   static PyObject *fwd_sum(PyObject *s, PyObject *a, PyObject *k)
 *   { return forward("sum", s, a, k); } */
#define FORWARD_FN(name)                                                  \
    static PyObject *fwd_##name(PyObject *s, PyObject *a, PyObject *k)    \
    {                                                                     \
        return forward(#name, s, a, k);                                   \
    }
FORWARDED_LIST(FORWARD_FN)
#undef FORWARD_FN

#define FORWARD_DEF(name)                                                 \
    {#name, (PyCFunction)(void (*)(void))fwd_##name,                      \
     METH_VARARGS | METH_KEYWORDS, "See kiln." #name "."},

static PyMethodDef array_methods[] = {
    {"item", array_item, METH_NOARGS, "the one element as a Python scalar"},
    {"tolist", array_tolist, METH_NOARGS, "the array as nested lists"},
    {"astype", (PyCFunction)(void (*)(void))array_astype,
     METH_VARARGS | METH_KEYWORDS, "astype(dtype): the array cast to dtype"},
    {"reshape", (PyCFunction)(void (*)(void))array_reshape,
     METH_VARARGS | METH_KEYWORDS,
     "reshape(*shape): the shape as a tuple or as separate ints"},
    {"transpose", (PyCFunction)(void (*)(void))array_transpose,
     METH_VARARGS | METH_KEYWORDS,
     "transpose(*axes): the axes as a tuple or as separate ints; none "
     "reverses them"},
    {"flatten", (PyCFunction)(void (*)(void))array_flatten,
     METH_VARARGS | METH_KEYWORDS,
     "flatten(start_axis=0, end_axis=-1): See kiln.flatten."},
    {"squeeze", (PyCFunction)(void (*)(void))array_squeeze,
     METH_VARARGS | METH_KEYWORDS, "squeeze(axis=None): See kiln.squeeze."},
    {"__array__", (PyCFunction)(void (*)(void))array_to_numpy,
     METH_VARARGS | METH_KEYWORDS, "the array as a numpy array (a copy)"},
    {"__format__", array_format, METH_O, NULL},
    {"__copy__", array_copy, METH_NOARGS, NULL},
    {"__deepcopy__", array_deepcopy, METH_O, NULL},
    {"__getstate__", array_getstate, METH_NOARGS, NULL},
    {"__setstate__", array_setstate, METH_O, NULL},
    {"__reduce__", array_reduce, METH_NOARGS, NULL},
    FORWARDED_LIST(FORWARD_DEF)
    {NULL, NULL, 0, NULL},
};

#undef FORWARD_DEF

PyTypeObject PkArray_Type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "kiln.array",
    .tp_basicsize = sizeof(PkArray),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .tp_doc = "array(val, dtype=None): an n-dimensional array.",
    .tp_new = array_new,
    .tp_dealloc = array_dealloc,
    .tp_repr = array_repr,
    .tp_str = array_repr,
    .tp_hash = pk_number_hash,
    .tp_as_number = &pk_number_methods,
    .tp_as_mapping = &array_as_mapping,
    .tp_as_buffer = &array_as_buffer,
    .tp_richcompare = pk_number_richcompare,
    .tp_iter = array_iter,
    .tp_getset = array_getset,
    .tp_methods = array_methods,
    .tp_weaklistoffset = offsetof(PkArray, weakrefs),
};
int pk_init_array(PyObject *m)
{
    if (PyType_Ready(&PkArray_Type) < 0 ||
        PyType_Ready(&ArrayIter_Type) < 0 || pk_index_init(m) < 0) {
        return -1;
    }
    return PyModule_AddObjectRef(m, "array", (PyObject *)&PkArray_Type);
}
