// swift-tools-version: 6.0
import PackageDescription

// An app that embeds a sparse model: SievePackPlugin packs the tiny test model named in
// Sources/TinyGenerate/sieve.json into a .sieve bundle at build time and adds it to the target's resources.
// The dependency is named "Sieve" because a path dependency's identity is otherwise its folder's name.
let package = Package(
    name: "TinyGenerate",
    platforms: [.macOS(.v13)],
    dependencies: [.package(name: "Sieve", path: "../..")],
    targets: [
        .executableTarget(
            name: "TinyGenerate",
            dependencies: [.product(name: "Sieve", package: "Sieve")],
            exclude: ["sieve.json"],
            plugins: [.plugin(name: "SievePackPlugin", package: "Sieve")]),
        // The README's usage program, compiled with the example.
        .executableTarget(name: "Hello", dependencies: [.product(name: "Sieve", package: "Sieve")]),
    ],
    swiftLanguageModes: [.v5]
)
