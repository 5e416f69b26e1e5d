/*
 * buffer.h - refcounted storage, recycled through a size-classed pool.
 *
 * A buffer is the memory behind one or more arrays (views share it). Its
 * capacity is rounded up to a size class (at most 25% above the request) so
 * that released buffers can serve later requests of similar size without
 * the page faults a fresh allocation costs; an idle buffer of a slightly
 * larger class may serve too (buffer.c), so a capacity can be up to about
 * twice the request (and a later request of that larger class may then
 * need a fresh buffer: fewer, warmer buffers for varying shapes, at the
 * cost of some slack). The pool keeps at most a byte
 * cap of idle buffers (KILN_POOL_LIMIT, default a quarter of physical
 * memory); beyond it buffers go back to the OS. Data is 64-byte aligned;
 * buffers of 2 MiB and more are mmap'ed with transparent huge pages advised.
 */
#ifndef KILN_CORE_BUFFER_H
#define KILN_CORE_BUFFER_H

#include <stdatomic.h>
#include <stddef.h>

typedef struct kiln_buffer {
    atomic_int rc;
    size_t nbytes;             /* requested */
    size_t cap;                /* size-class capacity, the bytes held */
    void *data;                /* 64-byte aligned, cap bytes */
    struct kiln_buffer *next;  /* free-list link while pooled */
} kiln_buffer;

/* A new buffer of at least nbytes (refcount 1), NULL when out of memory
 * (no error is recorded: the caller names the entry point). */
kiln_buffer *kiln__buffer_new(size_t nbytes);
/* Adds a reference (atomically: evaluated arrays may be shared between
 * threads) and returns b; NULL is returned as is. */
kiln_buffer *kiln__buffer_retain(kiln_buffer *b);
/* Drops a reference; the last one returns the buffer to the pool. */
void kiln__buffer_release(kiln_buffer *b);

/* Test hook: the n-th allocation from now fails (0 disables). */
void kiln__buffer_fail_after(long n);

#endif
