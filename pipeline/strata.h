/* strata.h — what every strata source file shares: version, error reporting, logging, and the
 * check macros for MPI and HDF5 (CUDA/cuBLAS ones live in kernels/cuda/).
 *
 * Errors come in two kinds (see DESIGN.md, Errors):
 *  - recoverable (bad sample, bad input file): the function sets a message with strata_error_set()
 *    and returns a negative value; the caller records or prints strata_error_get().
 *  - fatal inside collective code (an MPI or HDF5 call failed): the STRATA_CHECK_* macros print
 *    the call, file:line, the rank and the decoded error, then MPI_Abort the whole job. */
#ifndef STRATA_H
#define STRATA_H

#include <stddef.h>
#include <stdint.h>

#define STRATA_VERSION "0.1.0"

/* Exit codes of the strata program (documented in README and slurm/ templates). */
enum {
    STRATA_EXIT_OK = 0,
    STRATA_EXIT_FAILURE = 1,   /* bad input, refused before work, or a fatal error */
    STRATA_EXIT_USAGE = 2,     /* bad command line */
    STRATA_EXIT_REQUEUE = 75,  /* stopped by SIGTERM/SIGUSR1 after a clean flush: resume later */
};

/* ---- recoverable errors: a thread-local message ------------------------------------------ */
/* Sets the calling thread's error message (printf-style). Always returns -1 so that
 * `return strata_error_set(...)` reads naturally. */
int strata_error_set(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The calling thread's last message ("" if none). Valid until the next set on this thread. */
const char *strata_error_get(void);
/* Prefix the current message with "<prefix>: " (used to add a file name on the way up). */
void strata_error_prefix(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- process identity and logging --------------------------------------------------------- */
/* Rank and size in MPI_COMM_WORLD once MPI is initialised (0 and 1 before). */
int strata_rank(void);
int strata_nranks(void);
/* Log to stderr, prefixed "strata[rank]: ". strata_log0 prints on rank 0 only. */
void strata_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void strata_log0(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Print "strata[rank]: error: <msg>" and abort the whole job (MPI_Abort if MPI is initialised,
 * exit(1) otherwise). Never returns. */
void strata_fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* ---- allocation: abort with a message when memory runs out --------------------------------- */
void *strata_malloc(size_t n);
void *strata_calloc(size_t count, size_t size);
void *strata_realloc(void *p, size_t n);
char *strata_strdup(const char *s);
/* Overflow-checked size arithmetic: returns 0 and sets *out, or -1 on overflow. */
int strata_mul_size(size_t a, size_t b, size_t *out);

/* ---- small helpers ------------------------------------------------------------------------ */
double strata_now(void); /* monotonic seconds */
/* splitmix64 (Steele, Lea & Flood 2014): advances *state, returns the next 64 random bits.
 * The one seeded generator of strata (folds, bootstrap, sampling, synthetic data). */
uint64_t strata_splitmix64(uint64_t *state);
/* numpy.percentile(v, q) with its default linear method; sorts v [n >= 1] in place. */
double strata_percentile(double *v, int64_t n, double q);
/* Reads a whole file into a NUL-terminated buffer; returns NULL with strata_error set. */
char *strata_read_file(const char *path, size_t *len_out);
/* Hex sha256 (65 bytes incl. NUL) of a buffer / of a file. File variant returns -1 on error. */
void strata_sha256_hex(const void *data, size_t len, char out[65]);
int strata_sha256_file(const char *path, char out[65]);

/* ---- check macros for fatal library errors ------------------------------------------------ */
/* MPI: decode with MPI_Error_string and abort. */
#define STRATA_CHECK_MPI(call)                                                                  \
    do {                                                                                        \
        int strata_mpi_rc_ = (call);                                                            \
        if (strata_mpi_rc_ != 0) strata_check_mpi_failed(strata_mpi_rc_, #call, __FILE__, __LINE__); \
    } while (0)
/* HDF5: any negative return is fatal; the HDF5 error stack is printed. */
#define STRATA_CHECK_H5(call)                                                                   \
    do {                                                                                        \
        if ((long long)(call) < 0) strata_check_h5_failed(#call, __FILE__, __LINE__, NULL);     \
    } while (0)
/* Same, with a hint line (e.g. the file name involved). */
#define STRATA_CHECK_H5_HINT(call, hint)                                                        \
    do {                                                                                        \
        if ((long long)(call) < 0) strata_check_h5_failed(#call, __FILE__, __LINE__, (hint));   \
    } while (0)

void strata_check_mpi_failed(int rc, const char *call, const char *file, int line)
    __attribute__((noreturn));
void strata_check_h5_failed(const char *call, const char *file, int line, const char *hint)
    __attribute__((noreturn));

#endif
