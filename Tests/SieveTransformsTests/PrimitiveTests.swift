import Foundation
import SieveCore
@testable import SieveTransforms
import Testing

/// Tolerances of the tests, by name.
enum Tolerance {
    /// f32 products whose sums are only reordered, relative to Σ|aᵢbᵢ|.
    static let floatProduct: Float = 1e-5
    /// FFN output of the blocked layout against the dense one, f32 weights, absolute on outputs of order one.
    static let blockedFFN: Float = 1e-5
    /// Randomized SVD singular values against the exact ones, relative.
    static let singularValues: Float = 1e-3
}

@Suite struct PrimitiveTests {
    @Test func topKSelectsTheLargest() {
        var rng = TestRandom(seed: 1)
        for n in [1, 2, 7, 48, 100] {
            for k in Set([1, n / 3, n / 2, n - 1, n]) where k >= 1 {
                // Include ties.
                let scores = (0..<n).map { _ in Float(Int(rng.next() % 20)) }
                var indices = Array(0..<n)
                scores.withUnsafeBufferPointer { s in
                    indices.withUnsafeMutableBufferPointer { TopK.select(s.baseAddress!, n: n, k: k, indices: $0.baseAddress!) }
                }
                #expect(Set(indices).count == n)
                let chosen = indices.prefix(k).map { scores[$0] }.sorted(by: >)
                let expected = scores.sorted(by: >).prefix(k)
                #expect(Array(chosen) == Array(expected), "n \(n) k \(k)")
            }
        }
    }

    @Test func unitsKeptRounds() {
        #expect(RecallMeasurement.unitsKept(density: 0.5, units: 9) == 5)
        #expect(RecallMeasurement.unitsKept(density: 0.75, units: 4) == 3)
        #expect(RecallMeasurement.unitsKept(density: 0.01, units: 48) == 1)
        #expect(RecallMeasurement.unitsKept(density: 1, units: 48) == 48)
    }

    @Test(arguments: [(1, 5, 7), (3, 64, 16), (9, 33, 20), (40, 64, 48)])
    func productsMatchNaive(shape: (Int, Int, Int)) {
        let (m, k, n) = shape
        var rng = TestRandom(seed: UInt64(m * 1000 + n))
        let a = FloatMatrix(rows: m, columns: k, values: rng.gaussians(m * k, scale: 1))
        let b = FloatMatrix(rows: n, columns: k, values: rng.gaussians(n * k, scale: 1))
        let c = FloatMatrix(rows: m, columns: n)
        let products = MatrixProducts(threads: 2)
        products.multiplyTransposed(a, b, into: c)
        for i in 0..<m {
            for j in 0..<n {
                var s: Float = 0, mag: Float = 0
                for p in 0..<k { s += a[i, p] * b[j, p]; mag += abs(a[i, p] * b[j, p]) }
                #expect(abs(c[i, j] - s) <= Tolerance.floatProduct * mag)
            }
        }
        #expect(a.transposed().transposed().values == a.values)
    }

    /// A matrix with a known spectrum: the randomized SVD finds the leading singular values and its rank-r
    /// reconstruction error is the optimal one (Eckart–Young) up to rounding.
    @Test func randomizedSVDRecoversAPlantedSpectrum() {
        let m = 120, n = 80, rank = 10
        var rng = TestRandom(seed: 7)
        let sigma = (0..<n).map { Float(pow(0.7, Double($0))) * 10 }
        let u = LowRankApproximation.orthonormalRows(FloatMatrix(rows: n, columns: m, values: rng.gaussians(n * m, scale: 1)))
        let v = LowRankApproximation.orthonormalRows(FloatMatrix(rows: n, columns: n, values: rng.gaussians(n * n, scale: 1)))
        let a = FloatMatrix(rows: m, columns: n)
        for i in 0..<m {
            for j in 0..<n {
                var s: Float = 0
                for q in 0..<n { s += u[q, i] * sigma[q] * v[q, j] }
                a[i, j] = s
            }
        }
        let products = MatrixProducts(threads: 2)
        let svd = LowRankApproximation.randomizedSVD(a, rank: rank, seed: 3, products: products)
        #expect(svd.rank == rank)
        for i in 0..<rank { #expect(abs(svd.values[i] - sigma[i]) <= Tolerance.singularValues * sigma[i], "σ\(i) \(svd.values[i]) vs \(sigma[i])") }
        var error: Double = 0
        for i in 0..<m {
            for j in 0..<n {
                var s: Float = 0
                for q in 0..<rank { s += svd.leftT[q, i] * svd.values[q] * svd.rightT[q, j] }
                error += Double((a[i, j] - s) * (a[i, j] - s))
            }
        }
        let optimal = sigma[rank...].reduce(0.0) { $0 + Double($1 * $1) }
        #expect(error.squareRoot() <= optimal.squareRoot() * 1.01 + 1e-4)
        // The exact Jacobi SVD of a small matrix reproduces it.
        let small = FloatMatrix(rows: 6, columns: 9, values: rng.gaussians(54, scale: 1))
        let exact = LowRankApproximation.jacobiSVD(small)
        for i in 0..<6 {
            for j in 0..<9 {
                var s = 0.0
                for q in 0..<6 { s += exact.left[i * 6 + q] * exact.values[q] * exact.rightT[q * 9 + j] }
                #expect(abs(s - Double(small[i, j])) < 1e-5)
            }
        }
        #expect(zip(exact.values, exact.values.dropFirst()).allSatisfy { $0 >= $1 })
    }
}
