import Foundation
import Testing
@testable import GGUFFormat
@testable import SieveCore

/// Writing GGUF: round trips against llama.cpp's own files, quantized output against llama-quantize's bytes,
/// files read back by gguf-py and by Sieve, and the errors for what GGUF cannot hold.
@Suite struct GGUFWriterTests {
    static let expected = GGUFFixtureTests.expected

    /// Writes `graph` to a temporary file and returns it (with the folder to remove).
    static func written(_ graph: ModelGraph, dtype: DType?, name: String = "out.gguf") throws -> (URL, URL) {
        let dir = try Models.temporaryDirectory()
        let url = dir.appendingPathComponent(name)
        try GGUFPlugin().write(graph, to: url, options: WriteOptions(dtype: dtype))
        return (url, dir)
    }

    /// Whether a key describes the model (architecture, tokenizer, name, file type) rather than the file.
    static func isModelKey(_ key: String, arch: String) -> Bool {
        key.hasPrefix(arch + ".") || key.hasPrefix("tokenizer.") || ["general.architecture", "general.file_type", "general.name"].contains(key)
    }

    /// The model keys of a gguf-py description, as (key → entry). `tokenizer.ggml.add_sep_token` is left out:
    /// the IR's tokenizer description has no such flag (llama.cpp writes it as false for SentencePiece models).
    static func modelKeys(_ description: JSONValue) -> [String: JSONValue] {
        let arch = description["metadata"]?["general.architecture"]?["value"]?.stringValue ?? "?"
        var out: [String: JSONValue] = [:]
        for (k, v) in description["metadata"]?.objectMembers ?? [] where isModelKey(k, arch: arch) && k != "tokenizer.ggml.add_sep_token" {
            out[k] = v
        }
        return out
    }

    /// Tensors of a gguf-py description by name, without offsets (the writer's order and offsets are its own).
    static func tensorsByName(_ description: JSONValue) -> [String: JSONValue] {
        var out: [String: JSONValue] = [:]
        for t in description["tensors"]?.arrayItems ?? [] {
            guard let name = t["name"]?.stringValue else { continue }
            out[name] = .object([("type", t["type"] ?? .null), ("ne", t["ne"] ?? .null), ("bits_checksum", t["bits_checksum"] ?? .null)])
        }
        return out
    }

    /// GGUF → IR → GGUF with `keep` reproduces llama.cpp's file: same tensor names, types, shapes and values
    /// (so the Llama RoPE permutation is redone exactly), the same architecture and tokenizer metadata. Checked
    /// by Sieve and, when it is installed, by gguf-py.
    @Test(arguments: GGUFFixtureTests.fileNames)
    func roundTripKeepsEverything(_ name: String) throws {
        guard let source = Models.find(name) else { return }
        let original = try #require(Self.expected["files"]?[name])
        let (url, dir) = try Self.written(try GGUFPlugin().read(source), dtype: nil)
        defer { try? FileManager.default.removeItem(at: dir) }

        let file = try GGUFFile(url: url)
        #expect(file.version == 3 && file.alignment == 32 && file.dataOffset % 32 == 0)
        #expect(file["general.alignment"] == .uint32(32))
        for info in file.tensorInfos { #expect(info.offset % 32 == 0) }
        // Sieve's reading of the new file against gguf-py's reading of llama.cpp's file (by name).
        let reordered = JSONValue.object([
            ("tensors", .array(file.tensorInfos.compactMap { info in
                original["tensors"]?.arrayItems?.first { $0["name"]?.stringValue == info.name }
            })),
        ])
        #expect(file.tensorInfos.count == original["tensors"]?.arrayItems?.count)
        #expect(try GGUFPyComparison.valueDifferences(file, reordered) == [])
        for info in file.tensorInfos {
            let e = original["tensors"]?.arrayItems?.first { $0["name"]?.stringValue == info.name }
            #expect(info.type.name == e?["type"]?.stringValue && info.dimensions == e?["ne"]?.arrayItems?.compactMap(\.intValue), "\(info.name)")
        }
        let keys = Self.modelKeys(original)
        let arch = file["general.architecture"]?.stringValue ?? "?"
        let ours = file.metadata.map(\.key).filter { Self.isModelKey($0, arch: arch) }
        #expect(Set(ours).symmetricDifference(keys.keys) == [])
        let subset = JSONValue.object([("metadata", .object(ours.compactMap { k in keys[k].map { (k, $0) } }))])
        #expect(GGUFPyComparison.metadataDifferences(file, subset).filter { !$0.hasPrefix("key order") } == [])

        if GGUFPy.available {
            let py = try #require(try GGUFPy.describe([url])[url.path])
            #expect(Self.tensorsByName(py) == Self.tensorsByName(original))
            #expect(Self.modelKeys(py) == keys)
        }
    }

    /// The graph to quantize from: llama.cpp's f32 conversion when present (rebuilt by `make models`), else the
    /// q8_0 file (dequantized on the way).
    static func sourceGraph() throws -> (ModelGraph, exact: Bool) {
        if let f32 = Models.find("tiny-llama/f32.gguf") { return (try GGUFPlugin().read(f32), true) }
        return (try GGUFPlugin().read(try #require(Models.find("tiny-llama/q8_0.gguf"))), false)
    }

    /// Writing at a quantized or float type: 2-D weights get the type, 1-D tensors stay f32; gguf-py reads the
    /// file and decodes the same values Sieve does; values stay within the type's error of the source.
    @Test(arguments: [(DType.q8_0, Float(0.01)), (.q4_0, 0.15), (.q4_1, 0.12), (.q5_0, 0.08), (.q4_K, 0.1), (.q6_K, 0.03), (.f16, 0.001), (.bf16, 0.005)])
    func writesTargetTypes(_ dtype: DType, _ relativeRMS: Float) throws {
        let (graph, _) = try Self.sourceGraph()
        let (url, dir) = try Self.written(graph, dtype: dtype)
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = try GGUFFile(url: url)
        let target = try #require(GGMLType(dtype))
        for info in file.tensorInfos {
            #expect(info.type == (info.dimensions.count == 2 ? target : .f32), "\(info.name) is \(info.type.name)")
        }
        let back = try GGUFPlugin().read(url)
        for name in graph.tensors.names {
            let a = try graph.tensor(name).floats(), b = try back.tensor(name).floats()
            let se = zip(a, b).reduce(Float(0)) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }
            let ss = a.reduce(Float(0)) { $0 + $1 * $1 }
            #expect((se / ss).squareRoot() <= relativeRMS, "\(name): relative rms error \((se / ss).squareRoot())")
        }
        #expect(try GGUFModelReader.read(file).hyperparameters == graph.hyperparameters)
        if GGUFPy.available {
            let py = try #require(try GGUFPy.describe([url])[url.path])
            #expect(GGUFPyComparison.structureDifferences(file, py) == [])
            #expect(GGUFPyComparison.metadataDifferences(file, py) == [])
            #expect(try GGUFPyComparison.valueDifferences(file, py) == [])
        }
    }

    /// Sieve's reference quantizers give llama.cpp's bytes: q8_0 as `convert_hf_to_gguf.py --outtype q8_0`,
    /// q4_0 / q4_1 / q5_0 / q5_1 / q2_K … q6_K / iq4_xs / iq4_nl as `llama-quantize` (no importance matrix), tensor
    /// by tensor (`iq4_xs.gguf` holds both iq4 types).
    @Test(arguments: [(DType.q8_0, "q8_0.gguf"), (.q4_0, "q4_0.gguf"), (.q4_1, "q4_1.gguf"), (.q5_0, "q5_0.gguf"), (.q5_1, "q5_1.gguf"),
                      (.q2_K, "q2_k.gguf"), (.q3_K, "q3_k_m.gguf"), (.q4_K, "q4_k_m.gguf"), (.q5_K, "q5_k_m.gguf"), (.q6_K, "q6_k.gguf"),
                      (.iq4_xs, "iq4_xs.gguf"), (.iq4_nl, "iq4_xs.gguf")])
    func quantizedBytesMatchLlamaCpp(_ dtype: DType, _ reference: String) throws {
        guard let f32 = Models.find("tiny-llama/f32.gguf") else { return }
        let ref = try GGUFFile(url: try #require(Models.find("tiny-llama/" + reference)))
        let (url, dir) = try Self.written(try GGUFPlugin().read(f32), dtype: dtype)
        defer { try? FileManager.default.removeItem(at: dir) }
        let ours = try GGUFFile(url: url)
        var compared = 0
        for info in ref.tensorInfos where info.type.dtype == dtype {
            let mine = try #require(ours.tensorInfo(info.name))
            let a = Array(ours.bytes(of: mine)), b = Array(ref.bytes(of: info))
            let differing = zip(a, b).filter { $0 != $1 }.count
            #expect(differing == 0, "\(info.name): \(differing) of \(b.count) bytes differ from llama.cpp's \(reference)")
            compared += 1
        }
        #expect(compared >= 3)
    }

    @Test("a tokenizer.json's exact o200k pre-tokenizer is written as llama.cpp's gpt-4o, the others as they are")
    func o200kIsWrittenAsGPT4o() throws {
        for (name, written) in [("o200k", "gpt-4o"), ("gpt-4o", "gpt-4o"), ("llama-bpe", "llama-bpe")] {
            let tokenizer = TokenizerDescription(kind: .bytePairEncoding, tokens: ["a", "b", "ab"], merges: ["a b"], preTokenizer: name)
            let entries = GGUFTokenizerMetadata.entries(tokenizer)
            #expect(entries.first { $0.0 == "tokenizer.ggml.pre" }?.1 == .string(written), "\(name)")
        }
    }

    @Test func progressIsReportedPerTensor() throws {
        let graph = try GGUFPlugin().read(try #require(Models.find("tiny-llama-bpe/q8_0.gguf")))
        let dir = try Models.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        final class Counter: @unchecked Sendable { var calls: [(Int, Int, String)] = [] }
        let counter = Counter()
        try GGUFPlugin().write(graph, to: dir.appendingPathComponent("p.gguf"),
                               options: WriteOptions(dtype: nil, progress: { counter.calls.append(($0, $1, $2)) }))
        #expect(counter.calls.count == 20)
        #expect(counter.calls.last?.0 == 20 && counter.calls.last?.1 == 20)
        #expect(counter.calls.first?.2 == "token_embd.weight")
    }

    @Test func refusesWhatGGUFCannotHold() throws {
        let graph = try GGUFPlugin().read(try #require(Models.find("tiny-llama/q4_0.gguf")))
        let dir = try Models.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("x.gguf")
        func expectCannotWrite(_ g: ModelGraph, _ dtype: DType? = nil, _ fragment: String) {
            do {
                try GGUFPlugin().write(g, to: url, options: WriteOptions(dtype: dtype))
                Issue.record("expected an error mentioning \(fragment)")
            } catch let error as GGUFError {
                guard case .cannotWrite = error else { Issue.record("unexpected \(error)"); return }
                #expect(error.localizedDescription.contains(fragment), "\(error.localizedDescription)")
            } catch { Issue.record("unexpected \(error)") }
            #expect(!FileManager.default.fileExists(atPath: url.path))
            #expect(try! FileManager.default.contentsOfDirectory(atPath: dir.path).isEmpty, "temporary file left behind")
        }
        var opt = graph
        opt.architecture = .opt
        expectCannotWrite(opt, nil, "architecture 'opt'")
        var bert = graph
        bert.architecture = .bert
        expectCannotWrite(bert, nil, "architecture 'bert'")
        expectCannotWrite(graph, .q8_K, "q8_K")
        var blocked = graph
        blocked.blocks[1].feedForward.layout = .blocked(blockSize: 16, permutation: "blocks.1.ffn.permutation")
        expectCannotWrite(blocked, nil, "blocked")
        var extra = graph
        extra.tensors.insert(Tensor(name: "predictors.0.w1", shape: [4, 4], floats: Array(repeating: 0, count: 16)))
        expectCannotWrite(extra, nil, "predictors.0.w1")
        var gelu = graph
        gelu.hyperparameters.activation = .gelu
        expectCannotWrite(gelu, nil, "silu")

        try GGUFPlugin().write(graph, to: url, options: WriteOptions())
        #expect(throws: SieveCoreError.outputExists(path: url.path)) {
            try GGUFPlugin().write(graph, to: url, options: WriteOptions())
        }
        try GGUFPlugin().write(graph, to: url, options: WriteOptions(overwrite: true))
    }

    /// A row length that is not a whole number of blocks falls back to f16, as llama.cpp's converter does;
    /// 1-D tensors stay f32.
    @Test func fallsBackToF16ForPartialBlocks() throws {
        var graph = try GGUFPlugin().read(try #require(Models.find("tiny-llama/q8_0.gguf")))
        graph.tensors.insert(Tensor(name: "blocks.0.ffn.down.weight", shape: [256, 96], floats: Array(repeating: 0.5, count: 256 * 96)))
        let k = try GGUFWriter.plan(graph, target: .q4_K, path: "t")
        #expect(k.first { $0.name == "blk.0.ffn_down.weight" }?.dtype == .f16)
        #expect(k.first { $0.name == "blk.1.ffn_down.weight" }?.dtype == .q4_K)
        #expect(k.first { $0.name == "blk.0.attn_norm.weight" }?.dtype == .f32)
        let q8 = try GGUFWriter.plan(graph, target: .q8_0, path: "t")
        #expect(q8.first { $0.name == "blk.0.ffn_down.weight" }?.dtype == .q8_0)
    }
}
