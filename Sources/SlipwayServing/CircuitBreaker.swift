import SlipwayCore
import Synchronization

/// Stops calling a dependency that keeps failing, and lets a few probe calls test it after a pause.
///
/// A breaker starts **closed**: every call goes through and its outcome is remembered. It **opens** after
/// ``Configuration/failureThreshold`` failures in a row, or once at least ``Configuration/minimumCalls`` of
/// the last ``Configuration/window`` calls have been recorded and the share that failed reaches
/// ``Configuration/failureRate``. While open, calls are refused at once with `upstream_circuit_open` (503
/// with `Retry-After`), so callers fail over or back off instead of waiting for timeouts. After
/// ``Configuration/openDuration`` it is **half-open**: up to ``Configuration/halfOpenProbes`` calls go
/// through as probes. When that many probes have succeeded it closes with a clean history; any failed probe
/// opens it again for another ``Configuration/openDuration``.
///
/// Every ``acquire(now:)`` that returns a permit must be followed by exactly one
/// ``record(_:for:now:)`` — `.ignored` for outcomes that say nothing about the dependency's health (the
/// caller's own bad input, cancellation). Outcomes of calls that started before the last state change are
/// ignored, so a slow call from before an outage cannot close a breaker that a probe just re-opened. Should
/// a probe never be recorded, the half-open round restarts after another ``Configuration/openDuration``.
///
/// Time is a parameter so tests replay exactly, as with ``RateLimiter``.
///
/// ```swift
/// let breaker = CircuitBreaker(name: "mlserver.fraud.svc:8080", configuration: try .init(openDuration: .seconds(10)))
/// let permit = try breaker.acquire(now: .now)          // throws upstream_circuit_open while open
/// do {
///     let result = try await callUpstream()
///     breaker.record(.success, for: permit, now: .now)
///     return result
/// } catch {
///     breaker.record(.failure, for: permit, now: .now)
///     throw error
/// }
/// ```
public final class CircuitBreaker: Sendable {
    /// When a breaker opens and how it recovers.
    public struct Configuration: Sendable, Equatable {
        /// Failures in a row that open the breaker; at least 1.
        public let failureThreshold: Int
        /// The share of failed calls in the window, in `0 < rate ≤ 1`, that opens the breaker.
        public let failureRate: Double
        /// How many of the most recent calls the failure rate is computed over; 1 to 10 000.
        public let window: Int
        /// Calls the window must hold before the failure rate is judged; 1 to ``window``.
        public let minimumCalls: Int
        /// How long an open breaker refuses calls before letting probes through; more than zero.
        public let openDuration: Duration
        /// Probe calls let through while half-open, and the successes that close the breaker; at least 1.
        public let halfOpenProbes: Int

        /// - Throws: ``SlipwayError`` (400, `invalid_circuit_breaker`) when a setting is out of range.
        public init(
            failureThreshold: Int = 5, failureRate: Double = 0.5, window: Int = 20, minimumCalls: Int = 10,
            openDuration: Duration = .seconds(10), halfOpenProbes: Int = 1
        ) throws(SlipwayError) {
            func invalid(_ message: String) -> SlipwayError {
                .badRequest(message, code: "invalid_circuit_breaker")
            }
            guard failureThreshold >= 1 else {
                throw invalid("failureThreshold must be at least 1, got \(failureThreshold)")
            }
            guard failureRate > 0, failureRate <= 1 else {
                throw invalid("failureRate must be more than 0 and at most 1, got \(failureRate)")
            }
            guard (1...10_000).contains(window) else { throw invalid("window must be 1 to 10000 calls, got \(window)") }
            guard (1...window).contains(minimumCalls) else {
                throw invalid("minimumCalls must be 1 to the window (\(window)), got \(minimumCalls)")
            }
            guard openDuration > .zero else {
                throw invalid("openDuration must be more than zero, got \(openDuration)")
            }
            guard halfOpenProbes >= 1 else { throw invalid("halfOpenProbes must be at least 1, got \(halfOpenProbes)") }
            self.failureThreshold = failureThreshold
            self.failureRate = failureRate
            self.window = window
            self.minimumCalls = minimumCalls
            self.openDuration = openDuration
            self.halfOpenProbes = halfOpenProbes
        }
    }

    /// Where the breaker is in its cycle.
    public enum State: String, Sendable, Equatable {
        /// Calls go through.
        case closed
        /// Calls are refused at once.
        case open
        /// A few probe calls go through; the rest are refused.
        case halfOpen = "half_open"
    }

    /// What happened to a call made under a ``Permit``.
    public enum Outcome: Sendable, Equatable {
        case success
        case failure
        /// Says nothing about the dependency's health (a bad request, a cancelled call); only frees the
        /// probe slot a half-open permit held.
        case ignored
    }

    /// Permission for one call, handed back with its outcome to ``record(_:for:now:)``.
    public struct Permit: Sendable, Equatable {
        /// The state change the call started after; outcomes from an earlier one are stale.
        fileprivate let generation: UInt64
        /// Whether the call is a half-open probe.
        public let isProbe: Bool
    }

    /// A consistent reading of the breaker, for metrics and the dashboard.
    public struct Statistics: Sendable, Equatable {
        public var state: State
        /// Failures in a row while closed.
        public var consecutiveFailures: Int
        /// Outcomes in the rolling window, and how many of them failed.
        public var windowCalls: Int
        public var windowFailures: Int
        /// When an open breaker next lets a probe through; nil unless open.
        public var retryAt: ContinuousClock.Instant?
        /// Times the breaker has opened since creation, re-openings after a failed probe included.
        public var timesOpened: Int
        /// Calls refused since creation.
        public var rejected: Int
    }

    /// The pure state machine; every method runs under the lock.
    private struct Machine {
        let configuration: Configuration
        var state = State.closed
        var generation: UInt64 = 0
        /// When open: the end of the pause. When half-open: when the probe round started.
        var since: ContinuousClock.Instant?
        var consecutiveFailures = 0
        /// The rolling window, as a ring of "failed" flags.
        var outcomes: [Bool] = []
        var next = 0
        var windowFailures = 0
        var probesInFlight = 0
        var probeSuccesses = 0
        var timesOpened = 0
        var rejected = 0

        /// A permit, or the time the caller may retry.
        mutating func acquire(now: ContinuousClock.Instant) -> Result<Permit, Refusal> {
            if state == .open, let retryAt = since, now >= retryAt { enter(.halfOpen, now: now) }
            if state == .halfOpen, let started = since, now >= started + configuration.openDuration,
                probesInFlight > 0
            {
                enter(.halfOpen, now: now)  // a probe was never recorded; start a fresh round
            }
            switch state {
            case .closed:
                return .success(Permit(generation: generation, isProbe: false))
            case .halfOpen where probesInFlight + probeSuccesses < configuration.halfOpenProbes:
                probesInFlight += 1
                return .success(Permit(generation: generation, isProbe: true))
            case .halfOpen:
                rejected += 1
                return .failure(Refusal(retryAt: now + .seconds(1), state: .halfOpen))
            case .open:
                rejected += 1
                return .failure(Refusal(retryAt: since ?? now, state: .open))
            }
        }

        /// Applies an outcome; returns the new state when it changed.
        mutating func record(_ outcome: Outcome, for permit: Permit, now: ContinuousClock.Instant) -> State? {
            guard permit.generation == generation else { return nil }
            switch (state, outcome) {
            case (_, .ignored):
                if state == .halfOpen, permit.isProbe { probesInFlight -= 1 }
                return nil
            case (.closed, .success):
                consecutiveFailures = 0
                remember(failed: false)
                return nil
            case (.closed, .failure):
                consecutiveFailures += 1
                remember(failed: true)
                let rateReached =
                    outcomes.count >= configuration.minimumCalls
                    && Double(windowFailures) >= configuration.failureRate * Double(outcomes.count)
                guard consecutiveFailures >= configuration.failureThreshold || rateReached else { return nil }
                enter(.open, now: now)
                return .open
            case (.halfOpen, .success):
                probesInFlight -= 1
                probeSuccesses += 1
                guard probeSuccesses >= configuration.halfOpenProbes else { return nil }
                enter(.closed, now: now)
                return .closed
            case (.halfOpen, .failure):
                enter(.open, now: now)
                return .open
            case (.open, _):
                return nil  // unreachable: opening starts a new generation
            }
        }

        mutating func enter(_ newState: State, now: ContinuousClock.Instant) {
            state = newState
            generation &+= 1
            probesInFlight = 0
            probeSuccesses = 0
            switch newState {
            case .open:
                timesOpened += 1
                since = now + configuration.openDuration
            case .halfOpen:
                since = now
            case .closed:
                since = nil
                consecutiveFailures = 0
                outcomes.removeAll(keepingCapacity: true)
                next = 0
                windowFailures = 0
            }
        }

        mutating func remember(failed: Bool) {
            if outcomes.count < configuration.window {
                outcomes.append(failed)
            } else {
                if outcomes[next] { windowFailures -= 1 }
                outcomes[next] = failed
                next = (next + 1) % configuration.window
            }
            if failed { windowFailures += 1 }
        }

        func statistics(now: ContinuousClock.Instant) -> Statistics {
            // An open breaker whose pause has passed lets the next call probe, so it already reads half-open.
            let elapsed = state == .open && since.map { now >= $0 } == true
            return Statistics(
                state: elapsed ? .halfOpen : state, consecutiveFailures: consecutiveFailures,
                windowCalls: outcomes.count, windowFailures: windowFailures,
                retryAt: state == .open && !elapsed ? since : nil, timesOpened: timesOpened, rejected: rejected)
        }
    }

    private struct Refusal: Error {
        let retryAt: ContinuousClock.Instant
        let state: State
    }

    private let machine: Mutex<Machine>
    /// The dependency, as named in error messages, e.g. `mlserver.fraud.svc:8080`.
    public let name: String
    /// The settings this breaker was made with.
    public let configuration: Configuration

    /// - Parameters:
    ///   - name: the dependency, as named in error messages; never put credentials in it.
    ///   - configuration: when to open and how to recover.
    public init(name: String, configuration: Configuration) {
        self.name = name
        self.configuration = configuration
        self.machine = Mutex(Machine(configuration: configuration))
    }

    /// Asks to make one call.
    ///
    /// - Parameter now: the current time.
    /// - Returns: a permit to pass to ``record(_:for:now:)`` with the call's outcome.
    /// - Throws: ``SlipwayError`` `upstream_circuit_open` (503) with `retryAfter` = whole seconds until probes
    ///   are let through (at least 1) while the breaker is open, or while half-open with every probe slot taken.
    public func acquire(now: ContinuousClock.Instant) throws(SlipwayError) -> Permit {
        let result = machine.withLock { $0.acquire(now: now) }
        switch result {
        case .success(let permit):
            return permit
        case .failure(let refusal):
            let wait = max(0, (refusal.retryAt - now).seconds)
            let retryAfter = max(1, Int(min(wait, Double(Int32.max)).rounded(.up)))
            let why =
                refusal.state == .open
                ? "is failing, so its circuit breaker is open; calls fail fast and it is retried in \(retryAfter) s"
                : "is recovering and already being probed; its circuit breaker lets more calls through in about "
                    + "\(retryAfter) s"
            throw SlipwayError(
                .unavailable, code: "upstream_circuit_open",
                "upstream \(name) \(why). Check the upstream model server's health, or retry after \(retryAfter) s",
                retryAfter: retryAfter)
        }
    }

    /// Reports how a call made under `permit` went.
    ///
    /// - Parameters:
    ///   - outcome: `.success`, `.failure`, or `.ignored` when the outcome says nothing about the dependency.
    ///   - permit: the permit ``acquire(now:)`` returned for the call.
    ///   - now: the current time.
    /// - Returns: the breaker's new state when this outcome changed it (for logging); nil otherwise.
    @discardableResult
    public func record(_ outcome: Outcome, for permit: Permit, now: ContinuousClock.Instant) -> State? {
        machine.withLock { $0.record(outcome, for: permit, now: now) }
    }

    /// The breaker's state at `now`.
    public func state(now: ContinuousClock.Instant = .now) -> State {
        statistics(now: now).state
    }

    /// State and counters in one consistent reading.
    public func statistics(now: ContinuousClock.Instant = .now) -> Statistics {
        machine.withLock { $0.statistics(now: now) }
    }
}
