/*
 * transforms_vmap.c - kiln.vmap(fun, in_axes=0, out_axes=0) over trees of
 * arrays (transforms.c has the machinery shared with the other
 * transforms).
 *
 * in_axes and out_axes are an int, None (not batched) or a prefix tree of
 * the arguments (of the outputs) whose leaves are ints or None, walked in
 * tree.c's flatten order into one axis per array; negative axes count
 * from the end. A call first runs kiln_vmap with every output's batch
 * axis at 0 (the outputs' structure is only known once the function ran)
 * and moves each axis where out_axes says; when out_axes declares an
 * output unbatched (None), a second kiln_vmap with the exact axes places
 * them, and fails if such an output varies over the batch.
 */
#include "transforms.h"

typedef struct axes_buf {
    int *v;
    Py_ssize_t n, cap;
} axes_buf;

static int axes_push(axes_buf *b, int ax)
{
    if (b->n == b->cap) {
        Py_ssize_t cap = b->cap ? 2 * b->cap : 16;
        int *v = PyMem_Realloc(b->v, sizeof *v * (size_t)cap);
        if (!v) {
            PyErr_NoMemory();
            return -1;
        }
        b->v = v;
        b->cap = cap;
    }
    b->v[b->n++] = ax;
    return 0;
}

/* The batch axis `spec` (int or None, or a 1-element list/tuple of one,
 * as MLX allows) of array x, made non-negative (-1: not batched). */
static int leaf_axis(PyObject *x, PyObject *spec, int output, axes_buf *b)
{
    if ((PyTuple_Check(spec) || PyList_Check(spec)) &&
        PySequence_Fast_GET_SIZE(spec) == 1) {
        spec = PySequence_Fast_GET_ITEM(spec, 0);
    }
    if (spec == Py_None) {
        return axes_push(b, -1);
    }
    if (!PyLong_Check(spec) || PyBool_Check(spec)) {
        PyErr_SetString(PyExc_ValueError, "[vmap] axis must be int or "
                        "None.");
        return -1;
    }
    int nd = kiln_array_ndim(((PkArray *)x)->a), ax;
    if (pk_int(spec, &ax) < 0) {
        PyErr_Clear();
        ax = -nd - 1; /* out of range, reported below */
    }
    int orig = ax;
    if (ax < 0) {
        ax += nd;
    }
    if (ax < 0 || ax >= nd) {
        /* An output is seen batched: per example it has nd - 1 axes. */
        PyErr_Format(PyExc_ValueError, "[vmap] Invalid%s vectorization "
                     "axis %d for %s with %d dimension%s", output ? " output"
                     : "", orig, output ? "an output" : "an array",
                     output ? nd - 1 : nd, (output ? nd - 1 : nd) == 1 ? ""
                     : "s");
        return -1;
    }
    return axes_push(b, ax);
}

/* Appends the batch axis of every array leaf of tree under the prefix
 * tree spec, in flatten order. */
static int walk_axes(PyObject *tree, PyObject *spec, int output, axes_buf *b)
{
    const char *what = output ? "out_axes" : "in_axes";
    if (PkArray_Check(tree)) {
        return leaf_axis(tree, spec, output, b);
    }
    int seq = PyList_Check(tree) || PyTuple_Check(tree);
    if (!seq && !PyDict_Check(tree)) {
        PyErr_Format(PyExc_ValueError, "[vmap] The %s should contain only "
                     "arrays, got %.100s", output ? "outputs" : "arguments",
                     Py_TYPE(tree)->tp_name);
        return -1;
    }
    int bcast = spec == Py_None || PyLong_Check(spec);
    if (!bcast && (seq ? !(PyList_Check(spec) || PyTuple_Check(spec))
                       : !PyDict_Check(spec))) {
        PyErr_Format(PyExc_ValueError, "[vmap] %s is not a valid prefix of "
                     "the %s: found %.100s where the tree has a %.100s",
                     what, output ? "outputs" : "arguments",
                     Py_TYPE(spec)->tp_name, Py_TYPE(tree)->tp_name);
        return -1;
    }
    if (Py_EnterRecursiveCall(" in vmap axes")) {
        return -1;
    }
    int r = 0;
    if (seq) {
        Py_ssize_t n = PySequence_Fast_GET_SIZE(tree);
        if (!bcast && PySequence_Fast_GET_SIZE(spec) != n) {
            PyErr_Format(PyExc_ValueError, "[vmap] %s is not a valid prefix "
                         "of the %s: a sequence of %zd entries where the "
                         "tree has %zd", what, output ? "outputs"
                         : "arguments", PySequence_Fast_GET_SIZE(spec), n);
            r = -1;
        }
        for (Py_ssize_t i = 0; r == 0 && i < n; i++) {
            r = walk_axes(PySequence_Fast_GET_ITEM(tree, i),
                          bcast ? spec : PySequence_Fast_GET_ITEM(spec, i),
                          output, b);
        }
    } else {
        Py_ssize_t pos = 0;
        PyObject *k, *v;
        while (r == 0 && PyDict_Next(tree, &pos, &k, &v)) {
            /* the lookup runs the key's __eq__, which may change either
             * dict: hold what is used */
            Py_INCREF(k);
            Py_INCREF(v);
            PyObject *s = Py_NewRef(spec);
            if (!bcast) {
                Py_SETREF(s, PyDict_GetItemWithError(spec, k));
                Py_XINCREF(s);
                if (!s && !PyErr_Occurred()) {
                    PyErr_Format(PyExc_ValueError, "[vmap] %s has no "
                                 "entry for key %R", what, k);
                }
            }
            r = s ? walk_axes(v, s, output, b) : -1;
            Py_XDECREF(s);
            Py_DECREF(v);
            Py_DECREF(k);
        }
    }
    Py_LeaveRecursiveCall();
    return r;
}

PyObject *pk_transforms_vmap_make(PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"fun", "in_axes", "out_axes", NULL};
    PyObject *fun, *in_axes = NULL, *out_axes = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O|OO:vmap", kwlist, &fun,
                                     &in_axes, &out_axes)) {
        return NULL;
    }
    PkTransform *t = pk_transforms_new(K_VMAP, fun);
    if (!t) {
        return NULL;
    }
    t->in_axes = in_axes ? Py_NewRef(in_axes) : PyLong_FromLong(0);
    t->out_axes = out_axes ? Py_NewRef(out_axes) : PyLong_FromLong(0);
    if (!t->in_axes || !t->out_axes) {
        Py_DECREF(t);
        return NULL;
    }
    return (PyObject *)t;
}

/* The flat out_axes of the batched results res (batch axis at 0) whose
 * structure is c->out_td. */
static int out_axes_of(PkTransform *t, const call *c, const kiln_list *res,
                       axes_buf *b)
{
    PyObject *leaves = pk_transforms_wrap_list(res, 0, kiln_list_size(res));
    PyObject *tree = leaves ? pk_tree_unflatten(c->out_td, leaves) : NULL;
    Py_XDECREF(leaves);
    if (!tree) {
        return -1;
    }
    int r = walk_axes(tree, t->out_axes, 1, b);
    Py_DECREF(tree);
    if (r == 0 && b->n != (Py_ssize_t)kiln_list_size(res)) {
        PyErr_SetString(PyExc_RuntimeError, "[vmap] internal error: the "
                        "output axes do not match the outputs");
        r = -1;
    }
    return r;
}

PyObject *pk_transforms_vmap_call(PkTransform *t, PyObject *args,
                                  PyObject *kwargs)
{
    if (kwargs && PyDict_GET_SIZE(kwargs) > 0) {
        PyErr_SetString(PyExc_TypeError, "[vmap] The vectorized function "
                        "takes positional arguments only");
        return NULL;
    }
    flat_args a;
    axes_buf in_ax = {NULL, 0, 0}, out_ax = {NULL, 0, 0};
    PyObject *result = NULL, *leaves = NULL;
    kiln_list *in = NULL, *res = NULL, *res2 = NULL;
    kiln_fn *f = NULL, *vf = NULL, *vf2 = NULL;
    call *c = NULL;
    if (pk_transforms_flatten_args(args, NULL, "vmap", &a) < 0) {
        return NULL;
    }
    /* One argument is matched with in_axes itself, as in MLX; a
     * one-entry list or tuple is also read as that argument's axes. */
    Py_ssize_t nargs = PyTuple_GET_SIZE(args);
    PyObject *tree = nargs == 1 ? PyTuple_GET_ITEM(args, 0) : args;
    PyObject *spec = t->in_axes;
    if (nargs == 1 && (PyList_Check(spec) || PyTuple_Check(spec)) &&
        PySequence_Fast_GET_SIZE(spec) == 1 && !PyList_Check(tree) &&
        !PyTuple_Check(tree)) {
        spec = PySequence_Fast_GET_ITEM(spec, 0);
    }
    if (walk_axes(tree, spec, 0, &in_ax) < 0) {
        goto done;
    }
    if (in_ax.n != PyList_GET_SIZE(a.leaves) || in_ax.n > 1 << 30) {
        PyErr_SetString(PyExc_RuntimeError, "[vmap] internal error: the "
                        "input axes do not match the arguments");
        goto done;
    }
    in = pk_transforms_leaves_list(a.leaves, NULL);
    f = in ? pk_transforms_call_new(K_VMAP, t->fun, t->name,
                                    Py_NewRef(a.pos_tds), NULL, NULL, &c)
           : NULL;
    if (!f) {
        goto done;
    }
    /* Pass 1: every batch axis at 0; the outputs' structure is known
     * once the body ran, and the batch axes move where out_axes says. */
    vf = kiln_vmap(f, in_ax.v ? in_ax.v : (int[]){0}, (int)in_ax.n, NULL,
                   0);
    if (!vf) {
        pk_raise();
        goto done;
    }
    res = pk_transforms_call_run(vf, in);
    if (!res || !c->out_td || out_axes_of(t, c, res, &out_ax) < 0) {
        if (res && !c->out_td && !PyErr_Occurred()) {
            PyErr_SetString(PyExc_RuntimeError, "[vmap] the function "
                            "never ran");
        }
        goto done;
    }
    int unbatched = 0;
    for (Py_ssize_t k = 0; k < out_ax.n; k++) {
        unbatched |= out_ax.v[k] < 0;
    }
    size_t nout = kiln_list_size(res);
    if (unbatched) {
        /* An output declared unbatched (None): kiln_vmap itself must
         * place it, and fail if it varies over the batch; this traces
         * the function a second time. */
        vf2 = kiln_vmap(f, in_ax.v ? in_ax.v : (int[]){0}, (int)in_ax.n,
                        out_ax.v, (int)out_ax.n);
        res2 = vf2 ? pk_transforms_call_run(vf2, in) : NULL;
        if (!vf2 && !PyErr_Occurred()) {
            pk_raise();
        }
        if (!res2) {
            goto done;
        }
        leaves = pk_transforms_wrap_list(res2, 0, kiln_list_size(res2));
    } else {
        leaves = PyList_New((Py_ssize_t)nout);
        for (size_t k = 0; leaves && k < nout; k++) {
            kiln_array *y = kiln_list_get(res, k);
            int to = out_ax.v[k];
            y = to == 0 ? kiln_array_retain(y) : kiln_moveaxis(y, 0, to);
            PyObject *w = pk_wrap(y);
            if (!w) {
                Py_CLEAR(leaves);
                break;
            }
            PyList_SET_ITEM(leaves, (Py_ssize_t)k, w);
        }
    }
    if (leaves) {
        result = pk_tree_unflatten(c->out_td, leaves);
    }
done:
    Py_XDECREF(leaves);
    kiln_list_free(res2);
    kiln_list_free(res);
    kiln_fn_release(vf2);
    kiln_fn_release(vf);
    kiln_fn_release(f);
    kiln_list_free(in);
    PyMem_Free(in_ax.v);
    PyMem_Free(out_ax.v);
    pk_transforms_flat_args_clear(&a);
    return result;
}

