import Foundation
import SieveCore
import Testing
@testable import SieveKernels

@Suite struct NormTests {
    @Test(arguments: [1, 15, 64, 576, 1000])
    func rmsNormMatchesReference(count: Int) {
        var rng = SplitMix64(seed: UInt64(count))
        let x = rng.floats(count * 2, scale: 3), w = rng.floats(count)
        var fast = [Float](repeating: 0, count: count * 2), ref = fast
        Norms.rmsNorm(x, weight: w, count: count, epsilon: 1e-5, rows: 2, into: &fast)
        for r in 0..<2 {
            x.withUnsafeBufferPointer { xb in
                ref.withUnsafeMutableBufferPointer { Norms.rmsNormReference(xb.baseAddress! + r * count, weight: w, count: count, epsilon: 1e-5, into: $0.baseAddress! + r * count) }
            }
        }
        #expect(worstRatio(fast, ref, scale: ref.map { max(abs($0), 1e-3) }, tolerance: Tolerances.norm) <= 1)
    }

    @Test(arguments: [1, 15, 64, 384, 1000])
    func layerNormMatchesReference(count: Int) {
        var rng = SplitMix64(seed: 7 + UInt64(count))
        let x = rng.floats(count).map { $0 * 2 + 0.5 }, w = rng.floats(count), b = rng.floats(count)
        var fast = [Float](repeating: 0, count: count), ref = fast
        Norms.layerNorm(x, weight: w, bias: b, count: count, epsilon: 1e-5, into: &fast)
        Norms.layerNormReference(x, weight: w, bias: b, count: count, epsilon: 1e-5, into: &ref)
        // Relative to the magnitude of the two terms (the normalized value and the bias), which may cancel.
        let terms = (0..<count).map { abs(ref[$0] - b[$0]) + abs(b[$0]) + 1e-3 }
        #expect(worstRatio(fast, ref, scale: terms, tolerance: Tolerances.norm) <= 1)
        // In place, without weight and bias: zero mean, unit variance.
        var y = x
        y.withUnsafeMutableBufferPointer { Norms.layerNorm($0.baseAddress!, weight: nil, bias: nil, count: count, epsilon: 0, into: $0.baseAddress!) }
        if count > 1 {
            #expect(abs(y.reduce(0, +) / Float(count)) < 1e-5)
            #expect(abs(y.map { $0 * $0 }.reduce(0, +) / Float(count) - 1) < 1e-4)
        }
    }
}

@Suite struct RotaryTests {
    @Test(arguments: [RotaryEmbedding.Layout.halfSplit, .interleaved])
    func matchesReferenceWithPartialRotation(layout: RotaryEmbedding.Layout) {
        for (dim, rot) in [(64, 64), (64, 32), (80, 24)] {
            let rope = RotaryEmbedding(headDimension: dim, rotaryDimension: rot, base: 10_000, layout: layout, maxPositions: 300)
            var rng = SplitMix64(seed: UInt64(dim + rot))
            let x = rng.floats(3 * dim)
            for position in [0, 1, 17, 299] {
                var fast = x, ref = x
                rope.apply(&fast, heads: 3, position: position)
                rope.applyReference(&ref, heads: 3, position: position)
                #expect(worstRatio(fast, ref, scale: [Float](repeating: 1, count: x.count), tolerance: 1e-6) <= 1)
                // Values past the rotary dimension are untouched.
                for h in 0..<3 { #expect(fast[(h * dim + rot)..<((h + 1) * dim)] == x[(h * dim + rot)..<((h + 1) * dim)]) }
            }
        }
    }

    @Test("scaled frequencies: the table equals the reference, and linear scaling by 4 turns position 4p as position p",
          arguments: [RotaryEmbedding.Layout.halfSplit, .interleaved])
    func scaledFrequencies(layout: RotaryEmbedding.Layout) {
        let llama3 = RoPEScaling.llama3(Llama3RoPEScaling(factor: 8, lowFrequencyFactor: 1, highFrequencyFactor: 4, originalContextLength: 64))
        let factors = RoPEScaling.frequencyFactors((0..<32).map { 1 + Float($0) / 4 })
        var rng = SplitMix64(seed: 11)
        let x = rng.floats(2 * 64)
        for scaling in [llama3, factors, .linear(factor: 4)] {
            let rope = RotaryEmbedding(headDimension: 64, base: 10_000, scaling: scaling, layout: layout, maxPositions: 300)
            for position in [1, 17, 299] {
                var fast = x, ref = x
                rope.apply(&fast, heads: 2, position: position)
                rope.applyReference(&ref, heads: 2, position: position)
                #expect(worstRatio(fast, ref, scale: [Float](repeating: 1, count: x.count), tolerance: 1e-6) <= 1)
            }
        }
        // Dividing by 4 is exact in Float, so the angles, and the rotated values, are the same bits.
        let linear = RotaryEmbedding(headDimension: 64, base: 10_000, scaling: .linear(factor: 4), layout: layout, maxPositions: 300)
        let plain = RotaryEmbedding(headDimension: 64, base: 10_000, layout: layout, maxPositions: 300)
        for position in [4, 68, 296] {
            var scaled = x, unscaled = x
            linear.apply(&scaled, heads: 2, position: position)
            plain.apply(&unscaled, heads: 2, position: position / 4)
            #expect(scaled == unscaled)
        }
        // Llama 3.1's rule keeps the high frequencies (short wavelengths) and divides the low ones by the factor.
        let plainFrequencies = RoPEScaling.inverseFrequencies(base: 10_000, dimensions: 64, scaling: nil)
        let scaled = RoPEScaling.inverseFrequencies(base: 10_000, dimensions: 64, scaling: llama3)
        #expect(scaled[0..<4] == plainFrequencies[0..<4])
        #expect(zip(scaled[9...], plainFrequencies[9...]).allSatisfy { $0 == $1 / 8 })
        #expect(zip(scaled[4..<9], plainFrequencies[4..<9]).allSatisfy { $0 < $1 && $0 > $1 / 8 })
    }

    @Test("LongRoPE: the table's context picks the short or long factors, and the attention factor scales the rotated values only",
          arguments: [RotaryEmbedding.Layout.halfSplit, .interleaved])
    func longRoPE(layout: RotaryEmbedding.Layout) {
        let short = (0..<12).map { 1 + Float($0) / 16 }, long = (0..<12).map { 1 + Float($0) * 2 }
        let p = LongRoPEScaling(shortFactors: short, longFactors: long, originalContextLength: 64, attentionFactor: 2)
        var rng = SplitMix64(seed: 12)
        let x = rng.floats(2 * 32)
        for (context, factors) in [(64, short), (65, long)] {
            let rope = RotaryEmbedding(headDimension: 32, rotaryDimension: 24, base: 10_000, scaling: .longRoPE(p), layout: layout, maxPositions: context)
            #expect(rope.scaling == .frequencyFactors(factors) && rope.attentionFactor == 2)
            // The same rotation as the plain factors, every rotated value doubled (exact in Float).
            let plain = RotaryEmbedding(headDimension: 32, rotaryDimension: 24, base: 10_000, scaling: .frequencyFactors(factors),
                                        layout: layout, maxPositions: context)
            for position in [1, 17, context - 1] {
                var fast = x, ref = x, unscaled = x
                rope.apply(&fast, heads: 2, position: position)
                rope.applyReference(&ref, heads: 2, position: position)
                plain.apply(&unscaled, heads: 2, position: position)
                #expect(worstRatio(fast, ref, scale: [Float](repeating: 2, count: x.count), tolerance: 1e-6) <= 1)
                for h in 0..<2 {
                    for i in 0..<32 {
                        let k = h * 32 + i
                        #expect(fast[k] == (i < 24 ? unscaled[k] * 2 : x[k]))
                    }
                }
            }
        }
    }

    @Test func conventionsPairTheRightElements() {
        // One pair rotated by 90° (position 1, frequency 1 for pair 0 with base > 0: angle 1 rad) — check pairing only.
        let half = RotaryEmbedding(headDimension: 4, layout: .halfSplit, maxPositions: 2)
        let inter = RotaryEmbedding(headDimension: 4, layout: .interleaved, maxPositions: 2)
        var a: [Float] = [1, 0, 0, 0], b: [Float] = [1, 0, 0, 0]
        half.apply(&a, heads: 1, position: 1)
        inter.apply(&b, heads: 1, position: 1)
        #expect(abs(a[0] - Float(cos(1.0))) < 1e-6 && abs(a[2] - Float(sin(1.0))) < 1e-6 && a[1] == 0)
        #expect(abs(b[0] - Float(cos(1.0))) < 1e-6 && abs(b[1] - Float(sin(1.0))) < 1e-6 && b[2] == 0)
    }
}

@Suite struct ActivationTests {
    static let inputs: [Float] = {
        var rng = SplitMix64(seed: 5)
        return rng.floats(1000, scale: 12) + [0, -0.0, 1e-8, -1e-8, 20, -20, 88, -88, 100, -100]
    }()

    @Test(arguments: Activations.Function.allCases)
    func activationMatchesReference(function: Activations.Function) {
        var fast = Self.inputs, ref = Self.inputs
        Activations.apply(function, &fast, count: fast.count)
        Activations.applyReference(function, &ref, count: ref.count)
        let tolerance = function == .geluErf ? Tolerances.geluErf : Tolerances.activation
        #expect(worstRatio(fast, ref, scale: Self.inputs.map { max(1, abs($0)) }, tolerance: tolerance) <= 1)
    }

    /// The listed neurons get the bias and the activation (against the reference, and bit for bit what `add` and
    /// `apply` give each alone); the others are left as they were.
    @Test(arguments: Activations.Function.allCases)
    func listedActivationMatchesReference(function: Activations.Function) {
        var rng = SplitMix64(seed: 9)
        let bias = rng.floats(Self.inputs.count, scale: 2)
        let listed = stride(from: 3, to: Self.inputs.count, by: 7).map { $0 }
        var fast = Self.inputs, one = Self.inputs, ref = Self.inputs
        listed.withUnsafeBufferPointer { Activations.applyListed(function, &fast, bias: bias, at: $0) }
        for n in listed {
            one.withUnsafeMutableBufferPointer { y in
                bias.withUnsafeBufferPointer { Activations.add($0.baseAddress! + n, into: y.baseAddress! + n, count: 1) }
                Activations.apply(function, y.baseAddress! + n, count: 1)
            }
            ref[n] = Activations.reference(function, Self.inputs[n] + bias[n])
        }
        #expect(fast == one)
        let tolerance = function == .geluErf ? Tolerances.geluErf : Tolerances.activation
        #expect(worstRatio(fast, ref, scale: ref.map { max(1, abs($0)) }, tolerance: tolerance) <= 1)
        let unlisted = Set(0..<Self.inputs.count).subtracting(listed)
        #expect(unlisted.allSatisfy { fast[$0] == Self.inputs[$0] })
        var noBias = Self.inputs
        listed.withUnsafeBufferPointer { Activations.applyListed(function, &noBias, bias: nil, at: $0) }
        #expect(listed.allSatisfy { abs(noBias[$0] - Activations.reference(function, Self.inputs[$0])) <= tolerance * max(1, abs(Self.inputs[$0])) })
    }

    @Test(arguments: Activations.Function.allCases)
    func gatedProductMatchesReference(function: Activations.Function) {
        var rng = SplitMix64(seed: 6)
        let gate = rng.floats(1003, scale: 6), up = rng.floats(1003, scale: 2)
        var fast = [Float](repeating: 0, count: 1003), ref = fast
        Activations.gatedProduct(function, gate: gate, up: up, into: &fast, count: 1003)
        Activations.gatedProductReference(function, gate: gate, up: up, into: &ref, count: 1003)
        let tolerance = function == .geluErf ? Tolerances.geluErf : Tolerances.activation
        #expect(worstRatio(fast, ref, scale: zip(gate, up).map { max(1, abs($0)) * max(1, abs($1)) }, tolerance: tolerance) <= 1)
    }

    /// gpt-oss's clamped SwiGLU: gate and up values beyond ±7 (a third of them) are clamped as transformers and
    /// llama.cpp clamp them, the vector body and the scalar tail alike.
    @Test func clampedSwiGLUMatchesReference() {
        var rng = SplitMix64(seed: 12)
        let gate = rng.floats(1003, scale: 12), up = rng.floats(1003, scale: 12)
        var fast = [Float](repeating: 0, count: 1003), ref = fast
        Activations.clampedSwiGLU(gate: gate, up: up, into: &fast, count: 1003)
        Activations.clampedSwiGLUReference(gate: gate, up: up, into: &ref, count: 1003)
        #expect(gate.filter { $0 > 7 }.count > 100 && up.filter { abs($0) > 7 }.count > 200, "the clamps must bind")
        #expect(worstRatio(fast, ref, scale: [Float](repeating: 8 * 7, count: 1003), tolerance: Tolerances.activation) <= 1)
        // (clamp(up) + 1) · g·σ(1.702 g), g = min(gate, 7).
        var two = [Float](repeating: 0, count: 2)
        Activations.clampedSwiGLU(gate: [10, -10], up: [10, -10], into: &two, count: 2)
        let clampedHigh: Float = 8 * 7 / (1 + Foundation.exp(Float(-1.702 * 7)))
        let clampedLow: Float = 60 / (1 + Foundation.exp(Float(1.702 * 10)))
        #expect(abs(two[0] - clampedHigh) < 1e-4)
        #expect(abs(two[1] - clampedLow) < 1e-6)
    }

    @Test func vectorExpIsAccurate() {
        var rng = SplitMix64(seed: 8)
        let xs = rng.floats(4096, scale: 87)
        var worst: Float = 0
        for i in stride(from: 0, to: xs.count, by: 16) {
            let v = xs.withUnsafeBufferPointer { $0.baseAddress!.load16(i) }
            let e = vectorExp(v)
            for l in 0..<16 { worst = max(worst, abs(e[l] - Foundation.exp(v[l])) / Foundation.exp(v[l])) }
        }
        #expect(worst <= Tolerances.exp, "worst relative error \(worst)")
    }

    @Test(arguments: [1, 16, 17, 200, 49152])
    func softmaxMatchesReferenceAndSumsToOne(count: Int) {
        var rng = SplitMix64(seed: UInt64(count))
        let x = rng.floats(count, scale: 30)
        var fast = x, ref = x
        Activations.softmax(&fast, count: count)
        Activations.softmaxReference(&ref, count: count)
        #expect(worstRatio(fast, ref, scale: ref.map { max($0, 1e-30) }, tolerance: 1e-5) <= 1)
        #expect(abs(fast.reduce(0, +) - 1) < 1e-4)
        // Large values do not overflow.
        var big: [Float] = [1000, 999, -1000]
        Activations.softmax(&big, count: 3)
        #expect(big.allSatisfy { $0.isFinite } && big[0] > big[1])
        // A sink logit joins the maximum and the sum: the outputs sum to 1 − its share.
        let sink = x.max()! + 0.5
        var sunk = x, sunkRef = x
        Activations.softmax(&sunk, count: count, sink: sink)
        Activations.softmaxReference(&sunkRef, count: count, sink: sink)
        #expect(worstRatio(sunk, sunkRef, scale: sunkRef.map { max($0, 1e-30) }, tolerance: 1e-5) <= 1)
        let sinkShare = 1 / (1 + x.reduce(0.0) { $0 + Foundation.exp(Double($1 - sink)) })
        #expect(abs(Double(sunk.reduce(0, +)) - (1 - sinkShare)) < 1e-4)
    }

    @Test func softcapMatchesReferenceAndBounds() {
        var rng = SplitMix64(seed: 11)
        let cap: Float = 30
        // Logits of every size: small ones (|x/cap| below the vectorized tanh's series bound 1/8) keep their relative
        // precision, large ones saturate.
        let x = rng.floats(4099, scale: 200) + rng.floats(1021, scale: 4) + [0, -0.0, 1e-20, 1e6, -1e6, .infinity, -.infinity]
        var fast = x, ref = x
        Activations.softcap(&fast, cap: cap, count: x.count)
        Activations.softcapReference(&ref, cap: cap, count: x.count)
        #expect(worstRatio(fast, ref, scale: [Float](repeating: cap, count: x.count), tolerance: Tolerances.softcap) <= 1)
        #expect(fast.allSatisfy { abs($0) <= cap })
        // Small logits pass almost unchanged; the order of logits is kept.
        #expect(abs(fast[x.count - 5] - 1e-20) < 1e-25)
        let small = (0..<x.count).filter { abs(x[$0]) < cap / 8 && x[$0] != 0 }
        #expect(small.count > 500 && small.allSatisfy { abs(fast[$0] - ref[$0]) <= 1e-6 * abs(ref[$0]) }, "relative precision of small values")
        // Huge and infinite logits saturate at ±cap.
        #expect(Array(fast.suffix(4)) == [cap, -cap, cap, -cap])
    }

    @Test func argmaxFindsTheFirstLargest() {
        var rng = SplitMix64(seed: 9)
        for count in [1, 5, 16, 33, 49152] {
            var x = rng.floats(count)
            #expect(Activations.argmax(x, count: count) == Activations.argmaxReference(x, count: count))
            x[count / 2] = 5
            x[count - 1] = 5
            #expect(Activations.argmax(x, count: count) == count / 2)
        }
    }

    @Test func addScaleAndConversions() {
        var rng = SplitMix64(seed: 10)
        let a = rng.floats(37), b = rng.floats(37)
        var y = b
        Activations.add(a, into: &y, count: 37)
        #expect(y == zip(a, b).map { $0 + $1 })
        // f16 and bf16 conversions are bit-exact with HalfPrecision.
        let values = rng.floats(1000, scale: 70000) + [0, -0.0, .infinity, -.infinity, 65519, 65520, 1e-8, 6e-5]
        var halves = [UInt16](repeating: 0, count: values.count), halvesRef = halves
        Convert.floatToHalf(values, into: &halves, count: values.count)
        Convert.floatToHalfReference(values, into: &halvesRef, count: values.count)
        #expect(halves == halvesRef)
        var back = [Float](repeating: 0, count: values.count), backRef = back
        Convert.halfToFloat(halves, into: &back, count: values.count)
        Convert.halfToFloatReference(halves, into: &backRef, count: values.count)
        #expect(back.map(\.bitPattern) == backRef.map(\.bitPattern))
        let bf = values.map { HalfPrecision.floatToBF16($0) }
        Convert.bfloat16ToFloat(bf, into: &back, count: values.count)
        Convert.bfloat16ToFloatReference(bf, into: &backRef, count: values.count)
        #expect(back.map(\.bitPattern) == backRef.map(\.bitPattern))
    }
}

@Suite struct AttentionTests {
    /// With `softcap` (Gemma 2's scores c·tanh(s/c)) too: the capped output must also differ from the uncapped one.
    @Test(arguments: [CacheView.Element.f32, .f16], [nil, Float(1.5)])
    func causalAttentionMatchesReference(element: CacheView.Element, softcap: Float?) {
        let heads = 6, kvHeads = 2, dim = 40, maxPositions = 32, firstPosition = 5, tokens = 7
        var rng = SplitMix64(seed: 21)
        let elementBytes = element == .f32 ? 4 : 2
        // Head-major cache: [kvHead][position][dim].
        let kBytes = UnsafeMutableRawPointer.allocate(byteCount: kvHeads * maxPositions * dim * elementBytes, alignment: 64)
        let vBytes = UnsafeMutableRawPointer.allocate(byteCount: kvHeads * maxPositions * dim * elementBytes, alignment: 64)
        defer { kBytes.deallocate(); vBytes.deallocate() }
        let keys = CacheView(base: kBytes, element: element, positionStride: dim, headStride: maxPositions * dim)
        let values = CacheView(base: vBytes, element: element, positionStride: dim, headStride: maxPositions * dim)
        for p in 0..<(firstPosition + tokens) {
            keys.store(rng.floats(kvHeads * dim, scale: 2), position: p, heads: kvHeads, headDimension: dim)
            values.store(rng.floats(kvHeads * dim), position: p, heads: kvHeads, headDimension: dim)
        }
        let queries = rng.floats(tokens * heads * dim, scale: 2)
        var fast = [Float](repeating: .nan, count: tokens * heads * dim), ref = fast
        let scratch = AttentionScratch(maxPositions: maxPositions, threads: 2)
        let pool = ThreadPool(threads: 2)
        let scale = 1 / Float(dim).squareRoot()
        Attention.causal(queries: queries, queryStride: heads * dim, keys: keys, values: values, heads: heads, kvHeads: kvHeads,
                         headDimension: dim, firstPosition: firstPosition, tokens: tokens, scale: scale, softcap: softcap,
                         output: &fast, outputStride: heads * dim, scratch: scratch, pool: pool)
        Attention.causalReference(queries: queries, queryStride: heads * dim, keys: keys, values: values, heads: heads, kvHeads: kvHeads,
                                  headDimension: dim, firstPosition: firstPosition, tokens: tokens, scale: scale, softcap: softcap,
                                  output: &ref, outputStride: heads * dim)
        #expect(worstRatio(fast, ref, scale: [Float](repeating: 1, count: ref.count), tolerance: 1e-5) <= 1)
        if softcap != nil {
            var uncapped = ref
            Attention.causalReference(queries: queries, queryStride: heads * dim, keys: keys, values: values, heads: heads, kvHeads: kvHeads,
                                      headDimension: dim, firstPosition: firstPosition, tokens: tokens, scale: scale,
                                      output: &uncapped, outputStride: heads * dim)
            #expect(zip(uncapped, ref).map { abs($0 - $1) }.max()! > 0.05, "the cap must matter on these scores")
        }
    }

    /// Attention sinks (gpt-oss): one logit per head in the softmax's denominator, without a value.
    @Test(arguments: [CacheView.Element.f32, .f16])
    func sinksJoinTheSoftmax(element: CacheView.Element) {
        let heads = 4, kvHeads = 2, dim = 24, maxPositions = 16, tokens = 9
        var rng = SplitMix64(seed: 23)
        let size = element == .f32 ? 4 : 2
        let k = UnsafeMutableRawPointer.allocate(byteCount: maxPositions * kvHeads * dim * size, alignment: 64)
        let v = UnsafeMutableRawPointer.allocate(byteCount: maxPositions * kvHeads * dim * size, alignment: 64)
        defer { k.deallocate(); v.deallocate() }
        let keys = CacheView(base: k, element: element, positionStride: kvHeads * dim, headStride: dim)
        let values = CacheView(base: v, element: element, positionStride: kvHeads * dim, headStride: dim)
        for p in 0..<tokens {
            keys.store(rng.floats(kvHeads * dim, scale: 2), position: p, heads: kvHeads, headDimension: dim)
            values.store(rng.floats(kvHeads * dim), position: p, heads: kvHeads, headDimension: dim)
        }
        let queries = rng.floats(tokens * heads * dim, scale: 2)
        let sinks: [Float] = [2.5, -1, 0.3, -1e30]
        var fast = [Float](repeating: .nan, count: tokens * heads * dim), ref = fast, plain = fast
        let scale = 1 / Float(dim).squareRoot()
        Attention.causal(queries: queries, queryStride: heads * dim, keys: keys, values: values, heads: heads, kvHeads: kvHeads,
                         headDimension: dim, firstPosition: 0, tokens: tokens, scale: scale, sinks: sinks, output: &fast,
                         outputStride: heads * dim, scratch: AttentionScratch(maxPositions: maxPositions, threads: 2), pool: ThreadPool(threads: 2))
        Attention.causalReference(queries: queries, queryStride: heads * dim, keys: keys, values: values, heads: heads, kvHeads: kvHeads,
                                  headDimension: dim, firstPosition: 0, tokens: tokens, scale: scale, sinks: sinks,
                                  output: &ref, outputStride: heads * dim)
        Attention.causalReference(queries: queries, queryStride: heads * dim, keys: keys, values: values, heads: heads, kvHeads: kvHeads,
                                  headDimension: dim, firstPosition: 0, tokens: tokens, scale: scale, output: &plain, outputStride: heads * dim)
        #expect(worstRatio(fast, ref, scale: [Float](repeating: 1, count: ref.count), tolerance: 1e-5) <= 1)
        for h in 0..<heads {
            let diff = (0..<tokens).flatMap { t in (0..<dim).map { abs(ref[(t * heads + h) * dim + $0] - plain[(t * heads + h) * dim + $0]) } }.max()!
            // A sink of −10^30 takes nothing; the others shrink every weight.
            if h == 3 { #expect(diff == 0) } else { #expect(diff > 0.01, "head \(h)'s sink must matter") }
        }
    }

    @Test(arguments: [CacheView.Element.f32, .f16])
    func windowedViewAttendsToTheWindowAlone(element: CacheView.Element) {
        // A sliding window of 5 at position 11 attends to positions 7…11: the view from position 7 over 5 positions
        // gives the reference over a cache that holds only those positions.
        let kvHeads = 2, dim = 24, positions = 12, window = 5
        var rng = SplitMix64(seed: 22)
        let size = element == .f32 ? 4 : 2
        let k = UnsafeMutableRawPointer.allocate(byteCount: positions * kvHeads * dim * size, alignment: 64)
        let v = UnsafeMutableRawPointer.allocate(byteCount: positions * kvHeads * dim * size, alignment: 64)
        let kw = UnsafeMutableRawPointer.allocate(byteCount: window * kvHeads * dim * size, alignment: 64)
        let vw = UnsafeMutableRawPointer.allocate(byteCount: window * kvHeads * dim * size, alignment: 64)
        defer { k.deallocate(); v.deallocate(); kw.deallocate(); vw.deallocate() }
        // Position-major, as the runtime's cache.
        let view = { (base: UnsafeMutableRawPointer) in CacheView(base: base, element: element, positionStride: kvHeads * dim, headStride: dim) }
        let (keys, values, windowKeys, windowValues) = (view(k), view(v), view(kw), view(vw))
        for p in 0..<positions {
            let key = rng.floats(kvHeads * dim, scale: 2), value = rng.floats(kvHeads * dim)
            keys.store(key, position: p, heads: kvHeads, headDimension: dim)
            values.store(value, position: p, heads: kvHeads, headDimension: dim)
            if p >= positions - window {
                windowKeys.store(key, position: p - (positions - window), heads: kvHeads, headDimension: dim)
                windowValues.store(value, position: p - (positions - window), heads: kvHeads, headDimension: dim)
            }
        }
        let query = rng.floats(dim, scale: 2)
        var scores = [Float](repeating: 0, count: positions)
        var fast = [Float](repeating: .nan, count: dim), ref = fast
        let first = positions - window
        Attention.attendOne(query, keys: keys.from(position: first), values: values.from(position: first), kvHead: 1, span: window,
                            headDimension: dim, scale: 0.2, scores: &scores, into: &fast)
        // The reference attends the last of `window` queries at positions 0..<window of the window-only cache.
        let queries = [Float](repeating: 0, count: (window - 1) * 2 * dim) + [Float](repeating: 0, count: dim) + query
        var all = [Float](repeating: 0, count: window * 2 * dim)
        Attention.causalReference(queries: queries, queryStride: 2 * dim, keys: windowKeys, values: windowValues, heads: 2, kvHeads: kvHeads,
                                  headDimension: dim, firstPosition: 0, tokens: window, scale: 0.2, output: &all, outputStride: 2 * dim)
        ref = Array(all[((window - 1) * 2 + 1) * dim..<(window * 2 * dim)])
        #expect(worstRatio(fast, ref, scale: [Float](repeating: 1, count: dim), tolerance: 1e-5) <= 1)
    }

    @Test func firstTokenAttendsOnlyToItself() {
        let dim = 16
        let k = UnsafeMutableRawPointer.allocate(byteCount: 4 * 4 * dim, alignment: 64), v = UnsafeMutableRawPointer.allocate(byteCount: 4 * 4 * dim, alignment: 64)
        defer { k.deallocate(); v.deallocate() }
        let keys = CacheView(base: k, element: .f32, positionStride: dim, headStride: 0)
        let values = CacheView(base: v, element: .f32, positionStride: dim, headStride: 0)
        let value: [Float] = (0..<dim).map(Float.init)
        keys.store([Float](repeating: 1, count: dim), position: 0, heads: 1, headDimension: dim)
        values.store(value, position: 0, heads: 1, headDimension: dim)
        // Position 1 holds garbage that a causal first token must not see.
        values.store([Float](repeating: 1000, count: dim), position: 1, heads: 1, headDimension: dim)
        var out = [Float](repeating: 0, count: dim)
        Attention.causal(queries: [Float](repeating: 0.3, count: dim), queryStride: dim, keys: keys, values: values, heads: 1, kvHeads: 1,
                         headDimension: dim, firstPosition: 0, tokens: 1, scale: 1, output: &out, outputStride: dim,
                         scratch: AttentionScratch(maxPositions: 4, threads: 1), pool: ThreadPool(threads: 1))
        #expect(out == value)
    }
}
