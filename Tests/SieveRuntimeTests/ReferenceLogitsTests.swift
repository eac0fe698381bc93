import Foundation
import SieveCore
import SieveRuntime
import Testing

/// The float32 models against transformers' outputs for the 24 reference tokens (`ref.safetensors`).
@Suite("Reference logits (float32)")
struct ReferenceLogitsTests {
    static let hfModels = ["tiny-llama", "tiny-llama-bpe", "tiny-qwen2", "tiny-gpt2", "tiny-opt", "tiny-llama-sharded"]

    @Test("logits and hidden_last of the HF checkpoint within atol 1e-4", arguments: hfModels)
    func huggingFaceLogits(_ name: String) throws {
        let refs = try Fixtures.references("\(name)/ref.safetensors")
        let model = try Fixtures.model("\(name)/hf")
        let ids = try Fixtures.inputIDs(refs)
        let out = try model.allOutputs(ids)
        let dLogits = maxAbsDifference(out.logits, try Fixtures.floats(refs, "logits"))
        let dHidden = maxAbsDifference(out.hidden, try Fixtures.floats(refs, "hidden_last"))
        print("\(name) hf: max |Δlogit| \(dLogits), max |Δhidden_last| \(dHidden)")
        #expect(dLogits <= Tolerance.float32Logits)
        #expect(dHidden <= Tolerance.float32Activations)
    }

    @Test("ffn_act and attn_head_norm of every layer within atol 1e-4", arguments: hfModels)
    func intermediateActivations(_ name: String) throws {
        let refs = try Fixtures.references("\(name)/ref.safetensors")
        let model = try Fixtures.model("\(name)/hf")
        let ids = try Fixtures.inputIDs(refs)
        let heads = model.hyperparameters.headCount
        let headDim = model.hyperparameters.headDim
        var ffn: [Int: [Float]] = [:]
        var headNorms: [Int: [Float]] = [:]
        model.activationObserver = { record in
            switch record.site {
            case .feedForwardActivation:
                ffn[record.layer] = Array(record.values)
            case .attentionOutput:
                var norms: [Float] = []
                for t in 0..<record.tokens {
                    for h in 0..<heads {
                        var s: Float = 0
                        for c in 0..<headDim { let v = record.values[t * record.width + h * headDim + c]; s += v * v }
                        norms.append(s.squareRoot())
                    }
                }
                headNorms[record.layer] = norms
            case .blockInput, .feedForwardInput:
                break
            }
        }
        _ = try model.allOutputs(ids)
        for layer in 0..<model.hyperparameters.layerCount {
            let dFFN = maxAbsDifference(try #require(ffn[layer]), try Fixtures.floats(refs, "ffn_act.\(layer)"))
            let dHeads = maxAbsDifference(try #require(headNorms[layer]), try Fixtures.floats(refs, "attn_head_norm.\(layer)"))
            #expect(dFFN <= Tolerance.float32Activations, "\(name) layer \(layer) ffn_act")
            #expect(dHeads <= Tolerance.float32Activations, "\(name) layer \(layer) attn_head_norm")
        }
    }

    @Test("token-by-token decode through the KV cache gives the batch logits", arguments: ["tiny-llama", "tiny-qwen2", "tiny-gpt2", "tiny-opt"])
    func incrementalDecode(_ name: String) throws {
        let refs = try Fixtures.references("\(name)/ref.safetensors")
        let model = try Fixtures.model("\(name)/hf")
        let ids = try Fixtures.inputIDs(refs)
        let expected = try Fixtures.floats(refs, "logits")
        let vocab = model.vocabularySize
        model.reset()
        // A prefill of 10 tokens (the matrix-matrix path), then one token at a time (matrix-vector).
        var logits: [Float] = []
        try model.evaluate(ids[0..<10], outputs: .all) { _, output in logits.append(contentsOf: output.logits) }
        for t in ids[10...] {
            try model.decode(t) { logits.append(contentsOf: $0) }
        }
        #expect(model.position == ids.count)
        #expect(logits.count == ids.count * vocab)
        let d = maxAbsDifference(logits, expected)
        print("\(name) hf incremental: max |Δlogit| \(d)")
        #expect(d <= Tolerance.float32Logits)
    }

    @Test("requesting some rows (the last block computes only those) gives the same logits as requesting all",
          arguments: ["tiny-llama", "tiny-gpt2"])
    func outputRows(_ name: String) throws {
        let refs = try Fixtures.references("\(name)/ref.safetensors")
        let ids = try Fixtures.inputIDs(refs)
        let model = try Fixtures.model("\(name)/hf", options: RuntimeOptions(batchSize: 10))
        let all = try model.allOutputs(ids).logits
        let vocab = model.vocabularySize
        for request in [OutputRows.last, .range(7..<19), .range(20..<22)] {
            model.reset()
            var rows: [Int] = []
            var logits: [Float] = []
            try model.evaluate(ids, outputs: request) { index, output in
                rows.append(index)
                logits.append(contentsOf: output.logits)
            }
            let expected = Array(request.rowsForTest(count: ids.count))
            #expect(rows == expected)
            // Equal up to float rounding: fewer rows may take the matrix-vector path instead of the matrix-matrix one.
            let d = maxAbsDifference(logits, Array(all[(expected.first! * vocab)..<((expected.last! + 1) * vocab)]))
            #expect(d <= 1e-5, "\(request): max |Δlogit| \(d)")
        }
    }

    @Test("greedy 16-token continuation equals transformers'", arguments: ["tiny-llama", "tiny-llama-bpe", "tiny-qwen2", "tiny-gpt2", "tiny-opt"])
    func greedyContinuation(_ name: String) throws {
        let ref = try Fixtures.json("\(name)/ref.json")
        let ids = try #require(ref["input_ids"]?.arrayItems).compactMap(\.intValue)
        let expected = try #require(ref["greedy_continuation"]?["ids"]?.arrayItems).compactMap(\.intValue)
        let session = try Session(graph: try Fixtures.graph("\(name)/hf"))
        let result = try session.complete(prompt: .tokens(ids), parameters: GenerationParameters(
            maxTokens: expected.count, sampling: .greedy, stopAtEndOfGeneration: false))
        #expect(result.tokens == expected)
        #expect(result.stopReason == .maxTokens)
    }
}

extension OutputRows {
    /// The rows a request selects among `count` tokens.
    func rowsForTest(count: Int) -> Range<Int> {
        switch self {
        case .none: return 0..<0
        case .last: return (count - 1)..<count
        case .all: return 0..<count
        case let .range(r): return r.clamped(to: 0..<count)
        }
    }
}
