/* tree.c - (being written) */
#include "pykiln.h"

static PyObject *not_yet(void)
{
    PyErr_SetString(PyExc_NotImplementedError, "trees: being written");
    return NULL;
}

PyObject *pk_tree_flatten(PyObject *tree, PyObject *leaves, int strict,
                          const char *what)
{
    (void)tree, (void)leaves, (void)strict, (void)what;
    return not_yet();
}

PyObject *pk_tree_unflatten(PyObject *treedef, PyObject *leaves)
{
    (void)treedef, (void)leaves;
    return not_yet();
}

Py_ssize_t pk_tree_count(PyObject *treedef)
{
    (void)treedef;
    return 0;
}

int pk_tree_key(PyObject *treedef, PyObject *key)
{
    (void)treedef, (void)key;
    not_yet();
    return -1;
}

int pk_tree_arrays(PyObject *tree, PyObject *out)
{
    (void)tree, (void)out;
    not_yet();
    return -1;
}
