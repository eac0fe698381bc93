import Foundation
import SieveKernels

/// A truncated singular value decomposition `A ≈ U·diag(σ)·Vᵀ`.
public struct TruncatedSVD: @unchecked Sendable {
    /// `[rank, rows]`: left singular vectors as rows (`Uᵀ`).
    public var leftT: FloatMatrix
    /// Singular values, decreasing.
    public var values: [Float]
    /// `[rank, columns]`: right singular vectors as rows (`Vᵀ`).
    public var rightT: FloatMatrix

    /// Number of singular triplets kept.
    public var rank: Int { values.count }
}

/// Low-rank factorisation of matrices: a randomized SVD (range finder with power iterations, Halko, Martinsson
/// and Tropp 2011) around an exact one-sided Jacobi SVD of the small projected matrix.
///
/// Numerical care: the large products run in f32 on the SieveKernels kernels, but every orthonormalisation
/// (modified Gram–Schmidt, applied twice, in f64) and the Jacobi rotations run in f64; power iterations
/// re-orthonormalise after every product so that small singular directions are not lost to rounding.
public enum LowRankApproximation {
    /// The `rank` leading singular triplets of `a` (`[m, n]`), computed on a subspace of `rank + oversampling`
    /// random directions refined by `powerIterations` passes of `(A·Aᵀ)`.
    public static func randomizedSVD(_ a: FloatMatrix, rank: Int, oversampling: Int = 8, powerIterations: Int = 2,
                                     seed: UInt64, products: MatrixProducts) -> TruncatedSVD {
        let m = a.rows, n = a.columns
        let limit = min(m, n)
        let r = max(1, min(rank, limit))
        let l = min(limit, r + max(0, oversampling))
        let aT = a.transposed()
        // Yᵀ = (A·Ωᵀ)ᵀ with Ω [l, n] Gaussian.
        var gaussian = GaussianSampler(seed: seed)
        let omega = FloatMatrix(rows: l, columns: n)
        gaussian.fill(omega, scale: 1)
        let y = FloatMatrix(rows: m, columns: l)
        products.multiplyTransposed(a, omega, into: y)
        var qT = orthonormalRows(y.transposed())            // [l, m]
        let z = FloatMatrix(rows: l, columns: n)
        for _ in 0..<max(0, powerIterations) {
            products.multiplyTransposed(qT, aT, into: z)      // Qᵀ·A  [l, n]
            let zq = orthonormalRows(z)
            products.multiplyTransposed(a, zq, into: y)       // A·Z   [m, l]
            qT = orthonormalRows(y.transposed())
        }
        let b = FloatMatrix(rows: l, columns: n)
        products.multiplyTransposed(qT, aT, into: b)          // B = Qᵀ·A  [l, n]
        let small = jacobiSVD(b)
        // U = Q·U_B: row i of Uᵀ is Σ_k U_B[k, i]·Qᵀ[k].
        let keep = min(r, small.values.count)
        let leftT = FloatMatrix(rows: keep, columns: m)
        for i in 0..<keep {
            var acc = [Double](repeating: 0, count: m)
            for k in 0..<l {
                let w = small.left[k * l + i]
                if w == 0 { continue }
                let q = qT.row(k)
                for j in 0..<m { acc[j] += w * Double(q[j]) }
            }
            let dst = leftT.row(i)
            for j in 0..<m { dst[j] = Float(acc[j]) }
        }
        let rightT = FloatMatrix(rows: keep, columns: n)
        for i in 0..<keep {
            let dst = rightT.row(i)
            for j in 0..<n { dst[j] = Float(small.rightT[i * n + j]) }
        }
        return TruncatedSVD(leftT: leftT, values: small.values.prefix(keep).map { Float($0) }, rightT: rightT)
    }

    /// The exact SVD of a small matrix `b` (`[l, n]`, `l ≤ n`) by one-sided Jacobi rotations of its rows, in f64:
    /// `b = U·diag(σ)·Vᵀ` with `left` = U (`[l, l]`, row-major), `values` = σ decreasing, `rightT` = Vᵀ (`[l, n]`).
    /// Rows with σ = 0 get a zero right vector.
    static func jacobiSVD(_ b: FloatMatrix) -> (left: [Double], values: [Double], rightT: [Double]) {
        let l = b.rows, n = b.columns
        var rows = (0..<(l * n)).map { Double(b.elements[$0]) }
        var rotation = [Double](repeating: 0, count: l * l)   // J, accumulated: rows = J·b
        for i in 0..<l { rotation[i * l + i] = 1 }
        for _ in 0..<60 {
            var rotated = false
            for i in 0..<l {
                for j in (i + 1)..<l {
                    var alpha = 0.0, beta = 0.0, gamma = 0.0
                    for c in 0..<n {
                        let x = rows[i * n + c], y = rows[j * n + c]
                        alpha += x * x; beta += y * y; gamma += x * y
                    }
                    if abs(gamma) <= 1e-13 * (alpha * beta).squareRoot() { continue }
                    rotated = true
                    let zeta = (beta - alpha) / (2 * gamma)
                    let t = (zeta >= 0 ? 1.0 : -1.0) / (abs(zeta) + (1 + zeta * zeta).squareRoot())
                    let cs = 1 / (1 + t * t).squareRoot(), sn = cs * t
                    for c in 0..<n {
                        let x = rows[i * n + c], y = rows[j * n + c]
                        rows[i * n + c] = cs * x - sn * y
                        rows[j * n + c] = sn * x + cs * y
                    }
                    for c in 0..<l {
                        let x = rotation[i * l + c], y = rotation[j * l + c]
                        rotation[i * l + c] = cs * x - sn * y
                        rotation[j * l + c] = sn * x + cs * y
                    }
                }
            }
            if !rotated { break }
        }
        var norms = [Double](repeating: 0, count: l)
        for i in 0..<l {
            var s = 0.0
            for c in 0..<n { s += rows[i * n + c] * rows[i * n + c] }
            norms[i] = s.squareRoot()
        }
        let order = (0..<l).sorted { norms[$0] != norms[$1] ? norms[$0] > norms[$1] : $0 < $1 }
        // b = Jᵀ·rows, so U's column i is row `order[i]` of J.
        var left = [Double](repeating: 0, count: l * l)
        var rightT = [Double](repeating: 0, count: l * n)
        for (i, src) in order.enumerated() {
            for k in 0..<l { left[k * l + i] = rotation[src * l + k] }
            let inv = norms[src] > 0 ? 1 / norms[src] : 0
            for c in 0..<n { rightT[i * n + c] = rows[src * n + c] * inv }
        }
        return (left, order.map { norms[$0] }, rightT)
    }

    /// The rows of `m` orthonormalised (modified Gram–Schmidt, twice, in f64); rows that become numerically zero
    /// are replaced by zeros.
    static func orthonormalRows(_ m: FloatMatrix) -> FloatMatrix {
        let rows = m.rows, n = m.columns
        var q = (0..<(rows * n)).map { Double(m.elements[$0]) }
        var originalNorms = [Double](repeating: 0, count: rows)
        for i in 0..<rows {
            var s = 0.0
            for c in 0..<n { s += q[i * n + c] * q[i * n + c] }
            originalNorms[i] = s.squareRoot()
        }
        for i in 0..<rows {
            for _ in 0..<2 {
                for j in 0..<i {
                    var dot = 0.0
                    for c in 0..<n { dot += q[i * n + c] * q[j * n + c] }
                    for c in 0..<n { q[i * n + c] -= dot * q[j * n + c] }
                }
            }
            var s = 0.0
            for c in 0..<n { s += q[i * n + c] * q[i * n + c] }
            let norm = s.squareRoot()
            let inv = norm > 1e-10 * max(originalNorms[i], 1e-300) ? 1 / norm : 0
            for c in 0..<n { q[i * n + c] *= inv }
        }
        return FloatMatrix(rows: rows, columns: n, values: q.map { Float($0) })
    }
}
