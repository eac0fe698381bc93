#!/usr/bin/env python3
"""Make Tests/SieveTokenizersTests/Fixtures/o200k/: how llama.cpp's `gpt-4o` pre-tokenizer and Hugging Face
`tokenizers` running o200k's regex from a tokenizer.json split and tokenize a set of tricky texts.

Run by the fixtures' maintainer:

    scripts/make-o200k-tokenizer-fixture.py --llama-cpp DIR [--vocab ggml-vocab-gpt-2.gguf]
    (or LLAMA_CPP_DIR=DIR scripts/make-o200k-tokenizer-fixture.py)

Needs Python 3 with gguf 0.19.0 and tokenizers (0.23.3 made the committed files), a C and a C++ compiler, a
built llama.cpp at commit 0c1e57098 (DIR/build/bin/libllama.so) and llama.cpp's GPT-2 vocabulary
`ggml-vocab-gpt-2.gguf` with its `.inp` texts (`make models` puts them in ~/.cache/sieve/models/vocab/; both are
sha256-checked).

The texts are CASES below, then llama.cpp's own test texts (the .inp file), then RANDOM_TEXTS random ones. Two
vocabularies tokenize them:
  - `gpt2`: GPT-2's (a real one, 50257 tokens; not committed). Its GGUF is ggml-vocab-gpt-2.gguf with the value
    of `tokenizer.ggml.pre` changed from "gpt-2" to "gpt-4o" in place (the file has no tensors; gguf-py must read
    every other key unchanged); its tokenizer.json is the committed tokenizer.json with `model.vocab` = {token:
    its index in the GGUF}, `model.merges` = the GGUF's merges and `added_tokens[0].id` = the GGUF's id of
    <|endoftext|>. The Swift test builds both the same way. GPT-2's merges seldom cross the places where the two
    tools split differently, so its ids mostly agree: the pieces are the sharp test there.
  - `trained`: a small one made here so that ids differ wherever pieces do: the 256 byte symbols, then byte-pair
    merges learnt (most frequent pair first, ties by the pair's text) from every piece either tool cut the texts
    into where the tools disagree, until each such piece is one symbol; then <|endoftext|>. Committed as
    `tokenizer.json` (pre_tokenizer as Phi-4-mini's and gpt-oss's: Sequence[Split(Regex(o200k), "Isolated",
    invert false), ByteLevel(add_prefix_space false, trim_offsets true, use_regex false)]) and `gpt-4o.gguf`
    (written with gguf-py: GPT-2's hyper-parameter keys, tokenizer model "gpt2", pre "gpt-4o", tokens, token types
    (control for <|endoftext|>), merges, bos = eos = <|endoftext|>).

What it does:
  1. Reads llama.cpp's regex for LLAMA_VOCAB_PRE_TYPE_GPT4O out of DIR/src/llama-vocab.cpp (the string literal of
     that case; the commented "original regex from tokenizer.json" above it must equal O200K below).
  2. Pieces of every text: llama.cpp's (scripts/llama-cpp-pretokenize.cpp: unicode_regex_split with the regex of
     step 1) and `tokenizers`' (pre_tokenizers.Split(Regex(O200K), behavior "isolated")).
  3. Makes the two vocabularies' files (above).
  4. Ids of every text with each vocabulary: llama.cpp's (scripts/llama-cpp-tokenize.c: llama_tokenize on the
     gpt-4o GGUF, add_special and parse_special false) and `tokenizers`' (the tokenizer.json, add_special_tokens
     False).
  5. Checks: the pieces of both tools join to the text; `tokenizers` gives the same ids with the Split as
     ("Removed", invert true), MiniMax-M2's spelling; `tokenizers` running llama.cpp's regex instead of o200k's
     (what Sieve writes into the tokenizer.json of a `gpt-4o` GGUF) gives llama.cpp's pieces and ids on every
     text with both vocabularies; with `trained`, the tools' ids differ exactly where their pieces do, on at least
     MIN_DIFFERENCES texts.
  6. Writes `cases.json`: regexes, provenance and tool versions, and per text its note, the text, and each tool's
     pieces and ids with each vocabulary.
"""
import argparse
import hashlib
import importlib.metadata
import json
import os
import random
import struct
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
OUT = os.path.join(REPO, "Tests", "SieveTokenizersTests", "Fixtures", "o200k")
DEFAULT_VOCAB = os.path.expanduser("~/.cache/sieve/models/vocab/ggml-vocab-gpt-2.gguf")
VOCAB_SHA256 = "cedc56ca6e2e89f63e781696d1fd76b4b1d49e6720dee86463e915f6e90016ac"
INP_SHA256 = "be0a11f7071f0c67d3053a2d377d8f35f0dbcb77ff11a60300fb57d36b477cf0"
LLAMA_CPP_COMMIT = "0c1e57098"
MIN_DIFFERENCES = 10

# tiktoken's o200k_base pattern, as tokenizer.json files (Phi-4-mini's, Llama 4's, gpt-oss's) spell it.
O200K = (r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?"
         r"|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?"
         r"|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+")

# (what the text probes, text). Every class where the two regexes could part, and the ones where they must not.
CASES = [
    ("ASCII case", "HelloWorld"),
    ("ASCII case", "iPhone"),
    ("ASCII case", "McDONALD's"),
    ("ASCII case", "XMLHttpRequest camelCaseString snake_case_name CONSTANT_VALUE"),
    ("ASCII case", "ABCdef ghiJKL aBc AbC"),
    ("ASCII case", "The QUICK brown Fox's JUMPED over 123456 lazy DOGS!!!\n"),
    ("contractions", "DON'T"),
    ("contractions", "I'M I'm i'M"),
    ("contractions", "we'RE here, they'Ve gone, it'S, I'LL, he'D"),
    ("contractions", "O'Neil's rock'n'roll 'twas can't've DON'T'S"),
    ("contractions", "'s 'S 't 're 've 'm 'll 'd 'x"),
    ("contractions, long s", "don'\u017f x"),
    ("contractions, long s", "'\u017f hello'\u017f HELLO'\u017f Ma\u017fs"),
    ("contractions, long s", "IT'\u017f it'\u017fS"),
    ("contractions, Kelvin sign", "OK'\u212a"),
    ("non-ASCII case", "\u00c9COLE \u00e9cole"),
    ("non-ASCII case", "\u00c9mile Zola, \u00c0\u00c9\u00ce\u00d5\u00dc \u00e0\u00e9\u00ee\u00f5\u00fc"),
    ("non-ASCII case", "a\u00c9b \u00c0B A\u00e0 \u00fcBER"),
    ("non-ASCII case, Greek", "\u0391\u0398\u0397\u039d\u0391 \u0391\u03b8\u03ae\u03bd\u03b1 \u03a3\u039f\u03a6\u0399\u0391 \u03c3\u03bf\u03c6\u03af\u03b1"),
    ("non-ASCII case, Cyrillic", "\u041c\u041e\u0421\u041a\u0412\u0410 \u041c\u043e\u0441\u043a\u0432\u0430 \u041f\u0440\u0438\u0432\u0435\u0442\u041c\u0438\u0440"),
    ("non-ASCII case", "stra\u00dfE STRASSE \u0132ssEL \ufb01ne \ufb02ow"),
    ("non-ASCII case", "abcD\u00c9F \u00c9COLEs x\u00c9COLE \u00e9\u00c9 \u00e0\u00c0b"),
    ("non-ASCII case, Greek", "\u0391\u03b8\u03ae\u03bd\u03b1\u03a0\u03cc\u03bb\u03b7 \u03b1\u0392\u03b3"),
    ("title case", "\u01c5emal"),
    ("title case", "\u01c8ubljana \u01cba \u01c4 \u01c5 \u01c6 A\u01c5b"),
    ("title case", " \u01c5emal -\u01c5 \u01c5\u01c5"),
    ("title case", "a\u01c5 x\u01c5y \u01c5A \u1f88\u1f00"),
    ("modifier letters", "\u02b0ello"),
    ("modifier letters", "ABC\u02b0DEF A\u02b0b \u02b7orld \u1d43\u1d47\u1d9c"),
    ("other letters", "\u01c2xA \u00aa\u00ba ABC\u00aaDEF"),
    ("combining marks", "e\u0301te\u0301"),
    ("combining marks", "E\u0301COLE A\u0301B\u0301c"),
    ("combining marks", "\u0301A x\u0301A a\u0308\u0304b"),
    ("combining marks", "A\u20dd \u20ddx \u0301 \u0301\u0301"),
    ("combining marks", "nai\u0308ve Cafe\u0301 CAFE\u0301 x \u0301abc \u0301!!"),
    ("combining marks, Devanagari", "\u0939\u093f\u0928\u094d\u0926\u0940 \u0928\u092e\u0938\u094d\u0924\u0947"),
    ("combining marks, Thai", "\u0e20\u0e32\u0e29\u0e32\u0e44\u0e17\u0e22 \u0e2a\u0e27\u0e31\u0e2a\u0e14\u0e35"),
    ("Arabic", "\u0645\u0631\u062d\u0628\u0627 \u0628\u0627\u0644\u0639\u0627\u0644\u0645"),
    ("Hangul", "\ud55c\uad6d\uc5b4 ABC\ud55c\uad6d"),
    ("CJK", "\u6211\u60f3\u5728apple\u5de5\u4f5c"),
    ("CJK", "\u6771\u4eacTokyo \u30ab\u30bf\u30ab\u30caABC \u4e2d\u6587English\u6df7\u5408"),
    ("digits", "1 12 123 1234 12345 123456 1234567"),
    ("digits", "3.14159 1,234,567 v1.2.3 abc123def ABC123"),
    ("digits, non-ASCII", "x\u00b2\u00b3 \u00bd \u216b \u0663\u0664\u0665\u0666 \u0967\u0968\u0969\u096a"),
    ("slashes and newlines", "a/b/c path/to/file.txt"),
    ("slashes and newlines", "http://example.com/a/b?q=1"),
    ("slashes and newlines", "!!!\n/\n//"),
    ("slashes and newlines", "...\n\n?/\r\n/ -->\n"),
    ("slashes and newlines", " //comment\n(/)\na.\n/b"),
    ("punctuation before words", "(hello ((Hello \"Quoted\" $HOME/bin #include <stdio.h> @user"),
    ("punctuation before words", "\u00bfQu\u00e9? \u00abBonjour\u00bb \u201cSmart\u201d"),
    ("whitespace", "\t\ttabs"),
    ("whitespace", "trailing spaces   "),
    ("whitespace", "  leading"),
    ("whitespace", "a\r\nb\r\n\r\nc"),
    ("whitespace", "line1\n\n\nline2"),
    ("whitespace", " \n \n x"),
    ("whitespace", "a \t\n b"),
    ("whitespace", "\u00a0nbsp\u00a0x \u3000ideographic\u3000"),
    ("whitespace", "   "),
    ("emoji", "\U0001f600 emoji \U0001f44d\U0001f3fd family \U0001f468\u200d\U0001f469\u200d\U0001f467"),
    ("emoji", "\U0001f1fa\U0001f1f8flags \u2764\ufe0f \u2728Sparkle"),
    ("controls and format characters", "\x00\x01a a\x7fb"),
    ("controls and format characters", "\u200bzero\u200dwidth\u00adsoft"),
    ("mixed", "Hello, y'all! How are you \U0001f601 ?\u6211\u60f3\u5728apple\u5de5\u4f5c1314151\u5929\uff5e"),
    ("mixed", "CAF\u00c9s and na\u00efve co\u00f6perate \u00dcBERmensch M\u00fcller's"),
    ("mixed", "def fooBar(x): return x**2  # Squared\n\tif X>0:\n\t\tprint('OK')"),
]

# Then RANDOM_TEXTS texts of 1 to 12 items drawn (random.Random(RANDOM_SEED)) from RANDOM_POOL: ASCII of each
# class, contractions, and one or two characters of every category either regex asks about (cased, title-case,
# modifier and other letters in and beyond the BMP, the three kinds of marks, non-ASCII numbers, whitespace beyond
# ASCII, NEL, format and control characters, the Kelvin sign and U+017F).
RANDOM_SEED = 4242
RANDOM_TEXTS = 200
RANDOM_POOL = list("abstelmdrvABSTELMDRV0123456789' \t\n\r/.!(-_") + ["  ", "\r\n", "'s", "'S", "'ll", "'RE"] + [
    "\u00c9", "\u00e9", "\u01c5", "\u01c8", "\u1f88", "\u02b0", "\u00aa", "\u4e2d", "\u017f", "\u0301", "\u0903", "\u20dd",
    "\u00b2", "\u216b", "\u0663", "\u00a0", "\u2028", "\u3000", "\u1680", "\u200b", "\u0085", "\x0b", "\x0c", "\x1c", "\x00",
    "\U0001f600", "\U0001d400", "\U0001d41a", "\U00010400", "\U00010428", "\u212a", "\u0130", "\u00df", "\u03a9", "\u0e31",
    "\u0915", "\u093f"]


def random_texts():
    rng = random.Random(RANDOM_SEED)
    return ["".join(rng.choice(RANDOM_POOL) for _ in range(rng.randint(1, 12))) for _ in range(RANDOM_TEXTS)]


def fail(message):
    sys.exit(f"make-o200k-tokenizer-fixture: {message}")


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def c_string(literal):
    """The bytes of a C string literal (quotes included) that escapes nothing but backslash and quote."""
    assert literal[0] == '"' and literal[-1] == '"', literal
    out, i, body = [], 0, literal[1:-1]
    while i < len(body):
        c = body[i]
        if c == "\\":
            if body[i + 1] not in '\\"':
                fail(f"unexpected escape \\{body[i + 1]} in {literal}")
            out.append(body[i + 1])
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def llama_cpp_gpt4o_regex(llama_cpp):
    """The regex of LLAMA_VOCAB_PRE_TYPE_GPT4O in src/llama-vocab.cpp (checking its comment quotes O200K)."""
    source = open(os.path.join(llama_cpp, "src", "llama-vocab.cpp"), encoding="utf-8").read()
    start = source.index("case LLAMA_VOCAB_PRE_TYPE_GPT4O:")
    block = source[start:source.index("break;", start)]
    lines = [line.strip() for line in block.splitlines()]
    original = [line[2:].strip().rstrip(",") for line in lines if line.startswith('// "')]
    literals = [line.rstrip(",") for line in lines if line.startswith('"')]
    if len(original) != 1 or len(literals) != 1:
        fail(f"expected one commented and one live regex in the GPT4O case, found {len(original)} and {len(literals)}")
    if c_string(original[0]) != O200K:
        fail("llama.cpp's commented original regex is not O200K")
    return c_string(literals[0])


def patched_gguf(source_bytes, old, new):
    """The GGUF with the string value of tokenizer.ggml.pre changed from `old` to `new`."""
    key = b"tokenizer.ggml.pre"
    entry = struct.pack("<Q", len(key)) + key + struct.pack("<I", 8)  # GGUF_TYPE_STRING
    before = entry + struct.pack("<Q", len(old)) + old
    if source_bytes.count(before) != 1:
        fail(f"tokenizer.ggml.pre = {old!r} found {source_bytes.count(before)} times")
    return source_bytes.replace(before, entry + struct.pack("<Q", len(new)) + new)


def gguf_fields(path):
    import gguf
    reader = gguf.GGUFReader(path)
    fields = {}
    for name, field in reader.fields.items():
        fields[name] = field.contents()
    return fields, len(reader.tensors)


def bytes_to_unicode():
    """GPT-2's byte-level alphabet: byte -> the character standing for it."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


def train(words):
    """(tokens, merges): the 256 byte symbols in byte order, then byte-pair merges learnt from the distinct `words`
    (most frequent adjacent pair first, ties by the pair's text) until every word is one symbol, then <|endoftext|>."""
    alphabet = bytes_to_unicode()
    tokens = [alphabet[b] for b in range(256)]
    known = set(tokens)
    sequences = [[alphabet[b] for b in w.encode()] for w in sorted(set(words)) if w]
    merges = []
    while True:
        counts = {}
        for seq in sequences:
            for pair in zip(seq, seq[1:]):
                counts[pair] = counts.get(pair, 0) + 1
        if not counts:
            break
        (a, b), _ = min(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        merges.append(f"{a} {b}")
        if a + b not in known:
            known.add(a + b)
            tokens.append(a + b)
        for k, seq in enumerate(sequences):
            out, i = [], 0
            while i < len(seq):
                if i + 1 < len(seq) and seq[i] == a and seq[i + 1] == b:
                    out.append(a + b)
                    i += 2
                else:
                    out.append(seq[i])
                    i += 1
            sequences[k] = out
        sequences = [seq for seq in sequences if len(seq) > 1]
    return tokens + ["<|endoftext|>"], merges


def tokenizer_json(tokens, merges, regex=O200K, behavior="Isolated", invert=False):
    """The tokenizer.json of a byte-level BPE vocabulary (token i has id i; <|endoftext|> is its special added
    token), pre_tokenizer as Phi-4-mini's with `regex`, `behavior` and `invert` in the Split."""
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [{"id": tokens.index("<|endoftext|>"), "content": "<|endoftext|>", "single_word": False,
                          "lstrip": False, "rstrip": False, "normalized": False, "special": True}],
        "normalizer": None,
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": regex}, "behavior": behavior, "invert": invert},
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False},
        ]},
        "post_processor": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False, "use_regex": True},
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                  "vocab": {token: i for i, token in enumerate(tokens)}, "merges": list(merges)},
    }


def write_trained_gguf(path, gpt2_fields, tokens, merges):
    import gguf
    writer = gguf.GGUFWriter(path, "gpt2")
    writer.add_name("o200k test vocabulary")
    for key in ("gpt2.block_count", "gpt2.context_length", "gpt2.embedding_length", "gpt2.feed_forward_length",
                "gpt2.attention.head_count"):
        writer.add_uint32(key, int(gpt2_fields[key]))
    writer.add_float32("gpt2.attention.layer_norm_epsilon", float(gpt2_fields["gpt2.attention.layer_norm_epsilon"]))
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("gpt-4o")
    writer.add_token_list(tokens)
    writer.add_token_types([3 if t == "<|endoftext|>" else 1 for t in tokens])
    writer.add_token_merges(merges)
    writer.add_bos_token_id(tokens.index("<|endoftext|>"))
    writer.add_eos_token_id(tokens.index("<|endoftext|>"))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def build(cmd):
    subprocess.run(cmd, check=True)
    return cmd[cmd.index("-o") + 1]


def decoded_pieces(text, line):
    b, at, pieces = text.encode(), 0, []
    for n in map(int, line.split()):
        pieces.append(b[at:at + n].decode())
        at += n
    return pieces


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--llama-cpp", default=os.environ.get("LLAMA_CPP_DIR"), help="a llama.cpp checkout built at 0c1e57098")
    parser.add_argument("--vocab", default=DEFAULT_VOCAB, help="ggml-vocab-gpt-2.gguf (its .inp beside it)")
    parser.add_argument("--cc", default=os.environ.get("CC", "cc"))
    parser.add_argument("--cxx", default=os.environ.get("CXX", "c++"))
    args = parser.parse_args()
    if not args.llama_cpp:
        fail("give --llama-cpp DIR or LLAMA_CPP_DIR")
    llama = os.path.abspath(args.llama_cpp)
    lib = os.path.join(llama, "build", "bin")
    for path, digest in ((args.vocab, VOCAB_SHA256), (args.vocab + ".inp", INP_SHA256)):
        if not os.path.exists(path):
            fail(f"{path} is missing (make models fetches it)")
        if sha256(path) != digest:
            fail(f"{path}: sha256 is not {digest}")

    import gguf
    import tokenizers
    from tokenizers import Regex, Tokenizer, pre_tokenizers

    regex = llama_cpp_gpt4o_regex(llama)
    inp = open(args.vocab + ".inp", encoding="utf-8").read().split("\n__ggml_vocab_test__\n")
    if inp and inp[-1] == "":
        inp.pop()
    cases = CASES + [("llama.cpp's test texts (ggml-vocab-gpt-2.gguf.inp)", t) for t in inp]
    cases += [(f"random (seed {RANDOM_SEED})", t) for t in random_texts()]
    texts = [t for _, t in cases]

    os.makedirs(OUT, exist_ok=True)
    with tempfile.TemporaryDirectory() as work:
        flags = ["-I", os.path.join(llama, "include"), "-I", os.path.join(llama, "ggml", "include"),
                 "-L", lib, "-lllama", f"-Wl,-rpath,{lib}"]
        tokenize = build([args.cc, "-O2", "-std=c11", "-Wall", "-Wextra", "-o", os.path.join(work, "llama-cpp-tokenize"),
                          os.path.join(HERE, "llama-cpp-tokenize.c"), *flags])
        pretokenize = build([args.cxx, "-O2", "-std=c++17", "-Wall", "-Wextra", "-o", os.path.join(work, "llama-cpp-pretokenize"),
                             os.path.join(HERE, "llama-cpp-pretokenize.cpp"), *flags])
        env = dict(os.environ, LD_LIBRARY_PATH=lib)

        # 2. Pieces.
        regex_file, texts_file = os.path.join(work, "regex.txt"), os.path.join(work, "texts.bin")
        with open(regex_file, "wb") as f:
            f.write(regex.encode())
        with open(texts_file, "wb") as f:
            for t in texts:
                f.write(f"{len(t.encode())}\n".encode() + t.encode())
        lines = subprocess.run([pretokenize, regex_file, texts_file], env=env, check=True, capture_output=True).stdout.decode().split("\n")
        if len(lines) != len(texts) + 1 or lines[-1] != "":
            fail("llama-cpp-pretokenize printed the wrong number of lines")
        split = pre_tokenizers.Split(Regex(O200K), behavior="isolated", invert=False)
        split_llama = pre_tokenizers.Split(Regex(regex), behavior="isolated", invert=False)
        llama_pieces, hf_pieces = [], []
        for t, line in zip(texts, lines):
            lp, hp = decoded_pieces(t, line), [p for p, _ in split.pre_tokenize_str(t)]
            if "".join(lp) != t or "".join(hp) != t:
                fail(f"the pieces of {t!r} do not join to it")
            if [p for p, _ in split_llama.pre_tokenize_str(t)] != lp:
                fail(f"tokenizers with llama.cpp's regex does not split {t!r} as llama.cpp")
            llama_pieces.append(lp)
            hf_pieces.append(hp)
        differing = [k for k in range(len(texts)) if llama_pieces[k] != hf_pieces[k]]

        # 3. The vocabularies.
        source = open(args.vocab, "rb").read()
        gpt2_gguf = os.path.join(work, "ggml-vocab-gpt-4o.gguf")
        with open(gpt2_gguf, "wb") as f:
            f.write(patched_gguf(source, b"gpt-2", b"gpt-4o"))
        before, n_before = gguf_fields(args.vocab)
        after, n_after = gguf_fields(gpt2_gguf)
        if after.pop("tokenizer.ggml.pre") != "gpt-4o" or before.pop("tokenizer.ggml.pre") != "gpt-2":
            fail("tokenizer.ggml.pre was not changed as asked")
        if before != after or n_before != n_after:
            fail("the patched GGUF differs in more than tokenizer.ggml.pre")
        gpt2_tokens, gpt2_merges = list(before["tokenizer.ggml.tokens"]), list(before["tokenizer.ggml.merges"])
        trained_tokens, trained_merges = train([p for k in differing for p in llama_pieces[k] + hf_pieces[k]])
        for tokens in (gpt2_tokens, trained_tokens):
            if len(set(tokens)) != len(tokens) or tokens.count("<|endoftext|>") != 1:
                fail("a vocabulary has duplicate tokens or no <|endoftext|>")
        trained_gguf = os.path.join(OUT, "gpt-4o.gguf")
        write_trained_gguf(trained_gguf, before, trained_tokens, trained_merges)
        trained_json = tokenizer_json(trained_tokens, trained_merges)
        with open(os.path.join(OUT, "tokenizer.json"), "w", encoding="utf-8") as f:
            f.write(json.dumps(trained_json, ensure_ascii=False, indent=2) + "\n")
        vocabularies = {"gpt2": (gpt2_gguf, gpt2_tokens, gpt2_merges), "trained": (trained_gguf, trained_tokens, trained_merges)}

        # 4. Ids.
        text_files = []
        for k, t in enumerate(texts):
            path = os.path.join(work, f"text-{k}.txt")
            with open(path, "wb") as f:
                f.write(t.encode())
            text_files.append(path)
        llama_ids, hf_ids = {}, {}
        for name, (path, tokens, merges) in vocabularies.items():
            exact = Tokenizer.from_str(json.dumps(tokenizer_json(tokens, merges)))
            removed = Tokenizer.from_str(json.dumps(tokenizer_json(tokens, merges, behavior="Removed", invert=True)))
            approximation = Tokenizer.from_str(json.dumps(tokenizer_json(tokens, merges, regex=regex)))
            llama_ids[name], hf_ids[name] = [], []
            for t, text_file in zip(texts, text_files):
                done = subprocess.run([tokenize, path, text_file], env=env, check=True, capture_output=True, text=True)
                out = done.stdout.split("\n")
                if len(out) != 3 or out[2] != "":
                    fail(f"llama-cpp-tokenize printed {done.stdout!r} for {t!r}")
                ll = [int(x) for x in out[1].split()]
                ids = exact.encode(t, add_special_tokens=False).ids
                if removed.encode(t, add_special_tokens=False).ids != ids:
                    fail(f"{name}: Split Removed/inverted gives other ids than Isolated for {t!r}")
                if approximation.encode(t, add_special_tokens=False).ids != ll:
                    fail(f"{name}: tokenizers with llama.cpp's regex does not give llama.cpp's ids for {t!r}")
                llama_ids[name].append(ll)
                hf_ids[name].append(ids)

    id_differences = {name: [k for k in range(len(texts)) if llama_ids[name][k] != hf_ids[name][k]] for name in vocabularies}
    if id_differences["trained"] != differing:
        fail(f"with the trained vocabulary the ids differ on texts {id_differences['trained']}, the pieces on {differing}")
    if len(differing) < MIN_DIFFERENCES:
        fail(f"the tools split only {len(differing)} texts differently")

    result = {
        "about": "How llama.cpp's gpt-4o pre-tokenizer and Hugging Face tokenizers running o200k's regex split and tokenize "
                 "these texts. Made by scripts/make-o200k-tokenizer-fixture.py; see README.md.",
        "regexes": {"o200k": O200K, "llama_cpp_gpt4o": regex},
        "vocabularies": {
            "gpt2": {"file": "ggml-vocab-gpt-2.gguf", "sha256": VOCAB_SHA256,
                     "gguf": "that file with tokenizer.ggml.pre = \"gpt-4o\" (was \"gpt-2\")",
                     "tokenizer_json": "tokenizer.json with model.vocab = {token: its index}, model.merges = the GGUF's "
                                       "and added_tokens[0].id = the GGUF's id of <|endoftext|>"},
            "trained": {"gguf": "gpt-4o.gguf", "sha256": sha256(os.path.join(OUT, "gpt-4o.gguf")),
                        "tokenizer_json": "tokenizer.json", "tokens": len(trained_tokens), "merges": len(trained_merges)},
        },
        "methods": {
            "llama_cpp.pieces": f"unicode_regex_split(text, {{llama_cpp_gpt4o}}, false) of libllama at {LLAMA_CPP_COMMIT} (scripts/llama-cpp-pretokenize.cpp)",
            "llama_cpp.ids": f"llama_tokenize(add_special false, parse_special false) of libllama at {LLAMA_CPP_COMMIT} on the vocabulary's gpt-4o GGUF (scripts/llama-cpp-tokenize.c)",
            "tokenizers.pieces": "tokenizers.pre_tokenizers.Split(Regex(o200k), behavior=\"isolated\").pre_tokenize_str(text)",
            "tokenizers.ids": "tokenizers.Tokenizer(the vocabulary's tokenizer.json).encode(text, add_special_tokens=False).ids",
        },
        "checks": [
            "both tools' pieces join to the text",
            "tokenizers gives the same ids with the Split as Removed + invert (MiniMax-M2's spelling)",
            "tokenizers running llama_cpp_gpt4o instead of o200k gives llama.cpp's pieces, and ids with both vocabularies, on every text",
            "with the trained vocabulary the tools' ids differ exactly on the texts their pieces differ on",
        ],
        "differences": {"texts": len(texts), "pieces": len(differing), "gpt2_ids": len(id_differences["gpt2"]),
                        "trained_ids": len(id_differences["trained"])},
        "tools": {"tokenizers": tokenizers.__version__, "gguf": importlib.metadata.version("gguf"), "llama.cpp": LLAMA_CPP_COMMIT,
                  "python": sys.version.split()[0]},
    }
    rows = []
    for k, (note, t) in enumerate(cases):
        rows.append(json.dumps({
            "note": note, "text": t,
            "llama_cpp": {"pieces": llama_pieces[k], "ids": {name: llama_ids[name][k] for name in vocabularies}},
            "tokenizers": {"pieces": hf_pieces[k], "ids": {name: hf_ids[name][k] for name in vocabularies}},
        }, ensure_ascii=False))
    head = json.dumps(result, ensure_ascii=False, indent=1)
    text = head[:-2] + ',\n "cases": [\n  ' + ",\n  ".join(rows) + "\n ]\n}\n"
    json.loads(text)
    with open(os.path.join(OUT, "cases.json"), "w", encoding="utf-8") as f:
        f.write(text)
    print(f"{len(texts)} texts; the tools split {len(differing)} differently; their ids differ on "
          f"{len(id_differences['gpt2'])} with GPT-2's vocabulary, {len(id_differences['trained'])} with the trained one")


if __name__ == "__main__":
    main()
