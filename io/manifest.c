/* manifest.c — JSONL dataset manifests (see manifest.h): strict about structure (every line a
 * JSON object with id, image and caption; ids unique), lenient about samples (a bad caption or
 * image becomes that sample's error). Relies on jansson; UTF-8 is checked here (RFC 3629) so a
 * caption with invalid bytes is a bad sample rather than an unparseable line. */
#include "io/manifest.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strata.h"

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if invalid (overlongs, surrogates,
 * code points above U+10FFFF and truncated sequences are invalid). */
static int utf8_sequence(const unsigned char *s, size_t avail)
{
    unsigned c = s[0];
    if (c < 0x80) return 1;
    int n;
    unsigned min;
    if (c >= 0xC2 && c <= 0xDF) n = 2, min = 0x80;
    else if (c >= 0xE0 && c <= 0xEF) n = 3, min = 0x800;
    else if (c >= 0xF0 && c <= 0xF4) n = 4, min = 0x10000;
    else return 0;
    if ((size_t)n > avail) return 0;
    unsigned cp = c & (0x3F >> (n - 1));
    for (int i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        cp = cp << 6 | (s[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    return n;
}

/* Offset of the first invalid byte, or -1 if the text is valid UTF-8. */
static long utf8_first_invalid(const char *text, size_t len)
{
    const unsigned char *s = (const unsigned char *)text;
    for (size_t i = 0; i < len;) {
        int n = utf8_sequence(s + i, len - i);
        if (!n) return (long)i;
        i += (size_t)n;
    }
    return -1;
}

void strata_sample_clear(strata_sample *s)
{
    free(s->id);
    free(s->image);
    free(s->caption);
    free(s->labels_json);
    free(s->error);
    memset(s, 0, sizeof *s);
}

static char *printf_alloc(const char *fmt, const char *a, long b)
{
    int n = snprintf(NULL, 0, fmt, a, b);
    char *out = strata_malloc((size_t)n + 1);
    snprintf(out, (size_t)n + 1, fmt, a, b);
    return out;
}

int strata_manifest_parse_line(const char *line, size_t len, const char *dir, long line_no,
                               strata_sample *out)
{
    memset(out, 0, sizeof *out);
    out->line = line_no;
    size_t b = 0;
    while (b < len && (line[b] == ' ' || line[b] == '\t' || line[b] == '\r')) b++;
    if (b == len) return 0;

    /* Invalid UTF-8 bytes (all >= 0x80, so never JSON syntax) become U+FFFD for parsing; the
     * sample is then marked bad below. */
    long bad_at = utf8_first_invalid(line, len);
    char *text = NULL;
    size_t text_len = len;
    if (bad_at >= 0) {
        text = strata_malloc(len * 3 + 1);
        text_len = 0;
        const unsigned char *s = (const unsigned char *)line;
        for (size_t i = 0; i < len;) {
            int n = utf8_sequence(s + i, len - i);
            if (n) {
                memcpy(text + text_len, s + i, (size_t)n);
                text_len += (size_t)n;
                i += (size_t)n;
            } else {
                memcpy(text + text_len, "\xEF\xBF\xBD", 3);
                text_len += 3;
                i++;
            }
        }
    }
    json_error_t jerr;
    json_t *root = json_loadb(text ? text : line, text_len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
    free(text);
    if (!root)
        return strata_error_set("not valid JSON (column %d: %s)", jerr.column, jerr.text);
    int rc = -1;
    if (!json_is_object(root)) {
        strata_error_set("expected a JSON object {\"id\", \"image\", \"caption\", ...}");
        goto done;
    }
    json_t *id = json_object_get(root, "id"), *image = json_object_get(root, "image"),
           *caption = json_object_get(root, "caption");
    const char *missing = !id ? "id" : !image ? "image" : !caption ? "caption" : NULL;
    if (missing) {
        strata_error_set("missing field \"%s\" (each line needs \"id\", \"image\" and \"caption\")",
                         missing);
        goto done;
    }
    if (json_is_string(id)) {
        out->id = strata_strdup(json_string_value(id));
    } else if (json_is_integer(id)) {
        char buf[32];
        snprintf(buf, sizeof buf, "%" JSON_INTEGER_FORMAT, json_integer_value(id));
        out->id = strata_strdup(buf);
    } else {
        strata_error_set("field \"id\": expected a string or an integer");
        goto done;
    }
    if (out->id[0] == 0) {
        strata_error_set("field \"id\": empty");
        goto done;
    }
    if (!json_is_string(image) || json_string_length(image) == 0) {
        strata_error_set("field \"image\": expected a non-empty path string");
        goto done;
    }
    if (!json_is_string(caption)) {
        strata_error_set("field \"caption\": expected a string");
        goto done;
    }
    const char *path = json_string_value(image);
    if (path[0] == '/' || !dir || !dir[0]) {
        out->image = strata_strdup(path);
    } else {
        size_t n = strlen(dir) + strlen(path) + 2;
        out->image = strata_malloc(n);
        snprintf(out->image, n, "%s/%s", dir, path);
    }
    const char *cap = json_string_value(caption);
    size_t cap_len = json_string_length(caption);
    if (bad_at >= 0) {
        const char *fmt = strstr(cap, "\xEF\xBF\xBD") ? "sample %s: caption is not valid UTF-8 (line %ld)"
                          : "sample %s: line %ld is not valid UTF-8 (a field other than the caption)";
        out->error = printf_alloc(fmt, out->id, line_no);
    } else if (memchr(cap, 0, cap_len)) {
        out->error = printf_alloc("sample %s: caption contains a NUL character (line %ld)", out->id, line_no);
    } else if (utf8_first_invalid(cap, cap_len) >= 0) { /* cannot happen after jansson; kept as a guard */
        out->error = printf_alloc("sample %s: caption is not valid UTF-8 text (line %ld)", out->id, line_no);
    } else {
        size_t k = 0;
        while (k < cap_len && (cap[k] == ' ' || cap[k] == '\t' || cap[k] == '\n' || cap[k] == '\r')) k++;
        if (k == cap_len) out->error = printf_alloc("sample %s: empty caption (line %ld)", out->id, line_no);
    }
    out->caption = strata_strdup(out->error ? "" : cap);
    json_object_del(root, "id");
    json_object_del(root, "image");
    json_object_del(root, "caption");
    out->labels_json = json_dumps(root, JSON_COMPACT | JSON_SORT_KEYS);
    if (!out->labels_json) out->labels_json = strata_strdup("{}");
    rc = 1;
done:
    json_decref(root);
    if (rc < 0) {
        strata_sample_clear(out);
        out->line = line_no;
    }
    return rc;
}

static int compare_ids(const void *a, const void *b)
{
    const strata_sample *x = *(const strata_sample *const *)a, *y = *(const strata_sample *const *)b;
    return strcmp(x->id, y->id);
}

strata_manifest *strata_manifest_open(const char *path)
{
    size_t len = 0;
    char *text = strata_read_file(path, &len);
    if (!text) return NULL;
    strata_manifest *m = strata_calloc(1, sizeof *m);
    m->path = strata_strdup(path);
    const char *slash = strrchr(path, '/');
    m->dir = slash ? strndup(path, (size_t)(slash - path) + (slash == path)) : strata_strdup(".");
    if (!m->dir) strata_fatal("out of memory");
    size_t cap = 0;
    long line_no = 0;
    for (size_t at = 0; at < len;) {
        const char *nl = memchr(text + at, '\n', len - at);
        size_t end = nl ? (size_t)(nl - text) : len;
        line_no++;
        strata_sample s;
        int rc = strata_manifest_parse_line(text + at, end - at, m->dir, line_no, &s);
        if (rc < 0) {
            strata_error_prefix("%s:%ld", path, line_no);
            goto fail;
        }
        if (rc == 1) {
            if (m->n == cap) m->samples = strata_realloc(m->samples, (cap = cap ? cap * 2 : 256) * sizeof s);
            m->samples[m->n++] = s;
            if (s.error) m->n_bad++;
        }
        at = end + 1;
    }
    if (m->n == 0) {
        strata_error_set("%s: no samples (expected JSON lines {\"id\", \"image\", \"caption\"})", path);
        goto fail;
    }
    /* ids must be unique: the archive is indexed by them */
    strata_sample **order = strata_malloc(m->n * sizeof *order);
    for (size_t i = 0; i < m->n; i++) order[i] = &m->samples[i];
    qsort(order, m->n, sizeof *order, compare_ids);
    for (size_t i = 1; i < m->n; i++)
        if (strcmp(order[i - 1]->id, order[i]->id) == 0) {
            long a = order[i - 1]->line, b = order[i]->line;
            strata_error_set("%s:%ld: duplicate id \"%s\" (first on line %ld)", path, a > b ? a : b,
                             order[i]->id, a < b ? a : b);
            free(order);
            goto fail;
        }
    free(order);
    free(text);
    return m;
fail:
    free(text);
    strata_manifest_free(m);
    return NULL;
}

void strata_manifest_free(strata_manifest *m)
{
    if (!m) return;
    for (size_t i = 0; i < m->n; i++) strata_sample_clear(&m->samples[i]);
    free(m->samples);
    free(m->path);
    free(m->dir);
    free(m);
}

int strata_manifest_load_image(const strata_manifest *m, size_t i, strata_image *out)
{
    memset(out, 0, sizeof *out);
    if (i >= m->n) return strata_error_set("%s: sample index %zu out of range (%zu samples)", m->path, i, m->n);
    const strata_sample *s = &m->samples[i];
    if (s->error) return strata_error_set("%s", s->error);
    if (strata_image_load(s->image, out)) {
        strata_error_prefix("sample %s", s->id);
        return -1;
    }
    return 0;
}
