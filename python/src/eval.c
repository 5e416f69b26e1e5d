/* eval.c - (being written) */
#include "pykiln.h"

int pk_init_eval(PyObject *m)
{
    (void)m;
    return 0;
}
