/// Limited-memory BFGS with a strong-Wolfe line search, for smooth objectives of a few thousand
/// parameters at most (Nocedal & Wright, *Numerical Optimization*, Algorithms 7.4, 3.5 and 3.6).
///
/// Stopping follows SciPy's L-BFGS-B as scikit-learn configures it: converged when the largest
/// gradient component is at most ``gradientTolerance``, or when one iteration lowers the objective by
/// at most ``relativeReductionTolerance`` relative to its size.
struct LBFGSMinimizer {
    /// Correction pairs kept for the inverse-Hessian approximation.
    var memory = 10
    var maxIterations: Int
    var gradientTolerance: Double
    var relativeReductionTolerance = 64 * Double.ulpOfOne
    /// Objective evaluations allowed in one line search (scikit-learn passes `maxls=50` to SciPy).
    var maxEvaluationsPerSearch = 50
    /// Wolfe constants: sufficient decrease (c1) and curvature (c2).
    var sufficientDecrease = 1e-4
    var curvature = 0.9

    /// Where the minimiser stopped.
    struct Outcome {
        var point: [Double]
        var value: Double
        var iterations: Int
        var converged: Bool
        /// The objective after each iteration.
        var values: [Double]
    }

    /// Returns the objective at `point` and writes its gradient into `gradient` (already sized).
    typealias Objective = (_ point: [Double], _ gradient: inout [Double]) -> Double

    /// Minimises `objective` from `start`, calling `afterIteration` after every iteration; an error it
    /// throws stops the minimiser and is rethrown.
    func minimize(
        from start: [Double], objective: @escaping Objective,
        afterIteration: (_ iteration: Int, _ point: [Double], _ value: Double) throws -> Void
    ) rethrows -> Outcome {
        var point = start
        var gradient = [Double](repeating: 0, count: start.count)
        var value = objective(point, &gradient)
        var values: [Double] = []
        var steps: [[Double]] = []
        var gradientChanges: [[Double]] = []
        var iteration = 0
        var converged = Self.largestMagnitude(gradient) <= gradientTolerance

        while !converged && iteration < maxIterations {
            var direction = Self.inverseHessianProduct(gradient, steps: steps, gradientChanges: gradientChanges)
            for index in direction.indices { direction[index] = -direction[index] }
            var slope = Self.dot(direction, gradient)
            if !(slope < 0) {
                // Rounding made the quasi-Newton direction useless: restart from steepest descent.
                steps.removeAll()
                gradientChanges.removeAll()
                direction = gradient.map { -$0 }
                slope = -Self.dot(gradient, gradient)
            }
            // Like SciPy, the first step (and the first after a restart) has unit length.
            let initialStep = steps.isEmpty ? 1 / Self.dot(direction, direction).squareRoot() : 1
            var search = LineSearch(
                minimizer: self, objective: objective, origin: point, value: value, direction: direction, slope: slope)
            guard let trial = search.run(initialStep: initialStep) else {
                // Like L-BFGS-B: retry once from steepest descent before giving up.
                if steps.isEmpty { break }
                steps.removeAll()
                gradientChanges.removeAll()
                continue
            }

            iteration += 1
            var step = trial.point
            var change = trial.gradient
            for index in step.indices {
                step[index] -= point[index]
                change[index] -= gradient[index]
            }
            if Self.dot(step, change) > Double.ulpOfOne * Self.dot(change, change) {
                steps.append(step)
                gradientChanges.append(change)
                if steps.count > memory {
                    steps.removeFirst()
                    gradientChanges.removeFirst()
                }
            }
            let previous = value
            point = trial.point
            gradient = trial.gradient
            value = trial.value
            values.append(value)
            try afterIteration(iteration, point, value)
            converged =
                Self.largestMagnitude(gradient) <= gradientTolerance
                || previous - value <= relativeReductionTolerance * max(abs(previous), abs(value), 1)
        }
        return Outcome(point: point, value: value, iterations: iteration, converged: converged, values: values)
    }

    /// The two-loop recursion: `H·gradient` for the L-BFGS inverse-Hessian approximation `H`.
    private static func inverseHessianProduct(
        _ gradient: [Double], steps: [[Double]], gradientChanges: [[Double]]
    ) -> [Double] {
        var result = gradient
        var alphas = [Double](repeating: 0, count: steps.count)
        for pair in steps.indices.reversed() {
            let rho = 1 / dot(steps[pair], gradientChanges[pair])
            alphas[pair] = rho * dot(steps[pair], result)
            for index in result.indices { result[index] -= alphas[pair] * gradientChanges[pair][index] }
        }
        if let step = steps.last, let change = gradientChanges.last {
            let gamma = dot(step, change) / dot(change, change)
            for index in result.indices { result[index] *= gamma }
        }
        for pair in steps.indices {
            let rho = 1 / dot(steps[pair], gradientChanges[pair])
            let beta = rho * dot(gradientChanges[pair], result)
            for index in result.indices { result[index] += steps[pair][index] * (alphas[pair] - beta) }
        }
        return result
    }

    static func dot(_ a: [Double], _ b: [Double]) -> Double {
        var sum = 0.0
        for index in a.indices { sum += a[index] * b[index] }
        return sum
    }

    static func largestMagnitude(_ values: [Double]) -> Double {
        values.reduce(0) { max($0, abs($1)) }
    }
}

/// One strong-Wolfe line search along `direction` from `origin`.
private struct LineSearch {
    struct Trial {
        var step: Double
        var point: [Double]
        var value: Double
        var gradient: [Double]
        /// Directional derivative at this trial.
        var slope: Double
    }

    let minimizer: LBFGSMinimizer
    let objective: LBFGSMinimizer.Objective
    let origin: [Double]
    let value: Double
    let direction: [Double]
    let slope: Double
    var evaluations = 0

    init(
        minimizer: LBFGSMinimizer, objective: @escaping LBFGSMinimizer.Objective, origin: [Double], value: Double,
        direction: [Double], slope: Double
    ) {
        self.minimizer = minimizer
        self.objective = objective
        self.origin = origin
        self.value = value
        self.direction = direction
        self.slope = slope
    }

    /// A step satisfying the strong Wolfe conditions, or failing that the best step found that lowers
    /// the objective sufficiently; nil when no step lowers it at all.
    mutating func run(initialStep: Double) -> Trial? {
        var previous = Trial(step: 0, point: origin, value: value, gradient: [], slope: slope)
        var step = initialStep
        while evaluations < minimizer.maxEvaluationsPerSearch {
            let trial = evaluate(step)
            if !isSufficientDecrease(trial) || (previous.step > 0 && trial.value >= previous.value) {
                return zoom(low: previous, high: trial)
            }
            if abs(trial.slope) <= -minimizer.curvature * slope { return trial }
            if trial.slope >= 0 { return zoom(low: trial, high: previous) }
            previous = trial
            step *= 2
        }
        return previous.step > 0 ? previous : nil
    }

    /// Narrows `[low, high]` (either order) until a step satisfies both Wolfe conditions; `low` always
    /// satisfies sufficient decrease and has the lower value.
    private mutating func zoom(low: Trial, high: Trial) -> Trial? {
        var low = low
        var high = high
        while evaluations < minimizer.maxEvaluationsPerSearch {
            let width = abs(high.step - low.step)
            if width <= Double.ulpOfOne * max(low.step, high.step) { break }
            let trial = evaluate(Self.interpolate(low, high))
            if !isSufficientDecrease(trial) || trial.value >= low.value {
                high = trial
            } else {
                if abs(trial.slope) <= -minimizer.curvature * slope { return trial }
                if trial.slope * (high.step - low.step) >= 0 { high = low }
                low = trial
            }
        }
        return low.step > 0 ? low : nil
    }

    /// The Armijo condition, or near the optimum its approximate form (Hager & Zhang, 2005): once a
    /// decrease is too small for rounding in the objective to resolve, judge it by the slope, which stays
    /// accurate; for a convex objective a still-negative slope at the step means the value did decrease.
    private func isSufficientDecrease(_ trial: Trial) -> Bool {
        guard trial.value.isFinite else { return false }
        if trial.value <= value + minimizer.sufficientDecrease * trial.step * slope { return true }
        return trial.value <= value + Self.roundingAllowance * abs(value)
            && trial.slope <= (2 * minimizer.sufficientDecrease - 1) * slope
    }

    /// Relative size of the objective's rounding noise (a sum over up to millions of rows).
    private static let roundingAllowance = 1e-12

    private mutating func evaluate(_ step: Double) -> Trial {
        evaluations += 1
        var point = origin
        for index in point.indices { point[index] += step * direction[index] }
        var gradient = [Double](repeating: 0, count: origin.count)
        let value = objective(point, &gradient)
        return Trial(
            step: step, point: point, value: value, gradient: gradient,
            slope: LBFGSMinimizer.dot(gradient, direction))
    }

    /// The minimiser of the cubic through both trials' values and slopes, kept at least a tenth of the
    /// interval away from either end; bisection when the cubic has no usable minimum.
    private static func interpolate(_ a: Trial, _ b: Trial) -> Double {
        let lower = min(a.step, b.step)
        let upper = max(a.step, b.step)
        let margin = 0.1 * (upper - lower)
        guard a.value.isFinite, b.value.isFinite, a.slope.isFinite, b.slope.isFinite else {
            return (lower + upper) / 2
        }
        let d1 = a.slope + b.slope - 3 * (a.value - b.value) / (a.step - b.step)
        let discriminant = d1 * d1 - a.slope * b.slope
        guard discriminant >= 0 else { return (lower + upper) / 2 }
        let d2 = (b.step > a.step ? 1.0 : -1.0) * discriminant.squareRoot()
        let step = b.step - (b.step - a.step) * (b.slope + d2 - d1) / (b.slope - a.slope + 2 * d2)
        guard step.isFinite else { return (lower + upper) / 2 }
        return min(max(step, lower + margin), upper - margin)
    }
}
