/* probe_driver.c — runs strata_probe_run over an input file written by test_probe.py, each rank
 * holding a contiguous row block, and writes what it computed (folds, inner folds, per-fold
 * scores and alphas) for the script to hold against scikit-learn.
 *   probe_driver IN.h5 OUT.h5
 * IN.h5: x [N][D] float32; class_of [N] int32 or value [N] float64; alphas [A] float64;
 *        attrs kind ("classify"|"regress"), n_folds, n_inner_folds, seed, n_classes. */
#include <hdf5.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/probe.h"
#include "strata.h"
#include "testlib.h"

static long long attr_int(hid_t f, const char *name)
{
    long long v = 0;
    hid_t a = H5Aopen(f, name, H5P_DEFAULT);
    STRATA_CHECK_H5(a);
    STRATA_CHECK_H5(H5Aread(a, H5T_NATIVE_LLONG, &v));
    H5Aclose(a);
    return v;
}

static void *read_all(hid_t f, const char *name, hid_t type, size_t elem, hsize_t *dims)
{
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
    STRATA_CHECK_H5(d);
    hid_t s = H5Dget_space(d);
    int nd = H5Sget_simple_extent_dims(s, dims, NULL);
    size_t n = 1;
    for (int i = 0; i < nd; i++) n *= dims[i];
    void *buf = strata_malloc(n * elem);
    STRATA_CHECK_H5(H5Dread(d, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf));
    H5Sclose(s);
    H5Dclose(d);
    return buf;
}

static void write_ds(hid_t f, const char *name, hid_t type, int nd, const hsize_t *dims,
                     const void *buf)
{
    hid_t s = H5Screate_simple(nd, dims, NULL);
    hid_t d = H5Dcreate2(f, name, type, s, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    STRATA_CHECK_H5(d);
    STRATA_CHECK_H5(H5Dwrite(d, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf));
    H5Dclose(d);
    H5Sclose(s);
}

int main(int argc, char **argv)
{
    t_mpi_init(&argc, &argv);
    if (argc != 3) strata_fatal("usage: probe_driver IN.h5 OUT.h5");
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);

    hid_t f = H5Fopen(argv[1], H5F_ACC_RDONLY, H5P_DEFAULT);
    STRATA_CHECK_H5_HINT(f, argv[1]);
    hid_t kind_attr = H5Aopen(f, "kind", H5P_DEFAULT);
    char kind[32] = "";
    hid_t st = H5Tcopy(H5T_C_S1);
    H5Tset_size(st, sizeof kind);
    STRATA_CHECK_H5(H5Aread(kind_attr, st, kind));
    H5Aclose(kind_attr);
    strata_probe_options opt = {
        .kind = strcmp(kind, "regress") == 0 ? STRATA_PROBE_REGRESS : STRATA_PROBE_CLASSIFY,
        .n_folds = (int)attr_int(f, "n_folds"),
        .n_inner_folds = (int)attr_int(f, "n_inner_folds"),
        .seed = (uint64_t)attr_int(f, "seed"),
    };
    hsize_t xd[2], ad[1], yd[1];
    float *x = read_all(f, "x", H5T_NATIVE_FLOAT, sizeof(float), xd);
    double *alphas = read_all(f, "alphas", H5T_NATIVE_DOUBLE, sizeof(double), ad);
    opt.alphas = alphas;
    opt.n_alphas = (int)ad[0];
    int32_t *cls = NULL;
    double *val = NULL;
    if (opt.kind == STRATA_PROBE_CLASSIFY)
        cls = read_all(f, "class_of", H5T_NATIVE_INT32, sizeof(int32_t), yd);
    else
        val = read_all(f, "value", H5T_NATIVE_DOUBLE, sizeof(double), yd);
    int n_classes = opt.kind == STRATA_PROBE_CLASSIFY ? (int)attr_int(f, "n_classes") : 0;
    H5Fclose(f);

    int64_t N = (int64_t)xd[0], D = (int64_t)xd[1];
    int64_t r0 = N * rank / size, r1 = N * (rank + 1) / size;
    strata_probe_data data = {
        .n_total = N, .row_begin = r0, .n_local = r1 - r0, .dim = (int)D,
        .x = x + r0 * D, .class_of = cls ? cls + r0 : NULL, .value = val ? val + r0 : NULL,
        .n_classes = n_classes,
    };
    strata_probe_result res;
    int rc = strata_probe_run(MPI_COMM_WORLD, &data, &opt, &res);
    T_CHECK(rc == 0, "probe failed: %s", strata_error_get());

    if (rc == 0 && rank == 0) {
        /* the folds the probe used, as the library computes them */
        uint8_t *lab = strata_malloc((size_t)N);
        for (int64_t i = 0; i < N; i++)
            lab[i] = cls ? (cls[i] >= 0 && cls[i] < n_classes) : (val[i] == val[i]);
        int8_t *fold = strata_malloc((size_t)N), *inner = strata_malloc((size_t)N * opt.n_folds);
        strata_probe_folds(lab, N, opt.n_folds, opt.seed, fold);
        for (int k = 0; k < opt.n_folds; k++)
            strata_probe_inner_folds(fold, N, k, opt.n_inner_folds, opt.seed, inner + k * N);
        hid_t o = H5Fcreate(argv[2], H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
        STRATA_CHECK_H5_HINT(o, argv[2]);
        hsize_t dn[1] = {(hsize_t)N}, dk[1] = {(hsize_t)opt.n_folds};
        hsize_t dkn[2] = {(hsize_t)opt.n_folds, (hsize_t)N}, d1[1] = {1};
        write_ds(o, "fold", H5T_NATIVE_INT8, 1, dn, fold);
        write_ds(o, "inner_fold", H5T_NATIVE_INT8, 2, dkn, inner);
        write_ds(o, "fold_score", H5T_NATIVE_DOUBLE, 1, dk, res.fold_score);
        write_ds(o, "fold_alpha", H5T_NATIVE_DOUBLE, 1, dk, res.fold_alpha);
        write_ds(o, "score_mean", H5T_NATIVE_DOUBLE, 1, d1, &res.score_mean);
        write_ds(o, "score_std", H5T_NATIVE_DOUBLE, 1, d1, &res.score_std);
        H5Fclose(o);
        free(lab);
        free(fold);
        free(inner);
    }
    if (rc == 0) strata_probe_result_free(&res);
    free(x);
    free(alphas);
    free(cls);
    free(val);
    return t_finish("probe_driver");
}
