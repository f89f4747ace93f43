import Foundation
import SlipwayCore
import Testing

@testable import SlipwayRuntime

/// The ai.onnx tensor and math kernels on the cases that are easy to get wrong: broadcasting, negative
/// axes, Slice clamping, Reshape's 0 and -1, Gemm's attributes, behaviour that changed between opsets,
/// and hostile shapes that must fail with a message rather than trap.
@Suite("ONNX tensor and math operators")
struct ONNXOperatorTests {
    /// An attribute value, written the short way.
    enum Attribute {
        case int(Int64)
        case ints([Int64])
        case float(Float)
        case floats([Float])
        case string(String)
        case strings([String])

        var proto: Onnx_AttributeProto {
            var proto = Onnx_AttributeProto()
            switch self {
            case .int(let value): proto.i = value
            case .ints(let values): proto.ints = values
            case .float(let value): proto.f = value
            case .floats(let values): proto.floats = values
            case .string(let value): proto.s = Data(value.utf8)
            case .strings(let values): proto.strings = values.map { Data($0.utf8) }
            }
            return proto
        }
    }

    /// Builds the kernel for `op` as the graph would (inputs listed in `constants` are initializers),
    /// then runs it on `inputs`.
    static func run(
        _ op: String, opset: Int = 17, _ inputs: [ONNXTensor?], _ attributes: [String: Attribute] = [:],
        constants: Set<Int> = []
    ) throws(SlipwayError) -> [ONNXTensor] {
        let kernel = try build(op, opset: opset, inputs, attributes, constants: constants)
        return try kernel.run(inputs.map { $0.map(ONNXValue.tensor) }).map { $0.tensor! }
    }

    static func build(
        _ op: String, opset: Int = 17, _ inputs: [ONNXTensor?] = [], _ attributes: [String: Attribute] = [:],
        constants: Set<Int> = []
    ) throws(SlipwayError) -> any ONNXKernel {
        let context = ONNXNodeContext(
            opType: op, domain: "", name: "n", opset: opset, inputCount: inputs.count, outputCount: 1,
            constantInputs: inputs.indices.map { constants.contains($0) ? inputs[$0] : nil },
            attributes: attributes.mapValues(\.proto))
        guard let factory = ONNXOperatorSet.kernels["ai.onnx:\(op)"] else {
            throw .internal("no kernel for \(op)")
        }
        return try factory(context)
    }

    /// The single output of `op`.
    static func output(
        _ op: String, opset: Int = 17, _ inputs: [ONNXTensor?], _ attributes: [String: Attribute] = [:],
        constants: Set<Int> = []
    ) throws(SlipwayError) -> ONNXTensor {
        try run(op, opset: opset, inputs, attributes, constants: constants)[0]
    }

    static func floats(_ shape: [Int], _ values: [Float]) -> ONNXTensor { ONNXTensor(shape: shape, floats: values) }
    static func int64s(_ shape: [Int], _ values: [Int64]) -> ONNXTensor { ONNXTensor(shape: shape, int64s: values) }
    static func ints(_ values: [Int64]) -> ONNXTensor { ONNXTensor(shape: [values.count], int64s: values) }
    static func iota(_ shape: [Int]) -> ONNXTensor {
        floats(shape, (0..<shape.reduce(1, *)).map(Float.init))
    }

    /// Expects a 400 whose message contains every one of `fragments`.
    static func expectInputError(
        _ fragments: String..., sourceLocation: SourceLocation = #_sourceLocation,
        _ body: () throws -> Void
    ) {
        do {
            try body()
            Issue.record("expected an error mentioning \(fragments)", sourceLocation: sourceLocation)
        } catch {
            guard let error = error as? SlipwayError else {
                Issue.record("expected a SlipwayError, got \(error)", sourceLocation: sourceLocation)
                return
            }
            #expect(error.kind == .badRequest, "\(error)", sourceLocation: sourceLocation)
            for fragment in fragments {
                #expect(error.message.contains(fragment), "\(error.message)", sourceLocation: sourceLocation)
            }
        }
    }

    // MARK: Broadcasting and arithmetic

    @Test("Add broadcasts a row, a column and a scalar")
    func addBroadcasts() throws {
        let matrix = Self.iota([2, 3])
        #expect(
            try Self.output("Add", [matrix, Self.floats([3], [10, 20, 30])])
                == Self.floats([2, 3], [10, 21, 32, 13, 24, 35]))
        #expect(
            try Self.output("Add", [Self.floats([2, 1], [100, 200]), Self.floats([1, 3], [1, 2, 3])])
                == Self.floats([2, 3], [101, 102, 103, 201, 202, 203]))
        #expect(try Self.output("Mul", [Self.floats([], [2]), matrix]) == Self.floats([2, 3], [0, 2, 4, 6, 8, 10]))
        // Rank grows to the larger operand's; a size-0 dimension broadcasts against 1.
        #expect(
            try Self.output(
                "Sub", [Self.floats([3, 1, 2], [Float](repeating: 1, count: 6)), Self.floats([2], [1, 1])]
            ).shape == [3, 1, 2])
        #expect(try Self.output("Add", [Self.floats([0, 3], []), Self.floats([1, 3], [1, 2, 3])]).shape == [0, 3])
    }

    @Test("mismatched broadcasts and types fail naming the shapes")
    func broadcastErrors() {
        Self.expectInputError("[2, 3]", "[2]") {
            _ = try Self.output("Add", [Self.iota([2, 3]), Self.floats([2], [1, 2])])
        }
        Self.expectInputError("float and int64") { _ = try Self.output("Mul", [Self.iota([2]), Self.ints([1, 2])]) }
        Self.expectInputError("bool") {
            _ = try Self.output("Where", [Self.iota([1]), Self.iota([1]), Self.iota([1])])
        }
    }

    @Test("integer Div truncates toward zero, wraps on overflow and refuses zero divisors")
    func integerDivision() {
        #expect(throws: Never.self) {
            let quotient = try Self.output("Div", [Self.ints([7, -7, 7, -7, .min]), Self.ints([2, 2, -2, -2, -1])])
            #expect(quotient == Self.ints([3, -3, -3, 3, .min]))
            let int32 = try Self.output(
                "Div", [ONNXTensor(shape: [2], int32s: [-9, 9]), ONNXTensor(shape: [], int32s: [4])])
            #expect(int32 == ONNXTensor(shape: [2], int32s: [-2, 2]))
            #expect(try Self.output("Add", [Self.ints([.max]), Self.ints([1])]) == Self.ints([.min]))
        }
        Self.expectInputError("division by zero") {
            _ = try Self.output("Div", [Self.ints([1, 2]), Self.ints([1, 0])])
        }
    }

    @Test("Where broadcasts condition, X and Y, strings too")
    func whereBroadcasts() throws {
        let condition = ONNXTensor(shape: [2, 1], bools: [true, false])
        let x = ONNXTensor(shape: [3], strings: ["a", "b", "c"])
        let y = ONNXTensor(shape: [], strings: ["-"])
        #expect(
            try Self.output("Where", [condition, x, y])
                == ONNXTensor(shape: [2, 3], strings: ["a", "b", "c", "-", "-", "-"]))
    }

    @Test("comparisons and logic return bools; Equal compares strings")
    func comparisons() throws {
        #expect(
            try Self.output("Less", [Self.ints([1, 5]), Self.ints([3])])
                == ONNXTensor(shape: [2], bools: [true, false]))
        #expect(
            try Self.output("Greater", [Self.floats([2], [.nan, 2]), Self.floats([1], [1])])
                == ONNXTensor(shape: [2], bools: [false, true]))
        let words = ONNXTensor(shape: [2], strings: ["cat", "dog"])
        #expect(
            try Self.output("Equal", opset: 19, [words, ONNXTensor(shape: [1], strings: ["dog"])])
                == ONNXTensor(shape: [2], bools: [false, true]))
        let p = ONNXTensor(shape: [2, 1], bools: [true, false])
        let q = ONNXTensor(shape: [2], bools: [true, false])
        #expect(try Self.output("And", [p, q]) == ONNXTensor(shape: [2, 2], bools: [true, false, false, false]))
        #expect(try Self.output("Or", [p, q]) == ONNXTensor(shape: [2, 2], bools: [true, true, true, false]))
        #expect(try Self.output("Not", [q]) == ONNXTensor(shape: [2], bools: [false, true]))
        Self.expectInputError("numeric") { _ = try Self.output("Less", [words, words]) }
    }

    @Test("unary activations keep shape and type; Abs and Neg wrap integers")
    func unary() throws {
        let x = Self.floats([2, 2], [-2, -0.5, 0, 3])
        #expect(try Self.output("Relu", [x]) == Self.floats([2, 2], [0, 0, 0, 3]))
        let sigmoid = try Self.output("Sigmoid", [Self.floats([3], [0, -100, 100])])
        #expect(sigmoid == Self.floats([3], [0.5, 1 / (1 + exp(100)), 1]))
        #expect(try Self.output("Abs", [Self.ints([-3, .min])]) == Self.ints([3, .min]))
        #expect(
            try Self.output("Neg", [ONNXTensor(shape: [1], int32s: [.min])]) == ONNXTensor(shape: [1], int32s: [.min]))
        #expect(
            try Self.output("Sqrt", [ONNXTensor(shape: [1], doubles: [2])])
                == ONNXTensor(shape: [1], doubles: [Double(2).squareRoot()]))
        Self.expectInputError("float or double") { _ = try Self.output("Exp", [Self.ints([1])]) }
    }

    // MARK: Axes

    @Test("negative axes: Concat, Gather, Flatten, Unsqueeze, ArgMax")
    func negativeAxes() throws {
        let a = Self.iota([2, 2])
        #expect(
            try Self.output("Concat", [a, Self.floats([2, 1], [9, 9])], ["axis": .int(-1)])
                == Self.floats([2, 3], [0, 1, 9, 2, 3, 9]))
        let gathered = try Self.output("Gather", [Self.iota([2, 3]), Self.int64s([2], [-1, 0])], ["axis": .int(-1)])
        #expect(gathered == Self.floats([2, 2], [2, 0, 5, 3]))
        let scalarIndex = try Self.output("Gather", [Self.iota([3, 2]), Self.int64s([], [-2])])
        #expect(scalarIndex == Self.floats([2], [2, 3]))
        #expect(try Self.output("Flatten", [Self.iota([2, 3, 4])], ["axis": .int(-1)]).shape == [6, 4])
        #expect(try Self.output("Flatten", [Self.iota([2, 3, 4])], ["axis": .int(0)]).shape == [1, 24])
        #expect(try Self.output("Unsqueeze", [Self.iota([2, 3]), Self.ints([-1, 0])]).shape == [1, 2, 3, 1])
        #expect(try Self.output("Unsqueeze", opset: 11, [Self.iota([2, 3])], ["axes": .ints([1])]).shape == [2, 1, 3])
        let argMax = try Self.output(
            "ArgMax", [Self.floats([2, 3], [1, 5, 5, 7, 0, 7])], ["axis": .int(-1), "keepdims": .int(0)])
        #expect(argMax == Self.int64s([2], [1, 0]))
        let last = try Self.output(
            "ArgMax", [Self.floats([2, 3], [1, 5, 5, 7, 0, 7])], ["axis": .int(1), "select_last_index": .int(1)])
        #expect(last == Self.int64s([2, 1], [2, 2]))
    }

    @Test("axis errors name the axis and the shape")
    func axisErrors() {
        Self.expectInputError("axis 2", "[2, 2]") {
            _ = try Self.output("Concat", [Self.iota([2, 2])], ["axis": .int(2)])
        }
        Self.expectInputError("index 3", "[3]") { _ = try Self.output("Gather", [Self.iota([3]), Self.ints([3])]) }
        Self.expectInputError("squeeze axis 0", "[2, 1]") {
            _ = try Self.output("Squeeze", [Self.iota([2, 1]), Self.ints([0])])
        }
        Self.expectInputError("twice") { _ = try Self.output("Unsqueeze", [Self.iota([2]), Self.ints([0, -3])]) }
        Self.expectInputError("other dimensions") {
            _ = try Self.output("Concat", [Self.iota([2, 2]), Self.iota([3, 3])], ["axis": .int(0)])
        }
    }

    @Test("Squeeze: listed axes, or every size-1 axis; attribute before opset 13")
    func squeeze() throws {
        let x = Self.iota([1, 3, 1, 2])
        #expect(try Self.output("Squeeze", [x]).shape == [3, 2])
        #expect(try Self.output("Squeeze", [x, Self.ints([-2])]).shape == [1, 3, 2])
        #expect(try Self.output("Squeeze", opset: 11, [x], ["axes": .ints([0])]).shape == [3, 1, 2])
    }

    @Test("Transpose: default reverses; an invalid perm is refused at load")
    func transpose() throws {
        #expect(try Self.output("Transpose", [Self.iota([2, 3])]) == Self.floats([3, 2], [0, 3, 1, 4, 2, 5]))
        let permuted = try Self.output("Transpose", [Self.iota([2, 3, 4])], ["perm": .ints([1, 2, 0])])
        #expect(permuted.shape == [3, 4, 2])
        #expect(permuted.floatValues?.prefix(4) == [0, 12, 1, 13])
        let error = try #require(throws: SlipwayError.self) {
            _ = try Self.build("Transpose", [], ["perm": .ints([0, 0])])
        }
        #expect(error.kind == .unprocessable)
    }

    // MARK: Slice

    @Test("Slice with steps, negative steps and out-of-range bounds")
    func slice() throws {
        let x = Self.iota([10])
        func slice(
            _ starts: [Int64], _ ends: [Int64], axes: [Int64]? = nil, steps: [Int64]? = nil, _ data: ONNXTensor = x
        )
            throws(SlipwayError) -> ONNXTensor
        {
            try Self.output(
                "Slice", [data, Self.ints(starts), Self.ints(ends), axes.map(Self.ints), steps.map(Self.ints)])
        }
        #expect(try slice([1], [8], steps: [3]).floatValues == [1, 4, 7])
        #expect(try slice([-1], [.min], steps: [-1]).floatValues == Array((0..<10).reversed().map(Float.init)))
        #expect(try slice([20], [0], steps: [-4]).floatValues == [9, 5, 1])
        #expect(try slice([-100], [100]).floatValues?.count == 10)
        #expect(try slice([5], [2]).shape == [0])
        #expect(try slice([0], [.max], steps: [.max]).floatValues == [0])
        #expect(try slice([9], [-100], steps: [.min]).floatValues == [9])
        let matrix = Self.iota([3, 4])
        let corner = try slice([1, -2], [.max, .max], axes: [0, -1], matrix)
        #expect(corner == Self.floats([2, 2], [6, 7, 10, 11]))
        Self.expectInputError("0") { _ = try slice([0], [1], steps: [0]) }
        // Opset 9: starts, ends and axes are attributes.
        let legacy = try Self.output(
            "Slice", opset: 9, [matrix], ["starts": .ints([1]), "ends": .ints([2]), "axes": .ints([1])])
        #expect(legacy == Self.floats([3, 1], [1, 5, 9]))
    }

    // MARK: Reshape, Shape, Constant

    @Test("Reshape: 0 copies a dimension, -1 is inferred, allowzero keeps a 0")
    func reshape() throws {
        let x = Self.iota([2, 3, 4])
        #expect(try Self.output("Reshape", [x, Self.ints([0, -1])]).shape == [2, 12])
        #expect(try Self.output("Reshape", [x, Self.ints([-1, 0, 2])], constants: [1]).shape == [4, 3, 2])
        let empty = Self.floats([0, 3], [])
        #expect(try Self.output("Reshape", [empty, Self.ints([3, 0])], ["allowzero": .int(1)]).shape == [3, 0])
        Self.expectInputError("cannot reshape") { _ = try Self.output("Reshape", [empty, Self.ints([3, 0])]) }
        Self.expectInputError("cannot reshape", "[2, 3, 4]") {
            _ = try Self.output("Reshape", [x, Self.ints([5, -1])])
        }
        Self.expectInputError("more than one -1") { _ = try Self.output("Reshape", [x, Self.ints([-1, -1])]) }
        // A constant bad shape is a model error, found at load.
        let error = try #require(throws: SlipwayError.self) {
            _ = try Self.build("Reshape", [x, Self.ints([-2, 12])], constants: [1])
        }
        #expect(error.kind == .unprocessable)
    }

    @Test("Shape with start and end; Constant's attribute forms")
    func shapeAndConstant() throws {
        let x = Self.iota([2, 3, 4])
        #expect(try Self.output("Shape", [x]) == Self.ints([2, 3, 4]))
        #expect(try Self.output("Shape", [x], ["start": .int(-2)]) == Self.ints([3, 4]))
        #expect(try Self.output("Shape", [x], ["start": .int(1), "end": .int(-1)]) == Self.ints([3]))
        #expect(try Self.output("Shape", [x], ["start": .int(5)]) == Self.ints([]))
        #expect(try Self.output("Constant", [], ["value_ints": .ints([1, 2])]) == Self.ints([1, 2]))
        #expect(try Self.output("Constant", [], ["value_float": .float(1.5)]) == Self.floats([], [1.5]))
        #expect(
            try Self.output("Constant", [], ["value_strings": .strings(["a"])])
                == ONNXTensor(shape: [1], strings: ["a"]))
        #expect(throws: SlipwayError.self) {
            _ = try Self.build("Constant", [], ["value_int": .int(1), "value_float": .float(1)])
        }
    }

    // MARK: Gemm, MatMul

    /// Row-major `[m, n]` product of `[m, k]` and `[k, n]`, the slow obvious way.
    static func naiveProduct(_ a: [Float], _ b: [Float], _ m: Int, _ k: Int, _ n: Int) -> [Float] {
        var c = [Float](repeating: 0, count: m * n)
        for i in 0..<m { for j in 0..<n { for p in 0..<k { c[i * n + j] += a[i * k + p] * b[p * n + j] } } }
        return c
    }

    static func transposed(_ values: [Float], _ rows: Int, _ columns: Int) -> [Float] {
        (0..<columns).flatMap { c in (0..<rows).map { r in values[r * columns + c] } }
    }

    @Test("Gemm: transA, transB, alpha, beta, broadcast C, constant and run-time B agree", arguments: [false, true])
    func gemm(constantB: Bool) throws {
        let (m, k, n) = (7, 5, 9)  // 7 rows: one block of four and three single rows
        let a = (0..<(m * k)).map { Float(($0 * 7) % 11) - 5 }
        let b = (0..<(k * n)).map { Float(($0 * 5) % 13) / 4 - 1 }
        let product = Self.naiveProduct(a, b, m, k, n)
        let bias = (0..<n).map { Float($0) }
        let result = try Self.output(
            "Gemm",
            [
                Self.floats([k, m], Self.transposed(a, m, k)), Self.floats([n, k], Self.transposed(b, k, n)),
                Self.floats([n], bias),
            ],
            ["transA": .int(1), "transB": .int(1), "alpha": .float(0.5), "beta": .float(2)],
            constants: constantB ? [1] : [])
        #expect(result.shape == [m, n])
        let expected = (0..<(m * n)).map { 0.5 * product[$0] + 2 * bias[$0 % n] }
        #expect(zip(result.floatValues!, expected).allSatisfy { abs($0 - $1) < 1e-4 })
        // C as a column [m, 1] and as a scalar; no C (opset 11).
        let column = try Self.output(
            "Gemm",
            [Self.floats([m, k], a), Self.floats([k, n], b), Self.floats([m, 1], [Float](repeating: 1, count: m))])
        #expect(zip(column.floatValues!, product).allSatisfy { abs($0 - ($1 + 1)) < 1e-4 })
        let plain = try Self.output(
            "Gemm", [Self.floats([m, k], a), Self.floats([k, n], b), nil], constants: constantB ? [1] : [])
        #expect(plain.floatValues == product)
        Self.expectInputError("[7, 5]", "[9, 5]") {
            _ = try Self.output("Gemm", [Self.floats([m, k], a), Self.floats([n, k], b)])
        }
        Self.expectInputError("C of shape [2]") {
            _ = try Self.output("Gemm", [Self.floats([m, k], a), Self.floats([k, n], b), Self.floats([2], [1, 2])])
        }
    }

    @Test("MatMul: 1-D operands, batches broadcast, integers")
    func matMul() throws {
        let a = Self.iota([2, 3])
        let vector = Self.floats([3], [1, 0, -1])
        #expect(try Self.output("MatMul", [a, vector]) == Self.floats([2], [-2, -2]))
        #expect(try Self.output("MatMul", [Self.floats([2], [1, 1]), a]) == Self.floats([3], [3, 5, 7]))
        #expect(try Self.output("MatMul", [vector, vector]) == Self.floats([], [2]))
        // [2, 1, 2, 3] x [3, 3, 2] -> [2, 3, 2, 2]: batch dimensions broadcast.
        let left = Self.iota([2, 1, 2, 3])
        let right = Self.iota([3, 3, 2])
        let batched = try Self.output("MatMul", [left, right])
        #expect(batched.shape == [2, 3, 2, 2])
        let values = batched.floatValues!
        for i in 0..<2 {
            for j in 0..<3 {
                let expected = Self.naiveProduct(
                    Array(left.floatValues![(i * 6)..<(i * 6 + 6)]), Array(right.floatValues![(j * 6)..<(j * 6 + 6)]),
                    2, 3, 2)
                #expect(Array(values[((i * 3 + j) * 4)..<((i * 3 + j) * 4 + 4)]) == expected)
            }
        }
        let ints = try Self.output(
            "MatMul", [ONNXTensor(shape: [1, 2], int32s: [2, 3]), ONNXTensor(shape: [2, 1], int32s: [4, 5])])
        #expect(ints == ONNXTensor(shape: [1, 1], int32s: [23]))
        #expect(
            try Self.output("MatMul", [Self.floats([2, 0], []), Self.floats([0, 3], [])])
                == Self.floats([2, 3], [Float](repeating: 0, count: 6)))
        Self.expectInputError("[2, 3]", "[2, 3]") { _ = try Self.output("MatMul", [a, a]) }
    }

    // MARK: Softmax

    @Test("Softmax before opset 13 normalizes everything from axis on; from 13 only the axis")
    func softmaxAxis() throws {
        let x = Self.floats([1, 2, 2], [0, 0, 0, 0])
        let legacy = try Self.output("Softmax", opset: 11, [x])
        #expect(legacy.floatValues == [0.25, 0.25, 0.25, 0.25])
        let current = try Self.output("Softmax", opset: 13, [x], ["axis": .int(1)])
        #expect(current.floatValues == [0.5, 0.5, 0.5, 0.5])
        // Default axis -1 from opset 13, 1 before.
        let rows = Self.floats([2, 2], [0, 0, 1, 1])
        #expect(try Self.output("Softmax", opset: 13, [rows]).floatValues == [0.5, 0.5, 0.5, 0.5])
        let logs = try Self.output("LogSoftmax", [Self.floats([2], [10000, 10000])])
        #expect(logs.floatValues!.allSatisfy { abs($0 + log(2)) < 1e-6 })
    }

    // MARK: Reductions

    @Test("ReduceSum: axes attribute before opset 13, input from 13; keepdims; noop_with_empty_axes")
    func reduceSum() throws {
        let x = Self.iota([2, 3])
        #expect(try Self.output("ReduceSum", opset: 11, [x], ["axes": .ints([1])]) == Self.floats([2, 1], [3, 12]))
        #expect(try Self.output("ReduceSum", opset: 11, [x], ["keepdims": .int(0)]) == Self.floats([], [15]))
        #expect(
            try Self.output("ReduceSum", opset: 13, [x, Self.ints([-2])], ["keepdims": .int(0)])
                == Self.floats([3], [3, 5, 7]))
        #expect(try Self.output("ReduceSum", opset: 13, [x, nil]) == Self.floats([1, 1], [15]))
        #expect(try Self.output("ReduceSum", opset: 13, [x, Self.ints([])], ["noop_with_empty_axes": .int(1)]) == x)
        #expect(try Self.output("ReduceSum", opset: 13, [x, Self.ints([])]) == Self.floats([1, 1], [15]))
        #expect(
            try Self.output("ReduceSum", [Self.floats([2, 0], []), Self.ints([1])]) == Self.floats([2, 1], [0, 0]))
        Self.expectInputError("twice") { _ = try Self.output("ReduceSum", [x, Self.ints([1, -1])]) }
    }

    @Test("ReduceMean: axes attribute until opset 18; integer means truncate")
    func reduceMean() throws {
        let x = Self.iota([2, 3])
        #expect(
            try Self.output("ReduceMean", opset: 17, [x], ["axes": .ints([0])])
                == Self.floats([1, 3], [1.5, 2.5, 3.5]))
        #expect(
            try Self.output("ReduceMean", opset: 18, [x, Self.ints([1])], ["keepdims": .int(0)])
                == Self.floats([2], [1, 4]))
        #expect(try Self.output("ReduceMean", opset: 18, [Self.ints([1, 2, -7]), nil]) == Self.ints([-1]))  // -4/3
    }

    // MARK: Clip

    @Test("Clip: attributes before opset 11, optional inputs after; min > max gives max")
    func clip() throws {
        let x = Self.floats([4], [-5, 0.5, 5, .nan])
        let legacy = try Self.output("Clip", opset: 6, [x], ["min": .float(-1)])
        #expect(legacy.floatValues!.prefix(3) == [-1, 0.5, 5])
        let upperOnly = try Self.output("Clip", opset: 13, [x, nil, Self.floats([], [1])])
        #expect(upperOnly.floatValues!.prefix(3) == [-5, 0.5, 1])
        #expect(upperOnly.floatValues![3].isNaN)
        let crossed = try Self.output("Clip", opset: 13, [x, Self.floats([], [2]), Self.floats([], [1])])
        #expect(crossed.floatValues!.prefix(3) == [1, 1, 1])
        #expect(
            try Self.output("Clip", opset: 12, [Self.ints([-9, 9]), Self.ints([0]), Self.ints([5])])
                == Self.ints([0, 5]))
        Self.expectInputError("min") { _ = try Self.output("Clip", [x, Self.ints([0])]) }
    }

    // MARK: Cast

    static func cast(_ x: ONNXTensor, to type: ONNXElementType) throws(SlipwayError) -> ONNXTensor {
        try output("Cast", [x], ["to": .int(Int64(type.rawValue))])
    }

    @Test("Cast between numbers: truncation toward zero, NaN and overflow to the integer minimum, wrapping")
    func castNumbers() throws {
        let x = Self.floats([5], [2.7, -2.7, .nan, 1e10, -0.0])
        #expect(try Self.cast(x, to: .int64) == Self.ints([2, -2, .min, 10_000_000_000, 0]))
        #expect(try Self.cast(x, to: .int32) == ONNXTensor(shape: [5], int32s: [2, -2, .min, .min, 0]))
        #expect(try Self.cast(x, to: .bool) == ONNXTensor(shape: [5], bools: [true, true, true, true, false]))
        #expect(try Self.cast(Self.ints([4_294_967_297]), to: .int32) == ONNXTensor(shape: [1], int32s: [1]))
        #expect(
            try Self.cast(ONNXTensor(shape: [2], bools: [true, false]), to: .double)
                == ONNXTensor(shape: [2], doubles: [1, 0]))
        let error = try #require(throws: SlipwayError.self) { _ = try Self.build("Cast", [], ["to": .int(10)]) }
        #expect(error.message.contains("float16"))
    }

    @Test("Cast to and from strings follows numpy's formatting and the spec's parsing")
    func castStrings() throws {
        let floats = Self.floats([9], [0.1, 100, 1e-5, 123_456_789, 1e-4, 0.00012345, -0.0, .infinity, .nan])
        #expect(
            try Self.cast(floats, to: .string)
                == ONNXTensor(
                    shape: [9],
                    strings: ["0.1", "100.0", "1e-05", "1.2345679e+08", "1e-04", "0.00012345", "-0.0", "inf", "nan"]))
        let doubles = ONNXTensor(shape: [3], doubles: [123_456_789, 1e16, 0.1])
        #expect(
            try Self.cast(doubles, to: .string) == ONNXTensor(shape: [3], strings: ["123456789.0", "1e+16", "0.1"]))
        #expect(try Self.cast(Self.ints([-5]), to: .string) == ONNXTensor(shape: [1], strings: ["-5"]))
        #expect(
            try Self.cast(ONNXTensor(shape: [1], bools: [true]), to: .string)
                == ONNXTensor(shape: [1], strings: ["True"]))
        let text = ONNXTensor(shape: [5], strings: ["3.14", "1E8", "-INF", " 2 ", "100.5"])
        let parsed = try Self.cast(text, to: .float)
        #expect(parsed.floatValues == [3.14, 1e8, -.infinity, 2, 100.5])
        #expect(try Self.cast(text, to: .int64).int64Values?.suffix(2) == [2, 100])
        #expect(try Self.cast(ONNXTensor(shape: [1], strings: ["NaN"]), to: .double).doubleValues?[0].isNaN == true)
        Self.expectInputError("'hello'", "int64") {
            _ = try Self.cast(ONNXTensor(shape: [1], strings: ["hello"]), to: .int64)
        }
    }

    // MARK: Hostile shapes

    @Test("hostile shapes and indices fail with a 400, never a trap")
    func hostile() {
        // A broadcast, a product and a gather that would be enormous.
        let wide = Self.floats([1, 70_000], [Float](repeating: 1, count: 70_000))
        let tall = Self.floats([70_000, 1], [Float](repeating: 1, count: 70_000))
        Self.expectInputError("limit") { _ = try Self.output("Add", [wide, tall]) }
        Self.expectInputError("limit") { _ = try Self.output("MatMul", [tall, wide]) }
        Self.expectInputError("limit") {
            _ = try Self.output(
                "Gather", [wide, ONNXTensor(shape: [70_000], int64s: [Int64](repeating: 0, count: 70_000))])
        }
        // Reshape to dimensions whose product overflows, with a 0 making the count match.
        Self.expectInputError("multiply out") {
            _ = try Self.output("Reshape", [Self.floats([0], []), Self.ints([0, .max, .max])], ["allowzero": .int(1)])
        }
        Self.expectInputError("out of range") { _ = try Self.output("Gather", [Self.iota([3]), Self.ints([.min])]) }
        Self.expectInputError("rank") { _ = try Self.output("Softmax", [Self.floats([], [1])]) }
        Self.expectInputError("empty") { _ = try Self.output("ArgMax", [Self.floats([2, 0], [])], ["axis": .int(1)]) }
        Self.expectInputError("steps") {
            _ = try Self.output(
                "Slice", [Self.iota([3]), Self.ints([0]), Self.ints([1]), Self.ints([0]), Self.ints([1, 1])])
        }
    }

    /// Seeded random calls of every operator with random element types, shapes (including empty ones),
    /// axes, indices and attributes drawn from edge values: each returns or throws a SlipwayError, and a
    /// trap would fail the whole run.
    @Test("random inputs and attributes never trap")
    func randomCallsNeverTrap() {
        var state: UInt64 = 0x5EED
        func next(_ bound: Int) -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int((state >> 33) % UInt64(bound))
        }
        let edges: [Int64] = [-5, -3, -2, -1, 0, 1, 2, 3, 5, .min, .max]
        func edge() -> Int64 { edges[next(edges.count)] }
        func tensor(type: ONNXElementType? = nil, rank: Int? = nil) -> ONNXTensor {
            let shape = (0..<(rank ?? next(4))).map { _ in next(4) }
            let count = shape.reduce(1, *)
            switch type ?? ONNXElementType.allCases[next(ONNXElementType.allCases.count)] {
            case .float:
                return ONNXTensor(
                    shape: shape, floats: (0..<count).map { _ in [Float.nan, -1, 0, 2.5, .infinity][next(5)] })
            case .double: return ONNXTensor(shape: shape, doubles: (0..<count).map { _ in Double(next(7)) - 3 })
            case .int64: return ONNXTensor(shape: shape, int64s: (0..<count).map { _ in edge() })
            case .int32:
                return ONNXTensor(shape: shape, int32s: (0..<count).map { _ in Int32(truncatingIfNeeded: edge()) })
            case .bool: return ONNXTensor(shape: shape, bools: (0..<count).map { _ in next(2) == 0 })
            case .string:
                return ONNXTensor(shape: shape, strings: (0..<count).map { _ in ["1.5", "x", "-INF", ""][next(4)] })
            }
        }
        func integers() -> ONNXTensor { Self.ints((0..<next(4)).map { _ in edge() }) }
        let operators: [(String, () -> [ONNXTensor?], () -> [String: Attribute])] = [
            ("Add", { [tensor(type: .float), tensor(type: .float)] }, { [:] }),
            (
                "Div",
                {
                    let type = [ONNXElementType.int64, .int32][next(2)]
                    return [tensor(type: type), tensor(type: type)]
                }, { [:] }
            ),
            ("Where", { [tensor(type: .bool), tensor(type: .string), tensor(type: .string)] }, { [:] }),
            ("Equal", { [tensor(), tensor()] }, { [:] }),
            ("Softmax", { [tensor(type: .float)] }, { ["axis": .int(edge())] }),
            ("LogSoftmax", { [tensor(type: .double)] }, { ["axis": .int(edge())] }),
            (
                "ArgMax", { [tensor(type: .int32)] },
                { ["axis": .int(edge()), "keepdims": .int(edge()), "select_last_index": .int(edge())] }
            ),
            (
                "ReduceSum", { [tensor(), integers()] },
                { ["keepdims": .int(edge()), "noop_with_empty_axes": .int(edge())] }
            ),
            ("ReduceMean", { [tensor(type: .int64), integers()] }, { ["keepdims": .int(edge())] }),
            (
                "Clip", { [tensor(type: .float), tensor(type: .float, rank: 0), tensor(type: .float, rank: next(2))] },
                { [:] }
            ),
            (
                "Gemm", { [tensor(type: .float, rank: 2), tensor(type: .float, rank: 2), tensor(type: .float)] },
                { ["transA": .int(edge()), "transB": .int(edge()), "alpha": .float(0.5), "beta": .float(2)] }
            ),
            ("MatMul", { [tensor(type: .int64), tensor(type: .int64)] }, { [:] }),
            ("Cast", { [tensor()] }, { ["to": .int(Int64(ONNXElementType.allCases[next(6)].rawValue))] }),
            ("Reshape", { [tensor(), integers()] }, { ["allowzero": .int(edge())] }),
            ("Flatten", { [tensor()] }, { ["axis": .int(edge())] }),
            ("Squeeze", { [tensor(), integers()] }, { [:] }),
            ("Unsqueeze", { [tensor(), integers()] }, { [:] }),
            (
                "Concat", { [tensor(type: .bool), tensor(type: .bool), tensor(type: .bool)] },
                { ["axis": .int(edge())] }
            ),
            ("Gather", { [tensor(), tensor(type: .int64)] }, { ["axis": .int(edge())] }),
            ("Slice", { [tensor(), integers(), integers(), integers(), integers()] }, { [:] }),
            ("Transpose", { [tensor()] }, { ["perm": .ints((0..<next(4)).map { _ in Int64(next(4)) })] }),
            ("Shape", { [tensor()] }, { ["start": .int(edge()), "end": .int(edge())] }),
        ]
        var outcomes = (returned: 0, threw: 0)
        for (op, inputs, attributes) in operators {
            for round in 0..<150 {
                let arguments = inputs()
                // Half the rounds see the later inputs as initializers, as a model's would be.
                let constants: Set<Int> = round % 2 == 0 ? [] : Set(1..<max(arguments.count, 1))
                do {
                    _ = try Self.run(
                        op, opset: [9, 11, 13, 18][next(4)], arguments, attributes(), constants: constants)
                    outcomes.returned += 1
                } catch {
                    #expect(!error.message.isEmpty)
                    outcomes.threw += 1
                }
            }
        }
        #expect(outcomes.returned > 500)
        #expect(outcomes.threw > 500)
    }
}
