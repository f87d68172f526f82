/* tsqr.c — singular values of a column-centred, row-distributed N x D matrix by TSQR
 * (Demmel et al. 2012): local QR of the centred row block (LAPACKE_dgeqrf, double), a butterfly
 * over the ranks that stacks two R factors and re-factors them (log2 P exchanges of at most
 * D x D), and the SVD of the last R (LAPACKE_dgesdd, values only). Ranks beyond the largest
 * power of two first hand their R to a partner. Spectrum statistics follow Roy & Vetterli
 * (2007) for the effective rank and the usual (sum l)^2 / sum l^2 participation ratio. */
#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/analysis.h"
#include "strata.h"

/* QR of a [m][d] row-major (overwritten); R (upper trapezoid, r = min(m, d) rows) to out. */
static int qr_r(double *a, int m, int d, double *out)
{
    int r = m < d ? m : d;
    if (m == 0) return 0;
    double *tau = strata_malloc((size_t)(r + 1) * sizeof(double));
    int info = LAPACKE_dgeqrf(LAPACK_ROW_MAJOR, m, d, a, d, tau);
    if (info != 0) strata_fatal("LAPACKE_dgeqrf failed (info %d) on a %d x %d block", info, m, d);
    free(tau);
    for (int i = 0; i < r; i++)
        for (int j = 0; j < d; j++) out[(size_t)i * d + j] = j < i ? 0.0 : a[(size_t)i * d + j];
    return r;
}

/* Stack R (r rows) with a partner's, lower rank on top, and re-factor into R. */
static int exchange_and_merge(MPI_Comm comm, int partner, int me_on_top, double *R, int r, int d,
                              double *work, strata_comm_stats *stats, int send_only)
{
    int pr = 0;
    if (send_only) {
        STRATA_CHECK_MPI(MPI_Send(&r, 1, MPI_INT, partner, 7, comm));
        STRATA_CHECK_MPI(MPI_Send(R, r * d, MPI_DOUBLE, partner, 8, comm));
        stats->tsqr_bytes += (int64_t)r * d * 8;
        stats->tsqr_messages++;
        return r;
    }
    STRATA_CHECK_MPI(MPI_Sendrecv(&r, 1, MPI_INT, partner, 7, &pr, 1, MPI_INT, partner, 7, comm,
                                  MPI_STATUS_IGNORE));
    double *other = work + (size_t)d * d; /* work: [2d][d] stack + [d][d] partner */
    STRATA_CHECK_MPI(MPI_Sendrecv(R, r * d, MPI_DOUBLE, partner, 8, other, pr * d, MPI_DOUBLE,
                                  partner, 8, comm, MPI_STATUS_IGNORE));
    stats->tsqr_bytes += (int64_t)r * d * 8;
    stats->tsqr_messages++;
    double *stack = work + (size_t)2 * d * d;
    const double *top = me_on_top ? R : other, *bottom = me_on_top ? other : R;
    int rt = me_on_top ? r : pr, rb = me_on_top ? pr : r;
    memcpy(stack, top, (size_t)rt * d * sizeof(double));
    memcpy(stack + (size_t)rt * d, bottom, (size_t)rb * d * sizeof(double));
    return qr_r(stack, rt + rb, d, R);
}

/* Receive a partner's R (extra ranks) and merge it below ours. */
static int receive_and_merge(MPI_Comm comm, int partner, double *R, int r, int d, double *work)
{
    int pr = 0;
    STRATA_CHECK_MPI(MPI_Recv(&pr, 1, MPI_INT, partner, 7, comm, MPI_STATUS_IGNORE));
    double *stack = work + (size_t)2 * d * d;
    memcpy(stack, R, (size_t)r * d * sizeof(double));
    STRATA_CHECK_MPI(MPI_Recv(stack + (size_t)r * d, pr * d, MPI_DOUBLE, partner, 8, comm,
                              MPI_STATUS_IGNORE));
    return qr_r(stack, r + pr, d, R);
}

int strata_tsqr_singular_values(MPI_Comm comm, const float *x, int64_t n_local, int d,
                                const double *mean, double *sv, strata_comm_stats *stats)
{
    int rank, nranks;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &nranks);
    /* Local QR in blocks of at most 2d rows keeps the double copy small: fold each block into R. */
    double *R = strata_calloc((size_t)d * d + 1, sizeof(double));            /* [d][d] */
    double *work = strata_malloc(((size_t)4 * d * d + 1) * sizeof(double));  /* see above */
    double *stack = work + (size_t)2 * d * d;                                /* [2d][d] */
    int r = 0;
    int64_t step = d > 0 ? d : 1;
    for (int64_t b = 0; b < n_local; b += step) {
        int64_t nb = n_local - b < step ? n_local - b : step;
        memcpy(stack, R, (size_t)r * d * sizeof(double));
        for (int64_t i = 0; i < nb; i++)
            for (int j = 0; j < d; j++)
                stack[(size_t)(r + i) * d + j] = (double)x[(b + i) * d + j] - mean[j];
        r = qr_r(stack, r + (int)nb, d, R);
    }
    int p2 = 1;
    while (p2 * 2 <= nranks) p2 *= 2;
    if (rank >= p2) {
        exchange_and_merge(comm, rank - p2, 0, R, r, d, work, stats, 1);
    } else {
        if (rank + p2 < nranks) r = receive_and_merge(comm, rank + p2, R, r, d, work);
        for (int bit = 1; bit < p2; bit <<= 1) {
            int partner = rank ^ bit;
            r = exchange_and_merge(comm, partner, rank < partner, R, r, d, work, stats, 0);
        }
    }
    int k = 0;
    if (rank < p2 && r > 0) {
        k = r < d ? r : d;
        double dummy[1]; /* u and vt are not referenced for jobz 'N' */
        int info = LAPACKE_dgesdd(LAPACK_ROW_MAJOR, 'N', r, d, R, d, sv, dummy, r, dummy, d);
        if (info != 0) strata_fatal("LAPACKE_dgesdd failed (info %d) on a %d x %d R", info, r, d);
    }
    free(R);
    free(work);
    return k;
}

void strata_spectrum_stats(const double *s, int k, double *effective_rank,
                           double *participation_ratio, double *pca_id_90)
{
    double s1 = 0.0, s2 = 0.0, s4 = 0.0;
    for (int i = 0; i < k; i++) {
        s1 += s[i];
        s2 += s[i] * s[i];
        s4 += s[i] * s[i] * s[i] * s[i];
    }
    if (s1 <= 0.0) { /* zero variance: documented as 0 */
        *effective_rank = 0.0;
        *participation_ratio = 0.0;
        *pca_id_90 = 0.0;
        return;
    }
    double h = 0.0;
    for (int i = 0; i < k; i++) {
        double p = s[i] / s1;
        if (p > 0) h -= p * log(p);
    }
    *effective_rank = exp(h);
    *participation_ratio = s2 * s2 / s4;
    double cum = 0.0;
    int n90 = k;
    for (int i = 0; i < k; i++) {
        cum += s[i] * s[i];
        if (cum >= 0.9 * s2) {
            n90 = i + 1;
            break;
        }
    }
    *pca_id_90 = n90;
}
