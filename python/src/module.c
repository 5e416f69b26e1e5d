/*
 * module.c - the extension module kiln._kiln: errors, dtypes, argument
 * helpers shared by the other files, and module initialisation.
 *
 * Invariants: the dtype objects are immortal singletons created once at
 * import, indexed by kiln_dtype; pk_raise always leaves a Python exception
 * set and the kiln error cleared.
 */
#include "pykiln.h"

#include <math.h>
#include <string.h>

/* ------------------------------------------------------------------ */
/* errors                                                             */
/* ------------------------------------------------------------------ */

PyObject *pk_raise(void)
{
    kiln_status st = kiln_errcode();
    PyObject *type;
    switch (st) {
    case KILN_ERR_VALUE:
        type = PyExc_ValueError;
        break;
    case KILN_ERR_TYPE:
        type = PyExc_TypeError;
        break;
    case KILN_ERR_INDEX:
        type = PyExc_IndexError;
        break;
    case KILN_ERR_MEMORY:
        type = PyExc_MemoryError;
        break;
    case KILN_OK:
        if (PyErr_Occurred()) {
            return NULL; /* a Python error raised under a kiln call */
        }
        type = PyExc_RuntimeError;
        break;
    default:
        type = PyExc_RuntimeError;
        break;
    }
    if (PyErr_Occurred() && st != KILN_OK) {
        /* A Python exception raised inside a callback (a compiled or
         * transformed Python function) is the real cause: keep it. */
        kiln_errclear();
        return NULL;
    }
    PyErr_SetString(type, st == KILN_OK ? "unknown error" : kiln_errmsg());
    kiln_errclear();
    return NULL;
}

int pk_check(kiln_status st)
{
    if (st == KILN_OK) {
        return 0;
    }
    pk_raise();
    return -1;
}

static _Thread_local int nest_depth;

int pk_nest_enter(void)
{
    if (nest_depth >= PK_MAX_NEST) {
        PyErr_Format(PyExc_RecursionError, "more than %d compiled or "
                     "transformed functions nested in one another",
                     PK_MAX_NEST);
        return -1;
    }
    nest_depth++;
    return 0;
}

void pk_nest_leave(void)
{
    nest_depth--;
}

/* ------------------------------------------------------------------ */
/* dtypes                                                             */
/* ------------------------------------------------------------------ */

static PkDtype dtype_objs[KILN_DTYPE_COUNT];

static PyObject *dtype_repr(PyObject *self)
{
    return PyUnicode_FromFormat("kiln.%s",
                                kiln_dtype_name(((PkDtype *)self)->dt));
}

static PyObject *dtype_size(PyObject *self, void *unused)
{
    (void)unused;
    return PyLong_FromSize_t(kiln_dtype_size(((PkDtype *)self)->dt));
}

static Py_hash_t dtype_hash(PyObject *self)
{
    return (Py_hash_t)((PkDtype *)self)->dt + 1;
}

static PyObject *dtype_reduce(PyObject *self, PyObject *unused)
{
    (void)unused;
    kiln_dtype dt = ((PkDtype *)self)->dt;
    /* the module attribute pickle looks up: bool is spelled bool_ */
    return PyUnicode_FromString(dt == KILN_DTYPE_BOOL ? "bool_"
                                                      : kiln_dtype_name(dt));
}

static PyGetSetDef dtype_getset[] = {
    {"size", dtype_size, NULL, "bytes per element", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyMethodDef dtype_methods[] = {
    {"__reduce__", dtype_reduce, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

PyTypeObject PkDtype_Type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "kiln.Dtype",
    .tp_basicsize = sizeof(PkDtype),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "An array element type (kiln.float32, kiln.int32, ...).",
    .tp_repr = dtype_repr,
    .tp_hash = dtype_hash,
    .tp_getset = dtype_getset,
    .tp_methods = dtype_methods,
};

PyObject *pk_dtype_obj(kiln_dtype dt)
{
    return (PyObject *)&dtype_objs[dt];
}

int pk_dtype_from(PyObject *o, int *out, int allow_none)
{
    if (o == Py_None && allow_none) {
        *out = -1;
        return 0;
    }
    if (PyObject_TypeCheck(o, &PkDtype_Type)) {
        *out = (int)((PkDtype *)o)->dt;
        return 0;
    }
    PyErr_Format(PyExc_TypeError, "expected a kiln dtype (kiln.float32, "
                 "...), got %.100s", Py_TYPE(o)->tp_name);
    return -1;
}

int pk_conv_dtype(PyObject *o, void *out)
{
    return pk_dtype_from(o, out, 1) == 0;
}

/* ------------------------------------------------------------------ */
/* argument helpers                                                   */
/* ------------------------------------------------------------------ */

int pk_int(PyObject *o, int *out)
{
    if (PyBool_Check(o) || !PyIndex_Check(o)) {
        PyErr_Format(PyExc_TypeError, "expected an int, got %.100s",
                     Py_TYPE(o)->tp_name);
        return -1;
    }
    long v = PyLong_AsLong(o);
    if (v == -1 && PyErr_Occurred()) {
        return -1;
    }
    if (v < -(1L << 30) || v > (1L << 30)) {
        PyErr_Format(PyExc_ValueError, "%ld is out of range", v);
        return -1;
    }
    *out = (int)v;
    return 0;
}

int pk_axes(PyObject *o, int *axes, int *naxes)
{
    if (o == Py_None) {
        *naxes = -1;
        return 0;
    }
    if (PyIndex_Check(o) && !PyBool_Check(o)) {
        *naxes = 1;
        return pk_int(o, &axes[0]);
    }
    if (!PyList_Check(o) && !PyTuple_Check(o)) {
        PyErr_Format(PyExc_TypeError, "axis must be None, an int or a "
                     "sequence of ints, got %.100s", Py_TYPE(o)->tp_name);
        return -1;
    }
    /* a tuple copy: an item's __index__ may change the list */
    PyObject *t = PySequence_Tuple(o);
    if (!t) {
        return -1;
    }
    Py_ssize_t n = PyTuple_GET_SIZE(t);
    int st = 0;
    if (n > KILN_MAX_NDIM) {
        PyErr_Format(PyExc_ValueError, "too many axes (%zd)", n);
        st = -1;
    }
    for (Py_ssize_t i = 0; i < n && st == 0; i++) {
        st = pk_int(PyTuple_GET_ITEM(t, i), &axes[i]);
    }
    Py_DECREF(t);
    if (st == 0) {
        *naxes = (int)n;
    }
    return st;
}

static int shape_entry(PyObject *o, int64_t *out, int allow_neg1)
{
    if (PyBool_Check(o) || !PyIndex_Check(o)) {
        PyErr_Format(PyExc_TypeError, "shape entries must be ints, got "
                     "%.100s", Py_TYPE(o)->tp_name);
        return -1;
    }
    long long v = PyLong_AsLongLong(o);
    if (v == -1 && PyErr_Occurred()) {
        return -1;
    }
    if (v < (allow_neg1 ? -1 : 0)) {
        PyErr_Format(PyExc_ValueError, "negative dimension %lld in shape",
                     v);
        return -1;
    }
    *out = (int64_t)v;
    return 0;
}

bool pk_np_vector(PyObject *o)
{
    if (strcmp(Py_TYPE(o)->tp_name, "numpy.ndarray") != 0) {
        return false;
    }
    if (PyObject_Length(o) < 0) {
        PyErr_Clear(); /* len() of a 0-d array raises */
        return false;
    }
    return true;
}

int pk_shape(PyObject *o, int64_t *shape, int *ndim, int allow_neg1)
{
    bool nd_array = pk_np_vector(o);
    if (PyIndex_Check(o) && !PyBool_Check(o) && !nd_array) {
        *ndim = 1;
        return shape_entry(o, &shape[0], allow_neg1);
    }
    if (!PyList_Check(o) && !PyTuple_Check(o) && !nd_array) {
        PyErr_Format(PyExc_TypeError, "shape must be an int or a sequence "
                     "of ints, got %.100s", Py_TYPE(o)->tp_name);
        return -1;
    }
    /* a tuple copy: an entry's __index__ may change the list (a NumPy
     * array of ints gives NumPy ints, which have __index__) */
    PyObject *t = PySequence_Tuple(o);
    if (!t) {
        return -1;
    }
    Py_ssize_t n = PyTuple_GET_SIZE(t);
    int st = 0;
    if (n > KILN_MAX_NDIM) {
        PyErr_Format(PyExc_ValueError, "shape has %zd dimensions; kiln "
                     "supports at most %d", n, KILN_MAX_NDIM);
        st = -1;
    }
    for (Py_ssize_t i = 0; i < n && st == 0; i++) {
        st = shape_entry(PyTuple_GET_ITEM(t, i), &shape[i], allow_neg1);
    }
    Py_DECREF(t);
    if (st == 0) {
        *ndim = (int)n;
    }
    return st;
}

/* ------------------------------------------------------------------ */
/* module                                                             */
/* ------------------------------------------------------------------ */

static struct PyModuleDef kiln_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "kiln._kiln",
    .m_doc = "kiln: lazy arrays and a function compiler for the CPU, with "
             "mlx.core's API.",
    .m_size = -1,
};

static int init_dtypes(PyObject *m)
{
    if (PyType_Ready(&PkDtype_Type) < 0) {
        return -1;
    }
    if (PyModule_AddObjectRef(m, "Dtype", (PyObject *)&PkDtype_Type) < 0) {
        return -1;
    }
    for (int i = 0; i < KILN_DTYPE_COUNT; i++) {
        PkDtype *d = &dtype_objs[i];
        /* Static singletons: one reference the module never gives up. */
        Py_SET_TYPE(d, &PkDtype_Type);
        Py_SET_REFCNT(d, 1);
        d->dt = (kiln_dtype)i;
        if (i == KILN_DTYPE_BOOL) {
            continue; /* MLX spells it bool_ (below) */
        }
        if (PyModule_AddObjectRef(m, kiln_dtype_name((kiln_dtype)i),
                                  (PyObject *)d) < 0) {
            return -1;
        }
    }
    return PyModule_AddObjectRef(m, "bool_",
                                 (PyObject *)&dtype_objs[KILN_DTYPE_BOOL]);
}

/* MLX's numeric constants: pi, e, euler_gamma, inf, nan (Python
 * floats) and newaxis (None). */
static int init_constants(PyObject *m)
{
    static const struct {
        const char *name;
        double v;
    } c[] = {{"pi", 3.141592653589793},
             {"e", 2.718281828459045},
             {"euler_gamma", 0.5772156649015329},
             {"inf", HUGE_VAL},
             {"nan", NAN}};
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
        PyObject *v = PyFloat_FromDouble(c[i].v);
        int st = v ? PyModule_AddObjectRef(m, c[i].name, v) : -1;
        Py_XDECREF(v);
        if (st < 0) {
            return -1;
        }
    }
    return PyModule_AddObjectRef(m, "newaxis", Py_None);
}

PyObject *pk_module;

PyMODINIT_FUNC PyInit__kiln(void);

PyMODINIT_FUNC PyInit__kiln(void)
{
    PyObject *m = PyModule_Create(&kiln_module);
    if (!m) {
        return NULL;
    }
    pk_module = m;
    if (init_dtypes(m) < 0 || init_constants(m) < 0 ||
        pk_init_array(m) < 0 || pk_init_ops(m) < 0 ||
        pk_init_ops_shape(m) < 0 ||
        pk_init_compile(m) < 0 || pk_init_transforms(m) < 0 ||
        pk_init_random(m) < 0 || pk_init_device(m) < 0 ||
        pk_init_eval(m) < 0 || pk_init_ops_numpy(m) < 0 || pk_init_einsum(m) < 0 ||
        pk_init_linalg(m) < 0 || pk_init_io(m) < 0 ||
        pk_init_conv(m) < 0 ||
        pk_init_aliases(m) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
