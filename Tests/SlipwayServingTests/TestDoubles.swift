import Foundation
import SlipwayCore
import SlipwayRuntime
import Synchronization

/// A predictor whose outputs are easy to check by hand and which records every call it gets.
///
/// Each row of 3 features gives 2 outputs, the row's sum and its first feature times 10, so a row's output
/// does not depend on the batch it is in. A row whose first feature is `poison` makes the whole call fail.
struct RecordingPredictor: Predictor {
    static let poison: Float = -999

    /// Rows per call, in call order.
    final class CallLog: Sendable {
        private let calls = Mutex<[Int]>([])
        var rowsPerCall: [Int] { calls.withLock { $0 } }
        func append(_ rows: Int) { calls.withLock { $0.append(rows) } }
    }

    let log = CallLog()
    /// When set, the first call waits until the gate opens.
    let gate: Gate?

    var featureCount: Int { 3 }
    var outputCount: Int { 2 }
    var signature: ModelSignature {
        ModelSignature(
            inputs: [TensorSpec(name: "input", datatype: .fp32, shape: [-1, 3])],
            outputs: [TensorSpec(name: "output", datatype: .fp32, shape: [-1, 2])])
    }

    init(gate: Gate? = nil) {
        self.gate = gate
    }

    init(artifact: [UInt8]) throws(SlipwayError) {
        throw .unprocessable("test predictors have no artifacts")
    }

    func predict(
        _ input: UnsafeBufferPointer<Float>, rows: Int, features: Int, into output: UnsafeMutableBufferPointer<Float>
    ) throws(SlipwayError) {
        guard features == 3, input.count == rows * 3, output.count >= rows * 2 else {
            throw .badRequest("shape mismatch", code: "invalid_input")
        }
        if let gate, log.rowsPerCall.isEmpty { gate.waitUntilOpen() }
        log.append(rows)
        for row in 0..<rows where input[row * 3] == Self.poison {
            throw .badRequest("row \(row) is poisoned", code: "poisoned")
        }
        for row in 0..<rows {
            output[row * 2] = input[row * 3] + input[row * 3 + 1] + input[row * 3 + 2]
            output[row * 2 + 1] = input[row * 3] * 10
        }
    }

    /// What the model predicts for `rows`, computed directly.
    static func expected(_ input: [Float]) -> [Float] {
        var output: [Float] = []
        for start in stride(from: 0, to: input.count, by: 3) {
            let sum: Float = input[start] + input[start + 1] + input[start + 2]
            output.append(sum)
            output.append(input[start] * 10)
        }
        return output
    }
}

/// A one-shot gate a synchronous predictor can block on; it gives up after `timeout` so a broken test
/// fails instead of hanging.
final class Gate: Sendable {
    private let isOpen = Mutex(false)
    private let timeout: Duration

    init(timeout: Duration = .seconds(5)) {
        self.timeout = timeout
    }

    func open() { isOpen.withLock { $0 = true } }

    func waitUntilOpen() {
        let deadline = ContinuousClock.now + timeout
        while !isOpen.withLock({ $0 }), ContinuousClock.now < deadline {
            usleep(200)
        }
    }
}

/// An async latch: tasks wait until it is opened.
final class Latch: Sendable {
    private let state = Mutex<(open: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

    func wait() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let open = state.withLock { state in
                if !state.open { state.waiters.append(continuation) }
                return state.open
            }
            if open { continuation.resume() }
        }
    }

    func open() {
        let waiters = state.withLock { state in
            state.open = true
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }
}

/// Polls `condition` every millisecond until it holds or `timeout` passes; returns whether it held.
func eventually(timeout: Duration = .seconds(5), _ condition: () -> Bool) async -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if condition() { return true }
        try? await Task.sleep(for: .milliseconds(1))
    }
    return condition()
}

/// Rows of 3 features for tests: row `r` of request `request` is `[request, r, 0.5]`, unique per request.
func rows(_ count: Int, request: Int) -> [Float] {
    (0..<count).flatMap { [Float(request), Float($0), 0.5] }
}

/// A list that concurrent tasks append to.
final class Recorder<Element: Sendable>: Sendable {
    private let items = Mutex<[Element]>([])
    var values: [Element] { items.withLock { $0 } }
    func append(_ item: Element) { items.withLock { $0.append(item) } }
}

/// Runs tasks on a thread of its own, outside the cooperative pool, so a test can block it (as a gated
/// predictor does) without starving the other tasks, even on a one-core machine.
final class DedicatedThreadExecutor: TaskExecutor, @unchecked Sendable {
    // @unchecked: `jobs` is only touched while `condition` is locked.
    private let condition = NSCondition()
    private var jobs: [UnownedJob] = []

    init() {
        let thread = Thread { [self] in run() }
        thread.start()
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        condition.lock()
        jobs.append(job)
        condition.signal()
        condition.unlock()
    }

    private func run() {
        while true {
            condition.lock()
            while jobs.isEmpty { condition.wait() }
            let job = jobs.removeFirst()
            condition.unlock()
            job.runSynchronously(on: asUnownedTaskExecutor())
        }
    }
}
