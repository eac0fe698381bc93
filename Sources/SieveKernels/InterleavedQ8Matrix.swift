import CSieveKernels
import Foundation
import SieveCore

/// A q8_0 matrix with short rows (a sparsity predictor's `[units, rank]` up-projection) copied into a layout where
/// one AVX-512 VNNI instruction advances sixteen rows' dot products at once.
///
/// Row by row, a 64-column q8_0 row is two blocks: the row kernels spend more on summing each row's vector lanes
/// than on the products (docs-opt-relu's 1024×64 scores took 3.2 µs). Here each group of 16 rows stores, per block
/// of 32 columns, the 16 row scales as f32, then for every 4 columns the 4 codes of each of the 16 rows (64 bytes),
/// offset by 128 to unsigned bytes. The activation's 4 signed codes of those columns are broadcast against them
/// (`vpdpbusd`, unsigned × signed); each sum starts at `−128 · Σ` of the activation block's codes, which takes the
/// offset back, so the integer sums are exactly the row kernels'. No horizontal sums: 16 results come out as one
/// vector.
///
/// Built only where the kernel runs (`init?` returns nil elsewhere: other CPUs, `SIEVE_KERNELS=swift`, other
/// types); the copy is 576 bytes per 16 rows and block (a 64-column q8_0 row is 68 bytes, here 72).
public final class InterleavedQ8Matrix: @unchecked Sendable {
    /// Rows of the source matrix (outputs of the product).
    public let rows: Int
    /// Columns of the source matrix.
    public let columns: Int
    /// Blocks of 32 columns per row.
    let blocks: Int
    /// The re-laid groups, 64-byte aligned.
    private let packed: UnsafeMutableRawPointer

    /// Bytes of one group's block: 16 scales, 8 × 64 codes.
    static let groupBlockBytes = 576

    /// Bytes of the re-laid copy (what one product reads).
    public var byteCount: Int { (rows + 15) / 16 * blocks * Self.groupBlockBytes }

    /// Whether the interleaved kernel runs on this CPU with the preferred decode kernels.
    public static var isAvailable: Bool { DecodeKernels.preferred == .vnni }

    /// The re-laid copy of `w`, or nil when `w` is not q8_0 or the kernel is not available.
    public init?(_ w: WeightMatrix) {
        guard Self.isAvailable, w.dtype == .q8_0, w.rows > 0 else { return nil }
        rows = w.rows
        columns = w.columns
        blocks = w.columns / 32
        let groups = (rows + 15) / 16
        let bytes = groups * blocks * Self.groupBlockBytes
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
                    let code = block.load(fromByteOffset: 2 + i, as: UInt8.self) ^ 0x80
                    out.storeBytes(of: code, toByteOffset: 64 + 64 * (i / 4) + 4 * lane + i % 4, as: UInt8.self)
                }
            }
        }
    }

    deinit { packed.deallocate() }

    /// `y[0..<rows] = W · x` for one token `x[0..<columns]`, its activations quantized to q8_0 as the decode
    /// products quantize them (`MatMul.multiplyReferenceQuantizedActivations` is the reference). Runs on the
    /// calling thread; allocates nothing on the heap.
    public func multiply(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>) {
        #if arch(x86_64)
        let n = blocks
        withUnsafeTemporaryAllocation(of: Float.self, capacity: 3 * n) { scales in
            withUnsafeTemporaryAllocation(of: Int8.self, capacity: 32 * n) { codes in
                withUnsafeTemporaryAllocation(of: Int32.self, capacity: n) { offsets in
                    let s = scales.baseAddress!, q = codes.baseAddress!, o = offsets.baseAddress!
                    let act = Q8Activation(qs: q, d: s, s: s + n, offsetSum: s + 2 * n, blocks: n)
                    act.quantize(x)
                    // Each block's code sum, from `offsetSum = d · Σq` (an exact product, so the quotient is exact).
                    for b in 0..<n { o[b] = s[b] > 0 ? -128 &* Int32(s[2 * n + b] / s[b]) : 0 }
                    sieve_q8_0_interleaved16_vnni(packed, rows, Int32(n), q, s, o, y)
                }
            }
        }
        #else
        preconditionFailure("InterleavedQ8Matrix exists only where its VNNI kernel runs")
        #endif
    }
}
