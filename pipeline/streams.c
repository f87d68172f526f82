/* streams.c — parsing of stream/pool/layer specifications and the pooling of token states
 * (see streams.h). Layer slices follow Python's slice semantics; the sampled positions use
 * splitmix64 (Steele, Lea, Flood 2014) and a partial Fisher-Yates shuffle. */
#include "streams.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strata.h"

static const struct {
    const char *name;
    strata_stream_kind kind;
} stream_names[] = {
    {"image", STRATA_STREAM_IMAGE},
    {"caption", STRATA_STREAM_CAPTION},
    {"image_last", STRATA_STREAM_IMAGE_LAST},
    {"caption_last", STRATA_STREAM_CAPTION_LAST},
    {"vision", STRATA_STREAM_VISION},
    {"connector", STRATA_STREAM_CONNECTOR},
};
enum { n_stream_names = sizeof stream_names / sizeof stream_names[0] };

int strata_pool_parse(const char *text, strata_pool *out)
{
    memset(out, 0, sizeof *out);
    if (strcmp(text, "mean") == 0) out->kind = STRATA_POOL_MEAN;
    else if (strcmp(text, "first") == 0) out->kind = STRATA_POOL_FIRST;
    else if (strcmp(text, "last") == 0) out->kind = STRATA_POOL_LAST;
    else if (strcmp(text, "cls") == 0) out->kind = STRATA_POOL_CLS;
    else if (strcmp(text, "all") == 0) out->kind = STRATA_POOL_ALL;
    else if (strncmp(text, "sample:", 7) == 0) {
        char *end = NULL;
        errno = 0;
        long k = strtol(text + 7, &end, 10);
        if (errno || end == text + 7 || *end || k < 1 || k > INT_MAX)
            return strata_error_set("pool '%s': expected sample:K with K a positive integer",
                                    text);
        out->kind = STRATA_POOL_SAMPLE;
        out->k = (int)k;
    } else
        return strata_error_set("pool '%s': expected mean, first, last, cls, all or sample:K",
                                text);
    return 0;
}

void strata_pool_format(strata_pool pool, char *buf, size_t size)
{
    switch (pool.kind) {
    case STRATA_POOL_MEAN: snprintf(buf, size, "mean"); break;
    case STRATA_POOL_FIRST: snprintf(buf, size, "first"); break;
    case STRATA_POOL_LAST: snprintf(buf, size, "last"); break;
    case STRATA_POOL_CLS: snprintf(buf, size, "cls"); break;
    case STRATA_POOL_ALL: snprintf(buf, size, "all"); break;
    case STRATA_POOL_SAMPLE: snprintf(buf, size, "sample:%d", pool.k); break;
    }
}

int strata_pool_is_ragged(strata_pool pool)
{
    return pool.kind == STRATA_POOL_ALL || pool.kind == STRATA_POOL_SAMPLE;
}

int64_t strata_pool_rows(strata_pool pool, int64_t n_positions)
{
    switch (pool.kind) {
    case STRATA_POOL_ALL: return n_positions;
    case STRATA_POOL_SAMPLE: return n_positions < pool.k ? n_positions : pool.k;
    default: return 1;
    }
}

static int compare_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

int strata_pool_sample_positions(int k, int n, uint64_t seed, int *out)
{
    int m = k < n ? k : n;
    if (m <= 0) return 0;
    int *perm = strata_malloc((size_t)n * sizeof *perm); /* [n] */
    for (int i = 0; i < n; i++) perm[i] = i;
    uint64_t state = seed;
    for (int i = 0; i < m; i++) {
        /* j uniform in [i, n): modulo bias is below 2^-32 for any n that fits an int */
        int j = i + (int)(strata_splitmix64(&state) % (uint64_t)(n - i));
        int t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
    memcpy(out, perm, (size_t)m * sizeof *out);
    free(perm);
    qsort(out, (size_t)m, sizeof *out, compare_int);
    return m;
}

void strata_pool_apply(strata_pool pool, const float *hidden, int64_t stride, int dim,
                       const int *positions, int n_positions, uint64_t seed, float *out)
{
    switch (pool.kind) {
    case STRATA_POOL_MEAN: {
        double *acc = strata_calloc((size_t)dim, sizeof *acc); /* [dim] */
        for (int p = 0; p < n_positions; p++) {
            const float *row = hidden + (int64_t)positions[p] * stride;
            for (int d = 0; d < dim; d++) acc[d] += row[d];
        }
        for (int d = 0; d < dim; d++) out[d] = n_positions ? (float)(acc[d] / n_positions) : 0.0f;
        free(acc);
        break;
    }
    case STRATA_POOL_FIRST:
    case STRATA_POOL_LAST:
        if (n_positions == 0) {
            memset(out, 0, (size_t)dim * sizeof *out);
        } else {
            int p = positions[pool.kind == STRATA_POOL_FIRST ? 0 : n_positions - 1];
            memcpy(out, hidden + (int64_t)p * stride, (size_t)dim * sizeof *out);
        }
        break;
    case STRATA_POOL_CLS: memcpy(out, hidden, (size_t)dim * sizeof *out); break;
    case STRATA_POOL_ALL:
        for (int p = 0; p < n_positions; p++)
            memcpy(out + (int64_t)p * dim, hidden + (int64_t)positions[p] * stride,
                   (size_t)dim * sizeof *out);
        break;
    case STRATA_POOL_SAMPLE: {
        int *pick = strata_malloc((size_t)(n_positions > 0 ? n_positions : 1) * sizeof *pick);
        int m = strata_pool_sample_positions(pool.k, n_positions, seed, pick);
        for (int i = 0; i < m; i++)
            memcpy(out + (int64_t)i * dim, hidden + (int64_t)positions[pick[i]] * stride,
                   (size_t)dim * sizeof *out);
        free(pick);
        break;
    }
    }
}

const char *strata_stream_site(strata_stream_kind kind)
{
    if (kind == STRATA_STREAM_VISION) return "vision";
    if (kind == STRATA_STREAM_CONNECTOR) return "connector";
    return "llm";
}

int strata_stream_needs_image(strata_stream_kind kind)
{
    return kind != STRATA_STREAM_CAPTION && kind != STRATA_STREAM_CAPTION_LAST;
}

/* Is `pool` meaningful for a stream of this kind? Sets the error when not. */
static int check_pool_for(strata_stream_kind kind, const char *name, strata_pool pool)
{
    char text[32];
    strata_pool_format(pool, text, sizeof text);
    if ((kind == STRATA_STREAM_IMAGE_LAST || kind == STRATA_STREAM_CAPTION_LAST) &&
        pool.kind != STRATA_POOL_LAST)
        return strata_error_set("stream '%s' is the last position of its input; pool '%s' "
                                "does not apply (use stream %s with pool %s)",
                                name, text,
                                kind == STRATA_STREAM_IMAGE_LAST ? "image" : "caption", text);
    if (pool.kind == STRATA_POOL_CLS && kind != STRATA_STREAM_VISION)
        return strata_error_set("stream '%s': pool 'cls' is only for the vision stream", name);
    return 0;
}

int strata_streams_parse(const char *list, const char *default_pool,
                         strata_stream_request **out, int *n)
{
    *out = NULL;
    *n = 0;
    strata_pool def;
    if (strata_pool_parse(default_pool, &def) < 0) {
        strata_error_prefix("--pool");
        return -1;
    }
    char *copy = strata_strdup(list);
    int cap = 8, count = 0;
    strata_stream_request *reqs = strata_calloc((size_t)cap, sizeof *reqs);
    char *save = NULL;
    for (char *item = strtok_r(copy, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
        char *colon = strchr(item, ':');
        const char *pool_text = NULL;
        if (colon) {
            *colon = 0;
            pool_text = colon + 1;
        }
        int s = 0;
        while (s < n_stream_names && strcmp(stream_names[s].name, item) != 0) s++;
        if (s == n_stream_names) {
            strata_error_set("--streams: unknown stream '%s' (expected image, caption, "
                             "image_last, caption_last, vision or connector)", item);
            goto fail;
        }
        strata_stream_request r;
        memset(&r, 0, sizeof r);
        r.kind = stream_names[s].kind;
        snprintf(r.name, sizeof r.name, "%s", item);
        if (pool_text) {
            if (strata_pool_parse(pool_text, &r.pool) < 0) {
                strata_error_prefix("--streams: stream '%s'", item);
                goto fail;
            }
        } else if (r.kind == STRATA_STREAM_IMAGE_LAST || r.kind == STRATA_STREAM_CAPTION_LAST) {
            r.pool.kind = STRATA_POOL_LAST;
        } else {
            r.pool = def;
            if (def.kind == STRATA_POOL_CLS && r.kind != STRATA_STREAM_VISION)
                r.pool.kind = STRATA_POOL_MEAN; /* --pool cls: CLS for vision, mean elsewhere */
        }
        if (check_pool_for(r.kind, item, r.pool) < 0) {
            strata_error_prefix("--streams");
            goto fail;
        }
        for (int i = 0; i < count; i++)
            if (reqs[i].kind == r.kind) {
                strata_error_set("--streams: stream '%s' is listed twice", item);
                goto fail;
            }
        if (count == cap) reqs = strata_realloc(reqs, (size_t)(cap *= 2) * sizeof *reqs);
        reqs[count++] = r;
    }
    if (count == 0) {
        strata_error_set("--streams: empty list (expected e.g. image,caption)");
        goto fail;
    }
    free(copy);
    *out = reqs;
    *n = count;
    return 0;
fail:
    free(copy);
    free(reqs);
    return -1;
}

/* Parse one optional integer of a slice (empty: *present = 0). */
static int parse_index(const char *text, int *value, int *present)
{
    *present = 0;
    if (!*text) return 0;
    char *end = NULL;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno || *end || v < INT_MIN / 2 || v > INT_MAX / 2) return -1;
    *value = (int)v;
    *present = 1;
    return 0;
}

int strata_layers_parse(const char *spec, int n_total, int **out, int *n)
{
    *out = NULL;
    *n = 0;
    if (n_total <= 0) return strata_error_set("--layers: the model has no layers");
    uint8_t *keep = strata_calloc((size_t)n_total, 1); /* [n_total] */
    char *copy = strata_strdup(spec);
    char *save = NULL;
    int any = 0;
    char item_text[64] = "";
    for (char *item = strtok_r(copy, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
        any = 1;
        if (strcmp(item, "all") == 0) {
            memset(keep, 1, (size_t)n_total);
            continue;
        }
        snprintf(item_text, sizeof item_text, "%s", item);
        char *parts[3] = {item, NULL, NULL};
        int n_parts = 1;
        for (char *c = item; *c; c++)
            if (*c == ':') {
                if (n_parts == 3) goto bad;
                *c = 0;
                parts[n_parts++] = c + 1;
            }
        int v[3] = {0, n_total, 1}, present[3] = {0, 0, 0};
        for (int i = 0; i < n_parts; i++)
            if (parse_index(parts[i], &v[i], &present[i]) < 0) goto bad;
        if (n_parts == 1) {
            if (!present[0]) goto bad;
            int l = v[0] < 0 ? v[0] + n_total : v[0];
            if (l < 0 || l >= n_total) {
                strata_error_set("--layers: layer %d is out of range (the model has layers "
                                 "0..%d, 0 = embedding output)", v[0], n_total - 1);
                goto fail;
            }
            keep[l] = 1;
            continue;
        }
        if (present[2] && v[2] <= 0) {
            strata_error_set("--layers: slice step must be positive in '%s:%s:%s'", parts[0],
                             parts[1], parts[2]);
            goto fail;
        }
        /* Python's slice clamping: a and b are clipped into [0, n_total]. */
        int a = present[0] ? v[0] : 0, b = present[1] ? v[1] : n_total;
        if (a < 0) a += n_total;
        if (b < 0) b += n_total;
        a = a < 0 ? 0 : a > n_total ? n_total : a;
        b = b < 0 ? 0 : b > n_total ? n_total : b;
        for (int l = a; l < b; l += v[2]) keep[l] = 1;
    }
    if (!any) {
        strata_error_set("--layers: empty (expected all, a list like 0,4,8 or a slice 0:33:4)");
        goto fail;
    }
    int count = 0;
    for (int l = 0; l < n_total; l++) count += keep[l];
    if (count == 0) {
        strata_error_set("--layers: '%s' selects no layer of 0..%d", spec, n_total - 1);
        goto fail;
    }
    *out = strata_malloc((size_t)count * sizeof **out);
    for (int l = 0; l < n_total; l++)
        if (keep[l]) (*out)[(*n)++] = l;
    free(copy);
    free(keep);
    return 0;
bad:
    strata_error_set("--layers: cannot read '%s' in '%s' (expected all, an index, or a:b[:s])",
                     item_text, spec);
fail:
    free(copy);
    free(keep);
    return -1;
}
