/* nll.c — mean caption NLL and its paired change from a baseline, with bootstrap intervals
 * (nll.h). Relies on serial HDF5 and io/results.h; the test reproduces it with numpy
 * (tests/golden/test_analyze_nll.py). */
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/nll.h"
#include "strata.h"

int strata_nll_read(const char *archive, strata_nll_data *d)
{
    memset(d, 0, sizeof *d);
    hid_t f = H5Fopen(archive, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) return strata_error_set("%s: cannot open as HDF5", archive);
    int rc = 0;
    if (H5Lexists(f, "/nll", H5P_DEFAULT) <= 0 || H5Lexists(f, "/nll/caption", H5P_DEFAULT) <= 0) {
        H5Fclose(f);
        return 0;
    }
    hid_t ds = H5Dopen2(f, "/nll/caption", H5P_DEFAULT), sp = H5Dget_space(ds);
    hsize_t n = 0;
    if (H5Sget_simple_extent_ndims(sp) != 1) {
        rc = strata_error_set("%s: /nll/caption is not one-dimensional", archive);
    } else {
        H5Sget_simple_extent_dims(sp, &n, NULL);
        d->n = (int64_t)n;
        d->nll = strata_malloc((size_t)(n + 1) * sizeof(double));
        if (H5Dread(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, d->nll) < 0)
            rc = strata_error_set("%s: cannot read /nll/caption as float64", archive);
    }
    if (rc == 0 && H5Aexists(ds, "interventions") > 0) {
        hid_t at = H5Aopen(ds, "interventions", H5P_DEFAULT), ty = H5Aget_type(at);
        hid_t mt = H5Tcopy(H5T_C_S1);
        H5Tset_cset(mt, H5Tget_cset(ty));
        if (H5Tis_variable_str(ty) > 0) {
            char *v = NULL;
            H5Tset_size(mt, H5T_VARIABLE);
            if (H5Aread(at, mt, &v) >= 0 && v) snprintf(d->interventions, sizeof d->interventions, "%s", v);
            H5free_memory(v);
        } else {
            H5Tset_size(mt, sizeof d->interventions - 1);
            H5Aread(at, mt, d->interventions);
        }
        H5Tclose(mt), H5Tclose(ty), H5Aclose(at);
    }
    if (rc == 0 && H5Aexists(ds, "flops_saved_per_sample") > 0) {
        hid_t at = H5Aopen(ds, "flops_saved_per_sample", H5P_DEFAULT);
        if (H5Aread(at, H5T_NATIVE_DOUBLE, &d->flops_saved) < 0) d->flops_saved = 0;
        H5Aclose(at);
    }
    H5Sclose(sp);
    H5Dclose(ds);
    H5Fclose(f);
    if (rc != 0) {
        free(d->nll);
        d->nll = NULL;
        return -1;
    }
    return 1;
}

/* mean of x [n], and with B > 0 the bootstrap interval into iv[2] */
static double mean_and_interval(const double *x, int64_t n, int B, uint64_t seed, double iv[2])
{
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += x[i];
    iv[0] = iv[1] = NAN;
    if (B > 0 && n > 0) {
        double *means = strata_malloc((size_t)B * sizeof(double)); /* [B] */
        uint64_t state = seed;
        for (int b = 0; b < B; b++) {
            double t = 0;
            for (int64_t i = 0; i < n; i++) t += x[strata_splitmix64(&state) % (uint64_t)n];
            means[b] = t / (double)n;
        }
        iv[0] = strata_percentile(means, B, 2.5);
        iv[1] = strata_percentile(means, B, 97.5);
        free(means);
    }
    return n > 0 ? s / (double)n : NAN;
}

static int write1(strata_results *res, const char *model, const char *name, int n,
                  const double *v)
{
    char path[512];
    snprintf(path, sizeof path, "/%s/nll/%s", model, name);
    int64_t dim = n;
    return strata_results_write(res, path, 1, &dim, v);
}

int strata_nll_write(strata_results *res, const char *model, const strata_nll_data *d,
                     const strata_nll_data *base, const char *base_path, int n_boot,
                     uint64_t seed)
{
    if (base && base->n != d->n)
        return strata_error_set("--nll-baseline %s: %lld samples, the archive of %s has %lld (the "
                                "change needs archives over the same manifest)", base_path,
                                (long long)base->n, model, (long long)d->n);
    double *x = strata_malloc((size_t)(d->n + 1) * sizeof(double)); /* [n] usable values */
    int64_t k = 0;
    for (int64_t i = 0; i < d->n; i++)
        if (isfinite(d->nll[i])) x[k++] = d->nll[i];
    double iv[2], used = (double)k;
    double mean = mean_and_interval(x, k, n_boot, seed, iv);
    int rc = write1(res, model, "mean", 1, &mean);
    if (rc == 0) rc = write1(res, model, "n_used", 1, &used);
    if (rc == 0 && n_boot > 0) rc = write1(res, model, "mean_interval", 2, iv);
    if (rc == 0 && base) {
        k = 0;
        for (int64_t i = 0; i < d->n; i++)
            if (isfinite(d->nll[i]) && isfinite(base->nll[i])) x[k++] = d->nll[i] - base->nll[i];
        double paired = (double)k;
        double delta = mean_and_interval(x, k, n_boot, seed, iv);
        rc = write1(res, model, "delta_mean", 1, &delta);
        if (rc == 0) rc = write1(res, model, "n_paired", 1, &paired);
        if (rc == 0 && n_boot > 0) rc = write1(res, model, "delta_interval", 2, iv);
    }
    free(x);
    char obj[512];
    snprintf(obj, sizeof obj, "/%s/nll", model);
    int64_t nb = n_boot, sd = (int64_t)seed;
    if (rc == 0) rc = strata_results_attr_string(res, obj, "interventions", d->interventions);
    if (rc == 0) rc = strata_results_attr_double(res, obj, "flops_saved_per_sample", 1, &d->flops_saved);
    if (rc == 0) rc = strata_results_attr_string(res, obj, "baseline", base ? base_path : "");
    if (rc == 0) rc = strata_results_attr_int(res, obj, "n_bootstrap", 1, &nb);
    if (rc == 0) rc = strata_results_attr_int(res, obj, "seed", 1, &sd);
    return rc;
}
