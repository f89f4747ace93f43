import Dispatch

/// Runs independent chunks of CPU work on up to `threads` threads and waits for all of them.
///
/// Callers split work so that the result never depends on which thread ran a chunk or on the thread
/// count (fixed chunk boundaries, integer histogram sums), which keeps training deterministic.
struct WorkerPool {
    let threads: Int

    /// Calls `body(chunk)` once for each chunk in `0..<count`, in parallel when there is more than one
    /// thread; chunks must touch disjoint memory.
    func forEachChunk(_ count: Int, _ body: (Int) -> Void) {
        if count <= 1 || threads <= 1 {
            for chunk in 0..<count { body(chunk) }
        } else {
            // concurrentPerform wants a @Sendable closure; `body` captures raw pointers into buffers whose
            // chunks are disjoint, and concurrentPerform returns only after every chunk has run, so handing
            // it across threads is safe even though the compiler cannot prove it.
            withoutActuallyEscaping(body) { body in
                let work = UncheckedWork(body: body)
                DispatchQueue.concurrentPerform(iterations: count) { work.body($0) }
            }
        }
    }

    private struct UncheckedWork: @unchecked Sendable {
        let body: (Int) -> Void
    }

    /// The bounds of chunk `index` when `total` items are cut into `count` nearly equal chunks.
    static func bounds(of index: Int, count: Int, total: Int) -> Range<Int> {
        (total * index / count)..<(total * (index + 1) / count)
    }
}

/// Fixed-size row blocks for reductions (losses), so sums come out identical for any thread count.
enum RowBlocks {
    static let size = 1 << 16

    static func count(rows: Int) -> Int { (rows + size - 1) / size }

    static func range(_ block: Int, rows: Int) -> Range<Int> { (block * size)..<min(rows, (block + 1) * size) }
}
