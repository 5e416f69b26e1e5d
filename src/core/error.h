/*
 * error.h - errors as values: the thread-local status and message.
 *
 * Every public entry point reports failure by returning NULL or a status and
 * recording (code, message) here. Messages start with the entry point's name
 * in brackets: "[reshape] cannot reshape array of size 6 into (4)".
 * kiln__err records (replacing any earlier error); kiln__err_null does not
 * replace one, so a NULL argument that comes from an earlier failure keeps
 * the first failure in a chain as the one reported.
 */
#ifndef KILN_CORE_ERROR_H
#define KILN_CORE_ERROR_H

#include "kiln.h"

/* Records the error (replacing any earlier one) and returns code. */
kiln_status kiln__err(kiln_status code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Records "[fn] argument is NULL" unless an error is already recorded
 * (a NULL argument usually comes from an earlier failed call). */
kiln_status kiln__err_null(const char *fn);
/* Out of memory, naming fn and the size that failed. */
kiln_status kiln__err_oom(const char *fn, size_t nbytes);

#endif
