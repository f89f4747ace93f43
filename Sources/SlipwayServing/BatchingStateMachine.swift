/// The decisions of a ``Batcher``, with no tasks, locks or clocks: which queued requests form the next
/// batch, who runs it, and who must set a timer.
///
/// Requests queue in arrival order. The next batch is the longest run of queued requests, oldest first,
/// whose rows fit in `maxBatchRows` (a lone request may exceed it). That batch is *ready* when it cannot
/// grow (it is full, or the next request does not fit), when the oldest request has waited `maxDelay`, or
/// always when `maxDelay` is zero. A ready batch starts as soon as fewer than `maxConcurrentBatches` run.
///
/// Work is done on callers' own tasks: each ``Action/execute(batch:leader:)`` names the request whose
/// task runs the batch. While batches could start but the next one is not ready, exactly one queued
/// request, the oldest, owns a timer for its deadline (``Action/armTimer(owner:deadline:)``).
struct BatchingStateMachine {
    struct Request: Equatable {
        let id: UInt64
        let rows: Int
        let arrival: ContinuousClock.Instant
    }

    enum Action: Equatable {
        /// Run these requests, in this order, as one predictor call on `leader`'s task.
        case execute(batch: [UInt64], leader: UInt64)
        /// `owner` must call ``timerFired(owner:now:)`` at `deadline`.
        case armTimer(owner: UInt64, deadline: ContinuousClock.Instant)
    }

    let maxBatchRows: Int
    let maxDelay: Duration
    let maxConcurrentBatches: Int

    private(set) var pending = FIFOQueue<Request>()
    private(set) var pendingRows = 0
    private(set) var running = 0
    private(set) var timerOwner: UInt64?

    init(maxBatchRows: Int, maxDelay: Duration, maxConcurrentBatches: Int) {
        self.maxBatchRows = maxBatchRows
        self.maxDelay = maxDelay
        self.maxConcurrentBatches = maxConcurrentBatches
    }

    /// A request arrives; if a batch it belongs to starts at once, the request leads it.
    mutating func submit(_ request: Request, now: ContinuousClock.Instant) -> [Action] {
        pending.append(request)
        pendingRows += request.rows
        return poll(now: now, preferredLeader: request.id)
    }

    /// Starts a request as a batch of its own without queueing it, when that is what ``submit(_:now:)``
    /// would decide: nothing is queued, a batch slot is free, and the request may not wait (`maxDelay` is
    /// zero or it fills a batch by itself). Saves the serving hot path the queue bookkeeping.
    mutating func startAloneIfIdle(rows: Int) -> Bool {
        guard pending.isEmpty, running < maxConcurrentBatches, maxDelay == .zero || rows >= maxBatchRows else {
            return false
        }
        running += 1
        return true
    }

    /// A batch has finished running.
    mutating func batchFinished(now: ContinuousClock.Instant) -> [Action] {
        precondition(running > 0, "a batch finished that was never started")
        running -= 1
        return poll(now: now, preferredLeader: nil)
    }

    /// `owner`'s timer went off (or a stale one did: polling is harmless at any time).
    mutating func timerFired(owner: UInt64, now: ContinuousClock.Instant) -> [Action] {
        if timerOwner == owner { timerOwner = nil }
        return poll(now: now, preferredLeader: owner)
    }

    /// A queued request gives up (its task was cancelled).
    /// - Returns: whether it was still queued (a request already in a running batch cannot leave), and
    ///   what to do now that it is gone.
    mutating func cancel(_ id: UInt64, now: ContinuousClock.Instant) -> (removed: Bool, actions: [Action]) {
        guard let request = pending.removeFirst(where: { $0.id == id }) else { return (false, []) }
        pendingRows -= request.rows
        if timerOwner == id { timerOwner = nil }
        return (true, poll(now: now, preferredLeader: nil))
    }

    /// Starts every ready batch there is capacity for, then makes sure a timer covers the rest.
    private mutating func poll(now: ContinuousClock.Instant, preferredLeader: UInt64?) -> [Action] {
        var actions: [Action] = []
        while running < maxConcurrentBatches, let count = readyBatchCount(now: now) {
            var batch: [UInt64] = []
            batch.reserveCapacity(count)
            var leader: UInt64?
            for _ in 0..<count {
                let request = pending.popFirst()!
                pendingRows -= request.rows
                batch.append(request.id)
                if request.id == timerOwner { timerOwner = nil }
                if request.id == preferredLeader { leader = request.id }
            }
            running += 1
            actions.append(.execute(batch: batch, leader: leader ?? batch[0]))
        }
        if timerOwner == nil, maxDelay > .zero, running < maxConcurrentBatches, let oldest = pending.first {
            // Not ready, so the oldest request's deadline is still ahead.
            timerOwner = oldest.id
            actions.append(.armTimer(owner: oldest.id, deadline: oldest.arrival + maxDelay))
        }
        return actions
    }

    /// How many queued requests, from the front, make the next batch, if it is ready.
    private func readyBatchCount(now: ContinuousClock.Instant) -> Int? {
        guard let oldest = pending.first else { return nil }
        if pendingRows < maxBatchRows {
            // Everything queued fits in one batch, which can still grow: it waits for its deadline.
            let due = maxDelay == .zero || now >= oldest.arrival + maxDelay
            return due ? pending.count : nil
        }
        var rows = oldest.rows
        var count = 1
        while count < pending.count, rows + pending[count].rows <= maxBatchRows {
            rows += pending[count].rows
            count += 1
        }
        // Reaching here, the batch is full or the next request does not fit: it cannot grow.
        return count
    }
}
