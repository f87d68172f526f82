/* tile.c — the GEMMs the analysis calls (C = A * B^T, float32 and float64), so that moving the tiles
 * to the compute backend (kernels/backend.h) is one edit. Relies on OpenBLAS's CBLAS. */
#include <cblas.h>

#include "analysis/analysis.h"

void strata_tile_gemm(int m, int n, int k, const float *a, int lda, const float *b, int ldb,
                      float *c, int ldc)
{
    if (m <= 0 || n <= 0) return;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1.0f, a, lda, b, ldb, 0.0f, c,
                ldc);
}

void strata_tile_dgemm(int m, int n, int k, const double *a, int lda, const double *b, int ldb,
                       double *c, int ldc)
{
    if (m <= 0 || n <= 0) return;
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1.0, a, lda, b, ldb, 0.0, c, ldc);
}

double strata_dist2_exact(const float *a, const float *b, int dim)
{
    double s = 0.0;
    for (int k = 0; k < dim; k++) {
        double t = (double)a[k] - (double)b[k];
        s += t * t;
    }
    return s;
}
