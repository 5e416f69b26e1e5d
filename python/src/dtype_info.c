/*
 * dtype_info.c - what Python learns about dtypes: kiln.finfo and
 * kiln.iinfo (limits of float and integer types), the DtypeCategory enum
 * with its members at module level (kiln.floating, kiln.integer, ...), and
 * kiln.issubdtype, all as mlx.core has them.
 *
 * The category tree is MLX's (and numpy's): generic > {bool_, number};
 * number > {integer, inexact}; integer > {signedinteger, unsignedinteger};
 * inexact > {floating, complexfloating}. kiln has no complex dtype, but
 * the category exists so that code testing for it runs.
 *
 * Invariants: finfo and iinfo objects are immutable once made;
 * DtypeCategory is a Python enum.Enum made once at import and held in
 * `category_type` for the life of the process.
 */
#include "pykiln.h"

#include <float.h>
#include <structmember.h>

/* ------------------------------------------------------------------ */
/* finfo and iinfo                                                    */
/* ------------------------------------------------------------------ */

typedef struct PkFinfo {
    PyObject_HEAD
    double min, max, eps, smallest_normal;
    int bits;
    PyObject *dtype; /* a kiln.Dtype (immortal singleton) */
} PkFinfo;

typedef struct PkIinfo {
    PyObject_HEAD
    PyObject *min, *max; /* Python ints */
    PyObject *dtype;
} PkIinfo;

static int parse_dtype(PyObject *args, PyObject *kw, const char *fmt,
                       int *dt)
{
    static char *kwlist[] = {"", NULL};
    PyObject *o;
    if (!PyArg_ParseTupleAndKeywords(args, kw, fmt, kwlist, &o)) {
        return -1;
    }
    return pk_dtype_from(o, dt, 0);
}

static PyObject *finfo_new(PyTypeObject *type, PyObject *args, PyObject *kw)
{
    int dt;
    if (parse_dtype(args, kw, "O:finfo", &dt) < 0) {
        return NULL;
    }
    double max, eps, tiny;
    switch ((kiln_dtype)dt) {
    case KILN_DTYPE_FLOAT16:
        max = 65504.0;
        eps = 0x1p-10;
        tiny = 0x1p-14;
        break;
    case KILN_DTYPE_BFLOAT16:
        max = 0x1.fep127; /* (2 - 2^-7) * 2^127 */
        eps = 0x1p-7;
        tiny = 0x1p-126;
        break;
    case KILN_DTYPE_FLOAT32:
        max = FLT_MAX;
        eps = FLT_EPSILON;
        tiny = FLT_MIN;
        break;
    case KILN_DTYPE_FLOAT64:
        max = DBL_MAX;
        eps = DBL_EPSILON;
        tiny = DBL_MIN;
        break;
    default:
        PyErr_Format(PyExc_ValueError, "[finfo] dtype %s is not inexact",
                     kiln_dtype_name((kiln_dtype)dt));
        return NULL;
    }
    PkFinfo *self = (PkFinfo *)type->tp_alloc(type, 0);
    if (!self) {
        return NULL;
    }
    self->min = -max;
    self->max = max;
    self->eps = eps;
    self->smallest_normal = tiny;
    self->bits = 8 * (int)kiln_dtype_size((kiln_dtype)dt);
    self->dtype = Py_NewRef(pk_dtype_obj((kiln_dtype)dt));
    return (PyObject *)self;
}

static void finfo_dealloc(PyObject *o)
{
    Py_XDECREF(((PkFinfo *)o)->dtype);
    Py_TYPE(o)->tp_free(o);
}

/* v as C++'s ostream prints it by default (%g). */
static PyObject *short_float(double v)
{
    char *s = PyOS_double_to_string(v, 'g', 6, 0, NULL);
    if (!s) {
        return NULL;
    }
    PyObject *r = PyUnicode_FromString(s);
    PyMem_Free(s);
    return r;
}

static PyObject *finfo_repr(PyObject *o)
{
    PkFinfo *f = (PkFinfo *)o;
    PyObject *lo = short_float(f->min), *hi = short_float(f->max);
    PyObject *r = NULL;
    if (lo && hi) {
        r = PyUnicode_FromFormat(
            "finfo(min=%U, max=%U, dtype=%s)", lo, hi,
            kiln_dtype_name(((PkDtype *)f->dtype)->dt));
    }
    Py_XDECREF(lo);
    Py_XDECREF(hi);
    return r;
}

static PyMemberDef finfo_members[] = {
    {"min", T_DOUBLE, offsetof(PkFinfo, min), READONLY,
     "The smallest representable number."},
    {"max", T_DOUBLE, offsetof(PkFinfo, max), READONLY,
     "The largest representable number."},
    {"eps", T_DOUBLE, offsetof(PkFinfo, eps), READONLY,
     "The difference between 1.0 and the next representable number."},
    {"smallest_normal", T_DOUBLE, offsetof(PkFinfo, smallest_normal),
     READONLY, "The smallest positive normal number."},
    {"bits", T_INT, offsetof(PkFinfo, bits), READONLY,
     "The number of bits of the type."},
    {"dtype", T_OBJECT, offsetof(PkFinfo, dtype), READONLY, "The Dtype."},
    {NULL, 0, 0, 0, NULL},
};

static PyTypeObject PkFinfo_Type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "kiln.finfo",
    .tp_basicsize = sizeof(PkFinfo),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "finfo(dtype, /)\n--\n\nLimits of a floating-point type.",
    .tp_new = finfo_new,
    .tp_dealloc = finfo_dealloc,
    .tp_repr = finfo_repr,
    .tp_members = finfo_members,
};

static PyObject *iinfo_new(PyTypeObject *type, PyObject *args, PyObject *kw)
{
    int dt;
    if (parse_dtype(args, kw, "O:iinfo", &dt) < 0) {
        return NULL;
    }
    if (!kiln_dtype_is_integer((kiln_dtype)dt)) {
        PyErr_Format(PyExc_ValueError, "[iinfo] dtype %s is not integral",
                     kiln_dtype_name((kiln_dtype)dt));
        return NULL;
    }
    int bits = 8 * (int)kiln_dtype_size((kiln_dtype)dt);
    PyObject *lo, *hi;
    if (kiln_dtype_is_signed((kiln_dtype)dt)) {
        long long m = (long long)(((unsigned long long)1 << (bits - 1)) - 1);
        lo = PyLong_FromLongLong(-m - 1);
        hi = PyLong_FromLongLong(m);
    } else {
        lo = PyLong_FromLong(0);
        hi = PyLong_FromUnsignedLongLong(
            bits == 64 ? ~0ULL : ((unsigned long long)1 << bits) - 1);
    }
    PkIinfo *self = lo && hi ? (PkIinfo *)type->tp_alloc(type, 0) : NULL;
    if (!self) {
        Py_XDECREF(lo);
        Py_XDECREF(hi);
        return NULL;
    }
    self->min = lo;
    self->max = hi;
    self->dtype = Py_NewRef(pk_dtype_obj((kiln_dtype)dt));
    return (PyObject *)self;
}

static void iinfo_dealloc(PyObject *o)
{
    PkIinfo *i = (PkIinfo *)o;
    Py_XDECREF(i->min);
    Py_XDECREF(i->max);
    Py_XDECREF(i->dtype);
    Py_TYPE(o)->tp_free(o);
}

static PyObject *iinfo_repr(PyObject *o)
{
    PkIinfo *i = (PkIinfo *)o;
    return PyUnicode_FromFormat("iinfo(min=%S, max=%S, dtype=%s)", i->min,
                                i->max,
                                kiln_dtype_name(((PkDtype *)i->dtype)->dt));
}

static PyMemberDef iinfo_members[] = {
    {"min", T_OBJECT, offsetof(PkIinfo, min), READONLY,
     "The smallest representable number."},
    {"max", T_OBJECT, offsetof(PkIinfo, max), READONLY,
     "The largest representable number."},
    {"dtype", T_OBJECT, offsetof(PkIinfo, dtype), READONLY, "The Dtype."},
    {NULL, 0, 0, 0, NULL},
};

static PyTypeObject PkIinfo_Type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "kiln.iinfo",
    .tp_basicsize = sizeof(PkIinfo),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "iinfo(dtype, /)\n--\n\nLimits of an integer type.",
    .tp_new = iinfo_new,
    .tp_dealloc = iinfo_dealloc,
    .tp_repr = iinfo_repr,
    .tp_members = iinfo_members,
};

/* ------------------------------------------------------------------ */
/* categories and issubdtype                                          */
/* ------------------------------------------------------------------ */

/* X(name, parent): MLX's DtypeCategory values, in its order. */
#define CATEGORY_LIST(X)                                                  \
    X(complexfloating, CAT_inexact)                                       \
    X(floating, CAT_inexact)                                              \
    X(inexact, CAT_number)                                                \
    X(signedinteger, CAT_integer)                                         \
    X(unsignedinteger, CAT_integer)                                       \
    X(integer, CAT_number)                                                \
    X(number, CAT_generic)                                                \
    X(generic, -1)

enum {
#define X_(name, parent) CAT_##name,
    CATEGORY_LIST(X_)
#undef X_
    NCATEGORIES
};

static const int category_parent[NCATEGORIES] = {
#define X_(name, parent) parent,
    CATEGORY_LIST(X_)
#undef X_
};

static const char *const category_name[NCATEGORIES] = {
#define X_(name, parent) #name,
    CATEGORY_LIST(X_)
#undef X_
};

static PyObject *category_type; /* the DtypeCategory enum class */

/* The innermost category holding dt (bool_ sits directly in generic). */
static int category_of(kiln_dtype dt)
{
    if (kiln_dtype_is_float(dt)) {
        return CAT_floating;
    }
    if (kiln_dtype_is_integer(dt)) {
        return kiln_dtype_is_signed(dt) ? CAT_signedinteger
                                        : CAT_unsignedinteger;
    }
    return CAT_generic;
}

static bool category_within(int a, int b)
{
    for (; a >= 0; a = category_parent[a]) {
        if (a == b) {
            return true;
        }
    }
    return false;
}

/* 0: a dtype (*v its kiln_dtype); 1: a category (*v its value); -1 with
 * ValueError (as MLX) for anything else. */
static int dtype_or_category(PyObject *o, int *v, const char *which)
{
    if (PyObject_TypeCheck(o, &PkDtype_Type)) {
        *v = (int)((PkDtype *)o)->dt;
        return 0;
    }
    int is = PyObject_IsInstance(o, category_type);
    if (is < 0) {
        return -1;
    }
    if (is) {
        PyObject *val = PyObject_GetAttrString(o, "value");
        if (!val) {
            return -1;
        }
        long c = PyLong_AsLong(val);
        Py_DECREF(val);
        if (c == -1 && PyErr_Occurred()) {
            return -1;
        }
        *v = (int)c;
        return 1;
    }
    PyErr_Format(PyExc_ValueError, "[issubdtype] received invalid type for "
                 "%s input: %.100s", which, Py_TYPE(o)->tp_name);
    return -1;
}

static PyObject *issubdtype(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"", "", NULL};
    PyObject *o1, *o2;
    int v1, v2;
    (void)self;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "OO:issubdtype", kwlist, &o1,
                                     &o2)) {
        return NULL;
    }
    int k1 = dtype_or_category(o1, &v1, "first");
    if (k1 < 0) {
        return NULL;
    }
    int k2 = dtype_or_category(o2, &v2, "second");
    if (k2 < 0) {
        return NULL;
    }
    bool r;
    if (k1 == 0 && k2 == 0) {
        r = v1 == v2;
    } else if (k1 == 1 && k2 == 0) {
        r = false; /* a category is never within a dtype */
    } else {
        r = category_within(k1 == 0 ? category_of((kiln_dtype)v1) : v1, v2);
    }
    return PyBool_FromLong(r);
}

/* DtypeCategory = enum.Enum("DtypeCategory", [...]), its members also at
 * module level (kiln.floating, ...). */
static int init_categories(PyObject *m)
{
    PyObject *enum_mod = PyImport_ImportModule("enum");
    PyObject *names = PyList_New(NCATEGORIES);
    PyObject *call_args = NULL, *call_kw = NULL;
    int rc = -1;
    if (!enum_mod || !names) {
        goto done;
    }
    for (int i = 0; i < NCATEGORIES; i++) {
        PyObject *item = Py_BuildValue("(si)", category_name[i], i);
        if (!item) {
            goto done;
        }
        PyList_SET_ITEM(names, i, item);
    }
    call_args = Py_BuildValue("(sO)", "DtypeCategory", names);
    call_kw = Py_BuildValue("{ss}", "module", "kiln");
    PyObject *enum_cls = call_args && call_kw
                             ? PyObject_GetAttrString(enum_mod, "Enum")
                             : NULL;
    if (!enum_cls) {
        goto done;
    }
    category_type = PyObject_Call(enum_cls, call_args, call_kw);
    Py_DECREF(enum_cls);
    if (!category_type ||
        PyModule_AddObjectRef(m, "DtypeCategory", category_type) < 0) {
        goto done;
    }
    for (int i = 0; i < NCATEGORIES; i++) {
        PyObject *member =
            PyObject_GetAttrString(category_type, category_name[i]);
        if (!member) {
            goto done;
        }
        int r = PyModule_AddObjectRef(m, category_name[i], member);
        Py_DECREF(member);
        if (r < 0) {
            goto done;
        }
    }
    rc = 0;
done:
    Py_XDECREF(enum_mod);
    Py_XDECREF(names);
    Py_XDECREF(call_args);
    Py_XDECREF(call_kw);
    return rc;
}

static PyMethodDef dtype_info_methods[] = {
    {"issubdtype", (PyCFunction)(void (*)(void))issubdtype,
     METH_VARARGS | METH_KEYWORDS,
     "issubdtype(arg1, arg2, /)\n--\n\n"
     "Whether a Dtype or DtypeCategory is within another: a dtype only "
     "within itself and the categories above it."},
    {NULL, NULL, 0, NULL},
};

int pk_init_dtype_info(PyObject *m)
{
    if (PyType_Ready(&PkFinfo_Type) < 0 || PyType_Ready(&PkIinfo_Type) < 0 ||
        PyModule_AddObjectRef(m, "finfo", (PyObject *)&PkFinfo_Type) < 0 ||
        PyModule_AddObjectRef(m, "iinfo", (PyObject *)&PkIinfo_Type) < 0 ||
        init_categories(m) < 0) {
        return -1;
    }
    return PyModule_AddFunctions(m, dtype_info_methods);
}
