/* test_extract_plan.c — the round plan of the extract driver (pipeline/extract_plan.c) obeys
 * its contract for many sizes, rank counts, batches and resume patterns: every pending sample
 * exactly once and no finished one; runs of consecutive samples, at most `batch` long; rank
 * blocks in manifest order and balanced by count; rounds = the longest rank's number of runs. */
#include <stdlib.h>
#include <string.h>

#include "extract.h"
#include "strata.h"
#include "testlib.h"

static void check_plan(const int8_t *status, int64_t n, int ranks, int batch)
{
    strata_extract_plan plan;
    T_CHECK(strata_extract_plan_make(status, n, ranks, batch, &plan) == 0, "plan n=%lld",
            (long long)n);
    int *seen = calloc((size_t)n + 1, sizeof *seen);
    int64_t pending = 0, *per_rank = calloc((size_t)ranks, sizeof *per_rank);
    for (int64_t i = 0; i < n; i++) pending += !status || status[i] == STRATA_SAMPLE_PENDING;
    T_CHECK(plan.n_pending == pending, "n_pending %lld, want %lld", (long long)plan.n_pending,
            (long long)pending);
    int64_t last_of_rank_before = -1;
    int max_runs = 0;
    for (int r = 0; r < ranks; r++) {
        int64_t prev_end = -1, first = -1, last = -1;
        int runs = 0, ended = 0;
        for (int k = 0; k < plan.n_rounds; k++) {
            strata_sample_range w = strata_extract_plan_work(&plan, k, r);
            if (w.begin == w.end) {
                ended = 1; /* a rank's runs come first, then only empty rounds */
                continue;
            }
            T_CHECK(!ended, "rank %d has work in round %d after an empty round", r, k);
            T_CHECK(w.begin < w.end && w.end - w.begin <= batch, "run [%lld,%lld) batch %d",
                    (long long)w.begin, (long long)w.end, batch);
            T_CHECK(w.begin >= prev_end, "rank %d runs not ascending", r);
            for (int64_t i = w.begin; i < w.end && i < n; i++) {
                seen[i]++;
                T_CHECK(!status || status[i] == STRATA_SAMPLE_PENDING, "finished sample %lld "
                        "planned again", (long long)i);
            }
            if (first < 0) first = w.begin;
            last = w.end - 1;
            per_rank[r] += w.end - w.begin;
            prev_end = w.end;
            runs++;
        }
        if (runs > max_runs) max_runs = runs;
        if (first >= 0) {
            T_CHECK(first > last_of_rank_before, "rank %d block starts before rank %d's ends", r,
                    r - 1);
            last_of_rank_before = last;
        }
    }
    T_CHECK(plan.n_rounds == max_runs, "n_rounds %d, longest rank has %d", plan.n_rounds,
            max_runs);
    for (int64_t i = 0; i < n; i++)
        if ((!status || status[i] == STRATA_SAMPLE_PENDING) && seen[i] != 1) {
            T_CHECK(0, "sample %lld planned %d times (n=%lld ranks=%d batch=%d)", (long long)i,
                    seen[i], (long long)n, ranks, batch);
            break;
        }
    int64_t lo = pending / ranks, hi = (pending + ranks - 1) / ranks;
    for (int r = 0; r < ranks; r++)
        T_CHECK(per_rank[r] >= lo && per_rank[r] <= hi, "rank %d has %lld samples, want %lld..%lld",
                r, (long long)per_rank[r], (long long)lo, (long long)hi);
    /* a fresh plan: every rank's block cut into full batches, so rounds = ceil(block / batch) */
    if (!status) {
        int64_t block = (n + ranks - 1) / ranks;
        T_CHECK(plan.n_rounds == (block + batch - 1) / batch, "fresh plan n=%lld ranks=%d "
                "batch=%d: %d rounds", (long long)n, ranks, batch, plan.n_rounds);
    }
    free(seen);
    free(per_rank);
    strata_extract_plan_free(&plan);
}

int main(void)
{
    int64_t sizes[] = {0, 1, 2, 3, 7, 64, 100, 1001};
    int ranks[] = {1, 2, 3, 5, 8};
    int batches[] = {1, 3, 4, 8, 64};
    for (size_t a = 0; a < sizeof sizes / sizeof *sizes; a++)
        for (size_t b = 0; b < sizeof ranks / sizeof *ranks; b++)
            for (size_t c = 0; c < sizeof batches / sizeof *batches; c++) {
                int64_t n = sizes[a];
                check_plan(NULL, n, ranks[b], batches[c]);
                /* resume patterns: a killed run leaves a done prefix of every old rank's block,
                 * plus scattered finished/failed samples */
                int8_t *st = calloc((size_t)n + 1, 1);
                for (int64_t i = 0; i < n; i++) {
                    int64_t old_block = (n + 2) / 3;
                    if (i % old_block < old_block / 2) st[i] = STRATA_SAMPLE_OK;
                    if (i % 7 == 3) st[i] = STRATA_SAMPLE_FAILED;
                }
                check_plan(st, n, ranks[b], batches[c]);
                memset(st, STRATA_SAMPLE_OK, (size_t)n); /* all done: nothing to plan */
                strata_extract_plan plan;
                strata_extract_plan_make(st, n, ranks[b], batches[c], &plan);
                T_CHECK(plan.n_rounds == 0 && plan.n_pending == 0, "all done: %d rounds",
                        plan.n_rounds);
                strata_extract_plan_free(&plan);
                free(st);
            }
    strata_extract_plan p;
    T_CHECK(strata_extract_plan_make(NULL, 10, 2, 0, &p) < 0 && t_contains(strata_error_get(),
            "batch"), "batch 0 refused: %s", strata_error_get());
    return t_finish("test_extract_plan");
}
