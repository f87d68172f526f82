/* knn.h — exact k nearest neighbours of every row of every item, accumulated from ring tiles
 * (knn.c). Used by intrinsic dimension and neighbourhood overlap (analyze.c). */
#ifndef STRATA_KNN_H
#define STRATA_KNN_H

#include "analysis/analysis.h"

typedef struct {
    const strata_dataset *ds;
    int k;
    const uint8_t *dup;  /* [n_items][n_total] 1 = duplicate row, excluded (owned by caller) */
    double *d2;          /* [n_items][n_local][k] squared distances (heap, sorted after _sort) */
    int64_t *idx;        /* [n_items][n_local][k] global row indices */
    int *count;          /* [n_items][n_local] entries held (k unless the row is a duplicate) */
} strata_knn;

void strata_knn_init(strata_knn *knn, const strata_dataset *ds, int k, const uint8_t *dup);
void strata_knn_free(strata_knn *knn);
/* The ring consumer (state = strata_knn *). */
void strata_knn_tile(void *state, const strata_tile *tile);
/* After the ring: sort every row's neighbours by (distance, index). */
void strata_knn_sort(strata_knn *knn);
/* Sum over local rows (not duplicates in either item) of |NN_k(a) ∩ NN_k(b)| / k and the count
 * of rows; the caller allreduces. */
void strata_knn_overlap_local(const strata_knn *knn, int item_a, int item_b, int k, double *sum,
                              int64_t *n_rows);

#endif
