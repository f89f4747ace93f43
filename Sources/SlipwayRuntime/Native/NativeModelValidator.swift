import SlipwayCore

/// The checks every native model document passes before it is used or written: sizes within
/// ``NativeModelLimits``, array lengths that agree, indices in range, finite numbers. Each kind's model
/// type checks its own section; this type holds the shared header rules and small helpers.
enum NativeModelValidator {
    /// Validates the whole document by building the model it describes.
    static func validate(_ document: NativeModelDocument) throws(SlipwayError) {
        switch document.kind {
        case .linear: _ = try NativeLinearModel(document: document)
        case .treeEnsemble: _ = try NativeTreeModel(document: document)
        case .factorization: _ = try FactorizationModel(document: document)
        }
    }

    /// The validated header: what every kind needs to know about its inputs and outputs.
    struct Header {
        var featureCount: Int
        /// 1 for regression, ranking and binary; the class count for multiclass.
        var outputCount: Int
    }

    /// Checks features, classes and that exactly the section for the document's kind is present.
    static func header(_ document: NativeModelDocument) throws(SlipwayError) -> Header {
        let features = document.features
        guard (1...NativeModelLimits.maxFeatures).contains(features.count) else {
            throw invalid("features must list 1...\(NativeModelLimits.maxFeatures) names, it has \(features.count)")
        }
        try names(features, field: "features")

        let classes = document.classes ?? []
        let outputCount: Int
        switch document.task {
        case .binary:
            guard classes.count == 2 else {
                throw invalid("classes must list exactly 2 labels for a binary model, it has \(classes.count)")
            }
            outputCount = 1
        case .multiclass:
            guard (2...NativeModelLimits.maxClasses).contains(classes.count) else {
                throw invalid(
                    "classes must list 2...\(NativeModelLimits.maxClasses) labels for a multiclass model, "
                        + "it has \(classes.count)")
            }
            outputCount = classes.count
        case .regression, .ranking:
            guard classes.isEmpty else {
                throw invalid("classes must be absent for a \(document.task.rawValue) model")
            }
            outputCount = 1
        }
        try names(classes, field: "classes")

        let present: [(NativeModelDocument.Kind, Bool)] = [
            (.linear, document.linear != nil), (.treeEnsemble, document.treeEnsemble != nil),
            (.factorization, document.factorization != nil),
        ]
        for (kind, isPresent) in present where isPresent != (kind == document.kind) {
            throw invalid(
                isPresent
                    ? "a \(document.kind.rawValue) model must not have a \(kind.rawValue) section"
                    : "\(kind.rawValue) is missing")
        }
        return Header(featureCount: features.count, outputCount: outputCount)
    }

    /// Checks that `link` suits the task: identity for regression and ranking; logistic (or identity,
    /// when the sums are already probabilities) for binary; softmax (or identity) for multiclass.
    static func link(
        _ link: NativeModelDocument.Link, task: NativeModelDocument.Task, field: String
    ) throws(SlipwayError) {
        let allowed: [NativeModelDocument.Link] =
            switch task {
            case .regression, .ranking: [.identity]
            case .binary: [.logistic, .identity]
            case .multiclass: [.softmax, .identity]
            }
        guard allowed.contains(link) else {
            throw invalid(
                "\(field) '\(link.rawValue)' does not suit a \(task.rawValue) model; use "
                    + allowed.map(\.rawValue).joined(separator: " or "))
        }
    }

    /// The output tensor's name for a task.
    static func outputName(_ task: NativeModelDocument.Task) -> String {
        switch task {
        case .regression: "predictions"
        case .ranking: "scores"
        case .binary, .multiclass: "probabilities"
        }
    }

    /// Checks that names are non-empty, at most 256 bytes and unique.
    static func names(_ names: [String], field: String) throws(SlipwayError) {
        var seen = Set<String>()
        seen.reserveCapacity(names.count)
        for (index, name) in names.enumerated() {
            guard !name.isEmpty, name.utf8.count <= NativeModelLimits.maxNameBytes else {
                throw invalid("\(field)[\(index)] must be 1...\(NativeModelLimits.maxNameBytes) bytes")
            }
            guard seen.insert(name).inserted else {
                throw invalid("\(field)[\(index)] repeats an earlier entry; entries must be unique")
            }
        }
    }

    /// Checks an array's length.
    static func count(_ actual: Int, _ expected: Int, field: String, per what: String) throws(SlipwayError) {
        guard actual == expected else {
            throw invalid("\(field) has \(actual) entries, but must have \(expected) (one \(what))")
        }
    }

    /// Checks every value is finite, naming the first that is not.
    static func finite(_ values: [Float], field: String) throws(SlipwayError) {
        if let index = values.firstIndex(where: { !$0.isFinite }) {
            throw invalid("\(field)[\(index)] is not a finite number")
        }
    }

    static func invalid(_ message: String) -> SlipwayError {
        .unprocessable("invalid Slipway model: \(message)", code: "invalid_model")
    }
}

/// Upper bounds on what a native model may declare. Every array is also checked against the lengths
/// the others imply, so nothing is allocated from a declared size alone.
public enum NativeModelLimits {
    public static let maxFeatures = 1 << 24
    public static let maxClasses = 1 << 16
    public static let maxTrees = 1 << 20
    /// Per tree; the whole ensemble must also fit 32-bit node indices.
    public static let maxNodesPerTree = 1 << 24
    /// Users and items each: indices stay exact when passed to ``Predictor`` as 32-bit floats.
    public static let maxFactorRows = 1 << 24
    public static let maxFactorDimensions = 4096
    /// For feature names, class labels, user and item ids.
    public static let maxNameBytes = 256
}
