/* tree.c - (being written) */
#include "pykiln.h"

int pk_tree_arrays(PyObject *tree, PyObject *out)
{
    (void)tree;
    (void)out;
    PyErr_SetString(PyExc_NotImplementedError, "trees: being written");
    return -1;
}
