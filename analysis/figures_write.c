/* figures_write.c — NAME.dat (the numbers a figure shows, each column's results dataset named in
 * the block header) and NAME.gp (a self-contained, editable gnuplot 5 script reading NAME.dat).
 * One style for all: Okabe-Ito colours (Okabe & Ito 2008, colour-blind safe) by model, dash and
 * point types by stream, viridis (van der Walt & Smith 2015) control points for heatmaps. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/figures_model.h"
#include "strata.h"

/* Okabe-Ito, yellow last (weak on white). One colour per model, in file order. */
static const char *const okabe_ito[] = {"#0072B2", "#D55E00", "#009E73", "#CC79A7",
                                        "#E69F00", "#56B4E9", "#000000", "#F0E442"};
enum { n_colours = sizeof okabe_ito / sizeof okabe_ito[0] };
/* Viridis sampled at ten evenly spaced points (the published colour map's values). */
static const char *const viridis[] = {"#440154", "#482878", "#3E4A89", "#31688E", "#26828E",
                                      "#1F9E89", "#35B779", "#6DCD59", "#B4DE2C", "#FDE725"};
/* Per stream: dash type and a filled point type (circle, square, triangle, diamond, ...). */
static const int dash_types[] = {1, 2, 3, 4, 5};
static const int point_types[] = {7, 5, 9, 13, 11};

/* Sizes: a single column is 3.5 in wide; PNGs are drawn at 300 dpi, fonts scaled to match. */
#define COLUMN_IN 3.5
#define DPI 300
/* Line figures, stacked panels sharing the depth axis (inches, top to bottom). */
#define TITLE_IN 0.30       /* figure title */
#define LEGEND_ROW_IN 0.095 /* one row of the shared legend */
#define LEGEND_PAD_IN 0.08
#define PANEL_TITLE_IN 0.22 /* a panel's title (0.06 without one) */
#define PLOT_IN 1.45        /* a panel's plot area (PLOT_MANY_IN from 4 panels on) */
#define PLOT_MANY_IN 1.15
#define GAP_IN 0.22         /* tic labels between panels */
#define BOTTOM_IN 0.48      /* tic labels and the depth label under the last panel */
#define LEFT_FRACTION 0.17
#define RIGHT_FRACTION 0.94
#define LABEL_CHAR_IN 0.062 /* width of a legend character at 8 pt, roughly */

/* The legend lists each distinct series label once: count them and the longest. */
static int legend_entries(const struct figure *fig, size_t *longest)
{
    int n = 0;
    *longest = 0;
    for (int p = 0; p < fig->n_panels; p++)
        for (int s = 0; s < fig->panels[p].n_series; s++) {
            const char *label = fig->panels[p].series[s].label;
            int seen = 0;
            for (int q = 0; q <= p && !seen; q++)
                for (int t = 0; t < (q == p ? s : fig->panels[q].n_series) && !seen; t++)
                    seen = strcmp(fig->panels[q].series[t].label, label) == 0;
            if (seen) continue;
            n++;
            if (strlen(label) > *longest) *longest = strlen(label);
        }
    return n;
}

static void legend_shape(const struct figure *fig, int *columns, int *rows)
{
    size_t longest;
    int n = legend_entries(fig, &longest);
    /* Two columns when two labels (plus their line samples) fit side by side. */
    *columns = n > 1 && 2 * (longest * LABEL_CHAR_IN + 0.45) < COLUMN_IN ? 2 : 1;
    *rows = (n + *columns - 1) / *columns;
}

static double panel_title_in(const struct fig_panel *p)
{
    return p->title[0] ? PANEL_TITLE_IN : 0.06;
}

static double legend_in(const struct figure *fig)
{
    int columns, rows;
    legend_shape(fig, &columns, &rows);
    return rows * LEGEND_ROW_IN + LEGEND_PAD_IN;
}

static double plot_in(const struct figure *fig)
{
    return fig->n_panels >= 4 ? PLOT_MANY_IN : PLOT_IN;
}

/* Point figures: the category labels are tick labels under the last panel, turned upright (at
 * most POINT_LABEL_MAX characters; slanted ones would run off the left edge), so the bottom
 * margin grows with the longest (0.042 in per character at 9 pt). */
#define POINT_LABEL_MAX 44
static double points_bottom_in(const struct figure *fig)
{
    size_t longest = 0;
    for (int p = 0; p < fig->n_panels; p++)
        for (int s = 0; s < fig->panels[p].n_series; s++) {
            size_t len = strlen(fig->panels[p].series[s].label);
            if (len > longest) longest = len;
        }
    if (longest > POINT_LABEL_MAX) longest = POINT_LABEL_MAX;
    return 0.8 + 0.042 * (double)longest;
}

static double figure_height_in(const struct figure *fig)
{
    if (fig->kind == FIG_HEATMAP) return 3.1;
    double h = TITLE_IN + BOTTOM_IN;
    if (fig->kind == FIG_LINES) h += legend_in(fig);
    if (fig->kind == FIG_POINTS) h += points_bottom_in(fig) - BOTTOM_IN;
    for (int p = 0; p < fig->n_panels; p++)
        h += panel_title_in(&fig->panels[p]) + plot_in(fig) + (p > 0 ? GAP_IN : 0);
    return h;
}

void fig_png_size(const struct figure *fig, int *width, int *height)
{
    *width = (int)lround(COLUMN_IN * DPI);
    *height = (int)lround(figure_height_in(fig) * DPI);
}

/* Text from the results file goes into comments: one line, printable. */
static void put_text(FILE *out, const char *s)
{
    for (; *s; s++) fputc((unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s, out);
}

/* A gnuplot single-quoted string: '' stands for a quote inside. */
static void put_quoted(FILE *out, const char *s)
{
    fputc('\'', out);
    for (; *s; s++) {
        if (*s == '\'') fputc('\'', out);
        fputc((unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s, out);
    }
    fputc('\'', out);
}

static FILE *open_out(const char *dir, const char *name, const char *ext, char *path, size_t size)
{
    snprintf(path, size, "%s/%s.%s", dir, name, ext);
    FILE *out = fopen(path, "w");
    if (!out) strata_error_set("%s: cannot write it", path);
    return out;
}

static int close_out(FILE *out, const char *path)
{
    int bad = ferror(out);
    if (fclose(out) != 0 || bad) return strata_error_set("%s: write failed (disk full?)", path);
    return 0;
}

/* %.10g: float32 values exactly, doubles to 1e-10 relative; nan/inf as gnuplot reads them. */
static void put_number(FILE *out, double v)
{
    if (isnan(v))
        fputs("NaN", out);
    else
        fprintf(out, "%.10g", v);
}

static void dat_header(FILE *out, const struct figure *fig, const char *results_path)
{
    fprintf(out, "# %s.dat — ", fig->name);
    put_text(out, fig->title);
    fprintf(out, "\n# written by strata %s figures from ", STRATA_VERSION);
    put_text(out, results_path);
    fputs("\n# one block per line (or matrix) of the figure, gnuplot `index N`; each block's header"
          "\n# names the results dataset behind every column ('PATH@attr' is an attribute).\n\n",
          out);
}

/* One line over depth (columns layer, depth, y[, lo, hi]), or for FIG_POINTS one point
 * (columns category, y[, lo, hi]). */
static void write_series(FILE *out, int block, const struct fig_panel *p,
                         const struct fig_series *s, int point)
{
    fprintf(out, "# block %d: panel '", block);
    put_text(out, p->title[0] ? p->title : p->ylabel);
    fputs(point ? "', point '" : "', line '", out);
    put_text(out, s->label);
    int col = 1;
    if (point) {
        fprintf(out, "'\n# column %d: category = %g", col++, s->layer[0]);
    } else {
        fprintf(out, "'\n# column %d: layer = ", col++);
        put_text(out, s->src_layer ? s->src_layer : "row index");
        fprintf(out, "\n# column %d: depth = column 1 / %.10g", col++, s->depth_l);
    }
    fprintf(out, "\n# column %d: ", col++);
    put_text(out, s->src_y);
    if (s->lo) {
        fprintf(out, "\n# column %d: ", col++);
        put_text(out, s->src_lo);
        fprintf(out, "\n# column %d: ", col++);
        put_text(out, s->src_hi);
    }
    fputc('\n', out);
    for (size_t i = 0; i < s->n; i++) {
        put_number(out, s->layer[i]);
        fputc(' ', out);
        if (!point) {
            put_number(out, s->layer[i] / s->depth_l);
            fputc(' ', out);
        }
        put_number(out, s->y[i]);
        if (s->lo) {
            fputc(' ', out);
            put_number(out, s->lo[i]);
            fputc(' ', out);
            put_number(out, s->hi[i]);
        }
        fputc('\n', out);
    }
    fputs("\n\n", out);
}

static void write_matrix(FILE *out, const struct fig_heatmap *h)
{
    fputs("# block 0: matrix ", out);
    put_text(out, h->src);
    fputs("\n# column 1: i = row index\n# column 2: j = column index\n# column 3: layer = ", out);
    if (h->src_row_layer) {
        put_text(out, h->src_row_layer);
        fputs("[column 1]", out);
    } else {
        fputs("column 1", out);
    }
    fputs("\n# column 4: layer = ", out);
    if (h->src_col_layer) {
        put_text(out, h->src_col_layer);
        fputs("[column 2]", out);
    } else {
        fputs("column 2", out);
    }
    fputs("\n# column 5: ", out);
    put_text(out, h->src);
    fputs("[column 1, column 2]\n", out);
    for (size_t i = 0; i < h->rows; i++) {
        for (size_t j = 0; j < h->cols; j++) {
            fprintf(out, "%zu %zu ", i, j);
            put_number(out, h->row_layer[i]);
            fputc(' ', out);
            put_number(out, h->col_layer[j]);
            fputc(' ', out);
            put_number(out, h->value[i * h->cols + j]);
            fputc('\n', out);
        }
        fputc('\n', out); /* gnuplot: one scan line per row */
    }
}

static void write_scaling(FILE *out, int *block, const struct fig_panel *p,
                          const struct fig_scaling *sc)
{
    for (size_t i = 0; i < sc->rows; i++) {
        fprintf(out, "# block %d: panel '", (*block)++);
        put_text(out, p->title);
        fputs("', one layer\n# column 1: n1 = ", out);
        put_text(out, sc->src_x ? sc->src_x : "2 ** row index");
        fprintf(out, "\n# column 2: ");
        put_text(out, sc->src);
        fprintf(out, "[%zu,:]\n# column 3: layer = ", i);
        if (sc->src_layer) {
            put_text(out, sc->src_layer);
            fprintf(out, "[%zu]", i);
        } else {
            fprintf(out, "%zu", i);
        }
        fprintf(out, "\n# column 4: depth = column 3 / %.10g\n", sc->depth_l);
        for (size_t j = 0; j < sc->cols; j++) {
            put_number(out, sc->x[j]);
            fputc(' ', out);
            put_number(out, sc->value[i * sc->cols + j]);
            fputc(' ', out);
            put_number(out, sc->layer[i]);
            fputc(' ', out);
            put_number(out, sc->layer[i] / sc->depth_l);
            fputc('\n', out);
        }
        fputs("\n\n", out);
    }
}

int fig_write_dat(const struct figure *fig, const char *dir, const char *results_path)
{
    char path[4096];
    FILE *out = open_out(dir, fig->name, "dat", path, sizeof path);
    if (!out) return -1;
    dat_header(out, fig, results_path);
    if (fig->kind == FIG_HEATMAP) {
        write_matrix(out, &fig->heat);
    } else if (fig->kind == FIG_SCALING) {
        int block = 0;
        for (int p = 0; p < fig->n_panels; p++)
            write_scaling(out, &block, &fig->panels[p], &fig->scaling[p]);
    } else {
        int block = 0;
        for (int p = 0; p < fig->n_panels; p++)
            for (int s = 0; s < fig->panels[p].n_series; s++)
                write_series(out, block++, &fig->panels[p], &fig->panels[p].series[s],
                             fig->kind == FIG_POINTS);
    }
    return close_out(out, path);
}

/* ---- gnuplot scripts ---------------------------------------------------------------------- */
static void gp_preamble(FILE *out, const struct figure *fig, const char *results_path)
{
    int width, height;
    fig_png_size(fig, &width, &height);
    fprintf(out, "# %s.gp — ", fig->name);
    put_text(out, fig->title);
    fprintf(out, "\n# Written by strata %s figures from ", STRATA_VERSION);
    put_text(out, results_path);
    fprintf(out,
            ".\n# The numbers are in %s.dat (each block's header names its results dataset). Edit"
            " freely,\n# then render from this directory:  gnuplot -e \"fmt='png'\" %s.gp   "
            "(fmt: pdf (default) or png)\n"
            "if (!exists(\"fmt\")) fmt = 'pdf'\n"
            "if (fmt eq 'png') {\n"
            "    set terminal pngcairo size %d,%d font 'Sans,9' fontscale 2.2 linewidth 4 "
            "noenhanced\n"
            "    set output '%s.png'\n"
            "} else {\n"
            "    set terminal pdfcairo size %.2fin,%.2fin font 'Sans,9' linewidth 1.5 noenhanced\n"
            "    set output '%s.pdf'\n"
            "}\n"
            "ps = (fmt eq 'png') ? 2.2 : 0.55   # point size\n"
            "set encoding utf8\n",
            fig->name, fig->name, width, height, fig->name, COLUMN_IN, figure_height_in(fig),
            fig->name);
}

static void gp_viridis(FILE *out)
{
    fputs("# viridis (perceptually uniform) from its published control points\n"
          "set palette defined (",
          out);
    for (int i = 0; i < 10; i++) fprintf(out, "%s%d '%s'", i ? ", " : "", i, viridis[i]);
    fputs(")\n", out);
}

static void gp_ticks(FILE *out, const char *axis, const double *layer, size_t n)
{
    size_t step = (n + 7) / 8; /* at most ~8 labels */
    if (step == 0) step = 1;
    fprintf(out, "set %s (", axis);
    for (size_t i = 0; i < n; i += step) fprintf(out, "%s'%g' %zu", i ? ", " : "", layer[i], i);
    fputs(")\n", out);
}

static void gp_heatmap(FILE *out, const struct figure *fig)
{
    const struct fig_heatmap *h = &fig->heat;
    double lo = 0, hi = 1;
    for (size_t i = 0; i < h->rows * h->cols; i++) {
        if (!isfinite(h->value[i])) continue;
        lo = fmin(lo, h->value[i]);
        hi = fmax(hi, h->value[i]);
    }
    gp_viridis(out);
    fputs("# NaN cells stay white\nset title ", out);
    put_quoted(out, fig->title);
    fputs("\nset xlabel ", out);
    put_quoted(out, h->col_label);
    fputs("\nset ylabel ", out);
    put_quoted(out, h->row_label);
    fputs("\nset cblabel ", out);
    put_quoted(out, h->cb_label);
    fprintf(out, "\nset cbrange [%g:%g]\nset cbtics 0.2\n", lo, hi);
    fprintf(out, "set xrange [-0.5:%zu.5]\nset yrange [-0.5:%zu.5]\n", h->cols - 1, h->rows - 1);
    gp_ticks(out, "xtics", h->col_layer, h->cols);
    gp_ticks(out, "ytics", h->row_layer, h->rows);
    /* Square whatever the layer counts: two models of different depths still compare. */
    fputs("set tics out nomirror\nset size ratio 1\n", out);
    fprintf(out, "plot '%s.dat' using 2:1:5 with image notitle\n", fig->name);
}

/* Values constant to 1e-3 relative (a participation ratio of 1.0000002 everywhere): show them
 * flat in +-5% rather than let the axis magnify rounding noise into curves. */
static int flat_range(const struct fig_panel *panel, double *lo, double *hi)
{
    double min = INFINITY, max = -INFINITY;
    for (int s = 0; s < panel->n_series; s++)
        for (size_t i = 0; i < panel->series[s].n; i++) {
            double y = panel->series[s].y[i];
            if (!isfinite(y)) continue;
            min = fmin(min, y);
            max = fmax(max, y);
        }
    double scale = fmax(fabs(min), fabs(max));
    if (!isfinite(scale) || max - min >= 1e-3 * scale) return 0;
    double centre = 0.5 * (min + max), half = scale > 0 ? 0.05 * scale : 1;
    *lo = centre - half;
    *hi = centre + half;
    return 1;
}

/* A log axis only pays when the positive values span more than a decade or so; within one
 * it shows a single labelled tick. */
static int wide_range(const struct fig_panel *panel)
{
    double min = INFINITY, max = 0;
    for (int s = 0; s < panel->n_series; s++)
        for (size_t i = 0; i < panel->series[s].n; i++) {
            double y = panel->series[s].y[i];
            if (!isfinite(y) || y <= 0) continue;
            min = fmin(min, y);
            max = fmax(max, y);
        }
    return max > 0 && max / min >= 20;
}

/* The stacked panels of a line, scale or point figure: one multiplot under the title, and
 * per panel fixed margins (top_in: inches used above it, advanced past it). */
static void gp_multiplot(FILE *out, const struct figure *fig)
{
    fputs("set multiplot title ", out);
    put_quoted(out, fig->title);
    fputs("\n", out);
}

static void gp_panel_margins(FILE *out, const struct figure *fig, int p, double *top_in)
{
    double height = figure_height_in(fig);
    *top_in += panel_title_in(&fig->panels[p]) + (p > 0 ? GAP_IN : 0);
    fprintf(out, "\n# panel %d\nset tmargin at screen %.4f\nset bmargin at screen %.4f\n", p,
            1 - *top_in / height, 1 - (*top_in + plot_in(fig)) / height);
    *top_in += plot_in(fig);
}

/* A panel's title (with how its intervals are drawn, when it has any), its y label, and the
 * x label under the last panel only. */
static void gp_panel_labels(FILE *out, const struct figure *fig, int p, const char *interval,
                            const char *xlabel)
{
    const struct fig_panel *panel = &fig->panels[p];
    int has_interval = 0;
    for (int s = 0; s < panel->n_series; s++) has_interval |= panel->series[s].lo != NULL;
    char *title = has_interval && interval ? fig_printf("%s, %s", panel->title, interval)
                                           : strata_strdup(panel->title);
    fputs("set title ", out);
    put_quoted(out, title);
    free(title);
    fputs("\nset ylabel ", out);
    put_quoted(out, panel->ylabel);
    if (p == fig->n_panels - 1) {
        fputs("\nset xlabel ", out);
        put_quoted(out, xlabel);
        fputs("\n", out);
    } else {
        fputs("\nunset xlabel\n", out);
    }
}

static void gp_series_style(FILE *out, const struct fig_series *series)
{
    int dash = series->dash % (int)(sizeof dash_types / sizeof dash_types[0]);
    fprintf(out, "lc rgb c%d dt %d pt %d ps ps", series->colour % n_colours, dash_types[dash],
            point_types[dash]);
}

static void gp_lines(FILE *out, const struct figure *fig)
{
    double height = figure_height_in(fig);
    int columns, rows;
    legend_shape(fig, &columns, &rows);
    fputs("# Okabe-Ito colour-blind-safe palette: one colour per model; dash/point type per "
          "stream\n",
          out);
    for (int i = 0; i < n_colours; i++) fprintf(out, "c%d = '%s'\n", i, okabe_ito[i]);
    fprintf(out,
            "set style fill noborder\n"
            "set grid lc rgb '#d9d9d9' lw 0.5\n"
            "set xrange [0:1]\nset xtics 0.2\nset tics nomirror\nset border 3\n"
            "# Panels share the depth axis; margins are fixed so the plot areas line up.\n"
            "set lmargin at screen %.4f\nset rmargin at screen %.4f\n"
            "# One legend for all panels, under the title (the NaN plots only draw its entries).\n"
            "set key at screen 0.5, screen %.4f center top horizontal maxcols %d maxrows %d "
            "reverse Left samplen 2.5 spacing 0.95 width 1 font ',8'\n",
            LEFT_FRACTION, RIGHT_FRACTION, 1 - (TITLE_IN - 0.04) / height, columns, rows);
    gp_multiplot(out, fig);
    double top_in = TITLE_IN + legend_in(fig);
    int block = 0;
    for (int p = 0; p < fig->n_panels; p++) {
        const struct fig_panel *panel = &fig->panels[p];
        gp_panel_margins(out, fig, p, &top_in);
        gp_panel_labels(out, fig, p, "shaded: interval", "normalised depth (layer / L)");
        int logy = panel->logy && wide_range(panel);
        fputs(logy ? "set logscale y\n" : "unset logscale y\n", out);
        double lo, hi;
        if (isfinite(panel->ymin) && isfinite(panel->ymax))
            fprintf(out, "set yrange [%g:%g]\n", panel->ymin, panel->ymax);
        else if (!logy && flat_range(panel, &lo, &hi))
            fprintf(out, "set yrange [%.10g:%.10g]   # the values are constant to 1e-3\n", lo,
                    hi);
        else
            fputs("set yrange [*:*]\n", out);
        if (p == 1) fputs("unset key\n", out);
        fputs("plot ", out);
        int first = 1;
        if (p == 0) {
            /* Legend entries: every distinct label of the figure, once. */
            for (int q = 0; q < fig->n_panels; q++)
                for (int s = 0; s < fig->panels[q].n_series; s++) {
                    const struct fig_series *series = &fig->panels[q].series[s];
                    int seen = 0;
                    for (int r = 0; r <= q && !seen; r++)
                        for (int t = 0; t < (r == q ? s : fig->panels[r].n_series) && !seen; t++)
                            seen = strcmp(fig->panels[r].series[t].label, series->label) == 0;
                    if (seen) continue;
                    fputs(first ? "" : ", \\\n     ", out);
                    first = 0;
                    fputs("NaN with linespoints ", out);
                    gp_series_style(out, series);
                    fputs(" title ", out);
                    put_quoted(out, series->label);
                }
        }
        /* Bands get fainter as more overlap, so that many models do not pile up into grey. */
        int n_bands = 0;
        for (int s = 0; s < panel->n_series; s++) n_bands += panel->series[s].lo != NULL;
        double opacity = n_bands <= 2 ? 0.2 : fmax(0.06, 0.4 / n_bands);
        for (int s = 0; s < panel->n_series; s++, block++) {
            const struct fig_series *series = &panel->series[s];
            fputs(first ? "" : ", \\\n     ", out);
            first = 0;
            if (series->lo)
                fprintf(out,
                        "'%s.dat' index %d using 2:4:5 with filledcurves lc rgb c%d "
                        "fs transparent solid %.2f notitle, \\\n     ",
                        fig->name, block, series->colour % n_colours, opacity);
            fprintf(out, "'%s.dat' index %d using 2:3 with linespoints ", fig->name, block);
            gp_series_style(out, series);
            fputs(" notitle", out);
        }
        fputs("\n", out);
    }
    fputs("unset multiplot\n", out);
}

static void gp_scaling(FILE *out, const struct figure *fig)
{
    double height = figure_height_in(fig);
    gp_viridis(out);
    fprintf(out,
            "set grid lc rgb '#d9d9d9' lw 0.5\n"
            "set logscale x 2\nset tics nomirror\nset border 3\n"
            "set cbrange [0:1]\nset cbtics 0.25\nset cblabel 'depth (layer / L)'\n"
            "set colorbox user origin screen %.4f, screen %.4f size screen 0.03, screen %.4f\n"
            "unset key\n"
            "# Panels share the scale axis; margins are fixed so the plot areas line up.\n"
            "set lmargin at screen %.4f\nset rmargin at screen %.4f\n",
            RIGHT_FRACTION - 0.15, BOTTOM_IN / height,
            1 - (TITLE_IN + PANEL_TITLE_IN + BOTTOM_IN) / height, LEFT_FRACTION,
            RIGHT_FRACTION - 0.19);
    gp_multiplot(out, fig);
    double top_in = TITLE_IN;
    int block = 0;
    for (int p = 0; p < fig->n_panels; p++) {
        gp_panel_margins(out, fig, p, &top_in);
        gp_panel_labels(out, fig, p, NULL, "neighbourhood rank n1 (n2 = 2 n1)");
        /* one line per layer, its colour from the depth (column 4) */
        fprintf(out,
                "plot for [b=%d:%d] '%s.dat' index b using 1:2:4 with linespoints lc palette "
                "pt 7 ps ps*0.7 notitle\n",
                block, block + (int)fig->scaling[p].rows - 1, fig->name);
        block += (int)fig->scaling[p].rows;
    }
    fputs("unset multiplot\n", out);
}

/* Categories (x = 0, 1, ...) and their labels: every series of every panel, by position. */
static int point_categories(const struct figure *fig, const char **labels, int max)
{
    int n = 0;
    for (int p = 0; p < fig->n_panels; p++)
        for (int s = 0; s < fig->panels[p].n_series; s++) {
            int x = (int)fig->panels[p].series[s].layer[0];
            if (x < 0 || x >= max) continue;
            labels[x] = fig->panels[p].series[s].label;
            if (x + 1 > n) n = x + 1;
        }
    return n;
}

static void gp_points(FILE *out, const struct figure *fig)
{
    const char *labels[256] = {0};
    int n = point_categories(fig, labels, 256);
    fputs("# Okabe-Ito colour-blind-safe palette: one colour per model\n", out);
    for (int i = 0; i < n_colours; i++) fprintf(out, "c%d = '%s'\n", i, okabe_ito[i]);
    fprintf(out,
            "set grid ytics lc rgb '#d9d9d9' lw 0.5\n"
            "set xrange [-0.5:%d.5]\nset tics nomirror\nset border 3\nunset key\n"
            "set bars small\n"
            "# Panels share the category axis; margins are fixed so the plot areas line up.\n"
            "set lmargin at screen %.4f\nset rmargin at screen %.4f\n",
            n - 1, LEFT_FRACTION, RIGHT_FRACTION);
    gp_multiplot(out, fig);
    double top_in = TITLE_IN;
    int block = 0;
    for (int p = 0; p < fig->n_panels; p++) {
        const struct fig_panel *panel = &fig->panels[p];
        int last = p == fig->n_panels - 1;
        gp_panel_margins(out, fig, p, &top_in);
        gp_panel_labels(out, fig, p, "whiskers: interval", "archive (model · interventions)");
        /* tick labels (model · interventions) under the last panel only */
        fputs(last ? "set xtics rotate by 90 right (" : "set xtics (", out);
        for (int x = 0; x < n; x++) {
            fputs(x ? ", " : "", out);
            if (!last || !labels[x]) {
                fputs("''", out);
            } else if (strlen(labels[x]) > POINT_LABEL_MAX) {
                char *cut = fig_printf("%.*s...", POINT_LABEL_MAX - 3, labels[x]);
                put_quoted(out, cut);
                free(cut);
            } else {
                put_quoted(out, labels[x]);
            }
            fprintf(out, " %d", x);
        }
        fputs(")\n", out);
        /* offsets (top, bottom) keep the points clear of the frame */
        if (isfinite(panel->ymin))
            fprintf(out, "set yrange [%g:*]\nset offsets 0, 0, graph 0.08, 0\n", panel->ymin);
        else
            fputs("set yrange [*:*]\nset offsets 0, 0, graph 0.08, graph 0.08\n", out);
        fputs(panel->zero_line ? "plot 0 with lines lc rgb '#888888' dt 2 notitle" : "plot ", out);
        for (int s = 0; s < panel->n_series; s++, block++) {
            const struct fig_series *series = &panel->series[s];
            if (s > 0 || panel->zero_line) fputs(", \\\n     ", out);
            int c = series->colour % n_colours;
            if (series->lo) /* the interval as a shaded box, the whisker and the point on it */
                fprintf(out,
                        "'%s.dat' index %d using 1:2:($1-0.2):($1+0.2):3:4 with boxxyerror "
                        "fs transparent solid 0.3 noborder lc rgb c%d notitle, \\\n     "
                        "'%s.dat' index %d using 1:2:3:4 with yerrorbars lc rgb c%d lw 2 pt 7 "
                        "ps 1.6*ps notitle",
                        fig->name, block, c, fig->name, block, c);
            else if (panel->ymin == 0) /* a count from zero: a bar */
                fprintf(out,
                        "'%s.dat' index %d using 1:2:(0.4) with boxes fs solid 0.8 noborder "
                        "lc rgb c%d notitle",
                        fig->name, block, c);
            else
                fprintf(out,
                        "'%s.dat' index %d using 1:2 with points lc rgb c%d pt 7 ps 1.6*ps "
                        "notitle",
                        fig->name, block, c);
        }
        fputs("\n", out);
    }
    fputs("unset multiplot\n", out);
}

int fig_write_gp(const struct figure *fig, const char *dir, const char *results_path)
{
    char path[4096];
    FILE *out = open_out(dir, fig->name, "gp", path, sizeof path);
    if (!out) return -1;
    gp_preamble(out, fig, results_path);
    if (fig->kind == FIG_HEATMAP)
        gp_heatmap(out, fig);
    else if (fig->kind == FIG_SCALING)
        gp_scaling(out, fig);
    else if (fig->kind == FIG_POINTS)
        gp_points(out, fig);
    else
        gp_lines(out, fig);
    return close_out(out, path);
}
