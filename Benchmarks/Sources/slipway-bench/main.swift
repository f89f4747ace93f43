// slipway-bench: prediction latency of Slipway's native predictors, one JSON line per measurement.
//
// usage: slipway-bench --rows ROWS.f32 --features N [--single-iterations N] [--batch-iterations N]
//                      [--batch-rows N] [--predictions-dir DIR] MODEL...
//
// ROWS.f32 is raw little-endian float32, row-major, `features` values per row (NaN = missing). Each
// model is detected and loaded through `ModelLoader.inspect`, the path the registry and server use, and
// called through `any Predictor`, as the server calls it. Buffers are allocated once; every call is
// timed on its own with CLOCK_MONOTONIC, so medians and p99s come from per-call samples.
//
// Cases, per model:
//   load          parse + validate the artifact (ms; a few repetitions)
//   1row          one row per call, cycling through the first `batch-rows` rows of the file (the row
//                 changes each call, so the branch predictor cannot learn one path)
//   1row_fixed    one row per call, always the file's first row (what bench_inproc.py does for peers)
//   1000rows      the first `batch-rows` rows in one call
// With --predictions-dir, each model's outputs for every row of the file are written there as
// MODEL_FILE_NAME.pred.f32, for the accuracy check in scripts/bench_runtime_peers.py.

import Foundation
import SlipwayCore
import SlipwayRuntime

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

struct Options {
    var rowsPath = ""
    var features = 0
    var singleIterations = 200_000
    var batchIterations = 300
    var batchRows = 1000
    var predictionsDirectory: String?
    var models: [String] = []

    static func parse(_ arguments: [String]) -> Options {
        var options = Options()
        var iterator = arguments.makeIterator()
        func value(_ flag: String) -> String {
            guard let value = iterator.next() else { fail("\(flag) needs a value") }
            return value
        }
        func int(_ flag: String) -> Int {
            let text = value(flag)
            guard let number = Int(text), number > 0 else { fail("\(flag) must be a positive integer, not '\(text)'") }
            return number
        }
        while let argument = iterator.next() {
            switch argument {
            case "--rows": options.rowsPath = value(argument)
            case "--features": options.features = int(argument)
            case "--single-iterations": options.singleIterations = int(argument)
            case "--batch-iterations": options.batchIterations = int(argument)
            case "--batch-rows": options.batchRows = int(argument)
            case "--predictions-dir": options.predictionsDirectory = value(argument)
            case "-h", "--help":
                print(
                    "usage: slipway-bench --rows ROWS.f32 --features N [--single-iterations N] "
                        + "[--batch-iterations N] [--batch-rows N] [--predictions-dir DIR] MODEL...")
                exit(0)
            default:
                if argument.hasPrefix("-") { fail("unknown option \(argument)") }
                options.models.append(argument)
            }
        }
        guard !options.rowsPath.isEmpty, options.features > 0, !options.models.isEmpty else {
            fail("--rows, --features and at least one MODEL are required (see --help)")
        }
        return options
    }
}

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("slipway-bench: \(message)\n".utf8))
    exit(2)
}

@inline(__always)
func nowNanoseconds() -> UInt64 {
    var time = timespec()
    clock_gettime(CLOCK_MONOTONIC, &time)
    return UInt64(time.tv_sec) &* 1_000_000_000 &+ UInt64(time.tv_nsec)
}

/// Summary statistics of per-call samples, in nanoseconds.
struct Summary {
    var median: Double
    var p99: Double
    var mean: Double
    var minimum: Double

    init(_ samples: [UInt64]) {
        let sorted = samples.sorted()
        func quantile(_ q: Double) -> Double { Double(sorted[min(sorted.count - 1, Int(q * Double(sorted.count)))]) }
        median = quantile(0.5)
        p99 = quantile(0.99)
        mean = Double(sorted.reduce(0, +)) / Double(sorted.count)
        minimum = Double(sorted[0])
    }
}

func emit(_ fields: [(String, Any)]) {
    // A tiny ordered JSON writer: keys stay in a readable order, values are strings or numbers.
    let body = fields.map { key, value -> String in
        switch value {
        case let text as String:
            let escaped = text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            return "\"\(key)\": \"\(escaped)\""
        case let number as Double:
            return "\"\(key)\": \((number * 1000).rounded() / 1000)"
        default:
            return "\"\(key)\": \(value)"
        }
    }
    print("{" + body.joined(separator: ", ") + "}")
}

func readRows(_ path: String, features: Int) -> [Float] {
    guard let data = FileManager.default.contents(atPath: path) else { fail("cannot read \(path)") }
    let stride = MemoryLayout<Float>.size
    guard data.count % (stride * features) == 0, !data.isEmpty else {
        fail("\(path) has \(data.count) bytes, not a whole number of \(features)-float rows")
    }
    return data.withUnsafeBytes { raw in
        (0..<(data.count / stride)).map {
            Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * stride, as: UInt32.self)))
        }
    }
}

let options = Options.parse(Array(CommandLine.arguments.dropFirst()))
let rows = readRows(options.rowsPath, features: options.features)
let rowCount = rows.count / options.features
let batchRows = min(options.batchRows, rowCount)
/// Keeps the optimiser from discarding predictions; printed so it is observably used.
var checksum: Double = 0

for modelPath in options.models {
    guard let artifact = FileManager.default.contents(atPath: modelPath).map(Array.init) else {
        fail("cannot read \(modelPath)")
    }
    let modelName = URL(fileURLWithPath: modelPath).lastPathComponent

    var loadSamples: [UInt64] = []
    var loaded: (format: ModelFormat, predictor: (any Predictor)?)?
    for _ in 0..<5 {
        let start = nowNanoseconds()
        do { loaded = try ModelLoader.inspect(artifact) } catch { fail("\(modelPath): \(error)") }
        loadSamples.append(nowNanoseconds() - start)
    }
    guard let loaded, let predictor = loaded.predictor else { fail("\(modelPath): no native runtime for this format") }
    guard predictor.featureCount == options.features else {
        fail("\(modelPath) expects \(predictor.featureCount) features, the rows have \(options.features)")
    }
    let outputs = predictor.outputCount
    let features = options.features
    let common: [(String, Any)] = [("impl", "slipway"), ("model", modelName), ("format", loaded.format.rawValue)]
    let load = Summary(loadSamples)
    emit(common + [("case", "load"), ("iterations", loadSamples.count), ("median_ms", load.median / 1e6)])

    var output = [Float](repeating: 0, count: max(rowCount, batchRows) * outputs)
    rows.withUnsafeBufferPointer { input in
        output.withUnsafeMutableBufferPointer { output in
            let base = input.baseAddress!
            func predict(firstRow: Int, count: Int) {
                do {
                    try predictor.predict(
                        UnsafeBufferPointer(start: base + firstRow * features, count: count * features), rows: count,
                        features: features, into: output)
                } catch {
                    fail("\(modelPath): \(error)")
                }
            }
            func report(_ name: String, rows: Int, _ samples: [UInt64]) {
                let summary = Summary(samples)
                emit(
                    common + [
                        ("case", name), ("rows", rows), ("iterations", samples.count),
                        ("median_us", summary.median / 1e3),
                        ("p99_us", summary.p99 / 1e3), ("mean_us", summary.mean / 1e3),
                        ("min_us", summary.minimum / 1e3),
                    ])
            }

            // Outputs for every row, for the accuracy check; also the first warm-up.
            predict(firstRow: 0, count: rowCount)
            if let directory = options.predictionsDirectory {
                let bytes = output[0..<(rowCount * outputs)].flatMap {
                    withUnsafeBytes(of: $0.bitPattern.littleEndian, Array.init)
                }
                let path = URL(fileURLWithPath: directory).appendingPathComponent(modelName + ".pred.f32").path
                guard FileManager.default.createFile(atPath: path, contents: Data(bytes)) else {
                    fail("cannot write \(path)")
                }
            }

            var samples = [UInt64](repeating: 0, count: options.singleIterations)
            for cycling in [true, false] {
                for index in 0..<min(options.singleIterations, 20_000) {  // warm-up
                    predict(firstRow: cycling ? index % batchRows : 0, count: 1)
                }
                for index in 0..<options.singleIterations {
                    let row = cycling ? index % batchRows : 0
                    let start = nowNanoseconds()
                    predict(firstRow: row, count: 1)
                    samples[index] = nowNanoseconds() - start
                    checksum += Double(output[0])
                }
                report(cycling ? "1row" : "1row_fixed", rows: 1, samples)
            }

            var batchSamples = [UInt64](repeating: 0, count: options.batchIterations)
            for _ in 0..<min(options.batchIterations, 20) { predict(firstRow: 0, count: batchRows) }
            for index in 0..<options.batchIterations {
                let start = nowNanoseconds()
                predict(firstRow: 0, count: batchRows)
                batchSamples[index] = nowNanoseconds() - start
                checksum += Double(output[batchRows - 1])
            }
            report("\(batchRows)rows", rows: batchRows, batchSamples)
        }
    }
}
emit([("impl", "slipway"), ("checksum", checksum)])
