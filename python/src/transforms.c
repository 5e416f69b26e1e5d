/* transforms.c - (being written) */
#include "pykiln.h"

int pk_init_transforms(PyObject *m)
{
    (void)m;
    return 0;
}
