import Foundation
import GGUFFormat
import SafetensorsFormat
import SieveCore
import SieveRuntime
import Testing

/// RoPE scaling (Llama 3.1's rule and linear) against llama.cpp: `tiny-llama-rope` holds tiny-llama's weights with
/// each scaling as llama.cpp's converter writes it into GGUF (`rope_freqs.weight`, `rope.scaling.*`) and as
/// `config.json` states it, with libllama's logits for both GGUFs (see that folder's README).
@Suite("RoPE scaling")
struct RoPEScalingTests {
    static let kinds = ["llama3", "linear"]

    /// A Hugging Face folder of tiny-llama's weights and tokenizer with the `config-<kind>.json` of the fixture.
    static func huggingFaceFolder(_ kind: String, in scratch: URL) throws -> URL {
        try Fixtures.folder("tiny-llama/hf", config: "tiny-llama-rope/config-\(kind).json", in: scratch)
    }

    /// Expects `graph`'s logits and final hidden states on the reference ids within float32 tolerance of libllama's.
    static func expectLlamaCppOutputs(_ graph: ModelGraph, kind: String, _ what: String) throws {
        let refs = try Fixtures.references("tiny-llama-rope/ref-llama-cpp.safetensors")
        let model = try Model(graph: graph)
        let out = try model.allOutputs(try Fixtures.inputIDs(refs))
        let dLogits = maxAbsDifference(out.logits, try Fixtures.floats(refs, "logits.\(kind)"))
        let dHidden = maxAbsDifference(out.hidden, try Fixtures.floats(refs, "hidden_last.\(kind)"))
        print("\(what): max |Δlogit| \(dLogits), max |Δhidden_last| \(dHidden) against llama.cpp")
        #expect(dLogits <= Tolerance.float32Logits, "\(what)")
        #expect(dHidden <= Tolerance.float32Activations, "\(what)")
    }

    @Test("GGUFs with rope_freqs.weight or linear rope.scaling give llama.cpp's logits", arguments: kinds)
    func ggufLogits(_ kind: String) throws {
        let graph = try Fixtures.graph("tiny-llama-rope/\(kind).gguf")
        switch (kind, graph.hyperparameters.ropeScaling) {
        case ("llama3", .frequencyFactors(let factors)?): #expect(factors.count == 32)
        case ("linear", .linear(4)?): break
        default: Issue.record("\(kind).gguf read as \(String(describing: graph.hyperparameters.ropeScaling))")
        }
        try Self.expectLlamaCppOutputs(graph, kind: kind, "\(kind).gguf")
    }

    @Test("config.json rope_scaling gives llama.cpp's logits from the same weights", arguments: kinds)
    func configLogits(_ kind: String) throws {
        let scratch = try Fixtures.scratchFolder("rope")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let graph = try SafetensorsPlugin().read(try Self.huggingFaceFolder(kind, in: scratch))
        try Self.expectLlamaCppOutputs(graph, kind: kind, "config-\(kind).json")
    }

    @Test("one token at a time decodes what the batch computes")
    func decodeEqualsPrefill() throws {
        let graph = try Fixtures.graph("tiny-llama-rope/llama3.gguf")
        let refs = try Fixtures.references("tiny-llama-rope/ref-llama-cpp.safetensors")
        let ids = try Fixtures.inputIDs(refs)
        let expected = try Fixtures.floats(refs, "logits.llama3")
        let model = try Model(graph: graph)
        var decoded: [Float] = []
        for id in ids { try model.decode(id) { decoded.append(contentsOf: $0) } }
        #expect(maxAbsDifference(decoded, expected) <= Tolerance.float32Logits)
    }

    /// Frequency factors computed in float32 by two implementations: a float32 `pow` may differ by one unit in the
    /// last place between numpy and the C library, and so may what follows from it.
    static let factorTolerance: Float = 1e-6

    @Test("converting config.json's llama3 scaling to GGUF writes llama.cpp's rope_freqs")
    func llama3ToGGUF() throws {
        let scratch = try Fixtures.scratchFolder("rope")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let graph = try SafetensorsPlugin().read(try Self.huggingFaceFolder("llama3", in: scratch))
        let url = scratch.appendingPathComponent("out.gguf")
        try GGUFPlugin().write(graph, to: url, options: WriteOptions())
        let written = try GGUFFile(url: url)
        let reference = try GGUFFile(url: try Fixtures.url("tiny-llama-rope/llama3.gguf"))
        let ours = try written.tensor(try #require(written.tensorInfo("rope_freqs.weight")))
        let theirs = try reference.tensor(try #require(reference.tensorInfo("rope_freqs.weight")))
        #expect(written.tensorInfos.first?.name == "rope_freqs.weight")
        #expect(ours.dtype == .f32 && ours.shape == theirs.shape)
        #expect(zip(try ours.floats(), try theirs.floats()).allSatisfy { abs($0 - $1) <= Self.factorTolerance * $1 })
        try Self.expectLlamaCppOutputs(try GGUFPlugin().read(url), kind: "llama3", "config-llama3.json → GGUF")
    }

    @Test("converting linear scaling to GGUF writes rope.scaling.type and factor")
    func linearToGGUF() throws {
        let scratch = try Fixtures.scratchFolder("rope")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let graph = try SafetensorsPlugin().read(try Self.huggingFaceFolder("linear", in: scratch))
        let url = scratch.appendingPathComponent("out.gguf")
        try GGUFPlugin().write(graph, to: url, options: WriteOptions())
        let written = try GGUFFile(url: url)
        #expect(written["llama.rope.scaling.type"]?.stringValue == "linear")
        #expect(written["llama.rope.scaling.factor"]?.doubleValue == 4)
        #expect(written.tensorInfo("rope_freqs.weight") == nil)
        try Self.expectLlamaCppOutputs(try GGUFPlugin().read(url), kind: "linear", "config-linear.json → GGUF")
    }

    @Test("converting the GGUFs to Hugging Face folders writes rope_scaling that transformers reads", arguments: kinds)
    func ggufToConfig(_ kind: String) throws {
        let scratch = try Fixtures.scratchFolder("rope")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let folder = scratch.appendingPathComponent("hf")
        try SafetensorsPlugin().write(try Fixtures.graph("tiny-llama-rope/\(kind).gguf"), to: folder, options: WriteOptions())
        let config = try JSONValue.parse(contentsOf: folder.appendingPathComponent("config.json"))
        let expected = try Fixtures.json("tiny-llama-rope/config-\(kind).json")
        let scaling = try #require(config["rope_scaling"])
        let wanted = try #require(expected["rope_scaling"])
        for (key, value) in try #require(wanted.objectMembers) {
            if let number = value.doubleValue {
                let got = try #require(scaling[key]?.doubleValue, "rope_scaling.\(key)")
                #expect(abs(got - number) <= 1e-6 * abs(number), "rope_scaling.\(key): \(got) against \(number)")
            } else {
                #expect(scaling[key] == value, "rope_scaling.\(key)")
            }
        }
        try Self.expectLlamaCppOutputs(try SafetensorsPlugin().read(folder), kind: kind, "\(kind).gguf → config.json")
    }

    @Test("Sieve's llama3 factors equal the ones llama.cpp's converter writes, and give back their parameters")
    func llama3FactorsMatchTheConverter() throws {
        let reference = try GGUFFile(url: try Fixtures.url("tiny-llama-rope/llama3.gguf"))
        let theirs = try reference.tensor(try #require(reference.tensorInfo("rope_freqs.weight"))).floats()
        let config = try Fixtures.json("tiny-llama-rope/config-llama3.json")
        let scaling = try #require(try HFConfig.read(config, source: "config-llama3.json").1.ropeScaling)
        let ours = try #require(scaling.frequencyFactors(base: 10_000, dimensions: 64))
        #expect(zip(ours, theirs).allSatisfy { abs($0 - $1) <= Self.factorTolerance * $1 })
        let recovered = try #require(RoPEScaling.llama3Parameters(fromFactors: theirs, base: 10_000, dimensions: 64))
        #expect(recovered == Llama3RoPEScaling(factor: 8, lowFrequencyFactor: 1, highFrequencyFactor: 4, originalContextLength: 64))
    }
}
