import Foundation
import SlipwayCore

/// One node's computation, built once when the model loads (attributes parsed and checked), then run
/// for every request. Kernels are immutable and safe to run from many tasks at once.
///
/// `inputs` has one entry per input the node declares; an omitted optional input is nil. A kernel
/// returns one value per output it produces (it may return fewer than the node declares when the
/// trailing outputs are optional and unused). Kernels throw ``SlipwayError`` (`badRequest` for data that
/// does not fit, e.g. mismatched shapes); the graph adds the node's name and operator to the message.
protocol ONNXKernel: Sendable {
    func run(_ inputs: [ONNXValue?]) throws(SlipwayError) -> [ONNXValue]
}

/// Builds a kernel for one node; throws ``SlipwayError`` (422) when the node's attributes are invalid
/// or use a mode Slipway does not implement.
typealias ONNXKernelFactory = @Sendable (ONNXNodeContext) throws(SlipwayError) -> any ONNXKernel

/// A kernel written as a closure, for operators that need no state beyond their attributes.
struct ClosureKernel: ONNXKernel {
    let body: @Sendable ([ONNXValue?]) throws(SlipwayError) -> [ONNXValue]
    init(_ body: @escaping @Sendable ([ONNXValue?]) throws(SlipwayError) -> [ONNXValue]) { self.body = body }
    func run(_ inputs: [ONNXValue?]) throws(SlipwayError) -> [ONNXValue] { try body(inputs) }
}

/// What a kernel factory knows about its node at load time.
struct ONNXNodeContext: Sendable {
    /// The node's operator type, e.g. `Gemm`.
    let opType: String
    /// The node's domain: `""` for ai.onnx, `ai.onnx.ml`.
    let domain: String
    /// The node's name (may be empty in the file; messages then use its first output).
    let name: String
    /// The opset version the model imports for the node's domain.
    let opset: Int
    /// How many inputs the node declares (including omitted optional ones, which are empty names).
    let inputCount: Int
    /// How many outputs the node declares.
    let outputCount: Int
    /// Inputs whose values are known at load time (initializers and `Constant` outputs), by position.
    let constantInputs: [ONNXTensor?]
    let attributes: [String: Onnx_AttributeProto]

    /// A 422 error for this node: an attribute Slipway cannot use.
    func invalid(_ message: String) -> SlipwayError {
        .unprocessable("node '\(name)' (\(opType)): \(message)", code: "invalid_model")
    }

    func has(_ attribute: String) -> Bool { attributes[attribute] != nil }

    func int(_ name: String) -> Int? {
        guard let attribute = attributes[name] else { return nil }
        return Int(clamping: attribute.i)
    }

    func int(_ name: String, default value: Int) -> Int { int(name) ?? value }

    func float(_ name: String) -> Float? { attributes[name].map(\.f) }

    func float(_ name: String, default value: Float) -> Float { float(name) ?? value }

    func ints(_ name: String) -> [Int64]? { attributes[name].map(\.ints) }

    func floats(_ name: String) -> [Float]? { attributes[name].map(\.floats) }

    func string(_ name: String) -> String? {
        attributes[name].map { String(decoding: $0.s, as: UTF8.self) }
    }

    func string(_ name: String, default value: String) -> String { string(name) ?? value }

    func strings(_ name: String) -> [String]? {
        attributes[name].map { $0.strings.map { String(decoding: $0, as: UTF8.self) } }
    }

    /// A tensor-valued attribute (e.g. `Constant`'s `value`, `TreeEnsemble`'s `nodes_splits`).
    func tensor(_ name: String) throws(SlipwayError) -> ONNXTensor? {
        guard let attribute = attributes[name], attribute.hasT else { return nil }
        return try ONNXTensor(proto: attribute.t, context: "attribute '\(name)' of node '\(self.name)'")
    }

    /// Fails unless `attribute`'s count equals `expected`, naming both.
    func requireCount(_ attribute: String, _ actual: Int, equals expected: Int) throws(SlipwayError) {
        guard actual == expected else {
            throw invalid("attribute '\(attribute)' has \(actual) entries, expected \(expected)")
        }
    }
}

/// Errors kernels raise about the data they are given (400: the request, not the model, is wrong).
enum ONNXRunError {
    static func input(_ message: String) -> SlipwayError { .badRequest(message, code: "invalid_input") }

    static func missingInput(_ index: Int) -> SlipwayError {
        .badRequest("required input \(index) is missing", code: "invalid_input")
    }
}

extension Array where Element == ONNXValue? {
    /// The tensor at `index`, failing if it is missing or not a tensor.
    func tensor(_ index: Int) throws(SlipwayError) -> ONNXTensor {
        guard index < count, let value = self[index] else { throw ONNXRunError.missingInput(index) }
        guard case .tensor(let tensor) = value else {
            throw ONNXRunError.input("input \(index) must be a tensor, got a \(value.kindDescription)")
        }
        return tensor
    }

    /// The tensor at `index`, or nil when the optional input is omitted.
    func optionalTensor(_ index: Int) throws(SlipwayError) -> ONNXTensor? {
        guard index < count, self[index] != nil else { return nil }
        return try tensor(index)
    }
}
