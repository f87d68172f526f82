/* study.c — study specs: YAML (libfyaml's document API) to a validated strata_study. Spec
 * format: jobs/README.md; the scripts a study becomes are written by study_script.c.
 * Validation is strict (unknown keys, wrong types, unsafe names are errors with line and
 * column) because every value ends up in a shell script or on a Slurm command line. */
#include "study.h"

#include <ctype.h>
#include <errno.h>
#include <libfyaml.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <utf8proc.h>

#include "strata.h"

/* ---- the environment before MPI_Init ------------------------------------------------------ */
/* MPI_Init of a singleton adds OMPI_*, PMIX_* variables that would make an mpirun or srun
 * started from us believe it is a rank of our job. A constructor copies environ before main. */
extern char **environ;
static char **startup_environ;

__attribute__((constructor)) static void save_startup_environ(void)
{
    int n = 0;
    while (environ && environ[n]) n++;
    startup_environ = calloc((size_t)n + 1, sizeof(char *));
    if (!startup_environ) return;
    for (int i = 0; i < n; i++) startup_environ[i] = strdup(environ[i]);
}

char **strata_study_clean_environ(void)
{
    return startup_environ ? startup_environ : environ;
}

/* ---- string lists ------------------------------------------------------------------------- */
void strata_strlist_add(strata_strlist *l, const char *s)
{
    l->v = strata_realloc(l->v, sizeof(char *) * (size_t)(l->n + 1));
    l->v[l->n++] = strata_strdup(s);
}

void strata_strlist_free(strata_strlist *l)
{
    for (int i = 0; i < l->n; i++) free(l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

/* ---- parse context and positions ---------------------------------------------------------- */
typedef struct {
    const char *origin;   /* file name in messages */
    const char *base_dir; /* relative paths resolve here */
} parse_ctx;

/* Line and column (1-based) of a node: a scalar's own token, else the first scalar inside. */
static int node_position(struct fy_node *n, int *line, int *column)
{
    if (!n) return -1;
    if (fy_node_is_scalar(n)) {
        struct fy_token *t = fy_node_get_scalar_token(n);
        const struct fy_mark *m = t ? fy_token_start_mark(t) : NULL;
        if (!m) return -1;
        *line = m->line + 1;
        *column = m->column + 1;
        return 0;
    }
    void *it = NULL;
    if (fy_node_is_mapping(n)) {
        struct fy_node_pair *p = fy_node_mapping_iterate(n, &it);
        return p ? node_position(fy_node_pair_key(p), line, column) : -1;
    }
    if (fy_node_is_sequence(n)) return node_position(fy_node_sequence_iterate(n, &it), line, column);
    return -1;
}

/* Set the error "<origin>:<line>:<column>: <message>" at node `at` (or `fallback` when `at`
 * has no position, e.g. an empty mapping). Returns -1. */
__attribute__((format(printf, 4, 5)))
static int fail(parse_ctx *c, struct fy_node *at, struct fy_node *fallback, const char *fmt, ...)
{
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    int line = 0, column = 0;
    if (node_position(at, &line, &column) == 0 || node_position(fallback, &line, &column) == 0)
        return strata_error_set("%s:%d:%d: %s", c->origin, line, column, msg);
    return strata_error_set("%s: %s", c->origin, msg);
}

static const char *node_kind(struct fy_node *n)
{
    if (!n || fy_node_is_null(n)) return "nothing";
    if (fy_node_is_mapping(n)) return "a mapping";
    if (fy_node_is_sequence(n)) return "a list";
    if (fy_node_is_alias(n)) return "an alias";
    return "a scalar";
}

/* The text of a scalar node, NUL-terminated (owned by the document). */
static const char *scalar_text(struct fy_node *n)
{
    return fy_node_get_scalar0(n);
}

static int is_quoted(struct fy_node *n)
{
    enum fy_node_style st = fy_node_get_style(n);
    return st == FYNS_SINGLE_QUOTED || st == FYNS_DOUBLE_QUOTED || st == FYNS_LITERAL ||
           st == FYNS_FOLDED;
}

/* ---- typed getters ------------------------------------------------------------------------ */
static int get_string(parse_ctx *c, struct fy_node *key, struct fy_node *v, char **dst)
{
    const char *k = scalar_text(key);
    if (!v || fy_node_is_null(v) || !fy_node_is_scalar(v))
        return fail(c, v, key, "'%s' must be a string, found %s", k, node_kind(v));
    size_t len = 0;
    const char *text = fy_node_get_scalar(v, &len);
    if (!text || strlen(scalar_text(v)) != len)
        return fail(c, v, key, "'%s' must not contain NUL characters", k);
    if (len == 0) return fail(c, v, key, "'%s' must not be empty", k);
    free(*dst);
    *dst = strata_strdup(scalar_text(v));
    return 0;
}

static int get_int(parse_ctx *c, struct fy_node *key, struct fy_node *v, long lo, long hi, long *dst)
{
    const char *k = scalar_text(key);
    if (!v || !fy_node_is_scalar(v) || fy_node_is_null(v) || is_quoted(v))
        return fail(c, v, key, "'%s' must be an integer, found %s", k,
                    v && fy_node_is_scalar(v) && is_quoted(v) ? "a quoted string" : node_kind(v));
    const char *text = scalar_text(v);
    char *end = NULL;
    errno = 0;
    long x = strtol(text, &end, 10);
    if (errno || end == text || *end != '\0')
        return fail(c, v, key, "'%s' must be an integer, found '%s'", k, text);
    if (x < lo || x > hi)
        return fail(c, v, key, "'%s' must be between %ld and %ld, found %ld", k, lo, hi, x);
    *dst = x;
    return 0;
}

static int get_int32(parse_ctx *c, struct fy_node *key, struct fy_node *v, long lo, long hi, int *dst)
{
    long x = 0;
    if (get_int(c, key, v, lo, hi, &x)) return -1;
    *dst = (int)x;
    return 0;
}

/* A list of non-empty scalars (a single scalar is accepted as a list of one when
 * `allow_scalar`, split on white space when `split`). */
static int get_strlist(parse_ctx *c, struct fy_node *key, struct fy_node *v, int allow_scalar,
                       int split, strata_strlist *dst)
{
    const char *k = scalar_text(key);
    strata_strlist_free(dst);
    if (v && fy_node_is_scalar(v) && !fy_node_is_null(v) && allow_scalar) {
        const char *text = scalar_text(v);
        if (!split) {
            if (!*text) return fail(c, v, key, "'%s' must not be empty", k);
            strata_strlist_add(dst, text);
            return 0;
        }
        char *copy = strata_strdup(text);
        for (char *save = NULL, *w = strtok_r(copy, " \t", &save); w; w = strtok_r(NULL, " \t", &save))
            strata_strlist_add(dst, w);
        free(copy);
        if (dst->n == 0) return fail(c, v, key, "'%s' must not be empty", k);
        return 0;
    }
    if (!v || !fy_node_is_sequence(v))
        return fail(c, v, key, "'%s' must be a list%s, found %s", k,
                    allow_scalar ? " or a string" : "", node_kind(v));
    void *it = NULL;
    struct fy_node *item;
    while ((item = fy_node_sequence_iterate(v, &it))) {
        if (!fy_node_is_scalar(item) || fy_node_is_null(item))
            return fail(c, item, key, "items of '%s' must be strings, found %s", k, node_kind(item));
        size_t len = 0;
        const char *text = fy_node_get_scalar(item, &len);
        if (!text || len == 0 || strlen(scalar_text(item)) != len)
            return fail(c, item, key, "items of '%s' must be non-empty strings without NUL", k);
        strata_strlist_add(dst, scalar_text(item));
    }
    return 0;
}

/* ---- validators --------------------------------------------------------------------------- */
static int all_chars_in(const char *s, const char *extra)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (!isalnum(*p) && !strchr(extra, *p)) return 0;
    return 1;
}

int strata_study_has_control(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 || *p == 0x7f) return 1;
    return 0;
}

/* Names become file names, job names and results groups. */
static int valid_name(const char *s)
{
    return s[0] && isalnum((unsigned char)s[0]) && strlen(s) <= 64 && all_chars_in(s, "._-");
}

/* Slurm time: minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS (all digits). */
static int valid_time(const char *s)
{
    if (!*s || !all_chars_in(s, ":-")) return 0;
    for (const char *p = s; *p; p++)
        if (isalpha((unsigned char)*p)) return 0;
    const char *dash = strchr(s, '-');
    if (dash && (dash == s || strchr(dash + 1, '-'))) return 0;
    const char *rest = dash ? dash + 1 : s;
    int colons = 0, digits = 0;
    for (const char *p = rest; *p; p++) {
        if (*p == ':') {
            if (digits == 0) return 0;
            colons++;
            digits = 0;
        } else {
            digits++;
        }
    }
    return digits > 0 && colons <= 2;
}

/* Memory: digits with an optional K, M, G or T suffix. */
static int valid_mem(const char *s)
{
    size_t n = strlen(s), d = 0;
    while (d < n && isdigit((unsigned char)s[d])) d++;
    if (d == 0) return 0;
    return d == n || (d + 1 == n && strchr("KMGTkmgt", s[d]));
}

/* Words of a launcher command: no shell syntax at all. */
static int valid_word(const char *s)
{
    return s[0] && all_chars_in(s, "_./=:,+%@-");
}

/* Output folder: it appears in #SBATCH --output/--chdir lines, which sbatch splits itself. */
static int valid_output_path(const char *s)
{
    return s[0] && all_chars_in(s, "_./+=,@:-");
}

static const char *const known_streams[] = {"image", "caption", "image_last", "caption_last",
                                            "vision", "connector"};
/* Streams a text-only model can produce. */
static int text_stream(const char *s)
{
    return strcmp(s, "caption") == 0 || strcmp(s, "caption_last") == 0;
}

/* Absolute path of `p` (relative to the spec's folder); canonical when it exists. */
static char *resolve_path(parse_ctx *c, const char *p)
{
    char *joined;
    if (p[0] == '/') {
        joined = strata_strdup(p);
    } else {
        size_t n = strlen(c->base_dir) + strlen(p) + 2;
        joined = strata_malloc(n);
        snprintf(joined, n, "%s/%s", c->base_dir, p);
    }
    char *real = realpath(joined, NULL);
    if (real) {
        free(joined);
        return real;
    }
    /* Not there yet (an output folder): drop "." and resolve ".." by hand. */
    char *out = strata_malloc(strlen(joined) + 2);
    size_t n = 0;
    char *save = NULL;
    for (char *part = strtok_r(joined, "/", &save); part; part = strtok_r(NULL, "/", &save)) {
        if (strcmp(part, ".") == 0) continue;
        if (strcmp(part, "..") == 0) {
            while (n > 0 && out[n - 1] != '/') n--;
            if (n > 0) n--;
            continue;
        }
        out[n++] = '/';
        memcpy(out + n, part, strlen(part));
        n += strlen(part);
    }
    if (n == 0) out[n++] = '/';
    out[n] = '\0';
    free(joined);
    return out;
}

/* ---- sections ----------------------------------------------------------------------------- */
static int parse_resources(parse_ctx *c, struct fy_node *key, struct fy_node *k, struct fy_node *v,
                           strata_study_resources *r, int *matched)
{
    const char *name = scalar_text(k);
    *matched = 1;
    if (strcmp(name, "partition") == 0 || strcmp(name, "account") == 0 || strcmp(name, "qos") == 0) {
        char **dst = name[0] == 'p' ? &r->partition : name[0] == 'a' ? &r->account : &r->qos;
        if (get_string(c, k, v, dst)) return -1;
        if (!all_chars_in(*dst, "_.,+-"))
            return fail(c, v, k, "'%s' may only hold letters, digits and _ . , + - (found '%s')",
                        name, *dst);
        return 0;
    }
    if (strcmp(name, "mem") == 0) {
        if (get_string(c, k, v, &r->mem)) return -1;
        if (!valid_mem(r->mem))
            return fail(c, v, k, "'mem' must be a size like 16000, 64G or 512M (found '%s')", r->mem);
        return 0;
    }
    if (strcmp(name, "time") == 0) {
        if (get_string(c, k, v, &r->time)) return -1;
        if (!valid_time(r->time))
            return fail(c, v, k, "'time' must be a Slurm time like 90, 04:00:00 or 1-12:00:00 "
                                 "(found '%s'; quote it in YAML)", r->time);
        return 0;
    }
    if (strcmp(name, "nodes") == 0) return get_int32(c, k, v, 1, 100000, &r->nodes);
    if (strcmp(name, "ntasks-per-node") == 0) return get_int32(c, k, v, 1, 4096, &r->ntasks_per_node);
    if (strcmp(name, "gpus-per-node") == 0) return get_int32(c, k, v, 0, 64, &r->gpus_per_node);
    if (strcmp(name, "cpus-per-task") == 0) return get_int32(c, k, v, 1, 4096, &r->cpus_per_task);
    if (strcmp(name, "extra") == 0) {
        if (get_strlist(c, k, v, 1, 0, &r->extra)) return -1;
        static const char *const owned[] = {"--array", "--dependency", "--output", "--error",
                                            "--wrap", "--chdir", "--job-name", "-J", "-o",
                                            "-e", "-a", "-d", "-D"};
        for (int i = 0; i < r->extra.n; i++) {
            const char *e = r->extra.v[i];
            struct fy_node *item = fy_node_is_sequence(v) ? fy_node_sequence_get_by_index(v, i) : v;
            if (e[0] != '-' || strata_study_has_control(e))
                return fail(c, item, k, "'extra' lines are sbatch options starting with '-', one per "
                                     "item, printable characters only (found '%s')", e);
            for (size_t o = 0; o < sizeof owned / sizeof owned[0]; o++) {
                size_t n = strlen(owned[o]);
                if (strncmp(e, owned[o], n) == 0 && (e[n] == '\0' || e[n] == '=' || e[n] == ' '))
                    return fail(c, item, k, "'extra' may not set %s: strata study sets it", owned[o]);
            }
        }
        return 0;
    }
    (void)key;
    *matched = 0;
    return 0;
}

#define RESOURCE_KEYS "partition, account, qos, nodes, ntasks-per-node, gpus-per-node, " \
                      "cpus-per-task, mem, time, extra"

static int parse_step_resources(parse_ctx *c, struct fy_node *key, struct fy_node *v,
                                strata_study_resources *r)
{
    if (!v || !fy_node_is_mapping(v))
        return fail(c, v, key, "'%s' must be a mapping of Slurm resources, found %s",
                    scalar_text(key), node_kind(v));
    void *it = NULL;
    struct fy_node_pair *p;
    while ((p = fy_node_mapping_iterate(v, &it))) {
        struct fy_node *k = fy_node_pair_key(p), *val = fy_node_pair_value(p);
        if (!fy_node_is_scalar(k)) return fail(c, k, v, "keys must be plain strings");
        int matched = 0;
        if (parse_resources(c, key, k, val, r, &matched)) return -1;
        if (!matched)
            return fail(c, k, v, "unknown key '%s' in slurm.%s (expected one of: " RESOURCE_KEYS ")",
                        scalar_text(k), scalar_text(key));
    }
    return 0;
}

static int parse_slurm(parse_ctx *c, struct fy_node *key, struct fy_node *v, strata_study *s)
{
    if (!v || !fy_node_is_mapping(v))
        return fail(c, v, key, "'slurm' must be a mapping, found %s", node_kind(v));
    strata_study_resources *r = &s->resources[STRATA_STEP_EXTRACT];
    void *it = NULL;
    struct fy_node_pair *p;
    while ((p = fy_node_mapping_iterate(v, &it))) {
        struct fy_node *k = fy_node_pair_key(p), *val = fy_node_pair_value(p);
        if (!fy_node_is_scalar(k)) return fail(c, k, v, "keys must be plain strings");
        const char *name = scalar_text(k);
        int matched = 0;
        if (parse_resources(c, key, k, val, r, &matched)) return -1;
        if (matched) continue;
        if (strcmp(name, "array-concurrency") == 0) {
            if (get_int32(c, k, val, 1, 100000, &s->array_concurrency)) return -1;
        } else if (strcmp(name, "signal-seconds") == 0) {
            if (get_int32(c, k, val, 10, 65535, &s->signal_seconds)) return -1;
        } else if (strcmp(name, "analysis") == 0) {
            if (parse_step_resources(c, k, val, &s->resources[STRATA_STEP_ANALYZE])) return -1;
        } else if (strcmp(name, "figures") == 0) {
            if (parse_step_resources(c, k, val, &s->resources[STRATA_STEP_FIGURES])) return -1;
        } else if (strcmp(name, "templates") == 0) {
            if (get_string(c, k, val, &s->templates)) return -1;
            char *abs = resolve_path(c, s->templates);
            free(s->templates);
            s->templates = abs;
        } else {
            return fail(c, k, v, "unknown key '%s' in slurm (expected one of: " RESOURCE_KEYS
                                 ", array-concurrency, signal-seconds, analysis, figures, "
                                 "templates)", name);
        }
    }
    return 0;
}

static int parse_model(parse_ctx *c, struct fy_node *models_key, struct fy_node *v, int index,
                       strata_study_model *m)
{
    if (!v || !fy_node_is_mapping(v))
        return fail(c, v, models_key, "models[%d] must be a mapping with name, path, kind, "
                                      "template; found %s", index, node_kind(v));
    struct fy_node *path_node = NULL, *name_node = NULL;
    int have_kind = 0;
    void *it = NULL;
    struct fy_node_pair *p;
    while ((p = fy_node_mapping_iterate(v, &it))) {
        struct fy_node *k = fy_node_pair_key(p), *val = fy_node_pair_value(p);
        if (!fy_node_is_scalar(k)) return fail(c, k, v, "keys must be plain strings");
        const char *name = scalar_text(k);
        if (strcmp(name, "name") == 0) {
            if (get_string(c, k, val, &m->name)) return -1;
            if (!valid_name(m->name))
                return fail(c, val, k, "model name '%s' may only hold letters, digits and . _ - "
                                       "(starting with a letter or digit, at most 64): it names "
                                       "files and jobs", m->name);
            name_node = val;
        } else if (strcmp(name, "path") == 0) {
            char *raw = NULL;
            if (get_string(c, k, val, &raw)) return -1;
            if (strata_study_has_control(raw)) {
                free(raw);
                return fail(c, val, k, "'path' must not contain control characters");
            }
            m->path = resolve_path(c, raw);
            free(raw);
            path_node = val;
        } else if (strcmp(name, "kind") == 0) {
            char *kind = NULL;
            if (get_string(c, k, val, &kind)) return -1;
            int ok = strcmp(kind, "vlm") == 0 || strcmp(kind, "text") == 0;
            m->kind = strcmp(kind, "text") == 0 ? STRATA_MODEL_TEXT : STRATA_MODEL_VLM;
            if (!ok) {
                fail(c, val, k, "'kind' must be vlm or text (found '%s')", kind);
                free(kind);
                return -1;
            }
            free(kind);
            have_kind = 1;
        } else if (strcmp(name, "template") == 0) {
            if (get_string(c, k, val, &m->template_text)) return -1;
        } else if (strcmp(name, "args") == 0) {
            if (get_strlist(c, k, val, 0, 0, &m->args)) return -1;
        } else {
            return fail(c, k, v, "unknown key '%s' in models[%d] (expected one of: name, path, "
                                 "kind, template, args)", name, index);
        }
    }
    if (!m->name) return fail(c, v, models_key, "models[%d] has no 'name'", index);
    if (!m->path) return fail(c, name_node, v, "model '%s' has no 'path'", m->name);
    if (!have_kind)
        return fail(c, name_node, v, "model '%s' has no 'kind' (vlm or text)", m->name);
    struct stat st;
    int found = stat(m->path, &st) == 0;
    if (!found || !S_ISDIR(st.st_mode))
        return fail(c, path_node, v, "model '%s': path '%s' is not a folder (%s)", m->name,
                    m->path, found ? "not a directory" : strerror(errno));
    size_t n = strlen(m->path) + 16;
    char *config = strata_malloc(n);
    snprintf(config, n, "%s/config.json", m->path);
    int has_config = access(config, R_OK) == 0;
    free(config);
    if (!has_config)
        return fail(c, path_node, v, "model '%s': '%s' has no readable config.json (expected a "
                                     "Hugging Face checkpoint folder)", m->name, m->path);
    return 0;
}

static int parse_options(parse_ctx *c, struct fy_node *key, struct fy_node *v, strata_study *s)
{
    const char *section = scalar_text(key);
    if (!v || !fy_node_is_mapping(v))
        return fail(c, v, key, "'%s' must be a mapping, found %s", section, node_kind(v));
    void *it = NULL;
    struct fy_node_pair *p;
    while ((p = fy_node_mapping_iterate(v, &it))) {
        struct fy_node *k = fy_node_pair_key(p), *val = fy_node_pair_value(p);
        if (!fy_node_is_scalar(k)) return fail(c, k, v, "keys must be plain strings");
        const char *name = scalar_text(k);
        int rc = 0, known = 1;
        if (strcmp(section, "extract") == 0) {
            if (strcmp(name, "layers") == 0) rc = get_string(c, k, val, &s->layers);
            else if (strcmp(name, "pool") == 0) rc = get_string(c, k, val, &s->pool);
            else if (strcmp(name, "dtype") == 0) rc = get_string(c, k, val, &s->dtype);
            else if (strcmp(name, "backend") == 0) rc = get_string(c, k, val, &s->backend);
            else if (strcmp(name, "batch") == 0) rc = get_int32(c, k, val, 1, 65536, &s->batch);
            else if (strcmp(name, "args") == 0) rc = get_strlist(c, k, val, 0, 0, &s->extract_args);
            else known = 0;
            if (!known)
                return fail(c, k, v, "unknown key '%s' in extract (expected one of: layers, pool, "
                                     "dtype, backend, batch, args)", name);
        } else if (strcmp(section, "analysis") == 0) {
            if (strcmp(name, "metrics") == 0) rc = get_strlist(c, k, val, 1, 0, &s->metrics);
            else if (strcmp(name, "layers") == 0) rc = get_string(c, k, val, &s->analysis_layers);
            else if (strcmp(name, "samples") == 0) rc = get_int(c, k, val, 1, LONG_MAX, &s->samples);
            else if (strcmp(name, "seed") == 0) rc = get_int(c, k, val, 0, LONG_MAX, &s->seed);
            else if (strcmp(name, "args") == 0) rc = get_strlist(c, k, val, 0, 0, &s->analysis_args);
            else known = 0;
            if (!known)
                return fail(c, k, v, "unknown key '%s' in analysis (expected one of: metrics, "
                                     "layers, samples, seed, args)", name);
        } else {
            if (strcmp(name, "format") == 0) rc = get_strlist(c, k, val, 1, 0, &s->formats);
            else if (strcmp(name, "only") == 0) rc = get_strlist(c, k, val, 1, 0, &s->only);
            else if (strcmp(name, "args") == 0) rc = get_strlist(c, k, val, 0, 0, &s->figures_args);
            else known = 0;
            if (!known)
                return fail(c, k, v, "unknown key '%s' in figures (expected one of: format, only, "
                                     "args)", name);
        }
        if (rc) return -1;
        /* Option values are passed as single quoted words; control characters would only make
         * the scripts unreadable. */
        const char *text = val && fy_node_is_scalar(val) ? scalar_text(val) : "";
        if (text && strata_study_has_control(text))
            return fail(c, val, k, "'%s' must not contain control characters", name);
    }
    return 0;
}

static int parse_top(parse_ctx *c, struct fy_node *root, strata_study *s)
{
    if (!root || !fy_node_is_mapping(root))
        return fail(c, root, NULL, "a study spec is a mapping with the keys name, output, "
                                   "dataset, models (and streams, extract, analysis, figures, "
                                   "slurm, launcher); found %s", node_kind(root));
    struct fy_node *models_key = NULL, *models_val = NULL, *streams_key = NULL;
    void *it = NULL;
    struct fy_node_pair *p;
    while ((p = fy_node_mapping_iterate(root, &it))) {
        struct fy_node *k = fy_node_pair_key(p), *v = fy_node_pair_value(p);
        if (!fy_node_is_scalar(k)) return fail(c, k, root, "keys must be plain strings");
        const char *name = scalar_text(k);
        int rc = 0;
        if (strcmp(name, "name") == 0) {
            rc = get_string(c, k, v, &s->name);
            if (!rc && !valid_name(s->name))
                return fail(c, v, k, "study name '%s' may only hold letters, digits and . _ - "
                                     "(starting with a letter or digit, at most 64)", s->name);
        } else if (strcmp(name, "output") == 0) {
            char *raw = NULL;
            if (get_string(c, k, v, &raw)) return -1;
            s->output = resolve_path(c, raw);
            free(raw);
            if (!valid_output_path(s->output))
                return fail(c, v, k, "output folder '%s' may only hold letters, digits and "
                                     "_ . / + = , @ : - (it goes on #SBATCH lines)", s->output);
        } else if (strcmp(name, "dataset") == 0) {
            char *raw = NULL;
            if (get_string(c, k, v, &raw)) return -1;
            if (strata_study_has_control(raw)) {
                free(raw);
                return fail(c, v, k, "'dataset' must not contain control characters");
            }
            s->dataset = resolve_path(c, raw);
            free(raw);
            struct stat st;
            int found = stat(s->dataset, &st) == 0;
            if (!found || !S_ISREG(st.st_mode))
                return fail(c, v, k, "dataset manifest '%s' is not a readable file (%s)",
                            s->dataset, found ? "not a regular file" : strerror(errno));
        } else if (strcmp(name, "models") == 0) {
            models_key = k;
            models_val = v;
        } else if (strcmp(name, "streams") == 0) {
            streams_key = k;
            rc = get_strlist(c, k, v, 1, 0, &s->streams);
            for (int i = 0; !rc && i < s->streams.n; i++) {
                int ok = 0;
                for (size_t j = 0; j < sizeof known_streams / sizeof known_streams[0]; j++)
                    ok |= strcmp(s->streams.v[i], known_streams[j]) == 0;
                if (!ok)
                    return fail(c, fy_node_is_sequence(v) ? fy_node_sequence_get_by_index(v, i) : v, k,
                                "unknown stream '%s' (expected image, caption, "
                                         "image_last, caption_last, vision, connector)",
                                s->streams.v[i]);
            }
        } else if (strcmp(name, "extract") == 0 || strcmp(name, "analysis") == 0 ||
                   strcmp(name, "figures") == 0) {
            rc = parse_options(c, k, v, s);
        } else if (strcmp(name, "slurm") == 0) {
            rc = parse_slurm(c, k, v, s);
        } else if (strcmp(name, "launcher") == 0 || strcmp(name, "local-launcher") == 0) {
            strata_strlist *dst = strcmp(name, "launcher") == 0 ? &s->launcher : &s->local_launcher;
            rc = get_strlist(c, k, v, 1, 1, dst);
            for (int i = 0; !rc && i < dst->n; i++)
                if (!valid_word(dst->v[i]))
                    return fail(c, v, k, "'%s' word '%s' may only hold letters, digits and "
                                         "_ . / = : , + %% @ - (no shell syntax)", name, dst->v[i]);
        } else if (strcmp(name, "strata") == 0) {
            char *raw = NULL;
            if (get_string(c, k, v, &raw)) return -1;
            free(s->strata);
            s->strata = resolve_path(c, raw);
            free(raw);
            if (strata_study_has_control(s->strata) || access(s->strata, X_OK) != 0)
                return fail(c, v, k, "'strata' must name an executable program (found '%s')",
                            s->strata);
        } else {
            return fail(c, k, root, "unknown key '%s' (expected one of: name, output, dataset, "
                                    "models, streams, extract, analysis, figures, slurm, "
                                    "launcher, local-launcher, strata)", name);
        }
        if (rc) return -1;
    }
    if (!s->name) return fail(c, root, NULL, "the spec has no 'name'");
    if (!s->output) return fail(c, root, NULL, "the spec has no 'output' (the study's folder)");
    if (!s->dataset) return fail(c, root, NULL, "the spec has no 'dataset' (a manifest file)");
    if (!models_key) return fail(c, root, NULL, "the spec has no 'models'");
    if (!models_val || !fy_node_is_sequence(models_val) || fy_node_sequence_item_count(models_val) < 1)
        return fail(c, models_val, models_key, "'models' must be a non-empty list of models, "
                                               "found %s", node_kind(models_val));
    if (s->streams.n == 0) {
        strata_strlist_add(&s->streams, "image");
        strata_strlist_add(&s->streams, "caption");
    }
    s->n_models = fy_node_sequence_item_count(models_val);
    s->models = strata_calloc((size_t)s->n_models, sizeof *s->models);
    it = NULL;
    for (int i = 0; i < s->n_models; i++) {
        struct fy_node *item = fy_node_sequence_iterate(models_val, &it);
        strata_study_model *m = &s->models[i];
        if (parse_model(c, models_key, item, i, m)) return -1;
        for (int j = 0; j < i; j++)
            if (strcmp(s->models[j].name, m->name) == 0)
                return fail(c, fy_node_mapping_lookup_by_string(item, "name", FY_NT), item,
                            "two models are named '%s'", m->name);
        for (int j = 0; j < s->streams.n; j++)
            if (m->kind == STRATA_MODEL_VLM || text_stream(s->streams.v[j]))
                strata_strlist_add(&m->streams, s->streams.v[j]);
        if (m->streams.n == 0)
            return fail(c, fy_node_mapping_lookup_by_string(item, "kind", FY_NT), streams_key,
                        "text model '%s' can produce none of the study's "
                                              "streams (text models have caption, caption_last)",
                        m->name);
    }
    return 0;
}

/* ---- loading ------------------------------------------------------------------------------ */
static char *program_path(void)
{
    char *self = realpath("/proc/self/exe", NULL);
    return self ? self : strata_strdup("strata");
}

/* Templates: $STRATA_TEMPLATES, next to the program (<bin>/../slurm, <bin>/../share/strata/slurm),
 * then the source tree this program was built from. */
static char *find_templates(void)
{
    const char *env = getenv("STRATA_TEMPLATES");
    if (env && *env) return strata_strdup(env);
    char *self = program_path();
    char *slash = strrchr(self, '/');
    if (slash) *slash = '\0';
    const char *rel[] = {"/../slurm", "/../share/strata/slurm"};
    for (int i = 0; i < 2; i++) {
        size_t n = strlen(self) + strlen(rel[i]) + 32;
        char *dir = strata_malloc(n);
        snprintf(dir, n, "%s%s/extract.sbatch", self, rel[i]);
        if (access(dir, R_OK) == 0) {
            snprintf(dir, n, "%s%s", self, rel[i]);
            char *real = realpath(dir, NULL);
            free(dir);
            free(self);
            return real ? real : strata_strdup(".");
        }
        free(dir);
    }
    free(self);
    return strata_strdup(STRATA_SOURCE_DIR "/slurm");
}

/* libfyaml's own diagnostics (syntax errors, duplicate keys) arrive as text
 * "<input>:<line>:<column>: error: <message>\n" followed by the source line; keep the first. */
typedef struct {
    char first[512];
} diag_capture;

static void diag_output(struct fy_diag *diag, void *user, const char *text, size_t len)
{
    diag_capture *d = user;
    if (d->first[0] || len == 0 || !memchr(text, ':', len)) return;
    snprintf(d->first, sizeof d->first, "%.*s", (int)len, text);
    d->first[strcspn(d->first, "\n")] = '\0';
}

/* "<origin>:<line>:<column>: YAML syntax error: <message>" from a captured diagnostic. */
static void syntax_error(const char *origin, const char *captured)
{
    const char *err = strstr(captured, ": error: ");
    int line = 0, column = 0;
    if (err) {
        /* Walk back over ":<column>" and ":<line>" before ": error: ". */
        const char *p = err;
        const char *col_start = p;
        while (col_start > captured && col_start[-1] >= '0' && col_start[-1] <= '9') col_start--;
        const char *line_end = col_start > captured ? col_start - 1 : captured;
        const char *line_start = line_end;
        while (line_start > captured && line_start[-1] >= '0' && line_start[-1] <= '9') line_start--;
        if (*line_end == ':' && line_start < line_end && col_start < p) {
            line = atoi(line_start);
            column = atoi(col_start);
        }
        if (line > 0) {
            strata_error_set("%s:%d:%d: YAML syntax error: %s", origin, line, column, err + 9);
            return;
        }
        strata_error_set("%s: YAML syntax error: %s", origin, err + 9);
        return;
    }
    strata_error_set("%s: no YAML document in it (an empty file?)", origin);
}

/* YAML here is UTF-8 without NUL; checked before libfyaml sees it (libfyaml 0.7.12 loops
 * forever on some invalid UTF-8 in directives). Sets "<origin>:<line>:<column>: ..." */
static int check_utf8(const char *text, size_t len, const char *origin)
{
    int line = 1, column = 1;
    for (size_t i = 0; i < len;) {
        utf8proc_int32_t cp = 0;
        utf8proc_ssize_t n = utf8proc_iterate((const utf8proc_uint8_t *)text + i,
                                              (utf8proc_ssize_t)(len - i), &cp);
        if (n <= 0 || cp == 0)
            return strata_error_set("%s:%d:%d: %s (a study spec is UTF-8 text)", origin, line,
                                    column, cp == 0 && n > 0 ? "NUL character" : "invalid UTF-8");
        i += (size_t)n;
        if (cp == '\n') {
            line++;
            column = 1;
        } else {
            column++;
        }
    }
    return 0;
}

static strata_study *load(const char *text, size_t text_len, const char *origin, const char *base_dir)
{
    diag_capture captured = {{0}};
    struct fy_diag_cfg dcfg;
    fy_diag_cfg_default(&dcfg);
    dcfg.fp = NULL;
    dcfg.output_fn = diag_output;
    dcfg.user = &captured;
    dcfg.level = FYET_ERROR;
    dcfg.colorize = false;
    struct fy_diag *diag = fy_diag_create(&dcfg);
    struct fy_parse_cfg cfg = {
        .search_path = "",
        .flags = FYPCF_QUIET | FYPCF_RESOLVE_DOCUMENT,
        .userdata = NULL,
        .diag = diag,
    };
    if (check_utf8(text, text_len, origin) != 0) {
        if (diag) fy_diag_destroy(diag);
        return NULL;
    }
    struct fy_document *doc = fy_document_build_from_string(&cfg, text, text_len);
    if (!doc || (diag && fy_diag_got_error(diag))) {
        syntax_error(origin, captured.first);
        if (doc) fy_document_destroy(doc);
        if (diag) fy_diag_destroy(diag);
        return NULL;
    }
    strata_study *s = strata_calloc(1, sizeof *s);
    s->spec_path = strata_strdup(origin);
    s->samples = 0;
    s->seed = -1;
    s->signal_seconds = 300;
    parse_ctx c = {.origin = origin, .base_dir = base_dir};
    int rc = parse_top(&c, fy_document_root(doc), s);
    fy_document_destroy(doc);
    if (diag) fy_diag_destroy(diag);
    if (rc) {
        strata_study_free(s);
        return NULL;
    }
    if (s->launcher.n == 0) {
        strata_strlist_add(&s->launcher, "srun");
        strata_strlist_add(&s->launcher, "--mpi=pmix");
    }
    if (!s->strata) s->strata = program_path();
    if (!s->templates) s->templates = find_templates();
    /* The figures job is one process without GPUs unless told otherwise; analysis uses the
     * extract job's shape unless slurm.analysis says more. */
    strata_study_resources *ex = &s->resources[STRATA_STEP_EXTRACT];
    for (int step = STRATA_STEP_ANALYZE; step <= STRATA_STEP_FIGURES; step++) {
        strata_study_resources *r = &s->resources[step];
        char **strs[] = {&r->partition, &r->account, &r->qos, &r->mem, &r->time};
        char *from[] = {ex->partition, ex->account, ex->qos, ex->mem, ex->time};
        for (int i = 0; i < 5; i++)
            if (!*strs[i] && from[i] && (step == STRATA_STEP_ANALYZE || i < 3))
                *strs[i] = strata_strdup(from[i]);
        if (step == STRATA_STEP_ANALYZE) {
            if (!r->nodes) r->nodes = ex->nodes;
            if (!r->ntasks_per_node) r->ntasks_per_node = ex->ntasks_per_node;
            if (!r->gpus_per_node) r->gpus_per_node = ex->gpus_per_node;
            if (!r->cpus_per_task) r->cpus_per_task = ex->cpus_per_task;
        } else {
            if (!r->nodes) r->nodes = 1;
            if (!r->ntasks_per_node) r->ntasks_per_node = 1;
        }
        if (r->extra.n == 0)
            for (int i = 0; i < ex->extra.n; i++) strata_strlist_add(&r->extra, ex->extra.v[i]);
    }
    return s;
}

strata_study *strata_study_load(const char *path)
{
    char *copy = strata_strdup(path);
    char *slash = strrchr(copy, '/');
    char *base;
    if (slash) {
        *slash = '\0';
        base = realpath(copy[0] ? copy : "/", NULL);
    } else {
        base = realpath(".", NULL);
    }
    free(copy);
    if (!base) {
        strata_error_set("%s: cannot resolve the spec's folder (%s)", path, strerror(errno));
        return NULL;
    }
    size_t len = 0;
    char *text = strata_read_file(path, &len);
    if (!text) {
        strata_error_prefix("cannot read the study spec");
        free(base);
        return NULL;
    }
    strata_study *s = load(text, len, path, base);
    free(text);
    free(base);
    return s;
}

strata_study *strata_study_load_string(const char *text, const char *origin, const char *base_dir)
{
    return load(text, strlen(text), origin, base_dir);
}

static void resources_free(strata_study_resources *r)
{
    free(r->partition);
    free(r->account);
    free(r->qos);
    free(r->mem);
    free(r->time);
    strata_strlist_free(&r->extra);
}

void strata_study_free(strata_study *s)
{
    if (!s) return;
    for (int i = 0; i < s->n_models; i++) {
        free(s->models[i].name);
        free(s->models[i].path);
        free(s->models[i].template_text);
        strata_strlist_free(&s->models[i].args);
        strata_strlist_free(&s->models[i].streams);
    }
    free(s->models);
    free(s->spec_path);
    free(s->name);
    free(s->output);
    free(s->dataset);
    strata_strlist_free(&s->streams);
    free(s->layers);
    free(s->pool);
    free(s->dtype);
    free(s->backend);
    strata_strlist_free(&s->extract_args);
    strata_strlist_free(&s->metrics);
    free(s->analysis_layers);
    strata_strlist_free(&s->analysis_args);
    strata_strlist_free(&s->formats);
    strata_strlist_free(&s->only);
    strata_strlist_free(&s->figures_args);
    for (int i = 0; i < STRATA_STUDY_N_STEPS; i++) resources_free(&s->resources[i]);
    strata_strlist_free(&s->launcher);
    strata_strlist_free(&s->local_launcher);
    free(s->strata);
    free(s->templates);
    free(s);
}
