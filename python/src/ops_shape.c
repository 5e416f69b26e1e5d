/* ops_shape.c - (being written) */
#include "pykiln.h"

int pk_init_ops_shape(PyObject *m)
{
    (void)m;
    return 0;
}
