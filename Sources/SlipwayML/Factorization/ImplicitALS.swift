import SlipwayCore

/// Hyperparameters of ``ImplicitALSTrainer``.
///
/// The trainer minimises (Hu, Koren & Volinsky, "Collaborative Filtering for Implicit Feedback
/// Datasets", 2008)
///
///     Σ_{u,i} c_ui · (p_ui − x_u·y_i)² + regularization · (Σ_u ‖x_u‖² + Σ_i ‖y_i‖²)
///
/// over all user–item pairs, with preference `p_ui = 1` when user `u` interacted with item `i` (total
/// strength `r_ui > 0`) and 0 otherwise, and confidence `c_ui = 1 + alpha · r_ui`.
public struct ImplicitALSConfiguration: Sendable, Equatable {
    /// Latent dimensions per user and item.
    public var factors: Int
    /// The L2 penalty λ on every factor vector (not scaled by interaction counts).
    public var regularization: Double
    /// How fast confidence grows with strength: `c = 1 + alpha · r`.
    public var alpha: Double
    /// Sweeps, each solving all users then all items exactly.
    public var iterations: Int
    /// Seeds the initial item factors; the same seed and data give the same model on any machine.
    public var seed: UInt64

    public init(
        factors: Int = 32, regularization: Double = 0.01, alpha: Double = 40, iterations: Int = 15, seed: UInt64 = 0
    ) {
        self.factors = factors
        self.regularization = regularization
        self.alpha = alpha
        self.iterations = iterations
        self.seed = seed
    }

    /// Throws when a hyperparameter is out of range.
    public func validate() throws(SlipwayError) {
        guard (1...1024).contains(factors) else {
            throw .badRequest("factors is \(factors); use 1 to 1024 (default 32)")
        }
        guard regularization > 0, regularization.isFinite else {
            throw .badRequest("regularization is \(regularization); use a finite number > 0 (default 0.01)")
        }
        guard alpha >= 0, alpha.isFinite else {
            throw .badRequest("alpha is \(alpha); use a finite number >= 0 (default 40)")
        }
        guard iterations >= 1 else { throw .badRequest("iterations is \(iterations); use at least 1 (default 15)") }
    }
}

/// What ``ImplicitALSTrainer/train(interactions:userIDs:itemIDs:observer:)`` returns.
public struct ImplicitALSResult: Sendable, Equatable {
    /// User and item factors; `topK(_:forUser:excluding:)` recommends from them.
    public var parameters: FactorizationParameters
    /// The objective (see ``ImplicitALSConfiguration``) after each sweep; it never increases.
    public var lossHistory: [Double]
}

/// Implicit-feedback matrix factorisation by alternating least squares, each user and item solved
/// exactly with a Cholesky factorisation using the `YᵀY` precomputation, so a sweep costs
/// `O(nnz·f² + (users + items)·f³)`.
///
/// ```swift
/// let trainer = ImplicitALSTrainer(configuration: .init(factors: 16))
/// let result = try trainer.train(
///     interactions: [.init(user: 0, item: 3, strength: 2)], userIDs: users, itemIDs: items)
/// let recommended = result.parameters.topK(10, forUser: 0, excluding: [3])
/// ```
public struct ImplicitALSTrainer: Sendable {
    /// One observed interaction: indices into the user and item id lists and a non-negative strength
    /// (a count, a watch time…). Repeated pairs add up; a strength of 0 counts as no interaction.
    public struct Interaction: Sendable, Hashable {
        public var user: Int
        public var item: Int
        public var strength: Double

        public init(user: Int, item: Int, strength: Double = 1) {
            self.user = user
            self.item = item
            self.strength = strength
        }
    }

    public var configuration: ImplicitALSConfiguration

    public init(configuration: ImplicitALSConfiguration = .init()) {
        self.configuration = configuration
    }

    /// Trains user and item factors, calling `observer` after every sweep with `train_loss`.
    ///
    /// - Parameters:
    ///   - interactions: observed user–item pairs, indexing `userIDs` and `itemIDs`.
    ///   - userIDs: distinct user ids; a user without interactions gets a zero vector.
    ///   - itemIDs: distinct item ids.
    /// - Throws: `SlipwayError.badRequest` for invalid data or hyperparameters; otherwise whatever
    ///   `observer` throws (e.g. `CancellationError`), which stops training at once. Untyped because the
    ///   observer may throw any error.
    public func train(
        interactions: [Interaction], userIDs: [String], itemIDs: [String], observer: TrainingObserver? = nil
    ) throws -> ImplicitALSResult {
        try configuration.validate()
        try Self.check(interactions: interactions, userIDs: userIDs, itemIDs: itemIDs)
        let factors = configuration.factors
        let byUser = SparseRows(interactions, rowCount: userIDs.count, byUser: true)
        let byItem = SparseRows(interactions, rowCount: itemIDs.count, byUser: false)

        var generator = SeededGenerator(seed: configuration.seed)
        var itemFactors = (0..<(itemIDs.count * factors)).map { _ in (generator.nextUnit() - 0.5) * 0.02 }
        var userFactors = [Double](repeating: 0, count: userIDs.count * factors)
        var lossHistory: [Double] = []
        for sweep in 1...configuration.iterations {
            userFactors = solveAll(byUser, fixed: itemFactors)
            itemFactors = solveAll(byItem, fixed: userFactors)
            let loss = self.loss(byUser, userFactors: userFactors, itemFactors: itemFactors)
            lossHistory.append(loss)
            try observer?(
                TrainingProgress(
                    iteration: sweep, maxIterations: configuration.iterations, metrics: ["train_loss": loss]))
        }
        let parameters = FactorizationParameters(
            dimensions: factors, userIDs: userIDs, itemIDs: itemIDs, userFactors: userFactors,
            itemFactors: itemFactors)
        return ImplicitALSResult(parameters: parameters, lossHistory: lossHistory)
    }

    private static func check(interactions: [Interaction], userIDs: [String], itemIDs: [String]) throws(SlipwayError) {
        guard !userIDs.isEmpty, !itemIDs.isEmpty else {
            throw .badRequest(
                "there are \(userIDs.count) user ids and \(itemIDs.count) item ids; pass at least one of each")
        }
        for (ids, what) in [(userIDs, "user"), (itemIDs, "item")] where Set(ids).count != ids.count {
            var seen = Set<String>()
            let duplicate = ids.first { !seen.insert($0).inserted } ?? ""
            throw .badRequest("\(what) id '\(duplicate.prefix(80))' appears more than once; pass each id once")
        }
        for (index, interaction) in interactions.enumerated() {
            guard userIDs.indices.contains(interaction.user) else {
                throw .badRequest(
                    "interaction \(index) has user index \(interaction.user); use 0..<\(userIDs.count) (one per user id)"
                )
            }
            guard itemIDs.indices.contains(interaction.item) else {
                throw .badRequest(
                    "interaction \(index) has item index \(interaction.item); use 0..<\(itemIDs.count) (one per item id)"
                )
            }
            guard interaction.strength >= 0, interaction.strength.isFinite else {
                throw .badRequest(
                    "interaction \(index) has strength \(interaction.strength); use a finite number >= 0")
            }
        }
        guard interactions.contains(where: { $0.strength > 0 }) else {
            throw .badRequest("there are no interactions with positive strength; pass at least one")
        }
    }

    /// Users (or items) per parallel block: fixed, so the work split never depends on the machine.
    private static let blockRows = 256

    /// Solves every row of `rows` against the fixed side: for row `u`,
    /// `(FᵀF + Fᵀ(C_u − I)F + λI)·x_u = Fᵀ·C_u·p_u`, where only the row's interactions touch `C_u − I`.
    private func solveAll(_ rows: SparseRows, fixed: [Double]) -> [Double] {
        let f = configuration.factors
        let alpha = configuration.alpha
        var base = Self.gram(fixed, factors: f)
        for d in 0..<f { base[d * f + d] += configuration.regularization }
        let blocks = (rows.rowCount + Self.blockRows - 1) / Self.blockRows
        let solved = DenseKernels.parallelMap(blocks) { block -> [Double] in
            let range = (block * Self.blockRows)..<min(rows.rowCount, (block + 1) * Self.blockRows)
            var out = [Double](repeating: 0, count: range.count * f)
            var system = [Double](repeating: 0, count: f * f)
            var rightSide = [Double](repeating: 0, count: f)
            fixed.withUnsafeBufferPointer { fixedBuffer in
                system.withUnsafeMutableBufferPointer { a in
                    rightSide.withUnsafeMutableBufferPointer { b in
                        for row in range where rows.offsets[row] < rows.offsets[row + 1] {
                            _ = a.update(fromContentsOf: base)
                            b.update(repeating: 0)
                            for entry in rows.offsets[row]..<rows.offsets[row + 1] {
                                let confidence = 1 + alpha * rows.values[entry]
                                let y = fixedBuffer.baseAddress! + rows.columns[entry] * f
                                for i in 0..<f {
                                    let scaled = (confidence - 1) * y[i]
                                    for j in 0...i { a[i * f + j] += scaled * y[j] }
                                    b[i] += confidence * y[i]
                                }
                            }
                            // λ > 0 keeps the system positive definite, so any positive pivot is fine.
                            _ = Cholesky.factor(a.baseAddress!, n: f, relativeTolerance: 0)
                            Cholesky.solve(a.baseAddress!, n: f, b.baseAddress!)
                            for d in 0..<f { out[(row - range.lowerBound) * f + d] = b[d] }
                        }
                    }
                }
            }
            return out
        }
        return Array(solved.joined())
    }

    /// `FᵀF` for the row-major `rows × factors` matrix `matrix`, row-major `factors × factors`.
    private static func gram(_ matrix: [Double], factors f: Int) -> [Double] {
        var gram = [Double](repeating: 0, count: f * f)
        for start in stride(from: 0, to: matrix.count, by: f) {
            for i in 0..<f {
                let value = matrix[start + i]
                for j in 0...i { gram[i * f + j] += value * matrix[start + j] }
            }
        }
        for i in 0..<f { for j in 0..<i { gram[j * f + i] = gram[i * f + j] } }
        return gram
    }

    /// The objective, using `Σ_{u,i} (x_u·y_i)² = Σ_u x_uᵀ(YᵀY)x_u` for the pairs without interactions.
    private func loss(_ byUser: SparseRows, userFactors: [Double], itemFactors: [Double]) -> Double {
        let f = configuration.factors
        let itemGram = Self.gram(itemFactors, factors: f)
        var total = 0.0
        for user in 0..<byUser.rowCount {
            let x = user * f
            for i in 0..<f {
                var row = 0.0
                for j in 0..<f { row += itemGram[i * f + j] * userFactors[x + j] }
                total += userFactors[x + i] * row
            }
            for entry in byUser.offsets[user]..<byUser.offsets[user + 1] {
                let y = byUser.columns[entry] * f
                var score = 0.0
                for d in 0..<f { score += userFactors[x + d] * itemFactors[y + d] }
                let confidence = 1 + configuration.alpha * byUser.values[entry]
                total += confidence * (1 - score) * (1 - score) - score * score
            }
        }
        var squares = 0.0
        for value in userFactors { squares += value * value }
        for value in itemFactors { squares += value * value }
        return total + configuration.regularization * squares
    }
}

/// Interactions grouped by user (or by item) in compressed sparse rows: row `r`'s entries are
/// `offsets[r]..<offsets[r + 1]`, sorted by column, repeated pairs summed, zero strengths dropped.
struct SparseRows: Sendable {
    let rowCount: Int
    let offsets: [Int]
    let columns: [Int]
    let values: [Double]

    /// Groups `interactions` by user (`byUser`) or by item; a counting sort by row, then a small sort of
    /// each row by column, so building costs `O(nnz · log(row length))`.
    init(_ interactions: [ImplicitALSTrainer.Interaction], rowCount: Int, byUser: Bool) {
        let kept = interactions.filter { $0.strength > 0 }
        var starts = [Int](repeating: 0, count: rowCount + 1)
        for interaction in kept { starts[(byUser ? interaction.user : interaction.item) + 1] += 1 }
        for row in 0..<rowCount { starts[row + 1] += starts[row] }
        var next = starts
        var grouped = [(column: Int, strength: Double)](repeating: (0, 0), count: kept.count)
        for interaction in kept {
            let row = byUser ? interaction.user : interaction.item
            grouped[next[row]] = (byUser ? interaction.item : interaction.user, interaction.strength)
            next[row] += 1
        }

        var offsets = [0]
        var columns: [Int] = []
        var values: [Double] = []
        offsets.reserveCapacity(rowCount + 1)
        columns.reserveCapacity(kept.count)
        values.reserveCapacity(kept.count)
        for row in 0..<rowCount {
            // Repeated pairs end up adjacent and are summed.
            for entry in grouped[starts[row]..<starts[row + 1]].sorted(by: { $0.column < $1.column }) {
                if columns.count > offsets[row], columns[columns.count - 1] == entry.column {
                    values[values.count - 1] += entry.strength
                } else {
                    columns.append(entry.column)
                    values.append(entry.strength)
                }
            }
            offsets.append(columns.count)
        }
        self.rowCount = rowCount
        self.offsets = offsets
        self.columns = columns
        self.values = values
    }
}
