/* nll.h — `strata analyze` on the per-sample caption NLL that `strata extract --nll` stores in
 * /nll/caption (issue 10): mean NLL per archive and its paired change from a baseline archive
 * (--nll-baseline), with percentile bootstrap intervals. Rank 0 only; the vectors are small.
 *
 * Results (io/results.h conventions, all float64):
 *   /<model>/nll            attrs interventions, flops_saved_per_sample (the archive's, from
 *                           extract's estimate), baseline (path or ""), n_bootstrap, seed
 *   /<model>/nll/mean       [1] mean over samples with a finite NLL (status ok)
 *   /<model>/nll/n_used     [1] those samples
 *   /<model>/nll/mean_interval   [2] bootstrap percentile interval (2.5%, 97.5%), with B > 0
 *   /<model>/nll/delta_mean      [1] mean over samples finite in both of (nll - baseline nll)
 *   /<model>/nll/n_paired        [1]
 *   /<model>/nll/delta_interval  [2] paired bootstrap (the same resampled samples in both)
 * Bootstrap: state = seed; resample b draws n indices splitmix64(state) % n (Steele et al. 2014,
 * state advanced by 0x9e3779b97f4a7c15 per draw), b = 0..B-1 in order; the interval is numpy's
 * default (linear) percentile of the B resampled means. */
#ifndef STRATA_NLL_H
#define STRATA_NLL_H

#include <stddef.h>
#include <stdint.h>

#include "io/results.h"

typedef struct {
    double *nll;             /* [n] NaN where none */
    int64_t n;
    char interventions[1024];
    double flops_saved;      /* the archive's flops_saved_per_sample (0 if absent) */
} strata_nll_data;

/* Reads /nll/caption of an archive (serial HDF5). 1 when present, 0 when the archive has
 * none, -1 with strata_error (unreadable, wrong type or shape). Free d->nll. */
int strata_nll_read(const char *archive, strata_nll_data *d);
/* Writes /<model>/nll/... for d (and its change from base when base != NULL; base must have
 * the same number of samples). n_boot 0: no intervals. 0 or -1 with strata_error. */
int strata_nll_write(strata_results *res, const char *model, const strata_nll_data *d,
                     const strata_nll_data *base, const char *base_path, int n_boot,
                     uint64_t seed);

#endif
