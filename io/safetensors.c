/* safetensors.c — mmap reader and writer for the safetensors format (huggingface/safetensors
 * README: header length u64 LE, JSON header, data). Relies on jansson for the JSON and on
 * OpenSSL (via strata_sha256_hex) for the header fingerprint. Every header field is checked
 * before use: the file is untrusted. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/safetensors.h"
#include "strata.h"

#define MAX_HEADER_BYTES (100u << 20) /* the reference implementation's limit */

typedef struct {
    char *path;
    void *map;
    size_t size;
    size_t header_len;
    int mapped; /* 1: munmap at close; 0: a caller's buffer */
} st_file;

struct strata_safetensors {
    st_file *files;
    int n_files;
    strata_st_tensor *tensors; /* sorted by name */
    int n_tensors;
    char sha[65];
};

static const struct {
    const char *name;
    size_t size;
} dtype_table[STRATA_ST_NTYPES] = {
    [STRATA_ST_F32] = {"F32", 4}, [STRATA_ST_F16] = {"F16", 2}, [STRATA_ST_BF16] = {"BF16", 2},
    [STRATA_ST_F64] = {"F64", 8}, [STRATA_ST_I64] = {"I64", 8}, [STRATA_ST_I32] = {"I32", 4},
    [STRATA_ST_I16] = {"I16", 2}, [STRATA_ST_I8] = {"I8", 1},   [STRATA_ST_U8] = {"U8", 1},
    [STRATA_ST_BOOL] = {"BOOL", 1},
};

const char *strata_st_dtype_name(strata_st_dtype t)
{
    return (unsigned)t < STRATA_ST_NTYPES ? dtype_table[t].name : "?";
}
size_t strata_st_dtype_size(strata_st_dtype t)
{
    return (unsigned)t < STRATA_ST_NTYPES ? dtype_table[t].size : 0;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const strata_st_tensor *)a)->name, ((const strata_st_tensor *)b)->name);
}
static int by_begin(const void *a, const void *b)
{
    const strata_st_tensor *x = *(strata_st_tensor *const *)a, *y = *(strata_st_tensor *const *)b;
    return x->data < y->data ? -1 : x->data > y->data;
}

/* Maps path and appends its tensors to st. 0 or -1 with strata_error naming the file. */
static int parse_buffer(strata_safetensors *st, const char *path, void *map, size_t size, int mapped);

static int open_file(strata_safetensors *st, const char *path)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0) return strata_error_set("%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        close(fd);
        return strata_error_set("%s: cannot stat: %s", path, strerror(errno));
    }
    size_t size = (size_t)sb.st_size;
    if (size < 8) {
        close(fd);
        return strata_error_set("%s: truncated: %zu bytes, too short for the 8-byte header length",
                                path, size);
    }
    void *map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED) return strata_error_set("%s: cannot mmap: %s", path, strerror(errno));
    return parse_buffer(st, path, map, size, 1);
}

/* Appends the tensors of one file's bytes (mapped: unmapped at close; else borrowed). */
static int parse_buffer(strata_safetensors *st, const char *path, void *map, size_t size, int mapped)
{
    st->files = strata_realloc(st->files, (size_t)(st->n_files + 1) * sizeof *st->files);
    st_file *f = &st->files[st->n_files++];
    f->path = strata_strdup(path);
    f->map = map;
    f->size = size;
    f->mapped = mapped;
    f->header_len = 0;
    if (size < 8)
        return strata_error_set("%s: truncated: %zu bytes, too short for the 8-byte header length",
                                path, size);

    const unsigned char *p = map;
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = (n << 8) | p[i];
    if (n > size - 8)
        return strata_error_set("%s: header length %llu runs past the end of the file (%zu bytes):"
                                " truncated or not a safetensors file",
                                path, (unsigned long long)n, size);
    if (n > MAX_HEADER_BYTES)
        return strata_error_set("%s: header length %llu exceeds the %u-byte limit", path,
                                (unsigned long long)n, MAX_HEADER_BYTES);
    f->header_len = n;
    json_error_t jerr;
    json_t *root = json_loadb((const char *)p + 8, n, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return strata_error_set("%s: header is not valid JSON: %s (byte %d)", path, jerr.text,
                                jerr.position);
    if (!json_is_object(root)) {
        json_decref(root);
        return strata_error_set("%s: header is not a JSON object", path);
    }
    size_t data_size = size - 8 - n;
    const char *data0 = (const char *)p + 8 + n;
    int first = st->n_tensors;
    const char *key;
    json_t *val;
    int rc = 0;
    json_object_foreach(root, key, val) {
        if (!strcmp(key, "__metadata__")) continue;
        if (!json_is_object(val)) {
            rc = strata_error_set("%s: tensor '%s': entry is not an object", path, key);
            break;
        }
        json_t *jd = json_object_get(val, "dtype"), *js = json_object_get(val, "shape"),
               *jo = json_object_get(val, "data_offsets");
        if (!json_is_string(jd) || !json_is_array(js) || !json_is_array(jo) ||
            json_array_size(jo) != 2) {
            rc = strata_error_set("%s: tensor '%s': expected dtype (string), shape (array) and "
                                  "data_offsets ([begin, end])", path, key);
            break;
        }
        strata_st_tensor t = {0};
        t.dtype = STRATA_ST_NTYPES;
        for (int d = 0; d < STRATA_ST_NTYPES; d++)
            if (!strcmp(json_string_value(jd), dtype_table[d].name)) t.dtype = (strata_st_dtype)d;
        if (t.dtype == STRATA_ST_NTYPES) {
            rc = strata_error_set("%s: tensor '%s': unknown dtype '%s'", path, key,
                                  json_string_value(jd));
            break;
        }
        if (json_array_size(js) > STRATA_ST_MAX_DIMS) {
            rc = strata_error_set("%s: tensor '%s': %zu dimensions (at most %d)", path, key,
                                  json_array_size(js), STRATA_ST_MAX_DIMS);
            break;
        }
        t.ndim = (int)json_array_size(js);
        size_t numel = 1;
        for (int d = 0; d < t.ndim && rc == 0; d++) {
            json_t *e = json_array_get(js, (size_t)d);
            if (!json_is_integer(e) || json_integer_value(e) < 0)
                rc = strata_error_set("%s: tensor '%s': shape[%d] is not a non-negative integer",
                                      path, key, d);
            else if (strata_mul_size(numel, (size_t)json_integer_value(e), &numel) != 0)
                rc = strata_error_set("%s: tensor '%s': shape overflows", path, key);
            else
                t.shape[d] = json_integer_value(e);
        }
        if (rc) break;
        json_t *jb = json_array_get(jo, 0), *je = json_array_get(jo, 1);
        if (!json_is_integer(jb) || !json_is_integer(je) || json_integer_value(jb) < 0 ||
            json_integer_value(je) < json_integer_value(jb)) {
            rc = strata_error_set("%s: tensor '%s': data_offsets must be integers 0 <= begin <= end",
                                  path, key);
            break;
        }
        uint64_t b = (uint64_t)json_integer_value(jb), e = (uint64_t)json_integer_value(je);
        size_t nbytes;
        if (strata_mul_size(numel, dtype_table[t.dtype].size, &nbytes) != 0 || nbytes != e - b) {
            rc = strata_error_set("%s: tensor '%s': shape x itemsize = %zu x %zu bytes does not "
                                  "match its data span [%llu, %llu) of %llu bytes", path, key,
                                  numel, dtype_table[t.dtype].size, (unsigned long long)b,
                                  (unsigned long long)e, (unsigned long long)(e - b));
            break;
        }
        if (e > data_size) {
            rc = strata_error_set("%s: tensor '%s': data span [%llu, %llu) runs past the end of "
                                  "the data (%zu bytes): the file is truncated", path, key,
                                  (unsigned long long)b, (unsigned long long)e, data_size);
            break;
        }
        t.name = strata_strdup(key);
        t.numel = (int64_t)numel;
        t.data = data0 + b;
        t.nbytes = nbytes;
        t.path = f->path;
        st->tensors = strata_realloc(st->tensors, (size_t)(st->n_tensors + 1) * sizeof *st->tensors);
        st->tensors[st->n_tensors++] = t;
    }
    json_decref(root);
    if (rc) return rc;

    /* spans must not overlap: sort this file's tensors by start */
    int nt = st->n_tensors - first;
    strata_st_tensor **order = strata_malloc((size_t)(nt > 0 ? nt : 1) * sizeof *order);
    for (int i = 0; i < nt; i++) order[i] = &st->tensors[first + i];
    qsort(order, (size_t)nt, sizeof *order, by_begin);
    const strata_st_tensor *prev = NULL;
    for (int i = 0; i < nt && rc == 0; i++) {
        const strata_st_tensor *t = order[i];
        if (t->nbytes == 0) continue;
        if (prev && (const char *)t->data < (const char *)prev->data + prev->nbytes)
            rc = strata_error_set("%s: tensors '%s' and '%s' have overlapping data spans", path,
                                  prev->name, t->name);
        prev = t;
    }
    free(order);
    return rc;
}

static strata_safetensors *finish(strata_safetensors *st)
{
    if (st->n_tensors > 1) /* an empty header ({}) has no array at all */
        qsort(st->tensors, (size_t)st->n_tensors, sizeof *st->tensors, by_name);
    for (int i = 1; i < st->n_tensors; i++)
        if (!strcmp(st->tensors[i - 1].name, st->tensors[i].name)) {
            strata_error_set("%s: tensor '%s' appears twice (also in %s)", st->tensors[i].path,
                             st->tensors[i].name, st->tensors[i - 1].path);
            strata_safetensors_close(st);
            return NULL;
        }
    /* fingerprint: sha256 of the concatenated headers, files in name order */
    size_t total = 0;
    for (int i = 0; i < st->n_files; i++) total += st->files[i].header_len;
    char *buf = strata_malloc(total + 1);
    size_t off = 0;
    for (int i = 0; i < st->n_files; i++) {
        memcpy(buf + off, (char *)st->files[i].map + 8, st->files[i].header_len);
        off += st->files[i].header_len;
    }
    strata_sha256_hex(buf, total, st->sha);
    free(buf);
    return st;
}

strata_safetensors *strata_safetensors_open_memory(const void *data, size_t size, const char *name)
{
    strata_safetensors *st = strata_calloc(1, sizeof *st);
    if (parse_buffer(st, name, (void *)data, size, 0) != 0) {
        strata_safetensors_close(st);
        return NULL;
    }
    return finish(st);
}

strata_safetensors *strata_safetensors_open(const char *path)
{
    strata_safetensors *st = strata_calloc(1, sizeof *st);
    if (open_file(st, path) != 0) {
        strata_safetensors_close(st);
        return NULL;
    }
    return finish(st);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

strata_safetensors *strata_safetensors_open_dir(const char *dir)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir);
    if (access(path, F_OK) != 0) {
        snprintf(path, sizeof path, "%s/model.safetensors", dir);
        return strata_safetensors_open(path);
    }
    json_error_t jerr;
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        strata_error_set("%s: line %d: %s", path, jerr.line, jerr.text);
        return NULL;
    }
    json_t *wm = json_object_get(root, "weight_map");
    if (!json_is_object(wm)) {
        json_decref(root);
        strata_error_set("%s: expected an object \"weight_map\": {tensor: file}", path);
        return NULL;
    }
    /* the distinct shard files, sorted */
    size_t n = json_object_size(wm), nf = 0;
    char **files = strata_malloc((n ? n : 1) * sizeof *files);
    const char *key;
    json_t *val;
    json_object_foreach(wm, key, val) {
        if (!json_is_string(val) || strchr(json_string_value(val), '/')) {
            strata_error_set("%s: weight_map['%s'] must be a file name in the same folder", path, key);
            free(files);
            json_decref(root);
            return NULL;
        }
        files[nf++] = (char *)json_string_value(val);
    }
    qsort(files, nf, sizeof *files, cmp_str);
    strata_safetensors *st = strata_calloc(1, sizeof *st);
    int rc = 0;
    for (size_t i = 0; i < nf && rc == 0; i++) {
        if (i > 0 && !strcmp(files[i], files[i - 1])) continue;
        char shard[4096];
        snprintf(shard, sizeof shard, "%s/%s", dir, files[i]);
        rc = open_file(st, shard);
    }
    free(files);
    if (rc == 0 && finish(st) == NULL) st = NULL, rc = -1;
    /* every tensor the index names must be in the file it names */
    if (rc == 0) {
        json_object_foreach(wm, key, val) {
            const strata_st_tensor *t = strata_safetensors_find(st, key);
            const char *base = t ? strrchr(t->path, '/') : NULL;
            if (!t || strcmp(base ? base + 1 : t->path, json_string_value(val)) != 0) {
                strata_error_set("%s: tensor '%s' is listed in %s but not found there", path, key,
                                 json_string_value(val));
                rc = -1;
                break;
            }
        }
    }
    json_decref(root);
    if (rc != 0) {
        strata_safetensors_close(st);
        return NULL;
    }
    return st;
}

void strata_safetensors_close(strata_safetensors *st)
{
    if (!st) return;
    for (int i = 0; i < st->n_tensors; i++) free((char *)st->tensors[i].name);
    for (int i = 0; i < st->n_files; i++) {
        if (st->files[i].mapped) munmap(st->files[i].map, st->files[i].size);
        free(st->files[i].path);
    }
    free(st->tensors);
    free(st->files);
    free(st);
}

int strata_safetensors_count(const strata_safetensors *st) { return st->n_tensors; }
const strata_st_tensor *strata_safetensors_at(const strata_safetensors *st, int i)
{
    return &st->tensors[i];
}
const strata_st_tensor *strata_safetensors_find(const strata_safetensors *st, const char *name)
{
    strata_st_tensor key = {.name = name};
    return bsearch(&key, st->tensors, (size_t)st->n_tensors, sizeof key, by_name);
}
const char *strata_safetensors_headers_sha256(const strata_safetensors *st) { return st->sha; }

int strata_safetensors_write(const char *path, const strata_st_write_tensor *t, int n)
{
    json_t *root = json_object();
    json_object_set_new(root, "__metadata__", json_pack("{s:s}", "format", "pt"));
    uint64_t off = 0;
    for (int i = 0; i < n; i++) {
        json_t *shape = json_array();
        size_t numel = 1;
        for (int d = 0; d < t[i].ndim; d++) {
            json_array_append_new(shape, json_integer(t[i].shape[d]));
            numel *= (size_t)t[i].shape[d];
        }
        uint64_t nb = numel * strata_st_dtype_size(t[i].dtype);
        json_object_set_new(root, t[i].name,
                            json_pack("{s:s,s:o,s:[I,I]}", "dtype", strata_st_dtype_name(t[i].dtype),
                                      "shape", shape, "data_offsets", (json_int_t)off,
                                      (json_int_t)(off + nb)));
        off += nb;
    }
    char *header = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(root);
    size_t hl = strlen(header), padded = (hl + 7) / 8 * 8; /* pad with spaces to 8 bytes */
    FILE *fp = fopen(path, "wb");
    if (!fp) {
        free(header);
        return strata_error_set("%s: cannot create: %s", path, strerror(errno));
    }
    unsigned char len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (unsigned char)((uint64_t)padded >> (8 * i));
    int ok = fwrite(len8, 1, 8, fp) == 8 && fwrite(header, 1, hl, fp) == hl;
    for (size_t i = hl; i < padded && ok; i++) ok = fputc(' ', fp) != EOF;
    free(header);
    for (int i = 0; i < n && ok; i++) {
        size_t numel = 1;
        for (int d = 0; d < t[i].ndim; d++) numel *= (size_t)t[i].shape[d];
        size_t nb = numel * strata_st_dtype_size(t[i].dtype);
        ok = fwrite(t[i].data, 1, nb, fp) == nb;
    }
    if (fclose(fp) != 0) ok = 0;
    if (!ok) return strata_error_set("%s: write failed: %s", path, strerror(errno));
    return 0;
}
