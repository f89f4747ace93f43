import Foundation
import SlipwayCore

extension ONNXOperators {
    /// Elementwise arithmetic, comparisons, logic, activations, reductions, Gemm and MatMul.
    static let mathKernels: [String: ONNXKernelFactory] = [
        "ai.onnx:Add": MathKernels.arithmetic(.add),
        "ai.onnx:Sub": MathKernels.arithmetic(.subtract),
        "ai.onnx:Mul": MathKernels.arithmetic(.multiply),
        "ai.onnx:Div": MathKernels.arithmetic(.divide),
        "ai.onnx:Less": MathKernels.comparison(.less),
        "ai.onnx:Greater": MathKernels.comparison(.greater),
        "ai.onnx:Equal": MathKernels.comparison(.equal),
        "ai.onnx:And": MathKernels.logical(.and),
        "ai.onnx:Or": MathKernels.logical(.or),
        "ai.onnx:Not": MathKernels.not,
        "ai.onnx:Relu": MathKernels.unary(.relu),
        "ai.onnx:Abs": MathKernels.unary(.abs),
        "ai.onnx:Neg": MathKernels.unary(.neg),
        "ai.onnx:Sigmoid": MathKernels.unary(.sigmoid),
        "ai.onnx:Tanh": MathKernels.unary(.tanh),
        "ai.onnx:Exp": MathKernels.unary(.exp),
        "ai.onnx:Log": MathKernels.unary(.log),
        "ai.onnx:Sqrt": MathKernels.unary(.sqrt),
        "ai.onnx:Softmax": MathKernels.softmax(logarithmic: false),
        "ai.onnx:LogSoftmax": MathKernels.softmax(logarithmic: true),
        "ai.onnx:Clip": MathKernels.clip,
        "ai.onnx:ArgMax": MathKernels.argMax,
        "ai.onnx:ReduceSum": MathKernels.reduction(.sum),
        "ai.onnx:ReduceMean": MathKernels.reduction(.mean),
        "ai.onnx:Gemm": MathKernels.gemm,
        "ai.onnx:MatMul": MathKernels.matMul,
    ]
}

/// "float and int64" for messages about mismatched operand types.
private func typeList(_ tensors: ONNXTensor...) -> String {
    tensors.map { "\($0.elementType)" }.joined(separator: " and ")
}

private enum MathKernels {
    // MARK: Elementwise binary arithmetic

    enum Arithmetic { case add, subtract, multiply, divide }

    /// Add, Sub, Mul, Div: two tensors of one numeric type, broadcast; the result keeps the type.
    static func arithmetic(_ op: Arithmetic) -> ONNXKernelFactory {
        { _ throws(SlipwayError) in
            ClosureKernel { inputs throws(SlipwayError) in
                let a = try inputs.tensor(0)
                let b = try inputs.tensor(1)
                switch (a.storage, b.storage) {
                case (.float(let x), .float(let y)): return [.tensor(try apply(op, x, a.shape, y, b.shape))]
                case (.double(let x), .double(let y)): return [.tensor(try apply(op, x, a.shape, y, b.shape))]
                case (.int64(let x), .int64(let y)): return [.tensor(try apply(op, x, a.shape, y, b.shape))]
                case (.int32(let x), .int32(let y)): return [.tensor(try apply(op, x, a.shape, y, b.shape))]
                default:
                    throw ONNXRunError.input(
                        "needs two tensors of the same numeric type (float, double, int32 or int64), got \(typeList(a, b))"
                    )
                }
            }
        }
    }

    private static func apply<T: ONNXNumber>(_ op: Arithmetic, _ x: [T], _ xShape: [Int], _ y: [T], _ yShape: [Int])
        throws(SlipwayError) -> ONNXTensor
    {
        switch op {
        case .add: return try Broadcast.map(x, xShape, y, yShape) { T.add($0, $1) }.tensor
        case .subtract: return try Broadcast.map(x, xShape, y, yShape) { T.subtract($0, $1) }.tensor
        case .multiply: return try Broadcast.map(x, xShape, y, yShape) { T.multiply($0, $1) }.tensor
        case .divide:
            // Integer division truncates toward zero, like C and the ONNX reference; by zero it has no value.
            if !T.isFloatingPoint, y.contains(T.zero) {
                throw ONNXRunError.input("integer division by zero (divisor of shape \(yShape) contains 0)")
            }
            return try Broadcast.map(x, xShape, y, yShape) { T.divide($0, $1) }.tensor
        }
    }

    // MARK: Comparisons and logic

    enum Comparison { case less, greater, equal }

    /// Less, Greater (numeric) and Equal (numeric, bool, string): broadcast, bool result.
    static func comparison(_ op: Comparison) -> ONNXKernelFactory {
        { _ throws(SlipwayError) in
            ClosureKernel { inputs throws(SlipwayError) in
                let a = try inputs.tensor(0)
                let b = try inputs.tensor(1)
                switch (a.storage, b.storage) {
                case (.float(let x), .float(let y)): return [.tensor(try compare(op, x, a.shape, y, b.shape))]
                case (.double(let x), .double(let y)): return [.tensor(try compare(op, x, a.shape, y, b.shape))]
                case (.int64(let x), .int64(let y)): return [.tensor(try compare(op, x, a.shape, y, b.shape))]
                case (.int32(let x), .int32(let y)): return [.tensor(try compare(op, x, a.shape, y, b.shape))]
                case (.bool(let x), .bool(let y)) where op == .equal:
                    return [.tensor(try Broadcast.map(x, a.shape, y, b.shape) { $0 == $1 }.tensor)]
                case (.string(let x), .string(let y)) where op == .equal:
                    return [.tensor(try Broadcast.map(x, a.shape, y, b.shape) { $0 == $1 }.tensor)]
                default:
                    let allowed = op == .equal ? "numeric, bool or string" : "numeric (float, double, int32 or int64)"
                    throw ONNXRunError.input("needs two tensors of the same \(allowed) type, got \(typeList(a, b))")
                }
            }
        }
    }

    private static func compare<T: ONNXNumber>(_ op: Comparison, _ x: [T], _ xShape: [Int], _ y: [T], _ yShape: [Int])
        throws(SlipwayError) -> ONNXTensor
    {
        switch op {
        case .less: return try Broadcast.map(x, xShape, y, yShape) { $0 < $1 }.tensor
        case .greater: return try Broadcast.map(x, xShape, y, yShape) { $0 > $1 }.tensor
        case .equal: return try Broadcast.map(x, xShape, y, yShape) { $0 == $1 }.tensor
        }
    }

    enum Logical { case and, or }

    /// And, Or: two bool tensors, broadcast.
    static func logical(_ op: Logical) -> ONNXKernelFactory {
        { _ throws(SlipwayError) in
            ClosureKernel { inputs throws(SlipwayError) in
                let a = try inputs.tensor(0)
                let b = try inputs.tensor(1)
                guard case .bool(let x) = a.storage, case .bool(let y) = b.storage else {
                    throw ONNXRunError.input("needs two bool tensors, got \(typeList(a, b))")
                }
                switch op {
                case .and: return [.tensor(try Broadcast.map(x, a.shape, y, b.shape) { $0 && $1 }.tensor)]
                case .or: return [.tensor(try Broadcast.map(x, a.shape, y, b.shape) { $0 || $1 }.tensor)]
                }
            }
        }
    }

    static let not: ONNXKernelFactory = { _ throws(SlipwayError) in
        ClosureKernel { inputs throws(SlipwayError) in
            let x = try inputs.tensor(0)
            guard case .bool(let values) = x.storage else {
                throw ONNXRunError.input("needs a bool tensor, got \(x.elementType)")
            }
            return [.tensor(ONNXTensor(shape: x.shape, bools: Elementwise.map(values) { !$0 }))]
        }
    }

    // MARK: Elementwise unary

    enum Unary {
        /// Numeric: float, double, int32, int64.
        case relu, abs, neg
        /// Floating point only.
        case sigmoid, tanh, exp, log, sqrt
    }

    static func unary(_ op: Unary) -> ONNXKernelFactory {
        { _ throws(SlipwayError) in
            ClosureKernel { inputs throws(SlipwayError) in
                let x = try inputs.tensor(0)
                let storage: ONNXTensor.Storage
                switch x.storage {
                case .float(let values): storage = .float(floating(op, values) ?? numeric(op, values))
                case .double(let values): storage = .double(floating(op, values) ?? numeric(op, values))
                case .int64(let values) where [.relu, .abs, .neg].contains(op): storage = .int64(numeric(op, values))
                case .int32(let values) where [.relu, .abs, .neg].contains(op): storage = .int32(numeric(op, values))
                default:
                    let allowed =
                        [.relu, .abs, .neg].contains(op) ? "float, double, int32 or int64" : "float or double"
                    throw ONNXRunError.input("needs a \(allowed) tensor, got \(x.elementType)")
                }
                return [.tensor(ONNXTensor(shape: x.shape, storage: storage))]
            }
        }
    }

    /// The floating-point-only operators; nil for the numeric ones.
    private static func floating<T: ONNXFloat>(_ op: Unary, _ values: [T]) -> [T]? {
        switch op {
        case .sigmoid: Elementwise.map(values) { 1 / (1 + T.exp(-$0)) }
        case .tanh: Elementwise.map(values, T.tanh)
        case .exp: Elementwise.map(values, T.exp)
        case .log: Elementwise.map(values, T.log)
        case .sqrt: Elementwise.map(values, T.squareRoot)
        case .relu, .abs, .neg: nil
        }
    }

    private static func numeric<T: ONNXNumber>(_ op: Unary, _ values: [T]) -> [T] {
        switch op {
        case .relu: Elementwise.map(values) { $0 < T.zero ? T.zero : $0 }  // NaN stays NaN
        case .abs: Elementwise.map(values, T.absolute)
        case .neg: Elementwise.map(values, T.negate)
        case .sigmoid, .tanh, .exp, .log, .sqrt: values  // not reached: `floating` handles them
        }
    }

    // MARK: Softmax, LogSoftmax

    /// Before opset 13 the input is coerced to 2-D at `axis` (default 1) and each row of
    /// `prod(shape[axis...])` elements is normalized together; from 13 only the `axis` dimension (default
    /// -1) is.
    static func softmax(logarithmic: Bool) -> ONNXKernelFactory {
        { context throws(SlipwayError) in
            let coerce = context.opset < 13
            let axis = context.int("axis", default: coerce ? 1 : -1)
            return ClosureKernel { inputs throws(SlipwayError) in
                let x = try inputs.tensor(0)
                let normalized = try ONNXShape.axis(axis, rank: x.rank, shape: x.shape)
                let outer = try ONNXShape.product(x.shape[..<normalized])
                let length: Int
                let inner: Int
                if coerce {
                    length = try ONNXShape.product(x.shape[normalized...])
                    inner = 1
                } else {
                    length = x.shape[normalized]
                    inner = try ONNXShape.product(x.shape[(normalized + 1)...])
                }
                switch x.storage {
                case .float(let values):
                    return [
                        .tensor(ONNXTensor(shape: x.shape, floats: softmax(values, outer, length, inner, logarithmic)))
                    ]
                case .double(let values):
                    return [
                        .tensor(ONNXTensor(shape: x.shape, doubles: softmax(values, outer, length, inner, logarithmic)))
                    ]
                default:
                    throw ONNXRunError.input("needs a float or double tensor, got \(x.elementType)")
                }
            }
        }
    }

    /// Softmax over the middle dimension of `values` seen as `[outer, length, inner]`, computed as
    /// `exp(x - max) / sum` (or `x - max - log(sum)`) so large inputs do not overflow.
    private static func softmax<T: ONNXFloat>(
        _ values: [T], _ outer: Int, _ length: Int, _ inner: Int, _ logarithmic: Bool
    )
        -> [T]
    {
        guard !values.isEmpty else { return values }
        var result = values
        result.withUnsafeMutableBufferPointer { y in
            for o in 0..<outer {
                for i in 0..<inner {
                    let base = o * length * inner + i
                    var maximum = -T.infinity
                    for k in 0..<length where y[base + k * inner] > maximum { maximum = y[base + k * inner] }
                    var sum = T.zero
                    for k in 0..<length {
                        let e = T.exp(y[base + k * inner] - maximum)
                        sum += e
                        if !logarithmic { y[base + k * inner] = e }
                    }
                    if logarithmic {
                        // (x - max) - log(sum), not x - (max + log(sum)): the sum would round at large max.
                        let logSum = T.log(sum)
                        for k in 0..<length { y[base + k * inner] = (y[base + k * inner] - maximum) - logSum }
                    } else {
                        for k in 0..<length { y[base + k * inner] /= sum }
                    }
                }
            }
        }
        return result
    }

    // MARK: Clip

    /// Before opset 11 the bounds are the float attributes `min` and `max` (default: the float range);
    /// from 11 they are optional scalar inputs of the input's type. Bounds clamp in the order
    /// `min(max(x, lo), hi)`, so when `lo > hi` every value becomes `hi` (the spec's rule); NaN stays NaN.
    static let clip: ONNXKernelFactory = { context throws(SlipwayError) in
        let attributeBounds: (Float, Float)? =
            context.opset < 11
            ? (
                context.float("min", default: -.greatestFiniteMagnitude),
                context.float("max", default: .greatestFiniteMagnitude)
            )
            : nil
        return ClosureKernel { inputs throws(SlipwayError) in
            let x = try inputs.tensor(0)
            let lower = try inputs.optionalTensor(1)
            let upper = try inputs.optionalTensor(2)
            func bound<T: ONNXNumber>(_ tensor: ONNXTensor?, _ name: String, as type: T.Type) throws(SlipwayError) -> T?
            {
                guard let tensor else { return nil }
                guard let values = T.values(tensor.storage), values.count == 1 else {
                    throw ONNXRunError.input(
                        "\(name) must be a scalar of the input's type (\(x.elementType)), got \(tensor.elementType) "
                            + "of shape \(tensor.shape)")
                }
                return values[0]
            }
            func clipped<T: ONNXNumber>(_ values: [T]) throws(SlipwayError) -> [T] {
                var lo: T? = try bound(lower, "min", as: T.self)
                var hi: T? = try bound(upper, "max", as: T.self)
                if let attributeBounds {
                    lo = T.converted(from: Double(attributeBounds.0))
                    hi = T.converted(from: Double(attributeBounds.1))
                }
                return Elementwise.map(values) { value in
                    var result = value
                    if let lo, result < lo { result = lo }
                    if let hi, result > hi { result = hi }
                    return result
                }
            }
            let storage: ONNXTensor.Storage
            switch x.storage {
            case .float(let values): storage = .float(try clipped(values))
            case .double(let values): storage = .double(try clipped(values))
            case .int64(let values) where attributeBounds == nil: storage = .int64(try clipped(values))
            case .int32(let values) where attributeBounds == nil: storage = .int32(try clipped(values))
            default:
                throw ONNXRunError.input(
                    "needs a \(attributeBounds == nil ? "numeric" : "float or double") tensor, got \(x.elementType)")
            }
            return [.tensor(ONNXTensor(shape: x.shape, storage: storage))]
        }
    }

    // MARK: ArgMax

    /// The int64 index of the largest value along `axis` (default 0); the first one on ties, or the last
    /// with `select_last_index` (opset 12). As in onnxruntime, a value replaces the best so far only if
    /// it compares greater (or equal, for the last index), so NaNs are skipped unless one comes first
    /// (numpy, and so the ONNX reference, would pick the first NaN).
    static let argMax: ONNXKernelFactory = { context throws(SlipwayError) in
        let axis = context.int("axis", default: 0)
        let keepDims = context.int("keepdims", default: 1) != 0
        let selectLast = context.int("select_last_index", default: 0) != 0
        return ClosureKernel { inputs throws(SlipwayError) in
            let x = try inputs.tensor(0)
            let normalized = try ONNXShape.axis(axis, rank: x.rank, shape: x.shape)
            let length = x.shape[normalized]
            var shape = x.shape
            if keepDims { shape[normalized] = 1 } else { shape.remove(at: normalized) }
            let count = try ONNXShape.product(shape)
            guard length > 0 || count == 0 else {
                throw ONNXRunError.input(
                    "cannot take the ArgMax of axis \(normalized) of shape \(x.shape): it is empty")
            }
            let outer = try ONNXShape.product(x.shape[..<normalized])
            let inner = try ONNXShape.product(x.shape[(normalized + 1)...])
            func indexes<T: ONNXNumber>(_ values: [T]) -> [Int64] {
                var result = [Int64](repeating: 0, count: count)
                for o in 0..<outer {
                    for i in 0..<inner {
                        let base = o * length * inner + i
                        var best = values[base]
                        var bestIndex = 0
                        for k in 1..<max(length, 1) {
                            let value = values[base + k * inner]
                            if selectLast ? value >= best : value > best {
                                best = value
                                bestIndex = k
                            }
                        }
                        result[o * inner + i] = Int64(bestIndex)
                    }
                }
                return result
            }
            let result: [Int64]
            switch x.storage {
            case .float(let values): result = indexes(values)
            case .double(let values): result = indexes(values)
            case .int64(let values): result = indexes(values)
            case .int32(let values): result = indexes(values)
            default: throw ONNXRunError.input("needs a numeric tensor, got \(x.elementType)")
            }
            return [.tensor(ONNXTensor(shape: shape, int64s: result))]
        }
    }

    // MARK: ReduceSum, ReduceMean

    enum Reduction { case sum, mean }

    /// The reduction axes: the `axes` attribute before the opset where they became the optional second
    /// input (ReduceSum 13, ReduceMean 18). No axes means every axis, unless `noop_with_empty_axes`
    /// (input form only) makes it the identity. `keepdims` (default 1) keeps reduced axes as size 1.
    /// Float sums accumulate in double; integer sums wrap and integer means truncate.
    static func reduction(_ reduction: Reduction) -> ONNXKernelFactory {
        { context throws(SlipwayError) in
            let axesAreInput = context.opset >= (reduction == .sum ? 13 : 18)
            let keepDims = context.int("keepdims", default: 1) != 0
            let noopWithEmptyAxes = axesAreInput && context.int("noop_with_empty_axes", default: 0) != 0
            let attributeAxes = axesAreInput ? nil : (context.ints("axes") ?? []).map { Int(clamping: $0) }
            return ClosureKernel { inputs throws(SlipwayError) in
                let x = try inputs.tensor(0)
                var axes = attributeAxes ?? []
                if axesAreInput, let tensor = try inputs.optionalTensor(1) {
                    axes = try ONNXShape.integers(tensor, name: "axes")
                }
                if axes.isEmpty {
                    if noopWithEmptyAxes { return [.tensor(x)] }
                    axes = Array(0..<x.rank)
                }
                let reduced = try ONNXShape.axes(axes, rank: x.rank, shape: x.shape)
                var kept = x.shape
                for axis in reduced { kept[axis] = 1 }
                let outputShape = keepDims ? kept : x.shape.indices.filter { !reduced.contains($0) }.map { x.shape[$0] }
                let outputCount = try ONNXShape.product(kept)
                let groupSize = try ONNXShape.product(reduced.map { x.shape[$0] })
                var outputStrides = try ONNXShape.strides(kept)
                for axis in reduced { outputStrides[axis] = 0 }
                let loop = StridedLoop(dims: x.shape, strides: [try ONNXShape.strides(x.shape), outputStrides])

                /// Adds every input element into its output slot.
                func accumulate<T, A>(_ values: [T], into sums: inout [A], _ add: (A, T) -> A) {
                    let inner = loop.innerLength
                    let inputStride = loop.innerStride(0)
                    let outputStride = loop.innerStride(1)
                    sums.withUnsafeMutableBufferPointer { sums in
                        values.withUnsafeBufferPointer { values in
                            loop.forEachRun { _, offsets in
                                var input = offsets[0]
                                var output = offsets[1]
                                for _ in 0..<inner {
                                    sums[output] = add(sums[output], values[input])
                                    input += inputStride
                                    output += outputStride
                                }
                            }
                        }
                    }
                }
                func floating<T: ONNXFloat>(_ values: [T]) -> [T] {
                    var sums = [Double](repeating: 0, count: outputCount)
                    accumulate(values, into: &sums) { $0 + Double($1) }
                    let divisor = reduction == .mean ? Double(groupSize) : 1
                    return sums.map { T($0 / divisor) }
                }
                func integer<T: ONNXInteger>(_ values: [T]) -> [T] {
                    var sums = [T](repeating: 0, count: outputCount)
                    accumulate(values, into: &sums) { $0 &+ $1 }
                    guard reduction == .mean else { return sums }
                    return sums.map { T.divide($0, T(clamping: groupSize)) }
                }
                let storage: ONNXTensor.Storage
                switch x.storage {
                case .float(let values): storage = .float(floating(values))
                case .double(let values): storage = .double(floating(values))
                case .int64(let values): storage = .int64(integer(values))
                case .int32(let values): storage = .int32(integer(values))
                default: throw ONNXRunError.input("needs a numeric tensor, got \(x.elementType)")
                }
                return [.tensor(ONNXTensor(shape: outputShape, storage: storage))]
            }
        }
    }

    // MARK: Gemm

    /// `Y = alpha * A' * B' + beta * C`, where `A'` is A or its transpose (`transA`) and likewise `B'`;
    /// C (optional from opset 11) broadcasts one way to `[M, N]` and is ignored when beta is 0.
    static let gemm: ONNXKernelFactory = { context throws(SlipwayError) in
        let transA = context.int("transA", default: 0) != 0
        let transB = context.int("transB", default: 0) != 0
        let alpha = context.float("alpha", default: 1)
        let beta = context.float("beta", default: 1)
        // Weights stored in the model are laid out as [K, N] once, here, not per request.
        var preparedB: ONNXTensor?
        if context.constantInputs.count > 1, let b = context.constantInputs[1] {
            guard b.rank == 2 else {
                throw context.invalid("input B must be 2-D, its initializer has shape \(b.shape)")
            }
            preparedB = transB ? transposed(b) : b
        }
        return GemmKernel(transA: transA, transB: transB, alpha: alpha, beta: beta, preparedB: preparedB)
    }

    struct GemmKernel: ONNXKernel {
        let transA: Bool
        let transB: Bool
        let alpha: Float
        let beta: Float
        /// B as `[K, N]`, when it is a constant.
        let preparedB: ONNXTensor?

        func run(_ inputs: [ONNXValue?]) throws(SlipwayError) -> [ONNXValue] {
            let a = try inputs.tensor(0)
            let rawB = try inputs.tensor(1)
            let c = try inputs.optionalTensor(2)
            guard a.rank == 2, rawB.rank == 2 else {
                throw ONNXRunError.input("A and B must be 2-D, got shapes \(a.shape) and \(rawB.shape)")
            }
            let b = preparedB ?? (transB ? transposed(rawB) : rawB)
            let (m, k) = transA ? (a.shape[1], a.shape[0]) : (a.shape[0], a.shape[1])
            let n = b.shape[1]
            guard b.shape[0] == k else {
                throw ONNXRunError.input(
                    "A of shape \(a.shape)\(transA ? " (transposed)" : "") and B of shape \(rawB.shape)"
                        + "\(transB ? " (transposed)" : "") do not multiply: \(k) columns against \(b.shape[0]) rows")
            }
            let aRows = transA ? transposed(a) : a
            if let c {
                guard c.elementType == a.elementType else {
                    throw ONNXRunError.input("C must have A's type \(a.elementType), got \(c.elementType)")
                }
                guard c.rank <= 2, zip(c.shape.reversed(), [n, m]).allSatisfy({ $0 == 1 || $0 == $1 }) else {
                    throw ONNXRunError.input(
                        "C of shape \(c.shape) does not broadcast to the result's shape [\(m), \(n)]")
                }
            }
            _ = try ONNXShape.outputCount([m, n])
            switch (aRows.storage, b.storage) {
            case (.float(let x), .float(let y)):
                return [.tensor(ONNXTensor(shape: [m, n], floats: try finish(multiplied(x, y, m, k, n), c, m, n)))]
            case (.double(let x), .double(let y)):
                return [.tensor(ONNXTensor(shape: [m, n], doubles: try finish(multiplied(x, y, m, k, n), c, m, n)))]
            case (.int64(let x), .int64(let y)):
                return [.tensor(ONNXTensor(shape: [m, n], int64s: try finish(multiplied(x, y, m, k, n), c, m, n)))]
            case (.int32(let x), .int32(let y)):
                return [.tensor(ONNXTensor(shape: [m, n], int32s: try finish(multiplied(x, y, m, k, n), c, m, n)))]
            default:
                throw ONNXRunError.input(
                    "needs A and B of the same numeric type (float, double, int32 or int64), got \(typeList(a, rawB))")
            }
        }

        /// Applies alpha and adds `beta * C` to the product. Integer results with a fractional alpha or
        /// beta are computed in double and truncated, like the ONNX reference.
        private func finish<T: ONNXNumber>(_ product: [T], _ c: ONNXTensor?, _ m: Int, _ n: Int) throws(SlipwayError)
            -> [T]
        {
            let cValues = beta == 0 ? nil : c.flatMap { T.values($0.storage) }
            let strides =
                try c.map { c throws(SlipwayError) in try Broadcast.strides(of: c.shape, in: [m, n]) } ?? [0, 0]
            let (rowStride, columnStride) = (strides[0], strides[1])  // columnStride is 0 or 1
            if alpha == 1, cValues == nil { return product }
            var result = product
            guard T.isFloatingPoint || (alpha == 1 && beta == 1) else {
                result.withUnsafeMutableBufferPointer { y in
                    for i in 0..<m {
                        for j in 0..<n {
                            let cValue = cValues.map { $0[i * rowStride + j * columnStride].doubleValue } ?? 0
                            y[i * n + j] = T.converted(
                                from: Double(alpha) * y[i * n + j].doubleValue + Double(beta) * cValue)
                        }
                    }
                }
                return result
            }
            let alphaT = T.converted(from: Double(alpha))
            let betaT = T.converted(from: Double(beta))
            result.withUnsafeMutableBufferPointer { y in
                guard let y = y.baseAddress else { return }
                if alpha != 1 {
                    for index in 0..<(m * n) { y[index] = T.multiply(alphaT, y[index]) }
                }
                guard let cValues else { return }
                cValues.withUnsafeBufferPointer { c in
                    guard let c = c.baseAddress else { return }
                    for i in 0..<m {
                        let row = y + i * n
                        let cRow = c + i * rowStride
                        if columnStride == 0 {
                            let value = beta == 1 ? cRow.pointee : T.multiply(betaT, cRow.pointee)
                            for j in 0..<n { row[j] = T.add(row[j], value) }
                        } else if beta == 1 {
                            for j in 0..<n { row[j] = T.add(row[j], cRow[j]) }
                        } else {
                            for j in 0..<n { row[j] = T.add(row[j], T.multiply(betaT, cRow[j])) }
                        }
                    }
                }
            }
            return result
        }
    }

    /// A 2-D tensor transposed.
    static func transposed(_ tensor: ONNXTensor) -> ONNXTensor {
        let rows = tensor.shape[0]
        let columns = tensor.shape[1]
        let loop = StridedLoop(dims: [columns, rows], strides: [[1, columns]])
        return ONNXTensor(shape: [columns, rows], storage: tensor.storage.gathered(by: loop))
    }

    /// `A * B` for row-major `A` `[m, k]` and `B` `[k, n]`.
    static func multiplied<T: ONNXNumber>(_ a: [T], _ b: [T], _ m: Int, _ k: Int, _ n: Int) -> [T] {
        var result = [T](repeating: T.zero, count: m * n)
        a.withUnsafeBufferPointer { a in
            b.withUnsafeBufferPointer { b in
                result.withUnsafeMutableBufferPointer { c in
                    guard let a = a.baseAddress, let b = b.baseAddress, let c = c.baseAddress else { return }
                    multiply(a, b, c, m, k, n)
                }
            }
        }
        return result
    }

    /// Adds `A * B` into `C`: `A` is `[m, k]`, `B` `[k, n]`, `C` `[m, n]`, all row-major and contiguous.
    ///
    /// The loops run i-k-j: each `A[i, p]` scales row `p` of B into row `i` of C, so the inner loop walks
    /// B and C contiguously and vectorizes. Rows of C are done four at a time so each loaded row of B
    /// serves four rows. Every `C[i, j]` sums its products in order of `p`, in T (float stays float,
    /// as in onnxruntime).
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    static func multiply<T: ONNXNumber>(
        _ a: UnsafePointer<T>, _ b: UnsafePointer<T>, _ c: UnsafeMutablePointer<T>, _ m: Int, _ k: Int, _ n: Int
    ) {
        var i = 0
        while i + 4 <= m {
            let c0 = c + i * n
            let c1 = c0 + n
            let c2 = c1 + n
            let c3 = c2 + n
            let a0 = a + i * k
            for p in 0..<k {
                let x0 = a0[p]
                let x1 = a0[k + p]
                let x2 = a0[2 * k + p]
                let x3 = a0[3 * k + p]
                let row = b + p * n
                for j in 0..<n {
                    let y = row[j]
                    c0[j] = T.add(c0[j], T.multiply(x0, y))
                    c1[j] = T.add(c1[j], T.multiply(x1, y))
                    c2[j] = T.add(c2[j], T.multiply(x2, y))
                    c3[j] = T.add(c3[j], T.multiply(x3, y))
                }
            }
            i += 4
        }
        while i < m {
            let c0 = c + i * n
            let a0 = a + i * k
            for p in 0..<k {
                let x0 = a0[p]
                let row = b + p * n
                for j in 0..<n { c0[j] = T.add(c0[j], T.multiply(x0, row[j])) }
            }
            i += 1
        }
    }

    // MARK: MatMul

    /// numpy's matmul: a 1-D A is a row `[1, K]` and a 1-D B a column `[K, 1]` (the added dimension is
    /// dropped from the result); dimensions before the last two are batch dimensions and broadcast.
    static let matMul: ONNXKernelFactory = { _ throws(SlipwayError) in
        ClosureKernel { inputs throws(SlipwayError) in
            let a = try inputs.tensor(0)
            let b = try inputs.tensor(1)
            guard a.rank >= 1, b.rank >= 1 else {
                throw ONNXRunError.input("needs tensors of rank 1 or more, got shapes \(a.shape) and \(b.shape)")
            }
            let aShape = a.rank == 1 ? [1] + a.shape : a.shape
            let bShape = b.rank == 1 ? b.shape + [1] : b.shape
            let (m, k) = (aShape[aShape.count - 2], aShape[aShape.count - 1])
            let (kB, n) = (bShape[bShape.count - 2], bShape[bShape.count - 1])
            guard k == kB else {
                throw ONNXRunError.input(
                    "shapes \(a.shape) and \(b.shape) do not multiply: \(k) columns against \(kB) rows")
            }
            let batchA = Array(aShape.dropLast(2))
            let batchB = Array(bShape.dropLast(2))
            let batch = try Broadcast.shape([batchA, batchB])
            var shape = batch + [m, n]
            let count = try ONNXShape.outputCount(shape)
            if b.rank == 1 { shape.removeLast() }
            if a.rank == 1 { shape.remove(at: shape.count - (b.rank == 1 ? 1 : 2)) }

            func product<T: ONNXNumber>(_ x: [T], _ y: [T]) throws(SlipwayError) -> [T] {
                // B without batch dimensions: A's batches are just more rows.
                if batchB.isEmpty { return multiplied(x, y, try ONNXShape.product(batchA + [m]), k, n) }
                var result = [T](repeating: T.zero, count: count)
                guard count > 0 else { return result }
                let loop = StridedLoop(
                    dims: batch,
                    strides: [
                        try Broadcast.strides(of: batchA, in: batch).map { $0 * m * k },
                        try Broadcast.strides(of: batchB, in: batch).map { $0 * k * n },
                    ])
                let (strideA, strideB) = (loop.innerStride(0), loop.innerStride(1))
                x.withUnsafeBufferPointer { x in
                    y.withUnsafeBufferPointer { y in
                        result.withUnsafeMutableBufferPointer { c in
                            guard let x = x.baseAddress, let y = y.baseAddress, let c = c.baseAddress else { return }
                            loop.forEachRun { position, offsets in
                                for step in 0..<loop.innerLength {
                                    multiply(
                                        x + offsets[0] + step * strideA, y + offsets[1] + step * strideB,
                                        c + (position + step) * m * n, m, k, n)
                                }
                            }
                        }
                    }
                }
                return result
            }
            let storage: ONNXTensor.Storage
            switch (a.storage, b.storage) {
            case (.float(let x), .float(let y)): storage = .float(try product(x, y))
            case (.double(let x), .double(let y)): storage = .double(try product(x, y))
            case (.int64(let x), .int64(let y)): storage = .int64(try product(x, y))
            case (.int32(let x), .int32(let y)): storage = .int32(try product(x, y))
            default:
                throw ONNXRunError.input(
                    "needs two tensors of the same numeric type (float, double, int32 or int64), got \(typeList(a, b))")
            }
            return [.tensor(ONNXTensor(shape: shape, storage: storage))]
        }
    }
}
