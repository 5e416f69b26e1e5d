/*
 * compile.h - what compile.c (kiln.compile, the compiled object's type,
 * handles) and compile_call.c (a call: trees in and out, the body that
 * runs the Python function, captured state) share.
 *
 * A handle is one per Python callable (or per callable and instance, for
 * compiled methods); every compiled object of that callable shares it and
 * so one kiln_fn and one cache. See compile.c for the whole picture.
 */
#ifndef PK_COMPILE_H
#define PK_COMPILE_H

#include "pykiln.h"

#include <pythread.h>

/* Result structures remembered per function (more than the core's
 * per-function cache bound, 64, so a hit finds its structure). */
#define PK_OUTDEF_MAX 1024

typedef struct PkHandle {
    PyObject_HEAD
    PyObject *fun;
    PyObject *regkey;  /* key in the registry, or NULL when unregistered */
    kiln_fn *inner;    /* body = pk_compile_call_body, ctx = this handle
                          (a tag only) */
    PyObject *outdefs; /* dict: signature bytes -> result treedef */
} PkHandle;

typedef struct PkCompiled {
    PyObject_HEAD
    PkHandle *handle;
    PyObject *fun;
    PyObject *inputs;  /* tree or NULL */
    PyObject *outputs; /* tree or NULL */
    PyObject *bound;   /* the instance of a bound compiled method */
    PyObject *dict;
    PyObject *weakrefs;
    kiln_fn *cfn;      /* compiled, for calls without captured state */
    int shapeless;
    PyThread_type_lock lock; /* calls with captured state */
    unsigned long owner;
    int depth;
} PkCompiled;

/* The body of every handle's kiln_fn: runs the Python function of the
 * compiled call in progress on this thread. */
kiln_status pk_compile_call_body(void *ctx, const kiln_list *args,
                                 kiln_list *results);

/* A call of a compiled object: flattens args and kwargs, runs the kiln
 * call, updates the captured outputs and rebuilds the result. New
 * reference, NULL with an exception. */
PyObject *pk_compile_call_run(PkCompiled *w, PyObject *args,
                              PyObject *kwargs);

#endif
