/* vision.c — the ViT vision towers of LLaVA-family models: CLIP (class token, pre_layrnorm,
 * quick_gelu) and SigLIP (no class token, patch bias, gelu tanh). Follows transformers'
 * CLIPVisionTransformer / SiglipVisionTransformer: patch embedding (a stride-p conv, done as
 * im2col + GEMM) + position embedding, then pre-LN encoder blocks; hidden_states[0] is the
 * embedding output (after pre_layrnorm for CLIP); post_layernorm is not part of them. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/model_internal.h"
#include "strata.h"

/* prefix + ("encoder.layers.<layer>." if layer >= 0) + suffix */
static mweight load(model_loader *L, const char *prefix, int layer, const char *suffix, int ndim,
                    const int64_t *shape)
{
    char name[512];
    if (layer >= 0)
        snprintf(name, sizeof name, "%sencoder.layers.%d.%s", prefix, layer, suffix);
    else
        snprintf(name, sizeof name, "%s%s", prefix, suffix);
    return model_load_weight(L, name, 0, ndim, shape);
}

int vision_load(model_loader *L, vision_tower *v, const strata_vision_config *c, const char *prefix)
{
    int64_t D = c->hidden_size, F = c->intermediate_size, p = c->patch_size, C = c->num_channels;
    v->cfg = c;
    v->clip = !strcmp(c->model_type, "clip_vision_model");
    v->grid = c->image_size / c->patch_size;
    v->positions = v->grid * v->grid + (v->clip ? 1 : 0);
    if (model_activation_from_name(c->hidden_act, &v->act) != 0 && L->rc == 0)
        L->rc = strata_error_set("%s: vision_config.hidden_act '%s' is not supported (expected gelu, "
                                 "gelu_pytorch_tanh, quick_gelu or silu)", L->config_path, c->hidden_act);
    v->patch_w = load(L, prefix, -1, "embeddings.patch_embedding.weight", 4, (int64_t[]){D, C, p, p});
    v->pos_emb = load(L, prefix, -1, "embeddings.position_embedding.weight", 2,
                      (int64_t[]){(int64_t)v->positions, D});
    if (v->clip) {
        v->class_emb = load(L, prefix, -1, "embeddings.class_embedding", 1, (int64_t[]){D});
        v->pre_ln_w = load(L, prefix, -1, "pre_layrnorm.weight", 1, (int64_t[]){D});
        v->pre_ln_b = load(L, prefix, -1, "pre_layrnorm.bias", 1, (int64_t[]){D});
    } else {
        v->patch_b = load(L, prefix, -1, "embeddings.patch_embedding.bias", 1, (int64_t[]){D});
    }
    v->layers = strata_calloc((size_t)c->n_layers, sizeof *v->layers);
    for (int l = 0; l < c->n_layers && L->rc == 0; l++) {
        vision_layer *y = &v->layers[l];
#define W(field, suffix, ...)                                                                   \
    do {                                                                                        \
        int64_t shape_[] = {__VA_ARGS__};                                                       \
        y->field = load(L, prefix, l, suffix, (int)(sizeof shape_ / sizeof shape_[0]), shape_); \
    } while (0)
        W(ln1_w, "layer_norm1.weight", D);
        W(ln1_b, "layer_norm1.bias", D);
        W(q, "self_attn.q_proj.weight", D, D);
        W(q_bias, "self_attn.q_proj.bias", D);
        W(k, "self_attn.k_proj.weight", D, D);
        W(k_bias, "self_attn.k_proj.bias", D);
        W(v, "self_attn.v_proj.weight", D, D);
        W(v_bias, "self_attn.v_proj.bias", D);
        W(o, "self_attn.out_proj.weight", D, D);
        W(o_bias, "self_attn.out_proj.bias", D);
        W(ln2_w, "layer_norm2.weight", D);
        W(ln2_b, "layer_norm2.bias", D);
        W(fc1, "mlp.fc1.weight", F, D);
        W(fc1_bias, "mlp.fc1.bias", F);
        W(fc2, "mlp.fc2.weight", D, F);
        W(fc2_bias, "mlp.fc2.bias", D);
#undef W
    }
    return L->rc;
}

void vision_free(vision_tower *v)
{
    free(v->layers);
    memset(v, 0, sizeof *v);
}

static void layernorm(strata_model *m, float *y, const float *x, const mweight *w, const mweight *b,
                      int rows, int dim, float eps)
{
    const strata_backend_ops *o = m->be->ops;
    void *c = m->be->ctx;
    const void *wv = model_weight_get(m, w), *bv = model_weight_get(m, b);
    o->layernorm(c, y, x, wv, bv, w->dtype, rows, dim, eps);
    o->weight_put(c, wv);
    o->weight_put(c, bv);
}

int vision_forward(strata_model *m, const strata_forward_args *a, const float *pixels, int N,
                   float *feat, int n_feat, const int *feature_layers, int last)
{
    const strata_backend_ops *o = m->be->ops;
    void *c = m->be->ctx;
    const vision_tower *v = &m->vis;
    const strata_vision_config *cfg = v->cfg;
    int D = cfg->hidden_size, F = cfg->intermediate_size, H = cfg->n_heads, hd = D / H;
    int p = cfg->patch_size, C = cfg->num_channels, S = cfg->image_size;
    int P = v->positions, np = v->grid * v->grid, M = N * P, K = C * p * p;
    float eps = cfg->layer_norm_eps;
    float *x = o->alloc(c, (size_t)M * D * sizeof(float));          /* [N][P][D] residual */
    float *h = o->alloc(c, (size_t)M * D * sizeof(float));          /* normed */
    float *cols = o->alloc(c, (size_t)N * np * K * sizeof(float));  /* [N][np][C*p*p] */
    float *qkv = o->alloc(c, (size_t)M * 3 * D * sizeof(float));    /* q | k | v per row */
    float *att = o->alloc(c, (size_t)M * D * sizeof(float));
    float *mlp = o->alloc(c, (size_t)M * F * sizeof(float));
    float *pos = o->alloc(c, (size_t)P * D * sizeof(float));        /* position embedding, f32 */
    int rc = (x && h && cols && qkv && att && mlp && pos) ? 0 : -1;
    if (rc == 0) {
        /* embeddings: patches (conv as GEMM) after the class token, + position embedding */
        o->im2col(c, cols, pixels, N, C, S, S, p);
        const void *pe = model_weight_get(m, &v->pos_emb);
        o->to_f32(c, pos, pe, v->pos_emb.dtype, (long)P * D);
        o->weight_put(c, pe);
        int first = v->clip ? 1 : 0;
        for (int n = 0; n < N; n++) {
            float *xi = x + (long)n * P * D;
            model_linear(m, xi + (long)first * D, D, cols + (long)n * np * K, K, np, K, D, &v->patch_w,
                         &v->patch_b, 0.0f);
            if (v->clip) {
                const void *ce = model_weight_get(m, &v->class_emb);
                o->to_f32(c, xi, ce, v->class_emb.dtype, D);
                o->weight_put(c, ce);
            }
            o->add(c, xi, pos, (long)P * D);
        }
        if (v->clip) layernorm(m, x, x, &v->pre_ln_w, &v->pre_ln_b, M, D, eps);
    }
    float scale = 1.0f / sqrtf((float)hd);
    strata_attention_mask full = {.causal = 0, .window = 0, .lengths = NULL};
    for (int l = 0; l <= last && rc == 0; l++) {
        if (l > 0) {
            const vision_layer *y = &v->layers[l - 1];
            layernorm(m, h, x, &y->ln1_w, &y->ln1_b, M, D, eps);
            model_linear(m, qkv, 3 * D, h, D, M, D, D, &y->q, &y->q_bias, 0.0f);
            model_linear(m, qkv + D, 3 * D, h, D, M, D, D, &y->k, &y->k_bias, 0.0f);
            model_linear(m, qkv + 2 * D, 3 * D, h, D, M, D, D, &y->v, &y->v_bias, 0.0f);
            o->attention(c, att, qkv, 3 * D, qkv + D, qkv + 2 * D, 3 * D, N, P, H, H, hd, scale, &full);
            model_linear(m, x, D, att, D, M, D, D, &y->o, &y->o_bias, 1.0f); /* x += */
            layernorm(m, h, x, &y->ln2_w, &y->ln2_b, M, D, eps);
            model_linear(m, mlp, F, h, D, M, D, F, &y->fc1, &y->fc1_bias, 0.0f);
            o->activation(c, mlp, (long)M * F, v->act);
            model_linear(m, x, D, mlp, F, M, F, D, &y->fc2, &y->fc2_bias, 1.0f); /* x += */
        }
        /* hidden state l: keep it for the projector, and capture it */
        for (int i = 0; i < n_feat; i++)
            if (feature_layers[i] == l) o->copy2d(c, feat + (long)i * D, n_feat * D, x, D, M, D);
        if (a->capture && a->capture_vision)
            rc = model_capture(m, a, STRATA_SITE_VISION, l, N, P, D, x);
    }
    o->free(c, x);
    o->free(c, h);
    o->free(c, cols);
    o->free(c, qkv);
    o->free(c, att);
    o->free(c, mlp);
    o->free(c, pos);
    return rc;
}
