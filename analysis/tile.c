/* tile.c — the GEMMs the analysis calls (C = A * B^T, float32 and float64), so that moving the tiles
 * to the compute backend (kernels/backend.h) is one edit. OpenBLAS split over the OpenMP threads
 * (kernels/cpu/blas_omp.h). */
#include "analysis/analysis.h"
#include "kernels/cpu/blas_omp.h"

void strata_tile_gemm(int m, int n, int k, const float *a, int lda, const float *b, int ldb,
                      float *c, int ldc)
{
    if (m <= 0 || n <= 0) return;
    strata_gemm_f32(0, 1, m, n, k, 1.0f, a, lda, b, ldb, 0.0f, c, ldc);
}

void strata_tile_dgemm(int m, int n, int k, const double *a, int lda, const double *b, int ldb,
                       double *c, int ldc)
{
    if (m <= 0 || n <= 0) return;
    strata_gemm_f64(0, 1, m, n, k, 1.0, a, lda, b, ldb, 0.0, c, ldc);
}

/* Cloned for AVX2 where the CPU has it (the build targets generic x86-64): this loop is the
 * kNN's second cost after the GEMMs. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
__attribute__((target_clones("avx2", "default")))
#endif
double strata_dist2_exact(const float *a, const float *b, int dim)
{
    /* eight running sums in a fixed order: vectorisable, and the same result for a pair
     * wherever it is computed */
    double s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int k = 0;
    for (; k + 8 <= dim; k += 8)
        for (int u = 0; u < 8; u++) {
            double t = (double)a[k + u] - (double)b[k + u];
            s[u] += t * t;
        }
    for (; k < dim; k++) {
        double t = (double)a[k] - (double)b[k];
        s[0] += t * t;
    }
    return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}

double strata_dot_f64(const double *a, const double *b, int64_t n)
{
    double s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t k = 0;
    for (; k + 8 <= n; k += 8)
        for (int u = 0; u < 8; u++) s[u] += a[k + u] * b[k + u];
    for (; k < n; k++) s[0] += a[k] * b[k];
    return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}
