import SlipwayCore

/// What predicted rows cost: a free allowance each month, then a price per million rows.
///
/// Money is integer cents, so bills add up exactly.
///
/// ```swift
/// let pricing = Pricing.standard                   // 100,000 free rows, $10 per million after
/// pricing.charge(rows: 1_100_000)                  // 1000 cents: 1,000,000 billable rows
/// ```
public struct Pricing: Sendable, Equatable {
    /// Rows per month that cost nothing.
    public let freeRowsPerMonth: Int64
    /// The price of one million rows beyond the free allowance, in cents.
    public let centsPerMillionRows: Int64

    /// 100,000 free rows per month, then $10 (1,000 cents) per million rows.
    public static let standard = Pricing(validatedFreeRows: 100_000, centsPerMillionRows: 1_000)

    /// - Throws: ``SlipwayError`` (400) when either amount is negative.
    public init(freeRowsPerMonth: Int64 = 100_000, centsPerMillionRows: Int64 = 1_000) throws(SlipwayError) {
        guard freeRowsPerMonth >= 0 else {
            throw .badRequest("free rows per month must be 0 or more, got \(freeRowsPerMonth)", code: "invalid_pricing")
        }
        guard centsPerMillionRows >= 0 else {
            throw .badRequest(
                "the price per million rows must be 0 or more cents, got \(centsPerMillionRows)",
                code: "invalid_pricing")
        }
        self.init(validatedFreeRows: freeRowsPerMonth, centsPerMillionRows: centsPerMillionRows)
    }

    private init(validatedFreeRows: Int64, centsPerMillionRows: Int64) {
        self.freeRowsPerMonth = validatedFreeRows
        self.centsPerMillionRows = centsPerMillionRows
    }

    /// The charge in cents for one month in which a team predicted `rows` rows.
    ///
    /// Rows beyond the free allowance are priced pro rata and the total is rounded to the nearest cent,
    /// halves up; a bill too large for `Int64` is clamped to `Int64.max`.
    public func charge(rows: Int64) -> Int64 {
        let billable = rows > freeRowsPerMonth ? UInt64(rows - freeRowsPerMonth) : 0
        // billable × price can exceed 64 bits, so multiply and divide at full width.
        let product = billable.multipliedFullWidth(by: UInt64(centsPerMillionRows))
        let (low, carry) = product.low.addingReportingOverflow(500_000)
        let high = product.high + (carry ? 1 : 0)
        guard high < 1_000_000 else { return .max }
        let (cents, _) = UInt64(1_000_000).dividingFullWidth((high: high, low: low))
        return Int64(clamping: cents)
    }
}
