/* cmd_mkdata.c — `strata mkdata`: datasets for the demo, tests and benchmarks.
 *  synthetic: --out DIR --n N [--seed S] [--size PX] draws N JPEG images of one coloured shape at
 *    one of nine positions, with a caption describing it and labels (shape, colour, position,
 *    size) for probes; each sample comes from its own seeded generator, so the output does not
 *    depend on the number of ranks (ranks split the image writing; rank 0 writes the manifest).
 *  COCO: --from-coco captions.json --images DIR --n N --seed S --out DIR picks N images (seeded
 *    shuffle) and one of each image's captions into DIR/manifest.jsonl (the COCO captions format:
 *    "images" [{id, file_name}], "annotations" [{image_id, id, caption}]).
 * Relies on TurboJPEG (encoding) and jansson (reading COCO, writing JSON lines). */
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <mpi.h>
#include <turbojpeg.h>

#include "commands.h"
#include "strata.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: strata mkdata --out DIR --n N [--seed S] [--size PX]\n"
            "       strata mkdata --from-coco CAPTIONS.json --images DIR --n N [--seed S] --out DIR\n\n"
            "Synthetic (default): N JPEG images (PX x PX, default 224) of one coloured shape at one of\n"
            "nine positions, in DIR/images/, and DIR/manifest.jsonl with a caption describing each\n"
            "image and the labels shape, colour, position, size. The same seed gives the same files\n"
            "on any number of ranks.\n\n"
            "--from-coco: picks N images of a COCO captions file (seeded shuffle) with one of their\n"
            "captions each, and writes DIR/manifest.jsonl pointing at DIR_IMAGES/<file_name>\n"
            "(absolute paths). Image files that are missing are counted and reported.\n");
}

/* ---- a small seeded generator (splitmix64), one stream per sample ------------------------ */
static unsigned pick(uint64_t *state, unsigned n)
{
    return (unsigned)(strata_splitmix64(state) % n);
}

static double uniform(uint64_t *state)
{
    return (strata_splitmix64(state) >> 11) * (1.0 / 9007199254740992.0);
}

static int make_dir(const char *path)
{
    if (mkdir(path, 0777) == 0 || errno == EEXIST) return 0;
    return strata_error_set("%s: cannot create directory: %s", path, strerror(errno));
}

/* ---- synthetic shapes -------------------------------------------------------------------- */
static const char *shapes[] = {"circle", "square", "triangle", "diamond"};
static const struct {
    const char *name;
    uint8_t rgb[3];
} colours[] = {
    {"red", {220, 30, 30}},     {"green", {30, 160, 60}}, {"blue", {40, 70, 220}},
    {"yellow", {240, 210, 30}}, {"purple", {140, 50, 170}}, {"orange", {245, 130, 20}},
};
static const char *positions[9] = {"top left",    "top",    "top right",   "left",        "center",
                                   "right",       "bottom left", "bottom", "bottom right"};
static const char *position_phrases[9] = {
    "in the top left corner", "at the top",     "in the top right corner",   "on the left",
    "in the center",          "on the right",   "in the bottom left corner", "at the bottom",
    "in the bottom right corner"};
enum { n_shapes = 4, n_colours = 6 };

typedef struct {
    unsigned shape, colour, position, large;
    double cx, cy, radius; /* pixels */
    unsigned template_index;
    uint64_t noise_state;
} synthetic_sample;

static synthetic_sample synthetic_draw_labels(uint64_t seed, long index, int size)
{
    uint64_t state = seed * 0xD1B54A32D192ED03ull + (uint64_t)index * 0x9E3779B97F4A7C15ull + 1;
    synthetic_sample s;
    s.shape = pick(&state, n_shapes);
    s.colour = pick(&state, n_colours);
    s.position = pick(&state, 9);
    s.large = pick(&state, 2);
    s.radius = size * (s.large ? 0.13 : 0.08);
    s.cx = size * (1 + 2 * (s.position % 3)) / 6.0 + (uniform(&state) - 0.5) * size / 16.0;
    s.cy = size * (1 + 2 * (s.position / 3)) / 6.0 + (uniform(&state) - 0.5) * size / 16.0;
    s.template_index = pick(&state, 4);
    s.noise_state = strata_splitmix64(&state);
    return s;
}

static int inside(const synthetic_sample *s, double x, double y)
{
    double dx = x - s->cx, dy = y - s->cy, r = s->radius;
    switch (s->shape) {
    case 0: return dx * dx + dy * dy <= r * r;
    case 1: return dx >= -r && dx <= r && dy >= -r && dy <= r;
    case 2: /* apex up: half-width grows from 0 at the top to r at the bottom */
        return dy >= -r && dy <= r && (dx < 0 ? -dx : dx) <= r * (dy + r) / (2 * r);
    default: return (dx < 0 ? -dx : dx) + (dy < 0 ? -dy : dy) <= r;
    }
}

/* rgb: (size, size, 3) */
static void synthetic_render(const synthetic_sample *s, int size, uint8_t *rgb)
{
    uint64_t state = s->noise_state;
    for (int y = 0; y < size; y++)
        for (int x = 0; x < size; x++) {
            uint8_t *px = rgb + ((size_t)y * size + x) * 3;
            if (inside(s, x + 0.5, y + 0.5)) {
                memcpy(px, colours[s->colour].rgb, 3);
            } else {
                int base = 200 + 30 * (x + y) / (2 * size); /* light gray gradient + noise */
                for (int c = 0; c < 3; c++) px[c] = (uint8_t)(base + (int)pick(&state, 13) - 6);
            }
        }
}

static void synthetic_caption(const synthetic_sample *s, char *out, size_t cap)
{
    const char *shape = shapes[s->shape], *colour = colours[s->colour].name;
    const char *size = s->large ? "large" : "small", *where = position_phrases[s->position];
    switch (s->template_index) {
    case 0: snprintf(out, cap, "A %s %s %s %s.", size, colour, shape, where); break;
    case 1: snprintf(out, cap, "A %s %s %s of the image.", colour, shape, where); break;
    case 2: snprintf(out, cap, "There is a %s %s %s on a gray background.", colour, shape, where); break;
    default: snprintf(out, cap, "%s %s %s %s.", size[0] == 'l' ? "Large" : "Small", colour, shape, where); break;
    }
}

static int write_jpeg(const char *path, const uint8_t *rgb, int size, tjhandle tj)
{
    unsigned char *jpeg = NULL;
    unsigned long len = 0;
    if (tjCompress2(tj, rgb, size, 0, size, TJPF_RGB, &jpeg, &len, TJSAMP_420, 90, 0) != 0)
        return strata_error_set("%s: JPEG encoding failed: %s", path, tjGetErrorStr2(tj));
    FILE *f = fopen(path, "wb");
    int rc = 0;
    if (!f || fwrite(jpeg, 1, len, f) != len) rc = strata_error_set("%s: cannot write: %s", path, strerror(errno));
    if (f && fclose(f) != 0 && rc == 0) rc = strata_error_set("%s: cannot write: %s", path, strerror(errno));
    tjFree(jpeg);
    return rc;
}

static int write_line(FILE *f, json_t *obj)
{
    char *line = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII | JSON_REAL_PRECISION(6));
    int rc = line && fprintf(f, "%s\n", line) > 0 ? 0 : -1;
    free(line);
    return rc;
}

static int mkdata_synthetic(const char *out_dir, long n, uint64_t seed, int size)
{
    char images_dir[PATH_MAX], path[PATH_MAX];
    snprintf(images_dir, sizeof images_dir, "%s/images", out_dir);
    int rank = strata_rank(), nranks = strata_nranks();
    if (rank == 0 && (make_dir(out_dir) || make_dir(images_dir))) return -1;
    if (nranks > 1) MPI_Barrier(MPI_COMM_WORLD);
    uint8_t *rgb = strata_malloc((size_t)size * size * 3); /* (size, size, 3) */
    tjhandle tj = tjInitCompress();
    int rc = tj ? 0 : strata_error_set("cannot start the JPEG encoder");
    for (long i = rank; i < n && rc == 0; i += nranks) {
        synthetic_sample s = synthetic_draw_labels(seed, i, size);
        synthetic_render(&s, size, rgb);
        snprintf(path, sizeof path, "%s/%06ld.jpg", images_dir, i);
        rc = write_jpeg(path, rgb, size, tj);
    }
    if (tj) tjDestroy(tj);
    free(rgb);
    int any_failed = rc != 0;
    if (nranks > 1) MPI_Allreduce(MPI_IN_PLACE, &any_failed, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    if (any_failed) return rc ? rc : strata_error_set("another rank failed to write its images");
    if (rank != 0) return 0;

    snprintf(path, sizeof path, "%s/manifest.jsonl", out_dir);
    FILE *f = fopen(path, "w");
    if (!f) return strata_error_set("%s: cannot create: %s", path, strerror(errno));
    for (long i = 0; i < n && rc == 0; i++) {
        synthetic_sample s = synthetic_draw_labels(seed, i, size);
        char id[32], image[64], caption[256];
        snprintf(id, sizeof id, "syn-%06ld", i);
        snprintf(image, sizeof image, "images/%06ld.jpg", i);
        synthetic_caption(&s, caption, sizeof caption);
        json_t *obj = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:f, s:f, s:f}", "id", id, "image", image,
                                "caption", caption, "shape", shapes[s.shape], "colour", colours[s.colour].name,
                                "position", positions[s.position], "size", s.large ? "large" : "small", "x",
                                s.cx / size, "y", s.cy / size, "radius", s.radius / size);
        if (!obj || write_line(f, obj)) rc = strata_error_set("%s: cannot write line %ld", path, i + 1);
        json_decref(obj);
    }
    if (fclose(f) != 0 && rc == 0) rc = strata_error_set("%s: cannot write: %s", path, strerror(errno));
    if (rc == 0) printf("wrote %ld synthetic samples (%d x %d JPEG) and %s\n", n, size, size, path);
    return rc;
}

/* ---- COCO captions ------------------------------------------------------------------------ */
typedef struct {
    json_int_t id;
    const char *file_name;
    long first, count; /* range in the sorted caption list */
} coco_image;

typedef struct {
    json_int_t image_id, id;
    const char *caption;
} coco_caption;

static int compare_images(const void *a, const void *b)
{
    json_int_t x = ((const coco_image *)a)->id, y = ((const coco_image *)b)->id;
    return x < y ? -1 : x > y;
}

static int compare_captions(const void *a, const void *b)
{
    const coco_caption *x = a, *y = b;
    if (x->image_id != y->image_id) return x->image_id < y->image_id ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

static int mkdata_coco(const char *captions_path, const char *images_dir, const char *out_dir, long n,
                       uint64_t seed)
{
    if (strata_rank() != 0) return 0;
    json_error_t jerr;
    json_t *root = json_load_file(captions_path, 0, &jerr);
    if (!root)
        return strata_error_set("%s:%d:%d: cannot read COCO captions: %s", captions_path, jerr.line, jerr.column,
                                jerr.text);
    int rc = -1;
    coco_image *images = NULL;
    coco_caption *caps = NULL;
    long *order = NULL;
    json_t *jimages = json_object_get(root, "images"), *jann = json_object_get(root, "annotations");
    if (!json_is_array(jimages) || !json_is_array(jann)) {
        strata_error_set("%s: expected the COCO captions format: \"images\" and \"annotations\" arrays",
                         captions_path);
        goto done;
    }
    size_t n_images = json_array_size(jimages), n_caps = json_array_size(jann);
    images = strata_calloc(n_images ? n_images : 1, sizeof *images);
    caps = strata_calloc(n_caps ? n_caps : 1, sizeof *caps);
    for (size_t i = 0; i < n_images; i++) {
        json_t *e = json_array_get(jimages, i), *id = json_object_get(e, "id"),
               *file = json_object_get(e, "file_name");
        if (!json_is_integer(id) || !json_is_string(file)) {
            strata_error_set("%s: images[%zu]: expected integer \"id\" and string \"file_name\"", captions_path, i);
            goto done;
        }
        images[i] = (coco_image){json_integer_value(id), json_string_value(file), 0, 0};
    }
    for (size_t i = 0; i < n_caps; i++) {
        json_t *e = json_array_get(jann, i), *image_id = json_object_get(e, "image_id"),
               *id = json_object_get(e, "id"), *caption = json_object_get(e, "caption");
        if (!json_is_integer(image_id) || !json_is_string(caption)) {
            strata_error_set("%s: annotations[%zu]: expected integer \"image_id\" and string \"caption\"",
                             captions_path, i);
            goto done;
        }
        caps[i] = (coco_caption){json_integer_value(image_id), json_is_integer(id) ? json_integer_value(id) : (json_int_t)i,
                                 json_string_value(caption)};
    }
    qsort(images, n_images, sizeof *images, compare_images);
    qsort(caps, n_caps, sizeof *caps, compare_captions);
    for (size_t i = 1; i < n_images; i++)
        if (images[i].id == images[i - 1].id) {
            strata_error_set("%s: image id %" JSON_INTEGER_FORMAT " appears twice", captions_path, images[i].id);
            goto done;
        }
    /* attach caption ranges (both sorted by image id) */
    long usable = 0;
    size_t c = 0;
    order = strata_malloc((n_images ? n_images : 1) * sizeof *order);
    for (size_t i = 0; i < n_images; i++) {
        while (c < n_caps && caps[c].image_id < images[i].id) c++;
        images[i].first = (long)c;
        while (c < n_caps && caps[c].image_id == images[i].id) c++;
        images[i].count = (long)c - images[i].first;
        if (images[i].count > 0) order[usable++] = (long)i;
    }
    if (n > usable) {
        strata_error_set("%s: asked for %ld images but only %ld have captions", captions_path, n, usable);
        goto done;
    }
    /* seeded Fisher-Yates over the images with captions; keep the first n, in id order */
    uint64_t state = seed * 0xD1B54A32D192ED03ull + 7;
    for (long i = usable - 1; i > 0; i--) {
        long j = (long)(strata_splitmix64(&state) % (uint64_t)(i + 1));
        long t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    for (long i = 1; i < n; i++) /* insertion sort of the chosen n: ids ascending */
        for (long j = i; j > 0 && order[j] < order[j - 1]; j--) {
            long t = order[j];
            order[j] = order[j - 1];
            order[j - 1] = t;
        }
    char abs_images[PATH_MAX], path[PATH_MAX + 512];
    if (!realpath(images_dir, abs_images)) {
        strata_error_set("%s: image folder not found: %s", images_dir, strerror(errno));
        goto done;
    }
    if (make_dir(out_dir)) goto done;
    snprintf(path, sizeof path, "%s/manifest.jsonl", out_dir);
    FILE *f = fopen(path, "w");
    if (!f) {
        strata_error_set("%s: cannot create: %s", path, strerror(errno));
        goto done;
    }
    long missing = 0;
    rc = 0;
    for (long k = 0; k < n && rc == 0; k++) {
        const coco_image *im = &images[order[k]];
        uint64_t cstate = seed * 0x9E3779B97F4A7C15ull + (uint64_t)im->id;
        const coco_caption *cap = &caps[im->first + (long)(strata_splitmix64(&cstate) % (uint64_t)im->count)];
        /* COCO captions carry stray spaces and newlines: trim them */
        const char *b = cap->caption, *e = b + strlen(b);
        while (*b == ' ' || *b == '\n' || *b == '\t' || *b == '\r') b++;
        while (e > b && (e[-1] == ' ' || e[-1] == '\n' || e[-1] == '\t' || e[-1] == '\r')) e--;
        char *caption = strndup(b, (size_t)(e - b));
        char id[64], image[PATH_MAX + 256];
        snprintf(id, sizeof id, "coco-%" JSON_INTEGER_FORMAT, im->id);
        snprintf(image, sizeof image, "%s/%s", abs_images, im->file_name);
        struct stat st;
        if (stat(image, &st) != 0) missing++;
        json_t *obj = json_pack("{s:s, s:s, s:s, s:I, s:I}", "id", id, "image", image, "caption",
                                caption ? caption : "", "coco_image_id", (json_int_t)im->id,
                                "coco_caption_id", (json_int_t)cap->id);
        if (!obj || write_line(f, obj)) rc = strata_error_set("%s: cannot write line %ld", path, k + 1);
        json_decref(obj);
        free(caption);
    }
    if (fclose(f) != 0 && rc == 0) rc = strata_error_set("%s: cannot write: %s", path, strerror(errno));
    if (rc == 0) {
        printf("wrote %ld COCO image/caption pairs (seed %llu) to %s\n", n, (unsigned long long)seed, path);
        if (missing)
            strata_log("warning: %ld of %ld image files are missing under %s (they will be failed samples)",
                       missing, n, abs_images);
    }
done:
    free(order);
    free(images);
    free(caps);
    json_decref(root);
    return rc;
}

int strata_cmd_mkdata(int argc, char **argv)
{
    const char *out = NULL, *coco = NULL, *images = NULL;
    long n = -1, size = 224;
    unsigned long long seed = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        char *end = NULL;
        if (strata_is_help(a)) {
            usage(stdout);
            return STRATA_EXIT_OK;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "strata mkdata: '%s' needs a value (or is unknown)\n\n", a);
            usage(stderr);
            return STRATA_EXIT_USAGE;
        }
        const char *v = argv[++i];
        if (strcmp(a, "--out") == 0) out = v;
        else if (strcmp(a, "--from-coco") == 0) coco = v;
        else if (strcmp(a, "--images") == 0) images = v;
        else if (strcmp(a, "--n") == 0) n = strtol(v, &end, 10);
        else if (strcmp(a, "--seed") == 0) seed = strtoull(v, &end, 10);
        else if (strcmp(a, "--size") == 0) size = strtol(v, &end, 10);
        else {
            fprintf(stderr, "strata mkdata: unknown option '%s'\n\n", a);
            usage(stderr);
            return STRATA_EXIT_USAGE;
        }
        if (end && (*end || end == v)) {
            fprintf(stderr, "strata mkdata: %s expects a number, got '%s'\n", a, v);
            return STRATA_EXIT_USAGE;
        }
    }
    if (!out || n < 1) {
        fprintf(stderr, "strata mkdata: --out DIR and --n N (N >= 1) are required\n\n");
        usage(stderr);
        return STRATA_EXIT_USAGE;
    }
    if (coco && !images) {
        fprintf(stderr, "strata mkdata: --from-coco needs --images DIR (the COCO image folder)\n");
        return STRATA_EXIT_USAGE;
    }
    if (size < 16 || size > 4096) {
        fprintf(stderr, "strata mkdata: --size must be between 16 and 4096, got %ld\n", size);
        return STRATA_EXIT_USAGE;
    }
    int rc = coco ? mkdata_coco(coco, images, out, n, seed) : mkdata_synthetic(out, n, seed, (int)size);
    if (rc) {
        strata_log("error: %s", strata_error_get());
        return STRATA_EXIT_FAILURE;
    }
    return STRATA_EXIT_OK;
}
