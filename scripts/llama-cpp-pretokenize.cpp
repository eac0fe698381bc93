/*
 * llama-cpp-pretokenize: split texts with libllama's own pre-tokenizer regex engine, unicode_regex_split
 * (src/unicode.cpp: its hand-written scanners for the regexes it knows, else std::regex over the text with every
 * non-ASCII character collapsed to one byte per Unicode category), and print the pieces' byte lengths.
 *
 * unicode_regex_split is not in llama.h, but libllama.so exports it; its declaration is copied from src/unicode.h.
 * Used by scripts/make-o200k-tokenizer-fixture.py, which compiles it against a built llama.cpp:
 *
 *     c++ -O2 -std=c++17 -o llama-cpp-pretokenize scripts/llama-cpp-pretokenize.cpp \
 *         -L LLAMA/build/bin -lllama -Wl,-rpath,LLAMA/build/bin
 *
 * Usage: llama-cpp-pretokenize REGEX_FILE TEXTS_FILE
 * REGEX_FILE holds one regex (its bytes, as the regex_exprs entry of src/llama-vocab.cpp reads after C unescaping).
 * TEXTS_FILE holds the texts, each as its byte length in decimal, a newline, then its bytes (texts may contain
 * any byte, NUL and newlines included). Prints one line per text: the byte lengths of its pieces, space-separated
 * (an empty line for an empty text).
 */
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

// src/unicode.h at llama.cpp 0c1e57098.
std::vector<std::string> unicode_regex_split(const std::string & text, const std::vector<std::string> & regex_exprs, bool byte_encode);

static bool slurp(const char * path, std::string & out) {
    std::ifstream f(path, std::ios::binary);
    if (!f) {
        perror(path);
        return false;
    }
    std::stringstream s;
    s << f.rdbuf();
    out = s.str();
    return true;
}

int main(int argc, char ** argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s REGEX_FILE TEXTS_FILE\n", argv[0]);
        return 2;
    }
    std::string regex, texts;
    if (!slurp(argv[1], regex) || !slurp(argv[2], texts)) {
        return 1;
    }
    size_t at = 0;
    while (at < texts.size()) {
        size_t newline = texts.find('\n', at);
        if (newline == std::string::npos) {
            fprintf(stderr, "llama-cpp-pretokenize: %s: a length without its newline at byte %zu\n", argv[2], at);
            return 1;
        }
        char * end = nullptr;
        unsigned long long length = strtoull(texts.c_str() + at, &end, 10);
        if (end != texts.c_str() + newline || newline + 1 + length > texts.size()) {
            fprintf(stderr, "llama-cpp-pretokenize: %s: bad length at byte %zu\n", argv[2], at);
            return 1;
        }
        const std::string text = texts.substr(newline + 1, length);
        at = newline + 1 + length;
        const std::vector<std::string> pieces = unicode_regex_split(text, {regex}, false);
        for (size_t i = 0; i < pieces.size(); i++) {
            printf(i ? " %zu" : "%zu", pieces[i].size());
        }
        printf("\n");
    }
    return 0;
}
