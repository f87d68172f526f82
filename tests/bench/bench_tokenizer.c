/* bench_tokenizer.c — tokens/s of strata's tokenizer on a corpus (one text per line), one
 * thread, as bench_tokenizer.py measures the `tokenizers` library on the same lines.
 *   bench_tokenizer TOKENIZER.json CORPUS.txt RUNS
 * Prints one JSON line: {"tokens": T, "lines": L, "seconds": [wall, per run], "cpu_seconds":
 * [process CPU time, per run], "median_tokens_per_s": R, "median_cpu_tokens_per_s": C}
 * (CPU time because the shared machines this runs on are oversubscribed).
 * Every run encodes every line with add_special_tokens; the tokenizer (and its word cache)
 * lives across runs, as the library's does. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "io/tokenizer.h"
#include "strata.h"

static double cpu_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: bench_tokenizer TOKENIZER.json CORPUS.txt RUNS\n");
        return 2;
    }
    strata_tokenizer *tok = strata_tokenizer_load(argv[1]);
    if (!tok) {
        fprintf(stderr, "%s\n", strata_error_get());
        return 1;
    }
    size_t len;
    char *text = strata_read_file(argv[2], &len);
    if (!text) {
        fprintf(stderr, "%s\n", strata_error_get());
        return 1;
    }
    /* lines: split in place */
    size_t n_lines = 0, cap = 1024;
    char **lines = malloc(cap * sizeof *lines);
    for (char *p = text; p < text + len;) {
        char *nl = memchr(p, '\n', (size_t)(text + len - p));
        if (!nl) nl = text + len;
        *nl = '\0';
        if (n_lines == cap) lines = realloc(lines, (cap *= 2) * sizeof *lines);
        lines[n_lines++] = p;
        p = nl + 1;
    }
    int runs = atoi(argv[3]);
    if (runs < 1) runs = 1;
    double *secs = malloc((size_t)runs * sizeof *secs), *cpu = malloc((size_t)runs * sizeof *cpu);
    long tokens = 0;
    for (int r = 0; r < runs; r++) {
        tokens = 0;
        double t0 = strata_now(), c0 = cpu_now();
        for (size_t i = 0; i < n_lines; i++) {
            int32_t *ids;
            int n;
            if (strata_tokenizer_encode(tok, lines[i], 1, &ids, &n) == 0) tokens += n;
            free(ids);
        }
        secs[r] = strata_now() - t0;
        cpu[r] = cpu_now() - c0;
    }
    printf("{\"tokens\": %ld, \"lines\": %zu, \"seconds\": [", tokens, n_lines);
    for (int r = 0; r < runs; r++) printf(r ? ", %.6f" : "%.6f", secs[r]);
    printf("], \"cpu_seconds\": [");
    for (int r = 0; r < runs; r++) printf(r ? ", %.6f" : "%.6f", cpu[r]);
    qsort(secs, (size_t)runs, sizeof *secs, cmp_double);
    qsort(cpu, (size_t)runs, sizeof *cpu, cmp_double);
    printf("], \"median_tokens_per_s\": %.1f, \"median_cpu_tokens_per_s\": %.1f}\n",
           (double)tokens / secs[runs / 2], (double)tokens / cpu[runs / 2]);
    free(secs);
    free(cpu);
    free(lines);
    free(text);
    strata_tokenizer_free(tok);
    return 0;
}
