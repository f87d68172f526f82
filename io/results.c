/* results.c — writer and reader of the analysis results file (layout in results.h).
 * Relies on HDF5's serial (sec2) driver from one process; strings are variable-length UTF-8
 * attributes, which h5py reads as str. */
#include "io/results.h"

#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strata.h"

struct strata_results {
    hid_t file;
    char *path, *partial;
};

strata_results *strata_results_create(const char *path)
{
    strata_results *r = strata_calloc(1, sizeof *r);
    r->path = strata_strdup(path);
    size_t n = strlen(path) + 16;
    r->partial = strata_malloc(n);
    snprintf(r->partial, n, "%s.partial", path);
    r->file = H5Fcreate(r->partial, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (r->file < 0) {
        strata_error_set("%s: cannot create the results file (directory missing or not "
                         "writable?)", r->partial);
        free(r->partial);
        free(r->path);
        free(r);
        return NULL;
    }
    int64_t version = STRATA_RESULTS_VERSION;
    if (strata_results_attr_string(r, "/", "format", STRATA_RESULTS_FORMAT) < 0 ||
        strata_results_attr_int(r, "/", "format_version", 1, &version) < 0 ||
        strata_results_attr_string(r, "/", "strata_version", STRATA_VERSION) < 0) {
        strata_results_abort(r);
        return NULL;
    }
    return r;
}

/* Open obj as a group or dataset, creating it (and its parents) as a group when missing. */
static hid_t open_object(strata_results *r, const char *obj)
{
    if (strcmp(obj, "/") == 0) return H5Oopen(r->file, "/", H5P_DEFAULT);
    htri_t exists = H5Lexists(r->file, obj, H5P_DEFAULT);
    if (exists <= 0) {
        /* H5Lexists fails when a parent is missing: create the chain. */
        hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
        H5Pset_create_intermediate_group(lcpl, 1);
        hid_t g = H5Gcreate2(r->file, obj, lcpl, H5P_DEFAULT, H5P_DEFAULT);
        H5Pclose(lcpl);
        return g;
    }
    return H5Oopen(r->file, obj, H5P_DEFAULT);
}

int strata_results_write(strata_results *r, const char *path, int rank, const int64_t *dims,
                         const double *data)
{
    if (rank < 1 || rank > 4) return strata_error_set("%s: dataset rank %d not supported", path, rank);
    hsize_t hd[4];
    for (int i = 0; i < rank; i++) hd[i] = (hsize_t)dims[i];
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    hid_t space = H5Screate_simple(rank, hd, NULL);
    hid_t d = H5Dcreate2(r->file, path, H5T_IEEE_F64LE, space, lcpl, H5P_DEFAULT, H5P_DEFAULT);
    H5Pclose(lcpl);
    int rc = 0;
    if (d < 0) {
        rc = strata_error_set("%s: cannot create dataset %s (already written?)", r->path, path);
    } else if (H5Dwrite(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0) {
        rc = strata_error_set("%s: cannot write dataset %s", r->path, path);
    }
    if (d >= 0) H5Dclose(d);
    H5Sclose(space);
    return rc;
}

static int write_attr(strata_results *r, const char *obj, const char *name, hid_t file_type,
                      hid_t mem_type, int n, const void *values)
{
    hid_t o = open_object(r, obj);
    if (o < 0) return strata_error_set("%s: cannot open %s for attribute %s", r->path, obj, name);
    hsize_t hn = (hsize_t)n;
    hid_t space = n < 0 ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, &hn, NULL);
    if (H5Aexists(o, name) > 0) H5Adelete(o, name);
    hid_t a = H5Acreate2(o, name, file_type, space, H5P_DEFAULT, H5P_DEFAULT);
    int rc = 0;
    if (a < 0 || H5Awrite(a, mem_type, values) < 0)
        rc = strata_error_set("%s: cannot write attribute %s on %s", r->path, name, obj);
    if (a >= 0) H5Aclose(a);
    H5Sclose(space);
    H5Oclose(o);
    return rc;
}

int strata_results_attr_string(strata_results *r, const char *obj, const char *name,
                               const char *value)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, H5T_CSET_UTF8);
    const char *v = value ? value : "";
    int rc = write_attr(r, obj, name, t, t, -1, &v);
    H5Tclose(t);
    return rc;
}

int strata_results_attr_int(strata_results *r, const char *obj, const char *name, int n,
                            const int64_t *values)
{
    return write_attr(r, obj, name, H5T_STD_I64LE, H5T_NATIVE_INT64, n == 1 ? -1 : n, values);
}

int strata_results_attr_double(strata_results *r, const char *obj, const char *name, int n,
                               const double *values)
{
    return write_attr(r, obj, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, n == 1 ? -1 : n, values);
}

static void free_results(strata_results *r)
{
    free(r->path);
    free(r->partial);
    free(r);
}

int strata_results_close(strata_results *r)
{
    int rc = 0;
    if (H5Fclose(r->file) < 0) rc = strata_error_set("%s: closing the results file failed", r->partial);
    if (rc == 0 && rename(r->partial, r->path) != 0)
        rc = strata_error_set("%s: cannot rename to %s", r->partial, r->path);
    free_results(r);
    return rc;
}

void strata_results_abort(strata_results *r)
{
    H5Fclose(r->file);
    remove(r->partial);
    free_results(r);
}

int strata_results_read(const char *file, const char *path, int *rank, int64_t dims[4],
                        double **data)
{
    *data = NULL;
    hid_t f = -1, d = -1, space = -1;
    int rc = 0;
    H5E_BEGIN_TRY { f = H5Fopen(file, H5F_ACC_RDONLY, H5P_DEFAULT); } H5E_END_TRY;
    if (f < 0) return strata_error_set("%s: not an HDF5 file or unreadable", file);
    /* format check */
    hid_t a = -1;
    H5E_BEGIN_TRY { a = H5Aopen(f, "format", H5P_DEFAULT); } H5E_END_TRY;
    if (a < 0) {
        rc = strata_error_set("%s: no 'format' attribute: not a strata results file", file);
        goto done;
    }
    hid_t at = H5Aget_type(a);
    char *fmt = NULL;
    if (H5Tis_variable_str(at) > 0) {
        hid_t t = H5Tcopy(H5T_C_S1);
        H5Tset_size(t, H5T_VARIABLE);
        if (H5Aread(a, t, &fmt) < 0) fmt = NULL;
        H5Tclose(t);
    }
    int ok = fmt && strcmp(fmt, STRATA_RESULTS_FORMAT) == 0;
    if (fmt) H5free_memory(fmt);
    H5Tclose(at);
    H5Aclose(a);
    if (!ok) {
        rc = strata_error_set("%s: attribute format is not \"%s\"", file, STRATA_RESULTS_FORMAT);
        goto done;
    }
    H5E_BEGIN_TRY { d = H5Dopen2(f, path, H5P_DEFAULT); } H5E_END_TRY;
    if (d < 0) {
        rc = strata_error_set("%s: no dataset %s", file, path);
        goto done;
    }
    space = H5Dget_space(d);
    int nd = H5Sget_simple_extent_ndims(space);
    if (nd < 0 || nd > 4) {
        rc = strata_error_set("%s: %s has rank %d (expected <= 4)", file, path, nd);
        goto done;
    }
    hsize_t hd[4] = {1, 1, 1, 1};
    H5Sget_simple_extent_dims(space, hd, NULL);
    size_t count = 1;
    for (int i = 0; i < nd; i++) {
        dims[i] = (int64_t)hd[i];
        if (strata_mul_size(count, (size_t)hd[i], &count) < 0) {
            rc = strata_error_set("%s: %s is too large", file, path);
            goto done;
        }
    }
    *rank = nd;
    *data = strata_malloc(count ? count * sizeof(double) : 1);
    if (H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, *data) < 0) {
        free(*data);
        *data = NULL;
        rc = strata_error_set("%s: cannot read %s as float64", file, path);
    }
done:
    if (space >= 0) H5Sclose(space);
    if (d >= 0) H5Dclose(d);
    H5Fclose(f);
    return rc;
}
