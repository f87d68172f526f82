/* test_tokenizer_unit.c — io/tokenizer's API beyond the ids (which test_vs_tokenizers.py holds
 * against the `tokenizers` library): lookups, ids from tokenizer_config.json, the word cache,
 * and the error for each kind of bad tokenizer.json (file and field named) or bad text. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "io/tokenizer.h"
#include "strata.h"
#include "tests/testlib.h"

static const char *data(const char *name)
{
    static char buf[4096];
    snprintf(buf, sizeof buf, "%s/tests/tokenizer/data/%s", STRATA_SOURCE_DIR, name);
    return buf;
}

/* Writes the llama2 fixture with one edit (a JSON path set to a JSON value) to a temp file. */
static const char *edited(const char *name, const char *section, const char *key,
                          const char *value_json)
{
    json_t *root = json_load_file(data("llama2.json"), 0, NULL);
    json_t *value = json_loads(value_json, JSON_DECODE_ANY, NULL);
    json_t *where = section ? json_object_get(root, section) : root;
    json_object_set_new(where, key, value);
    static char path[4096];
    snprintf(path, sizeof path, "%s", t_tmp_path(name));
    json_dump_file(root, path, 0);
    json_decref(root);
    return path;
}

/* load must fail, and the message must contain each of the needles. */
static void expect_refused(const char *path, const char *needle1, const char *needle2)
{
    strata_tokenizer *tok = strata_tokenizer_load(path);
    T_CHECK(tok == NULL, "%s should be refused", path);
    const char *msg = strata_error_get();
    T_CHECK(t_contains(msg, needle1) && t_contains(msg, needle2),
            "message '%s' should name '%s' and '%s'", msg, needle1, needle2);
    strata_tokenizer_free(tok);
}

static void test_bad_files(void)
{
    expect_refused("/nonexistent/tokenizer.json", "/nonexistent/tokenizer.json", "");
    FILE *f = fopen(t_tmp_path("notjson.json"), "w");
    T_CHECK(f != NULL, "cannot write %s", t_tmp_path("notjson.json"));
    if (!f) return;
    fputs("{\"model\": [1, 2,", f);
    fclose(f);
    expect_refused(t_tmp_path("notjson.json"), "notjson.json", "line 1");
    expect_refused(data("wordpiece.json"), "model.type", "'WordPiece'");
    expect_refused(edited("unigram.json", "model", "type", "\"Unigram\""), "unigram.json",
                   "unsupported model type 'Unigram'");
    expect_refused(edited("bert_norm.json", NULL, "normalizer", "{\"type\": \"BertNormalizer\"}"),
                   "normalizer", "'BertNormalizer'");
    expect_refused(edited("bert_pre.json", NULL, "pre_tokenizer",
                          "{\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"Digits\"}, "
                          "{\"type\": \"BertPreTokenizer\"}]}"),
                   "pre_tokenizer.pretokenizers[1]", "'BertPreTokenizer'");
    expect_refused(edited("badregex.json", NULL, "pre_tokenizer",
                          "{\"type\": \"Split\", \"pattern\": {\"Regex\": \"(a\"}, "
                          "\"behavior\": \"Isolated\", \"invert\": false}"),
                   "pre_tokenizer.pattern", "regex does not compile");
    expect_refused(edited("badbehavior.json", NULL, "pre_tokenizer",
                          "{\"type\": \"Split\", \"pattern\": {\"String\": \" \"}, "
                          "\"behavior\": \"Sideways\", \"invert\": false}"),
                   "pre_tokenizer", "'Sideways'");
    expect_refused(edited("badmerge.json", "model", "merges", "[\"a b c\"]"),
                   "model.merges[0]", "two tokens");
    expect_refused(edited("badmerge2.json", "model", "merges", "[[\"zzq\", \"qqz\"]]"),
                   "model.merges[0]", "'zzq' is not in the vocabulary");
    expect_refused(edited("badunk.json", "model", "unk_token", "\"<nope>\""), "model.unk_token",
                   "'<nope>'");
    expect_refused(edited("badpost.json", NULL, "post_processor", "{\"type\": \"Frobnicate\"}"),
                   "post_processor", "'Frobnicate'");
    expect_refused(edited("badpostid.json", NULL, "post_processor",
                          "{\"type\": \"BertProcessing\", \"cls\": [\"<s>\", 1], "
                          "\"sep\": [\"x\", 99999]}"),
                   "post_processor", "sep id 99999 is not in the vocabulary");
    expect_refused(edited("novocab.json", "model", "vocab", "[1, 2]"), "model.vocab",
                   "expected an object");
    expect_refused(edited("dropout.json", "model", "dropout", "0.1"), "model.dropout", "dropout");
}

static void test_lookups(void)
{
    strata_tokenizer *tok = strata_tokenizer_load(data("llama2.json"));
    T_CHECK(tok != NULL, "load: %s", strata_error_get());
    if (!tok) return;
    int32_t image = strata_tokenizer_token_id(tok, "<image>");
    T_CHECK(image >= 0, "<image> is an added token");
    T_CHECK(image >= 0 && strcmp(strata_tokenizer_piece(tok, image), "<image>") == 0, "piece");
    T_CHECK(strata_tokenizer_token_id(tok, "no such token") == -1, "absent token -> -1");
    T_CHECK(strata_tokenizer_piece(tok, -1) == NULL && strata_tokenizer_piece(tok, 1 << 29) == NULL,
            "out of range ids -> NULL");
    int32_t n = strata_tokenizer_vocab_size(tok);
    T_CHECK(n == image + 1, "vocab size %d (the added <image> is the last id %d)", n, image);
    int bad = 0;
    for (int32_t i = 0; i < n; i++) {
        const char *p = strata_tokenizer_piece(tok, i);
        if (!p || strata_tokenizer_token_id(tok, p) != i) bad++;
    }
    T_CHECK(bad == 0, "%d ids do not round-trip through their piece", bad);
    T_CHECK(strata_tokenizer_bos_id(tok) == -1, "no tokenizer_config.json: bos -1");

    /* invalid UTF-8 is refused with the offset; a valid text after it still encodes */
    int32_t *ids = NULL;
    int nids = -1;
    T_CHECK(strata_tokenizer_encode(tok, "abc\xff", 1, &ids, &nids) == -1, "invalid UTF-8 refused");
    T_CHECK(ids == NULL && nids == 0, "no ids on error");
    T_CHECK(t_contains(strata_error_get(), "invalid UTF-8 at byte 3"), "got '%s'", strata_error_get());
    T_CHECK(strata_tokenizer_encode(tok, "", 0, &ids, &nids) == 0 && nids == 0, "empty text");
    free(ids);
    T_CHECK(strata_tokenizer_encode(tok, "", 1, &ids, &nids) == 0 && nids == 1, "empty text + BOS");
    free(ids);

    /* the word cache gives the same ids as a fresh tokenizer, also after it fills up and clears */
    size_t cap = 1 << 21, len = 0;
    char *text = malloc(cap);
    for (int w = 0; w < 70000; w++) len += (size_t)snprintf(text + len, cap - len, "w%dq ", w * 7919 % 100003);
    int32_t *a = NULL, *b = NULL, *c = NULL;
    int na = 0, nb = 0, nc = 0;
    T_CHECK(strata_tokenizer_encode(tok, text, 1, &a, &na) == 0, "long text");
    T_CHECK(strata_tokenizer_encode(tok, text, 1, &b, &nb) == 0, "long text again (warm cache)");
    strata_tokenizer *fresh = strata_tokenizer_load(data("llama2.json"));
    T_CHECK(strata_tokenizer_encode(fresh, text + len / 2, 1, &c, &nc) == 0, "second half");
    int32_t *d = NULL;
    int nd = 0;
    T_CHECK(strata_tokenizer_encode(tok, text + len / 2, 1, &d, &nd) == 0, "second half, warm");
    T_CHECK(na == nb && memcmp(a, b, (size_t)na * sizeof *a) == 0, "same ids twice");
    T_CHECK(nc == nd && memcmp(c, d, (size_t)nc * sizeof *c) == 0, "warm cache == fresh");
    free(a); free(b); free(c); free(d); free(text);
    strata_tokenizer_free(fresh);

    char *dec = strata_tokenizer_decode(tok, &image, 1, 1);
    T_CHECK(dec && dec[0] == '\0', "skip_special_tokens drops <image>: '%s'", dec);
    free(dec);
    int32_t bogus = 1 << 28;
    T_CHECK(strata_tokenizer_decode(tok, &bogus, 1, 0) == NULL, "decode of an unknown id fails");
    strata_tokenizer_free(tok);
}

static void test_config_ids(void)
{
    const char *dir = t_tmp_path("model_dir");
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "mkdir -p %s && cp %s %s/tokenizer.json", dir, data("llama2.json"), dir);
    T_CHECK(system(cmd) == 0, "copy");
    char path[4200];
    snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
    FILE *f = fopen(path, "w");
    T_CHECK(f != NULL, "cannot write %s", path);
    if (!f) return;
    fputs("{\"bos_token\": \"<s>\", \"eos_token\": {\"content\": \"</s>\", \"lstrip\": false}, "
          "\"pad_token\": null, \"add_bos_token\": true}", f);
    fclose(f);
    strata_tokenizer *tok = strata_tokenizer_load_dir(dir);
    T_CHECK(tok != NULL, "load_dir: %s", strata_error_get());
    if (!tok) return;
    T_CHECK(strata_tokenizer_bos_id(tok) == strata_tokenizer_token_id(tok, "<s>"), "bos");
    T_CHECK(strata_tokenizer_eos_id(tok) == strata_tokenizer_token_id(tok, "</s>"), "eos");
    T_CHECK(strata_tokenizer_pad_id(tok) == -1, "pad null -> -1");
    strata_tokenizer_free(tok);
    f = fopen(path, "w");
    if (!f) return;
    fputs("{\"bos_token\": ", f);
    fclose(f);
    T_CHECK(strata_tokenizer_load_dir(dir) == NULL, "broken tokenizer_config.json refused");
    T_CHECK(t_contains(strata_error_get(), "tokenizer_config.json"), "names it: %s",
            strata_error_get());
}

int main(void)
{
    test_bad_files();
    test_lookups();
    test_config_ids();
    return t_finish("tokenizer_unit");
}
