/* main.c — the `strata` program: initialise MPI, dispatch to a subcommand, finalise.
 * Every subcommand works with one rank or under mpirun/srun (DESIGN.md, Command line). */
#include <hdf5.h>
#include <mpi.h>
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "strata.h"

static const struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} commands[] = {
    {"extract", strata_cmd_extract, "run a model over a dataset, write an activation archive"},
    {"analyze", strata_cmd_analyze, "geometry of archives (spectra, CKA, ID, overlap, alignment)"},
    {"figures", strata_cmd_figures, "draw every figure from a results file"},
    {"study", strata_cmd_study, "turn a YAML study into Slurm jobs (or run it locally)"},
    {"inspect", strata_cmd_inspect, "summarise an archive or results file"},
    {"tokenize", strata_cmd_tokenize, "print the token ids a model sees for a text"},
    {"preprocess", strata_cmd_preprocess, "write the pixel tensor a model sees for an image"},
    {"mkmodel", strata_cmd_mkmodel, "write a random checkpoint in Hugging Face layout"},
    {"mkdata", strata_cmd_mkdata, "write a synthetic image/caption dataset (or import COCO)"},
    {"mkarchive", strata_cmd_mkarchive, "write a synthetic activation archive (tests, benchmarks)"},
    {"selftest", strata_cmd_selftest, "compare a backend with the CPU reference on a tiny model"},
};
enum { n_commands = sizeof commands / sizeof commands[0] };

static void usage(FILE *out)
{
    fprintf(out, "strata %s — layer-wise geometry of vision-language models\n\n"
                 "usage: strata <command> [options]   (strata <command> --help for details)\n\n",
            STRATA_VERSION);
    for (int i = 0; i < n_commands; i++)
        fprintf(out, "  %-11s %s\n", commands[i].name, commands[i].summary);
}

int main(int argc, char **argv)
{
    if (argc < 2 || strata_is_help(argv[1])) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? STRATA_EXIT_USAGE : STRATA_EXIT_OK;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("strata %s\n", STRATA_VERSION);
        return STRATA_EXIT_OK;
    }
    int c = 0;
    while (c < n_commands && strcmp(commands[c].name, argv[1]) != 0) c++;
    if (c == n_commands) {
        fprintf(stderr, "strata: unknown command '%s'\n\n", argv[1]);
        usage(stderr);
        return STRATA_EXIT_USAGE;
    }
    int provided = 0;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
    /* Errors from MPI calls come back as return codes, checked by STRATA_CHECK_MPI. */
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    /* HDF5 errors are reported by the caller with context; do not let HDF5 print by itself. */
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    int rc = commands[c].run(argc - 1, argv + 1);
    H5close();
    MPI_Finalize();
    return rc;
}
