import Foundation
import SlipwayCore
import SlipwayTestSupport
import SwiftProtobuf
import Testing

@testable import SlipwayRuntime

/// Loading ONNX files: what is refused, and that the message says what to fix.
@Suite("ONNX model loading")
struct ONNXModelLoadingTests {
    /// A model with one float input `x` of shape [N, 2] and the given nodes; `y` is the output.
    static func model(
        nodes: [Onnx_NodeProto], opset: Int64 = 17, mlOpset: Int64? = nil, initializers: [Onnx_TensorProto] = []
    ) -> Onnx_ModelProto {
        var model = Onnx_ModelProto()
        model.irVersion = 8
        model.producerName = "slipway-tests"
        var standard = Onnx_OperatorSetIdProto()
        standard.version = opset
        model.opsetImport = [standard]
        if let mlOpset {
            var ml = Onnx_OperatorSetIdProto()
            ml.domain = "ai.onnx.ml"
            ml.version = mlOpset
            model.opsetImport.append(ml)
        }
        var graph = Onnx_GraphProto()
        graph.name = "test"
        graph.node = nodes
        graph.initializer = initializers
        graph.input = [valueInfo("x", shape: [nil, 2])]
        graph.output = [valueInfo("y", shape: nil)]
        model.graph = graph
        return model
    }

    static func valueInfo(_ name: String, shape: [Int64?]?) -> Onnx_ValueInfoProto {
        var info = Onnx_ValueInfoProto()
        info.name = name
        var tensor = Onnx_TypeProto.Tensor()
        tensor.elemType = Int32(ONNXElementType.float.rawValue)
        if let shape {
            var proto = Onnx_TensorShapeProto()
            proto.dim = shape.map { value in
                var dimension = Onnx_TensorShapeProto.Dimension()
                if let value { dimension.dimValue = value } else { dimension.dimParam = "N" }
                return dimension
            }
            tensor.shape = proto
        }
        info.type.tensorType = tensor
        return info
    }

    static func node(_ op: String, _ inputs: [String], _ outputs: [String], name: String = "", domain: String = "")
        -> Onnx_NodeProto
    {
        var node = Onnx_NodeProto()
        node.opType = op
        node.input = inputs
        node.output = outputs
        node.name = name
        node.domain = domain
        return node
    }

    static func bytes(_ model: Onnx_ModelProto) throws -> [UInt8] { try model.serializedBytes() }

    @Test("an unsupported operator is refused with every such operator and node named")
    func unsupportedOperators() throws {
        let model = Self.model(nodes: [
            Self.node("Relu", ["x"], ["a"], name: "relu_1"),
            Self.node("LSTM", ["a"], ["b"], name: "encoder"),
            Self.node("FancyOp", ["b"], ["y"], name: "custom_1", domain: "com.example"),
        ])
        let error = try #require(throws: SlipwayError.self) { try ONNXModel(artifact: Self.bytes(model)) }
        #expect(error.code == "unsupported_operator")
        #expect(error.kind == .unprocessable)
        #expect(error.message.contains("ai.onnx:LSTM (node 'encoder')"), "\(error.message)")
        #expect(error.message.contains("com.example:FancyOp (node 'custom_1')"), "\(error.message)")
        #expect(!error.message.contains("Relu"))
    }

    @Test("opsets outside 7–21 are refused with the range", arguments: [Int64(6), 22])
    func opsetRange(opset: Int64) throws {
        let model = Self.model(nodes: [Self.node("Relu", ["x"], ["y"])], opset: opset)
        let error = try #require(throws: SlipwayError.self) { try ONNXModel(artifact: Self.bytes(model)) }
        #expect(error.code == "unsupported_opset")
        #expect(error.message.contains("opset \(opset)") && error.message.contains("7 to 21"), "\(error.message)")
    }

    @Test("bytes that are not a model are refused", arguments: [[UInt8](), [0x08], Array("not onnx".utf8)])
    func garbage(bytes: [UInt8]) {
        #expect(throws: SlipwayError.self) { try ONNXModel(artifact: bytes) }
    }

    @Test("a node that reads a value no earlier node produces is refused")
    func topologicalOrder() throws {
        let model = Self.model(nodes: [Self.node("Relu", ["later"], ["y"], name: "first"), Self.node("Relu", ["x"], ["later"])])
        let error = try #require(throws: SlipwayError.self) { try ONNXModel(artifact: Self.bytes(model)) }
        #expect(error.message.contains("'first'") && error.message.contains("'later'"), "\(error.message)")
    }

    @Test("tensors stored as external data are refused with how to re-save")
    func externalData() throws {
        var weights = Onnx_TensorProto()
        weights.name = "w"
        weights.dataType = 1
        weights.dims = [2]
        weights.dataLocation = .external
        let model = Self.model(nodes: [Self.node("Add", ["x", "w"], ["y"])], initializers: [weights])
        let error = try #require(throws: SlipwayError.self) { try ONNXModel(artifact: Self.bytes(model)) }
        #expect(error.message.contains("save_as_external_data=False"), "\(error.message)")
    }

    @Test("an initializer whose data does not fill its shape is refused")
    func shortInitializer() throws {
        var weights = Onnx_TensorProto()
        weights.name = "w"
        weights.dataType = 1
        weights.dims = [1000]
        weights.floatData = [1, 2]
        let model = Self.model(nodes: [Self.node("Add", ["x", "w"], ["y"])], initializers: [weights])
        let error = try #require(throws: SlipwayError.self) { try ONNXModel(artifact: Self.bytes(model)) }
        #expect(error.message.contains("'w'") && error.message.contains("1000"), "\(error.message)")
    }

    @Test("a run checks inputs by name, type and shape")
    func inputChecks() throws {
        let model = try ONNXModel(artifact: Self.bytes(Self.model(nodes: [Self.node("Relu", ["x"], ["y"])])))
        #expect(model.inputs.map(\.name) == ["x"])
        let good = try model.run(["x": .tensor(ONNXTensor(shape: [1, 2], floats: [-1, 2]))])
        #expect(good["y"]?.tensor == ONNXTensor(shape: [1, 2], floats: [0, 2]))
        let missing = try #require(throws: SlipwayError.self) { try model.run([:]) }
        #expect(missing.message.contains("missing input 'x'"))
        let unknown = try #require(throws: SlipwayError.self) {
            try model.run(["x": .tensor(ONNXTensor(shape: [1, 2], floats: [0, 0])), "z": .tensor(ONNXTensor(shape: [1], floats: [0]))])
        }
        #expect(unknown.message.contains("unknown input 'z'"))
        let shape = try #require(throws: SlipwayError.self) {
            try model.run(["x": .tensor(ONNXTensor(shape: [1, 3], floats: [0, 0, 0]))])
        }
        #expect(shape.kind == .badRequest && shape.message.contains("[-1, 2]"), "\(shape.message)")
        let type = try #require(throws: SlipwayError.self) {
            try model.run(["x": .tensor(ONNXTensor(shape: [1, 2], int64s: [0, 0]))])
        }
        #expect(type.message.contains("FP32"), "\(type.message)")
    }

    @Test("the predictor needs one numeric [N, features] input and names what it got")
    func predictorNeedsATable() throws {
        var model = Self.model(nodes: [Self.node("Relu", ["x"], ["y"])])
        model.graph.input = [Self.valueInfo("x", shape: [nil, nil])]
        let error = try #require(throws: SlipwayError.self) { try ONNXPredictor(artifact: Self.bytes(model)) }
        #expect(error.message.contains("fixed feature count"), "\(error.message)")

        let table = try ONNXPredictor(artifact: Self.bytes(Self.model(nodes: [Self.node("Relu", ["x"], ["y"])])))
        #expect(table.featureCount == 2 && table.outputCount == 2)
        #expect(try table.predict([-1, 3, 4, -5], rows: 2) == [0, 3, 4, 0])
    }

    @Test("300 seeded byte mutations of real models never crash the loader")
    func mutations() throws {
        let directory = Fixtures.directory.appendingPathComponent("onnx")
        let files = ((try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? [])
            .filter { $0.hasSuffix(".onnx") }.sorted().prefix(4)
        try #require(!files.isEmpty, "no ONNX fixtures")
        var generator = SplitMix64(seed: 2026)
        for file in files {
            let original = Array(try Data(contentsOf: directory.appendingPathComponent(file)))
            for _ in 0..<75 {
                var bytes = original
                for _ in 0..<(1 + Int(generator.next() % 4)) {
                    let position = Int(generator.next() % UInt64(bytes.count))
                    bytes[position] = UInt8(truncatingIfNeeded: generator.next())
                }
                if let predictor = try? ONNXPredictor(artifact: bytes) {
                    _ = try? predictor.predict([Float](repeating: 0.5, count: predictor.featureCount * 3), rows: 3)
                }
            }
        }
    }
}
