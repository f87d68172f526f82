/* safetensors.h — reading (mmap) and writing Hugging Face safetensors files, one file or a
 * sharded checkpoint (model.safetensors.index.json). Format: 8-byte little-endian header length
 * N, N bytes of JSON {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {...}},
 * then the data; offsets are relative to the end of the header.
 * The header is untrusted: length, JSON, dtype, shape x itemsize == span, spans inside the file
 * and not overlapping are all checked; errors name the file, the tensor and the problem. */
#ifndef STRATA_SAFETENSORS_H
#define STRATA_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    STRATA_ST_F32, STRATA_ST_F16, STRATA_ST_BF16, STRATA_ST_F64, STRATA_ST_I64, STRATA_ST_I32,
    STRATA_ST_I16, STRATA_ST_I8, STRATA_ST_U8, STRATA_ST_BOOL, STRATA_ST_NTYPES
} strata_st_dtype;

#define STRATA_ST_MAX_DIMS 8

typedef struct {
    const char *name;
    strata_st_dtype dtype;
    int ndim;
    int64_t shape[STRATA_ST_MAX_DIMS];
    int64_t numel;
    const void *data;  /* inside the read-only mapping, valid until close */
    size_t nbytes;
    const char *path;  /* the file that holds it */
} strata_st_tensor;

typedef struct strata_safetensors strata_safetensors;

/* One .safetensors file. NULL + strata_error ("<path>: <problem>") on any header problem. */
strata_safetensors *strata_safetensors_open(const char *path);
/* The same from bytes in memory (borrowed: they must outlive the handle); name is used in
 * messages. For tests and fuzzing. */
strata_safetensors *strata_safetensors_open_memory(const void *data, size_t size, const char *name);
/* A checkpoint folder: dir/model.safetensors.index.json (sharded) if present, else
 * dir/model.safetensors. */
strata_safetensors *strata_safetensors_open_dir(const char *dir);
void strata_safetensors_close(strata_safetensors *st);

int strata_safetensors_count(const strata_safetensors *st);
const strata_st_tensor *strata_safetensors_at(const strata_safetensors *st, int i);
/* NULL when absent (no error set) */
const strata_st_tensor *strata_safetensors_find(const strata_safetensors *st, const char *name);
/* sha256 (hex) over the JSON headers of all files, in file-name order: a weights fingerprint
 * that does not read the data. */
const char *strata_safetensors_headers_sha256(const strata_safetensors *st);

const char *strata_st_dtype_name(strata_st_dtype t); /* "F32", "BF16", ... */
size_t strata_st_dtype_size(strata_st_dtype t);

/* Writing: tensors in the given order, data contiguous. 0 or -1 with strata_error. */
typedef struct {
    const char *name;
    strata_st_dtype dtype;
    int ndim;
    int64_t shape[STRATA_ST_MAX_DIMS];
    const void *data; /* numel * itemsize bytes */
} strata_st_write_tensor;
int strata_safetensors_write(const char *path, const strata_st_write_tensor *tensors, int n);

#endif
