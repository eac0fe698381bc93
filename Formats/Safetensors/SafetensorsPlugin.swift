import Foundation
import SieveCore

/// The safetensors format plugin: single files, sharded checkpoints (`model.safetensors.index.json`) and
/// Hugging Face model folders (`config.json` + weights + optional `tokenizer.json` / `tokenizer_config.json`).
///
/// Reading maps the file (tensors are zero-copy views) and validates it as strictly as the reference
/// implementation. `read` maps Hugging Face names onto IR names with one table per architecture (llama, qwen2, qwen3,
/// phi3, gemma2, gemma3, gpt2, opt, bert; see `HFNaming`), transposing GPT-2's `Conv1D` weights and splitting fused
/// projections (GPT-2's `c_attn`, Phi-3's `qkv_proj` and `gate_up_proj`).
///
/// Writing (`write`) chooses the layout from the destination:
/// - a path ending in `.safetensors`: that one file, under Hugging Face names, and nothing else (no
///   `config.json`, so reading it back as a model needs a `config.json` placed beside it);
/// - any other path: a Hugging Face folder (created if needed) with `model.safetensors`, `config.json` (from
///   `HFConfig.make`) and, when the graph was read from a Hugging Face folder that still exists, copies of its
///   tokenizer files (see `sourceFolderKey`). transformers' `from_pretrained` loads such a folder.
///
/// Output is deterministic and byte-identical to what the Python `safetensors` library writes for the same
/// tensors with `__metadata__ = {"format": "pt"}`.
public struct SafetensorsPlugin: FormatPlugin {
    /// Metadata key `read` sets to the Hugging Face folder a graph came from; `write` copies that folder's
    /// tokenizer files into an output folder.
    public static let sourceFolderKey = "safetensors.source_folder"
    /// Tokenizer files copied from the source folder into an output folder, when present.
    public static let tokenizerFileNames = [
        "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "tokenizer.model",
        "vocab.txt", "vocab.json", "merges.txt", "added_tokens.json",
    ]
    /// Size limit for `config.json` and `tokenizer_config.json`.
    static let maxConfigBytes = 16 << 20

    /// The safetensors plugin.
    public init() {}

    /// `safetensors`.
    public var name: String { "safetensors" }
    /// `safetensors`.
    public var fileExtensions: [String] { ["safetensors"] }
    /// Single files or sharded Hugging Face folders are written.
    public var canWrite: Bool { true }

    /// Claims `*.safetensors`, `*.safetensors.index.json`, and folders holding `config.json` and safetensors
    /// weights.
    public func claims(_ url: URL) -> Bool {
        let fm = FileManager.default
        if SafetensorsCheckpoint.isDirectory(url) {
            guard fm.fileExists(atPath: url.appendingPathComponent("config.json").path),
                  let names = try? fm.contentsOfDirectory(atPath: url.path) else { return false }
            return names.contains { $0.hasSuffix(".safetensors") || $0.hasSuffix(SafetensorsCheckpoint.indexSuffix) }
        }
        let name = url.lastPathComponent.lowercased()
        return name.hasSuffix(".safetensors") || name.hasSuffix(SafetensorsCheckpoint.indexSuffix)
    }

    /// Tensors under the checkpoint's own names, with `__metadata__` (and, for an index, its `metadata`).
    /// `url` is a `.safetensors` file, a `*.safetensors.index.json`, or a folder holding either.
    public func readTensors(_ url: URL) throws -> TensorFile {
        try SafetensorsCheckpoint.read(url)
    }

    /// Reads a Hugging Face model: a folder, or a weights file / index with `config.json` beside it.
    public func read(_ url: URL) throws -> ModelGraph {
        let folder = SafetensorsCheckpoint.isDirectory(url) ? url : url.deletingLastPathComponent()
        let configURL = folder.appendingPathComponent("config.json")
        // A core error, so callers that fall back to the tensor view (`sieve inspect` of a bare file) see
        // "not a model" rather than "corrupt file".
        guard FileManager.default.fileExists(atPath: configURL.path) else {
            throw SieveCoreError.cannotOpen(path: configURL.path, reason: "no config.json beside \(url.lastPathComponent), so the architecture is unknown; put the model's Hugging Face config.json in that folder to read it as a model")
        }
        let config = try JSONValue.parse(contentsOf: configURL, maxBytes: Self.maxConfigBytes)
        let (architecture, hyperparameters) = try HFConfig.read(config, source: configURL.path)
        let file = try SafetensorsCheckpoint.read(url)
        let tensors = try HFNaming(architecture, experts: hyperparameters.mixtureOfExperts).irTensors(from: file.tensors, hyperparameters: hyperparameters,
                                                           source: file.url.path)
        var metadata: [String: String] = [:]
        for (key, value) in file.metadata where metadata[key] == nil { metadata[key] = value }
        metadata[Self.sourceFolderKey] = folder.standardizedFileURL.path
        return try GraphBuilder.build(architecture: architecture, hyperparameters: hyperparameters, tensors: tensors,
                                      tokenizer: try Self.readTokenizer(in: folder), metadata: metadata, source: url.path)
    }

    /// Writes `graph` as a single `.safetensors` file or a Hugging Face folder (see the type's documentation).
    /// `options.dtype` (f32, f16, bf16 or f64) converts float tensors and dequantizes quantized ones; when nil,
    /// floats keep their dtype and quantized tensors become f32. Integer tensors are always kept.
    public func write(_ graph: ModelGraph, to url: URL, options: WriteOptions) throws {
        try SafetensorsWriter.checkRequestedDType(options, path: url.path)
        let outputs = try SafetensorsWriter.modelOutputs(graph, naming: HFNaming(graph.architecture, experts: graph.hyperparameters.mixtureOfExperts), options: options, path: url.path)
        let metadata = [("format", "pt")]
        if url.pathExtension.lowercased() == "safetensors" {
            try SafetensorsWriter.write(outputs, metadata: metadata, to: url, options: options)
            return
        }

        let fm = FileManager.default
        let weightsURL = url.appendingPathComponent(SafetensorsCheckpoint.singleFileName)
        let configURL = url.appendingPathComponent("config.json")
        var copies: [(from: URL, to: URL)] = []
        if let source = graph.metadata[Self.sourceFolderKey],
           URL(fileURLWithPath: source).standardizedFileURL.path != url.standardizedFileURL.path {
            for name in Self.tokenizerFileNames {
                let from = URL(fileURLWithPath: source).appendingPathComponent(name)
                if fm.fileExists(atPath: from.path) { copies.append((from, url.appendingPathComponent(name))) }
            }
        }
        // Without a source folder to copy from (a GGUF or bundle source), the tokenizer is written from the graph's
        // description where it has an exact Hugging Face form.
        var tokenizerFiles: [(url: URL, json: JSONValue)] = []
        if copies.isEmpty, let files = graph.tokenizer?.huggingFaceFiles() {
            tokenizerFiles = [(url.appendingPathComponent("tokenizer.json"), files.tokenizer),
                              (url.appendingPathComponent("tokenizer_config.json"), files.config)]
        }
        // Made before anything is written, so that a model config.json cannot express leaves no files behind.
        let embeddingDType = graph.tensors[graph.embedding.tokens].map { SafetensorsWriter.outputDType($0.dtype, requested: options.dtype) }
        let torchDType = SafetensorsDType.torchName(of: options.dtype ?? embeddingDType ?? .f32)
        let config = try HFConfig.make(architecture: graph.architecture, hyperparameters: graph.hyperparameters,
                                       tokenizer: graph.tokenizer, torchDType: torchDType, source: configURL.path)
        if !options.overwrite {
            for destination in [weightsURL, configURL] + copies.map(\.to) + tokenizerFiles.map(\.url)
            where fm.fileExists(atPath: destination.path) {
                throw SieveCoreError.outputExists(path: destination.path)
            }
        }
        do {
            try fm.createDirectory(at: url, withIntermediateDirectories: true)
        } catch {
            throw SieveCoreError.writeFailed(path: url.path, reason: "cannot create the folder: \(error.localizedDescription)")
        }
        try SafetensorsWriter.write(outputs, metadata: metadata, to: weightsURL, options: options)
        try AtomicFileWriter.write(to: configURL, overwrite: options.overwrite) { writer in
            try writer.write(Array((config.serialized(pretty: true) + "\n").utf8))
        }
        for (from, to) in copies {
            let source = try MappedFile(url: from)
            try AtomicFileWriter.write(to: to, overwrite: options.overwrite) { try $0.write(source.bytes) }
        }
        for (to, json) in tokenizerFiles {
            try AtomicFileWriter.write(to: to, overwrite: options.overwrite) { try $0.write(Array((json.serialized(pretty: true) + "\n").utf8)) }
        }
    }

    /// Writes tensors under their own names to one `.safetensors` file with `__metadata__ = metadata`
    /// (omitted when empty), converting and streaming as `write` does.
    public func writeTensors(_ tensors: TensorStore, metadata: [(String, String)], to url: URL, options: WriteOptions) throws {
        try SafetensorsWriter.checkRequestedDType(options, path: url.path)
        try SafetensorsWriter.write(SafetensorsWriter.plainOutputs(tensors.all, options: options), metadata: metadata,
                                    to: url, options: options)
    }

    /// The tokenizer of a Hugging Face folder (`tokenizer.json` + optional `tokenizer_config.json`), or nil
    /// when the folder has no `tokenizer.json`.
    static func readTokenizer(in folder: URL) throws -> TokenizerDescription? {
        let fm = FileManager.default
        let tokenizerURL = folder.appendingPathComponent("tokenizer.json")
        guard fm.fileExists(atPath: tokenizerURL.path) else { return nil }
        let json = try JSONValue.parse(contentsOf: tokenizerURL)
        let configURL = folder.appendingPathComponent("tokenizer_config.json")
        let config = fm.fileExists(atPath: configURL.path)
            ? try JSONValue.parse(contentsOf: configURL, maxBytes: maxConfigBytes) : nil
        return try TokenizerDescription(huggingFaceJSON: json, config: config, source: tokenizerURL.path)
    }
}
