/* bench_forward.c — strata's forward throughput on a checkpoint (e.g. `strata mkmodel --preset
 * small`), with every hidden state captured (as transformers' output_hidden_states=True), and
 * where the time goes: each backend op is timed through a wrapped ops table, GEMM FLOPs are
 * counted, and the machine's SGEMM peak is measured in the same run (OpenBLAS, 2048^3).
 * Usage: bench_forward DIR BATCH TEXT_TOKENS RUNS THREADS   (prints one JSON line) */
#include <cblas.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/model.h"
#include "strata.h"

enum { OP_GEMM, OP_ATTN, OP_NORM, OP_ELEM, OP_OTHER, N_OPS };
static const char *op_names[N_OPS] = {"gemm", "attention", "norm", "elementwise", "other"};
static double op_time[N_OPS], gemm_flops;
static strata_backend_ops base; /* the CPU backend's table */

#define TIMED(slot, call)                                                                       \
    do {                                                                                        \
        double t0_ = strata_now();                                                              \
        call;                                                                                   \
        op_time[slot] += strata_now() - t0_;                                                    \
    } while (0)

static void w_gemm(void *c, int M, int N, int K, float alpha, const float *A, int lda, const void *B,
                   strata_tensor_dtype bt, int ldb, int tb, const void *bias, float beta, float *C, int ldc)
{
    gemm_flops += 2.0 * M * N * K;
    TIMED(OP_GEMM, base.gemm(c, M, N, K, alpha, A, lda, B, bt, ldb, tb, bias, beta, C, ldc));
}
static void w_attention(void *c, float *out, const float *q, int ldq, const float *k, const float *v,
                        int ldkv, int B, int T, int H, int Hkv, int hd, float scale,
                        const strata_attention_mask *mask)
{
    gemm_flops += 4.0 * B * H * (double)T * T * hd;
    TIMED(OP_ATTN, base.attention(c, out, q, ldq, k, v, ldkv, B, T, H, Hkv, hd, scale, mask));
}
static void w_rmsnorm(void *c, float *y, const float *x, const void *w, strata_tensor_dtype wt, int rows,
                      int dim, float eps)
{
    TIMED(OP_NORM, base.rmsnorm(c, y, x, w, wt, rows, dim, eps));
}
static void w_layernorm(void *c, float *y, const float *x, const void *w, const void *b,
                        strata_tensor_dtype wt, int rows, int dim, float eps)
{
    TIMED(OP_NORM, base.layernorm(c, y, x, w, b, wt, rows, dim, eps));
}
static void w_activation(void *c, float *x, long n, strata_activation act)
{
    TIMED(OP_ELEM, base.activation(c, x, n, act));
}
static void w_swiglu(void *c, float *out, const float *gu, int rows, int F)
{
    TIMED(OP_ELEM, base.swiglu(c, out, gu, rows, F));
}
static void w_rope(void *c, float *x, int ld, int B, int T, int H, int hd, const float *f, float s)
{
    TIMED(OP_ELEM, base.rope(c, x, ld, B, T, H, hd, f, s));
}
static void w_add(void *c, float *y, const float *x, long n) { TIMED(OP_ELEM, base.add(c, y, x, n)); }
static void w_im2col(void *c, float *cols, const float *px, int N, int C, int H, int W, int p)
{
    TIMED(OP_OTHER, base.im2col(c, cols, px, N, C, H, W, p));
}
static void w_copy2d(void *c, float *d, int ldd, const float *s, int lds, int rows, int cols)
{
    TIMED(OP_OTHER, base.copy2d(c, d, ldd, s, lds, rows, cols));
}

static double capture_sum;
static int on_capture(const strata_capture *c, void *user)
{
    /* touch the data as a consumer would (one pass) */
    long n = (long)c->batch * c->rows * c->dim;
    double s = 0;
    for (long i = 0; i < n; i += 64) s += c->data[i];
    capture_sum += s;
    return 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    if (argc != 6) {
        fprintf(stderr, "usage: bench_forward DIR BATCH TEXT_TOKENS RUNS THREADS\n");
        return 2;
    }
    int B = atoi(argv[2]), text = atoi(argv[3]), runs = atoi(argv[4]), threads = atoi(argv[5]);
    strata_backend *be = strata_backend_cpu_init(threads);
    base = *be->ops;
    static strata_backend_ops timed;
    timed = base;
    timed.gemm = w_gemm, timed.attention = w_attention, timed.rmsnorm = w_rmsnorm;
    timed.layernorm = w_layernorm, timed.activation = w_activation, timed.swiglu = w_swiglu;
    timed.rope = w_rope, timed.add = w_add, timed.im2col = w_im2col, timed.copy2d = w_copy2d;
    be->ops = &timed;
    strata_model *m = strata_model_load(argv[1], be, NULL);
    if (!m) {
        fprintf(stderr, "%s\n", strata_error_get());
        return 1;
    }
    const strata_model_info *in = strata_model_get_info(m);
    /* inputs: [bos, <image>, text...] expanded; deterministic ids and pixels */
    int T = 1 + in->n_image_tokens + text;
    int32_t *ids = malloc((size_t)B * T * 4), *row = malloc((size_t)(T + 1) * 4);
    for (int b = 0; b < B; b++) {
        int n = 0;
        row[n++] = 1;
        if (in->has_vision) row[n++] = in->image_token_id;
        for (int t = 0; t < text; t++) row[n++] = 32 + (b * 7 + t * 13) % 200;
        int got = in->has_vision ? strata_model_expand_image(m, row, n, ids + (long)b * T, T, NULL) : n;
        if (!in->has_vision) memcpy(ids + (long)b * T, row, (size_t)n * 4);
        T = got;
    }
    long npx = (long)B * 3 * in->image_size * in->image_size;
    float *px = malloc((size_t)(npx > 0 ? npx : 1) * 4);
    for (long i = 0; i < npx; i++) px[i] = (float)((i * 2654435761u) % 1000) / 500.0f - 1.0f;
    strata_forward_args a = {.batch = B, .seq_len = T, .input_ids = ids, .n_images = in->has_vision ? B : 0,
                             .pixel_values = in->has_vision ? px : NULL, .capture = on_capture,
                             .capture_vision = 1};
    double *times = malloc((size_t)runs * sizeof(double));
    strata_model_forward(m, &a); /* warm-up: page in the weights */
    memset(op_time, 0, sizeof op_time);
    gemm_flops = 0;
    for (int r = 0; r < runs; r++) {
        double t0 = strata_now();
        if (strata_model_forward(m, &a) != 0) {
            fprintf(stderr, "%s\n", strata_error_get());
            return 1;
        }
        times[r] = strata_now() - t0;
    }
    qsort(times, (size_t)runs, sizeof *times, cmp_double);
    double med = times[runs / 2], total = 0;
    for (int r = 0; r < runs; r++) total += times[r];
    /* SGEMM peak in the same process and threads */
    int n = 2048;
    float *A = malloc((size_t)n * n * 4), *Bm = malloc((size_t)n * n * 4), *C = malloc((size_t)n * n * 4);
    for (long i = 0; i < (long)n * n; i++) A[i] = Bm[i] = (float)(i % 7) * 0.1f;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, n, n, 1, A, n, Bm, n, 0, C, n);
    double best = 1e9;
    for (int r = 0; r < 3; r++) {
        double t0 = strata_now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, n, n, 1, A, n, Bm, n, 0, C, n);
        double dt = strata_now() - t0;
        best = dt < best ? dt : best;
    }
    double peak = 2.0 * n * n * n / best / 1e9, flops = gemm_flops / runs;
    printf("{\"system\": \"strata\", \"batch\": %d, \"seq_len\": %d, \"threads\": %d, \"median_s\": %.4f, "
           "\"images_per_s\": %.3f, \"tokens_per_s\": %.1f, \"gflop_per_forward\": %.2f, "
           "\"gflops\": %.1f, \"sgemm_peak_gflops\": %.1f, \"fraction_of_peak\": %.3f, \"time_share\": {",
           B, T, threads, med, in->has_vision ? B / med : 0.0, B * T / med, flops / 1e9,
           flops / med / 1e9, peak, flops / med / 1e9 / peak);
    double accounted = 0;
    for (int i = 0; i < N_OPS; i++) {
        printf("\"%s\": %.3f, ", op_names[i], op_time[i] / total);
        accounted += op_time[i];
    }
    printf("\"rest\": %.3f}}\n", 1.0 - accounted / total);
    free(A), free(Bm), free(C), free(ids), free(row), free(px), free(times);
    strata_model_free(m);
    be->ops = &base;
    strata_backend_free(be);
    return capture_sum == 12345.0; /* keep the captures live */
}
