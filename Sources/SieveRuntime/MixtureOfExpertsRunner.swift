import Foundation
import SieveCore
import SieveKernels

/// Runs a model's mixture-of-experts FFN layers: routes each token to its experts, then multiplies each chosen expert
/// once for all the tokens that chose it (their rows gathered), and adds each expert's output, weighted, to its
/// tokens' rows, and the shared expert's output (GraniteMoeShared, Qwen2-MoE: weighed by a sigmoid), if any, to every
/// row. Router and expert biases (gpt-oss) are added to the products they follow. Buffers are allocated once, for the
/// model's batch; nothing is allocated per token.
final class MixtureOfExpertsRunner {
    private let hidden: Int
    /// `[tokens, experts]` router logits, turned into probabilities in place.
    private let probabilities: FloatBuffer
    /// `[tokens, experts per token]`: the chosen experts and their weights (slot `t·k + j`).
    private let chosen: IndexBuffer
    private let weights: FloatBuffer
    /// Per expert, where its slots start in `slots` (counting sort by expert; one more entry than experts).
    private let starts: IndexBuffer
    /// Slots grouped by expert.
    private let slots: IndexBuffer
    /// One expert's tokens' rows, gathered, and its outputs for them.
    private let gathered: FloatBuffer
    private let results: FloatBuffer
    /// One expert's gate and up products, then its activations (in `up`); a decoded token's chosen experts side by
    /// side, then its shared expert's.
    private let gate: FloatBuffer
    private let up: FloatBuffer
    private let rowsInput: MatMulInput
    private let activationsInput: MatMulInput
    /// A decoded token's activations of each of its experts, one input each, and of its shared expert, so that all
    /// its experts' down products run in one parallel region.
    private let slotInputs: [MatMulInput]
    private let sharedInput: MatMulInput
    /// Per token, the logit whose sigmoid weighs the shared expert's output (Qwen2-MoE).
    private let sharedLogits: FloatBuffer

    /// The runner of `plan`'s mixture-of-experts layers for batches of up to `batch` tokens, or nil when it has none.
    init?(plan: ExecutionPlan, batch: Int, threads: Int, quantizedActivations: Bool) {
        let routings = plan.blocks.compactMap { $0.feedForward.experts?.routing }
        guard !routings.isEmpty else { return nil }
        let d = plan.hyperparameters.hiddenSize
        let experts = routings.map(\.expertCount).max()!, perToken = routings.map(\.expertsPerToken).max()!
        let width = max(routings.map(\.expertWidth).max()!, routings.map { $0.sharedExpertWidth ?? 0 }.max()!)
        // A decoded token's chosen experts and its shared expert side by side.
        let rows = max(batch, perToken + 1)
        hidden = d
        probabilities = FloatBuffer(count: batch * experts)
        chosen = IndexBuffer(count: batch * perToken)
        weights = FloatBuffer(count: batch * perToken)
        starts = IndexBuffer(count: experts + 1)
        slots = IndexBuffer(count: batch * perToken)
        gathered = FloatBuffer(count: batch * d)
        results = FloatBuffer(count: rows * d)
        gate = FloatBuffer(count: rows * width)
        up = FloatBuffer(count: rows * width)
        rowsInput = MatMulInput(maxTokens: batch, maxColumns: d, threads: threads, alwaysQuantizeActivations: quantizedActivations)
        activationsInput = MatMulInput(maxTokens: batch, maxColumns: width, threads: threads, alwaysQuantizeActivations: quantizedActivations)
        slotInputs = (0..<perToken).map { _ in
            MatMulInput(maxTokens: 1, maxColumns: width, threads: threads, alwaysQuantizeActivations: quantizedActivations)
        }
        sharedInput = MatMulInput(maxTokens: 1, maxColumns: width, threads: threads, alwaysQuantizeActivations: quantizedActivations)
        sharedLogits = FloatBuffer(count: batch)
    }

    /// `y` rows `0..<tokens` = the mixture of experts of `x`'s rows (`hidden` floats each).
    func run(_ experts: ExpertsPlan, activation: Activation, input x: UnsafePointer<Float>, tokens m: Int,
             into y: UnsafeMutablePointer<Float>, pool: ThreadPool) {
        let routing = experts.routing, d = hidden
        let (count, k, w) = (routing.expertCount, routing.expertsPerToken, routing.expertWidth)
        rowsInput.bind(x, tokens: m, columns: d)
        MatMul.multiply(experts.router.weight, rowsInput, into: probabilities.pointer, pool: pool)
        for t in 0..<m {
            if let bias = experts.router.bias { Activations.add(bias.pointer, into: probabilities.pointer + t * count, count: count) }
            Self.route(probabilities.pointer + t * count, experts: count, keep: k, normalize: routing.normalizesWeights,
                       chosen: chosen.buffer.baseAddress! + t * k, weights: weights.pointer + t * k)
        }
        if m == 1 {
            decode(experts, activation: activation, input: x, into: y, pool: pool)
            return
        }
        // Slots grouped by expert (a counting sort), so that each expert runs once for all its tokens.
        let starts = starts.buffer, slots = slots.buffer, chosen = chosen.buffer
        for e in 0...count { starts[e] = 0 }
        for s in 0..<(m * k) { starts[chosen[s] + 1] += 1 }
        for e in 0..<count { starts[e + 1] += starts[e] }
        for s in 0..<(m * k) {
            slots[starts[chosen[s]]] = s
            starts[chosen[s]] += 1
        }
        for e in stride(from: count, to: 0, by: -1) { starts[e] = starts[e - 1] }
        starts[0] = 0
        y.update(repeating: 0, count: m * d)
        for e in 0..<count where starts[e + 1] > starts[e] {
            let group = starts[e]..<starts[e + 1], n = group.count
            for (i, slot) in slots[group].enumerated() { (gathered.pointer + i * d).update(from: x + (slot / k) * d, count: d) }
            rowsInput.bind(gathered.pointer, tokens: n, columns: d)
            multiply(experts, gateAndUpOf: CollectionOfOne(e), pool: pool)
            for i in 0..<n { Self.addBiases(experts, expert: e, gate: gate.pointer + i * w, up: up.pointer + i * w) }
            Self.activate(activation, gate: gate.pointer, up: up.pointer, count: n * w)
            activationsInput.bind(up.pointer, tokens: n, columns: w)
            MatMul.multiply(experts.down[e], activationsInput, into: results.pointer, pool: pool)
            for (i, slot) in slots[group].enumerated() {
                Self.addBias(experts.downBias, expert: e, width: d, to: results.pointer + i * d)
                Activations.add(results.pointer + i * d, scaledBy: weights.pointer[slot], into: y + (slot / k) * d, count: d)
            }
        }
        if let shared = experts.shared {
            // Every token's rows through the shared expert, added with weight 1 or its gate's sigmoid.
            let s = shared.width
            rowsInput.bind(x, tokens: m, columns: d)
            multiply(experts, gateAndUpOf: EmptyCollection(), shared: true, pool: pool)
            for t in 0..<m { Self.addSharedBiases(shared, gate: gate.pointer + t * s, up: up.pointer + t * s) }
            Self.activate(activation, gate: gate.pointer, up: up.pointer, count: m * s)
            activationsInput.bind(up.pointer, tokens: m, columns: s)
            MatMul.multiply(shared.down.weight, activationsInput, into: results.pointer, pool: pool)
            for t in 0..<m { addShared(shared, result: results.pointer + t * d, token: t, into: y + t * d) }
        }
    }

    /// A decoded token's experts (chosen already) and its shared expert: every expert's gate and up products in one
    /// parallel region, then every expert's down product, each of its own activations, in another.
    private func decode(_ experts: ExpertsPlan, activation: Activation, input x: UnsafePointer<Float>,
                        into y: UnsafeMutablePointer<Float>, pool: ThreadPool) {
        let k = experts.routing.expertsPerToken, w = experts.routing.expertWidth, d = hidden
        let chosen = chosen.buffer
        let shared = experts.shared, s = shared?.width ?? 0
        // `rowsInput` holds the token's row since the router's product.
        multiply(experts, gateAndUpOf: chosen[0..<k], shared: shared != nil, pool: pool)
        for j in 0..<k { Self.addBiases(experts, expert: chosen[j], gate: gate.pointer + j * w, up: up.pointer + j * w) }
        if let shared { Self.addSharedBiases(shared, gate: gate.pointer + k * w, up: up.pointer + k * w) }
        Self.activate(activation, gate: gate.pointer, up: up.pointer, count: k * w + s)
        let count = shared == nil ? k : k + 1
        withUnsafeTemporaryAllocation(of: MatMulProduct.self, capacity: count) { products in
            for j in 0..<k {
                slotInputs[j].bind(up.pointer + j * w, tokens: 1, columns: w)
                products.initializeElement(at: j, to: MatMulProduct(weights: experts.down[chosen[j]], output: results.pointer + j * d,
                                                                    input: slotInputs[j]))
            }
            if let shared {
                sharedInput.bind(up.pointer + k * w, tokens: 1, columns: s)
                products.initializeElement(at: k, to: MatMulProduct(weights: shared.down.weight, output: results.pointer + k * d, input: sharedInput))
            }
            MatMul.multiply(UnsafeBufferPointer(products), slotInputs[0], pool: pool)
            products.deinitialize()
        }
        y.update(repeating: 0, count: d)
        for j in 0..<k {
            Self.addBias(experts.downBias, expert: chosen[j], width: d, to: results.pointer + j * d)
            Activations.add(results.pointer + j * d, scaledBy: weights.pointer[j], into: y, count: d)
        }
        if let shared { addShared(shared, result: results.pointer + k * d, token: 0, into: y) }
    }

    /// Adds token `t`'s shared-expert `result` (its down product, to which the down bias is added first) to its FFN
    /// output `y`, weighed by the sigmoid of its gate logit when the expert has an output gate.
    private func addShared(_ shared: SharedExpertPlan, result: UnsafeMutablePointer<Float>, token t: Int, into y: UnsafeMutablePointer<Float>) {
        if let bias = shared.down.bias { Activations.add(bias.pointer, into: result, count: hidden) }
        if let gate = shared.outputGate {
            let logit = sharedLogits.pointer[t] + (gate.bias?.pointer[0] ?? 0)
            Activations.add(result, scaledBy: 1 / (1 + Foundation.exp(-logit)), into: y, count: hidden)
        } else {
            Activations.add(result, into: y, count: hidden)
        }
    }

    /// `up` (in place) = the activation of the gate and up products: `f(gate)·up`, or gpt-oss's clamped SwiGLU.
    private static func activate(_ activation: Activation, gate: UnsafeMutablePointer<Float>, up: UnsafeMutablePointer<Float>, count: Int) {
        if activation == .clampedSwiGLU {
            Activations.clampedSwiGLU(gate: gate, up: up, into: up, count: count)
        } else {
            Activations.gatedProduct(Model.kernelFunction(activation), gate: gate, up: up, into: up, count: count)
        }
    }

    /// Adds expert `e`'s gate and up biases, if any, to one row of its gate and up products.
    private static func addBiases(_ experts: ExpertsPlan, expert e: Int, gate: UnsafeMutablePointer<Float>, up: UnsafeMutablePointer<Float>) {
        let w = experts.routing.expertWidth
        addBias(experts.gateBias, expert: e, width: w, to: gate)
        addBias(experts.upBias, expert: e, width: w, to: up)
    }

    /// Adds the shared expert's gate and up biases, if any, to one row of its gate and up products.
    private static func addSharedBiases(_ shared: SharedExpertPlan, gate: UnsafeMutablePointer<Float>, up: UnsafeMutablePointer<Float>) {
        if let bias = shared.gate.bias { Activations.add(bias.pointer, into: gate, count: shared.gate.outputs) }
        if let bias = shared.up.bias { Activations.add(bias.pointer, into: up, count: shared.up.outputs) }
    }

    /// Adds expert `e`'s row of `bias` (`width` floats at `e·width`), if any, to `row`.
    @inline(__always)
    private static func addBias(_ bias: FloatBuffer?, expert e: Int, width: Int, to row: UnsafeMutablePointer<Float>) {
        if let bias { Activations.add(bias.pointer + e * width, into: row, count: width) }
    }

    /// The gate and up products of `rowsInput`'s rows with each of `expertList`, and with the shared expert when
    /// `shared`, in one parallel region: the j-th expert's outputs start at `j·width` in `gate` and `up`, a row of
    /// `width` per token (a decoded token's experts side by side, or one expert's gathered batch), the shared
    /// expert's after them, and its output gate's logits in `sharedLogits`.
    private func multiply<Experts: Collection<Int>>(_ experts: ExpertsPlan, gateAndUpOf expertList: Experts, shared: Bool = false, pool: ThreadPool) {
        let count = expertList.count, w = experts.routing.expertWidth
        let sharedPlan = shared ? experts.shared : nil
        withUnsafeTemporaryAllocation(of: MatMulProduct.self, capacity: 2 * count + 3) { products in
            for (j, e) in expertList.enumerated() {
                products.initializeElement(at: 2 * j, to: MatMulProduct(weights: experts.gate[e], output: gate.pointer + j * w))
                products.initializeElement(at: 2 * j + 1, to: MatMulProduct(weights: experts.up[e], output: up.pointer + j * w))
            }
            if let sharedPlan {
                products.initializeElement(at: 2 * count, to: MatMulProduct(weights: sharedPlan.gate.weight, output: gate.pointer + count * w))
                products.initializeElement(at: 2 * count + 1, to: MatMulProduct(weights: sharedPlan.up.weight, output: up.pointer + count * w))
            }
            var made = 2 * count + (sharedPlan == nil ? 0 : 2)
            if let gate = sharedPlan?.outputGate {
                products.initializeElement(at: made, to: MatMulProduct(weights: gate.weight, output: sharedLogits.pointer))
                made += 1
            }
            MatMul.multiply(UnsafeBufferPointer(rebasing: products[0..<made]), rowsInput, pool: pool)
            UnsafeMutableBufferPointer(rebasing: products[0..<made]).deinitialize()
        }
    }

    /// One token's routing: `probabilities` (the router's logits, overwritten) become the softmax over all experts;
    /// the `keep` largest (the lower index first among equals) go to `chosen`, largest first, their probabilities to
    /// `weights`, divided by their sum when `normalize`.
    static func route(_ probabilities: UnsafeMutablePointer<Float>, experts: Int, keep: Int, normalize: Bool,
                      chosen: UnsafeMutablePointer<Int>, weights: UnsafeMutablePointer<Float>) {
        Activations.softmax(probabilities, count: experts)
        var sum: Float = 0
        for j in 0..<keep {
            var best = -1
            for e in 0..<experts where probabilities[e] >= 0 && (best < 0 || probabilities[e] > probabilities[best]) { best = e }
            chosen[j] = best
            weights[j] = probabilities[best]
            sum += probabilities[best]
            probabilities[best] = -1
        }
        if normalize && sum > 0 {
            for j in 0..<keep { weights[j] /= sum }
        }
    }
}
