import Foundation
import SlipwayCore

/// A team's monthly allowance of predicted rows; months are calendar months in UTC.
///
/// The serving path reads the team's rows so far this month (the usage table summed from
/// ``monthStart(of:)``, plus what is not yet persisted) and calls ``check(rowsUsed:rowsRequested:now:)``.
public struct QuotaPolicy: Sendable, Equatable {
    /// Rows a team may predict per month; nil means unlimited.
    public let monthlyRows: Int64?

    /// No quota.
    public static let unlimited = QuotaPolicy(validated: nil)

    /// - Parameter monthlyRows: rows per month, or nil for unlimited.
    /// - Throws: ``SlipwayError`` (400) when `monthlyRows` is negative.
    public init(monthlyRows: Int64?) throws(SlipwayError) {
        if let monthlyRows, monthlyRows < 0 {
            throw .badRequest("the monthly quota must be 0 or more rows, got \(monthlyRows)", code: "invalid_quota")
        }
        self.monthlyRows = monthlyRows
    }

    private init(validated monthlyRows: Int64?) {
        self.monthlyRows = monthlyRows
    }

    /// Refuses a request that would take the team past its quota.
    ///
    /// - Parameters:
    ///   - rowsUsed: rows the team predicted so far this month.
    ///   - rowsRequested: rows in this request.
    ///   - now: the current time, which decides the month.
    /// - Throws: ``SlipwayError`` `quota_exceeded` (429) with `retryAfter` = seconds until the first of next
    ///   month, 00:00 UTC.
    public func check(rowsUsed: Int64, rowsRequested: Int64, now: Date) throws(SlipwayError) {
        guard let monthlyRows else { return }
        let (total, overflow) = rowsUsed.addingReportingOverflow(max(0, rowsRequested))
        guard overflow || total > monthlyRows else { return }
        let resets = UTCDay(now).firstOfNextMonth
        let remaining = max(0, monthlyRows - rowsUsed)
        throw SlipwayError(
            .tooManyRequests, code: "quota_exceeded",
            "this request's \(rowsRequested) rows would exceed the team's monthly quota of \(monthlyRows) rows "
                + "(\(remaining) left this month); the quota resets on \(resets.isoString) 00:00 UTC, "
                + "or ask a platform admin to raise it",
            retryAfter: Self.secondsUntilNextMonth(from: now))
    }

    /// The first day of `now`'s month, `YYYY-MM-01`, to sum the month's usage from.
    public static func monthStart(of now: Date) -> String {
        UTCDay(now).firstOfMonth.isoString
    }

    /// Whole seconds from `now` until the first of next month 00:00 UTC, rounded up, at least 1.
    public static func secondsUntilNextMonth(from now: Date) -> Int {
        let seconds = UTCDay(now).firstOfNextMonth.start.timeIntervalSince(now)
        return max(1, Int(seconds.rounded(.up)))
    }
}
