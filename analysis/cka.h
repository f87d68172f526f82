/* cka.h — linear CKA (biased and unbiased HSIC) between item pairs, from ring tiles (cka.c).
 * The consumer computes its own float64 Gram tiles from the raw rows (see strata_tile_dgemm). */
#ifndef STRATA_CKA_H
#define STRATA_CKA_H

#include "analysis/analysis.h"

typedef struct {
    const strata_dataset *ds;
    int n_pairs;
    const int (*pairs)[2];  /* [n_pairs] item pairs; every item used must also have (t, t) */
    const double *mean;     /* [cols] global column means (double) */
    int *used;              /* [n_items] 1 if some pair uses the item */
    double *sum_kl;         /* [n_pairs] <K_a, K_b> over the tiles seen by this rank */
    double *rowsum;         /* [n_items][n_local] row sums of each item's Gram */
    double *diag;           /* [n_items][n_local] Gram diagonal */
} strata_cka;

void strata_cka_init(strata_cka *c, const strata_dataset *ds, int n_pairs, const int (*pairs)[2],
                     const double *mean);
void strata_cka_free(strata_cka *c);
/* The ring consumer (state = strata_cka *). */
void strata_cka_tile(void *state, const strata_tile *tile);
/* Collective: reduce and form CKA per pair. self_pair[t] = index of the pair (t, t).
 * biased/unbiased [n_pairs] on every rank. */
void strata_cka_finish(MPI_Comm comm, const strata_cka *c, const int *self_pair, double *biased,
                       double *unbiased, int64_t *reduce_bytes);

/* Collective, without the ring: the same biased/unbiased CKA from float64 cross products
 * Xa'Xb (Da x Db, allreduced) of the rows centred by mean [cols]; cheaper when N > D. */
void strata_cka_feature(MPI_Comm comm, const strata_dataset *ds, const double *mean, int n_pairs,
                        const int (*pairs)[2], const int *self_pair, double *biased,
                        double *unbiased, int64_t *reduce_bytes);

#endif
