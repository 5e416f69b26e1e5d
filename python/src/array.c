/*
 * array.c - the kiln.array type: construction, properties, conversion to
 * Python and numpy (buffer protocol, tolist, item), repr.
 *
 * Invariants: self->a is a kiln array reference owned by the object and
 * never NULL after construction; arrays are immutable values, so the
 * buffer this type exports is read-only and stays valid while the
 * exporting object lives (the Py_buffer holds a reference to it).
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

static PyGetSetDef array_getset[] = {
    {"shape", array_shape, NULL, "the shape, a tuple of ints", NULL},
    {"ndim", array_ndim, NULL, "number of dimensions", NULL},
    {"size", array_size, NULL, "number of elements", NULL},
    {"dtype", array_dtype, NULL, "element type", NULL},
    {"itemsize", array_itemsize, NULL, "bytes per element", NULL},
    {"nbytes", array_nbytes, NULL, "bytes of the data", NULL},
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

/* The buffer shows the evaluated, row-major data. shape and strides live
 * in one allocation hung on view->internal. */
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
    const void *data;
    Py_BEGIN_ALLOW_THREADS
    data = kiln_array_data(a);
    Py_END_ALLOW_THREADS
    if (!data) {
        pk_raise();
        return -1;
    }
    int nd = kiln_array_ndim(a);
    Py_ssize_t *dims = PyMem_Malloc(sizeof *dims * (size_t)(2 * nd + 1));
    if (!dims) {
        PyErr_NoMemory();
        return -1;
    }
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
    view->internal = dims;
    return 0;
}

static void array_releasebuffer(PyObject *o, Py_buffer *view)
{
    (void)o;
    PyMem_Free(view->internal);
}

static PyBufferProcs array_as_buffer = {
    .bf_getbuffer = array_getbuffer,
    .bf_releasebuffer = array_releasebuffer,
};

static PyObject *array_repr(PyObject *o)
{
    kiln_array *a = ((PkArray *)o)->a;
    char small[512];
    size_t need = kiln_array_format(a, small, sizeof small);
    if (kiln_errcode() != KILN_OK) {
        return pk_raise();
    }
    if (need < sizeof small) {
        return PyUnicode_FromFormat("array(%s, dtype=%s)", small,
                                    kiln_dtype_name(kiln_array_dtype(a)));
    }
    char *big = PyMem_Malloc(need + 1);
    if (!big) {
        return PyErr_NoMemory();
    }
    kiln_array_format(a, big, need + 1);
    PyObject *r = PyUnicode_FromFormat("array(%s, dtype=%s)", big,
                                       kiln_dtype_name(kiln_array_dtype(a)));
    PyMem_Free(big);
    return r;
}

static PyMethodDef array_methods[] = {
    {"item", array_item, METH_NOARGS, "the one element as a Python scalar"},
    {"tolist", array_tolist, METH_NOARGS, "the array as nested lists"},
    {NULL, NULL, 0, NULL},
};

PyTypeObject PkArray_Type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "kiln.array",
    .tp_basicsize = sizeof(PkArray),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .tp_doc = "array(val, dtype=None): an n-dimensional array.",
    .tp_new = array_new,
    .tp_dealloc = array_dealloc,
    .tp_repr = array_repr,
    .tp_as_buffer = &array_as_buffer,
    .tp_getset = array_getset,
    .tp_methods = array_methods,
    .tp_weaklistoffset = offsetof(PkArray, weakrefs),
};

int pk_init_array(PyObject *m)
{
    if (PyType_Ready(&PkArray_Type) < 0) {
        return -1;
    }
    return PyModule_AddObjectRef(m, "array", (PyObject *)&PkArray_Type);
}
