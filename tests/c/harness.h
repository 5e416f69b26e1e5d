/*
 * harness.h - the C test harness: self-registering tests and checks.
 *
 * A test file defines tests with TEST(name) { ... } and uses CHECK* inside.
 * Tests register themselves at load time (constructor attribute), so adding a
 * file to tests/c/ is all it takes; tests/c/main.c runs them and ends with the
 * line "N passed, N failed" that CI counts. A failed CHECK records the failure
 * and the test goes on, so one run shows every broken assertion.
 */
#ifndef KILN_TEST_HARNESS_H
#define KILN_TEST_HARNESS_H

#include <math.h>
#include <stdio.h>

typedef void (*kt_fn)(void);

void kt_register(const char *name, kt_fn fn, const char *file);
void kt_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define TEST(name)                                                        \
    static void name(void);                                               \
    __attribute__((constructor)) static void kt_reg_##name(void)          \
    {                                                                     \
        kt_register(#name, name, __FILE__);                               \
    }                                                                     \
    static void name(void)

#define CHECK(cond)                                                       \
    do {                                                                  \
        if (!(cond)) {                                                    \
            kt_fail(__FILE__, __LINE__, "CHECK(%s)", #cond);              \
        }                                                                 \
    } while (0)

#define CHECK_MSG(cond, ...)                                              \
    do {                                                                  \
        if (!(cond)) {                                                    \
            kt_fail(__FILE__, __LINE__, __VA_ARGS__);                     \
        }                                                                 \
    } while (0)

/* |a - b| <= tol, or both NaN, or both the same infinity. */
#define CHECK_NEAR(a, b, tol)                                             \
    do {                                                                  \
        double kt_a = (double)(a), kt_b = (double)(b);                    \
        int kt_ok = (isnan(kt_a) && isnan(kt_b)) || kt_a == kt_b ||       \
                    fabs(kt_a - kt_b) <= (double)(tol);                   \
        if (!kt_ok) {                                                     \
            kt_fail(__FILE__, __LINE__, "CHECK_NEAR(%s, %s): %.17g vs %.17g", \
                    #a, #b, kt_a, kt_b);                                  \
        }                                                                 \
    } while (0)

#endif
