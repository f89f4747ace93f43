import Foundation
import SlipwayCore
import Testing

@testable import SlipwayRuntime

/// The ONNX project's own backend node tests for the operators Slipway implements, written by
/// `scripts/onnx_node_fixtures.py` into `Fixtures/onnx-node/`: each case is a one-node (or small
/// expanded) model plus input and expected output tensors produced by ONNX's reference implementation.
@Suite("ONNX backend node tests")
struct ONNXNodeConformanceTests {
    struct Manifest: Decodable {
        struct Case: Decodable {
            var name: String
            var ops: [String]
            var opset: Int
        }
        var onnx: String
        var cases: [Case]
    }

    static let directory = Fixtures.directory.appendingPathComponent("onnx-node")

    static let cases: [String] = {
        guard let data = try? Data(contentsOf: directory.appendingPathComponent("manifest.json")),
            let manifest = try? JSONDecoder().decode(Manifest.self, from: data)
        else { return [] }
        return manifest.cases.map(\.name)
    }()

    @Test("the manifest lists the committed cases")
    func manifestIsPresent() {
        #expect(Self.cases.count > 100, "Fixtures/onnx-node/manifest.json is missing or nearly empty")
    }

    @Test("node test", arguments: cases)
    func nodeTest(name: String) throws {
        let folder = Self.directory.appendingPathComponent(name)
        let model = try ONNXModel(artifact: Array(Data(contentsOf: folder.appendingPathComponent("model.onnx"))))
        let data = folder.appendingPathComponent("test_data_set_0")
        var feeds: [String: ONNXValue] = [:]
        for (index, input) in model.inputs.enumerated() {
            let bytes = try Data(contentsOf: data.appendingPathComponent("input_\(index).pb"))
            feeds[input.name] = .tensor(try ONNXTensor(serializedTensorProto: Array(bytes)))
        }
        let results = try model.run(feeds)
        for (index, output) in model.outputs.enumerated() {
            let bytes = try Data(contentsOf: data.appendingPathComponent("output_\(index).pb"))
            let expected = try ONNXTensor(serializedTensorProto: Array(bytes))
            let actual = try #require(results[output.name]?.tensor, "output '\(output.name)' is not a tensor")
            expectClose(actual, expected, "\(name) output '\(output.name)'")
        }
    }
}

/// Tensors equal in type and shape, numbers within 1e-5 relative (plus 1e-6 absolute near zero), NaN
/// matching NaN.
func expectClose(
    _ actual: ONNXTensor, _ expected: ONNXTensor, _ what: String, sourceLocation: SourceLocation = #_sourceLocation
) {
    #expect(actual.shape == expected.shape, "\(what): shape", sourceLocation: sourceLocation)
    #expect(actual.elementType == expected.elementType, "\(what): element type", sourceLocation: sourceLocation)
    guard actual.shape == expected.shape, actual.elementType == expected.elementType else { return }
    switch (actual.storage, expected.storage) {
    case (.float, _), (.double, _):
        let a = actual.doubleValues ?? []
        let b = expected.doubleValues ?? []
        let bad = zip(a, b).enumerated().first { _, pair in !closeEnough(pair.0, pair.1) }
        #expect(
            bad == nil, "\(what): element \(bad?.offset ?? 0) is \(bad?.element.0 ?? 0), expected \(bad?.element.1 ?? 0)",
            sourceLocation: sourceLocation)
    default:
        #expect(actual.storage == expected.storage, "\(what): values", sourceLocation: sourceLocation)
    }
}

func closeEnough(_ actual: Double, _ expected: Double, relative: Double = 1e-5, absolute: Double = 1e-6) -> Bool {
    if actual.isNaN || expected.isNaN { return actual.isNaN && expected.isNaN }
    if actual.isInfinite || expected.isInfinite { return actual == expected }
    return abs(actual - expected) <= absolute + relative * abs(expected)
}

/// Models trained with scikit-learn, XGBoost and LightGBM, converted to ONNX by skl2onnx and
/// onnxmltools, written by `scripts/onnx_fixtures.py` into `Fixtures/onnx/` with onnxruntime's outputs
/// and the original library's predictions on the same rows (missing values included).
@Suite("ONNX models from scikit-learn, XGBoost and LightGBM")
struct ONNXModelAgreementTests {
    static let directory = Fixtures.directory.appendingPathComponent("onnx")

    static let fixtures: [String] = {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        return names.filter { $0.hasSuffix(".expected.json") }.map { String($0.dropLast(".expected.json".count)) }
            .sorted()
    }()

    struct Fixture {
        var modelFile: String
        var ops: [String]
        var inputs: [String: ONNXTensor]
        var outputs: [String: ONNXTensor]
        var zipmap: [String: [[String: Double]]]
        var referenceOutput: String
        var reference: [Double]

        init(_ name: String) throws {
            let data = try Data(contentsOf: ONNXModelAgreementTests.directory.appendingPathComponent("\(name).expected.json"))
            let json = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
            modelFile = try #require(json["model"] as? String)
            ops = json["ops"] as? [String] ?? []
            inputs = try Self.tensors(json["inputs"])
            outputs = try Self.tensors(json["outputs"])
            zipmap = [:]
            for (key, value) in json["zipmap"] as? [String: Any] ?? [:] {
                let rows = try #require(value as? [[String: Any]])
                zipmap[key] = rows.map { row in row.mapValues { ($0 as? NSNumber)?.doubleValue ?? .nan } }
            }
            let reference = try #require(json["reference"] as? [String: Any])
            referenceOutput = try #require(reference["output"] as? String)
            self.reference = try #require(reference["data"] as? [Any]).map { ($0 as? NSNumber)?.doubleValue ?? .nan }
        }

        static func tensors(_ object: Any?) throws -> [String: ONNXTensor] {
            var result: [String: ONNXTensor] = [:]
            for (name, value) in object as? [String: Any] ?? [:] {
                let entry = try #require(value as? [String: Any])
                let shape = try #require(entry["shape"] as? [Int])
                let data = try #require(entry["data"] as? [Any])
                let numbers = data.map { ($0 as? NSNumber)?.doubleValue ?? .nan }
                switch try #require(entry["datatype"] as? String) {
                case "FP32": result[name] = ONNXTensor(shape: shape, floats: numbers.map(Float.init))
                case "FP64": result[name] = ONNXTensor(shape: shape, doubles: numbers)
                case "INT64": result[name] = ONNXTensor(shape: shape, int64s: numbers.map { Int64($0) })
                case "INT32": result[name] = ONNXTensor(shape: shape, int32s: numbers.map { Int32($0) })
                case "BOOL": result[name] = ONNXTensor(shape: shape, bools: data.map { ($0 as? Bool) ?? false })
                case "BYTES": result[name] = ONNXTensor(shape: shape, strings: data.map { "\($0)" })
                case let other: Issue.record("unknown datatype \(other)")
                }
            }
            return result
        }
    }

    @Test("fixtures are present") func fixturesArePresent() {
        #expect(Self.fixtures.count >= 10, "Fixtures/onnx/ is missing; run scripts/onnx_fixtures.py")
    }

    @Test("outputs match onnxruntime's and the original library's within 1e-5", arguments: fixtures)
    func agreement(name: String) throws {
        let fixture = try Fixture(name)
        let bytes = Array(try Data(contentsOf: Self.directory.appendingPathComponent(fixture.modelFile)))
        let model = try ONNXModel(artifact: bytes)
        #expect(model.operators == fixture.ops.sorted())
        let results = try model.run(fixture.inputs.mapValues { .tensor($0) })
        for (output, expected) in fixture.outputs {
            let actual = try #require(results[output]?.tensor, "output '\(output)'")
            expectClose(actual, expected, "\(name) output '\(output)' vs onnxruntime")
        }
        for (output, rows) in fixture.zipmap {
            guard case .sequence(let maps)? = results[output] else {
                Issue.record("\(name): output '\(output)' should be a sequence of maps")
                continue
            }
            #expect(maps.count == rows.count)
            for (map, expected) in zip(maps, rows) {
                guard case .map(let keys, let values) = map else { continue }
                let keyStrings: [String] =
                    switch keys.storage {
                    case .string(let strings): strings
                    default: (keys.int64Values ?? []).map { String($0) }
                    }
                let actual = Dictionary(uniqueKeysWithValues: zip(keyStrings, values.doubleValues ?? []))
                #expect(Set(actual.keys) == Set(expected.keys), "\(name): ZipMap keys")
                for (key, value) in expected {
                    #expect(closeEnough(actual[key] ?? .nan, value), "\(name): ZipMap[\(key)]")
                }
            }
        }

        // Through the Predictor (what the registry and `slipway predict` use), against the original library.
        let predictor = try ONNXPredictor(artifact: bytes)
        let input = try #require(fixture.inputs.values.first)
        let rows = input.shape[0]
        let main = try predictor.predictOutputs(input.floatValues ?? [], rows: rows)
        let reference = try #require(main.first { $0.name == fixture.referenceOutput }, "output \(fixture.referenceOutput)")
        guard case .floats(let values) = reference.data else {
            Issue.record("\(name): reference output is not numeric")
            return
        }
        #expect(values.count == fixture.reference.count)
        for (index, (actual, expected)) in zip(values, fixture.reference).enumerated() {
            #expect(
                closeEnough(Double(actual), expected), "\(name) vs original library: value \(index) is \(actual), expected \(expected)")
        }
    }
}
