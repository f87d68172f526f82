/* tokenizer.c — tokenizer.json (BPE) loaded with jansson and applied as the `tokenizers` library
 * does: added tokens split out first (raw ones on the input, normalized ones after the
 * normalizer), then the normalizer, the pre-tokenizer, BPE per piece, and the post-processor.
 * Relies on PCRE2 (Split regexes, as the library's Oniguruma patterns), utf8proc (NFC/NFKC,
 * case, categories). Reference: the format and behaviour of `tokenizers` (tests/tokenizer/). */
#define _GNU_SOURCE /* memmem */
#include "io/tokenizer.h"

#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "strata.h"

/* GPT-2's split pattern, used by ByteLevel when use_regex is true. */
static const char gpt2_pattern[] =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

/* ---- growable buffers ---------------------------------------------------------------------- */
typedef struct {
    char *data;
    size_t len, cap;
} sbuf;

static void sbuf_reserve(sbuf *b, size_t extra)
{
    if (b->len + extra + 1 <= b->cap) return;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->len + extra + 1) cap *= 2;
    b->data = strata_realloc(b->data, cap);
    b->cap = cap;
}

static void sbuf_add(sbuf *b, const char *s, size_t n)
{
    sbuf_reserve(b, n);
    if (n) memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

static void sbuf_clear(sbuf *b)
{
    b->len = 0;
    if (b->data) b->data[0] = '\0';
}

typedef struct {
    int32_t *v;
    int n, cap;
} idvec;

static void idvec_push(idvec *a, int32_t id)
{
    if (a->n == a->cap) {
        a->cap = a->cap ? 2 * a->cap : 64;
        a->v = strata_realloc(a->v, (size_t)a->cap * sizeof *a->v);
    }
    a->v[a->n++] = id;
}

/* ---- UTF-8 --------------------------------------------------------------------------------- */
/* Byte length of the character starting with byte c (input already validated). */
static int utf8_len(unsigned char c)
{
    return c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
}

static int32_t utf8_decode(const char *s, int *len)
{
    const unsigned char *u = (const unsigned char *)s;
    int n = utf8_len(u[0]);
    int32_t c = n == 1 ? u[0] : n == 2 ? u[0] & 0x1F : n == 3 ? u[0] & 0x0F : u[0] & 0x07;
    for (int i = 1; i < n; i++) c = (c << 6) | (u[i] & 0x3F);
    *len = n;
    return c;
}

static int utf8_encode(int32_t c, char *out)
{
    if (c < 0x80) { out[0] = (char)c; return 1; }
    if (c < 0x800) { out[0] = (char)(0xC0 | (c >> 6)); out[1] = (char)(0x80 | (c & 0x3F)); return 2; }
    if (c < 0x10000) {
        out[0] = (char)(0xE0 | (c >> 12)); out[1] = (char)(0x80 | ((c >> 6) & 0x3F));
        out[2] = (char)(0x80 | (c & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (c >> 18)); out[1] = (char)(0x80 | ((c >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((c >> 6) & 0x3F)); out[3] = (char)(0x80 | (c & 0x3F));
    return 4;
}

/* Offset of the first byte that is not valid UTF-8 (as Rust's str accepts it: no overlongs,
 * no surrogates, nothing above U+10FFFF), or len if all is valid. */
static size_t utf8_invalid_at(const char *text, size_t len)
{
    const unsigned char *s = (const unsigned char *)text;
    size_t i = 0;
    while (i < len) {
        unsigned char c = s[i];
        if (c < 0x80) { i++; continue; }
        int n;
        unsigned lo = 0x80, hi = 0xBF;
        if (c >= 0xC2 && c <= 0xDF) n = 2;
        else if (c == 0xE0) { n = 3; lo = 0xA0; }
        else if (c >= 0xE1 && c <= 0xEC) n = 3;
        else if (c == 0xED) { n = 3; hi = 0x9F; }
        else if (c >= 0xEE && c <= 0xEF) n = 3;
        else if (c == 0xF0) { n = 4; lo = 0x90; }
        else if (c >= 0xF1 && c <= 0xF3) n = 4;
        else if (c == 0xF4) { n = 4; hi = 0x8F; }
        else return i;
        if (i + (size_t)n > len) return i;
        if (s[i + 1] < lo || s[i + 1] > hi) return i;
        for (int k = 2; k < n; k++)
            if (s[i + k] < 0x80 || s[i + k] > 0xBF) return i;
        i += (size_t)n;
    }
    return len;
}

/* Rust's char::is_whitespace (the Unicode White_Space property). */
static int is_white_space(int32_t c)
{
    return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
           c == 0x205F || c == 0x3000;
}

/* Rust's char::is_numeric: general categories Nd, Nl, No. */
static int is_numeric(int32_t c)
{
    utf8proc_category_t k = utf8proc_category(c);
    return k == UTF8PROC_CATEGORY_ND || k == UTF8PROC_CATEGORY_NL || k == UTF8PROC_CATEGORY_NO;
}

/* Unicode punctuation (P*) or ASCII punctuation, as the Punctuation pre-tokenizer uses. */
static int is_punctuation(int32_t c)
{
    if (c < 0x80 && ((c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) ||
                     (c >= 123 && c <= 126)))
        return 1;
    utf8proc_category_t k = utf8proc_category(c);
    return k >= UTF8PROC_CATEGORY_PC && k <= UTF8PROC_CATEGORY_PO;
}

/* ---- hash tables: string -> id, id pair -> merge ------------------------------------------- */
static uint64_t hash_bytes(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h ^ (h >> 29);
}

typedef struct {
    const char *key; /* not owned */
    uint32_t len;
    int32_t value;
} strmap_slot;

typedef struct {
    strmap_slot *slots; /* (cap) */
    size_t cap, count;
} strmap;

static void strmap_put(strmap *m, const char *key, size_t len, int32_t value);

static void strmap_grow(strmap *m)
{
    strmap old = *m;
    m->cap = old.cap ? old.cap * 2 : 1024;
    m->slots = strata_calloc(m->cap, sizeof *m->slots);
    m->count = 0;
    for (size_t i = 0; i < old.cap; i++)
        if (old.slots[i].key) strmap_put(m, old.slots[i].key, old.slots[i].len, old.slots[i].value);
    free(old.slots);
}

/* Inserts or replaces. */
static void strmap_put(strmap *m, const char *key, size_t len, int32_t value)
{
    if (2 * (m->count + 1) > m->cap) strmap_grow(m);
    size_t i = hash_bytes(key, len) & (m->cap - 1);
    while (m->slots[i].key) {
        if (m->slots[i].len == len && memcmp(m->slots[i].key, key, len) == 0) {
            m->slots[i].value = value;
            return;
        }
        i = (i + 1) & (m->cap - 1);
    }
    m->slots[i] = (strmap_slot){key, (uint32_t)len, value};
    m->count++;
}

static int32_t strmap_get(const strmap *m, const char *key, size_t len)
{
    if (!m->cap) return -1;
    size_t i = hash_bytes(key, len) & (m->cap - 1);
    while (m->slots[i].key) {
        if (m->slots[i].len == len && memcmp(m->slots[i].key, key, len) == 0) return m->slots[i].value;
        i = (i + 1) & (m->cap - 1);
    }
    return -1;
}

typedef struct {
    uint64_t key; /* (left id << 32) | right id; 0 = empty slot, so ids are stored + 1 */
    int32_t rank, new_id;
} merge_slot;

typedef struct {
    merge_slot *slots;
    size_t cap, count;
} mergemap;

static uint64_t merge_key(int32_t a, int32_t b)
{
    return ((uint64_t)(uint32_t)(a + 1) << 32) | (uint32_t)(b + 1);
}

static void mergemap_put(mergemap *m, int32_t a, int32_t b, int32_t rank, int32_t new_id)
{
    if (2 * (m->count + 1) > m->cap) {
        mergemap old = *m;
        m->cap = old.cap ? old.cap * 2 : 1024;
        m->slots = strata_calloc(m->cap, sizeof *m->slots);
        m->count = 0;
        for (size_t i = 0; i < old.cap; i++) {
            if (!old.slots[i].key) continue;
            size_t j = (old.slots[i].key * 0x9E3779B97F4A7C15ull >> 20) & (m->cap - 1);
            while (m->slots[j].key) j = (j + 1) & (m->cap - 1);
            m->slots[j] = old.slots[i];
            m->count++;
        }
        free(old.slots);
    }
    uint64_t key = merge_key(a, b);
    size_t i = (key * 0x9E3779B97F4A7C15ull >> 20) & (m->cap - 1);
    while (m->slots[i].key) {
        if (m->slots[i].key == key) return; /* first (lowest rank) merge wins */
        i = (i + 1) & (m->cap - 1);
    }
    m->slots[i] = (merge_slot){key, rank, new_id};
    m->count++;
}

static const merge_slot *mergemap_get(const mergemap *m, int32_t a, int32_t b)
{
    if (!m->cap) return NULL;
    uint64_t key = merge_key(a, b);
    size_t i = (key * 0x9E3779B97F4A7C15ull >> 20) & (m->cap - 1);
    while (m->slots[i].key) {
        if (m->slots[i].key == key) return &m->slots[i];
        i = (i + 1) & (m->cap - 1);
    }
    return NULL;
}

/* ---- the word cache: pre-token string -> ids (bounded; cleared when full) ------------------ */
enum { cache_slots = 1 << 16, cache_max_word = 128 };

typedef struct {
    uint64_t hash;      /* 0 = empty */
    uint32_t key_off, key_len, ids_off, n_ids;
} cache_slot;

typedef struct {
    cache_slot *slots; /* (cache_slots) */
    size_t count;
    sbuf keys;
    idvec ids;
} word_cache;

/* ---- patterns (a literal or a PCRE2 regex) and split behaviours ----------------------------- */
typedef struct {
    char *literal; /* owned, or NULL for a regex */
    size_t literal_len;
    pcre2_code *re;
    pcre2_match_data *md;
} pattern;

enum { SPLIT_REMOVED, SPLIT_ISOLATED, SPLIT_MERGED_PREVIOUS, SPLIT_MERGED_NEXT, SPLIT_CONTIGUOUS };

/* A part of a string: [start, end), and whether it matched the pattern (a delimiter). */
typedef struct {
    size_t start, end;
    int match;
} span;

typedef struct {
    span *v;
    int n, cap;
} spanvec;

static void spanvec_push(spanvec *a, size_t start, size_t end, int match)
{
    if (a->n == a->cap) {
        a->cap = a->cap ? 2 * a->cap : 64;
        a->v = strata_realloc(a->v, (size_t)a->cap * sizeof *a->v);
    }
    a->v[a->n++] = (span){start, end, match};
}

/* ---- components ---------------------------------------------------------------------------- */
enum { NORM_SEQUENCE, NORM_PREPEND, NORM_REPLACE, NORM_NFC, NORM_NFD, NORM_NFKC, NORM_NFKD,
       NORM_LOWERCASE, NORM_STRIP };

typedef struct normalizer {
    int type;
    char *text; /* Prepend: the prefix; Replace: the content */
    size_t text_len;
    pattern pat;        /* Replace */
    int left, right;    /* Strip */
    struct normalizer *items; /* Sequence (n_items) */
    int n_items;
} normalizer;

enum { PRE_SEQUENCE, PRE_BYTELEVEL, PRE_SPLIT, PRE_METASPACE, PRE_DIGITS, PRE_WHITESPACE_SPLIT,
       PRE_PUNCTUATION };
enum { PREPEND_ALWAYS, PREPEND_FIRST, PREPEND_NEVER };

typedef struct pretok {
    int type;
    pattern pat;          /* Split; ByteLevel with use_regex */
    int behavior, invert; /* Split, Punctuation */
    int add_prefix_space, use_regex; /* ByteLevel */
    char replacement[8];  /* Metaspace: one character, UTF-8 */
    size_t replacement_len;
    int prepend_scheme, split; /* Metaspace */
    int individual_digits;     /* Digits */
    struct pretok *items;      /* Sequence (n_items) */
    int n_items;
} pretok;

enum { POST_NONE, POST_TEMPLATE, POST_SEQUENCE, POST_NOOP, POST_CLS_SEP };

typedef struct post_item {
    int32_t *ids; /* ids of a SpecialToken item (n_ids); NULL for the sequence $A */
    int n_ids;
} post_item;

typedef struct postproc {
    int type;
    post_item *items; /* Template: the "single" template (n_items) */
    int n_items;
    int32_t cls_id, sep_id; /* Bert/Roberta */
    struct postproc *children; /* Sequence (n_children) */
    int n_children;
} postproc;

enum { DEC_SEQUENCE, DEC_BYTELEVEL, DEC_METASPACE, DEC_REPLACE, DEC_BYTEFALLBACK, DEC_FUSE,
       DEC_STRIP, DEC_BPE_SUFFIX, DEC_WORDPIECE, DEC_UNKNOWN };

typedef struct decoder {
    int type;
    char *from, *to; /* Replace (literal), Metaspace replacement, BPEDecoder suffix, prefix */
    int start, stop, prepend; /* Strip counts; Metaspace prepend scheme != never */
    struct decoder *items;
    int n_items;
} decoder;

typedef struct {
    char *content;
    size_t len;
    int32_t id;
    int single_word, lstrip, rstrip, normalized, special;
} added_token;

/* Added tokens of one kind (raw or normalized), bucketed by first byte, longest first. */
typedef struct {
    int *order; /* indices into tok->added (n) sorted by first byte, then length descending */
    int n;
    int first[257]; /* order[first[b] .. first[b+1]) start with byte b */
} added_set;

struct strata_tokenizer {
    char *path;
    char **pieces; /* (vocab_size) id -> token string, owned; NULL for unused ids */
    uint32_t *piece_len;
    int32_t vocab_size;   /* capacity of pieces[] (ids beyond the largest are NULL) */
    int32_t model_size;   /* entries in model.vocab */
    char **retired;       /* vocabulary strings replaced by added tokens' (n_retired) */
    int n_retired;
    strmap vocab; /* token string -> id (model vocabulary and added tokens) */
    mergemap merges;
    int32_t unk_id;
    int byte_fallback, fuse_unk, ignore_merges;
    char *prefix, *suffix; /* continuing_subword_prefix, end_of_word_suffix (or NULL) */
    size_t prefix_len, suffix_len;
    int32_t byte_ids[256]; /* <0xXX> ids for byte_fallback, -1 if absent */
    added_token *added;
    int n_added;
    added_set raw_set, norm_set;
    uint8_t *is_special; /* (vocab_size) */
    normalizer *norm;
    pretok *pre;
    postproc *post;
    decoder *dec;
    int32_t bos_id, eos_id, pad_id;
    /* scratch, reused between calls (hence one tokenizer per thread) */
    word_cache cache;
    sbuf norm_a, norm_b, pieces_a, pieces_b, word;
};

/* GPT-2's byte <-> character table: printable bytes stand for themselves, the others are
 * shifted to U+0100 and up, in byte order. */
static int32_t byte_to_char[256];
static int char_to_byte[512];

static void byte_table_fill(void)
{
    int n = 0;
    for (int b = 0; b < 256; b++) {
        int printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174);
        byte_to_char[b] = printable ? b : 256 + n++;
    }
    for (int i = 0; i < 512; i++) char_to_byte[i] = -1;
    for (int b = 0; b < 256; b++) char_to_byte[byte_to_char[b]] = b;
}

static void byte_table_init(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, byte_table_fill);
}

/* ---- loading helpers ------------------------------------------------------------------------ */
/* Errors name the file and the field: "<file>: <field>: <what>". */
static int field_error(const strata_tokenizer *tok, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int field_error(const strata_tokenizer *tok, const char *field, const char *fmt, ...)
{
    char what[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return strata_error_set("%s: %s: %s", tok->path, field, what);
}

static int get_bool(json_t *obj, const char *key, int dflt)
{
    json_t *v = json_object_get(obj, key);
    return json_is_boolean(v) ? json_is_true(v) : dflt;
}

static const char *get_type(json_t *obj)
{
    json_t *t = json_object_get(obj, "type");
    return json_is_string(t) ? json_string_value(t) : NULL;
}

/* Oniguruma's \s (what the library's regexes use) is the White_Space property; PCRE2's \s also
 * takes U+180E. So \s and \S are written out as that class before compiling. */
#define WHITE_SPACE_CLASS "\\t-\\r\\x{20}\\x{85}\\x{a0}\\x{1680}\\x{2000}-\\x{200a}\\x{2028}\\x{2029}" \
                          "\\x{202f}\\x{205f}\\x{3000}"

static void translate_regex(const char *re, size_t len, sbuf *out)
{
    int in_class = 0;
    for (size_t i = 0; i < len; i++) {
        if (re[i] == '\\' && i + 1 < len) {
            char c = re[i + 1];
            if (c == 's') sbuf_add(out, in_class ? WHITE_SPACE_CLASS : "[" WHITE_SPACE_CLASS "]",
                                   strlen(WHITE_SPACE_CLASS) + (in_class ? 0 : 2));
            else if (c == 'S' && !in_class) sbuf_add(out, "[^" WHITE_SPACE_CLASS "]",
                                                     strlen(WHITE_SPACE_CLASS) + 3);
            else sbuf_add(out, re + i, 2);
            i++;
            continue;
        }
        if (re[i] == '[' && !in_class) {
            in_class = 1;
            sbuf_add(out, re + i, 1);
            if (i + 1 < len && re[i + 1] == '^') sbuf_add(out, re + ++i, 1);
            if (i + 1 < len && re[i + 1] == ']') sbuf_add(out, re + ++i, 1); /* literal ] */
            continue;
        }
        if (re[i] == ']' && in_class) in_class = 0;
        sbuf_add(out, re + i, 1);
    }
}

/* Compiles a regex (UTF-8, Unicode properties) with JIT when available. */
static int compile_regex(pattern *p, const char *re, size_t len, char *err_out, size_t err_cap)
{
    sbuf t = {0};
    sbuf_add(&t, "", 0);
    translate_regex(re, len, &t);
    int err;
    PCRE2_SIZE off;
    p->re = pcre2_compile((PCRE2_SPTR)t.data, t.len, PCRE2_UTF | PCRE2_UCP, &err, &off, NULL);
    free(t.data);
    if (!p->re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(err, msg, sizeof msg);
        snprintf(err_out, err_cap, "regex does not compile: %s", (char *)msg);
        return -1;
    }
    pcre2_jit_compile(p->re, PCRE2_JIT_COMPLETE); /* falls back to the interpreter if it fails */
    p->md = pcre2_match_data_create_from_pattern(p->re, NULL);
    return 0;
}

/* A pattern field: {"String": "..."} or {"Regex": "..."}. */
static int load_pattern(strata_tokenizer *tok, json_t *v, const char *field, pattern *p)
{
    json_t *s = json_object_get(v, "String"), *r = json_object_get(v, "Regex");
    if (json_is_string(s)) {
        p->literal_len = json_string_length(s);
        p->literal = strata_malloc(p->literal_len + 1);
        memcpy(p->literal, json_string_value(s), p->literal_len + 1);
        return 0;
    }
    if (!json_is_string(r))
        return field_error(tok, field, "expected {\"String\": ...} or {\"Regex\": ...}");
    char err[300];
    if (compile_regex(p, json_string_value(r), json_string_length(r), err, sizeof err))
        return field_error(tok, field, "%s", err);
    return 0;
}

static void pattern_free(pattern *p)
{
    free(p->literal);
    if (p->md) pcre2_match_data_free(p->md);
    if (p->re) pcre2_code_free(p->re);
}

/* Every occurrence of the pattern in s, as alternating spans covering all of s. */
static int find_matches(pattern *p, const char *s, size_t len, spanvec *out)
{
    out->n = 0;
    size_t prev = 0, at = 0;
    while (at <= len) {
        size_t ms, me;
        if (p->literal) {
            if (p->literal_len == 0 || p->literal_len > len - at) break;
            const char *hit = memmem(s + at, len - at, p->literal, p->literal_len);
            if (!hit) break;
            ms = (size_t)(hit - s);
            me = ms + p->literal_len;
        } else {
            int rc = pcre2_match(p->re, (PCRE2_SPTR)s, len, at, PCRE2_NO_UTF_CHECK, p->md, NULL);
            if (rc == PCRE2_ERROR_NOMATCH) break;
            if (rc < 0) {
                PCRE2_UCHAR msg[256];
                pcre2_get_error_message(rc, msg, sizeof msg);
                return strata_error_set("regex match failed: %s", (char *)msg);
            }
            PCRE2_SIZE *ov = pcre2_get_ovector_pointer(p->md);
            ms = ov[0];
            me = ov[1];
        }
        if (me == ms) { /* an empty match: step over one character */
            if (ms >= len) break;
            at = ms + (size_t)utf8_len((unsigned char)s[ms]);
            continue;
        }
        if (ms > prev) spanvec_push(out, prev, ms, 0);
        spanvec_push(out, ms, me, 1);
        prev = at = me;
    }
    if (prev < len) spanvec_push(out, prev, len, 0);
    return 0;
}

/* Each character for which pred() holds is a match of its own. */
static void find_char_matches(int (*pred)(int32_t), const char *s, size_t len, spanvec *out)
{
    out->n = 0;
    size_t prev = 0, i = 0;
    while (i < len) {
        int n;
        int32_t c = utf8_decode(s + i, &n);
        if (pred(c)) {
            if (i > prev) spanvec_push(out, prev, i, 0);
            spanvec_push(out, i, i + (size_t)n, 1);
            prev = i + (size_t)n;
        }
        i += (size_t)n;
    }
    if (prev < len) spanvec_push(out, prev, len, 0);
}

/* Turns matched/unmatched spans into the pieces a split behaviour keeps (in place). */
static void apply_behavior(spanvec *sp, int behavior, int invert)
{
    if (invert)
        for (int i = 0; i < sp->n; i++) sp->v[i].match = !sp->v[i].match;
    int n = 0;
    switch (behavior) {
    case SPLIT_REMOVED:
        for (int i = 0; i < sp->n; i++)
            if (!sp->v[i].match) sp->v[n++] = sp->v[i];
        break;
    case SPLIT_ISOLATED:
        n = sp->n;
        break;
    case SPLIT_MERGED_PREVIOUS: {
        int prev_match = 0;
        for (int i = 0; i < sp->n; i++) {
            span s = sp->v[i];
            if (s.match && !prev_match && n > 0) sp->v[n - 1].end = s.end;
            else sp->v[n++] = s;
            prev_match = s.match;
        }
        break;
    }
    case SPLIT_MERGED_NEXT: { /* walk backwards: a delimiter joins the piece after it */
        int next_match = 0, w = sp->n;
        for (int i = sp->n - 1; i >= 0; i--) {
            span s = sp->v[i];
            if (s.match && !next_match && w < sp->n) sp->v[w].start = s.start;
            else sp->v[--w] = s;
            next_match = s.match;
        }
        n = sp->n - w;
        memmove(sp->v, sp->v + w, (size_t)n * sizeof *sp->v);
        break;
    }
    case SPLIT_CONTIGUOUS: /* neighbours of the same kind join (runs of delimiters) */
        for (int i = 0; i < sp->n; i++) {
            if (n > 0 && sp->v[n - 1].match == sp->v[i].match) sp->v[n - 1].end = sp->v[i].end;
            else sp->v[n++] = sp->v[i];
        }
        break;
    }
    sp->n = n;
}

static int parse_behavior(strata_tokenizer *tok, json_t *obj, const char *field, int *out)
{
    json_t *b = json_object_get(obj, "behavior");
    const char *s = json_is_string(b) ? json_string_value(b) : "";
    static const char *names[] = {"Removed", "Isolated", "MergedWithPrevious", "MergedWithNext",
                                  "Contiguous"};
    for (int i = 0; i < 5; i++)
        if (strcmp(s, names[i]) == 0) { *out = i; return 0; }
    return field_error(tok, field, "behavior '%s' is not one of Removed, Isolated, "
                       "MergedWithPrevious, MergedWithNext, Contiguous", s);
}

/* ---- normalizers ---------------------------------------------------------------------------- */
static void normalizer_free(normalizer *n)
{
    if (!n) return;
    for (int i = 0; i < n->n_items; i++) normalizer_free(&n->items[i]);
    free(n->items);
    free(n->text);
    pattern_free(&n->pat);
}

static char *dup_json_string(json_t *s, size_t *len)
{
    *len = json_string_length(s);
    char *out = strata_malloc(*len + 1);
    memcpy(out, json_string_value(s), *len + 1);
    return out;
}

static int load_normalizer(strata_tokenizer *tok, json_t *j, const char *field, normalizer *n)
{
    const char *type = get_type(j);
    char sub[256];
    memset(n, 0, sizeof *n);
    if (!type) return field_error(tok, field, "expected an object with a \"type\"");
    if (strcmp(type, "Sequence") == 0) {
        json_t *items = json_object_get(j, "normalizers");
        if (!json_is_array(items)) return field_error(tok, field, "Sequence needs \"normalizers\"");
        n->type = NORM_SEQUENCE;
        n->n_items = (int)json_array_size(items);
        n->items = strata_calloc((size_t)n->n_items + 1, sizeof *n->items);
        for (int i = 0; i < n->n_items; i++) {
            snprintf(sub, sizeof sub, "%s.normalizers[%d]", field, i);
            if (load_normalizer(tok, json_array_get(items, (size_t)i), sub, &n->items[i])) return -1;
        }
    } else if (strcmp(type, "Prepend") == 0) {
        json_t *p = json_object_get(j, "prepend");
        if (!json_is_string(p)) return field_error(tok, field, "Prepend needs a \"prepend\" string");
        n->type = NORM_PREPEND;
        n->text = dup_json_string(p, &n->text_len);
    } else if (strcmp(type, "Replace") == 0) {
        json_t *c = json_object_get(j, "content");
        if (!json_is_string(c)) return field_error(tok, field, "Replace needs a \"content\" string");
        n->type = NORM_REPLACE;
        n->text = dup_json_string(c, &n->text_len);
        snprintf(sub, sizeof sub, "%s.pattern", field);
        if (load_pattern(tok, json_object_get(j, "pattern"), sub, &n->pat)) return -1;
    } else if (strcmp(type, "NFC") == 0) n->type = NORM_NFC;
    else if (strcmp(type, "NFD") == 0) n->type = NORM_NFD;
    else if (strcmp(type, "NFKC") == 0) n->type = NORM_NFKC;
    else if (strcmp(type, "NFKD") == 0) n->type = NORM_NFKD;
    else if (strcmp(type, "Lowercase") == 0) n->type = NORM_LOWERCASE;
    else if (strcmp(type, "Strip") == 0) {
        n->type = NORM_STRIP;
        n->left = get_bool(j, "strip_left", 1);
        n->right = get_bool(j, "strip_right", 1);
    } else {
        return field_error(tok, field, "unsupported normalizer type '%s' (strata reads Sequence, "
                           "Prepend, Replace, NFC, NFD, NFKC, NFKD, Lowercase, Strip)", type);
    }
    return 0;
}

/* Applies n to in, leaving the result in in (out is scratch). *at_origin stays true while the
 * first character still comes from the segment's first character (Strip or a deletion at the
 * start clears it; Metaspace's prepend_scheme "first" looks at it, as the library looks at
 * the original offset). */
static int normalize(normalizer *n, sbuf *in, sbuf *out, spanvec *sp, int *at_origin)
{
    sbuf_clear(out);
    switch (n->type) {
    case NORM_SEQUENCE:
        for (int i = 0; i < n->n_items; i++)
            if (normalize(&n->items[i], in, out, sp, at_origin)) return -1;
        return 0;
    case NORM_PREPEND:
        if (in->len == 0) return 0;
        sbuf_add(out, n->text, n->text_len);
        sbuf_add(out, in->data, in->len);
        break;
    case NORM_REPLACE:
        if (find_matches(&n->pat, in->data, in->len, sp)) return -1;
        if (sp->n > 0 && sp->v[0].match && n->text_len == 0) *at_origin = 0;
        for (int i = 0; i < sp->n; i++) {
            if (sp->v[i].match) sbuf_add(out, n->text, n->text_len);
            else sbuf_add(out, in->data + sp->v[i].start, sp->v[i].end - sp->v[i].start);
        }
        break;
    case NORM_NFC: case NORM_NFD: case NORM_NFKC: case NORM_NFKD: {
        size_t k = 0;
        while (k < in->len && (unsigned char)in->data[k] < 0x80) k++;
        if (k == in->len) return 0; /* ASCII is the same in every normal form */
        utf8proc_option_t opt = UTF8PROC_STABLE;
        if (n->type == NORM_NFC || n->type == NORM_NFKC) opt |= UTF8PROC_COMPOSE;
        else opt |= UTF8PROC_DECOMPOSE;
        if (n->type == NORM_NFKC || n->type == NORM_NFKD) opt |= UTF8PROC_COMPAT;
        utf8proc_uint8_t *res = NULL;
        utf8proc_ssize_t m = utf8proc_map((const utf8proc_uint8_t *)in->data,
                                          (utf8proc_ssize_t)in->len, &res, opt);
        if (m < 0) return strata_error_set("unicode normalization failed: %s", utf8proc_errmsg(m));
        sbuf_add(out, (const char *)res, (size_t)m);
        free(res);
        break;
    }
    case NORM_LOWERCASE:
        for (size_t i = 0; i < in->len;) {
            int k;
            int32_t c = utf8_decode(in->data + i, &k);
            char enc[8];
            if (c == 0x130) { /* the one lowercase mapping to two characters: "i" + U+0307 */
                sbuf_add(out, "i\xCC\x87", 3);
            } else {
                sbuf_add(out, enc, (size_t)utf8_encode(utf8proc_tolower(c), enc));
            }
            i += (size_t)k;
        }
        break;
    case NORM_STRIP: {
        size_t a = 0, b = in->len;
        while (n->left && a < b) {
            int k;
            if (!is_white_space(utf8_decode(in->data + a, &k))) break;
            a += (size_t)k;
        }
        while (n->right && b > a) {
            size_t c = b - 1;
            while (c > a && ((unsigned char)in->data[c] & 0xC0) == 0x80) c--;
            int k;
            if (!is_white_space(utf8_decode(in->data + c, &k))) break;
            b = c;
        }
        if (a > 0) *at_origin = 0;
        sbuf_add(out, in->data + a, b - a);
        break;
    }
    }
    sbuf t = *in;
    *in = *out;
    *out = t;
    return 0;
}

/* ---- pre-tokenizers ------------------------------------------------------------------------- */
/* The pieces of a string being pre-tokenized: text ranges in one buffer, and whether the piece
 * starts at the start of the input (Metaspace's prepend_scheme "first"). */
typedef struct {
    size_t off, len;
    int first;
} piece;

typedef struct {
    piece *v;
    int n, cap;
    sbuf *text;
} piecevec;

/* Adds a piece whose text is already in p->text at off. */
static void piece_add(piecevec *p, size_t off, size_t len, int first)
{
    if (p->n == p->cap) {
        p->cap = p->cap ? 2 * p->cap : 64;
        p->v = strata_realloc(p->v, (size_t)p->cap * sizeof *p->v);
    }
    p->v[p->n++] = (piece){off, len, first};
}

/* Adds a piece, copying its text. */
static void piece_push(piecevec *p, const char *s, size_t len, int first)
{
    piece_add(p, p->text->len, len, first);
    sbuf_add(p->text, s, len);
}

static void pretok_free(pretok *p)
{
    if (!p) return;
    for (int i = 0; i < p->n_items; i++) pretok_free(&p->items[i]);
    free(p->items);
    pattern_free(&p->pat);
}

static int load_pretok(strata_tokenizer *tok, json_t *j, const char *field, pretok *p)
{
    const char *type = get_type(j);
    char sub[256];
    memset(p, 0, sizeof *p);
    if (!type) return field_error(tok, field, "expected an object with a \"type\"");
    if (strcmp(type, "Sequence") == 0) {
        json_t *items = json_object_get(j, "pretokenizers");
        if (!json_is_array(items)) return field_error(tok, field, "Sequence needs \"pretokenizers\"");
        p->type = PRE_SEQUENCE;
        p->n_items = (int)json_array_size(items);
        p->items = strata_calloc((size_t)p->n_items + 1, sizeof *p->items);
        for (int i = 0; i < p->n_items; i++) {
            snprintf(sub, sizeof sub, "%s.pretokenizers[%d]", field, i);
            if (load_pretok(tok, json_array_get(items, (size_t)i), sub, &p->items[i])) return -1;
        }
    } else if (strcmp(type, "ByteLevel") == 0) {
        p->type = PRE_BYTELEVEL;
        p->add_prefix_space = get_bool(j, "add_prefix_space", 1);
        p->use_regex = get_bool(j, "use_regex", 1);
        char err[300];
        if (p->use_regex && compile_regex(&p->pat, gpt2_pattern, strlen(gpt2_pattern), err, sizeof err))
            return field_error(tok, field, "%s", err);
    } else if (strcmp(type, "Split") == 0) {
        p->type = PRE_SPLIT;
        snprintf(sub, sizeof sub, "%s.pattern", field);
        if (load_pattern(tok, json_object_get(j, "pattern"), sub, &p->pat)) return -1;
        if (parse_behavior(tok, j, field, &p->behavior)) return -1;
        p->invert = get_bool(j, "invert", 0);
    } else if (strcmp(type, "Metaspace") == 0) {
        json_t *r = json_object_get(j, "replacement");
        if (!json_is_string(r) || json_string_length(r) > 4 || json_string_length(r) == 0)
            return field_error(tok, field, "Metaspace needs a one-character \"replacement\"");
        p->type = PRE_METASPACE;
        p->replacement_len = json_string_length(r);
        memcpy(p->replacement, json_string_value(r), p->replacement_len);
        json_t *s = json_object_get(j, "prepend_scheme");
        const char *scheme = json_is_string(s) ? json_string_value(s) : NULL;
        if (!scheme) /* older files: add_prefix_space */
            p->prepend_scheme = get_bool(j, "add_prefix_space", 1) ? PREPEND_ALWAYS : PREPEND_NEVER;
        else if (strcmp(scheme, "always") == 0) p->prepend_scheme = PREPEND_ALWAYS;
        else if (strcmp(scheme, "first") == 0) p->prepend_scheme = PREPEND_FIRST;
        else if (strcmp(scheme, "never") == 0) p->prepend_scheme = PREPEND_NEVER;
        else return field_error(tok, field, "prepend_scheme '%s' is not always, first or never", scheme);
        p->split = get_bool(j, "split", 1);
    } else if (strcmp(type, "Digits") == 0) {
        p->type = PRE_DIGITS;
        p->individual_digits = get_bool(j, "individual_digits", 0);
    } else if (strcmp(type, "WhitespaceSplit") == 0) {
        p->type = PRE_WHITESPACE_SPLIT;
    } else if (strcmp(type, "Punctuation") == 0) {
        p->type = PRE_PUNCTUATION;
        p->behavior = SPLIT_ISOLATED;
        if (json_object_get(j, "behavior") && parse_behavior(tok, j, field, &p->behavior)) return -1;
    } else {
        return field_error(tok, field, "unsupported pre_tokenizer type '%s' (strata reads "
                           "Sequence, ByteLevel, Split, Metaspace, Digits, WhitespaceSplit, "
                           "Punctuation)", type);
    }
    return 0;
}

/* Applies p to every piece of in, writing the new pieces to out; then swaps them. */
static int pretokenize(pretok *p, piecevec *in, piecevec *out, spanvec *sp)
{
    out->n = 0;
    sbuf_clear(out->text);
    if (p->type == PRE_SEQUENCE) {
        for (int i = 0; i < p->n_items; i++)
            if (pretokenize(&p->items[i], in, out, sp)) return -1;
        return 0;
    }
    for (int k = 0; k < in->n; k++) {
        const char *s = in->text->data + in->v[k].off;
        size_t len = in->v[k].len;
        int first = in->v[k].first;
        switch (p->type) {
        case PRE_SPLIT:
        case PRE_DIGITS:
        case PRE_WHITESPACE_SPLIT:
        case PRE_PUNCTUATION: {
            int behavior = p->behavior, invert = p->invert;
            if (p->type == PRE_SPLIT) {
                if (find_matches(&p->pat, s, len, sp)) return -1;
            } else if (p->type == PRE_DIGITS) {
                find_char_matches(is_numeric, s, len, sp);
                behavior = p->individual_digits ? SPLIT_ISOLATED : SPLIT_CONTIGUOUS;
                invert = 0;
            } else if (p->type == PRE_WHITESPACE_SPLIT) {
                find_char_matches(is_white_space, s, len, sp);
                behavior = SPLIT_REMOVED;
                invert = 0;
            } else {
                find_char_matches(is_punctuation, s, len, sp);
                invert = 0;
            }
            apply_behavior(sp, behavior, invert);
            for (int i = 0; i < sp->n; i++)
                if (sp->v[i].end > sp->v[i].start)
                    piece_push(out, s + sp->v[i].start, sp->v[i].end - sp->v[i].start,
                               first && sp->v[i].start == 0);
            break;
        }
        case PRE_BYTELEVEL: {
            /* optional leading space, optional GPT-2 split, then bytes -> characters */
            int space = p->add_prefix_space && (len == 0 || s[0] != ' ');
            char *tmp = strata_malloc(len + 2);
            if (space) tmp[0] = ' ';
            memcpy(tmp + space, s, len);
            size_t wlen = len + (size_t)space;
            if (p->use_regex) {
                if (find_matches(&p->pat, tmp, wlen, sp)) { free(tmp); return -1; }
            } else {
                sp->n = 0;
                if (wlen) spanvec_push(sp, 0, wlen, 0);
            }
            sbuf *w = out->text;
            for (int i = 0; i < sp->n; i++) {
                size_t off = w->len;
                for (size_t b = sp->v[i].start; b < sp->v[i].end; b++) {
                    char enc[4];
                    sbuf_add(w, enc, (size_t)utf8_encode(byte_to_char[(unsigned char)tmp[b]], enc));
                }
                piece_add(out, off, w->len - off, first && sp->v[i].start == 0);
            }
            free(tmp);
            break;
        }
        case PRE_METASPACE: {
            sbuf *w = out->text;
            size_t base = w->len;
            size_t rl = p->replacement_len;
            int starts = len >= rl && memcmp(s, p->replacement, rl) == 0;
            if (!starts && len > 0 && s[0] != ' ' && (p->prepend_scheme == PREPEND_ALWAYS ||
                                           (p->prepend_scheme == PREPEND_FIRST && first)))
                sbuf_add(w, p->replacement, rl);
            for (size_t i = 0; i < len; i++) {
                if (s[i] == ' ') sbuf_add(w, p->replacement, rl);
                else sbuf_add(w, s + i, 1);
            }
            size_t wlen = w->len - base;
            if (!p->split) {
                piece_add(out, base, wlen, first);
                break;
            }
            /* split before every replacement character (MergedWithNext) */
            sp->n = 0;
            size_t prev = 0;
            const char *t = w->data + base;
            for (size_t i = 0; i + rl <= wlen;) {
                if (memcmp(t + i, p->replacement, rl) == 0) {
                    if (i > prev) spanvec_push(sp, prev, i, 0);
                    spanvec_push(sp, i, i + rl, 1);
                    i += rl;
                    prev = i;
                } else {
                    i += (size_t)utf8_len((unsigned char)t[i]);
                }
            }
            if (prev < wlen) spanvec_push(sp, prev, wlen, 0);
            apply_behavior(sp, SPLIT_MERGED_NEXT, 0);
            for (int i = 0; i < sp->n; i++) {
                piece_add(out, base + sp->v[i].start, sp->v[i].end - sp->v[i].start,
                          first && sp->v[i].start == 0);
            }
            break;
        }
        }
    }
    piecevec t = *in;
    *in = *out;
    *out = t;
    return 0;
}

/* ---- post-processors ------------------------------------------------------------------------ */
static void postproc_free(postproc *p)
{
    if (!p) return;
    for (int i = 0; i < p->n_items; i++) free(p->items[i].ids);
    free(p->items);
    for (int i = 0; i < p->n_children; i++) postproc_free(&p->children[i]);
    free(p->children);
}

/* Bert/Roberta "cls"/"sep": ["token", id]. */
static int load_token_pair(strata_tokenizer *tok, json_t *j, const char *key, const char *field,
                           int32_t *id)
{
    json_t *v = json_object_get(j, key);
    if (!json_is_array(v) || json_array_size(v) != 2 || !json_is_integer(json_array_get(v, 1)))
        return field_error(tok, field, "\"%s\" must be [token, id]", key);
    *id = (int32_t)json_integer_value(json_array_get(v, 1));
    return 0;
}

static int load_postproc(strata_tokenizer *tok, json_t *j, const char *field, postproc *p)
{
    const char *type = get_type(j);
    char sub[256];
    memset(p, 0, sizeof *p);
    if (!type) return field_error(tok, field, "expected an object with a \"type\"");
    if (strcmp(type, "TemplateProcessing") == 0) {
        json_t *single = json_object_get(j, "single"), *specials = json_object_get(j, "special_tokens");
        if (!json_is_array(single)) return field_error(tok, field, "TemplateProcessing needs \"single\"");
        p->type = POST_TEMPLATE;
        p->n_items = (int)json_array_size(single);
        p->items = strata_calloc((size_t)p->n_items + 1, sizeof *p->items);
        for (int i = 0; i < p->n_items; i++) {
            json_t *item = json_array_get(single, (size_t)i);
            json_t *sp = json_object_get(item, "SpecialToken");
            snprintf(sub, sizeof sub, "%s.single[%d]", field, i);
            if (json_object_get(item, "Sequence")) continue; /* $A: ids == NULL */
            json_t *name = json_object_get(sp, "id");
            if (!json_is_string(name))
                return field_error(tok, sub, "expected {\"SpecialToken\": {\"id\": ...}} or "
                                   "{\"Sequence\": ...}");
            json_t *def = json_object_get(json_object_get(specials, json_string_value(name)), "ids");
            if (!json_is_array(def))
                return field_error(tok, sub, "special token '%s' is not in \"special_tokens\"",
                                   json_string_value(name));
            p->items[i].n_ids = (int)json_array_size(def);
            p->items[i].ids = strata_calloc((size_t)p->items[i].n_ids + 1, sizeof(int32_t));
            for (int k = 0; k < p->items[i].n_ids; k++)
                p->items[i].ids[k] = (int32_t)json_integer_value(json_array_get(def, (size_t)k));
        }
    } else if (strcmp(type, "Sequence") == 0) {
        json_t *items = json_object_get(j, "processors");
        if (!json_is_array(items)) return field_error(tok, field, "Sequence needs \"processors\"");
        p->type = POST_SEQUENCE;
        p->n_children = (int)json_array_size(items);
        p->children = strata_calloc((size_t)p->n_children + 1, sizeof *p->children);
        for (int i = 0; i < p->n_children; i++) {
            snprintf(sub, sizeof sub, "%s.processors[%d]", field, i);
            if (load_postproc(tok, json_array_get(items, (size_t)i), sub, &p->children[i])) return -1;
        }
    } else if (strcmp(type, "ByteLevel") == 0) {
        p->type = POST_NOOP; /* only trims offsets; ids are unchanged */
    } else if (strcmp(type, "BertProcessing") == 0 || strcmp(type, "RobertaProcessing") == 0) {
        p->type = POST_CLS_SEP;
        if (load_token_pair(tok, j, "cls", field, &p->cls_id) ||
            load_token_pair(tok, j, "sep", field, &p->sep_id))
            return -1;
    } else {
        return field_error(tok, field, "unsupported post_processor type '%s' (strata reads "
                           "TemplateProcessing, ByteLevel, BertProcessing, RobertaProcessing, "
                           "Sequence)", type);
    }
    return 0;
}

/* Every id a post-processor adds must be a token of the file. */
static int check_post_ids(strata_tokenizer *tok, const postproc *p, const char *field)
{
    for (int i = 0; i < p->n_children; i++)
        if (check_post_ids(tok, &p->children[i], field)) return -1;
    for (int i = 0; i < p->n_items; i++)
        for (int k = 0; k < p->items[i].n_ids; k++)
            if (p->items[i].ids[k] < 0 || p->items[i].ids[k] >= tok->vocab_size ||
                !tok->pieces[p->items[i].ids[k]])
                return field_error(tok, field, "special token id %d is not in the vocabulary",
                                   (int)p->items[i].ids[k]);
    if (p->type == POST_CLS_SEP)
        for (int k = 0; k < 2; k++) {
            int32_t id = k ? p->sep_id : p->cls_id;
            if (id < 0 || id >= tok->vocab_size || !tok->pieces[id])
                return field_error(tok, field, "%s id %d is not in the vocabulary", k ? "sep" : "cls",
                                   (int)id);
        }
    return 0;
}

static void postprocess(const postproc *p, idvec *ids, idvec *tmp)
{
    switch (p->type) {
    case POST_SEQUENCE:
        for (int i = 0; i < p->n_children; i++) postprocess(&p->children[i], ids, tmp);
        return;
    case POST_TEMPLATE:
        tmp->n = 0;
        for (int i = 0; i < p->n_items; i++) {
            if (!p->items[i].ids) {
                for (int k = 0; k < ids->n; k++) idvec_push(tmp, ids->v[k]);
            } else {
                for (int k = 0; k < p->items[i].n_ids; k++) idvec_push(tmp, p->items[i].ids[k]);
            }
        }
        break;
    case POST_CLS_SEP:
        tmp->n = 0;
        idvec_push(tmp, p->cls_id);
        for (int k = 0; k < ids->n; k++) idvec_push(tmp, ids->v[k]);
        idvec_push(tmp, p->sep_id);
        break;
    default:
        return;
    }
    idvec t = *ids;
    *ids = *tmp;
    *tmp = t;
}

/* ---- decoders (debugging output) ------------------------------------------------------------ */
static void decoder_free(decoder *d)
{
    if (!d) return;
    for (int i = 0; i < d->n_items; i++) decoder_free(&d->items[i]);
    free(d->items);
    free(d->from);
    free(d->to);
}

static char *dup_field(json_t *j, const char *key, const char *dflt)
{
    json_t *v = json_object_get(j, key);
    return strata_strdup(json_is_string(v) ? json_string_value(v) : dflt);
}

/* Decoders never refuse a file: an unknown one only makes decode() join the pieces. */
static void load_decoder(json_t *j, decoder *d)
{
    const char *type = get_type(j);
    memset(d, 0, sizeof *d);
    d->type = DEC_UNKNOWN;
    if (!type) return;
    if (strcmp(type, "Sequence") == 0) {
        json_t *items = json_object_get(j, "decoders");
        d->type = DEC_SEQUENCE;
        d->n_items = (int)json_array_size(items);
        d->items = strata_calloc((size_t)d->n_items + 1, sizeof *d->items);
        for (int i = 0; i < d->n_items; i++) load_decoder(json_array_get(items, (size_t)i), &d->items[i]);
    } else if (strcmp(type, "ByteLevel") == 0) {
        d->type = DEC_BYTELEVEL;
    } else if (strcmp(type, "Metaspace") == 0) {
        d->type = DEC_METASPACE;
        d->from = dup_field(j, "replacement", "\xE2\x96\x81");
        json_t *s = json_object_get(j, "prepend_scheme");
        d->prepend = json_is_string(s) ? strcmp(json_string_value(s), "never") != 0
                                       : get_bool(j, "add_prefix_space", 1);
    } else if (strcmp(type, "Replace") == 0) {
        json_t *s = json_object_get(json_object_get(j, "pattern"), "String");
        if (!json_is_string(s)) return; /* regex replace: not needed for debugging output */
        d->type = DEC_REPLACE;
        d->from = strata_strdup(json_string_value(s));
        d->to = dup_field(j, "content", "");
    } else if (strcmp(type, "ByteFallback") == 0) {
        d->type = DEC_BYTEFALLBACK;
    } else if (strcmp(type, "Fuse") == 0) {
        d->type = DEC_FUSE;
    } else if (strcmp(type, "Strip") == 0) {
        d->type = DEC_STRIP;
        d->from = dup_field(j, "content", " ");
        d->start = (int)json_integer_value(json_object_get(j, "start"));
        d->stop = (int)json_integer_value(json_object_get(j, "stop"));
    } else if (strcmp(type, "BPEDecoder") == 0) {
        d->type = DEC_BPE_SUFFIX;
        d->from = dup_field(j, "suffix", "</w>");
    } else if (strcmp(type, "WordPiece") == 0) {
        d->type = DEC_WORDPIECE;
        d->from = dup_field(j, "prefix", "##");
    }
}

typedef struct {
    char **v; /* owned strings */
    int n;
} strlist;

static void strlist_set(strlist *l, int i, char *s)
{
    free(l->v[i]);
    l->v[i] = s;
}

static char *replace_all(const char *s, const char *from, const char *to)
{
    sbuf b = {0};
    size_t fl = strlen(from), tl = strlen(to);
    sbuf_add(&b, "", 0);
    while (*s) {
        if (fl && strncmp(s, from, fl) == 0) { sbuf_add(&b, to, tl); s += fl; }
        else sbuf_add(&b, s++, 1);
    }
    return b.data;
}

/* Length of the invalid sequence at s[0] that one U+FFFD replaces: the lead byte and the
 * continuation bytes that still fit it (the "maximal subpart" rule of Unicode, as Rust's
 * from_utf8_lossy applies it). */
static size_t invalid_run(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t need;
    unsigned lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) need = 2;
    else if (c >= 0xE0 && c <= 0xEF) { need = 3; lo = c == 0xE0 ? 0xA0 : 0x80; hi = c == 0xED ? 0x9F : 0xBF; }
    else if (c >= 0xF0 && c <= 0xF4) { need = 4; lo = c == 0xF0 ? 0x90 : 0x80; hi = c == 0xF4 ? 0x8F : 0xBF; }
    else return 1;
    size_t k = 1;
    if (k < n && s[k] >= lo && s[k] <= hi) {
        k++;
        while (k < need && k < n && s[k] >= 0x80 && s[k] <= 0xBF) k++;
    }
    return k;
}

/* Bytes to a string, invalid UTF-8 replaced by U+FFFD. */
static void add_lossy(sbuf *b, const char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        size_t ok = utf8_invalid_at(s + i, n - i);
        sbuf_add(b, s + i, ok);
        i += ok;
        if (i < n) {
            sbuf_add(b, "\xEF\xBF\xBD", 3);
            i += invalid_run((const unsigned char *)s + i, n - i);
        }
    }
}

static void decode_apply(const decoder *d, strlist *l)
{
    switch (d->type) {
    case DEC_SEQUENCE:
        for (int i = 0; i < d->n_items; i++) decode_apply(&d->items[i], l);
        break;
    case DEC_REPLACE:
        for (int i = 0; i < l->n; i++) strlist_set(l, i, replace_all(l->v[i], d->from, d->to));
        break;
    case DEC_METASPACE:
        for (int i = 0; i < l->n; i++) {
            char *r = replace_all(l->v[i], d->from, " ");
            if (i == 0 && d->prepend && r[0] == ' ') memmove(r, r + 1, strlen(r));
            strlist_set(l, i, r);
        }
        break;
    case DEC_BPE_SUFFIX:
        for (int i = 0; i < l->n; i++)
            strlist_set(l, i, replace_all(l->v[i], d->from, i == l->n - 1 ? "" : " "));
        break;
    case DEC_WORDPIECE:
        for (int i = 0; i < l->n; i++) {
            size_t pl = strlen(d->from);
            sbuf b = {0};
            sbuf_add(&b, "", 0);
            if (i > 0 && strncmp(l->v[i], d->from, pl) == 0) sbuf_add(&b, l->v[i] + pl, strlen(l->v[i] + pl));
            else { if (i > 0) sbuf_add(&b, " ", 1); sbuf_add(&b, l->v[i], strlen(l->v[i])); }
            strlist_set(l, i, b.data);
        }
        break;
    case DEC_STRIP:
        for (int i = 0; i < l->n; i++) {
            char *s = l->v[i];
            size_t cl = strlen(d->from), len = strlen(s), a = 0;
            for (int k = 0; k < d->start && cl && strncmp(s + a, d->from, cl) == 0; k++) a += cl;
            for (int k = 0; k < d->stop && cl && len >= a + cl && strncmp(s + len - cl, d->from, cl) == 0; k++)
                len -= cl;
            memmove(s, s + a, len - a);
            s[len - a] = '\0';
        }
        break;
    case DEC_FUSE: {
        if (l->n == 0) break;
        sbuf b = {0};
        sbuf_add(&b, "", 0);
        for (int i = 0; i < l->n; i++) { sbuf_add(&b, l->v[i], strlen(l->v[i])); free(l->v[i]); }
        l->v[0] = b.data;
        l->n = 1;
        break;
    }
    case DEC_BYTEFALLBACK:
    case DEC_BYTELEVEL: {
        /* gather raw bytes, flush them lossily into the output list */
        strlist out = {strata_calloc(2 * (size_t)l->n + 2, sizeof(char *)), 0};
        sbuf bytes = {0};
        for (int i = 0; i < l->n; i++) {
            const char *s = l->v[i];
            unsigned v;
            if (d->type == DEC_BYTEFALLBACK) {
                if (strlen(s) == 6 && sscanf(s, "<0x%2X>", &v) == 1) {
                    char c = (char)v;
                    sbuf_add(&bytes, &c, 1);
                    continue;
                }
            } else {
                for (size_t k = 0; s[k];) {
                    int n;
                    int32_t c = utf8_decode(s + k, &n);
                    if (c < 512 && char_to_byte[c] >= 0) {
                        char b = (char)char_to_byte[c];
                        sbuf_add(&bytes, &b, 1);
                    } else {
                        sbuf_add(&bytes, s + k, (size_t)n);
                    }
                    k += (size_t)n;
                }
                if (i < l->n - 1) continue;
            }
            if (bytes.len) {
                sbuf b = {0};
                add_lossy(&b, bytes.data, bytes.len);
                sbuf_clear(&bytes);
                out.v[out.n++] = b.data ? b.data : strata_strdup("");
            }
            if (d->type == DEC_BYTEFALLBACK) out.v[out.n++] = strata_strdup(s);
        }
        if (bytes.len) {
            sbuf b = {0};
            add_lossy(&b, bytes.data, bytes.len);
            out.v[out.n++] = b.data;
        }
        free(bytes.data);
        for (int i = 0; i < l->n; i++) free(l->v[i]);
        free(l->v);
        *l = out;
        break;
    }
    default:
        break;
    }
}

/* ---- added tokens --------------------------------------------------------------------------- */
/* Sort key of an added token: first byte, then longest first. */
typedef struct {
    int index;
    unsigned char first;
    size_t len;
} added_key;

static int cmp_added(const void *a, const void *b)
{
    const added_key *x = a, *y = b;
    if (x->first != y->first) return x->first < y->first ? -1 : 1;
    if (x->len != y->len) return x->len > y->len ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index;
}

static void build_added_set(strata_tokenizer *tok, added_set *set, int normalized)
{
    added_key *keys = strata_calloc((size_t)tok->n_added + 1, sizeof *keys);
    set->order = strata_calloc((size_t)tok->n_added + 1, sizeof(int));
    set->n = 0;
    for (int i = 0; i < tok->n_added; i++)
        if (tok->added[i].len > 0 && tok->added[i].normalized == normalized)
            keys[set->n++] = (added_key){i, (unsigned char)tok->added[i].content[0], tok->added[i].len};
    qsort(keys, (size_t)set->n, sizeof *keys, cmp_added);
    for (int k = 0; k < set->n; k++) set->order[k] = keys[k].index;
    free(keys);
    int k = 0;
    for (int b = 0; b <= 256; b++) {
        while (k < set->n && (unsigned char)tok->added[set->order[k]].content[0] < b) k++;
        set->first[b] = k;
    }
}

/* char::is_alphanumeric or '_' (a "word" character for single_word). */
static int is_word_char(int32_t c)
{
    if (c == '_') return 1;
    utf8proc_category_t k = utf8proc_category(c);
    return (k >= UTF8PROC_CATEGORY_LU && k <= UTF8PROC_CATEGORY_LO) ||
           (k >= UTF8PROC_CATEGORY_ND && k <= UTF8PROC_CATEGORY_NO);
}

/* Finds the next added token in s[from..len): leftmost, then longest. Returns 1 with the span
 * (after lstrip/rstrip) and the id, or 0. seg_start is where the current segment began (lstrip
 * never reaches before it). */
static int find_added(const strata_tokenizer *tok, const added_set *set, const char *s, size_t len,
                      size_t from, size_t seg_start, size_t *ms, size_t *me, int32_t *id)
{
    if (set->n == 0) return 0;
    for (size_t i = from; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        int best = -1;
        for (int k = set->first[c]; k < set->first[c + 1]; k++) {
            const added_token *a = &tok->added[set->order[k]];
            if (a->len <= len - i && memcmp(s + i, a->content, a->len) == 0) { best = set->order[k]; break; }
        }
        if (best < 0) continue;
        const added_token *a = &tok->added[best];
        size_t start = i, end = i + a->len;
        if (a->single_word) {
            int ok = 1;
            if (start > 0) {
                size_t p = start - 1;
                while (p > 0 && ((unsigned char)s[p] & 0xC0) == 0x80) p--;
                int n;
                if (is_word_char(utf8_decode(s + p, &n))) ok = 0;
            }
            if (end < len) {
                int n;
                if (is_word_char(utf8_decode(s + end, &n))) ok = 0;
            }
            if (!ok) { i = end - 1; continue; }
        }
        if (a->lstrip) {
            while (start > seg_start) {
                size_t p = start - 1;
                while (p > seg_start && ((unsigned char)s[p] & 0xC0) == 0x80) p--;
                int n;
                if (!is_white_space(utf8_decode(s + p, &n))) break;
                start = p;
            }
        }
        if (a->rstrip) {
            while (end < len) {
                int n;
                if (!is_white_space(utf8_decode(s + end, &n))) break;
                end += (size_t)n;
            }
        }
        *ms = start;
        *me = end;
        *id = a->id;
        return 1;
    }
    return 0;
}

/* ---- BPE ------------------------------------------------------------------------------------ */
typedef struct {
    int32_t id;
    int prev, next, alive;
} symbol;

/* A possible merge of the symbol at pos with its right neighbour; it is stale once either
 * symbol changed (checked on the ids, so no second merge lookup is needed). */
typedef struct {
    int32_t rank, pos, new_id, left_id, right_id;
} candidate;

static int cand_less(const candidate *a, const candidate *b)
{
    return a->rank != b->rank ? a->rank < b->rank : a->pos < b->pos;
}

static void heap_push(candidate *h, int *n, candidate c)
{
    int i = (*n)++;
    h[i] = c;
    while (i > 0 && cand_less(&h[i], &h[(i - 1) / 2])) {
        candidate t = h[i]; h[i] = h[(i - 1) / 2]; h[(i - 1) / 2] = t;
        i = (i - 1) / 2;
    }
}

static candidate heap_pop(candidate *h, int *n)
{
    candidate top = h[0];
    h[0] = h[--(*n)];
    int i = 0;
    for (;;) {
        int l = 2 * i + 1, r = l + 1, m = i;
        if (l < *n && cand_less(&h[l], &h[m])) m = l;
        if (r < *n && cand_less(&h[r], &h[m])) m = r;
        if (m == i) break;
        candidate t = h[i]; h[i] = h[m]; h[m] = t;
        i = m;
    }
    return top;
}

static int cache_get(strata_tokenizer *tok, const char *w, size_t len, uint64_t h, idvec *out)
{
    word_cache *c = &tok->cache;
    if (!c->slots) return 0;
    size_t i = h & (cache_slots - 1);
    while (c->slots[i].hash) {
        cache_slot *s = &c->slots[i];
        if (s->hash == h && s->key_len == len && memcmp(c->keys.data + s->key_off, w, len) == 0) {
            for (uint32_t k = 0; k < s->n_ids; k++) idvec_push(out, c->ids.v[s->ids_off + k]);
            return 1;
        }
        i = (i + 1) & (cache_slots - 1);
    }
    return 0;
}

static void cache_put(strata_tokenizer *tok, const char *w, size_t len, uint64_t h,
                      const int32_t *ids, int n)
{
    word_cache *c = &tok->cache;
    if (!c->slots) c->slots = strata_calloc(cache_slots, sizeof *c->slots);
    if (2 * (c->count + 1) > cache_slots) { /* full: start again */
        memset(c->slots, 0, cache_slots * sizeof *c->slots);
        c->count = 0;
        sbuf_clear(&c->keys);
        c->ids.n = 0;
    }
    size_t i = h & (cache_slots - 1);
    while (c->slots[i].hash) i = (i + 1) & (cache_slots - 1);
    c->slots[i] = (cache_slot){h, (uint32_t)c->keys.len, (uint32_t)len, (uint32_t)c->ids.n,
                               (uint32_t)n};
    sbuf_add(&c->keys, w, len);
    for (int k = 0; k < n; k++) idvec_push(&c->ids, ids[k]);
    c->count++;
}

/* BPE on one pre-token w: characters (with byte fallback / unk), then merges by rank. */
static void bpe_word(strata_tokenizer *tok, const char *w, size_t len, idvec *out)
{
    if (len == 0) return;
    uint64_t h = hash_bytes(w, len) | 1;
    if (len <= cache_max_word && cache_get(tok, w, len, h, out)) return;
    if (tok->ignore_merges) {
        int32_t id = strmap_get(&tok->vocab, w, len);
        if (id >= 0) {
            idvec_push(out, id);
            return;
        }
    }
    /* symbols: one per character (byte_fallback may give several, prefix bytes included) */
    size_t cap = len + 1;
    symbol *sym = strata_malloc(cap * sizeof *sym);
    int n = 0, pending_unk = 0;
    sbuf *key = &tok->word;
    for (size_t i = 0; i < len;) {
        int cl = utf8_len((unsigned char)w[i]);
        if ((size_t)cl > len - i) cl = (int)(len - i);
        sbuf_clear(key);
        if (i > 0 && tok->prefix) sbuf_add(key, tok->prefix, tok->prefix_len);
        sbuf_add(key, w + i, (size_t)cl);
        if (i + (size_t)cl == len && tok->suffix) sbuf_add(key, tok->suffix, tok->suffix_len);
        i += (size_t)cl;
        if ((size_t)n + key->len + 2 > cap) {
            cap = 2 * cap + key->len + 2;
            sym = strata_realloc(sym, cap * sizeof *sym);
        }
        int32_t id = strmap_get(&tok->vocab, key->data, key->len);
        if (id >= 0) {
            if (pending_unk) { sym[n++] = (symbol){tok->unk_id, 0, 0, 1}; pending_unk = 0; }
            sym[n++] = (symbol){id, 0, 0, 1};
            continue;
        }
        if (tok->byte_fallback) {
            int all = 1;
            for (size_t b = 0; b < key->len; b++)
                if (tok->byte_ids[(unsigned char)key->data[b]] < 0) all = 0;
            if (all) {
                if (pending_unk) { sym[n++] = (symbol){tok->unk_id, 0, 0, 1}; pending_unk = 0; }
                for (size_t b = 0; b < key->len; b++)
                    sym[n++] = (symbol){tok->byte_ids[(unsigned char)key->data[b]], 0, 0, 1};
                continue;
            }
        }
        if (tok->unk_id >= 0) {
            if (pending_unk && !tok->fuse_unk) sym[n++] = (symbol){tok->unk_id, 0, 0, 1};
            pending_unk = 1;
        }
    }
    if (pending_unk) sym[n++] = (symbol){tok->unk_id, 0, 0, 1};
    for (int i = 0; i < n; i++) { sym[i].prev = i - 1; sym[i].next = i + 1 < n ? i + 1 : -1; }

    int nh = 0, heap_cap = 3 * n + 4;
    candidate *heap = strata_malloc((size_t)heap_cap * sizeof *heap);
    for (int i = 0; i + 1 < n; i++) {
        const merge_slot *m = mergemap_get(&tok->merges, sym[i].id, sym[i + 1].id);
        if (m) heap_push(heap, &nh, (candidate){m->rank, i, m->new_id, sym[i].id, sym[i + 1].id});
    }
    while (nh > 0) {
        candidate c = heap_pop(heap, &nh);
        symbol *a = &sym[c.pos];
        if (!a->alive || a->next < 0) continue;
        symbol *b = &sym[a->next];
        if (a->id != c.left_id || b->id != c.right_id) continue; /* stale */
        a->id = c.new_id;
        b->alive = 0;
        a->next = b->next;
        if (b->next >= 0) sym[b->next].prev = c.pos;
        if (nh + 2 > heap_cap) {
            heap_cap *= 2;
            heap = strata_realloc(heap, (size_t)heap_cap * sizeof *heap);
        }
        if (a->prev >= 0) {
            const merge_slot *p = mergemap_get(&tok->merges, sym[a->prev].id, a->id);
            if (p) heap_push(heap, &nh, (candidate){p->rank, a->prev, p->new_id, sym[a->prev].id, a->id});
        }
        if (a->next >= 0) {
            const merge_slot *q = mergemap_get(&tok->merges, a->id, sym[a->next].id);
            if (q) heap_push(heap, &nh, (candidate){q->rank, c.pos, q->new_id, a->id, sym[a->next].id});
        }
    }
    int first_out = out->n;
    for (int i = 0; i >= 0 && i < n; i = sym[i].next) idvec_push(out, sym[i].id);
    if (len <= cache_max_word) cache_put(tok, w, len, h, out->v + first_out, out->n - first_out);
    free(heap);
    free(sym);
}

/* ---- loading -------------------------------------------------------------------------------- */
/* Sets the string of an id. The model vocabulary's string stays unless override is set (an
 * added token's content, as the library shows it); a replaced string stays alive in retired[]
 * since the vocabulary map points at it. */
static void set_piece(strata_tokenizer *tok, int32_t id, const char *s, size_t len, int override)
{
    if (id >= tok->vocab_size) {
        int32_t n = tok->vocab_size ? tok->vocab_size : 1024;
        while (n <= id) n *= 2;
        tok->pieces = strata_realloc(tok->pieces, (size_t)n * sizeof *tok->pieces);
        tok->piece_len = strata_realloc(tok->piece_len, (size_t)n * sizeof *tok->piece_len);
        for (int32_t i = tok->vocab_size; i < n; i++) { tok->pieces[i] = NULL; tok->piece_len[i] = 0; }
        tok->vocab_size = n;
    }
    if (tok->pieces[id]) {
        if (!override || (tok->piece_len[id] == len && memcmp(tok->pieces[id], s, len) == 0)) return;
        tok->retired = strata_realloc(tok->retired, (size_t)(tok->n_retired + 1) * sizeof(char *));
        tok->retired[tok->n_retired++] = tok->pieces[id];
    }
    tok->pieces[id] = strata_malloc(len + 1);
    memcpy(tok->pieces[id], s, len);
    tok->pieces[id][len] = '\0';
    tok->piece_len[id] = (uint32_t)len;
}

static int load_model(strata_tokenizer *tok, json_t *model)
{
    const char *type = get_type(model);
    if (!json_is_object(model)) return field_error(tok, "model", "expected an object");
    if (!type) { /* old files omit the type; BPE is recognised by its merges */
        if (!json_object_get(model, "merges"))
            return field_error(tok, "model.type", "missing, and the model has no \"merges\" (not BPE)");
    } else if (strcmp(type, "BPE") != 0) {
        return field_error(tok, "model.type", "unsupported model type '%s' (strata reads BPE)", type);
    }
    json_t *dropout = json_object_get(model, "dropout");
    if (json_is_number(dropout) && json_number_value(dropout) > 0)
        return field_error(tok, "model.dropout", "BPE dropout is random; strata needs null or 0");
    json_t *vocab = json_object_get(model, "vocab");
    if (!json_is_object(vocab)) return field_error(tok, "model.vocab", "expected an object {token: id}");
    const char *key;
    json_t *val;
    json_object_foreach(vocab, key, val) {
        if (!json_is_integer(val) || json_integer_value(val) < 0 || json_integer_value(val) >= (1 << 30))
            return field_error(tok, "model.vocab", "token '%s' has no valid id", key);
    }
    json_object_foreach(vocab, key, val) {
        int32_t id = (int32_t)json_integer_value(val);
        set_piece(tok, id, key, strlen(key), 0);
    }
    for (int32_t id = 0; id < tok->vocab_size; id++)
        if (tok->pieces[id]) strmap_put(&tok->vocab, tok->pieces[id], tok->piece_len[id], id);

    json_t *unk = json_object_get(model, "unk_token");
    tok->model_size = (int32_t)json_object_size(vocab);
    tok->unk_id = -1;
    if (json_is_string(unk)) {
        tok->unk_id = strmap_get(&tok->vocab, json_string_value(unk), json_string_length(unk));
        if (tok->unk_id < 0)
            return field_error(tok, "model.unk_token", "'%s' is not in the vocabulary",
                               json_string_value(unk));
    }
    tok->byte_fallback = get_bool(model, "byte_fallback", 0);
    tok->fuse_unk = get_bool(model, "fuse_unk", 0);
    tok->ignore_merges = get_bool(model, "ignore_merges", 0);
    json_t *p = json_object_get(model, "continuing_subword_prefix");
    if (json_is_string(p) && json_string_length(p)) tok->prefix = dup_json_string(p, &tok->prefix_len);
    json_t *s = json_object_get(model, "end_of_word_suffix");
    if (json_is_string(s) && json_string_length(s)) tok->suffix = dup_json_string(s, &tok->suffix_len);
    for (int b = 0; b < 256; b++) {
        char name[8];
        snprintf(name, sizeof name, "<0x%02X>", b);
        tok->byte_ids[b] = strmap_get(&tok->vocab, name, 6);
    }

    json_t *merges = json_object_get(model, "merges");
    if (!json_is_array(merges)) return field_error(tok, "model.merges", "expected an array");
    sbuf joined = {0};
    for (size_t r = 0; r < json_array_size(merges); r++) {
        json_t *m = json_array_get(merges, r);
        const char *a, *b;
        size_t la, lb;
        char field[64];
        snprintf(field, sizeof field, "model.merges[%zu]", r);
        if (json_is_string(m)) { /* "a b" */
            a = json_string_value(m);
            const char *sp = strchr(a, ' ');
            if (!sp || strchr(sp + 1, ' '))
                { field_error(tok, field, "'%s' is not two tokens \"a b\"", a); goto bad; }
            la = (size_t)(sp - a);
            b = sp + 1;
            lb = strlen(b);
        } else if (json_is_array(m) && json_array_size(m) == 2 && json_is_string(json_array_get(m, 0)) &&
                   json_is_string(json_array_get(m, 1))) { /* ["a", "b"] */
            a = json_string_value(json_array_get(m, 0));
            la = json_string_length(json_array_get(m, 0));
            b = json_string_value(json_array_get(m, 1));
            lb = json_string_length(json_array_get(m, 1));
        } else {
            { field_error(tok, field, "expected \"a b\" or [\"a\", \"b\"]"); goto bad; }
        }
        int32_t ia = strmap_get(&tok->vocab, a, la), ib = strmap_get(&tok->vocab, b, lb);
        if (ia < 0 || ib < 0) {
            field_error(tok, field, "'%.*s' is not in the vocabulary", ia < 0 ? (int)la : (int)lb,
                        ia < 0 ? a : b);
            goto bad;
        }
        sbuf_clear(&joined);
        sbuf_add(&joined, a, la);
        if (tok->prefix && lb >= tok->prefix_len && memcmp(b, tok->prefix, tok->prefix_len) == 0)
            sbuf_add(&joined, b + tok->prefix_len, lb - tok->prefix_len);
        else
            sbuf_add(&joined, b, lb);
        int32_t inew = strmap_get(&tok->vocab, joined.data, joined.len);
        if (inew < 0) {
            field_error(tok, field, "the merged token '%s' is not in the vocabulary", joined.data);
            goto bad;
        }
        mergemap_put(&tok->merges, ia, ib, (int32_t)r, inew);
    }
    free(joined.data);
    return 0;
bad:
    free(joined.data);
    return -1;
}

static int load_added(strata_tokenizer *tok, json_t *added)
{
    if (!added || json_is_null(added)) return 0;
    if (!json_is_array(added)) return field_error(tok, "added_tokens", "expected an array");
    tok->n_added = (int)json_array_size(added);
    tok->added = strata_calloc((size_t)tok->n_added + 1, sizeof *tok->added);
    int32_t max_added = -1;
    for (int i = 0; i < tok->n_added; i++) {
        json_t *t = json_array_get(added, (size_t)i);
        json_t *id = json_object_get(t, "id"), *content = json_object_get(t, "content");
        char field[64];
        snprintf(field, sizeof field, "added_tokens[%d]", i);
        if (!json_is_integer(id) || json_integer_value(id) < 0 || json_integer_value(id) >= (1 << 30) ||
            !json_is_string(content))
            return field_error(tok, field, "expected {\"id\": int, \"content\": string, ...}");
        added_token *a = &tok->added[i];
        a->content = dup_json_string(content, &a->len);
        a->single_word = get_bool(t, "single_word", 0);
        a->lstrip = get_bool(t, "lstrip", 0);
        a->rstrip = get_bool(t, "rstrip", 0);
        a->special = get_bool(t, "special", 0);
        a->normalized = get_bool(t, "normalized", !a->special);
        /* The library does not take the "id" written in the file: a token already known (model
         * vocabulary or an earlier added token) keeps its id, a new one gets the next id after
         * the model vocabulary and the added tokens so far. So do we. */
        a->id = strmap_get(&tok->vocab, a->content, a->len);
        if (a->id < 0) {
            a->id = max_added >= tok->model_size ? max_added + 1 : tok->model_size;
            strmap_put(&tok->vocab, a->content, a->len, a->id);
        }
        if (a->id > max_added) max_added = a->id;
        set_piece(tok, a->id, a->content, a->len, 1);
    }
    return 0;
}

strata_tokenizer *strata_tokenizer_load(const char *path)
{
    byte_table_init();
    size_t len;
    char *text = strata_read_file(path, &len);
    if (!text) return NULL;
    json_error_t jerr;
    json_t *root = json_loadb(text, len, JSON_ALLOW_NUL, &jerr);
    free(text);
    if (!root) {
        strata_error_set("%s: line %d column %d: not valid JSON: %s", path, jerr.line, jerr.column,
                         jerr.text);
        return NULL;
    }
    strata_tokenizer *tok = strata_calloc(1, sizeof *tok);
    tok->path = strata_strdup(path);
    tok->bos_id = tok->eos_id = tok->pad_id = -1;
    int rc = -1;
    if (!json_is_object(root)) {
        field_error(tok, "(top level)", "expected a JSON object");
        goto done;
    }
    if (load_model(tok, json_object_get(root, "model"))) goto done;
    if (load_added(tok, json_object_get(root, "added_tokens"))) goto done;
    build_added_set(tok, &tok->raw_set, 0);
    build_added_set(tok, &tok->norm_set, 1);
    tok->is_special = strata_calloc((size_t)tok->vocab_size + 1, 1);
    for (int i = 0; i < tok->n_added; i++)
        if (tok->added[i].special) tok->is_special[tok->added[i].id] = 1;
    json_t *j = json_object_get(root, "normalizer");
    if (j && !json_is_null(j)) {
        tok->norm = strata_calloc(1, sizeof *tok->norm);
        if (load_normalizer(tok, j, "normalizer", tok->norm)) goto done;
    }
    j = json_object_get(root, "pre_tokenizer");
    if (j && !json_is_null(j)) {
        tok->pre = strata_calloc(1, sizeof *tok->pre);
        if (load_pretok(tok, j, "pre_tokenizer", tok->pre)) goto done;
    }
    j = json_object_get(root, "post_processor");
    if (j && !json_is_null(j)) {
        tok->post = strata_calloc(1, sizeof *tok->post);
        if (load_postproc(tok, j, "post_processor", tok->post) ||
            check_post_ids(tok, tok->post, "post_processor"))
            goto done;
    }
    j = json_object_get(root, "decoder");
    if (j && !json_is_null(j)) {
        tok->dec = strata_calloc(1, sizeof *tok->dec);
        load_decoder(j, tok->dec);
    }
    rc = 0;
done:
    json_decref(root);
    if (rc) {
        strata_tokenizer_free(tok);
        return NULL;
    }
    return tok;
}

/* A special token entry of tokenizer_config.json: "str", {"content": "str"} or null. */
static int32_t config_token(strata_tokenizer *tok, json_t *cfg, const char *key)
{
    json_t *v = json_object_get(cfg, key);
    if (json_is_object(v)) v = json_object_get(v, "content");
    if (!json_is_string(v)) return -1;
    return strmap_get(&tok->vocab, json_string_value(v), json_string_length(v));
}

strata_tokenizer *strata_tokenizer_load_dir(const char *dir)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    strata_tokenizer *tok = strata_tokenizer_load(path);
    if (!tok) return NULL;
    snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
    FILE *f = fopen(path, "rb");
    if (!f) return tok;
    fclose(f);
    json_error_t jerr;
    json_t *cfg = json_load_file(path, 0, &jerr);
    if (!json_is_object(cfg)) {
        strata_error_set("%s: line %d: not a JSON object: %s", path, jerr.line, jerr.text);
        json_decref(cfg);
        strata_tokenizer_free(tok);
        return NULL;
    }
    tok->bos_id = config_token(tok, cfg, "bos_token");
    tok->eos_id = config_token(tok, cfg, "eos_token");
    tok->pad_id = config_token(tok, cfg, "pad_token");
    json_decref(cfg);
    return tok;
}

void strata_tokenizer_free(strata_tokenizer *tok)
{
    if (!tok) return;
    for (int32_t i = 0; i < tok->vocab_size; i++) free(tok->pieces[i]);
    free(tok->pieces);
    free(tok->piece_len);
    for (int i = 0; i < tok->n_retired; i++) free(tok->retired[i]);
    free(tok->retired);
    free(tok->vocab.slots);
    free(tok->merges.slots);
    free(tok->prefix);
    free(tok->suffix);
    for (int i = 0; i < tok->n_added; i++) free(tok->added[i].content);
    free(tok->added);
    free(tok->raw_set.order);
    free(tok->norm_set.order);
    free(tok->is_special);
    normalizer_free(tok->norm);
    free(tok->norm);
    pretok_free(tok->pre);
    free(tok->pre);
    postproc_free(tok->post);
    free(tok->post);
    decoder_free(tok->dec);
    free(tok->dec);
    free(tok->cache.slots);
    free(tok->cache.keys.data);
    free(tok->cache.ids.v);
    free(tok->norm_a.data);
    free(tok->norm_b.data);
    free(tok->pieces_a.data);
    free(tok->pieces_b.data);
    free(tok->word.data);
    free(tok->path);
    free(tok);
}

/* ---- encoding ------------------------------------------------------------------------------- */
typedef struct {
    piecevec a, b;
    spanvec spans;
} encode_scratch;

/* Pre-tokenizes a normalized text segment and runs BPE on each piece. */
static int encode_normalized(strata_tokenizer *tok, const char *s, size_t len, int first,
                             encode_scratch *x, idvec *out)
{
    if (len == 0) return 0;
    x->a.n = 0;
    sbuf_clear(x->a.text);
    piece_push(&x->a, s, len, first);
    if (tok->pre && pretokenize(tok->pre, &x->a, &x->b, &x->spans)) return -1;
    for (int i = 0; i < x->a.n; i++) bpe_word(tok, x->a.text->data + x->a.v[i].off, x->a.v[i].len, out);
    return 0;
}

/* A segment of the input between raw added tokens: normalize, split on normalized added
 * tokens, then encode each part. */
static int encode_segment(strata_tokenizer *tok, const char *s, size_t len, int first,
                          encode_scratch *x, idvec *out)
{
    if (len == 0) return 0;
    sbuf *n = &tok->norm_a;
    sbuf_clear(n);
    sbuf_add(n, s, len);
    if (tok->norm && normalize(tok->norm, n, &tok->norm_b, &x->spans, &first)) return -1;
    /* copy: normalize() swaps norm_a/norm_b, and pieces below must not alias them */
    char *t = strata_malloc(n->len + 1);
    size_t tl = n->len;
    memcpy(t, n->data, tl);
    size_t pos = 0, ms, me;
    int32_t id;
    int rc = 0;
    while (rc == 0 && find_added(tok, &tok->norm_set, t, tl, pos, pos, &ms, &me, &id)) {
        rc = encode_normalized(tok, t + pos, ms - pos, first && pos == 0, x, out);
        idvec_push(out, id);
        pos = me;
    }
    if (rc == 0) rc = encode_normalized(tok, t + pos, tl - pos, first && pos == 0, x, out);
    free(t);
    return rc;
}

int strata_tokenizer_encode_len(strata_tokenizer *tok, const char *text, size_t len,
                                int add_special_tokens, int32_t **ids, int *n)
{
    *ids = NULL;
    *n = 0;
    if (!text && len) return strata_error_set("tokenizer: NULL text");
    size_t bad = utf8_invalid_at(text, len);
    if (bad < len)
        return strata_error_set("invalid UTF-8 at byte %zu (0x%02X) of the text", bad,
                                (unsigned)(unsigned char)text[bad]);
    if (len > (size_t)1 << 30) return strata_error_set("text of %zu bytes is too long", len);
    encode_scratch x = {{0}, {0}, {0}};
    x.a.text = &tok->pieces_a;
    x.b.text = &tok->pieces_b;
    idvec out = {0}, tmp = {0};
    size_t pos = 0, ms, me;
    int32_t id;
    int rc = 0;
    while (rc == 0 && find_added(tok, &tok->raw_set, text, len, pos, pos, &ms, &me, &id)) {
        rc = encode_segment(tok, text + pos, ms - pos, pos == 0, &x, &out);
        idvec_push(&out, id);
        pos = me;
    }
    if (rc == 0) rc = encode_segment(tok, text + pos, len - pos, pos == 0, &x, &out);
    free(x.a.v);
    free(x.b.v);
    free(x.spans.v);
    if (rc == 0 && add_special_tokens && tok->post) postprocess(tok->post, &out, &tmp);
    free(tmp.v);
    if (rc) {
        free(out.v);
        return -1;
    }
    *ids = out.v;
    *n = out.n;
    return 0;
}

int strata_tokenizer_encode(strata_tokenizer *tok, const char *text, int add_special_tokens,
                            int32_t **ids, int *n)
{
    return strata_tokenizer_encode_len(tok, text, text ? strlen(text) : 0, add_special_tokens, ids, n);
}

/* ---- lookups and decoding ------------------------------------------------------------------- */
int32_t strata_tokenizer_token_id(const strata_tokenizer *tok, const char *piece)
{
    return strmap_get(&tok->vocab, piece, strlen(piece));
}

const char *strata_tokenizer_piece(const strata_tokenizer *tok, int32_t id)
{
    return id >= 0 && id < tok->vocab_size ? tok->pieces[id] : NULL;
}

int32_t strata_tokenizer_vocab_size(const strata_tokenizer *tok)
{
    int32_t n = tok->vocab_size;
    while (n > 0 && !tok->pieces[n - 1]) n--;
    return n;
}

int32_t strata_tokenizer_bos_id(const strata_tokenizer *tok) { return tok->bos_id; }
int32_t strata_tokenizer_eos_id(const strata_tokenizer *tok) { return tok->eos_id; }
int32_t strata_tokenizer_pad_id(const strata_tokenizer *tok) { return tok->pad_id; }

char *strata_tokenizer_decode(const strata_tokenizer *tok, const int32_t *ids, int n,
                              int skip_special_tokens)
{
    /* as the library: the pieces (special ones skipped on request) all go through the decoder */
    strlist l = {strata_calloc((size_t)n + 1, sizeof(char *)), 0};
    for (int i = 0; i < n; i++) {
        if (!strata_tokenizer_piece(tok, ids[i])) {
            for (int k = 0; k < l.n; k++) free(l.v[k]);
            free(l.v);
            strata_error_set("decode: id %d is not in the vocabulary", (int)ids[i]);
            return NULL;
        }
        if (skip_special_tokens && tok->is_special[ids[i]]) continue;
        l.v[l.n++] = strata_strdup(tok->pieces[ids[i]]);
    }
    if (l.n && tok->dec) decode_apply(tok->dec, &l);
    sbuf result = {0};
    sbuf_add(&result, "", 0);
    for (int k = 0; k < l.n; k++) {
        sbuf_add(&result, l.v[k], strlen(l.v[k]));
        free(l.v[k]);
    }
    free(l.v);
    return result.data;
}
