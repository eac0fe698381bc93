import BundleFormat
import Foundation
import SieveCore
import SieveTransforms

/// A `.sieve` bundle written by `Packer.pack(contentsOf:to:…)`.
public struct PackedBundle: Sendable {
    /// Where the bundle was written.
    public var url: URL
    /// Size of the bundle file in bytes.
    public var fileSize: Int
    /// Calibration, reordering and predictor-recall measurements of the pack.
    public var report: PackReport
    /// Seconds the whole pack took (calibration to the renamed file).
    public var seconds: Double
}

extension Packer {
    /// Packs the dense model at `source` into a contextually sparse `.sieve` bundle at `destination`, as
    /// `sieve pack` does: calibrate on `calibrationText` (default: the Python documentation text shipped with
    /// Sieve), reorder FFN neurons into blocks, build predictors, choose densities (checked on the end of the text when
    /// `options.maxPerplexityIncrease` is set and the text is long enough), and write the bundle atomically
    /// with its provenance. Runs on a background thread; `progress` is called from it at least once per block of
    /// each stage.
    ///
    /// Throws `SieveError.fileNotFound`, `SieveCoreError.outputExists` (unless `overwrite`), or the packer's and
    /// bundle writer's own errors.
    public static func pack(contentsOf source: URL, to destination: URL, options: PackOptions = PackOptions(),
                            calibrationText: String? = nil, zstdLevel: Int = 3, overwrite: Bool = false,
                            progress: (@Sendable (PackProgress) -> Void)? = nil) async throws -> PackedBundle {
        guard FileManager.default.fileExists(atPath: source.path) else { throw SieveError.fileNotFound(path: source.path) }
        try AtomicFileWriter.checkDestination(destination, overwrite: overwrite)
        return try await runOnWorkerThread {
            let start = Date()
            let registry = BuiltInFormats.register()
            let plugin = try registry.plugin(for: source)
            let graph = try plugin.read(source)
            let text = try calibrationText ?? CalibrationText.defaultText()
            let (sequences, probe) = try CalibrationText.split(text: text, graph: graph, context: options.calibrationContext,
                                                               maxTokens: options.calibrationTokens)
            let result = try pack(graph: graph, calibration: .sequences(sequences), options: options, probe: probe) { progress?($0) }
            var isDirectory: ObjCBool = false
            _ = FileManager.default.fileExists(atPath: source.path, isDirectory: &isDirectory)
            let digest = try SHA256.hex(contentsOf: isDirectory.boolValue ? source.appendingPathComponent("config.json") : source)
            let provenance = BundleProvenance(
                source: BundleSource(name: source.lastPathComponent, format: plugin.name, sha256: digest),
                passes: result.passes.map { BundlePass(name: $0.name, options: $0.options) })
            let written = try BundleWriter.write(result.graph, to: destination, options: BundleWriteOptions(
                overwrite: overwrite, zstdLevel: zstdLevel, provenance: provenance))
            return PackedBundle(url: destination, fileSize: written.fileSize, report: result.report,
                                seconds: Date().timeIntervalSince(start))
        }
    }

    /// Reads calibration text from UTF-8 files, joined by blank lines (what `sieve pack --calibration` reads).
    public static func calibrationText(contentsOf files: [URL]) throws -> String {
        try files.map { url -> String in
            guard let data = FileManager.default.contents(atPath: url.path) else { throw SieveError.fileNotFound(path: url.path) }
            guard let text = String(data: data, encoding: .utf8) else { throw SieveError.unreadableText(path: url.path) }
            return text
        }.joined(separator: "\n\n")
    }
}
