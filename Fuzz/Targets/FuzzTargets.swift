import BundleFormat
import Foundation
import GGUFFormat
import SafetensorsFormat
import SieveCore
import SieveTokenizers

/// The fuzz targets: one function per reader that takes arbitrary bytes and must either succeed or throw an
/// error — never crash, hang or allocate without bound. Shared by the `sieve-fuzz` harness (which mutates the
/// seed corpora in `Fuzz/corpus`) and by RobustnessTests (which replays the corpora and every input ever found
/// to crash, kept in `Fuzz/regressions`).
public enum FuzzTargets {
    /// The repository's `Fuzz` folder (corpora, regressions, support files).
    public static let fuzzFolder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    /// The repository's `Tests/Fixtures` folder.
    public static let fixtures = fuzzFolder.deletingLastPathComponent().appendingPathComponent("Tests/Fixtures")

    /// Every target's name, in the order `make fuzz` runs them.
    public static let names = [
        "safetensors", "safetensors-index", "gguf", "bundle", "bundle-sections", "tokenizer-json", "hf-config",
        "chat-template",
    ]

    /// Whether the target reads text (mutated with text-aware operations) rather than binary.
    public static func isText(_ target: String) -> Bool {
        ["safetensors-index", "tokenizer-json", "hf-config", "chat-template"].contains(target)
    }

    /// Tokens a mutator may insert into inputs of `target`.
    public static func dictionary(_ target: String) -> [String] {
        let json = ["{", "}", "[", "]", ",", ":", "\"", "null", "true", "false", "0", "-1", "1e308", "4294967296",
                    "1099511627776", "9223372036854775807", "-9223372036854775808", "99999999999999999999", "\\u0000",
                    "\\ud800", "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[", "{\"a\":", "\"\":"]
        switch target {
        case "chat-template":
            return ["{{", "}}", "{%", "%}", "{#", "#}", "-%}", "{%-", "for", "endfor", "if", "endif", "else", "elif", " in ",
                    "set", "range(", ")", "(", "[", "]", "**", "*", "//", "%", "~", "|", "tojson", "length", "join(",
                    "messages", "message", "loop.index", "namespace(", "9223372036854775807", "-9223372036854775808",
                    "99999999999999999999", "999999999", "'x'", "\"", "'", "not ", " and ", " or ", " is ", "defined",
                    "raise_exception(", ".items()", "[::-1]", "[1:", ":2]", "break", "continue", "strftime_now(",
                    "selectattr(", "(((((((((((((((((((((((((((((((", "{% for i in range(99999999) %}"]
        case "tokenizer-json":
            return json + ["\"model\"", "\"vocab\"", "\"merges\"", "\"added_tokens\"", "\"id\"", "\"content\"",
                           "\"pre_tokenizer\"", "\"type\"", "\"ByteLevel\"", "\"Metaspace\"", "\"BPE\"", "\"WordPiece\"",
                           "\"special\"", "\"post_processor\"", "\"TemplateProcessing\"", "\"decoder\"", "\"normalizer\""]
        case "hf-config":
            return json + ["\"hidden_size\"", "\"num_hidden_layers\"", "\"num_attention_heads\"", "\"num_key_value_heads\"",
                           "\"intermediate_size\"", "\"vocab_size\"", "\"head_dim\"", "\"rope_scaling\"", "\"model_type\"",
                           "\"max_position_embeddings\"", "\"llama\"", "\"qwen2\"", "\"qwen3\"", "\"llama3\"", "\"gpt2\"", "\"opt\"", "\"bert\""]
        case "safetensors-index":
            return json + ["\"weight_map\"", "\"metadata\"", "\"model-00001-of-00002.safetensors\"", "\"../x\"", "\"/etc/passwd\"",
                           "\"model.embed_tokens.weight\""]
        default:
            return ["\"dtype\"", "\"shape\"", "\"data_offsets\"", "F32", "F16", "BF16", "I64", "[", "]", ",", "0",
                    "4294967296", "1099511627776", "99999999999999999999", "-1", "{", "}", "null"]
        }
    }

    /// A scratch folder for one worker: inputs that readers take as files are written here.
    public final class Workspace {
        /// The folder.
        public let folder: URL
        private let fm = FileManager.default

        /// Creates a fresh folder under the system temporary folder, with the support files targets need.
        public init() throws {
            folder = fm.temporaryDirectory.appendingPathComponent("sieve-fuzz-\(getpid())-\(UUID().uuidString.prefix(8))")
            try fm.createDirectory(at: folder, withIntermediateDirectories: true)
            // safetensors: a Hugging Face folder whose weights are the input.
            let model = folder.appendingPathComponent("model")
            try fm.createDirectory(at: model, withIntermediateDirectories: true)
            let tinyLlama = FuzzTargets.fixtures.appendingPathComponent("models/tiny-llama-sharded/hf")
            try fm.copyItem(at: FuzzTargets.fuzzFolder.appendingPathComponent("support/mini-llama/config.json"),
                            to: model.appendingPathComponent("config.json"))
            for name in ["tokenizer.json", "tokenizer_config.json"] {
                try fm.copyItem(at: tinyLlama.appendingPathComponent(name), to: model.appendingPathComponent(name))
            }
            // safetensors-index: the sharded fixture's shards, linked, beside the input index.
            let sharded = folder.appendingPathComponent("sharded")
            try fm.createDirectory(at: sharded, withIntermediateDirectories: true)
            for name in ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"] {
                try fm.createSymbolicLink(at: sharded.appendingPathComponent(name), withDestinationURL: tinyLlama.appendingPathComponent(name))
            }
        }

        /// Writes `bytes` to `relativePath` in the folder (replacing it) and returns its URL.
        func put(_ bytes: [UInt8], at relativePath: String) throws -> URL {
            let url = folder.appendingPathComponent(relativePath)
            let fd = open(url.path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
            guard fd >= 0 else { throw SieveCoreError.cannotOpen(path: url.path, reason: String(cString: strerror(errno))) }
            defer { close(fd) }
            var done = 0
            try bytes.withUnsafeBytes { raw in
                while done < raw.count {
                    let n = write(fd, raw.baseAddress! + done, raw.count - done)
                    guard n > 0 else { throw SieveCoreError.writeFailed(path: url.path, reason: "short write") }
                    done += n
                }
            }
            return url
        }

        /// Removes the folder.
        public func remove() { try? fm.removeItem(at: folder) }

        deinit { remove() }
    }

    /// Runs `target` on `input`. Returns normally whether the reader accepted or rejected the input (the error,
    /// if any, is returned for the harness's feedback); only a crash, hang or runaway allocation is a finding.
    @discardableResult
    public static func run(_ target: String, _ input: [UInt8], in workspace: Workspace) throws -> Error? {
        do {
            try execute(target, input, workspace)
            return nil
        } catch let error as FuzzHarnessError {
            throw error
        } catch {
            // Every rejection must come with a message (the readers' errors are LocalizedError).
            _ = (error as? LocalizedError)?.errorDescription ?? "\(error)"
            return error
        }
    }

    private static func execute(_ target: String, _ input: [UInt8], _ ws: Workspace) throws {
        switch target {
        case "safetensors":
            let url = try ws.put(input, at: "model/model.safetensors")
            let file = try SafetensorsPlugin().readTensors(url)
            try touch(file.tensors.all)
            _ = try SafetensorsPlugin().read(ws.folder.appendingPathComponent("model"))
        case "safetensors-index":
            let url = try ws.put(input, at: "sharded/model.safetensors.index.json")
            let file = try SafetensorsPlugin().readTensors(url)
            try touch(file.tensors.all)
        case "gguf":
            let url = try ws.put(input, at: "input.gguf")
            let file = try GGUFPlugin().readTensors(url)
            try touch(file.tensors.all)
            let graph = try GGUFPlugin().read(url)
            try exerciseTokenizer(Tokenizer(graph: graph, source: url.path))
        case "bundle", "bundle-sections":
            let bytes = target == "bundle-sections" ? BundleChecksums.fixed(input) : input
            let url = try ws.put(bytes, at: "input.sieve")
            _ = BundleVerifier.verify(url)
            let bundle = try BundleFile.open(url)
            let graph = try bundle.readGraph()
            try touch(graph.tensors.all)
        case "tokenizer-json":
            let json = try input.withUnsafeBytes { try JSONValue.parse($0, source: "tokenizer.json") }
            let description = try TokenizerDescription(huggingFaceJSON: json, config: nil, source: "tokenizer.json")
            try exerciseTokenizer(Tokenizer(description))
        case "hf-config":
            let json = try input.withUnsafeBytes { try JSONValue.parse($0, source: "config.json") }
            let (architecture, hyperparameters) = try HFConfig.read(json, source: "config.json")
            _ = try HFConfig.make(architecture: architecture, hyperparameters: hyperparameters, tokenizer: nil, torchDType: "float32", source: "out/config.json")
        case "chat-template":
            let template = try ChatTemplate(String(decoding: input, as: UTF8.self))
            _ = try template.render(messages: [ChatMessage(role: "system", content: "Be brief."),
                                               ChatMessage(role: "user", content: "Hi {{ there }} 'q' \"q\""),
                                               ChatMessage(role: "assistant", content: "Hello."),
                                               ChatMessage(role: "user", content: "Why?")],
                                    addGenerationPrompt: true, bosToken: "<s>", eosToken: "</s>")
        default:
            throw FuzzHarnessError.unknownTarget(target)
        }
    }

    /// Decodes every tensor to f32 (bounded: the reader already checked its bytes lie inside the file).
    private static func touch(_ tensors: [Tensor]) throws {
        for t in tensors where t.shape.elementCount <= 1 << 22 { _ = try t.floats() }
    }

    private static func exerciseTokenizer(_ tokenizer: Tokenizer) throws {
        let ids = tokenizer.encode("Hello world! <s> 12345 héllo 🙂 \n\t  end", addSpecial: true, parseSpecial: true)
        _ = tokenizer.decode(ids)
        _ = tokenizer.decode(Array(0..<min(64, tokenizer.definition.tokens.count)))
        _ = try? tokenizer.applyChatTemplate([ChatMessage(role: "user", content: "Hi")])
    }
}

/// Errors of the harness itself (not findings).
public enum FuzzHarnessError: Error, LocalizedError {
    case unknownTarget(String)

    public var errorDescription: String? {
        switch self {
        case let .unknownTarget(name): return "unknown fuzz target '\(name)'; targets: \(FuzzTargets.names.joined(separator: ", "))"
        }
    }
}

/// Recomputes a bundle's checksums (manifest, section table, every frame) where its structure allows, so mutated
/// manifests and sections get past the CRC checks and reach the manifest, graph and zstd code.
public enum BundleChecksums {
    /// `input` with its checksums recomputed; unchanged where the layout cannot be followed.
    public static func fixed(_ input: [UInt8]) -> [UInt8] {
        var data = input
        func u32(_ at: Int) -> Int { (0..<4).reduce(0) { $0 | Int(data[at + $1]) << (8 * $1) } }
        func u64(_ at: Int) -> UInt64 { (0..<8).reduce(UInt64(0)) { $0 | UInt64(data[at + $1]) << UInt64(8 * $1) } }
        func setU32(_ value: UInt32, at: Int) { for k in 0..<4 { data[at + k] = UInt8((value >> UInt32(8 * k)) & 0xFF) } }
        guard data.count >= 96 else { return data }
        let manifestSize = u64(24)
        if manifestSize <= UInt64(data.count - 96) {
            let range = 64..<(64 + Int(manifestSize))
            setU32(data.withUnsafeBytes { CRC32.checksum(UnsafeRawBufferPointer(rebasing: $0[range])) }, at: 32)
        }
        let tableOffset = u64(data.count - 32)
        let sectionCount = u32(data.count - 24), frameCount = u32(data.count - 20)
        let tableSize = sectionCount * 48 + frameCount * 16
        guard tableOffset <= UInt64(data.count - 32), Int(tableOffset) + tableSize == data.count - 32 else { return data }
        let table = Int(tableOffset)
        for s in 0..<sectionCount {
            let entry = table + 48 * s
            let offset = u64(entry), first = u32(entry + 28), count = u32(entry + 32)
            guard first <= frameCount, count <= frameCount - first, offset <= UInt64(table) else { continue }
            for f in first..<(first + count) {
                let frameEntry = table + 48 * sectionCount + 16 * f
                let relative = u64(frameEntry), stored = u32(frameEntry + 8)
                guard relative <= UInt64(table) - offset, UInt64(stored) <= UInt64(table) - offset - relative else { continue }
                let start = Int(offset + relative)
                let crc = data.withUnsafeBytes { CRC32.checksum(UnsafeRawBufferPointer(rebasing: $0[start..<(start + stored)])) }
                setU32(crc, at: frameEntry + 12)
            }
        }
        let crc = data.withUnsafeBytes { CRC32.checksum(UnsafeRawBufferPointer(rebasing: $0[table..<(table + tableSize)])) }
        setU32(crc, at: data.count - 16)
        return data
    }
}
