/* inference_engine: DeepLog detection, NPY parity runs and model info on ONNX Runtime's C API. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench.h"
#include "bounds.h"
#include "detect.h"
#include "info.h"
#include "model.h"
#include "ort_loader.h"
#include "parity.h"

#define ENGINE_VERSION "0.1.0"

static const char USAGE[] =
    "usage:\n"
    "  inference_engine MODEL_DIR [--log FILE|-] [--top-g N] [--format jsonl|text] [--batch N]\n"
    "                   [--no-cache] [--threads N] [--opt-level LEVEL] [--ort-lib PATH]\n"
    "      detect anomalies in a raw log (default: stdin) with MODEL_DIR/{deeplog.onnx,\n"
    "      deeplog.onnx.meta.json,vocab.json}; one verdict per non-blank line:\n"
    "      {\"line\": n, \"template\": k|null, \"verdict\": \"normal\"|\"anomaly\",\n"
    "       \"reason\": \"warmup\"|\"in_top_g\"|\"not_in_top_g\"|\"unknown_template\", \"rank\": r|null}\n"
    "  inference_engine --model FILE.onnx --input X.npy --output Y.npy [--input X2.npy --output Y2.npy ...]\n"
    "                   [--threads N] [--opt-level LEVEL] [--ort-lib PATH]\n"
    "      run a single-input model on NPY tensors and write each first output as NPY, the n-th --input\n"
    "      to the n-th --output, all through one session (a file is replaced whole, by renaming a\n"
    "      complete copy over it; a device or FIFO is written in place)\n"
    "  inference_engine --info MODEL_DIR|FILE.onnx [--opt-level LEVEL] [--ort-lib PATH]\n"
    "      print inputs, outputs, opset and metadata\n"
    "  inference_engine MODEL_DIR --bench N [--batch B] [--threads N] [--opt-level LEVEL] [--ort-lib PATH]\n"
    "      time N Run calls of B windows: whole engine step vs OrtApi::Run alone (JSON)\n"
    "  inference_engine MODEL_DIR --bench-match LOG\n"
    "      time matching LOG's lines against MODEL_DIR's templates, no model run (JSON)\n"
    "\n"
    "options:\n"
    "  --batch N      windows per Run in detection (default 256; verdicts do not depend on it); from a\n"
    "                 pipe, terminal or socket, what waits is also scored, and each verdict written\n"
    "                 out, as soon as no more input is ready (tail -f app.log | inference_engine DIR)\n"
    "  --no-cache     run every window, even one seen before (default: each distinct window once)\n"
    "  --threads N    ONNX Runtime intra-op threads (default 1)\n"
    "  --opt-level L  ONNX Runtime graph optimizations: disabled, basic, extended or all (default all,\n"
    "                 ONNX Runtime's own default)\n"
    "  --ort-lib PATH ONNX Runtime library to load; else $ORT_LIB; else the onnxruntime package\n"
    "                 of the python3 on PATH (C API %d: ONNX Runtime >= 1.%d)\n"
    "\n"
    "exit codes: 0 ok, 2 usage error, 3 bad input (model, metadata, vocab, NPY, log; a log that\n"
    "            cannot be read, or holds a line too long for memory, names the line),\n"
    "            4 ONNX Runtime missing/too old/failed, 5 cannot write output\n";

#define MAX_PAIRS 4096     /* --input/--output pairs of one parity run */
#define REPEATED ((size_t)-1) /* an option that may repeat: no single slot in Args */

typedef struct {
    const char *model_dir, *log, *format, *ort_lib, *model, *info;
    const char *top_g, *threads, *batch, *bench, *opt_level, *bench_match;
    const char *inputs[MAX_PAIRS], *outputs[MAX_PAIRS];
    size_t n_inputs, n_outputs;
    int no_cache;
} Args;

/* --input and --output repeat (pairs, in order); every other option is given once. */
static int repeated_opt(Args *a, const char *name, const char *val)
{
    int is_in = strcmp(name, "--input") == 0;
    size_t *n = is_in ? &a->n_inputs : &a->n_outputs;
    if (*n == MAX_PAIRS) {
        fprintf(stderr, "inference_engine: at most %d %s options (see --help)\n", MAX_PAIRS, name);
        return -1;
    }
    (is_in ? a->inputs : a->outputs)[(*n)++] = val;
    return 0;
}

static int usage_error(const char *fmt, const char *arg)
{
    fprintf(stderr, "inference_engine: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, " (see --help)\n");
    return EXIT_USAGE;
}

/* Parse argv into a; returns -1 and prints one line on a usage error; 1 when --help/--version ran. */
static int parse_args(int argc, char **argv, Args *a)
{
    static const struct {
        const char *name;
        size_t off;
    } OPTS[] = {
        {"--log", offsetof(Args, log)},         {"--format", offsetof(Args, format)},
        {"--ort-lib", offsetof(Args, ort_lib)}, {"--model", offsetof(Args, model)},
        {"--input", REPEATED},                  {"--output", REPEATED},
        {"--info", offsetof(Args, info)},       {"--top-g", offsetof(Args, top_g)},
        {"--threads", offsetof(Args, threads)}, {"--batch", offsetof(Args, batch)},
        {"--bench", offsetof(Args, bench)},     {"--opt-level", offsetof(Args, opt_level)},
        {"--bench-match", offsetof(Args, bench_match)},
    };
    memset(a, 0, sizeof *a);
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
            printf(USAGE, ORT_API_VERSION, ORT_API_VERSION);
            return 1;
        }
        if (strcmp(arg, "--version") == 0) {
            printf("inference_engine %s (ONNX Runtime C API %d)\n", ENGINE_VERSION, ORT_API_VERSION);
            return 1;
        }
        if (strcmp(arg, "--no-cache") == 0) {
            a->no_cache = 1;
            continue;
        }
        if (arg[0] == '-' && arg[1] == '-') {
            const char *eq = strchr(arg, '=');
            size_t nlen = eq ? (size_t)(eq - arg) : strlen(arg);
            size_t k;
            for (k = 0; k < sizeof OPTS / sizeof OPTS[0]; k++)
                if (strlen(OPTS[k].name) == nlen && strncmp(OPTS[k].name, arg, nlen) == 0)
                    break;
            if (k == sizeof OPTS / sizeof OPTS[0]) {
                usage_error("unknown option %s", arg);
                return -1;
            }
            const char *val = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
            if (!val) {
                usage_error("option %s needs a value", OPTS[k].name);
                return -1;
            }
            if (OPTS[k].off == REPEATED) {
                if (repeated_opt(a, OPTS[k].name, val) != 0)
                    return -1;
                continue;
            }
            const char **slot = (const char **)((char *)a + OPTS[k].off);
            if (*slot) {
                usage_error("option %s given twice", OPTS[k].name);
                return -1;
            }
            *slot = val;
        } else if (arg[0] == '-' && arg[1] != '\0') {
            usage_error("unknown option %s", arg);
            return -1;
        } else if (!a->model_dir) {
            a->model_dir = arg;
        } else {
            usage_error("unexpected argument %s", arg);
            return -1;
        }
    }
    return 0;
}

static int int_opt(const char *s, const char *name, long lo, long hi, long dflt, long *out)
{
    if (!s) {
        *out = dflt;
        return 0;
    }
    if (parse_long(s, lo, hi, out) != 0) {
        fprintf(stderr, "inference_engine: %s must be an integer in %ld..%ld, got '%.60s' (see --help)\n", name, lo, hi,
                s);
        return -1;
    }
    return 0;
}

static int fail(const Err *err)
{
    err_print(err);
    return err->code ? err->code : EXIT_RUNTIME;
}

int main(int argc, char **argv)
{
    /* A closed pipe must be an error exit, not a signal. */
    signal(SIGPIPE, SIG_IGN);
    Args a;
    int pr = parse_args(argc, argv, &a);
    if (pr != 0)
        return pr > 0 ? 0 : EXIT_USAGE;

    long top_g, threads, batch, bench;
    if (int_opt(a.top_g, "--top-g", BOUND_TOP_G_MIN, BOUND_TOP_G_MAX, -1, &top_g) ||
        int_opt(a.threads, "--threads", 1, 1024, 1, &threads) ||
        int_opt(a.batch, "--batch", BOUND_BATCH_MIN, BOUND_BATCH_MAX, 256, &batch) || int_opt(a.bench, "--bench", 1, 100000000, 0, &bench))
        return EXIT_USAGE;
    static const struct {
        const char *name;
        GraphOptimizationLevel level;
    } LEVELS[] = {{"disabled", ORT_DISABLE_ALL}, {"basic", ORT_ENABLE_BASIC}, {"extended", ORT_ENABLE_EXTENDED},
                  {"all", ORT_ENABLE_ALL}};
    SessionConfig cfg = {(int)threads, ORT_ENABLE_ALL};
    if (a.opt_level) {
        size_t k = 0;
        while (k < sizeof LEVELS / sizeof LEVELS[0] && strcmp(a.opt_level, LEVELS[k].name) != 0)
            k++;
        if (k == sizeof LEVELS / sizeof LEVELS[0])
            return usage_error("--opt-level must be disabled, basic, extended or all, got '%.60s'", a.opt_level);
        cfg.opt_level = LEVELS[k].level;
    }
    int format = FORMAT_JSONL;
    if (a.format && strcmp(a.format, "jsonl") != 0) {
        if (strcmp(a.format, "text") != 0)
            return usage_error("--format must be jsonl or text, got '%.60s'", a.format);
        format = FORMAT_TEXT;
    }

    enum { M_DETECT, M_PARITY, M_INFO, M_BENCH, M_BENCH_MATCH } mode;
    if (a.info) {
        if (a.model_dir || a.model || a.n_inputs || a.n_outputs || a.log || a.bench || a.bench_match || a.no_cache)
            return usage_error("%s takes only a path (and --opt-level, --ort-lib)", "--info");
        mode = M_INFO;
    } else if (a.model || a.n_inputs || a.n_outputs) {
        if (!a.model || !a.n_inputs || !a.n_outputs)
            return usage_error("%s needs --model, --input and --output together", "parity mode");
        if (a.n_inputs != a.n_outputs)
            return usage_error("%s needs one --output per --input", "parity mode");
        if (a.model_dir || a.log || a.top_g || a.bench || a.bench_match || a.format || a.no_cache)
            return usage_error("%s takes no MODEL_DIR, --log, --top-g, --format, --bench or --no-cache", "parity mode");
        mode = M_PARITY;
    } else if (a.model_dir) {
        if (a.bench_match && (a.bench || a.log || a.top_g || a.format || a.no_cache || a.batch || a.opt_level ||
                              a.threads))
            return usage_error("%s takes only MODEL_DIR and LOG (and --ort-lib, unused)", "--bench-match");
        if (a.bench && (a.log || a.top_g || a.format || a.no_cache))
            return usage_error("%s takes no --log, --top-g, --format or --no-cache", "--bench");
        mode = a.bench_match ? M_BENCH_MATCH : a.bench ? M_BENCH : M_DETECT;
    } else {
        return usage_error("%s", "missing MODEL_DIR, --model or --info");
    }

    /* Detection input: open it before the (slow) model load so a bad path fails fast. */
    int log_fd = -1;
    if (mode == M_DETECT) {
        const char *lp = a.log ? a.log : "-";
        if (strcmp(lp, "-") == 0) {
            log_fd = STDIN_FILENO;
        } else {
            struct stat st;
            if ((log_fd = open(lp, O_RDONLY | O_CLOEXEC)) < 0) {
                fprintf(stderr, "inference_engine: cannot open log %s: %s\n", lp, strerror(errno));
                return EXIT_INPUT;
            }
            if (fstat(log_fd, &st) == 0 && S_ISDIR(st.st_mode)) {
                fprintf(stderr, "inference_engine: log %s is a directory\n", lp);
                close(log_fd);
                return EXIT_INPUT;
            }
        }
    }

    Err err = {0, ""};
    if (mode == M_BENCH_MATCH) { /* no model is run: no ONNX Runtime either */
        DeepLog d;
        int rc = deeplog_open_templates(&d, a.model_dir, &err) != 0 || bench_match(&d, a.bench_match, stdout, &err) != 0
                     ? fail(&err)
                     : 0;
        deeplog_close(&d);
        if (fflush(stdout) != 0 && rc == 0) {
            fprintf(stderr, "inference_engine: cannot write the output: %s\n", strerror(errno));
            rc = EXIT_OUTPUT;
        }
        return rc;
    }
    OrtLib lib;
    OrtCtx ctx;
    int rc = 0;
    if (ort_load(&lib, a.ort_lib, &err) != 0 || ort_ctx_init(&ctx, &lib, &err) != 0) {
        if (log_fd > STDIN_FILENO)
            close(log_fd);
        return fail(&err);
    }
    static char outbuf[1 << 20];
    setvbuf(stdout, outbuf, _IOFBF, sizeof outbuf);

    if (mode == M_INFO) {
        if (info_run(&lib, &ctx, a.info, &cfg, stdout, &err) != 0)
            rc = fail(&err);
    } else if (mode == M_PARITY) {
        if (parity_run(&ctx, a.model, a.inputs, a.outputs, a.n_inputs, &cfg, &err) != 0)
            rc = fail(&err);
    } else {
        DeepLog d;
        if (deeplog_open(&d, &ctx, a.model_dir, &cfg, &err) != 0) {
            rc = fail(&err);
        } else {
            DetectOptions o = {top_g, format, batch, !a.no_cache};
            LineReader in;
            int r;
            if (mode == M_BENCH) {
                r = deeplog_bench(&d, bench, batch, stdout, &err);
            } else if ((r = reader_init(&in, log_fd, &err)) == 0) {
                r = detect_stream(&d, &o, &in, stdout, &err);
                reader_free(&in);
            }
            if (r != 0)
                rc = fail(&err);
            deeplog_close(&d);
        }
    }
    if (log_fd > STDIN_FILENO)
        close(log_fd);
    ort_ctx_free(&ctx);
    if (fflush(stdout) != 0 && rc == 0) {
        fprintf(stderr, "inference_engine: cannot write the output: %s\n", strerror(errno));
        rc = EXIT_OUTPUT;
    }
    return rc;
}
