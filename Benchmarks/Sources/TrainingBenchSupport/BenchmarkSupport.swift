// Shared by the training benchmarks: the data file format of Benchmarks/training/gen_data.py, AUC, peak RSS
// and option parsing.
import Foundation
import SlipwayML

public struct BenchmarkFile: Sendable {
    public var features: FeatureMatrix
    public var labels: [Double]

    /// Reads the format gen_data.py documents: magic, row and feature counts, column-major float32
    /// features, float32 labels.
    public init(path: String) throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped)
        guard data.count >= 24, data.prefix(8) == Data("SLWTRN01".utf8) else {
            throw BenchmarkError("\(path) is not a file written by gen_data.py")
        }
        func readUInt64(at offset: Int) -> Int {
            data.withUnsafeBytes { Int($0.loadUnaligned(fromByteOffset: offset, as: UInt64.self).littleEndian) }
        }
        let rows = readUInt64(at: 8)
        let featureCount = readUInt64(at: 16)
        guard data.count == 24 + 4 * rows * (featureCount + 1) else {
            throw BenchmarkError("\(path) is truncated: \(data.count) bytes for \(rows) × \(featureCount)")
        }
        var columns: [[Double]] = []
        var labels: [Double] = []
        data.withUnsafeBytes { raw in
            func floats(from offset: Int, count: Int) -> [Double] {
                [Double](unsafeUninitializedCapacity: count) { buffer, initialized in
                    for index in 0..<count {
                        let bits = raw.loadUnaligned(fromByteOffset: offset + 4 * index, as: UInt32.self)
                        buffer[index] = Double(Float(bitPattern: UInt32(littleEndian: bits)))
                    }
                    initialized = count
                }
            }
            for feature in 0..<featureCount { columns.append(floats(from: 24 + 4 * rows * feature, count: rows)) }
            labels = floats(from: 24 + 4 * rows * featureCount, count: rows)
        }
        self.features = try FeatureMatrix(featureNames: (0..<featureCount).map { "f\($0)" }, columns: columns)
        self.labels = labels
    }
}

public struct BenchmarkError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// The area under the ROC curve, with tied scores counted as half.
public func areaUnderROC(scores: [Double], labels: [Double]) -> Double {
    let order = scores.indices.sorted { scores[$0] < scores[$1] }
    var rankSumPositive = 0.0
    var index = 0
    while index < order.count {
        var end = index
        while end + 1 < order.count, scores[order[end + 1]] == scores[order[index]] { end += 1 }
        let averageRank = Double(index + end) / 2 + 1
        for position in index...end where labels[order[position]] == 1 { rankSumPositive += averageRank }
        index = end + 1
    }
    let positives = labels.reduce(0, +)
    let negatives = Double(labels.count) - positives
    return (rankSumPositive - positives * (positives + 1) / 2) / (positives * negatives)
}

public func peakResidentMegabytes() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_maxrss) / 1024  // kilobytes on Linux
}

/// Removes `--name VALUE` from `arguments` and returns VALUE as a number, or `fallback` when absent.
public func numericOption(_ name: String, _ fallback: Double, in arguments: inout [String]) throws -> Double {
    guard let index = arguments.firstIndex(of: name) else { return fallback }
    guard index + 1 < arguments.count, let value = Double(arguments[index + 1]) else {
        throw BenchmarkError("\(name) needs a number")
    }
    arguments.removeSubrange(index...(index + 1))
    return value
}
