/* archive.h — the HDF5 activation archive, format version 1 (DESIGN.md, "Activation archive").
 * Written by P ranks with MPI-IO in collective rounds; read by analysis (any number of ranks)
 * and by h5py with no strata installed.
 *
 * Writer life cycle (all calls collective over the communicator given to create):
 *   a = strata_archive_create(comm, "out.h5", &spec, overwrite)
 *       writes "out.h5.partial" (or reopens it to resume, checking that it matches spec)
 *   strata_archive_status(a) -> which samples are already done (resume: redo the pending ones)
 *   for each round r: strata_archive_write_round(a, r, &round)   every rank, maybe empty
 *   strata_archive_finish(a)   complete=1, close, rename to "out.h5"
 *   (or strata_archive_close(a) when interrupted: the .partial stays, resumable)
 *
 * Reader: r = strata_archive_open(comm, path) validates format/version/datasets/shapes and
 * fills the public fields; strata_archive_read_rows() reads a row block of one layer as f32.
 *
 * Notes (io/archive.c, io/archive_read.c):
 *  - Errors from any call are agreed over the communicator: every rank gets -1/NULL and the
 *    same message (the lowest failing rank's). HDF5/MPI failures inside collective writes are
 *    fatal (STRATA_CHECK_H5: MPI_Abort with the call and the file).
 *  - Resume: create() on an existing .partial (overwrite == 0) checks that ids, streams, layers,
 *    hidden sizes, dtypes and row offsets match; /samples/status is the truth about what is
 *    done. round_done is kept only if this run plans as many rounds on as many ranks as the
 *    one that wrote it; otherwise it is reset to all not done.
 *  - overflow_count (per stream attribute) counts f16 overflows of samples whose status was
 *    not ok before their round, so rounds redone after a resume are not counted twice.
 *  - /samples/error strings are cut to 255 bytes (fixed length 256, on a UTF-8 boundary).
 *  - String attributes are written variable length (h5py reads them as str); ids and errors
 *    are fixed-length datasets. The reader accepts both kinds everywhere. */
#ifndef STRATA_ARCHIVE_H
#define STRATA_ARCHIVE_H

#include <mpi.h>
#include <stdint.h>

#define STRATA_ARCHIVE_FORMAT "strata-activations"
#define STRATA_ARCHIVE_VERSION 1

typedef enum { STRATA_DTYPE_F32 = 0, STRATA_DTYPE_F16 = 1 } strata_dtype;
enum { STRATA_SAMPLE_PENDING = 0, STRATA_SAMPLE_OK = 1, STRATA_SAMPLE_FAILED = 2 };

/* One captured stream: dataset /activations/<name> of shape [n_layers, n_rows, hidden_size]. */
typedef struct {
    char name[64];       /* "image", "caption", "image_last", "vision", ... */
    char site[16];       /* "llm" | "vision" | "connector" */
    char pool[32];       /* "mean" | "last" | "first" | "all" | "sample:K" */
    int n_layers;        /* number of kept layers (first dimension) */
    int *layers;         /* [n_layers] kept layer indices (0 = embedding output) */
    int hidden_size;     /* D */
    strata_dtype dtype;  /* on disk */
    int ragged;          /* 1 when rows per sample vary (pool=all or sample:K) */
    int64_t *row_offset; /* ragged only: [n_samples + 1], sample i owns rows [ro[i], ro[i+1]) */
    int64_t n_rows;      /* = n_samples for pooled streams, row_offset[n_samples] if ragged */
    int64_t overflow_count; /* reader: f16 values that overflowed to inf when written */
} strata_stream_info;

/* What the writer is asked to create. Strings may be NULL (written as ""). */
typedef struct {
    const char *command_line;
    const char *model_name, *architecture, *config_json, *weights_sha256;
    const char *dtype_on_disk, *compute_dtype, *backend;
    const char *manifest_path, *manifest_sha256;
    int64_t n_samples;
    const char *const *ids;     /* [n_samples] manifest ids */
    int n_streams;
    const strata_stream_info *streams; /* [n_streams]; overflow_count ignored */
    int n_rounds;               /* size of /progress/round_done */
} strata_archive_spec;

/* One rank's part of one collective round: a contiguous run of samples (maybe empty). */
typedef struct {
    int64_t sample_begin, sample_end;  /* [begin, end) manifest indices; begin == end: no rows */
    const int8_t *status;              /* [end - begin] STRATA_SAMPLE_OK or _FAILED */
    const char *const *errors;         /* [end - begin] messages ("" when ok); NULL: all "" */
    /* [n_streams] buffers, each [n_layers][rows][hidden_size] float32, rows = end - begin for
     * pooled streams, row_offset[end] - row_offset[begin] for ragged ones. Failed samples'
     * rows are written as given (zeros expected). */
    const float *const *data;
} strata_archive_round;

typedef struct strata_archive strata_archive;

/* Create "<path>.partial" (or reopen it to resume when it exists and overwrite == 0; a spec
 * that does not match it is an error naming what differs). Refuses when "<path>" itself
 * exists as a complete archive unless overwrite. Returns NULL with strata_error set (same
 * result on every rank). */
strata_archive *strata_archive_create(MPI_Comm comm, const char *path,
                                      const strata_archive_spec *spec, int overwrite);
/* [n_samples] statuses as on disk (all ranks get the whole array; owned by the archive). */
const int8_t *strata_archive_status(const strata_archive *a);
/* Is round r recorded as done? (resume bookkeeping) */
int strata_archive_round_done(const strata_archive *a, int round);
/* Resize /progress/round_done to n rounds, all not done (a resumed run that re-plans). */
int strata_archive_set_rounds(strata_archive *a, int n_rounds);
/* Collective: write this rank's rows, statuses, errors; mark the round done; flush. */
int strata_archive_write_round(strata_archive *a, int round, const strata_archive_round *r);
/* Collective: set complete=1, close and rename .partial to the final name. Frees a. */
int strata_archive_finish(strata_archive *a);
/* Collective: close without completing (the .partial stays resumable). Frees a. */
void strata_archive_close(strata_archive *a);
/* After a round, the MPI-IO mode HDF5 really used for this rank's activation writes
 * (H5D_mpio_actual_io_mode_t as int: the first stream's, or the first stream's that was not
 * collective), for tests. */
int strata_archive_last_io_mode(const strata_archive *a);
/* Collective: writes elements [begin, end) (maybe empty) of a per-sample float64 dataset
 * `path` [n_samples] (e.g. "/nll/caption"; parent groups made as needed). The first call creates
 * it filled with NaN (samples never written, e.g. failed ones, stay NaN) and sets its
 * attributes: attr_names[i] = attr_text[i], or the number attr_num[i] where attr_text[i] is NULL
 * (same values on every rank). A resumed archive keeps the dataset and its attributes; a
 * string attribute given with another value than the stored one is an error (-1). */
int strata_archive_write_sample_f64(strata_archive *a, const char *path, int64_t begin,
                                    int64_t end, const double *values, int n_attrs,
                                    const char *const *attr_names, const char *const *attr_text,
                                    const double *attr_num);

/* ---- reading --------------------------------------------------------------------------- */
typedef struct strata_archive_reader {
    char *path;
    int format_version, complete;
    char *model_name, *architecture, *config_json, *backend, *dtype_on_disk;
    char *manifest_path, *manifest_sha256, *strata_version, *created_utc, *command_line;
    int64_t n_samples;
    char **ids;          /* [n_samples] */
    int8_t *status;      /* [n_samples] */
    char **errors;       /* [n_samples] */
    int n_streams;
    strata_stream_info *streams; /* [n_streams] */
    void *priv;          /* implementation state (HDF5 handles) */
} strata_archive_reader;

/* Open and validate (collective over comm; use MPI_COMM_SELF for one process). NULL with
 * strata_error naming the file and the problem: not HDF5, wrong format, newer version,
 * missing dataset, shape mismatch, truncated. */
strata_archive_reader *strata_archive_open(MPI_Comm comm, const char *path);
/* Index of a stream by name, -1 if absent. */
int strata_archive_find_stream(const strata_archive_reader *r, const char *name);
/* Read rows [row_begin, row_end) of kept layer position `layer_pos` of stream `stream` into
 * out [(row_end-row_begin) * hidden_size] as f32 (f16 converted). If ok_mask is not NULL it
 * gets 1 for rows whose sample has status ok, 0 otherwise. Independent I/O (any rank, any
 * time). Returns 0, or -1 with strata_error set. */
int strata_archive_read_rows(strata_archive_reader *r, int stream, int layer_pos,
                             int64_t row_begin, int64_t row_end, float *out, uint8_t *ok_mask);
/* Collective over the communicator given to open (MPI-IO closes collectively). */
void strata_archive_reader_close(strata_archive_reader *r);

/* f32 -> IEEE half, round to nearest even, overflow to +-inf (as numpy's astype(float16)).
 * Returns the number of finite inputs that overflowed. */
int64_t strata_f32_to_f16_array(const float *in, uint16_t *out, int64_t n);
void strata_f16_to_f32_array(const uint16_t *in, float *out, int64_t n);

#endif
