/* ops.c - (being written) */
#include "pykiln.h"

int pk_init_ops(PyObject *m)
{
    (void)m;
    return 0;
}
