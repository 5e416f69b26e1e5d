/*
 * env.c - reads the environment knobs listed in env.h.
 *
 * Three tables stamped from KILN_ENV_LIST (names, defaults, docs) indexed by
 * kiln_env_knob. No state: each call reads getenv afresh, so the knobs can be
 * changed between calls (tests do); whoever needs a stable value keeps it.
 * A thread may read a copy instead (kiln__env_use): a background build,
 * whose caller's other threads may change the environment meanwhile.
 */
#include "env.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

extern char **environ;

/* "NAME=value" strings, NULL-terminated, as environ; one allocation. */
struct kiln_env_copy {
    char **vars;
};

static _Thread_local const kiln_env_copy *in_use;

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
    v = kiln__env_get(env_names[k]);
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

kiln_env_copy *kiln__env_copy(void)
{
    size_t n = 0, bytes = 0;
    for (char **e = environ; e && *e; e++) {
        n++;
        bytes += strlen(*e) + 1;
    }
    kiln_env_copy *c = malloc(sizeof *c + (n + 1) * sizeof(char *) + bytes);
    if (!c) {
        return NULL;
    }
    c->vars = (char **)(void *)(c + 1);
    char *text = (char *)(c->vars + n + 1);
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(environ[i]) + 1;
        memcpy(text, environ[i], len);
        c->vars[i] = text;
        text += len;
    }
    c->vars[n] = NULL;
    return c;
}

void kiln__env_copy_free(kiln_env_copy *c)
{
    free(c);
}

void kiln__env_use(const kiln_env_copy *c)
{
    in_use = c;
}

const char *kiln__env_get(const char *name)
{
    if (!in_use) {
        return getenv(name);
    }
    size_t len = strlen(name);
    for (char **e = in_use->vars; *e; e++) {
        if (strncmp(*e, name, len) == 0 && (*e)[len] == '=') {
            return *e + len + 1;
        }
    }
    return NULL;
}

char *const *kiln__env_block(void)
{
    return in_use ? in_use->vars : environ;
}
