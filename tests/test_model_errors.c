/* test_model_errors.c — bad checkpoints stop strata_model_load with a message that names the
 * file and the problem (issue 3): truncated safetensors, header length past the end, overlapping
 * spans, shape x itemsize != span, dtype or shape not matching config.json, a missing tensor
 * (named), an unsupported architecture (named, with the supported list). Each case starts from
 * the committed golden fixture tests/golden/mistral_sliding and breaks one thing. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/safetensors.h"
#include "kernels/backend.h"
#include "model/model.h"
#include "strata.h"
#include "testlib.h"

static char fixture[4096];
static strata_backend *be;

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    fwrite(text, 1, strlen(text), f);
    fclose(f);
}

/* A fresh checkpoint folder named name under the test tmp dir with the fixture's config.json
 * (with the substring `from` replaced by `to` if given). Returns the folder (static). */
static const char *make_dir(const char *name, const char *from, const char *to)
{
    static char dir[4096];
    snprintf(dir, sizeof dir, "%s", t_tmp_path(name));
    mkdir(dir, 0755);
    char path[4200];
    snprintf(path, sizeof path, "%s/config.json", fixture);
    char *cfg = strata_read_file(path, NULL);
    if (from) {
        char *at = strstr(cfg, from);
        if (at) {
            size_t n = strlen(cfg) + strlen(to) + 1;
            char *out = malloc(n);
            snprintf(out, n, "%.*s%s%s", (int)(at - cfg), cfg, to, at + strlen(from));
            free(cfg);
            cfg = out;
        }
    }
    snprintf(path, sizeof path, "%s/config.json", dir);
    write_text(path, cfg);
    free(cfg);
    return dir;
}

/* Writes dir/model.safetensors from the fixture's tensors, leaving out `drop` and converting
 * `to_bf16` to BF16 (both may be NULL). */
static void write_weights(const char *dir, const char *drop, const char *to_bf16)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/model.safetensors", fixture);
    strata_safetensors *st = strata_safetensors_open(path);
    int n = strata_safetensors_count(st), k = 0;
    strata_st_write_tensor *w = calloc((size_t)n, sizeof *w);
    uint16_t *bf = NULL;
    for (int i = 0; i < n; i++) {
        const strata_st_tensor *t = strata_safetensors_at(st, i);
        if (drop && !strcmp(t->name, drop)) continue;
        w[k] = (strata_st_write_tensor){.name = t->name, .dtype = t->dtype, .ndim = t->ndim,
                                        .data = t->data};
        memcpy(w[k].shape, t->shape, sizeof t->shape);
        if (to_bf16 && !strcmp(t->name, to_bf16)) {
            bf = malloc((size_t)t->numel * 2);
            for (int64_t j = 0; j < t->numel; j++) bf[j] = strata_f32_to_bf16(((const float *)t->data)[j]);
            w[k].dtype = STRATA_ST_BF16;
            w[k].data = bf;
        }
        k++;
    }
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    T_CHECK(strata_safetensors_write(path, w, k) == 0, "write %s: %s", path, strata_error_get());
    free(bf);
    free(w);
    strata_safetensors_close(st);
}

/* A raw safetensors file: header JSON text, then data_bytes zero bytes; header_len_override
 * (if nonzero) replaces the true header length. */
static void write_raw(const char *dir, const char *json, size_t data_bytes, uint64_t header_len_override)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    FILE *f = fopen(path, "wb");
    uint64_t n = header_len_override ? header_len_override : strlen(json);
    unsigned char len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (unsigned char)(n >> (8 * i));
    fwrite(len8, 1, 8, f);
    fwrite(json, 1, strlen(json), f);
    for (size_t i = 0; i < data_bytes; i++) fputc(0, f);
    fclose(f);
}

/* Loading dir must fail with a message containing every one of the NULL-terminated needles. */
static void expect_error(const char *what, const char *dir, ...)
{
    strata_error_set("%s", "");
    strata_model *m = strata_model_load(dir, be, NULL);
    T_CHECK(m == NULL, "%s: the bad checkpoint loaded", what);
    strata_model_free(m);
    const char *msg = strata_error_get();
    printf("%-22s -> %s\n", what, msg);
    va_list ap;
    va_start(ap, dir);
    for (const char *needle = va_arg(ap, const char *); needle; needle = va_arg(ap, const char *))
        T_CHECK(t_contains(msg, needle), "%s: message '%s' lacks '%s'", what, msg, needle);
    va_end(ap);
}

int main(void)
{
    const char *src = getenv("STRATA_SOURCE_DIR") ? getenv("STRATA_SOURCE_DIR") : STRATA_SOURCE_DIR;
    snprintf(fixture, sizeof fixture, "%s/tests/golden/mistral_sliding", src);
    be = strata_backend_cpu_init(1);
    const char *dir;

    /* the intact copy loads: the cases below fail for the reason they name */
    dir = make_dir("intact", NULL, NULL);
    write_weights(dir, NULL, NULL);
    strata_model *m = strata_model_load(dir, be, NULL);
    T_CHECK(m != NULL, "intact copy: %s", strata_error_get());
    strata_model_free(m);

    /* truncated: the last tensor's span runs past the end */
    dir = make_dir("truncated", NULL, NULL);
    write_weights(dir, NULL, NULL);
    char path[4200];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    struct stat sb;
    stat(path, &sb);
    T_CHECK(truncate(path, sb.st_size - 100) == 0, "truncate");
    expect_error("truncated", dir, "model.safetensors", "truncated", "runs past the end", NULL);

    dir = make_dir("header_past_end", NULL, NULL);
    write_raw(dir, "{}", 0, 1u << 20);
    expect_error("header past end", dir, "model.safetensors", "header length 1048576", "past the end", NULL);

    dir = make_dir("short_file", NULL, NULL);
    write_raw(dir, "", 0, 0);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    T_CHECK(truncate(path, 5) == 0, "truncate");
    expect_error("shorter than 8 bytes", dir, "model.safetensors", "truncated", NULL);

    dir = make_dir("overlap", NULL, NULL);
    write_raw(dir, "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
                   "\"b\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[8,24]}}", 24, 0);
    expect_error("overlapping spans", dir, "model.safetensors", "'a'", "'b'", "overlapping", NULL);

    dir = make_dir("span_mismatch", NULL, NULL);
    write_raw(dir, "{\"a\":{\"dtype\":\"F32\",\"shape\":[4,2],\"data_offsets\":[0,16]}}", 16, 0);
    expect_error("shape x itemsize", dir, "'a'", "does not match its data span", NULL);

    dir = make_dir("bad_json", NULL, NULL);
    write_raw(dir, "{\"a\": [", 0, 0);
    expect_error("header not JSON", dir, "model.safetensors", "not valid JSON", NULL);

    dir = make_dir("bad_dtype_name", NULL, NULL);
    write_raw(dir, "{\"a\":{\"dtype\":\"F99\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, 0);
    expect_error("unknown dtype", dir, "'a'", "unknown dtype 'F99'", NULL);

    dir = make_dir("missing", NULL, NULL);
    write_weights(dir, "model.layers.1.mlp.up_proj.weight", NULL);
    expect_error("missing tensor", dir, "model.safetensors", "missing tensor",
                 "'model.layers.1.mlp.up_proj.weight'", NULL);

    dir = make_dir("dtype_vs_config", NULL, NULL);
    write_weights(dir, NULL, "model.layers.0.self_attn.k_proj.weight");
    expect_error("dtype vs config", dir, "model.layers.0.self_attn.k_proj.weight", "BF16",
                 "config.json", "f32", NULL);

    dir = make_dir("shape_vs_config", "\"intermediate_size\": 64", "\"intermediate_size\": 48");
    write_weights(dir, NULL, NULL);
    expect_error("shape vs config", dir, "mlp.gate_proj.weight", "[64, 32]", "config.json",
                 "[48, 32]", NULL);

    dir = make_dir("architecture", "MistralForCausalLM", "GPT2LMHeadModel");
    write_weights(dir, NULL, NULL);
    expect_error("unsupported arch", dir, "config.json", "'GPT2LMHeadModel'", "not supported",
                 "LlavaForConditionalGeneration", "LlamaForCausalLM", "Qwen2ForCausalLM", NULL);

    dir = make_dir("rope_type", "\"rope_type\": \"default\"", "\"rope_type\": \"yarn\"");
    write_weights(dir, NULL, NULL);
    expect_error("unsupported rope", dir, "config.json", "rope_type", "'yarn'", "llama3", NULL);

    dir = make_dir("config_types", "\"num_hidden_layers\": 2", "\"num_hidden_layers\": \"two\"");
    write_weights(dir, NULL, NULL);
    expect_error("config field type", dir, "config.json", "num_hidden_layers", "integer", NULL);

    dir = make_dir("config_syntax", "\"num_hidden_layers\": 2", "\"num_hidden_layers\": 2,,");
    write_weights(dir, NULL, NULL);
    expect_error("config syntax", dir, "config.json", "line", NULL);

    dir = make_dir("no_weights", NULL, NULL);
    expect_error("no weights file", dir, "model.safetensors", "cannot open", NULL);

    strata_backend_free(be);
    return t_finish("test_model_errors");
}
