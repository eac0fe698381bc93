import Foundation
import Testing
@testable import SieveCore

@Suite struct JSONTests {
    @Test func parsesAndKeepsKeyOrder() throws {
        let v = try JSONValue.parse(#"{"b": 1, "a": [true, null, 2.5, "x\u00e9"], "c": {"d": -7}}"#, source: "t")
        #expect(v.objectMembers?.map(\.0) == ["b", "a", "c"])
        #expect(v["b"]?.intValue == 1)
        #expect(v["a"]?.arrayItems?.count == 4)
        #expect(v["a"]?.arrayItems?[2].doubleValue == 2.5)
        #expect(v["a"]?.arrayItems?[3].stringValue == "xé")
        #expect(v["c"]?["d"]?.intValue == -7)
        let round = try JSONValue.parse(v.serialized(), source: "t")
        #expect(round == v)
    }

    @Test func rejectsBadJSON() {
        #expect(throws: SieveCoreError.self) { try JSONValue.parse("{\"a\": ", source: "t") }
        #expect(throws: SieveCoreError.self) { try JSONValue.parse("{\"a\": 1} x", source: "t") }
        let deep = String(repeating: "[", count: 1000) + String(repeating: "]", count: 1000)
        #expect(throws: SieveCoreError.self) { try JSONValue.parse(deep, source: "t") }
        let bad: [UInt8] = [0x22, 0xFF, 0xFE, 0x22]
        #expect(throws: SieveCoreError.self) { try bad.withUnsafeBytes { try JSONValue.parse($0, source: "t") } }
    }
}

@Suite struct ZstdTests {
    @Test func roundTripsAndCapsOutput() throws {
        let input = (0..<100_000).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ ($0 >> 7)) }
        let packed = try Zstd.compress(input)
        #expect(packed.count < input.count)
        let back = try packed.withUnsafeBytes { try Zstd.decompress($0, expectedSize: input.count, source: "t") }
        #expect(back == input)
        #expect(throws: SieveCoreError.self) {
            try packed.withUnsafeBytes { try Zstd.decompress($0, expectedSize: input.count - 1, source: "t") }
        }
        #expect(throws: SieveCoreError.self) {
            try packed.withUnsafeBytes { try Zstd.decompress($0, expectedSize: input.count + 1, source: "t") }
        }
        var corrupt = packed
        corrupt[corrupt.count / 2] ^= 0xFF
        #expect(throws: SieveCoreError.self) {
            try corrupt.withUnsafeBytes { try Zstd.decompress($0, expectedSize: input.count, source: "t") }
        }
    }
}

@Suite struct DTypeTests {
    @Test func blockSizes() {
        #expect(DType.q4_0.byteCount(elements: 64) == 36)
        #expect(DType.q4_K.byteCount(elements: 256) == 144)
        #expect(DType.q6_K.byteCount(elements: 512) == 420)
        #expect(DType.q8_0.byteCount(elements: 31) == nil)
        #expect(DType.f32.byteCount(elements: Int.max / 2) == nil)
        #expect(Shape([Int.max, 3]).checkedElementCount == nil)
        #expect(Shape([-1, 3]).checkedElementCount == nil)
    }

    @Test func halfConversionsRoundToNearestEven() {
        #expect(HalfPrecision.floatToBF16(1.0) == 0x3F80)
        // 1 + 2^-8 is halfway between two bf16 values: ties to even (0x3F80).
        #expect(HalfPrecision.floatToBF16(Float(bitPattern: 0x3F80_8000)) == 0x3F80)
        #expect(HalfPrecision.floatToBF16(Float(bitPattern: 0x3F81_8000)) == 0x3F82)
        #expect(HalfPrecision.floatToF16(1.0) == 0x3C00)
        #expect(HalfPrecision.f16ToFloat(0xC000) == -2.0)
        #expect(HalfPrecision.bf16ToFloat(0x4049) == Float(bitPattern: 0x4049_0000))
    }

    @Test func byteReaderChecksBounds() throws {
        let bytes: [UInt8] = [1, 0, 0, 0, 2]
        try bytes.withUnsafeBytes { raw throws in
            var r = ByteReader(bytes: raw, source: "t")
            let first = try r.readU32()
            #expect(first == 1)
            #expect(throws: SieveCoreError.self) { try r.readU16() }
            let last = try r.readU8()
            #expect(last == 2)
        }
    }
}

@Suite struct DeferredBufferTests {
    /// A deferred tensor is checked and sized without being made; its bytes are filled once, even when several
    /// threads read them first at the same time, and every reader sees the same buffer.
    @Test func fillsOnceOnFirstRead() throws {
        let calls = ManagedBox(0)
        let deferred = DeferredBuffer(count: 16) { buffer in
            calls.update { $0 += 1 }
            for i in 0..<16 { buffer.bytes[i] = UInt8(3 * i) }
        }
        let tensor = try Tensor(name: "t", dtype: .u8, shape: [16], storage: .deferred(deferred))
        #expect(tensor.byteCount == 16 && !deferred.isMade && calls.value == 0)
        #expect(throws: SieveCoreError.self) { try Tensor(name: "t", dtype: .u8, shape: [17], storage: .deferred(deferred)) }
        let owners = ManagedBox<[ObjectIdentifier]>([])
        DispatchQueue.concurrentPerform(iterations: 8) { _ in
            let owner = tensor.storage.owner
            owners.update { $0.append(ObjectIdentifier(owner)) }
        }
        #expect(calls.value == 1 && deferred.isMade)
        #expect(Set(owners.value).count == 1)
        #expect(Array(tensor.bytes) == (0..<16).map { UInt8(3 * $0) })
        #expect(calls.value == 1)
    }

    /// Within `reusingTemporaryBuffers`, a temporary copy is reused by the next one that fits (the bytes are each
    /// buffer's own, exactly `count` of them); outside it, and after it, none is kept; neither buffer is made.
    @Test func reusesTemporariesWithinAScope() {
        func deferred(_ count: Int, _ value: UInt8) -> DeferredBuffer {
            DeferredBuffer(count: count) { buffer in
                for i in 0..<count { buffer.bytes[i] = value &+ UInt8(truncatingIfNeeded: i) }
            }
        }
        let big = deferred(300_000, 1), small = deferred(200_000, 7), other = deferred(300_000, 9)
        func visit(_ d: DeferredBuffer, _ value: UInt8) -> UnsafeRawPointer? {
            d.withTemporaryBytes { bytes in
                #expect(bytes.count == d.count)
                #expect(bytes[0] == value && bytes[d.count - 1] == value &+ UInt8(truncatingIfNeeded: d.count - 1))
                return bytes.baseAddress
            }
        }
        let (first, second, third) = DeferredBuffer.reusingTemporaryBuffers {
            (visit(big, 1), visit(small, 7), visit(other, 9))
        }
        #expect(first == second && second == third, "each call reuses the one kept buffer")
        #expect(!big.isMade && !small.isMade && !other.isMade)
        // Outside a scope nothing is kept: two temporaries alive at once are two buffers.
        let nested = big.withTemporaryBytes { outer in other.withTemporaryBytes { $0.baseAddress != outer.baseAddress } }
        #expect(nested)
    }
}

/// A value that threads update under a lock (test helper).
final class ManagedBox<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: Value
    init(_ value: Value) { stored = value }
    func update(_ body: (inout Value) -> Void) { lock.withLock { body(&stored) } }
    var value: Value { lock.withLock { stored } }
}

@Suite struct AtomicWriteTests {
    @Test func failedWriteLeavesNothing() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sieve-atomic-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("x.bin")
        struct Boom: Error {}
        #expect(throws: Boom.self) {
            try AtomicFileWriter.write(to: out, overwrite: false) { w in
                try w.write([1, 2, 3])
                throw Boom()
            }
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).isEmpty)
        try AtomicFileWriter.write(to: out, overwrite: false) { try $0.write([1, 2, 3]) }
        #expect(try Data(contentsOf: out) == Data([1, 2, 3]))
        #expect(throws: SieveCoreError.self) { try AtomicFileWriter.write(to: out, overwrite: false) { try $0.write([9]) } }
        #expect(try Data(contentsOf: out) == Data([1, 2, 3]))
    }

    @Test func destinationCheckNamesAMissingFolderBeforeAnyWork() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sieve-atomic-\(UUID().uuidString)")
        let out = dir.appendingPathComponent("model.sieve")
        do {
            try AtomicFileWriter.checkDestination(out, overwrite: true)
            Issue.record("a missing folder passed the check")
        } catch let SieveCoreError.writeFailed(path, reason) {
            #expect(path == out.path)
            #expect(reason.contains(dir.path) && reason.contains("does not exist"))
        }
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try AtomicFileWriter.checkDestination(out, overwrite: false)
        try Data([1]).write(to: out)
        #expect(throws: SieveCoreError.outputExists(path: out.path)) { try AtomicFileWriter.checkDestination(out, overwrite: false) }
        try AtomicFileWriter.checkDestination(out, overwrite: true)
    }
}

@Suite struct HFConfigTests {
    @Test func unknownArchitectureNamesSupportedOnes() {
        do {
            _ = try HFConfig.read(try JSONValue.parse(#"{"model_type": "mamba"}"#, source: "c"), source: "config.json")
            Issue.record("expected an error")
        } catch let e as SieveCoreError {
            #expect(e.localizedDescription.contains("mamba"))
            #expect(e.localizedDescription.contains("llama, mistral, mixtral, granite, granitemoe, granitemoeshared, qwen2, qwen2_moe, qwen3, qwen3_moe, smollm3, phi3, gemma2, gemma3_text, gemma3, gpt_oss, gpt2, opt, bert"))
        } catch { Issue.record("wrong error \(error)") }
    }

    /// tiny-llama's config with `extra` members added.
    static func llama(_ extra: String) throws -> Hyperparameters {
        let text = #"{"model_type": "llama", "hidden_size": 256, "num_attention_heads": 4, "num_key_value_heads": 2, "#
            + #""intermediate_size": 512, "num_hidden_layers": 2, "vocab_size": 512, "max_position_embeddings": 256"#
            + (extra.isEmpty ? "" : ", " + extra) + "}"
        return try HFConfig.read(try JSONValue.parse(text, source: "c"), source: "config.json").1
    }

    @Test func ropeScalingFromRopeScalingOrRopeParameters() throws {
        #expect(try Self.llama("").ropeScaling == nil)
        #expect(try Self.llama(#""rope_scaling": null, "rope_theta": 500000"#).ropeTheta == 500_000)
        #expect(try Self.llama(#""rope_scaling": {"rope_type": "default"}"#).ropeScaling == nil)
        #expect(try Self.llama(#""rope_scaling": {"type": "linear", "factor": 2.0}"#).ropeScaling == .linear(factor: 2))
        #expect(try Self.llama(#""rope_scaling": {"rope_type": "linear", "factor": 1.0}"#).ropeScaling == nil)
        let llama31 = #""rope_scaling": {"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 8192, "rope_type": "llama3"}"#
        #expect(try Self.llama(llama31).ropeScaling
                == .llama3(Llama3RoPEScaling(factor: 8, lowFrequencyFactor: 1, highFrequencyFactor: 4, originalContextLength: 8192)))
        // transformers 5 keeps rope_theta inside rope_parameters.
        let v5 = try Self.llama(#""rope_parameters": {"rope_theta": 500000.0, "rope_type": "llama3", "factor": 32.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}"#)
        #expect(v5.ropeTheta == 500_000)
        #expect(v5.ropeScaling == .llama3(Llama3RoPEScaling(factor: 32, lowFrequencyFactor: 1, highFrequencyFactor: 4, originalContextLength: 8192)))
        #expect(try Self.llama(#""rope_parameters": {"rope_theta": 1000000.0, "rope_type": "default"}"#).ropeTheta == 1_000_000)
    }

    @Test("unsupported or broken RoPE scaling is an error naming the file and the problem", arguments: [
        (#""rope_scaling": {"rope_type": "yarn", "original_max_position_embeddings": 32768}"#, "rope_scaling.factor': missing for rope_type 'yarn'"),
        (#""rope_scaling": {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 0.5}"#, "not a positive whole number"),
        (#""rope_scaling": {"rope_type": "yarn", "factor": 0}"#, "must be positive numbers"),
        (#""rope_scaling": {"type": "dynamic", "factor": 2.0}"#, "'dynamic' is not supported"),
        (#""rope_scaling": {"rope_type": "longrope"}"#, "short_factor': missing for rope_type 'longrope'"),
        (#""rope_scaling": {"rope_type": "linear"}"#, "rope_scaling.factor': missing"),
        (#""rope_scaling": {"rope_type": "linear", "factor": -2}"#, "must be a positive number"),
        (#""rope_scaling": {"rope_type": "llama3", "factor": 8, "low_freq_factor": 4, "high_freq_factor": 1}"#, "must exceed low_freq_factor"),
        (#""rope_scaling": {"rope_type": "llama3", "original_max_position_embeddings": 10.5}"#, "not a positive whole number"),
        (#""rope_scaling": "linear""#, "an object or null"),
    ])
    func ropeScalingErrors(_ extra: String, _ message: String) {
        Self.expectError(message) { try Self.llama(extra) }
    }

    /// Expects reading a config to fail with an error that names config.json and contains `message`.
    static func expectError(_ message: String, reading read: () throws -> Hyperparameters) {
        do {
            let hp = try read()
            Issue.record("expected an error, read \(hp)")
        } catch {
            #expect(error.localizedDescription.contains("config.json"), "\(error.localizedDescription)")
            #expect(error.localizedDescription.contains(message), "\(error.localizedDescription)")
        }
    }

    /// A Gemma 3 text config (Gemma 3 270M's shape, 4 layers) with `extra` members.
    static func gemma3(_ extra: String = "") throws -> Hyperparameters {
        let text = #"{"model_type": "gemma3_text", "hidden_size": 640, "intermediate_size": 2048, "num_hidden_layers": 4, "num_attention_heads": 4, "num_key_value_heads": 1, "head_dim": 256, "vocab_size": 1000"# + (extra.isEmpty ? "" : ", " + extra) + "}"
        return try HFConfig.read(try JSONValue.parse(text, source: "c"), source: "config.json").1
    }

    @Test func gemma3ConfigsReadTheirSlidingLayersAndDefaults() throws {
        // transformers' defaults: pattern 6 (all four layers slide), window 4096, local base 10000, global 1e6.
        let defaults = try Self.gemma3()
        #expect(defaults.slidingWindow == SlidingWindowAttention(window: 4096, slidingLayers: [true, true, true, true], ropeTheta: 10000))
        #expect(defaults.ropeTheta == 1_000_000 && defaults.activation == .geluTanh && defaults.tiedEmbeddings)
        #expect(defaults.attentionScale == nil && defaults.finalLogitSoftcap == nil)
        let listed = try Self.gemma3(#""layer_types": ["sliding_attention", "full_attention", "sliding_attention", "full_attention"], "sliding_window": 512, "rope_local_base_freq": 20000.0, "query_pre_attn_scalar": 168, "final_logit_softcapping": 30.0"#)
        #expect(listed.slidingWindow == SlidingWindowAttention(window: 512, slidingLayers: [true, false, true, false], ropeTheta: 20000))
        #expect(listed.attentionScale == 1 / 168.0.squareRoot() && listed.finalLogitSoftcap == 30)
        #expect(try Self.gemma3(#""sliding_window_pattern": 2"#).slidingWindow?.slidingLayers == [true, false, true, false])
        // transformers 5: one RoPE object per layer type.
        let v5 = try Self.gemma3(#""rope_parameters": {"full_attention": {"rope_type": "linear", "factor": 8.0, "rope_theta": 1000000.0}, "sliding_attention": {"rope_type": "default", "rope_theta": 10000.0}}"#)
        #expect(v5.ropeScaling == .linear(factor: 8) && v5.ropeTheta == 1_000_000 && v5.slidingWindow?.ropeTheta == 10000)
        // All layers global: no sliding window at all.
        #expect(try Self.gemma3(#""layer_types": ["full_attention", "full_attention", "full_attention", "full_attention"]"#).slidingWindow == nil)
    }

    @Test("Gemma 3 configs Sieve cannot run are errors naming the file and the problem", arguments: [
        (#""use_bidirectional_attention": true"#, "EmbeddingGemma"),
        (#""layer_types": ["sliding_attention"]"#, "1 entries for 4 layers"),
        (#""layer_types": ["local", "global", "local", "global"]"#, "layer_types[0]"),
        (#""sliding_window": 0"#, "must be positive"),
        (#""query_pre_attn_scalar": -1"#, "must be positive"),
        (#""rope_parameters": {"full_attention": {"rope_type": "dynamic", "factor": 4.0}}"#, "'dynamic' is not supported"),
    ])
    func gemma3ConfigErrors(_ extra: String, _ message: String) {
        Self.expectError(message) { try Self.gemma3(extra) }
    }

    @Test func gemma3MultimodalCheckpointsReadTheirTextConfig() throws {
        // Gemma 3 4B's config.json leaves most of text_config to transformers' defaults.
        let text = #"{"architectures": ["Gemma3ForConditionalGeneration"], "model_type": "gemma3", "mm_tokens_per_image": 256, "text_config": {"hidden_size": 2560, "intermediate_size": 10240, "model_type": "gemma3_text", "num_hidden_layers": 34, "rope_scaling": {"factor": 8.0, "rope_type": "linear"}, "sliding_window": 1024}, "vision_config": {"hidden_size": 1152, "model_type": "siglip_vision_model"}}"#
        let (arch, hp) = try HFConfig.read(try JSONValue.parse(text, source: "c"), source: "config.json")
        #expect(arch == .gemma3)
        #expect(hp.hiddenSize == 2560 && hp.layerCount == 34 && hp.headCount == 8 && hp.kvHeadCount == 4 && hp.headDim == 256)
        #expect(hp.vocabSize == 262_208 && hp.ropeTheta == 1_000_000 && hp.ropeScaling == .linear(factor: 8))
        #expect(hp.slidingWindow?.window == 1024 && hp.slidingWindow?.slidingLayers == SlidingWindowAttention.pattern(6, layers: 34))
        Self.expectError("text_config") {
            try HFConfig.read(try JSONValue.parse(#"{"model_type": "gemma3"}"#, source: "c"), source: "config.json").1
        }
    }

    @Test func gemma2ConfigsReadTransformersDefaults() throws {
        func gemma2(_ extra: String) throws -> Hyperparameters {
            let text = #"{"model_type": "gemma2", "hidden_size": 2304, "intermediate_size": 9216, "num_hidden_layers": 4"# + extra + "}"
            return try HFConfig.read(try JSONValue.parse(text, source: "c"), source: "config.json").1
        }
        // Gemma2Config's defaults: even layers slide (window 4096) on the model's RoPE, caps 50 and 30.
        let defaults = try gemma2("")
        #expect(defaults.slidingWindow == SlidingWindowAttention(window: 4096, slidingLayers: [true, false, true, false], ropeTheta: 10000))
        #expect(defaults.attentionLogitSoftcap == 50 && defaults.finalLogitSoftcap == 30 && defaults.attentionScale == nil)
        #expect(defaults.vocabSize == 256_000 && defaults.contextLength == 8192 && defaults.headDim == 256 && defaults.tiedEmbeddings)
        // Gemma 2 27B: query_pre_attn_scalar 144 on heads of 128; null caps are none.
        let large = try gemma2(#", "head_dim": 128, "query_pre_attn_scalar": 144, "attn_logit_softcapping": null, "final_logit_softcapping": null"#)
        #expect(large.attentionScale == 1 / 144.0.squareRoot() && large.attentionLogitSoftcap == nil && large.finalLogitSoftcap == nil)
        Self.expectError("attn_logit_softcapping") { try gemma2(#", "attn_logit_softcapping": "high""#) }
    }

    @Test func llama3ParametersAreRecoveredFromTheirFactors() throws {
        // Llama 3.1 8B's scaling on its 128-dimension heads, base 500000.
        let llama31 = Llama3RoPEScaling(factor: 8, lowFrequencyFactor: 1, highFrequencyFactor: 4, originalContextLength: 8192)
        let factors = try #require(RoPEScaling.llama3(llama31).frequencyFactors(base: 500_000, dimensions: 128))
        #expect(factors.first == 1 && factors.last == 8)
        #expect(RoPEScaling.llama3Parameters(fromFactors: factors, base: 500_000, dimensions: 128) == llama31)
        // The same line with low_freq_factor 2 gives the same factors, and is recovered with low 1.
        let doubled = Llama3RoPEScaling(factor: 8, lowFrequencyFactor: 2, highFrequencyFactor: 8, originalContextLength: 16384)
        let same = try #require(RoPEScaling.llama3(doubled).frequencyFactors(base: 500_000, dimensions: 128))
        #expect(zip(same, factors).allSatisfy { abs($0 - $1) <= 1e-6 * $1 })
        // Factors that no llama3 scaling gives.
        #expect(RoPEScaling.llama3Parameters(fromFactors: (0..<64).map { 1 + Float($0 % 3) }, base: 500_000, dimensions: 128) == nil)
        #expect(RoPEScaling.llama3Parameters(fromFactors: [Float](repeating: 1, count: 64), base: 500_000, dimensions: 128) == nil)
    }
}
