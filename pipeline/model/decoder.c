/* decoder.c — the Llama-family decoder (Llama/Vicuna, Mistral with its sliding window, Qwen2
 * with q/k/v biases; MHA or GQA; tied or untied LM head) on a strata backend. Follows
 * transformers' LlamaDecoderLayer: x += o(attn(rope(q, k), v)) of rmsnorm(x), then
 * x += down(silu(gate(h)) * up(h)) of rmsnorm(x); hidden_states[L] is after the final norm. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/intervene_internal.h"
#include "model/model_internal.h"
#include "strata.h"

/* transformers' rope init functions (modeling_rope_utils.py): default, linear, llama3 */
static float *rope_inv_freq(const strata_text_config *c)
{
    int half = c->head_dim / 2;
    float *f = strata_malloc((size_t)half * sizeof(float));
    for (int i = 0; i < half; i++) {
        /* 1 / base ** (2i / dim), evaluated in f32 as torch does */
        float expo = (float)(2 * i) / (float)c->head_dim;
        float inv = 1.0f / powf((float)c->rope_theta, expo);
        if (!strcmp(c->rope_type, "linear")) {
            inv = inv / (float)c->rope_factor;
        } else if (!strcmp(c->rope_type, "llama3")) {
            float factor = (float)c->rope_factor, lo = (float)c->low_freq_factor,
                  hi = (float)c->high_freq_factor, old = (float)c->original_max_position_embeddings;
            float low_wavelen = old / lo, high_wavelen = old / hi;
            float wavelen = 2.0f * (float)M_PI / inv;
            float scaled = wavelen > low_wavelen ? inv / factor : inv;
            if (!(wavelen < high_wavelen) && !(wavelen > low_wavelen)) {
                float smooth = (old / wavelen - lo) / (hi - lo);
                scaled = (1.0f - smooth) * scaled / factor + smooth * scaled;
            }
            inv = scaled;
        }
        f[i] = inv;
    }
    return f;
}

int decoder_load(model_loader *L, decoder *d, const strata_text_config *c, const char *prefix,
                 const char *lm_head_name)
{
    char name[512];
    int64_t D = c->hidden_size, F = c->intermediate_size, V = c->vocab_size;
    int64_t qd = (int64_t)c->n_heads * c->head_dim, kvd = (int64_t)c->n_kv_heads * c->head_dim;
    d->cfg = c;
    snprintf(name, sizeof name, "%sembed_tokens.weight", prefix);
    d->embed = model_load_weight(L, name, 0, 2, (int64_t[]){V, D});
    snprintf(name, sizeof name, "%snorm.weight", prefix);
    d->norm = model_load_weight(L, name, 0, 1, (int64_t[]){D});
    d->lm_head = model_load_weight(L, lm_head_name, 1, 2, (int64_t[]){V, D});
    if (!d->lm_head.data) {
        if (!c->tie_word_embeddings && L->rc == 0)
            L->rc = strata_error_set("%s: missing tensor '%s' (the LM head; config.json has "
                                     "tie_word_embeddings false)", L->weights_file, lm_head_name);
        d->lm_head = d->embed;
    }
    d->layers = strata_calloc((size_t)c->n_layers, sizeof *d->layers);
    int ab = c->attention_bias, qb = ab || c->qkv_bias;
    for (int l = 0; l < c->n_layers && L->rc == 0; l++) {
        decoder_layer *y = &d->layers[l];
        y->window = c->sliding_window[l];
#define W(field, opt, suffix, ...)                                                              \
    do {                                                                                        \
        snprintf(name, sizeof name, "%slayers.%d.%s", prefix, l, suffix);                       \
        int64_t shape_[] = {__VA_ARGS__};                                                       \
        y->field = model_load_weight(L, name, opt, (int)(sizeof shape_ / sizeof shape_[0]), shape_); \
    } while (0)
        W(in_norm, 0, "input_layernorm.weight", D);
        W(post_norm, 0, "post_attention_layernorm.weight", D);
        W(q, 0, "self_attn.q_proj.weight", qd, D);
        W(k, 0, "self_attn.k_proj.weight", kvd, D);
        W(v, 0, "self_attn.v_proj.weight", kvd, D);
        W(o, 0, "self_attn.o_proj.weight", D, qd);
        if (qb) {
            W(q_bias, 0, "self_attn.q_proj.bias", qd);
            W(k_bias, 0, "self_attn.k_proj.bias", kvd);
            W(v_bias, 0, "self_attn.v_proj.bias", kvd);
        }
        if (ab) W(o_bias, 0, "self_attn.o_proj.bias", D);
        W(gate, 0, "mlp.gate_proj.weight", F, D);
        W(up, 0, "mlp.up_proj.weight", F, D);
        W(down, 0, "mlp.down_proj.weight", D, F);
        if (c->mlp_bias) {
            W(gate_bias, 0, "mlp.gate_proj.bias", F);
            W(up_bias, 0, "mlp.up_proj.bias", F);
            W(down_bias, 0, "mlp.down_proj.bias", D);
        }
#undef W
    }
    if (L->rc == 0 && strcmp(c->hidden_act, "silu") && strcmp(c->hidden_act, "swish"))
        L->rc = strata_error_set("%s: hidden_act '%s' is not supported for %s (expected silu)",
                                 L->config_path, c->hidden_act, c->model_type);
    d->inv_freq = rope_inv_freq(c);
    return L->rc;
}

void decoder_free(decoder *d)
{
    free(d->layers);
    free(d->inv_freq);
    memset(d, 0, sizeof *d);
}

static int want_layer(const strata_forward_args *a, int l)
{
    return a->capture && (!a->llm_layers || a->llm_layers[l]);
}

/* logprobs[b][t] of ids[b][t+1] from the normed hidden states h [B*T][D], in row chunks */
static int lm_head_logprobs(strata_model *m, const strata_forward_args *a, const float *h)
{
    const strata_backend_ops *o = m->be->ops;
    void *c = m->be->ctx;
    const decoder *d = &m->dec;
    int B = a->batch, T = a->seq_len, D = d->cfg->hidden_size, V = d->cfg->vocab_size;
    int M = B * T, chunk = 64;
    float *logits = o->alloc(c, (size_t)chunk * V * sizeof(float));
    float *lp = o->alloc(c, (size_t)chunk * sizeof(float));
    if (!logits || !lp) {
        o->free(c, logits);
        o->free(c, lp);
        return -1;
    }
    int32_t *target = strata_malloc((size_t)chunk * sizeof(int32_t));
    for (int r0 = 0; r0 < M; r0 += chunk) {
        int rows = M - r0 < chunk ? M - r0 : chunk;
        for (int i = 0; i < rows; i++) {
            int b = (r0 + i) / T, t = (r0 + i) % T, len = a->lengths ? a->lengths[b] : T;
            target[i] = t + 1 < len ? a->input_ids[(long)b * T + t + 1] : -1;
        }
        model_linear(m, logits, V, h + (long)r0 * D, D, rows, D, V, &d->lm_head, NULL, 0.0f);
        o->token_logprob(c, lp, logits, target, rows, V);
        o->download(c, a->logprobs + r0, lp, (size_t)rows * sizeof(float));
    }
    free(target);
    o->free(c, logits);
    o->free(c, lp);
    return 0;
}

static void rmsnorm(strata_model *m, float *y, const float *x, const mweight *w, int rows, int dim,
                    float eps)
{
    const void *view = model_weight_get(m, w);
    m->be->ops->rmsnorm(m->be->ctx, y, x, view, w->dtype, rows, dim, eps);
    m->be->ops->weight_put(m->be->ctx, view);
}

int decoder_forward(strata_model *m, const strata_forward_args *a, float *x)
{
    const strata_backend_ops *o = m->be->ops;
    void *c = m->be->ctx;
    const decoder *d = &m->dec;
    const strata_text_config *cfg = d->cfg;
    int B = a->batch, T = a->seq_len, M = B * T;
    int D = cfg->hidden_size, F = cfg->intermediate_size, hd = cfg->head_dim;
    int H = cfg->n_heads, Hkv = cfg->n_kv_heads, L = cfg->n_layers;
    int qkv_ld = (H + 2 * Hkv) * hd;
    if (intervene_check(a, L) < 0) return -1;
    /* activations, all [M][...] */
    float *h = o->alloc(c, (size_t)M * D * sizeof(float));         /* normed input */
    float *qkv = o->alloc(c, (size_t)M * qkv_ld * sizeof(float));  /* q | k | v per row */
    float *att = o->alloc(c, (size_t)M * H * hd * sizeof(float));  /* attention output */
    float *gu = o->alloc(c, (size_t)M * 2 * F * sizeof(float));    /* gate | up */
    float *act = o->alloc(c, (size_t)M * F * sizeof(float));       /* silu(gate) * up */
    intervene_rows ir = intervene_image_rows(m, a);
    float *keep = ir.total ? o->alloc(c, (size_t)ir.total * D * sizeof(float)) : NULL; /* [rows][D] */
    int rc = (h && qkv && att && gu && act && (keep || !ir.total)) ? 0 : -1;
    if (ir.total) intervene_ablate(m, a, &ir, x, 0, D);
    if (rc == 0 && want_layer(a, 0)) rc = model_capture(m, a, STRATA_SITE_LLM, 0, B, T, D, x);
    strata_attention_mask mask = {.causal = 1, .window = 0, .lengths = a->lengths};
    float scale = 1.0f / sqrtf((float)hd);
    for (int l = 0; l < L && rc == 0; l++) {
        const decoder_layer *y = intervene_layer(m, a, l);
        int skip_attn = ir.total && intervene_skip(a, l, 1);
        int skip_ffn = ir.total && intervene_skip(a, l, 0);
        rmsnorm(m, h, x, &y->in_norm, M, D, cfg->rms_norm_eps);
        model_linear(m, qkv, qkv_ld, h, D, M, D, H * hd, &y->q, &y->q_bias, 0.0f);
        model_linear(m, qkv + H * hd, qkv_ld, h, D, M, D, Hkv * hd, &y->k, &y->k_bias, 0.0f);
        model_linear(m, qkv + (H + Hkv) * hd, qkv_ld, h, D, M, D, Hkv * hd, &y->v, &y->v_bias, 0.0f);
        o->rope(c, qkv, qkv_ld, B, T, H, hd, d->inv_freq, 1.0f);
        o->rope(c, qkv + H * hd, qkv_ld, B, T, Hkv, hd, d->inv_freq, 1.0f);
        mask.window = y->window;
        o->attention(c, att, qkv, qkv_ld, qkv + H * hd, qkv + (H + Hkv) * hd, qkv_ld, B, T, H, Hkv,
                     hd, scale, &mask);
        if (skip_attn) intervene_copy_rows(m, &ir, x, keep, D, 1);
        model_linear(m, x, D, att, H * hd, M, H * hd, D, &y->o, &y->o_bias, 1.0f); /* x += */
        if (skip_attn) intervene_copy_rows(m, &ir, x, keep, D, 0);
        rmsnorm(m, h, x, &y->post_norm, M, D, cfg->rms_norm_eps);
        model_linear(m, gu, 2 * F, h, D, M, D, F, &y->gate, &y->gate_bias, 0.0f);
        model_linear(m, gu + F, 2 * F, h, D, M, D, F, &y->up, &y->up_bias, 0.0f);
        o->swiglu(c, act, gu, M, F);
        if (skip_ffn) intervene_copy_rows(m, &ir, x, keep, D, 1);
        model_linear(m, x, D, act, F, M, F, D, &y->down, &y->down_bias, 1.0f); /* x += */
        if (skip_ffn) intervene_copy_rows(m, &ir, x, keep, D, 0);
        if (l + 1 < L && ir.total) intervene_ablate(m, a, &ir, x, l + 1, D);
        if (l + 1 < L && want_layer(a, l + 1))
            rc = model_capture(m, a, STRATA_SITE_LLM, l + 1, B, T, D, x);
    }
    if (rc == 0) {
        /* hidden_states[L] is the final norm's output (transformers ties it to last_hidden_state) */
        rmsnorm(m, h, x, &d->norm, M, D, cfg->rms_norm_eps);
        if (want_layer(a, L)) rc = model_capture(m, a, STRATA_SITE_LLM, L, B, T, D, h);
    }
    if (rc == 0 && a->logprobs) rc = lm_head_logprobs(m, a, h);
    o->free(c, h);
    o->free(c, qkv);
    o->free(c, att);
    o->free(c, gu);
    o->free(c, act);
    if (keep) o->free(c, keep);
    intervene_rows_free(&ir);
    return rc;
}
