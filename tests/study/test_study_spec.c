/* test_study_spec.c — study specs (pipeline/study.h): a full spec parses to the values written
 * in it; each kind of bad spec fails before anything runs with "file:line:column: reason";
 * shell quoting survives bash for hostile strings (checked by running bash, not by reading
 * our own output); the generated scripts pass `bash -n`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "strata.h"
#include "study.h"
#include "testlib.h"

static char dir[4096];

static void write_file(const char *rel, const char *text)
{
    char path[8192];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "cannot write %s\n", path);
        exit(1);
    }
    fputs(text, f);
    fclose(f);
}

static void make_dir(const char *rel)
{
    char path[8192];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    mkdir(path, 0755);
}

static const char *good =
    "name: demo\n"
    "output: out\n"
    "dataset: data/manifest.jsonl\n"
    "models:\n"
    "  - name: llava-a\n"
    "    path: models/a\n"
    "    kind: vlm\n"
    "    template: \"USER: <image>\\nDescribe. ASSISTANT:\"\n"
    "  - {name: vicuna-b, path: models/b, kind: text}\n"
    "streams: [image, caption, caption_last]\n"
    "extract: {pool: mean, dtype: f16, batch: 8, layers: \"0:32:4\"}\n"
    "analysis: {metrics: [cka, id], samples: 2500, seed: 7}\n"
    "figures: {format: [pdf, png]}\n"
    "slurm:\n"
    "  partition: gpu\n"
    "  account: proj-1\n"
    "  nodes: 2\n"
    "  ntasks-per-node: 4\n"
    "  gpus-per-node: 4\n"
    "  cpus-per-task: 8\n"
    "  mem: 200G\n"
    "  time: \"08:00:00\"\n"
    "  array-concurrency: 2\n"
    "  signal-seconds: 600\n"
    "  extra: [\"--constraint=a100\"]\n"
    "  figures: {time: \"00:20:00\"}\n";

static void test_good(void)
{
    strata_study *s = strata_study_load_string(good, "good.yaml", dir);
    T_CHECK(s != NULL, "good spec: %s", strata_error_get());
    if (!s) return;
    char expect[8192];
    T_CHECK(strcmp(s->name, "demo") == 0, "name %s", s->name);
    snprintf(expect, sizeof expect, "%s/out", dir);
    T_CHECK(strcmp(s->output, expect) == 0, "output %s", s->output);
    snprintf(expect, sizeof expect, "%s/data/manifest.jsonl", dir);
    T_CHECK(strcmp(s->dataset, expect) == 0, "dataset %s", s->dataset);
    T_CHECK(s->n_models == 2, "%d models", s->n_models);
    if (s->n_models == 2) {
        T_CHECK(strcmp(s->models[0].template_text, "USER: <image>\nDescribe. ASSISTANT:") == 0,
                "template '%s'", s->models[0].template_text);
        T_CHECK(s->models[0].kind == STRATA_MODEL_VLM && s->models[1].kind == STRATA_MODEL_TEXT,
                "kinds");
        T_CHECK(s->models[0].streams.n == 3, "vlm keeps every stream (%d)", s->models[0].streams.n);
        T_CHECK(s->models[1].streams.n == 2 && strcmp(s->models[1].streams.v[0], "caption") == 0,
                "text model keeps the text streams (%d)", s->models[1].streams.n);
    }
    T_CHECK(s->batch == 8 && strcmp(s->layers, "0:32:4") == 0 && strcmp(s->dtype, "f16") == 0,
            "extract options");
    T_CHECK(s->samples == 2500 && s->seed == 7 && s->metrics.n == 2, "analysis options");
    const strata_study_resources *ex = &s->resources[STRATA_STEP_EXTRACT];
    T_CHECK(ex->nodes == 2 && ex->ntasks_per_node == 4 && ex->gpus_per_node == 4 &&
            ex->cpus_per_task == 8 && strcmp(ex->mem, "200G") == 0 &&
            strcmp(ex->time, "08:00:00") == 0 && strcmp(ex->partition, "gpu") == 0,
            "extract resources");
    T_CHECK(s->array_concurrency == 2 && s->signal_seconds == 600, "array options");
    const strata_study_resources *an = &s->resources[STRATA_STEP_ANALYZE];
    T_CHECK(an->nodes == 2 && an->gpus_per_node == 4 && strcmp(an->partition, "gpu") == 0,
            "analysis takes the extract shape by default");
    const strata_study_resources *fi = &s->resources[STRATA_STEP_FIGURES];
    T_CHECK(fi->nodes == 1 && fi->ntasks_per_node == 1 && fi->gpus_per_node == 0 &&
            strcmp(fi->time, "00:20:00") == 0 && strcmp(fi->account, "proj-1") == 0,
            "figures: one task, own time, same account");
    T_CHECK(s->launcher.n == 2 && strcmp(s->launcher.v[0], "srun") == 0 &&
            strcmp(s->launcher.v[1], "--mpi=pmix") == 0, "default launcher");

    /* Every generated script is valid bash and carries the resources. */
    for (int step = 0; step < STRATA_STUDY_N_STEPS; step++) {
        char *text = NULL;
        int rc = strata_study_script(s, (strata_study_step)step, step == 2, &text);
        T_CHECK(rc == 0, "script %d: %s", step, strata_error_get());
        if (rc) continue;
        write_file("script.sh", text);
        char cmd[8300];
        snprintf(cmd, sizeof cmd, "bash -n '%s/script.sh'", dir);
        T_CHECK(system(cmd) == 0, "bash -n of script %d", step);
        if (step == STRATA_STEP_EXTRACT) {
            T_CHECK(t_contains(text, "#SBATCH --requeue\n"), "requeue");
            T_CHECK(t_contains(text, "#SBATCH --signal=B:USR1@600\n"), "signal");
            T_CHECK(t_contains(text, "#SBATCH --gpus-per-node=4\n"), "gpus");
            T_CHECK(t_contains(text, "#SBATCH --constraint=a100\n"), "extra");
            T_CHECK(t_contains(text, "streams='caption,caption_last'"), "text model streams");
            T_CHECK(t_contains(text, "launcher=('srun' '--mpi=pmix')"), "launcher");
        }
        if (step == STRATA_STEP_FIGURES)
            T_CHECK(t_contains(text, "launcher=('mpirun' '-np' '1')"), "local figures launcher");
        free(text);
    }
    strata_study_free(s);
}

/* An output folder that does not exist yet is still made absolute and clean. */
static void test_output_path(void)
{
    strata_study *s = strata_study_load_string(
        "name: d\noutput: ../study_spec/./x/../new//out/\ndataset: data/manifest.jsonl\n"
        "models: [{name: a, path: ./models/../models/a, kind: vlm}]\n", "p.yaml", dir);
    T_CHECK(s != NULL, "spec: %s", strata_error_get());
    if (!s) return;
    char expect[8192];
    snprintf(expect, sizeof expect, "%s/new/out", dir);
    T_CHECK(strcmp(s->output, expect) == 0, "output %s, want %s", s->output, expect);
    snprintf(expect, sizeof expect, "%s/models/a", dir);
    T_CHECK(strcmp(s->models[0].path, expect) == 0, "model path %s", s->models[0].path);
    strata_study_free(s);
}

/* The committed examples stay valid specs: their paths are pointed at this test's folders
 * (line by line: the values of path:, dataset: and output:), everything else is as shipped. */
static strata_study *load_example(const char *name)
{
    char path[8192];
    snprintf(path, sizeof path, "%s/jobs/examples/%s", STRATA_SOURCE_DIR, name);
    char *text = strata_read_file(path, NULL);
    T_CHECK(text != NULL, "%s: %s", name, strata_error_get());
    if (!text) return NULL;
    size_t cap = strlen(text) * 2 + 4096, n = 0;
    char *out = malloc(cap);
    for (char *save = NULL, *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        const char *t = line + strspn(line, " ");
        const char *value = !strncmp(t, "path:", 5)      ? "models/a"
                            : !strncmp(t, "dataset:", 8) ? "data/manifest.jsonl"
                            : !strncmp(t, "output:", 7)  ? "out"
                                                         : NULL;
        if (value)
            n += (size_t)snprintf(out + n, cap - n, "%.*s %s\n", (int)(strchr(t, ':') - line + 1), line, value);
        else
            n += (size_t)snprintf(out + n, cap - n, "%s\n", line);
    }
    strata_study *s = strata_study_load_string(out, name, dir);
    T_CHECK(s != NULL, "example %s: %s", name, strata_error_get());
    free(out);
    free(text);
    return s;
}

static void test_examples(void)
{
    strata_study *s = load_example("llava15-vs-vicuna.yaml");
    if (s) {
        T_CHECK(s->n_models == 2 && s->models[1].kind == STRATA_MODEL_TEXT &&
                s->models[1].streams.n == 2, "LLaVA vs Vicuna: a vlm and its base LLM (text streams)");
        T_CHECK(s->resources[STRATA_STEP_EXTRACT].gpus_per_node == 4 && s->array_concurrency == 2,
                "LLaVA vs Vicuna: resources");
        strata_study_free(s);
    }
    s = load_example("demo.yaml");
    if (s) {
        T_CHECK(s->n_models == 3 && s->resources[STRATA_STEP_ANALYZE].ntasks_per_node == 2,
                "demo: three models, analysis on two ranks");
        strata_study_free(s);
    }
}

/* A bad spec: the message must start with "bad.yaml:<line>:<column>: " and say `why`. Columns
 * are those of the offending value (of its text, inside quotes, for quoted scalars). */
static void expect_error(const char *yaml, const char *where, const char *why)
{
    strata_study *s = strata_study_load_string(yaml, "bad.yaml", dir);
    T_CHECK(s == NULL, "accepted a bad spec (expected '%s')", why);
    strata_study_free(s);
    const char *msg = strata_error_get();
    T_CHECK(strncmp(msg, where, strlen(where)) == 0, "position: want '%s', got '%s'", where, msg);
    T_CHECK(t_contains(msg, why), "reason: want '%s', got '%s'", why, msg);
}

#define HEAD "name: demo\noutput: out\ndataset: data/manifest.jsonl\n"
#define MODEL "models:\n  - {name: a, path: models/a, kind: vlm}\n"

static void test_bad(void)
{
    expect_error(HEAD MODEL "colour: red\n", "bad.yaml:6:1: ", "unknown key 'colour'");
    expect_error(HEAD "models:\n  - {name: a, path: models/a, kind: vlm, gpu: 1}\n",
                 "bad.yaml:5:42: ", "unknown key 'gpu' in models[0]");
    expect_error(HEAD MODEL "slurm:\n  nodes: two\n", "bad.yaml:7:10: ", "must be an integer");
    expect_error(HEAD MODEL "slurm:\n  nodes: \"2\"\n", "bad.yaml:7:11: ", "a quoted string");
    expect_error(HEAD MODEL "slurm:\n  nodes: [1]\n", "bad.yaml:7:11: ", "found a list");
    expect_error(HEAD MODEL "slurm: {ntasks-per-node: 0}\n", "bad.yaml:6:26: ", "between 1 and");
    expect_error(HEAD MODEL "slurm: {partiton: gpu}\n", "bad.yaml:6:9: ", "unknown key 'partiton'");
    expect_error(HEAD MODEL "slurm: {time: \"8h\"}\n", "bad.yaml:6:16: ", "Slurm time");
    expect_error(HEAD MODEL "slurm: {mem: 12 GB}\n", "bad.yaml:6:14: ", "'mem' must be a size");
    expect_error(HEAD MODEL "slurm: {partition: \"gpu;reboot\"}\n", "bad.yaml:6:21: ", "may only hold");
    expect_error(HEAD MODEL "slurm: {extra: [\"--dependency=afterok:1\"]}\n", "bad.yaml:6:18: ",
                 "may not set --dependency");
    expect_error(HEAD "models:\n  - {name: a, path: models/nope, kind: vlm}\n", "bad.yaml:5:21: ",
                 "is not a folder");
    expect_error(HEAD "models:\n  - {name: a, path: data, kind: vlm}\n", "bad.yaml:5:21: ",
                 "no readable config.json");
    expect_error(HEAD "models:\n  - {name: \"a$(reboot)\", path: models/a, kind: vlm}\n",
                 "bad.yaml:5:13: ", "model name 'a$(reboot)' may only hold");
    expect_error(HEAD "models:\n  - {name: \"a b\", path: models/a, kind: vlm}\n",
                 "bad.yaml:5:13: ", "may only hold");
    expect_error(HEAD "models:\n  - {name: a, path: models/a, kind: video}\n", "bad.yaml:5:37: ",
                 "'kind' must be vlm or text");
    expect_error(HEAD "models:\n  - {name: a, path: models/a}\n", "bad.yaml:5:12: ", "has no 'kind'");
    expect_error(HEAD "models:\n  - {name: a, path: models/a, kind: vlm}\n"
                      "  - {name: a, path: models/b, kind: text}\n",
                 "bad.yaml:6:12: ", "two models are named 'a'");
    expect_error(HEAD "models: []\n", "bad.yaml:4:1: ", "non-empty list");
    expect_error(HEAD "models: {a: 1}\n", "bad.yaml:4:10: ", "found a mapping");
    expect_error(HEAD MODEL "streams: [image, pixels]\n", "bad.yaml:6:18: ", "unknown stream 'pixels'");
    expect_error(HEAD "models:\n  - {name: b, path: models/b, kind: text}\nstreams: [image]\n",
                 "bad.yaml:5:37: ", "can produce none of the study's streams");
    expect_error(HEAD MODEL "launcher: srun --mpi=pmix;reboot\n", "bad.yaml:6:11: ", "no shell syntax");
    expect_error(HEAD MODEL "launcher: \"srun $(reboot)\"\n", "bad.yaml:6:12: ", "no shell syntax");
    expect_error("name: demo\noutput: \"out dir\"\ndataset: data/manifest.jsonl\n" MODEL,
                 "bad.yaml:2:10: ", "output folder");
    expect_error("name: demo\noutput: out\ndataset: data/missing.jsonl\n" MODEL, "bad.yaml:3:10: ",
                 "is not a readable file");
    expect_error("name: demo\ndataset: data/manifest.jsonl\n" MODEL, "bad.yaml:1:1: ",
                 "no 'output'");
    expect_error(HEAD MODEL "extract: {batch: 0}\n", "bad.yaml:6:18: ", "between 1 and");
    expect_error(HEAD MODEL "extract: {batches: 4}\n", "bad.yaml:6:11: ", "unknown key 'batches' in extract");
    expect_error(HEAD MODEL "name: again\n", "bad.yaml:6:1: ", "duplicate key");
    expect_error(HEAD "models:\n  - {name: a, path: models/a, kind: vlm\n", "bad.yaml:", "YAML syntax error");
    expect_error("- a\n- b\n", "bad.yaml:1:3: ", "a study spec is a mapping");
    /* libfyaml 0.7.12 loops forever on this one (found by tests/fuzz/fuzz_study.c). */
    expect_error("%\xff\xff\xff\n", "bad.yaml:1:2: ", "invalid UTF-8");
    expect_error("name: d\xc3\n", "bad.yaml:1:8: ", "invalid UTF-8");
}

/* Quoted strings come out of bash unchanged, and nothing in them runs. */
static void test_quoting(void)
{
    const char *hostile[] = {
        "plain", "it's", "a b  c", "$(touch CANARY)", "`touch CANARY`", "\"; touch CANARY; \"",
        "'; touch CANARY; '", "$HOME ${PATH} $((1+1))", "back\\slash\\n", "line1\nline2\ttab",
        "*?[a-z]{1,2}~!#&|<>()", "\x01\x1f\x7f control", "ünïcødé ✓", "--option=value",
    };
    for (size_t i = 0; i < sizeof hostile / sizeof hostile[0]; i++) {
        char *q = strata_study_shell_quote(hostile[i]);
        char script[8192], cmd[8400];
        snprintf(script, sizeof script, "cd '%s' && printf '%%s' %s > quoted.out\n", dir, q);
        write_file("quote.sh", script);
        snprintf(cmd, sizeof cmd, "bash '%s/quote.sh'", dir);
        T_CHECK(system(cmd) == 0, "bash ran for %s", q);
        char out_path[8300];
        snprintf(out_path, sizeof out_path, "%s/quoted.out", dir);
        size_t len = 0;
        char *got = strata_read_file(out_path, &len);
        T_CHECK(got && len == strlen(hostile[i]) && memcmp(got, hostile[i], len) == 0,
                "round trip of %s gave '%s'", q, got ? got : "(nothing)");
        free(got);
        free(q);
        snprintf(out_path, sizeof out_path, "%s/CANARY", dir);
        T_CHECK(access(out_path, F_OK) != 0, "quoted text ran a command: %s", hostile[i]);
    }
}

int main(void)
{
    snprintf(dir, sizeof dir, "%s", t_tmp_path("study_spec"));
    char cmd[8200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", dir, dir);
    if (system(cmd) != 0) return 1;
    char *real = realpath(dir, NULL);
    if (real) {
        snprintf(dir, sizeof dir, "%s", real);
        free(real);
    }
    make_dir("models");
    make_dir("models/a");
    make_dir("models/b");
    make_dir("data");
    write_file("models/a/config.json", "{}\n");
    write_file("models/b/config.json", "{}\n");
    write_file("data/manifest.jsonl", "{\"id\": \"0\"}\n");
    test_good();
    test_output_path();
    test_examples();
    test_bad();
    test_quoting();
    return t_finish("test_study_spec");
}
