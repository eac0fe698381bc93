import Foundation
import Testing
@testable import GGUFFormat
@testable import SieveCore

/// Hand-built GGUF bytes for the malformed-input tests.
struct RawGGUF {
    var magic = Array("GGUF".utf8)
    var version: UInt32 = 3
    var tensorCount: UInt64?
    var keyCount: UInt64?
    var entries: [[UInt8]] = []
    var tensors: [[UInt8]] = []
    var alignment = 32
    var dataBytes = 0
    /// Bytes to cut from the end.
    var cut = 0

    static func entry(_ key: String, _ value: GGUFValue) -> [UInt8] {
        var e = GGUFEncoder()
        e.string(key)
        e.u32(value.type.rawValue)
        e.value(value)
        return e.bytes
    }

    static func tensor(_ name: String, ne: [Int64], type: UInt32 = 0, offset: UInt64 = 0, dims: UInt32? = nil) -> [UInt8] {
        var e = GGUFEncoder()
        e.string(name)
        e.u32(dims ?? UInt32(ne.count))
        for d in ne { e.integer(d) }
        e.u32(type)
        e.u64(offset)
        return e.bytes
    }

    var bytes: [UInt8] {
        var e = GGUFEncoder()
        e.bytes += magic
        e.u32(version)
        e.u64(tensorCount ?? UInt64(tensors.count))
        e.u64(keyCount ?? UInt64(entries.count))
        for x in entries { e.bytes += x }
        for t in tensors { e.bytes += t }
        e.bytes += [UInt8](repeating: 0, count: (alignment - e.bytes.count % alignment) % alignment + dataBytes)
        return Array(e.bytes.dropLast(cut))
    }
}

@Suite struct GGUFMalformedTests {
    typealias Matcher = @Sendable (GGUFError) -> Bool

    /// Parses `bytes` from a temporary file and returns the error (nil when it parsed).
    static func parse(_ bytes: [UInt8], name: String) throws -> (Error?, String) {
        let dir = try Models.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent(name + ".gguf")
        try Data(bytes).write(to: url)
        do {
            _ = try GGUFPlugin().readTensors(url)
            return (nil, url.path)
        } catch {
            return (error, url.path)
        }
    }

    static let f32Tensor = RawGGUF.tensor("w", ne: [8, 2])
    static var valid: RawGGUF { RawGGUF(entries: [RawGGUF.entry("general.architecture", .string("llama"))], tensors: [f32Tensor], dataBytes: 64) }

    static func with(_ change: (inout RawGGUF) -> Void) -> [UInt8] {
        var r = valid
        change(&r)
        return r.bytes
    }

    static var cases: [(String, [UInt8], Matcher)] {
        var nested: GGUFArray = .uint8([1])
        for _ in 0..<9 { nested = .array([nested]) }
        let hugeString: [UInt8] = { var e = GGUFEncoder(); e.u64(1 << 62); e.bytes += Array("k".utf8); return e.bytes }()
        let hugeArray: [UInt8] = { var e = GGUFEncoder(); e.string("a"); e.u32(9); e.u32(4); e.u64(1 << 60); return e.bytes }()
        let badArrayType: [UInt8] = { var e = GGUFEncoder(); e.string("a"); e.u32(9); e.u32(99); e.u64(1); return e.bytes }()
        let badValueType: [UInt8] = { var e = GGUFEncoder(); e.string("v"); e.u32(13); e.u32(0); return e.bytes }()
        return [
            ("bad magic", with { $0.magic = Array("GGML".utf8) }, { if case .badMagic = $0 { return true }; return false }),
            ("version 1", with { $0.version = 1 }, { if case .unsupportedVersion(_, 1) = $0 { return true }; return false }),
            ("version 4", with { $0.version = 4 }, { if case .unsupportedVersion(_, 4) = $0 { return true }; return false }),
            ("big-endian", with { $0.version = 0x0300_0000 }, { $0.localizedDescription.contains("big-endian") }),
            ("empty file", [], { if case .truncated(_, 0, "the magic", _, 0) = $0 { return true }; return false }),
            ("truncated counts", Array(with { _ in }.prefix(12)), { if case .truncated(_, 8, "the tensor count", _, _) = $0 { return true }; return false }),
            ("truncated in the metadata", Array(with { _ in }.prefix(24 + 10)), { if case .countTooLarge(_, 16, "the metadata key count", 1, 0) = $0 { return true }; return false }),
            ("truncated in a string value", Array(with { _ in }.prefix(24 + 8 + 20 + 4 + 8 + 2)), { if case let .countTooLarge(_, _, what, 5, 2) = $0 { return what.contains("'general.architecture'") }; return false }),
            ("truncated in a number", Array(RawGGUF(entries: [RawGGUF.entry("llama.block_count", .uint32(2))], alignment: 1).bytes.dropLast(2)), { if case let .truncated(_, _, what, 4, 2) = $0 { return what.contains("'llama.block_count'") }; return false }),
            ("truncated tensor info", with { $0.tensors = [Array(f32Tensor.prefix(20))]; $0.alignment = 1; $0.dataBytes = 0 }, { if case let .truncated(_, _, what, _, _) = $0 { return what.contains("tensor 'w'") }; return false }),
            ("truncated data", with { $0.dataBytes = 32 }, { if case .tensorPastEnd(_, "w", 0, 64, 32) = $0 { return true }; return false }),
            ("string length past end", with { $0.entries = [hugeString] }, { if case let .countTooLarge(_, 24, what, 1 << 62, _) = $0 { return what.contains("key") }; return false }),
            ("array count 2^60", with { $0.entries = [hugeArray] }, { if case let .countTooLarge(_, _, what, 1 << 60, _) = $0 { return what.contains("array length of 'a'") }; return false }),
            ("key count 2^40", with { $0.keyCount = 1 << 40 }, { if case .countTooLarge(_, 16, "the metadata key count", 1 << 40, _) = $0 { return true }; return false }),
            ("tensor count 2^40", with { $0.tensorCount = 1 << 40 }, { if case .countTooLarge(_, 8, "the tensor count", 1 << 40, _) = $0 { return true }; return false }),
            ("value type 13", with { $0.entries = [badValueType] }, { if case .invalidValueType(_, _, "v", 13) = $0 { return true }; return false }),
            ("array element type 99", with { $0.entries = [badArrayType] }, { if case .invalidValueType(_, _, "a", 99) = $0 { return true }; return false }),
            ("arrays nested 10 deep", with { $0.entries = [RawGGUF.entry("deep", .array(nested))] }, { if case .nestingTooDeep(_, _, "deep", 8) = $0 { return true }; return false }),
            ("duplicate key", with { $0.entries += [RawGGUF.entry("general.architecture", .string("qwen2"))] }, { if case .duplicateKey(_, _, "general.architecture") = $0 { return true }; return false }),
            ("alignment 0", with { $0.entries += [RawGGUF.entry("general.alignment", .uint32(0))] }, { if case .invalidAlignment(_, 0) = $0 { return true }; return false }),
            ("alignment 3", with { $0.entries += [RawGGUF.entry("general.alignment", .uint32(3))] }, { if case .invalidAlignment(_, 3) = $0 { return true }; return false }),
            ("alignment as u64", with { $0.entries += [RawGGUF.entry("general.alignment", .uint64(32))] }, { if case .wrongValueType(_, "general.alignment", "uint32", _) = $0 { return true }; return false }),
            ("5 dimensions", with { $0.tensors = [RawGGUF.tensor("w", ne: [8, 1, 1, 1, 2])] }, { if case .tooManyDimensions(_, "w", 5) = $0 { return true }; return false }),
            ("0 dimensions", with { $0.tensors = [RawGGUF.tensor("w", ne: [])] }, { if case .tooManyDimensions(_, "w", 0) = $0 { return true }; return false }),
            ("dimension 0", with { $0.tensors = [RawGGUF.tensor("w", ne: [8, 0])] }, { if case .invalidDimension(_, "w", [8, 0], _) = $0 { return true }; return false }),
            ("negative dimension", with { $0.tensors = [RawGGUF.tensor("w", ne: [8, -2])] }, { if case .invalidDimension(_, "w", [8, -2], _) = $0 { return true }; return false }),
            ("element count overflow", with { $0.tensors = [RawGGUF.tensor("w", ne: [1 << 40, 1 << 40])] }, { if case let .invalidDimension(_, "w", _, reason) = $0 { return reason.contains("overflow") }; return false }),
            ("byte size overflow", with { $0.tensors = [RawGGUF.tensor("w", ne: [1 << 31, 1 << 31], type: 28)] }, { if case let .invalidDimension(_, "w", _, reason) = $0 { return reason.contains("byte size") }; return false }),
            ("type 99", with { $0.tensors = [RawGGUF.tensor("w", ne: [8, 2], type: 99)] }, { if case .unknownTensorType(_, "w", 99) = $0 { return true }; return false }),
            ("removed type 4 (Q4_2)", with { $0.tensors = [RawGGUF.tensor("w", ne: [32, 2], type: 4)] }, { if case .unknownTensorType(_, "w", 4) = $0 { return true }; return false }),
            ("ne0 not a multiple of the block", with { $0.tensors = [RawGGUF.tensor("w", ne: [48, 2], type: 2)] }, { if case .notBlockAligned(_, "w", 48, "Q4_0", 32) = $0 { return true }; return false }),
            ("offset past end", with { $0.tensors = [RawGGUF.tensor("w", ne: [8, 2], offset: 4096)] }, { if case .tensorPastEnd(_, "w", 4096, 64, 64) = $0 { return true }; return false }),
            ("misaligned offset", with { $0.tensors = [RawGGUF.tensor("w", ne: [4], offset: 8)] }, { if case .misalignedOffset(_, "w", 8, 32) = $0 { return true }; return false }),
            ("overlapping tensors", with { $0.tensors = [f32Tensor, RawGGUF.tensor("v", ne: [8], offset: 32)] }, { if case .overlappingTensors(_, "w", "v") = $0 { return true }; return false }),
            ("duplicate tensor name", with { $0.tensors = [f32Tensor, RawGGUF.tensor("w", ne: [8], offset: 64)]; $0.dataBytes = 96 }, { if case .duplicateTensor(_, _, "w") = $0 { return true }; return false }),
            ("name of 200 bytes", with { $0.tensors = [RawGGUF.tensor(String(repeating: "n", count: 200), ne: [8])] }, { if case .tensorNameTooLong(_, _, _, 200) = $0 { return true }; return false }),
            ("name of 64 bytes", with { $0.tensors = [RawGGUF.tensor(String(repeating: "n", count: 64), ne: [8])] }, { if case .tensorNameTooLong(_, _, _, 64) = $0 { return true }; return false }),
            ("TQ1_0 is not decodable", with { $0.tensors = [RawGGUF.tensor("w", ne: [256], type: 34)]; $0.dataBytes = 96 }, { if case .unsupportedTensorType(_, "w", "TQ1_0") = $0 { return true }; return false }),
        ]
    }

    /// Each malformed file gets its own specific error, naming the file, without a crash or a large allocation.
    @Test func eachMalformedFileGetsItsSpecificError() throws {
        let all = Self.cases
        #expect(all.count >= 30)
        for (name, bytes, matches) in all {
            let (error, path) = try Self.parse(bytes, name: name.replacingOccurrences(of: " ", with: "_"))
            guard let error else { Issue.record("\(name): parsed without error"); continue }
            guard let gguf = error as? GGUFError else { Issue.record("\(name): unexpected \(error)"); continue }
            #expect(matches(gguf), "\(name): got \(gguf)")
            let message = gguf.localizedDescription
            #expect(message.contains(path), "\(name): message does not name the file: \(message)")
            #expect(message.count > path.count + 30, "\(name): message too short: \(message)")
        }
    }

    @Test func theValidBaseParses() throws {
        let (error, _) = try Self.parse(Self.valid.bytes, name: "valid")
        #expect(error == nil)
        let dir = try Models.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("v.gguf")
        var raw = Self.valid
        raw.entries += [RawGGUF.entry("nested", .array(.array([.string(["a", "b"]), .string([])]))),
                        RawGGUF.entry("f64", .float64(0.1)), RawGGUF.entry("i8", .int8(-3)), RawGGUF.entry("flag", .bool(true))]
        try Data(raw.bytes).write(to: url)
        let file = try GGUFFile(url: url)
        #expect(file["nested"] == .array(.array([.string(["a", "b"]), .string([])])))
        #expect(file["f64"]?.doubleValue == 0.1 && file["i8"]?.intValue == -3 && file["flag"]?.boolValue == true)
        #expect(file.tensorInfos.first?.shape == [2, 8])
        #expect(try file.tensor(file.tensorInfos[0]).floats() == Array(repeating: 0, count: 16))
    }

    /// Model-level problems: a missing key, an architecture without a mapping, a tensor outside the mapping.
    @Test func modelLevelErrors() throws {
        let dir = try Models.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        func readModel(_ raw: RawGGUF) throws -> GGUFError? {
            let url = dir.appendingPathComponent("m.gguf")
            try Data(raw.bytes).write(to: url)
            do { _ = try GGUFPlugin().read(url); return nil } catch let e as GGUFError { return e }
        }
        var missing = Self.valid
        missing.tensors = [RawGGUF.tensor("token_embd.weight", ne: [8, 2])]
        if case .missingKey(_, "llama.embedding_length") = try readModel(missing) {} else { Issue.record("expected missingKey") }

        var bert = missing
        bert.entries = [RawGGUF.entry("general.architecture", .string("bert"))]
        if case .unsupportedArchitecture(_, "bert", _) = try readModel(bert) {} else { Issue.record("expected unsupportedArchitecture") }

        var extra = missing
        extra.entries += [("embedding_length", 8), ("attention.head_count", 2), ("feed_forward_length", 16), ("block_count", 1), ("context_length", 16)]
            .map { RawGGUF.entry("llama." + $0.0, .uint32(UInt32($0.1))) }
        extra.entries.append(RawGGUF.entry("llama.attention.layer_norm_rms_epsilon", .float32(1e-5)))
        extra.tensors.append(RawGGUF.tensor("rope_factors_long.weight", ne: [2], offset: 64))
        extra.dataBytes = 96
        if case .unexpectedTensor(_, "rope_factors_long.weight", "llama") = try readModel(extra) {} else { Issue.record("expected unexpectedTensor") }

        // RoPE scaling: a type Sieve does not implement, and frequency factors that cannot be right.
        func message(_ raw: RawGGUF) throws -> String? {
            let url = dir.appendingPathComponent("m.gguf")
            try Data(raw.bytes).write(to: url)
            do { _ = try GGUFPlugin().read(url); return nil } catch { return error.localizedDescription }
        }
        var unknown = extra
        unknown.tensors.removeLast()
        unknown.entries.append(RawGGUF.entry("llama.rope.scaling.type", .string("ntk")))
        let unknownError = try #require(try message(unknown))
        #expect(unknownError.contains(url(dir).path) && unknownError.contains("RoPE scaling 'ntk' is not supported"), "\(unknownError)")
        var yarn = extra
        yarn.tensors.removeLast()
        yarn.entries.append(RawGGUF.entry("llama.rope.scaling.type", .string("yarn")))
        let yarnError = try #require(try message(yarn))
        #expect(yarnError.contains(url(dir).path) && yarnError.contains("rope.scaling.factor") && yarnError.contains("YaRN needs a positive factor"), "\(yarnError)")

        var zeros = extra
        zeros.tensors[zeros.tensors.count - 1] = RawGGUF.tensor("rope_freqs.weight", ne: [2], offset: 64)
        let zerosError = try #require(try message(zeros))
        #expect(zerosError.contains("rope_scaling") && zerosError.contains("frequency factors must be positive numbers"), "\(zerosError)")

        var short = extra
        short.tensors[short.tensors.count - 1] = RawGGUF.tensor("rope_freqs.weight", ne: [3], offset: 64)
        let shortError = try #require(try message(short))
        #expect(shortError.contains("3 frequency factors for 2 rotated pairs"), "\(shortError)")

        var both = zeros
        both.entries.append(RawGGUF.entry("llama.rope.scaling.factor", .float32(4)))
        let bothError = try #require(try message(both))
        #expect(bothError.contains("together with rope_freqs.weight"), "\(bothError)")
    }

    func url(_ dir: URL) -> URL { dir.appendingPathComponent("m.gguf") }
}
