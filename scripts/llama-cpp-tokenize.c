/*
 * llama-cpp-tokenize: tokenize a UTF-8 text file with libllama's tokenizer of a GGUF (its tokenizer.* metadata;
 * the weights are not loaded) and print the ids.
 *
 * Used by scripts/make-gemma3-fixture.py, which compiles it against a built llama.cpp the way the other fixture
 * scripts compile scripts/llama-cpp-logits.c:
 *
 *     cc -O2 -o llama-cpp-tokenize scripts/llama-cpp-tokenize.c -I LLAMA/include -I LLAMA/ggml/include \
 *        -L LLAMA/build/bin -lllama -Wl,-rpath,LLAMA/build/bin
 *
 * Usage: llama-cpp-tokenize MODEL.gguf TEXT_FILE
 * Prints two lines of space-separated ids: the text tokenized with add_special = true (BOS / EOS as the GGUF asks)
 * and with add_special = false; parse_special is false both times (special-token text stays plain text).
 * libllama's warnings and errors go to stderr.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llama.h"

static void log_filter(enum ggml_log_level level, const char * text, void * user_data) {
    (void) user_data;
    static int echo = 0;  /* GGML_LOG_LEVEL_CONT continues the previous message */
    if (level != GGML_LOG_LEVEL_CONT) {
        echo = level >= GGML_LOG_LEVEL_WARN;
    }
    if (echo) {
        fputs(text, stderr);
    }
}

static char * read_file(const char * path, long * length) {
    FILE * f = fopen(path, "rb");
    if (f == NULL) {
        perror(path);
        return NULL;
    }
    if (fseek(f, 0, SEEK_END) != 0 || (*length = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
        fprintf(stderr, "llama-cpp-tokenize: cannot size %s\n", path);
        fclose(f);
        return NULL;
    }
    char * text = malloc((size_t) *length + 1);
    if (text == NULL || fread(text, 1, (size_t) *length, f) != (size_t) *length) {
        fprintf(stderr, "llama-cpp-tokenize: cannot read %s\n", path);
        fclose(f);
        free(text);
        return NULL;
    }
    fclose(f);
    text[*length] = '\0';
    return text;
}

static int print_ids(const struct llama_vocab * vocab, const char * text, long length, bool add_special) {
    int32_t n_max = (int32_t) length + 8;
    llama_token * ids = malloc(sizeof(llama_token) * (size_t) n_max);
    if (ids == NULL) {
        fprintf(stderr, "llama-cpp-tokenize: out of memory\n");
        return 1;
    }
    int32_t n = llama_tokenize(vocab, text, (int32_t) length, ids, n_max, add_special, false);
    if (n < 0) {
        fprintf(stderr, "llama-cpp-tokenize: llama_tokenize returned %d\n", n);
        free(ids);
        return 1;
    }
    for (int32_t i = 0; i < n; i++) {
        printf(i ? " %d" : "%d", ids[i]);
    }
    printf("\n");
    free(ids);
    return 0;
}

int main(int argc, char ** argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s MODEL.gguf TEXT_FILE\n", argv[0]);
        return 2;
    }
    long length = 0;
    char * text = read_file(argv[2], &length);
    if (text == NULL) {
        return 1;
    }

    llama_log_set(log_filter, NULL);
    llama_backend_init();

    struct llama_model_params mparams = llama_model_default_params();
    mparams.n_gpu_layers = 0;
    mparams.vocab_only = true;
    struct llama_model * model = llama_model_load_from_file(argv[1], mparams);
    if (model == NULL) {
        fprintf(stderr, "llama-cpp-tokenize: cannot load %s\n", argv[1]);
        return 1;
    }
    const struct llama_vocab * vocab = llama_model_get_vocab(model);
    int failed = print_ids(vocab, text, length, true) || print_ids(vocab, text, length, false);

    llama_model_free(model);
    llama_backend_free();
    free(text);
    return failed;
}
