/* config.h — a Hugging Face config.json read into the fields strata's model engine uses, with
 * transformers' class defaults for absent fields (transformers writes only non-default values).
 * Both the v4 layout (rope_theta + rope_scaling) and v5 (rope_parameters) are accepted. */
#ifndef STRATA_CONFIG_H
#define STRATA_CONFIG_H

#define STRATA_CONFIG_MAX_LAYERS 1024
#define STRATA_CONFIG_MAX_FEATURE_LAYERS 8

typedef struct {
    char model_type[32];        /* "llama" | "mistral" | "qwen2" */
    int hidden_size, intermediate_size, n_layers, n_heads, n_kv_heads, head_dim;
    int vocab_size, max_position_embeddings;
    float rms_norm_eps;
    double rope_theta;
    char rope_type[16];         /* "default" | "linear" | "llama3" */
    double rope_factor, low_freq_factor, high_freq_factor;
    int original_max_position_embeddings;
    int attention_bias;         /* q, k, v and o have biases (Llama attention_bias) */
    int qkv_bias;               /* q, k, v have biases, o not (Qwen2) */
    int mlp_bias;
    int tie_word_embeddings;
    int *sliding_window;        /* [n_layers] window per layer, 0 = full attention */
    char hidden_act[32];
} strata_text_config;

typedef struct {
    char model_type[32];        /* "clip_vision_model" | "siglip_vision_model" */
    int hidden_size, intermediate_size, n_layers, n_heads;
    int image_size, patch_size, num_channels;
    float layer_norm_eps;
    char hidden_act[32];
} strata_vision_config;

typedef struct {
    char architecture[64];      /* "architectures"[0], or derived from model_type */
    char torch_dtype[16];       /* "float32", "bfloat16", ... ("" if absent) */
    int has_vision;
    strata_text_config text;
    strata_vision_config vision;
    int image_token_id;
    int n_feature_layers;       /* vision_feature_layer: an int or a list */
    int feature_layers[STRATA_CONFIG_MAX_FEATURE_LAYERS];
    char select_strategy[16];   /* "default" (drop CLS) | "full" */
    char projector_act[32];
    int projector_bias;
    char *json;                 /* the file verbatim */
} strata_model_config;

/* Reads and validates path. 0, or -1 with strata_error ("<path>: field: problem"); an
 * unsupported architecture is named with the supported list. Free with strata_config_free. */
int strata_config_load(const char *path, strata_model_config *cfg);
/* The same from the text of a config.json (e.g. an archive's config_json attribute); path names
 * it in messages. */
int strata_config_parse(const char *text, const char *path, strata_model_config *cfg);
void strata_config_free(strata_model_config *cfg);
/* The "architectures" values strata runs, comma-separated. */
const char *strata_config_supported(void);

#endif
