/* config.c — config.json (jansson) to strata_model_config. Defaults are transformers' class
 * defaults (LlamaConfig, MistralConfig, Qwen2Config, CLIPVisionConfig, SiglipVisionConfig,
 * LlavaConfig), because save_pretrained omits values equal to them. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/config.h"
#include "strata.h"

static const char *supported =
    "LlavaForConditionalGeneration, LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM";

const char *strata_config_supported(void) { return supported; }

/* Field readers: absent -> default; present with the wrong type -> error naming the field. */
typedef struct {
    const char *path, *section; /* for messages */
    int rc;
} reader;

static json_t *field(reader *r, json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    return json_is_null(v) ? NULL : v;
}
static int get_int(reader *r, json_t *obj, const char *key, int def)
{
    json_t *v = field(r, obj, key);
    if (!v) return def;
    if (!json_is_integer(v) || json_integer_value(v) < -1000000000 || json_integer_value(v) > 1000000000) {
        r->rc = strata_error_set("%s: %s%s: expected an integer", r->path, r->section, key);
        return def;
    }
    return (int)json_integer_value(v);
}
static double get_num(reader *r, json_t *obj, const char *key, double def)
{
    json_t *v = field(r, obj, key);
    if (!v) return def;
    if (!json_is_number(v)) {
        r->rc = strata_error_set("%s: %s%s: expected a number", r->path, r->section, key);
        return def;
    }
    return json_number_value(v);
}
static int get_bool(reader *r, json_t *obj, const char *key, int def)
{
    json_t *v = field(r, obj, key);
    if (!v) return def;
    if (!json_is_boolean(v)) {
        r->rc = strata_error_set("%s: %s%s: expected true or false", r->path, r->section, key);
        return def;
    }
    return json_is_true(v);
}
static void get_str(reader *r, json_t *obj, const char *key, const char *def, char *out, size_t cap)
{
    json_t *v = field(r, obj, key);
    if (v && !json_is_string(v)) {
        r->rc = strata_error_set("%s: %s%s: expected a string", r->path, r->section, key);
        v = NULL;
    }
    snprintf(out, cap, "%s", v ? json_string_value(v) : def);
}

static int positive(reader *r, int value, const char *key)
{
    if (value <= 0 && r->rc == 0)
        r->rc = strata_error_set("%s: %s%s: expected a positive integer, got %d", r->path, r->section,
                                 key, value);
    return value;
}

static void read_text(reader *r, json_t *o, strata_text_config *t, const char *default_type)
{
    get_str(r, o, "model_type", default_type, t->model_type, sizeof t->model_type);
    int mistral = !strcmp(t->model_type, "mistral"), qwen2 = !strcmp(t->model_type, "qwen2");
    if (strcmp(t->model_type, "llama") && !mistral && !qwen2 && r->rc == 0) {
        r->rc = strata_error_set("%s: %smodel_type: '%s' is not supported (supported: llama, mistral, "
                                 "qwen2)", r->path, r->section, t->model_type);
        return;
    }
    t->hidden_size = positive(r, get_int(r, o, "hidden_size", 4096), "hidden_size");
    t->intermediate_size = positive(r, get_int(r, o, "intermediate_size", mistral ? 14336 : qwen2 ? 22016 : 11008),
                                    "intermediate_size");
    t->n_layers = positive(r, get_int(r, o, "num_hidden_layers", 32), "num_hidden_layers");
    t->n_heads = positive(r, get_int(r, o, "num_attention_heads", 32), "num_attention_heads");
    t->n_kv_heads = positive(r, get_int(r, o, "num_key_value_heads", mistral ? 8 : t->n_heads),
                             "num_key_value_heads");
    t->head_dim = get_int(r, o, "head_dim", 0);
    if (t->head_dim <= 0 && t->n_heads > 0) t->head_dim = t->hidden_size / t->n_heads;
    t->vocab_size = positive(r, get_int(r, o, "vocab_size", qwen2 ? 151936 : 32000), "vocab_size");
    t->max_position_embeddings = positive(r, get_int(r, o, "max_position_embeddings",
                                                     mistral ? 131072 : qwen2 ? 32768 : 2048),
                                          "max_position_embeddings");
    t->rms_norm_eps = (float)get_num(r, o, "rms_norm_eps", 1e-6);
    t->attention_bias = get_bool(r, o, "attention_bias", 0);
    t->qkv_bias = qwen2;
    t->mlp_bias = get_bool(r, o, "mlp_bias", 0);
    t->tie_word_embeddings = get_bool(r, o, "tie_word_embeddings", 0);
    get_str(r, o, "hidden_act", "silu", t->hidden_act, sizeof t->hidden_act);
    if (r->rc) return;
    if (t->n_layers > STRATA_CONFIG_MAX_LAYERS || t->n_heads % t->n_kv_heads != 0 ||
        t->head_dim <= 0 || t->head_dim % 2) {
        r->rc = strata_error_set("%s: %snum_hidden_layers <= %d, num_attention_heads a multiple of "
                                 "num_key_value_heads and a positive even head_dim expected (got %d, %d, %d, %d)",
                                 r->path, r->section, STRATA_CONFIG_MAX_LAYERS, t->n_layers, t->n_heads,
                                 t->n_kv_heads, t->head_dim);
        return;
    }

    /* RoPE: v5 "rope_parameters" or v4 "rope_theta" + "rope_scaling" */
    json_t *rp = field(r, o, "rope_parameters");
    if (!rp) rp = field(r, o, "rope_scaling");
    if (rp && !json_is_object(rp)) {
        r->rc = strata_error_set("%s: %srope_parameters: expected an object", r->path, r->section);
        return;
    }
    t->rope_theta = get_num(r, o, "rope_theta", 10000.0);
    snprintf(t->rope_type, sizeof t->rope_type, "default");
    if (rp) {
        t->rope_theta = get_num(r, rp, "rope_theta", t->rope_theta);
        char type[16];
        get_str(r, rp, "type", "default", type, sizeof type);
        get_str(r, rp, "rope_type", type, t->rope_type, sizeof t->rope_type);
        t->rope_factor = get_num(r, rp, "factor", 1.0);
        t->low_freq_factor = get_num(r, rp, "low_freq_factor", 1.0);
        t->high_freq_factor = get_num(r, rp, "high_freq_factor", 4.0);
        t->original_max_position_embeddings =
            get_int(r, rp, "original_max_position_embeddings", t->max_position_embeddings);
    }
    if (strcmp(t->rope_type, "default") && strcmp(t->rope_type, "linear") &&
        strcmp(t->rope_type, "llama3") && r->rc == 0) {
        r->rc = strata_error_set("%s: %srope_parameters.rope_type: '%s' is not supported (supported: "
                                 "default, linear, llama3)", r->path, r->section, t->rope_type);
        return;
    }

    /* sliding window: Mistral on every layer; Qwen2 per layer_types or max_window_layers */
    int window = get_int(r, o, "sliding_window", mistral ? 4096 : 0);
    int use_sw = get_bool(r, o, "use_sliding_window", mistral);
    int max_window_layers = get_int(r, o, "max_window_layers", 28);
    json_t *types = field(r, o, "layer_types");
    t->sliding_window = strata_calloc((size_t)t->n_layers, sizeof(int));
    for (int l = 0; l < t->n_layers; l++) {
        int sliding;
        if (json_is_array(types) && json_array_size(types) == (size_t)t->n_layers) {
            const char *s = json_string_value(json_array_get(types, (size_t)l));
            sliding = s && !strcmp(s, "sliding_attention");
        } else {
            sliding = use_sw && (mistral || l >= max_window_layers);
        }
        t->sliding_window[l] = (sliding && window > 0) ? window : 0;
    }
}

static void read_vision(reader *r, json_t *o, strata_vision_config *v)
{
    get_str(r, o, "model_type", "clip_vision_model", v->model_type, sizeof v->model_type);
    int siglip = !strcmp(v->model_type, "siglip_vision_model");
    if (!siglip && strcmp(v->model_type, "clip_vision_model") && r->rc == 0) {
        r->rc = strata_error_set("%s: vision_config.model_type: '%s' is not supported (supported: "
                                 "clip_vision_model, siglip_vision_model)", r->path, v->model_type);
        return;
    }
    v->hidden_size = positive(r, get_int(r, o, "hidden_size", 768), "hidden_size");
    v->intermediate_size = positive(r, get_int(r, o, "intermediate_size", 3072), "intermediate_size");
    v->n_layers = positive(r, get_int(r, o, "num_hidden_layers", 12), "num_hidden_layers");
    v->n_heads = positive(r, get_int(r, o, "num_attention_heads", 12), "num_attention_heads");
    v->image_size = positive(r, get_int(r, o, "image_size", 224), "image_size");
    v->patch_size = positive(r, get_int(r, o, "patch_size", siglip ? 16 : 32), "patch_size");
    v->num_channels = positive(r, get_int(r, o, "num_channels", 3), "num_channels");
    v->layer_norm_eps = (float)get_num(r, o, "layer_norm_eps", siglip ? 1e-6 : 1e-5);
    get_str(r, o, "hidden_act", siglip ? "gelu_pytorch_tanh" : "quick_gelu", v->hidden_act,
            sizeof v->hidden_act);
    if (r->rc == 0 && (v->image_size % v->patch_size || v->hidden_size % v->n_heads ||
                       v->n_layers > STRATA_CONFIG_MAX_LAYERS))
        r->rc = strata_error_set("%s: vision_config: image_size must be a multiple of patch_size and "
                                 "hidden_size of num_attention_heads", r->path);
}

static const struct {
    const char *model_type, *architecture;
} by_type[] = {
    {"llava", "LlavaForConditionalGeneration"}, {"llama", "LlamaForCausalLM"},
    {"mistral", "MistralForCausalLM"},          {"qwen2", "Qwen2ForCausalLM"},
};

int strata_config_load(const char *path, strata_model_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    char *text = strata_read_file(path, NULL);
    if (!text) return -1;
    int rc = strata_config_parse(text, path, cfg);
    free(text);
    return rc;
}

int strata_config_parse(const char *text, const char *path, strata_model_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->json = strata_strdup(text);
    json_error_t jerr;
    json_t *root = json_loadb(cfg->json, strlen(cfg->json), 0, &jerr);
    if (!root) {
        strata_error_set("%s: line %d column %d: %s", path, jerr.line, jerr.column, jerr.text);
        strata_config_free(cfg);
        return -1;
    }
    reader r = {.path = path, .section = "", .rc = 0};
    if (!json_is_object(root)) r.rc = strata_error_set("%s: expected a JSON object", path);
    char model_type[32] = "";
    if (r.rc == 0) get_str(&r, root, "model_type", "", model_type, sizeof model_type);
    json_t *arch = r.rc ? NULL : field(&r, root, "architectures");
    if (json_is_array(arch) && json_is_string(json_array_get(arch, 0))) {
        snprintf(cfg->architecture, sizeof cfg->architecture, "%s",
                 json_string_value(json_array_get(arch, 0)));
    } else {
        for (size_t i = 0; i < sizeof by_type / sizeof by_type[0]; i++)
            if (!strcmp(model_type, by_type[i].model_type))
                snprintf(cfg->architecture, sizeof cfg->architecture, "%s", by_type[i].architecture);
    }
    if (r.rc == 0 && !cfg->architecture[0])
        r.rc = strata_error_set("%s: no \"architectures\" and model_type '%s' is not known "
                                "(supported: %s)", path, model_type, supported);
    int known = 0;
    for (size_t i = 0; i < sizeof by_type / sizeof by_type[0]; i++)
        known |= !strcmp(cfg->architecture, by_type[i].architecture);
    if (r.rc == 0 && !known)
        r.rc = strata_error_set("%s: architecture '%s' is not supported (supported: %s)", path,
                                cfg->architecture, supported);
    if (r.rc == 0) {
        get_str(&r, root, "torch_dtype", "", cfg->torch_dtype, sizeof cfg->torch_dtype);
        get_str(&r, root, "dtype", cfg->torch_dtype, cfg->torch_dtype, sizeof cfg->torch_dtype);
    }
    if (r.rc == 0 && !strcmp(cfg->architecture, "LlavaForConditionalGeneration")) {
        cfg->has_vision = 1;
        json_t *tc = field(&r, root, "text_config"), *vc = field(&r, root, "vision_config");
        if (!json_is_object(tc) || !json_is_object(vc)) {
            r.rc = strata_error_set("%s: a LLaVA config needs objects text_config and vision_config", path);
        } else {
            r.section = "text_config.";
            read_text(&r, tc, &cfg->text, "llama");
            r.section = "vision_config.";
            if (r.rc == 0) read_vision(&r, vc, &cfg->vision);
            r.section = "";
        }
        /* transformers 5 reads the LM head tie from the top level of a LLaVA config */
        if (get_bool(&r, root, "tie_word_embeddings", 0)) cfg->text.tie_word_embeddings = 1;
        int id = get_int(&r, root, "image_token_index", 32000);
        cfg->image_token_id = get_int(&r, root, "image_token_id", id);
        json_t *fl = field(&r, root, "vision_feature_layer");
        if (json_is_array(fl)) {
            size_t n = json_array_size(fl);
            if (n == 0 || n > STRATA_CONFIG_MAX_FEATURE_LAYERS)
                r.rc = strata_error_set("%s: vision_feature_layer: expected 1..%d layers", path,
                                        STRATA_CONFIG_MAX_FEATURE_LAYERS);
            for (size_t i = 0; i < n && r.rc == 0; i++) {
                json_t *e = json_array_get(fl, i);
                if (!json_is_integer(e))
                    r.rc = strata_error_set("%s: vision_feature_layer[%zu]: expected an integer", path, i);
                cfg->feature_layers[cfg->n_feature_layers++] = (int)json_integer_value(e);
            }
        } else {
            cfg->n_feature_layers = 1;
            cfg->feature_layers[0] = get_int(&r, root, "vision_feature_layer", -2);
        }
        for (int i = 0; i < cfg->n_feature_layers && r.rc == 0; i++) {
            int l = cfg->feature_layers[i], nl = cfg->vision.n_layers + 1;
            if (l < -nl || l >= nl)
                r.rc = strata_error_set("%s: vision_feature_layer %d is outside the vision tower's "
                                        "%d hidden states", path, l, nl);
            cfg->feature_layers[i] = l < 0 ? l + nl : l;
        }
        get_str(&r, root, "vision_feature_select_strategy", "default", cfg->select_strategy,
                sizeof cfg->select_strategy);
        if (r.rc == 0 && strcmp(cfg->select_strategy, "default") && strcmp(cfg->select_strategy, "full"))
            r.rc = strata_error_set("%s: vision_feature_select_strategy: '%s' (expected default or full)",
                                    path, cfg->select_strategy);
        get_str(&r, root, "projector_hidden_act", "gelu", cfg->projector_act, sizeof cfg->projector_act);
        cfg->projector_bias = get_bool(&r, root, "multimodal_projector_bias", 1);
        if (r.rc == 0 && (cfg->image_token_id < 0 || cfg->image_token_id >= cfg->text.vocab_size))
            r.rc = strata_error_set("%s: image_token_index %d is outside the vocabulary (%d)", path,
                                    cfg->image_token_id, cfg->text.vocab_size);
    } else if (r.rc == 0) {
        read_text(&r, root, &cfg->text, model_type);
        cfg->image_token_id = -1;
    }
    json_decref(root);
    if (r.rc) {
        strata_config_free(cfg);
        return -1;
    }
    return 0;
}

void strata_config_free(strata_model_config *cfg)
{
    free(cfg->json);
    free(cfg->text.sliding_window);
    cfg->json = NULL;
    cfg->text.sliding_window = NULL;
}
