// swift-tools-version: 6.1
import PackageDescription

// Release builds are made with `-Xswiftc -target-cpu -Xswiftc native` by the Makefile so that SIMD code
// compiles to the host's vector instructions (see DESIGN.md, "Kernels and threads").
let package = Package(
    name: "Sieve",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "sieve", targets: ["sieve"]),
        .library(name: "SieveCore", targets: ["SieveCore"]),
        .library(name: "SieveKernels", targets: ["SieveKernels"]),
        .library(name: "SieveTokenizers", targets: ["SieveTokenizers"]),
        .library(name: "SieveRuntime", targets: ["SieveRuntime"]),
        .library(name: "SieveTransforms", targets: ["SieveTransforms"]),
        .library(name: "SafetensorsFormat", targets: ["SafetensorsFormat"]),
        .library(name: "GGUFFormat", targets: ["GGUFFormat"]),
        .library(name: "BundleFormat", targets: ["BundleFormat"]),
        .library(name: "SieveServer", targets: ["SieveServer"]),
        // The umbrella an app imports (`import Sieve`), and the SwiftPM plugins (see Plugins/ and Examples/).
        .library(name: "Sieve", targets: ["Sieve"]),
        .plugin(name: "SieveCommandPlugin", targets: ["SieveCommandPlugin"]),
        .plugin(name: "SievePackPlugin", targets: ["SievePackPlugin"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        // `sieve serve`'s HTTP layer; no traits: swift-configuration and full Foundation are not needed.
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1", traits: []),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
    ],
    targets: [
        // System libraries.
        .systemLibrary(
            name: "CZstd", path: "Sources/CZstd", pkgConfig: "libzstd",
            providers: [.apt(["libzstd-dev"]), .brew(["zstd"])]),
        .systemLibrary(
            name: "CJSONC", path: "Sources/CJSONC", pkgConfig: "json-c",
            providers: [.apt(["libjson-c-dev"]), .brew(["json-c"])]),

        // Core modules.
        .target(name: "SieveCore", dependencies: ["CZstd", "CJSONC"], path: "Sources/SieveCore"),
        // The hottest quantized dot products in C (AVX-512 VNNI byte dot products Swift cannot emit), chosen at
        // run time by CPU feature; every one has a Swift fallback and reference (see Sources/CSieveKernels).
        .target(name: "CSieveKernels", path: "Sources/CSieveKernels"),
        .target(name: "SieveKernels", dependencies: ["SieveCore", "CSieveKernels"], path: "Sources/SieveKernels"),
        .target(name: "SieveTokenizers", dependencies: ["SieveCore"], path: "Sources/SieveTokenizers"),
        .target(
            name: "SieveRuntime", dependencies: ["SieveCore", "SieveKernels", "SieveTokenizers"],
            path: "Sources/SieveRuntime"),
        .target(
            name: "SieveTransforms", dependencies: ["SieveCore", "SieveKernels", "SieveRuntime", "SieveTokenizers"],
            path: "Sources/SieveTransforms", resources: [.copy("Resources")]),

        // Format plugins: each imports only SieveCore (and the bundle its C checksum).
        .target(name: "SafetensorsFormat", dependencies: ["SieveCore"], path: "Formats/Safetensors"),
        .target(name: "GGUFFormat", dependencies: ["SieveCore"], path: "Formats/GGUF"),
        // The bundle's CRC-32 folds with carry-less multiplication where the CPU has it (C: Swift cannot emit it).
        .target(name: "CSieveChecksum", path: "Sources/CSieveChecksum"),
        .target(name: "BundleFormat", dependencies: ["SieveCore", "CSieveChecksum"], path: "Formats/Bundle", exclude: ["SPEC.md"]),

        // The OpenAI-compatible HTTP server (`sieve serve`).
        .target(
            name: "SieveServer",
            dependencies: [
                "SieveCore", "SieveRuntime", "SieveTokenizers",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Sources/SieveServer"),

        // The CLI (a face: registers the formats).
        .executableTarget(
            name: "sieve",
            dependencies: [
                "SieveCore", "SieveRuntime", "SieveTokenizers", "SieveTransforms", "SafetensorsFormat", "GGUFFormat",
                "BundleFormat", "SieveServer",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Sources/sieve"),

        // Fuzzing (issue 9): the targets (one per reader) and the seeded mutation harness `sieve-fuzz`.
        .target(
            name: "SieveFuzzTargets",
            dependencies: ["SieveCore", "SieveTokenizers", "SafetensorsFormat", "GGUFFormat", "BundleFormat"],
            path: "Fuzz/Targets"),
        .executableTarget(name: "sieve-fuzz", dependencies: ["SieveFuzzTargets"], path: "Fuzz/Harness"),

        // The library face: re-exports the modules an app needs and registers the formats (path differs from the
        // CLI's `Sources/sieve` so the two do not collide on case-insensitive file systems).
        .target(
            name: "Sieve",
            dependencies: [
                "SieveCore", "SieveRuntime", "SieveTokenizers", "SieveTransforms", "SafetensorsFormat", "GGUFFormat",
                "BundleFormat",
            ],
            path: "Sources/SieveAPI"),

        // SwiftPM plugins: `swift package sieve …` and packing a model into a bundle resource at build time.
        .plugin(
            name: "SieveCommandPlugin",
            capability: .command(
                intent: .custom(verb: "sieve", description: "Run the sieve CLI (inspect, convert, pack, run …) on files in the package."),
                permissions: [.writeToPackageDirectory(reason: "sieve convert and sieve pack write model files into the package.")]),
            dependencies: ["sieve"], path: "Plugins/SieveCommandPlugin"),
        // The build-tool plugin runs a lean packer (the library API, no HTTP server) so app builds stay small.
        .plugin(name: "SievePackPlugin", capability: .buildTool(), dependencies: ["SievePackTool"], path: "Plugins/SievePackPlugin"),
        .executableTarget(name: "SievePackTool", dependencies: ["Sieve"], path: "Plugins/SievePackTool"),

        // Tests.
        // Counts heap allocations (malloc interposition) for the "hot loops allocate nothing" tests; tests only.
        .target(name: "CAllocationCounter", path: "Tests/CAllocationCounter"),
        // Runs the sieve binary and python3 for the tests that cross-check against other tools; tests only.
        .target(name: "SieveTestSupport", path: "Tests/SieveTestSupport"),
        .testTarget(name: "SieveCoreTests", dependencies: ["SieveCore"], path: "Tests/SieveCoreTests"),
        .testTarget(
            name: "SafetensorsTests", dependencies: ["SafetensorsFormat", "SieveCore", "SieveTestSupport"],
            path: "Tests/SafetensorsTests", resources: [.copy("Fixtures")]),
        .testTarget(
            name: "GGUFTests", dependencies: ["GGUFFormat", "SieveCore", "SieveTestSupport"], path: "Tests/GGUFTests",
            resources: [.copy("Fixtures")]),
        .testTarget(
            name: "SieveTokenizersTests", dependencies: ["SieveTokenizers", "SieveCore", "GGUFFormat", "SafetensorsFormat", "SieveTestSupport"],
            path: "Tests/SieveTokenizersTests", resources: [.copy("Fixtures")]),
        .testTarget(
            name: "SieveKernelsTests", dependencies: ["SieveKernels", "SieveCore"], path: "Tests/SieveKernelsTests"),
        .testTarget(
            name: "SieveRuntimeTests",
            dependencies: ["SieveRuntime", "SieveCore", "SafetensorsFormat", "GGUFFormat", "SieveTokenizers", "CAllocationCounter"],
            path: "Tests/SieveRuntimeTests", exclude: ["Fixtures"]),
        .testTarget(name: "CLITests", dependencies: ["sieve", "SieveTestSupport"], path: "Tests/CLITests", exclude: ["Fixtures"]),
        .testTarget(
            name: "SieveTransformsTests",
            dependencies: ["SieveTransforms", "SieveRuntime", "SieveCore", "SieveKernels", "SafetensorsFormat", "GGUFFormat", "BundleFormat"],
            path: "Tests/SieveTransformsTests"),
        .testTarget(
            name: "SieveServerTests", dependencies: ["SieveServer", "SieveRuntime", "SieveCore", "SieveTokenizers", "SieveTransforms", "SafetensorsFormat"],
            path: "Tests/SieveServerTests", exclude: ["Fixtures"]),
        .testTarget(name: "BundleTests", dependencies: ["BundleFormat", "SieveCore", "SieveTestSupport"], path: "Tests/BundleTests"),
        .testTarget(
            name: "RobustnessTests",
            dependencies: ["sieve", "sieve-fuzz", "SieveFuzzTargets", "BundleFormat", "GGUFFormat", "SafetensorsFormat", "SieveCore"],
            path: "Tests/RobustnessTests"),
        .testTarget(name: "SieveTests", dependencies: ["Sieve", "SieveTestSupport"], path: "Tests/SieveTests"),
    ],
    swiftLanguageModes: [.v5]
)
