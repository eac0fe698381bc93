import CAllocationCounter
import Foundation
import GGUFFormat
import SieveCore
import SieveKernels
@testable import SieveRuntime
import Testing

/// "Hot loops allocate nothing": heap allocations counted (malloc interposition, `CAllocationCounter`) on the
/// calling thread and on every worker of the pool while a warmed-up model decodes.
@Suite("hot loops allocate nothing", .serialized, .enabled(if: sieve_allocation_counter_available() != 0, "needs glibc (malloc interposition)"))
struct AllocationTests {
    /// Turns allocation counting on or off on every thread of `pool`, the caller included: each thread sets its own
    /// flag inside a chunk, and regions are repeated until every thread index has run one. Returns false if a
    /// thread never ran a chunk.
    static func counting(_ on: Bool, pool: ThreadPool) -> Bool {
        let threads = pool.threadCount
        let done = UnsafeMutablePointer<Int>.allocate(capacity: threads)
        defer { done.deallocate() }
        done.initialize(repeating: 0, count: threads)
        var rounds = 0
        while (0..<threads).contains(where: { done[$0] == 0 }) && rounds < 1000 {
            pool.parallelChunks(threads, chunk: 1) { _, thread in
                sieve_allocation_counter_enable(on ? 1 : 0)
                done[thread] = 1
                usleep(500)
            }
            rounds += 1
        }
        return rounds < 1000
    }

    /// Allocations made by `body` on `pool`'s threads.
    static func allocations(pool: ThreadPool, _ body: () throws -> Void) rethrows -> Int {
        let on = counting(true, pool: pool)
        let before = sieve_allocation_counter_total()
        try body()
        let after = sieve_allocation_counter_total()
        let off = counting(false, pool: pool)
        #expect(on && off, "a pool thread never ran a chunk")
        return after - before
    }

    @Test("the counter sees the allocations of an array, on the caller and on a worker")
    func counterWorks() {
        let pool = ThreadPool(threads: 2)
        let count = Int.random(in: 100...200)
        var sums = [0, 0]
        let n = Self.allocations(pool: pool) {
            sums.withUnsafeMutableBufferPointer { out in
                pool.parallelChunks(2, chunk: 1) { range, _ in
                    let values = [Int](repeating: range.lowerBound + 1, count: count)
                    out[range.lowerBound] = values.reduce(0, +)
                    usleep(1000)
                }
            }
        }
        #expect(sums == [count, 2 * count])
        #expect(n >= 2, "\(n) allocations counted for two arrays")
    }

    @Test("parallel regions with capturing closures allocate nothing")
    func parallelRegions() {
        let pool = ThreadPool(threads: 2)
        let buffer = UnsafeMutablePointer<Int>.allocate(capacity: 4096)
        defer { buffer.deallocate() }
        let factor = Int.random(in: 1...9)
        var total = 0
        let n = Self.allocations(pool: pool) {
            for round in 0..<200 {
                pool.parallelFor(4096, grain: 16) { range, _ in
                    for i in range { buffer[i] = i &* factor &+ round }
                }
                pool.parallelChunks(4096, chunk: 512) { range, thread in
                    for i in range { buffer[i] &+= thread &* 0 }
                }
                total &+= buffer[4095]
            }
        }
        #expect(n == 0, "\(n) allocations in 400 regions")
        #expect(buffer[4095] == 4095 * factor + 199)
        #expect(total > 0)
    }

    @Test("16 decode steps of the tiny llama (q4_1, 2 threads) allocate nothing after warm-up",
          .enabled(if: Fixtures.has("tiny-llama/q4_1.gguf")))
    func tinyLlamaDecode() throws {
        let model = try Fixtures.model("tiny-llama/q4_1.gguf", options: RuntimeOptions(contextLength: 256, threads: 2))
        let prompt = [1, 334, 438, 430, 429, 481, 442, 274, 459, 297, 298, 449, 435, 286, 432, 469, 429, 486, 442, 444, 445, 437, 263, 312]
        var next = 0
        try model.evaluate(prompt, outputs: .last) { _, output in next = Sampler.argmax(output.logits) }
        for _ in 0..<2 { next = try model.decode(next) { Sampler.argmax($0) } }
        var path: [Int] = []
        path.reserveCapacity(16)
        let n = try Self.allocations(pool: model.pool) {
            for _ in 0..<16 {
                next = try model.decode(next) { Sampler.argmax($0) }
                path.append(next)
            }
        }
        #expect(n == 0, "\(n) allocations in 16 decode steps")
        #expect(path.count == 16)
    }

    @Test("16 profiled decode steps of the tiny llama allocate nothing after warm-up",
          .enabled(if: Fixtures.has("tiny-llama/q4_1.gguf")))
    func tinyLlamaProfiledDecode() throws {
        let model = try Fixtures.model("tiny-llama/q4_1.gguf", options: RuntimeOptions(contextLength: 256, threads: 2))
        model.profilesDecode = true
        var next = 1
        for _ in 0..<3 { next = try model.decode(next) { Sampler.argmax($0) } }
        let n = try Self.allocations(pool: model.pool) {
            for _ in 0..<16 { next = try model.decode(next) { Sampler.argmax($0) } }
        }
        #expect(n == 0, "\(n) allocations in 16 profiled decode steps")
        #expect(model.decodeProfile.tokens == 19)
    }

    @Test("SmolLM2 Q4_1 decode at 150+ positions (parallel attention, tied q8_0 head, 2 threads) allocates nothing",
          .enabled(if: Fixtures.smollm2 != nil && Fixtures.modelScaleTests, "needs `make models` and a release build"))
    func smolLM2Decode() throws {
        let graph = try GGUFPlugin().read(try #require(Fixtures.smollm2))
        let model = try Model(graph: graph, options: RuntimeOptions(contextLength: 512, threads: 2))
        // 156 prompt tokens: attention at these spans is split over the pool (Model.serialAttentionWork).
        let chat = [1, 9690, 198, 2683, 359, 253, 5356, 5646, 11173, 3365, 3511, 308, 34519, 28, 7018, 411, 407, 19712, 8182, 2,
                    198, 1, 4093, 198, 1780, 314, 260, 31469, 6740, 281, 260, 905, 47, 2, 198, 1, 520, 9531, 198]
        let prompt = Array([chat, chat, chat, chat].joined())
        var next = 0
        try model.evaluate(prompt, outputs: .last) { _, output in next = Sampler.argmax(output.logits) }
        for _ in 0..<2 { next = try model.decode(next) { Sampler.argmax($0) } }
        var path: [Int] = []
        path.reserveCapacity(16)
        let n = try Self.allocations(pool: model.pool) {
            for _ in 0..<16 {
                next = try model.decode(next) { Sampler.argmax($0) }
                path.append(next)
            }
        }
        #expect(n == 0, "\(n) allocations in 16 decode steps")
        #expect(path.count == 16 && path.allSatisfy { $0 >= 0 && $0 < model.vocabularySize })
    }
}
