import Foundation
import SlipwayCore
import Synchronization

/// Counts requests, rows and errors in memory until they are persisted.
///
/// The server records every prediction here (one lock, one dictionary update) and every few seconds,
/// and at shutdown, calls ``drain()`` and adds the deltas to the usage table with an upsert. If that
/// write fails it hands the records back with ``restore(_:)``, so no count is lost or counted twice:
///
/// ```swift
/// let pending = meter.drain()
/// do { try await store.addUsage(pending) } catch { meter.restore(pending) }
/// ```
public final class UsageMeter: Sendable {
    private struct Key: Hashable {
        var team: String
        var endpoint: String
        var version: Int
        var day: String
    }

    private struct Counts {
        var requests: Int64 = 0
        var rows: Int64 = 0
        var errors: Int64 = 0

        mutating func add(requests: Int64, rows: Int64, errors: Int64) {
            self.requests &+= requests
            self.rows &+= rows
            self.errors &+= errors
        }
    }

    private struct State {
        var pending: [Key: Counts] = [:]
        /// Rows in `pending` per team, kept alongside so a quota check need not scan `pending`.
        var pendingRowsByTeam: [String: Int64] = [:]
        /// The day of the last record and its string, so formatting happens once a day, not per request.
        var cachedDay = UTCDay(daysSinceEpoch: .min)
        var cachedDayString = ""

        mutating func dayString(_ date: Date) -> String {
            let day = UTCDay(date)
            if day != cachedDay {
                cachedDay = day
                cachedDayString = day.isoString
            }
            return cachedDayString
        }

        mutating func add(_ key: Key, requests: Int64, rows: Int64, errors: Int64) {
            pending[key, default: Counts()].add(requests: requests, rows: rows, errors: errors)
            pendingRowsByTeam[key.team, default: 0] &+= rows
        }
    }

    private let state = Mutex(State())

    public init() {}

    /// Counts one request.
    ///
    /// - Parameters:
    ///   - rows: the rows it predicted (0 for a request refused before predicting).
    ///   - error: whether it failed.
    ///   - now: when it happened, which decides the UTC day.
    public func record(team: String, endpoint: String, version: Int, rows: Int, error: Bool, now: Date) {
        state.withLock { state in
            let key = Key(team: team, endpoint: endpoint, version: version, day: state.dayString(now))
            state.add(key, requests: 1, rows: Int64(rows), errors: error ? 1 : 0)
        }
    }

    /// Rows `team` predicted that have not been drained yet, whatever their day.
    ///
    /// A quota check adds this to the month's persisted rows. Records between ``drain()`` and the end of
    /// their write are in neither, so a quota can be overrun by one flush interval's worth of rows.
    public func pendingRows(team: String) -> Int64 {
        state.withLock { $0.pendingRowsByTeam[team] ?? 0 }
    }

    /// Whether there is anything to persist.
    public var isEmpty: Bool { state.withLock { $0.pending.isEmpty } }

    /// Returns the counts accumulated since the last drain and starts again from zero.
    ///
    /// Records come sorted by day, team, endpoint and version, so concurrent writers (several replicas)
    /// lock the usage rows in one order and cannot deadlock each other.
    public func drain() -> [UsageRecord] {
        let pending = state.withLock { state in
            let pending = state.pending
            state.pending.removeAll(keepingCapacity: true)
            state.pendingRowsByTeam.removeAll(keepingCapacity: true)
            return pending
        }
        return pending.map { key, counts in
            UsageRecord(
                team: TeamID(trusted: key.team), endpoint: key.endpoint, version: key.version, day: key.day, requests: counts.requests,
                rows: counts.rows, errors: counts.errors)
        }
        .sorted {
            ($0.day, $0.team.rawValue, $0.endpoint, $0.version) < ($1.day, $1.team.rawValue, $1.endpoint, $1.version)
        }
    }

    /// Adds records from ``drain()`` back, e.g. after persisting them failed; counts made in the meantime
    /// are kept and summed with them.
    public func restore(_ records: [UsageRecord]) {
        state.withLock { state in
            for record in records {
                let key = Key(team: record.team.rawValue, endpoint: record.endpoint, version: record.version, day: record.day)
                state.add(key, requests: record.requests, rows: record.rows, errors: record.errors)
            }
        }
    }
}
