import ArgumentParser
import BundleFormat
import Foundation
import GGUFFormat
import SieveCore

/// `sieve verify FILE`: checks a whole model file and reports every problem with where it is.
///
/// - `.sieve` bundles: header, manifest and section table, then every frame of every section (CRC-32, and a full
///   zstd decode with its declared size and content checksum), then the graph (`BundleVerifier`).
/// - GGUF: the header, metadata and tensor table (sizes, bounds, alignment, overlaps), then every tensor decoded.
/// - safetensors (a file, a sharded index or a Hugging Face folder): header, layout and shards, then every tensor
///   decoded.
///
/// Decoding reads every byte of every tensor, a bounded slice at a time. Non-finite weights are reported as
/// warnings (legal, but rarely intended). Exit status 0 when the file is sound, 1 when a problem was found.
struct Verify: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check a model file (bundle checksums; GGUF/safetensors structure and every tensor) and report each problem.")

    @Argument(help: "A .sieve bundle, a .gguf or .safetensors file, a sharded index, or a Hugging Face folder.")
    var path: String

    @Flag(help: "Print one JSON object {file, format, ok, problems: [{location, message, padding}], …}.")
    var json = false

    func run() throws {
        let url = URL(fileURLWithPath: path)
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw CLIError(message: "\(url.path): no such file or folder")
        }
        let plugin = try reportingErrors { try FormatSetup.registry.plugin(for: url) }
        var report = VerifyReport(format: plugin.name)
        switch plugin.name {
        case "sieve":
            let result = BundleVerifier.verify(url)
            report.problems = result.problems.map { ($0.location, $0.message, $0.inPadding) }
            report.checked = "\(result.sectionsChecked) sections, \(result.framesChecked) frames, \(result.bytesChecked) decompressed bytes"
        case "gguf":
            verifyGGUF(url, into: &report)
        default:
            verifyTensors(url, plugin: plugin, into: &report)
        }
        report.print(file: url.path, json: json)
        if !report.problems.isEmpty { throw ExitCode(1) }
    }

    private func describe(_ error: Error) -> String { (error as? LocalizedError)?.errorDescription ?? "\(error)" }

    private func verifyGGUF(_ url: URL, into report: inout VerifyReport) {
        let file: GGUFFile
        do {
            file = try GGUFFile(url: url)
        } catch {
            report.problems.append(("structure", describe(error), false))
            return
        }
        var bytes = 0
        for info in file.tensorInfos {
            let location = "tensor '\(info.name)' (file bytes \(file.dataOffset + info.offset)..<\(file.dataOffset + info.offset + info.byteCount))"
            guard info.type.dtype != nil else {
                report.warnings.append((location, "type \(info.type.name) is valid GGUF but Sieve cannot decode it; its bytes were bounds-checked only"))
                continue
            }
            do {
                let tensor = try file.tensor(info)
                try check(tensor, location: location, into: &report)
                bytes += info.byteCount
            } catch {
                report.problems.append((location, describe(error), false))
            }
        }
        report.checked = "GGUF v\(file.version), \(file.metadata.count) metadata keys, \(file.tensorInfos.count) tensors, \(bytes) tensor bytes decoded"
    }

    private func verifyTensors(_ url: URL, plugin: FormatPlugin, into report: inout VerifyReport) {
        let file: TensorFile
        do {
            file = try plugin.readTensors(url)
        } catch {
            report.problems.append(("structure", describe(error), false))
            return
        }
        var bytes = 0
        for tensor in file.tensors.all {
            let location = "tensor '\(tensor.name)'"
            do {
                try check(tensor, location: location, into: &report)
                bytes += tensor.byteCount
            } catch {
                report.problems.append((location, describe(error), false))
            }
        }
        report.checked = "\(file.tensors.all.count) tensors, \(bytes) tensor bytes decoded"
    }

    /// Decodes every element of `tensor`, at most 1 Mi elements at a time, and counts non-finite values.
    private func check(_ tensor: Tensor, location: String, into report: inout VerifyReport) throws {
        let rows = tensor.shape.rows
        let rowElements = rows == 0 ? 0 : tensor.elementCount / rows
        guard rows > 0, rowElements > 0 else { return }
        let rowBytes = tensor.byteCount / rows
        let rowsPerSlice = max(1, (1 << 20) / rowElements)
        var buffer = [Float](repeating: 0, count: min(rows, rowsPerSlice) * rowElements)
        var nonFinite = 0
        var firstBad: Int?
        var row = 0
        while row < rows {
            let n = min(rowsPerSlice, rows - row)
            let bytes = UnsafeRawBufferPointer(rebasing: tensor.bytes[(row * rowBytes)..<((row + n) * rowBytes)])
            try buffer.withUnsafeMutableBufferPointer { out in
                let slice = UnsafeMutableBufferPointer(rebasing: out[0..<(n * rowElements)])
                try DTypeCodec.decode(bytes, dtype: tensor.dtype, into: slice, tensor: tensor.name)
                for (i, v) in slice.enumerated() where !v.isFinite {
                    nonFinite += 1
                    if firstBad == nil { firstBad = row * rowElements + i }
                }
            }
            row += n
        }
        if nonFinite > 0, let firstBad {
            report.warnings.append((location, "\(nonFinite) non-finite values (NaN or infinity), the first at element \(firstBad)"))
        }
    }
}

/// What `sieve verify` found.
struct VerifyReport {
    var format: String
    var problems: [(location: String, message: String, padding: Bool)] = []
    var warnings: [(location: String, message: String)] = []
    var checked = ""

    func print(file: String, json: Bool) {
        if json {
            let object: JSONValue = .object([
                ("file", .string(file)), ("format", .string(format)), ("ok", .bool(problems.isEmpty)), ("checked", .string(checked)),
                ("problems", .array(problems.map {
                    .object([("location", .string($0.location)), ("message", .string($0.message)), ("padding", .bool($0.padding))])
                })),
                ("warnings", .array(warnings.map { .object([("location", .string($0.location)), ("message", .string($0.message))]) })),
            ])
            Swift.print(object.serialized(pretty: true))
            return
        }
        for p in problems {
            Swift.print("PROBLEM \(p.location): \(p.padding ? "damaged padding (bytes that carry no data but must be zero): " : "")\(p.message)")
        }
        for w in warnings { Swift.print("warning \(w.location): \(w.message)") }
        if problems.isEmpty {
            Swift.print("\(file): OK (\(format): \(checked))")
        } else {
            Swift.print("\(file): \(problems.count) problem\(problems.count == 1 ? "" : "s") (\(format)\(checked.isEmpty ? "" : ": checked \(checked)"))")
        }
    }
}
