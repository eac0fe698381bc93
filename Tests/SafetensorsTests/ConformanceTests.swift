import Foundation
import SafetensorsFormat
import SieveCore
import Testing

/// The reader against what the official Python library reads (`Fixtures/expected.json`).
@Suite("Conformance with the Python safetensors library")
struct ConformanceTests {
    let plugin = SafetensorsPlugin()

    @Test("the tests' SHA-256 gives the FIPS 180-4 test vectors")
    func sha256KnownAnswers() {
        #expect(SHA256.hex(Array("".utf8)) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(SHA256.hex(Array("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(SHA256.hex(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8))
            == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        #expect(SHA256.hex([UInt8](repeating: 0x61, count: 1000)) == "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3")
    }

    @Test("every tensor of every fixture file has the dtype, shape, bytes and metadata Python reads",
          arguments: Fixtures.models)
    func fixtureMatchesPython(model: String) throws {
        let expected = try #require(try Fixtures.json("expected.json")["fixtures"]?[model]?.objectMembers)
        #expect(!expected.isEmpty)
        var total = 0
        for (fileName, info) in expected {
            let file = try plugin.readTensors(Fixtures.folder(model).appendingPathComponent(fileName))
            let tensors = try #require(info["tensors"]?.objectMembers)
            #expect(file.tensors.count == tensors.count, "\(fileName): tensor count")
            for (name, want) in tensors {
                let t = try #require(file.tensors[name], "\(fileName): \(name) missing")
                #expect(t.dtype.name.uppercased() == want["dtype"]?.stringValue, "\(name): dtype")
                #expect(t.shape.dims == want["shape"]?.arrayItems?.compactMap(\.intValue), "\(name): shape")
                #expect(t.sha256 == want["sha256"]?.stringValue, "\(name): bytes differ from Python's")
                #expect(t.isMapped, "\(name): not a zero-copy view")
            }
            let metadata = try #require(info["metadata"]?.objectMembers)
            #expect(file.metadata.map(\.0) == metadata.map(\.0))
            #expect(file.metadata.map(\.1) == metadata.map { $0.1.stringValue ?? "" })
            total += tensors.count
        }
        // The folder reads as the union of its files.
        #expect(try plugin.readTensors(Fixtures.folder(model)).tensors.count == total)
    }

    @Test("the sharded bf16 checkpoint reads as one model equal to Python's values upcast to f32")
    func shardedCheckpoint() throws {
        let folder = Fixtures.folder("tiny-llama-sharded")
        let expected = try #require(try Fixtures.json("expected.json")["fixtures"]?["tiny-llama-sharded"]?.objectMembers)
        var wanted: [String: String] = [:]
        for (_, info) in expected {
            for (name, entry) in info["tensors"]?.objectMembers ?? [] { wanted[name] = entry["sha256_f32"]?.stringValue }
        }
        for url in [folder, folder.appendingPathComponent("model.safetensors.index.json")] {
            let file = try plugin.readTensors(url)
            #expect(file.tensors.count == 21)
            #expect(Set(file.tensors.names) == Set(wanted.keys))
            #expect(file.metadata.contains { $0 == ("total_size", "2886144") })
            for t in file.tensors.all {
                #expect(t.dtype == .bf16)
                let upcast = try t.converted(to: .f32)
                #expect(upcast.sha256 == wanted[t.name], "\(t.name): f32 upcast differs from Python's")
            }
        }

        let graph = try plugin.read(folder)
        #expect(graph.architecture == .llama)
        #expect(graph.tensors.count == 21)
        #expect(graph.tokenizer?.kind == .sentencePiece)
        // The shards are tiny-llama's float32 weights rounded to bf16 (round to nearest even).
        let reference = try plugin.read(Fixtures.folder("tiny-llama"))
        for t in graph.tensors.all {
            let f32 = try #require(reference.tensors[t.name]).floats()
            let rounded = f32.map(HalfPrecision.floatToBF16)
            let stored = (0..<t.elementCount).map { t.bytes.loadUnaligned(fromByteOffset: 2 * $0, as: UInt16.self).littleEndian }
            #expect(rounded == stored, "\(t.name): not tiny-llama rounded to bf16")
        }
    }
}
