/*
 * transforms_grad.c - kiln.grad and kiln.value_and_grad (transforms.c has
 * the machinery they share with vmap, vjp and jvp).
 *
 * As in MLX: argnums (sorted, distinct, non-negative) and argnames name
 * the arguments to differentiate; each of them must be an array or a tree
 * of arrays, and its gradient has the same structure. The other
 * arguments may hold anything (non-array leaves are constants). One
 * argnum gives its gradient, several a tuple, and with argnames the result
 * is (positional gradients or None, {name: gradient}).
 *
 * Invariants: the flat gradient indices handed to kiln_grad are never
 * empty (an empty list would mean argument 0 to the core).
 */
#include "transforms.h"

#include <stdlib.h>

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

/* argnums (None, an int or a sequence of ints) and argnames (a str or a
 * sequence of str) as MLX validates them, into t. */
static int parse_argnums(PkTransform *t, PyObject *argnums,
                         PyObject *argnames)
{
    const char *tag = pk_transforms_kinds[t->kind];
    PyObject *names = PyUnicode_Check(argnames)
                          ? PyTuple_Pack(1, argnames)
                          : (PyList_Check(argnames) || PyTuple_Check(argnames)
                                 ? PySequence_Tuple(argnames)
                                 : NULL);
    if (!names) {
        if (!PyErr_Occurred()) {
            PyErr_Format(PyExc_TypeError, "[%s] argnames must be a str or a "
                         "sequence of str, got %.100s", tag,
                         Py_TYPE(argnames)->tp_name);
        }
        return -1;
    }
    t->argnames = names;
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(names); i++) {
        if (!PyUnicode_Check(PyTuple_GET_ITEM(names, i))) {
            PyErr_Format(PyExc_TypeError, "[%s] argnames must be strings, "
                         "got %.100s", tag,
                         Py_TYPE(PyTuple_GET_ITEM(names, i))->tp_name);
            return -1;
        }
    }
    Py_ssize_t nnames = PyTuple_GET_SIZE(t->argnames);
    PyObject *seq = NULL;
    Py_ssize_t n;
    if (argnums == Py_None) {
        n = nnames == 0 ? 1 : 0;
    } else if (PyIndex_Check(argnums) && !PyBool_Check(argnums)) {
        n = 1;
    } else if (PyList_Check(argnums) || PyTuple_Check(argnums)) {
        /* a tuple copy: an entry's __index__ may change the list */
        seq = PySequence_Tuple(argnums);
        if (!seq) {
            return -1;
        }
        n = PyTuple_GET_SIZE(seq);
    } else {
        PyErr_Format(PyExc_TypeError, "[%s] argnums must be None, an int or "
                     "a sequence of ints, got %.100s", tag,
                     Py_TYPE(argnums)->tp_name);
        return -1;
    }
    t->argnums = n < INT_MAX ? PyMem_Calloc((size_t)n + 1,
                                            sizeof *t->argnums)
                             : NULL;
    if (!t->argnums) {
        Py_XDECREF(seq);
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < n && argnums != Py_None; i++) {
        PyObject *v = seq ? PyTuple_GET_ITEM(seq, i) : argnums;
        if (pk_int(v, &t->argnums[i]) < 0) {
            Py_XDECREF(seq);
            return -1;
        }
    }
    Py_XDECREF(seq);
    t->nargnums = (int)n;
    if (n == 0 && nnames == 0) {
        PyErr_Format(PyExc_ValueError, "[%s] Gradient wrt no argument "
                     "requested", tag);
        return -1;
    }
    qsort(t->argnums, (size_t)n, sizeof *t->argnums, cmp_int);
    if (n > 0 && t->argnums[0] < 0) {
        PyErr_Format(PyExc_ValueError, "[%s] Can't compute the gradient of "
                     "negative argument index %d", tag, t->argnums[0]);
        return -1;
    }
    for (Py_ssize_t i = 1; i < n; i++) {
        if (t->argnums[i] == t->argnums[i - 1]) {
            PyErr_Format(PyExc_ValueError, "[%s] Duplicate argument index "
                         "%d is not allowed.", tag, t->argnums[i]);
            return -1;
        }
    }
    return 0;
}

PyObject *pk_transforms_grad_make(int kind, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"fun", "argnums", "argnames", NULL};
    PyObject *fun, *argnums = Py_None, *argnames = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kwds,
                                     kind == K_GRAD ? "O|OO:grad"
                                                    : "O|OO:value_and_grad",
                                     kwlist, &fun, &argnums, &argnames)) {
        return NULL;
    }
    PkTransform *t = pk_transforms_new(kind, fun);
    if (!t) {
        return NULL;
    }
    PyObject *empty = NULL; /* MLX's default argnames=[] */
    if (!argnames) {
        argnames = empty = PyList_New(0);
    }
    int r = argnames ? parse_argnums(t, argnums, argnames) : -1;
    Py_XDECREF(empty);
    if (r < 0) {
        Py_DECREF(t);
        return NULL;
    }
    return (PyObject *)t;
}

/* Checks the call against argnums/argnames and that every differentiated
 * argument is a tree of arrays; fills need[] (one per argument, npos then
 * the keywords in order). */
static int check_grad_call(PkTransform *t, PyObject *args, PyObject *kwargs,
                           const flat_args *a, char *need)
{
    const char *tag = pk_transforms_kinds[t->kind];
    Py_ssize_t npos = PyTuple_GET_SIZE(args);
    if (t->nargnums > 0 && t->argnums[t->nargnums - 1] >= npos) {
        PyErr_Format(PyExc_ValueError, "[%s] Can't compute the gradient of "
                     "argument index %d because the function is called "
                     "with only %zd positional arguments.", tag,
                     t->argnums[t->nargnums - 1], npos);
        return -1;
    }
    for (int i = 0; i < t->nargnums; i++) {
        need[t->argnums[i]] = 1;
    }
    for (Py_ssize_t j = 0; j < PyTuple_GET_SIZE(t->argnames); j++) {
        PyObject *k = PyTuple_GET_ITEM(t->argnames, j);
        int found = 0;
        for (Py_ssize_t i = 0; a->kw_names &&
                               i < PyTuple_GET_SIZE(a->kw_names); i++) {
            int eq = PyObject_RichCompareBool(
                k, PyTuple_GET_ITEM(a->kw_names, i), Py_EQ);
            if (eq < 0) {
                return -1;
            }
            if (eq) {
                need[npos + i] = 1;
                found = 1;
            }
        }
        if (!found) {
            PyErr_Format(PyExc_ValueError, "[%s] Can't compute the gradient "
                         "of keyword argument '%U' because the function is "
                         "called without it (keyword arguments: %R)", tag, k,
                         kwargs ? kwargs : Py_None);
            return -1;
        }
    }
    for (Py_ssize_t i = 0; i < npos; i++) {
        PyObject *x = PyTuple_GET_ITEM(args, i);
        int ok = need[i] ? pk_transforms_only_arrays(x) : 1;
        if (ok < 0) {
            return -1;
        }
        if (!ok) {
            PyErr_Format(PyExc_ValueError, "[%s] Argument %zd, whose "
                         "gradient is requested, must be an array or a tree "
                         "of arrays, got %.100s", tag, i,
                         Py_TYPE(PyTuple_GET_ITEM(args, i))->tp_name);
            return -1;
        }
    }
    for (Py_ssize_t i = 0; a->kw_names &&
                           i < PyTuple_GET_SIZE(a->kw_names); i++) {
        PyObject *v = PyDict_GetItemWithError(
            kwargs, PyTuple_GET_ITEM(a->kw_names, i));
        int ok = need[npos + i] && v ? pk_transforms_only_arrays(v) : 1;
        if (ok < 0) {
            return -1;
        }
        if (!ok) {
            PyErr_Format(PyExc_ValueError, "[%s] Keyword argument '%U', "
                         "whose gradient is requested, must be an array or "
                         "a tree of arrays", tag,
                         PyTuple_GET_ITEM(a->kw_names, i));
            return -1;
        }
    }
    return 0;
}

/* The gradient tree of argument j (treedef td) from grads[*g, ...). */
static PyObject *grad_tree(PyObject *td, const kiln_list *res, size_t *g)
{
    Py_ssize_t n = pk_tree_count(td);
    if (n < 0) {
        return NULL;
    }
    PyObject *part = pk_transforms_wrap_list(res, *g, *g + (size_t)n);
    if (!part) {
        return NULL;
    }
    *g += (size_t)n;
    PyObject *tree = pk_tree_unflatten(td, part);
    Py_DECREF(part);
    return tree;
}

/* The Python result of grad/value_and_grad from the flat results. */
static PyObject *grad_result(PkTransform *t, const call *c,
                             const flat_args *a, const char *need,
                             const kiln_list *res, size_t ngrads)
{
    size_t total = kiln_list_size(res), nvals = total - ngrads, g = nvals;
    Py_ssize_t npos = PyTuple_GET_SIZE(a->pos_tds);
    PyObject *pos = NULL, *kw = NULL, *grads = NULL, *value = NULL;
    if (t->nargnums == 1) {
        pos = grad_tree(PyTuple_GET_ITEM(a->pos_tds, t->argnums[0]), res,
                        &g);
    } else if (t->nargnums > 1) {
        pos = PyTuple_New(t->nargnums);
        for (int i = 0; pos && i < t->nargnums; i++) {
            PyObject *x = grad_tree(PyTuple_GET_ITEM(a->pos_tds,
                                                     t->argnums[i]), res, &g);
            if (!x) {
                Py_CLEAR(pos);
                break;
            }
            PyTuple_SET_ITEM(pos, i, x);
        }
    } else {
        pos = Py_NewRef(Py_None);
    }
    if (!pos) {
        return NULL;
    }
    if (PyTuple_GET_SIZE(t->argnames) == 0) {
        grads = pos;
    } else {
        kw = PyDict_New();
        for (Py_ssize_t i = 0; kw && i < PyTuple_GET_SIZE(a->kw_names);
             i++) {
            if (!need[npos + i]) {
                continue;
            }
            PyObject *x = grad_tree(PyTuple_GET_ITEM(a->kw_tds, i), res, &g);
            if (!x || PyDict_SetItem(kw, PyTuple_GET_ITEM(a->kw_names, i),
                                     x) < 0) {
                Py_XDECREF(x);
                Py_CLEAR(kw);
                break;
            }
            Py_DECREF(x);
        }
        grads = kw ? PyTuple_Pack(2, pos, kw) : NULL;
        Py_DECREF(pos);
        Py_XDECREF(kw);
        if (!grads) {
            return NULL;
        }
    }
    if (t->kind == K_GRAD) {
        return grads;
    }
    PyObject *vals = pk_transforms_wrap_list(res, 0, nvals);
    value = vals ? pk_tree_unflatten(c->out_td, vals) : NULL;
    Py_XDECREF(vals);
    if (!value) {
        Py_DECREF(grads);
        return NULL;
    }
    PyObject *r = PyTuple_Pack(2, value, grads);
    Py_DECREF(value);
    Py_DECREF(grads);
    return r;
}

PyObject *pk_transforms_grad_call(PkTransform *t, PyObject *args,
                                  PyObject *kwargs)
{
    const char *tag = pk_transforms_kinds[t->kind];
    flat_args a;
    if (pk_transforms_flatten_args(args, kwargs, tag, &a) < 0) {
        return NULL;
    }
    Py_ssize_t npos = PyTuple_GET_SIZE(args);
    Py_ssize_t nargs = npos + (a.kw_names ? PyTuple_GET_SIZE(a.kw_names)
                                          : 0);
    Py_ssize_t nleaves = PyList_GET_SIZE(a.leaves);
    PyObject *result = NULL;
    kiln_list *in = NULL, *res = NULL;
    kiln_fn *f = NULL, *tf = NULL;
    call *c = NULL;
    char *need = PyMem_Calloc((size_t)nargs + 1, 1);
    int *idx = PyMem_Calloc((size_t)nleaves + 1, sizeof *idx);
    if (!need || !idx) {
        PyErr_NoMemory();
        goto done;
    }
    if (check_grad_call(t, args, kwargs, &a, need) < 0) {
        goto done;
    }
    int nidx = 0;
    for (Py_ssize_t i = 0; i < nargs; i++) {
        for (Py_ssize_t j = a.off[i]; need[i] && j < a.off[i + 1]; j++) {
            idx[nidx++] = (int)j;
        }
    }
    if (nidx == 0) {
        PyErr_Format(PyExc_ValueError, "[%s] The arguments whose gradient "
                     "is requested hold no arrays", tag);
        goto done;
    }
    in = pk_transforms_leaves_list(a.leaves, NULL);
    if (!in) {
        goto done;
    }
    f = pk_transforms_call_new(t->kind, t->fun, t->name,
                               Py_NewRef(a.pos_tds), Py_XNewRef(a.kw_names),
                               Py_XNewRef(a.kw_tds), &c);
    if (!f) {
        goto done;
    }
    tf = t->kind == K_GRAD ? kiln_grad(f, idx, nidx)
                           : kiln_value_and_grad(f, idx, nidx);
    if (!tf) {
        pk_raise();
        goto done;
    }
    res = pk_transforms_call_run(tf, in);
    if (!res) {
        goto done;
    }
    if (kiln_list_size(res) < (size_t)nidx ||
        (t->kind == K_VALUE_AND_GRAD && !c->out_td)) {
        PyErr_Format(PyExc_RuntimeError, "[%s] unexpected result count",
                     tag);
        goto done;
    }
    result = grad_result(t, c, &a, need, res, (size_t)nidx);
done:
    kiln_list_free(res);
    kiln_fn_release(tf);
    kiln_fn_release(f);
    kiln_list_free(in);
    PyMem_Free(need);
    PyMem_Free(idx);
    pk_transforms_flat_args_clear(&a);
    return result;
}

