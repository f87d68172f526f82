/* memory.c — the per-rank device memory plan of a forward pass (kernels/cuda/README.md explains
 * it for LLaVA-1.5-7B): weights as stored (uploaded once, kept in their dtype), the f32 scratch
 * that one converted weight needs, the decoder's and the vision tower's activation buffers at
 * batch B (the same allocations decoder.c, vision.c and model.c make), and the LM-head chunk
 * when log-probabilities are asked for. Captures go to the host layer by layer (one host
 * buffer of [B][T][D]); nothing per layer stays on the device. */
#include "pipeline/model/memory.h"

#include <stdio.h>

#include "pipeline/model/model_internal.h"
#include "strata.h"

void strata_model_memory_plan(const strata_model *m, int batch, int seq_len, int with_logprobs,
                              strata_memory_plan *p)
{
    const strata_text_config *t = &m->cfg.text;
    const double f = sizeof(float), B = batch, T = seq_len, M = B * T;
    double largest = 0;
    p->weights = 0;
    for (int i = 0; i < strata_safetensors_count(m->st); i++) {
        const strata_st_tensor *x = strata_safetensors_at(m->st, i);
        p->weights += (double)x->nbytes;
        if ((double)x->numel > largest) largest = (double)x->numel;
    }
    /* a weight not in f32 is converted to an f32 scratch per use: the largest one sizes it */
    p->conversion = m->info.weight_dtype == STRATA_TENSOR_F32 ? 0 : largest * f;
    double D = t->hidden_size, F = t->intermediate_size, hd = t->head_dim;
    double H = t->n_heads, Hkv = t->n_kv_heads;
    /* live through the whole pass: the residual stream x [M][D] and the image features */
    p->residual = M * D * f + (m->info.has_vision ? B * m->info.n_image_tokens * D * f : 0);
    /* decoder phase: normed h, q|k|v, attention output, gate|up, silu(gate)*up */
    p->decoder = M * (D + (H + 2 * Hkv) * hd + H * hd + 2 * F + F) * f;
    p->vision = 0;
    if (m->info.has_vision) {
        const strata_vision_config *v = &m->cfg.vision;
        double N = B, P = m->info.vision_positions, Dv = v->hidden_size, Fv = v->intermediate_size;
        double grid = (double)v->image_size / v->patch_size, K = v->num_channels * v->patch_size * v->patch_size;
        double ni = m->info.n_image_tokens, nf = m->cfg.n_feature_layers;
        double pixels = N * v->num_channels * (double)v->image_size * v->image_size;
        double tower = N * P * (Dv + Dv + 3 * Dv + Dv + Fv) + N * grid * grid * K + P * Dv;
        double projector = N * P * nf * Dv + N * ni * D;
        p->vision = (pixels + tower + projector) * f;
    }
    p->logits = with_logprobs ? (64.0 * t->vocab_size + 64.0) * f : 0;
    p->host_capture = M * D * f;
    /* the vision phase ends (its buffers freed) before the decoder phase starts */
    double decoder_phase = p->decoder + p->logits;
    p->activations = p->residual + (p->vision > decoder_phase ? p->vision : decoder_phase);
    p->total = p->weights + p->conversion + p->activations;
}

int strata_model_max_batch(const strata_model *m, int seq_len, int with_logprobs, double budget)
{
    int best = 0;
    for (int b = 1; b <= 1 << 16; b *= 2) {
        strata_memory_plan p;
        strata_model_memory_plan(m, b, seq_len, with_logprobs, &p);
        if (p.total > budget) break;
        best = b;
    }
    /* refine between best and 2 * best */
    for (int b = best + 1; best > 0 && b < 2 * best; b++) {
        strata_memory_plan p;
        strata_model_memory_plan(m, b, seq_len, with_logprobs, &p);
        if (p.total > budget) break;
        best = b;
    }
    return best;
}

int strata_model_check_fits(const strata_model *m, int batch, int seq_len, int with_logprobs,
                            double budget)
{
    strata_memory_plan p;
    strata_model_memory_plan(m, batch, seq_len, with_logprobs, &p);
    if (p.total <= budget) return 0;
    const double g = 1024.0 * 1024 * 1024;
    int best = strata_model_max_batch(m, seq_len, with_logprobs, budget);
    if (best == 0)
        return strata_error_set("the model does not fit in %.2f GiB of device memory even at "
                                "batch 1 (weights %.2f GiB, activations at batch 1 beyond)",
                                budget / g, p.weights / g);
    return strata_error_set("batch %d at %d tokens needs %.2f GiB of device memory (weights %.2f, "
                            "activations %.2f, conversion %.2f) but %.2f GiB are free: the "
                            "largest batch that fits is %d",
                            batch, seq_len, p.total / g, p.weights / g, p.activations / g,
                            p.conversion / g, budget / g, best);
}
