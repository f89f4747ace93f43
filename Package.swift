// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "slipway",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "slipway", targets: ["slipway"]),
        .library(name: "SlipwayCore", targets: ["SlipwayCore"]),
        .library(name: "SlipwayRuntime", targets: ["SlipwayRuntime"]),
        .library(name: "SlipwayML", targets: ["SlipwayML"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "3.12.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.5.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.80.0"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.24.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.20.0"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.25.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.1.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.6.0"),
        .package(url: "https://github.com/vapor/sql-kit.git", from: "3.32.0"),
        .package(url: "https://github.com/vapor/sqlite-kit.git", from: "4.5.0"),
        .package(url: "https://github.com/vapor/postgres-kit.git", from: "2.14.0"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.25.0"),
        .package(url: "https://github.com/apple/swift-protobuf.git", from: "1.39.0"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift.git", from: "0.2.0"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.0.0"),
    ],
    targets: [
        .target(
            name: "SlipwayCore",
            dependencies: [.product(name: "Crypto", package: "swift-crypto")]
        ),
        .target(name: "SlipwayML", dependencies: ["SlipwayCore"]),
        .target(
            name: "SlipwayRuntime",
            dependencies: ["SlipwayCore", .product(name: "SwiftProtobuf", package: "swift-protobuf")]
        ),
        .target(
            name: "SlipwayStore",
            dependencies: [
                "SlipwayCore",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "SQLKit", package: "sql-kit"),
                .product(name: "SQLiteKit", package: "sqlite-kit"),
                .product(name: "PostgresKit", package: "postgres-kit"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        .target(
            name: "SlipwayServing",
            dependencies: [
                "SlipwayCore", "SlipwayRuntime",
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),
        .target(
            name: "SlipwayServer",
            dependencies: [
                "SlipwayCore", "SlipwayML", "SlipwayRuntime", "SlipwayServing", "SlipwayStore",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Yams", package: "Yams"),
            ]
        ),
        .target(
            name: "SlipwayCLI",
            dependencies: [
                "SlipwayCore", "SlipwayRuntime", "SlipwayStore", "SlipwayServer",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ]
        ),
        .executableTarget(name: "slipway", dependencies: ["SlipwayCLI"]),
        .testTarget(name: "SlipwayCoreTests", dependencies: ["SlipwayCore", "SlipwayTestSupport"]),
        .testTarget(
            name: "SlipwayMLTests", dependencies: ["SlipwayML"], exclude: ["Metrics/Fixtures", "Linear/Fixtures"]),
        .testTarget(
            name: "SlipwayServingTests",
            dependencies: [
                "SlipwayServing", "SlipwayRuntime", "SlipwayTestSupport",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .testTarget(
            name: "SlipwayRuntimeTests",
            dependencies: [
                "SlipwayRuntime", "SlipwayTestSupport", .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ],
            exclude: ["Fixtures"]
        ),
        .target(
            name: "SlipwayTestSupport",
            dependencies: [
                "SlipwayStore",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "SQLKit", package: "sql-kit"),
            ],
            path: "Tests/SlipwayTestSupport"
        ),
        .testTarget(
            name: "SlipwayStoreTests",
            dependencies: [
                "SlipwayStore", "SlipwayTestSupport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "SQLKit", package: "sql-kit"),
            ]
        ),
        .testTarget(
            name: "SlipwayServerTests",
            dependencies: [
                "SlipwayServer", "SlipwayTestSupport",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .testTarget(
            name: "SlipwayCLITests",
            dependencies: ["SlipwayCLI", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
    ]
)
