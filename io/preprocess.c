/* preprocess.c — preprocessor_config.json and the pixel chain of transformers' PIL-backend image
 * processors (CLIPImageProcessor, SiglipImageProcessor, LlavaImageProcessor): pad to square,
 * resize, center crop, rescale, normalise. Resizing follows PIL's published convolution
 * resampling (Image.resize, reducing_gap=None): per axis, output pixel i samples the input around
 * (i + 0.5) * scale with the filter stretched by max(scale, 1); weights are normalised, turned
 * into 22-bit fixed point (rounded half away from zero) and accumulated with a half-unit bias,
 * horizontal pass first into an 8-bit intermediate, then vertical. Relies on jansson. */
#include "io/preprocess.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strata.h"

/* ---- resampling filters (Keys' cubic with a = -0.5, and the triangle) -------------------- */

static double filter_bicubic(double x)
{
    const double a = -0.5;
    x = fabs(x);
    if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0;
    if (x < 2.0) return (((x - 5.0) * x + 8.0) * x - 4.0) * a;
    return 0.0;
}

static double filter_bilinear(double x)
{
    x = fabs(x);
    return x < 1.0 ? 1.0 - x : 0.0;
}

enum { fixed_bits = 22 };

/* The two passes are the hot loops of preprocessing; GCC's -O2 cost model leaves them scalar. */
#if defined(__GNUC__) && !defined(__clang__)
#define HOT_LOOP __attribute__((optimize("O3")))
#else
#define HOT_LOOP
#endif /* 32 bits - 8 for the pixel - 2 of headroom */

/* Fixed-point weights for one axis: output i reads input start[i] .. start[i]+count[i]-1 with
 * weights k[i * ksize + j]. */
typedef struct {
    int ksize;
    int *start, *count; /* [out_size] */
    int32_t *k;         /* [out_size, ksize] */
} axis_weights;

static void axis_weights_free(axis_weights *a)
{
    free(a->start);
    free(a->count);
    free(a->k);
}

static void axis_weights_build(int in_size, int out_size, int resample, axis_weights *a)
{
    double (*filter)(double) = resample == STRATA_RESAMPLE_BICUBIC ? filter_bicubic : filter_bilinear;
    double base_support = resample == STRATA_RESAMPLE_BICUBIC ? 2.0 : 1.0;
    double scale = (double)in_size / out_size;
    double filterscale = scale < 1.0 ? 1.0 : scale;
    double support = base_support * filterscale;
    a->ksize = (int)ceil(support) * 2 + 1;
    a->start = strata_malloc(sizeof(int) * out_size);
    a->count = strata_malloc(sizeof(int) * out_size);
    a->k = strata_calloc((size_t)out_size * a->ksize, sizeof(int32_t));
    double *w = strata_malloc(sizeof(double) * a->ksize);
    for (int i = 0; i < out_size; i++) {
        double center = (i + 0.5) * scale;
        int lo = (int)(center - support + 0.5);
        int hi = (int)(center + support + 0.5);
        if (lo < 0) lo = 0;
        if (hi > in_size) hi = in_size;
        int n = hi - lo;
        if (n > a->ksize) n = a->ksize;
        double total = 0.0;
        for (int j = 0; j < n; j++) {
            w[j] = filter((j + lo - center + 0.5) / filterscale);
            total += w[j];
        }
        for (int j = 0; j < n; j++) {
            double v = total != 0.0 ? w[j] / total : w[j];
            v *= (double)(1 << fixed_bits);
            a->k[(size_t)i * a->ksize + j] = (int32_t)(v < 0 ? trunc(v - 0.5) : trunc(v + 0.5));
        }
        a->start[i] = lo;
        a->count[i] = n;
    }
    free(w);
}

/* Accumulators fit in 32 bits: |sum of weights| < 1.5 for these filters, so
 * 255 * 1.5 * 2^22 < 2^31 (the 2 bits of headroom in fixed_bits). */
static inline uint8_t fixed_to_u8(int32_t acc)
{
    if (acc < 0) return 0;
    acc >>= fixed_bits;
    return acc > 255 ? 255 : (uint8_t)acc;
}

/* Horizontal pass over rows [r0, r1) of in (.., in_w, 3) for output columns [x0, x0+ww):
 * dst (r1 - r0, ww, 3). */
HOT_LOOP static void pass_horizontal(const uint8_t *in, int in_w, int r0, int r1, const axis_weights *ax, int x0,
                            int ww, uint8_t *dst)
{
    for (int r = r0; r < r1; r++) {
        const uint8_t *src = in + (size_t)r * in_w * 3;
        uint8_t *row = dst + (size_t)(r - r0) * ww * 3;
        for (int x = 0; x < ww; x++) {
            int ox = x0 + x, n = ax->count[ox];
            const int32_t *k = ax->k + (size_t)ox * ax->ksize;
            const uint8_t *s = src + (size_t)ax->start[ox] * 3;
            int32_t acc0 = 1 << (fixed_bits - 1), acc1 = acc0, acc2 = acc0;
            for (int j = 0; j < n; j++) {
                acc0 += s[3 * j] * k[j];
                acc1 += s[3 * j + 1] * k[j];
                acc2 += s[3 * j + 2] * k[j];
            }
            row[3 * x] = fixed_to_u8(acc0);
            row[3 * x + 1] = fixed_to_u8(acc1);
            row[3 * x + 2] = fixed_to_u8(acc2);
        }
    }
}

/* Vertical pass over columns [c0, c1) of in (.., in_w, 3) for output rows [y0, y0+wh):
 * dst (wh, c1 - c0, 3). Accumulates whole rows (tap by tap) so the inner loop is contiguous. */
HOT_LOOP static void pass_vertical(const uint8_t *in, int in_w, int c0, int c1, const axis_weights *ay, int y0,
                          int wh, uint8_t *dst)
{
    size_t stride = (size_t)in_w * 3, cols = (size_t)(c1 - c0) * 3;
    int32_t *acc = strata_malloc(cols * sizeof *acc); /* [cols] */
    for (int y = 0; y < wh; y++) {
        int oy = y0 + y;
        const int32_t *k = ay->k + (size_t)oy * ay->ksize;
        const uint8_t *s = in + (size_t)ay->start[oy] * stride + (size_t)c0 * 3;
        for (size_t c = 0; c < cols; c++) acc[c] = 1 << (fixed_bits - 1);
        for (int j = 0; j < ay->count[oy]; j++) {
            const uint8_t *src = s + (size_t)j * stride;
            int32_t kj = k[j];
            for (size_t c = 0; c < cols; c++) acc[c] += src[c] * kj;
        }
        uint8_t *out = dst + (size_t)y * cols;
        for (size_t c = 0; c < cols; c++) out[c] = fixed_to_u8(acc[c]);
    }
    free(acc);
}

/* Copies rows [r0, r0+nr) and columns [c0, c0+nc) of in (.., in_w, 3) to dst (nr, nc, 3). */
static void copy_window(const uint8_t *in, int in_w, int r0, int nr, int c0, int nc, uint8_t *dst)
{
    for (int r = 0; r < nr; r++)
        memcpy(dst + (size_t)r * nc * 3, in + ((size_t)(r0 + r) * in_w + c0) * 3, (size_t)nc * 3);
}

/* Resizes in (in_h, in_w, 3) to the full out_h x out_w grid but computes only the window of
 * output rows [y0, y0+wh) and columns [x0, x0+ww), written to dst (wh, ww, 3). Each output pixel
 * depends only on its own weights, so the window equals that part of the full resize.
 * Pass order as Pillow >= 13 chooses it: vertical first when the height shrinks by more than
 * twice what the width does (h - out_h > 2 (w - out_w)), else horizontal first; `legacy_order`
 * keeps horizontal first always (Pillow <= 12). The 8-bit intermediate makes the order visible. */
static void resize_window(const uint8_t *in, int in_h, int in_w, int out_h, int out_w, int resample,
                          int legacy_order, int y0, int wh, int x0, int ww, uint8_t *dst)
{
    int do_h = out_w != in_w, do_v = out_h != in_h;
    if (!do_h && !do_v) {
        copy_window(in, in_w, y0, wh, x0, ww, dst);
        return;
    }
    axis_weights ax = {0}, ay = {0};
    if (do_h) axis_weights_build(in_w, out_w, resample, &ax);
    if (do_v) axis_weights_build(in_h, out_h, resample, &ay);
    if (!do_v) {
        pass_horizontal(in, in_w, y0, y0 + wh, &ax, x0, ww, dst);
    } else if (!do_h) {
        pass_vertical(in, in_w, x0, x0 + ww, &ay, y0, wh, dst);
    } else if (!legacy_order && in_h > out_h && in_h - out_h > 2 * (in_w - out_w)) {
        /* vertical first over the input columns the horizontal pass will read */
        int c0 = ax.start[x0], c1 = 0;
        for (int x = x0; x < x0 + ww; x++)
            if (ax.start[x] + ax.count[x] > c1) c1 = ax.start[x] + ax.count[x];
        uint8_t *tmp = strata_malloc((size_t)wh * (c1 - c0) * 3); /* (wh, c1 - c0, 3) */
        pass_vertical(in, in_w, c0, c1, &ay, y0, wh, tmp);
        for (int x = x0; x < x0 + ww; x++) ax.start[x] -= c0;
        pass_horizontal(tmp, c1 - c0, 0, wh, &ax, x0, ww, dst);
        free(tmp);
    } else {
        /* horizontal first over the input rows the vertical pass will read */
        int r0 = ay.start[y0], r1 = 0;
        for (int y = y0; y < y0 + wh; y++)
            if (ay.start[y] + ay.count[y] > r1) r1 = ay.start[y] + ay.count[y];
        uint8_t *tmp = strata_malloc((size_t)(r1 - r0) * ww * 3); /* (r1 - r0, ww, 3) */
        pass_horizontal(in, in_w, r0, r1, &ax, x0, ww, tmp);
        for (int y = y0; y < y0 + wh; y++) ay.start[y] -= r0;
        pass_vertical(tmp, ww, 0, ww, &ay, y0, wh, dst);
        free(tmp);
    }
    if (do_h) axis_weights_free(&ax);
    if (do_v) axis_weights_free(&ay);
}

static int check_resample(int resample)
{
    if (resample != STRATA_RESAMPLE_BICUBIC && resample != STRATA_RESAMPLE_BILINEAR)
        return strata_error_set("resample filter %d is not supported (3 = bicubic and 2 = bilinear are)",
                                resample);
    return 0;
}

int strata_image_resize(const uint8_t *in, int in_h, int in_w, uint8_t *out, int out_h, int out_w,
                        int resample)
{
    if (check_resample(resample)) return -1;
    if (in_h <= 0 || in_w <= 0 || out_h <= 0 || out_w <= 0)
        return strata_error_set("resize: bad size %dx%d -> %dx%d", in_h, in_w, out_h, out_w);
    resize_window(in, in_h, in_w, out_h, out_w, resample, 0, 0, out_h, 0, out_w, out);
    return 0;
}

/* ---- preprocessor_config.json ------------------------------------------------------------ */

/* A size field: an int (square, or shortest edge where the class defaults to that) or a dict
 * with shortest_edge or height/width. Returns 0, 1 if absent, -1 on error. */
static int read_size(json_t *root, const char *key, int int_is_shortest, int *shortest, int *h, int *w,
                     const char *name)
{
    json_t *v = json_object_get(root, key);
    if (!v || json_is_null(v)) return 1;
    *shortest = 0;
    *h = *w = 0;
    if (json_is_integer(v)) {
        if (int_is_shortest) *shortest = (int)json_integer_value(v);
        else *h = *w = (int)json_integer_value(v);
    } else if (json_is_object(v)) {
        json_t *se = json_object_get(v, "shortest_edge"), *hh = json_object_get(v, "height"),
               *wv = json_object_get(v, "width");
        if (json_object_get(v, "longest_edge") && !json_is_null(json_object_get(v, "longest_edge")))
            return strata_error_set("%s: field \"%s\": longest_edge is not supported", name, key);
        if (json_is_integer(se)) *shortest = (int)json_integer_value(se);
        else if (json_is_integer(hh) && json_is_integer(wv)) {
            *h = (int)json_integer_value(hh);
            *w = (int)json_integer_value(wv);
        } else
            return strata_error_set("%s: field \"%s\": expected {\"shortest_edge\": N} or "
                                    "{\"height\": H, \"width\": W}", name, key);
    } else
        return strata_error_set("%s: field \"%s\": expected an integer or an object", name, key);
    int bad = *shortest ? (*shortest < 1 || *shortest > 16384)
                        : (*h < 1 || *w < 1 || *h > 16384 || *w > 16384);
    if (bad) return strata_error_set("%s: field \"%s\": size out of range (1..16384)", name, key);
    return 0;
}

static int read_bool(json_t *root, const char *key, int *out, const char *name)
{
    json_t *v = json_object_get(root, key);
    if (!v || json_is_null(v)) return 0;
    if (!json_is_boolean(v)) return strata_error_set("%s: field \"%s\": expected true or false", name, key);
    *out = json_is_true(v);
    return 0;
}

static int read_triple(json_t *root, const char *key, float out[3], const char *name)
{
    json_t *v = json_object_get(root, key);
    if (!v || json_is_null(v)) return 0;
    if (json_is_number(v)) {
        out[0] = out[1] = out[2] = (float)json_number_value(v);
        return 0;
    }
    if (!json_is_array(v) || json_array_size(v) != 3)
        return strata_error_set("%s: field \"%s\": expected a list of 3 numbers", name, key);
    for (int c = 0; c < 3; c++) {
        json_t *e = json_array_get(v, c);
        if (!json_is_number(e)) return strata_error_set("%s: field \"%s\": expected numbers", name, key);
        out[c] = (float)json_number_value(e); /* numpy: np.array(mean, dtype=float32) */
    }
    return 0;
}

strata_preprocess_config *strata_preprocess_config_parse(const char *text, const char *name)
{
    json_error_t jerr;
    json_t *root = json_loads(text, 0, &jerr);
    if (!root) {
        strata_error_set("%s:%d:%d: not valid JSON: %s", name, jerr.line, jerr.column, jerr.text);
        return NULL;
    }
    strata_preprocess_config *cfg = strata_calloc(1, sizeof *cfg);
    if (!json_is_object(root)) {
        strata_error_set("%s: expected a JSON object", name);
        goto fail;
    }
    json_t *type = json_object_get(root, "image_processor_type");
    if (!type) type = json_object_get(root, "feature_extractor_type");
    if (!json_is_string(type)) {
        strata_error_set("%s: field \"image_processor_type\": missing (expected e.g. \"CLIPImageProcessor\")", name);
        goto fail;
    }
    const char *t = json_string_value(type);
    snprintf(cfg->processor, sizeof cfg->processor, "%s", t);
    int is_clip = strncmp(t, "CLIP", 4) == 0, is_siglip = strncmp(t, "Siglip", 6) == 0,
        is_llava = strncmp(t, "LlavaImageProcessor", 19) == 0;
    if (!is_clip && !is_siglip && !is_llava) {
        strata_error_set("%s: field \"image_processor_type\": \"%s\" is not supported (expected a "
                         "CLIP, Siglip or Llava image processor)", name, t);
        goto fail;
    }
    /* class defaults (transformers' CLIPImageProcessor / SiglipImageProcessor attributes) */
    cfg->do_convert_rgb = 1;
    cfg->do_resize = cfg->do_rescale = cfg->do_normalize = 1;
    cfg->resample = STRATA_RESAMPLE_BICUBIC;
    const char *order = getenv("STRATA_PILLOW_PASS_ORDER");
    cfg->pillow_legacy_order = order && strcmp(order, "legacy") == 0;
    cfg->rescale_factor = 1.0 / 255.0;
    if (is_siglip) {
        cfg->resize_height = cfg->resize_width = 224;
        for (int c = 0; c < 3; c++) cfg->mean[c] = cfg->std[c] = 0.5f;
    } else {
        static const float clip_mean[3] = {0.48145466f, 0.4578275f, 0.40821073f};
        static const float clip_std[3] = {0.26862954f, 0.26130258f, 0.27577711f};
        cfg->shortest_edge = 224;
        cfg->do_center_crop = 1;
        cfg->crop_height = cfg->crop_width = 224;
        memcpy(cfg->mean, clip_mean, sizeof clip_mean);
        memcpy(cfg->std, clip_std, sizeof clip_std);
    }
    int rc = read_size(root, "size", !is_siglip, &cfg->shortest_edge, &cfg->resize_height,
                       &cfg->resize_width, name);
    if (rc < 0) goto fail;
    int s_unused = 0;
    rc = read_size(root, "crop_size", 0, &s_unused, &cfg->crop_height, &cfg->crop_width, name);
    if (rc < 0) goto fail;
    if (rc == 0 && s_unused) {
        strata_error_set("%s: field \"crop_size\": expected {\"height\": H, \"width\": W}", name);
        goto fail;
    }
    if (read_bool(root, "do_resize", &cfg->do_resize, name) ||
        read_bool(root, "do_center_crop", &cfg->do_center_crop, name) ||
        read_bool(root, "do_rescale", &cfg->do_rescale, name) ||
        read_bool(root, "do_normalize", &cfg->do_normalize, name) ||
        read_bool(root, "do_convert_rgb", &cfg->do_convert_rgb, name) ||
        read_bool(root, "do_pad", &cfg->do_pad, name) ||
        read_triple(root, "image_mean", cfg->mean, name) ||
        read_triple(root, "image_std", cfg->std, name))
        goto fail;
    if (cfg->do_pad && !is_llava) {
        strata_error_set("%s: field \"do_pad\": only LlavaImageProcessor's pad-to-square is supported", name);
        goto fail;
    }
    json_t *aspect = json_object_get(root, "image_aspect_ratio");
    if (json_is_string(aspect) && strcmp(json_string_value(aspect), "pad") == 0) cfg->do_pad = 1;
    json_t *resample = json_object_get(root, "resample");
    if (resample && !json_is_null(resample)) {
        if (!json_is_integer(resample)) {
            strata_error_set("%s: field \"resample\": expected an integer PIL filter code", name);
            goto fail;
        }
        cfg->resample = (int)json_integer_value(resample);
    }
    if (cfg->do_resize && check_resample(cfg->resample)) {
        strata_error_prefix("%s: field \"resample\"", name);
        goto fail;
    }
    json_t *factor = json_object_get(root, "rescale_factor");
    if (factor && !json_is_null(factor)) {
        if (!json_is_number(factor)) {
            strata_error_set("%s: field \"rescale_factor\": expected a number", name);
            goto fail;
        }
        cfg->rescale_factor = json_number_value(factor);
    }
    for (int c = 0; c < 3; c++)
        if (cfg->do_normalize && !(cfg->std[c] != 0.0f)) {
            strata_error_set("%s: field \"image_std\": must not be zero", name);
            goto fail;
        }
    json_decref(root);
    return cfg;
fail:
    json_decref(root);
    free(cfg);
    return NULL;
}

strata_preprocess_config *strata_preprocess_config_load(const char *model_dir)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/preprocessor_config.json", model_dir);
    char *text = strata_read_file(path, NULL);
    if (!text) return NULL;
    strata_preprocess_config *cfg = strata_preprocess_config_parse(text, path);
    free(text);
    return cfg;
}

void strata_preprocess_config_free(strata_preprocess_config *cfg)
{
    free(cfg);
}

/* ---- the chain ---------------------------------------------------------------------------- */

/* Size after the optional pad and resize (before the crop). */
static void resized_size(const strata_preprocess_config *cfg, int h, int w, int *rh, int *rw)
{
    if (cfg->do_pad) h = w = h > w ? h : w;
    *rh = h;
    *rw = w;
    if (!cfg->do_resize) return;
    if (cfg->shortest_edge > 0) {
        /* transformers' get_resize_output_image_size(default_to_square=False):
         * new_long = int(shortest_edge * long / short) in Python floats */
        int s = cfg->shortest_edge;
        int shorter = w <= h ? w : h, longer = w <= h ? h : w;
        int new_long = (int)((double)s * (double)longer / (double)shorter);
        if (w <= h) *rw = s, *rh = new_long;
        else *rh = s, *rw = new_long;
    } else {
        *rh = cfg->resize_height;
        *rw = cfg->resize_width;
    }
}

int strata_preprocess_output_size(const strata_preprocess_config *cfg, int in_height, int in_width,
                                  int *out_height, int *out_width)
{
    if (in_height <= 0 || in_width <= 0)
        return strata_error_set("preprocess: empty image (%d x %d)", in_height, in_width);
    int rh, rw;
    resized_size(cfg, in_height, in_width, &rh, &rw);
    if (rh <= 0 || rw <= 0)
        return strata_error_set("preprocess: a %d x %d image resizes to nothing", in_height, in_width);
    *out_height = cfg->do_center_crop ? cfg->crop_height : rh;
    *out_width = cfg->do_center_crop ? cfg->crop_width : rw;
    return 0;
}

/* LLaVA's pad-to-square: the image centred on a square of int(mean * 255). */
static uint8_t *pad_to_square(const strata_preprocess_config *cfg, const strata_image *img, int *side)
{
    int h = img->height, w = img->width, n = h > w ? h : w;
    uint8_t fill[3];
    for (int c = 0; c < 3; c++) fill[c] = (uint8_t)(int)((double)cfg->mean[c] * 255.0);
    uint8_t *sq = strata_malloc((size_t)n * n * 3);
    for (size_t p = 0; p < (size_t)n * n; p++) memcpy(sq + 3 * p, fill, 3);
    int top = w > h ? (n - h) / 2 : 0, left = w > h ? 0 : (n - w) / 2;
    for (int y = 0; y < h; y++)
        memcpy(sq + ((size_t)(y + top) * n + left) * 3, img->pixels + (size_t)y * w * 3, (size_t)w * 3);
    *side = n;
    return sq;
}

int strata_preprocess_run(const strata_preprocess_config *cfg, const strata_image *img,
                          float *pixel_values, uint8_t *resized)
{
    int oh, ow, rh, rw;
    if (strata_preprocess_output_size(cfg, img->height, img->width, &oh, &ow)) return -1;
    resized_size(cfg, img->height, img->width, &rh, &rw);
    const uint8_t *src = img->pixels;
    int sh = img->height, sw = img->width;
    uint8_t *padded = NULL;
    if (cfg->do_pad && sh != sw) {
        int n;
        padded = pad_to_square(cfg, img, &n);
        src = padded;
        sh = sw = n;
    }
    /* Center crop as transformers' center_crop: offsets (size - crop) // 2 (floor); where the
     * crop is larger than the image, the image sits at ceil((crop - size) / 2) on zeros. */
    uint8_t *u8 = resized ? resized : strata_malloc((size_t)oh * ow * 3);
    int crop_top = cfg->do_center_crop ? (int)floor((rh - oh) / 2.0) : 0;
    int crop_left = cfg->do_center_crop ? (int)floor((rw - ow) / 2.0) : 0;
    if (crop_top >= 0 && crop_left >= 0 && crop_top + oh <= rh && crop_left + ow <= rw) {
        resize_window(src, sh, sw, rh, rw, cfg->resample, cfg->pillow_legacy_order, crop_top, oh, crop_left,
                      ow, u8);
    } else {
        uint8_t *full = strata_malloc((size_t)rh * rw * 3);
        resize_window(src, sh, sw, rh, rw, cfg->resample, cfg->pillow_legacy_order, 0, rh, 0, rw, full);
        int nh = oh > rh ? oh : rh, nw = ow > rw ? ow : rw;
        int tp = (nh - rh + 1) / 2, lp = (nw - rw + 1) / 2;
        int top = (nh - oh) / 2, left = (nw - ow) / 2; /* crop of the padded canvas */
        for (int y = 0; y < oh; y++)
            for (int x = 0; x < ow; x++) {
                int sy = y + top - tp, sx = x + left - lp;
                uint8_t *d = u8 + ((size_t)y * ow + x) * 3;
                if (sy < 0 || sy >= rh || sx < 0 || sx >= rw) memset(d, 0, 3);
                else memcpy(d, full + ((size_t)sy * rw + sx) * 3, 3);
            }
        free(full);
    }
    free(padded);
    /* rescale in float64 then cast to float32, normalise in float32 (numpy as transformers uses it) */
    size_t plane = (size_t)oh * ow;
    for (int c = 0; c < 3; c++) {
        float *dst = pixel_values + c * plane;
        for (size_t p = 0; p < plane; p++) {
            float x = cfg->do_rescale ? (float)((double)u8[3 * p + c] * cfg->rescale_factor)
                                      : (float)u8[3 * p + c];
            if (cfg->do_normalize) x = (x - cfg->mean[c]) / cfg->std[c];
            dst[p] = x;
        }
    }
    if (!resized) free(u8);
    return 0;
}
