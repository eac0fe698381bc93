import ArgumentParser
import Foundation
import SieveCore
import SieveRuntime
import SieveServer

/// `sieve serve MODEL`: an OpenAI-compatible HTTP server (chat and text completions, streaming, models, health).
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve a model over an OpenAI-compatible HTTP API (POST /v1/chat/completions, /v1/completions; GET /v1/models, /health).",
        discussion: """
        Each of --max-concurrent slots holds its own KV cache; requests beyond them wait in a fair queue (at most \
        --max-queue, then HTTP 429). Concurrent generations share the kernel threads and advance token by token in \
        turn. SIGTERM or SIGINT shuts down gracefully: new requests get 503, running ones get --shutdown-timeout \
        seconds to finish, then are cancelled.
        """)

    @OptionGroup var modelOptions: ModelOptions

    @Option(help: "Address to listen on (0.0.0.0 for every interface).")
    var host: String = "127.0.0.1"

    @Option(help: "TCP port (0: any free port; the chosen one is printed).")
    var port: Int = 8080

    @Option(help: "Model id clients use in requests (default: the model file's name without extension).")
    var modelName: String?

    @Option(help: "Requests generating at once, each with its own KV cache (the others wait).")
    var maxConcurrent: Int = 2

    @Option(help: "Most requests waiting for a slot; more get HTTP 429.")
    var maxQueue: Int = 64

    @Option(help: "Largest request body in bytes; larger get HTTP 413.")
    var maxBodyBytes: Int = 1 << 20

    @Option(help: "Longest prompt in tokens (default: the context length minus one).")
    var maxPromptTokens: Int?

    @Option(help: "Most tokens a request may generate (also the default when it gives no max_tokens).")
    var maxTokens: Int = 2048

    @Option(help: "A Jinja chat template file to use instead of the model's own.")
    var chatTemplate: String?

    @Option(help: "Seconds running requests may take to finish after SIGTERM before they are cancelled.")
    var shutdownTimeout: Double = 10

    @Flag(help: "Log every request to stderr.")
    var verbose = false

    func validate() throws {
        if !(0...65535).contains(port) { throw ValidationError("--port must be between 0 and 65535") }
        if !(1...64).contains(maxConcurrent) { throw ValidationError("--max-concurrent must be between 1 and 64") }
        if maxQueue < 0 { throw ValidationError("--max-queue must be 0 or more") }
        if maxBodyBytes < 1024 { throw ValidationError("--max-body-bytes must be at least 1024") }
        if let p = maxPromptTokens, p < 1 { throw ValidationError("--max-prompt-tokens must be at least 1") }
        if maxTokens < 1 { throw ValidationError("--max-tokens must be at least 1") }
        if !(shutdownTimeout >= 0) { throw ValidationError("--shutdown-timeout must be 0 or more seconds") }
    }

    func run() async throws {
        let template = try chatTemplate.map { try readTextFile($0, option: "--chat-template") }
        let options = modelOptions.runtimeOptions   // threads, context, KV type, --ffn-density/--head-density/--oracle/--dense
        let graph = try modelOptions.loadGraph()
        let name = modelName ?? Self.defaultName(modelOptions.model)
        let limits = ServerLimits(maxBodyBytes: maxBodyBytes, maxPromptTokens: maxPromptTokens, maxTokens: maxTokens, maxQueue: maxQueue)
        let engine = try reportingErrors {
            try InferenceEngine(graph: graph, options: options, modelName: name, slots: maxConcurrent, limits: limits,
                                chatTemplate: template)
        }
        let server = SieveHTTPServer(engine: engine, options: ServerOptions(host: host, port: port, shutdownTimeout: shutdownTimeout,
                                                                            verbose: verbose))
        let slots = maxConcurrent
        let context = engine.contextLength
        let sparsity = engine.sparsity
        do {
            try await server.run { host, port in
                let density = sparsity.sparse ? String(format: ", %@ sparsity: FFN density %.2f, head density %.2f", sparsity.mode, sparsity.ffnDensity, sparsity.headDensity) : ""
                print("sieve serve: listening on http://\(host):\(port) (model \(name), \(slots) slots, context \(context)\(density))")
                fflush(stdout)
            }
        } catch {
            throw CLIError(message: "the server on \(host):\(port) failed: \(error). If the address is in use, pick another --port (0 picks a free one).")
        }
        printError("sieve serve: stopped")
    }

    /// The file or folder name without its extension.
    static func defaultName(_ path: String) -> String {
        let url = URL(fileURLWithPath: path)
        var name = url.deletingPathExtension().lastPathComponent
        if name == "hf" || name.isEmpty { name = url.deletingLastPathComponent().lastPathComponent }
        return name
    }
}
