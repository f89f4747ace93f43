import SlipwayCore
import Synchronization

/// Bounds how many requests a deployment serves at once and how many may wait for a turn.
///
/// A request runs at once while fewer than ``Limits/maxConcurrent`` are in flight. Otherwise it waits in a
/// first-in, first-out queue of at most ``Limits/maxQueue`` requests; when that is full too it is refused
/// immediately with `overloaded` (503 with `Retry-After`), so overload shows as fast refusals rather than
/// growing latency. A waiter leaves the queue when its deadline passes (`deadline_exceeded`) or its task
/// is cancelled (`CancellationError`).
///
/// The uncontended path takes one lock and allocates nothing; only a request that has to wait suspends,
/// with one child task as its deadline timer.
///
/// ```swift
/// let admission = AdmissionController(limits: try .init(maxConcurrent: 8, maxQueue: 32), name: "fraud/production")
/// let output = try await admission.withPermit(deadline: .now + .seconds(2)) {
///     try await batcher.predict(rows: input, count: rows)
/// }
/// ```
public final class AdmissionController: Sendable {
    /// The concurrency and queue bounds of one deployment.
    public struct Limits: Sendable, Equatable {
        /// Requests that may run at once; at least 1.
        public let maxConcurrent: Int
        /// Requests that may wait for a free slot; 0 refuses every request that cannot run at once.
        public let maxQueue: Int

        /// - Throws: ``SlipwayError`` (400) when `maxConcurrent < 1` or `maxQueue < 0`.
        public init(maxConcurrent: Int, maxQueue: Int) throws(SlipwayError) {
            guard maxConcurrent >= 1 else {
                throw .badRequest("maxConcurrent must be at least 1, got \(maxConcurrent)", code: "invalid_limits")
            }
            guard maxQueue >= 0 else {
                throw .badRequest("maxQueue must be 0 or more, got \(maxQueue)", code: "invalid_limits")
            }
            self.maxConcurrent = maxConcurrent
            self.maxQueue = maxQueue
        }
    }

    /// Current load and lifetime counters, for metrics and the dashboard.
    public struct Statistics: Sendable, Equatable {
        public var limits: Limits
        /// Requests holding a permit now.
        public var inFlight: Int
        /// Requests waiting for a permit now.
        public var queued: Int
        /// Requests refused with `overloaded` since creation.
        public var rejected: Int
        /// Waiters whose deadline passed since creation.
        public var timedOut: Int
    }

    private struct Waiter {
        let id: UInt64
        let enqueued: ContinuousClock.Instant
        let continuation: CheckedContinuation<Void, any Error>
    }

    private struct State {
        var limits: Limits
        var inFlight = 0
        var queue = FIFOQueue<Waiter>()
        var nextID: UInt64 = 0
        var rejected = 0
        var timedOut = 0

        /// Hands free slots to waiters, oldest first; returns the continuations to resume.
        mutating func grantWaiters() -> [CheckedContinuation<Void, any Error>] {
            var granted: [CheckedContinuation<Void, any Error>] = []
            while inFlight < limits.maxConcurrent, let waiter = queue.popFirst() {
                inFlight += 1
                granted.append(waiter.continuation)
            }
            return granted
        }
    }

    private enum Entry {
        case granted
        case refused
        case wait(id: UInt64)
    }

    private let state: Mutex<State>
    private let name: String

    /// - Parameters:
    ///   - limits: the initial bounds; change them later with ``update(_:)``.
    ///   - name: the deployment, as named in timeout messages.
    public init(limits: Limits, name: String = "this deployment") {
        self.state = Mutex(State(limits: limits))
        self.name = name
    }

    /// Requests holding a permit now.
    public var inFlight: Int { state.withLock { $0.inFlight } }

    /// Requests waiting for a permit now.
    public var queued: Int { state.withLock { $0.queue.count } }

    /// Current load, limits and counters in one consistent reading.
    public var statistics: Statistics {
        state.withLock {
            Statistics(
                limits: $0.limits, inFlight: $0.inFlight, queued: $0.queue.count, rejected: $0.rejected,
                timedOut: $0.timedOut)
        }
    }

    /// Changes the bounds without dropping anyone.
    ///
    /// Raising `maxConcurrent` admits waiters at once. Lowering it lets running requests finish; new ones
    /// wait until in-flight falls below the new bound. Lowering `maxQueue` below the current queue keeps
    /// every waiter and refuses newcomers until the queue is short enough.
    public func update(_ limits: Limits) {
        let granted = state.withLock { state in
            state.limits = limits
            return state.grantWaiters()
        }
        for continuation in granted { continuation.resume() }
    }

    /// Changes the bounds; see ``update(_:)``.
    /// - Throws: ``SlipwayError`` (400) when the bounds are invalid.
    public func update(maxConcurrent: Int, maxQueue: Int) throws(SlipwayError) {
        update(try Limits(maxConcurrent: maxConcurrent, maxQueue: maxQueue))
    }

    /// Runs `body` holding one of the deployment's slots.
    ///
    /// - Parameters:
    ///   - deadline: when to give up waiting for a slot; `body` itself is not interrupted at the deadline.
    ///   - body: the work to admit.
    /// - Returns: what `body` returns.
    /// - Throws: ``SlipwayError`` `overloaded` (503, `retryAfter` 1) at once when the queue is full;
    ///   `deadline_exceeded` (503) when the deadline passes while waiting; `CancellationError` when the task
    ///   is cancelled while waiting; otherwise whatever `body` throws.
    public func withPermit<T>(
        isolation: isolated (any Actor)? = #isolation,
        deadline: ContinuousClock.Instant,
        _ body: () async throws -> T
    ) async throws -> T {
        try await acquire(deadline: deadline)
        defer { release() }
        return try await body()
    }

    /// Takes a slot only if one is free now and nobody is queued for it (never waits, never counts a
    /// refusal). Every `true` must be paired with ``release()``.
    public func tryAcquire() -> Bool {
        state.withLock { state in
            guard state.queue.isEmpty, state.inFlight < state.limits.maxConcurrent else { return false }
            state.inFlight += 1
            return true
        }
    }

    /// Takes a slot, waiting in the queue if needed. Every successful call must be paired with ``release()``.
    func acquire(deadline: ContinuousClock.Instant) async throws {
        let entry = state.withLock { state -> Entry in
            if state.queue.isEmpty, state.inFlight < state.limits.maxConcurrent {
                state.inFlight += 1
                return .granted
            }
            guard state.queue.count < state.limits.maxQueue else {
                state.rejected += 1
                return .refused
            }
            state.nextID &+= 1
            return .wait(id: state.nextID)
        }
        switch entry {
        case .granted: return
        case .refused: throw SlipwayError.overloaded(retryAfter: 1)
        case .wait(let id): try await wait(id: id, deadline: deadline)
        }
    }

    /// Gives a slot back, handing it straight to the oldest waiter if there is one.
    public func release() {
        let granted = state.withLock { state -> CheckedContinuation<Void, any Error>? in
            if state.inFlight <= state.limits.maxConcurrent, let waiter = state.queue.popFirst() {
                return waiter.continuation  // the slot passes to the waiter; in-flight is unchanged
            }
            state.inFlight -= 1
            return nil
        }
        granted?.resume()
    }

    private func wait(id: UInt64, deadline: ContinuousClock.Instant) async throws {
        let start = ContinuousClock.now
        guard start < deadline else {
            state.withLock { $0.timedOut += 1 }
            throw deadlineExceeded(waited: .zero)
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                // The timer: expire the waiter if it is still queued at the deadline.
                try await Task.sleep(until: deadline, clock: .continuous)
                self.expire(id: id)
            }
            defer { group.cancelAll() }
            try await withTaskCancellationHandler {
                try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                    let outcome = state.withLock { state -> Result<Void, any Error>? in
                        // Checked under the lock so a cancellation racing with enqueueing is never missed.
                        if Task.isCancelled { return .failure(CancellationError()) }
                        if state.queue.isEmpty, state.inFlight < state.limits.maxConcurrent {
                            state.inFlight += 1
                            return .success(())
                        }
                        guard state.queue.count < state.limits.maxQueue else {
                            state.rejected += 1
                            return .failure(SlipwayError.overloaded(retryAfter: 1))
                        }
                        // The timer may already have fired and found nothing to expire.
                        let now = ContinuousClock.now
                        guard now < deadline else {
                            state.timedOut += 1
                            return .failure(deadlineExceeded(waited: now - start))
                        }
                        state.queue.append(Waiter(id: id, enqueued: start, continuation: continuation))
                        return nil
                    }
                    if let outcome { continuation.resume(with: outcome) }
                }
            } onCancel: {
                let removed = state.withLock { $0.queue.removeFirst { $0.id == id } }
                removed?.continuation.resume(throwing: CancellationError())
            }
        }
    }

    private func expire(id: UInt64) {
        let removed = state.withLock { state -> Waiter? in
            let waiter = state.queue.removeFirst { $0.id == id }
            if waiter != nil { state.timedOut += 1 }
            return waiter
        }
        guard let removed else { return }
        removed.continuation.resume(throwing: deadlineExceeded(waited: ContinuousClock.now - removed.enqueued))
    }

    private func deadlineExceeded(waited: Duration) -> SlipwayError {
        SlipwayError(
            .unavailable, code: "deadline_exceeded",
            "the request timed out after waiting \(waited.formattedMilliseconds) for a free slot on \(name); "
                + "raise the request timeout or the deployment's max concurrency, or retry later with backoff")
    }
}

extension Duration {
    /// `12 ms`, for messages.
    var formattedMilliseconds: String {
        let (seconds, attoseconds) = components
        return "\(seconds * 1000 + attoseconds / 1_000_000_000_000_000) ms"
    }
}
