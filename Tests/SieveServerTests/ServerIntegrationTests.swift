import Foundation
import Testing

/// A `sieve serve` subprocess on loopback (the built binary), with its chosen port.
final class ServerProcess {
    let process = Process()
    let baseURL: String
    let model: String
    private let errors = Pipe()

    /// The `sieve` binary built next to the test bundle.
    static var binary: URL {
        let candidates = [
            URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("sieve"),
            Bundle.main.bundleURL.appendingPathComponent("sieve"),
            Bundle.main.bundleURL.deletingLastPathComponent().appendingPathComponent("sieve"),
        ]
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0.path) } ?? candidates[0]
    }

    /// Starts `sieve serve MODEL --port 0 ARGS` and waits (up to 60 s) for its "listening on" line.
    init(model path: String, name: String, arguments: [String]) throws {
        model = name
        process.executableURL = Self.binary
        process.arguments = ["serve", path, "--host", "127.0.0.1", "--port", "0", "--model-name", name] + arguments
        let out = Pipe()
        process.standardOutput = out
        process.standardError = errors
        try process.run()
        let line = LineReader(out.fileHandleForReading)
        guard let listening = line.next(timeout: 60), let range = listening.range(of: "http://") else {
            process.terminate()
            throw ServerTestError.notStarted("sieve serve printed no 'listening on' line within 60 s")
        }
        baseURL = String(listening[range.lowerBound...].prefix { !$0.isWhitespace })
    }

    /// Sends SIGTERM and waits up to `seconds` for the exit; returns the status and seconds taken (nil on timeout).
    func terminate(within seconds: Double) -> (status: Int32, seconds: Double)? {
        let start = Date()
        process.terminate()
        while process.isRunning {
            if Date().timeIntervalSince(start) > seconds {
                kill(process.processIdentifier, SIGKILL)
                return nil
            }
            usleep(20_000)
        }
        return (process.terminationStatus, Date().timeIntervalSince(start))
    }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }
}

enum ServerTestError: Error {
    case notStarted(String)
}

/// Reads a file descriptor until `body` returns false or end of file, retrying reads a signal interrupted
/// (Foundation's FileHandle traps on EINTR, which child processes' SIGCHLD can cause).
func readChunks(_ fd: Int32, _ body: (Data) -> Void) {
    var buffer = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n < 0 && errno == EINTR { continue }
        if n <= 0 { return }
        body(Data(buffer[0..<n]))
    }
}

/// Reads lines from a pipe on a background thread.
final class LineReader: @unchecked Sendable {
    private let condition = NSCondition()
    private var lines: [String] = []

    init(_ handle: FileHandle) {
        let fd = handle.fileDescriptor
        Thread { [self] in
            var buffer = Data()
            readChunks(fd) { data in
                buffer.append(data)
                while let newline = buffer.firstIndex(of: 0x0A) {
                    let line = String(decoding: buffer[buffer.startIndex..<newline], as: UTF8.self)
                    buffer.removeSubrange(buffer.startIndex...newline)
                    condition.lock(); lines.append(line); condition.broadcast(); condition.unlock()
                }
            }
        }.start()
    }

    func next(timeout: Double) -> String? {
        let deadline = Date(timeIntervalSinceNow: timeout)
        condition.lock(); defer { condition.unlock() }
        while lines.isEmpty { if !condition.wait(until: deadline) { return nil } }
        return lines.removeFirst()
    }
}

/// Runs a Python script and parses the JSON object it prints last.
func runPython(_ script: URL, _ arguments: [String]) throws -> (status: Int32, json: [String: Any]?, stdout: String, stderr: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["python3", script.path] + arguments
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    let errData = ErrorCollector(err.fileHandleForReading)
    var outData = Data()
    readChunks(out.fileHandleForReading.fileDescriptor) { outData.append($0) }
    process.waitUntilExit()
    let stdout = String(decoding: outData, as: UTF8.self)
    let last = stdout.split(separator: "\n").last.map(String.init) ?? ""
    let json = (try? JSONSerialization.jsonObject(with: Data(last.utf8))) as? [String: Any]
    return (process.terminationStatus, json, stdout, errData.text)
}

/// Collects a pipe's bytes on a background thread (so a full stderr pipe cannot block the child).
final class ErrorCollector: @unchecked Sendable {
    private let lock = NSLock()
    private var data = Data()
    private let done = DispatchSemaphore(value: 0)
    init(_ handle: FileHandle) {
        let fd = handle.fileDescriptor
        Thread { [self] in
            var all = Data()
            readChunks(fd) { all.append($0) }
            lock.lock(); data = all; lock.unlock()
            done.signal()
        }.start()
    }
    var text: String {
        done.wait()
        lock.lock(); defer { lock.unlock() }
        return String(decoding: data, as: UTF8.self)
    }
}

enum PythonClient {
    static let scripts = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")
    static let tools = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("tools")

    /// Whether python3 has the `openai` package (`make test` installs it).
    static let available: Bool = {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-c", "import openai"]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        guard (try? p.run()) != nil else { return false }
        p.waitUntilExit()
        return p.terminationStatus == 0
    }()

    static let smollm2 = URL(fileURLWithPath: ProcessInfo.processInfo.environment["SIEVE_MODELS"] ?? (NSHomeDirectory() + "/.cache/sieve/models"))
        .appendingPathComponent("smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")

    /// Writes the ChatML template to a temporary file for tiny-llama (which has none).
    static func templateFile() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sieve-serve-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let file = dir.appendingPathComponent("chatml.jinja")
        try ServerFixtures.chatML.write(to: file, atomically: true, encoding: .utf8)
        return file
    }
}

@Suite(.serialized, .enabled(if: PythonClient.available, "python3 without the openai package: pip install openai (make test installs it)"))
struct ServerIntegrationTests {
    /// Acceptance 1 and 2: the official client, streaming and not, then bad requests, then still serving.
    @Test func openAIClientAndBadRequests() throws {
        let server = try ServerProcess(model: ServerFixtures.tinyLlama.path, name: "tiny-llama",
                                       arguments: ["--chat-template", try PythonClient.templateFile().path, "--threads", "2",
                                                   "--max-concurrent", "2", "--max-tokens", "128"])
        let run = try runPython(PythonClient.scripts.appendingPathComponent("openai_client_check.py"), [server.baseURL, server.model])
        #expect(run.status == 0, "\(run.stderr)")
        let out = try #require(run.json, "no JSON from the client script: \(run.stdout) \(run.stderr)")

        // Streamed pieces concatenate to the non-streamed text for the same seed.
        let full = try #require(out["full_text"] as? String)
        let pieces = try #require(out["stream_pieces"] as? [String])
        #expect(!full.isEmpty)
        #expect(pieces.count > 1)
        #expect(pieces.joined() == full)
        #expect(out["stream_finish"] as? String == out["full_finish"] as? String)
        #expect(["stop", "length"].contains(out["full_finish"] as? String ?? ""))
        #expect(out["full_object"] as? String == "chat.completion")
        #expect(out["stream_roles"] as? [String] == ["assistant"])
        let usage = try #require(out["full_usage"] as? [String: Int])
        let streamUsage = try #require(out["stream_usage"] as? [String: Int])
        #expect(usage["completion"] == streamUsage["completion"] && usage["prompt"] == streamUsage["prompt"])
        #expect(usage["total"] == usage["prompt"]! + usage["completion"]!)
        #expect(usage["completion"]! >= 1 && usage["completion"]! <= 24)
        // The Sieve extension: densities used (dense model: 1) and speeds.
        for key in ["full_sieve", "stream_sieve"] {
            let sieve = try #require(out[key] as? [String: Any], "\(key) missing")
            #expect(sieve["ffn_density"] as? Double == 1 && sieve["head_density"] as? Double == 1)
            #expect(sieve["sparse"] as? Bool == false && sieve["sparsity_mode"] as? String == "dense")
            #expect((sieve["prompt_tokens_per_second"] as? Double ?? 0) > 0)
        }
        #expect(out["text_full"] as? String == out["text_stream"] as? String)
        #expect(!(out["text_full"] as? String ?? "").isEmpty)
        #expect(out["models"] as? [String] == ["tiny-llama"])

        // Bad requests: status and an error object with a message.
        let bad = try #require(out["bad"] as? [String: [String: Any]])
        let expected: [(String, Int, String?)] = [
            ("malformed_json", 400, nil), ("missing_messages", 400, "messages"), ("huge_max_tokens", 400, "max_tokens"),
            ("body_50mb", 413, nil), ("unknown_model", 404, "model"), ("unknown_path", 404, nil),
        ]
        for (name, status, param) in expected {
            let case_ = try #require(bad[name], "\(name) missing")
            #expect(case_["status"] as? Int == status, "\(name): \(case_)")
            let error = (case_["body"] as? [String: Any])?["error"] as? [String: Any]
            #expect((error?["message"] as? String)?.isEmpty == false, "\(name): \(case_)")
            #expect(error?["type"] is String, "\(name)")
            if let param { #expect(error?["param"] as? String == param, "\(name): \(case_)") }
        }
        #expect(((bad["unknown_model"]?["body"] as? [String: Any])?["error"] as? [String: Any])?["code"] as? String == "model_not_found")
        let clientError = out["client_unknown_model"] as? [String: Any]
        #expect(clientError?["status"] as? Int == 404 && clientError?["code"] as? String == "model_not_found")

        // Still serving afterwards, with the same answer for the same seed.
        #expect(out["after_text"] as? String == full)
        let health = try #require(out["health"] as? [String: Any])
        #expect(health["status"] as? Int == 200)
        #expect((health["body"] as? [String: Any])?["status"] as? String == "ok")
        #expect((health["body"] as? [String: Any])?["requests_failed"] as? Int == 0)

        // SIGTERM on an idle server: a clean exit.
        let exit = server.terminate(within: 15)
        #expect(exit?.status == 0)
    }

    /// Acceptance 3: 200 requests from 8 concurrent clients, at most 2 minutes, none failing.
    @Test func boundedLoad() throws {
        let server = try ServerProcess(model: ServerFixtures.tinyLlama.path, name: "tiny-llama",
                                       arguments: ["--chat-template", try PythonClient.templateFile().path, "--threads", "2",
                                                   "--max-concurrent", "4"])
        let run = try runPython(PythonClient.tools.appendingPathComponent("serve_load.py"),
                                [server.baseURL, server.model, "--requests", "200", "--concurrency", "8", "--max-tokens", "16",
                                 "--deadline", "120", "--json"])
        let report = try #require(run.json, "no JSON from serve_load.py: \(run.stdout) \(run.stderr)")
        print("serve_load (tiny-llama, 4 slots): \(run.stdout)")
        #expect(run.status == 0, "\(run.stderr)")
        #expect(report["succeeded"] as? Int == 200)
        #expect(report["failed"] as? Int == 0, "\(report["failures"] ?? [])")
        #expect((report["wall_seconds"] as? Double ?? 999) <= 120)
        #expect((report["completion_tokens"] as? Int ?? 0) > 200)
        #expect(server.terminate(within: 15)?.status == 0)
    }

    /// A client that disconnects stops its generation; a full queue answers 429; SIGTERM lets a running request end
    /// within the deadline.
    /// Uses the real SmolLM2 (slow enough to still be generating when the client leaves).
    @Test(.enabled(if: FileManager.default.fileExists(atPath: PythonClient.smollm2.path), "SmolLM2 is not in the model cache: run `make models`"))
    func disconnectAndShutdown() throws {
        let server = try ServerProcess(model: PythonClient.smollm2.path, name: "smollm2",
                                       arguments: ["--threads", "2", "--max-concurrent", "1", "--max-queue", "0", "--ctx", "2048",
                                                   "--shutdown-timeout", "2"])
        let run = try runPython(PythonClient.scripts.appendingPathComponent("disconnect_check.py"),
                                [server.baseURL, server.model, "\(server.process.processIdentifier)"])
        #expect(run.status == 0, "\(run.stderr)")
        let out = try #require(run.json, "no JSON from disconnect_check.py: \(run.stdout) \(run.stderr)")
        // While the only slot is busy and no request may wait: 429 with an error object.
        #expect(out["busy_status"] as? Int == 429)
        #expect((out["busy_error"] as? [String: Any])?["code"] as? String == "queue_full")
        // After the client left: the slot is free again and the request counted as cancelled, well before the
        // 1500 requested tokens could have been generated.
        #expect(out["cancelled"] as? Int == 1)
        #expect(out["slots_busy"] as? Int == 0)
        #expect((out["generated_tokens"] as? Int ?? 9999) < 1500)
        #expect((out["seconds_to_free"] as? Double ?? 99) < 5)
        // SIGTERM while a request streams: the stream ends (finished or with an error event) and the server exits.
        #expect(out["shutdown_stream_ended"] as? Bool == true)
        #expect((out["shutdown_stream_seconds"] as? Double ?? 99) < 10)
        for _ in 0..<400 where server.process.isRunning { usleep(50_000) }
        #expect(!server.process.isRunning)
        if !server.process.isRunning { #expect(server.process.terminationStatus == 0) }
    }
}
