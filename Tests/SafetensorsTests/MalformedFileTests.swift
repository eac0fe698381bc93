import Foundation
import SafetensorsFormat
import SieveCore
import Testing

/// One malformed single file and the exact error it must produce.
struct MalformedCase: Sendable, CustomTestStringConvertible {
    let name: String
    let bytes: [UInt8]
    /// The expected error, given the file's path.
    let error: @Sendable (String) -> SafetensorsError

    var testDescription: String { name }

    init(_ name: String, _ bytes: [UInt8], _ error: @escaping @Sendable (String) -> SafetensorsError) {
        self.name = name
        self.bytes = bytes
        self.error = error
    }

    init(_ name: String, header: String, data: Int = 0, _ error: @escaping @Sendable (String) -> SafetensorsError) {
        self.init(name, RawSafetensors.file(header: header, data: [UInt8](repeating: 7, count: data)), error)
    }
}

private let f32x2 = #"{"dtype":"F32","shape":[2],"data_offsets":"#

/// Malformed files generated here, each checked for its specific error (never a crash, never an allocation
/// sized by a lying header).
@Suite("Malformed safetensors input")
struct MalformedFileTests {
    let plugin = SafetensorsPlugin()

    static let cases: [MalformedCase] = [
        MalformedCase("empty file", []) { .fileTooSmall(path: $0, size: 0) },
        MalformedCase("truncated header length", [1, 0, 0, 0, 0]) { .fileTooSmall(path: $0, size: 5) },
        MalformedCase("header length past the end", RawSafetensors.file(header: "{}", declaredLength: 100)) {
            .headerPastEnd(path: $0, length: 100, fileSize: 10)
        },
        MalformedCase("200 MB header length on a tiny file", RawSafetensors.file(header: "{}", declaredLength: 200_000_000)) {
            .headerTooLarge(path: $0, length: 200_000_000, limit: 100_000_000)
        },
        MalformedCase("header length 2^64 - 1", RawSafetensors.file(header: "{}", declaredLength: UInt64.max)) {
            .headerTooLarge(path: $0, length: UInt64.max, limit: 100_000_000)
        },
        MalformedCase("non-UTF-8 header", RawSafetensors.file(headerBytes: Array(#"{"a\#u{1}":1}"#.utf8).map { $0 == 1 ? 0xFF : $0 })) {
            .headerNotUTF8(path: $0)
        },
        MalformedCase("truncated JSON", header: #"{"a":{"dtype":"F32""#) {
            .headerNotJSON(path: $0, reason: "unexpected end of text")
        },
        MalformedCase("JSON array, not an object", header: "[1, 2]") { .headerNotObject(path: $0) },
        MalformedCase("JSON string, not an object", header: #""weights""#) { .headerNotObject(path: $0) },
        MalformedCase("overlapping offsets", header: #"{"a":\#(f32x2)[0,8]},"b":\#(f32x2)[4,12]}}"#, data: 12) {
            .overlappingTensors(path: $0, tensor: "b", previous: "a", begin: 4, previousEnd: 8)
        },
        MalformedCase("gap between tensors", header: #"{"a":\#(f32x2)[0,8]},"b":\#(f32x2)[12,20]}}"#, data: 20) {
            .gapBeforeTensor(path: $0, tensor: "b", gapStart: 8, gapEnd: 12)
        },
        MalformedCase("first tensor not at offset 0", header: #"{"a":\#(f32x2)[4,12]}}"#, data: 12) {
            .gapBeforeTensor(path: $0, tensor: "a", gapStart: 0, gapEnd: 4)
        },
        MalformedCase("trailing bytes not covered", header: #"{"a":\#(f32x2)[0,8]}}"#, data: 12) {
            .uncoveredBytes(path: $0, dataEnd: 8, dataSize: 12)
        },
        MalformedCase("tensor data past the end", header: #"{"a":\#(f32x2)[0,8]}}"#, data: 4) {
            .dataPastEnd(path: $0, tensor: "a", end: 8, dataSize: 4)
        },
        MalformedCase("wrong byte count for the shape", header: #"{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#, data: 8) {
            .byteCountMismatch(path: $0, tensor: "a", expected: 12, actual: 8)
        },
        MalformedCase("data_offsets reversed", header: #"{"a":\#(f32x2)[8,0]}}"#, data: 8) {
            .reversedOffsets(path: $0, tensor: "a", begin: 8, end: 0)
        },
        MalformedCase("unsupported safetensors dtype F8_E4M3", header: #"{"a":{"dtype":"F8_E4M3","shape":[2],"data_offsets":[0,2]}}"#, data: 2) {
            .unsupportedDType(path: $0, tensor: "a", dtype: "F8_E4M3")
        },
        MalformedCase("unsupported safetensors dtype U32", header: #"{"a":{"dtype":"U32","shape":[1],"data_offsets":[0,4]}}"#, data: 4) {
            .unsupportedDType(path: $0, tensor: "a", dtype: "U32")
        },
        MalformedCase("unknown dtype", header: #"{"a":{"dtype":"float32","shape":[1],"data_offsets":[0,4]}}"#, data: 4) {
            .unsupportedDType(path: $0, tensor: "a", dtype: "float32")
        },
        MalformedCase("negative dimension", header: #"{"a":{"dtype":"F32","shape":[2,-1],"data_offsets":[0,0]}}"#) {
            .invalidShape(path: $0, tensor: "a", reason: "dimension 1 is negative (-1)")
        },
        MalformedCase("fractional dimension", header: #"{"a":{"dtype":"F32","shape":[2.5],"data_offsets":[0,10]}}"#, data: 10) {
            .invalidShape(path: $0, tensor: "a", reason: "dimension 0 is not an integer")
        },
        MalformedCase("element count overflows", header: #"{"a":{"dtype":"U8","shape":[4294967296,4294967296,4294967296],"data_offsets":[0,8]}}"#, data: 8) {
            .invalidShape(path: $0, tensor: "a", reason: "the element count of shape [4294967296, 4294967296, 4294967296] overflows")
        },
        MalformedCase("byte size overflows", header: #"{"a":{"dtype":"F64","shape":[2305843009213693952],"data_offsets":[0,8]}}"#, data: 8) {
            .invalidShape(path: $0, tensor: "a", reason: "the byte size of shape [2305843009213693952] as F64 overflows")
        },
        MalformedCase("duplicate tensor names", header: #"{"a":\#(f32x2)[0,8]},"a":\#(f32x2)[0,8]}}"#, data: 8) {
            .duplicateTensor(path: $0, name: "a")
        },
        MalformedCase("duplicate names spelled with an escape", header: #"{"w\u0031":\#(f32x2)[0,8]},"__metadata__":{"k":"{\"a\":1,"},"w1":\#(f32x2)[0,8]}}"#, data: 8) {
            .duplicateTensor(path: $0, name: "w1")
        },
        MalformedCase("data_offsets missing", header: #"{"a":{"dtype":"F32","shape":[2]}}"#, data: 8) {
            .invalidEntry(path: $0, tensor: "a", reason: #""data_offsets" is missing or not [begin, end] of non-negative integers"#)
        },
        MalformedCase("entry not an object", header: #"{"a":[0,8]}"#, data: 8) {
            .invalidEntry(path: $0, tensor: "a", reason: "entry is not an object")
        },
        MalformedCase("metadata value not a string", header: #"{"__metadata__":{"format":1},"a":\#(f32x2)[0,8]}}"#, data: 8) {
            .invalidMetadata(path: $0, reason: "value of 'format' is not a string")
        },
    ]

    @Test("each malformed file gets its specific error", arguments: cases)
    func malformed(_ c: MalformedCase) throws {
        let folder = try TemporaryFolder()
        let url = try RawSafetensors.write(c.bytes, "bad.safetensors", in: folder)
        #expect(throws: c.error(url.path)) { try plugin.readTensors(url) }
    }

    @Test("a well-formed file built the same way reads (the cases above differ from it by one defect)")
    func wellFormedControl() throws {
        let folder = try TemporaryFolder()
        let data: [UInt8] = (0..<16).map { UInt8($0) }
        let url = try RawSafetensors.write(
            RawSafetensors.file(header: #"{"__metadata__":{"format":"pt"},"a":\#(f32x2)[0,8]},"b":\#(f32x2)[8,16]},"e":{"dtype":"F32","shape":[0,3],"data_offsets":[16,16]}}"#, data: data),
            "good.safetensors", in: folder)
        let file = try plugin.readTensors(url)
        #expect(file.tensors.names == ["a", "b", "e"])
        #expect(Array(try #require(file.tensors["b"]).bytes) == Array(data[8..<16]))
        #expect(file.metadata.map(\.0) == ["format"])
    }

    // MARK: Sharded checkpoints and folders

    /// A folder with shards `a.safetensors` (tensor `x`) and `b.safetensors` (tensor `y`) and an index whose
    /// weight map is `weightMap`.
    private func shardedFolder(weightMap: String) throws -> TemporaryFolder {
        let folder = try TemporaryFolder()
        let data = [UInt8](repeating: 0, count: 8)
        try RawSafetensors.write(RawSafetensors.file(header: #"{"x":\#(f32x2)[0,8]}}"#, data: data), "a.safetensors", in: folder)
        try RawSafetensors.write(RawSafetensors.file(header: #"{"y":\#(f32x2)[0,8]}}"#, data: data), "b.safetensors", in: folder)
        try RawSafetensors.write(Array(#"{"metadata":{},"weight_map":\#(weightMap)}"#.utf8), "model.safetensors.index.json", in: folder)
        return folder
    }

    @Test("a consistent index reads both shards")
    func consistentIndex() throws {
        let folder = try shardedFolder(weightMap: #"{"x":"a.safetensors","y":"b.safetensors"}"#)
        #expect(try plugin.readTensors(folder.url).tensors.names == ["x", "y"])
    }

    @Test("an index naming a missing shard")
    func missingShard() throws {
        let folder = try shardedFolder(weightMap: #"{"x":"a.safetensors","y":"c.safetensors"}"#)
        let index = folder.file("model.safetensors.index.json")
        #expect(throws: SafetensorsError.shardMissing(index: index.path, shard: "c.safetensors")) { try plugin.readTensors(folder.url) }
    }

    @Test("an index pointing outside the folder", arguments: ["../b.safetensors", "/etc/passwd", "sub/../../b.safetensors"])
    func shardOutsideFolder(shard: String) throws {
        let folder = try shardedFolder(weightMap: #"{"x":"a.safetensors","y":"\#(shard)"}"#)
        let index = folder.file("model.safetensors.index.json")
        #expect(throws: SafetensorsError.shardOutsideFolder(index: index.path, shard: shard)) { try plugin.readTensors(index) }
    }

    @Test("an index placing a tensor in a shard that does not hold it")
    func tensorNotInShard() throws {
        let folder = try shardedFolder(weightMap: #"{"x":"a.safetensors","y":"b.safetensors","z":"b.safetensors"}"#)
        let index = folder.file("model.safetensors.index.json")
        #expect(throws: SafetensorsError.tensorNotInShard(index: index.path, tensor: "z", shard: "b.safetensors")) { try plugin.readTensors(folder.url) }
    }

    @Test("a shard holding a tensor the index places elsewhere")
    func tensorNotInIndex() throws {
        let folder = try shardedFolder(weightMap: #"{"x":"a.safetensors","y":"a.safetensors"}"#)
        let index = folder.file("model.safetensors.index.json")
        #expect(throws: SafetensorsError.tensorNotInShard(index: index.path, tensor: "y", shard: "a.safetensors")) { try plugin.readTensors(folder.url) }
        let other = try shardedFolder(weightMap: #"{"x":"b.safetensors","y":"b.safetensors"}"#)
        let otherIndex = other.file("model.safetensors.index.json")
        #expect(throws: SafetensorsError.tensorNotInShard(index: otherIndex.path, tensor: "x", shard: "b.safetensors")) { try plugin.readTensors(other.url) }
        let unlisted = try shardedFolder(weightMap: #"{"x":"a.safetensors"}"#)
        try RawSafetensors.write(RawSafetensors.file(header: #"{"x":\#(f32x2)[0,8]},"w":\#(f32x2)[8,16]}}"#, data: [UInt8](repeating: 0, count: 16)), "a.safetensors", in: unlisted)
        let unlistedIndex = unlisted.file("model.safetensors.index.json")
        #expect(throws: SafetensorsError.tensorNotInIndex(index: unlistedIndex.path, tensor: "w", shard: "a.safetensors")) { try plugin.readTensors(unlisted.url) }
    }

    @Test("an index without a weight map")
    func indexWithoutWeightMap() throws {
        let folder = try TemporaryFolder()
        let index = try RawSafetensors.write(Array(#"{"metadata":{}}"#.utf8), "model.safetensors.index.json", in: folder)
        #expect(throws: SafetensorsError.invalidIndex(path: index.path, reason: #""weight_map" is missing or not an object"#)) { try plugin.readTensors(folder.url) }
    }

    @Test("folders without weights or with several unindexed files")
    func folderWeights() throws {
        let empty = try TemporaryFolder()
        #expect(throws: SafetensorsError.noWeights(folder: empty.url.path)) { try plugin.readTensors(empty.url) }
        let two = try TemporaryFolder()
        let file = RawSafetensors.file(header: "{}")
        try RawSafetensors.write(file, "a.safetensors", in: two)
        try RawSafetensors.write(file, "b.safetensors", in: two)
        #expect(throws: SafetensorsError.ambiguousWeights(folder: two.url.path, files: ["a.safetensors", "b.safetensors"])) { try plugin.readTensors(two.url) }
    }
}
