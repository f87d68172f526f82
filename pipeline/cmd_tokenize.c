/* cmd_tokenize.c — `strata tokenize`: the token ids and pieces a model sees for a text, with an
 * optional prompt template, for checking by eye (or with --json against `tokenizers`).
 * Relies on io/tokenizer (tokenizer.json) and io/template (presets, placeholders). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "io/template.h"
#include "io/tokenizer.h"
#include "strata.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: strata tokenize --model DIR|tokenizer.json [--template T] [--json]\n"
            "                       [--no-special] TEXT|-\n\n"
            "Prints the token ids and pieces the model's tokenizer gives for TEXT ('-': read it\n"
            "from standard input, as it is, newlines included).\n"
            "  --model M      a model folder (tokenizer.json, tokenizer_config.json) or a\n"
            "                 tokenizer.json file\n"
            "  --template T   wrap TEXT in a prompt template first: a preset (llava-1.5, vicuna,\n"
            "                 plain, caption, image-caption), 'auto' (the preset for the model's\n"
            "                 config.json architecture) or a string with {prompt} / {caption}\n"
            "                 (both become TEXT) and <image>; \\n and \\t in T are escapes\n"
            "  --json         print {\"ids\": [...], \"pieces\": [...]}\n"
            "  --no-special   no BOS/EOS from the post-processor (as add_special_tokens=False)\n");
}

/* The architecture named in DIR/config.json ("architectures"[0]), or NULL. */
static char *model_architecture(const char *dir)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/config.json", dir);
    json_t *cfg = json_load_file(path, 0, NULL);
    json_t *a = json_array_get(json_object_get(cfg, "architectures"), 0);
    char *out = json_is_string(a) ? strata_strdup(json_string_value(a)) : NULL;
    json_decref(cfg);
    return out;
}

/* Command-line escapes: \n, \t, \\ . */
static char *unescape(const char *s)
{
    char *out = strata_malloc(strlen(s) + 1), *o = out;
    for (; *s; s++) {
        if (s[0] == '\\' && (s[1] == 'n' || s[1] == 't' || s[1] == '\\')) {
            *o++ = s[1] == 'n' ? '\n' : s[1] == 't' ? '\t' : '\\';
            s++;
        } else {
            *o++ = *s;
        }
    }
    *o = '\0';
    return out;
}

int strata_cmd_tokenize(int argc, char **argv)
{
    const char *model = NULL, *tmpl_arg = NULL, *text = NULL;
    int as_json = 0, special = 1;
    for (int i = 1; i < argc; i++) {
        if (strata_is_help(argv[i])) { usage(stdout); return STRATA_EXIT_OK; }
        if (strcmp(argv[i], "--model") == 0 && i + 1 < argc) model = argv[++i];
        else if (strcmp(argv[i], "--template") == 0 && i + 1 < argc) tmpl_arg = argv[++i];
        else if (strcmp(argv[i], "--json") == 0) as_json = 1;
        else if (strcmp(argv[i], "--no-special") == 0) special = 0;
        else if (argv[i][0] == '-' && argv[i][1] == '-') {
            fprintf(stderr, "strata tokenize: unknown option '%s'\n", argv[i]);
            usage(stderr);
            return STRATA_EXIT_USAGE;
        } else if (!text) text = argv[i];
        else {
            fprintf(stderr, "strata tokenize: one TEXT only (quote it)\n");
            return STRATA_EXIT_USAGE;
        }
    }
    if (!model || !text) {
        usage(stderr);
        return STRATA_EXIT_USAGE;
    }
    size_t ml = strlen(model);
    int is_file = ml >= 5 && strcmp(model + ml - 5, ".json") == 0;
    strata_tokenizer *tok = is_file ? strata_tokenizer_load(model) : strata_tokenizer_load_dir(model);
    if (!tok) {
        strata_log("error: %s", strata_error_get());
        return STRATA_EXIT_FAILURE;
    }
    int rc = STRATA_EXIT_FAILURE;
    char *arch = NULL, *tmpl = NULL, *input = NULL, *stdin_text = NULL;
    size_t input_len = 0;
    int32_t *ids = NULL;
    int n = 0;
    if (strcmp(text, "-") == 0) {
        size_t cap = 4096;
        stdin_text = strata_malloc(cap);
        size_t got;
        while ((got = fread(stdin_text + input_len, 1, cap - input_len - 1, stdin)) > 0) {
            input_len += got;
            if (input_len + 1 == cap) stdin_text = strata_realloc(stdin_text, cap *= 2);
        }
        stdin_text[input_len] = '\0';
        text = stdin_text;
    }
    if (tmpl_arg && strcmp(tmpl_arg, "auto") == 0) {
        arch = is_file ? NULL : model_architecture(model);
        const char *t = strata_template_for_architecture(arch);
        if (!t) {
            strata_log("error: --template auto: no preset for architecture '%s' (from %s/config.json)",
                       arch ? arch : "(none)", model);
            goto done;
        }
        tmpl = strata_strdup(t);
    } else if (tmpl_arg) {
        tmpl = unescape(strata_template_resolve(tmpl_arg));
    }
    if (tmpl) {
        input = strata_template_expand(tmpl, text, text, NULL);
        if (!input) {
            strata_log("error: --template: %s", strata_error_get());
            goto done;
        }
        input_len = strlen(input);
    } else if (stdin_text) {
        input = stdin_text; /* may hold NUL bytes: input_len counts them */
        stdin_text = NULL;
    } else {
        input = strata_strdup(text);
        input_len = strlen(input);
    }
    if (strata_tokenizer_encode_len(tok, input, input_len, special, &ids, &n)) {
        strata_log("error: %s", strata_error_get());
        goto done;
    }
    if (as_json) {
        json_t *root = json_object(), *jids = json_array(), *jp = json_array();
        for (int i = 0; i < n; i++) {
            json_array_append_new(jids, json_integer(ids[i]));
            json_array_append_new(jp, json_string(strata_tokenizer_piece(tok, ids[i])));
        }
        json_object_set_new(root, "ids", jids);
        json_object_set_new(root, "pieces", jp);
        char *s = json_dumps(root, JSON_COMPACT | JSON_ENSURE_ASCII);
        printf("%s\n", s);
        free(s);
        json_decref(root);
    } else {
        if (tmpl) {
            json_t *js = json_string(input); /* quoted, so newlines show */
            char *q = json_dumps(js, JSON_ENCODE_ANY);
            printf("input: %s\n", q);
            free(q);
            json_decref(js);
        }
        for (int i = 0; i < n; i++) {
            json_t *js = json_string(strata_tokenizer_piece(tok, ids[i]));
            char *q = json_dumps(js, JSON_ENCODE_ANY);
            printf("%8d  %s\n", (int)ids[i], q);
            free(q);
            json_decref(js);
        }
        char *dec = strata_tokenizer_decode(tok, ids, n, 0);
        json_t *js = json_string(dec ? dec : "");
        char *q = json_dumps(js, JSON_ENCODE_ANY);
        printf("%d tokens; decoded: %s\n", n, q);
        free(q);
        json_decref(js);
        free(dec);
    }
    rc = STRATA_EXIT_OK;
done:
    free(ids);
    free(input);
    free(stdin_text);
    free(tmpl);
    free(arch);
    strata_tokenizer_free(tok);
    return rc;
}
