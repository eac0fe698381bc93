import Foundation
import SieveCore
import SieveTransforms
import Testing

@Suite struct ReorderingTests {
    /// On planted co-firing groups the clustering puts each group in one block, and the top blocks then hold far
    /// more of a token's mass than with the original or a random order.
    @Test func recoversPlantedGroups() throws {
        let model = try PlantedModel.make(seed: 11)
        let records = try model.records(tokens: 1000, seed: 12)
        let products = MatrixProducts(threads: 2)
        for block in 0..<records.shape.blocks {
            let result = try NeuronReordering.reorder(magnitudes: try records.ffnMagnitudes(block),
                                                      options: .init(blockSize: 8), products: products)
            #expect(NeuronReordering.isPermutation(result.permutation, count: 128))
            let purity = NeuronReordering.purity(permutation: result.permutation, blockSize: 8, group: model.groups[block])
            print("block \(block): purity \(purity), top-20% block mass \(result.capturedMass) vs original order \(result.identityCapturedMass), random \(result.randomCapturedMass), \(result.iterations) iterations")
            #expect(purity >= 0.9)
            #expect(result.capturedMass > result.identityCapturedMass + 0.1)
            #expect(result.capturedMass > result.randomCapturedMass + 0.1)
        }
    }

    /// Block masses sum the right neurons.
    @Test func blockMassesFollowThePermutation() {
        let m = FloatMatrix(rows: 2, columns: 4, values: [1, 2, 3, 4, 10, 20, 30, 40])
        let masses = NeuronReordering.blockMasses(magnitudes: m, permutation: [3, 0, 1, 2], blockSize: 2)
        #expect(masses.values == [5, 5, 50, 50])
        #expect(NeuronReordering.capturedMass(blockMasses: masses, density: 0.5) == 0.5)
    }

    @Test func blockSizeMustDivideTheWidth() throws {
        let m = FloatMatrix(rows: 4, columns: 24)
        #expect(throws: SieveTransformsError.self) {
            _ = try NeuronReordering.reorder(magnitudes: m, options: .init(blockSize: 16), products: MatrixProducts(threads: 1))
        }
    }
}
