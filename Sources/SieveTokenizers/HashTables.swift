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

/// An open-addressing map from byte strings to `Int32` values, with its keys stored in one arena.
/// Used for token text → id and for the word cache; lookups take a raw byte range and never allocate.
struct ByteStringTable {
    private var arena: [UInt8] = []
    private var keyStart: [Int32] = []
    private var keyLength: [Int32] = []
    private var keyHash: [UInt32] = []
    private var values: [Int32] = []
    private var slots: [Int32]
    private var mask: Int

    /// An empty table sized for about `capacity` keys.
    init(capacity: Int) {
        var size = 16
        while size < capacity * 2 { size <<= 1 }
        slots = [Int32](repeating: -1, count: size)
        mask = size - 1
        keyStart.reserveCapacity(capacity)
        keyLength.reserveCapacity(capacity)
        keyHash.reserveCapacity(capacity)
        values.reserveCapacity(capacity)
    }

    /// Number of keys.
    var count: Int { values.count }

    /// Bytes held by the keys.
    var arenaBytes: Int { arena.count }

    /// The value stored for the key `base[0..<count]`, or -1.
    @inline(__always)
    func lookup(_ base: UnsafeRawPointer, _ count: Int) -> Int32 {
        let h = hashBytes(base, count)
        let tag = UInt32(truncatingIfNeeded: h >> 32)
        var slot = Int(truncatingIfNeeded: h) & mask
        return slots.withUnsafeBufferPointer { slots in
            arena.withUnsafeBufferPointer { arena in
                while true {
                    let entry = Int(slots[slot])
                    if entry < 0 { return -1 }
                    if keyHash[entry] == tag && Int(keyLength[entry]) == count
                        && (count == 0 || memcmp(arena.baseAddress! + Int(keyStart[entry]), base, count) == 0) {
                        return values[entry]
                    }
                    slot = (slot + 1) & mask
                }
            }
        }
    }

    /// The value stored for `bytes`, or -1.
    func lookup(_ bytes: [UInt8]) -> Int32 {
        bytes.withUnsafeBytes { lookup($0.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!, $0.count) }
    }

    /// Inserts `key → value` unless the key is present; returns whether it was inserted.
    @discardableResult
    mutating func insert(_ base: UnsafeRawPointer, _ count: Int, value: Int32) -> Bool {
        let h = hashBytes(base, count)
        let tag = UInt32(truncatingIfNeeded: h >> 32)
        var slot = Int(truncatingIfNeeded: h) & mask
        while true {
            let entry = Int(slots[slot])
            if entry < 0 { break }
            if keyHash[entry] == tag && Int(keyLength[entry]) == count
                && arena.withUnsafeBufferPointer({ count == 0 || memcmp($0.baseAddress! + Int(keyStart[entry]), base, count) == 0 }) {
                return false
            }
            slot = (slot + 1) & mask
        }
        slots[slot] = Int32(values.count)
        keyStart.append(Int32(arena.count))
        keyLength.append(Int32(count))
        keyHash.append(tag)
        values.append(value)
        arena.append(contentsOf: UnsafeRawBufferPointer(start: base, count: count))
        if values.count * 2 > slots.count { grow() }
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
        keyStart.removeAll(keepingCapacity: true)
        keyLength.removeAll(keepingCapacity: true)
        keyHash.removeAll(keepingCapacity: true)
        values.removeAll(keepingCapacity: true)
        for i in slots.indices { slots[i] = -1 }
    }

    private mutating func grow() {
        let size = slots.count * 2
        var newSlots = [Int32](repeating: -1, count: size)
        let newMask = size - 1
        arena.withUnsafeBufferPointer { arena in
            for entry in 0..<values.count {
                let h = hashBytes(UnsafeRawPointer(arena.baseAddress! + Int(keyStart[entry])), Int(keyLength[entry]))
                var slot = Int(truncatingIfNeeded: h) & newMask
                while newSlots[slot] >= 0 { slot = (slot + 1) & newMask }
                newSlots[slot] = Int32(entry)
            }
        }
        slots = newSlots
        mask = newMask
    }
}

/// An open-addressing map from a pair of token ids to a merge (its rank and the id it produces).
struct MergeTable {
    private var keys: [UInt64]
    private var values: [UInt64]
    private var mask: Int
    private static let empty = UInt64.max

    /// An empty table sized for `capacity` merges.
    init(capacity: Int) {
        var size = 16
        while size < capacity * 2 { size <<= 1 }
        keys = [UInt64](repeating: Self.empty, count: size)
        values = [UInt64](repeating: 0, count: size)
        mask = size - 1
    }

    @inline(__always)
    private static func slot(_ key: UInt64, _ mask: Int) -> Int {
        var h = key &* 0x9E37_79B9_7F4A_7C15
        h ^= h >> 31
        return Int(truncatingIfNeeded: h) & mask
    }

    /// Records the merge of `left` and `right` into `merged` with priority `rank`, unless the pair has one.
    mutating func insert(left: Int32, right: Int32, rank: Int32, merged: Int32) {
        let key = UInt64(UInt32(bitPattern: left)) << 32 | UInt64(UInt32(bitPattern: right))
        var slot = Self.slot(key, mask)
        while keys[slot] != Self.empty {
            if keys[slot] == key { return }
            slot = (slot + 1) & mask
        }
        keys[slot] = key
        values[slot] = UInt64(UInt32(bitPattern: rank)) << 32 | UInt64(UInt32(bitPattern: merged))
    }

    /// The merge of `left` and `right`: (rank, merged id), or nil.
    @inline(__always)
    func lookup(_ left: Int32, _ right: Int32) -> (rank: Int32, merged: Int32)? {
        let key = UInt64(UInt32(bitPattern: left)) << 32 | UInt64(UInt32(bitPattern: right))
        var slot = Self.slot(key, mask)
        return keys.withUnsafeBufferPointer { keys in
            while true {
                let k = keys[slot]
                if k == key {
                    let v = values[slot]
                    return (Int32(truncatingIfNeeded: v >> 32), Int32(truncatingIfNeeded: v))
                }
                if k == Self.empty { return nil }
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
