import ArgumentParser
import Foundation
import SieveCore
import SieveRuntime

/// Options shared by the commands that load and run a model.
struct ModelOptions: ParsableArguments {
    @Argument(help: "The model: a .gguf, .sieve or .safetensors file, or a Hugging Face folder.")
    var model: String

    @Option(name: [.customShort("t"), .long], help: "Worker threads (default: one per core).")
    var threads: Int?

    @Option(name: [.customShort("c"), .customLong("ctx")], help: "Context length: positions the KV cache holds (default: min(trained context, 4096)).")
    var contextLength: Int?

    @Option(help: "KV cache element type: f32 or f16.")
    var kvType: String = "f32"

    func validate() throws {
        if let threads, threads < 1 || threads > 1024 { throw ValidationError("--threads must be between 1 and 1024") }
        if let c = contextLength, c < 1 { throw ValidationError("--ctx must be positive") }
        if KVCacheType(rawValue: kvType) == nil { throw ValidationError("--kv-type must be f32 or f16") }
    }

    var runtimeOptions: RuntimeOptions {
        RuntimeOptions(contextLength: contextLength, threads: threads, kvCacheType: KVCacheType(rawValue: kvType) ?? .f32)
    }

    /// Reads the model file into the IR.
    func loadGraph() throws -> ModelGraph {
        try reportingErrors {
            let url = URL(fileURLWithPath: model)
            return try FormatSetup.registry.plugin(for: url).read(url)
        }
    }

    /// Reads and compiles the model with its tokenizer.
    func loadSession() throws -> Session {
        let graph = try loadGraph()
        return try reportingErrors { try Session(graph: graph, options: runtimeOptions) }
    }
}

/// Writes text to standard error.
func printError(_ text: String) {
    FileHandle.standardError.write((text + "\n").data(using: .utf8)!)
}
