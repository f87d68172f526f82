/* image.h — decode JPEG (TurboJPEG) and PNG (libspng) files into 8-bit RGB, as transformers'
 * image loading sees them: PIL.Image.open by content (not by file name), ImageOps.exif_transpose,
 * then .convert("RGB") (alpha dropped, palette expanded, grayscale replicated, CMYK converted),
 * and the image processor's convert_to_rgb (a PNG's single tRNS colour composited onto white).
 * Dimensions are checked against STRATA_IMAGE_MAX_PIXELS before any pixel buffer is allocated.
 * All functions are thread-safe (no globals; errors go to the thread-local strata_error). */
#ifndef STRATA_IMAGE_H
#define STRATA_IMAGE_H

#include <stddef.h>
#include <stdint.h>

/* PIL refuses images above 2 * Image.MAX_IMAGE_PIXELS (DecompressionBombError); so do we. */
#define STRATA_IMAGE_MAX_PIXELS 178956970LL
/* Neither side may exceed this (JPEG's own limit is 65535). */
#define STRATA_IMAGE_MAX_SIDE 65500

typedef enum {
    STRATA_IMAGE_UNKNOWN = 0,
    STRATA_IMAGE_JPEG = 1,
    STRATA_IMAGE_PNG = 2,
} strata_image_format;

typedef struct {
    int width, height; /* after EXIF orientation */
    uint8_t *pixels;   /* (height, width, 3) RGB, row-major; owned, free with strata_image_free */
} strata_image;

/* What the header says, before any decoding: format, stored size (before EXIF orientation),
 * the EXIF orientation tag (1..8, 1 when absent) and the number of components in the file. */
typedef struct {
    strata_image_format format;
    int width, height;
    int orientation;
    int components;
} strata_image_info;

/* Reads only the header of an in-memory file. Returns 0, or -1 with strata_error set (not an
 * image we can read, a corrupt header, or dimensions beyond the limits above). */
int strata_image_probe(const uint8_t *data, size_t len, strata_image_info *info);

/* Decodes an in-memory JPEG or PNG into *out (RGB, EXIF orientation applied). `name` is used in
 * error messages only (may be NULL). Returns 0, or -1 with strata_error set and *out zeroed. */
int strata_image_decode(const uint8_t *data, size_t len, const char *name, strata_image *out);

/* Reads and decodes a file. Errors name the path: missing file, empty file, truncated or
 * corrupt data, unsupported format, absurd dimensions. Returns 0 or -1. */
int strata_image_load(const char *path, strata_image *out);

void strata_image_free(strata_image *img);

#endif
