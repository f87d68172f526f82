/* image.c — JPEG (TurboJPEG) and PNG (libspng) decoding to 8-bit RGB, matching what
 * transformers.image_utils.load_image gives: PIL opens by content, ImageOps.exif_transpose applies
 * the EXIF orientation, convert("RGB") drops alpha, expands palettes, replicates gray, turns
 * (Adobe-inverted) CMYK into RGB. Follows the JPEG (ITU T.81), JFIF/Exif (CIPA DC-008, TIFF 6.0
 * IFD layout) and PNG (ISO 15948) specifications for the header fields read here. */
#include "io/image.h"

#include <errno.h>
#include <spng.h>
#include <stdlib.h>
#include <string.h>
#include <turbojpeg.h>

#include "strata.h"

/* ---- EXIF: the orientation tag (0x0112) of IFD0 in a TIFF-structured block --------------- */

static unsigned read16(const uint8_t *p, int big)
{
    return big ? (unsigned)p[0] << 8 | p[1] : (unsigned)p[1] << 8 | p[0];
}

static uint32_t read32(const uint8_t *p, int big)
{
    return big ? (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]
               : (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

/* Returns the orientation (1..8) or 1 when absent or unreadable: a bad EXIF block never makes an
 * image unreadable (PIL ignores it too). */
static int exif_orientation(const uint8_t *tiff, size_t len)
{
    if (len < 8) return 1;
    int big;
    if (tiff[0] == 'I' && tiff[1] == 'I') big = 0;
    else if (tiff[0] == 'M' && tiff[1] == 'M') big = 1;
    else return 1;
    if (read16(tiff + 2, big) != 42) return 1;
    uint32_t ifd = read32(tiff + 4, big);
    if (ifd > len || len - ifd < 2) return 1;
    unsigned n = read16(tiff + ifd, big);
    for (unsigned i = 0; i < n; i++) {
        size_t at = (size_t)ifd + 2 + (size_t)i * 12;
        if (at + 12 > len) return 1;
        if (read16(tiff + at, big) != 0x0112) continue;
        unsigned type = read16(tiff + at + 2, big);
        unsigned value = type == 3 ? read16(tiff + at + 8, big)            /* SHORT */
                         : type == 4 ? (unsigned)read32(tiff + at + 8, big) /* LONG */
                                     : 1;
        return value >= 1 && value <= 8 ? (int)value : 1;
    }
    return 1;
}

/* ---- JPEG header: walk the marker segments up to the first scan -------------------------- */

typedef struct {
    int width, height, components, orientation;
} jpeg_header;

static int jpeg_parse_header(const uint8_t *d, size_t len, jpeg_header *h)
{
    memset(h, 0, sizeof *h);
    h->orientation = 1;
    int have_exif = 0;
    size_t i = 2; /* after SOI */
    for (;;) {
        if (i >= len) return strata_error_set("truncated JPEG header (no frame header before the end)");
        if (d[i] != 0xFF)
            return strata_error_set("corrupt JPEG header: expected a marker at byte %zu, found 0x%02X",
                                    i, d[i]);
        while (i < len && d[i] == 0xFF) i++; /* fill bytes */
        if (i >= len) return strata_error_set("truncated JPEG header");
        unsigned marker = d[i++];
        if (marker == 0xD8 || (marker >= 0xD0 && marker <= 0xD7) || marker == 0x01) continue;
        if (marker == 0xD9) return strata_error_set("corrupt JPEG: end of image before any frame");
        if (i + 2 > len) return strata_error_set("truncated JPEG header");
        size_t seg = (size_t)d[i] << 8 | d[i + 1];
        if (seg < 2) return strata_error_set("corrupt JPEG header: segment length %zu at byte %zu", seg, i);
        if (seg > len - i) return strata_error_set("truncated JPEG header (segment 0x%02X runs past the end)", marker);
        const uint8_t *p = d + i + 2;
        size_t plen = seg - 2;
        if (marker == 0xE1 && !have_exif && plen >= 6 && memcmp(p, "Exif\0\0", 6) == 0) {
            h->orientation = exif_orientation(p + 6, plen - 6);
            have_exif = 1;
        }
        int is_sof = marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 &&
                     marker != 0xCC;
        if (is_sof && h->width == 0) {
            if (plen < 6) return strata_error_set("corrupt JPEG frame header (too short)");
            h->height = (int)((unsigned)p[1] << 8 | p[2]);
            h->width = (int)((unsigned)p[3] << 8 | p[4]);
            h->components = p[5];
            if (h->width == 0 || h->height == 0)
                return strata_error_set("JPEG frame header gives a zero dimension (%d x %d)", h->width,
                                        h->height);
            if (h->components != 1 && h->components != 3 && h->components != 4)
                return strata_error_set("JPEG with %d components (expected 1, 3 or 4)", h->components);
        }
        if (marker == 0xDA) break; /* start of scan: the frame header must precede it */
        i += seg;
    }
    if (h->width == 0) return strata_error_set("corrupt JPEG: scan before any frame header");
    return 0;
}

/* ---- PNG header: IHDR fields, read directly (the decode itself goes through libspng) ----- */

static const uint8_t png_magic[8] = {0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A};

static int check_dimensions(long long w, long long h, const char *what)
{
    if (w <= 0 || h <= 0) return strata_error_set("%s header gives a zero dimension (%lld x %lld)", what, w, h);
    if (w > STRATA_IMAGE_MAX_SIDE || h > STRATA_IMAGE_MAX_SIDE || w * h > STRATA_IMAGE_MAX_PIXELS)
        return strata_error_set("%s header claims %lld x %lld pixels: beyond the limit of %lld pixels "
                                "(%d per side); refusing to allocate",
                                what, w, h, STRATA_IMAGE_MAX_PIXELS, STRATA_IMAGE_MAX_SIDE);
    return 0;
}

static const char *guess_other_format(const uint8_t *d, size_t len)
{
    if (len >= 6 && (memcmp(d, "GIF87a", 6) == 0 || memcmp(d, "GIF89a", 6) == 0)) return "GIF";
    if (len >= 2 && d[0] == 'B' && d[1] == 'M') return "BMP";
    if (len >= 12 && memcmp(d, "RIFF", 4) == 0 && memcmp(d + 8, "WEBP", 4) == 0) return "WebP";
    if (len >= 4 && (memcmp(d, "II*\0", 4) == 0 || memcmp(d, "MM\0*", 4) == 0)) return "TIFF";
    return NULL;
}

int strata_image_probe(const uint8_t *data, size_t len, strata_image_info *info)
{
    memset(info, 0, sizeof *info);
    if (len == 0) return strata_error_set("empty file (0 bytes)");
    if (len >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF) {
        jpeg_header h;
        if (jpeg_parse_header(data, len, &h)) return -1;
        if (check_dimensions(h.width, h.height, "JPEG")) return -1;
        *info = (strata_image_info){STRATA_IMAGE_JPEG, h.width, h.height, h.orientation, h.components};
        return 0;
    }
    if (len >= 8 && memcmp(data, png_magic, 8) == 0) {
        if (len < 33) return strata_error_set("truncated PNG header (%zu bytes)", len);
        if (memcmp(data + 12, "IHDR", 4) != 0 || read32(data + 8, 1) != 13)
            return strata_error_set("corrupt PNG header: the first chunk is not a 13-byte IHDR");
        uint32_t w = read32(data + 16, 1), h = read32(data + 20, 1);
        if (check_dimensions(w, h, "PNG")) return -1;
        unsigned color = data[25];
        int comps = color == 0 ? 1 : color == 2 ? 3 : color == 3 ? 3 : color == 4 ? 2 : color == 6 ? 4 : 0;
        if (!comps) return strata_error_set("corrupt PNG header: colour type %u", color);
        *info = (strata_image_info){STRATA_IMAGE_PNG, (int)w, (int)h, 1, comps};
        return 0;
    }
    const char *other = guess_other_format(data, len);
    if (other) return strata_error_set("%s image: only JPEG and PNG are supported", other);
    char hex[3 * 8 + 1] = "";
    for (size_t k = 0; k < len && k < 8; k++) snprintf(hex + 3 * k, 4, "%02X ", data[k]);
    return strata_error_set("not a JPEG or PNG file (starts with %s)", hex);
}

/* ---- orientation: PIL's Image.Transpose for EXIF values 2..8 ----------------------------- */

/* in: (h, w, 3); returns a new buffer (oh, ow, 3) with *ow, *oh set. */
static uint8_t *apply_orientation(const uint8_t *in, int w, int h, int orientation, int *ow, int *oh)
{
    int swap = orientation >= 5;
    int W = swap ? h : w, H = swap ? w : h;
    uint8_t *out = strata_malloc((size_t)W * H * 3);
    for (int oy = 0; oy < H; oy++) {
        for (int ox = 0; ox < W; ox++) {
            int sx, sy;
            switch (orientation) {
            case 2: sx = w - 1 - ox; sy = oy; break;             /* flip left-right */
            case 3: sx = w - 1 - ox; sy = h - 1 - oy; break;     /* rotate 180 */
            case 4: sx = ox; sy = h - 1 - oy; break;             /* flip top-bottom */
            case 5: sx = oy; sy = ox; break;                     /* transpose */
            case 6: sx = oy; sy = h - 1 - ox; break;             /* rotate 90 clockwise */
            case 7: sx = w - 1 - oy; sy = h - 1 - ox; break;     /* transverse */
            case 8: sx = w - 1 - oy; sy = ox; break;             /* rotate 90 counter-clockwise */
            default: sx = ox; sy = oy; break;
            }
            memcpy(out + ((size_t)oy * W + ox) * 3, in + ((size_t)sy * w + sx) * 3, 3);
        }
    }
    *ow = W;
    *oh = H;
    return out;
}

/* ---- JPEG decode ----------------------------------------------------------------------- */

static int decode_jpeg(const uint8_t *data, size_t len, const strata_image_info *info, uint8_t **rgb)
{
    tjhandle tj = tjInitDecompress();
    if (!tj) return strata_error_set("cannot start the JPEG decoder: %s", tjGetErrorStr2(NULL));
    int w = 0, h = 0, subsamp = 0, colorspace = 0;
    if (tjDecompressHeader3(tj, data, (unsigned long)len, &w, &h, &subsamp, &colorspace) != 0) {
        strata_error_set("corrupt JPEG header: %s", tjGetErrorStr2(tj));
        tjDestroy(tj);
        return -1;
    }
    if (w != info->width || h != info->height) {
        tjDestroy(tj);
        return strata_error_set("corrupt JPEG header (inconsistent frame sizes)");
    }
    int cmyk = colorspace == TJCS_CMYK || colorspace == TJCS_YCCK;
    size_t npix = (size_t)w * h;
    uint8_t *buf = strata_malloc(npix * (cmyk ? 4 : 3));
    int rc = tjDecompress2(tj, data, (unsigned long)len, buf, w, 0, h, cmyk ? TJPF_CMYK : TJPF_RGB, 0);
    if (rc != 0) {
        /* libjpeg warnings (e.g. extraneous bytes) leave a usable image, as in PIL; running out
         * of data does not: PIL raises "image file is truncated" there. */
        const char *msg = tjGetErrorStr2(tj);
        int warning = tjGetErrorCode(tj) == TJERR_WARNING;
        if (!warning || strstr(msg, "Premature end")) {
            strata_error_set("%s JPEG data: %s", warning ? "truncated" : "corrupt", msg);
            tjDestroy(tj);
            free(buf);
            return -1;
        }
    }
    tjDestroy(tj);
    if (cmyk) {
        /* PIL reads every 4-component JPEG with Adobe's inverted polarity ("CMYK;I"), then
         * converts with R = (255 - C)(255 - K) / 255, rounded; libjpeg hands us the stored
         * (inverted) values, so 255 - C is the stored byte itself. */
        uint8_t *out = strata_malloc(npix * 3);
        for (size_t p = 0; p < npix; p++) {
            unsigned nk = buf[4 * p + 3];
            for (int c = 0; c < 3; c++) out[3 * p + c] = (uint8_t)((buf[4 * p + c] * nk * 2 + 255) / 510);
        }
        free(buf);
        buf = out;
    }
    *rgb = buf;
    return 0;
}

/* ---- PNG decode ------------------------------------------------------------------------ */

/* A PNG whose tRNS chunk names one transparent colour keeps it through PIL's convert("RGB")
 * (as info["transparency"]); transformers' convert_to_rgb then composites the image onto white,
 * so exactly the pixels of that colour become white. PIL's rules for which colour that is:
 * palette: only when one entry has alpha 0 and all others 255, the colour is that entry;
 * 8-bit gray and 8/16-bit RGB: the tRNS sample values as written, compared with the 8-bit
 * pixels. Other cases (1-bit, 16-bit gray, several alpha levels) keep their pixels. */
static void whiten_transparent_colour(spng_ctx *ctx, const struct spng_ihdr *ihdr, uint8_t *rgb,
                                      size_t npix)
{
    struct spng_trns trns;
    if (spng_get_trns(ctx, &trns) != 0) return;
    unsigned want[3];
    if (ihdr->color_type == SPNG_COLOR_TYPE_INDEXED) {
        struct spng_plte plte;
        if (spng_get_plte(ctx, &plte) != 0) return;
        int index = -1;
        for (uint32_t i = 0; i < trns.n_type3_entries; i++) {
            if (trns.type3_alpha[i] == 0 && index < 0) index = (int)i;
            else if (trns.type3_alpha[i] != 255) return; /* not a single transparent colour */
        }
        if (index < 0 || (uint32_t)index >= plte.n_entries) return;
        want[0] = plte.entries[index].red;
        want[1] = plte.entries[index].green;
        want[2] = plte.entries[index].blue;
    } else if (ihdr->color_type == SPNG_COLOR_TYPE_GRAYSCALE && ihdr->bit_depth >= 2 && ihdr->bit_depth <= 8) {
        want[0] = want[1] = want[2] = trns.gray;
    } else if (ihdr->color_type == SPNG_COLOR_TYPE_TRUECOLOR) {
        want[0] = trns.red;
        want[1] = trns.green;
        want[2] = trns.blue;
    } else {
        return;
    }
    for (size_t p = 0; p < npix; p++) {
        uint8_t *px = rgb + 3 * p;
        if (px[0] == want[0] && px[1] == want[1] && px[2] == want[2]) memset(px, 255, 3);
    }
}

static int decode_png(const uint8_t *data, size_t len, strata_image_info *info, uint8_t **rgb)
{
    spng_ctx *ctx = spng_ctx_new(0);
    if (!ctx) return strata_error_set("cannot start the PNG decoder");
    uint8_t *raw = NULL, *out = NULL;
    int rc = spng_set_png_buffer(ctx, data, len);
    if (!rc) rc = spng_set_image_limits(ctx, STRATA_IMAGE_MAX_SIDE, STRATA_IMAGE_MAX_SIDE);
    if (!rc) rc = spng_set_chunk_limits(ctx, 64u << 20, 256u << 20);
    struct spng_ihdr ihdr;
    if (!rc) rc = spng_get_ihdr(ctx, &ihdr);
    if (rc) {
        strata_error_set("corrupt PNG header: %s", spng_strerror(rc));
        goto fail;
    }
    struct spng_exif exif;
    if (spng_get_exif(ctx, &exif) == 0) info->orientation = exif_orientation((const uint8_t *)exif.data, exif.length);

    /* PIL's modes for PNG and what convert("RGB") does with them:
     *  16-bit gray -> "I;16"; to RGB clips values above 255 (it does not scale)
     *  other 16-bit -> the high byte of each sample ("RGB;16B", "RGBA;16B", "LA;16B")
     *  gray below 8 bits -> scaled to 0..255; palette -> PLTE colours; alpha and tRNS dropped. */
    int sixteen = ihdr.bit_depth == 16;
    int fmt = sixteen ? SPNG_FMT_RGBA16 : SPNG_FMT_RGBA8;
    size_t need = 0;
    rc = spng_decoded_image_size(ctx, fmt, &need);
    if (!rc) {
        raw = strata_malloc(need);
        rc = spng_decode_image(ctx, raw, need, fmt, 0);
    }
    if (rc) {
        strata_error_set("%s PNG data: %s", rc == SPNG_EOF || rc == SPNG_IO_EOF ? "truncated" : "corrupt", spng_strerror(rc));
        goto fail;
    }
    size_t npix = (size_t)ihdr.width * ihdr.height;
    out = strata_malloc(npix * 3);
    if (sixteen) {
        const uint16_t *s = (const uint16_t *)raw;
        int clip = ihdr.color_type == SPNG_COLOR_TYPE_GRAYSCALE;
        for (size_t p = 0; p < npix; p++)
            for (int c = 0; c < 3; c++) {
                unsigned v = s[4 * p + c];
                out[3 * p + c] = (uint8_t)(clip ? (v > 255 ? 255 : v) : v >> 8);
            }
    } else {
        for (size_t p = 0; p < npix; p++) memcpy(out + 3 * p, raw + 4 * p, 3);
    }
    whiten_transparent_colour(ctx, &ihdr, out, npix);
    free(raw);
    spng_ctx_free(ctx);
    *rgb = out;
    return 0;
fail:
    free(raw);
    free(out);
    spng_ctx_free(ctx);
    return -1;
}

/* ---- public ---------------------------------------------------------------------------- */

int strata_image_decode(const uint8_t *data, size_t len, const char *name, strata_image *out)
{
    memset(out, 0, sizeof *out);
    strata_image_info info;
    uint8_t *rgb = NULL;
    int rc = strata_image_probe(data, len, &info);
    if (!rc) rc = info.format == STRATA_IMAGE_JPEG ? decode_jpeg(data, len, &info, &rgb)
                                                   : decode_png(data, len, &info, &rgb);
    if (rc) {
        if (name) strata_error_prefix("%s", name);
        return -1;
    }
    if (info.orientation != 1) {
        uint8_t *turned = apply_orientation(rgb, info.width, info.height, info.orientation,
                                            &out->width, &out->height);
        free(rgb);
        rgb = turned;
    } else {
        out->width = info.width;
        out->height = info.height;
    }
    out->pixels = rgb;
    return 0;
}

int strata_image_load(const char *path, strata_image *out)
{
    memset(out, 0, sizeof *out);
    size_t len = 0;
    char *data = strata_read_file(path, &len);
    if (!data) return -1; /* message already names the path */
    int rc = strata_image_decode((const uint8_t *)data, len, path, out);
    free(data);
    return rc;
}

void strata_image_free(strata_image *img)
{
    if (!img) return;
    free(img->pixels);
    memset(img, 0, sizeof *img);
}
