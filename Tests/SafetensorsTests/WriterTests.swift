import Foundation
import SafetensorsFormat
import SieveCore
import Testing

/// The writer: layout identical to the official library's, conversions checked by the Python library, and the
/// Swift reader reading its output back.
@Suite("Writing safetensors")
struct WriterTests {
    let plugin = SafetensorsPlugin()

    @Test("keeping dtypes reproduces the official writer's file byte for byte", arguments: Fixtures.singleFileModels)
    func keepIsByteIdentical(model: String) throws {
        let source = Fixtures.folder(model)
        let graph = try plugin.read(source)
        let original = try Data(contentsOf: source.appendingPathComponent("model.safetensors"))
        let out = try TemporaryFolder()
        try plugin.write(graph, to: out.url, options: WriteOptions())
        #expect(try Data(contentsOf: out.file("model.safetensors")) == original)
        try plugin.write(graph, to: out.file("single.safetensors"), options: WriteOptions())
        #expect(try Data(contentsOf: out.file("single.safetensors")) == original)
    }

    @Test("each fixture converted to f32 / f16 / bf16 loads in Python with the source values rounded, and reads back",
          .enabled(if: Python.hasSafetensors, "python3 with the safetensors and numpy packages is needed to check the output with the official library"),
          arguments: Fixtures.models, ["f32", "f16", "bf16"])
    func pythonLoadsConvertedFolder(model: String, dtypeName: String) throws {
        let source = Fixtures.folder(model)
        let dtype = try #require(DType(name: dtypeName))
        let graph = try plugin.read(source)
        let out = try TemporaryFolder()
        try plugin.write(graph, to: out.url, options: WriteOptions(dtype: dtype))

        let check = try Python.run([Fixtures.root.appendingPathComponent("check_roundtrip.py").path, source.path, out.url.path, dtypeName])
        #expect(check.status == 0 && check.output.hasPrefix("OK"), "\(check.output)")

        // The Swift reader reads the folder back as the same model, each tensor the source's converted value.
        let again = try plugin.read(out.url)
        #expect(again.architecture == graph.architecture)
        #expect(again.hyperparameters == graph.hyperparameters)
        #expect(again.tokenizer == graph.tokenizer)
        #expect(again.tensors.names == graph.tensors.names)
        for t in graph.tensors.all {
            #expect(try again.tensor(t.name).sameContents(as: t.converted(to: dtype)), "\(t.name)")
        }
        for name in ["tokenizer.json", "tokenizer_config.json"] {
            #expect(try Data(contentsOf: out.file(name)) == Data(contentsOf: source.appendingPathComponent(name)))
        }
        let config = try JSONValue.parse(contentsOf: out.file("config.json"))
        #expect(config["torch_dtype"]?.stringValue == ["f32": "float32", "f16": "float16", "bf16": "bfloat16"][dtypeName])
    }

    @Test("a .safetensors destination is one file and nothing else; the tensor view reads it")
    func singleFileDestination() throws {
        let graph = try plugin.read(Fixtures.folder("tiny-gpt2"))
        let out = try TemporaryFolder()
        let file = out.file("gpt2.safetensors")
        try plugin.write(graph, to: file, options: WriteOptions(dtype: .f16))
        #expect(try FileManager.default.contentsOfDirectory(atPath: out.url.path) == ["gpt2.safetensors"])
        let tensors = try plugin.readTensors(file)
        #expect(tensors.tensors.count == 28)
        #expect(tensors.metadata.map(\.0) == ["format"])
        #expect(try #require(tensors.tensors["transformer.h.0.attn.c_attn.weight"]).shape == [256, 768])
        #expect(tensors.tensors.all.allSatisfy { $0.dtype == .f16 })
    }

    @Test("existing outputs are kept unless overwrite is set")
    func overwrite() throws {
        let graph = try plugin.read(Fixtures.folder("tiny-llama"))
        let out = try TemporaryFolder()
        let file = out.file("x.safetensors")
        try Data("keep me".utf8).write(to: file)
        #expect(throws: SieveCoreError.outputExists(path: file.path)) { try plugin.write(graph, to: file, options: WriteOptions()) }
        #expect(try Data(contentsOf: file) == Data("keep me".utf8))
        try plugin.write(graph, to: file, options: WriteOptions(overwrite: true))
        #expect(try plugin.readTensors(file).tensors.count == 21)

        let folder = out.file("hf")
        try plugin.write(graph, to: folder, options: WriteOptions())
        #expect(throws: SieveCoreError.outputExists(path: folder.appendingPathComponent("model.safetensors").path)) {
            try plugin.write(graph, to: folder, options: WriteOptions())
        }
        try plugin.write(graph, to: folder, options: WriteOptions(dtype: .bf16, overwrite: true))
        #expect(try plugin.readTensors(folder).tensors.all.allSatisfy { $0.dtype == .bf16 })
        // The tokenizer files are copied, and no temporary files are left behind.
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted()
            == ["config.json", "model.safetensors", "special_tokens_map.json", "tokenizer.json", "tokenizer.model", "tokenizer_config.json"])
    }

    @Test("progress is reported once per tensor, in file order")
    func progress() throws {
        let graph = try plugin.read(Fixtures.folder("tiny-qwen2"))
        let out = try TemporaryFolder()
        final class Log: @unchecked Sendable {
            var steps: [(Int, Int, String)] = []
        }
        let log = Log()
        try plugin.write(graph, to: out.file("q.safetensors"), options: WriteOptions(progress: { log.steps.append(($0, $1, $2)) }))
        #expect(log.steps.map(\.0) == Array(1...27))
        #expect(log.steps.allSatisfy { $0.1 == 27 })
        #expect(log.steps.map(\.2) == log.steps.map(\.2).sorted())
    }

    @Test("integer and quantized target dtypes are refused")
    func unsupportedTargets() throws {
        let graph = try plugin.read(Fixtures.folder("tiny-llama"))
        let out = try TemporaryFolder()
        for dtype in [DType.i8, .q8_0] {
            let file = out.file("\(dtype.name).safetensors")
            #expect(throws: SafetensorsError.unsupportedOutputDType(path: file.path, dtype: dtype.name)) {
                try plugin.write(graph, to: file, options: WriteOptions(dtype: dtype))
            }
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: out.url.path).isEmpty)
    }

    @Test("quantized tensors are dequantized: to f32 when keeping dtypes, else to the requested float type")
    func quantizedTensorsAreDequantized() throws {
        var graph = try plugin.read(Fixtures.folder("tiny-llama"))
        let name = "blocks.0.ffn.up.weight"
        let quantized = try graph.tensor(name).converted(to: .q8_0)
        graph.tensors.insert(quantized)
        let out = try TemporaryFolder()
        for (requested, stored) in [(DType?.none, DType.f32), (.f16, .f16), (.bf16, .bf16)] {
            let file = out.file("\(stored.name).safetensors")
            try plugin.write(graph, to: file, options: WriteOptions(dtype: requested))
            let written = try #require(try plugin.readTensors(file).tensors["model.layers.0.mlp.up_proj.weight"])
            #expect(written.dtype == stored)
            #expect(written.sameContents(as: try quantized.converted(to: .f32).converted(to: stored)))
        }
    }

    @Test("tensors of every dtype are laid out exactly as the official writer lays them out",
          .enabled(if: Python.hasSafetensors, "python3 with the safetensors and numpy packages is needed to compare with the official writer"))
    func everyDTypeMatchesTheOfficialWriter() throws {
        var store = TensorStore()
        func add(_ name: String, _ dtype: DType, _ shape: Shape) throws {
            let count = dtype.byteCount(elements: shape.elementCount) ?? 0
            let buffer = TensorBuffer(count: count)
            for i in 0..<count { buffer.bytes[i] = UInt8(truncatingIfNeeded: i &* 37 &+ name.count) }
            if dtype == .bool { for i in 0..<count { buffer.bytes[i] &= 1 } }
            store.insert(try Tensor(name: name, dtype: dtype, shape: shape, storage: .owned(buffer)))
        }
        for (k, dtype) in [DType.bool, .u8, .i8, .i16, .f16, .bf16, .i32, .f32, .f64, .i64].enumerated() {
            try add("t\(9 - k).\(dtype.name)", dtype, [3, k + 1])
        }
        try add("scalar", .f32, [])
        try add("empty", .f16, [0, 4])
        try add("ünïcode/名前", .u8, [5])
        let out = try TemporaryFolder()
        let file = out.file("all.safetensors")
        try plugin.writeTensors(store, metadata: [("format", "pt")], to: file, options: WriteOptions())

        let script = """
        import sys, numpy as np, safetensors
        raw = open(sys.argv[1], "rb").read()
        names = {"F64": "float64", "F32": "float32", "F16": "float16", "BF16": "bfloat16", "I64": "int64", "I32": "int32", "I16": "int16", "I8": "int8", "U8": "uint8", "BOOL": "bool"}
        arrays, specs = [], {}
        for name, info in safetensors.deserialize(raw):
            a = np.frombuffer(bytes(info["data"]), np.uint8).copy(); arrays.append(a)
            specs[name] = safetensors.TensorSpec(dtype=names[info["dtype"]], shape=list(info["shape"]), data_ptr=a.ctypes.data, data_len=a.size)
        print("identical" if safetensors.serialize(specs, metadata={"format": "pt"}) == raw else "different", len(specs))
        """
        let result = try Python.run(["-c", script, file.path])
        #expect(result.status == 0 && result.output == "identical 13\n", "\(result.output)")

        let back = try plugin.readTensors(file)
        for t in store.all { #expect(try #require(back.tensors[t.name]).sameContents(as: t), "\(t.name)") }
        #expect(back.tensors.names.first == "t0.i64")
    }
}
