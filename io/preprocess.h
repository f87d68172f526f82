/* preprocess.h — turn a decoded RGB image into the pixel tensor a vision tower eats, following a
 * model's preprocessor_config.json as transformers' PIL-backend image processors do:
 * CLIPImageProcessor (resize shortest edge, center crop), SiglipImageProcessor (resize to a fixed
 * size), LLaVA's pad-to-square with the mean colour (do_pad / image_aspect_ratio "pad"), then
 * rescale and normalise. Resizing reproduces PIL's Image.resize (separable convolution with the
 * filter's support widened by the scale, 8-bit fixed-point accumulation).
 * Thread-safe: a config is read-only after loading and may be shared by threads. */
#ifndef STRATA_PREPROCESS_H
#define STRATA_PREPROCESS_H

#include <stdint.h>

#include "io/image.h"

/* PIL resampling filter codes, as in preprocessor_config.json's "resample". */
enum {
    STRATA_RESAMPLE_NEAREST = 0,
    STRATA_RESAMPLE_LANCZOS = 1,
    STRATA_RESAMPLE_BILINEAR = 2,
    STRATA_RESAMPLE_BICUBIC = 3,
    STRATA_RESAMPLE_BOX = 4,
    STRATA_RESAMPLE_HAMMING = 5,
};

typedef struct {
    char processor[64];    /* image_processor_type, e.g. "CLIPImageProcessor" */
    int do_convert_rgb;    /* informational: decoding always yields RGB */
    int do_pad;            /* pad to a square with int(mean * 255) before resizing (LLaVA) */
    int do_resize;
    int shortest_edge;     /* > 0: resize so the short side is this (aspect kept) ... */
    int resize_height, resize_width; /* ... else resize to exactly this */
    int resample;          /* STRATA_RESAMPLE_* */
    int pillow_legacy_order; /* 1: resize horizontal pass first always, as Pillow <= 12 did; set
                              * by STRATA_PILLOW_PASS_ORDER=legacy at load (default: Pillow 13) */
    int do_center_crop;
    int crop_height, crop_width;
    int do_rescale;
    double rescale_factor; /* usually 1/255 */
    int do_normalize;
    float mean[3], std[3];
} strata_preprocess_config;

/* Reads DIR/preprocessor_config.json. Returns a config to free with
 * strata_preprocess_config_free, or NULL with strata_error naming the file and the field. */
strata_preprocess_config *strata_preprocess_config_load(const char *model_dir);
/* Same from a JSON text; `name` is used in error messages. */
strata_preprocess_config *strata_preprocess_config_parse(const char *json, const char *name);
void strata_preprocess_config_free(strata_preprocess_config *cfg);

/* Output size for an input of in_height x in_width (both > 0). Returns 0 or -1 with error. */
int strata_preprocess_output_size(const strata_preprocess_config *cfg, int in_height,
                                  int in_width, int *out_height, int *out_width);

/* Runs the whole chain on `img`. `pixel_values` must hold 3 * out_height * out_width floats
 * ([3][H][W], channel-first, as transformers' pixel_values[0]); `resized` (may be NULL) receives
 * the uint8 image right before rescaling ([H][W][3]). Sizes as strata_preprocess_output_size.
 * Returns 0 or -1 with strata_error set. */
int strata_preprocess_run(const strata_preprocess_config *cfg, const strata_image *img,
                          float *pixel_values, uint8_t *resized);

/* PIL-equivalent (Pillow 13 pass order) resize of an 8-bit RGB image (in: (in_h, in_w, 3);
 * out: (out_h, out_w, 3)).
 * Exposed for tests and benchmarks. Returns 0 or -1 (unsupported filter, bad size). */
int strata_image_resize(const uint8_t *in, int in_h, int in_w, uint8_t *out, int out_h,
                        int out_w, int resample);

#endif
