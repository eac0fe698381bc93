import Foundation
import Testing
@testable import GGUFFormat
@testable import SieveCore

/// llama.cpp's grid-type quantizations of tiny-llama (`iq2_xxs.gguf`: iq2_xxs, iq2_xs, iq2_s, iq1_s, iq1_m;
/// `iq3_xxs.gguf`: iq3_xxs, iq3_s, iq2_s; made with an importance matrix, see `ref-llama-quantize.json`) decode
/// as the official `gguf` package decodes them (`ref-iq-dequant.json`, written by `scripts/make-iq-dequant-ref.py`),
/// and copy through the IR unchanged.
@Suite struct GridFixtureTests {
    static let files = ["iq2_xxs.gguf", "iq3_xxs.gguf"]

    /// How far a value may be from gguf-py's, relative to it: both evaluate the same float32 formulas, so the values
    /// agree to float32 rounding at worst (they are in fact equal).
    static let valueTolerance = 1e-6
    /// How far a float64 sum (of values or squares) may be from gguf-py's, relative to the sum of magnitudes: numpy
    /// adds pairwise, Sieve in order.
    static let sumTolerance = 1e-6

    static func reference() throws -> JSONValue {
        try JSONValue.parse(contentsOf: try #require(Models.find("tiny-llama/ref-iq-dequant.json")))
    }

    /// The indices of values differing from `expected` by more than `valueTolerance` relative.
    static func mismatches(_ got: ArraySlice<Float>, _ expected: [Float]) -> [Int] {
        guard got.count == expected.count else { return [-1] }
        return zip(got, expected).enumerated().compactMap { i, pair in
            abs(Double(pair.0) - Double(pair.1)) <= valueTolerance * abs(Double(pair.1)) ? nil : i
        }
    }

    @Test(arguments: GridFixtureTests.files)
    func dequantizesAsGGUFPy(_ name: String) throws {
        let file = try GGUFFile(url: try #require(Models.find("tiny-llama/" + name)))
        let expected = try #require(try Self.reference()["files"]?[name])
        let entries = try #require(expected["tensors"]?.arrayItems)
        let gridInfos = file.tensorInfos.filter { $0.type.dtype?.isGridQuantized == true }
        #expect(entries.compactMap { $0["name"]?.stringValue } == gridInfos.map(\.name), "ref-iq-dequant.json lists other tensors than \(name) holds")
        for entry in entries {
            let tensorName = try #require(entry["name"]?.stringValue)
            let info = try #require(file.tensorInfo(tensorName))
            let tensor = try file.tensor(info)
            #expect(tensor.dtype.name == entry["type"]?.stringValue, "\(tensorName)")
            #expect(tensor.shape.dims == entry["shape"]?.arrayItems?.compactMap(\.intValue), "\(tensorName)")
            let values = try tensor.floats()
            let columns = tensor.shape.innermost
            for (key, row) in [("first_row", values.prefix(columns)), ("last_row", values.suffix(columns))] {
                let want = Fixture.floats(hex: try #require(entry[key]?.stringValue))
                let bad = Self.mismatches(row, want)
                #expect(bad.isEmpty, "\(name) \(tensorName) \(key): \(bad.count) values differ, first at \(bad.prefix(4))")
            }
            var sum = 0.0, squares = 0.0, magnitudes = 0.0
            for v in values.lazy.map(Double.init) {
                sum += v
                squares += v * v
                magnitudes += abs(v)
            }
            let wantSum = try #require(entry["sum"]?.doubleValue), wantSquares = try #require(entry["sum_squares"]?.doubleValue)
            #expect(abs(sum - wantSum) <= Self.sumTolerance * magnitudes, "\(name) \(tensorName): sum \(sum) vs \(wantSum)")
            #expect(abs(squares - wantSquares) <= Self.sumTolerance * squares, "\(name) \(tensorName): sum of squares \(squares) vs \(wantSquares)")
        }
    }

    /// Between them the two files hold every grid type.
    @Test func fixturesCoverEveryGridType() throws {
        var types = Set<DType>()
        for name in Self.files {
            let file = try GGUFFile(url: try #require(Models.find("tiny-llama/" + name)))
            types.formUnion(file.tensorInfos.compactMap { $0.type.dtype }.filter(\.isGridQuantized))
        }
        #expect(types == [.iq2_xxs, .iq2_xs, .iq2_s, .iq3_xxs, .iq3_s, .iq1_s, .iq1_m])
    }

    /// GGUF → IR → GGUF keeping the types copies every tensor's bytes (the grid types included) and names the
    /// most common type in `general.file_type` (llama.cpp's `LLAMA_FTYPE_MOSTLY_IQ2_XXS` is 19, `…_IQ3_S` 26).
    @Test(arguments: [("iq2_xxs.gguf", UInt32(19)), ("iq3_xxs.gguf", 26)])
    func keepRoundTripIsByteExact(_ name: String, _ fileType: UInt32) throws {
        let url = try #require(Models.find("tiny-llama/" + name))
        let (out, dir) = try GGUFWriterTests.written(try GGUFPlugin().read(url), dtype: nil)
        defer { try? FileManager.default.removeItem(at: dir) }
        let source = try GGUFFile(url: url), copy = try GGUFFile(url: out)
        #expect(copy.tensorInfos.count == source.tensorInfos.count)
        for info in source.tensorInfos {
            let mine = try #require(copy.tensorInfo(info.name))
            #expect(mine.type == info.type && mine.dimensions == info.dimensions, "\(info.name)")
            #expect(source.bytes(of: info).elementsEqual(copy.bytes(of: mine)), "\(info.name) bytes differ after GGUF → IR → GGUF")
        }
        #expect(copy["general.file_type"] == .uint32(fileType))
    }

    /// Converting to f16 dequantizes the grid tensors: each is its decoded values rounded to f16.
    @Test func convertsToF16() throws {
        let graph = try GGUFPlugin().read(try #require(Models.find("tiny-llama/iq2_xxs.gguf")))
        let (out, dir) = try GGUFWriterTests.written(graph, dtype: .f16)
        defer { try? FileManager.default.removeItem(at: dir) }
        let copy = try GGUFPlugin().read(out)
        var compared = 0
        for tensor in graph.tensors.all where tensor.dtype.isGridQuantized {
            let converted = try #require(copy.tensors[tensor.name])
            #expect(converted.dtype == .f16)
            let expected = try tensor.floats().map { HalfPrecision.f16ToFloat(HalfPrecision.floatToF16($0)) }
            #expect(try converted.floats() == expected, "\(tensor.name)")
            compared += 1
        }
        #expect(compared == 12)
    }

    /// Asking for a grid type as the output dtype fails before anything is written, naming the type and what to
    /// use instead.
    @Test func refusesToQuantizeToAGridType() throws {
        let graph = try GGUFPlugin().read(try #require(Models.find("tiny-llama/iq2_xxs.gguf")))
        let dir = try Models.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("x.gguf")
        for dtype in [DType.iq2_xxs, .iq1_m, .iq3_s] {
            #expect(throws: SieveCoreError.gridQuantization(source: url.path, dtype: dtype.name)) {
                try GGUFPlugin().write(graph, to: url, options: WriteOptions(dtype: dtype))
            }
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).isEmpty)
    }
}
