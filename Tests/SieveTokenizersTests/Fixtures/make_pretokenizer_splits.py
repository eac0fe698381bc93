#!/usr/bin/env python3
"""Writes pretokenizer_splits.json: how llama.cpp's pre-tokenizer regex lists split test texts, computed with
Python's `regex` module (which knows \\p{L}, \\p{N} and look-ahead) the way llama.cpp applies a list: each regex
splits every piece the previous one produced, and the text between two matches stays one piece.

Run from this folder: python3 make_pretokenizer_splits.py /path/to/ggml-vocab-gpt-2.gguf.inp
The regexes are llama.cpp's (src/llama-vocab.cpp, llm_tokenizer_bpe), Llama 3's and Qwen2's in the form of their
tokenizer.json. Texts avoid the few characters where Python's \\s or case folding differ from llama.cpp's tables
(U+001C..U+001F, U+017F, U+212A)."""
import json
import sys

import regex

GPT2 = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)"
FAMILIES = {
    "gpt-2": [GPT2],
    "llama-bpe": [r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"],
    "qwen2": [r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"],
    "smollm": [r"\p{N}", GPT2],
    "falcon": [r"[\p{P}\$\+<=>\^~\|`]+", GPT2, r"[0-9][0-9][0-9]"],
    "default": [r"[\p{P}\$\+<=>\^~\|]+", GPT2, r"\p{N}+", r"[0-9][0-9][0-9]"],
}

EXTRA = [
    "12345678 1,234.56 and 3.14159",
    "a\u00a0b\u2003c\u3000d",
    "x\r\ny\r\n\r\n  z",
    "foo...bar!!! baz???",
    "$+<=>^~|` @#%&*",
    "'S 'LL 'Re 've 'D 'm",
    "tab\t\tx \t y",
    " \n \n\n\t",
    "\u0663\u0664\u0665 \u2167 \u00b2\u00b3 x\u00b2",
    "\u65e5\u672c\u8a9e\u30c6\u30ad\u30b9\u30c8",
    "emoji\U0001F44D\U0001F3FDok \U0001F680\U0001F680",
    "    def f(x):\n        return x  \n",
    "don't won't I'm you're they've we'll he'd",
]


def split(text, exprs):
    pieces = [text]
    for expr in exprs:
        out = []
        for piece in pieces:
            start = 0
            for m in regex.finditer(expr, piece):
                if m.start() > start:
                    out.append(piece[start:m.start()])
                if m.end() > m.start():
                    out.append(m.group())
                start = m.end()
            if start < len(piece):
                out.append(piece[start:])
        pieces = out
    return pieces


def main():
    inputs = open(sys.argv[1], encoding="utf-8").read().split("\n__ggml_vocab_test__\n")
    texts = [t for t in inputs if t] + EXTRA
    result = {name: [{"text": t, "pieces": split(t, exprs)} for t in texts] for name, exprs in FAMILIES.items()}
    with open("pretokenizer_splits.json", "w", encoding="utf-8") as f:
        json.dump({"generator": "make_pretokenizer_splits.py, Python regex " + regex.__version__, "families": result},
                  f, ensure_ascii=False, indent=1)


if __name__ == "__main__":
    main()
