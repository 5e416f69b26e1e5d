/*
 * env.c - reads the environment knobs listed in env.h.
 *
 * Three tables stamped from KILN_ENV_LIST (names, defaults, docs) indexed by
 * kiln_env_knob. No state: each call reads getenv afresh, so the knobs can be
 * changed between calls (tests do); whoever needs a stable value keeps it.
 */
#include "env.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>

#define KILN_ENV_NAME(name, var, dflt, doc) var,
#define KILN_ENV_DFLT(name, var, dflt, doc) dflt,
#define KILN_ENV_DOC(name, var, dflt, doc) doc,

static const char *const env_names[] = {KILN_ENV_LIST(KILN_ENV_NAME)};
static const char *const env_defaults[] = {KILN_ENV_LIST(KILN_ENV_DFLT)};
static const char *const env_docs[] = {KILN_ENV_LIST(KILN_ENV_DOC)};

#undef KILN_ENV_NAME
#undef KILN_ENV_DFLT
#undef KILN_ENV_DOC

static int is_knob(kiln_env_knob k)
{
    return (int)k >= 0 && (int)k < (int)KILN_ENV_COUNT;
}

const char *kiln__env_str(kiln_env_knob k)
{
    const char *v;
    if (!is_knob(k)) {
        return "";
    }
    v = getenv(env_names[k]);
    if (v == NULL || v[0] == '\0') {
        return env_defaults[k];
    }
    return v;
}

long long kiln__env_int(kiln_env_knob k, long long dflt)
{
    const char *s = kiln__env_str(k);
    char *end;
    long long v;
    int saved = errno;
    int bad;
    while (isspace((unsigned char)*s)) {
        s++;
    }
    if (*s == '\0') {
        return dflt;
    }
    errno = 0;
    v = strtoll(s, &end, 10);
    bad = end == s || errno == ERANGE;
    errno = saved;
    if (bad) {
        return dflt;
    }
    while (isspace((unsigned char)*end)) {
        end++;
    }
    if (*end != '\0') {
        return dflt;
    }
    return v;
}

const char *kiln__env_name(kiln_env_knob k)
{
    return is_knob(k) ? env_names[k] : "";
}

const char *kiln__env_doc(kiln_env_knob k)
{
    return is_knob(k) ? env_docs[k] : "";
}
