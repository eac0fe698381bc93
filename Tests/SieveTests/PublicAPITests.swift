import Foundation
import Testing

/// Runs `tools/check_public_api.py`: no public type or member without a doc comment, and no public type named
/// *Manager, *Helper or *Util, in every module.
@Suite struct PublicAPITests {
    @Test("public API: doc comments and names")
    func docCommentsAndNames() throws {
        let script = Repository.root.appendingPathComponent("tools/check_public_api.py")
        let result = try runProcess(URL(fileURLWithPath: "/usr/bin/env"), ["python3", script.path, Repository.root.path])
        let errors = result.stdout.split(separator: "\n").filter { $0.hasPrefix("error: ") }
        #expect(result.status == 0 && errors.isEmpty, "\(errors.joined(separator: "\n"))\n\(result.stderr)")
        #expect(result.stdout.contains("public API check: 0 errors"))
    }

    @Test("the checker finds an undocumented public type, member and enum case, and a vague type name")
    func checkerFindsProblems() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("sieve-api-check-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let module = root.appendingPathComponent("Sources/Sample")
        try FileManager.default.createDirectory(at: module, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: root.appendingPathComponent("Formats"), withIntermediateDirectories: true)
        try """
        /// Documented.
        public struct Good {
            /// Documented.
            public var a: Int
            public var b: Int
            let hidden = "public var notADeclaration { }"
        }
        public enum Bare { case x }
        /// Documented.
        public enum Kinds {
            /// Documented.
            case one
            case two
        }
        /// Documented but vague.
        public final class ModelManager {}
        """.write(to: module.appendingPathComponent("Sample.swift"), atomically: true, encoding: .utf8)
        let script = Repository.root.appendingPathComponent("tools/check_public_api.py")
        let result = try runProcess(URL(fileURLWithPath: "/usr/bin/env"), ["python3", script.path, root.path])
        #expect(result.status == 1)
        let lines = result.stdout.split(separator: "\n").map(String.init)
        #expect(lines.contains("error: Sources/Sample/Sample.swift:5: public var b has no doc comment"))
        #expect(lines.contains("error: Sources/Sample/Sample.swift:8: public enum Bare has no doc comment"))
        #expect(lines.contains("error: Sources/Sample/Sample.swift:13: public case two has no doc comment"))
        #expect(lines.contains { $0.contains("ModelManager has a vague name") })
        #expect(lines.last == "public API check: 4 errors")
    }
}
