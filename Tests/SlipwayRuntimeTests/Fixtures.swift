import Foundation
import SlipwayCore
import Testing

@testable import SlipwayRuntime

/// Reference fixtures written by `scripts/runtime_fixtures.py`: a model file and the training library's
/// own predictions on fixed rows. Loaded relative to this file, so the test target needs no resources.
enum Fixtures {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(
        "Fixtures")

    static func bytes(_ name: String) throws -> [UInt8] {
        Array(try Data(contentsOf: directory.appendingPathComponent(name)))
    }

    /// `NAME.expected.json`: rows (null = missing) and the library's predictions.
    struct Expected: Decodable {
        var library: String
        var model: String
        var features: Int
        var outputs: Int
        var rows: [[Float?]]
        var expected: [[Double]]

        /// The rows as one row-major block, NaN for missing values.
        var input: [Float] { rows.flatMap { $0.map { $0 ?? .nan } } }
    }

    static func expected(_ name: String) throws -> Expected {
        try JSONDecoder().decode(Expected.self, from: Data(bytes("\(name).expected.json")))
    }

    /// A deterministic generator (SplitMix64) so fuzz runs are repeatable.
    struct SeededGenerator: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }
}
