/* model_internal.h — what the files of pipeline/model/ share: weights as views of the mmapped
 * safetensors (never copied), the loader that checks names, dtypes and shapes against
 * config.json, and the pieces of the forward pass (decoder.c, vision.c, model.c). */
#ifndef STRATA_MODEL_INTERNAL_H
#define STRATA_MODEL_INTERNAL_H

#include "io/config.h"
#include "io/safetensors.h"
#include "model/model.h"

/* A weight: a view into the mapping (data == NULL: an optional weight that is absent). */
typedef struct {
    const void *data;
    strata_tensor_dtype dtype;
    int64_t n; /* elements */
} mweight;

/* Checks every tensor it hands out; the first problem is kept in rc / strata_error. */
typedef struct {
    strata_safetensors *st;
    const char *weights_file; /* for messages: model.safetensors or the index */
    const char *config_path;
    int have_dtype;           /* config.json names a dtype: tensors must have it */
    strata_tensor_dtype dtype;
    int rc;
} model_loader;

/* name: full tensor name; ndim + shape expected from config.json. optional: absent is fine. */
mweight model_load_weight(model_loader *L, const char *name, int optional, int ndim,
                          const int64_t *shape);

typedef struct {
    mweight in_norm, q, k, v, o, q_bias, k_bias, v_bias, o_bias, post_norm;
    mweight gate, up, down, gate_bias, up_bias, down_bias;
    int window; /* sliding window, 0 = full */
} decoder_layer;

typedef struct {
    const strata_text_config *cfg;
    mweight embed, norm, lm_head;
    decoder_layer *layers; /* [n_layers] */
    float *inv_freq;       /* host [head_dim / 2] after rope scaling */
} decoder;

typedef struct {
    mweight ln1_w, ln1_b, q, q_bias, k, k_bias, v, v_bias, o, o_bias, ln2_w, ln2_b;
    mweight fc1, fc1_bias, fc2, fc2_bias;
} vision_layer;

typedef struct {
    const strata_vision_config *cfg;
    int clip;              /* 1: CLIP (class token, pre_layrnorm); 0: SigLIP */
    int grid;              /* patches per side */
    int positions;         /* rows per image: grid^2 (+1 for CLIP) */
    strata_activation act;
    mweight patch_w, patch_b, class_emb, pos_emb, pre_ln_w, pre_ln_b;
    vision_layer *layers;  /* [n_layers] */
} vision_tower;

struct strata_model {
    strata_backend *be;
    strata_model_config cfg;
    strata_safetensors *st;
    strata_model_info info;
    decoder dec;
    vision_tower vis;
    mweight proj1, proj1_bias, proj2, proj2_bias; /* projector (proj2 absent: linear) */
    strata_activation proj_act;
    float *host_scratch;   /* capture downloads on device backends */
    size_t host_scratch_cap;
};

int model_activation_from_name(const char *name, strata_activation *out);

/* A backend view of a weight (give it back with ops->weight_put(view)). */
const void *model_weight_get(strata_model *m, const mweight *w);
/* y [M][N] (row stride ldy) = x [M][K] (ldx) w^T + bias, + beta * y (beta 1: residual add) */
void model_linear(strata_model *m, float *y, int ldy, const float *x, int ldx, int M, int K, int N,
                  const mweight *w, const mweight *bias, float beta);
/* Calls args->capture with buf (a backend buffer [batch][rows][dim]) as host data. */
int model_capture(strata_model *m, const strata_forward_args *a, strata_site site, int layer,
                  int batch, int rows, int dim, const float *buf);

int decoder_load(model_loader *L, decoder *d, const strata_text_config *cfg, const char *prefix,
                 const char *lm_head_name);
void decoder_free(decoder *d);
/* x: backend [B*T][D], the embeddings (layer 0); runs every block, captures, and fills
 * args->logprobs when asked. x is overwritten. */
int decoder_forward(strata_model *m, const strata_forward_args *a, float *x);

int vision_load(model_loader *L, vision_tower *v, const strata_vision_config *cfg, const char *prefix);
void vision_free(vision_tower *v);
/* pixels: backend [N][C][S][S]. Runs layers 0..last (the hidden states needed), copies hidden
 * state feature_layers[i] into columns [i*Dv, (i+1)*Dv) of feat [N][positions][n_feat*Dv],
 * captures every layer when args->capture_vision. */
int vision_forward(strata_model *m, const strata_forward_args *a, const float *pixels, int N,
                   float *feat, int n_feat, const int *feature_layers, int last);

#endif
