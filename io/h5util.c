/* h5util.c — see h5util.h. Relies on HDF5 1.10's C API only (no high-level library); string
 * handling follows the HDF5 user guide on fixed- and variable-length strings. */
#include "io/h5util.h"

#include <stdlib.h>
#include <string.h>

#include "strata.h"

static int write_attr(hid_t obj, const char *name, hid_t type, hid_t space, const void *buf)
{
    if (H5Aexists(obj, name) > 0 && H5Adelete(obj, name) < 0) return -1;
    hid_t attr = H5Acreate2(obj, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
    if (attr < 0) return -1;
    herr_t rc = H5Awrite(attr, type, buf);
    H5Aclose(attr);
    return rc < 0 ? -1 : 0;
}

int strata_h5_write_attr_string(hid_t obj, const char *name, const char *value)
{
    if (!value) value = "";
    /* variable length, as h5py writes them, so that h5py reads str (not bytes); attributes
     * are metadata, which parallel HDF5 writes in variable length too */
    hid_t type = H5Tcopy(H5T_C_S1);
    H5Tset_size(type, H5T_VARIABLE);
    H5Tset_cset(type, H5T_CSET_UTF8);
    hid_t space = H5Screate(H5S_SCALAR);
    int rc = write_attr(obj, name, type, space, &value);
    H5Sclose(space);
    H5Tclose(type);
    return rc;
}

int strata_h5_write_attr_int64(hid_t obj, const char *name, int64_t value)
{
    hid_t space = H5Screate(H5S_SCALAR);
    int rc = write_attr(obj, name, H5T_NATIVE_INT64, space, &value);
    H5Sclose(space);
    return rc;
}

int strata_h5_write_attr_ints(hid_t obj, const char *name, const int *values, int n)
{
    hsize_t dim = (hsize_t)n;
    hid_t space = n > 0 ? H5Screate_simple(1, &dim, NULL) : H5Screate(H5S_NULL);
    int rc = write_attr(obj, name, H5T_NATIVE_INT, space, values);
    H5Sclose(space);
    return rc;
}

/* Opens attribute `name` if it exists and has at most one element. */
static hid_t open_scalar_attr(hid_t obj, const char *name)
{
    if (H5Aexists(obj, name) <= 0) return -1;
    hid_t attr = H5Aopen(obj, name, H5P_DEFAULT);
    if (attr < 0) return -1;
    hid_t space = H5Aget_space(attr);
    hssize_t n = space >= 0 ? H5Sget_simple_extent_npoints(space) : -1;
    if (space >= 0) H5Sclose(space);
    if (n != 1) {
        H5Aclose(attr);
        return -1;
    }
    return attr;
}

char *strata_h5_read_attr_string(hid_t obj, const char *name)
{
    hid_t attr = open_scalar_attr(obj, name);
    if (attr < 0) return NULL;
    char *out = NULL;
    hid_t ftype = H5Aget_type(attr);
    if (ftype >= 0 && H5Tget_class(ftype) == H5T_STRING) {
        hid_t mtype = H5Tcopy(H5T_C_S1);
        H5Tset_cset(mtype, H5Tget_cset(ftype)); /* HDF5 converts no ASCII <-> UTF-8 */
        if (H5Tis_variable_str(ftype) > 0) {
            H5Tset_size(mtype, H5T_VARIABLE);
            char *s = NULL;
            if (H5Aread(attr, mtype, &s) >= 0) {
                out = strata_strdup(s ? s : "");
                H5free_memory(s);
            }
        } else {
            size_t size = H5Tget_size(ftype);
            H5Tset_size(mtype, size + 1); /* room for a terminator even for NULLPAD strings */
            out = strata_calloc(size + 2, 1);
            if (H5Aread(attr, mtype, out) < 0) {
                free(out);
                out = NULL;
            }
        }
        H5Tclose(mtype);
    }
    if (ftype >= 0) H5Tclose(ftype);
    H5Aclose(attr);
    return out;
}

int strata_h5_read_attr_int64(hid_t obj, const char *name, int64_t *out)
{
    hid_t attr = open_scalar_attr(obj, name);
    if (attr < 0) return -1;
    hid_t ftype = H5Aget_type(attr);
    int rc = -1;
    if (ftype >= 0 && H5Tget_class(ftype) == H5T_INTEGER &&
        H5Aread(attr, H5T_NATIVE_INT64, out) >= 0)
        rc = 0;
    if (ftype >= 0) H5Tclose(ftype);
    H5Aclose(attr);
    return rc;
}

int *strata_h5_read_attr_ints(hid_t obj, const char *name, int *n)
{
    *n = 0;
    if (H5Aexists(obj, name) <= 0) return NULL;
    hid_t attr = H5Aopen(obj, name, H5P_DEFAULT);
    if (attr < 0) return NULL;
    hid_t space = H5Aget_space(attr), ftype = H5Aget_type(attr);
    hssize_t count = H5Sget_simple_extent_npoints(space);
    int *values = NULL;
    if (H5Tget_class(ftype) == H5T_INTEGER && count >= 0 && count < (1 << 24)) {
        values = strata_malloc((size_t)(count ? count : 1) * sizeof *values);
        if (count > 0 && H5Aread(attr, H5T_NATIVE_INT, values) < 0) {
            free(values);
            values = NULL;
        } else {
            *n = (int)count;
        }
    }
    H5Tclose(ftype);
    H5Sclose(space);
    H5Aclose(attr);
    return values;
}

char **strata_h5_read_strings(hid_t dset, int64_t n)
{
    char **out = strata_calloc((size_t)(n > 0 ? n : 1), sizeof *out);
    hid_t ftype = H5Dget_type(dset);
    if (ftype < 0 || H5Tget_class(ftype) != H5T_STRING) {
        if (ftype >= 0) H5Tclose(ftype);
        free(out);
        return NULL;
    }
    hid_t mtype = H5Tcopy(H5T_C_S1);
    H5Tset_cset(mtype, H5Tget_cset(ftype));
    int ok = 1;
    if (n == 0) {
        /* nothing to read */
    } else if (H5Tis_variable_str(ftype) > 0) {
        H5Tset_size(mtype, H5T_VARIABLE);
        char **raw = strata_calloc((size_t)n, sizeof *raw);
        hid_t space = H5Dget_space(dset);
        if (H5Dread(dset, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, raw) >= 0) {
            for (int64_t i = 0; i < n; i++) out[i] = strata_strdup(raw[i] ? raw[i] : "");
            H5Dvlen_reclaim(mtype, space, H5P_DEFAULT, raw);
        } else {
            ok = 0;
        }
        H5Sclose(space);
        free(raw);
    } else {
        size_t size = H5Tget_size(ftype) + 1; /* one more byte: always terminated */
        H5Tset_size(mtype, size);
        size_t total;
        char *raw = NULL;
        if (strata_mul_size(size, (size_t)n, &total) == 0) raw = strata_calloc(total, 1);
        if (raw && H5Dread(dset, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, raw) >= 0) {
            for (int64_t i = 0; i < n; i++) out[i] = strata_strdup(raw + (size_t)i * size);
        } else {
            ok = 0;
        }
        free(raw);
    }
    H5Tclose(mtype);
    H5Tclose(ftype);
    if (!ok) {
        strata_h5_free_strings(out, n);
        return NULL;
    }
    for (int64_t i = 0; i < n; i++)
        if (!out[i]) out[i] = strata_strdup("");
    return out;
}

void strata_h5_free_strings(char **s, int64_t n)
{
    if (!s) return;
    for (int64_t i = 0; i < n; i++) free(s[i]);
    free(s);
}

hid_t strata_h5_half_type(void)
{
    /* sign bit 15, exponent bits 10..14, mantissa bits 0..9, bias 15: as h5py's float16 */
    hid_t t = H5Tcopy(H5T_IEEE_F32LE);
    H5Tset_fields(t, 15, 10, 5, 0, 10);
    H5Tset_size(t, 2);
    H5Tset_precision(t, 16);
    H5Tset_ebias(t, 15);
    return t;
}

struct error_text {
    char *buf;
    size_t size, used;
};

static herr_t collect_error(unsigned n, const H5E_error2_t *e, void *data)
{
    struct error_text *t = data;
    if (!e->desc || !*e->desc || t->used + 3 >= t->size) return 0;
    int w = snprintf(t->buf + t->used, t->size - t->used, "%s%s", t->used ? "; " : "", e->desc);
    if (w > 0) t->used += (size_t)w < t->size - t->used ? (size_t)w : t->size - t->used - 1;
    return 0;
}

void strata_h5_error_text(char *buf, size_t size)
{
    struct error_text t = {buf, size, 0};
    if (size) buf[0] = 0;
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, collect_error, &t);
}
