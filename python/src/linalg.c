/*
 * linalg.c - the kiln.linalg submodule: norm, as mlx.core.linalg.norm,
 * from kiln's ops (vector norms of any ord, matrix norms of ord 1, -1,
 * inf, -inf and "fro"; the ones that need singular values raise).
 *
 * Invariants: arguments are converted before the kiln scope opens; lazy.
 */
#include "pykiln.h"

#include <math.h>
#include <string.h>

/* The norm of x over one axis (vector norm) for a numeric ord. */
static kiln_array *vector_norm(kiln_array *x, int ax, double ord, bool keep)
{
    kiln_array *ab = kiln_abs(x);
    if (isinf(ord)) {
        return ord > 0 ? kiln_max(ab, &ax, 1, keep)
                       : kiln_min(ab, &ax, 1, keep);
    }
    if (ord == 0) {
        return kiln_astype(kiln_sum(kiln_not_equal(x, kiln_weak_f64(0.0)),
                                    &ax, 1, keep),
                           kiln_array_dtype(x));
    }
    if (ord == 1) {
        return kiln_sum(ab, &ax, 1, keep);
    }
    if (ord == 2) {
        return kiln_sqrt(kiln_sum(kiln_square(x), &ax, 1, keep));
    }
    return kiln_power(kiln_sum(kiln_power(ab, kiln_weak_f64(ord)), &ax, 1,
                               keep),
                      kiln_weak_f64(1.0 / ord));
}

/* linalg.norm(a, ord=None, axis=None, keepdims=False), as MLX: ord None
 * is the 2-norm of the flattened array (axis None) or of each vector
 * (one axis) or the Frobenius norm (two axes); numeric ords on vectors
 * (inf, -inf, 0, 1, 2, p) and on matrices (1, -1, inf, -inf: largest or
 * smallest absolute column or row sum) and "fro". The 2-norm of a matrix
 * (ord 2, -2) and "nuc" need singular values: a ValueError. */
static PyObject *py_norm(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"", "ord", "axis", "keepdims", "stream", NULL};
    PyObject *ao, *ordo = Py_None, *axo = Py_None, *stream = NULL;
    int keep = 0, axes[KILN_MAX_NDIM], naxes;
    (void)self;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O|OOp$O:norm", kwlist, &ao,
                                     &ordo, &axo, &keep, &stream) ||
        pk_axes(axo, axes, &naxes) < 0) {
        return NULL;
    }
    bool fro = false, num = false;
    double ord = 0;
    if (PyUnicode_Check(ordo)) {
        const char *s = PyUnicode_AsUTF8(ordo);
        if (!s || strcmp(s, "fro") != 0) {
            PyErr_Format(PyExc_ValueError, "[linalg.norm] unsupported ord "
                         "%R (\"nuc\" needs singular values)", ordo);
            return NULL;
        }
        fro = true;
    } else if (ordo != Py_None) {
        ord = PyFloat_AsDouble(ordo);
        if (ord == -1.0 && PyErr_Occurred()) {
            return NULL;
        }
        num = true;
    }
    kiln_array *a = pk_to_array(ao, -1);
    if (!a) {
        return NULL;
    }
    kiln_array *y = NULL;
    int nd = kiln_array_ndim(a);
    if (naxes > 2 || (naxes < 0 && (num || fro) && nd > 2)) {
        PyErr_SetString(PyExc_ValueError, "[linalg.norm] takes the norm of "
                        "vectors (one axis) or matrices (two axes)");
        goto fail;
    }
    if (naxes < 0 && (num || fro)) {
        naxes = nd;
        for (int i = 0; i < nd; i++) {
            axes[i] = i;
        }
    }
    if (naxes == 0 && (num || fro)) {
        PyErr_SetString(PyExc_ValueError, "[linalg.norm] an ord needs a "
                        "vector or a matrix, not a 0-d array");
        goto fail;
    }
    if (naxes > 0 && pk_ops_shape_norm_axes(axes, naxes, nd, "linalg.norm") < 0) {
        goto fail;
    }
    if (fro && naxes != 2) {
        PyErr_SetString(PyExc_ValueError, "[linalg.norm] \"fro\" is a "
                        "matrix norm: it needs two axes");
        goto fail;
    }
    kiln_scope_begin();
    kiln_array *x = kiln_astype(a, pk_float_dtype(kiln_array_dtype(a)));
    if (!num) {
        /* 2-norm of everything, of each vector, or Frobenius */
        y = kiln_sqrt(kiln_sum(kiln_square(x), naxes < 0 ? NULL : axes,
                               naxes, keep));
    } else if (naxes == 1) {
        y = vector_norm(x, axes[0], ord, keep);
    } else if (fabs(ord) == 1 || isinf(ord)) {
        /* ord 1: columns (sum over rows), inf: rows (sum over columns) */
        int sum_ax = fabs(ord) == 1 ? axes[0] : axes[1];
        int ext_ax = fabs(ord) == 1 ? axes[1] : axes[0];
        kiln_array *s = kiln_sum(kiln_abs(x), &sum_ax, 1, true);
        y = ord > 0 ? kiln_max(s, &ext_ax, 1, true)
                    : kiln_min(s, &ext_ax, 1, true);
        if (!keep && y) {
            int both[2] = {axes[0], axes[1]};
            y = kiln_squeeze(y, both, 2);
        }
    } else {
        kiln_scope_end(NULL);
        PyErr_Format(PyExc_ValueError, "[linalg.norm] matrix norm of ord "
                     "%R needs singular values: not supported", ordo);
        goto fail;
    }
    y = kiln_scope_end(y);
    kiln_array_release(a);
    return pk_ops_shape_wrap(y);
fail:
    kiln_array_release(a);
    return NULL;
}

static PyMethodDef linalg_methods[] = {
    {"norm", PK_FN(py_norm), PK_KW,
     "norm(a, /, ord=None, axis=None, keepdims=False, *, stream=None)\n--\n\n"
     "Vector or matrix norm (MLX's linalg.norm, without singular "
     "values)."},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef linalg_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "kiln.linalg",
    .m_doc = "Linear algebra (norm).",
    .m_size = -1,
    .m_methods = linalg_methods,
};

int pk_init_linalg(PyObject *m)
{
    PyObject *la = PyModule_Create(&linalg_module);
    if (!la || PyModule_AddObject(m, "linalg", la) < 0) {
        Py_XDECREF(la);
        return -1;
    }
    return 0;
}
