/* cmd_inspect.c — `strata inspect FILE.h5`: a human summary of an activation archive (through
 * the validating reader, io/archive_read.c, so a bad archive gets the same error as analysis
 * would) or a generic listing of a results file (format "strata-results": groups, datasets,
 * shapes, types, attributes). Runs on rank 0; other ranks return the same exit code. */
#include <hdf5.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "commands.h"
#include "io/archive.h"
#include "io/archive_internal.h"
#include "io/h5util.h"
#include "strata.h"

static void usage(FILE *out)
{
    fprintf(out, "usage: strata inspect FILE.h5\n\n"
                 "Summarises an activation archive (format, version, completeness, model, dataset,\n"
                 "samples and failures, each stream's shape, dtype, pooling, layers and size on\n"
                 "disk) or lists a results file (groups, datasets, shapes, attributes). A damaged\n"
                 "or foreign file gets an error naming the file and the problem (exit code 1).\n");
}

static void print_size(double bytes)
{
    const char *unit[] = {"B", "KB", "MB", "GB", "TB"};
    int u = 0;
    while (bytes >= 1000 && u < 4) bytes /= 1000, u++;
    printf(u ? "%.1f %s" : "%.0f %s", bytes, unit[u]);
}

/* "0..32" for consecutive layers, else the list (cut after 16). */
static void print_layers(const strata_stream_info *s)
{
    int consecutive = 1;
    for (int l = 1; l < s->n_layers; l++) consecutive &= s->layers[l] == s->layers[l - 1] + 1;
    if (consecutive && s->n_layers > 2) {
        printf("%d..%d", s->layers[0], s->layers[s->n_layers - 1]);
        return;
    }
    for (int l = 0; l < s->n_layers && l < 16; l++) printf("%s%d", l ? "," : "", s->layers[l]);
    if (s->n_layers > 16) printf(",... (%d)", s->n_layers);
}

static int inspect_archive(const char *path)
{
    strata_archive_reader *r = strata_archive_open(MPI_COMM_SELF, path);
    if (!r) {
        fprintf(stderr, "strata inspect: %s\n", strata_error_get());
        return STRATA_EXIT_FAILURE;
    }
    struct stat st;
    double file_bytes = stat(path, &st) == 0 ? (double)st.st_size : 0;
    int64_t n_ok = 0, n_failed = 0, n_pending = 0;
    for (int64_t i = 0; i < r->n_samples; i++) {
        n_ok += r->status[i] == STRATA_SAMPLE_OK;
        n_failed += r->status[i] == STRATA_SAMPLE_FAILED;
        n_pending += r->status[i] == STRATA_SAMPLE_PENDING;
    }
    printf("file:      %s (", path);
    print_size(file_bytes);
    printf(" on disk)\n");
    printf("format:    %s version %d, %s\n", STRATA_ARCHIVE_FORMAT, r->format_version,
           r->complete ? "complete"
                       : "INCOMPLETE (an interrupted run: rerun the same command to resume)");
    printf("written:   %s by strata %s\n", r->created_utc, r->strata_version);
    if (r->command_line[0]) printf("command:   %s\n", r->command_line);
    printf("model:     %s (%s), backend %s, dtype on disk %s\n", r->model_name,
           r->architecture[0] ? r->architecture : "?", r->backend[0] ? r->backend : "?",
           r->dtype_on_disk[0] ? r->dtype_on_disk : "?");
    printf("dataset:   %s%s%.16s\n", r->manifest_path, r->manifest_sha256[0] ? ", sha256 " : "",
           r->manifest_sha256);
    printf("samples:   %lld (ok %lld, failed %lld, pending %lld)\n", (long long)r->n_samples,
           (long long)n_ok, (long long)n_failed, (long long)n_pending);
    int shown = 0;
    for (int64_t i = 0; i < r->n_samples && shown < 5; i++) {
        if (r->status[i] != STRATA_SAMPLE_FAILED) continue;
        printf("  failed:  %s: %s\n", r->ids[i], r->errors[i]);
        shown++;
    }
    if (n_failed > shown) printf("  ... and %lld more failed\n", (long long)(n_failed - shown));
    printf("streams:   %d\n", r->n_streams);
    strata_archive_priv *p = r->priv;
    for (int i = 0; i < r->n_streams; i++) {
        const strata_stream_info *s = &r->streams[i];
        printf("  %-12s [%d, %lld, %d] %s  site %s  pool %s  layers ", s->name, s->n_layers,
               (long long)s->n_rows, s->hidden_size,
               s->dtype == STRATA_DTYPE_F16 ? "float16" : "float32", s->site[0] ? s->site : "?",
               s->pool[0] ? s->pool : "?");
        print_layers(s);
        printf("  ");
        print_size((double)H5Dget_storage_size(p->activations[i]));
        if (s->ragged) printf("  ragged (%.2f rows/sample)", r->n_samples ? (double)s->n_rows / (double)r->n_samples : 0.0);
        if (s->dtype == STRATA_DTYPE_F16) printf("  f16 overflows %lld", (long long)s->overflow_count);
        printf("\n");
    }
    strata_archive_reader_close(r);
    return STRATA_EXIT_OK;
}

/* ---- generic listing (results files) ------------------------------------------------------ */
static void print_attrs(hid_t obj, const char *indent);

static herr_t print_attr(hid_t obj, const char *name, const H5A_info_t *info, void *data)
{
    const char *indent = data;
    char *s = strata_h5_read_attr_string(obj, name);
    if (s) {
        size_t len = strlen(s);
        printf("%s@%s = \"%.*s\"%s\n", indent, name, len > 100 ? 100 : (int)len, s,
               len > 100 ? "..." : "");
        free(s);
        return 0;
    }
    int64_t v;
    if (strata_h5_read_attr_int64(obj, name, &v) == 0) {
        printf("%s@%s = %lld\n", indent, name, (long long)v);
        return 0;
    }
    hid_t attr = H5Aopen(obj, name, H5P_DEFAULT);
    hid_t space = H5Aget_space(attr);
    hssize_t n = H5Sget_simple_extent_npoints(space);
    hid_t type = H5Aget_type(attr);
    if (H5Tget_class(type) == H5T_FLOAT && n >= 1 && n <= 8) {
        double vals[8];
        H5Aread(attr, H5T_NATIVE_DOUBLE, vals);
        printf("%s@%s =", indent, name);
        for (int i = 0; i < n; i++) printf(" %g", vals[i]);
        printf("\n");
    } else {
        printf("%s@%s (%lld values)\n", indent, name, (long long)n);
    }
    H5Tclose(type);
    H5Sclose(space);
    H5Aclose(attr);
    return 0;
}

static void print_attrs(hid_t obj, const char *indent)
{
    hsize_t idx = 0;
    H5Aiterate2(obj, H5_INDEX_NAME, H5_ITER_INC, &idx, print_attr, (void *)indent);
}

static const char *type_name(hid_t t)
{
    switch (H5Tget_class(t)) {
    case H5T_FLOAT: return H5Tget_size(t) == 2 ? "float16" : H5Tget_size(t) == 4 ? "float32" : "float64";
    case H5T_INTEGER: return H5Tget_sign(t) == H5T_SGN_NONE ? "uint" : "int";
    case H5T_STRING: return "string";
    default: return "other";
    }
}

static herr_t print_object(hid_t file, const char *name, const H5O_info_t *info, void *data)
{
    if (strcmp(name, ".") == 0) return 0;
    int depth = 0;
    for (const char *c = name; *c; c++) depth += *c == '/';
    char indent[64];
    snprintf(indent, sizeof indent, "%*s", 2 + 2 * depth, "");
    const char *base = strrchr(name, '/');
    base = base ? base + 1 : name;
    if (info->type == H5O_TYPE_GROUP) {
        printf("%s%s/\n", indent + 2, base);
        hid_t g = H5Gopen2(file, name, H5P_DEFAULT);
        print_attrs(g, indent);
        H5Gclose(g);
    } else if (info->type == H5O_TYPE_DATASET) {
        hid_t d = H5Dopen2(file, name, H5P_DEFAULT);
        hid_t space = H5Dget_space(d), type = H5Dget_type(d);
        hsize_t dims[8];
        int nd = H5Sget_simple_extent_ndims(space);
        if (nd > 8) nd = 8;
        if (nd > 0) H5Sget_simple_extent_dims(space, dims, NULL);
        printf("%s%s [", indent + 2, base);
        for (int i = 0; i < nd; i++) printf("%s%llu", i ? ", " : "", (unsigned long long)dims[i]);
        printf("] %s\n", type_name(type));
        print_attrs(d, indent);
        H5Tclose(type);
        H5Sclose(space);
        H5Dclose(d);
    }
    return 0;
}

static int inspect_generic(const char *path, hid_t file, const char *format)
{
    struct stat st;
    printf("file:      %s (", path);
    print_size(stat(path, &st) == 0 ? (double)st.st_size : 0);
    printf(" on disk)\nformat:    %s\n", format);
    print_attrs(file, "  ");
    if (H5Ovisit2(file, H5_INDEX_NAME, H5_ITER_INC, print_object, NULL, H5O_INFO_BASIC) < 0) {
        char stack[512];
        strata_h5_error_text(stack, sizeof stack);
        fprintf(stderr, "strata inspect: %s: cannot list the file (corrupted?): %s\n", path, stack);
        return STRATA_EXIT_FAILURE;
    }
    return STRATA_EXIT_OK;
}

static int inspect(const char *path)
{
    /* peek at the format attribute; anything but a results file goes through the archive
     * reader, whose errors name the file and the problem */
    char *format = NULL;
    hid_t file = -1;
    if (H5Fis_hdf5(path) > 0) {
        file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
        if (file >= 0) format = strata_h5_read_attr_string(file, "format");
    }
    int rc;
    if (format && strcmp(format, "strata-results") == 0) {
        rc = inspect_generic(path, file, format);
    } else {
        if (file >= 0) H5Fclose(file), file = -1;
        rc = inspect_archive(path);
    }
    if (file >= 0) H5Fclose(file);
    free(format);
    return rc;
}

int strata_cmd_inspect(int argc, char **argv)
{
    if (argc >= 2 && strata_is_help(argv[1])) {
        usage(stdout);
        return STRATA_EXIT_OK;
    }
    if (argc != 2) {
        usage(stderr);
        return STRATA_EXIT_USAGE;
    }
    int rc = strata_rank() == 0 ? inspect(argv[1]) : 0;
    fflush(stdout);
    if (strata_nranks() > 1) MPI_Bcast(&rc, 1, MPI_INT, 0, MPI_COMM_WORLD);
    return rc;
}
