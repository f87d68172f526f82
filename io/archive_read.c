/* archive_read.c — opening and validating an activation archive (format v1, DESIGN.md) and
 * reading row blocks of one layer as f32. Relies on HDF5 1.10 (MPI-IO driver when several
 * ranks open together, sec2 for one); accepts fixed- and variable-length strings, as h5py
 * writes the latter, so archives assembled by collaborators open too. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "io/archive_internal.h"
#include "io/h5util.h"
#include "strata.h"

int strata_archive_agree(MPI_Comm comm, int rc)
{
    int rank, size, first = 0;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    int mine = rc < 0 ? rank : size;
    MPI_Allreduce(&mine, &first, 1, MPI_INT, MPI_MIN, comm);
    if (first == size) return 0;
    char msg[2048];
    snprintf(msg, sizeof msg, "%s", strata_error_get());
    MPI_Bcast(msg, (int)sizeof msg, MPI_CHAR, first, comm);
    if (rank != first) strata_error_set("%s", msg);
    return -1;
}

void strata_archive_open_error(const char *path, const char *what)
{
    char stack[1024];
    strata_h5_error_text(stack, sizeof stack);
    if (strstr(stack, "truncated"))
        strata_error_set("%s: truncated file (shorter than its HDF5 superblock says; was the "
                         "copy or the write cut short?): %s", path, stack);
    else
        strata_error_set("%s: cannot %s as HDF5 (corrupted?): %s", path, what,
                         stack[0] ? stack : "unknown HDF5 error");
}

/* Opens dataset `name` (absolute path), naming the file and the dataset when it is missing. */
static hid_t open_dataset(hid_t file, const char *path, const char *name)
{
    /* walk the path so that a missing group reads as a missing dataset, not an HDF5 error */
    char prefix[512];
    for (const char *p = name + 1;; p++) {
        if (*p == '/' || *p == 0) {
            snprintf(prefix, sizeof prefix, "%.*s", (int)(p - name), name);
            htri_t exists = H5Lexists(file, prefix, H5P_DEFAULT);
            if (exists < 0) {
                char stack[512];
                strata_h5_error_text(stack, sizeof stack);
                strata_error_set("%s: cannot look up %s (corrupted?): %s", path, prefix, stack);
                return -1;
            }
            if (exists == 0) {
                strata_error_set("%s: missing dataset %s (not a complete strata archive)", path,
                                 name);
                return -1;
            }
            if (*p == 0) break;
        }
    }
    hid_t d = H5Dopen2(file, name, H5P_DEFAULT);
    if (d < 0) {
        char stack[512];
        strata_h5_error_text(stack, sizeof stack);
        strata_error_set("%s: cannot open dataset %s (corrupted?): %s", path, name, stack);
    }
    return d;
}

/* Rank and dims of a dataset; -1 with a message if its rank is not `want_rank`. */
static int dataset_dims(hid_t d, const char *path, const char *name, int want_rank, hsize_t *dims)
{
    hid_t space = H5Dget_space(d);
    int nd = space >= 0 ? H5Sget_simple_extent_ndims(space) : -1;
    if (nd == want_rank) H5Sget_simple_extent_dims(space, dims, NULL);
    if (space >= 0) H5Sclose(space);
    if (nd != want_rank)
        return strata_error_set("%s: %s has %d dimensions, expected %d", path, name, nd, want_rank);
    return 0;
}

static int check_class(hid_t d, const char *path, const char *name, H5T_class_t want,
                       const char *what)
{
    hid_t t = H5Dget_type(d);
    H5T_class_t c = t >= 0 ? H5Tget_class(t) : H5T_NO_CLASS;
    if (t >= 0) H5Tclose(t);
    if (c != want) return strata_error_set("%s: %s is not %s", path, name, what);
    return 0;
}

static char *attr_or_empty(hid_t obj, const char *name)
{
    char *s = obj >= 0 ? strata_h5_read_attr_string(obj, name) : NULL;
    return s ? s : strata_strdup("");
}

/* Opens a 1-D dataset of class `want` ("what" names it in messages) with `expect` elements
 * (-1: any; *n gets the length). Returns the handle or -1 with a message naming file and name. */
static hid_t open_1d(hid_t file, const char *path, const char *name, H5T_class_t want,
                     const char *what, int64_t expect, const char *why, int64_t *n)
{
    hsize_t dims[1];
    hid_t d = open_dataset(file, path, name);
    if (d < 0 || dataset_dims(d, path, name, 1, dims) < 0 ||
        check_class(d, path, name, want, what) < 0) {
        if (d >= 0) H5Dclose(d);
        return -1;
    }
    if (expect >= 0 && (int64_t)dims[0] != expect) {
        H5Dclose(d);
        strata_error_set("%s: %s has shape [%llu], expected [%lld] (%s)", path, name,
                         (unsigned long long)dims[0], (long long)expect, why);
        return -1;
    }
    if (n) *n = (int64_t)dims[0];
    return d;
}

static int load_samples(hid_t file, const char *path, strata_archive_reader *r)
{
    hid_t d = open_1d(file, path, "/samples/id", H5T_STRING, "a string dataset", -1, "",
                      &r->n_samples);
    if (d < 0) return -1;
    r->ids = strata_h5_read_strings(d, r->n_samples);
    H5Dclose(d);
    if (!r->ids) return strata_error_set("%s: cannot read /samples/id (corrupted?)", path);

    d = open_1d(file, path, "/samples/status", H5T_INTEGER, "an integer dataset", r->n_samples,
                "the length of /samples/id", NULL);
    if (d < 0) return -1;
    r->status = strata_calloc((size_t)(r->n_samples ? r->n_samples : 1), 1);
    herr_t rc = r->n_samples ? H5Dread(d, H5T_NATIVE_INT8, H5S_ALL, H5S_ALL, H5P_DEFAULT,
                                       r->status) : 0;
    H5Dclose(d);
    if (rc < 0) return strata_error_set("%s: cannot read /samples/status (corrupted?)", path);
    for (int64_t i = 0; i < r->n_samples; i++)
        if (r->status[i] < 0 || r->status[i] > 2)
            return strata_error_set("%s: /samples/status[%lld] is %d, expected 0, 1 or 2", path,
                                    (long long)i, r->status[i]);

    d = open_1d(file, path, "/samples/error", H5T_STRING, "a string dataset", r->n_samples,
                "the length of /samples/id", NULL);
    if (d < 0) return -1;
    r->errors = strata_h5_read_strings(d, r->n_samples);
    H5Dclose(d);
    if (!r->errors) return strata_error_set("%s: cannot read /samples/error (corrupted?)", path);
    return 0;
}

struct name_list {
    char **names;
    int n;
};

static herr_t collect_name(hid_t g, const char *name, const H5L_info_t *info, void *data)
{
    struct name_list *l = data;
    l->names = strata_realloc(l->names, (size_t)(l->n + 1) * sizeof *l->names);
    l->names[l->n++] = strata_strdup(name);
    return 0;
}

static int load_stream(hid_t file, const char *path, strata_archive_reader *r, const char *name,
                       strata_stream_info *s, hid_t *dset)
{
    strata_archive_priv *p = r->priv;
    char dpath[256];
    if (strlen(name) >= sizeof s->name)
        return strata_error_set("%s: stream name '%s' is longer than %zu bytes", path, name,
                                sizeof s->name - 1);
    snprintf(s->name, sizeof s->name, "%s", name);
    snprintf(dpath, sizeof dpath, "/activations/%s", name);
    hsize_t dims[3];
    *dset = open_dataset(file, path, dpath);
    if (*dset < 0 || dataset_dims(*dset, path, dpath, 3, dims) < 0 ||
        check_class(*dset, path, dpath, H5T_FLOAT, "a floating-point dataset") < 0)
        return -1;
    hid_t t = H5Dget_type(*dset);
    size_t elsize = H5Tget_size(t);
    H5Tclose(t);
    s->dtype = elsize == 2 ? STRATA_DTYPE_F16 : STRATA_DTYPE_F32;
    s->n_layers = (int)dims[0];
    s->n_rows = (int64_t)dims[1];
    s->hidden_size = (int)dims[2];
    if (dims[0] > 100000 || dims[2] > (1u << 26))
        return strata_error_set("%s: %s has an implausible shape [%llu, %llu, %llu]", path, dpath,
                                (unsigned long long)dims[0], (unsigned long long)dims[1],
                                (unsigned long long)dims[2]);

    char *site = attr_or_empty(*dset, "site"), *pool = attr_or_empty(*dset, "pool");
    snprintf(s->site, sizeof s->site, "%s", site);
    snprintf(s->pool, sizeof s->pool, "%s", pool);
    free(site);
    free(pool);
    int n_layers_attr = 0;
    s->layers = strata_h5_read_attr_ints(*dset, "layers", &n_layers_attr);
    if (!s->layers) { /* not written by strata: assume every layer was kept */
        s->layers = strata_malloc((size_t)s->n_layers * sizeof *s->layers + 1);
        for (int l = 0; l < s->n_layers; l++) s->layers[l] = l;
    } else if (n_layers_attr != s->n_layers) {
        return strata_error_set("%s: %s has %d layers but its 'layers' attribute lists %d", path,
                                dpath, s->n_layers, n_layers_attr);
    }
    int64_t hidden = 0;
    if (strata_h5_read_attr_int64(*dset, "hidden_size", &hidden) == 0 && hidden != s->hidden_size)
        return strata_error_set("%s: %s has hidden size %d but its 'hidden_size' attribute is %lld",
                                path, dpath, s->hidden_size, (long long)hidden);
    s->overflow_count = 0;
    strata_h5_read_attr_int64(*dset, "overflow_count", &s->overflow_count);

    char ipath[256];
    snprintf(ipath, sizeof ipath, "/index/%s", name);
    int ragged = H5Lexists(file, "/index", H5P_DEFAULT) > 0 &&
                 H5Lexists(file, ipath, H5P_DEFAULT) > 0;
    if (!ragged) {
        if (s->n_rows != r->n_samples)
            return strata_error_set("%s: %s has %lld rows, expected %lld (one per sample; a "
                                    "ragged stream needs %s/row_offset)", path, dpath,
                                    (long long)s->n_rows, (long long)r->n_samples, ipath);
        return 0;
    }
    s->ragged = 1;
    snprintf(ipath, sizeof ipath, "/index/%s/row_offset", name);
    hid_t od = open_1d(file, path, ipath, H5T_INTEGER, "an integer dataset", r->n_samples + 1,
                       "samples + 1", NULL);
    if (od < 0) return -1;
    s->row_offset = strata_malloc((size_t)(r->n_samples + 1) * sizeof *s->row_offset);
    herr_t rc = H5Dread(od, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, s->row_offset);
    H5Dclose(od);
    if (rc < 0) return strata_error_set("%s: cannot read %s (corrupted?)", path, ipath);
    if (s->row_offset[0] != 0)
        return strata_error_set("%s: %s[0] is %lld, expected 0", path, ipath,
                                (long long)s->row_offset[0]);
    for (int64_t i = 0; i < r->n_samples; i++)
        if (s->row_offset[i + 1] < s->row_offset[i])
            return strata_error_set("%s: %s decreases at sample %lld", path, ipath,
                                    (long long)i);
    if (s->row_offset[r->n_samples] != s->n_rows)
        return strata_error_set("%s: %s has %lld rows but %s ends at %lld", path, dpath,
                                (long long)s->n_rows, ipath,
                                (long long)s->row_offset[r->n_samples]);
    (void)p;
    return 0;
}

int strata_archive_load(hid_t file, const char *path, strata_archive_reader *r)
{
    strata_archive_priv *p = strata_calloc(1, sizeof *p);
    r->priv = p;
    p->file = file;
    p->half_type = strata_h5_half_type();
    r->path = strata_strdup(path);

    char *format = strata_h5_read_attr_string(file, "format");
    if (!format)
        return strata_error_set("%s: not a strata archive: no string attribute 'format' at / "
                                "(expected format=\"%s\")", path, STRATA_ARCHIVE_FORMAT);
    if (strcmp(format, STRATA_ARCHIVE_FORMAT) != 0) {
        strata_error_set("%s: format is \"%s\", expected \"%s\"%s", path, format,
                         STRATA_ARCHIVE_FORMAT,
                         strcmp(format, "strata-results") == 0
                             ? " (this is a results file: see strata inspect / strata figures)"
                             : "");
        free(format);
        return -1;
    }
    free(format);
    int64_t version = 0, complete = 0;
    if (strata_h5_read_attr_int64(file, "format_version", &version) < 0)
        return strata_error_set("%s: missing integer attribute 'format_version' at /", path);
    if (version > STRATA_ARCHIVE_VERSION)
        return strata_error_set("%s: format_version %lld is newer than this strata (%s) reads "
                                "(up to %d); upgrade strata", path, (long long)version,
                                STRATA_VERSION, STRATA_ARCHIVE_VERSION);
    if (version < 1)
        return strata_error_set("%s: format_version %lld is not valid (expected 1)", path,
                                (long long)version);
    r->format_version = (int)version;
    if (strata_h5_read_attr_int64(file, "complete", &complete) < 0)
        return strata_error_set("%s: missing integer attribute 'complete' at /", path);
    r->complete = complete != 0;
    r->strata_version = attr_or_empty(file, "strata_version");
    r->created_utc = attr_or_empty(file, "created_utc");
    r->command_line = attr_or_empty(file, "command_line");

    hid_t g = H5Lexists(file, "/model", H5P_DEFAULT) > 0 ? H5Gopen2(file, "/model", H5P_DEFAULT)
                                                         : -1;
    r->model_name = attr_or_empty(g, "name");
    r->architecture = attr_or_empty(g, "architecture");
    r->config_json = attr_or_empty(g, "config_json");
    r->backend = attr_or_empty(g, "backend");
    r->dtype_on_disk = attr_or_empty(g, "dtype_on_disk");
    if (g >= 0) H5Gclose(g);
    g = H5Lexists(file, "/dataset", H5P_DEFAULT) > 0 ? H5Gopen2(file, "/dataset", H5P_DEFAULT)
                                                     : -1;
    r->manifest_path = attr_or_empty(g, "manifest_path");
    r->manifest_sha256 = attr_or_empty(g, "manifest_sha256");
    int64_t n_declared = -1;
    if (g >= 0) {
        strata_h5_read_attr_int64(g, "n_samples", &n_declared);
        H5Gclose(g);
    }

    if (load_samples(file, path, r) < 0) return -1;
    if (n_declared >= 0 && n_declared != r->n_samples)
        return strata_error_set("%s: /dataset n_samples is %lld but /samples/id has %lld entries",
                                path, (long long)n_declared, (long long)r->n_samples);

    if (H5Lexists(file, "/activations", H5P_DEFAULT) <= 0)
        return strata_error_set("%s: missing group /activations", path);
    hid_t act = H5Gopen2(file, "/activations", H5P_DEFAULT);
    if (act < 0) return strata_error_set("%s: cannot open /activations (corrupted?)", path);
    struct name_list names = {NULL, 0};
    hsize_t idx = 0;
    herr_t it = H5Literate(act, H5_INDEX_NAME, H5_ITER_INC, &idx, collect_name, &names);
    H5Gclose(act);
    int rc = it < 0 ? strata_error_set("%s: cannot list /activations (corrupted?)", path) : 0;
    r->streams = strata_calloc((size_t)(names.n ? names.n : 1), sizeof *r->streams);
    p->activations = strata_malloc((size_t)(names.n ? names.n : 1) * sizeof *p->activations);
    for (int i = 0; i < names.n; i++) p->activations[i] = -1;
    for (int i = 0; i < names.n && rc == 0; i++) {
        r->n_streams = i + 1;
        rc = load_stream(file, path, r, names.names[i], &r->streams[i], &p->activations[i]);
    }
    for (int i = 0; i < names.n; i++) free(names.names[i]);
    free(names.names);
    return rc;
}

void strata_archive_unload(strata_archive_reader *r)
{
    strata_archive_priv *p = r->priv;
    if (p) {
        for (int i = 0; i < r->n_streams; i++)
            if (p->activations[i] >= 0) H5Dclose(p->activations[i]);
        free(p->activations);
        if (p->half_type >= 0) H5Tclose(p->half_type);
        free(p);
    }
    for (int i = 0; i < r->n_streams; i++) {
        free(r->streams[i].layers);
        free(r->streams[i].row_offset);
    }
    free(r->streams);
    strata_h5_free_strings(r->ids, r->n_samples);
    strata_h5_free_strings(r->errors, r->n_samples);
    free(r->status);
    free(r->path);
    free(r->model_name);
    free(r->architecture);
    free(r->config_json);
    free(r->backend);
    free(r->dtype_on_disk);
    free(r->manifest_path);
    free(r->manifest_sha256);
    free(r->strata_version);
    free(r->created_utc);
    free(r->command_line);
    memset(r, 0, sizeof *r);
}

/* Everything before H5Fopen that can be decided from the file system and the signature. */
static int check_file(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return strata_error_set("%s: cannot open: %s", path, strerror(errno));
    if (!S_ISREG(st.st_mode)) return strata_error_set("%s: not a regular file", path);
    htri_t is = H5Fis_hdf5(path);
    if (is <= 0)
        return strata_error_set("%s: not an HDF5 file (no HDF5 signature found%s)", path,
                                st.st_size < 64 ? "; the file is nearly empty" : "");
    return 0;
}

strata_archive_reader *strata_archive_open(MPI_Comm comm, const char *path)
{
    int size;
    MPI_Comm_size(comm, &size);
    H5E_auto2_t old_func;
    void *old_data;
    H5Eget_auto2(H5E_DEFAULT, &old_func, &old_data);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL); /* failures are reported with the file's name */

    strata_archive_reader *r = NULL;
    int rc = check_file(path);
    if (strata_archive_agree(comm, rc) < 0) goto done;

    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (size > 1) H5Pset_fapl_mpio(fapl, comm, MPI_INFO_NULL);
    hid_t file = H5Fopen(path, H5F_ACC_RDONLY, fapl);
    H5Pclose(fapl);
    rc = 0;
    if (file < 0) rc = -1, strata_archive_open_error(path, "open");
    /* with MPI-IO, H5Fopen is collective and fails on every rank alike */
    if (strata_archive_agree(comm, rc) < 0) goto done;

    r = strata_calloc(1, sizeof *r);
    rc = strata_archive_load(file, path, r);
    if (strata_archive_agree(comm, rc) < 0) {
        strata_archive_unload(r);
        free(r);
        r = NULL;
        H5Fclose(file);
    }
done:
    H5Eset_auto2(H5E_DEFAULT, old_func, old_data);
    return r;
}

int strata_archive_find_stream(const strata_archive_reader *r, const char *name)
{
    for (int i = 0; i < r->n_streams; i++)
        if (strcmp(r->streams[i].name, name) == 0) return i;
    return -1;
}

/* The sample owning row `row` of a ragged stream (binary search in row_offset). */
static int64_t sample_of_row(const strata_stream_info *s, int64_t n_samples, int64_t row)
{
    int64_t lo = 0, hi = n_samples; /* row_offset[lo] <= row < row_offset[hi] */
    while (hi - lo > 1) {
        int64_t mid = lo + (hi - lo) / 2;
        if (s->row_offset[mid] <= row) lo = mid;
        else hi = mid;
    }
    return lo;
}

int strata_archive_read_rows(strata_archive_reader *r, int stream, int layer_pos,
                             int64_t row_begin, int64_t row_end, float *out, uint8_t *ok_mask)
{
    if (stream < 0 || stream >= r->n_streams)
        return strata_error_set("%s: no stream number %d (the archive has %d)", r->path, stream,
                                r->n_streams);
    strata_stream_info *s = &r->streams[stream];
    strata_archive_priv *p = r->priv;
    if (layer_pos < 0 || layer_pos >= s->n_layers)
        return strata_error_set("%s: stream %s has %d layers, asked for position %d", r->path,
                                s->name, s->n_layers, layer_pos);
    if (row_begin < 0 || row_end < row_begin || row_end > s->n_rows)
        return strata_error_set("%s: stream %s has %lld rows, asked for [%lld, %lld)", r->path,
                                s->name, (long long)s->n_rows, (long long)row_begin,
                                (long long)row_end);
    int64_t rows = row_end - row_begin, count = rows * s->hidden_size;
    if (ok_mask) {
        for (int64_t i = 0; i < rows; i++) {
            int64_t sample = s->ragged ? sample_of_row(s, r->n_samples, row_begin + i)
                                       : row_begin + i;
            ok_mask[i] = r->status[sample] == STRATA_SAMPLE_OK;
        }
    }
    if (rows == 0) return 0;

    hid_t d = p->activations[stream];
    hsize_t start[3] = {(hsize_t)layer_pos, (hsize_t)row_begin, 0};
    hsize_t cnt[3] = {1, (hsize_t)rows, (hsize_t)s->hidden_size};
    hsize_t mdim = (hsize_t)count;
    hid_t fspace = H5Dget_space(d), mspace = H5Screate_simple(1, &mdim, NULL);
    H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start, NULL, cnt, NULL);
    herr_t rc;
    if (s->dtype == STRATA_DTYPE_F16) {
        /* read the half bits, then widen: out is big enough for the floats, so it holds the
         * halves in its second half while they are converted front to back */
        uint16_t *half = (uint16_t *)(out + count) - count;
        rc = H5Dread(d, p->half_type, mspace, fspace, H5P_DEFAULT, half);
        if (rc >= 0) {
            /* converting in place front to back would overwrite halves not yet read: go
             * through a small scratch block instead */
            uint16_t tmp[4096];
            int64_t done = 0;
            while (done < count) {
                int64_t n = count - done < 4096 ? count - done : 4096;
                memcpy(tmp, half + done, (size_t)n * sizeof *tmp);
                strata_f16_to_f32_array(tmp, out + done, n);
                done += n;
            }
        }
    } else {
        rc = H5Dread(d, H5T_NATIVE_FLOAT, mspace, fspace, H5P_DEFAULT, out);
    }
    H5Sclose(mspace);
    H5Sclose(fspace);
    if (rc < 0) {
        char stack[512];
        strata_h5_error_text(stack, sizeof stack);
        return strata_error_set("%s: reading /activations/%s layer position %d rows [%lld, %lld) "
                                "failed (corrupted or truncated?): %s", r->path, s->name,
                                layer_pos, (long long)row_begin, (long long)row_end, stack);
    }
    return 0;
}

void strata_archive_reader_close(strata_archive_reader *r)
{
    if (!r) return;
    strata_archive_priv *p = r->priv;
    hid_t file = p ? p->file : -1;
    strata_archive_unload(r);
    if (file >= 0) H5Fclose(file);
    free(r);
}
