/* archive.c — writing an activation archive, format v1 (DESIGN.md "Activation archive"): create
 * or resume "<path>.partial", one collective round at a time, then mark complete and rename.
 * Relies on parallel HDF5 1.10 over MPI-IO: every rank takes part in every call (an empty
 * selection when it has no rows), activations go through collective transfers with memory type
 * == file type (halves are converted in memory, io/half.c), and each round ends with H5Fflush. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "io/archive_internal.h"
#include "io/h5util.h"
#include "strata.h"

typedef struct {
    strata_stream_info info; /* copy of the spec's; layers and row_offset owned here */
    hid_t dset;
    int64_t overflow_count;  /* total over all rounds so far (the attribute's value) */
} writer_stream;

struct strata_archive {
    MPI_Comm comm;
    int rank, size;
    char *path, *partial;
    hid_t file, dxpl;        /* dxpl: collective MPI-IO transfer */
    hid_t status_dset, error_dset, round_dset, half_type;
    int n_streams;
    writer_stream *streams;  /* [n_streams] */
    int64_t n_samples;
    int8_t *status;          /* [n_samples] as on disk, on every rank */
    int n_rounds;
    uint8_t *round_done;     /* [n_rounds] */
    int last_io_mode;
};

static int64_t stream_rows(const strata_stream_info *s, int64_t n_samples)
{
    return s->ragged ? s->row_offset[n_samples] : n_samples;
}

/* Checks the spec on its own (every rank sees the same spec, so the same answer). */
static int check_spec(const char *path, const strata_archive_spec *spec)
{
    if (spec->n_samples < 0) return strata_error_set("%s: n_samples is negative", path);
    if (spec->n_samples > 0 && !spec->ids) return strata_error_set("%s: no sample ids", path);
    if (spec->n_streams < 1) return strata_error_set("%s: an archive needs at least one stream", path);
    if (spec->n_rounds < 0) return strata_error_set("%s: n_rounds is negative", path);
    for (int i = 0; i < spec->n_streams; i++) {
        const strata_stream_info *s = &spec->streams[i];
        if (!s->name[0] || strchr(s->name, '/') || strcmp(s->name, ".") == 0)
            return strata_error_set("%s: stream %d has an invalid name '%s'", path, i, s->name);
        for (int j = 0; j < i; j++)
            if (strcmp(spec->streams[j].name, s->name) == 0)
                return strata_error_set("%s: stream '%s' is listed twice", path, s->name);
        if (s->n_layers < 1 || !s->layers || s->hidden_size < 1)
            return strata_error_set("%s: stream '%s' needs layers and a hidden size", path, s->name);
        if (s->dtype != STRATA_DTYPE_F32 && s->dtype != STRATA_DTYPE_F16)
            return strata_error_set("%s: stream '%s' has an unknown dtype", path, s->name);
        if (s->ragged) {
            if (!s->row_offset || s->row_offset[0] != 0)
                return strata_error_set("%s: ragged stream '%s' needs row_offset starting at 0",
                                        path, s->name);
            for (int64_t k = 0; k < spec->n_samples; k++)
                if (s->row_offset[k + 1] < s->row_offset[k])
                    return strata_error_set("%s: row_offset of stream '%s' decreases at sample "
                                            "%lld", path, s->name, (long long)k);
        }
    }
    return 0;
}

static void free_archive(strata_archive *a)
{
    for (int i = 0; i < a->n_streams; i++) {
        free(a->streams[i].info.layers);
        free(a->streams[i].info.row_offset);
    }
    free(a->streams);
    free(a->status);
    free(a->round_done);
    free(a->path);
    free(a->partial);
    free(a);
}

/* Closes every HDF5 handle (collective for the file) and frees a. */
static void close_archive(strata_archive *a)
{
    for (int i = 0; i < a->n_streams; i++)
        if (a->streams[i].dset >= 0) H5Dclose(a->streams[i].dset);
    if (a->status_dset >= 0) H5Dclose(a->status_dset);
    if (a->error_dset >= 0) H5Dclose(a->error_dset);
    if (a->round_dset >= 0) H5Dclose(a->round_dset);
    if (a->half_type >= 0) H5Tclose(a->half_type);
    if (a->dxpl >= 0) H5Pclose(a->dxpl);
    if (a->file >= 0) H5Fclose(a->file);
    free_archive(a);
}

static hid_t file_access(MPI_Comm comm)
{
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    STRATA_CHECK_H5(H5Pset_fapl_mpio(fapl, comm, MPI_INFO_NULL));
    /* 1.8 object headers: checksummed metadata (corruption is detected, not read as data) */
    STRATA_CHECK_H5(H5Pset_libver_bounds(fapl, H5F_LIBVER_V18, H5F_LIBVER_LATEST));
    STRATA_CHECK_H5(H5Pset_coll_metadata_write(fapl, 1));
    /* chunks start on file-system pages: ranks writing neighbouring chunks share no page */
    STRATA_CHECK_H5(H5Pset_alignment(fapl, 4096, 4096));
    return fapl;
}

static hid_t make_group(hid_t parent, const char *name)
{
    hid_t g = H5Gcreate2(parent, name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    STRATA_CHECK_H5_HINT(g, name);
    return g;
}

/* A 1-D dataset of n elements of `type`; chunked and extendible when `extendible`. */
static hid_t make_1d(hid_t parent, const char *name, hid_t type, int64_t n, int extendible)
{
    hsize_t dim = (hsize_t)n, maxdim = extendible ? H5S_UNLIMITED : (hsize_t)n;
    hid_t space = H5Screate_simple(1, &dim, &maxdim);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    if (extendible) {
        hsize_t chunk = 1024;
        STRATA_CHECK_H5(H5Pset_chunk(dcpl, 1, &chunk));
    }
    hid_t d = H5Dcreate2(parent, name, type, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    STRATA_CHECK_H5_HINT(d, name);
    H5Pclose(dcpl);
    H5Sclose(space);
    return d;
}

static hid_t fixed_string_type(size_t len)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, len);
    H5Tset_strpad(t, H5T_STR_NULLTERM);
    H5Tset_cset(t, H5T_CSET_UTF8);
    return t;
}

/* Independent write of elements [begin, end) of a small 1-D bookkeeping dataset (ids, status,
 * errors, offsets, round marks) by the ranks that own them; nothing when empty. Only the
 * activations need collective transfers; sparing these the collective synchronisation keeps
 * the fixed cost of a round low (each collective costs a scheduling quantum on busy cores). */
static void write_1d(strata_archive *a, hid_t d, hid_t mtype, int64_t begin, int64_t end,
                     const void *buf)
{
    if (end <= begin) return;
    hid_t fspace = H5Dget_space(d);
    hsize_t n = (hsize_t)(end - begin), start = (hsize_t)begin;
    hid_t mspace = H5Screate_simple(1, &n, NULL);
    STRATA_CHECK_H5(H5Sselect_hyperslab(fspace, H5S_SELECT_SET, &start, NULL, &n, NULL));
    STRATA_CHECK_H5_HINT(H5Dwrite(d, mtype, mspace, fspace, H5P_DEFAULT, buf), a->partial);
    H5Sclose(mspace);
    H5Sclose(fspace);
}

/* Row chunk of an activation dataset: about 4 MiB per chunk, whole rows of one layer. */
static hsize_t chunk_rows(int64_t rows, int hidden, size_t elsize)
{
    int64_t c = (int64_t)((4u << 20) / ((size_t)hidden * elsize));
    if (c < 1) c = 1;
    if (c > rows) c = rows;
    return (hsize_t)(c > 0 ? c : 1);
}

static void utc_now(char out[32])
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void create_layout(strata_archive *a, const strata_archive_spec *spec)
{
    hid_t f = a->file;
    char created[32];
    utc_now(created);
    MPI_Bcast(created, sizeof created, MPI_CHAR, 0, a->comm); /* same attribute on every rank */
    STRATA_CHECK_H5(strata_h5_write_attr_string(f, "format", STRATA_ARCHIVE_FORMAT));
    STRATA_CHECK_H5(strata_h5_write_attr_int64(f, "format_version", STRATA_ARCHIVE_VERSION));
    STRATA_CHECK_H5(strata_h5_write_attr_string(f, "strata_version", STRATA_VERSION));
    STRATA_CHECK_H5(strata_h5_write_attr_string(f, "created_utc", created));
    STRATA_CHECK_H5(strata_h5_write_attr_string(f, "command_line", spec->command_line));
    STRATA_CHECK_H5(strata_h5_write_attr_int64(f, "n_ranks", a->size));
    STRATA_CHECK_H5(strata_h5_write_attr_int64(f, "complete", 0));

    hid_t g = make_group(f, "model");
    STRATA_CHECK_H5(strata_h5_write_attr_string(g, "name", spec->model_name));
    STRATA_CHECK_H5(strata_h5_write_attr_string(g, "architecture", spec->architecture));
    STRATA_CHECK_H5(strata_h5_write_attr_string(g, "config_json", spec->config_json));
    STRATA_CHECK_H5(strata_h5_write_attr_string(g, "weights_sha256", spec->weights_sha256));
    STRATA_CHECK_H5(strata_h5_write_attr_string(g, "dtype_on_disk", spec->dtype_on_disk));
    STRATA_CHECK_H5(strata_h5_write_attr_string(g, "compute_dtype", spec->compute_dtype));
    STRATA_CHECK_H5(strata_h5_write_attr_string(g, "backend", spec->backend));
    H5Gclose(g);
    g = make_group(f, "dataset");
    STRATA_CHECK_H5(strata_h5_write_attr_string(g, "manifest_path", spec->manifest_path));
    STRATA_CHECK_H5(strata_h5_write_attr_string(g, "manifest_sha256", spec->manifest_sha256));
    STRATA_CHECK_H5(strata_h5_write_attr_int64(g, "n_samples", spec->n_samples));
    H5Gclose(g);

    /* /samples: ids written once by rank 0; status and error start pending / "" */
    int64_t n = spec->n_samples;
    size_t id_len = 2;
    for (int64_t i = 0; i < n; i++)
        if (spec->ids[i] && strlen(spec->ids[i]) + 1 > id_len) id_len = strlen(spec->ids[i]) + 1;
    hid_t id_type = fixed_string_type(id_len), err_type = fixed_string_type(STRATA_ARCHIVE_ERROR_LEN);
    g = make_group(f, "samples");
    hid_t ids = make_1d(g, "id", id_type, n, 0);
    a->status_dset = make_1d(g, "status", H5T_STD_I8LE, n, 0);
    a->error_dset = make_1d(g, "error", err_type, n, 0);
    H5Gclose(g);
    int64_t mine = a->rank == 0 ? n : 0;
    char *id_buf = strata_calloc((size_t)(mine ? mine : 1), id_len);
    for (int64_t i = 0; i < mine; i++)
        if (spec->ids[i]) memcpy(id_buf + (size_t)i * id_len, spec->ids[i], strlen(spec->ids[i]));
    write_1d(a, ids, id_type, 0, mine, id_buf);
    free(id_buf);
    H5Dclose(ids);
    char *zeros = strata_calloc((size_t)(mine ? mine : 1), STRATA_ARCHIVE_ERROR_LEN);
    write_1d(a, a->status_dset, H5T_NATIVE_INT8, 0, mine, zeros);
    write_1d(a, a->error_dset, err_type, 0, mine, zeros);
    free(zeros);
    H5Tclose(id_type);
    H5Tclose(err_type);

    /* /activations/<stream> [L, R, D] and /index/<stream>/row_offset */
    hid_t act = make_group(f, "activations"), index = make_group(f, "index");
    for (int i = 0; i < a->n_streams; i++) {
        writer_stream *w = &a->streams[i];
        strata_stream_info *s = &w->info;
        int64_t rows = s->n_rows;
        size_t elsize = s->dtype == STRATA_DTYPE_F16 ? 2 : 4;
        hsize_t dims[3] = {(hsize_t)s->n_layers, (hsize_t)rows, (hsize_t)s->hidden_size};
        hsize_t chunk[3] = {1, chunk_rows(rows, s->hidden_size, elsize), (hsize_t)s->hidden_size};
        hid_t space = H5Screate_simple(3, dims, NULL);
        hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
        STRATA_CHECK_H5(H5Pset_chunk(dcpl, 3, chunk));
        /* parallel HDF5 allocates early; rows not yet written read as zeros (file holes) */
        STRATA_CHECK_H5(H5Pset_alloc_time(dcpl, H5D_ALLOC_TIME_EARLY));
        STRATA_CHECK_H5(H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER));
        hid_t type = s->dtype == STRATA_DTYPE_F16 ? a->half_type : H5T_IEEE_F32LE;
        w->dset = H5Dcreate2(act, s->name, type, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
        STRATA_CHECK_H5_HINT(w->dset, s->name);
        H5Pclose(dcpl);
        H5Sclose(space);
        STRATA_CHECK_H5(strata_h5_write_attr_string(w->dset, "site", s->site));
        STRATA_CHECK_H5(strata_h5_write_attr_string(w->dset, "pool", s->pool));
        STRATA_CHECK_H5(strata_h5_write_attr_ints(w->dset, "layers", s->layers, s->n_layers));
        STRATA_CHECK_H5(strata_h5_write_attr_int64(w->dset, "hidden_size", s->hidden_size));
        STRATA_CHECK_H5(strata_h5_write_attr_string(w->dset, "dtype",
                                                    s->dtype == STRATA_DTYPE_F16 ? "float16"
                                                                                 : "float32"));
        STRATA_CHECK_H5(strata_h5_write_attr_int64(w->dset, "overflow_count", 0));
        if (s->ragged) {
            hid_t ig = make_group(index, s->name);
            hid_t od = make_1d(ig, "row_offset", H5T_STD_I64LE, n + 1, 0);
            write_1d(a, od, H5T_NATIVE_INT64, 0, a->rank == 0 ? n + 1 : 0, s->row_offset);
            H5Dclose(od);
            H5Gclose(ig);
        }
    }
    H5Gclose(act);
    H5Gclose(index);

    g = make_group(f, "progress");
    a->round_dset = make_1d(g, "round_done", H5T_STD_U8LE, a->n_rounds, 1);
    H5Gclose(g);
    uint8_t *rz = strata_calloc((size_t)(a->n_rounds ? a->n_rounds : 1), 1);
    write_1d(a, a->round_dset, H5T_NATIVE_UINT8, 0, a->rank == 0 ? a->n_rounds : 0, rz);
    free(rz);
    STRATA_CHECK_H5_HINT(H5Fflush(f, H5F_SCOPE_GLOBAL), a->partial);
}

/* Resume: the .partial on disk must hold what spec describes. Names the first difference. */
static int check_resume(strata_archive *a, const strata_archive_reader *r,
                        const strata_archive_spec *spec)
{
    const char *p = a->partial;
    if (r->n_samples != spec->n_samples)
        return strata_error_set("%s: cannot resume: it has %lld samples, this run has %lld "
                                "(use --overwrite to start again)", p, (long long)r->n_samples,
                                (long long)spec->n_samples);
    for (int64_t i = 0; i < r->n_samples; i++)
        if (strcmp(r->ids[i], spec->ids[i] ? spec->ids[i] : "") != 0)
            return strata_error_set("%s: cannot resume: sample %lld is '%s' on disk, '%s' in this "
                                    "run's manifest", p, (long long)i, r->ids[i], spec->ids[i]);
    if (r->n_streams != spec->n_streams)
        return strata_error_set("%s: cannot resume: it has %d streams, this run has %d", p,
                                r->n_streams, spec->n_streams);
    for (int i = 0; i < spec->n_streams; i++) {
        const strata_stream_info *want = &spec->streams[i];
        int k = strata_archive_find_stream(r, want->name);
        if (k < 0)
            return strata_error_set("%s: cannot resume: no stream '%s' on disk", p, want->name);
        const strata_stream_info *got = &r->streams[k];
        int same = got->n_layers == want->n_layers && got->hidden_size == want->hidden_size &&
                   got->dtype == want->dtype && got->ragged == want->ragged &&
                   got->n_rows == stream_rows(want, spec->n_samples);
        for (int l = 0; same && l < want->n_layers; l++) same = got->layers[l] == want->layers[l];
        for (int64_t j = 0; same && want->ragged && j <= spec->n_samples; j++)
            same = got->row_offset[j] == want->row_offset[j];
        if (!same)
            return strata_error_set("%s: cannot resume: stream '%s' differs from this run "
                                    "(layers, hidden size, dtype or rows)", p, want->name);
    }
    return 0;
}

/* Reopens a .partial for resume: validate, take its statuses, progress and overflow counts. */
static int open_for_resume(strata_archive *a, const strata_archive_spec *spec)
{
    hid_t fapl = file_access(a->comm);
    H5E_auto2_t old_func;
    void *old_data;
    H5Eget_auto2(H5E_DEFAULT, &old_func, &old_data);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    a->file = H5Fopen(a->partial, H5F_ACC_RDWR, fapl);
    int rc = 0;
    if (a->file < 0) rc = -1, strata_archive_open_error(a->partial, "reopen for resume");
    H5Eset_auto2(H5E_DEFAULT, old_func, old_data);
    H5Pclose(fapl);
    if (strata_archive_agree(a->comm, rc) < 0) return -1;

    strata_archive_reader r = {0};
    rc = strata_archive_load(a->file, a->partial, &r);
    if (rc == 0) rc = check_resume(a, &r, spec);
    if (rc == 0) {
        memcpy(a->status, r.status, (size_t)a->n_samples);
        for (int i = 0; i < a->n_streams; i++) {
            int k = strata_archive_find_stream(&r, a->streams[i].info.name);
            a->streams[i].overflow_count = r.streams[k].overflow_count;
        }
    }
    strata_archive_unload(&r);
    if (strata_archive_agree(a->comm, rc) < 0) return -1;

    for (int i = 0; i < a->n_streams; i++) {
        char name[128];
        snprintf(name, sizeof name, "/activations/%s", a->streams[i].info.name);
        a->streams[i].dset = H5Dopen2(a->file, name, H5P_DEFAULT);
        STRATA_CHECK_H5_HINT(a->streams[i].dset, a->partial);
    }
    a->status_dset = H5Dopen2(a->file, "/samples/status", H5P_DEFAULT);
    a->error_dset = H5Dopen2(a->file, "/samples/error", H5P_DEFAULT);
    STRATA_CHECK_H5_HINT(a->status_dset, a->partial);
    STRATA_CHECK_H5_HINT(a->error_dset, a->partial);
    if (H5Lexists(a->file, "/progress", H5P_DEFAULT) <= 0 ||
        H5Lexists(a->file, "/progress/round_done", H5P_DEFAULT) <= 0)
        rc = strata_error_set("%s: cannot resume: missing dataset /progress/round_done",
                              a->partial);
    if (strata_archive_agree(a->comm, rc) < 0) return -1;
    a->round_dset = H5Dopen2(a->file, "/progress/round_done", H5P_DEFAULT);
    STRATA_CHECK_H5_HINT(a->round_dset, a->partial);

    /* The round plan depends on the number of ranks: keep the recorded rounds only when this
     * run plans the same rounds on as many ranks; otherwise start the bookkeeping again
     * (/samples/status still says which samples are done). */
    hid_t space = H5Dget_space(a->round_dset);
    hsize_t n_on_disk = 0;
    H5Sget_simple_extent_dims(space, &n_on_disk, NULL);
    H5Sclose(space);
    int64_t ranks_on_disk = -1;
    strata_h5_read_attr_int64(a->file, "n_ranks", &ranks_on_disk);
    if ((int64_t)n_on_disk == a->n_rounds && ranks_on_disk == a->size) {
        if (a->n_rounds > 0)
            STRATA_CHECK_H5(H5Dread(a->round_dset, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL,
                                    H5P_DEFAULT, a->round_done));
    } else {
        int n = a->n_rounds;
        a->n_rounds = (int)n_on_disk;
        if (strata_archive_set_rounds(a, n) < 0) return -1;
        STRATA_CHECK_H5(strata_h5_write_attr_int64(a->file, "n_ranks", a->size));
    }
    return 0;
}

strata_archive *strata_archive_create(MPI_Comm comm, const char *path,
                                      const strata_archive_spec *spec, int overwrite)
{
    if (check_spec(path, spec) < 0) return NULL;
    strata_archive *a = strata_calloc(1, sizeof *a);
    a->comm = comm;
    MPI_Comm_rank(comm, &a->rank);
    MPI_Comm_size(comm, &a->size);
    a->path = strata_strdup(path);
    a->partial = strata_malloc(strlen(path) + 9);
    sprintf(a->partial, "%s.partial", path);
    a->file = a->dxpl = a->status_dset = a->error_dset = a->round_dset = -1;
    a->half_type = strata_h5_half_type();
    a->n_samples = spec->n_samples;
    a->status = strata_calloc((size_t)(a->n_samples ? a->n_samples : 1), 1);
    a->n_rounds = spec->n_rounds;
    a->round_done = strata_calloc((size_t)(a->n_rounds ? a->n_rounds : 1), 1);
    a->last_io_mode = -1;
    a->n_streams = spec->n_streams;
    a->streams = strata_calloc((size_t)a->n_streams, sizeof *a->streams);
    for (int i = 0; i < a->n_streams; i++) {
        writer_stream *w = &a->streams[i];
        w->info = spec->streams[i];
        w->dset = -1;
        w->info.layers = strata_malloc((size_t)w->info.n_layers * sizeof(int));
        memcpy(w->info.layers, spec->streams[i].layers, (size_t)w->info.n_layers * sizeof(int));
        w->info.row_offset = NULL;
        if (w->info.ragged) {
            size_t bytes = (size_t)(a->n_samples + 1) * sizeof(int64_t);
            w->info.row_offset = strata_malloc(bytes);
            memcpy(w->info.row_offset, spec->streams[i].row_offset, bytes);
        }
        w->info.n_rows = stream_rows(&w->info, a->n_samples);
        w->info.overflow_count = 0;
    }
    a->dxpl = H5Pcreate(H5P_DATASET_XFER);
    STRATA_CHECK_H5(H5Pset_dxpl_mpio(a->dxpl, H5FD_MPIO_COLLECTIVE));

    /* rank 0 decides from the file system: new file, resume, or refuse */
    int action = 0, rc = 0; /* 0 create, 1 resume */
    if (a->rank == 0) {
        struct stat st;
        if (stat(path, &st) == 0 && !overwrite) {
            rc = strata_error_set("%s exists already; use --overwrite to replace it, or another "
                                  "output name", path);
        } else if (overwrite) {
            if ((unlink(path) != 0 && errno != ENOENT) ||
                (unlink(a->partial) != 0 && errno != ENOENT))
                rc = strata_error_set("%s: cannot remove the old archive: %s", path,
                                      strerror(errno));
        } else if (stat(a->partial, &st) == 0) {
            action = 1;
        }
    }
    MPI_Bcast(&action, 1, MPI_INT, 0, comm);
    if (strata_archive_agree(comm, rc) < 0) {
        close_archive(a);
        return NULL;
    }
    if (action == 1) {
        if (open_for_resume(a, spec) < 0) {
            close_archive(a);
            return NULL;
        }
        return a;
    }
    hid_t fapl = file_access(comm);
    a->file = H5Fcreate(a->partial, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    H5Pclose(fapl);
    rc = 0;
    if (a->file < 0) {
        char stack[512];
        strata_h5_error_text(stack, sizeof stack);
        rc = strata_error_set("%s: cannot create: %s", a->partial, stack);
    }
    if (strata_archive_agree(comm, rc) < 0) {
        close_archive(a);
        return NULL;
    }
    create_layout(a, spec);
    return a;
}

const int8_t *strata_archive_status(const strata_archive *a) { return a->status; }

int strata_archive_round_done(const strata_archive *a, int round)
{
    return round >= 0 && round < a->n_rounds && a->round_done[round];
}

int strata_archive_set_rounds(strata_archive *a, int n_rounds)
{
    if (strata_archive_agree(a->comm, n_rounds < 0 ? strata_error_set("%s: negative number of "
                                                                      "rounds", a->partial) : 0) < 0)
        return -1;
    hsize_t n = (hsize_t)n_rounds;
    STRATA_CHECK_H5_HINT(H5Dset_extent(a->round_dset, &n), a->partial);
    free(a->round_done);
    a->n_rounds = n_rounds;
    a->round_done = strata_calloc((size_t)(n_rounds ? n_rounds : 1), 1);
    write_1d(a, a->round_dset, H5T_NATIVE_UINT8, 0, a->rank == 0 ? n_rounds : 0, a->round_done);
    STRATA_CHECK_H5_HINT(H5Fflush(a->file, H5F_SCOPE_GLOBAL), a->partial);
    return 0;
}

/* Checks one rank's round before anything collective happens. */
static int check_round(const strata_archive *a, int round, const strata_archive_round *r)
{
    if (round < 0 || round >= a->n_rounds)
        return strata_error_set("%s: round %d out of range (the archive plans %d rounds)",
                                a->partial, round, a->n_rounds);
    if (r->sample_begin < 0 || r->sample_end < r->sample_begin || r->sample_end > a->n_samples)
        return strata_error_set("%s: round %d: samples [%lld, %lld) outside [0, %lld)",
                                a->partial, round, (long long)r->sample_begin,
                                (long long)r->sample_end, (long long)a->n_samples);
    int64_t n = r->sample_end - r->sample_begin;
    if (n == 0) return 0;
    if (!r->status || !r->data)
        return strata_error_set("%s: round %d: rows without status or data", a->partial, round);
    for (int64_t i = 0; i < n; i++)
        if (r->status[i] != STRATA_SAMPLE_OK && r->status[i] != STRATA_SAMPLE_FAILED)
            return strata_error_set("%s: round %d: sample %lld has status %d (ok or failed "
                                    "expected)", a->partial, round,
                                    (long long)(r->sample_begin + i), r->status[i]);
    for (int s = 0; s < a->n_streams; s++)
        if (!r->data[s])
            return strata_error_set("%s: round %d: no data for stream '%s'", a->partial, round,
                                    a->streams[s].info.name);
    return 0;
}

/* Collective write of this rank's rows of one stream; returns the f16 overflows. */
static int64_t write_stream(strata_archive *a, writer_stream *w, const strata_archive_round *r,
                            const float *data)
{
    strata_stream_info *s = &w->info;
    if (s->n_rows == 0) return 0; /* an empty dataset: nothing to write, on every rank */
    int64_t row0 = s->ragged ? s->row_offset[r->sample_begin] : r->sample_begin;
    int64_t row1 = s->ragged ? s->row_offset[r->sample_end] : r->sample_end;
    int64_t rows = row1 - row0, count = (int64_t)s->n_layers * rows * s->hidden_size;
    hid_t fspace = H5Dget_space(w->dset), mspace;
    if (rows > 0) {
        hsize_t start[3] = {0, (hsize_t)row0, 0};
        hsize_t cnt[3] = {(hsize_t)s->n_layers, (hsize_t)rows, (hsize_t)s->hidden_size};
        STRATA_CHECK_H5(H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start, NULL, cnt, NULL));
        mspace = H5Screate_simple(3, cnt, NULL);
    } else {
        hsize_t one = 1;
        mspace = H5Screate_simple(1, &one, NULL);
        H5Sselect_none(mspace);
        H5Sselect_none(fspace);
    }
    int64_t overflow = 0;
    static const float dummy[1];
    const void *buf = rows > 0 ? (const void *)data : (const void *)dummy;
    uint16_t *half = NULL;
    hid_t mtype = H5T_NATIVE_FLOAT;
    if (s->dtype == STRATA_DTYPE_F16) {
        mtype = a->half_type; /* memory type == file type: no conversion in HDF5 */
        if (rows > 0) {
            half = strata_malloc((size_t)count * sizeof *half);
            /* convert sample by sample: overflows count only for samples not already ok on
             * disk, so that a round redone after a resume does not count them twice */
            for (int l = 0; l < s->n_layers; l++)
                for (int64_t i = r->sample_begin; i < r->sample_end; i++) {
                    int64_t first = s->ragged ? s->row_offset[i] : i;
                    int64_t n = (s->ragged ? s->row_offset[i + 1] : i + 1) - first;
                    size_t at = ((size_t)l * (size_t)rows + (size_t)(first - row0)) *
                                (size_t)s->hidden_size;
                    int64_t o = strata_f32_to_f16_array(data + at, half + at, n * s->hidden_size);
                    if (a->status[i] != STRATA_SAMPLE_OK) overflow += o;
                }
            buf = half;
        }
    }
    STRATA_CHECK_H5_HINT(H5Dwrite(w->dset, mtype, mspace, fspace, a->dxpl, buf), a->partial);
    H5D_mpio_actual_io_mode_t mode;
    /* the round's mode is the first stream's, unless a later stream was not collective */
    int prev = a->last_io_mode;
    if (H5Pget_mpio_actual_io_mode(a->dxpl, &mode) >= 0 &&
        (prev < 0 || prev == H5D_MPIO_CHUNK_COLLECTIVE || prev == H5D_MPIO_CONTIGUOUS_COLLECTIVE))
        a->last_io_mode = (int)mode;
    free(half);
    H5Sclose(mspace);
    H5Sclose(fspace);
    return overflow;
}

/* After the data writes: every rank learns every rank's statuses (strata_archive_status is
 * global) and f16 overflow counts, in one Allgatherv of [n_streams int64 counts, statuses] per
 * rank. ranges: [size][3] from the round's first Allgather. Returns the summed counts. */
static int64_t *exchange_status(strata_archive *a, const int64_t *ranges,
                                const strata_archive_round *r, const int64_t *overflow)
{
    size_t head = (size_t)a->n_streams * sizeof(int64_t);
    int *counts = strata_malloc((size_t)a->size * sizeof *counts);
    int *displs = strata_malloc((size_t)a->size * sizeof *displs);
    int total = 0;
    for (int p = 0; p < a->size; p++) {
        counts[p] = (int)(head + (size_t)(ranges[3 * p + 2] - ranges[3 * p + 1]));
        displs[p] = total;
        total += counts[p];
    }
    int64_t n = r->sample_end - r->sample_begin;
    char *mine = strata_malloc(head + (size_t)n), *all = strata_malloc((size_t)total);
    memcpy(mine, overflow, head);
    if (n) memcpy(mine + head, r->status, (size_t)n);
    STRATA_CHECK_MPI(MPI_Allgatherv(mine, counts[a->rank], MPI_BYTE, all, counts, displs,
                                    MPI_BYTE, a->comm));
    int64_t *sum = strata_calloc((size_t)a->n_streams, sizeof *sum);
    for (int p = 0; p < a->size; p++) {
        for (int s = 0; s < a->n_streams; s++) {
            int64_t v;
            memcpy(&v, all + displs[p] + (size_t)s * sizeof v, sizeof v);
            sum[s] += v;
        }
        memcpy(a->status + ranges[3 * p + 1], all + displs[p] + head, (size_t)counts[p] - head);
    }
    free(mine);
    free(all);
    free(counts);
    free(displs);
    return sum;
}

int strata_archive_write_round(strata_archive *a, int round, const strata_archive_round *r)
{
    /* one Allgather tells every rank whether all rounds are valid and who writes what */
    int64_t mine[3] = {check_round(a, round, r), r->sample_begin, r->sample_end};
    int64_t *ranges = strata_malloc((size_t)a->size * sizeof mine);
    STRATA_CHECK_MPI(MPI_Allgather(mine, 3, MPI_INT64_T, ranges, 3, MPI_INT64_T, a->comm));
    for (int p = 0; p < a->size; p++)
        if (ranges[3 * p] < 0) { /* share the failing rank's message (a rare path) */
            free(ranges);
            strata_archive_agree(a->comm, (int)mine[0]);
            return -1;
        }
    int64_t begin = r->sample_begin, end = r->sample_end, n = end - begin;
    int64_t *overflow = strata_calloc((size_t)a->n_streams, sizeof *overflow);
    a->last_io_mode = -1;
    for (int s = 0; s < a->n_streams; s++)
        overflow[s] = write_stream(a, &a->streams[s], r, n ? r->data[s] : NULL);

    /* statuses and error messages of these samples (independent writes, see write_1d) */
    char *errors = strata_calloc((size_t)(n ? n : 1), STRATA_ARCHIVE_ERROR_LEN);
    for (int64_t i = 0; r->errors && i < n; i++) {
        const char *e = r->errors[i] ? r->errors[i] : "";
        size_t len = strlen(e);
        if (len > STRATA_ARCHIVE_ERROR_LEN - 1) { /* cut, but not inside a UTF-8 sequence */
            len = STRATA_ARCHIVE_ERROR_LEN - 1;
            while (len > 0 && ((unsigned char)e[len] & 0xc0) == 0x80) len--;
        }
        memcpy(errors + (size_t)i * STRATA_ARCHIVE_ERROR_LEN, e, len);
    }
    hid_t err_type = fixed_string_type(STRATA_ARCHIVE_ERROR_LEN);
    write_1d(a, a->status_dset, H5T_NATIVE_INT8, begin, end, r->status);
    write_1d(a, a->error_dset, err_type, begin, end, errors);
    H5Tclose(err_type);
    free(errors);

    /* overflow counts (attributes: the same value from every rank), then the round mark */
    int64_t *sum = exchange_status(a, ranges, r, overflow);
    for (int s = 0; s < a->n_streams; s++) {
        if (!sum[s]) continue;
        a->streams[s].overflow_count += sum[s];
        STRATA_CHECK_H5(strata_h5_write_attr_int64(a->streams[s].dset, "overflow_count",
                                                   a->streams[s].overflow_count));
    }
    free(sum);
    free(overflow);
    free(ranges);
    uint8_t one = 1;
    write_1d(a, a->round_dset, H5T_NATIVE_UINT8, round, a->rank == 0 ? round + 1 : round, &one);
    STRATA_CHECK_H5_HINT(H5Fflush(a->file, H5F_SCOPE_GLOBAL), a->partial);
    a->round_done[round] = 1;
    return 0;
}

int strata_archive_finish(strata_archive *a)
{
    int64_t pending = 0;
    for (int64_t i = 0; i < a->n_samples; i++) pending += a->status[i] == STRATA_SAMPLE_PENDING;
    if (pending) {
        strata_error_set("%s: cannot mark complete: %lld of %lld samples are still pending "
                         "(the .partial stays, resumable)", a->partial, (long long)pending,
                         (long long)a->n_samples);
        close_archive(a);
        return -1;
    }
    STRATA_CHECK_H5(strata_h5_write_attr_int64(a->file, "complete", 1));
    MPI_Comm comm = a->comm;
    int rank = a->rank, rc = 0;
    char *path = strata_strdup(a->path), *partial = strata_strdup(a->partial);
    close_archive(a); /* collective H5Fclose: everything is on disk after it */
    if (rank == 0 && rename(partial, path) != 0)
        rc = strata_error_set("cannot rename %s to %s: %s", partial, path, strerror(errno));
    rc = strata_archive_agree(comm, rc);
    free(path);
    free(partial);
    return rc;
}

void strata_archive_close(strata_archive *a)
{
    if (!a) return;
    if (a->file >= 0) H5Fflush(a->file, H5F_SCOPE_GLOBAL);
    close_archive(a);
}

int strata_archive_last_io_mode(const strata_archive *a) { return a->last_io_mode; }

/* ---- per-sample scalars (issue 10: /nll/caption) -------------------------------------------- */
int strata_archive_write_sample_f64(strata_archive *a, const char *path, int64_t begin,
                                    int64_t end, const double *values, int n_attrs,
                                    const char *const *attr_names, const char *const *attr_text,
                                    const double *attr_num)
{
    if (begin < 0 || end < begin || end > a->n_samples || path[0] != '/')
        return strata_error_set("%s: %s: bad sample range [%lld, %lld) of %lld", a->partial, path,
                                (long long)begin, (long long)end, (long long)a->n_samples);
    hid_t d;
    if (H5Lexists(a->file, path, H5P_DEFAULT) > 0) {
        d = H5Dopen2(a->file, path, H5P_DEFAULT);
        STRATA_CHECK_H5_HINT(d, path);
        /* a resumed run must say the same (e.g. the same interventions): same on every rank */
        for (int i = 0; i < n_attrs; i++) {
            if (!attr_text[i]) continue;
            char *have = strata_h5_read_attr_string(d, attr_names[i]);
            int same = have && strcmp(have, attr_text[i]) == 0;
            if (!same) {
                strata_error_set("%s: %s was written with %s '%s', this run has '%s' (start again "
                                 "with --overwrite)", a->partial, path, attr_names[i],
                                 have ? have : "(none)", attr_text[i]);
                free(have);
                H5Dclose(d);
                return -1;
            }
            free(have);
        }
    } else {
        /* parent groups, one level at a time */
        char part[1024];
        for (const char *c = strchr(path + 1, '/'); c; c = strchr(c + 1, '/')) {
            snprintf(part, sizeof part, "%.*s", (int)(c - path), path);
            if (H5Lexists(a->file, part, H5P_DEFAULT) <= 0) H5Gclose(make_group(a->file, part));
        }
        hsize_t dim = (hsize_t)a->n_samples;
        hid_t space = H5Screate_simple(1, &dim, NULL), dcpl = H5Pcreate(H5P_DATASET_CREATE);
        double nan = NAN;
        STRATA_CHECK_H5(H5Pset_fill_value(dcpl, H5T_NATIVE_DOUBLE, &nan));
        STRATA_CHECK_H5(H5Pset_alloc_time(dcpl, H5D_ALLOC_TIME_EARLY));
        STRATA_CHECK_H5(H5Pset_fill_time(dcpl, H5D_FILL_TIME_ALLOC));
        d = H5Dcreate2(a->file, path, H5T_IEEE_F64LE, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
        STRATA_CHECK_H5_HINT(d, path);
        H5Pclose(dcpl);
        H5Sclose(space);
        for (int i = 0; i < n_attrs; i++) {
            if (attr_text[i]) {
                STRATA_CHECK_H5(strata_h5_write_attr_string(d, attr_names[i], attr_text[i]));
            } else {
                hid_t sp = H5Screate(H5S_SCALAR);
                hid_t at = H5Acreate2(d, attr_names[i], H5T_IEEE_F64LE, sp, H5P_DEFAULT, H5P_DEFAULT);
                STRATA_CHECK_H5_HINT(at, attr_names[i]);
                STRATA_CHECK_H5(H5Awrite(at, H5T_NATIVE_DOUBLE, &attr_num[i]));
                H5Aclose(at);
                H5Sclose(sp);
            }
        }
    }
    write_1d(a, d, H5T_NATIVE_DOUBLE, begin, end, values);
    H5Dclose(d);
    return 0;
}
