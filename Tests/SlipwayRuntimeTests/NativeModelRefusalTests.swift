import Foundation
import SlipwayCore
import SlipwayTestSupport
import Testing

@testable import SlipwayRuntime

/// Malformed and hostile native model files are refused with a 422 naming the field, never a crash.
@Suite("Native model refusals")
struct NativeModelRefusalTests {
    typealias Document = NativeModelDocument
    typealias Tree = NativeModelDocument.TreeEnsembleSection.Tree

    static let linear = Document(
        kind: .linear, task: .regression, features: ["a", "b"],
        linear: .init(link: .identity, weights: [[1, 2]], intercepts: [0]))

    static let trees = Document(
        kind: .treeEnsemble, task: .regression, features: ["a", "b"],
        treeEnsemble: .init(link: .identity, baseMargin: [0], trees: [NativeModelTests.splitTree]))

    /// Loads raw bytes, expecting a refusal whose message contains `message`.
    private func expectRefusal(
        _ bytes: [UInt8], containing message: String, code: String = "invalid_model",
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        let error = #expect(throws: SlipwayError.self, sourceLocation: sourceLocation) {
            try SlipwayNativePredictor(artifact: bytes)
        }
        #expect(error?.kind == .unprocessable, sourceLocation: sourceLocation)
        #expect(error?.code == code, "\(error?.code ?? "")", sourceLocation: sourceLocation)
        #expect(error?.message.contains(message) == true, "\(error?.message ?? "")", sourceLocation: sourceLocation)
    }

    /// Edits `document`, then expects both the writer and the reader to refuse it.
    private func expectRefusal(
        _ document: Document, containing message: String, code: String = "invalid_model",
        _ edit: (inout Document) -> Void, sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        var document = document
        edit(&document)
        let writerError = #expect(throws: SlipwayError.self, sourceLocation: sourceLocation) {
            try document.encoded()
        }
        #expect(
            writerError?.message.contains(message) == true, "\(writerError?.message ?? "")",
            sourceLocation: sourceLocation)
        // Bypass the writer's validation to check the reader independently.
        let bytes = Array(try JSONEncoder().encode(document))
        expectRefusal(bytes, containing: message, code: code, sourceLocation: sourceLocation)
    }

    /// Edits `document`, then expects the writer to refuse it (for what JSON cannot carry, or readers
    /// ignore by design, such as a section for another kind).
    private func expectWriterRefusal(
        _ document: Document, containing message: String, _ edit: (inout Document) -> Void,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        var document = document
        edit(&document)
        let error = #expect(throws: SlipwayError.self, sourceLocation: sourceLocation) { try document.encoded() }
        #expect(error?.kind == .unprocessable, sourceLocation: sourceLocation)
        #expect(error?.message.contains(message) == true, "\(error?.message ?? "")", sourceLocation: sourceLocation)
    }

    /// Edits the encoded JSON of `document` as a dictionary (for what the structs cannot express).
    private func expectJSONRefusal(
        _ document: Document, containing message: String, code: String = "invalid_model",
        _ edit: (inout [String: Any]) -> Void, sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        var json = try #require(
            try JSONSerialization.jsonObject(with: Data(document.encoded())) as? [String: Any])
        edit(&json)
        let bytes = Array(try JSONSerialization.data(withJSONObject: json))
        expectRefusal(bytes, containing: message, code: code, sourceLocation: sourceLocation)
    }

    // MARK: Versioning

    @Test("an unknown major version is refused with the reason, before any other field is read")
    func unknownVersion() throws {
        try expectJSONRefusal(Self.linear, containing: "version 2", code: "unsupported_format_version") { json in
            json["slipway_format_version"] = 2
            json["kind"] = "something_new"
            json.removeValue(forKey: "features")
        }
        try expectJSONRefusal(Self.linear, containing: "upgrade Slipway", code: "unsupported_format_version") {
            $0["slipway_format_version"] = 7
        }
        try expectJSONRefusal(Self.linear, containing: "slipway_format_version is missing") {
            $0.removeValue(forKey: "slipway_format_version")
        }
        try expectJSONRefusal(Self.linear, containing: "slipway_format_version is missing or not an integer") {
            $0["slipway_format_version"] = "1"
        }
        var document = Self.linear
        document.formatVersion = 2
        #expect(throws: SlipwayError.self) { try document.encoded() }
    }

    @Test("an unknown kind or task is named, with the supported list")
    func unknownKindOrTask() throws {
        try expectJSONRefusal(Self.linear, containing: "kind 'svm' is not supported", code: "unsupported_model") {
            $0["kind"] = "svm"
        }
        try expectJSONRefusal(
            Self.linear, containing: "binary, multiclass, regression, ranking", code: "unsupported_model"
        ) {
            $0["task"] = "survival"
        }
        try expectJSONRefusal(Self.linear, containing: "linear is missing") { $0.removeValue(forKey: "linear") }
        try expectJSONRefusal(Self.linear, containing: "linear.weights[0][1] has the wrong type") {
            var linear = $0["linear"] as! [String: Any]
            linear["weights"] = [[1, "two"]]
            $0["linear"] = linear
        }
    }

    // MARK: Header

    @Test("features and classes: counts, duplicates, and classes that do not suit the task")
    func header() throws {
        try expectRefusal(Self.linear, containing: "features must list 1...") { $0.features = [] }
        try expectRefusal(Self.linear, containing: "features[1] repeats") { $0.features = ["a", "a"] }
        try expectRefusal(Self.linear, containing: "features[0] must be 1...256 bytes") { $0.features[0] = "" }
        try expectRefusal(Self.linear, containing: "classes must be absent") { $0.classes = ["x", "y"] }
        try expectRefusal(Self.linear, containing: "exactly 2 labels") {
            $0.task = .binary
            $0.classes = ["x"]
        }
        expectWriterRefusal(Self.linear, containing: "must not have a tree_ensemble section") {
            $0.treeEnsemble = Self.trees.treeEnsemble
        }
    }

    // MARK: Linear

    @Test("linear: links that do not suit the task, wrong lengths, zero scales, non-finite numbers")
    func linearRefusals() throws {
        try expectRefusal(Self.linear, containing: "linear.link 'logistic' does not suit a regression") {
            $0.linear?.link = .logistic
        }
        try expectRefusal(Self.linear, containing: "linear.weights has 2 entries, but must have 1") {
            $0.linear?.weights = [[1, 2], [3, 4]]
        }
        try expectRefusal(Self.linear, containing: "linear.weights[0] has 3 entries, but must have 2") {
            $0.linear?.weights = [[1, 2, 3]]
        }
        try expectRefusal(Self.linear, containing: "linear.intercepts has 0 entries") { $0.linear?.intercepts = [] }
        try expectRefusal(Self.linear, containing: "linear.imputation has 1 entries") { $0.linear?.imputation = [0] }
        try expectRefusal(Self.linear, containing: "linear.standardization.scale[1] is 0") {
            $0.linear?.standardization = .init(mean: [0, 0], scale: [1, 0])
        }
        try expectRefusal(Self.linear, containing: "linear.standardization.mean has 3 entries") {
            $0.linear?.standardization = .init(mean: [0, 0, 0], scale: [1, 1])
        }
        // JSON cannot carry infinities, but a trainer's document can: the writer refuses them.
        expectWriterRefusal(Self.linear, containing: "linear.weights[0][1] is not a finite number") {
            $0.linear?.weights = [[1, .infinity]]
        }
        try expectJSONRefusal(Self.linear, containing: "not well-formed JSON (or holds a number") {
            var linear = $0["linear"] as! [String: Any]
            linear["intercepts"] = [1e300]
            $0["linear"] = linear
        }
    }

    // MARK: Trees

    /// Edits the first tree of ``trees``.
    private func expectTreeRefusal(
        containing message: String, _ edit: (inout Tree) -> Void, sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        try expectRefusal(
            Self.trees, containing: message, { edit(&$0.treeEnsemble!.trees[0]) },
            sourceLocation: sourceLocation)
    }

    @Test("trees: wrong lengths, out-of-range indices, cycles, shared and unreachable nodes")
    func treeRefusals() throws {
        try expectTreeRefusal(containing: "trees[0].right has 4 entries, but must have 5") { $0.right.removeLast() }
        try expectTreeRefusal(containing: "trees[0].value has 6 entries, but must have 5") { $0.value.append(0) }
        try expectTreeRefusal(containing: "trees[0].default_left has 4 entries") { $0.defaultLeft.removeLast() }
        try expectTreeRefusal(containing: "must have 1...16777216 nodes, it has 0") {
            $0 = Tree(feature: [], threshold: [], left: [], right: [], defaultLeft: [], value: [])
        }
        try expectTreeRefusal(containing: "feature index 2 is outside the model's 2 features") { $0.feature[2] = 2 }
        try expectTreeRefusal(containing: "feature index -1 is outside") { $0.feature[0] = -1 }
        try expectTreeRefusal(containing: "child index 9 is outside the tree's 5 nodes") { $0.right[2] = 9 }
        try expectTreeRefusal(containing: "a leaf has left and right -1") { $0.right[0] = -1 }
        // Node 2's left child back to the root: a cycle.
        try expectTreeRefusal(containing: "child index 0 is outside") { $0.left[2] = 0 }
        // Node 2's left child to node 2's parent's other child: shared node / cycle through node 1.
        try expectTreeRefusal(containing: "has two parents") { $0.left[2] = 1 }
        // Node 2 points at itself.
        try expectTreeRefusal(containing: "has two parents") { $0.left[2] = 2 }
        try expectRefusal(Self.trees, containing: "output 1 is outside the model's 1 outputs") {
            $0.treeEnsemble!.trees[0].output = 1
        }
        try expectRefusal(Self.trees, containing: "base_margin has 2 entries") {
            $0.treeEnsemble!.baseMargin = [0, 0]
        }
        try expectRefusal(Self.trees, containing: "leaf_size must be 1 or the output count (1), not 3") {
            $0.treeEnsemble!.leafSize = 3
        }
        try expectRefusal(Self.trees, containing: "tree_ensemble.link 'softmax' does not suit a regression") {
            $0.treeEnsemble!.link = .softmax
        }
        expectWriterRefusal(Self.trees, containing: "trees[0].threshold[0] is not a finite number") {
            $0.treeEnsemble!.trees[0].threshold[0] = .nan
        }
        expectWriterRefusal(Self.trees, containing: "trees[0].value[1] is not a finite number") {
            $0.treeEnsemble!.trees[0].value[1] = .infinity
        }
    }

    @Test("a tree deeper than the traversal bound is refused")
    func deepTree() throws {
        // A left-leaning chain of 1100 splits.
        let splits = 1100
        var tree = Tree(feature: [], threshold: [], left: [], right: [], defaultLeft: [], value: [])
        for node in 0..<splits {
            tree.feature.append(0)
            tree.threshold.append(Float(node))
            tree.left.append(node == splits - 1 ? splits + node : node + 1)
            tree.right.append(splits + node)
            tree.defaultLeft.append(true)
            tree.value.append(0)
        }
        for _ in 0...splits {
            tree.feature.append(-1)
            tree.threshold.append(0)
            tree.left.append(-1)
            tree.right.append(-1)
            tree.defaultLeft.append(false)
            tree.value.append(1)
        }
        // The last split's two children must differ.
        tree.left[splits - 1] = 2 * splits
        try expectRefusal(Self.trees, containing: "deeper than 1024 levels") { $0.treeEnsemble!.trees = [tree] }
    }

    // MARK: Factorization

    @Test("factorization: dimensions, factor lengths, duplicate ids, task and features")
    func factorizationRefusals() throws {
        let document = NativeModelTests.factorization
        try expectRefusal(document, containing: "factorization.dimensions must be 1...4096, not 0") {
            $0.factorization!.dimensions = 0
        }
        try expectRefusal(document, containing: "factorization.items.factors has 9 entries, but must have 10") {
            $0.factorization!.items.factors.removeLast()
        }
        try expectRefusal(document, containing: "factorization.users.ids[1] repeats") {
            $0.factorization!.users.ids = ["u1", "u1"]
        }
        try expectRefusal(document, containing: "factorization.users.ids must list 1...") {
            $0.factorization!.users = .init(ids: [], factors: [])
        }
        try expectRefusal(document, containing: "task must be ranking") { $0.task = .regression }
        try expectRefusal(document, containing: "has 2 features") { $0.features = ["user"] }
        let error = #expect(throws: SlipwayError.self) { try FactorizationModel(document: Self.linear) }
        #expect(error?.code == "unsupported_model")
    }

    @Test("deeply nested JSON is refused before parsing")
    func nesting() {
        let bytes = Array(("{\"slipway_format_version\":1,\"x\":" + String(repeating: "[", count: 10_000)).utf8)
        expectRefusal(bytes, containing: "nested deeper than 16 levels")
    }

    // MARK: Fuzz

    /// Seeded mutations of small encoded models of each kind: each either loads (and then predicts odd
    /// rows, succeeding or refusing the rows with a 400) or is refused with a 422. A crash fails the run.
    @Test(
        "mutated native model bytes load or are refused, never crash", arguments: ["linear", "trees", "factorization"])
    func mutations(kind: String) throws {
        var document =
            switch kind {
            case "linear": Self.linear
            case "trees": Self.trees
            default: NativeModelTests.factorization
            }
        if kind == "linear" {
            document.linear?.standardization = .init(mean: [1, 2], scale: [3, 4])
            document.linear?.imputation = [5, 6]
        }
        let original = try document.encoded()
        var random = SplitMix64(seed: 20_261_126)
        var loaded = 0
        var refused = 0
        for _ in 0..<300 {
            let mutant = HostileModelTests.mutate(original, using: &random)
            let predictor: SlipwayNativePredictor
            do {
                predictor = try SlipwayNativePredictor(artifact: mutant)
            } catch {
                refused += 1
                #expect(error.kind == .unprocessable)
                #expect(!error.message.isEmpty)
                continue
            }
            loaded += 1
            let values: [Float] = [.nan, .infinity, -.infinity, .greatestFiniteMagnitude, -0.0, 1e-40, -1e9, 0, 1]
            let features = predictor.featureCount
            let input = (0..<(values.count * features)).map { values[($0 / features + $0) % values.count] }
            do {
                let output = try predictor.predict(input, rows: values.count)
                #expect(output.count == values.count * predictor.outputCount)
            } catch {
                #expect(error.kind == .badRequest)
            }
        }
        print("native \(kind): \(loaded) mutants loaded and predicted, \(refused) refused")
        #expect(loaded > 0)
        #expect(refused > 0)
    }
}
