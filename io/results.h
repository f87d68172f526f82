/* results.h — the analysis results file, format version 1 (DESIGN.md, "Results file"), written
 * by rank 0 of `strata analyze` with the serial HDF5 driver, read by `strata figures`,
 * `strata inspect` and h5py. Every dataset is float64; every number a figure shows is here.
 *
 * Exact layout (L = number of analysed layers of a stream, in the order of its `layers` attr;
 * <model> = the archive's model name with '/' replaced by '_' (original in attr model_name);
 * <A>__<B> = two stream names joined by a double underscore, A before B in the order image*,
 * vision, connector, caption*, then other streams as the archive lists them):
 *
 * /  attrs: format="strata-results" (string), format_version=1 (int64), strata_version,
 *           created_utc, command_line, inputs ("path sha256 manifest_sha256" per line),
 *           metrics (comma list), n_ranks (int64)
 * /<model>                         attrs: model_name, archive, manifest_sha256 (strings),
 *                                  n_samples (manifest), n_used (rows analysed),
 *                                  n_excluded_status, n_excluded_nonfinite, n_excluded_subsample
 * /<model>/<stream>                group; attrs: layers (int64 [L], layer indices),
 *                                  hidden_size (int64), pool (string), num_layers (int64: the
 *                                  layer count of the tower the stream comes from, from the
 *                                  archive's config.json; absent when it does not say; figures
 *                                  draw depth = layer / num_layers)
 *   spectrum                [L, K]  singular values of the centred N x D matrix, descending,
 *                                   K = min(N, D)           (metric "spectrum")
 *   explained_variance      [L, K]  s_k^2 / sum s^2
 *   effective_rank          [L]     exp(entropy of s_k / sum s) (Roy & Vetterli 2007)
 *   participation_ratio     [L]     (sum s^2)^2 / sum s^4
 *   pca_id_90               [L]     fewest components explaining >= 90% of the variance
 *   id/twonn                [L]     TwoNN (Facco et al. 2017), linear fit through the origin
 *                                   over the smallest fraction (attr fraction, 0.9) of mu
 *   id/mle                  [L]     Levina-Bickel at k (attr k), combined as the inverse of the
 *                                   mean inverse (MacKay & Ghahramani; scikit-dimension's default)
 *   id/mle_mean             [L]     same local estimates, arithmetic mean (Levina & Bickel 2004)
 *   id/gride                [L]     GRIDE (Denti et al. 2022) read at n1 = attr n1 (n2 = 2 n1)
 *   id/gride_scaling        [L, S]  GRIDE at n1 = attr n1 [S] (1, 2, 4, ...), n2 = 2 n1
 *   id/gride_scaling_r      [L, S]  mean of the n1-th and n2-th neighbour distances (the scale)
 *   id/<estimator>_interval [L, 2]  bootstrap percentile interval (2.5%, 97.5%), only with
 *                                   --bootstrap B (attrs n_bootstrap, seed)
 *   id/n_duplicates         [L]     rows removed as exact duplicates of an earlier row
 *   id/n_zero_distance      [L]     rows dropped for a zero nearest-neighbour distance
 *   norms                   [L]     mean L2 norm of the rows                (metric "alignment")
 *   consecutive_cosine      [L, 4]  mean cosine between a row at layer l and at layer l+s,
 *                                   s = attr steps (1, 2, 4, 8); NaN where l+s is not analysed
 * /<model>/cka/<A>__<B>            [LA, LB] linear CKA, biased HSIC (attr hsic="biased");
 *                                  A == B within a stream. Zero-variance layer: CKA = 0.
 * /<model>/cka_unbiased/<A>__<B>   [LA, LB] linear CKA with Song et al. (2012)'s unbiased HSIC
 * /<model>/overlap/<A>__<B>        [L] neighbourhood overlap at k (attr k) between streams A != B
 *                                  at the same layer position (only when LA == LB): mean over
 *                                  rows of |kNN_A ∩ kNN_B| / k (dadapy's data overlap); rows
 *                                  that are duplicates in either matrix are left out
 * /<model>/overlap_matrix/<A>__<B> [LA, LB] overlap between every layer pair (A == B included)
 * /<model>/alignment/<A>__<B>/cosine_mean, cosine_median, retrieval_at_1   [L] each
 *                                  (paired streams with equal hidden size and layers;
 *                                  retrieval: fraction of rows of A whose most cosine-similar
 *                                  row of B is its own pair)
 * /cross/<mA>__<mB>/cka/<stream>           [LA, LB] biased linear CKA between two models
 * /cross/<mA>__<mB>/cka_unbiased/<stream>  [LA, LB]
 * /cross/<mA>__<mB>/overlap/<stream>       [LA, LB] neighbourhood overlap at k
 * /<model>/nll/...                 mean caption NLL and its change from --nll-baseline, for
 *                                  archives made with `strata extract --nll` (analysis/nll.h)
 *
 * Writer: the file is written as "<path>.partial" and renamed by strata_results_close(). */
#ifndef STRATA_RESULTS_H
#define STRATA_RESULTS_H

#include <stdint.h>

#define STRATA_RESULTS_FORMAT "strata-results"
#define STRATA_RESULTS_VERSION 1

typedef struct strata_results strata_results;

/* Create "<path>.partial" (serial HDF5, call on one process). Writes the format attributes.
 * NULL with strata_error set. */
strata_results *strata_results_create(const char *path);
/* Write a float64 dataset at an absolute path ("/m/image/id/twonn"); missing groups are created.
 * rank 1 or 2; dims [rank]. Returns 0 or -1 with strata_error set. */
int strata_results_write(strata_results *r, const char *path, int rank, const int64_t *dims,
                         const double *data);
/* Attributes on an existing object (group or dataset); the group is created if missing. */
int strata_results_attr_string(strata_results *r, const char *obj, const char *name,
                               const char *value);
int strata_results_attr_int(strata_results *r, const char *obj, const char *name, int n,
                            const int64_t *values);
int strata_results_attr_double(strata_results *r, const char *obj, const char *name, int n,
                               const double *values);
/* Close and rename "<path>.partial" to "<path>". Frees r. Returns 0 or -1. */
int strata_results_close(strata_results *r);
/* Close without renaming (an error happened); the .partial is removed. Frees r. */
void strata_results_abort(strata_results *r);

/* ---- reading ------------------------------------------------------------------------------ */
/* Read a float64 dataset (any rank <= 4). *data is malloc'ed [prod dims]; *rank and dims set.
 * Checks the file's format attribute. Returns 0 or -1 with strata_error naming file and path. */
int strata_results_read(const char *file, const char *path, int *rank, int64_t dims[4],
                        double **data);

#endif
