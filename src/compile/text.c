/*
 * text.c - the growable string of text.h.
 */
#include "text.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/error.h"

static bool reserve(kiln_text *t, size_t extra)
{
    if (t->oom) {
        return false;
    }
    if (t->len + extra + 1 <= t->cap) {
        return true;
    }
    size_t cap = t->cap ? t->cap : 256;
    while (cap < t->len + extra + 1) {
        cap *= 2;
    }
    char *s = realloc(t->s, cap);
    if (!s) {
        t->oom = true;
        return false;
    }
    t->s = s;
    t->cap = cap;
    return true;
}

void kiln__text_append(kiln_text *t, const char *s, size_t n)
{
    if (!reserve(t, n)) {
        return;
    }
    memcpy(t->s + t->len, s, n);
    t->len += n;
    t->s[t->len] = '\0';
}

void kiln__text_puts(kiln_text *t, const char *s)
{
    kiln__text_append(t, s, strlen(s));
}

void kiln__text_printf(kiln_text *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || !reserve(t, (size_t)n)) {
        t->oom = true;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(t->s + t->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    t->len += (size_t)n;
}

bool kiln__text_ok(const kiln_text *t, const char *fn)
{
    if (t->oom) {
        kiln__err_oom(fn, t->cap * 2);
        return false;
    }
    return true;
}

void kiln__text_free(kiln_text *t)
{
    free(t->s);
    t->s = NULL;
    t->len = t->cap = 0;
    t->oom = false;
}
