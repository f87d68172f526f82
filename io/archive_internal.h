/* archive_internal.h — shared between the archive writer (archive.c) and reader
 * (archive_read.c): loading and validating format v1 metadata from an open HDF5 file, and
 * agreeing on errors across ranks. Not part of the public API. */
#ifndef STRATA_ARCHIVE_INTERNAL_H
#define STRATA_ARCHIVE_INTERNAL_H

#include <hdf5.h>

#include "io/archive.h"

/* Fixed length (bytes incl. the terminator) of /samples/error strings; longer messages are cut. */
#define STRATA_ARCHIVE_ERROR_LEN 256

typedef struct {
    hid_t file;
    hid_t *activations;  /* [n_streams] dataset handles */
    hid_t half_type;
} strata_archive_priv;

/* Read and validate everything the reader struct holds from `file` (named `path` in messages):
 * format, version, samples, streams, shapes. Opens the activation datasets into r->priv (whose
 * `file` is set to `file`). Does not close `file`. Returns 0, or -1 with strata_error set. */
int strata_archive_load(hid_t file, const char *path, strata_archive_reader *r);
/* Free what strata_archive_load filled (closes the datasets it opened, not the file). */
void strata_archive_unload(strata_archive_reader *r);

/* Collective: every rank passes its own rc (0 or -1). Returns 0 when all succeeded; otherwise
 * -1 on every rank, with the lowest failing rank's error message copied to all. */
int strata_archive_agree(MPI_Comm comm, int rc);

/* A message for a failed H5Fopen/H5Fcreate of `path` from the HDF5 error stack: says
 * "truncated" when HDF5 found the file shorter than its superblock says. */
void strata_archive_open_error(const char *path, const char *what);

#endif
