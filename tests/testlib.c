/* testlib.c — see testlib.h. */
#include "testlib.h"

#include <hdf5.h>
#include <mpi.h>
#include <stdlib.h>
#include <string.h>

int t_failures = 0;
static int we_initialised_mpi = 0;

long t_check_close(const char *what, const float *a, const float *b, long n, double tol,
                   double eps)
{
    long bad = 0;
    for (long i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (!(d <= tol + fabs((double)b[i]) * eps)) {
            if (bad < 5)
                fprintf(stderr, "  %s[%ld]: got %.9g expected %.9g\n", what, i, a[i], b[i]);
            bad++;
        }
    }
    if (bad) {
        fprintf(stderr, "FAIL %s: %ld of %ld elements out of bound\n", what, bad, n);
        t_failures++;
    }
    return bad;
}

double t_rel_error(const float *a, const float *b, long n)
{
    double num = 0, den = 0;
    for (long i = 0; i < n; i++) {
        double d = (double)a[i] - (double)b[i];
        num += d * d;
        den += (double)b[i] * (double)b[i];
    }
    if (den == 0) return num == 0 ? 0 : INFINITY;
    return sqrt(num / den);
}

const char *t_tmp_path(const char *name)
{
    static char buf[4096];
    const char *dir = getenv("STRATA_TEST_TMP");
    snprintf(buf, sizeof buf, "%s/%s", dir && *dir ? dir : "/tmp", name);
    return buf;
}

void t_mpi_init(int *argc, char ***argv)
{
    int provided;
    MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided);
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    we_initialised_mpi = 1;
}

int t_finish(const char *test_name)
{
    int failures = t_failures, rank = 0;
    if (we_initialised_mpi) {
        MPI_Allreduce(&t_failures, &failures, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
        MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    }
    if (rank == 0) printf("%s: %s (%d failures)\n", test_name, failures ? "FAIL" : "PASS", failures);
    if (we_initialised_mpi) {
        H5close();
        MPI_Finalize();
    }
    return failures ? 1 : 0;
}

int t_contains(const char *haystack, const char *needle)
{
    return haystack && needle && strstr(haystack, needle) != NULL;
}
