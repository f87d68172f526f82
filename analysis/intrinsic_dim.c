/* intrinsic_dim.c — intrinsic-dimension estimators from nearest-neighbour distances, serial
 * (rank 0 after a gather). Definitions: TwoNN (Facco et al. 2017, Sci. Rep. 7:12140) with
 * the empirical CDF i/N and the largest mu discarded as dadapy's compute_id_2NN;
 * Levina & Bickel (2004) MLE, combined as MacKay & Ghahramani's inverse of the mean inverse
 * (scikit-dimension's default) or as the plain mean; GRIDE (Denti et al. 2022, Sci. Rep.
 * 12:20005): maximum likelihood of d for mu = r_{n2}/r_{n1}, with the (N-1)/d form and the
 * outlier cut mu < q50 + 20 (q95 - q50) that dadapy uses. */
#include <math.h>
#include <stdlib.h>

#include "analysis/analysis.h"

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

double strata_id_twonn(double *mu, int64_t n, double fraction)
{
    if (n < 2) return NAN;
    qsort(mu, (size_t)n, sizeof(double), cmp_double);
    int64_t n_eff = (int64_t)((double)n * fraction);
    double sxy = 0.0, sxx = 0.0;
    for (int64_t i = 0; i < n_eff; i++) {
        double x = log(mu[i]);
        double y = -log(1.0 - (double)(i + 1) / (double)n);
        sxy += x * y;
        sxx += x * x;
    }
    return sxx > 0 ? sxy / sxx : NAN;
}

double strata_id_mle(const double *inv, int64_t n, double *mle_mean)
{
    double s_inv = 0.0, s_est = 0.0;
    for (int64_t i = 0; i < n; i++) {
        s_inv += inv[i];
        s_est += 1.0 / inv[i];
    }
    *mle_mean = n ? s_est / (double)n : NAN;
    return n ? (double)n / s_inv : NAN;
}

/* numpy.percentile's default (linear) on sorted data. */
static double percentile_sorted(const double *a, int64_t n, double p)
{
    double pos = p / 100.0 * (double)(n - 1);
    int64_t lo = (int64_t)floor(pos);
    if (lo >= n - 1) return a[n - 1];
    double frac = pos - (double)lo;
    return a[lo] + frac * (a[lo + 1] - a[lo]);
}

/* Derivative of the negative log-likelihood in d (increasing in d). */
static double gride_dneg(double d, const double *mu, int64_t n, int n1, int n2)
{
    double s = 0.0;
    for (int64_t i = 0; i < n; i++) {
        double lm = log(mu[i]);
        double one_m = 1.0 - exp(-d * lm);
        if (one_m < 2 * 2.220446049250313e-16) one_m = 2 * 2.220446049250313e-16;
        s += ((double)(1 - n2 + n1) / one_m + n2 - 1.0) * lm;
    }
    return s - (double)(n - 1) / d;
}

double strata_id_gride(double *mu, int64_t n, int n1, int n2)
{
    if (n < 2) return NAN;
    for (int64_t i = 0; i < n; i++)
        if (mu[i] == 1.0) mu[i] += 10 * 2.220446049250313e-16;
    qsort(mu, (size_t)n, sizeof(double), cmp_double);
    double q95 = percentile_sorted(mu, n, 95), q50 = percentile_sorted(mu, n, 50);
    double mu_max = 20 * (q95 - q50) + q50;
    int64_t kept = 0;
    while (kept < n && mu[kept] < mu_max) kept++;
    double d0 = 1e-3, d1 = 1e3;
    double f1 = gride_dneg(d1, mu, kept, n1, n2);
    /* Bisection to the double precision of the root (dadapy stops at 1e-7). */
    for (int it = 0; it < 200 && d1 - d0 > 1e-13 * d1; it++) {
        double dm = 0.5 * (d0 + d1);
        double fm = gride_dneg(dm, mu, kept, n1, n2);
        if (fm * f1 > 0) {
            d1 = dm;
            f1 = fm;
        } else {
            d0 = dm;
        }
    }
    return 0.5 * (d0 + d1);
}
