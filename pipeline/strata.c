/* strata.c — error messages, logging, allocation and the fatal-error paths declared in strata.h.
 * Relies on MPI (rank, MPI_Abort), HDF5 (error stack printing) and OpenSSL (sha256). */
#define _GNU_SOURCE /* sched_getaffinity, CPU_COUNT */
#include "strata.h"

#include "commands.h"

#include <errno.h>
#include <sched.h>
#include <math.h>
#include <hdf5.h>
#include <mpi.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static _Thread_local char error_message[2048];

int strata_error_set(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(error_message, sizeof error_message, fmt, ap);
    va_end(ap);
    return -1;
}

const char *strata_error_get(void) { return error_message; }

void strata_error_prefix(const char *fmt, ...)
{
    char prefix[1024], old[sizeof error_message];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, error_message, sizeof old);
    snprintf(error_message, sizeof error_message, "%s: %s", prefix, old);
}

static int mpi_is_up(void)
{
    int init = 0, fin = 0;
    MPI_Initialized(&init);
    MPI_Finalized(&fin);
    return init && !fin;
}

int strata_rank(void)
{
    int r = 0;
    if (mpi_is_up()) MPI_Comm_rank(MPI_COMM_WORLD, &r);
    return r;
}

int strata_nranks(void)
{
    int n = 1;
    if (mpi_is_up()) MPI_Comm_size(MPI_COMM_WORLD, &n);
    return n;
}

static void vlog(const char *kind, const char *fmt, va_list ap)
{
    char line[4096];
    vsnprintf(line, sizeof line, fmt, ap);
    if (strata_nranks() > 1)
        fprintf(stderr, "strata[%d]: %s%s\n", strata_rank(), kind, line);
    else
        fprintf(stderr, "strata: %s%s\n", kind, line);
    fflush(stderr);
}

void strata_log(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog("", fmt, ap);
    va_end(ap);
}

void strata_log0(const char *fmt, ...)
{
    if (strata_rank() != 0) return;
    va_list ap;
    va_start(ap, fmt);
    vlog("", fmt, ap);
    va_end(ap);
}

void strata_fatal(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog("error: ", fmt, ap);
    va_end(ap);
    if (mpi_is_up() && strata_nranks() > 1) MPI_Abort(MPI_COMM_WORLD, STRATA_EXIT_FAILURE);
    exit(STRATA_EXIT_FAILURE);
}

void strata_check_mpi_failed(int rc, const char *call, const char *file, int line)
{
    char msg[MPI_MAX_ERROR_STRING] = "";
    int len = 0;
    MPI_Error_string(rc, msg, &len);
    strata_fatal("MPI call failed: %s at %s:%d: %s", call, file, line, msg);
}

void strata_check_h5_failed(const char *call, const char *file, int line, const char *hint)
{
    fprintf(stderr, "strata[%d]: HDF5 error stack:\n", strata_rank());
    H5Eprint2(H5E_DEFAULT, stderr);
    if (hint)
        strata_fatal("HDF5 call failed: %s at %s:%d\n  hint: %s", call, file, line, hint);
    strata_fatal("HDF5 call failed: %s at %s:%d", call, file, line);
}

void *strata_malloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) strata_fatal("out of memory allocating %zu bytes", n);
    return p;
}

void *strata_calloc(size_t count, size_t size)
{
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p) strata_fatal("out of memory allocating %zu x %zu bytes", count, size);
    return p;
}

void *strata_realloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q) strata_fatal("out of memory reallocating to %zu bytes", n);
    return q;
}

char *strata_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = strata_malloc(n);
    memcpy(d, s, n);
    return d;
}

int strata_mul_size(size_t a, size_t b, size_t *out)
{
    if (a != 0 && b > SIZE_MAX / a) return -1;
    *out = a * b;
    return 0;
}

double strata_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

uint64_t strata_splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static int compare_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double strata_percentile(double *v, int64_t n, double q)
{
    qsort(v, (size_t)n, sizeof(double), compare_double);
    double pos = q / 100.0 * (double)(n - 1); /* numpy: quantile * (n - 1) */
    int64_t lo = (int64_t)floor(pos);
    if (lo >= n - 1) return v[n - 1];
    return v[lo] + (pos - (double)lo) * (v[lo + 1] - v[lo]);
}

char *strata_read_file(const char *path, size_t *len_out)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        strata_error_set("%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 1 << 16, len = 0;
    char *buf = strata_malloc(cap);
    for (;;) {
        if (len + 1 >= cap) buf = strata_realloc(buf, cap *= 2);
        size_t got = fread(buf + len, 1, cap - len - 1, f);
        len += got;
        if (got == 0) break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        strata_error_set("%s: read error", path);
        return NULL;
    }
    buf[len] = 0;
    if (len_out) *len_out = len;
    return buf;
}

static void to_hex(const unsigned char *md, unsigned n, char *out)
{
    static const char hex[] = "0123456789abcdef";
    for (unsigned i = 0; i < n; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[2 * n] = 0;
}

void strata_sha256_hex(const void *data, size_t len, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned n = 0;
    EVP_Digest(data, len, md, &n, EVP_sha256(), NULL);
    to_hex(md, n, out);
}

int strata_sha256_file(const char *path, char out[65])
{
    FILE *f = fopen(path, "rb");
    if (!f) return strata_error_set("%s: cannot open: %s", path, strerror(errno));
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
    unsigned char buf[1 << 16];
    size_t got;
    while ((got = fread(buf, 1, sizeof buf, f)) > 0) EVP_DigestUpdate(ctx, buf, got);
    int bad = ferror(f);
    fclose(f);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned n = 0;
    EVP_DigestFinal_ex(ctx, md, &n);
    EVP_MD_CTX_free(ctx);
    if (bad) return strata_error_set("%s: read error", path);
    to_hex(md, n, out);
    return 0;
}

int strata_threads_per_rank(MPI_Comm comm, int requested)
{
    if (requested > 0) return requested;
    /* The cores this process may run on (a Slurm allocation or an mpirun binding narrows
     * them), and their union over the node's ranks: unbound ranks share the union, bound ones
     * keep their own. */
    cpu_set_t mine, all;
    CPU_ZERO(&mine);
    if (sched_getaffinity(0, sizeof mine, &mine) != 0) {
        CPU_ZERO(&mine);
        for (long c = 0; c < sysconf(_SC_NPROCESSORS_ONLN) && c < CPU_SETSIZE; c++) CPU_SET(c, &mine);
    }
    MPI_Comm node;
    int local_size = 1;
    STRATA_CHECK_MPI(MPI_Comm_split_type(comm, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node));
    MPI_Comm_size(node, &local_size);
    STRATA_CHECK_MPI(MPI_Allreduce(&mine, &all, (int)sizeof mine, MPI_BYTE, MPI_BOR, node));
    MPI_Comm_free(&node);
    if (getenv("OMP_NUM_THREADS")) return 0;
    int own = CPU_COUNT(&mine), shared = CPU_COUNT(&all) / local_size;
    int threads = own < shared ? own : shared;
    return threads > 0 ? threads : 1;
}

int strata_is_help(const char *arg)
{
    return strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0;
}
