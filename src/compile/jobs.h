/*
 * jobs.h - kernel builds in the background (tiered execution).
 *
 * A trace's kernels are one compiler run (50-200 ms of gcc) while the
 * interpreter runs a region at a third to two thirds of the kernel's
 * speed and, for elementwise values and order-free folds, computes the
 * same bits. So by default (KILN_JIT_ASYNC=1, mode
 * KILN_JIT=1) a trace hands its source to a job thread and waits only a
 * few milliseconds for it, which covers the in-memory and disk caches;
 * a compile still running then finishes behind the first calls, which run
 * in the interpreter, and each region switches to its kernel when the job
 * publishes it (kiln__fused_publish). A call big enough that the
 * interpreter would take longer than the rest of the build waits for the
 * kernel instead (backend/cpu/fused_cpu.c).
 *
 * Invariants: a job holds the function's counters (kiln__cache_hold, not
 * the function: its destructor stays with its caller) and a reference to
 * every region it builds for, until it has published; the process waits
 * for jobs in flight at exit, so no compiler is left writing into the
 * cache folder; a forked child, which has none of the job threads, marks
 * their regions interpreted and waits for nothing. Background builds read
 * the KILN_* variables (and PATH, HOME, TMPDIR) when they run: a program
 * that changes them while builds are in flight should set
 * KILN_JIT_ASYNC=0 or wait first.
 */
#ifndef KILN_COMPILE_JOBS_H
#define KILN_COMPILE_JOBS_H

#include "../prim/compiled.h"
#include "kiln.h"

#define KILN_JOBS_MAX_KERNELS 64 /* kernels (regions) in one build */
#define KILN_JOBS_SYM_CAP 32     /* bytes of a kernel's symbol name */

/* Whether the kernels of regions fl[0..n-1] may build in the background:
 * KILN_JIT_ASYNC allows it, KILN_JIT is the default, and the interpreter
 * computes the same bits as the kernels (elementwise values always do; a
 * region folding floats in an order-dependent way builds synchronously,
 * so a function's results never change when its kernel arrives). */
bool kiln__jobs_is_enabled(kiln_fused *const *fl, int n);

/* Both take 1 <= n <= KILN_JOBS_MAX_KERNELS (compile.c interprets larger
 * traces without building). */

/* Builds (or finds in a cache) `source` (len bytes, kernels syms[0..n-1])
 * and publishes each kernel into its region fl[i], counting into inner's
 * statistics; a region without a kernel keeps the interpreter (a one-time
 * notice). Fails only under KILN_JIT=require. */
kiln_status kiln__jobs_build(kiln_fn *inner, kiln_fused **fl, int n,
                             const char *source, size_t len,
                             const char *const *syms);

/* Starts a job building `source` (len bytes, kernels syms[0..n-1]) for
 * regions fl[0..n-1] of function `inner`, and waits up to `wait_ms` for it
 * (*waited: the milliseconds it waited). KILN_OK when the job runs (or
 * already ran); an error when no thread could be started (the caller
 * builds synchronously instead). The job adds its own time to inner's
 * compile_ms when it ends. */
kiln_status kiln__jobs_start(kiln_fn *inner, kiln_fused **fl, int n,
                             const char *source, size_t len,
                             const char *const *syms, int wait_ms,
                             double *waited);

/* Blocks until no job is in flight (tests, exit). */
void kiln__jobs_wait_all(void);

#endif
