/*
 * bench_util.h - small helpers shared by kiln's benchmarks: a monotonic
 * clock, median-of-repetitions timing, page-touched big buffers, and a
 * record list written out as JSON by hand.
 *
 * Header-only (static functions) so each benchmark stays one translation
 * unit built by the Makefile's `build/bench/%` rule. Timing: one untimed
 * warm-up call, then BENCH_REPS timed calls; the median is reported, min and
 * max are kept for the note. Buffers come from mmap with transparent huge
 * pages advised (as kiln's own buffer pool does) and are written once before
 * any timing, so no timed region takes first-touch page faults.
 */
#ifndef KILN_BENCH_UTIL_H
#define KILN_BENCH_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

/* Timed repetitions after the warm-up (KILN_BENCH_REPS overrides, >= 5). */
#define BENCH_REPS 9
#define BENCH_MAX_REPS 101
#define BENCH_MAX_RECORDS 64

static int64_t bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int bench_reps(void)
{
    const char *s = getenv("KILN_BENCH_REPS");
    int r = BENCH_REPS;
    if (s && *s) {
        r = atoi(s);
    }
    if (r < 5) {
        r = 5;
    }
    return r > BENCH_MAX_REPS ? BENCH_MAX_REPS : r;
}

static int bench_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef struct {
    double median_ms;
    double min_ms;
    double max_ms;
    int reps;
} bench_time;

/* Calls fn(ctx) once untimed, then `reps` times timed (bench_reps() when
 * reps <= 0); returns the median, min and max in milliseconds. */
static bench_time bench_run(void (*fn)(void *), void *ctx, int reps)
{
    double t[BENCH_MAX_REPS];
    bench_time r;
    if (reps <= 0) {
        reps = bench_reps();
    }
    reps = reps > BENCH_MAX_REPS ? BENCH_MAX_REPS : reps;
    fn(ctx);
    for (int i = 0; i < reps; i++) {
        int64_t t0 = bench_now_ns();
        fn(ctx);
        t[i] = (double)(bench_now_ns() - t0) * 1e-6;
    }
    qsort(t, (size_t)reps, sizeof t[0], bench_cmp_double);
    r.median_ms = reps % 2 ? t[reps / 2]
                           : 0.5 * (t[reps / 2 - 1] + t[reps / 2]);
    r.min_ms = t[0];
    r.max_ms = t[reps - 1];
    r.reps = reps;
    return r;
}

/* A zeroed, page-touched buffer of nbytes (64-byte aligned, huge pages
 * advised); NULL when out of memory. Free with bench_free. */
static void *bench_alloc(size_t nbytes)
{
    void *p = mmap(NULL, nbytes, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        return NULL;
    }
#ifdef MADV_HUGEPAGE
    madvise(p, nbytes, MADV_HUGEPAGE);
#endif
    memset(p, 0, nbytes);
    return p;
}

static void bench_free(void *p, size_t nbytes)
{
    if (p) {
        munmap(p, nbytes);
    }
}

/* ------------------------------------------------------------------ */
/* records and JSON                                                   */
/* ------------------------------------------------------------------ */

typedef struct {
    char name[64];
    double ms;     /* median */
    double min_ms; /* not written to JSON (it is in the note) */
    double bytes;
    char note[256];
} bench_record;

typedef struct {
    bench_record items[BENCH_MAX_RECORDS];
    int n;
} bench_records;

/* Appends a record (silently drops it when the list is full) and returns
 * it, so the caller can fill in the note later; NULL when full. */
static bench_record *bench_add(bench_records *rs, const char *name,
                               double ms, double bytes)
{
    bench_record *r;
    if (rs->n >= BENCH_MAX_RECORDS) {
        return NULL;
    }
    r = &rs->items[rs->n++];
    snprintf(r->name, sizeof r->name, "%s", name);
    r->ms = ms;
    r->min_ms = ms;
    r->bytes = bytes;
    r->note[0] = '\0';
    return r;
}

static void bench_json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            fputc('\\', f);
            fputc(c, f);
        } else if (c < 0x20) {
            fprintf(f, "\\u%04x", c);
        } else {
            fputc(c, f);
        }
    }
    fputc('"', f);
}

/* Writes the records as a JSON list; returns 0, or -1 when the file
 * cannot be written. */
static int bench_write_json(const bench_records *rs, const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        return -1;
    }
    fputs("[\n", f);
    for (int i = 0; i < rs->n; i++) {
        const bench_record *r = &rs->items[i];
        fputs("  {\"name\": ", f);
        bench_json_string(f, r->name);
        fprintf(f, ", \"ms\": %.4f, \"bytes\": %.0f, \"note\": ", r->ms,
                r->bytes);
        bench_json_string(f, r->note);
        fputs(i + 1 < rs->n ? "},\n" : "}\n", f);
    }
    fputs("]\n", f);
    return fclose(f) == 0 ? 0 : -1;
}

#endif
