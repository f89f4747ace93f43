import SlipwayCore
import SlipwayRuntime
import Synchronization

/// Merges concurrent prediction requests for one model version into fewer, larger predictor calls.
///
/// Requests queue for at most ``Configuration/maxDelay`` after the oldest arrived, and a batch runs as
/// soon as it holds ``Configuration/maxBatchRows`` rows (rows, not requests; a larger request runs
/// alone). With a `maxDelay` of zero nothing waits on purpose: an idle batcher predicts at once on the
/// caller's task, and only requests that arrive while a batch runs are merged into the next one. At most
/// ``Configuration/maxConcurrentBatches`` batches run at once.
///
/// There is no background task: a batch runs on the task of one of its callers, which then hands each
/// other caller exactly its own rows of the output. A predictor error fails every request of that batch;
/// a caller cancelled while still queued leaves with `CancellationError` and the others are unaffected
/// (once its batch has started, it gets its result).
///
/// ```swift
/// let batcher = Batcher(predictor: predictor, configuration: try .init(maxBatchRows: 256, maxDelay: .milliseconds(2)))
/// let output = try await batcher.predict(rows: input, count: 3)   // 3 × outputCount values
/// ```
public final class Batcher: Sendable {
    /// How a ``Batcher`` forms batches.
    public struct Configuration: Sendable, Equatable {
        /// The most rows merged into one predictor call; at least 1.
        public let maxBatchRows: Int
        /// The longest a request waits for others to join it; zero never waits on purpose.
        public let maxDelay: Duration
        /// Batches that may run at once; at least 1. Raise it to use several cores for one hot version.
        public let maxConcurrentBatches: Int

        /// - Throws: ``SlipwayError`` (400) when a bound is out of range.
        public init(maxBatchRows: Int, maxDelay: Duration, maxConcurrentBatches: Int = 1) throws(SlipwayError) {
            guard maxBatchRows >= 1 else {
                throw .badRequest("maxBatchRows must be at least 1, got \(maxBatchRows)", code: "invalid_batching")
            }
            guard maxDelay >= .zero else {
                throw .badRequest("maxDelay must not be negative, got \(maxDelay)", code: "invalid_batching")
            }
            guard maxConcurrentBatches >= 1 else {
                throw .badRequest(
                    "maxConcurrentBatches must be at least 1, got \(maxConcurrentBatches)", code: "invalid_batching")
            }
            self.maxBatchRows = maxBatchRows
            self.maxDelay = maxDelay
            self.maxConcurrentBatches = maxConcurrentBatches
        }
    }

    /// Current queue and lifetime counters; `batchedRows / batches` is the mean batch size.
    public struct Statistics: Sendable, Equatable {
        public var queuedRequests: Int
        public var queuedRows: Int
        public var runningBatches: Int
        /// Predictor calls made.
        public var batches: Int
        /// Requests served by those calls.
        public var batchedRequests: Int
        /// Rows predicted by those calls.
        public var batchedRows: Int
    }

    /// What a queued caller is woken with.
    private enum Signal: Sendable {
        /// Set a timer for this deadline, then keep waiting.
        case armTimer(ContinuousClock.Instant)
        /// Run this batch, which includes the caller's own request.
        case lead([UInt64])
        /// The caller's output, or the error that ended its request.
        case done(Result<[Float], any Error>)
    }

    private struct Waiter {
        let input: [Float]
        let rows: Int
        var continuation: CheckedContinuation<Signal, Never>?
        /// A signal sent while the caller was not suspended, kept until it next waits.
        var mailbox: Signal?
    }

    private struct State {
        var machine: BatchingStateMachine
        var waiters: [UInt64: Waiter] = [:]
        var nextID: UInt64 = 0
        var batches = 0
        var batchedRequests = 0
        var batchedRows = 0

        /// Turns the machine's actions into signals. An action for `caller` (the task holding the lock,
        /// which is not suspended) is returned instead of sent.
        mutating func dispatch(
            _ actions: [BatchingStateMachine.Action], caller: UInt64?, into wakeups: inout [Wakeup]
        ) -> Signal? {
            var own: Signal?
            for action in actions {
                switch action {
                case .execute(let batch, let leader):
                    if leader == caller { own = .lead(batch) } else { send(.lead(batch), to: leader, into: &wakeups) }
                case .armTimer(let owner, let deadline):
                    if owner == caller {
                        own = .armTimer(deadline)
                    } else {
                        send(.armTimer(deadline), to: owner, into: &wakeups)
                    }
                }
            }
            return own
        }

        mutating func send(_ signal: Signal, to id: UInt64, into wakeups: inout [Wakeup]) {
            guard var waiter = waiters[id] else { return }
            if let continuation = waiter.continuation {
                waiter.continuation = nil
                wakeups.append(Wakeup(continuation: continuation, signal: signal))
                if case .done = signal {
                    waiters[id] = nil
                } else {
                    waiters[id] = waiter
                }
            } else {
                // A pending timer request never replaces a batch to lead or a result.
                if case .armTimer = signal, waiter.mailbox != nil { return }
                waiter.mailbox = signal
                waiters[id] = waiter
            }
        }
    }

    private struct Wakeup {
        let continuation: CheckedContinuation<Signal, Never>
        let signal: Signal
    }

    private let predictor: any Predictor
    private let state: Mutex<State>
    /// The settings this batcher was made with; make a new batcher to change them.
    public let configuration: Configuration

    /// - Parameters:
    ///   - predictor: the model version to run.
    ///   - configuration: batch size, delay and concurrency.
    public init(predictor: any Predictor, configuration: Configuration) {
        self.predictor = predictor
        self.configuration = configuration
        self.state = Mutex(
            State(
                machine: BatchingStateMachine(
                    maxBatchRows: configuration.maxBatchRows, maxDelay: configuration.maxDelay,
                    maxConcurrentBatches: configuration.maxConcurrentBatches)))
    }

    /// Current queue and lifetime counters.
    public var statistics: Statistics {
        state.withLock { state in
            Statistics(
                queuedRequests: state.machine.pending.count, queuedRows: state.machine.pendingRows,
                runningBatches: state.machine.running, batches: state.batches, batchedRequests: state.batchedRequests,
                batchedRows: state.batchedRows)
        }
    }

    /// Predicts `count` rows, possibly together with other callers' rows.
    ///
    /// - Parameters:
    ///   - rows: `count × featureCount` floats, row-major; NaN is a missing value.
    ///   - count: the number of rows.
    /// - Returns: `count × outputCount` floats, exactly what the predictor returns for these rows alone.
    /// - Throws: ``SlipwayError`` (400) when the input's shape does not match the model, or the predictor's
    ///   error; `CancellationError` when the task is cancelled while queued.
    public func predict(rows input: [Float], count: Int) async throws -> [Float] {
        let features = predictor.featureCount
        let (needed, overflow) = count.multipliedReportingOverflow(by: features)
        guard count >= 0, !overflow, input.count == needed else {
            throw SlipwayError.badRequest(
                "the input has \(input.count) values, but \(count) rows of \(features) features need \(count &* features)",
                code: "invalid_input")
        }
        if count == 0 { return [] }
        try Task.checkCancellation()

        if state.withLock({ $0.machine.startAloneIfIdle(rows: count) }) {
            // Idle and not waiting for company: predict right here, without queue bookkeeping.
            return try runAlone(input, count: count)
        }

        let now = ContinuousClock.now
        var wakeups: [Wakeup] = []
        let (id, own) = state.withLock { state in
            state.nextID &+= 1
            let id = state.nextID
            state.waiters[id] = Waiter(input: input, rows: count)
            let actions = state.machine.submit(.init(id: id, rows: count, arrival: now), now: now)
            return (id, state.dispatch(actions, caller: id, into: &wakeups))
        }
        Self.wake(wakeups)
        switch own {
        case .lead(let batch): return try run(batch, leader: id)
        case .armTimer(let deadline): return try await wait(id, timer: deadline)
        case .done(let result): return try result.get()  // not produced at submission
        case nil: return try await wait(id, timer: nil)
        }
    }

    /// Waits until the request's result arrives or its task is asked to run a batch.
    private func wait(_ id: UInt64, timer: ContinuousClock.Instant?) async throws -> [Float] {
        try await withTaskCancellationHandler {
            try await withThrowingTaskGroup(of: Void.self) { group in
                defer { group.cancelAll() }
                var timer = timer
                while true {
                    if let deadline = timer {
                        timer = nil
                        group.addTask {
                            do { try await Task.sleep(until: deadline, clock: .continuous) } catch { return }
                            self.timerFired(owner: id)
                        }
                    }
                    switch await nextSignal(id) {
                    case .armTimer(let deadline): timer = deadline
                    case .lead(let batch):
                        group.cancelAll()  // no timer needed while running
                        return try run(batch, leader: id)
                    case .done(let result): return try result.get()
                    }
                }
            }
        } onCancel: {
            cancel(id)
        }
    }

    private func nextSignal(_ id: UInt64) async -> Signal {
        await withCheckedContinuation { (continuation: CheckedContinuation<Signal, Never>) in
            let signal = state.withLock { state -> Signal? in
                guard var waiter = state.waiters[id] else {
                    preconditionFailure("batcher request \(id) waits after its result was delivered")
                }
                if let signal = waiter.mailbox {
                    waiter.mailbox = nil
                    if case .done = signal { state.waiters[id] = nil } else { state.waiters[id] = waiter }
                    return signal
                }
                waiter.continuation = continuation
                state.waiters[id] = waiter
                return nil
            }
            if let signal { continuation.resume(returning: signal) }
        }
    }

    /// Runs one batch on the leader's task, hands every other member its rows, and starts what is next.
    private func run(_ batch: [UInt64], leader: UInt64) throws -> [Float] {
        let members = state.withLock { state in
            batch.map { id in
                let waiter = state.waiters[id]!
                return (id: id, input: waiter.input, rows: waiter.rows)
            }
        }
        let totalRows = members.reduce(0) { $0 + $1.rows }
        let outputs: Result<[[Float]], SlipwayError>
        if members.count == 1 {
            outputs = Result { () throws(SlipwayError) in [try predictor.predict(members[0].input, rows: totalRows)] }
        } else {
            var input: [Float] = []
            input.reserveCapacity(totalRows * predictor.featureCount)
            for member in members { input.append(contentsOf: member.input) }
            let outputCount = predictor.outputCount
            outputs = Result { () throws(SlipwayError) in
                let output = try predictor.predict(input, rows: totalRows)
                var start = 0
                return members.map { member in
                    let end = start + member.rows * outputCount
                    defer { start = end }
                    return Array(output[start..<end])
                }
            }
        }

        var own: Result<[Float], any Error> = .failure(SlipwayError.internal("batch leader missing from its batch"))
        var wakeups: [Wakeup] = []
        wakeups.reserveCapacity(members.count)
        state.withLock { state in
            for (index, member) in members.enumerated() {
                let result: Result<[Float], any Error> = outputs.map { $0[index] }.mapError { $0 }
                if member.id == leader {
                    own = result
                    state.waiters[member.id] = nil
                } else {
                    state.send(.done(result), to: member.id, into: &wakeups)
                }
            }
            state.batches += 1
            state.batchedRequests += members.count
            state.batchedRows += totalRows
            let actions = state.machine.batchFinished(now: .now)
            _ = state.dispatch(actions, caller: nil, into: &wakeups)
        }
        Self.wake(wakeups)
        return try own.get()
    }

    /// Runs one request that started without queueing, then starts whatever queued meanwhile.
    private func runAlone(_ input: [Float], count: Int) throws -> [Float] {
        let result = Result { () throws(SlipwayError) in try predictor.predict(input, rows: count) }
        var wakeups: [Wakeup] = []
        state.withLock { state in
            state.batches += 1
            state.batchedRequests += 1
            state.batchedRows += count
            let actions = state.machine.batchFinished(now: .now)
            _ = state.dispatch(actions, caller: nil, into: &wakeups)
        }
        Self.wake(wakeups)
        return try result.get()
    }

    private func timerFired(owner: UInt64) {
        var wakeups: [Wakeup] = []
        state.withLock { state in
            let actions = state.machine.timerFired(owner: owner, now: .now)
            _ = state.dispatch(actions, caller: nil, into: &wakeups)
        }
        Self.wake(wakeups)
    }

    private func cancel(_ id: UInt64) {
        var wakeups: [Wakeup] = []
        state.withLock { state in
            let (removed, actions) = state.machine.cancel(id, now: .now)
            guard removed else { return }
            state.send(.done(.failure(CancellationError())), to: id, into: &wakeups)
            _ = state.dispatch(actions, caller: nil, into: &wakeups)
        }
        Self.wake(wakeups)
    }

    private static func wake(_ wakeups: [Wakeup]) {
        for wakeup in wakeups { wakeup.continuation.resume(returning: wakeup.signal) }
    }
}
