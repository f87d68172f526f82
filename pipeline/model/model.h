/* model.h — Hugging Face checkpoints run on a strata backend: LLaVA (CLIP or SigLIP vision
 * tower, projector, image-token splice) over Llama-family decoders (Llama/Vicuna, Mistral,
 * Qwen2), and those decoders alone. Correct means equal to transformers' output_hidden_states.
 *
 * Life cycle:
 *   m = strata_model_load("ckpt/", backend, NULL)    NULL + strata_error_get() on a bad checkpoint
 *   info = strata_model_get_info(m)
 *   n = strata_model_expand_image(m, ids, n, out, cap, &img_begin)   one <image> -> n image tokens
 *   strata_model_forward(m, &args)                 capture callbacks for every layer
 *   strata_model_free(m)
 * Weights stay in the mmapped safetensors files (bf16/f16 converted per use by the backend).
 * Layer indices follow transformers: LLM layer 0 is the embedding output (after the image
 * splice), layer l the output of decoder block l, and layer L (the last) is after the final
 * norm, as transformers' hidden_states[-1]. Vision layer 0 is the embedding output (after
 * CLIP's pre_layrnorm), layer l the output of encoder block l, no post_layernorm. */
#ifndef STRATA_MODEL_H
#define STRATA_MODEL_H

#include <stdint.h>

#include "kernels/backend.h"

typedef struct strata_model strata_model;
struct strata_intervention; /* model/intervene.h */

typedef enum {
    STRATA_SITE_LLM = 0,       /* decoder layers 0..L: data [B][T][D] */
    STRATA_SITE_VISION = 1,    /* vision tower layers 0..Lv: data [n_images][P][Dv] */
    STRATA_SITE_CONNECTOR = 2, /* projector output, layer 0: data [n_images][n_image_tokens][D] */
} strata_site;

typedef struct {
    const char *architecture;      /* config "architectures"[0], e.g. "LlavaForConditionalGeneration" */
    const char *text_model_type;   /* "llama", "mistral", "qwen2" */
    const char *vision_model_type; /* "clip_vision_model", "siglip_vision_model"; NULL: text only */
    int has_vision;
    int n_layers;         /* L: decoder blocks; capture layers are 0..L */
    int hidden_size;      /* D */
    int vocab_size;
    int context_length;   /* max_position_embeddings */
    int vision_n_layers;  /* Lv (0 without vision) */
    int vision_hidden_size;
    int image_size, patch_size; /* pixels: pixel_values are [n][3][image_size][image_size] */
    int vision_positions; /* P: rows per image in the tower (patches, + 1 class token for CLIP) */
    int image_token_id;   /* -1 without vision */
    int n_image_tokens;   /* image tokens per image in the LLM input */
    strata_tensor_dtype weight_dtype; /* dtype of the decoder's weights on disk */
} strata_model_info;

/* A capture: host f32 data valid only during the callback. */
typedef struct {
    strata_site site;
    int layer;
    int batch, rows, dim; /* data is [batch][rows][dim] */
    const float *data;
} strata_capture;

/* Return 0 to go on, nonzero to stop the forward (it then returns -1 with the error set). */
typedef int (*strata_capture_fn)(const strata_capture *c, void *user);

typedef struct {
    int batch, seq_len;          /* B, T */
    const int32_t *input_ids;    /* host [B][T]: image tokens already expanded, right padding */
    const int32_t *lengths;      /* host [B]: real tokens per row (1..T); NULL: all T */
    int n_images;                /* images in pixel_values, spliced in order into the runs of
                                    image tokens (row-major over [B][T]); 0: text only */
    const float *pixel_values;   /* host [n_images][3][image_size][image_size], normalised */
    strata_capture_fn capture;   /* may be NULL */
    void *user;
    const uint8_t *llm_layers;   /* host [L+1]: capture LLM layer l only where set; NULL: all */
    int capture_vision;          /* 1: also capture the vision layers and the projector output */
    float *logprobs;             /* optional host [B][T]: logprobs[b][t] = log p(ids[b][t+1] |
                                    ids[b][..t]) by the LM head; 0 for t >= lengths[b]-1 */
    const struct strata_intervention *intervene; /* [n_intervene], bound (model/intervene.h) */
    int n_intervene;
} strata_forward_args;

/* dir: a Hugging Face checkpoint folder (config.json, model.safetensors or sharded with
 * model.safetensors.index.json). The backend must outlive the model. options: none yet, NULL. */
strata_model *strata_model_load(const char *dir, strata_backend *backend, const void *options);
void strata_model_free(strata_model *m);
const strata_model_info *strata_model_get_info(const strata_model *m);
/* config.json verbatim (for the archive's provenance) */
const char *strata_model_config_json(const strata_model *m);
/* Comma-separated list of supported "architectures" values. */
const char *strata_model_supported(void);

/* Copies ids[n] to out, expanding the first image token (info.image_token_id) into
 * n_image_tokens copies. Returns the new length and *image_begin (the first image position),
 * or -1 with strata_error when there is no image token or out_cap is too small. */
int strata_model_expand_image(const strata_model *m, const int32_t *ids, int n, int32_t *out,
                              int out_cap, int *image_begin);

/* One forward pass; 0 or -1 with strata_error (bad ids, image token count != n_images *
 * n_image_tokens, capture stopped). */
int strata_model_forward(strata_model *m, const strata_forward_args *args);

#endif
