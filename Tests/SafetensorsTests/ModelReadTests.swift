import Foundation
import SafetensorsFormat
import SieveCore
import Testing

/// Reading Hugging Face folders into the IR: architectures, hyperparameters and the name mapping.
@Suite("Hugging Face folders read as models")
struct ModelReadTests {
    let plugin = SafetensorsPlugin()

    /// What each tiny fixture must read as.
    struct Facts: Sendable, CustomTestStringConvertible {
        let name: String
        let architecture: Architecture
        let tensorCount: Int
        let tied: Bool
        let bias: Bool
        var testDescription: String { name }
    }

    static let facts = [
        Facts(name: "tiny-llama", architecture: .llama, tensorCount: 21, tied: false, bias: false),
        Facts(name: "tiny-llama-bpe", architecture: .llama, tensorCount: 20, tied: true, bias: false),
        Facts(name: "tiny-qwen2", architecture: .qwen2, tensorCount: 27, tied: false, bias: true),
        Facts(name: "tiny-gpt2", architecture: .gpt2, tensorCount: 36, tied: true, bias: true),
        Facts(name: "tiny-opt", architecture: .opt, tensorCount: 36, tied: true, bias: true),
        Facts(name: "tiny-llama-sharded", architecture: .llama, tensorCount: 21, tied: false, bias: false),
    ]

    @Test("architecture, hyperparameters, tokenizer and IR tensors of each fixture", arguments: facts)
    func fixture(_ f: Facts) throws {
        let (name, architecture, tensorCount, tied, bias) = (f.name, f.architecture, f.tensorCount, f.tied, f.bias)
        let folder = Fixtures.folder(name)
        let graph = try plugin.read(folder)
        #expect(graph.architecture == architecture)
        let hp = graph.hyperparameters
        #expect(hp.vocabSize == 512 && hp.hiddenSize == 256 && hp.layerCount == 2 && hp.headCount == 4)
        #expect(hp.kvHeadCount == (architecture == .llama || architecture == .qwen2 ? 2 : 4))
        #expect(hp.intermediateSize == (architecture == .gpt2 || architecture == .opt ? 1024 : 512))
        #expect(hp.tiedEmbeddings == tied)
        #expect(graph.tensors.count == tensorCount)
        #expect(graph.blocks.count == 2)
        #expect((graph.blocks[0].attention.q.bias != nil) == bias)
        #expect(graph.tokenizer != nil)
        #expect(graph.metadata["format"] == "pt")
        #expect(graph.metadata[SafetensorsPlugin.sourceFolderKey] == folder.standardizedFileURL.path)
        #expect(graph.tensors.names.first?.hasPrefix("embed.") == true)
        #expect(graph.tensors.names.last?.hasPrefix("blocks.") == false)
        // Only GPT-2's Conv1D / fused weights are re-laid-out; everything else stays a view of the file.
        for t in graph.tensors.all {
            let transformed = architecture == .gpt2 && t.name.hasSuffix(".weight")
                && (t.name.contains(".attn.") || t.name.contains(".ffn."))
            #expect(t.isMapped == !transformed, "\(t.name)")
        }
        // The single weights file with config.json beside it reads the same model.
        if name != "tiny-llama-sharded" {
            let fromFile = try plugin.read(folder.appendingPathComponent("model.safetensors"))
            #expect(fromFile.tensors.names == graph.tensors.names)
        }
    }

    @Test("GPT-2: Conv1D weights are transposed and c_attn is split into q, k, v")
    func gpt2Layout() throws {
        let folder = Fixtures.folder("tiny-gpt2")
        let hf = try plugin.readTensors(folder).tensors
        let graph = try plugin.read(folder)
        let fused = try #require(hf["transformer.h.1.attn.c_attn.weight"]).floats()  // [256, 768]
        let fusedBias = try #require(hf["transformer.h.1.attn.c_attn.bias"]).floats()
        for (k, part) in ["q", "k", "v"].enumerated() {
            let w = try graph.tensor("blocks.1.attn.\(part).weight")
            #expect(w.shape == [256, 256])
            let values = try w.floats()
            for (o, i) in [(0, 0), (3, 200), (255, 17), (128, 255)] {
                #expect(values[o * 256 + i] == fused[i * 768 + k * 256 + o])
            }
            let b = try graph.tensor("blocks.1.attn.\(part).bias")
            #expect(b.isMapped)
            #expect(try b.floats() == Array(fusedBias[(k * 256)..<((k + 1) * 256)]))
        }
        let up = try graph.tensor("blocks.0.ffn.up.weight")  // HF c_fc [256, 1024]
        #expect(up.shape == [1024, 256])
        let cfc = try #require(hf["transformer.h.0.mlp.c_fc.weight"]).floats()
        #expect(try up.floats()[5 * 256 + 7] == cfc[7 * 1024 + 5])
        #expect(try graph.tensor("blocks.0.ffn.down.weight").shape == [256, 1024])
        #expect(try graph.tensor("embed.positions.weight").sameContents(as: try #require(hf["transformer.wpe.weight"])))
        #expect(graph.lmHead?.projection.weight == "embed.tokens.weight")
    }

    @Test("OPT: decoder names, offset positions, per-block and final layer norms")
    func optNames() throws {
        let folder = Fixtures.folder("tiny-opt")
        let hf = try plugin.readTensors(folder).tensors
        let graph = try plugin.read(folder)
        let pairs = [
            ("embed.positions.weight", "model.decoder.embed_positions.weight"),
            ("blocks.1.attn_norm.bias", "model.decoder.layers.1.self_attn_layer_norm.bias"),
            ("blocks.1.ffn_norm.weight", "model.decoder.layers.1.final_layer_norm.weight"),
            ("final_norm.weight", "model.decoder.final_layer_norm.weight"),
            ("blocks.0.ffn.up.weight", "model.decoder.layers.0.fc1.weight"),
            ("blocks.0.ffn.down.bias", "model.decoder.layers.0.fc2.bias"),
            ("blocks.0.attn.o.weight", "model.decoder.layers.0.self_attn.out_proj.weight"),
        ]
        for (ir, name) in pairs {
            #expect(try graph.tensor(ir).sameContents(as: try #require(hf[name])), "\(ir) <- \(name)")
        }
        #expect(try graph.tensor("embed.positions.weight").shape == [258, 256])
        #expect(graph.hyperparameters.positionOffset == 2)
    }

    @Test("a weights file without config.json is tensors, not a model")
    func missingConfig() throws {
        let folder = try TemporaryFolder()
        let file = folder.file("model.safetensors")
        try FileManager.default.copyItem(at: Fixtures.folder("tiny-llama").appendingPathComponent("model.safetensors"), to: file)
        #expect(try plugin.readTensors(file).tensors.count == 21)
        let error = #expect(throws: SieveCoreError.self) { try plugin.read(file) }
        guard case let .cannotOpen(path, _) = error else { Issue.record("wrong error \(String(describing: error))"); return }
        #expect(path == folder.file("config.json").path)
    }

    @Test("claims files, indexes and model folders, and nothing else")
    func claims() throws {
        #expect(plugin.claims(Fixtures.folder("tiny-llama")))
        #expect(plugin.claims(Fixtures.folder("tiny-llama-sharded")))
        #expect(plugin.claims(Fixtures.folder("tiny-llama-sharded").appendingPathComponent("model.safetensors.index.json")))
        #expect(plugin.claims(Fixtures.folder("tiny-llama").appendingPathComponent("model.safetensors")))
        #expect(!plugin.claims(Fixtures.folder("tiny-llama").appendingPathComponent("config.json")))
        #expect(!plugin.claims(Fixtures.sharedModels.appendingPathComponent("tiny-llama")))
        #expect(!plugin.claims(Fixtures.sharedModels.appendingPathComponent("tiny-llama/q8_0.gguf")))
    }

    // MARK: Synthetic checkpoints

    /// Deterministic pseudo-random values.
    static func values(_ count: Int, seed: Int) -> [Float] {
        (0..<count).map { Float(sin(Double($0 * 7 + seed * 131) * 0.61)) }
    }

    /// A folder with `config` as config.json and `tensors` (name → shape, all f32) as model.safetensors.
    static func checkpoint(config: String, tensors: [(String, [Int])], extra: [Tensor] = []) throws -> TemporaryFolder {
        let folder = try TemporaryFolder()
        try Data(config.utf8).write(to: folder.file("config.json"))
        var store = TensorStore()
        for (k, (name, shape)) in tensors.enumerated() {
            store.insert(Tensor(name: name, shape: Shape(shape), floats: values(Shape(shape).elementCount, seed: k)))
        }
        for t in extra { store.insert(t) }
        try SafetensorsPlugin().writeTensors(store, metadata: [("format", "pt")], to: folder.file("model.safetensors"), options: WriteOptions())
        return folder
    }

    static let bertConfig = #"{"model_type":"bert","vocab_size":10,"hidden_size":8,"intermediate_size":16,"num_hidden_layers":1,"num_attention_heads":2,"max_position_embeddings":4,"type_vocab_size":2,"layer_norm_eps":1e-12,"hidden_act":"gelu"}"#

    /// A tiny BertForPreTraining-style checkpoint: `bert.` prefix, pooler, position ids and a `cls.` head.
    static func bertTensors(prefix: String) -> [(String, [Int])] {
        var t: [(String, [Int])] = [
            ("embeddings.word_embeddings.weight", [10, 8]), ("embeddings.position_embeddings.weight", [4, 8]),
            ("embeddings.token_type_embeddings.weight", [2, 8]), ("embeddings.LayerNorm.weight", [8]),
            ("embeddings.LayerNorm.bias", [8]), ("pooler.dense.weight", [8, 8]), ("pooler.dense.bias", [8]),
        ]
        let layer = "encoder.layer.0."
        for m in ["attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense"] {
            t += [(layer + m + ".weight", [8, 8]), (layer + m + ".bias", [8])]
        }
        t += [(layer + "intermediate.dense.weight", [16, 8]), (layer + "intermediate.dense.bias", [16]),
              (layer + "output.dense.weight", [8, 16]), (layer + "output.dense.bias", [8])]
        for m in ["attention.output.LayerNorm", "output.LayerNorm"] {
            t += [(layer + m + ".weight", [8]), (layer + m + ".bias", [8])]
        }
        return t.map { (prefix + $0.0, $0.1) }
    }

    @Test("BERT: bert. prefix, post-norm names, pooler kept, position_ids and cls.* dropped, written back without the prefix")
    func bert() throws {
        let positionIDs = try Tensor(name: "bert.embeddings.position_ids", dtype: .i64, shape: [1, 4],
                                     storage: .owned(TensorBuffer(values: [Int64(0), 1, 2, 3])))
        let head = Tensor(name: "cls.predictions.bias", shape: [10], floats: Self.values(10, seed: 99))
        let folder = try Self.checkpoint(config: Self.bertConfig, tensors: Self.bertTensors(prefix: "bert."), extra: [positionIDs, head])
        let hf = try plugin.readTensors(folder.url).tensors
        let graph = try plugin.read(folder.url)
        #expect(graph.architecture == .bert)
        #expect(graph.tensors.count == 23)
        #expect(graph.blocks[0].normPlacement == .post)
        #expect(graph.lmHead == nil)
        let pairs = [
            ("embed.tokens.weight", "bert.embeddings.word_embeddings.weight"),
            ("embed.token_types.weight", "bert.embeddings.token_type_embeddings.weight"),
            ("embed.norm.bias", "bert.embeddings.LayerNorm.bias"),
            ("blocks.0.attn.k.weight", "bert.encoder.layer.0.attention.self.key.weight"),
            ("blocks.0.attn.o.bias", "bert.encoder.layer.0.attention.output.dense.bias"),
            ("blocks.0.attn_norm.weight", "bert.encoder.layer.0.attention.output.LayerNorm.weight"),
            ("blocks.0.ffn.up.weight", "bert.encoder.layer.0.intermediate.dense.weight"),
            ("blocks.0.ffn.down.weight", "bert.encoder.layer.0.output.dense.weight"),
            ("blocks.0.ffn_norm.bias", "bert.encoder.layer.0.output.LayerNorm.bias"),
            ("pooler.dense.weight", "bert.pooler.dense.weight"),
        ]
        for (ir, name) in pairs {
            #expect(try graph.tensor(ir).sameContents(as: try #require(hf[name])), "\(ir) <- \(name)")
        }

        let out = try TemporaryFolder()
        try plugin.write(graph, to: out.url, options: WriteOptions())
        let written = try plugin.readTensors(out.url).tensors
        #expect(Set(written.names) == Set(Self.bertTensors(prefix: "").map(\.0)))
        let again = try plugin.read(out.url)
        #expect(again.tensors.names == graph.tensors.names)
        for t in graph.tensors.all { #expect(try again.tensor(t.name).sameContents(as: t), "\(t.name)") }
    }

    static let llamaConfig = #"{"model_type":"llama","vocab_size":8,"hidden_size":4,"intermediate_size":8,"num_hidden_layers":1,"num_attention_heads":2,"num_key_value_heads":1,"max_position_embeddings":16,"rms_norm_eps":1e-5,"tie_word_embeddings":true}"#

    static let llamaTensors: [(String, [Int])] = [
        ("model.embed_tokens.weight", [8, 4]), ("model.norm.weight", [4]),
        ("model.layers.0.input_layernorm.weight", [4]), ("model.layers.0.post_attention_layernorm.weight", [4]),
        ("model.layers.0.self_attn.q_proj.weight", [4, 4]), ("model.layers.0.self_attn.k_proj.weight", [2, 4]),
        ("model.layers.0.self_attn.v_proj.weight", [2, 4]), ("model.layers.0.self_attn.o_proj.weight", [4, 4]),
        ("model.layers.0.mlp.gate_proj.weight", [8, 4]), ("model.layers.0.mlp.up_proj.weight", [8, 4]),
        ("model.layers.0.mlp.down_proj.weight", [4, 8]),
    ]

    @Test("buffers transformers recomputes are dropped")
    func ignoredBuffers() throws {
        let folder = try Self.checkpoint(config: Self.llamaConfig, tensors: Self.llamaTensors + [("model.layers.0.self_attn.rotary_emb.inv_freq", [1])])
        #expect(try plugin.read(folder.url).tensors.count == 11)
    }

    @Test("a tensor outside the architecture's naming is an error naming it")
    func unmappedTensor() throws {
        let folder = try Self.checkpoint(config: Self.llamaConfig, tensors: Self.llamaTensors + [("model.layers.0.mlp.extra_proj.weight", [4])])
        let source = folder.file("model.safetensors").path
        #expect(throws: SafetensorsError.unmappedTensor(path: source, tensor: "model.layers.0.mlp.extra_proj.weight", architecture: "llama")) {
            try plugin.read(folder.url)
        }
    }

    @Test("a tensor of a block the config does not have is an error")
    func extraBlock() throws {
        let folder = try Self.checkpoint(config: Self.llamaConfig, tensors: Self.llamaTensors + [("model.layers.1.input_layernorm.weight", [4])])
        let source = folder.file("model.safetensors").path
        #expect(throws: SieveCoreError.invalidHyperparameter(source: source, name: "num_hidden_layers", reason: "config.json says 1 layers but the checkpoint has tensor 'model.layers.1.input_layernorm.weight' of block 1")) {
            try plugin.read(folder.url)
        }
    }
}
