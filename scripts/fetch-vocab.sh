#!/usr/bin/env bash
# Fetches llama.cpp's vocabulary-only GGUFs and their tokenizer test vectors (NAME.gguf, NAME.gguf.inp,
# NAME.gguf.out; MIT license) into a cache outside git, checks every file's sha256, and does nothing when
# they are already there. They come from the vendored llama.cpp of the PyPI source distribution
# llama-cpp-python==0.3.36 (vendor/llama.cpp/models/). SieveTokenizersTests read them from here.
#   cache: ${SIEVE_MODELS:-$HOME/.cache/sieve/models}/vocab
set -euo pipefail

dest="${SIEVE_MODELS:-$HOME/.cache/sieve/models}/vocab"
sdist_sha=832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e
member=llama_cpp_python-0.3.36/vendor/llama.cpp/models

# file sha256, one line each
files="
ggml-vocab-bert-bge.gguf fbcbe22278fb302694d5f4a41bfe48c5f90e8e3554eab1c0435387dff654a854
ggml-vocab-bert-bge.gguf.inp be0a11f7071f0c67d3053a2d377d8f35f0dbcb77ff11a60300fb57d36b477cf0
ggml-vocab-bert-bge.gguf.out 8f95b1d4e5680634af06ac5a1b19f15ddeb743d3a6240056625e4345a4b06917
ggml-vocab-falcon.gguf 9f0bf8b0733680398b72e652e90f260f43782f326e75545fc0e49611a5ba35ad
ggml-vocab-falcon.gguf.inp be0a11f7071f0c67d3053a2d377d8f35f0dbcb77ff11a60300fb57d36b477cf0
ggml-vocab-falcon.gguf.out f8c80a0483582ef195c2129b69bb2e4e421b0f31ed7b35d84b63511d7ebae7cd
ggml-vocab-gpt-2.gguf cedc56ca6e2e89f63e781696d1fd76b4b1d49e6720dee86463e915f6e90016ac
ggml-vocab-gpt-2.gguf.inp be0a11f7071f0c67d3053a2d377d8f35f0dbcb77ff11a60300fb57d36b477cf0
ggml-vocab-gpt-2.gguf.out 48e8c4cb3ad5c37915b225f872222567c1c4dd4d66951aa53460c8d152ff6d60
ggml-vocab-llama-bpe.gguf 97272e430d53bc7688f52d5e0ad8ea8f163ede9f1bbd1694feaa504797d5d96e
ggml-vocab-llama-bpe.gguf.inp be0a11f7071f0c67d3053a2d377d8f35f0dbcb77ff11a60300fb57d36b477cf0
ggml-vocab-llama-bpe.gguf.out 118abf2034a197fc5c9dec5204dfdeee7004c7c70952ae577f66b99e212fab9b
ggml-vocab-llama-spm.gguf 16c3724582d59aa8bf84711894e833f916ee46a31d80e21312759c48bf8d0e69
ggml-vocab-llama-spm.gguf.inp be0a11f7071f0c67d3053a2d377d8f35f0dbcb77ff11a60300fb57d36b477cf0
ggml-vocab-llama-spm.gguf.out ad6905c925c49c022974fe67e030382e8a4f56eb4489a0b9481dcedb1ec73b29
ggml-vocab-mpt.gguf 59dc382612866d1fc6c11ea531318d327598f3412d9c8f8600607cdf3030898f
ggml-vocab-mpt.gguf.inp be0a11f7071f0c67d3053a2d377d8f35f0dbcb77ff11a60300fb57d36b477cf0
ggml-vocab-mpt.gguf.out 9d0982a7e7950b81bc2e325fb61bb7e295d2238934ab889737494de2dc4d906b
ggml-vocab-phi-3.gguf 967d7190d11c4842eab697079d98d56c2116e10eb617be355a2733bfc132e326
ggml-vocab-phi-3.gguf.inp be0a11f7071f0c67d3053a2d377d8f35f0dbcb77ff11a60300fb57d36b477cf0
ggml-vocab-phi-3.gguf.out ad6905c925c49c022974fe67e030382e8a4f56eb4489a0b9481dcedb1ec73b29
ggml-vocab-qwen2.gguf 44c2f46b715f585c6ab513970e8a006bfa5badd6108560054921cf598d154d8c
ggml-vocab-qwen2.gguf.inp be0a11f7071f0c67d3053a2d377d8f35f0dbcb77ff11a60300fb57d36b477cf0
ggml-vocab-qwen2.gguf.out de785bb305cc6fa9d43908ed5da337f853c0b79e971348fcfb9f0915a39c5363
ggml-vocab-refact.gguf ac3ceda902fed91ccf74312b305d9b86c37e4f8e35fa9cc6ef3ce34fca7d4678
ggml-vocab-refact.gguf.inp be0a11f7071f0c67d3053a2d377d8f35f0dbcb77ff11a60300fb57d36b477cf0
ggml-vocab-refact.gguf.out c7e5c1c5dc1dfd3e0d56576bf699d2aca0b760b80779523ea9d323aad6cd1b88
ggml-vocab-starcoder.gguf fedb892b4e1bd3c1f2fcdae356440b14fb458f4264d586e5c987ed93df4e174d
ggml-vocab-starcoder.gguf.inp be0a11f7071f0c67d3053a2d377d8f35f0dbcb77ff11a60300fb57d36b477cf0
ggml-vocab-starcoder.gguf.out 3ef12183c57ad076f9defd8e5eb454f509f5f0865cad35646abb4c4b2d2c5764
"

check() { [ -f "$1" ] && [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$2" ]; }

missing=0
while read -r name sum; do
  [ -n "$name" ] || continue
  check "$dest/$name" "$sum" || missing=1
done <<< "$files"
if [ "$missing" = 0 ]; then echo "vocab: present in $dest"; exit 0; fi

echo "vocab: fetching llama-cpp-python==0.3.36 (sdist) for llama.cpp's vocabulary GGUFs into $dest"
mkdir -p "$dest"
tmp="$(mktemp -d "${TMPDIR:-/tmp}/sieve-vocab.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
# --no-binary for this package only: the build backend's own dependencies may come as wheels.
python3 -m pip download --quiet --no-deps --no-binary llama-cpp-python --disable-pip-version-check \
  -d "$tmp" llama-cpp-python==0.3.36
sdist="$tmp/llama_cpp_python-0.3.36.tar.gz"
if ! check "$sdist" "$sdist_sha"; then
  echo "vocab: $sdist: sha256 mismatch (expected $sdist_sha); the package on PyPI changed or the download is corrupt" >&2
  exit 1
fi
names="$(awk 'NF { print "'"$member"'/" $1 }' <<< "$files")"
# shellcheck disable=SC2086
tar xzf "$sdist" -C "$tmp" $names
while read -r name sum; do
  [ -n "$name" ] || continue
  if ! check "$tmp/$member/$name" "$sum"; then
    echo "vocab: $name in the sdist: sha256 mismatch (expected $sum)" >&2
    exit 1
  fi
  mv "$tmp/$member/$name" "$dest/$name"
done <<< "$files"
echo "vocab: ready in $dest"
