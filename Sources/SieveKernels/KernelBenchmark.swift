import Foundation
import SieveCore

/// Throughput of the matrix products on realistic shapes, and the thread pool's fork/join cost, printed as a
/// table (`sieve bench --kernels`). Build in release with `-Xswiftc -target-cpu -Xswiftc native`.
///
/// Weights are random bytes with valid block scales (values do not change the speed). Unless `hotCache` is
/// set, each measurement rotates through enough copies of the matrix to exceed the last-level cache, so the
/// GB/s column is the rate at which weights stream from memory, as in decoding a real model.
public enum KernelBenchmark {
    /// One measured product.
    public struct Row: Sendable, CustomStringConvertible {
        /// Weight type.
        public var dtype: DType
        /// Matrix rows.
        public var rows: Int
        /// Matrix columns.
        public var columns: Int
        /// Tokens multiplied at once (1 = decode).
        public var tokens: Int
        /// Threads in the pool.
        public var threads: Int
        /// The kernels that computed the product (`swift` for every type and path without a C kernel).
        public var kernels: DecodeKernels
        /// Whether the matrix was in the 16-row interleaved layout models multiply the interleavable types in with the
        /// VNNI or AVX2 kernels (`WeightMatrix.interleaved()`), rather than row by row.
        public var interleaved: Bool = false
        /// Median time of one product, in microseconds.
        public var microseconds: Double
        /// Weight bytes read per second, in GB/s.
        public var gigabytesPerSecond: Double { Double(dtype.byteCount(elements: rows * columns) ?? 0) / microseconds / 1e3 }
        /// Arithmetic rate, `2·rows·columns·tokens` per second, in GFLOP/s.
        public var gigaflops: Double { 2 * Double(rows * columns * tokens) / microseconds / 1e3 }

        /// The layout of the weights: `16-row` (interleaved) or `rows`.
        public var layout: String { interleaved ? "16-row" : "rows" }

        public var description: String {
            String(format: "%-5@ %5d×%-5d %4d tok %d thr %-5@ %-6@ %10.1f µs %8.2f GB/s %8.2f GFLOP/s",
                   dtype.name as NSString, rows, columns, tokens, threads, kernels.rawValue as NSString, layout as NSString,
                   microseconds, gigabytesPerSecond, gigaflops)
        }
    }

    /// The default shapes: SmolLM2-135M (576×1536, 1536×576) and TinyLlama (2048×5632).
    public static let defaultShapes: [(rows: Int, columns: Int)] = [(576, 1536), (1536, 576), (2048, 5632)]

    /// The kernel choices `run` compares by default: the preferred kernels, and Swift when they are not Swift.
    public static var defaultKernels: [DecodeKernels] { DecodeKernels.preferred == .swift ? [.swift] : [.preferred, .swift] }

    /// Measures every type × shape × thread count for decode (1 token) and, when `prefillTokens > 0`, prefill.
    /// Decode products that have a C kernel, and prefill products of the types the C kernels multiply several tokens
    /// at a time (`CRowKernels.multiTokenTypes` and the interleavable types; with `swift`, their f32 path), are
    /// measured once per entry of `kernels` (which must be available on this CPU); every other case once, in Swift. A
    /// product of an interleavable type (`WeightMatrix.canInterleave`) with the VNNI or AVX2 kernels is measured in the
    /// 16-row layout models use (rows a multiple of 16), decode also in the row layout. Shapes whose columns are not whole blocks
    /// of a type (576 for the K-quants) are skipped for that type. Prints each row as it is measured when `verbose`.
    public static func run(threads: [Int] = [1, 2], types: [DType] = WeightMatrix.supportedTypes,
                           shapes: [(rows: Int, columns: Int)] = defaultShapes, prefillTokens: Int = 128,
                           kernels: [DecodeKernels] = defaultKernels,
                           repetitions: Int = 5, hotCache: Bool = false, verbose: Bool = true) -> [Row] {
        var results: [Row] = []
        for t in threads {
            let pool = ThreadPool(threads: t)
            for dtype in types {
                for shape in shapes where shape.columns % dtype.blockSize == 0 {
                    for tokens in prefillTokens > 0 ? [1, prefillTokens] : [1] {
                        let interleavable = WeightMatrix.canInterleave(dtype, rows: shape.rows)
                        let inC = tokens < MatMul.prefillMinimumTokens ? CRowKernels.decodesInC(dtype)
                                                                       : CRowKernels.multiTokenTypes.contains(dtype) || interleavable
                        let choices = inC ? kernels : [.swift]
                        for k in choices {
                            // Prefill of the row layout of blocks of 32 is the f32 path whatever the kernel choice: measured
                            // with `swift` only. iq4_xs's row layout has its own multi-token kernel.
                            let rowPrefillInC = CRowKernels.multiTokenTypes.contains(dtype)
                            let layouts = k == .swift || !interleavable ? [false] : tokens > 1 && !rowPrefillInC ? [true] : [false, true]
                            for interleaved in layouts {
                                let us = measure(dtype: dtype, rows: shape.rows, columns: shape.columns, tokens: tokens, pool: pool,
                                                 kernels: k, interleaved: interleaved, repetitions: repetitions, hotCache: hotCache)
                                let row = Row(dtype: dtype, rows: shape.rows, columns: shape.columns, tokens: tokens, threads: t,
                                              kernels: k, interleaved: interleaved, microseconds: us)
                                if verbose { print(row) }
                                results.append(row)
                            }
                        }
                    }
                }
            }
        }
        return results
    }

    /// Median microseconds of one product of a random `[rows, columns]` matrix of `dtype` with `tokens` tokens,
    /// with the decode `kernels` given, in the 16-row layout when `interleaved` (an interleavable type, rows a multiple
    /// of 16).
    public static func measure(dtype: DType, rows: Int, columns: Int, tokens: Int, pool: ThreadPool,
                               kernels: DecodeKernels = .preferred, interleaved: Bool = false, repetitions: Int = 5,
                               hotCache: Bool = false) -> Double {
        let bytes = dtype.byteCount(elements: rows * columns)!
        let copies = hotCache || tokens > 1 ? 1 : max(1, (96 << 20) / bytes)
        var rng = SplitMix64(seed: 1)
        let matrices = (0..<copies).map { _ in
            let m = randomMatrix(dtype, rows: rows, columns: columns, rng: &rng)
            return interleaved ? m.interleaved() : m
        }
        let x = rng.floats(tokens * columns)
        let input = MatMulInput(maxTokens: tokens, maxColumns: columns, threads: pool.threadCount, kernels: kernels)
        let y = UnsafeMutablePointer<Float>.allocate(capacity: tokens * rows)
        defer { y.deallocate() }
        return x.withUnsafeBufferPointer { xb -> Double in
            input.bind(xb.baseAddress!, tokens: tokens, columns: columns)
            let one = { (i: Int) in MatMul.multiply(matrices[i % copies], input, into: y, pool: pool) }
            one(0)
            // Calls per repetition: about 20 ms worth.
            let start = monotonicNanoseconds()
            one(1)
            let estimate = max(1, Double(monotonicNanoseconds() - start))
            let calls = max(copies, Int(20e6 / estimate))
            var times: [Double] = []
            var i = 0
            for _ in 0..<repetitions {
                let t0 = monotonicNanoseconds()
                for _ in 0..<calls {
                    one(i)
                    i += 1
                }
                times.append(Double(monotonicNanoseconds() - t0) / Double(calls) / 1e3)
            }
            return times.sorted()[times.count / 2]
        }
    }

    /// The f16 decode kernels' two conversions timed as `MatMulInput.mixedHalfConversionPays` times them (ns per
    /// row of 256 values from L1, plain `vcvtph2ps` and mixed), or nil where the C f16 kernels do not run.
    public static func halfConversionNanosecondsPerRow() -> (plain: Double, mixed: Double)? {
        guard CRowKernels.halfAvailable else { return nil }
        let times = CRowKernels.halfConversionNanoseconds()
        let rows = Double(CRowKernels.halfConversionRows * CRowKernels.halfConversionPasses)
        return (Double(times.plain) / rows, Double(times.mixed) / rows)
    }

    /// Fork/join overhead of one region, in microseconds: each region has `threadCount` chunks that busy-wait
    /// `workMicroseconds` each; its overhead is its time minus `workMicroseconds` (what a perfectly parallel
    /// region takes). Regions are timed one by one and the median is returned, so a region slowed by another
    /// process (a busy machine) does not skew the result. Empty regions would measure nothing: the caller takes
    /// every chunk before a worker looks.
    public static func forkJoinMicroseconds(pool: ThreadPool, workMicroseconds: Double = 5, regions: Int = 5_000) -> Double {
        let work = UInt64(workMicroseconds * 1e3)
        var times: [Double] = []
        times.reserveCapacity(regions)
        for _ in 0..<regions {
            let t0 = monotonicNanoseconds()
            pool.parallelChunks(pool.threadCount, chunk: 1) { _, _ in
                let end = monotonicNanoseconds() + work
                while monotonicNanoseconds() < end {}
            }
            times.append(Double(monotonicNanoseconds() - t0) / 1e3 - workMicroseconds)
        }
        return times.sorted()[times.count / 2]
    }

    /// Formats rows as a Markdown table.
    public static func table(_ rows: [Row]) -> String {
        var out = "| type | shape | tokens | threads | kernels | layout | µs | GB/s | GFLOP/s |\n|---|---|---:|---:|---|---|---:|---:|---:|\n"
        for r in rows {
            out += String(format: "| %@ | %d×%d | %d | %d | %@ | %@ | %.1f | %.2f | %.2f |\n", r.dtype.name as NSString, r.rows, r.columns,
                          r.tokens, r.threads, r.kernels.rawValue as NSString, r.layout as NSString, r.microseconds,
                          r.gigabytesPerSecond, r.gigaflops)
        }
        return out
    }

    /// A matrix of random codes with block scales set to small normal values (no NaN or infinity anywhere).
    static func randomMatrix(_ dtype: DType, rows: Int, columns: Int, rng: inout SplitMix64) -> WeightMatrix {
        let count = dtype.byteCount(elements: rows * columns)!
        let buffer = TensorBuffer(count: count)
        let p = buffer.bytes.baseAddress!
        switch dtype {
        case .f32:
            for i in 0..<(rows * columns) { p.storeBytes(of: rng.nextSignedUnit(), toByteOffset: 4 * i, as: Float.self) }
        case .f16:
            for i in 0..<(rows * columns) { p.storeBytes(of: HalfPrecision.floatToF16(rng.nextSignedUnit()), toByteOffset: 2 * i, as: UInt16.self) }
        case .bf16:
            for i in 0..<(rows * columns) { p.storeBytes(of: HalfPrecision.floatToBF16(rng.nextSignedUnit()), toByteOffset: 2 * i, as: UInt16.self) }
        default:
            var i = 0
            while i + 8 <= count {
                p.storeBytes(of: rng.next(), toByteOffset: i, as: UInt64.self)
                i += 8
            }
            while i < count { p.storeBytes(of: UInt8(truncatingIfNeeded: rng.next()), toByteOffset: i, as: UInt8.self); i += 1 }
            let scale = HalfPrecision.floatToF16(0.01)
            let offsets: [Int]
            switch dtype {
            case .q4_1, .q5_1, .q4_K, .q5_K: offsets = [0, 2]
            case .q6_K: offsets = [208]
            case .q2_K: offsets = [80, 82]
            case .q3_K: offsets = [108]
            default: offsets = [0]
            }
            for b in 0..<(count / dtype.blockBytes) {
                if dtype.isGridQuantized {
                    GridQuant.setScale(scale, block: p + b * dtype.blockBytes, dtype: dtype)
                } else {
                    for o in offsets { p.storeBytes(of: scale, toByteOffset: b * dtype.blockBytes + o, as: UInt16.self) }
                }
            }
        }
        // The shape and byte count match by construction.
        return try! WeightMatrix(bytes: UnsafeRawBufferPointer(buffer.bytes), dtype: dtype, rows: rows, columns: columns,
                                 name: "bench-\(dtype.name)", owner: buffer)
    }
}
