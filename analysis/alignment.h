/* alignment.h — paired-stream alignment: retrieval@1 from ring tiles, and per-row cosines
 * (alignment.c). */
#ifndef STRATA_ALIGNMENT_H
#define STRATA_ALIGNMENT_H

#include "analysis/analysis.h"

typedef struct {
    const strata_dataset *ds;
    int n_pairs;
    const int (*pairs)[2];  /* [n_pairs] (item of A, item of B): rows of A query rows of B */
    double *norm;           /* [n_items][n_local] L2 norms of the raw local rows */
    double *best;           /* [n_pairs][n_local] best cosine so far */
    int64_t *best_idx;      /* [n_pairs][n_local] its global row (ties: lower index) */
} strata_retrieval;

void strata_retrieval_init(strata_retrieval *r, const strata_dataset *ds, int n_pairs,
                           const int (*pairs)[2]);
void strata_retrieval_free(strata_retrieval *r);
/* The ring consumer (state = strata_retrieval *). */
void strata_retrieval_tile(void *state, const strata_tile *tile);
/* Cosine between row i of item a and row i of item b (raw rows, double); 0 for a zero row. */
double strata_row_cosine(const float *a, const float *b, int dim);

#endif
