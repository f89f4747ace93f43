import Foundation
import SlipwayCore
import SlipwayTestSupport
import Testing

@testable import SlipwayRuntime

/// Slipway's native format: predictions checked against values worked out by hand, and the writer.
@Suite("Native model format")
struct NativeModelTests {
    typealias Document = NativeModelDocument
    typealias Tree = NativeModelDocument.TreeEnsembleSection.Tree

    /// Loads `document` through its encoded bytes, as a server would.
    static func predictor(_ document: Document) throws -> SlipwayNativePredictor {
        try SlipwayNativePredictor(artifact: document.encoded())
    }

    static func expectClose(
        _ actual: [Float], _ expected: [Double], tolerance: Double = 1e-6,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        #expect(actual.count == expected.count, sourceLocation: sourceLocation)
        for (a, e) in zip(actual, expected) {
            #expect(
                abs(Double(a) - e) <= tolerance * max(1, abs(e)), "\(actual) vs \(expected)",
                sourceLocation: sourceLocation)
        }
    }

    // MARK: Linear

    @Test("linear, binary logistic: σ(0.5 + 2a - b)")
    func linearBinary() throws {
        let predictor = try Self.predictor(
            Document(
                kind: .linear, task: .binary, features: ["a", "b"], classes: ["no", "yes"],
                linear: .init(link: .logistic, weights: [[2, -1]], intercepts: [0.5])))
        #expect(predictor.outputCount == 1)
        #expect(predictor.signature.outputs.first?.name == "probabilities")
        // z = 0.5 + 2 - 3 = -0.5, and z = 0.5.
        Self.expectClose(try predictor.predict([1, 3, 0, 0], rows: 2), [0.3775406687981454, 0.6224593312018546])
    }

    @Test("linear, multiclass softmax: margins [1, 2, 0]")
    func linearMulticlass() throws {
        let predictor = try Self.predictor(
            Document(
                kind: .linear, task: .multiclass, features: ["a", "b"], classes: ["x", "y", "z"],
                linear: .init(link: .softmax, weights: [[1, 0], [0, 1], [0, 0]], intercepts: [0, 0, 0])))
        #expect(predictor.outputCount == 3)
        Self.expectClose(
            try predictor.predict([1, 2], rows: 1), [0.2447284710547976, 0.6652409557748219, 0.09003057317038046])
    }

    @Test("linear regression with standardisation, and imputation in raw units for missing values")
    func linearRegressionStandardisedImputed() throws {
        let predictor = try Self.predictor(
            Document(
                kind: .linear, task: .regression, features: ["a", "b"],
                linear: .init(
                    link: .identity, weights: [[3, -2]], intercepts: [1],
                    standardization: .init(mean: [10, 0], scale: [2, 4]), imputation: [14, 8])))
        #expect(predictor.signature.outputs.first?.name == "predictions")
        // [12, 4] → x' = [1, 1] → 1 + 3 - 2 = 2;  [NaN, NaN] → [14, 8] → x' = [2, 2] → 3;
        // [10, NaN] → [10, 8] → x' = [0, 2] → -3.
        Self.expectClose(try predictor.predict([12, 4, .nan, .nan, 10, .nan], rows: 3), [2, 3, -3])
    }

    @Test("linear without imputation values refuses a row with a missing value, naming the feature")
    func linearMissingWithoutImputation() throws {
        let predictor = try Self.predictor(
            Document(
                kind: .linear, task: .regression, features: ["age", "income"],
                linear: .init(link: .identity, weights: [[1, 1]], intercepts: [0])))
        Self.expectClose(try predictor.predict([1, 2], rows: 1), [3])
        let error = #expect(throws: SlipwayError.self) { try predictor.predict([1, 2, 3, .nan], rows: 2) }
        #expect(error?.kind == .badRequest)
        #expect(error?.message.contains("row 1: feature 'income' is missing") == true, "\(error?.message ?? "")")
    }

    // MARK: Trees

    /// Root: a <= 1 → leaf 10, else (b <= 0, missing left → leaf -1, else leaf 2); missing a goes right.
    static let splitTree = Tree(
        feature: [0, -1, 1, -1, -1], threshold: [1, 0, 0, 0, 0], left: [1, -1, 3, -1, -1],
        right: [2, -1, 4, -1, -1], defaultLeft: [false, false, true, false, false], value: [0, 10, 0, -1, 2])

    @Test("tree ensemble regression: x <= threshold goes left, missing values follow default_left")
    func treeRegression() throws {
        let predictor = try Self.predictor(
            Document(
                kind: .treeEnsemble, task: .regression, features: ["a", "b"],
                treeEnsemble: .init(
                    link: .identity, baseMargin: [0.5],
                    trees: [
                        Self.splitTree,
                        Tree(
                            feature: [-1], threshold: [0], left: [-1], right: [-1], defaultLeft: [false], value: [0.25]),
                    ])))
        let rows: [Float] = [1, 5, 2, 0, 2, 5, .nan, 5, 3, .nan, .nan, .nan]
        // 0.5 + leaf + 0.25.
        Self.expectClose(try predictor.predict(rows, rows: 6), [10.75, -0.25, 2.75, 2.75, -0.25, -0.25])
    }

    @Test("tree ensemble, binary logistic: σ(base + leaf)")
    func treeBinary() throws {
        let predictor = try Self.predictor(
            Document(
                kind: .treeEnsemble, task: .binary, features: ["a", "b"], classes: ["0", "1"],
                treeEnsemble: .init(link: .logistic, baseMargin: [1], trees: [Self.splitTree])))
        // Margins 1 + 2 = 3 and 1 - 1 = 0.
        Self.expectClose(try predictor.predict([2, 5, 2, -1], rows: 2), [0.9525741268224334, 0.5])
    }

    @Test("tree ensemble, multiclass: one tree per class through softmax")
    func treeMulticlassScalarLeaves() throws {
        func leaf(_ value: Float, output: Int) -> Tree {
            Tree(
                output: output, feature: [-1], threshold: [0], left: [-1], right: [-1], defaultLeft: [false],
                value: [value])
        }
        let predictor = try Self.predictor(
            Document(
                kind: .treeEnsemble, task: .multiclass, features: ["a"], classes: ["x", "y", "z"],
                treeEnsemble: .init(
                    link: .softmax, baseMargin: [0.5, 0.5, 0.5],
                    trees: [leaf(0.5, output: 0), leaf(1.5, output: 1), leaf(-0.5, output: 2)])))
        Self.expectClose(
            try predictor.predict([0], rows: 1), [0.2447284710547976, 0.6652409557748219, 0.09003057317038046])
    }

    @Test("tree ensemble, multiclass random forest: vector leaves averaged (pre-divided) with identity link")
    func treeMulticlassVectorLeaves() throws {
        // Each tree: a <= 0.5 → [1, 0, 0] else [0, 0.5, 0.5]; stored halved for a two-tree average.
        let stump = Tree(
            feature: [0, -1, -1], threshold: [0.5, 0, 0], left: [1, -1, -1], right: [2, -1, -1],
            defaultLeft: [true, false, false], value: [0, 0, 0, 0.5, 0, 0, 0, 0.25, 0.25])
        var other = stump
        other.threshold = [1.5, 0, 0]
        let predictor = try Self.predictor(
            Document(
                kind: .treeEnsemble, task: .multiclass, features: ["a"], classes: ["x", "y", "z"],
                treeEnsemble: .init(link: .identity, baseMargin: [0, 0, 0], leafSize: 3, trees: [stump, other])))
        // a = 0: both left; a = 1: one each; a = 2: both right; missing: both left.
        Self.expectClose(
            try predictor.predict([0, 1, 2, .nan], rows: 4),
            [1, 0, 0, 0.5, 0.25, 0.25, 0, 0.5, 0.5, 1, 0, 0])
    }

    // MARK: Factorization

    /// Users u1 [1, 0], u2 [0.5, 2]; items i1 [1, 1], i2 [2, 0], i3 [0, 3], i4 [-1, 1], i5 [1, 5].
    static let factorization = Document(
        kind: .factorization, task: .ranking, features: ["user", "item"],
        factorization: .init(
            dimensions: 2, users: .init(ids: ["u1", "u2"], factors: [1, 0, 0.5, 2]),
            items: .init(ids: ["i1", "i2", "i3", "i4", "i5"], factors: [1, 1, 2, 0, 0, 3, -1, 1, 1, 5])))

    @Test("factorization: pair scores are dot products")
    func factorizationScores() throws {
        let model = try FactorizationModel(artifact: Self.factorization.encoded())
        #expect(try model.score(user: 1, item: 0) == 2.5)
        #expect(try model.score(user: 1, item: 2) == 6)
        #expect(try model.score(user: 0, item: 3) == -1)
        #expect(model.userIndex(of: "u2") == 1)
        #expect(model.itemIndex(of: "nope") == nil)
        #expect(throws: SlipwayError.self) { try model.score(user: 2, item: 0) }
        #expect(throws: SlipwayError.self) { try model.score(user: 0, item: -1) }

        let predictor = try Self.predictor(Self.factorization)
        #expect(predictor.featureCount == 2)
        #expect(predictor.signature.outputs.first?.name == "scores")
        Self.expectClose(try predictor.predict([1, 2, 0, 1, 1, 4], rows: 3), [6, 2, 10.5])
        for bad: [Float] in [[0, 4.5], [2, 0], [.nan, 0], [0, -1], [0, .infinity]] {
            let error = #expect(throws: SlipwayError.self) { try predictor.predict(bad, rows: 1) }
            #expect(error?.kind == .badRequest)
        }
    }

    @Test("factorization: top-K best first, with exclusions and ties broken by item index")
    func factorizationTopK() throws {
        let model = try FactorizationModel(document: Self.factorization)
        // u2 scores: i1 2.5, i2 1, i3 6, i4 1.5, i5 10.5.
        #expect(try model.topK(2, forUser: 1).map(\.id) == ["i5", "i3"])
        #expect(try model.topK(2, forUser: "u2", excluding: ["i5", "i3", "unknown"]).map(\.id) == ["i1", "i4"])
        #expect(
            try model.topK(3, forUser: 1, excluding: [4])
                == [
                    .init(item: 2, id: "i3", score: 6), .init(item: 0, id: "i1", score: 2.5),
                    .init(item: 3, id: "i4", score: 1.5),
                ])
        // u1 scores: i1 1, i2 2, i3 0, i4 -1, i5 1 (ties with i1, which ranks first).
        #expect(try model.topK(10, forUser: 0).map(\.id) == ["i2", "i1", "i5", "i3", "i4"])
        #expect(try model.topK(0, forUser: 0).isEmpty)
        #expect(try model.topK(3, forUser: 0, excluding: Set(0..<5)).isEmpty)
        #expect(throws: SlipwayError.self) { try model.topK(-1, forUser: 0) }
        let unknown = #expect(throws: SlipwayError.self) { try model.topK(1, forUser: "ghost") }
        #expect(unknown?.kind == .notFound)
    }

    @Test("top-K agrees with sorting every score, on a seeded random model")
    func topKMatchesSort() throws {
        var random = SplitMix64(seed: 7)
        let items = 200
        let dimensions = 4
        let document = Document(
            kind: .factorization, task: .ranking, features: ["user", "item"],
            factorization: .init(
                dimensions: dimensions,
                users: .init(
                    ids: ["u"], factors: (0..<dimensions).map { _ in Float.random(in: -1...1, using: &random) }),
                items: .init(
                    ids: (0..<items).map { "i\($0)" },
                    // Rounded to quarters so many scores tie.
                    factors: (0..<(items * dimensions)).map { _ in
                        (Float.random(in: -2...2, using: &random) * 4).rounded() / 4
                    })))
        let model = try FactorizationModel(document: document)
        let excluded = Set((0..<items).filter { _ in Bool.random(using: &random) })
        var scored: [(item: Int, score: Float)] = []
        for item in 0..<items where !excluded.contains(item) {
            scored.append((item, try model.score(user: 0, item: item)))
        }
        scored.sort { $0.score != $1.score ? $0.score > $1.score : $0.item < $1.item }
        for k in [1, 5, 17, 200] {
            let expected: [Int] = scored.prefix(k).map { $0.item }
            let actual: [Int] = try model.topK(k, forUser: 0, excluding: excluded).map { $0.item }
            #expect(actual == expected)
        }
    }

    // MARK: Writing

    @Test("the writer puts the version first, so the detector finds it even in a large file")
    func writerPutsVersionFirst() throws {
        let features = (0..<2000).map { "feature_\($0)" }
        let document = Document(
            kind: .linear, task: .regression, features: features, metadata: ["trainer": "test"],
            linear: .init(link: .identity, weights: [[Float](repeating: 0.5, count: 2000)], intercepts: [0]))
        let bytes = try document.encoded()
        #expect(bytes.count > ModelFormatDetector.prefixLength)
        #expect(bytes.starts(with: Array(#"{"slipway_format_version":1,"#.utf8)))
        #expect(try ModelFormatDetector.detect(prefix: Array(bytes.prefix(4096)), declared: nil) == .slipway)
        #expect(try NativeModelDocument.decode(bytes) == document)
    }

    @Test("the documented example file loads and predicts as the documentation says")
    func documentedExample() throws {
        let json = """
            {
              "slipway_format_version": 1,
              "kind": "tree_ensemble",
              "task": "binary",
              "features": ["age", "income"],
              "classes": ["stays", "churns"],
              "tree_ensemble": {
                "link": "logistic",
                "base_margin": [0.0],
                "trees": [
                  {
                    "feature":      [0,    -1,   -1],
                    "threshold":    [30.0,  0.0,  0.0],
                    "left":         [1,    -1,   -1],
                    "right":        [2,    -1,   -1],
                    "default_left": [true, false, false],
                    "value":        [0.0,  1.0, -1.0]
                  }
                ]
              },
              "a_field_from_the_future": {"ignored": true}
            }
            """
        let predictor = try SlipwayNativePredictor(artifact: Array(json.utf8))
        #expect(predictor.classes == ["stays", "churns"])
        // age 25 → σ(1); age 40 → σ(-1); age missing → left → σ(1).
        Self.expectClose(
            try predictor.predict([25, 1000, 40, 1000, .nan, .nan], rows: 3),
            [0.7310585786300049, 0.2689414213699951, 0.7310585786300049])
    }

    @Test("every JSON example in docs/model-format.md loads")
    func specificationExamples() throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(
            "../../docs/model-format.md")
        let text = try String(contentsOf: url, encoding: .utf8)
        let blocks = text.components(separatedBy: "```json\n").dropFirst().map {
            $0.components(separatedBy: "```").first ?? ""
        }
        #expect(blocks.count == 3)
        for block in blocks {
            let predictor = try SlipwayNativePredictor(artifact: Array(block.utf8))
            #expect(predictor.featureCount == 2)
        }
    }

    /// Seeded random linear and tree documents: encode → decode gives the same document, and the
    /// predictor built from the bytes predicts what the one built from the document does.
    @Test("round trip: encode then decode is the identity, and predictions agree")
    func roundTrip() throws {
        var random = SplitMix64(seed: 2026)
        for _ in 0..<40 {
            let document = Self.randomDocument(using: &random)
            let bytes = try document.encoded()
            #expect(try NativeModelDocument.decode(bytes) == document)
            let fromBytes = try SlipwayNativePredictor(artifact: bytes)
            let fromDocument = try SlipwayNativePredictor(document: document)
            let rows = 5
            let input = (0..<(rows * document.features.count)).map { _ in
                Bool.random(using: &random) ? Float.nan : Float.random(in: -3...3, using: &random)
            }
            let a = try fromBytes.predict(input, rows: rows)
            let b = try fromDocument.predict(input, rows: rows)
            #expect(a.elementsEqual(b) { $0 == $1 || ($0.isNaN && $1.isNaN) })
        }
    }

    static func randomDocument(using random: inout SplitMix64) -> Document {
        func value() -> Float { Float.random(in: -10...10, using: &random) }
        let features = Int.random(in: 1...4, using: &random)
        let names = (0..<features).map { "f\($0)" }
        let task = [Document.Task.regression, .binary, .multiclass].randomElement(using: &random)!
        let classes: [String]? =
            switch task {
            case .binary: ["a", "b"]
            case .multiclass: (0..<Int.random(in: 2...4, using: &random)).map { "c\($0)" }
            default: nil
            }
        let outputs = task == .multiclass ? classes!.count : 1
        let link: Document.Link = task == .binary ? .logistic : task == .multiclass ? .softmax : .identity
        if Bool.random(using: &random) {
            return Document(
                kind: .linear, task: task, features: names, classes: classes,
                linear: .init(
                    link: link, weights: (0..<outputs).map { _ in (0..<features).map { _ in value() } },
                    intercepts: (0..<outputs).map { _ in value() },
                    standardization: .init(
                        mean: (0..<features).map { _ in value() },
                        scale: (0..<features).map { _ in Float.random(in: 0.1...5, using: &random) }),
                    imputation: (0..<features).map { _ in value() }))
        }
        // A random full binary tree of depth ≤ 3, built breadth-first.
        func tree(output: Int) -> Tree {
            var tree = Tree(output: output, feature: [], threshold: [], left: [], right: [], defaultLeft: [], value: [])
            var queue = [0]
            tree.feature = [-1]
            var depth = [0]
            tree.threshold = [0]
            tree.left = [-1]
            tree.right = [-1]
            tree.defaultLeft = [false]
            tree.value = [value()]
            while !queue.isEmpty {
                let node = queue.removeFirst()
                guard depth[node] < 3, Bool.random(using: &random) else { continue }
                let left = tree.left.count
                tree.feature[node] = Int.random(in: 0..<features, using: &random)
                tree.threshold[node] = value()
                tree.left[node] = left
                tree.right[node] = left + 1
                tree.defaultLeft[node] = Bool.random(using: &random)
                for child in [left, left + 1] {
                    tree.feature.append(-1)
                    tree.threshold.append(0)
                    tree.left.append(-1)
                    tree.right.append(-1)
                    tree.defaultLeft.append(false)
                    tree.value.append(value())
                    depth.append(depth[node] + 1)
                    queue.append(child)
                }
            }
            return tree
        }
        return Document(
            kind: .treeEnsemble, task: task, features: names, classes: classes,
            treeEnsemble: .init(
                link: link, baseMargin: (0..<outputs).map { _ in value() },
                trees: (0..<Int.random(in: 0...5, using: &random)).map { _ in
                    tree(output: Int.random(in: 0..<outputs, using: &random))
                }))
    }
}
