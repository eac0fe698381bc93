import CSieveKernels
import Foundation
import SieveCore

/// Which implementation computes the decode (8-bit activation) products of the 32-element quantized types q8_0,
/// q4_0 and q4_1. Every other type, and prefill, always runs in Swift.
///
/// `preferred` is decided once, at first use: `vnni` when the CPU has AVX-512 VNNI, unless the environment
/// variable `SIEVE_KERNELS=swift` forces the Swift kernels (to compare the two on one machine). A `MatMulInput`
/// carries the choice it was created with, so tests and benchmarks can run both in one process.
public enum DecodeKernels: String, Sendable, CaseIterable {
    /// Swift SIMD kernels (`QuantizedGEMV`), portable to every CPU.
    case swift
    /// C kernels with AVX-512 VNNI byte dot products (`vpdpbusd`, `CSieveKernels`), x86-64 only.
    case vnni

    /// Whether this CPU can run these kernels.
    public var isAvailable: Bool {
        switch self {
        case .swift: return true
        case .vnni: return DecodeKernels.cpuHasVNNI
        }
    }

    /// The kernels used when a `MatMulInput` is created without an explicit choice.
    public static let preferred: DecodeKernels = {
        if ProcessInfo.processInfo.environment["SIEVE_KERNELS"]?.lowercased() == "swift" { return .swift }
        return cpuHasVNNI ? .vnni : .swift
    }()

    private static let cpuHasVNNI = sieve_cpu_has_avx512_vnni() != 0
}

/// Decode products on 32-element quantized blocks through the C VNNI kernels, four rows at a time from the four
/// quarters of the row range (as `QuantizedGEMV.rows`), reading the activations `MatMulInput` prepared.
enum VNNIGEMV {
    /// `y[r] = W[r, :]·x` for `r` in `rows` (q8_0, q4_0 or q4_1 weights). Only call when `DecodeKernels.vnni`
    /// is available.
    @inline(never)
    static func rows(_ w: WeightLayout, _ rows: DecodeRows, _ act: Q8Activation, _ y: UnsafeMutablePointer<Float>) {
        #if arch(x86_64)
        let nb = Int32(act.blocks)
        if w.dtype == .q8_0 {
            // Row indices gathered in the groups' order and handed to C a batch at a time.
            withUnsafeTemporaryAllocation(of: Int.self, capacity: listBatch + 4) { batch in
                let list = batch.baseAddress!
                var n = 0
                rows.forEachGroup(of: w) { r, valid in
                    list[n] = r.0; list[n + 1] = r.1; list[n + 2] = r.2; list[n + 3] = r.3
                    n += valid
                    if n >= listBatch {
                        sieve_q8_0_dot_list_vnni(w.base, w.rowBytes, list, n, nb, act.qs, act.d, y)
                        n = 0
                    }
                }
                if n > 0 { sieve_q8_0_dot_list_vnni(w.base, w.rowBytes, list, n, nb, act.qs, act.d, y) }
            }
            return
        }
        withUnsafeTemporaryAllocation(of: Float.self, capacity: 4) { out in
            let o = out.baseAddress!
            rows.forEachGroup(of: w) { r, valid in
                let p0 = w.row(r.0), p1 = w.row(r.1), p2 = w.row(r.2), p3 = w.row(r.3)
                switch w.dtype {
                case .q4_1: sieve_q4_1_dot_rows4_vnni(p0, p1, p2, p3, nb, act.qs, act.d, act.s, o)
                case .q4_0: sieve_q4_0_dot_rows4_vnni(p0, p1, p2, p3, nb, act.qs, act.d, act.offsetSum, o)
                case .q8_0: sieve_q8_0_dot_rows4_vnni(p0, p1, p2, p3, nb, act.qs, act.d, o)
                default: preconditionFailure("no VNNI kernel for \(w.dtype.name)")
                }
                KQuant.store(SIMD4(o[0], o[1], o[2], o[3]), r, valid: valid, y)
            }
        }
        #else
        preconditionFailure("the VNNI kernels exist only on x86-64")
        #endif
    }

    /// Rows per call of the list kernel.
    static let listBatch = 64

    /// Whether `dtype` has a VNNI kernel.
    static func supports(_ dtype: DType) -> Bool { dtype == .q4_1 || dtype == .q4_0 || dtype == .q8_0 }
}
