/* figures_read.c — the few HDF5 reads the figures need: walk groups, read numeric datasets and
 * attributes as doubles, with shapes and types checked (results files may come from others).
 * Relies on the HDF5 C API (1.10); errors name the dataset and what was expected. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/figures_model.h"
#include "strata.h"

/* Largest dataset drawn: a figure never needs more (a 4096 x 4096 CKA matrix at most). */
#define FIG_MAX_ELEMENTS ((size_t)1 << 24)

int fig_h5_exists(hid_t file, const char *path)
{
    if (strcmp(path, "/") == 0) return 1;
    char buf[1024];
    size_t len = strlen(path);
    if (len == 0 || len >= sizeof buf || path[0] != '/') return 0;
    memcpy(buf, path, len + 1);
    /* Check each prefix: H5Lexists fails (rather than says no) when a parent is missing. */
    for (size_t i = 1; i <= len; i++) {
        if (buf[i] != '/' && buf[i] != '\0') continue;
        char saved = buf[i];
        buf[i] = '\0';
        htri_t link = H5Lexists(file, buf, H5P_DEFAULT);
        htri_t object = link > 0 ? H5Oexists_by_name(file, buf, H5P_DEFAULT) : 0;
        buf[i] = saved;
        if (link <= 0 || object <= 0) return 0;
    }
    return 1;
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int fig_h5_children(hid_t file, const char *path, int want_groups, char ***names)
{
    *names = strata_calloc(1, sizeof(char *));
    if (!fig_h5_exists(file, path)) return 0;
    hid_t group = H5Oopen(file, path, H5P_DEFAULT);
    if (group < 0) return 0;
    if (H5Iget_type(group) != H5I_GROUP) {
        H5Oclose(group);
        return 0;
    }
    H5G_info_t info;
    int count = 0;
    if (H5Gget_info(group, &info) >= 0) {
        *names = strata_realloc(*names, (info.nlinks + 1) * sizeof(char *));
        for (hsize_t i = 0; i < info.nlinks; i++) {
            char name[512];
            ssize_t len = H5Lget_name_by_idx(group, ".", H5_INDEX_NAME, H5_ITER_INC, i, name,
                                             sizeof name, H5P_DEFAULT);
            if (len <= 0 || (size_t)len >= sizeof name) continue;
            hid_t child = H5Oopen(group, name, H5P_DEFAULT);
            if (child < 0) continue; /* dangling soft or external link */
            H5I_type_t type = H5Iget_type(child);
            H5Oclose(child);
            if ((want_groups && type == H5I_GROUP) || (!want_groups && type == H5I_DATASET))
                (*names)[count++] = strata_strdup(name);
        }
    }
    (*names)[count] = NULL;
    H5Oclose(group);
    qsort(*names, (size_t)count, sizeof(char *), compare_names);
    return count;
}

void fig_free_names(char **names)
{
    if (!names) return;
    for (char **p = names; *p; p++) free(*p);
    free(names);
}

static int numeric_type(hid_t type)
{
    H5T_class_t cls = H5Tget_class(type);
    return cls == H5T_FLOAT || cls == H5T_INTEGER;
}

int fig_h5_read(hid_t file, const char *path, int rank, size_t dims[2], double **data)
{
    *data = NULL;
    if (!fig_h5_exists(file, path)) return 0;
    hid_t object = H5Oopen(file, path, H5P_DEFAULT);
    if (object < 0) return 0;
    if (H5Iget_type(object) != H5I_DATASET) {
        H5Oclose(object);
        return strata_error_set("%s is a group, expected a dataset", path);
    }
    hid_t type = H5Dget_type(object), space = H5Dget_space(object);
    int got_rank = H5Sget_simple_extent_ndims(space);
    hsize_t h5dims[2] = {0, 0};
    int rc = 1;
    if (!numeric_type(type)) {
        rc = strata_error_set("%s: expected a numeric dataset", path);
    } else if (got_rank != rank) {
        rc = strata_error_set("%s has rank %d, expected %d", path, got_rank, rank);
    } else {
        H5Sget_simple_extent_dims(space, h5dims, NULL);
        dims[0] = (size_t)h5dims[0];
        dims[1] = rank == 2 ? (size_t)h5dims[1] : 1;
        size_t count = 0;
        if (dims[0] == 0 || dims[1] == 0 || strata_mul_size(dims[0], dims[1], &count) != 0 ||
            count > FIG_MAX_ELEMENTS) {
            rc = strata_error_set("%s: %zu x %zu elements, expected 1 to %zu", path, dims[0],
                                  dims[1], FIG_MAX_ELEMENTS);
        } else {
            *data = strata_malloc(count * sizeof(double));
            if (H5Dread(object, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, *data) < 0) {
                free(*data);
                *data = NULL;
                rc = strata_error_set("%s: HDF5 could not read it as doubles", path);
            }
        }
    }
    H5Sclose(space);
    H5Tclose(type);
    H5Oclose(object);
    return rc;
}

/* Opens attribute name on the object at path, or returns 0 (absent). */
static hid_t open_attr(hid_t file, const char *path, const char *name)
{
    if (!fig_h5_exists(file, path)) return 0;
    if (H5Aexists_by_name(file, path, name, H5P_DEFAULT) <= 0) return 0;
    hid_t attr = H5Aopen_by_name(file, path, name, H5P_DEFAULT, H5P_DEFAULT);
    return attr < 0 ? 0 : attr;
}

int fig_h5_attr_array(hid_t file, const char *path, const char *name, size_t n, double **values)
{
    *values = NULL;
    hid_t attr = open_attr(file, path, name);
    if (attr <= 0) return 0;
    hid_t type = H5Aget_type(attr), space = H5Aget_space(attr);
    hssize_t count = H5Sget_simple_extent_npoints(space);
    int rc = 1;
    if (!numeric_type(type) || H5Sget_simple_extent_ndims(space) != 1 || count != (hssize_t)n) {
        rc = strata_error_set("%s@%s: expected %zu numbers, found %lld", path, name, n,
                              (long long)count);
    } else {
        *values = strata_malloc(n * sizeof(double));
        if (H5Aread(attr, H5T_NATIVE_DOUBLE, *values) < 0) {
            free(*values);
            *values = NULL;
            rc = strata_error_set("%s@%s: HDF5 could not read it", path, name);
        }
    }
    H5Sclose(space);
    H5Tclose(type);
    H5Aclose(attr);
    return rc;
}

int fig_h5_attr_double(hid_t file, const char *path, const char *name, double *value)
{
    hid_t attr = open_attr(file, path, name);
    if (attr <= 0) return 0;
    hid_t type = H5Aget_type(attr), space = H5Aget_space(attr);
    int rc = 1;
    if (!numeric_type(type) || H5Sget_simple_extent_npoints(space) != 1 ||
        H5Aread(attr, H5T_NATIVE_DOUBLE, value) < 0)
        rc = strata_error_set("%s@%s: expected one number", path, name);
    H5Sclose(space);
    H5Tclose(type);
    H5Aclose(attr);
    return rc;
}

int fig_h5_attr_string(hid_t file, const char *path, const char *name, char *buf, size_t size)
{
    hid_t attr = open_attr(file, path, name);
    if (attr <= 0) return 0;
    hid_t type = H5Aget_type(attr), space = H5Aget_space(attr);
    int rc = 1;
    buf[0] = '\0';
    if (H5Tget_class(type) != H5T_STRING || H5Sget_simple_extent_npoints(space) != 1) {
        rc = strata_error_set("%s@%s: expected one string", path, name);
    } else if (H5Tis_variable_str(type) > 0) {
        char *value = NULL;
        hid_t mem = H5Tcopy(H5T_C_S1);
        H5Tset_size(mem, H5T_VARIABLE);
        H5Tset_cset(mem, H5Tget_cset(type)); /* h5py writes UTF-8; HDF5 will not convert */
        if (H5Aread(attr, mem, &value) >= 0 && value) {
            snprintf(buf, size, "%s", value);
            H5free_memory(value);
        } else {
            rc = strata_error_set("%s@%s: HDF5 could not read the string", path, name);
        }
        H5Tclose(mem);
    } else {
        size_t len = H5Tget_size(type);
        char *value = strata_calloc(len + 1, 1);
        hid_t mem = H5Tcopy(H5T_C_S1);
        H5Tset_size(mem, len + 1);
        H5Tset_cset(mem, H5Tget_cset(type));
        if (H5Aread(attr, mem, value) >= 0)
            snprintf(buf, size, "%s", value);
        else
            rc = strata_error_set("%s@%s: HDF5 could not read the string", path, name);
        H5Tclose(mem);
        free(value);
    }
    H5Sclose(space);
    H5Tclose(type);
    H5Aclose(attr);
    return rc;
}
