import Foundation
import SieveCore

/// Locates and reads the safetensors weights of a path: a single file, a sharded checkpoint's
/// `*.safetensors.index.json`, or a Hugging Face folder holding either.
enum SafetensorsCheckpoint {
    static let singleFileName = "model.safetensors"
    static let indexFileName = "model.safetensors.index.json"
    static let indexSuffix = ".safetensors.index.json"
    /// Index files are small (one line per tensor); anything this large is not an index.
    static let maxIndexBytes = 100_000_000

    /// Whether `url` is an existing directory.
    static func isDirectory(_ url: URL) -> Bool {
        var isDir: ObjCBool = false
        return FileManager.default.fileExists(atPath: url.path, isDirectory: &isDir) && isDir.boolValue
    }

    /// The weights file or index to read for `url`. For a folder, in the order transformers uses:
    /// `model.safetensors`, then `model.safetensors.index.json`, then the folder's only `*.safetensors` file.
    static func weightsLocation(for url: URL) throws -> URL {
        guard isDirectory(url) else { return url }
        let fm = FileManager.default
        let single = url.appendingPathComponent(singleFileName)
        if fm.fileExists(atPath: single.path) { return single }
        let index = url.appendingPathComponent(indexFileName)
        if fm.fileExists(atPath: index.path) { return index }
        let candidates = try fm.contentsOfDirectory(atPath: url.path).filter { $0.hasSuffix(".safetensors") }.sorted()
        switch candidates.count {
        case 0: throw SafetensorsError.noWeights(folder: url.path)
        case 1: return url.appendingPathComponent(candidates[0])
        default: throw SafetensorsError.ambiguousWeights(folder: url.path, files: candidates)
        }
    }

    /// Reads the tensors of a file, an index or a folder under the checkpoint's own names.
    static func read(_ url: URL) throws -> TensorFile {
        let location = try weightsLocation(for: url)
        if location.lastPathComponent.hasSuffix(indexSuffix) { return try readIndex(location) }
        let file = try SafetensorsFile(url: location)
        return TensorFile(url: location, tensors: TensorStore(try file.tensors()), metadata: file.metadata)
    }

    /// Reads a sharded checkpoint: every shard the index names must exist inside the folder, and the tensors
    /// each shard holds must be exactly those the index places in it. Tensors come shard by shard (shards in
    /// name order), each shard in data order.
    static func readIndex(_ indexURL: URL) throws -> TensorFile {
        let indexPath = indexURL.path
        let json = try JSONValue.parse(contentsOf: indexURL, maxBytes: maxIndexBytes)
        guard json.objectMembers != nil else {
            throw SafetensorsError.invalidIndex(path: indexPath, reason: "the file is not a JSON object")
        }
        guard let weightMap = json["weight_map"]?.objectMembers else {
            throw SafetensorsError.invalidIndex(path: indexPath, reason: "\"weight_map\" is missing or not an object")
        }
        var expected: [String: Set<String>] = [:]
        for (tensor, value) in weightMap {
            guard let shard = value.stringValue, !shard.isEmpty else {
                throw SafetensorsError.invalidIndex(path: indexPath, reason: "the shard of '\(tensor)' is not a file name")
            }
            expected[shard, default: []].insert(tensor)
        }
        let folder = indexURL.deletingLastPathComponent()
        let fm = FileManager.default
        let shardNames = expected.keys.sorted()
        for shard in shardNames {
            let components = shard.split(separator: "/", omittingEmptySubsequences: false)
            if shard.hasPrefix("/") || components.contains("..") {
                throw SafetensorsError.shardOutsideFolder(index: indexPath, shard: shard)
            }
            if !fm.fileExists(atPath: folder.appendingPathComponent(shard).path) {
                throw SafetensorsError.shardMissing(index: indexPath, shard: shard)
            }
        }

        var store = TensorStore()
        var metadata: [(String, String)] = []
        var metadataKeys = Set<String>()
        func addMetadata(_ key: String, _ value: String) {
            if metadataKeys.insert(key).inserted { metadata.append((key, value)) }
        }
        for shard in shardNames {
            let file = try SafetensorsFile(url: folder.appendingPathComponent(shard))
            let wanted = expected[shard] ?? []
            for tensor in try file.tensors() {
                guard wanted.contains(tensor.name) else {
                    throw SafetensorsError.tensorNotInIndex(index: indexPath, tensor: tensor.name, shard: shard)
                }
                if store.contains(tensor.name) {
                    throw SafetensorsError.duplicateTensor(path: file.url.path, name: tensor.name)
                }
                store.insert(tensor)
            }
            if let absent = wanted.sorted().first(where: { !store.contains($0) }) {
                throw SafetensorsError.tensorNotInShard(index: indexPath, tensor: absent, shard: shard)
            }
            for (key, value) in file.metadata { addMetadata(key, value) }
        }
        for (key, value) in json["metadata"]?.objectMembers ?? [] {
            addMetadata(key, value.stringValue ?? value.serialized())
        }
        return TensorFile(url: indexURL, tensors: store, metadata: metadata)
    }
}
