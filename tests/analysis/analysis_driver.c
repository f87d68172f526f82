/* analysis_driver.c — runs the analysis engine on matrices from an HDF5 file written by the
 * reference test (tests/analysis/test_reference.py), at any number of ranks, so that the engine
 * is checked apart from the archive reader. Input: datasets /<model>/<stream> of shape
 * [L, N, D] float32 with an int attr "layers" [L]; each rank reads an even share of the rows.
 * Usage: analysis_driver IN.h5 OUT.h5 METRICS K_MLE K_OVERLAP GRIDE_RANGE BOOTSTRAP CKA_ROUTE
 *        model/stream [model/stream ...]   (items ordered model, stream as given;
 *        CKA_ROUTE: auto, gram or feature) */
#include <hdf5.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/analysis.h"
#include "strata.h"
#include "testlib.h"

int main(int argc, char **argv)
{
    t_mpi_init(&argc, &argv);
    int rank, nranks;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &nranks);
    if (argc < 10) {
        fprintf(stderr, "usage: %s IN OUT METRICS K_MLE K_OVERLAP GRIDE_RANGE BOOTSTRAP CKA_ROUTE model/stream...\n", argv[0]);
        return 2;
    }
    strata_analysis_options opt;
    strata_analysis_options_default(&opt);
    T_CHECK(strata_analysis_parse_metrics(argv[3], &opt.metrics) == 0, "%s", strata_error_get());
    opt.k_mle = atoi(argv[4]);
    opt.k_overlap = atoi(argv[5]);
    opt.gride_range = atoi(argv[6]);
    opt.bootstrap = atoi(argv[7]);
    opt.verbose = 1;
    opt.cka_route = strcmp(argv[8], "gram") == 0 ? STRATA_CKA_GRAM
                  : strcmp(argv[8], "feature") == 0 ? STRATA_CKA_FEATURE : STRATA_CKA_AUTO;
    int n_sets = argc - 9;

    hid_t f = H5Fopen(argv[1], H5F_ACC_RDONLY, H5P_DEFAULT);
    T_CHECK(f >= 0, "open %s", argv[1]);
    strata_dataset ds;
    memset(&ds, 0, sizeof ds);
    ds.model_names = calloc((size_t)n_sets, STRATA_NAME_MAX);
    ds.stream_names = calloc((size_t)n_sets, STRATA_NAME_MAX);
    ds.items = calloc(4096, sizeof(strata_item));
    ds.col_offset = calloc(4097, sizeof(int64_t));
    hsize_t dims[3];
    /* First pass: shapes and names. */
    int *set_model = calloc((size_t)n_sets, sizeof(int));
    for (int s = 0; s < n_sets; s++) {
        char model[STRATA_NAME_MAX], *slash;
        snprintf(model, sizeof model, "%s", argv[9 + s]);
        slash = strchr(model, '/');
        *slash = 0;
        int m = -1;
        for (int i = 0; i < ds.n_models; i++)
            if (strcmp(ds.model_names[i], model) == 0) m = i;
        if (m < 0) {
            m = ds.n_models++;
            snprintf(ds.model_names[m], STRATA_NAME_MAX, "%s", model);
        }
        set_model[s] = m;
        int st = -1;
        for (int i = 0; i < ds.n_streams; i++)
            if (strcmp(ds.stream_names[i], slash + 1) == 0) st = i;
        if (st < 0) {
            st = ds.n_streams++;
            snprintf(ds.stream_names[st], STRATA_NAME_MAX, "%s", slash + 1);
        }
        hid_t d = H5Dopen2(f, argv[9 + s], H5P_DEFAULT);
        hid_t sp = H5Dget_space(d);
        H5Sget_simple_extent_dims(sp, dims, NULL);
        int layers[256];
        hid_t a = H5Aopen(d, "layers", H5P_DEFAULT);
        H5Aread(a, H5T_NATIVE_INT, layers);
        H5Aclose(a);
        for (hsize_t l = 0; l < dims[0]; l++) {
            strata_item *it = &ds.items[ds.n_items];
            it->model = m;
            it->stream = st;
            it->layer = layers[l];
            it->dim = (int)dims[2];
            ds.col_offset[ds.n_items + 1] = ds.col_offset[ds.n_items] + it->dim;
            ds.n_items++;
        }
        ds.n_total = (int64_t)dims[1];
        H5Sclose(sp);
        H5Dclose(d);
    }
    ds.row_begin = ds.n_total * rank / nranks;
    ds.n_local = ds.n_total * (rank + 1) / nranks - ds.row_begin;
    ds.data = malloc((size_t)(ds.n_local * ds.col_offset[ds.n_items]) * sizeof(float) + 4);
    /* Second pass: this rank's rows of every layer. */
    int t = 0;
    for (int s = 0; s < n_sets; s++) {
        hid_t d = H5Dopen2(f, argv[9 + s], H5P_DEFAULT);
        hid_t sp = H5Dget_space(d);
        H5Sget_simple_extent_dims(sp, dims, NULL);
        for (hsize_t l = 0; l < dims[0]; l++, t++) {
            hsize_t start[3] = {l, (hsize_t)ds.row_begin, 0}, count[3] = {1, (hsize_t)ds.n_local, dims[2]};
            hid_t fs = H5Dget_space(d);
            H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL);
            hid_t ms = H5Screate_simple(3, count, NULL);
            if (ds.n_local > 0)
                T_CHECK(H5Dread(d, H5T_NATIVE_FLOAT, ms, fs, H5P_DEFAULT,
                                ds.data + ds.n_local * ds.col_offset[t]) >= 0, "read %s", argv[9 + s]);
            H5Sclose(ms);
            H5Sclose(fs);
        }
        H5Sclose(sp);
        H5Dclose(d);
    }
    H5Fclose(f);
    (void)set_model;

    strata_results *res = NULL;
    if (rank == 0) {
        res = strata_results_create(argv[2]);
        T_CHECK(res != NULL, "%s", strata_error_get());
    }
    strata_comm_stats stats;
    int rc = strata_analysis_run(MPI_COMM_WORLD, &ds, &opt, res, &stats);
    T_CHECK(rc == 0, "analysis: %s", strata_error_get());
    if (rank == 0) T_CHECK(strata_results_close(res) == 0, "%s", strata_error_get());
    /* The ring sends every block but the right neighbour's: (P-1)/P of the data when even. */
    int64_t cols = ds.col_offset[ds.n_items];
    int right = (rank + 1) % nranks;
    int64_t right_rows = ds.n_total * (right + 1) / nranks - ds.n_total * right / nranks;
    int64_t expect = nranks > 1 ? (ds.n_total - right_rows) * cols * 4 : 0;
    int ring_used = (opt.metrics & (STRATA_METRIC_ID | STRATA_METRIC_OVERLAP | STRATA_METRIC_ALIGNMENT)) ||
                    ((opt.metrics & STRATA_METRIC_CKA) && opt.cka_route == STRATA_CKA_GRAM);
    if (ring_used)
        T_CHECK(stats.ring_bytes == expect, "ring bytes %lld, expected %lld", (long long)stats.ring_bytes,
                (long long)expect);
    free(ds.data);
    free(ds.items);
    free(ds.col_offset);
    free(ds.model_names);
    free(ds.stream_names);
    free(set_model);
    return t_finish("analysis_driver");
}
