import Foundation
import SlipwayCore

// Shared machinery for the tensor and math kernels: checked shape arithmetic, the element-type
// protocols the kernels are generic over, a strided n-dimensional walk, and numpy-style broadcasting.

// MARK: - Shapes

/// Shape arithmetic that fails with a message instead of trapping on hostile shapes.
enum ONNXShape {
    /// The most elements a kernel creates in one tensor whose size can grow beyond its inputs' (broadcasts,
    /// products, Gather, Concat): 2^28, 1 GiB of floats. A model or request asking for more gets a 400.
    static let maxElementCount = 1 << 28

    /// The product of `dims`, failing if it overflows.
    static func product(_ dims: some Sequence<Int>) throws(SlipwayError) -> Int {
        var result = 1
        for dim in dims {
            let (next, overflow) = result.multipliedReportingOverflow(by: dim)
            guard !overflow else {
                throw ONNXRunError.input("the dimensions \(Array(dims)) multiply out beyond any tensor size")
            }
            result = next
        }
        return result
    }

    /// The element count of a tensor a kernel is about to create, failing if it exceeds ``maxElementCount``.
    static func outputCount(_ shape: [Int]) throws(SlipwayError) -> Int {
        let count = try product(shape)
        guard count <= maxElementCount else {
            throw ONNXRunError.input(
                "the result would have shape \(shape), \(count) elements; the limit is \(maxElementCount)")
        }
        return count
    }

    /// Row-major strides of `shape` (in elements).
    static func strides(_ shape: [Int]) throws(SlipwayError) -> [Int] {
        var strides = [Int](repeating: 1, count: shape.count)
        var stride = 1
        for index in shape.indices.reversed() {
            strides[index] = stride
            let (next, overflow) = stride.multipliedReportingOverflow(by: shape[index])
            guard !overflow else {
                throw ONNXRunError.input("the dimensions \(shape) multiply out beyond any tensor size")
            }
            stride = next
        }
        return strides
    }

    /// `axis` as an index into `rank` dimensions, counting from the end when negative; valid range
    /// `-rank ..< rank` (or `-rank ... rank` with `inclusive`, for Flatten).
    static func axis(_ axis: Int, rank: Int, shape: [Int], inclusive: Bool = false, name: String = "axis")
        throws(SlipwayError) -> Int
    {
        let upper = inclusive ? rank : rank - 1
        guard axis >= -rank, axis <= upper else {
            throw ONNXRunError.input(
                "\(name) \(axis) is out of range for a tensor of rank \(rank) (shape \(shape)); "
                    + "it must be in \(-rank)...\(upper)")
        }
        return axis < 0 ? axis + rank : axis
    }

    /// A list of distinct axes (Squeeze, Unsqueeze, reductions), normalized against `rank`.
    static func axes(_ axes: [Int], rank: Int, shape: [Int], name: String = "axes") throws(SlipwayError) -> [Int] {
        var result: [Int] = []
        for axis in axes {
            let normalized = try Self.axis(axis, rank: rank, shape: shape, name: "\(name) entry")
            guard !result.contains(normalized) else {
                throw ONNXRunError.input("\(name) \(axes) name axis \(normalized) twice (tensor shape \(shape))")
            }
            result.append(normalized)
        }
        return result
    }

    /// The values of a 1-D (or scalar) int64/int32 tensor such as Reshape's shape or Slice's starts.
    static func integers(_ tensor: ONNXTensor, name: String) throws(SlipwayError) -> [Int] {
        guard tensor.rank <= 1 else {
            throw ONNXRunError.input("\(name) must be a 1-D tensor, got shape \(tensor.shape)")
        }
        switch tensor.storage {
        case .int64(let values): return values.map { Int(clamping: $0) }
        case .int32(let values): return values.map { Int($0) }
        default: throw ONNXRunError.input("\(name) must be an int64 tensor, got \(tensor.elementType)")
        }
    }
}

// MARK: - Element types

/// A Swift type a tensor's elements can have, and how arrays of it sit in ``ONNXTensor/Storage``.
protocol ONNXElement: Sendable, Equatable {
    static var elementType: ONNXElementType { get }
    static func storage(_ values: [Self]) -> ONNXTensor.Storage
    /// The elements when `storage` holds this type, else nil.
    static func values(_ storage: ONNXTensor.Storage) -> [Self]?
}

/// The numeric element types: float, double, int32 and int64. Integer arithmetic wraps on overflow
/// (as ONNX runtimes' C++ does in practice) instead of trapping.
protocol ONNXNumber: ONNXElement, Comparable {
    static var zero: Self { get }
    static var isFloatingPoint: Bool { get }
    static func add(_ a: Self, _ b: Self) -> Self
    static func subtract(_ a: Self, _ b: Self) -> Self
    static func multiply(_ a: Self, _ b: Self) -> Self
    /// Integers truncate toward zero; callers rule out a zero divisor first.
    static func divide(_ a: Self, _ b: Self) -> Self
    static func negate(_ a: Self) -> Self
    /// |a|; for integers `min` stays `min` (wrapping).
    static func absolute(_ a: Self) -> Self
    var doubleValue: Double { get }
    /// The value nearest `value`; integers truncate toward zero, and NaN or out-of-range values become the
    /// type's minimum, the "integer indefinite" x86 (and so numpy and onnxruntime) produces.
    static func converted(from value: Double) -> Self
}

/// The floating-point element types, with the math functions the activations need.
protocol ONNXFloat: ONNXNumber, BinaryFloatingPoint {
    static func exp(_ x: Self) -> Self
    static func log(_ x: Self) -> Self
    static func tanh(_ x: Self) -> Self
    static func squareRoot(_ x: Self) -> Self
    init(_ value: Float)
}

extension Float: ONNXFloat {
    static var elementType: ONNXElementType { .float }
    static func storage(_ values: [Float]) -> ONNXTensor.Storage { .float(values) }
    static func values(_ storage: ONNXTensor.Storage) -> [Float]? {
        if case .float(let values) = storage { return values }
        return nil
    }
    static var isFloatingPoint: Bool { true }
    static func add(_ a: Float, _ b: Float) -> Float { a + b }
    static func subtract(_ a: Float, _ b: Float) -> Float { a - b }
    static func multiply(_ a: Float, _ b: Float) -> Float { a * b }
    static func divide(_ a: Float, _ b: Float) -> Float { a / b }
    static func negate(_ a: Float) -> Float { -a }
    static func absolute(_ a: Float) -> Float { a.magnitude }
    var doubleValue: Double { Double(self) }
    static func converted(from value: Double) -> Float { Float(value) }
    static func exp(_ x: Float) -> Float { Foundation.exp(x) }
    static func log(_ x: Float) -> Float { Foundation.log(x) }
    static func tanh(_ x: Float) -> Float { Foundation.tanh(x) }
    static func squareRoot(_ x: Float) -> Float { x.squareRoot() }
}

extension Double: ONNXFloat {
    static var elementType: ONNXElementType { .double }
    static func storage(_ values: [Double]) -> ONNXTensor.Storage { .double(values) }
    static func values(_ storage: ONNXTensor.Storage) -> [Double]? {
        if case .double(let values) = storage { return values }
        return nil
    }
    static var isFloatingPoint: Bool { true }
    static func add(_ a: Double, _ b: Double) -> Double { a + b }
    static func subtract(_ a: Double, _ b: Double) -> Double { a - b }
    static func multiply(_ a: Double, _ b: Double) -> Double { a * b }
    static func divide(_ a: Double, _ b: Double) -> Double { a / b }
    static func negate(_ a: Double) -> Double { -a }
    static func absolute(_ a: Double) -> Double { a.magnitude }
    var doubleValue: Double { self }
    static func converted(from value: Double) -> Double { value }
    static func exp(_ x: Double) -> Double { Foundation.exp(x) }
    static func log(_ x: Double) -> Double { Foundation.log(x) }
    static func tanh(_ x: Double) -> Double { Foundation.tanh(x) }
    static func squareRoot(_ x: Double) -> Double { x.squareRoot() }
}

/// Integer arithmetic shared by int32 and int64: wrapping, truncating division.
protocol ONNXInteger: ONNXNumber, FixedWidthInteger {}

extension ONNXInteger {
    static var isFloatingPoint: Bool { false }
    static func add(_ a: Self, _ b: Self) -> Self { a &+ b }
    static func subtract(_ a: Self, _ b: Self) -> Self { a &- b }
    static func multiply(_ a: Self, _ b: Self) -> Self { a &* b }
    /// Truncates toward zero (C, and the ONNX reference); `min / -1` wraps to `min`; a zero divisor gives 0
    /// (callers check for it first).
    static func divide(_ a: Self, _ b: Self) -> Self {
        b == 0 ? 0 : a.dividedReportingOverflow(by: b).partialValue
    }
    static func negate(_ a: Self) -> Self { 0 &- a }
    static func absolute(_ a: Self) -> Self { a < 0 ? 0 &- a : a }
    var doubleValue: Double { Double(self) }
    static func converted(from value: Double) -> Self {
        // `Self(exactly:)` is nil for NaN, infinities and values out of range.
        Self(exactly: value.rounded(.towardZero)) ?? Self.min
    }
}

extension Int64: ONNXInteger {
    static var elementType: ONNXElementType { .int64 }
    static func storage(_ values: [Int64]) -> ONNXTensor.Storage { .int64(values) }
    static func values(_ storage: ONNXTensor.Storage) -> [Int64]? {
        if case .int64(let values) = storage { return values }
        return nil
    }
}

extension Int32: ONNXInteger {
    static var elementType: ONNXElementType { .int32 }
    static func storage(_ values: [Int32]) -> ONNXTensor.Storage { .int32(values) }
    static func values(_ storage: ONNXTensor.Storage) -> [Int32]? {
        if case .int32(let values) = storage { return values }
        return nil
    }
}

extension Bool: ONNXElement {
    static var elementType: ONNXElementType { .bool }
    static func storage(_ values: [Bool]) -> ONNXTensor.Storage { .bool(values) }
    static func values(_ storage: ONNXTensor.Storage) -> [Bool]? {
        if case .bool(let values) = storage { return values }
        return nil
    }
}

extension String: ONNXElement {
    static var elementType: ONNXElementType { .string }
    static func storage(_ values: [String]) -> ONNXTensor.Storage { .string(values) }
    static func values(_ storage: ONNXTensor.Storage) -> [String]? {
        if case .string(let values) = storage { return values }
        return nil
    }
}

extension ONNXTensor.Storage {
    /// The elements reached by walking `loop` with operand 0 indexing this storage, in walk order.
    /// Transpose and Slice are such walks; the caller guarantees every offset is in bounds.
    func gathered(by loop: StridedLoop) -> ONNXTensor.Storage {
        func walk<T>(_ values: [T]) -> [T] {
            let count = loop.count
            guard count > 0 else { return [] }
            let stride = loop.innerStride(0)
            let inner = loop.innerLength
            return [T](unsafeUninitializedCapacity: count) { buffer, initialized in
                values.withUnsafeBufferPointer { source in
                    let (source, output) = (source.baseAddress!, buffer.baseAddress!)  // count > 0: both exist
                    loop.forEachRun { position, offsets in
                        let (from, to) = (source + offsets[0], output + position)
                        if stride == 1 {
                            to.initialize(from: from, count: inner)
                        } else {
                            for step in 0..<inner { (to + step).initialize(to: from[step &* stride]) }
                        }
                    }
                }
                initialized = count
            }
        }
        switch self {
        case .float(let values): return .float(walk(values))
        case .double(let values): return .double(walk(values))
        case .int64(let values): return .int64(walk(values))
        case .int32(let values): return .int32(walk(values))
        case .bool(let values): return .bool(walk(values))
        case .string(let values): return .string(walk(values))
        }
    }
}

// MARK: - Strided walks

/// A row-major walk over an n-dimensional index space that tracks, for each of several operands, the
/// flat offset of the current element in that operand: the engine behind broadcasting, Transpose, Slice
/// and the reductions. Each operand has a stride per dimension (0 where it is broadcast or reduced).
///
/// Size-1 dimensions are dropped and adjacent dimensions every operand walks contiguously are merged, so
/// same-shape and scalar operands become a single run and `[N, M] + [M]` becomes N runs of M.
struct StridedLoop {
    /// The merged dimensions, outermost first; never empty.
    private(set) var dims: [Int]
    /// `strides[operand][dimension]`, in elements, for the merged dimensions.
    private(set) var strides: [[Int]]
    /// Each operand's offset at the first element.
    let bases: [Int]
    /// The number of positions in the walk.
    let count: Int

    /// - Parameters:
    ///   - dims: the walk's dimensions; their product must not overflow (callers check it).
    ///   - strides: for each operand, one stride per dimension.
    ///   - bases: each operand's starting offset (default 0).
    init(dims: [Int], strides: [[Int]], bases: [Int]? = nil) {
        self.bases = bases ?? [Int](repeating: 0, count: strides.count)
        count = dims.reduce(1, &*)  // callers have checked the product
        var mergedDims: [Int] = []
        var merged = [[Int]](repeating: [], count: strides.count)
        for (dimension, size) in dims.enumerated() where size != 1 {
            // Merge into the previous (outer) dimension when every operand continues contiguously.
            if let last = mergedDims.last, count > 0,
                strides.indices.allSatisfy({ operand in
                    let (span, overflow) = strides[operand][dimension].multipliedReportingOverflow(by: size)
                    return !overflow && merged[operand].last == span
                })
            {
                mergedDims[mergedDims.count - 1] = last &* size
                for operand in strides.indices {
                    merged[operand][merged[operand].count - 1] = strides[operand][dimension]
                }
            } else {
                mergedDims.append(size)
                for operand in strides.indices { merged[operand].append(strides[operand][dimension]) }
            }
        }
        if mergedDims.isEmpty {
            mergedDims = [1]
            for operand in strides.indices { merged[operand] = [0] }
        }
        self.dims = mergedDims
        self.strides = merged
    }

    /// The length of each run (the innermost merged dimension).
    var innerLength: Int { dims[dims.count - 1] }

    /// How far `operand`'s offset moves per step within a run.
    func innerStride(_ operand: Int) -> Int { strides[operand][dims.count - 1] }

    /// Calls `body` once per run of the innermost dimension, in order, with the walk position of the
    /// run's first element and every operand's offset there. Within a run, the position advances by 1
    /// and operand `i`'s offset by `innerStride(i)`, for `innerLength` steps.
    @inline(__always)
    func forEachRun<E: Error>(_ body: (_ position: Int, _ offsets: [Int]) throws(E) -> Void) throws(E) {
        guard count > 0 else { return }
        let outerRank = dims.count - 1
        let inner = innerLength
        var counter = [Int](repeating: 0, count: outerRank)
        var offsets = bases
        var position = 0
        while true {
            try body(position, offsets)
            position += inner
            var dimension = outerRank - 1
            while dimension >= 0 {
                counter[dimension] += 1
                if counter[dimension] < dims[dimension] {
                    for operand in offsets.indices { offsets[operand] += strides[operand][dimension] }
                    break
                }
                for operand in offsets.indices {
                    offsets[operand] -= strides[operand][dimension] * (dims[dimension] - 1)
                }
                counter[dimension] = 0
                dimension -= 1
            }
            if dimension < 0 { return }
        }
    }
}

// MARK: - Broadcasting

/// Numpy-style multidirectional broadcasting (ONNX "Broadcasting in ONNX"): shapes are aligned at their
/// last dimension, and each dimension pair must be equal or contain a 1.
enum Broadcast {
    /// The broadcast shape of `shapes`.
    static func shape(_ shapes: [[Int]]) throws(SlipwayError) -> [Int] {
        let rank = shapes.map(\.count).max() ?? 0
        var result = [Int](repeating: 1, count: rank)
        for shape in shapes {
            let offset = rank - shape.count
            for (index, dim) in shape.enumerated() {
                let current = result[offset + index]
                if current == dim || dim == 1 { continue }
                guard current == 1 else {
                    throw ONNXRunError.input(
                        "cannot broadcast shapes \(shapes.map { "\($0)" }.joined(separator: " and ")): dimension "
                            + "\(index - shape.count) is \(current) in one and \(dim) in another (they must be equal or 1)"
                    )
                }
                result[offset + index] = dim
            }
        }
        return result
    }

    /// `shape`'s strides within the broadcast `output` shape: 0 where it is broadcast (size 1 or missing).
    static func strides(of shape: [Int], in output: [Int]) throws(SlipwayError) -> [Int] {
        let own = try ONNXShape.strides(shape)
        let offset = output.count - shape.count
        return output.indices.map { index in
            index < offset || shape[index - offset] == 1 ? 0 : own[index - offset]
        }
    }

    /// A walk over the broadcast shape of `shapes` with one operand per shape, and that shape; fails if
    /// the shapes do not broadcast or the result is too large.
    static func loop(_ shapes: [[Int]]) throws(SlipwayError) -> (shape: [Int], loop: StridedLoop) {
        let output = try shape(shapes)
        _ = try ONNXShape.outputCount(output)
        var strides: [[Int]] = []
        for shape in shapes { strides.append(try Self.strides(of: shape, in: output)) }
        return (output, StridedLoop(dims: output, strides: strides))
    }

    /// `op` applied to each pair of broadcast elements of `a` (shape `aShape`) and `b`.
    @inline(__always)
    static func map<A, B, R>(
        _ a: [A], _ aShape: [Int], _ b: [B], _ bShape: [Int], _ op: (A, B) -> R
    ) throws(SlipwayError) -> ONNXTensorValues<R> {
        let (shape, loop) = try loop([aShape, bShape])
        let count = loop.count
        guard count > 0 else { return ONNXTensorValues(shape: shape, values: []) }
        let inner = loop.innerLength
        let strideA = loop.innerStride(0)
        let strideB = loop.innerStride(1)
        let values = [R](unsafeUninitializedCapacity: count) { buffer, initialized in
            a.withUnsafeBufferPointer { a in
                b.withUnsafeBufferPointer { b in
                    // Every operand has elements when the result does.
                    let (a, b, output) = (a.baseAddress!, b.baseAddress!, buffer.baseAddress!)
                    loop.forEachRun { position, offsets in
                        let (x, y, z) = (a + offsets[0], b + offsets[1], output + position)
                        // The common runs get loops with constant strides, which vectorize.
                        switch (strideA, strideB) {
                        case (1, 1):
                            for step in 0..<inner { (z + step).initialize(to: op(x[step], y[step])) }
                        case (1, 0):
                            let scalar = y.pointee
                            for step in 0..<inner { (z + step).initialize(to: op(x[step], scalar)) }
                        case (0, 1):
                            let scalar = x.pointee
                            for step in 0..<inner { (z + step).initialize(to: op(scalar, y[step])) }
                        default:
                            for step in 0..<inner {
                                (z + step).initialize(to: op(x[step &* strideA], y[step &* strideB]))
                            }
                        }
                    }
                }
            }
            initialized = count
        }
        return ONNXTensorValues(shape: shape, values: values)
    }

    /// `op` applied to each triple of broadcast elements of `a`, `b` and `c` (Where).
    @inline(__always)
    static func map<A, B, C, R>(
        _ a: [A], _ aShape: [Int], _ b: [B], _ bShape: [Int], _ c: [C], _ cShape: [Int], _ op: (A, B, C) -> R
    ) throws(SlipwayError) -> ONNXTensorValues<R> {
        let (shape, loop) = try loop([aShape, bShape, cShape])
        let count = loop.count
        guard count > 0 else { return ONNXTensorValues(shape: shape, values: []) }
        let inner = loop.innerLength
        let strideA = loop.innerStride(0)
        let strideB = loop.innerStride(1)
        let strideC = loop.innerStride(2)
        let values = [R](unsafeUninitializedCapacity: count) { buffer, initialized in
            a.withUnsafeBufferPointer { a in
                b.withUnsafeBufferPointer { b in
                    c.withUnsafeBufferPointer { c in
                        let output = buffer.baseAddress!
                        loop.forEachRun { position, offsets in
                            var indexA = offsets[0]
                            var indexB = offsets[1]
                            var indexC = offsets[2]
                            for index in position..<(position + inner) {
                                (output + index).initialize(to: op(a[indexA], b[indexB], c[indexC]))
                                indexA += strideA
                                indexB += strideB
                                indexC += strideC
                            }
                        }
                    }
                }
            }
            initialized = count
        }
        return ONNXTensorValues(shape: shape, values: values)
    }
}

/// Elementwise maps of a single operand.
enum Elementwise {
    /// `transform` applied to every element, written straight into the new array (faster than `map`,
    /// whose per-element append keeps the loop from vectorizing).
    @inline(__always)
    static func map<T, R>(_ values: [T], _ transform: (T) -> R) -> [R] {
        [R](unsafeUninitializedCapacity: values.count) { buffer, initialized in
            values.withUnsafeBufferPointer { source in
                for index in source.indices { (buffer.baseAddress! + index).initialize(to: transform(source[index])) }
            }
            initialized = values.count
        }
    }
}

/// A shape and its row-major elements of one Swift type, before they become an ``ONNXTensor``.
struct ONNXTensorValues<Element> {
    var shape: [Int]
    var values: [Element]
}

extension ONNXTensorValues where Element: ONNXElement {
    var tensor: ONNXTensor { ONNXTensor(shape: shape, storage: Element.storage(values)) }
}
