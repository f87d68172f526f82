/* extract_plan.c — which samples each rank runs in each collective round (extract.h): pending
 * samples in contiguous, balanced blocks per rank, cut into batches. Pure arithmetic, the same
 * on every rank, so no communication is needed to agree on it. */
#include <stdlib.h>
#include <string.h>

#include "extract.h"
#include "strata.h"

int strata_extract_plan_make(const int8_t *status, int64_t n_samples, int n_ranks, int batch,
                             strata_extract_plan *plan)
{
    memset(plan, 0, sizeof *plan);
    if (n_ranks < 1 || batch < 1 || n_samples < 0)
        return strata_error_set("extract plan: need ranks >= 1, batch >= 1 (got %d, %d)",
                                n_ranks, batch);
    /* pending [n_pending]: manifest indices still to run, ascending */
    int64_t *pending = strata_malloc((size_t)(n_samples > 0 ? n_samples : 1) * sizeof *pending);
    int64_t n_pending = 0;
    for (int64_t i = 0; i < n_samples; i++)
        if (!status || status[i] == STRATA_SAMPLE_PENDING) pending[n_pending++] = i;

    /* First pass: count the runs of every rank; the plan has as many rounds as the most. */
    int n_rounds = 0;
    for (int pass = 0; pass < 2; pass++) {
        for (int r = 0; r < n_ranks; r++) {
            int64_t lo = n_pending * r / n_ranks, hi = n_pending * (r + 1) / n_ranks;
            int round = 0;
            for (int64_t p = lo; p < hi;) {
                int64_t q = p + 1; /* extend the run while consecutive and under the batch */
                while (q < hi && q - p < batch && pending[q] == pending[q - 1] + 1) q++;
                if (pass == 1) {
                    strata_sample_range *w = &plan->work[(int64_t)round * n_ranks + r];
                    w->begin = pending[p];
                    w->end = pending[q - 1] + 1;
                }
                round++;
                p = q;
            }
            if (pass == 0 && round > n_rounds) n_rounds = round;
        }
        if (pass == 0) {
            plan->n_ranks = n_ranks;
            plan->n_rounds = n_rounds;
            plan->n_pending = n_pending;
            /* [n_rounds][n_ranks], empty ranges by default (begin == end == 0) */
            plan->work = strata_calloc((size_t)(n_rounds > 0 ? n_rounds : 1) * (size_t)n_ranks,
                                       sizeof *plan->work);
        }
    }
    free(pending);
    return 0;
}

void strata_extract_plan_free(strata_extract_plan *plan)
{
    free(plan->work);
    memset(plan, 0, sizeof *plan);
}
