/*
 * main.c - the C test runner.
 *
 * Runs every registered test (or those whose name contains argv[1]) in
 * registration order and prints "N passed, N failed" as its last line.
 * Exit status is 0 only when nothing failed. Kernels build synchronously
 * (KILN_JIT_ASYNC=0 unless the environment says otherwise), so the counters
 * tests read right after a call are deterministic; test_jit.c turns the
 * background builds on itself.
 */
#include "harness.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define KT_MAX_TESTS 4096

static struct {
    const char *name;
    const char *file;
    kt_fn fn;
} tests[KT_MAX_TESTS];
static int ntests;
static int current_failed;

void kt_register(const char *name, kt_fn fn, const char *file)
{
    if (ntests < KT_MAX_TESTS) {
        tests[ntests].name = name;
        tests[ntests].file = file;
        tests[ntests].fn = fn;
        ntests++;
    }
}

void kt_fail(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    if (current_failed < 8) {
        fprintf(stderr, "  %s:%d: ", file, line);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
    }
    current_failed++;
}

int main(int argc, char **argv)
{
    const char *filter = argc > 1 ? argv[1] : NULL;
    int passed = 0, failed = 0;
    setenv("KILN_JIT_ASYNC", "0", 0);
    for (int i = 0; i < ntests; i++) {
        if (filter && !strstr(tests[i].name, filter) &&
            !strstr(tests[i].file, filter)) {
            continue;
        }
        current_failed = 0;
        tests[i].fn();
        if (current_failed) {
            fprintf(stderr, "FAIL %s (%s)\n", tests[i].name, tests[i].file);
            failed++;
        } else {
            passed++;
        }
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
