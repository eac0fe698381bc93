import BundleFormat
import Foundation
import Testing

/// 1 MB files that claim enormous sizes are refused with a clear error, and the refusing `sieve` process never
/// grows past 100 MB of resident memory (its own peak RSS, from rusage; see `Child.rssWrapper`).
@Suite("Hostile sizes are refused without allocating them")
struct ResourceBoundsTests {
    static let megabyte = 1 << 20
    static let rssLimit = 100 << 20

    /// Runs `sieve inspect` and `sieve verify` on `url`; both must fail naming the file and `expected`, under the
    /// memory limit.
    func expectRefused(_ url: URL, _ expected: String, scratch: Scratch) throws {
        for command in ["inspect", "verify"] {
            let r = try Child.run([command, url.path], scratch: scratch.url, measuringMemory: true)
            #expect(r.status == 1, "\(command) exited with \(String(describing: r.status)) / signal \(String(describing: r.signal)): \(r.stderr)")
            let message = r.stderr + r.stdout
            #expect(message.contains(url.lastPathComponent), "\(command): the message does not name the file: \(message)")
            #expect(message.contains(expected), "\(command): expected '\(expected)' in: \(message)")
            #expect(r.maxRSS < Self.rssLimit, "\(command): peak RSS \(r.maxRSS >> 20) MB")
            print("\(command) \(url.lastPathComponent): refused, peak RSS \(r.maxRSS >> 20) MB")
        }
    }

    @Test("safetensors: a 100 GB tensor and a 2^40-element tensor in a 1 MB file")
    func safetensorsHugeTensor() throws {
        let scratch = try Scratch()
        for (name, shape, end) in [("100gb", "[50000, 500000]", "100000000000"), ("2pow40", "[1099511627776]", "1099511627776")] {
            let header = #"{"w":{"dtype":"U8","shape":\#(shape),"data_offsets":[0,\#(end)]}}"#
                .replacingOccurrences(of: "U8", with: name == "100gb" ? "F32" : "U8")
            var b = Bytes()
            b.u64(UInt64(header.utf8.count))
            b.data += Array(header.utf8)
            b.pad(to: Self.megabyte)
            let url = scratch.file("\(name).safetensors")
            try Data(b.data).write(to: url)
            try expectRefused(url, "data section has only", scratch: scratch)
        }
    }

    /// A GGUF v3 header with the given metadata and tensor infos, padded to 1 MB.
    func gguf(kv: (inout Bytes) -> Int, tensors: (inout Bytes) -> Int) -> [UInt8] {
        var body = Bytes()
        let kvCount = kv(&body)
        var infos = Bytes()
        let tensorCount = tensors(&infos)
        var b = Bytes()
        b.data += Array("GGUF".utf8)
        b.u32(3)
        b.u64(UInt64(tensorCount))
        b.u64(UInt64(kvCount))
        b.data += body.data + infos.data
        b.pad(to: Self.megabyte)
        return b.data
    }

    @Test("GGUF: a 100 GB tensor, a 2^40-element metadata array, a 2^40-element tensor count")
    func ggufHugeClaims() throws {
        let scratch = try Scratch()
        let tensor = scratch.file("100gb.gguf")
        try Data(gguf(kv: { _ in 0 }, tensors: { b in
            b.ggufString("w"); b.u32(2); b.u64(500_000); b.u64(50_000); b.u32(0); b.u64(0)  // F32, 100 GB
            return 1
        })).write(to: tensor)
        try expectRefused(tensor, "ends past the data section", scratch: scratch)

        let array = scratch.file("array.gguf")
        try Data(gguf(kv: { b in
            b.ggufString("tokenizer.ggml.tokens"); b.u32(9); b.u32(8); b.u64(1 << 40)  // array of 2^40 strings
            return 1
        }, tensors: { _ in 0 })).write(to: array)
        try expectRefused(array, "is 1099511627776, more than", scratch: scratch)

        let count = scratch.file("count.gguf")
        try Data(gguf(kv: { _ in 0 }, tensors: { _ in 1 << 40 })).write(to: count)
        try expectRefused(count, "the tensor count is 1099511627776", scratch: scratch)
    }

    @Test("bundle: a section declaring 10 GiB decompressed (a decompression bomb) in a 1 MB file")
    func bundleDecompressionBomb() throws {
        let scratch = try Scratch()
        let source = scratch.file("source.sieve")
        let made = try Child.run(["convert", Child.fixtures.appendingPathComponent("models/tiny-llama/q4_0.gguf").path,
                                  "-o", source.path], scratch: scratch.url)
        try #require(made.status == 0, "\(made.stderr)")
        var bytes = Array(try Data(contentsOf: source))
        #expect(abs(bytes.count - Self.megabyte) < Self.megabyte / 2, "the bundle is \(bytes.count) bytes")
        try BundleTable.inflate(&bytes, section: 0, to: 10 << 30)
        let bomb = scratch.file("bomb.sieve")
        try Data(bytes).write(to: bomb)
        try expectRefused(bomb, "decompressed bytes, over the limit", scratch: scratch)
        // The library refuses it too, before allocating anything.
        #expect(throws: BundleError.self) { try BundleFile.open(bomb) }
    }
}

/// Rewrites a bundle's section table (SPEC.md §3) as a hostile writer would, keeping it self-consistent.
enum BundleTable {
    struct Section { var offset, stored, size: UInt64; var frameSize, firstFrame, frameCount: UInt32; var compression: UInt8 }
    struct Frame { var relative: UInt64; var stored, crc: UInt32 }

    static func u32(_ d: [UInt8], _ at: Int) -> UInt32 { (0..<4).reduce(UInt32(0)) { $0 | UInt32(d[at + $1]) << UInt32(8 * $1) } }
    static func u64(_ d: [UInt8], _ at: Int) -> UInt64 { (0..<8).reduce(UInt64(0)) { $0 | UInt64(d[at + $1]) << UInt64(8 * $1) } }

    /// Makes section `index` declare `size` decompressed bytes in 1 GiB zstd frames, splitting its stored bytes
    /// among them, and fixes the frame numbering, the footer and the table CRC.
    static func inflate(_ data: inout [UInt8], section index: Int, to size: UInt64) throws {
        let footer = data.count - 32
        let tableOffset = Int(u64(data, footer))
        let s = Int(u32(data, footer + 8)), f = Int(u32(data, footer + 12))
        var sections = (0..<s).map { i -> Section in
            let e = tableOffset + 48 * i
            return Section(offset: u64(data, e), stored: u64(data, e + 8), size: u64(data, e + 16), frameSize: u32(data, e + 24),
                           firstFrame: u32(data, e + 28), frameCount: u32(data, e + 32), compression: data[e + 36])
        }
        var frames = (0..<f).map { k -> Frame in
            let e = tableOffset + 48 * s + 16 * k
            return Frame(relative: u64(data, e), stored: u32(data, e + 8), crc: u32(data, e + 12))
        }
        var target = sections[index]
        let frameSize: UInt64 = 1 << 30
        let count = Int((size + frameSize - 1) / frameSize)
        try #require(target.stored >= UInt64(count))
        let each = target.stored / UInt64(count)
        let newFrames = (0..<count).map { k in
            Frame(relative: UInt64(k) * each, stored: UInt32(k == count - 1 ? target.stored - each * UInt64(count - 1) : each), crc: 0)
        }
        let first = Int(target.firstFrame), old = Int(target.frameCount)
        frames.replaceSubrange(first..<(first + old), with: newFrames)
        target.size = size
        target.frameSize = UInt32(frameSize)
        target.frameCount = UInt32(count)
        target.compression = 1
        sections[index] = target
        for i in (index + 1)..<s { sections[i].firstFrame += UInt32(count - old) }

        var table = Bytes()
        for x in sections {
            table.u64(x.offset); table.u64(x.stored); table.u64(x.size); table.u32(x.frameSize); table.u32(x.firstFrame)
            table.u32(x.frameCount); table.u8(x.compression); table.data += [UInt8](repeating: 0, count: 11)
        }
        for x in frames { table.u64(x.relative); table.u32(x.stored); table.u32(x.crc) }
        var tail = Bytes()
        tail.u64(UInt64(tableOffset)); tail.u32(UInt32(s)); tail.u32(UInt32(frames.count))
        tail.u32(CRC32.checksum(table.data)); tail.u32(0)
        tail.data += Array(data[(data.count - 8)...])
        data = Array(data[..<tableOffset]) + table.data + tail.data
    }
}
