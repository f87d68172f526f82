/* progress.c — rank 0's progress bar / progress lines (see progress.h). The rate counts only
 * samples done in this run, so a resumed run shows its own speed and an honest ETA. */
#include "progress.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "strata.h"

int strata_progress_mode_parse(const char *text, strata_progress_mode *mode)
{
    if (strcmp(text, "auto") == 0) *mode = STRATA_PROGRESS_AUTO;
    else if (strcmp(text, "bar") == 0) *mode = STRATA_PROGRESS_BAR;
    else if (strcmp(text, "lines") == 0) *mode = STRATA_PROGRESS_LINES;
    else if (strcmp(text, "none") == 0) *mode = STRATA_PROGRESS_NONE;
    else return strata_error_set("--progress '%s': expected auto, bar, lines or none", text);
    return 0;
}

void strata_format_duration(double seconds, char *buf, size_t size)
{
    if (!(seconds >= 0) || !isfinite(seconds) || seconds > 1e8) {
        snprintf(buf, size, "--");
        return;
    }
    long s = lround(seconds);
    if (s >= 3600) snprintf(buf, size, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
    else snprintf(buf, size, "%ld:%02ld", s / 60, s % 60);
}

void strata_progress_init(strata_progress *p, FILE *out, strata_progress_mode mode,
                          const char *label, int64_t total, int64_t start_done, double interval)
{
    memset(p, 0, sizeof *p);
    p->out = out;
    if (mode == STRATA_PROGRESS_AUTO) mode = isatty(fileno(out)) ? STRATA_PROGRESS_BAR
                                                                  : STRATA_PROGRESS_LINES;
    p->mode = mode;
    p->label = label;
    p->total = total;
    p->start_done = p->done = start_done;
    if (interval <= 0) {
        const char *env = getenv("STRATA_PROGRESS_INTERVAL");
        interval = env && atof(env) > 0 ? atof(env) : 10.0;
    }
    p->interval = interval;
    p->t_start = p->t_last = strata_now();
}

static void draw(strata_progress *p, int final)
{
    double elapsed = strata_now() - p->t_start;
    int64_t fresh = p->done - p->start_done;
    double rate = elapsed > 0 ? fresh / elapsed : 0;
    double eta = rate > 0 ? (double)(p->total - p->done) / rate : -1;
    char eta_text[32], elapsed_text[32], failed_text[48] = "";
    strata_format_duration(final ? 0 : eta, eta_text, sizeof eta_text);
    strata_format_duration(elapsed, elapsed_text, sizeof elapsed_text);
    if (p->failed) snprintf(failed_text, sizeof failed_text, ", %lld failed", (long long)p->failed);
    double pct = p->total > 0 ? 100.0 * (double)p->done / (double)p->total : 100.0;
    if (p->mode == STRATA_PROGRESS_BAR) {
        enum { width = 30 };
        int fill = (int)(pct / 100.0 * width + 0.5);
        char bar[width + 1];
        for (int i = 0; i < width; i++) bar[i] = i < fill ? '#' : '.';
        bar[width] = 0;
        fprintf(p->out, "\r%s [%s] %lld/%lld %3.0f%% %.1f samples/s ETA %s%s\033[K%s",
                p->label, bar, (long long)p->done, (long long)p->total, pct, rate, eta_text,
                failed_text, final ? "\n" : "");
    } else {
        fprintf(p->out, "%s: %lld/%lld samples (%.0f%%)%s, %.2f samples/s, elapsed %s, ETA %s\n",
                p->label, (long long)p->done, (long long)p->total, pct, failed_text, rate,
                elapsed_text, eta_text);
    }
    fflush(p->out);
}

void strata_progress_update(strata_progress *p, int64_t done, int64_t failed)
{
    p->done = done;
    p->failed = failed;
    if (p->mode == STRATA_PROGRESS_NONE) return;
    double now = strata_now();
    double due = p->mode == STRATA_PROGRESS_BAR ? 0.2 : p->interval;
    if (now - p->t_last < due) return;
    p->t_last = now;
    draw(p, 0);
}

void strata_progress_end(strata_progress *p)
{
    if (p->mode == STRATA_PROGRESS_NONE) return;
    draw(p, 1);
}
