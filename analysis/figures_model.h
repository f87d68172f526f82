/* figures_model.h — internal to the figures module: what a figure holds once read from the
 * results file (panels of lines over normalised depth, or one heatmap), the HDF5 reading helpers
 * (figures_read.c), the collection of figures from a results file (figures_collect.c) and the
 * .dat/.gp writers (figures_write.c). Every number keeps the results path it came from. */
#ifndef STRATA_FIGURES_MODEL_H
#define STRATA_FIGURES_MODEL_H

#include <hdf5.h>
#include <stddef.h>

/* One line on a panel: y over normalised depth, with an optional interval band. */
struct fig_series {
    char *label;      /* legend entry, e.g. "llava · image" */
    int colour;       /* palette index (one per model) */
    int dash;         /* dash type / point type index (one per stream or statistic) */
    size_t n;
    double *layer;    /* [n] layer index (transformers convention: 0 = embeddings) */
    double depth_l;   /* L: depth = layer / L */
    double *y;        /* [n] */
    double *lo, *hi;  /* [n] interval bounds, or NULL */
    char *src_layer;  /* "PATH@layers" (attribute), or NULL: the row index */
    char *src_y;      /* "PATH" or "PATH[:,c]" */
    char *src_lo, *src_hi;
};

struct fig_panel {
    char *title;
    char *ylabel;
    int logy;
    double ymin, ymax; /* fixed y range, NAN for automatic (FIG_POINTS: ymin only) */
    int zero_line;     /* FIG_POINTS: a dashed line at y = 0 (a change from a baseline) */
    struct fig_series *series;
    int n_series;
};

/* A matrix [rows, cols] drawn as an image; rows are layers of A (y), columns layers of B (x). */
struct fig_heatmap {
    size_t rows, cols;
    double *value;                /* [rows, cols] */
    double *row_layer, *col_layer; /* [rows], [cols] */
    char *src;                    /* dataset path */
    char *src_row_layer, *src_col_layer; /* "PATH@layers" or NULL (index) */
    char *row_label, *col_label;  /* axis labels */
    char *cb_label;               /* colour bar label */
};

/* One panel of a scale figure: a matrix [rows = layers, cols = scales] drawn as one line per
 * layer over the scale (x, log 2), coloured by the layer's depth (GRIDE's ID vs n1). */
struct fig_scaling {
    size_t rows, cols;
    double *value;       /* [rows, cols] */
    double *x;           /* [cols] scale (n1) */
    double *layer;       /* [rows] layer index */
    double depth_l;      /* depth = layer / L */
    char *src;           /* dataset path */
    char *src_x;         /* "PATH@n1", or NULL: x = 2^column */
    char *src_layer;     /* "PATH@layers", or NULL: the row index */
};

/* FIG_POINTS: panels of one point per series (a category on x, e.g. one archive's intervention)
 * with an optional interval whisker; series->n is 1, series->layer[0] the category's x position
 * (0, 1, ...), series->label its tick label, src_y may be "PATH@attr" (a scalar attribute). */
enum { FIG_LINES, FIG_HEATMAP, FIG_SCALING, FIG_POINTS };

struct figure {
    char *name;     /* file stem, [A-Za-z0-9_.-] only */
    char *title;
    char *shows;    /* one sentence for the index */
    int kind;
    struct fig_panel *panels; /* FIG_LINES, FIG_POINTS; FIG_SCALING: titles and labels only */
    int n_panels;
    struct fig_scaling *scaling; /* FIG_SCALING: [n_panels] */
    struct fig_heatmap heat;  /* FIG_HEATMAP */
};

struct fig_list {
    struct figure *figs;
    int n;
    char **skipped; /* "name: why" for figures (or parts) left out */
    int n_skipped;
};

/* ---- figures_read.c: HDF5 helpers; each returns 1 read, 0 absent, -1 unusable (error set) --- */
/* 1 if every component of the absolute path exists, 0 otherwise. */
int fig_h5_exists(hid_t file, const char *path);
/* Names of the children of a group that are groups (want_groups) or datasets, sorted by name.
 * Returns the count (0 when the group is absent); *names is NULL-terminated, free with
 * fig_free_names. */
int fig_h5_children(hid_t file, const char *path, int want_groups, char ***names);
void fig_free_names(char **names);
/* A numeric dataset of rank 1 or 2 as doubles: dims[0] (and dims[1], 1 for rank 1). */
int fig_h5_read(hid_t file, const char *path, int rank, size_t dims[2], double **data);
/* A numeric attribute of n values (e.g. "layers", the layer indices) as doubles. */
int fig_h5_attr_array(hid_t file, const char *path, const char *name, size_t n, double **values);
/* A scalar numeric attribute. */
int fig_h5_attr_double(hid_t file, const char *path, const char *name, double *value);
/* A string attribute (fixed or variable length) into buf. */
int fig_h5_attr_string(hid_t file, const char *path, const char *name, char *buf, size_t size);

/* ---- figures_collect.c ---------------------------------------------------------------------- */
/* Builds every figure the results file has data for; absent data becomes a skipped entry. */
int fig_collect(hid_t file, struct fig_list *out);
void fig_list_free(struct fig_list *list);
char *fig_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- figures_write.c ------------------------------------------------------------------------ */
/* NAME.dat and NAME.gp in dir; results_path is quoted in the headers. */
int fig_write_dat(const struct figure *fig, const char *dir, const char *results_path);
int fig_write_gp(const struct figure *fig, const char *dir, const char *results_path);
/* PNG size in pixels the script asks for (the PDF is the same at 300 dpi). */
void fig_png_size(const struct figure *fig, int *width, int *height);

#endif
