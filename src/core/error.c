/*
 * error.c - the thread-local last error (see error.h).
 */
#include "error.h"

#include <stdarg.h>
#include <stdio.h>

#define ERRMSG_CAP 1024

static _Thread_local kiln_status err_code;
static _Thread_local char err_msg[ERRMSG_CAP];

static const char *const status_names[] = {
#define X(N, s) s,
    KILN_STATUS_LIST(X)
#undef X
};

kiln_status kiln__err(kiln_status code, const char *fmt, ...)
{
    va_list ap;
    err_code = code;
    va_start(ap, fmt);
    vsnprintf(err_msg, sizeof err_msg, fmt, ap);
    va_end(ap);
    return code;
}

kiln_status kiln__err_null(const char *fn)
{
    if (err_code == KILN_OK) {
        kiln__err(KILN_ERR_VALUE, "[%s] argument is NULL", fn);
    }
    return err_code;
}

kiln_status kiln__err_oom(const char *fn, size_t nbytes)
{
    return kiln__err(KILN_ERR_MEMORY, "[%s] out of memory allocating %zu bytes",
                     fn, nbytes);
}

kiln_status kiln_errcode(void)
{
    return err_code;
}

const char *kiln_errmsg(void)
{
    return err_msg;
}

void kiln_errclear(void)
{
    err_code = KILN_OK;
    err_msg[0] = '\0';
}

const char *kiln_status_name(kiln_status s)
{
    if ((unsigned)s >= sizeof status_names / sizeof status_names[0]) {
        return "unknown status";
    }
    return status_names[s];
}
