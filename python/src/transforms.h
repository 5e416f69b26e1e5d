/*
 * transforms.h - what the files of kiln's Python transforms share
 * (transforms.c: a Python function as a kiln_fn, the transformed-function
 * type, vjp, jvp and the module functions; transforms_grad.c: grad and
 * value_and_grad; transforms_vmap.c: vmap).
 *
 * Private to those three files; everything else goes through pykiln.h.
 */
#ifndef PYKILN_TRANSFORMS_H
#define PYKILN_TRANSFORMS_H

#include "pykiln.h"

enum pk_transforms_kind { K_GRAD, K_VALUE_AND_GRAD, K_VMAP, K_VJP, K_JVP };

/* The names of the kinds, for messages ("grad", ...). */
extern const char *const pk_transforms_kinds[];

/* One call of a Python function as a kiln_fn (see transforms.c). */
typedef struct call {
    int kind;
    PyObject *fun;      /* strong */
    /* Tree modes (grad, value_and_grad, vmap): one treedef per positional
     * argument, and the keyword names with their treedefs (NULL: none).
     * Flat modes (vjp, jvp): all NULL, fun(*arrays). */
    PyObject *pos_tds;  /* tuple */
    PyObject *kw_names; /* tuple of str */
    PyObject *kw_tds;   /* tuple */
    /* Set by the body: the result's treedef (tree modes), or whether fun
     * returned one array rather than a list (flat modes). */
    PyObject *out_td;
    int out_single;
} call;

/* The flattened arguments of one call: leaves (Python list of arrays),
 * one treedef per positional argument, keyword names and treedefs, and
 * where each argument's leaves start (off[i], i < npos + nkw, plus the
 * end). */
typedef struct flat_args {
    PyObject *leaves, *pos_tds, *kw_names, *kw_tds;
    Py_ssize_t *off;
} flat_args;

/* A function made by grad, value_and_grad or vmap. */
typedef struct PkTransform {
    PyObject_HEAD
    int kind;           /* K_GRAD, K_VALUE_AND_GRAD or K_VMAP */
    PyObject *fun;
    PyObject *name;     /* fun's __name__, for messages */
    int *argnums;       /* sorted, distinct, >= 0 */
    int nargnums;
    PyObject *argnames; /* tuple of str */
    PyObject *in_axes, *out_axes;
    PyObject *dict;     /* __name__, __doc__, __wrapped__, ... */
    PyObject *weakrefs;
} PkTransform;

/* A new kiln_fn calling fun as `kind` with the given argument structure
 * (stolen references, may be NULL); *out is its context, owned by it.
 * NULL with an exception. */
kiln_fn *pk_transforms_call_new(int kind, PyObject *fun, PyObject *name,
                                PyObject *pos_tds, PyObject *kw_names,
                                PyObject *kw_tds, call **out);
/* Calls the transformed t on args: the results (caller frees), or NULL
 * with the function's own exception or the kiln error as one. */
kiln_list *pk_transforms_call_run(kiln_fn *t, const kiln_list *args);
/* kiln.arrays wrapping the arrays [from, to) of l (a new list). */
PyObject *pk_transforms_wrap_list(const kiln_list *l, size_t from,
                                  size_t to);
/* A kiln_list of the arrays of leaves, then of more (may be NULL). */
kiln_list *pk_transforms_leaves_list(PyObject *leaves, PyObject *more);
/* 1 when every leaf of tree is a kiln.array, 0 when not, -1 on error. */
int pk_transforms_only_arrays(PyObject *tree);
/* Flattens positional args and kwargs (may be NULL) into a; 0 or -1
 * with an exception (a is then cleared). */
int pk_transforms_flatten_args(PyObject *args, PyObject *kwargs,
                               const char *what, flat_args *a);
void pk_transforms_flat_args_clear(flat_args *a);
/* A new transformed function of fun (checked callable) with fun's name,
 * doc and __wrapped__; NULL with an exception. */
PkTransform *pk_transforms_new(int kind, PyObject *fun);

/* transforms_grad.c: the grad/value_and_grad(fun, argnums, argnames)
 * module functions, and the call of their result. */
PyObject *pk_transforms_grad_make(int kind, PyObject *args, PyObject *kwds);
PyObject *pk_transforms_grad_call(PkTransform *t, PyObject *args,
                                  PyObject *kwargs);

/* transforms_vmap.c: vmap(fun, in_axes, out_axes), and its call. */
PyObject *pk_transforms_vmap_make(PyObject *args, PyObject *kwds);
PyObject *pk_transforms_vmap_call(PkTransform *t, PyObject *args,
                                  PyObject *kwargs);

#endif
