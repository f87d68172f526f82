/* h5util.h — small HDF5 helpers shared by the archive, results files and `strata inspect`:
 * string and integer attributes (readers accept fixed- and variable-length strings, as h5py
 * writes the latter), whole string datasets, the IEEE half type, and the HDF5 error stack
 * as one line for messages. All return -1 / NULL on failure without printing. */
#ifndef STRATA_H5UTIL_H
#define STRATA_H5UTIL_H

#include <hdf5.h>
#include <stdint.h>

/* Scalar attribute writers. In a parallel file every rank calls them with the same value. */
int strata_h5_write_attr_string(hid_t obj, const char *name, const char *value); /* UTF-8 */
int strata_h5_write_attr_int64(hid_t obj, const char *name, int64_t value);
int strata_h5_write_attr_ints(hid_t obj, const char *name, const int *values, int n); /* [n] */

/* String attribute (scalar or one element, fixed or variable length) as a malloc'd string;
 * NULL when missing or not a string. */
char *strata_h5_read_attr_string(hid_t obj, const char *name);
/* Integer attribute (scalar or one element): 0, or -1 when missing or not an integer. */
int strata_h5_read_attr_int64(hid_t obj, const char *name, int64_t *out);
/* 1-D integer attribute as a malloc'd int array of *n elements; NULL when missing. */
int *strata_h5_read_attr_ints(hid_t obj, const char *name, int *n);

/* A 1-D string dataset of n elements, fixed or variable length, read whole: a malloc'd array
 * of n malloc'd strings, or NULL on error. Free with strata_h5_free_strings. */
char **strata_h5_read_strings(hid_t dset, int64_t n);
void strata_h5_free_strings(char **s, int64_t n);

/* IEEE 754 binary16, little endian (what h5py reads as float16). Close with H5Tclose. */
hid_t strata_h5_half_type(void);

/* The current HDF5 error stack as "desc; desc; ..." (innermost first), for messages. */
void strata_h5_error_text(char *buf, size_t size);

#endif
