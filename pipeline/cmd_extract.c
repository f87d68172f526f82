/* cmd_extract.c — `strata extract`: the command line of the extract driver (extract.h). Parses
 * and checks the options on every rank (they all see the same argv), then runs the driver. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "extract.h"
#include "model/intervene.h"
#include "strata.h"

#define MAX_INTERVENE 32

static void usage(FILE *out)
{
    fprintf(out,
"usage: strata extract --model DIR --data MANIFEST.jsonl --out ARCHIVE.h5 [options]\n"
"\n"
"Runs a Hugging Face checkpoint over an image/caption manifest and writes the hidden states of\n"
"every selected layer into an HDF5 activation archive (format v1). Works with one rank or under\n"
"mpirun/srun: samples are split into contiguous blocks per rank, one batch per collective round.\n"
"\n"
"  --model DIR          checkpoint folder (config.json, *.safetensors, tokenizer.json, ...)\n"
"  --data MANIFEST      JSONL, one {\"id\", \"image\", \"caption\"} a line\n"
"  --out ARCHIVE.h5     written as ARCHIVE.h5.partial, renamed when complete\n"
"  --streams LIST       comma-separated NAME[:POOL]; NAME one of\n"
"                         image         prompt with the image; the image tokens\n"
"                         caption       the caption alone; its tokens (no BOS)\n"
"                         image_last    prompt with the image; its last position\n"
"                         caption_last  the caption alone; its last position\n"
"                         vision        the vision tower's layers; the patch tokens\n"
"                         connector     the projector output; the image tokens\n"
"                       default: image,caption (vision models), caption (text-only)\n"
"  --pool POOL          default pool: mean | first | last | all | sample:K | cls (vision's\n"
"                       class token); all and sample:K keep several rows per sample (ragged,\n"
"                       /index/<stream>/row_offset); sample:K draws K positions per sample,\n"
"                       seeded by the sample's manifest index. Default mean.\n"
"  --layers SPEC        LLM layers: all | 0,4,8 | a:b[:s] (Python slice, b exclusive); 0 is\n"
"                       the embedding output, l the output of block l. Default all.\n"
"  --vision-layers SPEC the same for the vision stream. Default all.\n"
"  --dtype f32|f16      on disk (f16: converted in memory, round to nearest even). Default f32.\n"
"  --batch N            samples per rank per round. Default 8.\n"
"  --backend B          auto | cpu | cuda (GPU = node-local rank modulo visible GPUs). Default auto.\n"
"  --threads N          CPU threads per rank (default: OMP_NUM_THREADS, else the cores the rank\n"
"                       may use (mpirun binding, Slurm allocation) shared with the node's ranks)\n"
"  --memory-budget GIB  device memory per rank: a batch whose forward needs more is refused\n"
"                       before any work, naming the largest that fits (default: on a GPU, its\n"
"                       free memory shared by the node's ranks on it; on the CPU, no check)\n"
"  --template T         prompt template (preset name or text with <image>, {prompt}, {caption});\n"
"                       default: the architecture's (LLaVA-1.5: \"USER: <image>\\n{prompt} ASSISTANT:\")\n"
"  --prompt TEXT        the {prompt} of the template. Default \"Describe the image.\"\n"
"  --overwrite          start again (default: resume ARCHIVE.h5.partial when it exists)\n"
"  --no-prefetch        load each batch when needed instead of during the previous one\n"
"  --fail-on-bad        exit 1 when any sample failed (the archive is still completed)\n"
"  --progress MODE      auto | bar | lines | none (lines: one every $STRATA_PROGRESS_INTERVAL\n"
"                       seconds, default 10). Default auto (bar on a terminal).\n"
"  --nll                also store each sample's teacher-forced caption NLL in /nll/caption\n"
"                       [N] float64: -sum log p(caption token | image input, earlier caption\n"
"                       tokens), the caption tokens appended to the image input (vision models)\n"
"  --intervene SPEC     (repeatable) change the forward of the image tokens, in every stream\n"
"                       and in --nll; blocks are transformers' language_model.layers[i]:\n"
"                         skip-ffn:i-j, skip-attn:i-j   no MLP / attention update, blocks i..j\n"
"                         ablate:k:zero, ablate:k:mean:FILE   hidden state k (input of block k)\n"
"                                        zeroed / set to a float32 [hidden_size] vector\n"
"                         inject:k       the projector output enters block k (blocks < k skipped)\n"
"                         transplant:i-j:DIR   blocks i..j use checkpoint DIR's weights\n"
"\n"
"Bad samples (unreadable image, empty or invalid caption, text longer than the context) are\n"
"recorded in /samples/status (2) and /samples/error, logged once and counted in the summary.\n"
"\n"
"Exit codes: 0 done; 1 bad input (nothing written) or --fail-on-bad with failures; 2 bad\n"
"command line; %d stopped by SIGTERM/SIGUSR1 (or Ctrl-C) after finishing and flushing the\n"
"current round: run the same command again to resume (for Slurm: sbatch --requeue, or\n"
"--signal=USR1@120 to stop before the time limit).\n",
            STRATA_EXIT_REQUEUE);
}

static char *join_argv(int argc, char **argv)
{
    size_t len = 16;
    for (int i = 0; i < argc; i++) len += strlen(argv[i]) + 3;
    char *s = strata_malloc(len);
    strcpy(s, "strata");
    for (int i = 0; i < argc; i++) {
        strcat(s, " ");
        int quote = strpbrk(argv[i], " \t\"'") != NULL;
        if (quote) strcat(s, "'");
        strcat(s, argv[i]);
        if (quote) strcat(s, "'");
    }
    return s;
}

int strata_cmd_extract(int argc, char **argv)
{
    enum { O_MODEL = 256, O_DATA, O_OUT, O_STREAMS, O_POOL, O_LAYERS, O_VLAYERS, O_DTYPE,
           O_BATCH, O_BACKEND, O_THREADS, O_TEMPLATE, O_PROMPT, O_OVERWRITE, O_NOPREFETCH,
           O_FAILBAD, O_PROGRESS, O_NLL, O_INTERVENE, O_MEMORY, O_HELP };
    static const struct option options[] = {
        {"model", required_argument, 0, O_MODEL},       {"data", required_argument, 0, O_DATA},
        {"out", required_argument, 0, O_OUT},           {"streams", required_argument, 0, O_STREAMS},
        {"pool", required_argument, 0, O_POOL},         {"layers", required_argument, 0, O_LAYERS},
        {"vision-layers", required_argument, 0, O_VLAYERS},
        {"dtype", required_argument, 0, O_DTYPE},       {"batch", required_argument, 0, O_BATCH},
        {"backend", required_argument, 0, O_BACKEND},   {"threads", required_argument, 0, O_THREADS},
        {"template", required_argument, 0, O_TEMPLATE}, {"prompt", required_argument, 0, O_PROMPT},
        {"overwrite", no_argument, 0, O_OVERWRITE},     {"no-prefetch", no_argument, 0, O_NOPREFETCH},
        {"fail-on-bad", no_argument, 0, O_FAILBAD},     {"progress", required_argument, 0, O_PROGRESS},
        {"nll", no_argument, 0, O_NLL},                 {"intervene", required_argument, 0, O_INTERVENE},
        {"memory-budget", required_argument, 0, O_MEMORY},
        {"help", no_argument, 0, O_HELP},               {0, 0, 0, 0},
    };
    strata_extract_options opt;
    strata_extract_options_init(&opt);
    optind = 1;
    opterr = 0;
    int c;
    char *end;
    const char *intervene[MAX_INTERVENE];
    while ((c = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
        switch (c) {
        case O_MODEL: opt.model_dir = optarg; break;
        case O_DATA: opt.manifest = optarg; break;
        case O_OUT: opt.out = optarg; break;
        case O_STREAMS: opt.streams = optarg; break;
        case O_POOL: opt.pool = optarg; break;
        case O_LAYERS: opt.layers = optarg; break;
        case O_VLAYERS: opt.vision_layers = optarg; break;
        case O_DTYPE:
            if (strcmp(optarg, "f32") == 0) opt.dtype = STRATA_DTYPE_F32;
            else if (strcmp(optarg, "f16") == 0) opt.dtype = STRATA_DTYPE_F16;
            else {
                strata_log0("error: --dtype '%s': expected f32 or f16", optarg);
                return STRATA_EXIT_USAGE;
            }
            break;
        case O_BATCH:
        case O_THREADS: {
            long v = strtol(optarg, &end, 10);
            if (*end || end == optarg || v < 1 || v > 1 << 20) {
                strata_log0("error: --%s '%s': expected a positive integer",
                            c == O_BATCH ? "batch" : "threads", optarg);
                return STRATA_EXIT_USAGE;
            }
            if (c == O_BATCH) opt.batch = (int)v;
            else opt.threads = (int)v;
            break;
        }
        case O_BACKEND:
            if (strcmp(optarg, "auto") && strcmp(optarg, "cpu") && strcmp(optarg, "cuda")) {
                strata_log0("error: --backend '%s': expected auto, cpu or cuda", optarg);
                return STRATA_EXIT_USAGE;
            }
            opt.backend = optarg;
            break;
        case O_MEMORY: {
            double v = strtod(optarg, &end);
            if (*end || end == optarg || !(v > 0)) {
                strata_log0("error: --memory-budget '%s': expected a positive number of GiB",
                            optarg);
                return STRATA_EXIT_USAGE;
            }
            opt.memory_budget_gib = v;
            break;
        }
        case O_TEMPLATE: opt.template_text = optarg; break;
        case O_PROMPT: opt.prompt = optarg; break;
        case O_OVERWRITE: opt.overwrite = 1; break;
        case O_NOPREFETCH: opt.prefetch = 0; break;
        case O_FAILBAD: opt.fail_on_bad = 1; break;
        case O_NLL: opt.nll = 1; break;
        case O_INTERVENE: { /* the syntax now; ranges and donors once the model is loaded */
            strata_intervention iv;
            if (opt.n_intervene == MAX_INTERVENE) {
                strata_log0("error: more than %d --intervene", MAX_INTERVENE);
                return STRATA_EXIT_USAGE;
            }
            if (strata_intervention_parse(optarg, &iv) < 0) {
                strata_log0("error: %s", strata_error_get());
                return STRATA_EXIT_USAGE;
            }
            intervene[opt.n_intervene++] = optarg;
            opt.intervene = intervene;
            break;
        }
        case O_PROGRESS:
            if (strata_progress_mode_parse(optarg, &opt.progress) < 0) {
                strata_log0("error: %s", strata_error_get());
                return STRATA_EXIT_USAGE;
            }
            break;
        case 'h':
        case O_HELP:
            if (strata_rank() == 0) usage(stdout);
            return STRATA_EXIT_OK;
        case ':':
            strata_log0("error: %s needs a value (strata extract --help)", argv[optind - 1]);
            return STRATA_EXIT_USAGE;
        default:
            strata_log0("error: unknown option '%s' (strata extract --help)", argv[optind - 1]);
            return STRATA_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        strata_log0("error: unexpected argument '%s' (strata extract --help)", argv[optind]);
        return STRATA_EXIT_USAGE;
    }
    const char *missing = !opt.model_dir ? "--model" : !opt.manifest ? "--data" : !opt.out ? "--out"
                                                                                        : NULL;
    if (missing) {
        strata_log0("error: %s is required (strata extract --help)", missing);
        return STRATA_EXIT_USAGE;
    }
    char *command_line = join_argv(argc, argv);
    opt.command_line = command_line;
    int rc = strata_extract_run(MPI_COMM_WORLD, &opt, NULL);
    free(command_line);
    return rc;
}
