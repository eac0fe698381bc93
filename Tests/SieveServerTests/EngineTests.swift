import Foundation
import SafetensorsFormat
import SieveCore
import SieveRuntime
import SieveTokenizers
import SieveTransforms
import Testing
@testable import SieveServer

/// Shared fixtures: tiny-llama (random weights, SentencePiece vocabulary, no chat template of its own) and a
/// ChatML template for it.
enum ServerFixtures {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures")
    static let tinyLlama = fixtures.appendingPathComponent("models/tiny-llama/hf")
    static let chatML = "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"

    static func graph() throws -> ModelGraph { try SafetensorsPlugin().read(tinyLlama) }

    static func engine(slots: Int = 2, limits: ServerLimits = ServerLimits(), template: String? = chatML) throws -> InferenceEngine {
        try InferenceEngine(graph: graph(), options: RuntimeOptions(threads: 2), modelName: "tiny-llama", slots: slots,
                            limits: limits, chatTemplate: template)
    }

    static func chat(_ text: String, extra: String = "") throws -> CompletionRequest {
        try CompletionRequest.parse(JSONValue.parse("{\"model\": \"tiny-llama\", \"messages\": [{\"role\": \"user\", \"content\": \"\(text)\"}]\(extra)}", source: "test"),
                                    endpoint: .chat)
    }
}

@Suite struct RequestParsingTests {
    func parse(_ text: String, _ endpoint: CompletionEndpoint = .chat) throws -> CompletionRequest {
        try CompletionRequest.parse(JSONValue.parse(text, source: "test"), endpoint: endpoint)
    }

    func apiError(_ text: String, _ endpoint: CompletionEndpoint = .chat) -> APIError? {
        do {
            _ = try parse(text, endpoint)
            return nil
        } catch {
            return error as? APIError
        }
    }

    @Test func chatRequestFields() throws {
        let r = try parse("""
            {"model": "m", "messages": [{"role": "system", "content": "Be brief."},
              {"role": "user", "content": [{"type": "text", "text": "Hi "}, {"type": "text", "text": "there"}]}],
             "max_tokens": 12, "temperature": 0.5, "top_p": 0.9, "seed": 42, "stop": ["\\n", "END"], "stream": true,
             "stream_options": {"include_usage": true}, "unknown_field": {"ignored": 1}}
            """)
        #expect(r.model == "m")
        #expect(r.input == .messages([ChatMessage(role: "system", content: "Be brief."), ChatMessage(role: "user", content: "Hi there")]))
        #expect(r.maxTokens == 12 && r.stream && r.includeUsage && r.stop == ["\n", "END"])
        #expect(r.sampling.temperature == 0.5 && r.sampling.topP == Float(0.9) && r.sampling.seed == 42)
        // OpenAI's defaults when nothing is given: temperature 1, no top-k, top-p or min-p.
        let d = try parse(#"{"messages": [{"role": "user", "content": "x"}]}"#)
        #expect(d.sampling.temperature == 1 && d.sampling.topK == 0 && d.sampling.topP == 1 && d.sampling.minP == 0)
        #expect(d.model == nil && d.maxTokens == nil && !d.stream && d.stop.isEmpty)
    }

    @Test func textPrompts() throws {
        #expect(try parse(#"{"prompt": "Once"}"#, .text).input == .prompt("Once"))
        #expect(try parse(#"{"prompt": ["Once"]}"#, .text).input == .prompt("Once"))
        #expect(try parse(#"{"prompt": [1, 2, 3]}"#, .text).input == .tokens([1, 2, 3]))
        #expect(apiError(#"{"prompt": ["a", "b"]}"#, .text)?.param == "prompt")
        #expect(apiError(#"{"model": "m"}"#, .text)?.param == "prompt")
    }

    @Test func badFieldsNameTheField() {
        let cases: [(String, String)] = [
            (#"{"model": "m"}"#, "messages"),
            (#"{"messages": "hello"}"#, "messages"),
            (#"{"messages": []}"#, "messages"),
            (#"{"messages": [{"content": "x"}]}"#, "messages[0].role"),
            (#"{"messages": [{"role": "user", "content": [{"type": "image_url"}]}]}"#, "messages[0].content"),
            (#"{"messages": [{"role": "user", "content": "x"}], "max_tokens": 0}"#, "max_tokens"),
            (#"{"messages": [{"role": "user", "content": "x"}], "max_tokens": "ten"}"#, "max_tokens"),
            (#"{"messages": [{"role": "user", "content": "x"}], "temperature": 3}"#, "temperature"),
            (#"{"messages": [{"role": "user", "content": "x"}], "top_p": 0}"#, "top_p"),
            (#"{"messages": [{"role": "user", "content": "x"}], "n": 2}"#, "n"),
            (#"{"messages": [{"role": "user", "content": "x"}], "stop": ["a", "b", "c", "d", "e"]}"#, "stop"),
            (#"{"messages": [{"role": "user", "content": "x"}], "stop": 5}"#, "stop"),
            (#"{"messages": [{"role": "user", "content": "x"}], "stream": "yes"}"#, "stream"),
            (#"{"messages": [{"role": "user", "content": "x"}], "model": 5}"#, "model"),
        ]
        for (body, param) in cases {
            let error = apiError(body)
            #expect(error?.status == 400, "\(body)")
            #expect(error?.param == param, "\(body)")
            #expect(error?.message.isEmpty == false)
        }
        #expect(apiError("[1, 2]")?.status == 400)
    }

    @Test func errorObjectShape() throws {
        let json = APIError(status: 404, message: "no", param: "model", code: "model_not_found").json
        #expect(json.serialized() == #"{"error":{"message":"no","type":"invalid_request_error","param":"model","code":"model_not_found"}}"#)
    }
}

@Suite struct SchedulingTests {
    @Test func slotsGoToWaitersInArrivalOrder() async throws {
        let scheduler = SlotScheduler(slots: 1, maxQueue: 8)
        let first = try await scheduler.acquire()
        #expect(first == 0)
        let order = OrderLog()
        var tasks: [Task<Void, Error>] = []
        for i in 0..<4 {
            tasks.append(Task {
                let slot = try await scheduler.acquire()
                order.append(i)
                scheduler.release(slot)
            })
            // Let each waiter enqueue before the next one starts.
            while scheduler.load.queued < i + 1 { try await Task.sleep(nanoseconds: 1_000_000) }
        }
        #expect(scheduler.load == (busy: 1, queued: 4))
        scheduler.release(first)
        for t in tasks { try await t.value }
        #expect(order.values == [0, 1, 2, 3])
        #expect(scheduler.load == (busy: 0, queued: 0))
    }

    @Test func fullQueueIs429AndCancelledWaiterLeaves() async throws {
        let scheduler = SlotScheduler(slots: 1, maxQueue: 1)
        let held = try await scheduler.acquire()
        let waiting = Task { try await scheduler.acquire() }
        while scheduler.load.queued < 1 { try await Task.sleep(nanoseconds: 1_000_000) }
        await #expect(throws: APIError.self) { _ = try await scheduler.acquire() }
        do {
            _ = try await scheduler.acquire()
        } catch let error as APIError {
            #expect(error.status == 429 && error.code == "queue_full")
        }
        waiting.cancel()
        await #expect(throws: CancellationError.self) { _ = try await waiting.value }
        #expect(scheduler.load == (busy: 1, queued: 0))
        scheduler.release(held)
        #expect(scheduler.load == (busy: 0, queued: 0))
        scheduler.drain()
        do {
            _ = try await scheduler.acquire()
            Issue.record("a draining scheduler handed out a slot")
        } catch let error as APIError {
            #expect(error.status == 503)
        }
    }

    @Test func gateServesInTurn() async throws {
        // Two threads queue at the gate while the test holds it; then they alternate token steps strictly:
        // neither runs two steps while the other waits.
        let gate = ComputeGate()
        let log = OrderLog()
        let done = DispatchGroup()
        gate.acquire()
        for id in 0..<2 {
            done.enter()
            Thread {
                gate.acquire()
                for _ in 0..<50 {
                    log.append(id)
                    gate.yieldTurn()
                }
                gate.release()
                done.leave()
            }.start()
            while gate.waiting < id + 1 { try await Task.sleep(nanoseconds: 1_000_000) }
        }
        gate.release()
        done.wait()
        #expect(log.values == Array([[0, 1]].repeated(50).joined()))
    }
}

extension Array {
    func repeated(_ n: Int) -> [Element] { (0..<n).flatMap { _ in self } }
}

/// A thread-safe list of integers.
final class OrderLog: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [Int] = []
    func append(_ v: Int) { lock.lock(); items.append(v); lock.unlock() }
    var values: [Int] { lock.lock(); defer { lock.unlock() }; return items }
}

@Suite(.serialized) struct EngineTests {
    @Test func prepareChecksModelAndLimits() throws {
        let engine = try ServerFixtures.engine(limits: ServerLimits(maxTokens: 64))
        #expect(engine.contextLength == 256 && engine.slotCount == 2)
        #expect(!engine.sparsity.sparse && engine.sparsity.ffnDensity == 1 && engine.sparsity.mode == "dense")

        let ok = try engine.prepare(try ServerFixtures.chat("Hello", extra: #", "max_tokens": 10"#))
        #expect(ok.parameters.maxTokens == 10)
        // The prompt is the ChatML rendering, tokenized without BOS and with special tokens parsed.
        let tokenizer = try Tokenizer(graph: try ServerFixtures.graph(), source: "test")
        let expected = tokenizer.encode("<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n", addSpecial: false, parseSpecial: true)
        #expect(ok.promptTokens == expected)
        // No max_tokens: the server's limit, capped by the room left in the context.
        #expect(try engine.prepare(try ServerFixtures.chat("Hello")).parameters.maxTokens == 64)

        func failure(_ request: CompletionRequest) -> APIError? {
            do { _ = try engine.prepare(request); return nil } catch { return error as? APIError }
        }
        let unknown = failure(try ServerFixtures.chat("Hi", extra: "").with { $0.model = "gpt-4" })
        #expect(unknown?.status == 404 && unknown?.code == "model_not_found")
        let huge = failure(try ServerFixtures.chat("Hi", extra: #", "max_tokens": 1000000000"#))
        #expect(huge?.status == 400 && huge?.param == "max_tokens")
        let long = failure(try ServerFixtures.chat(String(repeating: "word ", count: 400)))
        #expect(long?.status == 400 && long?.code == "context_length_exceeded")
        let badToken = failure(try CompletionRequest.parse(JSONValue.parse(#"{"prompt": [1, 99999]}"#, source: "t"), endpoint: .text))
        #expect(badToken?.status == 400)

        let noTemplate = try ServerFixtures.engine(slots: 1, template: nil)
        let missing = { () -> APIError? in
            do { _ = try noTemplate.prepare(try ServerFixtures.chat("Hi")); return nil } catch { return error as? APIError }
        }()
        #expect(missing?.code == "no_chat_template")
    }

    @Test func generationMatchesSessionAndStopsWhenTheConsumerLeaves() async throws {
        let engine = try ServerFixtures.engine(slots: 1)
        let prepared = try engine.prepare(try ServerFixtures.chat("Tell me a story", extra: #", "max_tokens": 40, "seed": 5, "temperature": 0.8, "ignore_eos": true"#))
        var text = ""
        var report: RequestReport?
        for try await event in try await engine.generate(prepared) {
            switch event {
            case let .text(t): text += t
            case let .finished(r): report = r
            }
        }
        // The same generation through a plain Session gives the same text.
        let session = try Session(graph: try ServerFixtures.graph().withTemplate(ServerFixtures.chatML), options: RuntimeOptions(threads: 2))
        let reference = try session.complete(prompt: .tokens(prepared.promptTokens), parameters: prepared.parameters)
        #expect(text == reference.text && !text.isEmpty)
        #expect(report?.result.tokens == reference.tokens && report?.result.tokens.count == 40)
        #expect(report?.result.stopReason == .maxTokens)
        #expect(engine.counterValues.completed == 1)

        // A consumer that leaves stops the generation at its next token: the slot comes back and the request
        // counts as cancelled. Holding the compute gate keeps the generation from starting before the consumer
        // has left, so the outcome does not depend on timing.
        let long = try engine.prepare(try ServerFixtures.chat("Tell me a story", extra: #", "max_tokens": 200, "ignore_eos": true"#))
        let stop = StopFlag()
        engine.gate.acquire()
        let stream = try await engine.generate(long, stop: stop)
        #expect(engine.load.busy == 1 && engine.runningCount == 1)
        let consumer = Task { for try await _ in stream {} }
        consumer.cancel()
        _ = try? await consumer.value
        #expect(stop.isSet)
        engine.gate.release()
        for _ in 0..<1000 where engine.runningCount > 0 { try await Task.sleep(nanoseconds: 10_000_000) }
        #expect(engine.load.busy == 0 && engine.runningCount == 0)
        #expect(engine.counterValues.cancelled == 1 && engine.counterValues.completed == 1)
        // One token (the one sampled from the prompt) was generated before the flag was seen.
        #expect(engine.counterValues.generatedTokens == 40 + 1)
    }
}

@Suite struct SparseServingTests {
    /// tiny-llama packed into a sparse bundle (blocked FFN, SVD predictors; small calibration).
    static func packed() throws -> ModelGraph {
        let source = try ServerFixtures.graph()
        var options = PackOptions()
        options.predictor = .svd
        options.rank = 16
        options.calibrationTokens = 256
        options.calibrationContext = 64
        options.threads = 2
        let sequences = try CalibrationText.sequences(text: try CalibrationText.defaultText(), graph: source, context: 64, maxTokens: 256)
        return try Packer.pack(graph: source, calibration: .sequences(sequences), options: options).graph
    }

    @Test func reportsTheDensitiesUsed() async throws {
        let graph = try Self.packed()
        let engine = try InferenceEngine(graph: graph, options: RuntimeOptions(threads: 2, ffnDensity: 0.5, headDensity: 0.5),
                                         modelName: "tiny-llama", slots: 1, limits: ServerLimits(), chatTemplate: ServerFixtures.chatML)
        let reference = try Model(graph: graph, options: RuntimeOptions(threads: 2, ffnDensity: 0.5, headDensity: 0.5))
        #expect(engine.sparsity.sparse && engine.sparsity.mode == "predicted" && !engine.sparsity.sparsePrefill)
        #expect(engine.sparsity.ffnDensity == reference.meanFFNDensity && engine.sparsity.headDensity == reference.meanHeadDensity)
        #expect(engine.sparsity.ffnDensity > 0.3 && engine.sparsity.ffnDensity <= 0.5 + 1e-9)
        #expect(engine.sparsity.headDensity == 0.5)

        let prepared = try engine.prepare(try ServerFixtures.chat("Hello", extra: #", "max_tokens": 12, "seed": 9, "ignore_eos": true"#))
        var report: RequestReport?
        for try await event in try await engine.generate(prepared) {
            if case let .finished(r) = event { report = r }
        }
        let json = try #require(report?.json)
        #expect(json["sparse"] == .bool(true) && json["sparsity_mode"] == .string("predicted"))
        #expect(json["ffn_density"]?.doubleValue == engine.sparsity.ffnDensity && json["head_density"] == .double(0.5))
        #expect(report?.result.tokens.count == 12)
        #expect((json["decode_tokens_per_second"]?.doubleValue ?? 0) > 0)

        // Dense mode of the same bundle computes everything and says so.
        let dense = try InferenceEngine(graph: graph, options: RuntimeOptions(threads: 2, sparsity: .dense), modelName: "tiny-llama",
                                        slots: 1, limits: ServerLimits(), chatTemplate: ServerFixtures.chatML)
        #expect(!dense.sparsity.sparse && dense.sparsity.mode == "dense" && dense.sparsity.ffnDensity == 1)
    }
}

extension CompletionRequest {
    func with(_ change: (inout CompletionRequest) -> Void) -> CompletionRequest {
        var copy = self
        change(&copy)
        return copy
    }
}

extension ModelGraph {
    func withTemplate(_ template: String) -> ModelGraph {
        var copy = self
        copy.tokenizer?.chatTemplate = template
        return copy
    }
}
