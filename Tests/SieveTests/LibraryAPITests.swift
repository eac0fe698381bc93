import Foundation
import Sieve
import Testing

/// The `Sieve` library API on the tiny Llama fixture, checked against the references in its `ref.json`.
@Suite struct LibraryAPITests {
    /// `ref.json` of tiny-llama.
    static func reference() throws -> [String: Any] {
        try parseJSONObject(String(contentsOf: Repository.tinyLlama.appendingPathComponent("ref.json"), encoding: .utf8))
    }

    @Test("LanguageModel.load + generate reproduces transformers' greedy continuation of the f32 model")
    func greedyContinuation() async throws {
        let ref = try Self.reference()
        let continuation = try #require(ref["greedy_continuation"] as? [String: Any])
        let expected = try #require(continuation["ids"] as? [Int])
        let prompt = try #require(ref["text"] as? String)

        let model = try await LanguageModel.load(contentsOf: Repository.tinyLlama.appendingPathComponent("hf"),
                                                 options: .init(threads: 2))
        #expect(model.architecture == "llama")
        #expect(model.contextLength == 256)
        let parameters = GenerationParameters(maxTokens: expected.count, sampling: .greedy, stopAtEndOfGeneration: false)
        var tokens: [Int] = []
        var text = ""
        var result: GenerationResult?
        for try await piece in model.generate(prompt, parameters) {
            if let token = piece.token { tokens.append(token) }
            text += piece.text
            if let r = piece.result { result = r }
        }
        #expect(tokens == expected)
        let final = try #require(result)
        #expect(final.tokens == expected)
        #expect(final.text == text)
        #expect(final.promptTokens == ref["input_ids"] as? [Int])
        #expect(final.stopReason == .maxTokens)

        // complete(_:_:) gives the same tokens (the cached prompt prefix is reused).
        let again = try await model.complete(.text(prompt), parameters)
        #expect(again.tokens == expected)
        #expect(again.evaluatedPromptTokens == 1)
    }

    @Test("perplexity(_:) on GPL-3 at ctx 128 equals llama-perplexity's value for q8_0.gguf within 0.5%")
    func perplexity() async throws {
        let ref = try Self.reference()
        let table = try #require((ref["perplexity"] as? [String: Any])?["llama_cpp"] as? [String: Any])
        let expected = try #require((table["q8_0.gguf"] as? [String: Any])?["ppl"] as? Double)
        let gpl = Repository.root.appendingPathComponent("Tests/SieveRuntimeTests/Fixtures/GPL-3")
        let text = try String(contentsOf: gpl, encoding: .utf8)

        let model = try await LanguageModel.load(contentsOf: Repository.tinyLlama.appendingPathComponent("q8_0.gguf"),
                                                 options: .init(threads: 2))
        let result = try await model.perplexity(text, chunkLength: 128)
        #expect(result.chunks == 138)
        #expect(result.contextLength == 128)
        #expect(abs(result.value - expected) / expected < 0.005, "ppl \(result.value), llama.cpp \(expected)")
    }

    @Test("load reports a missing file, an encoder and a bad option with typed, localized errors")
    func loadErrors() async throws {
        let missing = URL(fileURLWithPath: "/nonexistent/model.gguf")
        await #expect(throws: SieveError.fileNotFound(path: missing.path)) {
            _ = try await LanguageModel.load(contentsOf: missing)
        }
        #expect(SieveError.fileNotFound(path: missing.path).errorDescription?.contains("/nonexistent/model.gguf") == true)

        // An encoder (all-MiniLM-L6-v2, fetched by `make models`) cannot generate.
        let models = ProcessInfo.processInfo.environment["SIEVE_MODELS"] ?? (NSHomeDirectory() + "/.cache/sieve/models")
        let encoder = URL(fileURLWithPath: models).appendingPathComponent("all-MiniLM-L6-v2")
        if FileManager.default.fileExists(atPath: encoder.path) {
            await #expect(throws: SieveError.notALanguageModel(path: encoder.path, architecture: "bert")) {
                _ = try await LanguageModel.load(contentsOf: encoder)
            }
        }

        // An out-of-range option is the runtime's typed error.
        do {
            _ = try await LanguageModel.load(contentsOf: Repository.tinyLlama.appendingPathComponent("q8_0.gguf"),
                                             options: .init(threads: 0))
            Issue.record("threads 0 was accepted")
        } catch let error as SieveRuntimeError {
            #expect(error.errorDescription?.contains("thread count") == true)
        }
    }

    @Test("Converter.convert(_:to:) writes safetensors that InspectionReport(contentsOf:) reads back")
    func convertAndInspect() async throws {
        let dir = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let source = Repository.tinyLlama.appendingPathComponent("q8_0.gguf")
        let output = dir.appendingPathComponent("tiny.safetensors")
        let counter = ProgressCounter()
        let graph = try await Converter.convert(source, to: output, dtype: .f16) { done, total, _ in counter.record(done, total) }
        let report = try InspectionReport(contentsOf: output)
        #expect(report.format == "safetensors")
        #expect(report.file.tensors.all.count == graph.tensors.count)
        #expect(report.file.tensors.all.allSatisfy { $0.dtype == .f16 || $0.shape.dims.count == 1 })
        let last = try #require(counter.last)
        #expect(last == (graph.tensors.count, graph.tensors.count))

        await #expect(throws: SieveCoreError.outputExists(path: output.path)) {
            try await Converter.convert(source, to: output)
        }
    }

    @Test("Packer.pack(contentsOf:to:) writes a bundle with provenance that loads and generates")
    func packAndRun() async throws {
        let dir = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let source = Repository.tinyLlama.appendingPathComponent("q8_0.gguf")
        let destination = dir.appendingPathComponent("tiny.sieve")
        var options = PackOptions()
        options.calibrationTokens = 512
        options.calibrationContext = 64
        options.rank = 16
        options.predictor = .svd
        options.threads = 2
        let stages = StageRecorder()
        let packed = try await Packer.pack(contentsOf: source, to: destination, options: options) { stages.record($0) }
        #expect(packed.url == destination)
        #expect(packed.fileSize == (try FileManager.default.attributesOfItem(atPath: destination.path)[.size] as? Int))
        #expect(packed.report.calibrationTokens == 512)
        #expect(stages.seen.contains(.calibrate) && stages.seen.contains(.predictors))

        let bundle = try BundleFile.open(destination)
        #expect(bundle.manifest.provenance.source?.name == "q8_0.gguf")
        #expect(bundle.manifest.provenance.source?.sha256 == (try SHA256.hex(contentsOf: source)))

        let model = try await LanguageModel.load(contentsOf: destination, options: .init(threads: 2))
        let result = try await model.complete(.text("Once upon a time"),
                                              GenerationParameters(maxTokens: 8, sampling: .greedy, stopAtEndOfGeneration: false))
        #expect(result.tokens.count == 8)
        #expect(result.tokens.allSatisfy { (0..<512).contains($0) })

        await #expect(throws: SieveCoreError.outputExists(path: destination.path)) {
            _ = try await Packer.pack(contentsOf: source, to: destination, options: options)
        }
    }
}

/// Records the last progress call (from any thread).
final class ProgressCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var value: (Int, Int)?
    func record(_ done: Int, _ total: Int) { lock.lock(); value = (done, total); lock.unlock() }
    var last: (Int, Int)? { lock.lock(); defer { lock.unlock() }; return value }
}

/// Records the pack stages reported (from the packing thread).
final class StageRecorder: @unchecked Sendable {
    private let lock = NSLock()
    private var stages: Set<PackStage> = []
    func record(_ progress: PackProgress) { lock.lock(); stages.insert(progress.stage); lock.unlock() }
    var seen: Set<PackStage> { lock.lock(); defer { lock.unlock() }; return stages }
}
