/* loader.c — samples to model inputs (see loader.h). The inputs follow what transformers'
 * LlavaProcessor builds: the template text with "<image>" tokenized with the tokenizer's special
 * tokens, the image token repeated n_image_tokens times, pixel_values from the image processor;
 * the caption stream sees tokenizer(caption) (BOS included) alone. Runs in the loader thread. */
#include "loader.h"

#include <stdlib.h>
#include <string.h>

#include "io/archive.h"
#include "io/template.h"
#include "strata.h"

/* First position where needle[m] occurs in hay[n] as a contiguous run, -1 if nowhere. */
static int find_run(const int32_t *hay, int n, const int32_t *needle, int m)
{
    for (int i = 0; i + m <= n; i++)
        if (memcmp(hay + i, needle, (size_t)m * sizeof *hay) == 0) return i;
    return -1;
}

int strata_loader_caption_tokens(const strata_loader_config *cfg, const char *caption,
                                 int32_t **ids, int *n, int *span_begin, int *span_count)
{
    *ids = NULL;
    *n = 0;
    int32_t *plain = NULL;
    int n_plain = 0;
    if (!caption || !*caption) return strata_error_set("empty caption");
    if (strata_tokenizer_encode(cfg->tokenizer, caption, 0, &plain, &n_plain) < 0) {
        strata_error_prefix("caption");
        return -1;
    }
    if (n_plain == 0) {
        free(plain);
        return strata_error_set("caption has no tokens");
    }
    if (strata_tokenizer_encode(cfg->tokenizer, caption, 1, ids, n) < 0) {
        free(plain);
        strata_error_prefix("caption");
        return -1;
    }
    for (int i = 0; i < n_plain; i++)
        if (cfg->info.image_token_id >= 0 && plain[i] == cfg->info.image_token_id) {
            free(plain);
            free(*ids);
            *ids = NULL;
            return strata_error_set("caption contains the image token (id %d)",
                                    cfg->info.image_token_id);
        }
    int at = find_run(*ids, *n, plain, n_plain);
    free(plain);
    if (at < 0) {
        free(*ids);
        *ids = NULL;
        return strata_error_set("caption: the tokens with special tokens do not contain the "
                                "tokens without them (unexpected post-processor)");
    }
    if (*n > cfg->info.context_length) {
        int len = *n;
        free(*ids);
        *ids = NULL;
        return strata_error_set("caption is %d tokens, longer than the model's context (%d)",
                                len, cfg->info.context_length);
    }
    *span_begin = at;
    *span_count = n_plain;
    return 0;
}

/* The image input of one sample: template -> ids with the image token expanded. */
static int image_tokens(const strata_loader_config *cfg, const char *caption, int32_t **ids,
                        int *n, int *image_begin)
{
    *ids = NULL;
    char *text = strata_template_expand(cfg->template_text, cfg->prompt, caption, NULL);
    if (!text) {
        strata_error_prefix("prompt template");
        return -1;
    }
    int32_t *raw = NULL;
    int n_raw = 0;
    int rc = strata_tokenizer_encode(cfg->tokenizer, text, 1, &raw, &n_raw);
    free(text);
    if (rc < 0) {
        strata_error_prefix("prompt");
        return -1;
    }
    int cap = n_raw + cfg->info.n_image_tokens;
    *ids = strata_malloc((size_t)cap * sizeof **ids);
    *n = strata_model_expand_image(cfg->model, raw, n_raw, *ids, cap, image_begin);
    free(raw);
    if (*n < 0) {
        free(*ids);
        *ids = NULL;
        strata_error_prefix("prompt");
        return -1;
    }
    if (*n > cfg->info.context_length) {
        int len = *n;
        free(*ids);
        *ids = NULL;
        return strata_error_set("prompt with the image is %d tokens, longer than the model's "
                                "context (%d)", len, cfg->info.context_length);
    }
    return 0;
}

static int load_pixels(const strata_loader_config *cfg, size_t index, float *pixels)
{
    strata_image img;
    if (strata_manifest_load_image(cfg->manifest, index, &img) < 0) return -1;
    int h = 0, w = 0, rc = strata_preprocess_output_size(cfg->preprocess, img.height, img.width,
                                                         &h, &w);
    if (rc == 0 && (h != cfg->info.image_size || w != cfg->info.image_size))
        rc = strata_error_set("image %s: preprocessing gives %dx%d, the vision tower takes "
                              "%dx%d (check preprocessor_config.json)",
                              cfg->manifest->samples[index].image, h, w, cfg->info.image_size,
                              cfg->info.image_size);
    if (rc == 0) rc = strata_preprocess_run(cfg->preprocess, &img, pixels, NULL);
    strata_image_free(&img);
    return rc;
}

/* Right-pads the per-sample id arrays of the ok samples into one [n_ok][T] matrix. */
static int32_t *pack(int32_t *const *ids, const int32_t *len, int n_ok, int pad, int *T_out)
{
    int T = 1;
    for (int b = 0; b < n_ok; b++)
        if (len[b] > T) T = len[b];
    int32_t *out = strata_malloc((size_t)(n_ok > 0 ? n_ok : 1) * (size_t)T * sizeof *out);
    for (int b = 0; b < n_ok; b++) {
        memcpy(out + (size_t)b * T, ids[b], (size_t)len[b] * sizeof *out);
        for (int t = len[b]; t < T; t++) out[(size_t)b * T + t] = pad;
    }
    *T_out = T;
    return out;
}

void strata_loader_load(const strata_loader_config *cfg, int64_t begin, int64_t end,
                        strata_batch *out)
{
    double t0 = strata_now();
    memset(out, 0, sizeof *out);
    int n = (int)(end - begin);
    out->begin = begin;
    out->end = end;
    out->n = n;
    out->status = strata_calloc((size_t)(n > 0 ? n : 1), sizeof *out->status);
    out->error = strata_calloc((size_t)(n > 0 ? n : 1), sizeof *out->error);
    out->ok_sample = strata_malloc((size_t)(n > 0 ? n : 1) * sizeof *out->ok_sample);
    size_t pix = (size_t)3 * cfg->info.image_size * cfg->info.image_size; /* floats per image */
    if (cfg->need_image) out->pixels = strata_malloc((size_t)(n > 0 ? n : 1) * pix * sizeof(float));
    /* per ok sample, before packing */
    int32_t **img_ids = strata_calloc((size_t)(n > 0 ? n : 1), sizeof *img_ids);
    int32_t **cap_ids = strata_calloc((size_t)(n > 0 ? n : 1), sizeof *cap_ids);
    out->image_len = strata_calloc((size_t)(n > 0 ? n : 1), sizeof *out->image_len);
    out->image_begin = strata_calloc((size_t)(n > 0 ? n : 1), sizeof *out->image_begin);
    out->caption_len = strata_calloc((size_t)(n > 0 ? n : 1), sizeof *out->caption_len);
    out->caption_begin = strata_calloc((size_t)(n > 0 ? n : 1), sizeof *out->caption_begin);
    out->caption_count = strata_calloc((size_t)(n > 0 ? n : 1), sizeof *out->caption_count);

    for (int k = 0; k < n; k++) {
        size_t i = (size_t)(begin + k);
        const strata_sample *s = &cfg->manifest->samples[i];
        int b = out->n_ok, rc = 0, len = 0;
        if (s->error) rc = strata_error_set("%s", s->error);
        if (rc == 0 && cfg->need_caption) {
            rc = strata_loader_caption_tokens(cfg, s->caption, &cap_ids[b], &len,
                                              &out->caption_begin[b], &out->caption_count[b]);
            out->caption_len[b] = len;
        }
        if (rc == 0 && cfg->need_image) {
            rc = image_tokens(cfg, s->caption, &img_ids[b], &len, &out->image_begin[b]);
            out->image_len[b] = len;
            if (rc == 0) rc = load_pixels(cfg, i, out->pixels + (size_t)b * pix);
        }
        if (rc < 0) {
            out->status[k] = STRATA_SAMPLE_FAILED;
            out->error[k] = strata_strdup(strata_error_get());
            free(img_ids[b]);
            free(cap_ids[b]);
            img_ids[b] = cap_ids[b] = NULL;
            continue;
        }
        out->status[k] = STRATA_SAMPLE_OK;
        out->error[k] = strata_strdup("");
        out->ok_sample[out->n_ok++] = k;
    }
    /* padding: any valid id that is not the image token (its value does not matter: masked) */
    int pad = strata_tokenizer_pad_id(cfg->tokenizer);
    if (pad < 0 || pad == cfg->info.image_token_id) pad = strata_tokenizer_eos_id(cfg->tokenizer);
    if (pad < 0 || pad == cfg->info.image_token_id) pad = cfg->info.image_token_id == 0 ? 1 : 0;
    if (cfg->need_image) out->image_ids = pack(img_ids, out->image_len, out->n_ok, pad, &out->image_T);
    if (cfg->need_caption)
        out->caption_ids = pack(cap_ids, out->caption_len, out->n_ok, pad, &out->caption_T);
    for (int b = 0; b < n; b++) {
        free(img_ids[b]);
        free(cap_ids[b]);
    }
    free(img_ids);
    free(cap_ids);
    out->seconds = strata_now() - t0;
}

void strata_batch_free(strata_batch *b)
{
    for (int k = 0; k < b->n; k++) free(b->error ? b->error[k] : NULL);
    free(b->status);
    free(b->error);
    free(b->ok_sample);
    free(b->image_ids);
    free(b->image_len);
    free(b->image_begin);
    free(b->pixels);
    free(b->caption_ids);
    free(b->caption_len);
    free(b->caption_begin);
    free(b->caption_count);
    memset(b, 0, sizeof *b);
}
