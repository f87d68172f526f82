/* blas_omp.h — GEMMs on OpenBLAS with the parallelism of OpenMP: C = alpha op(A) op(B) + beta C
 * (row-major, CBLAS conventions), C's columns (or rows, when it has few columns) split over the
 * OpenMP threads, each block one single-threaded OpenBLAS call. OpenBLAS's own thread pool is
 * held at one thread during the call: two pools on the same cores (OpenMP's threads spinning
 * after a parallel region while OpenBLAS's run a GEMM) made a 2-thread forward 1.4x slower than
 * with either pool alone (tests/bench/RESULTS.md, "Threads"). Called inside a parallel region,
 * they run on the calling thread alone. Every strata GEMM outside LAPACK goes through these. */
#ifndef STRATA_BLAS_OMP_H
#define STRATA_BLAS_OMP_H

void strata_gemm_f32(int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A,
                     int lda, const float *B, int ldb, float beta, float *C, int ldc);
void strata_gemm_f64(int trans_a, int trans_b, int M, int N, int K, double alpha,
                     const double *A, int lda, const double *B, int ldb, double beta, double *C,
                     int ldc);

/* The upper triangle of C [d][d] = A' A for A [n][lda] (row-major, CBLAS dsyrk Upper/Trans);
 * the lower triangle is left as it was. Column blocks of C over the OpenMP threads: a GEMM for
 * the rows above each block's diagonal part, a SYRK for that part. */
void strata_syrk_f64(int d, int n, const double *A, int lda, double *C, int ldc);

/* How a GEMM of M x N is cut into blocks for nt threads: *by_rows, and the block size (a
 * multiple of 16 when it can be). 1 block when the product is too small to share. */
int strata_gemm_split(int M, int N, int K, int nt, int *by_rows, int *block);

#endif
