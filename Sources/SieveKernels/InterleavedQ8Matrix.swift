import CSieveKernels
import Foundation
import SieveCore

/// A q8_0 matrix with short rows (a sparsity predictor's `[units, rank]` up-projection) copied into a layout where
/// one AVX-512 VNNI instruction (or a few AVX2 ones) advances sixteen rows' dot products at once.
///
/// Row by row, a 64-column q8_0 row is two blocks: the row kernels spend more on summing each row's vector lanes
/// than on the products (docs-opt-relu's 1024×64 scores took 3.2 µs). Here each group of 16 rows stores, per block
/// of 32 columns, the 16 row scales as f32, then for every 4 columns the 4 codes of each of the 16 rows (64 bytes),
/// offset by 128 to unsigned bytes. The activation's 4 signed codes of those columns are broadcast against them
/// (`vpdpbusd`, unsigned × signed); each sum starts at `−128 · Σ` of the activation block's codes, which takes the
/// offset back, so the integer sums are exactly the row kernels'. No horizontal sums: 16 results come out as one
/// vector.
///
/// CPUs with AVX2 but not AVX-512 VNNI (AMD Zen 2/3, Intel client cores) run an AVX2 form on the same layout with
/// the codes kept signed: the activation codes' magnitudes against the row codes carrying their signs
/// (`vpmaddubsw`), widened to each row's int32 sum (`vpmaddwd`), rows 0–7 and 8–15 of a group in two vectors. On a
/// Zen 2 core docs-opt-relu's 1024×64 scores take 1.5 µs this way against 3.6 µs row by row, and, since they then
/// need no parallel region, they and the selection run beside the output projection (see `Model`).
///
/// Built only where a kernel runs (`init?` returns nil elsewhere: other CPUs, `SIEVE_KERNELS=swift`, other
/// types); the copy is 576 bytes per 16 rows and block (a 64-column q8_0 row is 68 bytes, here 72).
public final class InterleavedQ8Matrix: @unchecked Sendable {
    /// Rows of the source matrix (outputs of the product).
    public let rows: Int
    /// Columns of the source matrix.
    public let columns: Int
    /// Blocks of 32 columns per row.
    let blocks: Int
    /// The kernel the layout is for (`.vnni` or `.avx2`).
    public let kernels: DecodeKernels
    /// The re-laid groups, 64-byte aligned.
    private let packed: UnsafeMutableRawPointer

    /// Bytes of one group's block: 16 scales, 8 × 64 codes.
    static let groupBlockBytes = 576

    /// Bytes of the re-laid copy (what one product reads).
    public var byteCount: Int { (rows + 15) / 16 * blocks * Self.groupBlockBytes }

    /// Whether an interleaved kernel runs on this CPU with the preferred decode kernels.
    public static var isAvailable: Bool { DecodeKernels.preferred != .swift }

    /// The re-laid copy of `w` for `kernels` (`.vnni` or `.avx2`, available on this CPU), or nil when `w` is not
    /// a row-major q8_0 matrix or the kernels are not.
    public init?(_ w: WeightMatrix, kernels: DecodeKernels = .preferred) {
        guard kernels != .swift, kernels.isAvailable, w.dtype == .q8_0, !w.isInterleaved, w.rows > 0 else { return nil }
        self.kernels = kernels
        rows = w.rows
        columns = w.columns
        blocks = w.columns / 32
        let groups = (rows + 15) / 16
        let bytes = groups * blocks * Self.groupBlockBytes
        // VNNI multiplies unsigned bytes: the codes + 128.
        let offset: UInt8 = kernels == .vnni ? 0x80 : 0
        packed = .allocate(byteCount: bytes, alignment: 64)
        packed.initializeMemory(as: UInt8.self, repeating: 0, count: bytes)
        for r in 0..<rows {
            let source = w.row(r)
            let group = r / 16, lane = r % 16
            for b in 0..<blocks {
                let block = source + 34 * b
                let out = packed + (group * blocks + b) * Self.groupBlockBytes
                let scale = Float(Float16(bitPattern: block.loadUnaligned(as: UInt16.self)))
                out.storeBytes(of: scale, toByteOffset: 4 * lane, as: Float.self)
                for i in 0..<32 {
                    let code = block.load(fromByteOffset: 2 + i, as: UInt8.self) ^ offset
                    out.storeBytes(of: code, toByteOffset: 64 + 64 * (i / 4) + 4 * lane + i % 4, as: UInt8.self)
                }
            }
        }
        // Products read the copy from now on: a source mapped from a file gives back the pages the copy read, so
        // the process holds the matrix once (docs-opt-relu's sparse run: 0.42 MB less).
        if let file = w.owner as? MappedFile {
            file.releasePages(of: UnsafeRawBufferPointer(start: w.base, count: w.rows * w.rowBytes))
        }
    }

    deinit { packed.deallocate() }

    /// `y[0..<rows] = W · x` for one token `x[0..<columns]`, its activations quantized to q8_0 as the decode
    /// products quantize them (`MatMul.multiplyReferenceQuantizedActivations` is the reference). Runs on the
    /// calling thread, or with `pool` its groups of 16 rows are shared among the pool's threads (the results are
    /// the same); allocates nothing on the heap.
    public func multiply(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, pool: ThreadPool? = nil) {
        #if arch(x86_64)
        let n = blocks
        withUnsafeTemporaryAllocation(of: Float.self, capacity: 3 * n) { scales in
            withUnsafeTemporaryAllocation(of: Int8.self, capacity: 32 * n) { codes in
                withUnsafeTemporaryAllocation(of: Int32.self, capacity: 2 * n) { sums in
                    let s = scales.baseAddress!, q = codes.baseAddress!, o = sums.baseAddress!
                    let act = Q8Activation(qs: q, d: s, s: s + n, offsetSum: s + 2 * n, codeSum: o + n, blocks: n)
                    act.quantize(x)
                    if kernels == .vnni { for b in 0..<n { o[b] = -128 &* o[n + b] } }
                    let groups = (rows + 15) / 16
                    guard let pool, pool.threadCount > 1 else { return groupProducts(0..<groups, q, s, o, y) }
                    pool.parallelFor(groups) { range, _ in self.groupProducts(range, q, s, o, y) }
                }
            }
        }
        #else
        preconditionFailure("InterleavedQ8Matrix exists only where its kernels run (x86-64)")
        #endif
    }

    #if arch(x86_64)
    /// The rows of groups `groups` from the quantized activations (`q` codes, `d` block scales, `o` VNNI's offset
    /// sums).
    private func groupProducts(_ groups: Range<Int>, _ q: UnsafePointer<Int8>, _ d: UnsafePointer<Float>,
                               _ o: UnsafePointer<Int32>, _ y: UnsafeMutablePointer<Float>) {
        let first = 16 * groups.lowerBound, count = min(rows, 16 * groups.upperBound) - first
        let group = packed + groups.lowerBound * blocks * Self.groupBlockBytes
        if kernels == .avx2 {
            sieve_q8_0_interleaved16_avx2(group, count, Int32(blocks), q, d, y + first)
        } else {
            sieve_q8_0_interleaved16_vnni(group, count, Int32(blocks), q, d, o, y + first)
        }
    }
    #endif
}
