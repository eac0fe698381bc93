import Foundation

/// Hashes a byte string (8 bytes at a time; not for untrusted-collision settings, only for lookups).
@inline(__always)
func hashBytes(_ base: UnsafeRawPointer, _ count: Int) -> UInt64 {
    var h: UInt64 = 0x9E37_79B9_7F4A_7C15 ^ UInt64(truncatingIfNeeded: count)
    var i = 0
    while i + 8 <= count {
        h = (h ^ base.loadUnaligned(fromByteOffset: i, as: UInt64.self)) &* 0xFF51_AFD7_ED55_8CCD
        h ^= h >> 29
        i += 8
    }
    if i < count {
        var tail: UInt64 = 0
        var shift: UInt64 = 0
        while i < count {
            tail |= UInt64(base.load(fromByteOffset: i, as: UInt8.self)) << shift
            shift += 8
            i += 1
        }
        h = (h ^ tail) &* 0xC4CE_B9FE_1A85_EC53
    }
    h ^= h >> 32
    h = h &* 0xFF51_AFD7_ED55_8CCD
    return h ^ (h >> 29)
}

/// The offset of the first occurrence of `needle` in `haystack`, or nil.
func findBytes(_ needle: UnsafeRawPointer, _ needleCount: Int, in haystack: UnsafeRawPointer, _ count: Int) -> Int? {
    guard needleCount > 0, needleCount <= count else { return nil }
    let first = Int32(needle.load(as: UInt8.self))
    var offset = 0
    let last = count - needleCount
    while offset <= last {
        guard let hit = memchr(haystack + offset, first, last - offset + 1) else { return nil }
        let at = haystack.distance(to: UnsafeRawPointer(hit))
        if memcmp(haystack + at, needle, needleCount) == 0 { return at }
        offset = at + 1
    }
    return nil
}

/// An open-addressing map from byte strings to `Int32` values (>= 0), with its keys stored in one arena.
/// Used for token text → id and for the word cache; lookups take a raw byte range and never allocate.
///
/// A slot holds a hash tag, the key's length and, for keys of at most 8 bytes, the key itself and the value:
/// most token lookups then read one slot and nothing else. Longer keys keep an index into `entries`.
struct ByteStringTable {
    private struct Entry {
        var start: Int32
        var length: Int32
        var value: Int32
    }

    private var arena: [UInt8] = []
    private var entries: [Entry] = []
    /// [0]: tag (24 bits) << 40 | length (8 bits, 255 = long) << 32 | value or entry index; [1]: a short key's bytes.
    private var slots: [SIMD2<UInt64>]
    private var mask: Int
    private(set) var count = 0
    private static let empty = UInt64.max
    private static let long: UInt64 = 0xFF

    /// An empty table sized for about `capacity` keys.
    init(capacity: Int) {
        var size = 16
        while size < capacity * 2 { size <<= 1 }
        slots = [SIMD2<UInt64>](repeating: SIMD2(Self.empty, 0), count: size)
        mask = size - 1
    }

    /// A table of `keys[i] → i`, keeping the first index of a repeated key. The keys are placed in the order of
    /// their home slots, so building walks the slots sequentially instead of missing the cache once per key.
    init(indexing keys: [String]) {
        self.init(capacity: keys.count)
        var hashes = [UInt64](repeating: 0, count: keys.count)
        var starts = [Int32](repeating: 0, count: slots.count + 1)
        for (i, key) in keys.enumerated() {
            var k = key
            let h = k.withUTF8 { hashBytes(UnsafeRawPointer($0.baseAddress ?? UnsafePointer(bitPattern: 1)!), $0.count) }
            hashes[i] = h
            starts[(Int(truncatingIfNeeded: h) & mask) + 1] += 1
        }
        for i in 0..<slots.count { starts[i + 1] += starts[i] }
        var order = [Int32](repeating: 0, count: keys.count)
        for (i, h) in hashes.enumerated() {
            let home = Int(truncatingIfNeeded: h) & mask
            order[Int(starts[home])] = Int32(i)
            starts[home] += 1
        }
        for i in order {
            var k = keys[Int(i)]
            k.withUTF8 { u in
                let base = UnsafeRawPointer(u.baseAddress ?? UnsafePointer(bitPattern: 1)!)
                place(base, u.count, hash: hashes[Int(i)], value: i)
            }
        }
    }

    /// The first `count` (<= 8) bytes at `base` as a little-endian integer, zero-padded.
    @inline(__always)
    private static func shortKey(_ base: UnsafeRawPointer, _ count: Int) -> UInt64 {
        if count == 8 { return base.loadUnaligned(as: UInt64.self) }
        var v: UInt64 = 0
        for i in 0..<count { v |= UInt64(base.load(fromByteOffset: i, as: UInt8.self)) << UInt64(8 * i) }
        return v
    }

    /// The slot head (tag and length) a key must have.
    @inline(__always)
    private static func head(_ h: UInt64, _ count: Int) -> UInt64 {
        (h >> 40) << 40 | UInt64(count <= 8 ? count : Int(long)) << 32
    }

    /// The value stored for the key `base[0..<count]`, or -1.
    @inline(__always)
    func lookup(_ base: UnsafeRawPointer, _ count: Int) -> Int32 {
        let h = hashBytes(base, count)
        let want = Self.head(h, count)
        var slot = Int(truncatingIfNeeded: h) & mask
        let short = count <= 8 ? Self.shortKey(base, count) : 0
        return slots.withUnsafeBufferPointer { slots in
            while true {
                let s = slots[slot]
                if s[0] == Self.empty { return -1 }
                if s[0] & 0xFFFF_FFFF_0000_0000 == want {
                    if count <= 8 {
                        if s[1] == short { return Int32(truncatingIfNeeded: s[0]) }
                    } else {
                        let e = entries[Int(truncatingIfNeeded: s[0] & 0xFFFF_FFFF)]
                        if Int(e.length) == count
                            && arena.withUnsafeBufferPointer({ memcmp($0.baseAddress! + Int(e.start), base, count) == 0 }) {
                            return e.value
                        }
                    }
                }
                slot = (slot + 1) & mask
            }
        }
    }

    /// The value stored for `bytes`, or -1.
    func lookup(_ bytes: [UInt8]) -> Int32 {
        bytes.withUnsafeBytes { lookup($0.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!, $0.count) }
    }

    /// Inserts `key → value` (a value >= 0) unless the key is present; returns whether it was inserted.
    @discardableResult
    mutating func insert(_ base: UnsafeRawPointer, _ count: Int, value: Int32) -> Bool {
        let inserted = place(base, count, hash: hashBytes(base, count), value: value)
        if self.count * 2 > slots.count { grow() }
        return inserted
    }

    /// Puts the key in the first free slot of its probe sequence unless it is already there.
    @discardableResult
    private mutating func place(_ base: UnsafeRawPointer, _ count: Int, hash h: UInt64, value: Int32) -> Bool {
        let want = Self.head(h, count)
        let short = count <= 8 ? Self.shortKey(base, count) : 0
        var slot = Int(truncatingIfNeeded: h) & mask
        while slots[slot][0] != Self.empty {
            let s = slots[slot]
            if s[0] & 0xFFFF_FFFF_0000_0000 == want {
                if count <= 8 {
                    if s[1] == short { return false }
                } else {
                    let e = entries[Int(truncatingIfNeeded: s[0] & 0xFFFF_FFFF)]
                    if Int(e.length) == count
                        && arena.withUnsafeBufferPointer({ memcmp($0.baseAddress! + Int(e.start), base, count) == 0 }) {
                        return false
                    }
                }
            }
            slot = (slot + 1) & mask
        }
        if count <= 8 {
            slots[slot] = SIMD2(want | UInt64(UInt32(bitPattern: value)), short)
        } else {
            slots[slot] = SIMD2(want | UInt64(entries.count), 0)
            entries.append(Entry(start: Int32(arena.count), length: Int32(count), value: value))
            arena.append(contentsOf: UnsafeRawBufferPointer(start: base, count: count))
        }
        self.count += 1
        return true
    }

    /// Inserts `bytes → value` unless present; returns whether it was inserted.
    @discardableResult
    mutating func insert(_ bytes: [UInt8], value: Int32) -> Bool {
        bytes.withUnsafeBytes { insert($0.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!, $0.count, value: value) }
    }

    /// Removes every key, keeping the storage.
    mutating func removeAll() {
        arena.removeAll(keepingCapacity: true)
        entries.removeAll(keepingCapacity: true)
        for i in slots.indices { slots[i] = SIMD2(Self.empty, 0) }
        count = 0
    }

    /// Doubles the slots; a slot's home is recomputed from its key.
    private mutating func grow() {
        let old = slots
        slots = [SIMD2<UInt64>](repeating: SIMD2(Self.empty, 0), count: old.count * 2)
        mask = slots.count - 1
        for s in old where s[0] != Self.empty {
            var h: UInt64
            if (s[0] >> 32) & 0xFF == Self.long {
                let e = entries[Int(truncatingIfNeeded: s[0] & 0xFFFF_FFFF)]
                h = arena.withUnsafeBufferPointer { hashBytes(UnsafeRawPointer($0.baseAddress! + Int(e.start)), Int(e.length)) }
            } else {
                var key = s[1]
                let length = Int((s[0] >> 32) & 0xFF)
                h = withUnsafeBytes(of: &key) { hashBytes($0.baseAddress!, length) }
            }
            var slot = Int(truncatingIfNeeded: h) & mask
            while slots[slot][0] != Self.empty { slot = (slot + 1) & mask }
            slots[slot] = s
        }
    }
}

/// An open-addressing map from a pair of token ids to a merge (its rank and the id it produces).
struct MergeTable {
    /// Key (left << 32 | right) and value (rank << 32 | merged) side by side: one cache line per probe.
    private var slots: [SIMD2<UInt64>]
    private var mask: Int
    private static let empty = UInt64.max

    /// An empty table sized for `capacity` merges.
    private init(capacity: Int) {
        var size = 16
        while size < capacity * 2 { size <<= 1 }
        slots = [SIMD2<UInt64>](repeating: SIMD2(Self.empty, 0), count: size)
        mask = size - 1
    }

    /// Murmur3's 64-bit finalizer: every key bit reaches the low (slot) bits.
    @inline(__always)
    private static func slot(_ key: UInt64, _ mask: Int) -> Int {
        var h = key
        h ^= h >> 33
        h = h &* 0xFF51_AFD7_ED55_8CCD
        h ^= h >> 33
        h = h &* 0xC4CE_B9FE_1A85_EC53
        h ^= h >> 33
        return Int(truncatingIfNeeded: h) & mask
    }

    /// Builds the table from merges in priority order; a pair listed twice keeps its first (best) rank.
    /// The merges are placed in the order of their home slots, so building walks memory sequentially instead of
    /// missing the cache once per merge.
    init(merges: [(left: Int32, right: Int32, merged: Int32)]) {
        self.init(capacity: merges.count)
        let homes = merges.map { Self.slot(Self.key($0.left, $0.right), mask) }
        // Counting sort of the merge indices by home slot (stable: equal pairs stay in rank order).
        var starts = [Int32](repeating: 0, count: slots.count + 1)
        for h in homes { starts[h + 1] += 1 }
        for i in 0..<slots.count { starts[i + 1] += starts[i] }
        var order = [Int32](repeating: 0, count: merges.count)
        for (rank, h) in homes.enumerated() {
            order[Int(starts[h])] = Int32(rank)
            starts[h] += 1
        }
        slots.withUnsafeMutableBufferPointer { slots in
            for rank in order {
                let m = merges[Int(rank)]
                let key = Self.key(m.left, m.right)
                var slot = homes[Int(rank)]
                var duplicate = false
                while slots[slot][0] != Self.empty {
                    if slots[slot][0] == key { duplicate = true; break }
                    slot = (slot + 1) & mask
                }
                if !duplicate { slots[slot] = SIMD2(key, UInt64(UInt32(bitPattern: rank)) << 32 | UInt64(UInt32(bitPattern: m.merged))) }
            }
        }
    }

    @inline(__always)
    private static func key(_ left: Int32, _ right: Int32) -> UInt64 {
        UInt64(UInt32(bitPattern: left)) << 32 | UInt64(UInt32(bitPattern: right))
    }

    /// The merge of `left` and `right`: (rank, merged id), or nil.
    @inline(__always)
    func lookup(_ left: Int32, _ right: Int32) -> (rank: Int32, merged: Int32)? {
        let key = Self.key(left, right)
        var slot = Self.slot(key, mask)
        return slots.withUnsafeBufferPointer { slots in
            while true {
                let entry = slots[slot]
                if entry[0] == key { return (Int32(truncatingIfNeeded: entry[1] >> 32), Int32(truncatingIfNeeded: entry[1])) }
                if entry[0] == Self.empty { return nil }
                slot = (slot + 1) & mask
            }
        }
    }
}

/// An entry of the merge queues: ordered by `key` (priority in the high bits, the left symbol's index in the
/// low bits); `check` carries what the entry expects to find when it is popped, to skip stale ones.
struct QueueEntry {
    var key: UInt64
    var check: UInt64
}

/// A binary min-heap of queue entries ordered by key.
struct MinHeap {
    private var items: [QueueEntry] = []

    var isEmpty: Bool { items.isEmpty }

    mutating func removeAll() { items.removeAll(keepingCapacity: true) }

    mutating func push(_ x: QueueEntry) {
        items.append(x)
        var i = items.count - 1
        while i > 0 {
            let parent = (i - 1) >> 1
            if items[parent].key <= x.key { break }
            items[i] = items[parent]
            i = parent
        }
        items[i] = x
    }

    mutating func pop() -> QueueEntry {
        let top = items[0]
        let last = items.removeLast()
        if !items.isEmpty {
            var i = 0
            let n = items.count
            while true {
                var child = 2 * i + 1
                if child >= n { break }
                if child + 1 < n && items[child + 1].key < items[child].key { child += 1 }
                if items[child].key >= last.key { break }
                items[i] = items[child]
                i = child
            }
            items[i] = last
        }
        return top
    }
}
