/*
 * text.h - a growable string for generated source, dumps and keys.
 *
 * Invariant: `s` is NUL-terminated whenever len > 0 or after any append;
 * once an allocation fails `oom` stays set and further appends do
 * nothing, so callers check once at the end (kiln__text_ok).
 */
#ifndef KILN_COMPILE_TEXT_H
#define KILN_COMPILE_TEXT_H

#include <stdbool.h>
#include <stddef.h>

typedef struct kiln_text {
    char *s;
    size_t len;
    size_t cap;
    bool oom;
} kiln_text;

/* printf-style append. */
void kiln__text_printf(kiln_text *t, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
void kiln__text_append(kiln_text *t, const char *s, size_t n);
/* Appends the NUL-terminated s. */
void kiln__text_puts(kiln_text *t, const char *s);
/* false (with an out-of-memory error naming fn) when an append failed. */
bool kiln__text_ok(const kiln_text *t, const char *fn);
void kiln__text_free(kiln_text *t);

#endif
