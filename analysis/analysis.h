/* analysis.h — distributed geometry of layer-wise representations (DESIGN.md, Distribution).
 * Each rank holds a row block (samples) of every analysed matrix ("item": one model, stream and
 * layer). Pairwise quantities come from a ring (ring.c): blocks travel rank to rank and every
 * sub-tile's Gram matrices feed the consumers (kNN, CKA, retrieval) in one pass; spectra come
 * from TSQR (tsqr.c); small statistics from MPI_Allreduce. Never an N x N matrix in memory.
 *
 * Call sequence: fill a strata_dataset (same description on every rank, own rows locally),
 * then strata_analysis_run(comm, &ds, &opt, results) — collective; results is the open results
 * file on rank 0 and NULL elsewhere. */
#ifndef STRATA_ANALYSIS_H
#define STRATA_ANALYSIS_H

#include <mpi.h>
#include <stdint.h>

#include "io/results.h"

#define STRATA_NAME_MAX 128

/* One analysed matrix: N x dim rows of (model, stream, layer). */
typedef struct {
    int model, stream;  /* indices into strata_dataset.model_names / stream_names */
    int layer;          /* layer index (0 = embedding output) */
    int dim;            /* hidden size D */
} strata_item;

/* Rows of every item on this rank. Items are ordered model, stream, layer; the rows of item t
 * for a block of n rows lie at data + n * col_offset[t], as [n][dim_t] row-major float32. */
typedef struct {
    int n_models, n_streams;
    char (*model_names)[STRATA_NAME_MAX];  /* [n_models] group names in the results file */
    char (*stream_names)[STRATA_NAME_MAX]; /* [n_streams] */
    int n_items;
    strata_item *items;     /* [n_items] */
    int64_t *col_offset;    /* [n_items + 1] prefix sums of dims */
    int64_t n_total;        /* rows over all ranks */
    int64_t n_local;        /* rows on this rank */
    int64_t row_begin;      /* global index of the first local row */
    float *data;            /* [n_local * col_offset[n_items]] */
} strata_dataset;

enum {
    STRATA_METRIC_SPECTRUM = 1 << 0,
    STRATA_METRIC_ID = 1 << 1,
    STRATA_METRIC_CKA = 1 << 2,
    STRATA_METRIC_OVERLAP = 1 << 3,
    STRATA_METRIC_ALIGNMENT = 1 << 4,
    STRATA_METRIC_CROSS = 1 << 5, /* CKA and overlap between models (same samples) */
    STRATA_METRIC_ALL = (1 << 6) - 1,
};

typedef struct {
    unsigned metrics;       /* STRATA_METRIC_* bits */
    int k_mle;              /* Levina-Bickel neighbours (100) */
    int k_overlap;          /* neighbourhood overlap k (30) */
    int gride_n1;           /* GRIDE read at this n1 (16) */
    int gride_range;        /* GRIDE scaling up to n2 = gride_range (64) */
    double twonn_fraction;  /* fraction of mu kept by TwoNN (0.9, as dadapy) */
    int bootstrap;          /* bootstrap resamples for ID intervals (0: none) */
    uint64_t seed;          /* bootstrap seed */
    int verbose;            /* log bytes sent and timings per rank */
    int cka_route;          /* STRATA_CKA_AUTO (fewest flops), _GRAM (ring tiles), _FEATURE */
} strata_analysis_options;

enum { STRATA_CKA_AUTO = 0, STRATA_CKA_GRAM = 1, STRATA_CKA_FEATURE = 2 };

/* Defaults above. */
void strata_analysis_options_default(strata_analysis_options *opt);
/* Metric names ("spectrum,id,cka,overlap,alignment,cross" or "all") -> bits; -1 on a bad name
 * (strata_error names it). */
int strata_analysis_parse_metrics(const char *list, unsigned *out);

/* Communication counters of this rank (bytes handed to MPI as sender). */
typedef struct {
    int64_t ring_bytes, ring_messages;
    int64_t tsqr_bytes, tsqr_messages;
    int64_t reduce_bytes;
} strata_comm_stats;

/* Run every requested metric and write it to `results` (rank 0). Collective. Returns 0, or -1
 * with strata_error set on every rank (bad parameters such as k >= distinct rows). */
int strata_analysis_run(MPI_Comm comm, const strata_dataset *ds,
                        const strata_analysis_options *opt, strata_results *results,
                        strata_comm_stats *stats);

/* ---- building blocks (used by strata_analysis_run and by the tests) ----------------------- */

/* C[m][n] = A[m][k] * B[n][k]^T, float32 (lda, ldb, ldc row strides). With strata_tile_dgemm
 * (float64, for CKA: float32 tiles round differently with the tile shape, so sums over them
 * would depend on the number of ranks) the only places analysis calls a GEMM. */
void strata_tile_gemm(int m, int n, int k, const float *a, int lda, const float *b, int ldb,
                      float *c, int ldc);
void strata_tile_dgemm(int m, int n, int k, const double *a, int lda, const double *b, int ldb,
                       double *c, int ldc);

/* One sub-tile of the ring: local rows [i0, i1) against rows [j0, j1) of a held block. */
typedef struct {
    const strata_dataset *ds;
    const float *remote;       /* held block data (layout as ds->data with remote_n rows) */
    int64_t remote_n, remote_begin;
    int64_t i0, i1, j0, j1;    /* local and remote row ranges of the sub-tile */
    const float *gram;         /* [n_items][i1-i0][j1-j0] float32 Gram of the centred rows */
    const double *lnorm2;      /* [n_items][i1-i0] squared norms of centred local rows */
    const double *rnorm2;      /* [n_items][j1-j0] squared norms of centred remote rows */
} strata_tile;

typedef void (*strata_tile_fn)(void *state, const strata_tile *tile);

/* The ring: for every held block (own first, then the others as they pass), every sub-tile's
 * centred Grams of all items are computed and every consumer called. mean_f32 [cols] is the
 * global column mean per item (float, subtracted before the GEMM). Collective. */
void strata_ring_run(MPI_Comm comm, const strata_dataset *ds, const float *mean_f32,
                     int n_consumers, const strata_tile_fn *fns, void *const *states,
                     strata_comm_stats *stats);

/* Exact distance between two float32 rows, accumulated in double: ||a - b||^2. */
double strata_dist2_exact(const float *a, const float *b, int dim);
/* sum_k a[k] b[k] in double with a fixed summation order. */
double strata_dot_f64(const double *a, const double *b, int64_t n);

/* ---- intrinsic dimension from neighbour distances (serial, rank 0) ------------------------ */
/* TwoNN from mu = r2/r1 [n] (sorted in place): slope through the origin of -log(1 - i/n)
 * against log(mu_(i)), i = 1 .. floor(n * fraction). */
double strata_id_twonn(double *mu, int64_t n, double fraction);
/* Levina-Bickel local estimates combine: inv_sum [n] = sum_{j<k} log(T_k/T_j) / (k - 1) per
 * point; returns 1/mean(inv) (mle) and mean(1/inv) (*mle_mean). */
double strata_id_mle(const double *inv, int64_t n, double *mle_mean);
/* GRIDE maximum likelihood for ratios mu = r_{n2}/r_{n1} [n] (filtered as dadapy: mu >=
 * q50 + 20 (q95 - q50) dropped); mu is reordered. */
double strata_id_gride(double *mu, int64_t n, int n1, int n2);

/* ---- spectra ------------------------------------------------------------------------------ */
/* Singular values [min(N, D)] of the column-centred N x D matrix held as row blocks (x
 * [n_local][d] float32, mean [d] double), by TSQR with a butterfly over ranks. Result on every
 * rank of the butterfly (rank 0 included). Collective. Returns the count. */
int strata_tsqr_singular_values(MPI_Comm comm, const float *x, int64_t n_local, int d,
                                const double *mean, double *sv, strata_comm_stats *stats);
/* From singular values s [k]: effective rank, participation ratio, PCA-ID at 90%. */
void strata_spectrum_stats(const double *s, int k, double *effective_rank,
                           double *participation_ratio, double *pca_id_90);

#endif
