/* blas_omp.c — OpenBLAS GEMMs split over OpenMP threads (blas_omp.h). */
#include "kernels/cpu/blas_omp.h"

#include <cblas.h>
#include <omp.h>

/* Below ~16 MFLOP a GEMM stays on one thread: waking the team costs more than it saves. */
#define SHARE_MIN_FLOP 1.6e7

int strata_gemm_split(int M, int N, int K, int nt, int *by_rows, int *block)
{
    *by_rows = 0;
    *block = N;
    if (nt <= 1 || 2.0 * M * N * K < SHARE_MIN_FLOP) return 1;
    /* columns unless there are too few of them to give each thread a 16-wide block */
    *by_rows = N < 16 * nt && M > N;
    int extent = *by_rows ? M : N;
    int b = (extent + nt - 1) / nt;
    if (b > 16) b = (b + 15) / 16 * 16;
    *block = b;
    return (extent + b - 1) / b;
}

/* The body is the same for float and double: a macro keeps one copy of it. */
#define GEMM_BODY(blas)                                                                            \
    if (M <= 0 || N <= 0) return;                                                                  \
    int nt = omp_in_parallel() ? 1 : omp_get_max_threads();                                        \
    int by_rows, block;                                                                            \
    int n_blocks = strata_gemm_split(M, N, K, nt, &by_rows, &block);                               \
    enum CBLAS_TRANSPOSE ta = trans_a ? CblasTrans : CblasNoTrans;                                 \
    enum CBLAS_TRANSPOSE tb = trans_b ? CblasTrans : CblasNoTrans;                                 \
    if (n_blocks == 1 && omp_in_parallel()) {                                                      \
        blas(CblasRowMajor, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);                 \
        return;                                                                                    \
    }                                                                                              \
    int pool = openblas_get_num_threads();                                                         \
    openblas_set_num_threads(1);                                                                   \
    _Pragma("omp parallel for schedule(static) num_threads(n_blocks) if (n_blocks > 1)")          \
    for (int b = 0; b < n_blocks; b++) {                                                           \
        int x0 = b * block, n = (by_rows ? M : N) - x0 < block ? (by_rows ? M : N) - x0 : block;  \
        if (by_rows) /* rows x0.. of op(A) and C */                                                \
            blas(CblasRowMajor, ta, tb, n, N, K, alpha, trans_a ? A + x0 : A + (long)x0 * lda,     \
                 lda, B, ldb, beta, C + (long)x0 * ldc, ldc);                                      \
        else /* columns x0.. of op(B) and C */                                                     \
            blas(CblasRowMajor, ta, tb, M, n, K, alpha, A, lda,                                    \
                 trans_b ? B + (long)x0 * ldb : B + x0, ldb, beta, C + x0, ldc);                   \
    }                                                                                              \
    openblas_set_num_threads(pool);

void strata_gemm_f32(int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A,
                     int lda, const float *B, int ldb, float beta, float *C, int ldc)
{
    GEMM_BODY(cblas_sgemm)
}

void strata_gemm_f64(int trans_a, int trans_b, int M, int N, int K, double alpha,
                     const double *A, int lda, const double *B, int ldb, double beta, double *C,
                     int ldc)
{
    GEMM_BODY(cblas_dgemm)
}

void strata_syrk_f64(int d, int n, const double *A, int lda, double *C, int ldc)
{
    if (d <= 0) return;
    int nt = omp_in_parallel() ? 1 : omp_get_max_threads();
    if (nt <= 1 || (double)n * d * d < SHARE_MIN_FLOP) {
        cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, d, n, 1.0, A, lda, 0.0, C, ldc);
        return;
    }
    enum { BLOCK = 128 }; /* columns; the later blocks hold more of the triangle: dynamic */
    int n_blocks = (d + BLOCK - 1) / BLOCK;
    int pool = openblas_get_num_threads();
    openblas_set_num_threads(1);
#pragma omp parallel for schedule(dynamic, 1)
    for (int b = n_blocks - 1; b >= 0; b--) {
        int c0 = b * BLOCK, w = d - c0 < BLOCK ? d - c0 : BLOCK;
        if (c0 > 0) /* rows 0..c0 of the block's columns */
            cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, c0, w, n, 1.0, A, lda, A + c0,
                        lda, 0.0, C + c0, ldc);
        cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, w, n, 1.0, A + c0, lda, 0.0,
                    C + (long)c0 * ldc + c0, ldc);
    }
    openblas_set_num_threads(pool);
}
