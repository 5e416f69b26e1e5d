/*
 * bench_files.h - files the benchmarks share: merging their records into
 * one JSON list (bench_json_merge keeps the other benchmarks' records and
 * replaces this one's, named by a prefix) and removing the kernel cache
 * folders they make (bench_remove_tree). Static inline, header-only, like
 * bench_util.h, which it needs first.
 */
#ifndef KILN_BENCH_FILES_H
#define KILN_BENCH_FILES_H

#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

/* Writes rs into the JSON list at path, keeping the records there whose
 * names do not start with prefix (an earlier run of the same benchmark);
 * atomic (written to path.tmp, renamed). 0, or -1 on a write error. */
static inline int bench_json_merge(const bench_records *rs,
                                   const char *path, const char *prefix)
{
    char tmp[4200];
    FILE *in = fopen(path, "r"), *out;
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    bool first = true;
    if (!in) {
        return bench_write_json(rs, path);
    }
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    out = fopen(tmp, "w");
    if (!out) {
        fclose(in);
        return -1;
    }
    fputs("[\n", out);
    while ((len = getline(&line, &cap, in)) > 0) {
        const char *p = line;
        while (len > 0 && strchr("\r\n, ", line[len - 1])) {
            line[--len] = '\0';
        }
        while (*p == ' ') {
            p++;
        }
        if (strncmp(p, "{\"name\": \"", 10) != 0 ||
            strncmp(p + 10, prefix, strlen(prefix)) == 0) {
            continue;
        }
        fprintf(out, "%s  %s", first ? "" : ",\n", p);
        first = false;
    }
    free(line);
    fclose(in);
    for (int i = 0; i < rs->n; i++) {
        const bench_record *r = &rs->items[i];
        fputs(first ? "  {\"name\": " : ",\n  {\"name\": ", out);
        first = false;
        bench_json_string(out, r->name);
        fprintf(out, ", \"ms\": %.4f, \"bytes\": %.0f, \"note\": ", r->ms,
                r->bytes);
        bench_json_string(out, r->note);
        fputs("}", out);
    }
    fputs("\n]\n", out);
    if (fclose(out) != 0 || rename(tmp, path) != 0) {
        remove(tmp);
        return -1;
    }
    return 0;
}

/* Removes dir and what it holds (the kernel cache folders a run made;
 * links are removed, never followed; best effort; "" is a no-op). */
static inline void bench_remove_tree(const char *dir)
{
    DIR *d = dir[0] ? opendir(dir) : NULL;
    struct dirent *e;
    char path[4352];
    struct stat st;
    while (d && (e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) {
            continue;
        }
        int n = snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (n < 0 || (size_t)n >= sizeof path) {
            continue; /* too long to name: left behind */
        }
        if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
            bench_remove_tree(path);
        } else {
            remove(path);
        }
    }
    if (d) {
        closedir(d);
        rmdir(dir);
    }
}

#endif
