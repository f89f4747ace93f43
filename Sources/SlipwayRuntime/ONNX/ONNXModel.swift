import Foundation
import SlipwayCore
import SwiftProtobuf

/// A graph input or output as the model file declares it.
public struct ONNXValueInfo: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        /// A tensor; `shape` is nil when the file leaves the rank open, and a nil dimension is symbolic
        /// (e.g. the batch dimension `N`).
        case tensor(ONNXElementType, shape: [Int?]?)
        /// A sequence of maps (skl2onnx's `ZipMap` output of per-class probabilities).
        case sequenceOfMaps
        /// A map (`CastMap`'s input).
        case map
    }

    public let name: String
    public let kind: Kind
}

/// A parsed, validated ONNX model that runs on Slipway's own kernels.
///
/// Loading reads the protobuf (swift-protobuf code generated from `onnx-ml.proto`), checks the opset
/// imports, builds one kernel per node (so every attribute is checked once, up front) and plans the run:
/// which value slot each node reads and writes, and when an intermediate value can be released. An
/// operator Slipway does not implement makes loading fail with a message naming every such operator and
/// its nodes. Running is then a walk over the planned nodes; the model is immutable and may be run from
/// many tasks at once.
public struct ONNXModel: Sendable {
    /// The graph inputs a caller feeds (initializers are not among them).
    public let inputs: [ONNXValueInfo]
    public let outputs: [ONNXValueInfo]
    /// The distinct operators the graph uses, as `domain:op_type`, sorted.
    public let operators: [String]
    /// The imported opset version per domain (`ai.onnx`, `ai.onnx.ml`).
    public let opsets: [String: Int]
    /// The program that wrote the file (e.g. `skl2onnx 1.20.0`), when it says.
    public let producer: String

    struct Step: Sendable {
        let kernel: any ONNXKernel
        let label: String
        let inputs: [Int?]
        let outputs: [Int?]
        /// Slots whose last reader is this step: released after it runs.
        var releases: [Int]
    }

    private let steps: [Step]
    private let constants: [(slot: Int, value: ONNXValue)]
    private let inputSlots: [Int]
    private let outputSlots: [Int]
    private let slotCount: Int

    /// Every operator Slipway implements, as `domain:op_type`.
    public static var supportedOperators: [String] { ONNXOperatorSet.supportedOperators }

    /// Parses and validates an ONNX model file.
    /// - Throws: ``SlipwayError`` (422) saying what is malformed or unsupported.
    public init(artifact: [UInt8]) throws(SlipwayError) {
        let model: Onnx_ModelProto
        do {
            var options = BinaryDecodingOptions()
            options.messageDepthLimit = 64
            model = try Onnx_ModelProto(serializedBytes: artifact, options: options)
        } catch {
            throw .unprocessable("not a valid ONNX model file: \(error)", code: "invalid_model")
        }
        try self.init(model: model)
    }

    init(model: Onnx_ModelProto) throws(SlipwayError) {
        func invalid(_ message: String) -> SlipwayError { .unprocessable(message, code: "invalid_model") }
        let graph = model.graph
        guard model.hasGraph, !graph.node.isEmpty || !graph.output.isEmpty else {
            throw invalid("the ONNX file has no graph")
        }
        producer = [model.producerName, model.producerVersion].filter { !$0.isEmpty }.joined(separator: " ")

        // Opsets.
        var opsets: [String: Int] = [:]
        for entry in model.opsetImport {
            let domain = entry.domain.isEmpty ? ONNXOperatorSet.defaultDomain : entry.domain
            opsets[domain] = max(opsets[domain] ?? 0, Int(clamping: entry.version))  // converters may list one twice
        }
        if model.opsetImport.isEmpty { opsets[ONNXOperatorSet.defaultDomain] = 1 }
        self.opsets = opsets
        let usedDomains = Set(graph.node.map { $0.domain.isEmpty ? ONNXOperatorSet.defaultDomain : $0.domain })
        for domain in usedDomains.sorted() {
            guard let range = ONNXOperatorSet.supportedOpsets[domain] else { continue }  // reported as unsupported ops
            guard let version = opsets[domain] else {
                throw invalid("the model uses domain '\(domain)' but does not import an opset for it")
            }
            guard range.contains(version) else {
                throw .unprocessable(
                    "the model imports opset \(version) of '\(domain)'; Slipway supports \(range.lowerBound) to "
                        + "\(range.upperBound) (re-export with, e.g., skl2onnx's target_opset or torch.onnx's opset_version)",
                    code: "unsupported_opset")
            }
        }

        // Operators: refuse every unsupported one at once, naming the nodes.
        var unsupported: [String: [String]] = [:]
        var used = Set<String>()
        for (index, node) in graph.node.enumerated() {
            let key = ONNXOperatorSet.key(domain: node.domain, opType: node.opType)
            used.insert(key)
            if ONNXOperatorSet.kernels[key] == nil {
                unsupported[key, default: []].append(Self.label(node, index: index))
            }
        }
        operators = used.sorted()
        if !unsupported.isEmpty {
            let list = unsupported.keys.sorted().map { key in
                let nodes = unsupported[key]!
                let shown = nodes.prefix(5).map { "'\($0)'" }.joined(separator: ", ")
                return "\(key) (node\(nodes.count == 1 ? "" : "s") \(shown)\(nodes.count > 5 ? ", …" : ""))"
            }
            throw .unprocessable(
                "the model uses operator\(unsupported.count == 1 ? "" : "s") Slipway does not implement: "
                    + list.joined(separator: "; ") + ". Supported operators: docs/runtimes.md#onnx",
                code: "unsupported_operator")
        }

        // Slots: one per named value.
        var slots: [String: Int] = [:]
        func slot(_ name: String) -> Int {
            if let existing = slots[name] { return existing }
            slots[name] = slots.count
            return slots.count - 1
        }
        var known: [Int: ONNXValue] = [:]  // values fixed at load time
        var constants: [(slot: Int, value: ONNXValue)] = []
        for initializer in graph.initializer {
            guard !initializer.name.isEmpty else { throw invalid("an initializer has no name") }
            let tensor = try ONNXTensor(proto: initializer, context: "initializer '\(initializer.name)'")
            let index = slot(initializer.name)
            known[index] = .tensor(tensor)
            constants.append((index, .tensor(tensor)))
        }
        let initializerNames = Set(graph.initializer.map(\.name))
        var inputs: [ONNXValueInfo] = []
        var inputSlots: [Int] = []
        for input in graph.input where !initializerNames.contains(input.name) {
            inputs.append(try Self.valueInfo(input))
            inputSlots.append(slot(input.name))
        }
        self.inputs = inputs
        self.inputSlots = inputSlots

        // Nodes, in order; each input must already be produced.
        var produced = Set(slots.values)
        var steps: [Step] = []
        for (index, node) in graph.node.enumerated() {
            let label = Self.label(node, index: index)
            let key = ONNXOperatorSet.key(domain: node.domain, opType: node.opType)
            let domain = key.hasPrefix(ONNXOperatorSet.mlDomain + ":") ? ONNXOperatorSet.mlDomain : ONNXOperatorSet.defaultDomain
            var inputIndexes: [Int?] = []
            for name in node.input {
                if name.isEmpty {
                    inputIndexes.append(nil)
                    continue
                }
                guard let existing = slots[name], produced.contains(existing) else {
                    throw invalid(
                        "node '\(label)' (\(node.opType)) reads '\(name)', which no graph input, initializer or earlier "
                            + "node produces (nodes must be in topological order)")
                }
                inputIndexes.append(existing)
            }
            var attributes: [String: Onnx_AttributeProto] = [:]
            for attribute in node.attribute {
                if !attribute.refAttrName.isEmpty {
                    throw invalid("node '\(label)' refers to a function attribute; Slipway runs plain graphs")
                }
                attributes[attribute.name] = attribute
            }
            let context = ONNXNodeContext(
                opType: node.opType, domain: domain, name: label, opset: opsets[domain] ?? 1,
                inputCount: node.input.count, outputCount: node.output.count,
                constantInputs: inputIndexes.map { index in index.flatMap { known[$0]?.tensor } },
                attributes: attributes)
            let kernel = try ONNXOperatorSet.kernels[key]!(context)
            var outputIndexes: [Int?] = []
            for name in node.output {
                if name.isEmpty {
                    outputIndexes.append(nil)
                    continue
                }
                if let existing = slots[name], produced.contains(existing) {
                    throw invalid("node '\(label)' writes '\(name)', which another node or input already defines")
                }
                let index = slot(name)
                produced.insert(index)
                outputIndexes.append(index)
            }
            // Fold nodes whose inputs are all known now (Constant, shapes of constants): run once.
            if node.opType == "Constant" || (!inputIndexes.isEmpty && inputIndexes.allSatisfy { $0.map { known[$0] != nil } ?? true }) {
                do {
                    let values = try kernel.run(inputIndexes.map { $0.flatMap { known[$0] } })
                    for (position, value) in values.enumerated() where position < outputIndexes.count {
                        if let output = outputIndexes[position] {
                            known[output] = value
                            constants.append((output, value))
                        }
                    }
                    continue
                } catch {
                    throw invalid("node '\(label)' (\(node.opType)) fails on its constant inputs: \(error.message)")
                }
            }
            steps.append(Step(kernel: kernel, label: "\(label)' (\(node.opType)", inputs: inputIndexes, outputs: outputIndexes, releases: []))
        }

        var outputs: [ONNXValueInfo] = []
        var outputSlots: [Int] = []
        for output in graph.output {
            guard let index = slots[output.name], produced.contains(index) else {
                throw invalid("graph output '\(output.name)' is not produced by any node or input")
            }
            outputs.append(try Self.valueInfo(output))
            outputSlots.append(index)
        }
        guard !outputs.isEmpty else { throw invalid("the graph declares no outputs") }
        self.outputs = outputs
        self.outputSlots = outputSlots

        // Release each intermediate value after its last reader.
        var lastReader: [Int: Int] = [:]
        for (position, step) in steps.enumerated() {
            for case let input? in step.inputs { lastReader[input] = position }
        }
        let kept = Set(outputSlots).union(constants.map(\.slot))
        for (slot, position) in lastReader where !kept.contains(slot) {
            steps[position].releases.append(slot)
        }
        self.steps = steps
        self.constants = constants
        self.slotCount = slots.count
    }

    /// Runs the graph.
    /// - Parameter feeds: a value for every graph input, by name.
    /// - Returns: every graph output, by name.
    /// - Throws: ``SlipwayError`` (400) naming the input that is missing or does not match the model, or
    ///   the node that could not compute on it.
    public func run(_ feeds: [String: ONNXValue]) throws(SlipwayError) -> [String: ONNXValue] {
        var values = [ONNXValue?](repeating: nil, count: slotCount)
        for (slot, value) in constants { values[slot] = value }
        for (info, slot) in zip(inputs, inputSlots) {
            guard let value = feeds[info.name] else {
                throw .badRequest(
                    "missing input '\(info.name)'; the model takes \(inputs.map { "'\($0.name)'" }.joined(separator: ", "))",
                    code: "invalid_input")
            }
            try Self.check(value, against: info)
            values[slot] = value
        }
        for name in feeds.keys where !inputs.contains(where: { $0.name == name }) {
            throw .badRequest(
                "unknown input '\(name)'; the model takes \(inputs.map { "'\($0.name)'" }.joined(separator: ", "))",
                code: "invalid_input")
        }
        for step in steps {
            let arguments = step.inputs.map { $0.flatMap { values[$0] } }
            let results: [ONNXValue]
            do {
                results = try step.kernel.run(arguments)
            } catch {
                throw SlipwayError(error.kind, code: error.code, "node '\(step.label)): \(error.message)")
            }
            for (position, slot) in step.outputs.enumerated() {
                guard let slot else { continue }
                guard position < results.count else {
                    throw .internal("node '\(step.label)) produced \(results.count) outputs, output \(position) is used")
                }
                values[slot] = results[position]
            }
            for slot in step.releases { values[slot] = nil }
        }
        var result: [String: ONNXValue] = [:]
        for (info, slot) in zip(outputs, outputSlots) {
            guard let value = values[slot] else { throw .internal("graph output '\(info.name)' was not computed") }
            result[info.name] = value
        }
        return result
    }

    private static func check(_ value: ONNXValue, against info: ONNXValueInfo) throws(SlipwayError) {
        switch (info.kind, value) {
        case (.tensor(let type, let shape), .tensor(let tensor)):
            guard tensor.elementType == type else {
                throw .badRequest(
                    "input '\(info.name)' must be \(type.datatype.rawValue) (\(type)), got \(tensor.elementType.datatype.rawValue)",
                    code: "invalid_input")
            }
            guard let shape else { return }
            let expected = shape.map { $0.map(String.init) ?? "-1" }.joined(separator: ", ")
            guard tensor.rank == shape.count,
                zip(shape, tensor.shape).allSatisfy({ declared, actual in declared == nil || declared == actual })
            else {
                throw .badRequest(
                    "input '\(info.name)' must have shape [\(expected)] (-1: any size), got \(tensor.shape)",
                    code: "invalid_input")
            }
        case (.map, .map), (.sequenceOfMaps, .sequence):
            return
        default:
            throw .badRequest("input '\(info.name)' has the wrong kind: got a \(value.kindDescription)", code: "invalid_input")
        }
    }

    private static func valueInfo(_ proto: Onnx_ValueInfoProto) throws(SlipwayError) -> ONNXValueInfo {
        let type = proto.type
        switch type.value {
        case .tensorType(let tensor):
            guard let element = ONNXElementType(rawValue: Int(tensor.elemType)) else {
                throw .unprocessable(
                    "'\(proto.name)' is a tensor of \(ONNXElementType.protoName(Int(tensor.elemType))); Slipway computes "
                        + "with float, double, int32, int64, bool and string tensors",
                    code: "invalid_model")
            }
            let shape: [Int?]? =
                tensor.hasShape
                ? tensor.shape.dim.map { dimension in
                    if case .dimValue(let value) = dimension.value, value >= 0 { return Int(clamping: value) }
                    return nil
                } : nil
            return ONNXValueInfo(name: proto.name, kind: .tensor(element, shape: shape))
        case .sequenceType(let sequence):
            if case .mapType = sequence.elemType.value { return ONNXValueInfo(name: proto.name, kind: .sequenceOfMaps) }
            throw .unprocessable("'\(proto.name)' is a sequence of non-maps; Slipway does not support it", code: "invalid_model")
        case .mapType:
            return ONNXValueInfo(name: proto.name, kind: .map)
        default:
            throw .unprocessable("'\(proto.name)' has a type Slipway does not support", code: "invalid_model")
        }
    }

    private static func label(_ node: Onnx_NodeProto, index: Int) -> String {
        if !node.name.isEmpty { return node.name }
        if let first = node.output.first(where: { !$0.isEmpty }) { return first }
        return "#\(index)"
    }
}
