import Foundation
import SlipwayCore

extension ONNXOperators {
    /// Shape and indexing operators: Reshape, Flatten, Squeeze, Unsqueeze, Concat, Gather, Slice, Shape,
    /// Transpose, Identity, Constant, Cast, Where.
    static let tensorKernels: [String: ONNXKernelFactory] = [
        "ai.onnx:Identity": TensorKernels.identity,
        "ai.onnx:Constant": TensorKernels.constant,
        "ai.onnx:Cast": TensorKernels.cast,
        "ai.onnx:Shape": TensorKernels.shape,
        "ai.onnx:Reshape": TensorKernels.reshape,
        "ai.onnx:Flatten": TensorKernels.flatten,
        "ai.onnx:Squeeze": TensorKernels.squeeze,
        "ai.onnx:Unsqueeze": TensorKernels.unsqueeze,
        "ai.onnx:Concat": TensorKernels.concat,
        "ai.onnx:Gather": TensorKernels.gather,
        "ai.onnx:Slice": TensorKernels.slice,
        "ai.onnx:Transpose": TensorKernels.transpose,
        "ai.onnx:Where": TensorKernels.where,
    ]
}

/// Where an integer list such as Squeeze's `axes` or Slice's `starts` comes from: an attribute before the
/// opset that made it an input; from then on the input, read at load time when it is a constant.
private enum IntegerList: Sendable {
    /// Known at load time; nil when the attribute or optional input is absent.
    case fixed([Int]?)
    /// The node's input at this position, read on every run.
    case input(Int)

    init(_ context: ONNXNodeContext, attribute name: String, input: Int, inputFromOpset opset: Int) throws(SlipwayError)
    {
        if context.opset < opset {
            self = .fixed(context.ints(name).map { $0.map { Int(clamping: $0) } })
        } else if input < context.constantInputs.count, let constant = context.constantInputs[input] {
            do throws(SlipwayError) {
                self = .fixed(try ONNXShape.integers(constant, name: name))
            } catch {
                throw context.invalid(error.message)
            }
        } else {
            self = .input(input)
        }
    }

    func values(_ inputs: [ONNXValue?], name: String) throws(SlipwayError) -> [Int]? {
        switch self {
        case .fixed(let values): return values
        case .input(let index):
            guard let tensor = try inputs.optionalTensor(index) else { return nil }
            return try ONNXShape.integers(tensor, name: name)
        }
    }
}

/// A reordering of a tensor's elements that does not depend on their type (Gather's blocks).
private protocol ElementShuffle {
    func callAsFunction<T>(_ values: [T]) -> [T]
}

extension ONNXTensor.Storage {
    fileprivate func shuffled(_ shuffle: some ElementShuffle) -> ONNXTensor.Storage {
        switch self {
        case .float(let values): .float(shuffle(values))
        case .double(let values): .double(shuffle(values))
        case .int64(let values): .int64(shuffle(values))
        case .int32(let values): .int32(shuffle(values))
        case .bool(let values): .bool(shuffle(values))
        case .string(let values): .string(shuffle(values))
        }
    }
}

private enum TensorKernels {
    // MARK: Identity, Constant, Shape

    /// Passes its input through unchanged (any tensor, and from opset 14 sequences too).
    static let identity: ONNXKernelFactory = { _ throws(SlipwayError) in
        ClosureKernel { inputs throws(SlipwayError) in
            guard let value = inputs.first ?? nil else { throw ONNXRunError.missingInput(0) }
            return [value]
        }
    }

    /// The tensor in whichever one of `value`, `value_float(s)`, `value_int(s)` or `value_string(s)` is set.
    static let constant: ONNXKernelFactory = { context throws(SlipwayError) in
        let names = [
            "value", "sparse_value", "value_float", "value_floats", "value_int", "value_ints", "value_string",
            "value_strings",
        ]
        let present = names.filter(context.has)
        guard present.count == 1, let attribute = context.attributes[present[0]] else {
            throw context.invalid(
                "needs exactly one of the attributes value, value_float(s), value_int(s), value_string(s); has "
                    + (present.isEmpty ? "none" : present.joined(separator: ", ")))
        }
        let tensor: ONNXTensor
        switch present[0] {
        case "value":
            guard let value = try context.tensor("value") else {
                throw context.invalid("attribute 'value' is not a tensor")
            }
            tensor = value
        case "sparse_value":
            throw context.invalid("sparse_value is not supported; store the constant as a dense tensor in 'value'")
        case "value_float": tensor = ONNXTensor(shape: [], floats: [attribute.f])
        case "value_floats": tensor = ONNXTensor(shape: [attribute.floats.count], floats: attribute.floats)
        case "value_int": tensor = ONNXTensor(shape: [], int64s: [attribute.i])
        case "value_ints": tensor = ONNXTensor(shape: [attribute.ints.count], int64s: attribute.ints)
        case "value_string": tensor = ONNXTensor(shape: [], strings: [String(decoding: attribute.s, as: UTF8.self)])
        default:
            let strings = attribute.strings.map { String(decoding: $0, as: UTF8.self) }
            tensor = ONNXTensor(shape: [strings.count], strings: strings)
        }
        return ClosureKernel { _ throws(SlipwayError) in [.tensor(tensor)] }
    }

    /// The input's shape as a 1-D int64 tensor; from opset 15 only dimensions `start ..< end` (negative
    /// values count from the end, both clamped to the rank).
    static let shape: ONNXKernelFactory = { context throws(SlipwayError) in
        let start = context.opset >= 15 ? context.int("start", default: 0) : 0
        let end = context.opset >= 15 ? context.int("end") : nil
        return ClosureKernel { inputs throws(SlipwayError) in
            let shape = try inputs.tensor(0).shape
            let rank = shape.count
            func clamped(_ position: Int) -> Int { min(max(position < 0 ? position + rank : position, 0), rank) }
            let (from, to) = (clamped(start), clamped(end ?? rank))
            let dims = from < to ? shape[from..<to].map { Int64($0) } : []
            return [.tensor(ONNXTensor(shape: [dims.count], int64s: dims))]
        }
    }

    // MARK: Cast

    /// Converts to the element type `to`: floats to integers truncate toward zero (NaN and out-of-range
    /// values become the integer minimum, as on x86); integers narrow by wrapping; bool is 0/1 and anything
    /// nonzero (or NaN) is true. Strings parse (`"3.14"`, `"1e-5"`, `"INF"`, `"NaN"`, case-insensitive;
    /// `"100.5"` to an integer gives 100; `"true"`/`"false"` to bool), and numbers format like numpy's
    /// `str` (the ONNX reference): shortest round-trip digits, `"True"`/`"False"` for bools.
    static let cast: ONNXKernelFactory = { context throws(SlipwayError) in
        guard let to = context.int("to") else { throw context.invalid("has no 'to' attribute") }
        guard let type = ONNXElementType(rawValue: to) else {
            throw context.invalid(
                "casts to \(ONNXElementType.protoName(to)); Slipway computes with float, double, int32, int64, bool "
                    + "and string tensors")
        }
        return ClosureKernel { inputs throws(SlipwayError) in
            let x = try inputs.tensor(0)
            return [.tensor(ONNXTensor(shape: x.shape, storage: try Conversion.cast(x.storage, to: type)))]
        }
    }

    // MARK: Reshape, Flatten, Squeeze, Unsqueeze

    /// `shape` (an int64 input) gives the new dimensions: -1 (at most once) is inferred from the element
    /// count, and 0 copies the input's dimension at that position unless `allowzero` (opset 14) is set.
    static let reshape: ONNXKernelFactory = { context throws(SlipwayError) in
        let allowZero = context.opset >= 14 && context.int("allowzero", default: 0) != 0
        var target: [Int]?
        if context.constantInputs.count > 1, let constant = context.constantInputs[1] {
            do throws(SlipwayError) {
                let dims = try ONNXShape.integers(constant, name: "shape")
                try checkTarget(dims, allowZero: allowZero)
                target = dims
            } catch {
                throw context.invalid(error.message)
            }
        }
        return ClosureKernel { [target] inputs throws(SlipwayError) in
            let x = try inputs.tensor(0)
            let dims: [Int]
            if let target {
                dims = target
            } else {
                dims = try ONNXShape.integers(try inputs.tensor(1), name: "shape")
                try checkTarget(dims, allowZero: allowZero)
            }
            return [.tensor(x.reshaped(try resolve(dims, for: x, allowZero: allowZero)))]
        }
    }

    /// Rules on the shape input that do not depend on the data.
    private static func checkTarget(_ dims: [Int], allowZero: Bool) throws(SlipwayError) {
        if let bad = dims.first(where: { $0 < -1 }) {
            throw ONNXRunError.input("shape \(dims) has the dimension \(bad); only -1 (inferred) may be negative")
        }
        guard dims.count(where: { $0 == -1 }) <= 1 else {
            throw ONNXRunError.input("shape \(dims) has more than one -1; only one dimension can be inferred")
        }
        if allowZero, dims.contains(0), dims.contains(-1) {
            throw ONNXRunError.input("shape \(dims) has both 0 and -1, which allowzero=1 forbids")
        }
    }

    private static func resolve(_ target: [Int], for x: ONNXTensor, allowZero: Bool) throws(SlipwayError) -> [Int] {
        var dims = target
        for (index, dim) in target.enumerated() where dim == 0 && !allowZero {
            guard index < x.rank else {
                throw ONNXRunError.input(
                    "shape \(target) copies dimension \(index) (the 0), which the input of shape \(x.shape) does not have"
                )
            }
            dims[index] = x.shape[index]
        }
        // The product of the nonzero dimensions must fit, even for an empty result, so strides never overflow.
        let known = try ONNXShape.product(dims.filter { $0 != 0 && $0 != -1 })
        if let inferred = dims.firstIndex(of: -1) {
            guard known > 0, !dims.contains(0), x.count % known == 0 else {
                throw ONNXRunError.input(
                    "cannot reshape \(x.shape) (\(x.count) elements) to \(target): no size for the -1 makes the counts match"
                )
            }
            dims[inferred] = x.count / known
        }
        let total = try ONNXShape.product(dims)
        guard total == x.count else {
            throw ONNXRunError.input("cannot reshape \(x.shape) (\(x.count) elements) to \(target) (\(total) elements)")
        }
        return dims
    }

    /// A 2-D view: dimensions before `axis` (default 1; negative from opset 11) become the rows.
    static let flatten: ONNXKernelFactory = { context throws(SlipwayError) in
        let axis = context.int("axis", default: 1)
        return ClosureKernel { inputs throws(SlipwayError) in
            let x = try inputs.tensor(0)
            let split = try ONNXShape.axis(axis, rank: x.rank, shape: x.shape, inclusive: true)
            let rows = try ONNXShape.product(x.shape[..<split])
            let columns = try ONNXShape.product(x.shape[split...])
            return [.tensor(x.reshaped([rows, columns]))]
        }
    }

    /// Removes the listed size-1 axes (an attribute before opset 13, then an optional input), or every
    /// size-1 axis when none are listed.
    static let squeeze: ONNXKernelFactory = { context throws(SlipwayError) in
        let axes = try IntegerList(context, attribute: "axes", input: 1, inputFromOpset: 13)
        return ClosureKernel { inputs throws(SlipwayError) in
            let x = try inputs.tensor(0)
            let listed = try axes.values(inputs, name: "axes") ?? []
            if listed.isEmpty { return [.tensor(x.reshaped(x.shape.filter { $0 != 1 }))] }
            let removed = try ONNXShape.axes(listed, rank: x.rank, shape: x.shape)
            for axis in removed where x.shape[axis] != 1 {
                throw ONNXRunError.input(
                    "cannot squeeze axis \(axis) of shape \(x.shape): its size is \(x.shape[axis]), not 1")
            }
            return [.tensor(x.reshaped(x.shape.indices.filter { !removed.contains($0) }.map { x.shape[$0] }))]
        }
    }

    /// Inserts size-1 axes at the listed positions of the output (an attribute before opset 13, then a
    /// required input); negative positions count from the end of the output.
    static let unsqueeze: ONNXKernelFactory = { context throws(SlipwayError) in
        let axes = try IntegerList(context, attribute: "axes", input: 1, inputFromOpset: 13)
        if case .fixed(nil) = axes { throw context.invalid("has no 'axes'; Unsqueeze needs the positions to insert") }
        if context.opset >= 13, context.inputCount < 2 {
            throw context.invalid("has no axes input; Unsqueeze needs the positions to insert")
        }
        return ClosureKernel { inputs throws(SlipwayError) in
            let x = try inputs.tensor(0)
            guard let listed = try axes.values(inputs, name: "axes") else { throw ONNXRunError.missingInput(1) }
            let rank = x.rank + listed.count
            let inserted = try ONNXShape.axes(listed, rank: rank, shape: x.shape)
            var remaining = x.shape.makeIterator()
            let shape = (0..<rank).map { inserted.contains($0) ? 1 : remaining.next()! }
            return [.tensor(x.reshaped(shape))]
        }
    }

    // MARK: Concat, Gather, Slice, Transpose

    /// Joins tensors of one type along `axis` (required; negative from opset 11); every other dimension
    /// must match.
    static let concat: ONNXKernelFactory = { context throws(SlipwayError) in
        guard let axis = context.int("axis") else { throw context.invalid("has no 'axis' attribute") }
        return ClosureKernel { inputs throws(SlipwayError) in
            guard !inputs.isEmpty else { throw ONNXRunError.missingInput(0) }
            var tensors: [ONNXTensor] = []
            for index in inputs.indices { tensors.append(try inputs.tensor(index)) }
            let first = tensors[0]
            let joined = try ONNXShape.axis(axis, rank: first.rank, shape: first.shape)
            var shape = first.shape
            shape[joined] = 0
            for tensor in tensors {
                guard tensor.elementType == first.elementType else {
                    throw ONNXRunError.input(
                        "needs tensors of one type, got \(tensors.map { "\($0.elementType)" }.joined(separator: ", "))")
                }
                guard tensor.rank == first.rank,
                    tensor.shape.indices.allSatisfy({ $0 == joined || tensor.shape[$0] == first.shape[$0] })
                else {
                    throw ONNXRunError.input(
                        "cannot join shapes \(tensors.map { "\($0.shape)" }.joined(separator: ", ")) along axis \(joined): "
                            + "all other dimensions must match")
                }
                let (sum, overflow) = shape[joined].addingReportingOverflow(tensor.shape[joined])
                guard !overflow else { throw ONNXRunError.input("the joined dimension \(joined) overflows") }
                shape[joined] = sum
            }
            let count = try ONNXShape.outputCount(shape)
            let outer = try ONNXShape.product(shape[..<joined])
            let blocks = try tensors.map { tensor throws(SlipwayError) in try ONNXShape.product(tensor.shape[joined...])
            }
            func join<T: ONNXElement>(_ type: T.Type) -> ONNXTensor.Storage {
                let arrays = tensors.map { T.values($0.storage)! }
                var result: [T] = []
                result.reserveCapacity(count)
                for o in 0..<outer {
                    for (values, block) in zip(arrays, blocks) {
                        result.append(contentsOf: values[(o * block)..<((o + 1) * block)])
                    }
                }
                return T.storage(result)
            }
            let storage: ONNXTensor.Storage
            switch first.elementType {
            case .float: storage = join(Float.self)
            case .double: storage = join(Double.self)
            case .int64: storage = join(Int64.self)
            case .int32: storage = join(Int32.self)
            case .bool: storage = join(Bool.self)
            case .string: storage = join(String.self)
            }
            return [.tensor(ONNXTensor(shape: shape, storage: storage))]
        }
    }

    /// Copies `inner`-element blocks of a tensor seen as `[outer, length, inner]`, picking the middle index.
    private struct GatherBlocks: ElementShuffle {
        let indexes: [Int]
        let outer: Int
        let length: Int
        let inner: Int

        func callAsFunction<T>(_ values: [T]) -> [T] {
            var result: [T] = []
            result.reserveCapacity(outer * indexes.count * inner)
            for o in 0..<outer {
                for index in indexes {
                    let start = (o * length + index) * inner
                    result.append(contentsOf: values[start..<(start + inner)])
                }
            }
            return result
        }
    }

    /// Picks entries along `axis` (default 0) by int32/int64 indices (negative count from the end); the
    /// indices' shape replaces that axis.
    static let gather: ONNXKernelFactory = { context throws(SlipwayError) in
        let axis = context.int("axis", default: 0)
        return ClosureKernel { inputs throws(SlipwayError) in
            let data = try inputs.tensor(0)
            let indices = try inputs.tensor(1)
            let picked = try ONNXShape.axis(axis, rank: data.rank, shape: data.shape)
            let length = data.shape[picked]
            let raw: [Int]
            switch indices.storage {
            case .int64(let values): raw = values.map { Int(clamping: $0) }
            case .int32(let values): raw = values.map { Int($0) }
            default: throw ONNXRunError.input("indices must be int64 or int32, got \(indices.elementType)")
            }
            var indexes: [Int] = []
            indexes.reserveCapacity(raw.count)
            for index in raw {
                guard index >= -length, index < length else {
                    throw ONNXRunError.input(
                        "index \(index) is out of range for axis \(picked) of shape \(data.shape) (valid: \(-length)..<\(length))"
                    )
                }
                indexes.append(index < 0 ? index + length : index)
            }
            let shape = Array(data.shape[..<picked]) + indices.shape + Array(data.shape[(picked + 1)...])
            _ = try ONNXShape.outputCount(shape)
            let blocks = GatherBlocks(
                indexes: indexes, outer: try ONNXShape.product(data.shape[..<picked]), length: length,
                inner: try ONNXShape.product(data.shape[(picked + 1)...]))
            return [.tensor(ONNXTensor(shape: shape, storage: data.storage.shuffled(blocks)))]
        }
    }

    /// `starts`/`ends` (and optional `axes`, default all; `steps`, default 1) select a strided range per
    /// axis: attributes before opset 10 (no steps), inputs from 10. Negative starts and ends count from
    /// the end; then, stepping forward, both clamp to `0...dim`; stepping backward, start clamps to
    /// `0...dim-1` and end to `-1...dim-1`.
    static let slice: ONNXKernelFactory = { context throws(SlipwayError) in
        let starts = try IntegerList(context, attribute: "starts", input: 1, inputFromOpset: 10)
        let ends = try IntegerList(context, attribute: "ends", input: 2, inputFromOpset: 10)
        let axes = try IntegerList(context, attribute: "axes", input: 3, inputFromOpset: 10)
        let steps: IntegerList =
            context.opset < 10
            ? .fixed(nil) : try IntegerList(context, attribute: "steps", input: 4, inputFromOpset: 10)
        if case .fixed(nil) = starts { throw context.invalid("has no 'starts'") }
        if case .fixed(nil) = ends { throw context.invalid("has no 'ends'") }
        if context.opset >= 10, context.inputCount < 3 {
            throw context.invalid("needs the inputs data, starts and ends")
        }
        return ClosureKernel { inputs throws(SlipwayError) in
            let x = try inputs.tensor(0)
            guard let starts = try starts.values(inputs, name: "starts") else { throw ONNXRunError.missingInput(1) }
            guard let ends = try ends.values(inputs, name: "ends") else { throw ONNXRunError.missingInput(2) }
            let axes = try axes.values(inputs, name: "axes") ?? Array(0..<starts.count)
            let steps = try steps.values(inputs, name: "steps") ?? [Int](repeating: 1, count: starts.count)
            guard ends.count == starts.count, axes.count == starts.count, steps.count == starts.count else {
                throw ONNXRunError.input(
                    "starts, ends, axes and steps must have one entry each per sliced axis, got \(starts.count), "
                        + "\(ends.count), \(axes.count) and \(steps.count)")
            }
            let sliced = try ONNXShape.axes(axes, rank: x.rank, shape: x.shape)
            var first = [Int](repeating: 0, count: x.rank)
            var lengths = x.shape
            var stepPerAxis = [Int](repeating: 1, count: x.rank)
            for (position, axis) in sliced.enumerated() {
                guard steps[position] != 0 else { throw ONNXRunError.input("steps must not be 0 (axis \(axis))") }
                let dim = x.shape[axis]
                // A step longer than the axis takes one element either way; capping it keeps offsets small.
                let step = max(min(steps[position], max(dim, 1)), -max(dim, 1))
                var start = starts[position] < 0 ? starts[position] + dim : starts[position]
                var end = ends[position] < 0 ? ends[position] + dim : ends[position]
                let length: Int
                if step > 0 {
                    start = min(max(start, 0), dim)
                    end = min(max(end, 0), dim)
                    length = end > start ? (end - start - 1) / step + 1 : 0
                } else {
                    start = min(max(start, 0), dim - 1)
                    end = min(max(end, -1), dim - 1)
                    length = dim > 0 && start > end ? (start - end - 1) / -step + 1 : 0
                }
                first[axis] = length > 0 ? start : 0
                lengths[axis] = length
                stepPerAxis[axis] = step
            }
            let strides = try ONNXShape.strides(x.shape)
            let base = lengths.contains(0) ? 0 : zip(first, strides).reduce(0) { $0 + $1.0 * $1.1 }
            let loop = StridedLoop(dims: lengths, strides: [zip(strides, stepPerAxis).map { $0 * $1 }], bases: [base])
            return [.tensor(ONNXTensor(shape: lengths, storage: x.storage.gathered(by: loop)))]
        }
    }

    /// Permutes the axes by `perm` (default: reversed).
    static let transpose: ONNXKernelFactory = { context throws(SlipwayError) in
        let perm = context.ints("perm").map { $0.map { Int(clamping: $0) } }
        if let perm, perm.sorted() != Array(0..<perm.count) {
            throw context.invalid("perm \(perm) is not a permutation of 0..<\(perm.count)")
        }
        return ClosureKernel { inputs throws(SlipwayError) in
            let x = try inputs.tensor(0)
            let order = perm ?? Array((0..<x.rank).reversed())
            guard order.count == x.rank else {
                throw ONNXRunError.input(
                    "perm \(order) has \(order.count) entries, the input of shape \(x.shape) has rank \(x.rank)")
            }
            let strides = try ONNXShape.strides(x.shape)
            let shape = order.map { x.shape[$0] }
            let loop = StridedLoop(dims: shape, strides: [order.map { strides[$0] }])
            return [.tensor(ONNXTensor(shape: shape, storage: x.storage.gathered(by: loop)))]
        }
    }

    // MARK: Where

    /// `condition ? X : Y` elementwise, all three broadcast together; X and Y share a type.
    static let `where`: ONNXKernelFactory = { _ throws(SlipwayError) in
        ClosureKernel { inputs throws(SlipwayError) in
            let condition = try inputs.tensor(0)
            let x = try inputs.tensor(1)
            let y = try inputs.tensor(2)
            guard case .bool(let c) = condition.storage else {
                throw ONNXRunError.input("condition must be a bool tensor, got \(condition.elementType)")
            }
            func select<T: ONNXElement>(_ a: [T], _ b: [T]) throws(SlipwayError) -> ONNXTensor {
                let selected = try Broadcast.map(c, condition.shape, a, x.shape, b, y.shape) { $0 ? $1 : $2 }
                return selected.tensor
            }
            switch (x.storage, y.storage) {
            case (.float(let a), .float(let b)): return [.tensor(try select(a, b))]
            case (.double(let a), .double(let b)): return [.tensor(try select(a, b))]
            case (.int64(let a), .int64(let b)): return [.tensor(try select(a, b))]
            case (.int32(let a), .int32(let b)): return [.tensor(try select(a, b))]
            case (.bool(let a), .bool(let b)): return [.tensor(try select(a, b))]
            case (.string(let a), .string(let b)): return [.tensor(try select(a, b))]
            default:
                throw ONNXRunError.input("X and Y must have the same type, got \(x.elementType) and \(y.elementType)")
            }
        }
    }
}

// MARK: - Cast conversions

private enum Conversion {
    static func cast(_ storage: ONNXTensor.Storage, to type: ONNXElementType) throws(SlipwayError) -> ONNXTensor.Storage
    {
        if storage.elementType == type { return storage }
        switch type {
        case .float: return .float(try floating(storage))
        case .double: return .double(try floating(storage))
        case .int64: return .int64(try integer(storage))
        case .int32: return .int32(try integer(storage))
        case .bool: return .bool(try boolean(storage))
        case .string: return .string(string(storage))
        }
    }

    private static func floating<F: ONNXFloat & LosslessStringConvertible>(_ storage: ONNXTensor.Storage)
        throws(SlipwayError) -> [F]
    {
        switch storage {
        case .float(let values): return values.map { F($0) }
        case .double(let values): return values.map { F.converted(from: $0) }
        case .int64(let values): return values.map { F($0) }
        case .int32(let values): return values.map { F($0) }
        case .bool(let values): return values.map { $0 ? 1 : 0 }
        case .string(let values):
            var result: [F] = []
            result.reserveCapacity(values.count)
            for text in values {
                guard let value = F(text.trimmingCharacters(in: .whitespaces)) else {
                    throw unparseable(text, F.elementType)
                }
                result.append(value)
            }
            return result
        }
    }

    private static func integer<I: ONNXInteger>(_ storage: ONNXTensor.Storage) throws(SlipwayError) -> [I] {
        switch storage {
        case .float(let values): return values.map { I.converted(from: Double($0)) }
        case .double(let values): return values.map { I.converted(from: $0) }
        case .int64(let values): return values.map { I(truncatingIfNeeded: $0) }
        case .int32(let values): return values.map { I(truncatingIfNeeded: $0) }
        case .bool(let values): return values.map { $0 ? 1 : 0 }
        case .string(let values):
            var result: [I] = []
            result.reserveCapacity(values.count)
            for text in values {
                let trimmed = text.trimmingCharacters(in: .whitespaces)
                if let exact = I(trimmed) {
                    result.append(exact)
                } else if let value = Double(trimmed) {
                    result.append(I.converted(from: value))
                } else {
                    throw unparseable(text, I.elementType)
                }
            }
            return result
        }
    }

    private static func boolean(_ storage: ONNXTensor.Storage) throws(SlipwayError) -> [Bool] {
        switch storage {
        case .float(let values): return values.map { $0 != 0 }
        case .double(let values): return values.map { $0 != 0 }
        case .int64(let values): return values.map { $0 != 0 }
        case .int32(let values): return values.map { $0 != 0 }
        case .bool(let values): return values
        case .string(let values):
            var result: [Bool] = []
            result.reserveCapacity(values.count)
            for text in values {
                let trimmed = text.trimmingCharacters(in: .whitespaces)
                switch trimmed.lowercased() {
                case "true": result.append(true)
                case "false": result.append(false)
                default:
                    guard let value = Double(trimmed) else { throw unparseable(text, .bool) }
                    result.append(value != 0)
                }
            }
            return result
        }
    }

    private static func string(_ storage: ONNXTensor.Storage) -> [String] {
        switch storage {
        case .float(let values): values.map { numpyString($0, positionalBelow: 1e6) }
        case .double(let values): values.map { numpyString($0, positionalBelow: 1e16) }
        case .int64(let values): values.map(String.init)
        case .int32(let values): values.map(String.init)
        case .bool(let values): values.map { $0 ? "True" : "False" }
        case .string(let values): values
        }
    }

    private static func unparseable(_ text: String, _ type: ONNXElementType) -> SlipwayError {
        let shown = text.count > 40 ? text.prefix(40) + "…" : Substring(text)
        return ONNXRunError.input("cannot cast the string '\(shown)' to \(type)")
    }

    /// numpy's `str` of a float, which the ONNX reference's Cast uses: the shortest digits that read back
    /// as the same value, written positionally when `1e-4 <= |x| < limit` (1e16 for double, 1e6 for
    /// float) and in scientific notation otherwise: `0.1`, `100.0`, `1e-05`, `1.2345679e+08`, `inf`, `nan`.
    static func numpyString<F: BinaryFloatingPoint & CustomStringConvertible>(_ value: F, positionalBelow limit: Double)
        -> String
    {
        if value.isNaN { return "nan" }
        if value.isInfinite { return value < 0 ? "-inf" : "inf" }
        if value == 0 { return value.sign == .minus ? "-0.0" : "0.0" }
        // Swift's description also prints the shortest round-trip digits; take them and the exponent apart.
        let text = value.magnitude.description
        let mantissa: Substring
        var exponent = 0
        if let e = text.firstIndex(where: { $0 == "e" || $0 == "E" }) {
            mantissa = text[..<e]
            exponent = Int(text[text.index(after: e)...]) ?? 0
        } else {
            mantissa = text[...]
        }
        let parts = mantissa.split(separator: ".", omittingEmptySubsequences: false)
        let whole = parts[0]
        var digits = Array(whole + (parts.count > 1 ? parts[1] : ""))
        exponent += whole.count - 1  // value = d0.d1d2… × 10^exponent
        while digits.count > 1, digits.first == "0" {
            digits.removeFirst()
            exponent -= 1
        }
        while digits.count > 1, digits.last == "0" { digits.removeLast() }
        let sign = value < 0 ? "-" : ""
        let magnitude = Double(value.magnitude)
        if magnitude >= 1e-4, magnitude < limit {
            if exponent >= 0 {
                let integerDigits =
                    digits.count > exponent + 1
                    ? Array(digits[...exponent]) : digits + Array(repeating: "0", count: exponent + 1 - digits.count)
                let fraction = digits.count > exponent + 1 ? String(digits[(exponent + 1)...]) : "0"
                return sign + String(integerDigits) + "." + fraction
            }
            return sign + "0." + String(repeating: "0", count: -exponent - 1) + String(digits)
        }
        let head = digits.count > 1 ? "\(digits[0])." + String(digits[1...]) : String(digits[0])
        let power = abs(exponent)
        return sign + head + "e" + (exponent < 0 ? "-" : "+") + (power < 10 ? "0" : "") + String(power)
    }
}
