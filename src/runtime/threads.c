/*
 * threads.c - the public face of the thread pool (kiln_num_threads,
 * kiln_set_num_threads); the pool itself is pool.c.
 */
#include "../core/error.h"
#include "pool.h"

int kiln_num_threads(void)
{
    return kiln__pool_nthreads();
}

kiln_status kiln_set_num_threads(int n)
{
    if (kiln__pool_set_nthreads(n) != 0) {
        return kiln__err(KILN_ERR_VALUE,
                         "[set_num_threads] need at least 1 thread, got %d",
                         n);
    }
    return KILN_OK;
}
