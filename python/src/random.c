/* random.c - (being written) */
#include "pykiln.h"

int pk_init_random(PyObject *m)
{
    (void)m;
    return 0;
}
