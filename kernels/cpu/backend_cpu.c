/* backend_cpu.c — the CPU backend, the reference every other backend is held against: GEMMs on
 * OpenBLAS (f16/bf16 weight operands are converted to an f32 scratch per use), everything else
 * plain loops, parallel with OpenMP. Per-element math comes from kernels/ops_math.h.
 * Each op matches the PyTorch / transformers module named in kernels/backend.h. */
#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/backend.h"
#include "kernels/cpu/blas_omp.h"
#include "kernels/ops_math.h"
#include "strata.h"

/* Below this many elements an element-wise op runs on one thread: an OpenMP region costs more
 * than the work, and much more on a loaded machine (threads wait for a time slice). */
#define PAR_MIN 262144L

typedef struct {
    float *scratch;      /* f32 block of a converted weight operand [<= GEMM_SCRATCH] */
    size_t scratch_cap;  /* floats */
    float *scores;       /* attention scores [threads][ATTN_ROWS][T] */
    size_t scores_cap;
} cpu_ctx;

static float *grow(float **buf, size_t *cap, size_t n)
{
    if (n > *cap) {
        free(*buf);
        *buf = strata_malloc(n * sizeof(float));
        *cap = n;
    }
    return *buf;
}

/* ---- memory -------------------------------------------------------------------------------- */
static void *cpu_alloc(void *ctx, size_t bytes)
{
    void *p = NULL;
    if (posix_memalign(&p, 64, bytes ? bytes : 64) != 0) {
        strata_error_set("cpu backend: cannot allocate %zu bytes", bytes);
        return NULL;
    }
    return p;
}
static void cpu_free(void *ctx, void *buf) { free(buf); }
static void cpu_copy(void *ctx, void *dst, const void *src, size_t bytes)
{
    if (bytes) memmove(dst, src, bytes);
}
static void cpu_copy2d(void *ctx, float *dst, int ldd, const float *src, int lds, int rows, int cols)
{
    for (int r = 0; r < rows; r++)
        memmove(dst + (long)r * ldd, src + (long)r * lds, (size_t)cols * sizeof(float));
}
static void cpu_memset0(void *ctx, void *dst, size_t bytes) { memset(dst, 0, bytes); }
static const void *cpu_weight_get(void *ctx, const void *host, strata_tensor_dtype dt, size_t n)
{
    return host;
}
static void cpu_weight_put(void *ctx, const void *view) {}
static void cpu_synchronize(void *ctx) {}

/* ---- dtype conversion ------------------------------------------------------------------------ */
static void cpu_to_f32(void *ctx, float *dst, const void *src, strata_tensor_dtype dt, long n)
{
    if (dt == STRATA_TENSOR_F32) {
        memcpy(dst, src, (size_t)n * sizeof(float));
        return;
    }
    const uint16_t *s = src;
    if (dt == STRATA_TENSOR_BF16) {
#pragma omp parallel for schedule(static) if (n > PAR_MIN)
        for (long i = 0; i < n; i++) dst[i] = strata_math_bf16_to_f32(s[i]);
    } else {
#pragma omp parallel for schedule(static) if (n > PAR_MIN)
        for (long i = 0; i < n; i++) dst[i] = strata_math_f16_to_f32(s[i]);
    }
}
static void cpu_from_f32(void *ctx, void *dst, strata_tensor_dtype dt, const float *src, long n)
{
    if (dt == STRATA_TENSOR_F32) {
        memcpy(dst, src, (size_t)n * sizeof(float));
        return;
    }
    uint16_t *d = dst;
    if (dt == STRATA_TENSOR_BF16) {
#pragma omp parallel for schedule(static) if (n > PAR_MIN)
        for (long i = 0; i < n; i++) d[i] = strata_math_f32_to_bf16(src[i]);
    } else {
#pragma omp parallel for schedule(static) if (n > PAR_MIN)
        for (long i = 0; i < n; i++) d[i] = strata_math_f32_to_f16(src[i]);
    }
}

static float weight_at(const void *w, strata_tensor_dtype dt, long i)
{
    if (dt == STRATA_TENSOR_F32) return ((const float *)w)[i];
    if (dt == STRATA_TENSOR_BF16) return strata_math_bf16_to_f32(((const uint16_t *)w)[i]);
    return strata_math_f16_to_f32(((const uint16_t *)w)[i]);
}

/* ---- GEMM ------------------------------------------------------------------------------------- */
/* f16/bf16 weight operands are converted in blocks of output columns, so the f32 scratch stays
 * at most GEMM_SCRATCH floats (plus one row) however large the weight (an LM head). */
#define GEMM_SCRATCH (1L << 22)

static void cpu_gemm(void *ctx, int M, int N, int K, float alpha, const float *A, int lda,
                     const void *B, strata_tensor_dtype bt, int ldb, int trans_b,
                     const void *bias, float beta, float *C, int ldc)
{
    cpu_ctx *c = ctx;
    if (M <= 0 || N <= 0) return;
    if (bt == STRATA_TENSOR_F32) {
        strata_gemm_f32(0, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    } else {
        /* Each thread converts and multiplies its own block of output columns (blas_omp.h's
         * split), in sub-blocks of nb columns that share GEMM_SCRATCH floats between them. */
        int by_rows, block;
        int n_blocks = strata_gemm_split(M, N, K, omp_get_max_threads(), &by_rows, &block);
        if (by_rows) n_blocks = 1, block = N;
        long per_col = K > 0 ? K : 1;
        int nb = (int)(GEMM_SCRATCH / per_col / n_blocks);
        if (nb < 16) nb = 16;
        if (nb > block) nb = block;
        float *scratch = grow(&c->scratch, &c->scratch_cap, (size_t)n_blocks * nb * per_col);
        size_t es = strata_tensor_dtype_size(bt);
        int pool = openblas_get_num_threads();
        openblas_set_num_threads(1);
#pragma omp parallel for schedule(static) num_threads(n_blocks) if (n_blocks > 1)
        for (int blk = 0; blk < n_blocks; blk++) {
            float *s = scratch + (size_t)blk * nb * per_col;
            int end = (blk + 1) * block < N ? (blk + 1) * block : N;
            for (int n0 = blk * block; n0 < end; n0 += nb) {
                int n = end - n0 < nb ? end - n0 : nb;
                if (trans_b) /* rows n0..n0+n of B [N][ldb] -> s [n][K] */
                    for (int j = 0; j < n; j++)
                        cpu_to_f32(c, s + (long)j * K,
                                   (const char *)B + ((size_t)(n0 + j) * ldb) * es, bt, K);
                else /* columns n0..n0+n of B [K][ldb] -> s [K][n] */
                    for (int k = 0; k < K; k++)
                        cpu_to_f32(c, s + (long)k * n, (const char *)B + ((size_t)k * ldb + n0) * es,
                                   bt, n);
                cblas_sgemm(CblasRowMajor, CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, M, n,
                            K, alpha, A, lda, s, trans_b ? K : n, beta, C + n0, ldc);
            }
        }
        openblas_set_num_threads(pool);
    }
    if (bias) {
#pragma omp parallel for schedule(static) if ((long)M * N > PAR_MIN)
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++) C[(long)i * ldc + j] += weight_at(bias, bt, j);
    }
}

static void cpu_gemm_batched(void *ctx, int trans_a, int trans_b, int M, int N, int K, float alpha,
                             const float *A, int lda, long stride_a, const float *B, int ldb,
                             long stride_b, float beta, float *C, int ldc, long stride_c, int batch)
{
    for (int b = 0; b < batch; b++)
        cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
                    trans_b ? CblasTrans : CblasNoTrans, M, N, K, alpha, A + b * stride_a, lda,
                    B + b * stride_b, ldb, beta, C + b * stride_c, ldc);
}

/* ---- normalisation, element-wise ------------------------------------------------------------- */
static void cpu_rmsnorm(void *ctx, float *y, const float *x, const void *w, strata_tensor_dtype wt,
                        int rows, int dim, float eps)
{
#pragma omp parallel for schedule(static) if ((long)rows * dim > PAR_MIN)
    for (int r = 0; r < rows; r++) {
        const float *xr = x + (long)r * dim;
        float *yr = y + (long)r * dim;
        double ss = 0;
        for (int i = 0; i < dim; i++) ss += (double)xr[i] * xr[i];
        float inv = 1.0f / sqrtf((float)(ss / dim) + eps);
        for (int i = 0; i < dim; i++) yr[i] = weight_at(w, wt, i) * (xr[i] * inv);
    }
}

static void cpu_layernorm(void *ctx, float *y, const float *x, const void *w, const void *b,
                          strata_tensor_dtype wt, int rows, int dim, float eps)
{
#pragma omp parallel for schedule(static) if ((long)rows * dim > PAR_MIN)
    for (int r = 0; r < rows; r++) {
        const float *xr = x + (long)r * dim;
        float *yr = y + (long)r * dim;
        double s = 0, ss = 0;
        for (int i = 0; i < dim; i++) s += xr[i];
        double mean = s / dim;
        for (int i = 0; i < dim; i++) ss += (xr[i] - mean) * (xr[i] - mean);
        float inv = (float)(1.0 / sqrt(ss / dim + eps));
        float m = (float)mean;
        for (int i = 0; i < dim; i++)
            yr[i] = (xr[i] - m) * inv * weight_at(w, wt, i) + (b ? weight_at(b, wt, i) : 0.0f);
    }
}

static void cpu_activation(void *ctx, float *x, long n, strata_activation act)
{
#pragma omp parallel for schedule(static) if (n > PAR_MIN)
    for (long i = 0; i < n; i++) x[i] = strata_math_activation((int)act, x[i]);
}

static void cpu_swiglu(void *ctx, float *out, const float *gu, int rows, int F)
{
#pragma omp parallel for schedule(static) if ((long)rows * F > PAR_MIN)
    for (int r = 0; r < rows; r++) {
        const float *g = gu + (long)r * 2 * F, *u = g + F;
        float *o = out + (long)r * F;
        for (int i = 0; i < F; i++) o[i] = strata_math_silu(g[i]) * u[i];
    }
}

static void cpu_add(void *ctx, float *y, const float *x, long n)
{
#pragma omp parallel for schedule(static) if (n > PAR_MIN)
    for (long i = 0; i < n; i++) y[i] += x[i];
}

static void cpu_add_rows(void *ctx, float *y, const void *v, strata_tensor_dtype vt, int rows, int dim)
{
#pragma omp parallel for schedule(static) if ((long)rows * dim > PAR_MIN)
    for (int r = 0; r < rows; r++)
        for (int i = 0; i < dim; i++) y[(long)r * dim + i] += weight_at(v, vt, i);
}

/* ---- transformer pieces ------------------------------------------------------------------------ */
static void cpu_embedding(void *ctx, float *out, const int32_t *ids, int n, const void *table,
                          strata_tensor_dtype dt, int D)
{
    size_t es = strata_tensor_dtype_size(dt);
#pragma omp parallel for schedule(static) if ((long)n * D > PAR_MIN)
    for (int i = 0; i < n; i++)
        cpu_to_f32(ctx, out + (long)i * D, (const char *)table + (size_t)ids[i] * D * es, dt, D);
}

static void cpu_rope(void *ctx, float *x, int ld, int B, int T, int H, int hd,
                     const float *inv_freq, float attn_scale)
{
    int half = hd / 2;
#pragma omp parallel for schedule(static) collapse(2) if ((long)B * T * H * hd > PAR_MIN)
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            float *row = x + ((long)b * T + t) * ld;
            for (int i = 0; i < half; i++) {
                /* as transformers: freqs = float(pos) * inv_freq in f32, then cos/sin */
                float angle = (float)t * inv_freq[i];
                float cs = cosf(angle) * attn_scale, sn = sinf(angle) * attn_scale;
                for (int h = 0; h < H; h++) {
                    float *v = row + (long)h * hd;
                    float x1 = v[i], x2 = v[i + half];
                    v[i] = x1 * cs - x2 * sn;
                    v[i + half] = x2 * cs + x1 * sn;
                }
            }
        }
}

/* Query rows per block: the score scratch is ATTN_ROWS x T per thread, whatever T. Causal
 * attention uses smaller blocks so that each block multiplies only the keys it can see. */
#define ATTN_ROWS 256
#define ATTN_ROWS_CAUSAL 64

/* One (batch row, head), by blocks of query rows: s = scale q k^T, masked softmax, out = s v,
 * over keys j < jmax only (the rest are masked for every row of the block). s: [rows][T]. */
static void attention_head(float *s, float *ob, int ldo, const float *qb, int ldq, const float *kb,
                           const float *vb, int ldkv, int T, int hd, float scale, int len, int causal,
                           int window)
{
    int block = causal ? ATTN_ROWS_CAUSAL : ATTN_ROWS;
    for (int i0 = 0; i0 < T; i0 += block) {
        int rows = T - i0 < block ? T - i0 : block;
        int jmax = len < T ? len : T;
        if (causal && i0 + rows < jmax) jmax = i0 + rows;
        if (jmax > 0)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, jmax, hd, scale,
                        qb + (long)i0 * ldq, ldq, kb, ldkv, 0.0f, s, jmax);
        for (int r = 0; r < rows; r++) {
            int i = i0 + r;
            float *row = s + (long)r * jmax;
            float mx = -INFINITY;
            for (int j = 0; j < jmax; j++) {
                int visible = (!causal || j <= i) && (window <= 0 || i - j < window);
                if (!visible) row[j] = -INFINITY;
                else if (row[j] > mx) mx = row[j];
            }
            if (mx == -INFINITY) { /* nothing visible: zeros (cannot happen with length >= 1) */
                memset(row, 0, (size_t)jmax * sizeof(float));
                continue;
            }
            double sum = 0;
            for (int j = 0; j < jmax; j++) {
                float e = row[j] == -INFINITY ? 0.0f : expf(row[j] - mx);
                row[j] = e;
                sum += e;
            }
            float inv = (float)(1.0 / sum);
            for (int j = 0; j < jmax; j++) row[j] *= inv;
        }
        if (jmax > 0)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, hd, jmax, 1.0f, s, jmax, vb,
                        ldkv, 0.0f, ob + (long)i0 * ldo, ldo);
        else
            for (int r = 0; r < rows; r++) memset(ob + (long)(i0 + r) * ldo, 0, (size_t)hd * sizeof(float));
    }
}

/* Heads in parallel with OpenMP, each a single-threaded BLAS call sequence (few large
 * synchronisation points instead of one per head: they are costly on a loaded machine). */
static void cpu_attention(void *ctx, float *out, const float *q, int ldq, const float *k,
                          const float *v, int ldkv, int B, int T, int H, int Hkv, int hd,
                          float scale, const strata_attention_mask *mask)
{
    cpu_ctx *c = ctx;
    int nt = omp_get_max_threads();
    int qrows = T < ATTN_ROWS ? T : ATTN_ROWS;
    float *scores = grow(&c->scores, &c->scores_cap, (size_t)nt * qrows * T);
    int group = H / Hkv;
    int causal = mask ? mask->causal : 0, window = mask ? mask->window : 0;
    int blas_threads = openblas_get_num_threads();
    openblas_set_num_threads(1);
#pragma omp parallel for collapse(2) schedule(dynamic, 1)
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++) {
            int len = (mask && mask->lengths) ? mask->lengths[b] : T;
            attention_head(scores + (size_t)omp_get_thread_num() * qrows * T,
                           out + (long)b * T * H * hd + (long)h * hd, H * hd,
                           q + (long)b * T * ldq + (long)h * hd, ldq,
                           k + (long)b * T * ldkv + (long)(h / group) * hd,
                           v + (long)b * T * ldkv + (long)(h / group) * hd, ldkv, T, hd, scale, len,
                           causal, window);
        }
    openblas_set_num_threads(blas_threads);
}

static void cpu_im2col(void *ctx, float *cols, const float *pixels, int N, int C, int H, int W, int p)
{
    int gh = H / p, gw = W / p, row_len = C * p * p;
#pragma omp parallel for schedule(static) collapse(2)
    for (int n = 0; n < N; n++)
        for (int py = 0; py < gh; py++)
            for (int px = 0; px < gw; px++) {
                float *dst = cols + (((long)n * gh + py) * gw + px) * row_len;
                for (int ch = 0; ch < C; ch++)
                    for (int ky = 0; ky < p; ky++) {
                        const float *src = pixels + (((long)n * C + ch) * H + py * p + ky) * W + px * p;
                        memcpy(dst + (ch * p + ky) * p, src, (size_t)p * sizeof(float));
                    }
            }
}

static void cpu_token_logprob(void *ctx, float *out, const float *logits, const int32_t *target,
                              int rows, int V)
{
#pragma omp parallel for schedule(static)
    for (int r = 0; r < rows; r++) {
        if (target[r] < 0 || target[r] >= V) {
            out[r] = 0.0f;
            continue;
        }
        const float *l = logits + (long)r * V;
        float mx = -INFINITY;
        for (int j = 0; j < V; j++) mx = l[j] > mx ? l[j] : mx;
        double sum = 0;
        for (int j = 0; j < V; j++) sum += exp((double)l[j] - mx);
        out[r] = (float)((double)l[target[r]] - mx - log(sum));
    }
}

/* ---- analysis tiles ------------------------------------------------------------------------------ */
static void cpu_sqdist_from_gram(void *ctx, float *d, const float *g, const float *na,
                                 const float *nb, int M, int N)
{
#pragma omp parallel for schedule(static)
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            float v = na[i] + nb[j] - 2.0f * g[(long)i * N + j];
            d[(long)i * N + j] = v > 0.0f ? v : 0.0f;
        }
}

static void cpu_topk_merge(void *ctx, float *val, int64_t *idx, int k, const float *d, int M, int N,
                           int64_t col0, const int64_t *skip)
{
#pragma omp parallel for schedule(dynamic, 16)
    for (int i = 0; i < M; i++) {
        float *lv = val + (long)i * k;
        int64_t *li = idx + (long)i * k;
        int n = 0; /* filled entries: idx -1 marks the empty tail */
        while (n < k && li[n] >= 0) n++;
        for (int j = 0; j < N; j++) {
            int64_t col = col0 + j;
            if (skip && skip[i] == col) continue;
            float x = d[(long)i * N + j];
            if (n == k && (x > lv[k - 1] || (x == lv[k - 1] && col > li[k - 1]))) continue;
            int pos = n < k ? n : k - 1; /* slot to fill, then bubble towards the front */
            if (n < k) n++;
            while (pos > 0 && (lv[pos - 1] > x || (lv[pos - 1] == x && li[pos - 1] > col))) {
                lv[pos] = lv[pos - 1];
                li[pos] = li[pos - 1];
                pos--;
            }
            lv[pos] = x;
            li[pos] = col;
        }
    }
}

static void cpu_destroy(void *ctx)
{
    cpu_ctx *c = ctx;
    free(c->scratch);
    free(c->scores);
    free(c);
}

static const strata_backend_ops cpu_ops = {
    .name = "cpu",
    .alloc = cpu_alloc,
    .free = cpu_free,
    .upload = cpu_copy,
    .download = cpu_copy,
    .memset0 = cpu_memset0,
    .copy = cpu_copy,
    .copy2d = cpu_copy2d,
    .weight_get = cpu_weight_get,
    .weight_put = cpu_weight_put,
    .synchronize = cpu_synchronize,
    .gemm = cpu_gemm,
    .gemm_batched = cpu_gemm_batched,
    .rmsnorm = cpu_rmsnorm,
    .layernorm = cpu_layernorm,
    .activation = cpu_activation,
    .swiglu = cpu_swiglu,
    .add = cpu_add,
    .add_rows = cpu_add_rows,
    .embedding = cpu_embedding,
    .rope = cpu_rope,
    .attention = cpu_attention,
    .im2col = cpu_im2col,
    .token_logprob = cpu_token_logprob,
    .to_f32 = cpu_to_f32,
    .from_f32 = cpu_from_f32,
    .sqdist_from_gram = cpu_sqdist_from_gram,
    .topk_merge = cpu_topk_merge,
    .destroy = cpu_destroy,
};

strata_backend *strata_backend_cpu_init(int threads)
{
    if (threads > 0) {
        omp_set_num_threads(threads);
        openblas_set_num_threads(threads);
    }
    strata_backend *b = strata_calloc(1, sizeof *b);
    b->ops = &cpu_ops;
    b->ctx = strata_calloc(1, sizeof(cpu_ctx));
    b->host_memory = 1;
    b->threads = threads > 0 ? threads : omp_get_max_threads();
    return b;
}
