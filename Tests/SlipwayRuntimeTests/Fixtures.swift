import Foundation
import SlipwayCore
import SlipwayTestSupport
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
}
