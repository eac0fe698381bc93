import Foundation
import SieveTestSupport
import Testing
@testable import GGUFFormat
@testable import SieveCore

/// Test helpers shared by the GGUF test suites.
enum Fixture {
    /// The URL of a file in the test bundle's `Fixtures` folder.
    static func url(_ name: String) throws -> URL {
        let base = try #require(Bundle.module.resourceURL).appendingPathComponent("Fixtures")
        let url = base.appendingPathComponent(name)
        #expect(FileManager.default.fileExists(atPath: url.path), "missing fixture \(name)")
        return url
    }

    static func json(_ name: String) throws -> JSONValue {
        try JSONValue.parse(contentsOf: try url(name))
    }

    /// Bytes from a hex string.
    static func bytes(hex: String) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(hex.utf8.count / 2)
        var high: UInt8?
        for c in hex.utf8 {
            let v: UInt8 = c <= 57 ? c - 48 : (c | 0x20) - 87
            if let h = high { out.append(h << 4 | v); high = nil } else { high = v }
        }
        return out
    }

    /// Little-endian float32 values from a hex string.
    static func floats(hex: String) -> [Float] {
        let b = bytes(hex: hex)
        return (0..<(b.count / 4)).map { i in
            Float(bitPattern: UInt32(b[4 * i]) | UInt32(b[4 * i + 1]) << 8 | UInt32(b[4 * i + 2]) << 16 | UInt32(b[4 * i + 3]) << 24)
        }
    }
}


/// A small deterministic random generator (SplitMix64) with a Box–Muller normal.
struct SplitMix64 {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func uniform() -> Double { Double(next() >> 11) / Double(1 << 53) }
    mutating func normal() -> Double {
        let u = max(uniform(), 1e-300), v = uniform()
        return (-2 * log(u)).squareRoot() * cos(2 * .pi * v)
    }
}

/// Where the model fixtures live: the repository's shared `Tests/Fixtures/models` (found through `#filePath`) first,
/// including the float GGUFs (`f32`/`f16`/`bf16`) that `scripts/rebuild-gguf-fixtures.py` rebuilds there (run by
/// `make models`), then the shared fixture set beside the repository (`../shared/fixtures/models`, or
/// `$SIEVE_SHARED_FIXTURES`) when present.
enum Models {
    static let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let scripts = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")
    static var roots: [URL] {
        var r = [repoRoot.appendingPathComponent("Tests/Fixtures/models")]
        if let env = ProcessInfo.processInfo.environment["SIEVE_SHARED_FIXTURES"] {
            r.append(URL(fileURLWithPath: env).appendingPathComponent("models"))
        }
        r.append(repoRoot.deletingLastPathComponent().appendingPathComponent("shared/fixtures/models"))
        return r
    }

    /// The first existing copy of `relative` (e.g. `tiny-llama/q4_0.gguf`), or nil (with a message: the tests
    /// that need it skip).
    static func find(_ relative: String) -> URL? {
        let url = roots.map { $0.appendingPathComponent(relative) }.first { FileManager.default.fileExists(atPath: $0.path) }
        if url == nil {
            print("fixture \(relative) not found in Tests/Fixtures/models (float GGUFs: run `make models` or "
                  + "scripts/rebuild-gguf-fixtures.py); skipping what needs it")
        }
        return url
    }

    /// The real default model, fetched by `make models` into `$SIEVE_MODELS` (default `~/.cache/sieve/models`).
    static var smollm2: URL? {
        let models = ProcessInfo.processInfo.environment["SIEVE_MODELS"]
            ?? FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/sieve/models").path
        let url = URL(fileURLWithPath: models).appendingPathComponent("smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
        return FileManager.default.fileExists(atPath: url.path) ? url : nil
    }

    /// A vocabulary-only GGUF of the shared tokenizer fixtures (`tokenizers/NAME`), or nil.
    static func vocabulary(_ name: String) -> URL? {
        roots.map { $0.deletingLastPathComponent().appendingPathComponent("tokenizers/" + name) }
            .first { FileManager.default.fileExists(atPath: $0.path) }
    }

    /// Whether `relative` is available.
    static func has(_ relative: String) -> Bool { find(relative) != nil }

    /// A fresh temporary directory, removed by the caller.
    static func temporaryDirectory() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sieve-gguf-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }
}

/// The checksums `gguf_describe.py` records, computed the same way in Swift.
enum Checksums {
    /// Σ bits(vᵢ)·(2i+1) mod 2⁶⁴, as 16 hex digits.
    static func bits(_ values: [Float]) -> String {
        var total: UInt64 = 0
        for (i, v) in values.enumerated() { total &+= UInt64(v.bitPattern) &* (2 &* UInt64(i) &+ 1) }
        return hex64(total)
    }

    static func hex64(_ v: UInt64) -> String {
        let s = String(v, radix: 16)
        return String(repeating: "0", count: 16 - s.count) + s
    }

    /// FNV-1a 64 over an array's payload (strings NUL-terminated, numbers little-endian).
    static func fnv64(_ array: GGUFArray) -> String? {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        func feed<S: Sequence>(_ bytes: S) where S.Element == UInt8 {
            for b in bytes { h = (h ^ UInt64(b)) &* 0x100_0000_01B3 }
        }
        func feedLE<T: FixedWidthInteger>(_ xs: [T]) { for x in xs { withUnsafeBytes(of: x.littleEndian) { feed($0) } } }
        switch array {
        case let .string(xs): for s in xs { feed(s.utf8); feed([0]) }
        case let .uint8(xs): feed(xs)
        case let .int8(xs): feedLE(xs)
        case let .uint16(xs): feedLE(xs)
        case let .int16(xs): feedLE(xs)
        case let .uint32(xs): feedLE(xs)
        case let .int32(xs): feedLE(xs)
        case let .uint64(xs): feedLE(xs)
        case let .int64(xs): feedLE(xs)
        case let .float32(xs): feedLE(xs.map(\.bitPattern))
        case let .float64(xs): feedLE(xs.map(\.bitPattern))
        case let .bool(xs): feed(xs.map { $0 ? 1 : 0 })
        case .array: return nil
        }
        return hex64(h)
    }
}

/// Compares a GGUF file as Sieve reads it with gguf-py's description of it (`gguf_describe.py` output).
enum GGUFPyComparison {
    static let typeNames: [GGUFValueType: String] = [
        .uint8: "UINT8", .int8: "INT8", .uint16: "UINT16", .int16: "INT16", .uint32: "UINT32", .int32: "INT32",
        .float32: "FLOAT32", .bool: "BOOL", .string: "STRING", .array: "ARRAY", .uint64: "UINT64", .int64: "INT64",
        .float64: "FLOAT64",
    ]

    /// Whether a scalar value equals gguf-py's JSON rendering of it.
    static func scalarMatches(_ v: GGUFValue, _ j: JSONValue) -> Bool {
        switch v {
        case let .string(s): return j.stringValue == s
        case let .bool(b): return j.boolValue == b
        case let .float32(f): return j.doubleValue.map { Float($0) == f || (f.isNaN && $0.isNaN) } ?? false
        case let .float64(d): return j.doubleValue == d
        default: return v.intValue != nil && j.intValue == v.intValue
        }
    }

    /// Differences between Sieve's metadata and gguf-py's (empty when equal).
    static func metadataDifferences(_ file: GGUFFile, _ expected: JSONValue) -> [String] {
        var diffs: [String] = []
        let members = expected["metadata"]?.objectMembers ?? []
        if file.metadata.map(\.key) != members.map(\.0) {
            diffs.append("key order \(file.metadata.map(\.key)) vs \(members.map(\.0))")
        }
        for (key, e) in members {
            guard let v = file[key] else { diffs.append("missing key \(key)"); continue }
            guard typeNames[v.type] == e["type"]?.stringValue else {
                diffs.append("\(key): type \(v.type) vs \(e["type"]?.stringValue ?? "?")"); continue
            }
            if let array = v.arrayValue {
                if typeNames[array.elementType] != e["element_type"]?.stringValue || array.count != e["count"]?.intValue {
                    diffs.append("\(key): array[\(array.elementType)] × \(array.count) vs \(e["element_type"]?.stringValue ?? "?") × \(e["count"]?.intValue ?? -1)")
                }
                if let hash = e["fnv64"]?.stringValue, Checksums.fnv64(array) != hash { diffs.append("\(key): array contents differ (fnv64)") }
                let shown = e["values"]?.arrayItems ?? e["head"]?.arrayItems ?? []
                for (x, y) in zip(array.elements(prefix: shown.count), shown) where !scalarMatches(x, y) {
                    diffs.append("\(key): element \(x) vs \(y)"); break
                }
            } else if let value = e["value"], !scalarMatches(v, value) {
                diffs.append("\(key): \(v) vs \(value)")
            }
        }
        return diffs
    }

    /// Differences in header facts and tensor infos.
    static func structureDifferences(_ file: GGUFFile, _ expected: JSONValue) -> [String] {
        var diffs: [String] = []
        if Int(file.version) != expected["version"]?.intValue { diffs.append("version \(file.version)") }
        if file.alignment != expected["alignment"]?.intValue { diffs.append("alignment \(file.alignment)") }
        if file.dataOffset != expected["data_offset"]?.intValue { diffs.append("data offset \(file.dataOffset) vs \(expected["data_offset"]?.intValue ?? -1)") }
        let tensors = expected["tensors"]?.arrayItems ?? []
        if tensors.count != file.tensorInfos.count { diffs.append("tensor count \(file.tensorInfos.count) vs \(tensors.count)") }
        for (info, e) in zip(file.tensorInfos, tensors) {
            let ne = e["ne"]?.arrayItems?.compactMap(\.intValue) ?? []
            if info.name != e["name"]?.stringValue || info.type.name != e["type"]?.stringValue || info.dimensions != ne
                || info.offset != e["offset"]?.intValue || info.byteCount != e["n_bytes"]?.intValue {
                diffs.append("tensor \(info.name) \(info.type.name) \(info.dimensions) @\(info.offset) +\(info.byteCount) vs \(e)")
            }
        }
        return diffs
    }

    /// Differences between Sieve's dequantized values and gguf-py's (bit-exact checksums and samples).
    static func valueDifferences(_ file: GGUFFile, _ expected: JSONValue) throws -> [String] {
        var diffs: [String] = []
        for e in expected["tensors"]?.arrayItems ?? [] {
            let name = e["name"]?.stringValue ?? "?"
            guard let info = file.tensorInfo(name) else { diffs.append("missing tensor \(name)"); continue }
            let values = try file.tensor(info).floats()
            if Checksums.bits(values) != e["bits_checksum"]?.stringValue {
                diffs.append("\(name) (\(info.type.name)): checksum \(Checksums.bits(values)) vs \(e["bits_checksum"]?.stringValue ?? "?")")
            }
            for sample in e["samples"]?.arrayItems ?? [] {
                guard let items = sample.arrayItems, let i = items[0].intValue, let hex = items[1].stringValue,
                      let bits = UInt32(hex, radix: 16) else { continue }
                let want = Float(bitPattern: bits)
                // Named tolerance: bit-exact (both sides evaluate the same float32 formula).
                if values[i].bitPattern != bits && !(values[i].isNaN && want.isNaN) {
                    diffs.append("\(name)[\(i)] = \(values[i]) vs \(want)")
                }
            }
        }
        return diffs
    }
}

/// Runs the Python `gguf` package (through `gguf_describe.py`) when it is installed.
enum GGUFPy {
    /// Whether `python3` can import `gguf`.
    static let available: Bool = {
        (try? run(["-c", "import gguf, numpy"])) != nil
    }()

    /// gguf-py's description of the files, keyed by path.
    static func describe(_ urls: [URL]) throws -> JSONValue {
        let script = Models.scripts.appendingPathComponent("gguf_describe.py").path
        let output = try run([script] + urls.map(\.path))
        return try JSONValue.parse(output, source: "gguf_describe.py")
    }

    @discardableResult
    static func run(_ arguments: [String]) throws -> String {
        let result = try ChildProcess.python(arguments)
        guard result.status == 0 else { throw PythonFailed(status: result.status, stderr: result.stderr) }
        return result.stdout
    }

    struct PythonFailed: Error, CustomStringConvertible {
        var status: Int32
        var stderr: String
        var description: String { "python3 exited with \(status): \(stderr)" }
    }
}

/// A minimal safetensors reader for the tests (the SafetensorsFormat module is another target): f32 tensors
/// of one file by name, as `[Float]` with their shapes.
enum MiniSafetensors {
    static func read(_ url: URL) throws -> [String: (shape: [Int], values: [Float])] {
        let data = try Data(contentsOf: url)
        let headerLength = data.prefix(8).enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        let header = try JSONValue.parse(String(decoding: data[8..<(8 + headerLength)], as: UTF8.self), source: url.path)
        var out: [String: (shape: [Int], values: [Float])] = [:]
        for (name, entry) in header.objectMembers ?? [] where name != "__metadata__" {
            guard entry["dtype"]?.stringValue == "F32", let offsets = entry["data_offsets"]?.arrayItems?.compactMap(\.intValue) else { continue }
            let start = 8 + headerLength + offsets[0], end = 8 + headerLength + offsets[1]
            let values = data[start..<end].withUnsafeBytes { raw in
                (0..<((end - start) / 4)).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self))) }
            }
            out[name] = (entry["shape"]?.arrayItems?.compactMap(\.intValue) ?? [], values)
        }
        return out
    }
}
