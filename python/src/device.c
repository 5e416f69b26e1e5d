/* device.c - (being written) */
#include "pykiln.h"

int pk_init_device(PyObject *m)
{
    (void)m;
    return 0;
}
