import Foundation
import SlipwayCore
import Testing

@testable import SlipwayServing

@Suite("Quota and pricing")
struct QuotaAndPricingTests {
    /// `YYYY-MM-DDTHH:MM:SSZ` as a date.
    static func utc(_ text: String) throws -> Date {
        try #require(try? Date(text, strategy: .iso8601))
    }

    @Test("an unlimited quota never refuses")
    func unlimited() throws {
        try QuotaPolicy.unlimited.check(rowsUsed: .max - 1, rowsRequested: 1_000, now: Date())
        try QuotaPolicy(monthlyRows: nil).check(rowsUsed: 0, rowsRequested: 1, now: Date())
    }

    @Test("a request within the quota passes; one beyond it is refused until next month")
    func refusesBeyondQuota() throws {
        let quota = try QuotaPolicy(monthlyRows: 1_000)
        let now = try Self.utc("2025-06-30T23:59:00Z")
        try quota.check(rowsUsed: 990, rowsRequested: 10, now: now)
        let error = #expect(throws: SlipwayError.self) { try quota.check(rowsUsed: 995, rowsRequested: 10, now: now) }
        #expect(error?.kind == .tooManyRequests)
        #expect(error?.code == "quota_exceeded")
        #expect(error?.retryAfter == 60)
        #expect(error?.message.contains("2025-07-01") == true)
        #expect(error?.message.contains("5 left") == true)
    }

    @Test(
        "retryAfter runs to the first of next month, across years and leap days",
        arguments: [
            ("2025-12-31T23:00:00Z", 3_600),
            ("2024-02-28T00:00:00Z", 2 * 86_400),
            ("2023-02-28T00:00:00Z", 86_400),
            ("2025-03-01T00:00:00Z", 31 * 86_400),
            ("2025-03-31T23:59:59Z", 1),
        ])
    func secondsUntilNextMonth(now: String, seconds: Int) throws {
        #expect(QuotaPolicy.secondsUntilNextMonth(from: try Self.utc(now)) == seconds)
    }

    @Test("a fraction of a second before the new month still asks to wait 1 s")
    func lastHalfSecond() throws {
        let now = try Self.utc("2025-03-31T23:59:59Z").addingTimeInterval(0.5)
        #expect(QuotaPolicy.secondsUntilNextMonth(from: now) == 1)
    }

    @Test("the month's usage starts on its first day")
    func monthStart() throws {
        #expect(QuotaPolicy.monthStart(of: try Self.utc("2025-02-17T12:00:00Z")) == "2025-02-01")
        #expect(QuotaPolicy.monthStart(of: try Self.utc("1999-12-31T23:59:59Z")) == "1999-12-01")
    }

    @Test("the standard price: 100,000 free rows, then $10 per million, rounded to the nearest cent")
    func standardPricing() throws {
        let pricing = Pricing.standard
        #expect(pricing == (try Pricing()))
        #expect(pricing.charge(rows: 0) == 0)
        #expect(pricing.charge(rows: 100_000) == 0)
        #expect(pricing.charge(rows: 1_100_000) == 1_000)
        #expect(pricing.charge(rows: 100_499) == 0)  // 0.499 cents
        #expect(pricing.charge(rows: 100_500) == 1)  // 0.5 cents rounds up
        #expect(pricing.charge(rows: 10_100_000) == 10_000)
        #expect(pricing.charge(rows: -5) == 0)
    }

    @Test("custom prices and huge volumes do not overflow")
    func customPricing() throws {
        let pricing = try Pricing(freeRowsPerMonth: 0, centsPerMillionRows: 250)
        #expect(pricing.charge(rows: 4_000_000) == 1_000)
        #expect(pricing.charge(rows: 1) == 0)
        #expect(Pricing.standard.charge(rows: .max) == (Int64.max - 100_000 + 500) / 1_000)
        #expect(try Pricing(freeRowsPerMonth: 0, centsPerMillionRows: .max).charge(rows: .max) == .max)
        #expect(throws: SlipwayError.self) { try Pricing(freeRowsPerMonth: -1) }
        #expect(throws: SlipwayError.self) { try Pricing(centsPerMillionRows: -1) }
        #expect(throws: SlipwayError.self) { try QuotaPolicy(monthlyRows: -1) }
    }

    @Test(
        "UTC days convert to and from dates",
        arguments: [
            ("1970-01-01T00:00:00Z", "1970-01-01", Int64(0)),
            ("1969-12-31T23:59:59Z", "1969-12-31", -1),
            ("2000-02-29T12:00:00Z", "2000-02-29", 11_016),
            ("2025-06-15T08:30:00Z", "2025-06-15", 20_254),
        ])
    func utcDays(date: String, day: String, daysSinceEpoch: Int64) throws {
        let utcDay = UTCDay(try Self.utc(date))
        #expect(utcDay.isoString == day)
        #expect(utcDay.daysSinceEpoch == daysSinceEpoch)
    }

    @Test("UTC day components round-trip over four centuries")
    func utcDayRoundTrip() {
        let mismatches = stride(from: Int64(-75_000), through: 75_000, by: 1).filter { days in
            let (year, month, day) = UTCDay(daysSinceEpoch: days).components
            return UTCDay(year: year, month: month, day: day).daysSinceEpoch != days
        }
        #expect(mismatches.isEmpty)
    }
}
