/*
 * llama-cpp-logits: run libllama on one batch of token ids and write its logits and final hidden states
 * (the embeddings output with pooling NONE, llama.cpp's `result_norm`) as raw little-endian float32 files.
 *
 * Used by scripts/make-rope-scaling-fixtures.py, scripts/make-qwen3-fixture.py and the fixture scripts that import
 * them (make-gemma3-, make-gemma2-, make-phi3-, make-smollm3-, make-qwen3moe-fixture.py), which compile it against a
 * built llama.cpp:
 *
 *     cc -O2 -o llama-cpp-logits scripts/llama-cpp-logits.c -I LLAMA/include -I LLAMA/ggml/include \
 *        -L LLAMA/build/bin -lllama -Wl,-rpath,LLAMA/build/bin
 *
 * Usage: llama-cpp-logits [--n-ctx N] MODEL.gguf OUT_PREFIX TOKEN_ID...
 * Writes OUT_PREFIX.logits.f32 ([n_tokens, n_vocab], row per position) and OUT_PREFIX.hidden.f32
 * ([n_tokens, n_embd]); prints one line "n_tokens n_vocab n_embd freq_scale_train" to stdout and the model
 * loader's RoPE lines (and any warning or error) to stderr.
 *
 * Context: n_ctx 256, n_batch = n_ubatch = 256, F32 K and V cache, flash attention disabled, embeddings on with
 * pooling NONE (libllama then extracts logits and embeddings from the same decode), 2 threads. All tokens go in
 * one batch, sequence 0, positions 0..n-1, output requested at every position.
 *
 * --n-ctx N (optional, first) asks for n_ctx = n_batch = n_ubatch = N instead of 256; without it the harness runs
 * exactly as before. libllama (0c1e57098) rounds n_ctx up to a multiple of 256 (llama_context's GGML_PAD(n_ctx,
 * 256)), so only N > 256 changes the context it runs with: scripts/make-phi3-fixture.py asks for 512 to make
 * libllama pick Phi-3's long RoPE factors (llama_model::get_rope_factors: long iff n_ctx_seq > n_ctx_orig_yarn).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llama.h"

static void log_filter(enum ggml_log_level level, const char * text, void * user_data) {
    (void) user_data;
    static int echo = 0;  /* GGML_LOG_LEVEL_CONT continues the previous message */
    if (level != GGML_LOG_LEVEL_CONT) {
        echo = level >= GGML_LOG_LEVEL_WARN || strstr(text, "rope") != NULL;
    }
    if (echo) {
        fputs(text, stderr);
    }
}

static int write_floats(const char * path, const float * data, size_t count) {
    FILE * f = fopen(path, "wb");
    if (f == NULL) {
        perror(path);
        return 1;
    }
    size_t written = fwrite(data, sizeof(float), count, f);
    if (fclose(f) != 0 || written != count) {
        fprintf(stderr, "llama-cpp-logits: cannot write %s\n", path);
        return 1;
    }
    return 0;
}

int main(int argc, char ** argv) {
    int first = 1;      /* argv index of MODEL.gguf */
    int n_ctx = 256;
    if (argc > 2 && strcmp(argv[1], "--n-ctx") == 0) {
        char * end = NULL;
        long value = strtol(argv[2], &end, 10);
        if (*argv[2] == '\0' || *end != '\0' || value < 1 || value > 65536) {
            fprintf(stderr, "llama-cpp-logits: bad --n-ctx %s (1..65536)\n", argv[2]);
            return 2;
        }
        n_ctx = (int) value;
        first = 3;
    }
    if (argc - first < 3) {
        fprintf(stderr, "usage: %s [--n-ctx N] MODEL.gguf OUT_PREFIX TOKEN_ID...\n", argv[0]);
        return 2;
    }
    const char * model_path = argv[first];
    const char * prefix = argv[first + 1];
    const int n_tokens = argc - first - 2;
    if (n_tokens > n_ctx) {
        fprintf(stderr, "llama-cpp-logits: %d tokens do not fit a context of %d\n", n_tokens, n_ctx);
        return 2;
    }

    llama_log_set(log_filter, NULL);
    llama_backend_init();

    struct llama_model_params mparams = llama_model_default_params();
    mparams.n_gpu_layers = 0;
    struct llama_model * model = llama_model_load_from_file(model_path, mparams);
    if (model == NULL) {
        fprintf(stderr, "llama-cpp-logits: cannot load %s\n", model_path);
        return 1;
    }

    struct llama_context_params cparams = llama_context_default_params();
    cparams.n_ctx = n_ctx;
    cparams.n_batch = n_ctx;
    cparams.n_ubatch = n_ctx;
    cparams.n_seq_max = 1;
    cparams.n_threads = 2;
    cparams.n_threads_batch = 2;
    cparams.type_k = GGML_TYPE_F32;
    cparams.type_v = GGML_TYPE_F32;
    cparams.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_DISABLED;
    cparams.embeddings = true;
    cparams.pooling_type = LLAMA_POOLING_TYPE_NONE;
    cparams.no_perf = true;
    struct llama_context * ctx = llama_init_from_model(model, cparams);
    if (ctx == NULL) {
        fprintf(stderr, "llama-cpp-logits: cannot create a context\n");
        return 1;
    }

    const int n_vocab = llama_vocab_n_tokens(llama_model_get_vocab(model));
    const int n_embd = llama_model_n_embd(model);

    struct llama_batch batch = llama_batch_init(n_tokens, 0, 1);
    for (int i = 0; i < n_tokens; i++) {
        char * end = NULL;
        const char * arg = argv[first + 2 + i];
        long id = strtol(arg, &end, 10);
        if (*arg == '\0' || *end != '\0' || id < 0 || id >= n_vocab) {
            fprintf(stderr, "llama-cpp-logits: bad token id %s\n", arg);
            return 2;
        }
        batch.token[i] = (llama_token) id;
        batch.pos[i] = i;
        batch.n_seq_id[i] = 1;
        batch.seq_id[i][0] = 0;
        batch.logits[i] = 1;
    }
    batch.n_tokens = n_tokens;
    int rc = llama_decode(ctx, batch);
    if (rc != 0) {
        fprintf(stderr, "llama-cpp-logits: llama_decode returned %d\n", rc);
        return 1;
    }

    float * logits = malloc(sizeof(float) * (size_t) n_tokens * n_vocab);
    float * hidden = malloc(sizeof(float) * (size_t) n_tokens * n_embd);
    if (logits == NULL || hidden == NULL) {
        fprintf(stderr, "llama-cpp-logits: out of memory\n");
        return 1;
    }
    for (int i = 0; i < n_tokens; i++) {
        const float * l = llama_get_logits_ith(ctx, i);
        const float * e = llama_get_embeddings_ith(ctx, i);
        if (l == NULL || e == NULL) {
            fprintf(stderr, "llama-cpp-logits: no %s for position %d\n", l == NULL ? "logits" : "embeddings", i);
            return 1;
        }
        memcpy(logits + (size_t) i * n_vocab, l, sizeof(float) * n_vocab);
        memcpy(hidden + (size_t) i * n_embd, e, sizeof(float) * n_embd);
    }

    size_t len = strlen(prefix) + 16;
    char * path = malloc(len);
    snprintf(path, len, "%s.logits.f32", prefix);
    int failed = write_floats(path, logits, (size_t) n_tokens * n_vocab);
    snprintf(path, len, "%s.hidden.f32", prefix);
    failed |= write_floats(path, hidden, (size_t) n_tokens * n_embd);
    printf("%d %d %d %.9g\n", n_tokens, n_vocab, n_embd, llama_model_rope_freq_scale_train(model));

    free(path);
    free(logits);
    free(hidden);
    llama_batch_free(batch);
    llama_free(ctx);
    llama_model_free(model);
    llama_backend_free();
    return failed;
}
