import SlipwayCore

/// The element types the ONNX runtime computes with. Raw values are `TensorProto.DataType` numbers.
public enum ONNXElementType: Int, Sendable, CaseIterable, CustomStringConvertible {
    case float = 1
    case int32 = 6
    case int64 = 7
    case string = 8
    case bool = 9
    case double = 11

    /// The Open Inference Protocol v2 name of the type.
    public var datatype: TensorSpec.DataType {
        switch self {
        case .float: .fp32
        case .int32: .int32
        case .int64: .int64
        case .string: .bytes
        case .bool: .bool
        case .double: .fp64
        }
    }

    public var description: String {
        switch self {
        case .float: "float"
        case .int32: "int32"
        case .int64: "int64"
        case .string: "string"
        case .bool: "bool"
        case .double: "double"
        }
    }

    /// The name ONNX uses for a `TensorProto.DataType` number, for messages about types Slipway lacks.
    static func protoName(_ raw: Int) -> String {
        let names = [
            0: "undefined", 1: "float", 2: "uint8", 3: "int8", 4: "uint16", 5: "int16", 6: "int32", 7: "int64",
            8: "string", 9: "bool", 10: "float16", 11: "double", 12: "uint32", 13: "uint64", 14: "complex64",
            15: "complex128", 16: "bfloat16",
        ]
        return names[raw] ?? "type \(raw)"
    }
}

/// An n-dimensional array, row-major, as the ONNX runtime passes it between nodes.
///
/// The elements live in one Swift array of the tensor's element type; `shape` multiplies out to its
/// count (an empty shape is a scalar of one element).
public struct ONNXTensor: Sendable, Equatable {
    /// The elements, by type.
    public enum Storage: Sendable, Equatable {
        case float([Float])
        case double([Double])
        case int64([Int64])
        case int32([Int32])
        case bool([Bool])
        case string([String])
    }

    public var shape: [Int]
    public var storage: Storage

    /// Makes a tensor; `shape` must multiply out to the number of elements.
    public init(shape: [Int], storage: Storage) {
        self.shape = shape
        self.storage = storage
        assert(Self.elementCount(shape) == storage.count, "shape \(shape) does not match \(storage.count) elements")
    }

    public init(shape: [Int], floats: [Float]) { self.init(shape: shape, storage: .float(floats)) }
    public init(shape: [Int], doubles: [Double]) { self.init(shape: shape, storage: .double(doubles)) }
    public init(shape: [Int], int64s: [Int64]) { self.init(shape: shape, storage: .int64(int64s)) }
    public init(shape: [Int], int32s: [Int32]) { self.init(shape: shape, storage: .int32(int32s)) }
    public init(shape: [Int], bools: [Bool]) { self.init(shape: shape, storage: .bool(bools)) }
    public init(shape: [Int], strings: [String]) { self.init(shape: shape, storage: .string(strings)) }

    public var elementType: ONNXElementType { storage.elementType }
    public var count: Int { storage.count }
    public var rank: Int { shape.count }

    /// The product of `shape`'s dimensions (1 for a scalar).
    public static func elementCount(_ shape: [Int]) -> Int { shape.reduce(1, *) }

    /// This tensor's elements under another shape with the same element count.
    public func reshaped(_ newShape: [Int]) -> ONNXTensor { ONNXTensor(shape: newShape, storage: storage) }

    /// The elements as floats (numeric and boolean tensors), or nil for strings.
    public var floatValues: [Float]? {
        switch storage {
        case .float(let values): values
        case .double(let values): values.map { Float($0) }
        case .int64(let values): values.map { Float($0) }
        case .int32(let values): values.map { Float($0) }
        case .bool(let values): values.map { $0 ? 1 : 0 }
        case .string: nil
        }
    }

    /// The elements as doubles (numeric and boolean tensors), or nil for strings.
    public var doubleValues: [Double]? {
        switch storage {
        case .float(let values): values.map { Double($0) }
        case .double(let values): values
        case .int64(let values): values.map { Double($0) }
        case .int32(let values): values.map { Double($0) }
        case .bool(let values): values.map { $0 ? 1 : 0 }
        case .string: nil
        }
    }

    /// The elements as 64-bit integers (integer and boolean tensors; floats are truncated), or nil for strings.
    public var int64Values: [Int64]? {
        switch storage {
        case .float(let values): values.map { Self.truncating($0) }
        case .double(let values): values.map { Self.truncating(Float($0)) }
        case .int64(let values): values
        case .int32(let values): values.map { Int64($0) }
        case .bool(let values): values.map { $0 ? 1 : 0 }
        case .string: nil
        }
    }

    private static func truncating(_ value: Float) -> Int64 {
        guard value.isFinite else { return value.isNaN ? 0 : (value > 0 ? .max : .min) }
        guard value < 9.2e18, value > -9.2e18 else { return value > 0 ? .max : .min }
        return Int64(value)
    }
}

extension ONNXTensor.Storage {
    public var count: Int {
        switch self {
        case .float(let values): values.count
        case .double(let values): values.count
        case .int64(let values): values.count
        case .int32(let values): values.count
        case .bool(let values): values.count
        case .string(let values): values.count
        }
    }

    public var elementType: ONNXElementType {
        switch self {
        case .float: .float
        case .double: .double
        case .int64: .int64
        case .int32: .int32
        case .bool: .bool
        case .string: .string
        }
    }
}

/// A value flowing through an ONNX graph: a tensor, a map (`CastMap`'s input) or a sequence
/// (`ZipMap`'s output, one map per row).
public enum ONNXValue: Sendable, Equatable {
    case tensor(ONNXTensor)
    /// Parallel keys (int64 or string) and values.
    case map(keys: ONNXTensor, values: ONNXTensor)
    case sequence([ONNXValue])

    /// The tensor, or nil for maps and sequences.
    public var tensor: ONNXTensor? {
        if case .tensor(let tensor) = self { return tensor }
        return nil
    }

    var kindDescription: String {
        switch self {
        case .tensor(let tensor): "tensor(\(tensor.elementType)) of shape \(tensor.shape)"
        case .map: "map"
        case .sequence: "sequence"
        }
    }
}
