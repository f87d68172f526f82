/* cmd_preprocess.c — `strata preprocess --model DIR IMAGE --out FILE.h5`: the pixel tensor the
 * model's vision tower would see for one image, for checking against a transformers script.
 * Writes pixel_values [3, H, W] float32 and resized_uint8 [H, W, 3] (the uint8 image right
 * before rescaling) with the serial HDF5 API (default property lists); rank 0 only. */
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "io/image.h"
#include "io/preprocess.h"
#include "strata.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: strata preprocess --model DIR IMAGE --out FILE.h5\n\n"
            "Decodes IMAGE (JPEG or PNG, EXIF orientation applied) and preprocesses it as the\n"
            "model's preprocessor_config.json says (CLIP: resize shortest edge + center crop;\n"
            "SigLIP: resize to a fixed size; LLaVA do_pad: pad to square with the mean colour),\n"
            "then writes to FILE.h5:\n"
            "  pixel_values   [3, H, W] float32  what the vision tower sees\n"
            "  resized_uint8  [H, W, 3] uint8    the image after resize/crop, before rescaling\n"
            "with attributes source_image, source_height, source_width, processor.\n\n"
            "Resizing reproduces Pillow 13's Image.resize exactly; set STRATA_PILLOW_PASS_ORDER=legacy\n"
            "to match Pillow <= 12 (which always ran the horizontal pass first).\n");
}

static int write_attr_string(hid_t obj, const char *name, const char *value)
{
    hid_t type = H5Tcopy(H5T_C_S1);
    H5Tset_size(type, strlen(value) + 1);
    hid_t space = H5Screate(H5S_SCALAR);
    hid_t attr = H5Acreate2(obj, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
    herr_t rc = attr < 0 ? -1 : H5Awrite(attr, type, value);
    if (attr >= 0) H5Aclose(attr);
    H5Sclose(space);
    H5Tclose(type);
    return rc < 0 ? -1 : 0;
}

static int write_attr_int(hid_t obj, const char *name, int value)
{
    hid_t space = H5Screate(H5S_SCALAR);
    hid_t attr = H5Acreate2(obj, name, H5T_STD_I32LE, space, H5P_DEFAULT, H5P_DEFAULT);
    herr_t rc = attr < 0 ? -1 : H5Awrite(attr, H5T_NATIVE_INT, &value);
    if (attr >= 0) H5Aclose(attr);
    H5Sclose(space);
    return rc < 0 ? -1 : 0;
}

static int write_dataset(hid_t file, const char *name, hid_t file_type, hid_t mem_type, int rank,
                         const hsize_t *dims, const void *data)
{
    hid_t space = H5Screate_simple(rank, dims, NULL);
    hid_t set = H5Dcreate2(file, name, file_type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    herr_t rc = set < 0 ? -1 : H5Dwrite(set, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data);
    if (set >= 0) H5Dclose(set);
    H5Sclose(space);
    return rc < 0 ? -1 : 0;
}

int strata_cmd_preprocess(int argc, char **argv)
{
    const char *model = NULL, *image_path = NULL, *out_path = NULL;
    for (int i = 1; i < argc; i++) {
        if (strata_is_help(argv[i])) {
            usage(stdout);
            return STRATA_EXIT_OK;
        } else if (strcmp(argv[i], "--model") == 0 && i + 1 < argc) {
            model = argv[++i];
        } else if (strcmp(argv[i], "--out") == 0 && i + 1 < argc) {
            out_path = argv[++i];
        } else if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "strata preprocess: unknown or incomplete option '%s'\n\n", argv[i]);
            usage(stderr);
            return STRATA_EXIT_USAGE;
        } else if (!image_path) {
            image_path = argv[i];
        } else {
            fprintf(stderr, "strata preprocess: one IMAGE expected, got '%s' too\n\n", argv[i]);
            usage(stderr);
            return STRATA_EXIT_USAGE;
        }
    }
    if (!model || !image_path || !out_path) {
        fprintf(stderr, "strata preprocess: --model, IMAGE and --out are required\n\n");
        usage(stderr);
        return STRATA_EXIT_USAGE;
    }
    if (strata_rank() != 0) return STRATA_EXIT_OK; /* one image: rank 0 does it */

    strata_preprocess_config *cfg = strata_preprocess_config_load(model);
    if (!cfg) {
        strata_log("error: %s", strata_error_get());
        return STRATA_EXIT_FAILURE;
    }
    strata_image img;
    if (strata_image_load(image_path, &img)) {
        strata_log("error: %s", strata_error_get());
        strata_preprocess_config_free(cfg);
        return STRATA_EXIT_FAILURE;
    }
    int h = 0, w = 0, rc = STRATA_EXIT_FAILURE;
    float *pixels = NULL;
    uint8_t *resized = NULL;
    if (strata_preprocess_output_size(cfg, img.height, img.width, &h, &w)) {
        strata_log("error: %s: %s", image_path, strata_error_get());
        goto done;
    }
    pixels = strata_malloc(sizeof(float) * 3 * (size_t)h * w); /* [3][h][w] */
    resized = strata_malloc((size_t)h * w * 3);                /* [h][w][3] */
    if (strata_preprocess_run(cfg, &img, pixels, resized)) {
        strata_log("error: %s: %s", image_path, strata_error_get());
        goto done;
    }
    hid_t file = H5Fcreate(out_path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (file < 0) {
        strata_log("error: %s: cannot create the HDF5 file", out_path);
        goto done;
    }
    hsize_t pv_dims[3] = {3, (hsize_t)h, (hsize_t)w}, u8_dims[3] = {(hsize_t)h, (hsize_t)w, 3};
    int bad = write_dataset(file, "pixel_values", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 3, pv_dims, pixels);
    bad |= write_dataset(file, "resized_uint8", H5T_STD_U8LE, H5T_NATIVE_UINT8, 3, u8_dims, resized);
    bad |= write_attr_string(file, "source_image", image_path);
    bad |= write_attr_string(file, "processor", cfg->processor);
    bad |= write_attr_int(file, "source_height", img.height);
    bad |= write_attr_int(file, "source_width", img.width);
    if (H5Fclose(file) < 0) bad = 1;
    if (bad) {
        strata_log("error: %s: writing the HDF5 file failed", out_path);
        goto done;
    }
    printf("%s: %d x %d -> pixel_values [3, %d, %d] (%s) in %s\n", image_path, img.height, img.width, h,
           w, cfg->processor, out_path);
    rc = STRATA_EXIT_OK;
done:
    free(pixels);
    free(resized);
    strata_image_free(&img);
    strata_preprocess_config_free(cfg);
    return rc;
}
