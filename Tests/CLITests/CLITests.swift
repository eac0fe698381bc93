import Foundation
import SieveTestSupport
import Testing

/// Runs the built `sieve` executable and captures its output.
struct SieveCLI {
    /// The repository's `Tests/Fixtures` folder.
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures")
    static let scripts = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")
    static let modelCache = URL(fileURLWithPath: ProcessInfo.processInfo.environment["SIEVE_MODELS"]
        ?? (NSHomeDirectory() + "/.cache/sieve/models"))

    /// The `sieve` binary built next to the test bundle.
    static var binary: URL {
        let candidates = [
            URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("sieve"),
            Bundle.main.bundleURL.appendingPathComponent("sieve"),
            Bundle.main.bundleURL.deletingLastPathComponent().appendingPathComponent("sieve"),
        ]
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0.path) } ?? candidates[0]
    }

    typealias Result = ChildProcess.Result

    static func run(_ arguments: [String], executable: URL? = nil) throws -> Result {
        try ChildProcess.run(executable ?? binary, arguments)
    }

    static func python(_ arguments: [String]) throws -> Result {
        try ChildProcess.run(URL(fileURLWithPath: "/usr/bin/env"), arguments)
    }

    static func temporaryDirectory() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sieve-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }
}

/// Parses JSON printed by the CLI with Foundation (the test's own, independent reader).
func parseJSON(_ text: String) throws -> [String: Any] {
    guard let object = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else {
        throw CocoaError(.coderReadCorrupt)
    }
    return object
}

/// Expected facts per fixture, from each fixture's `ref.json` (written by the fixture generator).
struct FixtureFacts {
    let name: String
    let architecture: String
    let hidden: Int
    let layers: Int
    let heads: Int
    let kvHeads: Int
    let intermediate: Int
    let tensorCount: Int
    let parameters: Int
}

let tinyFixtures: [FixtureFacts] = [
    FixtureFacts(name: "tiny-llama", architecture: "llama", hidden: 256, layers: 2, heads: 4, kvHeads: 2, intermediate: 512, tensorCount: 21, parameters: 1_443_072),
    FixtureFacts(name: "tiny-llama-bpe", architecture: "llama", hidden: 256, layers: 2, heads: 4, kvHeads: 2, intermediate: 512, tensorCount: 20, parameters: 1_312_000),
    FixtureFacts(name: "tiny-qwen2", architecture: "qwen2", hidden: 256, layers: 2, heads: 4, kvHeads: 2, intermediate: 512, tensorCount: 27, parameters: 1_444_096),
    FixtureFacts(name: "tiny-gpt2", architecture: "gpt2", hidden: 256, layers: 2, heads: 4, kvHeads: 4, intermediate: 1024, tensorCount: 28, parameters: 1_776_640),
    FixtureFacts(name: "tiny-opt", architecture: "opt", hidden: 256, layers: 2, heads: 4, kvHeads: 4, intermediate: 1024, tensorCount: 36, parameters: 1_777_152),
    FixtureFacts(name: "tiny-llama-sharded", architecture: "llama", hidden: 256, layers: 2, heads: 4, kvHeads: 2, intermediate: 512, tensorCount: 21, parameters: 1_443_072),
]

@Suite struct InspectTests {
    @Test(arguments: tinyFixtures)
    func inspectJSONReportsArchitectureAndTensors(_ facts: FixtureFacts) throws {
        let folder = SieveCLI.fixtures.appendingPathComponent("models/\(facts.name)/hf")
        let result = try SieveCLI.run(["inspect", folder.path, "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let json = try parseJSON(result.stdout)
        #expect(json["format"] as? String == "safetensors")
        #expect(json["architecture"] as? String == facts.architecture)
        let hp = try #require(json["hyperparameters"] as? [String: Any])
        #expect(hp["hidden_size"] as? Int == facts.hidden)
        #expect(hp["layers"] as? Int == facts.layers)
        #expect(hp["heads"] as? Int == facts.heads)
        #expect(hp["kv_heads"] as? Int == facts.kvHeads)
        #expect(hp["intermediate_size"] as? Int == facts.intermediate)
        #expect(hp["vocab_size"] as? Int == 512)
        #expect(json["parameters"] as? Int == facts.parameters)
        let tensors = try #require(json["tensors"] as? [[String: Any]])
        #expect(tensors.count == facts.tensorCount)
        for t in tensors {
            #expect(t["name"] is String && t["dtype"] is String && t["shape"] is [Int] && t["bytes"] is Int)
        }
    }

    @Test func inspectTextListsTensors() throws {
        let folder = SieveCLI.fixtures.appendingPathComponent("models/tiny-llama/hf")
        let result = try SieveCLI.run(["inspect", folder.path, "--tensors"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("architecture:  llama"))
        #expect(result.stdout.contains("model.layers.1.mlp.down_proj.weight"))
    }

    @Test(.enabled(if: FileManager.default.fileExists(atPath: SieveCLI.modelCache.appendingPathComponent("all-MiniLM-L6-v2/model.safetensors").path),
                   "all-MiniLM-L6-v2 is not in the model cache: run `make models`"))
    func inspectMiniLM() throws {
        let folder = SieveCLI.modelCache.appendingPathComponent("all-MiniLM-L6-v2")
        let result = try SieveCLI.run(["inspect", folder.path, "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let json = try parseJSON(result.stdout)
        #expect(json["architecture"] as? String == "bert")
        let hp = try #require(json["hyperparameters"] as? [String: Any])
        #expect(hp["hidden_size"] as? Int == 384)
        #expect(hp["layers"] as? Int == 6)
        #expect(hp["heads"] as? Int == 12)
        #expect(hp["vocab_size"] as? Int == 30522)
        #expect(hp["intermediate_size"] as? Int == 1536)
        let tensors = try #require(json["tensors"] as? [[String: Any]])
        #expect(tensors.count == 104)
        #expect(json["parameters"] as? Int == 22_713_728)
    }

    @Test(.enabled(if: FileManager.default.fileExists(atPath: SieveCLI.modelCache.appendingPathComponent("smollm2/SmolLM2-135M-Instruct.Q4_1.gguf").path),
                   "SmolLM2 is not in the model cache: run `make models`"))
    func inspectSmolLM2() throws {
        let file = SieveCLI.modelCache.appendingPathComponent("smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
        let result = try SieveCLI.run(["inspect", file.path, "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let json = try parseJSON(result.stdout)
        #expect(json["architecture"] as? String == "llama")
        let hp = try #require(json["hyperparameters"] as? [String: Any])
        #expect(hp["layers"] as? Int == 30)
        #expect(hp["hidden_size"] as? Int == 576)
        #expect(hp["intermediate_size"] as? Int == 1536)
        #expect(hp["heads"] as? Int == 9)
        #expect(hp["kv_heads"] as? Int == 3)
        #expect(hp["vocab_size"] as? Int == 49152)
        #expect(hp["tied_embeddings"] as? Bool == true)
        #expect(json["parameters"] as? Int == 134_515_008)
        let dtypes = try #require(json["dtypes"] as? [String: [String: Int]])
        #expect(Set(dtypes.keys) == ["q4_1", "q8_0", "f32"])
        #expect((json["tensors"] as? [[String: Any]])?.count == 272)
    }

    @Test func inspectGGUFQuantized() throws {
        let file = SieveCLI.fixtures.appendingPathComponent("models/tiny-llama/q4_k_m.gguf")
        let result = try SieveCLI.run(["inspect", file.path, "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let json = try parseJSON(result.stdout)
        #expect(json["format"] as? String == "gguf")
        #expect(json["architecture"] as? String == "llama")
        let dtypes = try #require(json["dtypes"] as? [String: [String: Int]])
        #expect(dtypes["q4_K"]?["tensors"] == 13)
        #expect(dtypes["q6_K"]?["tensors"] == 3)
        #expect(dtypes["f32"]?["tensors"] == 5)
    }

    @Test func missingFileAndUnknownFormatAreClearErrors() throws {
        let missing = try SieveCLI.run(["inspect", "/nonexistent/model.safetensors"])
        #expect(missing.status != 0)
        #expect(missing.stderr.contains("/nonexistent/model.safetensors"))
        let dir = try SieveCLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let junk = dir.appendingPathComponent("notes.txt")
        try Data("hello".utf8).write(to: junk)
        let unknown = try SieveCLI.run(["inspect", junk.path])
        #expect(unknown.status != 0)
        #expect(unknown.stderr.contains("no format plugin recognises"))
    }
}

@Suite struct ConvertTests {
    static let pythonReady: Bool = {
        (try? SieveCLI.python(["python3", "-c", "import numpy, safetensors"]).status) == 0
    }()

    @Test(.enabled(if: ConvertTests.pythonReady, "python3 with numpy and safetensors is required (make test installs them)"),
          arguments: tinyFixtures.map(\.name), ["f32", "f16", "bf16"])
    func convertToSafetensorsLoadsInPython(_ model: String, _ dtype: String) throws {
        let source = SieveCLI.fixtures.appendingPathComponent("models/\(model)/hf")
        let dir = try SieveCLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("\(model)-\(dtype).safetensors")
        let convert = try SieveCLI.run(["convert", source.path, "-o", out.path, "--dtype", dtype])
        #expect(convert.status == 0, "\(convert.stderr)")
        let check = try SieveCLI.python(["python3", SieveCLI.scripts.appendingPathComponent("check_converted.py").path,
                                         source.path, out.path, dtype])
        #expect(check.status == 0, "\(check.stdout)\(check.stderr)")
        // And Sieve reads its own output back.
        let inspect = try SieveCLI.run(["inspect", out.path, "--json"])
        #expect(inspect.status == 0, "\(inspect.stderr)")
        let json = try parseJSON(inspect.stdout)
        let dtypes = try #require(json["dtypes"] as? [String: [String: Int]])
        #expect(dtypes.keys.contains(dtype))
    }

    @Test func convertRefusesToOverwriteWithoutForce() throws {
        let source = SieveCLI.fixtures.appendingPathComponent("models/tiny-llama/hf")
        let dir = try SieveCLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("x.safetensors")
        try Data("keep me".utf8).write(to: out)
        let second = try SieveCLI.run(["convert", source.path, "-o", out.path])
        #expect(second.status != 0)
        #expect(second.stderr.contains("--force"))
        #expect(try Data(contentsOf: out) == Data("keep me".utf8))
        let forced = try SieveCLI.run(["convert", source.path, "-o", out.path, "--force"])
        #expect(forced.status == 0, "\(forced.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["x.safetensors"])
    }

    @Test func convertRejectsUnknownDType() throws {
        let source = SieveCLI.fixtures.appendingPathComponent("models/tiny-llama/hf")
        let result = try SieveCLI.run(["convert", source.path, "-o", "/tmp/never.safetensors", "--dtype", "f8"])
        #expect(result.status != 0)
        #expect(result.stderr.contains("unknown --dtype"))
    }

    /// llama.cpp's grid-type files (iq2_xxs … iq1_m tensors) inspect, verify and convert (kept or dequantized);
    /// asking for a grid type as the output dtype is refused with what to use instead.
    @Test(arguments: ["iq2_xxs.gguf", "iq3_xxs.gguf"])
    func gridTypeGGUFs(_ name: String) throws {
        let file = SieveCLI.fixtures.appendingPathComponent("models/tiny-llama/" + name).path
        let inspect = try SieveCLI.run(["inspect", file, "--json"])
        #expect(inspect.status == 0, "\(inspect.stderr)")
        let dtypes = try #require(try parseJSON(inspect.stdout)["dtypes"] as? [String: [String: Int]])
        let expected: Set<String> = name == "iq2_xxs.gguf" ? ["iq2_xxs", "iq2_xs", "iq2_s", "iq1_s", "iq1_m", "q2_K", "q5_K", "f32"]
                                                           : ["iq3_xxs", "iq3_s", "iq2_s", "q5_K", "f32"]
        #expect(Set(dtypes.keys) == expected)
        let verify = try SieveCLI.run(["verify", file])
        #expect(verify.status == 0 && verify.stdout.contains("OK"), "\(verify.stdout)\(verify.stderr)")

        let dir = try SieveCLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        for (output, dtype) in [("keep.gguf", "keep"), ("f16.gguf", "f16"), ("q4.gguf", "q4_K"), ("f32.safetensors", "keep"), ("keep.sieve", "keep")] {
            let convert = try SieveCLI.run(["convert", file, "-o", dir.appendingPathComponent(output).path, "--dtype", dtype])
            #expect(convert.status == 0, "\(output): \(convert.stderr)")
        }
        let refused = try SieveCLI.run(["convert", file, "-o", dir.appendingPathComponent("x.gguf").path, "--dtype", "iq2_xxs"])
        #expect(refused.status != 0)
        #expect(refused.stderr.contains("cannot quantize to iq2_xxs") && refused.stderr.contains("iq4_xs"), "\(refused.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("x.gguf").path))
    }

    /// A GGUF converted to a Hugging Face folder carries its tokenizer: the folder encodes and generates as the
    /// GGUF does. A SentencePiece vocabulary gets no tokenizer.json, and the command says so.
    @Test func ggufToFolderWritesTheTokenizer() throws {
        let dir = try SieveCLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let gguf = dir.appendingPathComponent("qwen2.gguf").path, folder = dir.appendingPathComponent("qwen2-hf").path
        let source = SieveCLI.fixtures.appendingPathComponent("models/tiny-qwen2/hf").path
        #expect(try SieveCLI.run(["convert", source, "-o", gguf]).status == 0)
        let converted = try SieveCLI.run(["convert", gguf, "-o", folder, "--to", "safetensors"])
        #expect(converted.status == 0, "\(converted.stderr)")
        #expect(!converted.stderr.contains("no tokenizer.json"))
        #expect(FileManager.default.fileExists(atPath: folder + "/tokenizer.json") && FileManager.default.fileExists(atPath: folder + "/tokenizer_config.json"))
        let prompt = "The quick brown fox jumps over the lazy dog 12345"
        let fromGGUF = try SieveCLI.run(["run", gguf, "-p", prompt, "-n", "8", "--temp", "0", "--json"])
        let fromFolder = try SieveCLI.run(["run", folder, "-p", prompt, "-n", "8", "--temp", "0", "--json"])
        #expect(fromGGUF.status == 0 && fromFolder.status == 0, "\(fromGGUF.stderr) \(fromFolder.stderr)")
        let a = try parseJSON(fromGGUF.stdout), b = try parseJSON(fromFolder.stdout)
        #expect((a["prompt_tokens"] as? Int ?? 0) > 0 && a["prompt_tokens"] as? Int == b["prompt_tokens"] as? Int)
        #expect((a["tokens"] as? [Int]) == (b["tokens"] as? [Int]) && (a["text"] as? String) == (b["text"] as? String))

        let spm = dir.appendingPathComponent("llama.gguf").path
        #expect(try SieveCLI.run(["convert", SieveCLI.fixtures.appendingPathComponent("models/tiny-llama/hf").path, "-o", spm]).status == 0)
        let noTokenizer = try SieveCLI.run(["convert", spm, "-o", dir.appendingPathComponent("llama-hf").path, "--to", "safetensors"])
        #expect(noTokenizer.status == 0)
        #expect(noTokenizer.stderr.contains("note: no tokenizer.json written") && noTokenizer.stderr.contains("SentencePiece"), "\(noTokenizer.stderr)")
    }

    /// An output name whose extension names no format says how to choose one, and writes nothing.
    @Test(arguments: ["hf-out", "model.bin"])
    func convertToAnUnknownOutputFormatSaysHowToChoose(_ name: String) throws {
        let dir = try SieveCLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let source = SieveCLI.fixtures.appendingPathComponent("models/tiny-llama/hf")
        let result = try SieveCLI.run(["convert", source.path, "-o", dir.appendingPathComponent(name).path])
        #expect(result.status != 0)
        #expect(result.stderr.contains("cannot tell the output format from"), "\(result.stderr)")
        #expect(result.stderr.contains("pass --to (safetensors, gguf, sieve"), "\(result.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).isEmpty)
    }
}

@Suite struct RunTests {
    static let tinyLlama = SieveCLI.fixtures.appendingPathComponent("models/tiny-llama/hf").path

    @Test func greedyRunMatchesTransformersContinuation() throws {
        let result = try SieveCLI.run(["run", Self.tinyLlama, "-p", "The quick brown fox jumps over", "-n", "16", "--temp", "0", "--json", "-t", "2"])
        #expect(result.status == 0, "\(result.stderr)")
        let json = try parseJSON(result.stdout)
        // ref.json's greedy_continuation (transformers, float32).
        #expect(json["tokens"] as? [Int] == [250, 132, 92, 273, 168, 503, 191, 489, 283, 134, 376, 370, 258, 347, 498, 97])
        #expect((json["decode_tokens_per_s"] as? Double ?? 0) > 0)
    }

    /// A q4_1 GGUF runs greedily with its weights interleaved (the default where AVX-512 VNNI runs) and with
    /// `--no-interleave`: both runs succeed, and the first tokens agree (the decode products only sum in another order).
    @Test func noInterleaveKeepsTheRowLayoutAndTheTokens() throws {
        let model = SieveCLI.fixtures.appendingPathComponent("models/tiny-llama/q4_1.gguf").path
        var tokens: [[Int]] = []
        for extra in [[], ["--no-interleave"]] {
            let result = try SieveCLI.run(["run", model, "-p", "The quick brown fox jumps over", "-n", "4", "--temp", "0", "--json", "-t", "2"] + extra)
            #expect(result.status == 0, "\(result.stderr)")
            tokens.append(try parseJSON(result.stdout)["tokens"] as? [Int] ?? [])
        }
        #expect(tokens[0].count == 4 && tokens[0] == tokens[1], "\(tokens)")
    }

    /// With both streams in one pipe (a log file, `2>&1`), the generated text ends its line before the speed
    /// report: the newline goes through the same unbuffered handle as the text.
    @Test func textEndsItsLineBeforeTheSpeedReport() throws {
        let process = Process()
        process.executableURL = SieveCLI.binary
        process.arguments = ["run", Self.tinyLlama, "-p", "The quick brown fox jumps over", "-n", "8", "--temp", "0", "-t", "1"]
        let merged = Pipe()
        process.standardOutput = merged
        process.standardError = merged
        try process.run()
        let output = String(decoding: merged.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "\(output)")
        #expect(output.contains("\nprompt: "), "\(output)")
        #expect(output.hasSuffix("\n"), "\(output)")
    }

    @Test(arguments: [
        (["-n", "0"], "-n must be at least 1"),
        (["--temp=-1"], "--temp must be 0 (greedy) or positive"),
        (["--top-p", "1.5"], "--top-p must be in (0, 1]"),
        (["--top-p", "0"], "--top-p must be in (0, 1]"),
        (["-n", "250"], "exceeds the model's trained context of 256 positions"),
        (["--ctx", "64", "-n", "50"], "exceeds the context of 64; pass --ctx 74 or more (the model was trained for 256)"),
        (["--ctx", "100000"], "trained for at most"),
        (["--system", "Be brief."], "--system is the system message of --chat: add --chat"),
    ])
    func badRunOptionsAreClearErrors(_ extra: [String], _ message: String) throws {
        let result = try SieveCLI.run(["run", Self.tinyLlama, "-p", "The quick brown fox jumps over"] + extra)
        #expect(result.status != 0)
        #expect(result.stdout.isEmpty, "nothing may be printed as if it were output: \(result.stdout)")
        #expect(result.stderr.contains(message), "\(result.stderr)")
    }

    /// -f reads the prompt from a file: the same run as -p with its text; a missing file, a non-UTF-8 file and
    /// neither or both of -p/-f are clear errors.
    @Test func promptFromAFile() throws {
        let dir = try SieveCLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("prompt.txt")
        try "The quick brown fox jumps over".write(to: file, atomically: true, encoding: .utf8)
        let fromFile = try SieveCLI.run(["run", Self.tinyLlama, "-f", file.path, "-n", "6", "--temp", "0", "--json"])
        let inline = try SieveCLI.run(["run", Self.tinyLlama, "-p", "The quick brown fox jumps over", "-n", "6", "--temp", "0", "--json"])
        #expect(fromFile.status == 0, "\(fromFile.stderr)")
        #expect((try parseJSON(fromFile.stdout)["tokens"] as? [Int]) == (try parseJSON(inline.stdout)["tokens"] as? [Int]))
        let latin1 = dir.appendingPathComponent("latin1.txt")
        try Data([0x63, 0x61, 0x66, 0xE9]).write(to: latin1)
        // A sparse file past the limit: refused from its size, before anything is read.
        let huge = dir.appendingPathComponent("huge.txt")
        FileManager.default.createFile(atPath: huge.path, contents: nil)
        let handle = try FileHandle(forWritingTo: huge)
        try handle.truncate(atOffset: UInt64(1 << 30) + 1)
        try handle.close()
        for (arguments, message) in [(["-f", dir.appendingPathComponent("none.txt").path], "cannot read the file given to -f"),
                                     (["-f", huge.path], "1073741825 bytes, more than the 1 GiB a text for -f may have"),
                                     (["-f", latin1.path], "the file given to -f is not UTF-8 text"),
                                     ([], "give the prompt with -p TEXT or -f FILE"),
                                     (["-p", "Hi", "-f", file.path], "give the prompt with -p TEXT or -f FILE")] {
            let result = try SieveCLI.run(["run", Self.tinyLlama, "-n", "2"] + arguments)
            #expect(result.status != 0 && result.stderr.contains(message), "\(arguments): \(result.stderr)")
        }
    }

    /// tiny-llama has no chat template: --chat says how to give one, and --chat-template FILE renders with it.
    @Test func chatTemplateFileRendersThePrompt() throws {
        let dir = try SieveCLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let missing = try SieveCLI.run(["run", Self.tinyLlama, "--chat", "-p", "Hello", "-n", "2"])
        #expect(missing.status != 0 && missing.stderr.contains("no chat template") && missing.stderr.contains("--chat-template FILE"), "\(missing.stderr)")
        let template = dir.appendingPathComponent("chat.jinja")
        // Like real templates, it writes the BOS token itself (chat prompts are encoded without adding one).
        try "{{ bos_token }}{% for m in messages %}[{{ m['role'] }}] {{ m['content'] }}\n{% endfor %}{% if add_generation_prompt %}[assistant] {% endif %}"
            .write(to: template, atomically: true, encoding: .utf8)
        let plain = try SieveCLI.run(["run", Self.tinyLlama, "-p", "[user] Hello\n[assistant] ", "-n", "4", "--temp", "0", "--json"])
        let chat = try SieveCLI.run(["run", Self.tinyLlama, "--chat-template", template.path, "-p", "Hello", "-n", "4", "--temp", "0", "--json"])
        #expect(plain.status == 0 && chat.status == 0, "\(plain.stderr) \(chat.stderr)")
        // The rendered prompt is the plain one written out by hand: the same tokens and continuation.
        let a = try parseJSON(plain.stdout), b = try parseJSON(chat.stdout)
        #expect(a["prompt_tokens"] as? Int == b["prompt_tokens"] as? Int && (a["tokens"] as? [Int]) == (b["tokens"] as? [Int]))
        let unreadable = try SieveCLI.run(["run", Self.tinyLlama, "--chat-template", dir.appendingPathComponent("none.jinja").path, "-p", "Hi", "-n", "2"])
        #expect(unreadable.status != 0 && unreadable.stderr.contains("cannot read the file given to --chat-template"), "\(unreadable.stderr)")
    }

    @Test func promptLongerThanContextIsAClearError() throws {
        let prompt = String(repeating: "The quick brown fox jumps over the lazy dog. ", count: 60)
        let result = try SieveCLI.run(["run", Self.tinyLlama, "-p", prompt, "-n", "4"])
        #expect(result.status != 0)
        #expect(result.stdout.isEmpty)
        #expect(result.stderr.contains("exceeds the model's trained context of 256 positions; shorten the prompt"), "\(result.stderr)")
    }

    /// bench's token counts past the trained context are refused with the flag to change, not a `--ctx` it lacks.
    @Test(arguments: [(["-p", "300", "-n", "4"], "-p 300 exceeds the model's trained context of 256 positions; use -p 256 or less"),
                      (["-p", "0", "-n", "300"], "-n 300 exceeds the model's trained context of 256 positions; use -n 256 or less")])
    func benchPastTheTrainedContextIsAClearError(_ counts: [String], _ message: String) throws {
        let result = try SieveCLI.run(["bench", Self.tinyLlama, "-r", "1"] + counts)
        #expect(result.status != 0)
        #expect(result.stderr.contains(message), "\(result.stderr)")
    }

    /// `bench --kernels --types` measures only the types listed; an unknown type, or `--types` without `--kernels`, is
    /// refused before anything runs.
    @Test func kernelBenchmarkTakesATypeList() throws {
        let result = try SieveCLI.run(["bench", "--kernels", "--types", "q8_0,iq2_xxs", "-t", "1", "-r", "1"])
        #expect(result.status == 0, "\(result.stderr)")
        let rows = result.stdout.split(separator: "\n").filter { $0.contains(" tok ") }
        #expect(!rows.isEmpty)
        #expect(rows.allSatisfy { $0.hasPrefix("q8_0 ") || $0.hasPrefix("iq2_xxs ") }, "\(rows)")
        #expect(rows.contains { $0.hasPrefix("iq2_xxs ") && $0.contains("128 tok") })
        let unknown = try SieveCLI.run(["bench", "--kernels", "--types", "q8_0,iq9"])
        #expect(unknown.status != 0)
        #expect(unknown.stderr.contains("--types: no kernels for 'iq9'; the types are f32, f16"), "\(unknown.stderr)")
        let alone = try SieveCLI.run(["bench", Self.tinyLlama, "--types", "q8_0"])
        #expect(alone.status != 0)
        #expect(alone.stderr.contains("--types goes with --kernels"), "\(alone.stderr)")
    }

    /// Without `--ctx`, perplexity chunks are llama-perplexity's 512 tokens, or the trained context if shorter.
    @Test func perplexityChunksFitTheTrainedContext() throws {
        let dir = try SieveCLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let text = dir.appendingPathComponent("text.txt")
        try String(repeating: "The quick brown fox jumps over the lazy dog. ", count: 60).write(to: text, atomically: true, encoding: .utf8)
        let result = try SieveCLI.run(["perplexity", Self.tinyLlama, "-f", text.path, "--chunks", "1", "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let report = try parseJSON(result.stdout)
        #expect(report["ctx"] as? Int == 256)
        #expect(report["chunks"] as? Int == 1)
        #expect((report["ppl"] as? Double ?? 0) > 1)
    }

    @Test func missingTensorIsAClearError() throws {
        let dir = try SieveCLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let source = SieveCLI.fixtures.appendingPathComponent("models/tiny-llama/hf")
        // A valid safetensors file without one tensor, beside the model's config.json.
        let script = """
        import sys, numpy as np
        from safetensors.numpy import load_file, save_file
        t = load_file(sys.argv[1]); del t["model.layers.1.mlp.up_proj.weight"]; save_file(t, sys.argv[2])
        """
        let out = dir.appendingPathComponent("model.safetensors")
        let made = try SieveCLI.python(["python3", "-c", script, source.appendingPathComponent("model.safetensors").path, out.path])
        try #require(made.status == 0, "\(made.stderr)")
        try FileManager.default.copyItem(at: source.appendingPathComponent("config.json"), to: dir.appendingPathComponent("config.json"))
        let result = try SieveCLI.run(["run", dir.path, "-p", "hello", "-n", "2"])
        #expect(result.status != 0)
        #expect(result.stderr.contains("blocks.1.ffn.up.weight") || result.stderr.contains("up_proj"), "\(result.stderr)")
    }

    @Test func unknownArchitectureIsAClearError() throws {
        let dir = try SieveCLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let source = SieveCLI.fixtures.appendingPathComponent("models/tiny-llama/hf")
        try FileManager.default.copyItem(at: source.appendingPathComponent("model.safetensors"), to: dir.appendingPathComponent("model.safetensors"))
        try Data(#"{"model_type": "mamba", "hidden_size": 256}"#.utf8).write(to: dir.appendingPathComponent("config.json"))
        let result = try SieveCLI.run(["run", dir.path, "-p", "hello"])
        #expect(result.status != 0)
        #expect(result.stderr.contains("mamba") && result.stderr.contains("llama, mistral, mixtral, granite, granitemoe, granitemoeshared, qwen2, qwen2_moe, qwen3, qwen3_moe, smollm3, phi3, gemma2, gemma3_text, gemma3, gpt_oss, gpt2, opt, bert"), "\(result.stderr)")
    }
}
