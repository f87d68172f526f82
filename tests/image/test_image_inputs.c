/* test_image_inputs.c — bad input never crashes and always names what is wrong: truncated JPEG,
 * corrupt header, empty file, garbage, a PNG named .jpg (decoded by content, as PIL does), headers
 * claiming 60000 x 60000 (refused before allocation), missing files; manifests with bad samples
 * (missing image, empty / invalid UTF-8 caption) and bad lines (not JSON, missing field,
 * duplicate id); preprocessor_config.json errors; decoding from several threads at once.
 * Good files come from tests/image/data (drawn by PIL, see gen_images.py). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/image.h"
#include "io/manifest.h"
#include "io/preprocess.h"
#include "strata.h"
#include "../testlib.h"

static char data_dir[2048];

static const char *data_path(const char *name)
{
    static char buf[4096];
    snprintf(buf, sizeof buf, "%s/%s", data_dir, name);
    return buf;
}

static void write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f) strata_fatal("cannot write %s", path);
    if (len) fwrite(data, 1, len, f);
    fclose(f);
}

/* Expects strata_image_load(path) to fail with a message containing both needles. */
static void expect_bad(const char *path, const char *needle1, const char *needle2)
{
    strata_image img;
    int rc = strata_image_load(path, &img);
    T_CHECK(rc == -1, "%s should fail", path);
    T_CHECK(img.pixels == NULL, "%s: no pixels on failure", path);
    const char *msg = strata_error_get();
    T_CHECK(t_contains(msg, path), "message names the file: '%s'", msg);
    T_CHECK(t_contains(msg, needle1), "'%s' should mention '%s'", msg, needle1);
    if (needle2) T_CHECK(t_contains(msg, needle2), "'%s' should mention '%s'", msg, needle2);
    printf("  %-40s -> %s\n", strrchr(path, '/') + 1, msg);
}

/* A copy of a committed fixture (caller frees). */
static char *fixture(const char *name, size_t *len)
{
    char *data = strata_read_file(data_path(name), len);
    if (!data) strata_fatal("fixture %s: %s", name, strata_error_get());
    return data;
}

static void write_tmp(char *path, size_t cap, const char *name, const void *data, size_t len)
{
    snprintf(path, cap, "%s", t_tmp_path(name));
    write_file(path, data, len);
}

static void test_truncated(void)
{
    size_t len;
    char path[4096], *jpg = fixture("rgb_420.jpg", &len);
    write_tmp(path, sizeof path, "truncated.jpg", jpg, len / 2);
    expect_bad(path, "truncated", "JPEG");
    free(jpg);
    char *png = fixture("tiny.png", &len);
    write_tmp(path, sizeof path, "truncated.png", png, len - 30);
    expect_bad(path, "truncated PNG", NULL);
    free(png);
}

static void test_empty_and_garbage(void)
{
    char path[4096];
    write_tmp(path, sizeof path, "empty.jpg", "", 0);
    expect_bad(path, "empty", NULL);
    write_tmp(path, sizeof path, "garbage.jpg", "this is not an image\n", 21);
    expect_bad(path, "not a JPEG or PNG", NULL);
}

static void test_corrupt_header(void)
{
    size_t len;
    char path[4096], *jpg = fixture("rgb_420.jpg", &len);
    jpg[4] = 0; /* the first segment's length says 1 (below the minimum of 2) */
    jpg[5] = 1;
    write_tmp(path, sizeof path, "corrupt_header.jpg", jpg, len);
    expect_bad(path, "corrupt JPEG header", NULL);
    free(jpg);
    char *png = fixture("tiny.png", &len);
    png[12] = 'X'; /* the first chunk is no longer IHDR */
    write_tmp(path, sizeof path, "corrupt_header.png", png, len);
    expect_bad(path, "corrupt PNG header", NULL);
    free(png);
}

static void test_huge_header(void)
{
    size_t len;
    char path[4096], *jpg = fixture("rgb_420.jpg", &len);
    size_t sof = 2; /* the baseline frame header: FF C0, length, precision, height, width */
    while (sof + 1 < len && !((unsigned char)jpg[sof] == 0xFF && (unsigned char)jpg[sof + 1] == 0xC0)) sof++;
    T_CHECK(sof + 9 < len, "fixture has a baseline frame header");
    jpg[sof + 5] = (char)(60000 >> 8), jpg[sof + 6] = (char)(60000 & 255);
    jpg[sof + 7] = (char)(60000 >> 8), jpg[sof + 8] = (char)(60000 & 255);
    write_tmp(path, sizeof path, "huge.jpg", jpg, len);
    expect_bad(path, "60000 x 60000", "refusing");
    strata_image_info info;
    T_CHECK(strata_image_probe((const uint8_t *)jpg, len, &info) == -1, "probe refuses the huge header");
    free(jpg);
    char *png = fixture("tiny.png", &len);
    for (int k = 0; k < 2; k++) { /* IHDR width and height = 60000 */
        png[16 + 4 * k] = 0, png[17 + 4 * k] = 0;
        png[18 + 4 * k] = (char)(60000 >> 8), png[19 + 4 * k] = (char)(60000 & 255);
    }
    write_tmp(path, sizeof path, "huge.png", png, len);
    expect_bad(path, "60000 x 60000", "refusing");
    free(png);
}

static void test_missing_file(void)
{
    expect_bad("/nonexistent/strata/missing.jpg", "cannot open", NULL);
}

static void test_png_named_jpg(void)
{
    /* decoded by content, as PIL (and so transformers' load_image) opens files by content */
    strata_image img;
    T_CHECK(strata_image_load(data_path("png_named.jpg"), &img) == 0, "png_named.jpg: %s", strata_error_get());
    T_CHECK(img.width == 50 && img.height == 40, "png_named.jpg is 50 x 40, got %d x %d", img.width, img.height);
    strata_image_free(&img);
    /* EXIF orientation 6 swaps the sides of a 60 x 40 picture */
    T_CHECK(strata_image_load(data_path("exif6.jpg"), &img) == 0, "exif6.jpg: %s", strata_error_get());
    T_CHECK(img.width == 40 && img.height == 60, "exif6.jpg is 40 x 60 after rotation, got %d x %d",
            img.width, img.height);
    strata_image_free(&img);
}

/* ---- several threads decode the same files at once (the extract loader thread) --------- */
static void *decode_worker(void *arg)
{
    uint64_t *sum = arg;
    static const char *names[] = {"rgb_420.jpg", "cmyk.jpg", "rgba.png", "exif7.jpg", "gray16.png"};
    for (int rep = 0; rep < 3; rep++)
        for (int i = 0; i < 5; i++) {
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", data_dir, names[i]);
            strata_image img;
            if (strata_image_load(path, &img)) {
                *sum = 0;
                return NULL;
            }
            for (size_t p = 0; p < (size_t)img.width * img.height * 3; p++) *sum += img.pixels[p] * (p % 7 + 1);
            strata_image_free(&img);
        }
    return NULL;
}

static void test_threads(void)
{
    pthread_t th[4];
    uint64_t sums[4] = {0};
    for (int t = 0; t < 4; t++) pthread_create(&th[t], NULL, decode_worker, &sums[t]);
    for (int t = 0; t < 4; t++) pthread_join(th[t], NULL);
    T_CHECK(sums[0] != 0, "threaded decode worked");
    for (int t = 1; t < 4; t++) T_CHECK(sums[t] == sums[0], "thread %d decoded differently", t);
}

/* ---- manifests ------------------------------------------------------------------------ */
static strata_manifest *open_text(const char *name, const char *text)
{
    const char *path = t_tmp_path(name);
    char copy[4096];
    snprintf(copy, sizeof copy, "%s", path);
    write_file(copy, text, strlen(text));
    return strata_manifest_open(copy);
}

static void expect_bad_manifest(const char *name, const char *text, const char *needle1, const char *needle2)
{
    strata_manifest *m = open_text(name, text);
    T_CHECK(m == NULL, "%s should be refused", name);
    strata_manifest_free(m);
    const char *msg = strata_error_get();
    T_CHECK(t_contains(msg, name), "message names the file: '%s'", msg);
    T_CHECK(t_contains(msg, needle1), "'%s' should mention '%s'", msg, needle1);
    if (needle2) T_CHECK(t_contains(msg, needle2), "'%s' should mention '%s'", msg, needle2);
    printf("  %-40s -> %s\n", name, msg);
}

static void test_manifest_samples(void)
{
    char text[8192];
    snprintf(text, sizeof text,
             "{\"id\": \"a\", \"image\": \"%s/rgb_420.jpg\", \"caption\": \"a picture\", \"shape\": \"circle\", \"n\": 3}\n"
             "\n"
             "{\"id\": \"b\", \"image\": \"missing.jpg\", \"caption\": \"no file\"}\n"
             "{\"id\": \"c\", \"image\": \"%s/tiny.png\", \"caption\": \"   \"}\n"
             "{\"id\": \"d\", \"image\": \"%s/tiny.png\", \"caption\": \"bad \xff\xfe bytes\"}\n"
             "{\"id\": 17, \"image\": \"%s/tiny.png\", \"caption\": \"caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x90\xb1\"}\n"
             "{\"id\": \"f\", \"image\": \"corrupt.jpg\", \"caption\": \"corrupt image\"}\r\n"
             "{\"id\": \"g\", \"image\": \"%s/tiny.png\", \"caption\": \"nul \\u0000 inside\"}\n",
             data_dir, data_dir, data_dir, data_dir, data_dir);
    write_file(t_tmp_path("corrupt.jpg"), "\xff\xd8\xff\xe0 nothing", 13);
    strata_manifest *m = open_text("good.jsonl", text);
    T_CHECK(m != NULL, "manifest opens: %s", strata_error_get());
    if (!m) return;
    T_CHECK(m->n == 7, "7 samples (blank line skipped), got %zu", m->n);
    T_CHECK(m->n_bad == 3, "3 bad at open (empty, invalid UTF-8 and NUL captions), got %zu", m->n_bad);
    if (m->n == 7) {
        T_CHECK(m->samples[6].error && t_contains(m->samples[6].error, "sample g"), "NUL caption: %s",
                m->samples[6].error ? m->samples[6].error : "(none)");
        T_CHECK(strcmp(m->samples[0].labels_json, "{\"n\":3,\"shape\":\"circle\"}") == 0, "labels kept: %s",
                m->samples[0].labels_json);
        T_CHECK(m->samples[0].error == NULL && m->samples[0].line == 1, "sample a is fine, line 1");
        T_CHECK(t_contains(m->samples[1].image, "/missing.jpg") && m->samples[1].line == 3,
                "relative path resolved against the manifest's folder: %s", m->samples[1].image);
        T_CHECK(m->samples[2].error && t_contains(m->samples[2].error, "empty caption"), "empty caption: %s",
                m->samples[2].error ? m->samples[2].error : "(none)");
        T_CHECK(m->samples[3].error && t_contains(m->samples[3].error, "UTF-8") &&
                    t_contains(m->samples[3].error, "line 5"),
                "invalid UTF-8 caption: %s", m->samples[3].error ? m->samples[3].error : "(none)");
        T_CHECK(strcmp(m->samples[4].id, "17") == 0 && m->samples[4].error == NULL,
                "integer id and a valid multi-byte caption");
        strata_image img;
        T_CHECK(strata_manifest_load_image(m, 0, &img) == 0, "sample a loads: %s", strata_error_get());
        strata_image_free(&img);
        T_CHECK(strata_manifest_load_image(m, 1, &img) == -1, "missing image is an error");
        T_CHECK(t_contains(strata_error_get(), "sample b") && t_contains(strata_error_get(), "missing.jpg"),
                "names sample and path: %s", strata_error_get());
        T_CHECK(strata_manifest_load_image(m, 5, &img) == -1, "corrupt image is an error");
        T_CHECK(t_contains(strata_error_get(), "sample f") && t_contains(strata_error_get(), "JPEG"),
                "corrupt image message: %s", strata_error_get());
        T_CHECK(strata_manifest_load_image(m, 2, &img) == -1 && t_contains(strata_error_get(), "empty caption"),
                "a sample bad at open stays bad: %s", strata_error_get());
    }
    strata_manifest_free(m);
}

static void test_manifest_lines(void)
{
    expect_bad_manifest("notjson.jsonl",
                        "{\"id\": \"a\", \"image\": \"x.jpg\", \"caption\": \"ok\"}\n"
                        "{\"id\": \"b\", \"image\": \"y.jpg\", \"caption\": \"ok\"}\n"
                        "{\"id\": \"c\", \"image\": \"z.jpg\" \"caption\": \"missing comma\"}\n",
                        ":3:", "not valid JSON");
    expect_bad_manifest("nofield.jsonl", "{\"id\": \"a\", \"image\": \"x.jpg\", \"caption\": \"ok\"}\n"
                                         "{\"id\": \"b\", \"caption\": \"no image\"}\n",
                        ":2:", "\"image\"");
    expect_bad_manifest("array.jsonl", "[1, 2, 3]\n", ":1:", "JSON object");
    expect_bad_manifest("duplicate.jsonl", "{\"id\": \"a\", \"image\": \"x.jpg\", \"caption\": \"one\"}\n"
                                           "{\"id\": \"a\", \"image\": \"y.jpg\", \"caption\": \"two\"}\n",
                        "duplicate id", ":2:");
    expect_bad_manifest("empty.jsonl", "\n\n", "no samples", NULL);
    expect_bad_manifest("captype.jsonl", "{\"id\": \"a\", \"image\": \"x.jpg\", \"caption\": 5}\n", ":1:",
                        "\"caption\"");
}

/* ---- preprocessor_config.json errors ---------------------------------------------------- */
static void test_configs(void)
{
    T_CHECK(strata_preprocess_config_load("/nonexistent/model") == NULL, "missing config");
    T_CHECK(t_contains(strata_error_get(), "/nonexistent/model/preprocessor_config.json"), "names the file: %s",
            strata_error_get());
    struct {
        const char *json, *needle;
    } cases[] = {
        {"{\"image_processor_type\": \"Qwen2VLImageProcessor\"}", "image_processor_type"},
        {"{\"do_resize\": true}", "image_processor_type"},
        {"{\"image_processor_type\": \"CLIPImageProcessor\", \"size\": \"big\"}", "\"size\""},
        {"{\"image_processor_type\": \"CLIPImageProcessor\", \"resample\": 1}", "resample"},
        {"{\"image_processor_type\": \"CLIPImageProcessor\", \"image_mean\": [0.5, 0.5]}", "image_mean"},
        {"{\"image_processor_type\": \"SiglipImageProcessor\", \"size\": {\"height\": 0, \"width\": 3}}", "size"},
        {"{\"image_processor_type\": ", "not valid JSON"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        strata_preprocess_config *cfg = strata_preprocess_config_parse(cases[i].json, "cfg.json");
        T_CHECK(cfg == NULL, "config %zu should be refused", i);
        strata_preprocess_config_free(cfg);
        T_CHECK(t_contains(strata_error_get(), "cfg.json") && t_contains(strata_error_get(), cases[i].needle),
                "config %zu: '%s' should name '%s'", i, strata_error_get(), cases[i].needle);
    }
    strata_preprocess_config *cfg =
        strata_preprocess_config_parse("{\"image_processor_type\": \"CLIPImageProcessor\", \"size\": 336, "
                                       "\"crop_size\": 336}", "old.json");
    T_CHECK(cfg && cfg->shortest_edge == 336 && cfg->crop_height == 336, "old-style integer sizes");
    strata_preprocess_config_free(cfg);
}

/* Every committed image through every kind of chain (crop, crop larger than the image, pad,
 * fixed size, bilinear): run here so the ASan pass covers the resize code; values must be the
 * normalised range of 0..255 ((0 - mean) / std .. (1 - mean) / std). Exactness against PIL and
 * transformers is test_pixels.py's job. */
static void test_preprocess_ranges(void)
{
    static const char *configs[] = {
        "{\"image_processor_type\": \"CLIPImageProcessor\", \"size\": {\"shortest_edge\": 33}, \"crop_size\": 24}",
        "{\"image_processor_type\": \"CLIPImageProcessor\", \"size\": {\"shortest_edge\": 20}, \"crop_size\": 24}",
        "{\"image_processor_type\": \"LlavaImageProcessor\", \"do_pad\": true, \"size\": {\"shortest_edge\": 30}, \"crop_size\": 24}",
        "{\"image_processor_type\": \"SiglipImageProcessor\", \"size\": {\"height\": 24, \"width\": 20}}",
        "{\"image_processor_type\": \"CLIPImageProcessor\", \"resample\": 2, \"size\": {\"shortest_edge\": 300}, \"crop_size\": 280}",
    };
    static const char *names[] = {"rgb_420.jpg", "tall_thin.png", "wide_thin.jpg", "tiny.png", "exif8.jpg", "cmyk.jpg"};
    for (size_t c = 0; c < sizeof configs / sizeof configs[0]; c++) {
        strata_preprocess_config *cfg = strata_preprocess_config_parse(configs[c], "test");
        T_CHECK(cfg != NULL, "config %zu: %s", c, strata_error_get());
        if (!cfg) continue;
        for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
            strata_image img;
            if (strata_image_load(data_path(names[i]), &img)) {
                T_CHECK(0, "%s: %s", names[i], strata_error_get());
                continue;
            }
            int h = 0, w = 0;
            T_CHECK(strata_preprocess_output_size(cfg, img.height, img.width, &h, &w) == 0, "size");
            float *pv = strata_malloc(sizeof(float) * 3 * h * w);
            uint8_t *u8 = strata_malloc((size_t)h * w * 3);
            T_CHECK(strata_preprocess_run(cfg, &img, pv, u8) == 0, "run: %s", strata_error_get());
            long bad = 0;
            for (int ch = 0; ch < 3; ch++) {
                float lo = (0.0f - cfg->mean[ch]) / cfg->std[ch] - 1e-6f, hi = (1.0f - cfg->mean[ch]) / cfg->std[ch] + 1e-6f;
                for (long p = 0; p < (long)h * w; p++) bad += !(pv[ch * h * w + p] >= lo && pv[ch * h * w + p] <= hi);
            }
            T_CHECK(bad == 0, "config %zu %s: %ld values out of range", c, names[i], bad);
            free(pv);
            free(u8);
            strata_image_free(&img);
        }
        strata_preprocess_config_free(cfg);
    }
}

static const struct {
    const char *name;
    void (*run)(void);
} cases[] = {
    {"truncated", test_truncated},
    {"empty_garbage", test_empty_and_garbage},
    {"corrupt_header", test_corrupt_header},
    {"huge_header", test_huge_header},
    {"missing_file", test_missing_file},
    {"png_named_jpg", test_png_named_jpg},
    {"threads", test_threads},
    {"manifest_samples", test_manifest_samples},
    {"manifest_lines", test_manifest_lines},
    {"config_errors", test_configs},
    {"preprocess_ranges", test_preprocess_ranges},
};

/* test_image_inputs [CASE]: one case (each is its own ctest entry), or all of them. */
int main(int argc, char **argv)
{
    const char *src = getenv("STRATA_SOURCE_DIR");
    snprintf(data_dir, sizeof data_dir, "%s/tests/image/data", src ? src : STRATA_SOURCE_DIR);
    int ran = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        if (argc < 2 || strcmp(argv[1], cases[i].name) == 0) {
            cases[i].run();
            ran++;
        }
    T_CHECK(ran > 0, "unknown case '%s'", argc > 1 ? argv[1] : "");
    return t_finish(argc > 1 ? argv[1] : "test_image_inputs");
}
