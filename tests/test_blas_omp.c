/* test_blas_omp.c — kernels/cpu/blas_omp.h: the OpenMP-split OpenBLAS GEMMs against a naive
 * double-precision product, for every transpose combination, alpha/beta, strided operands, and
 * shapes that take each path of the split (one block, column blocks, row blocks) at 1, 2 and 3
 * threads, and called from inside a parallel region. */
#include <math.h>
#include <omp.h>
#include <stdlib.h>

#include "kernels/cpu/blas_omp.h"
#include "strata.h"
#include "testlib.h"

/* op(X)[i][j] of a row-major X with leading dimension ld */
static double at(const double *x, int ld, int trans, int i, int j)
{
    return trans ? x[(long)j * ld + i] : x[(long)i * ld + j];
}

static double rnd(uint64_t *state)
{
    return (double)(strata_splitmix64(state) >> 11) / 9007199254740992.0 * 2.0 - 1.0;
}

/* One case: C = 0.75 op(A) op(B) + 0.5 C in float and double against the naive product; errors
 * are scaled by K (entries are in [-1, 1]). */
static void run_case(int M, int N, int K, int ta, int tb, int threads, int nested)
{
    uint64_t st = (uint64_t)(M * 131 + N * 17 + K * 7 + ta * 3 + tb + threads * 1000);
    int lda = (ta ? M : K) + 3, ldb = (tb ? K : N) + 5, ldc = N + 2;
    long na = (long)(ta ? K : M) * lda, nb = (long)(tb ? N : K) * ldb, nc = (long)M * ldc;
    double *a = malloc(na * sizeof(double)), *b = malloc(nb * sizeof(double));
    double *c = malloc(nc * sizeof(double)), *want = malloc(nc * sizeof(double));
    float *af = malloc(na * sizeof(float)), *bf = malloc(nb * sizeof(float));
    float *cf = malloc(nc * sizeof(float)), *cf0 = malloc(nc * sizeof(float));
    for (long i = 0; i < na; i++) af[i] = (float)(a[i] = rnd(&st));
    for (long i = 0; i < nb; i++) bf[i] = (float)(b[i] = rnd(&st));
    for (long i = 0; i < nc; i++) cf0[i] = cf[i] = (float)(c[i] = rnd(&st));
    double alpha = 0.75, beta = 0.5, worst_f = 0, worst_d = 0;
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double s = 0;
            for (int k = 0; k < K; k++) s += at(a, lda, ta, i, k) * at(b, ldb, tb, k, j);
            want[(long)i * ldc + j] = alpha * s + beta * c[(long)i * ldc + j];
        }
    omp_set_num_threads(threads);
    if (nested) {
#pragma omp parallel num_threads(2)
        {
#pragma omp single
            {
                strata_gemm_f32(ta, tb, M, N, K, (float)alpha, af, lda, bf, ldb, (float)beta, cf, ldc);
                strata_gemm_f64(ta, tb, M, N, K, alpha, a, lda, b, ldb, beta, c, ldc);
            }
        }
    } else {
        strata_gemm_f32(ta, tb, M, N, K, (float)alpha, af, lda, bf, ldb, (float)beta, cf, ldc);
        strata_gemm_f64(ta, tb, M, N, K, alpha, a, lda, b, ldb, beta, c, ldc);
    }
    int pad_ok = 1;
    for (int i = 0; i < M; i++) {
        for (int j = 0; j < N; j++) {
            double w = want[(long)i * ldc + j];
            worst_f = fmax(worst_f, fabs(cf[(long)i * ldc + j] - w) / (K + 1.0));
            worst_d = fmax(worst_d, fabs(c[(long)i * ldc + j] - w) / (K + 1.0));
        }
        /* the two columns past N belong to the caller: untouched */
        for (int j = N; j < ldc; j++) pad_ok &= cf[(long)i * ldc + j] == cf0[(long)i * ldc + j];
    }
    int by_rows, block;
    int blocks = strata_gemm_split(M, N, K, threads, &by_rows, &block);
    T_CHECK(worst_f < 1e-6 && worst_d < 1e-14,
            "M %d N %d K %d ta %d tb %d threads %d%s (%d %s blocks of %d): error f32 %.3g f64 %.3g",
            M, N, K, ta, tb, threads, nested ? " nested" : "", blocks, by_rows ? "row" : "column",
            block, worst_f, worst_d);
    T_CHECK(pad_ok, "padding columns written");
    free(a), free(b), free(c), free(want), free(af), free(bf), free(cf), free(cf0);
}

/* strata_syrk_f64: the upper triangle of A'A against the naive sum, the lower one untouched */
static void run_syrk(int d, int n, int threads)
{
    uint64_t st = (uint64_t)(d * 7 + n + threads);
    int lda = d + 3, ldc = d + 1;
    double *a = malloc((size_t)n * lda * sizeof(double)), *c = malloc((size_t)d * ldc * sizeof(double));
    for (long i = 0; i < (long)n * lda; i++) a[i] = rnd(&st);
    for (long i = 0; i < (long)d * ldc; i++) c[i] = -7.0;
    omp_set_num_threads(threads);
    strata_syrk_f64(d, n, a, lda, c, ldc);
    double worst = 0;
    int lower_ok = 1;
    for (int i = 0; i < d; i++)
        for (int j = 0; j < ldc; j++) {
            if (j < i || j >= d) {
                lower_ok &= c[(long)i * ldc + j] == -7.0;
                continue;
            }
            double s = 0;
            for (int k = 0; k < n; k++) s += a[(long)k * lda + i] * a[(long)k * lda + j];
            worst = fmax(worst, fabs(c[(long)i * ldc + j] - s) / (n + 1.0));
        }
    T_CHECK(worst < 1e-14 && lower_ok, "syrk d %d n %d threads %d: error %.3g, lower untouched %d",
            d, n, threads, worst, lower_ok);
    free(a), free(c);
}

int main(void)
{
    /* the split itself: one block when small or single-threaded, else covering blocks */
    int by_rows, block;
    T_CHECK(strata_gemm_split(8, 8, 8, 4, &by_rows, &block) == 1, "small: one block");
    T_CHECK(strata_gemm_split(500, 500, 500, 1, &by_rows, &block) == 1, "one thread: one block");
    int n = strata_gemm_split(300, 1000, 400, 3, &by_rows, &block);
    T_CHECK(!by_rows && block % 16 == 0 && (long)n * block >= 1000 && (long)(n - 1) * block < 1000,
            "columns: %d blocks of %d", n, block);
    n = strata_gemm_split(1000, 20, 500, 2, &by_rows, &block);
    T_CHECK(by_rows && (long)n * block >= 1000 && (long)(n - 1) * block < 1000,
            "rows: %d blocks of %d (by_rows %d)", n, block, by_rows);

    static const int shapes[][3] = {{5, 7, 9}, {300, 1000, 40}, {1000, 20, 500}, {37, 333, 700}};
    for (int s = 0; s < 4; s++)
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++)
                for (int threads = 1; threads <= 3; threads++)
                    run_case(shapes[s][0], shapes[s][1], shapes[s][2], ta, tb, threads, 0);
    run_case(300, 1000, 40, 1, 0, 2, 1);
    for (int threads = 1; threads <= 3; threads++) {
        run_syrk(7, 5, threads);       /* one call */
        run_syrk(300, 400, threads);   /* column blocks: 128, 128, 44 */
    }
    return t_finish("test_blas_omp");
}
