import Foundation
import SieveCore
import SieveRuntime
import SieveTokenizers
import Testing

/// Perplexity of the tiny models on GPL-3 (ctx 128) against transformers' and llama.cpp's values in `ref.json`.
@Suite("Perplexity")
struct PerplexityTests {
    @Test("GPL-3 is the text the references were measured on")
    func textChecksum() throws {
        let ref = try Fixtures.json("tiny-llama/ref.json")
        let expected = try #require(ref["perplexity"]?["text_sha256"]?.stringValue)
        let data = try Data(contentsOf: Fixtures.own.appendingPathComponent("GPL-3"))
        #expect(sha256Hex(data) == expected)
    }

    static let models = ["tiny-llama", "tiny-llama-bpe", "tiny-qwen2", "tiny-gpt2", "tiny-opt"]

    @Test("perplexity on GPL-3 at ctx 128 equals transformers' to 5 significant digits", .enabled(if: Fixtures.modelScaleTests, "release build (or SIEVE_MODEL_TESTS=1)"),
          arguments: models)
    func transformersPerplexity(_ name: String) throws {
        let ref = try Fixtures.json("\(name)/ref.json")
        let expected = try #require(ref["perplexity"]?["transformers_f32"])
        let graph = try Fixtures.graph("\(name)/hf")
        let tokenizer = try Tokenizer(graph: graph, source: name)
        let tokens = tokenizer.encode(try Fixtures.gpl3(), addSpecial: true)
        #expect(tokens.count == expected["n_tokens"]?.intValue)
        let model = try Model(graph: graph, options: RuntimeOptions(contextLength: 128))
        let bos = tokenizer.definition.addBOS ? tokenizer.bosID : nil
        let result = try Perplexity.measure(model: model, tokens: tokens, contextLength: 128, bos: bos)
        let value = try #require(expected["ppl"]?.doubleValue)
        print("\(name): PPL \(result.value) ± \(result.standardError) over \(result.chunks) chunks; transformers \(value)")
        #expect(result.chunks == expected["n_chunks"]?.intValue)
        #expect(abs(result.value - value) / value <= Tolerance.perplexityRelative)
    }
}

extension PerplexityTests {
    static let ggufFiles = ["tiny-llama/f32.gguf", "tiny-llama/f16.gguf", "tiny-llama/bf16.gguf", "tiny-llama/q8_0.gguf",
                            "tiny-llama/q6_k.gguf", "tiny-llama/q5_0.gguf", "tiny-llama/q4_1.gguf", "tiny-llama/q4_k_m.gguf",
                            "tiny-llama/q4_0.gguf", "tiny-llama-bpe/f32.gguf", "tiny-llama-bpe/q8_0.gguf", "tiny-qwen2/f32.gguf",
                            "tiny-gpt2/f32.gguf"].filter(Fixtures.has)

    @Test("GGUF perplexity on GPL-3 at ctx 128 within 0.5% of llama-perplexity's", .enabled(if: Fixtures.modelScaleTests, "release build (or SIEVE_MODEL_TESTS=1)"),
          arguments: ggufFiles)
    func ggufPerplexity(_ file: String) throws {
        let parts = file.split(separator: "/").map(String.init)
        let ref = try Fixtures.json("\(parts[0])/ref.json")
        let expected = try #require(ref["perplexity"]?["llama_cpp"]?[parts[1]])
        let graph = try Fixtures.graph(file)
        let tokenizer = try Tokenizer(graph: graph, source: file)
        let tokens = tokenizer.encode(try Fixtures.gpl3(), addSpecial: true)
        let model = try Model(graph: graph, options: RuntimeOptions(contextLength: 128))
        let result = try Perplexity.measure(model: model, tokens: tokens, contextLength: 128, bos: tokenizer.definition.addBOS ? tokenizer.bosID : nil)
        let value = try #require(expected["ppl"]?.doubleValue)
        print("\(file): PPL \(result.value) ± \(result.standardError); llama.cpp \(value) ± \(expected["stderr"]?.doubleValue ?? 0)")
        #expect(result.chunks == expected["n_chunks"]?.intValue)
        #expect(abs(result.value - value) / value <= 0.005)
    }

    @Test("the method: BOS at each chunk start, positions ctx/2 … ctx−2 predict the next token", arguments: ["tiny-llama", "tiny-gpt2"])
    func method(_ name: String) throws {
        let graph = try Fixtures.graph("\(name)/hf")
        let tokenizer = try Tokenizer(graph: graph, source: name)
        let tokens = tokenizer.encode(try Fixtures.gpl3(), addSpecial: true)
        let ctx = 32
        let model = try Model(graph: graph, options: RuntimeOptions(contextLength: ctx, batchSize: 12))
        let bos = tokenizer.definition.addBOS ? tokenizer.bosID : nil
        let result = try Perplexity.measure(model: model, tokens: tokens, contextLength: ctx, bos: bos, maxChunks: 3)
        // The same quantity computed here from all logits of each chunk, in Double.
        var nll: [Double] = []
        for c in 0..<3 {
            var chunk = Array(tokens[(c * ctx)..<((c + 1) * ctx)])
            if let bos { chunk[0] = bos }
            let logits = try model.allOutputs(chunk).logits
            let vocab = model.vocabularySize
            for i in (ctx / 2)..<(ctx - 1) {
                let row = logits[(i * vocab)..<((i + 1) * vocab)].map(Double.init)
                let m = row.max()!
                let logSum = log(row.reduce(0) { $0 + exp($1 - m) }) + m
                nll.append(logSum - row[chunk[i + 1]])
            }
        }
        let mean = nll.reduce(0, +) / Double(nll.count)
        let variance = nll.reduce(0) { $0 + $1 * $1 } / Double(nll.count) - mean * mean
        #expect(result.chunks == 3)
        #expect(result.scoredTokens == 3 * (ctx / 2 - 1))
        #expect(abs(result.meanNLL - mean) <= 1e-5)
        #expect(abs(result.standardError - (variance / Double(nll.count - 1)).squareRoot() * exp(mean)) <= 1e-3 * result.standardError)
    }

    @Test("bad perplexity requests are clear errors")
    func errors() throws {
        let model = try Fixtures.model("tiny-gpt2/hf", options: RuntimeOptions(contextLength: 64))
        #expect(throws: SieveRuntimeError.textTooShort(tokens: 10, needed: 64)) {
            try Perplexity.measure(model: model, tokens: Array(0..<10), contextLength: 64, bos: nil)
        }
        #expect(throws: SieveRuntimeError.self) { try Perplexity.measure(model: model, tokens: Array(0..<300), contextLength: 128, bos: nil) }
        #expect(throws: SieveRuntimeError.self) { try Perplexity.measure(model: model, tokens: Array(0..<300), contextLength: 64, bos: nil, maxChunks: 0) }
    }
}

/// SHA-256 of `data`, lowercase hex (FIPS 180-4; used to check fixture texts).
func sha256Hex(_ data: Data) -> String {
    var h: [UInt32] = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]
    let k: [UInt32] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01,
        0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc,
        0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147,
        0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
        0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08,
        0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
        0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
    ]
    var message = [UInt8](data)
    let bitLength = UInt64(message.count) * 8
    message.append(0x80)
    while message.count % 64 != 56 { message.append(0) }
    for i in (0..<8).reversed() { message.append(UInt8(truncatingIfNeeded: bitLength >> (8 * UInt64(i)))) }
    func rotr(_ x: UInt32, _ n: UInt32) -> UInt32 { x >> n | x << (32 - n) }
    var w = [UInt32](repeating: 0, count: 64)
    for chunk in stride(from: 0, to: message.count, by: 64) {
        for i in 0..<16 {
            w[i] = (0..<4).reduce(UInt32(0)) { $0 << 8 | UInt32(message[chunk + 4 * i + $1]) }
        }
        for i in 16..<64 {
            let s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >> 3)
            let s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >> 10)
            w[i] = w[i - 16] &+ s0 &+ w[i - 7] &+ s1
        }
        var (a, b, c, d, e, f, g, hh) = (h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7])
        for i in 0..<64 {
            let t1 = hh &+ (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) &+ ((e & f) ^ (~e & g)) &+ k[i] &+ w[i]
            let t2 = (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) &+ ((a & b) ^ (a & c) ^ (b & c))
            (hh, g, f, e, d, c, b, a) = (g, f, e, d &+ t1, c, b, a, t1 &+ t2)
        }
        h = [h[0] &+ a, h[1] &+ b, h[2] &+ c, h[3] &+ d, h[4] &+ e, h[5] &+ f, h[6] &+ g, h[7] &+ hh]
    }
    return h.map { String(format: "%08x", $0) }.joined()
}
