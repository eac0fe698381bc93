#!/usr/bin/env python3
"""Read a Sieve `.sieve` bundle (format v1), written only from Formats/Bundle/SPEC.md.

Verifies every checksum, prints the manifest summary (or the whole manifest), and dumps the tensors to an
`.npz` file or to a folder of raw little-endian `.bin` files with an index. Needs only the Python standard
library, `zstandard` and `numpy`.

    python3 tools/read_bundle.py model.sieve                 # summary; verifies every frame
    python3 tools/read_bundle.py model.sieve --manifest      # the whole manifest as JSON
    python3 tools/read_bundle.py model.sieve --npz out.npz   # tensors as numpy arrays
    python3 tools/read_bundle.py model.sieve --raw DIR       # DIR/manifest.json, DIR/index.json, DIR/tensors/N.bin

Exit status 0 on success; 1 with `error: …` on stderr (naming the section, frame or tensor) when the file is not
a valid bundle.
"""

import argparse
import json
import mmap
import os
import struct
import sys
import zlib

import numpy as np
import zstandard

MAGIC = b"\x89SIEVE\r\n"
FORMAT_VERSION = 1
HEADER_SIZE = 64
FOOTER_SIZE = 32
SECTION_ENTRY_SIZE = 48
FRAME_ENTRY_SIZE = 16
ALIGNMENT = 64
MAX_FRAME_SIZE = 1 << 30
MAX_MANIFEST_SIZE = 512 << 20
MAX_EXPANSION = 64
EXPANSION_ALLOWANCE = 64 << 20

# dtype: (elements per block, bytes per block, numpy dtype for plain types or None for block-quantized ones)
DTYPES = {
    "f64": (1, 8, "<f8"), "f32": (1, 4, "<f4"), "f16": (1, 2, "<f2"), "bf16": (1, 2, "<u2"),
    "i64": (1, 8, "<i8"), "i32": (1, 4, "<i4"), "i16": (1, 2, "<i2"), "i8": (1, 1, "i1"), "u8": (1, 1, "u1"),
    "bool": (1, 1, "u1"),
    "q8_0": (32, 34, None), "q4_0": (32, 18, None), "q4_1": (32, 20, None), "q5_0": (32, 22, None),
    "q5_1": (32, 24, None), "q4_K": (256, 144, None), "q5_K": (256, 176, None), "q6_K": (256, 210, None),
    "q8_K": (256, 292, None),
}
SECTION_KINDS = {"embedding", "block", "ffn", "predictors", "head", "extra"}


class BundleError(Exception):
    """A bundle that is not valid: the message names the part (section, frame, tensor) and the problem."""


def crc32(data):
    return zlib.crc32(data) & 0xFFFFFFFF


class Bundle:
    """An open, validated bundle (SPEC.md §2-§5); sections are decoded on demand, verifying every frame."""

    def __init__(self, path):
        self.path = path
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            self.data = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) if size else b""
        self._validate()

    def fail(self, message):
        raise BundleError(f"{self.path}: {message}")

    def _validate(self):
        d = self.data
        size = len(d)
        if size < len(MAGIC) or d[:len(MAGIC)] != MAGIC:
            if 0 < size < len(MAGIC) and MAGIC.startswith(d[:size]):
                self.fail("truncated: not even the magic")
            self.fail("not a .sieve bundle (wrong magic)")
        if size < 12:
            self.fail("truncated: the file ends inside the header")
        version, = struct.unpack_from("<I", d, 8)
        if version > FORMAT_VERSION:
            self.fail(f"written by a newer Sieve (v{version} bundle format); this reader reads v{FORMAT_VERSION}: upgrade")
        if version == 0:
            self.fail("format version 0 is invalid")
        if size < HEADER_SIZE + FOOTER_SIZE:
            self.fail(f"truncated: {size} bytes, less than a header and a footer")
        if d[size - len(MAGIC):] != MAGIC:
            self.fail("truncated: the file does not end with the bundle footer")
        flags, manifest_offset, manifest_size, manifest_crc = struct.unpack_from("<IQQI", d, 12)
        if flags != 0 or any(d[36:HEADER_SIZE]):
            self.fail("invalid header: non-zero flags or reserved bytes")
        if manifest_offset != HEADER_SIZE:
            self.fail(f"invalid header: manifest offset {manifest_offset}")
        if not 2 <= manifest_size <= size - HEADER_SIZE - FOOTER_SIZE or manifest_size > MAX_MANIFEST_SIZE:
            self.fail(f"invalid header: manifest size {manifest_size} does not fit the file")
        manifest_end = HEADER_SIZE + manifest_size

        table_offset, section_count, frame_count, table_crc, reserved = struct.unpack_from("<QIIII", d, size - FOOTER_SIZE)
        if reserved != 0:
            self.fail("invalid footer: reserved bytes are not zero")
        table_size = section_count * SECTION_ENTRY_SIZE + frame_count * FRAME_ENTRY_SIZE
        if table_offset + table_size + FOOTER_SIZE != size:
            self.fail(f"invalid footer: a {table_size}-byte section table at {table_offset} does not end at the footer")
        if table_offset % ALIGNMENT or table_offset < manifest_end:
            self.fail(f"invalid footer: section table offset {table_offset}")
        table = d[table_offset:table_offset + table_size]
        if crc32(table) != table_crc:
            self.fail("section table: CRC-32 mismatch")
        manifest_bytes = d[HEADER_SIZE:manifest_end]
        if crc32(manifest_bytes) != manifest_crc:
            self.fail("manifest: CRC-32 mismatch")
        try:
            manifest = json.loads(manifest_bytes.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as e:
            self.fail(f"manifest: not UTF-8 JSON: {e}")
        self.manifest = manifest
        self._validate_manifest_shape()
        if section_count != len(manifest["sections"]):
            self.fail(f"the section table has {section_count} sections, the manifest lists {len(manifest['sections'])}")

        self.sections = []
        previous_end, previous_name, next_frame = manifest_end, "manifest", 0
        frames_at = section_count * SECTION_ENTRY_SIZE
        for i, desc in enumerate(manifest["sections"]):
            name = desc["name"]
            offset, stored_size, dsize, frame_size, first, count, compression = struct.unpack_from("<QQQIIIB", table, i * SECTION_ENTRY_SIZE)
            where = f"section '{name}'"
            if any(table[i * SECTION_ENTRY_SIZE + 37:(i + 1) * SECTION_ENTRY_SIZE]):
                self.fail(f"{where}: reserved bytes are not zero")
            if compression not in (0, 1):
                self.fail(f"{where}: unknown compression {compression}")
            if offset % ALIGNMENT or offset + stored_size > table_offset:
                self.fail(f"{where}: stored bytes at {offset} (+{stored_size}) misaligned or past the section table")
            if offset < previous_end:
                self.fail(f"{where}: starts at {offset}, inside '{previous_name}' (ends at {previous_end})")
            self._check_gap(previous_end, offset, where)
            if not 1 <= frame_size <= MAX_FRAME_SIZE:
                self.fail(f"{where}: frame size {frame_size} out of range")
            if count != -(-dsize // frame_size):
                self.fail(f"{where}: {count} frames for {dsize} bytes in frames of {frame_size}")
            if first != next_frame or next_frame + count > frame_count:
                self.fail(f"{where}: frames {first}..{first + count} do not follow the previous section's")
            frames, at = [], 0
            for k in range(count):
                rel, fsize, fcrc = struct.unpack_from("<QII", table, frames_at + (first + k) * FRAME_ENTRY_SIZE)
                length = min(frame_size, dsize - k * frame_size)
                if rel != at or fsize == 0 or at + fsize > stored_size:
                    self.fail(f"{where} frame {k}: not contiguous with the previous frame")
                if compression == 0 and fsize != length:
                    self.fail(f"{where} frame {k}: uncompressed frame stores {fsize} bytes, holds {length}")
                frames.append((offset + rel, fsize, fcrc, length))
                at += fsize
            if at != stored_size:
                self.fail(f"{where}: frames store {at} bytes, the table records {stored_size}")
            self.sections.append({"name": name, "kind": desc["kind"], "offset": offset, "stored_size": stored_size,
                                  "size": dsize, "frame_size": frame_size, "compression": compression, "frames": frames})
            next_frame += count
            previous_end, previous_name = offset + stored_size, name
        if next_frame != frame_count:
            self.fail(f"the footer counts {frame_count} frames, the sections use {next_frame}")
        self._check_gap(previous_end, table_offset, "section table")
        declared = sum(s["size"] for s in self.sections)
        if declared > size * MAX_EXPANSION + EXPANSION_ALLOWANCE:
            self.fail(f"the sections declare {declared} decompressed bytes: a decompression bomb")
        self.by_section = {s["name"]: s for s in self.sections}
        self._validate_tensors()
        self._validate_graph()
        self._decoded = {}

    def _check_gap(self, start, end, where):
        if end - start >= ALIGNMENT or any(self.data[start:end]):
            self.fail(f"{where}: the {end - start} bytes before it are not zero padding")

    def _validate_manifest_shape(self):
        m = self.manifest
        if not isinstance(m, dict):
            self.fail("manifest: not a JSON object")
        for key in ("format", "format_version", "architecture", "hyperparameters", "tokenizer", "metadata",
                    "provenance", "sections", "tensors", "graph"):
            if key not in m:
                self.fail(f"manifest: missing key '{key}'")
        if m["format"] != "sieve-bundle" or m["format_version"] != FORMAT_VERSION:
            self.fail("manifest: format/format_version disagree with the header")
        names = [s.get("name") for s in m["sections"]]
        if len(set(names)) != len(names) or not all(isinstance(n, str) and n for n in names):
            self.fail("manifest: section names must be unique non-empty strings")
        for s in m["sections"]:
            if s.get("kind") not in SECTION_KINDS:
                self.fail(f"manifest: section '{s['name']}' has unknown kind {s.get('kind')!r}")

    def _validate_tensors(self):
        seen = set()
        for t in self.manifest["tensors"]:
            name = t["name"]
            where = f"tensor '{name}'"
            if name in seen:
                self.fail(f"{where}: listed twice")
            seen.add(name)
            if t["dtype"] not in DTYPES:
                self.fail(f"{where}: unknown dtype {t['dtype']!r}")
            block_elements, block_bytes, _ = DTYPES[t["dtype"]]
            shape = t["shape"]
            if any((not isinstance(x, int)) or x < 0 for x in shape):
                self.fail(f"{where}: invalid shape {shape}")
            elements = 1
            for x in shape:
                elements *= x
            innermost = shape[-1] if shape else 1
            if innermost % block_elements:
                self.fail(f"{where}: innermost dimension {innermost} is not whole {t['dtype']} blocks")
            if t["size"] != elements // block_elements * block_bytes:
                self.fail(f"{where}: size {t['size']} does not match shape {shape} as {t['dtype']}")
            section = self.by_section.get(t["section"])
            if section is None:
                self.fail(f"{where}: section '{t['section']}' does not exist")
            for start, end in tensor_ranges(t):
                if start < 0 or end > section["size"]:
                    self.fail(f"{where}: bytes {start}..{end} outside section '{t['section']}' ({section['size']} bytes)")
            chunks = t.get("chunks")
            if chunks is not None and (chunks["count"] * chunks["size"] != t["size"] or chunks["size"] > chunks["stride"]):
                self.fail(f"{where}: chunks do not add up to its size")
        self.tensors = {t["name"]: t for t in self.manifest["tensors"]}

    def _validate_graph(self):
        """Every tensor the graph names exists; FFN bundles agree with their parts' chunks (SPEC.md §6-§7)."""
        g = self.manifest["graph"]

        def need(name, where):
            if name is not None and name not in self.tensors:
                self.fail(f"graph: {where} names tensor '{name}', which the bundle does not hold")

        def linear(x, where):
            if x is not None:
                need(x["weight"], where)
                need(x["bias"], where)

        emb = g["embedding"]
        for key in ("tokens", "positions", "token_types"):
            need(emb[key], f"embedding.{key}")
        linear(emb["norm"], "embedding.norm")
        linear(g["final_norm"], "final_norm")
        linear(g["lm_head"], "lm_head")
        if len(g["blocks"]) != self.manifest["hyperparameters"]["layer_count"]:
            self.fail("graph: the block count differs from layer_count")
        for i, b in enumerate(g["blocks"]):
            for key in ("attention_norm", "ffn_norm"):
                linear(b[key], f"blocks[{i}].{key}")
            for key in ("q", "k", "v", "o"):
                linear(b["attention"][key], f"blocks[{i}].attention.{key}")
            for key in ("up", "gate", "down"):
                linear(b["ffn"][key], f"blocks[{i}].ffn.{key}")
            for key in ("ffn_predictor", "head_predictor"):
                p = b[key]
                if p is not None:
                    for part in ("down", "up", "bias"):
                        need(p[part], f"blocks[{i}].{key}.{part}")
            layout = b["ffn"]["layout"]
            if layout["type"] == "blocked":
                need(layout["permutation"], f"blocks[{i}].ffn.layout.permutation")
                if layout.get("source_down") is not None:
                    need(layout["source_down"], f"blocks[{i}].ffn.layout.source_down")
                bundle = layout["bundle"]
                at = bundle["offset"]
                for part in bundle["parts"]:
                    need(part, f"blocks[{i}].ffn.layout.bundle")
                    t = self.tensors[part]
                    c = t.get("chunks")
                    if (c is None or t["section"] != bundle["section"] or t["offset"] != at
                            or c["stride"] != bundle["stride"] or c["count"] != layout["block_count"]):
                        self.fail(f"graph: blocks[{i}] FFN bundle part '{part}' does not match its tensor entry")
                    at += c["size"]
                if at != bundle["offset"] + bundle["stride"]:
                    self.fail(f"graph: blocks[{i}] FFN bundle parts do not fill its stride")
            elif layout["type"] != "dense":
                self.fail(f"graph: blocks[{i}] has unknown FFN layout {layout['type']!r}")

    def section_data(self, name):
        """The decompressed bytes of a section, every frame verified (SPEC.md §4)."""
        if name in self._decoded:
            return self._decoded[name]
        s = self.by_section[name]
        out = bytearray()
        for k, (offset, stored_size, expected_crc, length) in enumerate(s["frames"]):
            where = f"section '{name}' frame {k}"
            stored = self.data[offset:offset + stored_size]
            if crc32(stored) != expected_crc:
                self.fail(f"{where}: CRC-32 of the stored bytes does not match the section table")
            if s["compression"] == 0:
                out += stored
                continue
            try:
                params = zstandard.get_frame_parameters(stored)
            except zstandard.ZstdError as e:
                self.fail(f"{where}: not a zstd frame: {e}")
            if params.content_size != length or not params.has_checksum or params.dict_id != 0:
                self.fail(f"{where}: the zstd frame declares {params.content_size} bytes (checksum {params.has_checksum}),"
                          f" the section table implies {length}")
            try:
                decoder = zstandard.ZstdDecompressor().decompressobj()
                chunk = decoder.decompress(stored)
            except zstandard.ZstdError as e:
                self.fail(f"{where}: zstd: {e}")
            if not decoder.eof or decoder.unused_data or len(chunk) != length:
                self.fail(f"{where}: decodes to {len(chunk)} bytes (complete: {decoder.eof}), expected exactly {length}")
            out += chunk
        data = bytes(out)
        self._decoded[name] = data
        return data

    def tensor_bytes(self, name):
        t = self.tensors[name]
        section = self.section_data(t["section"])
        return b"".join(section[start:end] for start, end in tensor_ranges(t))

    def tensor_array(self, name):
        """The tensor as a numpy array: plain types in their dtype (bf16 as its uint16 bits), quantized types as
        uint8 rows of blocks, shape `shape[:-1] + [row bytes]`."""
        t = self.tensors[name]
        raw = self.tensor_bytes(name)
        block_elements, block_bytes, np_dtype = DTYPES[t["dtype"]]
        if np_dtype is not None:
            return np.frombuffer(raw, dtype=np_dtype).reshape(t["shape"]).copy()
        shape = t["shape"]
        row = (shape[-1] // block_elements) * block_bytes if shape else block_bytes
        return np.frombuffer(raw, dtype=np.uint8).reshape(list(shape[:-1]) + [row]).copy()


def tensor_ranges(t):
    """The (start, end) byte ranges of a tensor in its section's decompressed bytes (SPEC.md §5.5)."""
    c = t.get("chunks")
    if c is None:
        return [(t["offset"], t["offset"] + t["size"])]
    return [(t["offset"] + j * c["stride"], t["offset"] + j * c["stride"] + c["size"]) for j in range(c["count"])]


def dense_or(density):
    return "dense" if density is None else f"{density:g}"


def summary(b):
    m = b.manifest
    hp = m["hyperparameters"]
    lines = [
        f"{b.path}: .sieve bundle v{m['format_version']}, {m['architecture']}",
        f"  layers {hp['layer_count']}, hidden {hp['hidden_size']}, ffn {hp['intermediate_size']}, "
        f"heads {hp['head_count']}/{hp['kv_head_count']}, vocab {hp['vocab_size']}",
    ]
    tok = m["tokenizer"]
    if tok is not None:
        lines.append(f"  tokenizer {tok['kind']}: {len(tok['tokens'])} tokens, {len(tok['merges'])} merges")
    prov = m["provenance"]
    source = prov["source"]["name"] if prov["source"] else "unknown source"
    passes = ", ".join(p["name"] for p in prov["passes"]) or "none"
    lines.append(f"  written by Sieve {prov['sieve_version']} from {source}; passes: {passes}")
    lines.append(f"  {len(m['tensors'])} tensors in {len(b.sections)} sections:")
    for s in b.sections:
        codec = "zstd" if s["compression"] == 1 else "none"
        lines.append(f"    {s['name']:<20} {s['kind']:<11} {codec:<5} {s['stored_size']:>12} stored "
                     f"{s['size']:>12} bytes {len(s['frames']):>5} frames")
    for i, blk in enumerate(m["graph"]["blocks"]):
        layout = blk["ffn"]["layout"]
        if layout["type"] == "blocked" or blk["ffn_predictor"] or blk["head_predictor"]:
            recall = blk["ffn_predictor"]["recall"] if blk["ffn_predictor"] else []
            table = " ".join(f"{r['density']:g}:{r['recall']:.3f}" for r in recall)
            lines.append(f"  block {i}: ffn {layout['type']} (B={layout.get('block_size', '-')}), "
                         f"density ffn {dense_or(blk['ffn_density'])} heads {dense_or(blk['head_density'])}, "
                         f"ffn recall {table or '-'}")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description="Read and verify a Sieve .sieve bundle (format v1).")
    parser.add_argument("bundle")
    parser.add_argument("--manifest", action="store_true", help="print the whole manifest as JSON")
    parser.add_argument("--npz", metavar="OUT", help="write every tensor to an .npz file")
    parser.add_argument("--raw", metavar="DIR", help="write manifest.json, index.json and tensors/N.bin to DIR")
    args = parser.parse_args()
    try:
        b = Bundle(args.bundle)
        names = [t["name"] for t in b.manifest["tensors"]]
        for s in b.sections:
            b.section_data(s["name"])  # verify every frame even when nothing is dumped
        if args.manifest:
            print(json.dumps(b.manifest, indent=2, ensure_ascii=False))
        else:
            print(summary(b))
        if args.npz:
            np.savez(args.npz, **{n: b.tensor_array(n) for n in names})
        if args.raw:
            os.makedirs(os.path.join(args.raw, "tensors"), exist_ok=True)
            index = []
            for i, n in enumerate(names):
                t = b.tensors[n]
                file = f"tensors/{i}.bin"
                with open(os.path.join(args.raw, file), "wb") as f:
                    f.write(b.tensor_bytes(n))
                index.append({"name": n, "dtype": t["dtype"], "shape": t["shape"], "file": file})
            with open(os.path.join(args.raw, "index.json"), "w", encoding="utf-8") as f:
                json.dump(index, f, ensure_ascii=False)
            with open(os.path.join(args.raw, "manifest.json"), "w", encoding="utf-8") as f:
                json.dump(b.manifest, f, ensure_ascii=False)
    except BundleError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except (KeyError, TypeError, ValueError, struct.error) as e:
        print(f"error: {args.bundle}: manifest does not have the documented shape ({type(e).__name__}: {e})", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
