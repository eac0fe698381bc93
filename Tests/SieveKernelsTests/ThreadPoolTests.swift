import Foundation
import Synchronization
import Testing
@testable import SieveKernels

@Suite struct ThreadPoolTests {
    @Test(arguments: [1, 2, 3])
    func everyIndexRunsExactlyOnce(threads: Int) {
        let pool = ThreadPool(threads: threads)
        for count in [0, 1, 5, 64, 1000] {
            for grain in [1, 4, 7] {
                for chunksPerThread in [1, 2, 4] {
                    let hits = UnsafeMutablePointer<Int>.allocate(capacity: max(count, 1))
                    hits.initialize(repeating: 0, count: max(count, 1))
                    let badThread = Atomic<Int>(0), chunks = Atomic<Int>(0)
                    pool.parallelFor(count, grain: grain, chunksPerThread: chunksPerThread) { range, thread in
                        if thread < 0 || thread >= threads { badThread.add(1, ordering: .relaxed) }
                        if range.lowerBound % grain != 0 { badThread.add(1, ordering: .relaxed) }
                        chunks.add(1, ordering: .relaxed)
                        for i in range { hits[i] += 1 }
                    }
                    #expect((0..<count).allSatisfy { hits[$0] == 1 }, "count \(count) grain \(grain)")
                    #expect(badThread.load(ordering: .relaxed) == 0)
                    // A chunk per call at most as many times as asked (the body may be handed several chunks at once).
                    #expect(chunks.load(ordering: .relaxed) <= threads * chunksPerThread, "count \(count) grain \(grain) chunks \(chunksPerThread)")
                    hits.deallocate()
                }
            }
        }
    }

    @Test func manySmallRegionsAndSleepingWorkers() {
        let pool = ThreadPool(threads: 2, spinMicroseconds: 0)
        let total = Atomic<Int>(0)
        for i in 0..<2000 {
            pool.parallelChunks(4, chunk: 1) { range, _ in total.add(range.count, ordering: .relaxed) }
            if i % 500 == 0 { usleep(2000) }
        }
        #expect(total.load(ordering: .relaxed) == 8000)
    }

    @Test func resultsAreVisibleAfterTheRegion() {
        let pool = ThreadPool(threads: 2)
        var values = [Int](repeating: 0, count: 4096)
        for round in 1...50 {
            values.withUnsafeMutableBufferPointer { buf in
                pool.parallelFor(buf.count, grain: 16) { range, _ in
                    for i in range { buf[i] = i * round }
                }
            }
            #expect(values.enumerated().allSatisfy { $0.element == $0.offset * round })
        }
    }
}
