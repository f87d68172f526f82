/* cmd_figures.c — `strata figures RESULTS.h5 --out DIR [--format pdf,png] [--only NAME...]`:
 * the command line over strata_figures_run (analysis/figures.h). Rank 0 does the work (it is
 * serial: a few small datasets and gnuplot runs); other ranks wait for its verdict. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/figures.h"
#include "commands.h"
#include "strata.h"

static void usage(FILE *out)
{
    fputs("usage: strata figures RESULTS.h5 --out DIR [--format pdf,png] [--only NAME...]\n"
          "                      [--gnuplot PROGRAM]\n\n"
          "Redraws every figure from a results file (written by `strata analyze`): CKA heatmaps\n"
          "per model and across models, intrinsic dimension, neighbourhood overlap, alignment,\n"
          "spectrum (effective rank, participation ratio) and token norms over normalised depth.\n"
          "For each figure NAME it writes DIR/NAME.dat (the numbers, each column naming its\n"
          "results dataset), DIR/NAME.gp (an editable gnuplot script) and renders NAME.pdf and\n"
          "NAME.png with gnuplot; DIR/index.md lists the figures, their sources and what was\n"
          "skipped for lack of data.\n\n"
          "  --out DIR          output directory (created if missing)\n"
          "  --format LIST      pdf, png or pdf,png (default: pdf,png)\n"
          "  --only NAME...     only these figures; a NAME also selects NAME_* (e.g. cka,\n"
          "                     cka_cross, intrinsic_dimension); repeatable, or comma-separated\n"
          "  --gnuplot PROGRAM  gnuplot to run (default: $STRATA_GNUPLOT, else gnuplot in PATH)\n",
          out);
}

static int parse_formats(const char *list, int *pdf, int *png)
{
    *pdf = *png = 0;
    char *copy = strata_strdup(list);
    int ok = 1;
    for (char *save = NULL, *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (strcmp(tok, "pdf") == 0)
            *pdf = 1;
        else if (strcmp(tok, "png") == 0)
            *png = 1;
        else
            ok = 0;
    }
    free(copy);
    return ok && (*pdf || *png);
}

/* Appends the comma-separated names of arg to *only. */
static void add_only(const char *arg, char ***only, int *n_only)
{
    char *copy = strata_strdup(arg);
    for (char *save = NULL, *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        *only = strata_realloc(*only, (size_t)(*n_only + 1) * sizeof(char *));
        (*only)[(*n_only)++] = strata_strdup(tok);
    }
    free(copy);
}

int strata_cmd_figures(int argc, char **argv)
{
    struct strata_figures_options opt = {0};
    const char *formats = "pdf,png";
    int rc = STRATA_EXIT_OK;
    for (int i = 1; i < argc && rc == STRATA_EXIT_OK; i++) {
        const char *arg = argv[i];
        if (strata_is_help(arg)) {
            usage(stdout);
            return STRATA_EXIT_OK;
        } else if (strcmp(arg, "--out") == 0 && i + 1 < argc) {
            opt.out_dir = argv[++i];
        } else if (strcmp(arg, "--format") == 0 && i + 1 < argc) {
            formats = argv[++i];
        } else if (strcmp(arg, "--gnuplot") == 0 && i + 1 < argc) {
            opt.gnuplot = argv[++i];
        } else if (strcmp(arg, "--only") == 0 && i + 1 < argc) {
            while (i + 1 < argc && strncmp(argv[i + 1], "--", 2) != 0)
                add_only(argv[++i], &opt.only, &opt.n_only);
        } else if (arg[0] == '-') {
            fprintf(stderr, "strata figures: unknown option or missing value: %s\n\n", arg);
            rc = STRATA_EXIT_USAGE;
        } else if (!opt.results_path) {
            opt.results_path = arg;
        } else {
            fprintf(stderr, "strata figures: one results file expected, got also %s\n\n", arg);
            rc = STRATA_EXIT_USAGE;
        }
    }
    if (rc == STRATA_EXIT_OK && (!opt.results_path || !opt.out_dir)) {
        fprintf(stderr, "strata figures: %s is required\n\n",
                !opt.results_path ? "RESULTS.h5" : "--out DIR");
        rc = STRATA_EXIT_USAGE;
    }
    if (rc == STRATA_EXIT_OK && !parse_formats(formats, &opt.pdf, &opt.png)) {
        fprintf(stderr, "strata figures: --format %s: expected pdf, png or pdf,png\n\n", formats);
        rc = STRATA_EXIT_USAGE;
    }
    if (rc == STRATA_EXIT_USAGE) usage(stderr);
    if (rc == STRATA_EXIT_OK && strata_rank() == 0) {
        if (strata_figures_run(&opt) != 0) {
            fprintf(stderr, "strata figures: error: %s\n", strata_error_get());
            rc = STRATA_EXIT_FAILURE;
        }
    }
    for (int i = 0; i < opt.n_only; i++) free(opt.only[i]);
    free(opt.only);
    MPI_Bcast(&rc, 1, MPI_INT, 0, MPI_COMM_WORLD);
    return rc;
}
