/* compile.c - (being written) */
#include "pykiln.h"

int pk_init_compile(PyObject *m)
{
    (void)m;
    return 0;
}
