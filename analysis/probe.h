/* probe.h — linear probes per layer: ridge regression and one-vs-rest ridge classification with
 * k-fold cross-validation and the ridge strength chosen by inner cross-validation, solved from
 * distributed normal equations (each rank holds a row block; X^T X, X^T Y and the sums are
 * MPI_Allreduce'd; LAPACKE Cholesky solve). Follows scikit-learn's Ridge / RidgeClassifier
 * (fit_intercept=True: centre X and Y on the training rows; classifier targets in {-1, +1},
 * one column per class, a single column for two classes; predict argmax / sign), so that scores
 * equal sklearn's with the same folds and alpha. */
#ifndef STRATA_PROBE_H
#define STRATA_PROBE_H

#include <mpi.h>
#include <stdint.h>

typedef enum { STRATA_PROBE_CLASSIFY = 0, STRATA_PROBE_REGRESS = 1 } strata_probe_kind;

typedef struct {
    strata_probe_kind kind;
    int n_folds;          /* outer folds (2..100), default 5 */
    int n_inner_folds;    /* inner folds for choosing alpha (2..100), default 3 */
    int n_alphas;         /* grid size (>= 1); with one alpha there is no inner CV */
    const double *alphas; /* [n_alphas] ridge strengths > 0, tried in order (ties: first) */
    uint64_t seed;        /* fold assignment seed */
} strata_probe_options;

/* Per-rank input: this rank's row block of one layer. */
typedef struct {
    int64_t n_total;      /* global number of rows (samples) */
    int64_t row_begin;    /* first global row held here */
    int64_t n_local;      /* rows held here */
    int dim;              /* D */
    const float *x;       /* [n_local][dim] */
    /* classify: class index 0..n_classes-1, or -1 = no label (excluded);
     * regress: value, NaN = no label (excluded). */
    const int32_t *class_of; /* [n_local], classify */
    const double *value;     /* [n_local], regress */
    int n_classes;           /* classify: number of classes (>= 2) */
} strata_probe_data;

typedef struct {
    double score_mean;    /* accuracy or R^2, mean over outer folds */
    double score_std;     /* population std over outer folds */
    double *fold_score;   /* [n_folds] */
    double *fold_alpha;   /* [n_folds] alpha chosen for each outer fold */
    int64_t n_used;       /* labelled rows */
} strata_probe_result;

/* Fold of every global row for the given seed: fold_out [n_total], -1 for unlabelled rows
 * (labelled [n_total], 1 = has a label). A seeded permutation of the labelled rows; row at
 * permutation position p gets fold p % n_folds. Rank-independent. */
void strata_probe_folds(const uint8_t *labelled, int64_t n_total, int n_folds, uint64_t seed,
                        int8_t *fold_out);
/* Inner folds for outer fold k: the training rows (fold != k, != -1) in row order get inner
 * fold j % n_inner for the j-th of them after a seeded permutation; -1 elsewhere. */
void strata_probe_inner_folds(const int8_t *fold, int64_t n_total, int k, int n_inner,
                              uint64_t seed, int8_t *inner_out);

/* Collective over comm: cross-validated probe of one layer. Returns 0, or -1 with
 * strata_error set (bad options, too few labelled rows, a system that is not positive
 * definite). Free with strata_probe_result_free. */
int strata_probe_run(MPI_Comm comm, const strata_probe_data *data,
                     const strata_probe_options *opt, strata_probe_result *res);
void strata_probe_result_free(strata_probe_result *res);

#endif
