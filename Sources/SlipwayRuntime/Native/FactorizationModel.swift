import Foundation
import SlipwayCore

/// A matrix-factorization recommender (for example implicit ALS) read from a native `factorization`
/// document: a user's affinity for an item is the dot product of their factor vectors.
///
/// Scores are summed in `Float` over dimensions `0..<dimensions`, in order. The model is an immutable
/// value, safe to share between tasks.
///
/// ```swift
/// let model = try FactorizationModel(artifact: bytes)
/// let picks = try model.topK(10, forUser: "u42", excluding: alreadySeen)
/// ```
public struct FactorizationModel: Sendable {
    /// The length of every factor vector.
    public let dimensions: Int
    public let userIDs: [String]
    public let itemIDs: [String]
    /// `userIDs.count × dimensions`, row-major.
    let userFactors: [Float]
    /// `itemIDs.count × dimensions`, row-major.
    let itemFactors: [Float]
    let userIndices: [String: Int]
    let itemIndices: [String: Int]

    /// One recommended item.
    public struct ScoredItem: Sendable, Equatable {
        /// The item's index in ``FactorizationModel/itemIDs``.
        public var item: Int
        public var id: String
        public var score: Float

        public init(item: Int, id: String, score: Float) {
            self.item = item
            self.id = id
            self.score = score
        }
    }

    /// Parses and validates a native model file of kind `factorization`.
    /// - Throws: ``SlipwayError`` (422) naming the invalid field, or when the file holds another kind.
    public init(artifact: [UInt8]) throws(SlipwayError) {
        try self.init(document: NativeModelDocument.decode(artifact))
    }

    /// Validates a decoded document of kind `factorization`.
    /// - Throws: ``SlipwayError`` (422) naming the invalid field.
    public init(document: NativeModelDocument) throws(SlipwayError) {
        guard document.kind == .factorization else {
            throw .unprocessable(
                "this is a \(document.kind.rawValue) model, not a factorization model", code: "unsupported_model")
        }
        let header = try NativeModelValidator.header(document)
        guard document.task == .ranking else {
            throw NativeModelValidator.invalid("a factorization model's task must be ranking")
        }
        guard header.featureCount == 2 else {
            throw NativeModelValidator.invalid(
                "a factorization model has 2 features (the user and item index columns), not \(header.featureCount)")
        }
        guard let section = document.factorization else {
            throw NativeModelValidator.invalid("factorization is missing")
        }
        let dimensions = section.dimensions
        guard (1...NativeModelLimits.maxFactorDimensions).contains(dimensions) else {
            throw NativeModelValidator.invalid(
                "factorization.dimensions must be 1...\(NativeModelLimits.maxFactorDimensions), not \(dimensions)")
        }
        var indices: [[String: Int]] = []
        for (field, factors) in [("factorization.users", section.users), ("factorization.items", section.items)] {
            guard (1...NativeModelLimits.maxFactorRows).contains(factors.ids.count) else {
                throw NativeModelValidator.invalid(
                    "\(field).ids must list 1...\(NativeModelLimits.maxFactorRows) ids, it has \(factors.ids.count)")
            }
            try NativeModelValidator.names(factors.ids, field: "\(field).ids")
            // ids.count ≤ 2^24 and dimensions ≤ 4096, so the product cannot overflow.
            try NativeModelValidator.count(
                factors.factors.count, factors.ids.count * dimensions, field: "\(field).factors",
                per: "per id and dimension")
            try NativeModelValidator.finite(factors.factors, field: "\(field).factors")
            indices.append(Dictionary(uniqueKeysWithValues: factors.ids.enumerated().map { ($1, $0) }))
        }
        self.dimensions = dimensions
        userIDs = section.users.ids
        itemIDs = section.items.ids
        userFactors = section.users.factors
        itemFactors = section.items.factors
        userIndices = indices[0]
        itemIndices = indices[1]
    }

    /// The index of a user id in ``userIDs``, or nil when the model does not know the user.
    public func userIndex(of id: String) -> Int? { userIndices[id] }

    /// The index of an item id in ``itemIDs``, or nil when the model does not know the item.
    public func itemIndex(of id: String) -> Int? { itemIndices[id] }

    /// The affinity of a user for an item.
    /// - Throws: ``SlipwayError`` (400) when either index is out of range.
    public func score(user: Int, item: Int) throws(SlipwayError) -> Float {
        try checkUser(user)
        guard itemIDs.indices.contains(item) else {
            throw .badRequest(
                "item index \(item) is outside the model's \(itemIDs.count) items", code: "invalid_input")
        }
        return unsafeScore(user: user, item: item)
    }

    /// The `k` items a user scores highest, best first, leaving out `excluded` (typically the items the
    /// user already interacted with). Equal scores rank the lower item index first.
    /// - Parameters:
    ///   - k: how many items to return; fewer come back when fewer items remain.
    ///   - user: the user's index in ``userIDs``.
    ///   - excluded: item indices to leave out; indices outside the model are ignored.
    /// - Throws: ``SlipwayError`` (400) when `k` is negative or `user` is out of range.
    public func topK(_ k: Int, forUser user: Int, excluding excluded: Set<Int> = []) throws(SlipwayError)
        -> [ScoredItem]
    {
        try checkUser(user)
        guard k >= 0 else { throw .badRequest("k must not be negative", code: "invalid_input") }
        var best = TopK(capacity: min(k, itemIDs.count))
        if best.capacity > 0 {
            for item in itemIDs.indices where !excluded.contains(item) {
                best.insert(item: item, score: unsafeScore(user: user, item: item))
            }
        }
        return best.sorted().map { ScoredItem(item: $0.item, id: itemIDs[$0.item], score: $0.score) }
    }

    /// ``topK(_:forUser:excluding:)`` by ids.
    /// - Throws: ``SlipwayError`` (404) when the model does not know the user; unknown excluded ids are
    ///   ignored.
    public func topK(_ k: Int, forUser id: String, excluding excluded: some Sequence<String> = [String]())
        throws(SlipwayError) -> [ScoredItem]
    {
        guard let user = userIndex(of: id) else {
            throw .notFound("the model has no factors for user '\(id.prefix(64))'", code: "unknown_user")
        }
        return try topK(k, forUser: user, excluding: Set(excluded.compactMap(itemIndex(of:))))
    }

    private func checkUser(_ user: Int) throws(SlipwayError) {
        guard userIDs.indices.contains(user) else {
            throw .badRequest(
                "user index \(user) is outside the model's \(userIDs.count) users", code: "invalid_input")
        }
    }

    /// - Precondition: both indices are in range.
    @inline(__always)
    func unsafeScore(user: Int, item: Int) -> Float {
        userFactors.withUnsafeBufferPointer { users in
            itemFactors.withUnsafeBufferPointer { items in
                let u = users.baseAddress! + user * dimensions
                let v = items.baseAddress! + item * dimensions
                var sum: Float = 0
                for d in 0..<dimensions { sum += u[d] * v[d] }
                return sum
            }
        }
    }

    /// Predicts rows of `[user_index, item_index]` (as floats): one score per row.
    func predict(_ input: UnsafePointer<Float>, rows: Int, into output: UnsafeMutablePointer<Float>)
        throws(SlipwayError)
    {
        for row in 0..<rows {
            guard let user = Self.index(input[2 * row], below: userIDs.count),
                let item = Self.index(input[2 * row + 1], below: itemIDs.count)
            else {
                throw .badRequest(
                    "row \(row): a factorization model takes [user_index, item_index], whole numbers below "
                        + "\(userIDs.count) and \(itemIDs.count)",
                    code: "invalid_input")
            }
            output[row] = unsafeScore(user: user, item: item)
        }
    }

    /// A float that is a whole number in `0..<count`, as an index; nil otherwise (NaN included).
    private static func index(_ value: Float, below count: Int) -> Int? {
        guard value >= 0, value < Float(count), value == value.rounded(.towardZero) else { return nil }
        return Int(value)
    }
}

/// The best `capacity` (item, score) pairs seen, kept in a min-heap whose root is the worst kept pair.
private struct TopK {
    typealias Entry = (item: Int, score: Float)
    let capacity: Int
    private var heap: [Entry] = []

    init(capacity: Int) {
        self.capacity = capacity
        heap.reserveCapacity(capacity)
    }

    /// A total order: higher score first, then lower index; NaN (from overflowing factors) ranks last.
    static func isBetter(_ a: Entry, _ b: Entry) -> Bool {
        let left = a.score.isNaN ? -Float.infinity : a.score
        let right = b.score.isNaN ? -Float.infinity : b.score
        return left != right ? left > right : a.item < b.item
    }

    mutating func insert(item: Int, score: Float) {
        let entry = (item, score)
        if heap.count < capacity {
            heap.append(entry)
            var child = heap.count - 1
            while child > 0 {
                let parent = (child - 1) / 2
                guard Self.isBetter(heap[parent], heap[child]) else { break }
                heap.swapAt(parent, child)
                child = parent
            }
        } else if let worst = heap.first, Self.isBetter(entry, worst) {
            heap[0] = entry
            var parent = 0
            while true {
                var worse = parent
                let left = 2 * parent + 1
                let right = left + 1
                if left < heap.count, Self.isBetter(heap[worse], heap[left]) { worse = left }
                if right < heap.count, Self.isBetter(heap[worse], heap[right]) { worse = right }
                if worse == parent { break }
                heap.swapAt(parent, worse)
                parent = worse
            }
        }
    }

    func sorted() -> [Entry] { heap.sorted(by: Self.isBetter) }
}
