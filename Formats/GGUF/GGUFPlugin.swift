import Foundation
import SieveCore

/// The GGUF format plugin (llama.cpp's file format, versions 2 and 3): reads any GGUF into a `TensorFile`,
/// reads llama, qwen2, qwen3, phi3, gemma2, gemma3 and gpt2 models into the IR, and writes them back as GGUF v3.
///
/// Register it with `FormatRegistry.shared.register(GGUFPlugin())`. For lower-level access (typed metadata,
/// tensor infos, raw quantized blocks) open the file with `GGUFFile(url:)`.
public struct GGUFPlugin: FormatPlugin {
    /// The GGUF plugin.
    public init() {}

    /// `gguf`.
    public var name: String { "gguf" }
    /// `gguf`.
    public var fileExtensions: [String] { ["gguf"] }
    /// GGUF v3 files are written.
    public var canWrite: Bool { true }

    /// Claims regular files whose first four bytes are `GGUF`.
    public func claims(_ url: URL) -> Bool {
        guard let handle = try? FileHandle(forReadingFrom: url) else { return false }
        defer { try? handle.close() }
        guard let head = try? handle.read(upToCount: 4) else { return false }
        return Array(head) == GGUFFile.magic
    }

    /// All tensors under their GGUF names (zero copy; quantized tensors stay quantized) and the metadata rendered
    /// as text, long arrays summarised. The first entry is `GGUF.version`.
    public func readTensors(_ url: URL) throws -> TensorFile {
        let file = try GGUFFile(url: url)
        let tensors = try file.tensorInfos.map { try file.tensor($0) }
        return TensorFile(url: url, tensors: TensorStore(tensors),
                          metadata: [("GGUF.version", "\(file.version)")] + file.renderedMetadata())
    }

    /// Reads a llama, qwen2, qwen3, phi3, gemma2, gemma3 or gpt2 GGUF into the IR.
    public func read(_ url: URL) throws -> ModelGraph {
        try GGUFModelReader.read(GGUFFile(url: url))
    }

    /// Writes a GGUF v3 file (`options.dtype`: nil keeps each tensor's type; see `GGUFWriter.targetTypes`).
    public func write(_ graph: ModelGraph, to url: URL, options: WriteOptions) throws {
        try GGUFWriter.write(graph, to: url, options: options)
    }
}
