import BundleFormat
import Foundation
import SieveCore
import SieveTestSupport
import Testing

/// Runs `tools/read_bundle.py`, the reader written only from SPEC.md.
enum PythonReader {
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("tools/read_bundle.py")

    /// Whether `python3` can import `zstandard` and `numpy` (the Makefile's set-up installs them).
    static let available = ChildProcess.pythonImports("zstandard, numpy")

    static func run(_ arguments: [String]) throws -> ChildProcess.Result { try ChildProcess.python(arguments) }
}

@Suite("The Python reader written from SPEC.md",
       .enabled(if: PythonReader.available, "python3 with zstandard and numpy is not available: pip install zstandard numpy"))
struct PythonReaderTests {
    @Test("reproduces every tensor and the manifest of Swift-written bundles",
          arguments: [(BundleCompression.zstd, nil as DType?), (.none, nil), (.zstd, .q8_0), (.zstd, .f16)])
    func crossCheck(compression: BundleCompression, dtype: DType?) throws {
        let scratch = try Scratch()
        let url = scratch.file("model.sieve")
        let provenance = BundleProvenance(source: BundleSource(name: "tiny.gguf", format: "gguf", sha256: nil),
                                          passes: [BundlePass(name: "block", options: .object([("block_size", .int(16))]))])
        try BundleWriter.write(try TinyModels.blocked(), to: url,
                               options: BundleWriteOptions(dtype: dtype, compression: compression, frameSize: 3000, provenance: provenance))
        let dump = scratch.file("dump")
        let result = try PythonReader.run([PythonReader.script.path, url.path, "--raw", dump.path, "--npz", scratch.file("t.npz").path])
        try #require(result.status == 0, "read_bundle.py failed: \(result.stderr)")
        #expect(result.stdout.contains("llama"))

        let bundle = try BundleFile.open(url)
        let tensors = try bundle.readTensors()
        #expect(try JSONValue.parse(contentsOf: dump.appendingPathComponent("manifest.json")) == bundle.manifest.json)
        let index = try #require(try JSONValue.parse(contentsOf: dump.appendingPathComponent("index.json")).arrayItems)
        #expect(index.count == tensors.count)
        for item in index {
            let name = try #require(item["name"]?.stringValue)
            let tensor = try #require(tensors[name])
            #expect(item["dtype"]?.stringValue == tensor.dtype.name)
            #expect(item["shape"]?.arrayItems?.compactMap(\.intValue) == tensor.shape.dims)
            let bytes = try Data(contentsOf: dump.appendingPathComponent(try #require(item["file"]?.stringValue)))
            #expect(Array(bytes) == tensor.byteArray, "\(name)")
        }
    }

    @Test("refuses a corrupted frame, naming its section")
    func corruption() throws {
        let scratch = try Scratch()
        let url = scratch.file("model.sieve")
        try BundleWriter.write(try TinyModels.blocked(), to: url)
        let section = try BundleFile.open(url).section(named: "blocks.1.ffn")
        var bytes = try BundleBytes(url)
        bytes.data[section.offset + section.storedSize / 2] ^= 0x01
        try bytes.write(url)
        let result = try PythonReader.run([PythonReader.script.path, url.path])
        #expect(result.status == 1)
        #expect(result.stderr.contains("section 'blocks.1.ffn' frame 0: CRC-32"))

        var future = try BundleBytes(url)
        future.setU32(2, at: 8)
        try future.write(url)
        let newer = try PythonReader.run([PythonReader.script.path, url.path])
        #expect(newer.status == 1)
        #expect(newer.stderr.contains("written by a newer Sieve (v2"))
    }
}
