/* probe_run.h — ridge probes inside `strata analyze --probe LABELS`: labels come from the
 * manifest's extra fields (aligned to the archive by sample id), every (model, stream, layer)
 * of the analysis dataset is probed for every label, and the scores go to the results file:
 *   /<model>/<stream>/probe/<label>/score      [L] accuracy (classify) or R^2 (regress),
 *                                              mean over the outer folds
 *   /<model>/<stream>/probe/<label>/score_std  [L] population std over the outer folds
 *   /<model>/<stream>/probe/<label>/fold_score [L, K]
 *   /<model>/<stream>/probe/<label>/alpha      [L, K] ridge strength chosen per outer fold
 *   attrs on .../probe/<label>: kind ("classify"|"regress"), classes (one per line),
 *   n_folds, n_inner_folds, seed, alphas, n_used
 * A label whose values are strings or booleans is a class label (classes sorted by name); one
 * with numbers is regressed. Samples without the label are left out of that label's probe. */
#ifndef STRATA_PROBE_RUN_H
#define STRATA_PROBE_RUN_H

#include <mpi.h>
#include <stdint.h>

#include "analysis/analysis.h"
#include "analysis/probe.h"
#include "io/results.h"

typedef struct {
    char name[64];
    strata_probe_kind kind;
    int n_classes;
    char **classes;    /* [n_classes] sorted names (classify) */
    int32_t *class_of; /* [n_samples] class index or -1 (classify) */
    double *value;     /* [n_samples] value or NaN (regress) */
} strata_probe_label;

/* Reads the labels named in the comma list `names` from the manifest at `path` for the
 * n_samples samples whose ids are `ids` (the archive's, matched by id). NULL with strata_error
 * naming the manifest and the label when a label is absent from every sample, has mixed
 * types, or has fewer than two classes. */
strata_probe_label *strata_probe_labels_load(const char *path, const char *names, int64_t n_samples,
                                             char *const *ids, int *n_labels);
void strata_probe_labels_free(strata_probe_label *labels, int n_labels);

/* Collective: probes every item of ds (rows are the samples sample_of[0..n_local) of this
 * rank) for every label; rank 0 writes into res. 0, or -1 with strata_error on every rank. */
int strata_probe_analyze(MPI_Comm comm, const strata_dataset *ds, const int64_t *sample_of,
                         const strata_probe_label *labels, int n_labels,
                         const strata_probe_options *opt, strata_results *res);

#endif
