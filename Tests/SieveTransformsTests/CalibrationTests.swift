import Foundation
import SieveCore
@testable import SieveRuntime
import SieveTokenizers
import SieveTransforms
import Testing

@Suite struct CalibrationTests {
    static func temporaryDirectory() -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("sieve-transforms-test-\(UUID().uuidString)")
    }

    /// Feeds two batches of known rows through the recorder the way the runtime does and reads them back; the FFN
    /// input is kept for the first `feedForwardInputBlocks` blocks only (the first block's, or every block's as for a
    /// non-gated model), and a reopened store knows which.
    @Test(arguments: [1, 2]) func recorderStoresWhatTheRuntimeReports(feedForwardInputBlocks: Int) throws {
        let shape = CalibrationShape(blocks: 2, hidden: 3, ffnWidth: 4, heads: 2, headDim: 2, tokens: 0,
                                     feedForwardInputBlocks: feedForwardInputBlocks)
        let directory = Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let recorder = try CalibrationRecorder(directory: directory, shape: shape, options: .init(maxTokens: 5))
        func value(_ block: Int, _ position: Int, _ c: Int) -> Float { Float(block * 100 + position * 10 + c) - 50 }
        for (first, count) in [(0, 4), (0, 3)] {  // Two sequences: 3 + 2 recorded tokens (position 0 skipped).
            for block in 0..<2 {
                for (site, width) in [(ActivationSite.blockInput, 3), (.attentionOutput, 4), (.feedForwardInput, 3), (.feedForwardActivation, 4)] {
                    let offset: Float = site == .feedForwardInput ? 1000 : 0
                    let values = (0..<count).flatMap { t in (0..<width).map { value(block, first + t, $0) + offset } }
                    values.withUnsafeBufferPointer {
                        recorder.observe(ActivationRecord(site: site, layer: block, firstPosition: first, tokens: count, width: width, values: $0))
                    }
                }
            }
        }
        let store = try recorder.finish()
        #expect(store.shape.tokens == 5)
        let reopened = try CalibrationStore(opening: directory)
        #expect(reopened.shape == store.shape)
        let positions = [1, 2, 3, 1, 2]
        #expect(reopened.shape.feedForwardInputBlocks == feedForwardInputBlocks)
        for block in 0..<feedForwardInputBlocks {
            let ffnInputs = try #require(try reopened.feedForwardInputs(block))
            #expect(ffnInputs.rows == 5 && ffnInputs.columns == 3)
            for (row, p) in positions.enumerated() {
                for c in 0..<3 { #expect(ffnInputs[row, c] == value(block, p, c) + 1000) }
            }
        }
        #expect(try reopened.feedForwardInputs(0) != nil)
        if feedForwardInputBlocks == 1 {
            #expect(try reopened.feedForwardInputs(1) == nil)
            #expect(!FileManager.default.fileExists(atPath: directory.appendingPathComponent("block-1.ffn-input.f16").path))
        }
        for block in 0..<2 {
            let inputs = try reopened.blockInputs(block), ffn = try reopened.ffnMagnitudes(block), heads = try reopened.headNorms(block)
            for (row, p) in positions.enumerated() {
                for c in 0..<3 { #expect(inputs[row, c] == value(block, p, c)) }
                for c in 0..<4 { #expect(ffn[row, c] == abs(value(block, p, c))) }
                for h in 0..<2 {
                    let a = value(block, p, 2 * h), b = value(block, p, 2 * h + 1)
                    #expect(abs(heads[row, h] - (a * a + b * b).squareRoot()) <= 1e-3 * heads[row, h])
                }
            }
        }
    }

    @Test func recorderRejectsAWrongWidth() throws {
        let shape = CalibrationShape(blocks: 1, hidden: 3, ffnWidth: 4, heads: 1, headDim: 2, tokens: 0)
        let directory = Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let recorder = try CalibrationRecorder(directory: directory, shape: shape, options: .init(maxTokens: 10))
        let values = [Float](repeating: 1, count: 10)
        values.withUnsafeBufferPointer {
            recorder.observe(ActivationRecord(site: .blockInput, layer: 0, firstPosition: 0, tokens: 2, width: 5, values: $0))
        }
        #expect(throws: SieveTransformsError.self) { _ = try recorder.finish() }
    }

    /// `split` holds the probe out of the calibration sequences: a short text is tokenized once and the probe is the
    /// end of what calibration left; a long one is tokenized as a prefix and a separate tail; a text calibration
    /// uses up leaves no probe.
    @Test func splitHoldsTheProbeOut() throws {
        let graph = try Fixtures.graph("tiny-llama/hf")
        let tokenizer = try Tokenizer(graph: graph, source: "model")
        let full = try CalibrationText.defaultText()
        let context = min(PerplexityProbe.maxContext, graph.hyperparameters.contextLength)

        let short = String(full.prefix(12_000))
        let tokens = tokenizer.encode(short, addSpecial: false)
        let (sequences, probe) = try CalibrationText.split(text: short, graph: graph, context: 64, maxTokens: 300, probeTokens: 512)
        let p = try #require(probe)
        #expect(sequences == CalibrationText.sequences(tokens: tokens, context: 64, maxTokens: 300, bos: tokenizer.bosID))
        let used = sequences.reduce(0) { $0 + $1.count - (tokenizer.bosID == nil ? 0 : 1) }
        #expect(used == 300)
        #expect(p.context == context && p.tokens.count == 512 / context * context)
        #expect(p.tokens == Array(tokens.suffix(p.tokens.count)) && used + p.tokens.count <= tokens.count)
        #expect(p.bos == (tokenizer.definition.addBOS ? tokenizer.bosID : nil))

        let (longSequences, longProbe) = try CalibrationText.split(text: full, graph: graph, context: 64, maxTokens: 300, probeTokens: 512)
        #expect(longSequences == sequences)
        let tail = try #require(longProbe)
        #expect(tail.tokens.count == p.tokens.count)
        let decoded = tokenizer.decode(tail.tokens).trimmingCharacters(in: .whitespaces)
        #expect(decoded.count > 500 && full.suffix(decoded.count + 100).contains(decoded))

        let (_, none) = try CalibrationText.split(text: String(full.prefix(3000)), graph: graph, context: 64, maxTokens: 100_000)
        #expect(none == nil)
    }

    @Test func sequencesCoverTheRequestedTokens() throws {
        let tokens = Array(100..<120)
        let seqs = CalibrationText.sequences(tokens: tokens, context: 8, maxTokens: 10, bos: 1)
        #expect(seqs.map(\.count) == [8, 4])
        #expect(seqs.allSatisfy { $0.first == 1 })
        #expect(seqs.reduce(0) { $0 + $1.count - 1 } == 10)
        #expect(Array(seqs[0].dropFirst()) == Array(100..<107))
        let plain = CalibrationText.sequences(tokens: tokens, context: 8, maxTokens: 100, bos: nil)
        #expect(plain.flatMap { $0 } == tokens)
        #expect(try CalibrationText.defaultText().count > 100_000)
    }
}
