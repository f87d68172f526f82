// backend_cuda.cu — the CUDA backend: the ops of kernels/backend.h on one GPU. GEMMs on cuBLAS
// in f32 (weights stay on the GPU in their checkpoint dtype and are converted to an f32 scratch
// per use, as the CPU backend does, so results match the CPU reference to f32 rounding; no TF32),
// everything else a few plain kernels, one thread per element or one block per row. Per-element
// math comes from kernels/ops_math.h, shared with the CPU backend. The per-row top-k merge runs
// on the host through the CPU backend's implementation after a download.
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cuda/cuda_check.h"
#include "kernels/ops_math.h"
extern "C" {
#include "kernels/backend.h"
}

namespace {

struct weight_entry {
    const void *host; // the caller's host pointer (the mmapped checkpoint)
    void *dev;        // device copy in the same dtype
    size_t bytes;
};

struct cuda_ctx {
    int device;
    cudaStream_t stream;
    cublasHandle_t blas;
    float *scratch;      // device f32 copy of a converted weight operand
    size_t scratch_cap;  // floats
    void *staging;       // device copy of small host arrays (ids, inv_freq, lengths, targets)
    size_t staging_cap;  // bytes
    float *host_tile;    // host copy of a distance tile for top-k
    size_t host_tile_cap;
    weight_entry *weights;
    int n_weights, cap_weights;
    strata_backend *cpu; // host reference used for top-k
};

const int threads_per_block = 256;

int blocks_for(long n)
{
    long b = (n + threads_per_block - 1) / threads_per_block;
    if (b < 1) b = 1;
    return b > 65535 ? 65535 : (int)b; // kernels use grid-stride loops
}

// Grows a device buffer; waits for queued work that may still read the old one.
void *grow_device(cuda_ctx *c, void *buf, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap) return buf;
    STRATA_CHECK_CUDA(cudaStreamSynchronize(c->stream));
    if (buf) STRATA_CHECK_CUDA(cudaFree(buf));
    void *p = NULL;
    STRATA_CHECK_CUDA(cudaMalloc(&p, need * elem));
    *cap = need;
    return p;
}

// Copies a small host array to the device staging buffer (ordered on the stream).
const void *stage(cuda_ctx *c, const void *host, size_t bytes)
{
    c->staging = grow_device(c, c->staging, &c->staging_cap, bytes, 1);
    STRATA_CHECK_CUDA(cudaMemcpyAsync(c->staging, host, bytes, cudaMemcpyHostToDevice, c->stream));
    return c->staging;
}

__device__ float load_as_f32(const void *p, int dt, long i)
{
    if (dt == STRATA_TENSOR_F32) return ((const float *)p)[i];
    if (dt == STRATA_TENSOR_BF16) return strata_math_bf16_to_f32(((const uint16_t *)p)[i]);
    return strata_math_f16_to_f32(((const uint16_t *)p)[i]);
}

// Block-wide sum of a double (blockDim.x == threads_per_block).
__device__ double block_sum(double v, double *shared)
{
    shared[threadIdx.x] = v;
    __syncthreads();
    for (int s = blockDim.x / 2; s > 0; s >>= 1) {
        if ((int)threadIdx.x < s) shared[threadIdx.x] += shared[threadIdx.x + s];
        __syncthreads();
    }
    double r = shared[0];
    __syncthreads();
    return r;
}

__device__ float block_max(float v, float *shared)
{
    shared[threadIdx.x] = v;
    __syncthreads();
    for (int s = blockDim.x / 2; s > 0; s >>= 1) {
        if ((int)threadIdx.x < s) shared[threadIdx.x] = fmaxf(shared[threadIdx.x], shared[threadIdx.x + s]);
        __syncthreads();
    }
    float r = shared[0];
    __syncthreads();
    return r;
}

// ---- kernels ----------------------------------------------------------------------------------
__global__ void k_to_f32(float *dst, const void *src, int dt, long n)
{
    for (long i = blockIdx.x * (long)blockDim.x + threadIdx.x; i < n; i += (long)gridDim.x * blockDim.x)
        dst[i] = load_as_f32(src, dt, i);
}

__global__ void k_from_f32(void *dst, int dt, const float *src, long n)
{
    for (long i = blockIdx.x * (long)blockDim.x + threadIdx.x; i < n; i += (long)gridDim.x * blockDim.x) {
        if (dt == STRATA_TENSOR_F32) ((float *)dst)[i] = src[i];
        else if (dt == STRATA_TENSOR_BF16) ((uint16_t *)dst)[i] = strata_math_f32_to_bf16(src[i]);
        else ((uint16_t *)dst)[i] = strata_math_f32_to_f16(src[i]);
    }
}

// C[i][j] += bias[j] over M x N (row stride ldc)
__global__ void k_add_bias(float *C, int ldc, const void *bias, int dt, int M, int N)
{
    long n = (long)M * N;
    for (long e = blockIdx.x * (long)blockDim.x + threadIdx.x; e < n; e += (long)gridDim.x * blockDim.x) {
        long i = e / N, j = e % N;
        C[i * ldc + j] += load_as_f32(bias, dt, j);
    }
}

// one block per row: y = w * x / sqrt(mean(x^2) + eps)
__global__ void k_rmsnorm(float *y, const float *x, const void *w, int dt, int dim, float eps)
{
    __shared__ double shared[threads_per_block];
    const float *xr = x + (long)blockIdx.x * dim;
    float *yr = y + (long)blockIdx.x * dim;
    double ss = 0;
    for (int i = threadIdx.x; i < dim; i += blockDim.x) ss += (double)xr[i] * xr[i];
    ss = block_sum(ss, shared);
    float inv = 1.0f / sqrtf((float)(ss / dim) + eps);
    for (int i = threadIdx.x; i < dim; i += blockDim.x) yr[i] = load_as_f32(w, dt, i) * (xr[i] * inv);
}

// one block per row: y = (x - mean) / sqrt(var + eps) * w + b
__global__ void k_layernorm(float *y, const float *x, const void *w, const void *b, int dt, int dim,
                            float eps)
{
    __shared__ double shared[threads_per_block];
    const float *xr = x + (long)blockIdx.x * dim;
    float *yr = y + (long)blockIdx.x * dim;
    double s = 0;
    for (int i = threadIdx.x; i < dim; i += blockDim.x) s += xr[i];
    double mean = block_sum(s, shared) / dim;
    double ss = 0;
    for (int i = threadIdx.x; i < dim; i += blockDim.x) ss += (xr[i] - mean) * (xr[i] - mean);
    ss = block_sum(ss, shared);
    float inv = (float)(1.0 / sqrt(ss / dim + eps));
    float m = (float)mean;
    for (int i = threadIdx.x; i < dim; i += blockDim.x)
        yr[i] = (xr[i] - m) * inv * load_as_f32(w, dt, i) + (b ? load_as_f32(b, dt, i) : 0.0f);
}

__global__ void k_activation(float *x, long n, int act)
{
    for (long i = blockIdx.x * (long)blockDim.x + threadIdx.x; i < n; i += (long)gridDim.x * blockDim.x)
        x[i] = strata_math_activation(act, x[i]);
}

__global__ void k_swiglu(float *out, const float *gu, int rows, int F)
{
    long n = (long)rows * F;
    for (long e = blockIdx.x * (long)blockDim.x + threadIdx.x; e < n; e += (long)gridDim.x * blockDim.x) {
        long r = e / F, i = e % F;
        const float *g = gu + r * 2 * F;
        out[e] = strata_math_silu(g[i]) * g[F + i];
    }
}

__global__ void k_add(float *y, const float *x, long n)
{
    for (long i = blockIdx.x * (long)blockDim.x + threadIdx.x; i < n; i += (long)gridDim.x * blockDim.x)
        y[i] += x[i];
}

__global__ void k_add_rows(float *y, const void *v, int dt, int rows, int dim)
{
    long n = (long)rows * dim;
    for (long e = blockIdx.x * (long)blockDim.x + threadIdx.x; e < n; e += (long)gridDim.x * blockDim.x)
        y[e] += load_as_f32(v, dt, e % dim);
}

__global__ void k_embedding(float *out, const int32_t *ids, int n, const void *table, int dt, int D)
{
    long total = (long)n * D;
    for (long e = blockIdx.x * (long)blockDim.x + threadIdx.x; e < total; e += (long)gridDim.x * blockDim.x) {
        long i = e / D, j = e % D;
        out[e] = load_as_f32(table, dt, (long)ids[i] * D + j);
    }
}

// one thread per (b, t, i < hd/2), looping over heads: rotate-half RoPE
__global__ void k_rope(float *x, int ld, int B, int T, int H, int hd, const float *inv_freq,
                       float attn_scale)
{
    int half = hd / 2;
    long n = (long)B * T * half;
    for (long e = blockIdx.x * (long)blockDim.x + threadIdx.x; e < n; e += (long)gridDim.x * blockDim.x) {
        int i = (int)(e % half);
        long bt = e / half;
        int t = (int)(bt % T);
        float angle = (float)t * inv_freq[i];
        float cs = cosf(angle) * attn_scale, sn = sinf(angle) * attn_scale;
        float *row = x + bt * ld;
        for (int h = 0; h < H; h++) {
            float *v = row + (long)h * hd;
            float x1 = v[i], x2 = v[i + half];
            v[i] = x1 * cs - x2 * sn;
            v[i + half] = x2 * cs + x1 * sn;
        }
    }
}

// One block per (query i, head h, batch b): scores in shared memory [T], softmax, p v.
__global__ void k_attention(float *out, const float *q, int ldq, const float *k, const float *v,
                            int ldkv, int T, int H, int Hkv, int hd, float scale, int causal,
                            int window, const int32_t *lengths)
{
    extern __shared__ float scores[]; // [T], then reduction space [threads_per_block] doubles
    double *red = (double *)(scores + ((T + 1) & ~1));
    int i = blockIdx.x, h = blockIdx.y, b = blockIdx.z;
    int group = H / Hkv;
    int len = lengths ? lengths[b] : T;
    const float *qi = q + ((long)b * T + i) * ldq + (long)h * hd;
    const float *kb = k + (long)b * T * ldkv + (long)(h / group) * hd;
    const float *vb = v + (long)b * T * ldkv + (long)(h / group) * hd;
    float mx = -INFINITY;
    for (int j = threadIdx.x; j < T; j += blockDim.x) {
        int visible = j < len && (!causal || j <= i) && (window <= 0 || i - j < window);
        float s = -INFINITY;
        if (visible) {
            const float *kj = kb + (long)j * ldkv;
            float dot = 0;
            for (int d = 0; d < hd; d++) dot += qi[d] * kj[d];
            s = dot * scale;
        }
        scores[j] = s;
        mx = fmaxf(mx, s);
    }
    __syncthreads();
    mx = block_max(mx, (float *)red);
    float *oi = out + ((long)b * T + i) * H * hd + (long)h * hd;
    if (mx == -INFINITY) { // nothing visible (cannot happen with length >= 1): zeros, as the CPU
        for (int d = threadIdx.x; d < hd; d += blockDim.x) oi[d] = 0.0f;
        return;
    }
    double sum = 0;
    for (int j = threadIdx.x; j < T; j += blockDim.x) {
        float e = scores[j] == -INFINITY ? 0.0f : expf(scores[j] - mx);
        scores[j] = e;
        sum += e;
    }
    sum = block_sum(sum, red);
    float inv = (float)(1.0 / sum);
    for (int d = threadIdx.x; d < hd; d += blockDim.x) {
        float acc = 0;
        for (int j = 0; j < T; j++) acc += scores[j] * inv * vb[(long)j * ldkv + d];
        oi[d] = acc;
    }
}

// pixels [N][C][H][W] -> cols [N][(H/p)(W/p)][C p p], one thread per output element
__global__ void k_im2col(float *cols, const float *pixels, int N, int C, int H, int W, int p)
{
    int gh = H / p, gw = W / p, row_len = C * p * p;
    long n = (long)N * gh * gw * row_len;
    for (long e = blockIdx.x * (long)blockDim.x + threadIdx.x; e < n; e += (long)gridDim.x * blockDim.x) {
        int col = (int)(e % row_len);
        long patch = e / row_len;
        int px = (int)(patch % gw), py = (int)((patch / gw) % gh);
        long img = patch / ((long)gw * gh);
        int kx = col % p, ky = (col / p) % p, ch = col / (p * p);
        cols[e] = pixels[((img * C + ch) * H + py * p + ky) * W + px * p + kx];
    }
}

// one block per row: log_softmax(logits[r])[target[r]]
__global__ void k_token_logprob(float *out, const float *logits, const int32_t *target, int V)
{
    __shared__ double shared[threads_per_block];
    int r = blockIdx.x;
    const float *l = logits + (long)r * V;
    float mx = -INFINITY;
    for (int j = threadIdx.x; j < V; j += blockDim.x) mx = fmaxf(mx, l[j]);
    mx = block_max(mx, (float *)shared);
    double s = 0;
    for (int j = threadIdx.x; j < V; j += blockDim.x) s += exp((double)l[j] - mx);
    s = block_sum(s, shared);
    if (threadIdx.x == 0) {
        int t = target[r];
        out[r] = (t < 0 || t >= V) ? 0.0f : (float)((double)l[t] - mx - log(s));
    }
}

__global__ void k_sqdist_from_gram(float *d, const float *g, const float *na, const float *nb, int M,
                                   int N)
{
    long n = (long)M * N;
    for (long e = blockIdx.x * (long)blockDim.x + threadIdx.x; e < n; e += (long)gridDim.x * blockDim.x) {
        float v = na[e / N] + nb[e % N] - 2.0f * g[e];
        d[e] = v > 0.0f ? v : 0.0f;
    }
}

// ---- ops ----------------------------------------------------------------------------------------
cuda_ctx *C(void *ctx) { return (cuda_ctx *)ctx; }

void *op_alloc(void *ctx, size_t bytes)
{
    void *p = NULL;
    cudaError_t err = cudaMalloc(&p, bytes ? bytes : 256);
    if (err != cudaSuccess) {
        strata_error_set("cuda backend: cannot allocate %zu bytes on GPU %d: %s", bytes,
                         C(ctx)->device, cudaGetErrorString(err));
        return NULL;
    }
    return p;
}
void op_free(void *ctx, void *buf)
{
    if (!buf) return;
    STRATA_CHECK_CUDA(cudaStreamSynchronize(C(ctx)->stream));
    STRATA_CHECK_CUDA(cudaFree(buf));
}
void op_upload(void *ctx, void *dst, const void *src, size_t bytes)
{
    STRATA_CHECK_CUDA(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, C(ctx)->stream));
}
void op_download(void *ctx, void *dst, const void *src, size_t bytes)
{
    STRATA_CHECK_CUDA(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, C(ctx)->stream));
    STRATA_CHECK_CUDA(cudaStreamSynchronize(C(ctx)->stream));
}
void op_memset0(void *ctx, void *dst, size_t bytes)
{
    STRATA_CHECK_CUDA(cudaMemsetAsync(dst, 0, bytes, C(ctx)->stream));
}
void op_copy(void *ctx, void *dst, const void *src, size_t bytes)
{
    if (bytes)
        STRATA_CHECK_CUDA(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, C(ctx)->stream));
}
void op_copy2d(void *ctx, float *dst, int ldd, const float *src, int lds, int rows, int cols)
{
    if (rows <= 0 || cols <= 0) return;
    STRATA_CHECK_CUDA(cudaMemcpy2DAsync(dst, (size_t)ldd * sizeof(float), src,
                                        (size_t)lds * sizeof(float), (size_t)cols * sizeof(float),
                                        (size_t)rows, cudaMemcpyDeviceToDevice, C(ctx)->stream));
}
// Weights are uploaded once, in their dtype, and kept for the life of the backend.
const void *op_weight_get(void *ctx, const void *host, strata_tensor_dtype dt, size_t n)
{
    cuda_ctx *c = C(ctx);
    size_t bytes = n * strata_tensor_dtype_size(dt);
    for (int i = 0; i < c->n_weights; i++)
        if (c->weights[i].host == host && c->weights[i].bytes >= bytes) return c->weights[i].dev;
    if (c->n_weights == c->cap_weights) {
        c->cap_weights = c->cap_weights ? 2 * c->cap_weights : 256;
        c->weights = (weight_entry *)strata_realloc(c->weights, sizeof(weight_entry) * c->cap_weights);
    }
    void *dev = NULL;
    cudaError_t err = cudaMalloc(&dev, bytes ? bytes : 256);
    if (err != cudaSuccess)
        strata_fatal("cuda backend: out of GPU memory uploading a %zu-byte weight to GPU %d (%s)\n"
                     "  hint: see the memory plan in kernels/cuda/README.md; use fewer ranks per "
                     "GPU or a smaller --batch", bytes, c->device, cudaGetErrorString(err));
    STRATA_CHECK_CUDA(cudaMemcpyAsync(dev, host, bytes, cudaMemcpyHostToDevice, c->stream));
    c->weights[c->n_weights++] = weight_entry{host, dev, bytes};
    return dev;
}
void op_weight_put(void *ctx, const void *view) {}
void op_synchronize(void *ctx) { STRATA_CHECK_CUDA(cudaStreamSynchronize(C(ctx)->stream)); }

void op_to_f32(void *ctx, float *dst, const void *src, strata_tensor_dtype dt, long n)
{
    if (n <= 0) return;
    k_to_f32<<<blocks_for(n), threads_per_block, 0, C(ctx)->stream>>>(dst, src, (int)dt, n);
    STRATA_CHECK_LAUNCH();
}
void op_from_f32(void *ctx, void *dst, strata_tensor_dtype dt, const float *src, long n)
{
    if (n <= 0) return;
    k_from_f32<<<blocks_for(n), threads_per_block, 0, C(ctx)->stream>>>(dst, (int)dt, src, n);
    STRATA_CHECK_LAUNCH();
}

// Row-major C = A op(B) is column-major C^T = op(B)^T A^T: cuBLAS sees the operands swapped.
void op_gemm(void *ctx, int M, int N, int K, float alpha, const float *A, int lda, const void *B,
             strata_tensor_dtype bt, int ldb, int trans_b, const void *bias, float beta, float *Cm,
             int ldc)
{
    cuda_ctx *c = C(ctx);
    if (M <= 0 || N <= 0) return;
    const float *Bf = (const float *)B;
    if (bt != STRATA_TENSOR_F32) {
        long rows = trans_b ? N : K;
        long n = (rows - 1) * (long)ldb + (trans_b ? K : N);
        c->scratch = (float *)grow_device(c, c->scratch, &c->scratch_cap, (size_t)n, sizeof(float));
        op_to_f32(ctx, c->scratch, B, bt, n);
        Bf = c->scratch;
    }
    STRATA_CHECK_CUBLAS(cublasSgemm(c->blas, trans_b ? CUBLAS_OP_T : CUBLAS_OP_N, CUBLAS_OP_N, N, M,
                                    K, &alpha, Bf, ldb, A, lda, &beta, Cm, ldc));
    if (bias) {
        k_add_bias<<<blocks_for((long)M * N), threads_per_block, 0, c->stream>>>(Cm, ldc, bias,
                                                                               (int)bt, M, N);
        STRATA_CHECK_LAUNCH();
    }
}

void op_gemm_batched(void *ctx, int trans_a, int trans_b, int M, int N, int K, float alpha,
                     const float *A, int lda, long stride_a, const float *B, int ldb, long stride_b,
                     float beta, float *Cm, int ldc, long stride_c, int batch)
{
    if (batch <= 0 || M <= 0 || N <= 0) return;
    STRATA_CHECK_CUBLAS(cublasSgemmStridedBatched(
        C(ctx)->blas, trans_b ? CUBLAS_OP_T : CUBLAS_OP_N, trans_a ? CUBLAS_OP_T : CUBLAS_OP_N, N,
        M, K, &alpha, B, ldb, stride_b, A, lda, stride_a, &beta, Cm, ldc, stride_c, batch));
}

void op_rmsnorm(void *ctx, float *y, const float *x, const void *w, strata_tensor_dtype wt, int rows,
                int dim, float eps)
{
    if (rows <= 0) return;
    k_rmsnorm<<<rows, threads_per_block, 0, C(ctx)->stream>>>(y, x, w, (int)wt, dim, eps);
    STRATA_CHECK_LAUNCH();
}
void op_layernorm(void *ctx, float *y, const float *x, const void *w, const void *b,
                  strata_tensor_dtype wt, int rows, int dim, float eps)
{
    if (rows <= 0) return;
    k_layernorm<<<rows, threads_per_block, 0, C(ctx)->stream>>>(y, x, w, b, (int)wt, dim, eps);
    STRATA_CHECK_LAUNCH();
}
void op_activation(void *ctx, float *x, long n, strata_activation act)
{
    if (n <= 0) return;
    k_activation<<<blocks_for(n), threads_per_block, 0, C(ctx)->stream>>>(x, n, (int)act);
    STRATA_CHECK_LAUNCH();
}
void op_swiglu(void *ctx, float *out, const float *gu, int rows, int F)
{
    if (rows <= 0) return;
    k_swiglu<<<blocks_for((long)rows * F), threads_per_block, 0, C(ctx)->stream>>>(out, gu, rows, F);
    STRATA_CHECK_LAUNCH();
}
void op_add(void *ctx, float *y, const float *x, long n)
{
    if (n <= 0) return;
    k_add<<<blocks_for(n), threads_per_block, 0, C(ctx)->stream>>>(y, x, n);
    STRATA_CHECK_LAUNCH();
}
void op_add_rows(void *ctx, float *y, const void *v, strata_tensor_dtype vt, int rows, int dim)
{
    if (rows <= 0) return;
    k_add_rows<<<blocks_for((long)rows * dim), threads_per_block, 0, C(ctx)->stream>>>(y, v, (int)vt,
                                                                                    rows, dim);
    STRATA_CHECK_LAUNCH();
}
void op_embedding(void *ctx, float *out, const int32_t *ids, int n, const void *table,
                  strata_tensor_dtype dt, int D)
{
    if (n <= 0) return;
    const int32_t *dev_ids = (const int32_t *)stage(C(ctx), ids, sizeof(int32_t) * (size_t)n);
    k_embedding<<<blocks_for((long)n * D), threads_per_block, 0, C(ctx)->stream>>>(out, dev_ids, n,
                                                                                 table, (int)dt, D);
    STRATA_CHECK_LAUNCH();
}
void op_rope(void *ctx, float *x, int ld, int B, int T, int H, int hd, const float *inv_freq,
             float attn_scale)
{
    if (B <= 0 || T <= 0) return;
    const float *dev_freq = (const float *)stage(C(ctx), inv_freq, sizeof(float) * (size_t)(hd / 2));
    k_rope<<<blocks_for((long)B * T * (hd / 2)), threads_per_block, 0, C(ctx)->stream>>>(
        x, ld, B, T, H, hd, dev_freq, attn_scale);
    STRATA_CHECK_LAUNCH();
}
void op_attention(void *ctx, float *out, const float *q, int ldq, const float *k, const float *v,
                  int ldkv, int B, int T, int H, int Hkv, int hd, float scale,
                  const strata_attention_mask *mask)
{
    cuda_ctx *c = C(ctx);
    if (B <= 0 || T <= 0) return;
    size_t shared = sizeof(float) * (size_t)((T + 1) & ~1) + sizeof(double) * threads_per_block;
    if (shared > 48 * 1024)
        strata_fatal("cuda backend: attention over %d tokens needs %zu bytes of shared memory "
                     "(limit 48 KiB, about 11,800 tokens)", T, shared);
    const int32_t *dev_len = NULL;
    if (mask && mask->lengths)
        dev_len = (const int32_t *)stage(c, mask->lengths, sizeof(int32_t) * (size_t)B);
    dim3 grid(T, H, B);
    k_attention<<<grid, threads_per_block, shared, c->stream>>>(
        out, q, ldq, k, v, ldkv, T, H, Hkv, hd, scale, mask ? mask->causal : 0,
        mask ? mask->window : 0, dev_len);
    STRATA_CHECK_LAUNCH();
}
void op_im2col(void *ctx, float *cols, const float *pixels, int N, int Cc, int H, int W, int p)
{
    long n = (long)N * (H / p) * (W / p) * Cc * p * p;
    if (n <= 0) return;
    k_im2col<<<blocks_for(n), threads_per_block, 0, C(ctx)->stream>>>(cols, pixels, N, Cc, H, W, p);
    STRATA_CHECK_LAUNCH();
}
void op_token_logprob(void *ctx, float *out, const float *logits, const int32_t *target, int rows,
                      int V)
{
    if (rows <= 0) return;
    const int32_t *dev_t = (const int32_t *)stage(C(ctx), target, sizeof(int32_t) * (size_t)rows);
    k_token_logprob<<<rows, threads_per_block, 0, C(ctx)->stream>>>(out, logits, dev_t, V);
    STRATA_CHECK_LAUNCH();
}
void op_sqdist_from_gram(void *ctx, float *d, const float *g, const float *na, const float *nb,
                         int M, int N)
{
    if (M <= 0 || N <= 0) return;
    k_sqdist_from_gram<<<blocks_for((long)M * N), threads_per_block, 0, C(ctx)->stream>>>(d, g, na,
                                                                                       nb, M, N);
    STRATA_CHECK_LAUNCH();
}
// The merge is branchy, sequential per row and small next to the GEMM that made the tile: it
// runs on the host, through the CPU reference, after a download.
void op_topk_merge(void *ctx, float *val, int64_t *idx, int k, const float *d, int M, int N,
                   int64_t col0, const int64_t *skip)
{
    cuda_ctx *c = C(ctx);
    size_t n = (size_t)M * (size_t)N;
    if (n > c->host_tile_cap) {
        free(c->host_tile);
        c->host_tile = (float *)strata_malloc(n * sizeof(float));
        c->host_tile_cap = n;
    }
    op_download(ctx, c->host_tile, d, n * sizeof(float));
    c->cpu->ops->topk_merge(c->cpu->ctx, val, idx, k, c->host_tile, M, N, col0, skip);
}

void op_destroy(void *ctx)
{
    cuda_ctx *c = C(ctx);
    cudaStreamSynchronize(c->stream);
    for (int i = 0; i < c->n_weights; i++) cudaFree(c->weights[i].dev);
    free(c->weights);
    cudaFree(c->scratch);
    cudaFree(c->staging);
    free(c->host_tile);
    cublasDestroy(c->blas);
    cudaStreamDestroy(c->stream);
    strata_backend_free(c->cpu);
    free(c);
}

strata_backend_ops make_ops()
{
    strata_backend_ops o;
    memset(&o, 0, sizeof o);
    o.name = "cuda";
    o.alloc = op_alloc;
    o.free = op_free;
    o.upload = op_upload;
    o.download = op_download;
    o.memset0 = op_memset0;
    o.copy = op_copy;
    o.copy2d = op_copy2d;
    o.weight_get = op_weight_get;
    o.weight_put = op_weight_put;
    o.synchronize = op_synchronize;
    o.gemm = op_gemm;
    o.gemm_batched = op_gemm_batched;
    o.rmsnorm = op_rmsnorm;
    o.layernorm = op_layernorm;
    o.activation = op_activation;
    o.swiglu = op_swiglu;
    o.add = op_add;
    o.add_rows = op_add_rows;
    o.embedding = op_embedding;
    o.rope = op_rope;
    o.attention = op_attention;
    o.im2col = op_im2col;
    o.token_logprob = op_token_logprob;
    o.to_f32 = op_to_f32;
    o.from_f32 = op_from_f32;
    o.sqdist_from_gram = op_sqdist_from_gram;
    o.topk_merge = op_topk_merge;
    o.destroy = op_destroy;
    return o;
}

const strata_backend_ops cuda_ops = make_ops();

} // namespace

// The CUDA backend on GPU `device`. NULL + strata_error when no usable device exists.
extern "C" strata_backend *strata_backend_cuda_init(int device)
{
    int n = 0;
    cudaError_t err = cudaGetDeviceCount(&n);
    if (err != cudaSuccess || n == 0) {
        strata_error_set("backend 'cuda': no usable GPU (%s)",
                         err != cudaSuccess ? cudaGetErrorString(err) : "no CUDA device visible");
        return NULL;
    }
    if (device < 0 || device >= n) device = (device < 0 ? 0 : device) % n;
    STRATA_CHECK_CUDA(cudaSetDevice(device));
    cuda_ctx *c = (cuda_ctx *)strata_calloc(1, sizeof(cuda_ctx));
    c->device = device;
    STRATA_CHECK_CUDA(cudaStreamCreateWithFlags(&c->stream, cudaStreamNonBlocking));
    STRATA_CHECK_CUBLAS(cublasCreate(&c->blas));
    STRATA_CHECK_CUBLAS(cublasSetStream(c->blas, c->stream));
    STRATA_CHECK_CUBLAS(cublasSetMathMode(c->blas, CUBLAS_DEFAULT_MATH)); // f32, no TF32
    c->cpu = strata_backend_cpu_init(1);
    strata_backend *b = (strata_backend *)strata_calloc(1, sizeof(strata_backend));
    b->ops = &cuda_ops;
    b->ctx = c;
    b->host_memory = 0;
    b->threads = 1;
    return b;
}
