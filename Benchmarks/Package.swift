// swift-tools-version: 6.1
// Benchmarks live in their own package so the main package's build and tests never compile them.
// Build: swift build -c release --package-path Benchmarks --scratch-path Benchmarks/.build-release
import PackageDescription

let package = Package(
    name: "SlipwayBenchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "slipway", path: "..")
    ],
    targets: [
        .executableTarget(
            name: "slipway-bench",
            dependencies: [
                .product(name: "SlipwayRuntime", package: "slipway"),
                .product(name: "SlipwayCore", package: "slipway"),
            ]
        ),
        .target(
            name: "TrainingBenchSupport",
            dependencies: [.product(name: "SlipwayML", package: "slipway")]
        ),
        .executableTarget(
            name: "slipway-logreg-bench",
            dependencies: ["TrainingBenchSupport", .product(name: "SlipwayML", package: "slipway")]
        ),
        .executableTarget(
            name: "slipway-train-bench",
            dependencies: ["TrainingBenchSupport", .product(name: "SlipwayML", package: "slipway")]
        ),
    ]
)
