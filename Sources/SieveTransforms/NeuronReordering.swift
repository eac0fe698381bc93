import SieveKernels

/// Function-preserving reordering of an FFN's neurons so that neurons that fire together share a block.
///
/// A blocked FFN computes only the blocks a predictor selects, so the activation mass of a token should sit in
/// as few blocks as possible. The pass clusters neurons by their activation profiles over a subsample of
/// calibration tokens into `ff / B` clusters of exactly `B` neurons (balanced spherical k-means):
/// 1. Each token's magnitudes are normalised to sum 1 (every token counts the same), and each neuron's profile
///    (its column over the subsampled tokens) to unit length, so similarity is co-activation (cosine).
/// 2. Initial blocks: neurons sorted by activation mass, cut into runs of `B` (frequent neurons together).
/// 3. Iterate: centroids = normalised mean profile of each block; similarities of every neuron to every centroid
///    (one matrix product); balanced assignment — all (neuron, block) pairs in decreasing similarity, each neuron
///    to the first block with room — followed by pairwise swaps that raise the total similarity.
/// 4. The grouping (initial or any iterate) that captures the most mass in the top blocks at
///    `referenceDensity` on the subsample is kept. Blocks are then ordered by total mass, and neurons within a
///    block by mass, which changes nothing for the function and makes layouts easy to inspect.
///
/// The result is a permutation: stored neuron `n` is original neuron `permutation[n]` (the IR's convention).
public enum NeuronReordering {
    /// Options of the clustering.
    public struct Options: Sendable, Equatable {
        /// Neurons per block (16, 32 or 64 are typical); must divide the FFN width.
        public var blockSize: Int
        /// Most calibration tokens the clustering looks at (evenly spaced over the records).
        public var maxTokens: Int
        /// Most k-means iterations.
        public var iterations: Int
        /// Density at which candidate groupings are compared (fraction of blocks kept).
        public var referenceDensity: Double

        /// Blocks of `blockSize` neurons, clustered on up to 4096 tokens in at most 12 iterations, compared at 0.2.
        public init(blockSize: Int = 32, maxTokens: Int = 4096, iterations: Int = 12, referenceDensity: Double = 0.2) {
            self.blockSize = blockSize
            self.maxTokens = maxTokens
            self.iterations = iterations
            self.referenceDensity = referenceDensity
        }
    }

    /// What the clustering achieved on its subsample.
    public struct Result: Sendable {
        /// Stored neuron index → original neuron index.
        public var permutation: [Int32]
        /// Mean fraction of a token's activation mass in its top blocks at `referenceDensity`, with this grouping.
        public var capturedMass: Double
        /// The same with neurons in their original order (blocks of consecutive neurons).
        public var identityCapturedMass: Double
        /// The same with a random grouping (seeded).
        public var randomCapturedMass: Double
        /// k-means iterations run.
        public var iterations: Int
    }

    /// Clusters the neurons of `magnitudes` (`[tokens, ff]`, `|activation|`) into blocks.
    public static func reorder(magnitudes: FloatMatrix, options: Options, products: MatrixProducts) throws -> Result {
        let ff = magnitudes.columns
        let b = options.blockSize
        guard b >= 1, ff % b == 0 else {
            throw SieveTransformsError.invalidOption(name: "block size", value: "\(b)", reason: "must divide the FFN width \(ff)")
        }
        guard magnitudes.rows > 0 else { throw SieveTransformsError.calibration(reason: "no tokens to cluster neurons on") }
        let k = ff / b
        let sample = subsample(magnitudes, maxTokens: max(1, options.maxTokens))
        let profiles = neuronProfiles(sample)
        let mass = (0..<ff).map { n -> Double in
            var s: Double = 0
            for t in 0..<sample.rows { s += Double(sample[t, n]) }
            return s
        }
        let density = options.referenceDensity
        func score(_ perm: [Int32]) -> Double {
            capturedMass(blockMasses: blockMasses(magnitudes: sample, permutation: perm, blockSize: b), density: density)
        }

        // Initial grouping: by mass.
        var assignment = [Int](repeating: 0, count: ff)
        let byMass = (0..<ff).sorted { mass[$0] != mass[$1] ? mass[$0] > mass[$1] : $0 < $1 }
        for (rank, n) in byMass.enumerated() { assignment[n] = rank / b }
        var best = assignment
        var bestScore = score(permutation(assignment: assignment, clusters: k, mass: mass))
        var iterations = 0

        // Single neurons: every grouping selects the same units, so the neurons stay ordered by mass.
        if k > 1 && b > 1 {
            let centroids = FloatMatrix(rows: k, columns: sample.rows)
            let similarity = FloatMatrix(rows: ff, columns: k)
            for _ in 0..<options.iterations {
                iterations += 1
                computeCentroids(profiles: profiles, assignment: assignment, into: centroids)
                products.multiplyTransposed(profiles, centroids, into: similarity)
                var next = balancedAssignment(similarity: similarity, blockSize: b)
                improveBySwaps(similarity: similarity, assignment: &next, blockSize: b)
                let changed = next != assignment
                assignment = next
                let s = score(permutation(assignment: assignment, clusters: k, mass: mass))
                if s > bestScore { bestScore = s; best = assignment }
                if !changed { break }
            }
        }
        let perm = permutation(assignment: best, clusters: k, mass: mass)
        var random = SplitMix64(seed: 0x5EED_0F_B10C)
        return Result(permutation: perm, capturedMass: bestScore,
                      identityCapturedMass: score((0..<ff).map { Int32($0) }),
                      randomCapturedMass: score(randomPermutation(count: ff, generator: &random)),
                      iterations: iterations)
    }

    /// Block masses `[tokens, ff / blockSize]`: the sum of the magnitudes of each block's neurons, blocks taken in
    /// stored order under `permutation`.
    public static func blockMasses(magnitudes: FloatMatrix, permutation: [Int32], blockSize: Int) -> FloatMatrix {
        let ff = magnitudes.columns
        precondition(permutation.count == ff && ff % blockSize == 0, "permutation of \(permutation.count) for \(ff) neurons in blocks of \(blockSize)")
        let units = ff / blockSize
        let out = FloatMatrix(rows: magnitudes.rows, columns: units)
        permutation.withUnsafeBufferPointer { perm in
            for t in 0..<magnitudes.rows {
                let src = magnitudes.elements + t * ff
                let dst = out.elements + t * units
                for u in 0..<units {
                    var s: Float = 0
                    for j in (u * blockSize)..<((u + 1) * blockSize) { s += src[Int(perm[j])] }
                    dst[u] = s
                }
            }
        }
        return out
    }

    /// Mean over tokens of the fraction of a token's total mass held by its `round(density · units)` largest units
    /// (tokens without mass are skipped).
    public static func capturedMass(blockMasses: FloatMatrix, density: Double) -> Double {
        let units = blockMasses.columns
        let k = TopK.count(density: density, units: units)
        let indices = UnsafeMutablePointer<Int>.allocate(capacity: units)
        defer { indices.deallocate() }
        var total: Double = 0
        var counted = 0
        for t in 0..<blockMasses.rows {
            let row = UnsafePointer(blockMasses.elements + t * units)
            var all: Float = 0
            for u in 0..<units { all += row[u] }
            guard all > 0 else { continue }
            for u in 0..<units { indices[u] = u }
            TopK.select(row, n: units, k: k, indices: indices)
            total += Double(TopK.sum(row, indices: indices, k: k) / all)
            counted += 1
        }
        return counted == 0 ? 0 : total / Double(counted)
    }

    /// Block purity against known groups: for each stored block, the largest share of its neurons that belong to
    /// one group (`group[original neuron]`), averaged over blocks. 1 means every block is one group.
    public static func purity(permutation: [Int32], blockSize: Int, group: [Int]) -> Double {
        let units = permutation.count / blockSize
        var total = 0.0
        for u in 0..<units {
            var counts: [Int: Int] = [:]
            for j in (u * blockSize)..<((u + 1) * blockSize) { counts[group[Int(permutation[j])], default: 0] += 1 }
            total += Double(counts.values.max() ?? 0) / Double(blockSize)
        }
        return total / Double(max(1, units))
    }

    /// A uniformly random permutation of `0..<count` (Fisher–Yates).
    public static func randomPermutation<G: RandomNumberGenerator>(count: Int, generator: inout G) -> [Int32] {
        var p = (0..<count).map { Int32($0) }
        p.shuffle(using: &generator)
        return p
    }

    /// Whether `permutation` is a permutation of `0..<count`.
    public static func isPermutation(_ permutation: [Int32], count: Int) -> Bool {
        guard permutation.count == count else { return false }
        var seen = [Bool](repeating: false, count: count)
        for p in permutation {
            guard p >= 0, Int(p) < count, !seen[Int(p)] else { return false }
            seen[Int(p)] = true
        }
        return true
    }

    // MARK: - Steps

    /// Evenly spaced rows of `m`, at most `maxTokens` of them.
    static func subsample(_ m: FloatMatrix, maxTokens: Int) -> FloatMatrix {
        if m.rows <= maxTokens { return m }
        let out = FloatMatrix(rows: maxTokens, columns: m.columns)
        for i in 0..<maxTokens {
            let t = i * m.rows / maxTokens
            (out.elements + i * m.columns).update(from: m.elements + t * m.columns, count: m.columns)
        }
        return out
    }

    /// `[ff, tokens]` unit-length neuron profiles of per-token-normalised magnitudes.
    static func neuronProfiles(_ sample: FloatMatrix) -> FloatMatrix {
        let normalised = FloatMatrix(rows: sample.rows, columns: sample.columns)
        for t in 0..<sample.rows {
            let src = sample.row(t)
            var s: Float = 0
            for v in src { s += v }
            let scale: Float = s > 0 ? 1 / s : 0
            let dst = normalised.row(t)
            for c in 0..<sample.columns { dst[c] = src[c] * scale }
        }
        let profiles = normalised.transposed()
        for n in 0..<profiles.rows { normalise(profiles.row(n)) }
        return profiles
    }

    static func normalise(_ v: UnsafeMutableBufferPointer<Float>) {
        var s: Float = 0
        for x in v { s += x * x }
        guard s > 0 else { return }
        let inv = 1 / s.squareRoot()
        for i in v.indices { v[i] *= inv }
    }

    static func computeCentroids(profiles: FloatMatrix, assignment: [Int], into centroids: FloatMatrix) {
        centroids.fill(0)
        for n in 0..<profiles.rows {
            let src = profiles.row(n)
            let dst = centroids.row(assignment[n])
            for c in 0..<profiles.columns { dst[c] += src[c] }
        }
        for k in 0..<centroids.rows { normalise(centroids.row(k)) }
    }

    /// Each neuron to a block, exactly `blockSize` per block, taking (neuron, block) pairs by decreasing similarity.
    static func balancedAssignment(similarity: FloatMatrix, blockSize: Int) -> [Int] {
        let ff = similarity.rows, k = similarity.columns
        var pairs = [Int](0..<(ff * k))
        let s = similarity.elements
        pairs.sort { s[$0] != s[$1] ? s[$0] > s[$1] : $0 < $1 }
        var assignment = [Int](repeating: -1, count: ff)
        var fill = [Int](repeating: 0, count: k)
        var left = ff
        for p in pairs where left > 0 {
            let n = p / k, c = p % k
            if assignment[n] < 0 && fill[c] < blockSize {
                assignment[n] = c
                fill[c] += 1
                left -= 1
            }
        }
        return assignment
    }

    /// Swaps pairs of neurons between blocks while a swap raises the total similarity to the centroids.
    static func improveBySwaps(similarity: FloatMatrix, assignment: inout [Int], blockSize: Int) {
        let ff = similarity.rows, k = similarity.columns
        var members = [[Int]](repeating: [], count: k)
        for n in 0..<ff { members[assignment[n]].append(n) }
        for _ in 0..<4 {
            var improved = false
            for n in 0..<ff {
                let row = similarity.row(n)
                let current = assignment[n]
                var target = current
                for c in 0..<k where row[c] > row[target] { target = c }
                if target == current { continue }
                var bestGain: Float = 1e-6
                var bestSlot = -1
                for (slot, m) in members[target].enumerated() {
                    let gain = row[target] + similarity[m, current] - row[current] - similarity[m, target]
                    if gain > bestGain { bestGain = gain; bestSlot = slot }
                }
                if bestSlot >= 0 {
                    let m = members[target][bestSlot]
                    members[target][bestSlot] = n
                    members[current][members[current].firstIndex(of: n)!] = m
                    assignment[n] = target
                    assignment[m] = current
                    improved = true
                }
            }
            if !improved { break }
        }
    }

    /// The permutation of an assignment: blocks by decreasing total mass, neurons within a block by decreasing mass.
    static func permutation(assignment: [Int], clusters: Int, mass: [Double]) -> [Int32] {
        var members = [[Int]](repeating: [], count: clusters)
        for (n, c) in assignment.enumerated() { members[c].append(n) }
        let blockMass = members.map { $0.reduce(0.0) { $0 + mass[$1] } }
        let order = (0..<clusters).sorted { blockMass[$0] != blockMass[$1] ? blockMass[$0] > blockMass[$1] : $0 < $1 }
        var perm: [Int32] = []
        perm.reserveCapacity(assignment.count)
        for c in order {
            for n in members[c].sorted(by: { mass[$0] != mass[$1] ? mass[$0] > mass[$1] : $0 < $1 }) { perm.append(Int32(n)) }
        }
        return perm
    }
}
