/*
 * ntstore.h - copies a block to memory nobody will read soon, with
 * non-temporal (streaming) stores.
 *
 * A plain store to a line not in cache first reads the line in (a "read
 * for ownership"), so writing a big output costs a read and a write of
 * memory; a streaming store skips the read. Worth it only for outputs far
 * bigger than the caches (measured: +25-40% on a 32 MB output, nothing at
 * 16 MB): callers decide. Part of the JIT preamble; GCC builtins rather
 * than <immintrin.h>, which would add ~0.3 s to every JIT compile.
 *
 * Invariants: any alignment and size (the unaligned head and the tail go
 * through memcpy); without the vector builtins it is memcpy. Streaming
 * stores are weakly ordered: a writer calls kiln_nt_fence() before other
 * threads may read what it wrote.
 */
#ifndef KILN_CPU_NTSTORE_H
#define KILN_CPU_NTSTORE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if defined(__GNUC__) && !defined(__clang__) && defined(__AVX512F__)
#define KILN_NT_BYTES 64
typedef long long kiln__nt_vec __attribute__((vector_size(64)));
#define KILN__NT_STORE(d, v) __builtin_ia32_movntdq512((d), (v))
#elif defined(__GNUC__) && !defined(__clang__) && defined(__SSE2__)
#define KILN_NT_BYTES 16
typedef long long kiln__nt_vec __attribute__((vector_size(16)));
#define KILN__NT_STORE(d, v) __builtin_ia32_movntdq((d), (v))
#endif

static inline void kiln_nt_copy(void *dst, const void *src, size_t bytes)
{
#ifdef KILN_NT_BYTES
    char *d = (char *)dst;
    const char *s = (const char *)src;
    size_t head = (size_t)(-(uintptr_t)d & (KILN_NT_BYTES - 1));
    if (head > bytes) {
        head = bytes;
    }
    memcpy(d, s, head);
    d += head;
    s += head;
    bytes -= head;
    for (; bytes >= KILN_NT_BYTES; bytes -= KILN_NT_BYTES) {
        kiln__nt_vec v;
        memcpy(&v, s, sizeof v);
        KILN__NT_STORE((kiln__nt_vec *)(void *)d, v);
        d += KILN_NT_BYTES;
        s += KILN_NT_BYTES;
    }
    memcpy(d, s, bytes);
#else
    memcpy(dst, src, bytes);
#endif
}

/* Orders this thread's streaming stores before its later stores. */
static inline void kiln_nt_fence(void)
{
#ifdef KILN_NT_BYTES
    __builtin_ia32_sfence();
#endif
}

#endif
