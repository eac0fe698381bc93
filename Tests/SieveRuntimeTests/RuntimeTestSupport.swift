import Foundation
import GGUFFormat
import SafetensorsFormat
import SieveCore
import SieveRuntime
import SieveTokenizers
import Testing

/// Named tolerances of the runtime against the official references (see the fixtures' README, "Tolerances
/// observed").
enum Tolerance {
    /// float32 weights and compute against transformers' float32 logits (llama.cpp f32 gets 6e-6…2e-5).
    static let float32Logits: Float = 1e-4
    /// The same for `hidden_last`, `ffn_act` and `attn_head_norm`.
    static let float32Activations: Float = 1e-4
    /// Quantized and half-precision GGUFs against llama.cpp's own logits for the same file
    /// (`ref-llama-cpp.safetensors`), on logits of rms ≈ 2. Both multiply the same stored weights; they differ in
    /// how activations are rounded. Measured max |Δlogit| (tiny-llama): prefill path (float activations ×
    /// dequantized weights) f16 0.0034, bf16 0.027, q8_0 0.12, q6_k 0.18, q5_0 0.16, q4_1 0.12, q4_k_m 0.18,
    /// q4_0 0.13; decode path (8-bit activations like llama.cpp) q4_k_m and q6_k 3e-6 except one rounding tie
    /// (0.08), q8_0/q4_0/q4_1/q5_0 0.12–0.16. llama.cpp itself is 0.15–1.9 away from transformers for these
    /// files, so 0.2 sits above every measured case with margin yet well below the weight rounding error that a
    /// wrong block decoding would expose.
    static let quantizedVersusLlamaCpp: Float = 0.2
    /// Relative perplexity agreement with transformers float32 (4–5 significant digits).
    static let perplexityRelative = 2e-5
}

/// The model fixtures: the repository's `Tests/Fixtures/models` (found through `#filePath`) first, including the
/// float GGUFs (`f32`/`f16`/`bf16`) that `scripts/rebuild-gguf-fixtures.py` rebuilds there (run by `make models`),
/// then the shared fixture set beside it (`../shared/fixtures/models` or `$SIEVE_SHARED_FIXTURES/models`) when
/// present.
enum Fixtures {
    static let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    /// This target's own fixtures (the GPL-3 text).
    static let own = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

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

    static func has(_ relative: String) -> Bool { find(relative) != nil }

    static func url(_ relative: String) throws -> URL {
        try #require(find(relative), "missing fixture \(relative)")
    }

    /// The real default model, fetched by `make models` into `$SIEVE_MODELS` (default `~/.cache/sieve/models`).
    static var smollm2: URL? {
        let models = ProcessInfo.processInfo.environment["SIEVE_MODELS"]
            ?? FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/sieve/models").path
        let url = URL(fileURLWithPath: models).appendingPathComponent("smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
        return FileManager.default.fileExists(atPath: url.path) ? url : nil
    }

    /// A model from a fixture path: a folder is read by the safetensors plugin, a `.gguf` by the GGUF plugin.
    static func graph(_ relative: String) throws -> ModelGraph {
        let url = try url(relative)
        if url.pathExtension == "gguf" { return try GGUFPlugin().read(url) }
        return try SafetensorsPlugin().read(url)
    }

    static func model(_ relative: String, options: RuntimeOptions = RuntimeOptions()) throws -> Model {
        try Model(graph: try graph(relative), options: options)
    }

    static func json(_ relative: String) throws -> JSONValue {
        try JSONValue.parse(contentsOf: try url(relative))
    }

    /// A new empty folder under the temporary directory, named after `name`; the caller removes it.
    static func scratchFolder(_ name: String) throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("sieve-\(name)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// A Hugging Face folder in `scratch` holding fixture folder `weights`' files (linked) with fixture file `config`
    /// as its config.json.
    static func folder(_ weights: String, config: String, in scratch: URL) throws -> URL {
        try folder(weights, config: try Data(contentsOf: try url(config)), named: (config as NSString).lastPathComponent, in: scratch)
    }

    /// The same with `edit` applied to the members of `weights`' own config.json (a key set to `NSNull()` is
    /// written as null; `remove` lists keys to leave out).
    static func folder(_ weights: String, editing edit: [String: Any], removing remove: [String] = [], in scratch: URL) throws -> URL {
        var config = try #require(try JSONSerialization.jsonObject(with: try Data(contentsOf: try url(weights + "/config.json"))) as? [String: Any])
        for (key, value) in edit { config[key] = value }
        for key in remove { config[key] = nil }
        return try folder(weights, config: try JSONSerialization.data(withJSONObject: config), named: "edited-\(UUID().uuidString)", in: scratch)
    }

    private static func folder(_ weights: String, config: Data, named name: String, in scratch: URL) throws -> URL {
        let fm = FileManager.default
        let source = try url(weights)
        let folder = scratch.appendingPathComponent("hf-" + name)
        try fm.createDirectory(at: folder, withIntermediateDirectories: true)
        for name in try fm.contentsOfDirectory(atPath: source.path) where name != "config.json" && !name.hasPrefix("config-") {
            try fm.createSymbolicLink(at: folder.appendingPathComponent(name), withDestinationURL: source.appendingPathComponent(name))
        }
        try config.write(to: folder.appendingPathComponent("config.json"))
        return folder
    }

    /// Writes fixture `model`'s `hf/` (or `folder`) as GGUF into `scratch` and expects what llama.cpp's converter
    /// wrote (`model/f32.gguf`, or `gguf`): the architecture, the same tensor names (with `bitExact`, every tensor bit
    /// for bit), and the same `integerKeys` and `numberKeys`. Returns both files.
    static func expectConverterGGUF(_ model: String, folder: String = "hf", gguf: String = "f32.gguf", architecture: String, bitExact: Bool,
                                    integerKeys: [String], numberKeys: [String] = [], in scratch: URL) throws -> (written: GGUFFile, reference: GGUFFile) {
        let url = scratch.appendingPathComponent("out-\(gguf)")
        try GGUFPlugin().write(try graph(model + "/" + folder), to: url, options: WriteOptions())
        let written = try GGUFFile(url: url)
        let reference = try GGUFFile(url: try self.url(model + "/" + gguf))
        #expect(written["general.architecture"]?.stringValue == architecture)
        #expect(Set(written.tensorInfos.map(\.name)) == Set(reference.tensorInfos.map(\.name)))
        if bitExact {
            for info in reference.tensorInfos {
                let mine = try written.tensor(try #require(written.tensorInfo(info.name)))
                #expect(Array(mine.bytes) == Array(try reference.tensor(info).bytes), "\(info.name)")
            }
        }
        for key in integerKeys { #expect(written[key]?.intValue == reference[key]?.intValue, "\(key)") }
        for key in numberKeys { #expect(written[key]?.doubleValue == reference[key]?.doubleValue, "\(key)") }
        return (written, reference)
    }

    /// Expects `graph`'s outputs on fixture `model`'s reference ids within float32 tolerance of its float64 pass
    /// (`ref.safetensors`) and within `llamaCpp` of libllama's (`ref-llama-cpp.safetensors`); `variant` prefixes the
    /// reference tensors' names (e.g. "softcap."; the base model's hidden states serve a variant without its own).
    static func expectReferenceOutputs(_ graph: ModelGraph, _ what: String, model: String, variant: String = "", llamaCpp: Float,
                                       options: RuntimeOptions = RuntimeOptions()) throws {
        let llama = try references(model + "/ref-llama-cpp.safetensors")
        let float64 = try references(model + "/ref.safetensors")
        let out = try Model(graph: graph, options: options).allOutputs(try inputIDs(llama))
        let dExact = maxAbsDifference(out.logits, try floats(float64, variant + "logits"))
        let dLlama = maxAbsDifference(out.logits, try floats(llama, variant + "logits.f32"))
        let dHidden = maxAbsDifference(out.hidden, try floats(float64, float64.contains(variant + "hidden_last") ? variant + "hidden_last" : "hidden_last"))
        print("\(what): max |Δlogit| \(dExact) against float64, \(dLlama) against llama.cpp; max |Δhidden_last| \(dHidden)")
        #expect(dExact <= Tolerance.float32Logits, "\(what) against the float64 pass")
        #expect(dHidden <= Tolerance.float32Activations, "\(what) hidden against the float64 pass")
        #expect(dLlama <= llamaCpp, "\(what) against llama.cpp")
    }

    /// Decodes the reference ids of `references` one token at a time through `model`'s KV cache and expects the
    /// batch's logits (`logits`) within float32 tolerance.
    static func expectDecodeEqualsBatch(model: String, references: String, logits: String = "logits") throws {
        let refs = try self.references(references)
        let model = try self.model(model)
        var decoded: [Float] = []
        for id in try inputIDs(refs) { try model.decode(id) { decoded.append(contentsOf: $0) } }
        #expect(maxAbsDifference(decoded, try floats(refs, logits)) <= Tolerance.float32Logits)
    }

    /// The tensors of a reference file.
    static func references(_ relative: String) throws -> TensorStore {
        try SafetensorsPlugin().readTensors(try url(relative)).tensors
    }

    /// Floats of reference tensor `name`.
    static func floats(_ store: TensorStore, _ name: String) throws -> [Float] {
        try #require(store[name], "reference tensor \(name) missing").floats()
    }

    /// The reference token ids.
    static func inputIDs(_ store: TensorStore) throws -> [Int] {
        try floats(store, "input_ids").map { Int($0) }
    }

    /// `dev.txt` of the shared data set (beside the repository, or `$SIEVE_SHARED_FIXTURES/../data`) without its
    /// final newline, as the references tokenized it; nil when absent.
    static var devText: String? {
        var candidates = [repoRoot.deletingLastPathComponent().appendingPathComponent("shared/data/dev.txt")]
        if let env = ProcessInfo.processInfo.environment["SIEVE_SHARED_FIXTURES"] {
            candidates.insert(URL(fileURLWithPath: env).deletingLastPathComponent().appendingPathComponent("data/dev.txt"), at: 0)
        }
        guard let url = candidates.first(where: { FileManager.default.fileExists(atPath: $0.path) }),
              var text = try? String(contentsOf: url, encoding: .utf8) else { return nil }
        if text.hasSuffix("\n") { text.removeLast() }
        return text
    }

    /// Whether to run the model-scale tests (whole-text perplexities, the real SmolLM2 model): in release
    /// builds, where the SIMD kernels are optimized, or when `SIEVE_MODEL_TESTS=1`. Debug builds run the kernels
    /// about a hundred times slower.
    static var modelScaleTests: Bool {
        if ProcessInfo.processInfo.environment["SIEVE_MODEL_TESTS"] == "1" { return true }
        #if DEBUG
        return false
        #else
        return true
        #endif
    }

    /// GPL-3 as shipped in Debian's common-licenses, the perplexity text of the tiny models.
    static func gpl3() throws -> String {
        try String(contentsOf: own.appendingPathComponent("GPL-3"), encoding: .utf8)
    }
}

/// Largest absolute difference between two equally long arrays.
func maxAbsDifference(_ a: [Float], _ b: [Float]) -> Float {
    precondition(a.count == b.count, "comparing \(a.count) values with \(b.count)")
    var m: Float = 0
    for i in a.indices { m = max(m, abs(a[i] - b[i])) }
    return m
}

extension Model {
    /// Logits (and final hidden states) of every position of `tokens`, evaluated from an empty cache.
    func allOutputs(_ tokens: [Int]) throws -> (logits: [Float], hidden: [Float]) {
        reset()
        var logits: [Float] = []
        var hidden: [Float] = []
        try evaluate(tokens, outputs: .all) { _, output in
            logits.append(contentsOf: output.logits)
            hidden.append(contentsOf: output.hidden)
        }
        return (logits, hidden)
    }
}
