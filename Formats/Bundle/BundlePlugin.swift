import Foundation
import SieveCore

/// The `.sieve` sparse bundle as a format plugin (name `sieve`, extension `sieve`, claimed by its magic).
///
/// `read` verifies every frame it decodes and rebuilds the graph with its blocked layouts, predictors and
/// densities; `write` uses `BundleWriter` with default bundle options (zstd level from `WriteOptions`). Use
/// `BundleFile` for lazy, per-frame access and `BundleWriter` for provenance and compression settings.
public struct BundlePlugin: FormatPlugin {
    /// The bundle plugin.
    public init() {}

    /// `sieve`.
    public var name: String { "sieve" }
    /// `sieve`.
    public var fileExtensions: [String] { ["sieve"] }
    /// Bundles are written by `BundleWriter`.
    public var canWrite: Bool { true }

    /// Whether `url` is a regular file starting with the bundle magic.
    public func claims(_ url: URL) -> Bool {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory), !isDirectory.boolValue,
              let handle = try? FileHandle(forReadingFrom: url) else { return false }
        defer { try? handle.close() }
        let prefix = (try? handle.read(upToCount: BundleLayout.magic.count)) ?? Data()
        return prefix.elementsEqual(BundleLayout.magic)
    }

    /// Every tensor (verified) under its IR name, with the manifest summary as metadata.
    public func readTensors(_ url: URL) throws -> TensorFile {
        let bundle = try BundleFile.open(url)
        return TensorFile(url: url, tensors: try bundle.readTensors(), metadata: bundle.summary)
    }

    /// Reads the bundle's graph (blocked FFNs, predictors, densities), verifying the frames it decodes.
    public func read(_ url: URL) throws -> ModelGraph {
        try BundleFile.open(url).readGraph()
    }

    /// Writes `graph` as a bundle with default bundle options.
    public func write(_ graph: ModelGraph, to url: URL, options: WriteOptions) throws {
        try BundleWriter.write(graph, to: url, options: BundleWriteOptions(options))
    }
}
