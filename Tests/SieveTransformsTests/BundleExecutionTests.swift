import BundleFormat
import Foundation
import SafetensorsFormat
import SieveCore
import SieveRuntime
import SieveTransforms
import Testing

/// Issue 6, acceptance 1: a packed bundle, written to disk and read back, run densely, computes what the source
/// model computes.
@Suite struct BundleExecutionTests {
    /// Logits of a packed f32 bundle against its f32 source: only the order of additions changes.
    static let packedLogitTolerance: Float = 1e-4

    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/models")

    func logits(_ graph: ModelGraph, _ tokens: [Int]) throws -> [[Float]] {
        let model = try Model(graph: graph, options: RuntimeOptions(contextLength: 64, threads: 2))
        var rows: [[Float]] = []
        try model.evaluate(tokens, outputs: .all) { _, out in rows.append(Array(out.logits)) }
        return rows
    }

    @Test(arguments: ["tiny-llama", "tiny-opt"])
    func packedBundleRunsDenselyLikeTheSource(_ name: String) throws {
        let source = try SafetensorsPlugin().read(Self.fixtures.appendingPathComponent("\(name)/hf"))
        let (packed, tokens) = try SparseExecutionTests.packed(name)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sieve-bundle-exec-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("\(name).sieve")
        _ = try BundleWriter.write(packed, to: file)
        let reread = try BundlePlugin().read(file)
        if case .dense = reread.blocks[0].feedForward.layout { Issue.record("the bundle lost its blocked layout") }

        let expected = try logits(source, tokens)
        let actual = try logits(reread, tokens)
        var worst: Float = 0
        for (e, a) in zip(expected, actual) {
            for (x, y) in zip(e, a) { worst = max(worst, abs(x - y)) }
        }
        #expect(worst <= Self.packedLogitTolerance, "max |Δlogit| \(worst)")
    }
}
