/* progress.h — the progress report of a long run on rank 0: samples done / total, samples/s
 * and ETA, as a bar redrawn in place on a terminal, or a line every few seconds in a batch log
 * (DESIGN.md, Command line). Relies on nothing but stdio; the caller decides which rank prints. */
#ifndef STRATA_PROGRESS_H
#define STRATA_PROGRESS_H

#include <stdint.h>
#include <stdio.h>

typedef enum {
    STRATA_PROGRESS_AUTO = 0, /* bar when `out` is a terminal, else lines */
    STRATA_PROGRESS_BAR,
    STRATA_PROGRESS_LINES,
    STRATA_PROGRESS_NONE,
} strata_progress_mode;

typedef struct {
    FILE *out;
    strata_progress_mode mode; /* resolved: BAR, LINES or NONE */
    const char *label;         /* e.g. "extract" */
    int64_t total;             /* samples in the whole run (including already done ones) */
    int64_t start_done;        /* samples already done when this run started (resume) */
    int64_t done, failed;
    double t_start, t_last;    /* strata_now() seconds */
    double interval;           /* seconds between lines (LINES mode) */
} strata_progress;

/* Mode from text: "auto", "bar", "lines", "none". -1 with strata_error otherwise. */
int strata_progress_mode_parse(const char *text, strata_progress_mode *mode);
/* interval <= 0: $STRATA_PROGRESS_INTERVAL or 10 s. */
void strata_progress_init(strata_progress *p, FILE *out, strata_progress_mode mode,
                          const char *label, int64_t total, int64_t start_done, double interval);
/* Record the counts (cumulative, including start_done) and redraw when due. */
void strata_progress_update(strata_progress *p, int64_t done, int64_t failed);
/* Final redraw (the bar gets its newline). */
void strata_progress_end(strata_progress *p);
/* "1:02:03" / "2:03" / "--" for negative or non-finite seconds. */
void strata_format_duration(double seconds, char *buf, size_t size);

#endif
