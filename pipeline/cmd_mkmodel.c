/* cmd_mkmodel.c — `strata mkmodel`: a random checkpoint in Hugging Face layout that strata and
 * transformers both load: config.json, model.safetensors, tokenizer.json (a byte-level BPE with a
 * few merges, the `tokenizers` library's format), tokenizer_config.json and, for LLaVA,
 * preprocessor_config.json (CLIPImageProcessor) + processor_config.json (LlavaProcessor).
 * Weight names follow the layout transformers 5 saves (language_model.model.*, vision_tower.*).
 * Presets: tiny (tests, demo) and small (ViT 12 x 768 at 224 px + decoder 12 x 1024, bench). */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "commands.h"
#include "io/safetensors.h"
#include "kernels/backend.h"
#include "strata.h"

typedef struct {
    int hidden, inter, layers, heads, kv_heads, max_pos;
    int v_hidden, v_inter, v_layers, v_heads, image, patch;
} preset;

static const preset presets[] = {
    /* tiny: 2-layer decoder 64 wide (GQA 4/2), CLIP 2 x 32 at 32 px (16 patches) */
    {64, 128, 2, 4, 2, 512, 32, 64, 2, 2, 32, 8},
    /* small: decoder 12 x 1024 (16 heads), CLIP ViT 12 x 768 at 224 px, patch 16 */
    {1024, 2816, 12, 16, 16, 2048, 768, 3072, 12, 12, 224, 16},
};

static const char *usage_text =
    "usage: strata mkmodel --arch llava|llama --preset tiny|small --out DIR [--seed S]\n"
    "                      [--dtype f32|bf16]\n"
    "Writes a random checkpoint in Hugging Face layout (config.json, model.safetensors,\n"
    "tokenizer.json, tokenizer_config.json; for llava also preprocessor_config.json and\n"
    "processor_config.json) that strata and transformers both load.\n"
    "  --arch     llava (CLIP + projector + Llama decoder) or llama (the decoder alone)\n"
    "  --preset   tiny: decoder 2 x 64, ViT 2 x 32 at 32 px; small: decoder 12 x 1024,\n"
    "             ViT 12 x 768 at 224 px (benchmarks)\n"
    "  --seed     random seed (default 0)\n"
    "  --dtype    weights on disk: f32 (default) or bf16\n";

/* ---- random numbers: splitmix64 + Box-Muller ---------------------------------------------- */
static uint64_t rng_state;
static double uniform01(void)
{
    return ((double)(strata_splitmix64(&rng_state) >> 11) + 0.5) / 9007199254740992.0;
}
static float normal(void)
{
    return (float)(sqrt(-2.0 * log(uniform01())) * cos(2.0 * M_PI * uniform01()));
}

/* ---- the tensors ------------------------------------------------------------------------------ */
typedef struct {
    strata_st_write_tensor *t;
    int n, cap;
    int bf16;
} tensor_list;

/* kind: 'w' weight ~ N(0, 1/fan_in), 'n' norm weight 1 + 0.1 N, 'b' bias 0.1 N, 'e' N(0, 1) */
static void add(tensor_list *L, char kind, int ndim, const int64_t *shape, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static void add(tensor_list *L, char kind, int ndim, const int64_t *shape, const char *fmt, ...)
{
    if (L->n == L->cap) {
        L->cap = L->cap ? 2 * L->cap : 64;
        L->t = strata_realloc(L->t, (size_t)L->cap * sizeof *L->t);
    }
    strata_st_write_tensor *t = &L->t[L->n++];
    memset(t, 0, sizeof *t);
    char name[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    t->name = strata_strdup(name);
    t->ndim = ndim;
    size_t n = 1, fan_in = 1;
    for (int i = 0; i < ndim; i++) {
        t->shape[i] = shape[i];
        n *= (size_t)shape[i];
        if (i > 0) fan_in *= (size_t)shape[i];
    }
    float scale = kind == 'w' ? (float)(1.0 / sqrt((double)fan_in)) : kind == 'e' ? 1.0f : 0.1f;
    float *v = strata_malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) v[i] = (kind == 'n' ? 1.0f : 0.0f) + scale * normal();
    if (L->bf16) {
        uint16_t *h = strata_malloc(n * 2);
        for (size_t i = 0; i < n; i++) h[i] = strata_f32_to_bf16(v[i]);
        free(v);
        t->data = h;
        t->dtype = STRATA_ST_BF16;
    } else {
        t->data = v;
        t->dtype = STRATA_ST_F32;
    }
}

#define SHAPE(...) (int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), (int64_t[]){__VA_ARGS__}

static void add_decoder(tensor_list *L, const preset *p, int vocab, const char *prefix, const char *lm_head)
{
    int64_t D = p->hidden, F = p->inter, hd = p->hidden / p->heads;
    int64_t q = p->heads * hd, kv = p->kv_heads * hd;
    add(L, 'e', SHAPE(vocab, D), "%sembed_tokens.weight", prefix);
    for (int l = 0; l < p->layers; l++) {
        add(L, 'n', SHAPE(D), "%slayers.%d.input_layernorm.weight", prefix, l);
        add(L, 'w', SHAPE(q, D), "%slayers.%d.self_attn.q_proj.weight", prefix, l);
        add(L, 'w', SHAPE(kv, D), "%slayers.%d.self_attn.k_proj.weight", prefix, l);
        add(L, 'w', SHAPE(kv, D), "%slayers.%d.self_attn.v_proj.weight", prefix, l);
        add(L, 'w', SHAPE(D, q), "%slayers.%d.self_attn.o_proj.weight", prefix, l);
        add(L, 'n', SHAPE(D), "%slayers.%d.post_attention_layernorm.weight", prefix, l);
        add(L, 'w', SHAPE(F, D), "%slayers.%d.mlp.gate_proj.weight", prefix, l);
        add(L, 'w', SHAPE(F, D), "%slayers.%d.mlp.up_proj.weight", prefix, l);
        add(L, 'w', SHAPE(D, F), "%slayers.%d.mlp.down_proj.weight", prefix, l);
    }
    add(L, 'n', SHAPE(D), "%snorm.weight", prefix);
    add(L, 'w', SHAPE(vocab, D), "%s", lm_head);
}

static void add_clip(tensor_list *L, const preset *p, const char *prefix)
{
    int64_t D = p->v_hidden, F = p->v_inter, P = p->patch, g = p->image / p->patch;
    add(L, 'e', SHAPE(D), "%sembeddings.class_embedding", prefix);
    add(L, 'w', SHAPE(D, 3, P, P), "%sembeddings.patch_embedding.weight", prefix);
    add(L, 'e', SHAPE(g * g + 1, D), "%sembeddings.position_embedding.weight", prefix);
    add(L, 'n', SHAPE(D), "%spre_layrnorm.weight", prefix);
    add(L, 'b', SHAPE(D), "%spre_layrnorm.bias", prefix);
    static const char *proj[] = {"q_proj", "k_proj", "v_proj", "out_proj"};
    for (int l = 0; l < p->v_layers; l++) {
        const char *e = "encoder.layers";
        add(L, 'n', SHAPE(D), "%s%s.%d.layer_norm1.weight", prefix, e, l);
        add(L, 'b', SHAPE(D), "%s%s.%d.layer_norm1.bias", prefix, e, l);
        for (int k = 0; k < 4; k++) {
            add(L, 'w', SHAPE(D, D), "%s%s.%d.self_attn.%s.weight", prefix, e, l, proj[k]);
            add(L, 'b', SHAPE(D), "%s%s.%d.self_attn.%s.bias", prefix, e, l, proj[k]);
        }
        add(L, 'n', SHAPE(D), "%s%s.%d.layer_norm2.weight", prefix, e, l);
        add(L, 'b', SHAPE(D), "%s%s.%d.layer_norm2.bias", prefix, e, l);
        add(L, 'w', SHAPE(F, D), "%s%s.%d.mlp.fc1.weight", prefix, e, l);
        add(L, 'b', SHAPE(F), "%s%s.%d.mlp.fc1.bias", prefix, e, l);
        add(L, 'w', SHAPE(D, F), "%s%s.%d.mlp.fc2.weight", prefix, e, l);
        add(L, 'b', SHAPE(D), "%s%s.%d.mlp.fc2.bias", prefix, e, l);
    }
    add(L, 'n', SHAPE(D), "%spost_layernorm.weight", prefix);
    add(L, 'b', SHAPE(D), "%spost_layernorm.bias", prefix);
}

/* ---- the tokenizer: byte-level BPE (GPT-2's byte-to-unicode alphabet) ------------------------- */
static const char *merges[][2] = {
    {"Ġ", "t"}, {"h", "e"}, {"Ġt", "he"}, {"i", "n"}, {"Ġ", "a"}, {"e", "r"}, {"o", "n"},
    {"Ġ", "s"}, {"r", "e"}, {"a", "t"}, {"Ġ", "c"}, {"o", "r"}, {"e", "d"}, {"Ġ", "o"},
    {"e", "n"}, {"i", "s"}, {"Ġ", "i"}, {"l", "e"}, {"Ġ", "b"}, {"Ġ", "r"},
};
enum { n_merges = sizeof merges / sizeof merges[0] };
static const char *specials[] = {"<s>", "</s>", "<pad>", "<image>"};

/* GPT-2's bytes_to_unicode: printable Latin-1 bytes map to themselves, the others to U+0100.. */
static void byte_symbol(int b, char out[5])
{
    static int table[256], made = 0;
    if (!made) {
        int next = 256;
        for (int i = 0; i < 256; i++) {
            int printable = (i >= 33 && i <= 126) || (i >= 161 && i <= 172) || (i >= 174 && i <= 255);
            table[i] = printable ? i : next++;
        }
        made = 1;
    }
    int cp = table[b];
    if (cp < 0x80) {
        out[0] = (char)cp, out[1] = 0;
    } else { /* all code points here are < 0x800: two UTF-8 bytes */
        out[0] = (char)(0xc0 | (cp >> 6)), out[1] = (char)(0x80 | (cp & 0x3f)), out[2] = 0;
    }
}

/* mkdir -p */
static int make_dirs(const char *path)
{
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *s = buf + 1; *s; s++)
        if (*s == '/') {
            *s = 0;
            if (mkdir(buf, 0755) != 0 && errno != EEXIST) return -1;
            *s = '/';
        }
    return (mkdir(buf, 0755) != 0 && errno != EEXIST) ? -1 : 0;
}

static int write_json(json_t *j, const char *dir, const char *name)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int rc = json_dump_file(j, path, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(j);
    if (rc != 0) return strata_error_set("%s: cannot write", path);
    return 0;
}

/* tokenizer.json + tokenizer_config.json; returns the number of tokens (ids 0..n-1) */
static int write_tokenizer(const char *dir, int llava, int max_len, int *bos, int *eos, int *pad,
                           int *image)
{
    json_t *vocab = json_object(), *mlist = json_array();
    char sym[5];
    int id = 0;
    for (int b = 0; b < 256; b++) {
        byte_symbol(b, sym);
        json_object_set_new(vocab, sym, json_integer(id++));
    }
    for (int m = 0; m < n_merges; m++) {
        char joined[32], pair[32];
        snprintf(joined, sizeof joined, "%s%s", merges[m][0], merges[m][1]);
        snprintf(pair, sizeof pair, "%s %s", merges[m][0], merges[m][1]);
        json_object_set_new(vocab, joined, json_integer(id++));
        json_array_append_new(mlist, json_string(pair));
    }
    json_t *added = json_array();
    int n_special = llava ? 4 : 3, first_special = id;
    for (int s = 0; s < n_special; s++) {
        json_object_set_new(vocab, specials[s], json_integer(id));
        json_array_append_new(added, json_pack("{s:i,s:s,s:b,s:b,s:b,s:b,s:b}", "id", id, "content",
                                               specials[s], "single_word", 0, "lstrip", 0, "rstrip", 0,
                                               "normalized", 0, "special", 1));
        id++;
    }
    *bos = first_special, *eos = first_special + 1, *pad = first_special + 2;
    *image = llava ? first_special + 3 : -1;
    json_t *bytelevel = json_pack("{s:s,s:b,s:b,s:b}", "type", "ByteLevel", "add_prefix_space", 0,
                                  "trim_offsets", 1, "use_regex", 1);
    json_t *post = json_pack(
        "{s:s,s:[{s:{s:s,s:i}},{s:{s:s,s:i}}],s:[{s:{s:s,s:i}},{s:{s:s,s:i}},{s:{s:s,s:i}},{s:{s:s,s:i}}],"
        "s:{s:{s:s,s:[i],s:[s]}}}",
        "type", "TemplateProcessing",
        "single", "SpecialToken", "id", "<s>", "type_id", 0, "Sequence", "id", "A", "type_id", 0,
        "pair", "SpecialToken", "id", "<s>", "type_id", 0, "Sequence", "id", "A", "type_id", 0,
        "SpecialToken", "id", "<s>", "type_id", 1, "Sequence", "id", "B", "type_id", 1,
        "special_tokens", "<s>", "id", "<s>", "ids", *bos, "tokens", "<s>");
    json_t *model = json_pack("{s:s,s:n,s:n,s:n,s:n,s:b,s:b,s:b,s:o,s:o}", "type", "BPE", "dropout",
                              "unk_token", "continuing_subword_prefix", "end_of_word_suffix",
                              "fuse_unk", 0, "byte_fallback", 0, "ignore_merges", 0, "vocab", vocab,
                              "merges", mlist);
    json_t *tok = json_pack("{s:s,s:n,s:n,s:o,s:n,s:o,s:o,s:o,s:o}", "version", "1.0", "truncation",
                            "padding", "added_tokens", added, "normalizer", "pre_tokenizer", bytelevel,
                            "post_processor", post, "decoder", json_deep_copy(bytelevel), "model", model);
    if (write_json(tok, dir, "tokenizer.json") != 0) return -1;
    json_t *tc = json_pack("{s:s,s:s,s:s,s:s,s:i,s:b}", "tokenizer_class", "PreTrainedTokenizerFast",
                           "bos_token", "<s>", "eos_token", "</s>", "pad_token", "<pad>",
                           "model_max_length", max_len, "clean_up_tokenization_spaces", 0);
    if (llava) {
        json_object_set_new(tc, "image_token", json_string("<image>"));
        json_object_set_new(tc, "processor_class", json_string("LlavaProcessor"));
    }
    if (write_json(tc, dir, "tokenizer_config.json") != 0) return -1;
    return id;
}

static json_t *text_config(const preset *p, int vocab, int bos, int eos, int pad, const char *dtype)
{
    return json_pack("{s:[s],s:s,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:f,s:{s:s,s:f},s:s,s:b,s:b,s:b,"
                     "s:i,s:i,s:i,s:s}",
                     "architectures", "LlamaForCausalLM", "model_type", "llama", "hidden_size", p->hidden,
                     "intermediate_size", p->inter, "num_hidden_layers", p->layers,
                     "num_attention_heads", p->heads, "num_key_value_heads", p->kv_heads, "head_dim",
                     p->hidden / p->heads, "vocab_size", vocab, "max_position_embeddings", p->max_pos,
                     "rms_norm_eps", 1e-5, "rope_parameters", "rope_type", "default", "rope_theta",
                     10000.0, "hidden_act", "silu", "attention_bias", 0, "mlp_bias", 0,
                     "tie_word_embeddings", 0, "bos_token_id", bos, "eos_token_id", eos, "pad_token_id",
                     pad, "dtype", dtype);
}

int strata_cmd_mkmodel(int argc, char **argv)
{
    const char *arch = NULL, *preset_name = NULL, *out = NULL, *dtype = "f32";
    unsigned long long seed = 0;
    for (int i = 1; i < argc; i++) {
        if (strata_is_help(argv[i])) {
            fputs(usage_text, stdout);
            return STRATA_EXIT_OK;
        }
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) {
            fprintf(stderr, "strata mkmodel: %s needs a value\n%s", argv[i], usage_text);
            return STRATA_EXIT_USAGE;
        }
        if (!strcmp(argv[i], "--arch")) arch = v;
        else if (!strcmp(argv[i], "--preset")) preset_name = v;
        else if (!strcmp(argv[i], "--out")) out = v;
        else if (!strcmp(argv[i], "--dtype")) dtype = v;
        else if (!strcmp(argv[i], "--seed")) {
            char *end;
            seed = strtoull(v, &end, 10);
            if (*end) {
                fprintf(stderr, "strata mkmodel: --seed '%s': expected a non-negative integer\n", v);
                return STRATA_EXIT_USAGE;
            }
        } else {
            fprintf(stderr, "strata mkmodel: unknown option '%s'\n%s", argv[i], usage_text);
            return STRATA_EXIT_USAGE;
        }
        i++;
    }
    if (!arch || !preset_name || !out || (strcmp(arch, "llava") && strcmp(arch, "llama")) ||
        (strcmp(preset_name, "tiny") && strcmp(preset_name, "small")) ||
        (strcmp(dtype, "f32") && strcmp(dtype, "bf16"))) {
        fprintf(stderr, "strata mkmodel: expected --arch llava|llama, --preset tiny|small, --out DIR "
                        "and --dtype f32|bf16\n%s", usage_text);
        return STRATA_EXIT_USAGE;
    }
    if (strata_rank() != 0) return STRATA_EXIT_OK; /* one writer */
    const preset *p = &presets[strcmp(preset_name, "tiny") ? 1 : 0];
    int llava = !strcmp(arch, "llava"), bf16 = !strcmp(dtype, "bf16");
    const char *torch_dtype = bf16 ? "bfloat16" : "float32";
    if (make_dirs(out) != 0) {
        strata_log("error: %s: cannot create the folder: %s", out, strerror(errno));
        return STRATA_EXIT_FAILURE;
    }
    rng_state = seed * 0x2545f4914f6cdd1dull + 1;
    int bos, eos, pad, image;
    int n_tokens = write_tokenizer(out, llava, p->max_pos, &bos, &eos, &pad, &image);
    if (n_tokens < 0) {
        strata_log("error: %s", strata_error_get());
        return STRATA_EXIT_FAILURE;
    }
    int vocab = (n_tokens + 63) / 64 * 64; /* the embedding rows, padded as checkpoints do */

    tensor_list L = {.bf16 = bf16};
    json_t *config;
    int grid = p->image / p->patch, n_image_tokens = grid * grid; /* "default": CLS dropped */
    if (llava) {
        add_decoder(&L, p, vocab, "language_model.model.", "language_model.lm_head.weight");
        add_clip(&L, p, "vision_tower.vision_model.");
        add(&L, 'w', SHAPE(p->hidden, p->v_hidden), "multi_modal_projector.linear_1.weight");
        add(&L, 'b', SHAPE(p->hidden), "multi_modal_projector.linear_1.bias");
        add(&L, 'w', SHAPE(p->hidden, p->hidden), "multi_modal_projector.linear_2.weight");
        add(&L, 'b', SHAPE(p->hidden), "multi_modal_projector.linear_2.bias");
        json_t *vc = json_pack("{s:s,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:f,s:s,s:i}", "model_type",
                               "clip_vision_model", "hidden_size", p->v_hidden, "intermediate_size",
                               p->v_inter, "num_hidden_layers", p->v_layers, "num_attention_heads",
                               p->v_heads, "image_size", p->image, "patch_size", p->patch,
                               "num_channels", 3, "layer_norm_eps", 1e-5, "hidden_act", "quick_gelu",
                               "projection_dim", p->v_hidden);
        json_t *tc = text_config(p, vocab, bos, eos, pad, torch_dtype);
        json_object_del(tc, "architectures");
        config = json_pack("{s:[s],s:s,s:o,s:o,s:i,s:i,s:s,s:s,s:b,s:b,s:s}", "architectures",
                           "LlavaForConditionalGeneration", "model_type", "llava", "text_config", tc,
                           "vision_config", vc, "image_token_index", image, "vision_feature_layer", -2,
                           "vision_feature_select_strategy", "default", "projector_hidden_act", "gelu",
                           "multimodal_projector_bias", 1, "tie_word_embeddings", 0, "dtype", torch_dtype);
        json_object_set_new(config, "image_seq_length", json_integer(n_image_tokens));
    } else {
        add_decoder(&L, p, vocab, "model.", "lm_head.weight");
        config = text_config(p, vocab, bos, eos, pad, torch_dtype);
    }
    json_object_set_new(config, "strata_mkmodel",
                        json_pack("{s:s,s:I}", "preset", preset_name, "seed", (json_int_t)seed));
    int rc = write_json(config, out, "config.json");
    char path[4096];
    snprintf(path, sizeof path, "%s/model.safetensors", out);
    if (rc == 0) rc = strata_safetensors_write(path, L.t, L.n);
    for (int i = 0; i < L.n; i++) {
        free((char *)L.t[i].name);
        free((void *)L.t[i].data);
    }
    free(L.t);
    if (rc == 0 && llava) {
        json_t *pre = json_pack(
            "{s:{s:i,s:i},s:b,s:b,s:b,s:b,s:b,s:[f,f,f],s:[f,f,f],s:s,s:s,s:i,s:f,s:{s:i}}",
            "crop_size", "height", p->image, "width", p->image, "do_center_crop", 1, "do_convert_rgb", 1,
            "do_normalize", 1, "do_rescale", 1, "do_resize", 1, "image_mean", 0.48145466, 0.4578275,
            0.40821073, "image_std", 0.26862954, 0.26130258, 0.27577711, "image_processor_type",
            "CLIPImageProcessor", "processor_class", "LlavaProcessor", "resample", 3, "rescale_factor",
            1.0 / 255.0, "size", "shortest_edge", p->image);
        rc = write_json(pre, out, "preprocessor_config.json");
        json_t *proc = json_pack("{s:s,s:s,s:i,s:s,s:i}", "processor_class", "LlavaProcessor",
                                 "image_token", "<image>", "patch_size", p->patch,
                                 "vision_feature_select_strategy", "default",
                                 "num_additional_image_tokens", 1);
        if (rc == 0) rc = write_json(proc, out, "processor_config.json");
    }
    if (rc != 0) {
        strata_log("error: %s", strata_error_get());
        return STRATA_EXIT_FAILURE;
    }
    strata_log0("wrote %s (%s %s, %s, seed %llu): vocab %d, image token %d", out, arch, preset_name,
                dtype, seed, vocab, image);
    return STRATA_EXIT_OK;
}
