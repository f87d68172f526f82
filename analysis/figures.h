/* figures.h — `strata figures`: every geometry figure redrawn from a results file (DESIGN.md,
 * "Results file"). For each figure NAME it writes NAME.dat (the numbers drawn; a header names the
 * results dataset behind every column), NAME.gp (an editable gnuplot script that reads NAME.dat)
 * and renders NAME.pdf / NAME.png with gnuplot (pdfcairo, pngcairo); DIR/index.md lists every
 * figure with its source datasets, and the figures skipped because their data is absent. */
#ifndef STRATA_FIGURES_H
#define STRATA_FIGURES_H

struct strata_figures_options {
    const char *results_path; /* results file (strata-results, format v1) */
    const char *out_dir;      /* created if missing */
    int pdf, png;             /* which formats to render (at least one) */
    char **only;              /* [n_only] figure names or name prefixes ("cka"); none = all */
    int n_only;
    const char *gnuplot;      /* program to run; NULL: $STRATA_GNUPLOT, else "gnuplot" in PATH */
};

/* Writes the .dat/.gp files, renders, then writes DIR/index.md (last: its presence means the
 * figures are complete, which `strata study` relies on). Returns 0 when every selected figure
 * rendered, -1 with strata_error set otherwise (a missing gnuplot says what to install; the
 * .dat and .gp files are written all the same). Figures whose data is absent are skipped,
 * logged and listed in the index; that alone is not an error unless --only asked for them. */
int strata_figures_run(const struct strata_figures_options *opt);

#endif
