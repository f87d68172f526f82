/* backend.h — the compute backend interface: a table of function pointers plus a context, as in
 * ggml's backend. The CPU backend (kernels/cpu/, OpenBLAS + OpenMP) is the reference; a CUDA
 * backend implements the same table. Ops are plain functions over flat row-major buffers.
 *
 * Memory ownership (explicit, so a device backend can implement it):
 *  - "backend buffers" (float *, void *) are allocated with ops.alloc and freed with ops.free;
 *    only ops may touch them. On the CPU backend they are host memory (host_memory == 1), so a
 *    caller may read them directly; on a device backend they must go through upload/download.
 *  - weights are host memory (usually the mmapped safetensors file, f32/f16/bf16). Before an op
 *    uses a weight, the caller gets a backend view with ops.weight_get (the CPU backend returns
 *    the host pointer itself; a device backend copies it, possibly caching) and gives it back
 *    with ops.weight_put. Weight operands keep their on-disk dtype: ops convert per use.
 *  - every other pointer an op takes is a backend buffer, except where documented "host".
 * All ops are asynchronous on device backends and ordered on the backend's stream; download
 * returns when the data is on the host. Shapes are in elements; "ld" is a row stride. */
#ifndef STRATA_BACKEND_H
#define STRATA_BACKEND_H

#include <stddef.h>
#include <stdint.h>

/* Element type of a weight operand (activations are always f32). */
typedef enum {
    STRATA_TENSOR_F32 = 0,
    STRATA_TENSOR_F16 = 1,
    STRATA_TENSOR_BF16 = 2,
} strata_tensor_dtype;

size_t strata_tensor_dtype_size(strata_tensor_dtype t); /* 4, 2, 2 */
const char *strata_tensor_dtype_name(strata_tensor_dtype t); /* "f32", "f16", "bf16" */

/* Element-wise activation functions (kernels/ops_math.h has their definitions). */
typedef enum {
    STRATA_ACT_GELU_ERF = 0,   /* torch gelu, approximate="none" ("gelu") */
    STRATA_ACT_GELU_TANH = 1,  /* gelu approximate="tanh" ("gelu_pytorch_tanh", "gelu_new") */
    STRATA_ACT_QUICK_GELU = 2, /* x * sigmoid(1.702 x) (CLIP) */
    STRATA_ACT_SILU = 3,       /* x * sigmoid(x) */
} strata_activation;

/* Attention masking for ops.attention. Key j is visible from query i when
 *   (!causal || j <= i) && (window <= 0 || i - j < window) && j < length[b]  (keys)
 * (the rule of transformers' causal, sliding-window and padding masks). Rows i >= length[b]
 * (right padding) are computed with the same rule and are meaningless but finite. */
typedef struct {
    int causal;
    int window;             /* sliding window (Mistral), <= 0: none */
    const int32_t *lengths; /* host [B] real tokens per row (right padding), NULL: all T */
} strata_attention_mask;

typedef struct strata_backend strata_backend;

typedef struct {
    const char *name; /* "cpu", "cuda" */

    /* ---- memory -------------------------------------------------------------------------- */
    void *(*alloc)(void *ctx, size_t bytes);                 /* NULL + strata_error on failure */
    void (*free)(void *ctx, void *buf);
    void (*upload)(void *ctx, void *dst, const void *host_src, size_t bytes);
    void (*download)(void *ctx, void *host_dst, const void *src, size_t bytes); /* synchronous */
    void (*memset0)(void *ctx, void *dst, size_t bytes);
    void (*copy)(void *ctx, void *dst, const void *src, size_t bytes);   /* buffer to buffer */
    /* dst[r][0..cols) = src[r][0..cols) for rows rows, f32, row strides ldd / lds (elements) */
    void (*copy2d)(void *ctx, float *dst, int ldd, const float *src, int lds, int rows, int cols);
    /* weights: host -> backend view (see top). n elements of dtype. */
    const void *(*weight_get)(void *ctx, const void *host, strata_tensor_dtype dtype, size_t n);
    void (*weight_put)(void *ctx, const void *view);
    void (*synchronize)(void *ctx);

    /* ---- GEMM ------------------------------------------------------------------------------ */
    /* C[M][N] = alpha * A[M][K] * op(B) + beta * C  (+ bias[N] broadcast over rows if non-NULL).
     * A, C f32 (lda, ldc). B of dtype b_dtype: trans_b=1: B is [N][K] (a Linear weight, ldb);
     * trans_b=0: B is [K][N]. bias has b_dtype too (a weight). */
    void (*gemm)(void *ctx, int M, int N, int K, float alpha, const float *A, int lda,
                 const void *B, strata_tensor_dtype b_dtype, int ldb, int trans_b,
                 const void *bias, float beta, float *C, int ldc);
    /* Strided batched, all f32: for b < batch, C_b = alpha * op(A_b) * op(B_b) + beta * C_b,
     * X_b = X + b * stride_x, op(X) = X^T when trans_x. op(A_b) is [M][K], op(B_b) [K][N]. */
    void (*gemm_batched)(void *ctx, int trans_a, int trans_b, int M, int N, int K, float alpha,
                         const float *A, int lda, long stride_a, const float *B, int ldb,
                         long stride_b, float beta, float *C, int ldc, long stride_c, int batch);

    /* ---- normalisation, element-wise --------------------------------------------------------- */
    /* y[r] = w * x[r] / sqrt(mean(x[r]^2) + eps)   (LlamaRMSNorm), rows x dim; y may alias x */
    void (*rmsnorm)(void *ctx, float *y, const float *x, const void *w, strata_tensor_dtype wt,
                    int rows, int dim, float eps);
    /* y[r] = (x[r] - mean) / sqrt(var + eps) * w + b  (nn.LayerNorm, biased var); may alias */
    void (*layernorm)(void *ctx, float *y, const float *x, const void *w, const void *b,
                      strata_tensor_dtype wt, int rows, int dim, float eps);
    /* x[i] = act(x[i]) for n elements */
    void (*activation)(void *ctx, float *x, long n, strata_activation act);
    /* out[r][i] = silu(gate[r][i]) * up[r][i] where gate and up are columns [0,F) and [F,2F) of
     * gu [rows][2F] (LlamaMLP act_fn(gate_proj(x)) * up_proj(x)); out [rows][F] */
    void (*swiglu)(void *ctx, float *out, const float *gu, int rows, int F);
    /* y[i] += x[i] */
    void (*add)(void *ctx, float *y, const float *x, long n);
    /* y[r][i] += v[i] for rows x dim, v a weight (position embeddings, class token) */
    void (*add_rows)(void *ctx, float *y, const void *v, strata_tensor_dtype vt, int rows, int dim);

    /* ---- transformer pieces ------------------------------------------------------------------ */
    /* out[i][:] = table[ids[i]][:] converted to f32; ids host [n], table a weight [V][D].
     * ids must be in [0, V) (checked by the caller). */
    void (*embedding)(void *ctx, float *out, const int32_t *ids, int n, const void *table,
                      strata_tensor_dtype dt, int D);
    /* RoPE in place on x [B][T] rows of stride ld, each holding H heads of hd, rotate-half form
     * (transformers' apply_rotary_pos_emb): angle = t * inv_freq[i] (position = t, right
     * padding), inv_freq host [hd/2]; cos and sin are multiplied by attn_scale. */
    void (*rope)(void *ctx, float *x, int ld, int B, int T, int H, int hd, const float *inv_freq,
                 float attn_scale);
    /* Multi-head attention, GQA (H query heads share H/Hkv kv heads):
     *   q [B][T][H][hd] (row stride ldq), k, v [B][T][Hkv][hd] (row stride ldkv),
     *   out [B][T][H][hd] (dense), scores = q k^T * scale, masked (see strata_attention_mask),
     *   softmax over keys in f32, out = p v. */
    void (*attention)(void *ctx, float *out, const float *q, int ldq, const float *k,
                      const float *v, int ldkv, int B, int T, int H, int Hkv, int hd,
                      float scale, const strata_attention_mask *mask);
    /* im2col for a stride == kernel convolution (ViT patch embedding):
     * pixels [N][C][H][W] -> cols [N][(H/p)*(W/p)][C*p*p], patch-major in row-major order,
     * column order (c, ky, kx) to match a conv weight [Dout][C][p][p] viewed as [Dout][C*p*p]. */
    void (*im2col)(void *ctx, float *cols, const float *pixels, int N, int C, int H, int W, int p);
    /* logprob[r] = log_softmax(logits[r])[target[r]] (target host [rows], -1 -> 0.0) */
    void (*token_logprob)(void *ctx, float *out, const float *logits, const int32_t *target,
                          int rows, int V);

    /* ---- dtype conversion ---------------------------------------------------------------------- */
    /* dst f32 [n] from src of dtype (src a backend buffer) */
    void (*to_f32)(void *ctx, float *dst, const void *src, strata_tensor_dtype dt, long n);
    /* dst [n] of dtype (f16 round-to-nearest-even as numpy, bf16 RNE) from f32 */
    void (*from_f32)(void *ctx, void *dst, strata_tensor_dtype dt, const float *src, long n);

    /* ---- analysis tiles ----------------------------------------------------------------------- */
    /* d[i][j] = max(0, na[i] + nb[j] - 2 g[i][j]) for an M x N Gram tile g (ld N), where na, nb
     * are squared row norms [M], [N]. d may alias g. */
    void (*sqdist_from_gram)(void *ctx, float *d, const float *g, const float *na,
                             const float *nb, int M, int N);
    /* Per-row k smallest, merged: for each of M rows, the lists (val [M][k] ascending,
     * idx [M][k] int64, idx -1 = empty, all host) absorb row i of d [M][N] (host or backend
     * buffer per host_memory) with column j named col0 + j; entries with col0 + j == skip[i]
     * (skip host [M] or NULL) are ignored (self-distances). Ties keep the smaller index. */
    void (*topk_merge)(void *ctx, float *val, int64_t *idx, int k, const float *d, int M, int N,
                       int64_t col0, const int64_t *skip);

    void (*destroy)(void *ctx);
} strata_backend_ops;

struct strata_backend {
    const strata_backend_ops *ops;
    void *ctx;
    int host_memory; /* 1: buffers are host memory (CPU backend) */
    int threads;     /* CPU threads used by the backend */
};

/* The CPU backend. threads <= 0: OMP_NUM_THREADS / all cores. Free with strata_backend_free. */
strata_backend *strata_backend_cpu_init(int threads);
/* "cpu", "cuda" or "auto" (cuda when a device is visible, else cpu). device: GPU ordinal.
 * NULL + strata_error naming what is missing (e.g. built without CUDA). */
strata_backend *strata_backend_init(const char *name, int device, int threads);
void strata_backend_free(strata_backend *b);

/* Scalar conversions on the host (also used by io/ and tests). Round-to-nearest-even. */
float strata_f16_to_f32(uint16_t h);
uint16_t strata_f32_to_f16(float f);
float strata_bf16_to_f32(uint16_t h);
uint16_t strata_f32_to_bf16(float f);

#endif
