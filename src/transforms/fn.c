/*
 * fn.c - functions as values: creation, reference counting, calls, and
 * the per-call key bytes language bindings pass with a call.
 *
 * The key of the innermost running call is thread-local and restored when
 * a call returns, so nested calls (a compiled function inside another's
 * body) each see their own.
 */
#include "fn.h"

#include <stdlib.h>
#include <string.h>

#include "../core/error.h"

void (*kiln__fn_cache_free)(struct kiln_fcache *c);

static _Thread_local const void *call_key;
static _Thread_local size_t call_keylen;

kiln_fn *kiln_fn_new(kiln_fn_body body, void *ctx, void (*dtor)(void *ctx),
                     const char *name)
{
    if (!body) {
        kiln__err(KILN_ERR_VALUE, "[fn_new] body is NULL");
        return NULL;
    }
    kiln_fn *f = calloc(1, sizeof *f);
    const char *nm = name ? name : "fn";
    char *copy = malloc(strlen(nm) + 1);
    if (!f || !copy) {
        free(f);
        free(copy);
        kiln__err_oom("fn_new", sizeof *f);
        return NULL;
    }
    memcpy(copy, nm, strlen(nm) + 1);
    atomic_init(&f->rc, 1);
    f->body = body;
    f->ctx = ctx;
    f->dtor = dtor;
    f->name = copy;
    atomic_init(&f->cache, NULL);
    return f;
}

kiln_fn *kiln_fn_retain(kiln_fn *f)
{
    if (f) {
        atomic_fetch_add_explicit(&f->rc, 1, memory_order_relaxed);
    }
    return f;
}

void kiln_fn_release(kiln_fn *f)
{
    if (!f ||
        atomic_fetch_sub_explicit(&f->rc, 1, memory_order_acq_rel) != 1) {
        return;
    }
    struct kiln_fcache *c = atomic_load(&f->cache);
    if (c && kiln__fn_cache_free) {
        kiln__fn_cache_free(c);
    }
    if (f->dtor) {
        f->dtor(f->ctx);
    }
    free(f->name);
    free(f);
}

const char *kiln_fn_name(const kiln_fn *f)
{
    return f ? f->name : NULL;
}

kiln_list *kiln__fn_run(kiln_fn *f, const kiln_list *args)
{
    kiln_list *results = kiln_list_new();
    if (!results) {
        return NULL;
    }
    kiln_list *empty = NULL;
    if (!args) {
        empty = kiln_list_new();
        if (!empty) {
            kiln_list_free(results);
            return NULL;
        }
        args = empty;
    }
    kiln_status st = f->body(f->ctx, args, results);
    kiln_list_free(empty);
    if (st != KILN_OK) {
        if (kiln_errcode() == KILN_OK) {
            kiln__err(st, "[%s] the function failed without a message",
                      f->name);
        }
        kiln_list_free(results);
        return NULL;
    }
    for (size_t i = 0; i < kiln_list_size(results); i++) {
        if (!kiln_list_get(results, i)) {
            kiln__err(KILN_ERR_VALUE, "[%s] result %zu is NULL", f->name, i);
            kiln_list_free(results);
            return NULL;
        }
    }
    return results;
}

kiln_list *kiln_fn_call_keyed(kiln_fn *f, const kiln_list *args,
                              const void *key, size_t keylen)
{
    if (!f) {
        kiln__err_null("fn_call");
        return NULL;
    }
    for (size_t i = 0; args && i < kiln_list_size(args); i++) {
        if (!kiln_list_get(args, i)) {
            kiln__err(KILN_ERR_VALUE, "[%s] argument %zu is NULL", f->name,
                      i);
            return NULL;
        }
    }
    const void *saved = call_key;
    size_t saved_len = call_keylen;
    call_key = keylen ? key : NULL;
    call_keylen = key ? keylen : 0;
    kiln_list *r = kiln__fn_run(f, args);
    call_key = saved;
    call_keylen = saved_len;
    return r;
}

kiln_list *kiln_fn_call(kiln_fn *f, const kiln_list *args)
{
    return kiln_fn_call_keyed(f, args, NULL, 0);
}

const void *kiln_fn_call_key(size_t *keylen)
{
    if (keylen) {
        *keylen = call_keylen;
    }
    return call_key;
}
