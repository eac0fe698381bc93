import SieveCore

/// A JSON value being read from a manifest, with its JSON path, so every shape error names the offending key.
struct ManifestCursor {
    let value: JSONValue
    /// The JSON path of `value`, or of its array when `index` is set.
    private let base: String
    /// `value`'s index in its array. The item's path is spelled out only when asked for: a tokenizer's arrays
    /// have a hundred thousand items, each path a string too long to store inline.
    private let index: Int?
    /// The bundle's path, for errors.
    let file: String

    /// The root cursor (or any cursor at `path`).
    init(value: JSONValue, path: String, file: String) {
        (self.value, base, index, self.file) = (value, path, nil, file)
    }

    private init(item value: JSONValue, at index: Int, of array: String, file: String) {
        (self.value, base, self.index, self.file) = (value, array, index, file)
    }

    /// The JSON path of `value` (`$.tensors[3].shape`).
    var path: String { index.map { "\(base)[\($0)]" } ?? base }

    /// An `invalidManifest` error at this cursor.
    func error(_ reason: String) -> BundleError {
        .invalidManifest(path: file, key: path, reason: reason)
    }

    /// The member `key`, which must be present (it may be JSON null).
    func member(_ key: String) throws -> ManifestCursor {
        guard value.objectMembers != nil else { throw error("expected an object") }
        guard let v = value[key] else { throw error("missing key '\(key)'") }
        return ManifestCursor(value: v, path: "\(path).\(key)", file: file)
    }

    /// The member `key`, or nil when it is absent or null.
    func optionalMember(_ key: String) throws -> ManifestCursor? {
        guard value.objectMembers != nil else { throw error("expected an object") }
        guard let v = value[key], !v.isNull else { return nil }
        return ManifestCursor(value: v, path: "\(path).\(key)", file: file)
    }

    func int() throws -> Int {
        guard case .int = value, let i = value.intValue else { throw error("expected an integer") }
        return i
    }
    /// An integer that must be at least `minimum`.
    func int(atLeast minimum: Int) throws -> Int {
        let i = try int()
        guard i >= minimum else { throw error("\(i) is below the minimum \(minimum)") }
        return i
    }
    func double() throws -> Double {
        guard let d = value.doubleValue else { throw error("expected a number") }
        return d
    }
    func string() throws -> String {
        guard let s = value.stringValue else { throw error("expected a string") }
        return s
    }
    func bool() throws -> Bool {
        guard let b = value.boolValue else { throw error("expected true or false") }
        return b
    }
    func array() throws -> [ManifestCursor] {
        guard let items = value.arrayItems else { throw error("expected an array") }
        let path = self.path
        return items.enumerated().map { ManifestCursor(item: $1, at: $0, of: path, file: file) }
    }
    func object() throws -> [(String, ManifestCursor)] {
        guard let members = value.objectMembers else { throw error("expected an object") }
        return members.map { ($0.0, ManifestCursor(value: $0.1, path: "\(path).\($0.0)", file: file)) }
    }
    /// A value of a string-backed enum.
    func enumeration<E: RawRepresentable>(_: E.Type) throws -> E where E.RawValue == String {
        let s = try string()
        guard let e = E(rawValue: s) else { throw error("unknown value '\(s)'") }
        return e
    }

    // Typed members.
    func int(_ key: String) throws -> Int { try member(key).int() }
    func int(_ key: String, atLeast minimum: Int) throws -> Int { try member(key).int(atLeast: minimum) }
    func optionalInt(_ key: String) throws -> Int? { try optionalMember(key)?.int() }
    func double(_ key: String) throws -> Double { try member(key).double() }
    func optionalDouble(_ key: String) throws -> Double? { try optionalMember(key)?.double() }
    func string(_ key: String) throws -> String { try member(key).string() }
    func optionalString(_ key: String) throws -> String? { try optionalMember(key)?.string() }
    func bool(_ key: String) throws -> Bool { try member(key).bool() }
}

/// Building JSON values tersely.
extension JSONValue {
    static func integer(_ i: Int) -> JSONValue { .int(Int64(i)) }
    static func optional(_ s: String?) -> JSONValue { s.map { .string($0) } ?? .null }
    static func optional(_ i: Int?) -> JSONValue { i.map { .int(Int64($0)) } ?? .null }
    static func optional(_ d: Double?) -> JSONValue { d.map { .double($0) } ?? .null }
}
