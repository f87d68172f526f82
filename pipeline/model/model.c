/* model.c — loading a Hugging Face checkpoint (config.json + safetensors, both key layouts of
 * transformers' LLaVA) and the LLaVA composite forward: vision tower -> feature layer(s) and
 * select strategy -> projector (linear_1, act, linear_2) -> splice into the token embeddings at
 * the image tokens (transformers' masked_scatter order) -> decoder. Text models skip the first
 * three steps. Relies on io/config, io/safetensors, kernels/backend, decoder.c and vision.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/model_internal.h"
#include "strata.h"

const char *strata_model_supported(void) { return strata_config_supported(); }

int model_activation_from_name(const char *name, strata_activation *out)
{
    if (!strcmp(name, "gelu")) *out = STRATA_ACT_GELU_ERF;
    else if (!strcmp(name, "gelu_pytorch_tanh") || !strcmp(name, "gelu_new")) *out = STRATA_ACT_GELU_TANH;
    else if (!strcmp(name, "quick_gelu")) *out = STRATA_ACT_QUICK_GELU;
    else if (!strcmp(name, "silu") || !strcmp(name, "swish")) *out = STRATA_ACT_SILU;
    else return -1;
    return 0;
}

static int tensor_dtype(strata_st_dtype d, strata_tensor_dtype *out)
{
    if (d == STRATA_ST_F32) *out = STRATA_TENSOR_F32;
    else if (d == STRATA_ST_F16) *out = STRATA_TENSOR_F16;
    else if (d == STRATA_ST_BF16) *out = STRATA_TENSOR_BF16;
    else return -1;
    return 0;
}

static void shape_str(char *out, size_t cap, int ndim, const int64_t *shape)
{
    size_t n = (size_t)snprintf(out, cap, "[");
    for (int i = 0; i < ndim && n < cap; i++)
        n += (size_t)snprintf(out + n, cap - n, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (n < cap) snprintf(out + n, cap - n, "]");
}

mweight model_load_weight(model_loader *L, const char *name, int optional, int ndim,
                          const int64_t *shape)
{
    mweight w = {0};
    if (L->rc) return w;
    const strata_st_tensor *t = strata_safetensors_find(L->st, name);
    if (!t) {
        if (!optional) L->rc = strata_error_set("%s: missing tensor '%s'", L->weights_file, name);
        return w;
    }
    if (tensor_dtype(t->dtype, &w.dtype) != 0) {
        L->rc = strata_error_set("%s: tensor '%s' has dtype %s (expected F32, F16 or BF16)", t->path,
                                 name, strata_st_dtype_name(t->dtype));
        return w;
    }
    if (L->have_dtype && w.dtype != L->dtype) {
        L->rc = strata_error_set("%s: tensor '%s' has dtype %s but %s says the checkpoint is %s",
                                 t->path, name, strata_st_dtype_name(t->dtype), L->config_path,
                                 strata_tensor_dtype_name(L->dtype));
        return w;
    }
    int same = t->ndim == ndim;
    for (int i = 0; same && i < ndim; i++) same = t->shape[i] == shape[i];
    if (!same) {
        char got[128], want[128];
        shape_str(got, sizeof got, t->ndim, t->shape);
        shape_str(want, sizeof want, ndim, shape);
        L->rc = strata_error_set("%s: tensor '%s' has shape %s but %s implies %s", t->path, name, got,
                                 L->config_path, want);
        return w;
    }
    w.data = t->data;
    w.n = t->numel;
    return w;
}

const void *model_weight_get(strata_model *m, const mweight *w)
{
    return m->be->ops->weight_get(m->be->ctx, w->data, w->dtype, (size_t)w->n);
}

void model_linear(strata_model *m, float *y, int ldy, const float *x, int ldx, int M, int K, int N,
                  const mweight *w, const mweight *bias, float beta)
{
    const strata_backend_ops *o = m->be->ops;
    void *c = m->be->ctx;
    const void *wv = model_weight_get(m, w);
    int fused = bias && bias->data && bias->dtype == w->dtype;
    const void *bv = fused ? model_weight_get(m, bias) : NULL;
    o->gemm(c, M, N, K, 1.0f, x, ldx, wv, w->dtype, K, 1, bv, beta, y, ldy);
    o->weight_put(c, wv);
    if (fused) o->weight_put(c, bv);
    if (bias && bias->data && !fused) { /* a bias stored in another dtype than its weight */
        const void *b2 = model_weight_get(m, bias);
        for (int r = 0; r < M; r++) o->add_rows(c, y + (long)r * ldy, b2, bias->dtype, 1, N);
        o->weight_put(c, b2);
    }
}

int model_capture(strata_model *m, const strata_forward_args *a, strata_site site, int layer,
                  int batch, int rows, int dim, const float *buf)
{
    if (!a->capture) return 0;
    const float *host = buf;
    size_t n = (size_t)batch * rows * dim;
    if (!m->be->host_memory) {
        if (n > m->host_scratch_cap) {
            free(m->host_scratch);
            m->host_scratch = strata_malloc(n * sizeof(float));
            m->host_scratch_cap = n;
        }
        m->be->ops->download(m->be->ctx, m->host_scratch, buf, n * sizeof(float));
        host = m->host_scratch;
    }
    strata_capture cap = {.site = site, .layer = layer, .batch = batch, .rows = rows, .dim = dim,
                          .data = host};
    if (a->capture(&cap, a->user) != 0) {
        if (!strata_error_get()[0]) strata_error_set("forward stopped by the capture callback");
        return -1;
    }
    return 0;
}

/* The tensor-name layouts transformers has written: LLaVA's language model under
 * "language_model.model." (+ "language_model.lm_head.") or "model.language_model." (+ "lm_head.");
 * the vision tower with or without the ".vision_model" level, under "model." or not; text models
 * under "model.". The layout is the one whose probe tensor exists. */
typedef struct {
    const char *text_prefix, *lm_head;
} text_layout;
static const text_layout llava_text_layouts[] = {
    {"model.language_model.", "lm_head.weight"},
    {"language_model.model.", "language_model.lm_head.weight"},
};
static const text_layout plain_text_layouts[] = {{"model.", "lm_head.weight"}};
static const char *vision_prefixes[] = {"model.vision_tower.vision_model.", "model.vision_tower.",
                                        "vision_tower.vision_model.", "vision_tower."};
static const char *projector_prefixes[] = {"model.multi_modal_projector.", "multi_modal_projector."};

/* the first prefix p with p + probe present (the first one if none: its names are reported) */
static const char *pick_prefix(const strata_safetensors *st, const char *const *prefixes, int n,
                               size_t stride, const char *probe)
{
    for (int i = 0; i < n; i++) {
        const char *p = *(const char *const *)((const char *)prefixes + (size_t)i * stride);
        char name[512];
        snprintf(name, sizeof name, "%s%s", p, probe);
        if (strata_safetensors_find(st, name)) return p;
    }
    return prefixes[0];
}

strata_model *strata_model_load(const char *dir, strata_backend *backend, const void *options)
{
    (void)options;
    strata_model *m = strata_calloc(1, sizeof *m);
    m->be = backend;
    char config_path[4096], weights_file[4096];
    snprintf(config_path, sizeof config_path, "%s/config.json", dir);
    if (strata_config_load(config_path, &m->cfg) != 0) {
        free(m);
        return NULL;
    }
    const strata_model_config *cfg = &m->cfg;
    snprintf(weights_file, sizeof weights_file, "%s/model.safetensors.index.json", dir);
    FILE *probe = fopen(weights_file, "r");
    if (probe) fclose(probe);
    else snprintf(weights_file, sizeof weights_file, "%s/model.safetensors", dir);
    m->st = strata_safetensors_open_dir(dir);
    if (!m->st) {
        strata_model_free(m);
        return NULL;
    }
    model_loader L = {.st = m->st, .weights_file = weights_file, .config_path = config_path};
    if (!strcmp(cfg->torch_dtype, "float32")) L.have_dtype = 1, L.dtype = STRATA_TENSOR_F32;
    if (!strcmp(cfg->torch_dtype, "float16")) L.have_dtype = 1, L.dtype = STRATA_TENSOR_F16;
    if (!strcmp(cfg->torch_dtype, "bfloat16")) L.have_dtype = 1, L.dtype = STRATA_TENSOR_BF16;

    const text_layout *tl = cfg->has_vision ? llava_text_layouts : plain_text_layouts;
    int n_tl = cfg->has_vision ? 2 : 1;
    const char *text_prefix = pick_prefix(m->st, &tl[0].text_prefix, n_tl, sizeof *tl,
                                          "embed_tokens.weight");
    const char *lm_head = tl[0].lm_head;
    for (int i = 0; i < n_tl; i++)
        if (tl[i].text_prefix == text_prefix) lm_head = tl[i].lm_head;
    decoder_load(&L, &m->dec, &cfg->text, text_prefix, lm_head);
    if (cfg->has_vision) {
        char name[512];
        const char *vp = pick_prefix(m->st, vision_prefixes, 4, sizeof(char *),
                                     "embeddings.patch_embedding.weight");
        const char *pp = pick_prefix(m->st, projector_prefixes, 2, sizeof(char *), "linear_1.weight");
        vision_load(&L, &m->vis, &cfg->vision, vp);
        int64_t D = cfg->text.hidden_size, Din = (int64_t)cfg->n_feature_layers * cfg->vision.hidden_size;
        snprintf(name, sizeof name, "%slinear_1.weight", pp);
        m->proj1 = model_load_weight(&L, name, 0, 2, (int64_t[]){D, Din});
        snprintf(name, sizeof name, "%slinear_1.bias", pp);
        m->proj1_bias = model_load_weight(&L, name, !cfg->projector_bias, 1, (int64_t[]){D});
        snprintf(name, sizeof name, "%slinear_2.weight", pp);
        m->proj2 = model_load_weight(&L, name, 1, 2, (int64_t[]){D, D});
        snprintf(name, sizeof name, "%slinear_2.bias", pp);
        if (m->proj2.data)
            m->proj2_bias = model_load_weight(&L, name, !cfg->projector_bias, 1, (int64_t[]){D});
        if (L.rc == 0 && model_activation_from_name(cfg->projector_act, &m->proj_act) != 0)
            L.rc = strata_error_set("%s: projector_hidden_act '%s' is not supported", config_path,
                                    cfg->projector_act);
    }
    if (L.rc != 0) {
        strata_model_free(m);
        return NULL;
    }
    strata_model_info *in = &m->info;
    in->architecture = cfg->architecture;
    in->text_model_type = cfg->text.model_type;
    in->has_vision = cfg->has_vision;
    in->n_layers = cfg->text.n_layers;
    in->hidden_size = cfg->text.hidden_size;
    in->vocab_size = cfg->text.vocab_size;
    in->context_length = cfg->text.max_position_embeddings;
    in->weight_dtype = m->dec.embed.dtype;
    in->image_token_id = -1;
    if (cfg->has_vision) {
        in->vision_model_type = cfg->vision.model_type;
        in->vision_n_layers = cfg->vision.n_layers;
        in->vision_hidden_size = cfg->vision.hidden_size;
        in->image_size = cfg->vision.image_size;
        in->patch_size = cfg->vision.patch_size;
        in->vision_positions = m->vis.positions;
        in->image_token_id = cfg->image_token_id;
        /* "default" drops the first row (CLIP's class token), as transformers does */
        in->n_image_tokens = m->vis.positions - (strcmp(cfg->select_strategy, "default") ? 0 : 1);
    }
    return m;
}

void strata_model_free(strata_model *m)
{
    if (!m) return;
    decoder_free(&m->dec);
    vision_free(&m->vis);
    strata_safetensors_close(m->st);
    strata_config_free(&m->cfg);
    free(m->host_scratch);
    free(m);
}

const strata_model_info *strata_model_get_info(const strata_model *m) { return &m->info; }
const char *strata_model_config_json(const strata_model *m) { return m->cfg.json; }

int strata_model_expand_image(const strata_model *m, const int32_t *ids, int n, int32_t *out,
                              int out_cap, int *image_begin)
{
    int id = m->info.image_token_id, k = m->info.n_image_tokens, at = -1;
    for (int i = 0; i < n && at < 0; i++)
        if (ids[i] == id) at = i;
    if (id < 0 || at < 0)
        return strata_error_set("no image token (id %d) in the %d input tokens", id, n);
    if (n - 1 + k > out_cap)
        return strata_error_set("%d tokens after image expansion exceed the room for %d", n - 1 + k,
                                out_cap);
    memcpy(out, ids, (size_t)at * sizeof *ids);
    for (int i = 0; i < k; i++) out[at + i] = id;
    memcpy(out + at + k, ids + at + 1, (size_t)(n - at - 1) * sizeof *ids);
    if (image_begin) *image_begin = at;
    return n - 1 + k;
}

/* Vision tower + feature selection + projector: img [n_images][n_image_tokens][D] */
static int image_features(strata_model *m, const strata_forward_args *a, float *img)
{
    const strata_backend_ops *o = m->be->ops;
    void *c = m->be->ctx;
    const strata_model_config *cfg = &m->cfg;
    int N = a->n_images, P = m->vis.positions, Dv = cfg->vision.hidden_size;
    int nf = cfg->n_feature_layers, D = cfg->text.hidden_size, ni = m->info.n_image_tokens;
    int S = cfg->vision.image_size, C = cfg->vision.num_channels;
    size_t npix = (size_t)N * C * S * S;
    int last = 0;
    for (int i = 0; i < nf; i++) last = cfg->feature_layers[i] > last ? cfg->feature_layers[i] : last;
    if (a->capture && a->capture_vision) last = cfg->vision.n_layers;
    float *pixels = o->alloc(c, npix * sizeof(float));           /* [N][C][S][S] */
    float *feat = o->alloc(c, (size_t)N * P * nf * Dv * sizeof(float)); /* [N][P][nf*Dv] */
    float *mid = o->alloc(c, (size_t)N * ni * D * sizeof(float));      /* linear_1 output */
    int rc = (pixels && feat && mid) ? 0 : -1;
    if (rc == 0) {
        o->upload(c, pixels, a->pixel_values, npix * sizeof(float));
        rc = vision_forward(m, a, pixels, N, feat, nf, cfg->feature_layers, last);
    }
    if (rc == 0) {
        int skip = P - ni; /* 1 with strategy "default": the first row of each image */
        int K = nf * Dv;
        for (int n = 0; n < N; n++) {
            const float *src = feat + ((long)n * P + skip) * K;
            float *dst = (m->proj2.data ? mid : img) + (long)n * ni * D;
            model_linear(m, dst, D, src, K, ni, K, D, &m->proj1, &m->proj1_bias, 0.0f);
        }
        if (m->proj2.data) {
            o->activation(c, mid, (long)N * ni * D, m->proj_act);
            model_linear(m, img, D, mid, D, N * ni, D, D, &m->proj2, &m->proj2_bias, 0.0f);
        }
        if (a->capture && a->capture_vision)
            rc = model_capture(m, a, STRATA_SITE_CONNECTOR, 0, N, ni, D, img);
    }
    o->free(c, pixels);
    o->free(c, feat);
    o->free(c, mid);
    return rc;
}

int strata_model_forward(strata_model *m, const strata_forward_args *a)
{
    const strata_backend_ops *o = m->be->ops;
    void *c = m->be->ctx;
    int B = a->batch, T = a->seq_len, D = m->info.hidden_size, V = m->info.vocab_size;
    int img_id = m->info.image_token_id, ni = m->info.n_image_tokens;
    if (B <= 0 || T <= 0) return strata_error_set("forward: empty batch (%d x %d)", B, T);
    if (T > m->info.context_length)
        return strata_error_set("forward: %d tokens exceed the context length %d", T,
                                m->info.context_length);
    /* validate the ids and count the image tokens; padding becomes id 0 */
    int32_t *ids = strata_malloc((size_t)B * T * sizeof *ids);
    long n_img_tokens = 0;
    for (int b = 0; b < B; b++) {
        int len = a->lengths ? a->lengths[b] : T;
        if (len < 1 || len > T) {
            free(ids);
            return strata_error_set("forward: row %d has length %d (expected 1..%d)", b, len, T);
        }
        for (int t = 0; t < T; t++) {
            int32_t id = t < len ? a->input_ids[(long)b * T + t] : 0;
            if (id < 0 || id >= V) {
                free(ids);
                return strata_error_set("forward: token id %d at row %d position %d is outside the "
                                        "vocabulary (%d)", id, b, t, V);
            }
            if (t < len && id == img_id) n_img_tokens++;
            ids[(long)b * T + t] = id;
        }
    }
    if (n_img_tokens != (long)a->n_images * ni || (a->n_images > 0 && !m->info.has_vision) ||
        (a->n_images > 0 && !a->pixel_values)) {
        free(ids);
        return strata_error_set("forward: %ld image tokens for %d images of %d tokens each%s",
                                n_img_tokens, a->n_images, ni,
                                m->info.has_vision ? "" : " (this model has no vision tower)");
    }
    float *x = o->alloc(c, (size_t)B * T * D * sizeof(float)); /* [B][T][D] residual stream */
    float *img = a->n_images ? o->alloc(c, (size_t)a->n_images * ni * D * sizeof(float)) : NULL;
    int rc = (x && (img || !a->n_images)) ? 0 : -1;
    if (rc == 0) {
        const mweight *e = &m->dec.embed;
        const void *table = model_weight_get(m, e);
        o->embedding(c, x, ids, B * T, table, e->dtype, D);
        o->weight_put(c, table);
    }
    if (rc == 0 && a->n_images) rc = image_features(m, a, img);
    if (rc == 0 && a->n_images) {
        /* splice: the k-th image token (row-major over [B][T]) takes image feature row k */
        long k = 0;
        for (int b = 0; b < B; b++) {
            int len = a->lengths ? a->lengths[b] : T;
            for (int t = 0; t < len;) {
                if (ids[(long)b * T + t] != img_id) {
                    t++;
                    continue;
                }
                int run = 0;
                while (t + run < len && ids[(long)b * T + t + run] == img_id) run++;
                o->copy2d(c, x + ((long)b * T + t) * D, D, img + k * D, D, run, D);
                k += run;
                t += run;
            }
        }
    }
    if (rc == 0) rc = decoder_forward(m, a, x);
    o->free(c, x);
    if (img) o->free(c, img);
    free(ids);
    return rc;
}
