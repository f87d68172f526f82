/* testlib.h — the few helpers every C test uses. Each rank counts its own failures
 * (T_CHECK); t_finish() reduces them with MPI_Allreduce(MAX) and rank 0 prints the verdict,
 * as HDF5's testpar does. Tests without MPI call t_finish() too (it works with MPI down). */
#ifndef STRATA_TESTLIB_H
#define STRATA_TESTLIB_H

#include <math.h>
#include <stdio.h>

extern int t_failures;

#define T_CHECK(cond, ...)                                                                   \
    do {                                                                                     \
        if (!(cond)) {                                                                       \
            t_failures++;                                                                    \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);                  \
            fprintf(stderr, __VA_ARGS__);                                                    \
            fputc('\n', stderr);                                                             \
        }                                                                                    \
    } while (0)

/* |a - b| <= tol + |b| * eps, printing the first few mismatches. Returns the count. */
long t_check_close(const char *what, const float *a, const float *b, long n, double tol,
                   double eps);
/* ||a-b|| / ||b|| (0 if both are zero). */
double t_rel_error(const float *a, const float *b, long n);
/* A path under $STRATA_TEST_TMP (or /tmp) — static buffer, copy it if you need two. */
const char *t_tmp_path(const char *name);
/* Initialise MPI for tests that use it (MPI_THREAD_FUNNELED). */
void t_mpi_init(int *argc, char ***argv);
/* Reduce failures over ranks (if MPI is up), print PASS/FAIL on rank 0, finalise HDF5 and
 * MPI if this process initialised them, and return the exit code. */
int t_finish(const char *test_name);
/* Does haystack contain needle? (for checking error messages) */
int t_contains(const char *haystack, const char *needle);

#endif
