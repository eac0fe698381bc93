import Foundation
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import SieveCore
import SieveRuntime

/// Where the server listens and how it shuts down.
public struct ServerOptions: Sendable, Equatable {
    /// Address to bind (`127.0.0.1` keeps the server local; `0.0.0.0` exposes it).
    public var host: String
    /// TCP port; 0 picks a free one (the chosen port is passed to `onListening`).
    public var port: Int
    /// Seconds in-flight requests may run after SIGTERM/SIGINT before they are cancelled.
    public var shutdownTimeout: Double
    /// Log every request (method, path, status) to standard error.
    public var verbose: Bool

    /// Options with every value given.
    public init(host: String = "127.0.0.1", port: Int = 8080, shutdownTimeout: Double = 10, verbose: Bool = false) {
        self.host = host
        self.port = port
        self.shutdownTimeout = shutdownTimeout
        self.verbose = verbose
    }
}

/// The request context: Hummingbird's core storage plus the connection, so a handler can notice that its client
/// went away.
struct ServerContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    let channel: any Channel

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }
}

/// An OpenAI-compatible HTTP server over an `InferenceEngine` (Hummingbird 2):
/// `POST /v1/chat/completions`, `POST /v1/completions` (both with `stream: true` as server-sent events ending in
/// `data: [DONE]`), `GET /v1/models` and `GET /health`. Every response carries a `sieve` object with the
/// densities used and the request's speeds. SIGTERM or SIGINT stops it gracefully: new requests get 503,
/// running ones may finish for `shutdownTimeout` seconds and are then cancelled.
public final class SieveHTTPServer: Sendable {
    /// The model slots and queue.
    public let engine: InferenceEngine
    /// Address, port and shutdown deadline.
    public let options: ServerOptions

    /// A server for `engine`.
    public init(engine: InferenceEngine, options: ServerOptions) {
        self.engine = engine
        self.options = options
    }

    /// Runs until SIGTERM/SIGINT (or the task is cancelled). `onListening(host, port)` is called once the socket
    /// is bound.
    public func run(onListening: @escaping @Sendable (String, Int) -> Void = { _, _ in }) async throws {
        var logger = Logger(label: "sieve.serve")
        logger.logLevel = options.verbose ? .info : .warning
        let router = Router(context: ServerContext.self)
        router.add(middleware: ErrorMiddleware(verbose: options.verbose))
        router.get("/health") { _, _ in self.health() }
        router.get("/v1/models") { _, _ in self.models() }
        router.post("/v1/chat/completions") { request, context in await self.complete(request, context: context, endpoint: .chat) }
        router.post("/v1/completions") { request, context in await self.complete(request, context: context, endpoint: .text) }

        let host = options.host
        let app = Application(
            router: router,
            configuration: .init(address: .hostname(host, port: options.port), serverName: "sieve"),
            onServerRunning: { channel in onListening(host, channel.localAddress?.port ?? 0) },
            logger: logger)
        let watcher = ShutdownWatcher(engine: engine, timeout: options.shutdownTimeout)
        // Graceful shutdown runs in reverse order: the watcher first (drain, wait, cancel), then the HTTP server.
        let group = ServiceGroup(configuration: .init(
            services: [.init(service: app), .init(service: watcher, successTerminationBehavior: .ignore)],
            gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }

    // MARK: Endpoints

    private func health() -> Response {
        let load = engine.load
        let counters = engine.counterValues
        return Self.json(.object([
            ("status", .string(engine.isDraining ? "shutting_down" : "ok")),
            ("model", .string(engine.modelName)),
            ("slots", .int(Int64(engine.slotCount))),
            ("slots_busy", .int(Int64(load.busy))),
            ("queued", .int(Int64(load.queued))),
            ("requests_completed", .int(Int64(counters.completed))),
            ("requests_cancelled", .int(Int64(counters.cancelled))),
            ("requests_failed", .int(Int64(counters.failed))),
            ("generated_tokens", .int(Int64(counters.generatedTokens))),
        ]), status: engine.isDraining ? .serviceUnavailable : .ok)
    }

    private func models() -> Response {
        let s = engine.sparsity
        return Self.json(.object([
            ("object", .string("list")),
            ("data", .array([.object([
                ("id", .string(engine.modelName)),
                ("object", .string("model")),
                ("created", .int(Int64(engine.created))),
                ("owned_by", .string("sieve")),
                ("sieve", .object([
                    ("architecture", .string(engine.architecture)),
                    ("context_length", .int(Int64(engine.contextLength))),
                    ("slots", .int(Int64(engine.slotCount))),
                    ("sparse", .bool(s.sparse)),
                    ("sparsity_mode", .string(s.mode)),
                    ("ffn_density", .double(s.ffnDensity)),
                    ("head_density", .double(s.headDensity)),
                ])),
            ])])),
        ]))
    }

    private func complete(_ request: Request, context: ServerContext, endpoint: CompletionEndpoint) async -> Response {
        do {
            let body = try await readBody(request)
            let json: JSONValue
            do {
                json = try body.withUnsafeReadableBytes { try JSONValue.parse($0, source: "request body") }
            } catch let SieveCoreError.invalidJSON(_, reason) {
                throw APIError.invalid("The request body is not valid JSON: \(reason).")
            } catch {
                throw APIError.invalid("The request body is not valid JSON: \(error).")
            }
            let parsed = try CompletionRequest.parse(json, endpoint: endpoint)
            let prepared = try engine.prepare(parsed)
            if engine.isDraining { throw APIError.shuttingDown }
            let responses = OpenAIResponses(
                id: (endpoint == .chat ? "chatcmpl-" : "cmpl-") + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased(),
                created: Int(Date().timeIntervalSince1970), model: engine.modelName, endpoint: endpoint)
            let stop = StopFlag()
            let channel = context.channel
            if parsed.stream {
                // Wait for a slot (or for the client to leave), then stream.
                guard let stream = try await whileConnected(channel, { try await self.engine.generate(prepared, stop: stop) }) else {
                    return Response(status: .badRequest)
                }
                return streamResponse(stream, stop: stop, responses: responses, includeUsage: parsed.includeUsage)
            }
            let outcome = try await whileConnected(channel) { () -> (String, RequestReport) in
                let stream = try await self.engine.generate(prepared, stop: stop)
                var text = ""
                var report: RequestReport?
                for try await event in stream {
                    switch event {
                    case let .text(t): text += t
                    case let .finished(r): report = r
                    }
                }
                guard let report else { throw CancellationError() }
                return (text, report)
            }
            guard let (text, report) = outcome else {
                // The client is gone; nobody reads this.
                return Response(status: .badRequest)
            }
            if stop.isSet { throw APIError.shuttingDown }
            return Self.json(responses.complete(text: text, report: report))
        } catch let error as APIError {
            return Self.error(error)
        } catch is CancellationError {
            return Self.error(APIError.shuttingDown)
        } catch {
            let reason = (error as? LocalizedError)?.errorDescription ?? "\(error)"
            return Self.error(APIError(status: 500, message: "Generation failed: \(reason)", type: "server_error"))
        }
    }

    /// Reads the request body, refusing more than `maxBodyBytes` (413).
    private func readBody(_ request: Request) async throws -> ByteBuffer {
        let limit = engine.limits.maxBodyBytes
        let tooLarge = APIError(status: 413, message: "The request body is larger than \(limit) bytes (the --max-body-bytes limit).",
                                code: "request_too_large")
        if let length = request.headers[.contentLength].flatMap({ Int($0) }), length > limit { throw tooLarge }
        var body = ByteBuffer()
        for try await var part in request.body {
            guard body.readableBytes + part.readableBytes <= limit else { throw tooLarge }
            body.writeBuffer(&part)
        }
        return body
    }

    /// Runs `work`, cancelling it when the client's connection closes (checked every 50 ms); nil when it closed.
    private func whileConnected<T: Sendable>(_ channel: any Channel, _ work: @escaping @Sendable () async throws -> T) async throws -> T? {
        try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { try await work() }
            group.addTask {
                while channel.isActive { try await Task.sleep(nanoseconds: 50_000_000) }
                return nil
            }
            defer { group.cancelAll() }
            return try await group.next()!
        }
    }

    /// Server-sent events: one chunk per piece of text, the final chunk with the finish reason and the `sieve`
    /// report, the usage chunk when asked for, then `data: [DONE]`. A failed write (client gone) stops generation.
    private func streamResponse(_ stream: AsyncThrowingStream<GenerationEvent, Error>, stop: StopFlag, responses: OpenAIResponses,
                                includeUsage: Bool) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "text/event-stream"
        headers[.cacheControl] = "no-cache"
        let body = ResponseBody { writer in
            func send(_ value: JSONValue) async throws {
                do {
                    try await writer.write(ByteBuffer(string: "data: " + value.serialized() + "\n\n"))
                } catch {
                    throw WriteFailure()
                }
            }
            do {
                if responses.endpoint == .chat { try await send(responses.chunk(text: "", role: true)) }
                do {
                    for try await event in stream {
                        switch event {
                        case let .text(text):
                            try await send(responses.chunk(text: text))
                        case let .finished(report):
                            if stop.isSet {
                                try await send(APIError.shuttingDown.json)
                            } else {
                                try await send(responses.finalChunk(report: report))
                                if includeUsage { try await send(responses.usageChunk(report: report)) }
                            }
                        }
                    }
                } catch let error as WriteFailure {
                    throw error
                } catch {
                    let reason = (error as? LocalizedError)?.errorDescription ?? "\(error)"
                    try await send(APIError(status: 500, message: "Generation failed: \(reason)", type: "server_error").json)
                }
                try await writer.write(ByteBuffer(string: "data: [DONE]\n\n"))
                try await writer.finish(nil)
            } catch {
                stop.set()
                throw error
            }
        }
        return Response(status: .ok, headers: headers, body: body)
    }

    // MARK: Helpers

    /// A JSON response.
    static func json(_ value: JSONValue, status: HTTPResponse.Status = .ok) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: value.serialized())))
    }

    /// An OpenAI-style error response.
    static func error(_ error: APIError) -> Response {
        json(error.json, status: HTTPResponse.Status(code: error.status))
    }
}

/// Marks an error thrown by a response write (the client went away).
private struct WriteFailure: Error {}

/// Turns Hummingbird's own errors (unknown path 404, wrong method 405, …) into OpenAI-style error objects and
/// logs requests when verbose.
struct ErrorMiddleware: RouterMiddleware {
    typealias Context = ServerContext
    let verbose: Bool

    func handle(_ request: Request, context: ServerContext, next: (Request, ServerContext) async throws -> Response) async throws -> Response {
        let response: Response
        do {
            response = try await next(request, context)
        } catch let error as HTTPError {
            let status = error.status
            let message = status == .notFound
                ? "Unknown endpoint \(request.method) \(request.uri.path): this server has POST /v1/chat/completions, POST /v1/completions, GET /v1/models and GET /health."
                : "\(status.reasonPhrase) (\(request.method) \(request.uri.path))."
            response = SieveHTTPServer.error(APIError(status: status.code, message: message,
                                                      type: status.code >= 500 ? "server_error" : "invalid_request_error"))
        }
        if verbose {
            FileHandle.standardError.write(Data("sieve serve: \(request.method) \(request.uri.path) -> \(response.status.code)\n".utf8))
        }
        return response
    }
}

/// Waits for graceful shutdown, then refuses new requests, lets running ones finish for `timeout` seconds and
/// cancels the rest; the HTTP server shuts down after it returns.
struct ShutdownWatcher: Service, CustomStringConvertible {
    let engine: InferenceEngine
    let timeout: Double
    var description: String { "ShutdownWatcher" }

    func run() async throws {
        do {
            try await gracefulShutdown()
        } catch {
            return
        }
        FileHandle.standardError.write(Data("sieve serve: shutting down (\(engine.runningCount) requests running, \(String(format: "%g", timeout)) s to finish)\n".utf8))
        engine.drain()
        if await !engine.waitUntilIdle(seconds: timeout) {
            FileHandle.standardError.write(Data("sieve serve: cancelling \(engine.runningCount) requests still running\n".utf8))
            engine.cancelAll()
            _ = await engine.waitUntilIdle(seconds: 30)
        }
    }
}
