/* test_backend_ops.c — every op of kernels/backend.h, table-driven (op, shapes, dtype, bound),
 * on every backend this build can run, against naive double-precision references written here
 * from the ops' definitions (PyTorch's formulas, IEEE binary16/bfloat16 by exhaustive nearest
 * search), so the CPU backend itself is checked. A device backend, where present, is also held
 * against the CPU backend's output. The bound is on ||out - ref|| / ||ref||; indices and
 * conversions are exact. As ggml's test-backend-ops. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/backend.h"
#include "strata.h"
#include "testlib.h"

/* ---- inputs -------------------------------------------------------------------------------- */
static uint64_t rng = 88172645463325252ull;
static double urand(void) /* [0, 1) */
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (double)(rng >> 11) / 9007199254740992.0;
}
static float *randv(long n, double scale)
{
    float *v = malloc((size_t)(n > 0 ? n : 1) * sizeof(float));
    for (long i = 0; i < n; i++) v[i] = (float)((2 * urand() - 1) * scale);
    return v;
}

/* A weight in dtype dt from f32 values; *rounded gets the values the op will actually see. */
static void *as_dtype(const float *v, long n, strata_tensor_dtype dt, float **rounded)
{
    *rounded = malloc((size_t)n * sizeof(float));
    if (dt == STRATA_TENSOR_F32) {
        memcpy(*rounded, v, (size_t)n * sizeof(float));
        float *w = malloc((size_t)n * sizeof(float));
        memcpy(w, v, (size_t)n * sizeof(float));
        return w;
    }
    uint16_t *w = malloc((size_t)n * 2);
    for (long i = 0; i < n; i++) {
        w[i] = dt == STRATA_TENSOR_BF16 ? strata_f32_to_bf16(v[i]) : strata_f32_to_f16(v[i]);
        (*rounded)[i] = dt == STRATA_TENSOR_BF16 ? strata_bf16_to_f32(w[i]) : strata_f16_to_f32(w[i]);
    }
    return w;
}

/* ---- backend plumbing ------------------------------------------------------------------------ */
static strata_backend *be;
#define OPS be->ops
#define CTX be->ctx
static void *up(const void *host, size_t bytes)
{
    void *d = OPS->alloc(CTX, bytes);
    OPS->upload(CTX, d, host, bytes);
    return d;
}
static float *down(const void *dev, long n)
{
    float *h = malloc((size_t)(n > 0 ? n : 1) * sizeof(float));
    OPS->download(CTX, h, dev, (size_t)n * sizeof(float));
    return h;
}

static double rel_err(const float *a, const double *ref, long n)
{
    double num = 0, den = 0;
    for (long i = 0; i < n; i++) {
        num += (a[i] - ref[i]) * (a[i] - ref[i]);
        den += ref[i] * ref[i];
    }
    return den > 0 ? sqrt(num / den) : sqrt(num);
}

typedef struct {
    const char *op;
    int a, b, c, d, e;     /* op-specific sizes (see each runner) */
    strata_tensor_dtype dt;
    int flag;              /* op-specific variant */
    double bound;
} op_case;

static void report(const op_case *t, double err)
{
    T_CHECK(err <= t->bound, "%s %s: op %s (%d,%d,%d,%d,%d dt=%s flag=%d): error %.3g > bound %.3g",
            be->ops->name, "", t->op, t->a, t->b, t->c, t->d, t->e, strata_tensor_dtype_name(t->dt),
            t->flag, err, t->bound);
    printf("%-5s %-16s %4d %4d %4d %3d %3d %-4s flag %d  err %.2e (bound %.0e)\n", be->ops->name,
           t->op, t->a, t->b, t->c, t->d, t->e, strata_tensor_dtype_name(t->dt), t->flag, err, t->bound);
}

/* gemm: a=M b=N c=K, flag bit0 trans_b, bit1 bias, bit2 beta=0.5 accumulate */
static double run_gemm(const op_case *t)
{
    int M = t->a, N = t->b, K = t->c, tb = t->flag & 1, bias = t->flag & 2, acc = t->flag & 4;
    float *A = randv((long)M * K, 1), *Bv = randv((long)N * K, 1), *bv = randv(N, 1),
          *C0 = randv((long)M * N, 1), *Br, *br;
    void *Bw = as_dtype(Bv, (long)N * K, t->dt, &Br), *bw = as_dtype(bv, N, t->dt, &br);
    float *dA = up(A, (size_t)M * K * 4), *dC = up(C0, (size_t)M * N * 4);
    const void *wB = OPS->weight_get(CTX, Bw, t->dt, (size_t)N * K);
    const void *wb = OPS->weight_get(CTX, bw, t->dt, (size_t)N);
    float alpha = 0.75f, beta = acc ? 0.5f : 0.0f;
    OPS->gemm(CTX, M, N, K, alpha, dA, K, wB, t->dt, tb ? K : N, tb, bias ? wb : NULL, beta, dC, N);
    float *C = down(dC, (long)M * N);
    double *ref = malloc((size_t)M * N * sizeof(double));
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double s = 0;
            for (int k = 0; k < K; k++) s += (double)A[i * K + k] * (tb ? Br[j * K + k] : Br[k * N + j]);
            ref[i * N + j] = alpha * s + beta * C0[i * N + j] + (bias ? br[j] : 0.0);
        }
    double e = rel_err(C, ref, (long)M * N);
    OPS->weight_put(CTX, wB);
    OPS->weight_put(CTX, wb);
    OPS->free(CTX, dA);
    OPS->free(CTX, dC);
    free(A), free(Bv), free(bv), free(C0), free(Br), free(br), free(Bw), free(bw), free(C), free(ref);
    return e;
}

/* gemm_batched: a=M b=N c=K d=batch, flag bit0 trans_a, bit1 trans_b */
static double run_gemm_batched(const op_case *t)
{
    int M = t->a, N = t->b, K = t->c, nb = t->d, ta = t->flag & 1, tb = (t->flag >> 1) & 1;
    long sa = (long)M * K, sb = (long)K * N, sc = (long)M * N;
    float *A = randv(sa * nb, 1), *B = randv(sb * nb, 1);
    float *dA = up(A, (size_t)sa * nb * 4), *dB = up(B, (size_t)sb * nb * 4);
    float *dC = OPS->alloc(CTX, (size_t)sc * nb * 4);
    OPS->gemm_batched(CTX, ta, tb, M, N, K, 1.0f, dA, ta ? M : K, sa, dB, tb ? K : N, sb, 0.0f, dC,
                      N, sc, nb);
    float *C = down(dC, sc * nb);
    double *ref = malloc((size_t)sc * nb * sizeof(double));
    for (int b = 0; b < nb; b++)
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++) {
                double s = 0;
                for (int k = 0; k < K; k++) {
                    double x = ta ? A[b * sa + (long)k * M + i] : A[b * sa + (long)i * K + k];
                    double y = tb ? B[b * sb + (long)j * K + k] : B[b * sb + (long)k * N + j];
                    s += x * y;
                }
                ref[b * sc + (long)i * N + j] = s;
            }
    double e = rel_err(C, ref, sc * nb);
    OPS->free(CTX, dA), OPS->free(CTX, dB), OPS->free(CTX, dC);
    free(A), free(B), free(C), free(ref);
    return e;
}

/* rmsnorm (flag 0) / layernorm (flag 1): a=rows b=dim */
static double run_norm(const op_case *t)
{
    int R = t->a, D = t->b;
    float *x = randv((long)R * D, 3), *wv = randv(D, 1), *bv = randv(D, 1), *wr, *br;
    for (long i = 0; i < (long)R * D; i++) x[i] += 0.5f; /* a nonzero mean for layernorm */
    void *w = as_dtype(wv, D, t->dt, &wr), *b = as_dtype(bv, D, t->dt, &br);
    float *dx = up(x, (size_t)R * D * 4), *dy = OPS->alloc(CTX, (size_t)R * D * 4);
    float eps = 1e-5f;
    if (t->flag == 0)
        OPS->rmsnorm(CTX, dy, dx, OPS->weight_get(CTX, w, t->dt, D), t->dt, R, D, eps);
    else
        OPS->layernorm(CTX, dy, dx, OPS->weight_get(CTX, w, t->dt, D),
                       OPS->weight_get(CTX, b, t->dt, D), t->dt, R, D, eps);
    float *y = down(dy, (long)R * D);
    double *ref = malloc((size_t)R * D * sizeof(double));
    for (int r = 0; r < R; r++) {
        const float *xr = x + (long)r * D;
        double mean = 0, var = 0, ms = 0;
        for (int i = 0; i < D; i++) mean += xr[i], ms += (double)xr[i] * xr[i];
        mean /= D, ms /= D;
        for (int i = 0; i < D; i++) var += (xr[i] - mean) * (xr[i] - mean);
        var /= D;
        for (int i = 0; i < D; i++)
            ref[(long)r * D + i] = t->flag == 0 ? wr[i] * xr[i] / sqrt(ms + eps)
                                                : (xr[i] - mean) / sqrt(var + eps) * wr[i] + br[i];
    }
    double e = rel_err(y, ref, (long)R * D);
    OPS->free(CTX, dx), OPS->free(CTX, dy);
    free(x), free(wv), free(bv), free(wr), free(br), free(w), free(b), free(y), free(ref);
    return e;
}

/* activation: a=n, flag = strata_activation; swiglu: a=rows b=F (flag 99) */
static double run_activation(const op_case *t)
{
    long n = t->a;
    float *x = randv(n, 6), *dx = up(x, (size_t)n * 4);
    OPS->activation(CTX, dx, n, (strata_activation)t->flag);
    float *y = down(dx, n);
    double *ref = malloc((size_t)n * sizeof(double));
    for (long i = 0; i < n; i++) {
        double v = x[i], sig = 1 / (1 + exp(-v));
        switch (t->flag) {
        case STRATA_ACT_GELU_ERF: ref[i] = 0.5 * v * (1 + erf(v / sqrt(2.0))); break;
        case STRATA_ACT_GELU_TANH:
            ref[i] = 0.5 * v * (1 + tanh(sqrt(2 / M_PI) * (v + 0.044715 * v * v * v)));
            break;
        case STRATA_ACT_QUICK_GELU: ref[i] = v / (1 + exp(-1.702 * v)); break;
        default: ref[i] = v * sig;
        }
    }
    double e = rel_err(y, ref, n);
    OPS->free(CTX, dx);
    free(x), free(y), free(ref);
    return e;
}

static double run_swiglu(const op_case *t)
{
    int R = t->a, F = t->b;
    float *gu = randv((long)R * 2 * F, 4), *dgu = up(gu, (size_t)R * 2 * F * 4);
    float *dout = OPS->alloc(CTX, (size_t)R * F * 4);
    OPS->swiglu(CTX, dout, dgu, R, F);
    float *y = down(dout, (long)R * F);
    double *ref = malloc((size_t)R * F * sizeof(double));
    for (int r = 0; r < R; r++)
        for (int i = 0; i < F; i++) {
            double g = gu[(long)r * 2 * F + i], u = gu[(long)r * 2 * F + F + i];
            ref[(long)r * F + i] = g / (1 + exp(-g)) * u;
        }
    double e = rel_err(y, ref, (long)R * F);
    OPS->free(CTX, dgu), OPS->free(CTX, dout);
    free(gu), free(y), free(ref);
    return e;
}

/* add + add_rows + copy2d: a=rows b=dim */
static double run_add(const op_case *t)
{
    int R = t->a, D = t->b;
    float *y0 = randv((long)R * D, 1), *x = randv((long)R * D, 1), *v = randv(D, 1), *vr;
    void *vw = as_dtype(v, D, t->dt, &vr);
    float *dy = up(y0, (size_t)R * D * 4), *dx = up(x, (size_t)R * D * 4);
    OPS->add(CTX, dy, dx, (long)R * D);
    OPS->add_rows(CTX, dy, OPS->weight_get(CTX, vw, t->dt, D), t->dt, R, D);
    /* copy2d: the first D/2 columns of each row of dy into rows of a buffer with stride D + 3 */
    float *dz = OPS->alloc(CTX, (size_t)R * (D + 3) * 4);
    OPS->memset0(CTX, dz, (size_t)R * (D + 3) * 4);
    OPS->copy2d(CTX, dz, D + 3, dy, D, R, D / 2);
    float *z = down(dz, (long)R * (D + 3));
    double *ref = calloc((size_t)R * (D + 3), sizeof(double));
    for (int r = 0; r < R; r++)
        for (int i = 0; i < D / 2; i++)
            ref[(long)r * (D + 3) + i] = (double)y0[(long)r * D + i] + x[(long)r * D + i] + vr[i];
    double e = rel_err(z, ref, (long)R * (D + 3));
    OPS->free(CTX, dy), OPS->free(CTX, dx), OPS->free(CTX, dz);
    free(y0), free(x), free(v), free(vr), free(vw), free(z), free(ref);
    return e;
}

/* embedding: a=n ids b=V c=D */
static double run_embedding(const op_case *t)
{
    int n = t->a, V = t->b, D = t->c;
    float *tab = randv((long)V * D, 1), *tr;
    void *tw = as_dtype(tab, (long)V * D, t->dt, &tr);
    int32_t *ids = malloc((size_t)n * 4);
    for (int i = 0; i < n; i++) ids[i] = (int32_t)(urand() * V);
    float *dout = OPS->alloc(CTX, (size_t)n * D * 4);
    OPS->embedding(CTX, dout, ids, n, OPS->weight_get(CTX, tw, t->dt, (size_t)V * D), t->dt, D);
    float *y = down(dout, (long)n * D);
    double *ref = malloc((size_t)n * D * sizeof(double));
    for (int i = 0; i < n; i++)
        for (int j = 0; j < D; j++) ref[(long)i * D + j] = tr[(long)ids[i] * D + j];
    double e = rel_err(y, ref, (long)n * D);
    OPS->free(CTX, dout);
    free(tab), free(tr), free(tw), free(ids), free(y), free(ref);
    return e;
}

/* rope: a=B b=T c=H d=hd e=extra row stride */
static double run_rope(const op_case *t)
{
    int B = t->a, T = t->b, H = t->c, hd = t->d, ld = H * hd + t->e, half = hd / 2;
    long n = (long)B * T * ld;
    float *x = randv(n, 1), *inv = malloc((size_t)half * 4);
    for (int i = 0; i < half; i++) inv[i] = (float)pow(10000.0, -2.0 * i / hd);
    float *dx = up(x, (size_t)n * 4);
    OPS->rope(CTX, dx, ld, B, T, H, hd, inv, 1.0f);
    float *y = down(dx, n);
    double *ref = malloc((size_t)n * sizeof(double));
    for (long i = 0; i < n; i++) ref[i] = x[i]; /* the row tail past H*hd is untouched */
    for (int b = 0; b < B; b++)
        for (int tt = 0; tt < T; tt++)
            for (int h = 0; h < H; h++) {
                long o = ((long)b * T + tt) * ld + (long)h * hd;
                for (int i = 0; i < hd; i++) {
                    /* x * cos + rotate_half(x) * sin, rotate_half = cat(-x2, x1) */
                    double ang = (double)tt * inv[i % half];
                    double rot = i < half ? -x[o + i + half] : x[o + i - half];
                    ref[o + i] = x[o + i] * cos(ang) + rot * sin(ang);
                }
            }
    double e = rel_err(y, ref, n);
    OPS->free(CTX, dx);
    free(x), free(inv), free(y), free(ref);
    return e;
}

/* attention: a=B b=T c=H d=Hkv e=hd; flag bit0 causal, bit1 padding lengths, bit2 window 3 */
static double run_attention(const op_case *t)
{
    int B = t->a, T = t->b, H = t->c, Hkv = t->d, hd = t->e;
    int causal = t->flag & 1, pad = t->flag & 2, window = (t->flag & 4) ? 3 : 0;
    int ldq = H * hd + 5, ldkv = Hkv * hd + 2; /* strided rows, as the model's fused qkv */
    float *q = randv((long)B * T * ldq, 2), *k = randv((long)B * T * ldkv, 2),
          *v = randv((long)B * T * ldkv, 1);
    int32_t *len = malloc((size_t)B * 4);
    for (int b = 0; b < B; b++) len[b] = pad ? T - (b * 3) % T : T;
    float *dq = up(q, (size_t)B * T * ldq * 4), *dk = up(k, (size_t)B * T * ldkv * 4),
          *dv = up(v, (size_t)B * T * ldkv * 4), *dout = OPS->alloc(CTX, (size_t)B * T * H * hd * 4);
    strata_attention_mask mask = {.causal = causal, .window = window, .lengths = pad ? len : NULL};
    float scale = 1.0f / sqrtf((float)hd);
    OPS->attention(CTX, dout, dq, ldq, dk, dv, ldkv, B, T, H, Hkv, hd, scale, &mask);
    float *y = down(dout, (long)B * T * H * hd);
    double *ref = calloc((size_t)B * T * H * hd, sizeof(double)), *p = malloc((size_t)T * sizeof(double));
    long n_cmp = 0;
    float *yc = malloc((size_t)B * T * H * hd * 4);
    double *rc = malloc((size_t)B * T * H * hd * sizeof(double));
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++) {
            int g = h / (H / Hkv);
            for (int i = 0; i < len[b]; i++) { /* padded query rows are unspecified */
                double mx = -INFINITY, sum = 0;
                for (int j = 0; j < T; j++) {
                    int vis = j < len[b] && (!causal || j <= i) && (!window || i - j < window);
                    double s = 0;
                    for (int d = 0; d < hd; d++)
                        s += (double)q[((long)b * T + i) * ldq + h * hd + d] * k[((long)b * T + j) * ldkv + g * hd + d];
                    p[j] = vis ? s * scale : -INFINITY;
                    if (p[j] > mx) mx = p[j];
                }
                for (int j = 0; j < T; j++) sum += (p[j] = p[j] == -INFINITY ? 0 : exp(p[j] - mx));
                for (int d = 0; d < hd; d++) {
                    double o = 0;
                    for (int j = 0; j < T; j++) o += p[j] / sum * v[((long)b * T + j) * ldkv + g * hd + d];
                    long at = ((long)b * T + i) * H * hd + (long)h * hd + d;
                    rc[n_cmp] = o;
                    yc[n_cmp++] = y[at];
                }
            }
        }
    double e = rel_err(yc, rc, n_cmp);
    OPS->free(CTX, dq), OPS->free(CTX, dk), OPS->free(CTX, dv), OPS->free(CTX, dout);
    free(q), free(k), free(v), free(len), free(y), free(ref), free(p), free(yc), free(rc);
    return e;
}

/* im2col: a=N b=C c=H(=W) d=p */
static double run_im2col(const op_case *t)
{
    int N = t->a, C = t->b, S = t->c, p = t->d, g = S / p, K = C * p * p;
    long npx = (long)N * C * S * S, ncol = (long)N * g * g * K;
    float *x = randv(npx, 1), *dx = up(x, (size_t)npx * 4), *dc = OPS->alloc(CTX, (size_t)ncol * 4);
    OPS->im2col(CTX, dc, dx, N, C, S, S, p);
    float *y = down(dc, ncol);
    double *ref = malloc((size_t)ncol * sizeof(double));
    /* conv weight [Dout][C][p][p] flattened: column (c, ky, kx) of patch (py, px) */
    for (int n = 0; n < N; n++)
        for (int py = 0; py < g; py++)
            for (int px = 0; px < g; px++)
                for (int c = 0; c < C; c++)
                    for (int ky = 0; ky < p; ky++)
                        for (int kx = 0; kx < p; kx++)
                            ref[(((long)n * g + py) * g + px) * K + (c * p + ky) * p + kx] =
                                x[(((long)n * C + c) * S + py * p + ky) * S + px * p + kx];
    double e = rel_err(y, ref, ncol);
    OPS->free(CTX, dx), OPS->free(CTX, dc);
    free(x), free(y), free(ref);
    return e;
}

/* token_logprob: a=rows b=V */
static double run_logprob(const op_case *t)
{
    int R = t->a, V = t->b;
    float *l = randv((long)R * V, 8), *dl = up(l, (size_t)R * V * 4), *dout = OPS->alloc(CTX, (size_t)R * 4);
    int32_t *tg = malloc((size_t)R * 4);
    for (int r = 0; r < R; r++) tg[r] = r % 5 == 4 ? -1 : (int32_t)(urand() * V);
    OPS->token_logprob(CTX, dout, dl, tg, R, V);
    float *y = down(dout, R);
    double *ref = malloc((size_t)R * sizeof(double));
    for (int r = 0; r < R; r++) {
        double s = 0;
        for (int j = 0; j < V; j++) s += exp(l[(long)r * V + j]);
        ref[r] = tg[r] < 0 ? 0.0 : l[(long)r * V + tg[r]] - log(s);
    }
    double e = rel_err(y, ref, R);
    OPS->free(CTX, dl), OPS->free(CTX, dout);
    free(l), free(tg), free(y), free(ref);
    return e;
}

static double f16v(uint16_t c) /* by the binary16 definition */
{
    int e = (c >> 10) & 31, m = c & 1023;
    return e == 0 ? ldexp(m, -24) : ldexp(1024 + m, e - 25);
}
static double bf16v(uint16_t c)
{
    int e = (c >> 7) & 255, m = c & 127;
    return e == 0 ? ldexp(m, -133) : ldexp(128 + m, e - 134);
}

/* Reference f32 -> f16/bf16: the nearest representable value by search over every finite code
 * (ties to the even code), overflow to inf past the largest finite + half an ulp. */
static uint16_t ref_round(float x, strata_tensor_dtype dt)
{
    int bf = dt == STRATA_TENSOR_BF16;
    uint16_t sign = signbit(x) ? 0x8000 : 0;
    double a = fabs((double)x);
    uint16_t max_code = bf ? 0x7f7f : 0x7bff, lo = 0, hi = max_code;
    double (*val)(uint16_t) = bf ? bf16v : f16v;
    double top = val(max_code), ulp = top - val(max_code - 1);
    if (a >= top + ulp / 2) return sign | (bf ? 0x7f80 : 0x7c00);
    while (hi - lo > 1) { /* codes are monotonic in value: largest code with value <= a */
        uint16_t mid = (uint16_t)((lo + hi) / 2);
        if (val(mid) <= a) lo = mid;
        else hi = mid;
    }
    if (val(hi) <= a) lo = hi;
    uint16_t best = lo;
    if (lo < max_code) {
        double dl = a - val(lo), dh = val((uint16_t)(lo + 1)) - a;
        if (dh < dl || (dh == dl && ((lo + 1) & 1) == 0)) best = (uint16_t)(lo + 1);
    }
    return sign | best;
}
/* to_f32 / from_f32: a=n values spanning subnormals to overflow; exact */
static double run_convert(const op_case *t)
{
    long n = t->a;
    float *x = malloc((size_t)n * 4);
    for (long i = 0; i < n; i++) {
        double mag = pow(2.0, -30 + 50 * urand()); /* 2^-30 .. 2^20: f16 subnormals and overflow */
        x[i] = (float)((urand() < 0.5 ? -1 : 1) * mag);
        if (i % 97 == 0) x[i] = 0.0f;
    }
    float *dx = up(x, (size_t)n * 4);
    void *dh = OPS->alloc(CTX, (size_t)n * 2);
    OPS->from_f32(CTX, dh, t->dt, dx, n);
    uint16_t *h = malloc((size_t)n * 2);
    OPS->download(CTX, h, dh, (size_t)n * 2);
    float *dy = OPS->alloc(CTX, (size_t)n * 4);
    OPS->to_f32(CTX, dy, dh, t->dt, n);
    float *y = down(dy, n);
    long bad = 0;
    for (long i = 0; i < n; i++) {
        uint16_t want = ref_round(x[i], t->dt);
        double back = (t->dt == STRATA_TENSOR_BF16 ? bf16v : f16v)(want & 0x7fff);
        int inf = (want & 0x7fff) == (t->dt == STRATA_TENSOR_BF16 ? 0x7f80 : 0x7c00);
        double wantf = inf ? INFINITY : back;
        if (want & 0x8000) wantf = -wantf;
        if (h[i] != want || y[i] != (float)wantf) {
            if (bad++ < 3)
                fprintf(stderr, "  convert %s: %.9g -> 0x%04x (want 0x%04x), back %.9g (want %.9g)\n",
                        strata_tensor_dtype_name(t->dt), x[i], h[i], want, y[i], wantf);
        }
    }
    OPS->free(CTX, dx), OPS->free(CTX, dh), OPS->free(CTX, dy);
    free(x), free(h), free(y);
    return (double)bad;
}

/* sqdist_from_gram + topk_merge: a=M b=N c=D d=k; two column blocks merged */
static double run_knn(const op_case *t)
{
    int M = t->a, N = t->b, D = t->c, k = t->d, half = N / 2;
    float *X = randv((long)M * D, 1), *Y = randv((long)N * D, 1);
    float *na = malloc((size_t)M * 4), *nb = malloc((size_t)N * 4);
    for (int i = 0; i < M; i++) { double s = 0; for (int d = 0; d < D; d++) s += (double)X[i * D + d] * X[i * D + d]; na[i] = (float)s; }
    for (int j = 0; j < N; j++) { double s = 0; for (int d = 0; d < D; d++) s += (double)Y[j * D + d] * Y[j * D + d]; nb[j] = (float)s; }
    float *val = malloc((size_t)M * k * 4);
    int64_t *idx = malloc((size_t)M * k * 8), *skip = malloc((size_t)M * 8);
    for (long i = 0; i < (long)M * k; i++) val[i] = INFINITY, idx[i] = -1;
    for (int i = 0; i < M; i++) skip[i] = i; /* pretend X_i is Y_i: leave column i out */
    float *dX = up(X, (size_t)M * D * 4), *dna = up(na, (size_t)M * 4);
    long err = 0;
    double num = 0, den = 0;
    for (int blk = 0; blk < 2; blk++) {
        int c0 = blk * half, nc = blk ? N - half : half;
        float *dY = up(Y + (long)c0 * D, (size_t)nc * D * 4), *dnb = up(nb + c0, (size_t)nc * 4);
        float *dG = OPS->alloc(CTX, (size_t)M * nc * 4);
        OPS->gemm(CTX, M, nc, D, 1.0f, dX, D, dY, STRATA_TENSOR_F32, D, 1, NULL, 0.0f, dG, nc);
        OPS->sqdist_from_gram(CTX, dG, dG, dna, dnb, M, nc);
        float *G = be->host_memory ? dG : down(dG, (long)M * nc);
        OPS->topk_merge(CTX, val, idx, k, G, M, nc, c0, skip);
        /* the distances themselves */
        for (int i = 0; i < M; i++)
            for (int j = 0; j < nc; j++) {
                double s = 0;
                for (int d = 0; d < D; d++) s += ((double)X[i * D + d] - Y[(long)(c0 + j) * D + d]) * ((double)X[i * D + d] - Y[(long)(c0 + j) * D + d]);
                num += (G[(long)i * nc + j] - s) * (G[(long)i * nc + j] - s);
                den += s * s;
            }
        if (!be->host_memory) free(G);
        OPS->free(CTX, dY), OPS->free(CTX, dnb), OPS->free(CTX, dG);
    }
    /* reference top-k by full sort of exact distances: same index sets (no near-ties here) */
    double *dist = malloc((size_t)N * sizeof(double));
    for (int i = 0; i < M; i++) {
        for (int j = 0; j < N; j++) {
            double s = 0;
            for (int d = 0; d < D; d++) s += ((double)X[i * D + d] - Y[(long)j * D + d]) * ((double)X[i * D + d] - Y[(long)j * D + d]);
            dist[j] = j == i ? INFINITY : s;
        }
        for (int r = 0; r < k; r++) { /* r-th smallest by selection */
            int best = -1;
            for (int j = 0; j < N; j++) {
                int used = 0;
                for (int q = 0; q < r; q++) used |= idx[(long)i * k + q] == j;
                if (!used && dist[j] < INFINITY && (best < 0 || dist[j] < dist[best])) best = j;
            }
            if (idx[(long)i * k + r] != best) err++;
        }
    }
    OPS->free(CTX, dX), OPS->free(CTX, dna);
    free(X), free(Y), free(na), free(nb), free(val), free(idx), free(skip), free(dist);
    double rel = den > 0 ? sqrt(num / den) : 0;
    return err ? 1.0 + err : rel;
}

static const op_case cases[] = {
    /* op               a    b    c   d  e  dtype               flag bound */
    {"gemm",           17,  33,  65, 0, 0, STRATA_TENSOR_F32,  1, 1e-5},
    {"gemm",           17,  33,  65, 0, 0, STRATA_TENSOR_F32,  0, 1e-5},
    {"gemm",           64, 128,  96, 0, 0, STRATA_TENSOR_F32,  7, 1e-5},
    {"gemm",           40,  48,  72, 0, 0, STRATA_TENSOR_BF16, 3, 1e-5},
    {"gemm",           40,  48,  72, 0, 0, STRATA_TENSOR_F16,  7, 1e-5},
    {"gemm",           40,  48,  72, 0, 0, STRATA_TENSOR_F16,  0, 1e-5},
    /* weights converted in several column blocks (> 2^22 elements) */
    {"gemm",            3, 1100, 4096, 0, 0, STRATA_TENSOR_BF16, 3, 1e-5},
    {"gemm",            3, 1100, 4096, 0, 0, STRATA_TENSOR_F16,  6, 1e-5},
    {"gemm_batched",   13,  17,  19, 5, 0, STRATA_TENSOR_F32,  0, 1e-5},
    {"gemm_batched",   13,  17,  19, 5, 0, STRATA_TENSOR_F32,  3, 1e-5},
    {"rmsnorm",        37, 200,   0, 0, 0, STRATA_TENSOR_F32,  0, 1e-6},
    {"rmsnorm",        37, 200,   0, 0, 0, STRATA_TENSOR_BF16, 0, 1e-6},
    {"layernorm",      37, 200,   0, 0, 0, STRATA_TENSOR_F32,  1, 1e-6},
    {"layernorm",      37, 200,   0, 0, 0, STRATA_TENSOR_F16,  1, 1e-6},
    {"activation",   5000,   0,   0, 0, 0, STRATA_TENSOR_F32,  STRATA_ACT_GELU_ERF, 1e-6},
    {"activation",   5000,   0,   0, 0, 0, STRATA_TENSOR_F32,  STRATA_ACT_GELU_TANH, 1e-6},
    {"activation",   5000,   0,   0, 0, 0, STRATA_TENSOR_F32,  STRATA_ACT_QUICK_GELU, 1e-6},
    {"activation",   5000,   0,   0, 0, 0, STRATA_TENSOR_F32,  STRATA_ACT_SILU, 1e-6},
    {"swiglu",         23,  70,   0, 0, 0, STRATA_TENSOR_F32,  0, 1e-6},
    {"add",            19,  40,   0, 0, 0, STRATA_TENSOR_F32,  0, 1e-7},
    {"add",            19,  40,   0, 0, 0, STRATA_TENSOR_BF16, 0, 1e-7},
    {"embedding",      50, 300,  24, 0, 0, STRATA_TENSOR_F32,  0, 0},
    {"embedding",      50, 300,  24, 0, 0, STRATA_TENSOR_BF16, 0, 0},
    {"embedding",      50, 300,  24, 0, 0, STRATA_TENSOR_F16,  0, 0},
    {"rope",            2,  30,   3, 16, 0, STRATA_TENSOR_F32, 0, 1e-6},
    {"rope",            3,  17,   2, 8, 24, STRATA_TENSOR_F32, 0, 1e-6},
    {"attention",       1,  20,   4, 4, 8, STRATA_TENSOR_F32,  0, 1e-5},
    {"attention",       3,  21,   4, 2, 8, STRATA_TENSOR_F32,  3, 1e-5},
    {"attention",       2,  16,   6, 1, 4, STRATA_TENSOR_F32,  7, 1e-5},
    {"attention",       2,  70,   2, 2, 16, STRATA_TENSOR_F32, 1, 1e-5},
    {"attention",       2, 300,   2, 1, 8, STRATA_TENSOR_F32,  3, 1e-5}, /* > 256 query rows */
    {"attention",       1, 300,   2, 2, 8, STRATA_TENSOR_F32,  0, 1e-5},
    {"im2col",          2,   3,  32, 8, 0, STRATA_TENSOR_F32,  0, 0},
    {"im2col",          1,   3,  28, 14, 0, STRATA_TENSOR_F32, 0, 0},
    {"token_logprob",  20, 500,   0, 0, 0, STRATA_TENSOR_F32,  0, 1e-6},
    {"convert",     20000,   0,   0, 0, 0, STRATA_TENSOR_F16,  0, 0},
    {"convert",     20000,   0,   0, 0, 0, STRATA_TENSOR_BF16, 0, 0},
    {"knn",            25,  40,  12, 6, 0, STRATA_TENSOR_F32,  0, 1e-5},
};

static double run_case(const op_case *t)
{
    if (!strcmp(t->op, "gemm")) return run_gemm(t);
    if (!strcmp(t->op, "gemm_batched")) return run_gemm_batched(t);
    if (!strcmp(t->op, "rmsnorm") || !strcmp(t->op, "layernorm")) return run_norm(t);
    if (!strcmp(t->op, "activation")) return run_activation(t);
    if (!strcmp(t->op, "swiglu")) return run_swiglu(t);
    if (!strcmp(t->op, "add")) return run_add(t);
    if (!strcmp(t->op, "embedding")) return run_embedding(t);
    if (!strcmp(t->op, "rope")) return run_rope(t);
    if (!strcmp(t->op, "attention")) return run_attention(t);
    if (!strcmp(t->op, "im2col")) return run_im2col(t);
    if (!strcmp(t->op, "token_logprob")) return run_logprob(t);
    if (!strcmp(t->op, "convert")) return run_convert(t);
    if (!strcmp(t->op, "knn")) return run_knn(t);
    T_CHECK(0, "no runner for op %s", t->op);
    return INFINITY;
}

/* Known values: a few conversions worked out by hand from the binary16 / bfloat16 layouts. */
static void check_known_values(void)
{
    T_CHECK(strata_f32_to_f16(1.0f) == 0x3c00, "f16(1)");
    T_CHECK(strata_f32_to_f16(-2.0f) == 0xc000, "f16(-2)");
    T_CHECK(strata_f32_to_f16(65504.0f) == 0x7bff, "f16(65504)");
    T_CHECK(strata_f32_to_f16(65520.0f) == 0x7c00, "f16(65520) rounds to inf");
    T_CHECK(strata_f32_to_f16(5.9604645e-8f) == 0x0001, "f16 smallest subnormal");
    T_CHECK(strata_f32_to_f16(1.0f + 1.0f / 2048) == 0x3c00, "f16 tie to even (down)");
    T_CHECK(strata_f32_to_f16(1.0f + 3.0f / 2048) == 0x3c02, "f16 tie to even (up)");
    T_CHECK(strata_f32_to_bf16(1.0f) == 0x3f80, "bf16(1)");
    T_CHECK(strata_f32_to_bf16(1.0f + 1.0f / 256) == 0x3f80, "bf16 tie to even");
    T_CHECK(strata_bf16_to_f32(0xc0a0) == -5.0f, "bf16 0xc0a0 = -5");
    T_CHECK(strata_f16_to_f32(0x3555) == 0.333251953125f, "f16 0x3555");
}

/* test_backend_ops [cpu|cuda]: cpu (default) checks the CPU backend; cuda checks the CUDA
 * backend against the same references and exits 77 (skipped) where no GPU is usable. */
int main(int argc, char **argv)
{
    const char *which = argc > 1 ? argv[1] : "cpu";
    check_known_values();
    be = strata_backend_init(which, 0, 0);
    if (!be) {
        printf("%s backend not run: %s\n", which, strata_error_get());
        return strcmp(which, "cpu") ? 77 : 1;
    }
    printf("backend: %s\n", be->ops->name);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) report(&cases[i], run_case(&cases[i]));
    strata_backend_free(be);
    return t_finish(strcmp(which, "cpu") ? "test_backend_ops (cuda)" : "test_backend_ops (cpu)");
}
