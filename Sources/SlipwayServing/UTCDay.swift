import Foundation

/// A calendar day in UTC, computed with integer arithmetic so metering and quotas need no `Calendar`.
///
/// The conversions are Howard Hinnant's `days_from_civil` and `civil_from_days` for the proleptic
/// Gregorian calendar.
struct UTCDay: Hashable, Comparable, Sendable {
    /// Days since 1970-01-01.
    let daysSinceEpoch: Int64

    init(daysSinceEpoch: Int64) {
        self.daysSinceEpoch = daysSinceEpoch
    }

    /// The UTC day containing `date`.
    init(_ date: Date) {
        daysSinceEpoch = Int64((date.timeIntervalSince1970 / 86_400).rounded(.down))
    }

    init(year: Int64, month: Int64, day: Int64) {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        daysSinceEpoch = era * 146_097 + dayOfEra - 719_468
    }

    /// The year, month (1–12) and day of month (1–31).
    var components: (year: Int64, month: Int64, day: Int64) {
        let z = daysSinceEpoch + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1_460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let shiftedMonth = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * shiftedMonth + 2) / 5 + 1
        let month = shiftedMonth < 10 ? shiftedMonth + 3 : shiftedMonth - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }

    /// The first day of this day's month.
    var firstOfMonth: UTCDay {
        let (year, month, _) = components
        return UTCDay(year: year, month: month, day: 1)
    }

    /// The first day of the following month.
    var firstOfNextMonth: UTCDay {
        let (year, month, _) = components
        return month == 12 ? UTCDay(year: year + 1, month: 1, day: 1) : UTCDay(year: year, month: month + 1, day: 1)
    }

    /// Midnight UTC at the start of this day.
    var start: Date { Date(timeIntervalSince1970: Double(daysSinceEpoch) * 86_400) }

    /// `YYYY-MM-DD`.
    var isoString: String {
        let (year, month, day) = components
        return "\(Self.pad(year, 4))-\(Self.pad(month, 2))-\(Self.pad(day, 2))"
    }

    static func < (lhs: UTCDay, rhs: UTCDay) -> Bool { lhs.daysSinceEpoch < rhs.daysSinceEpoch }

    private static func pad(_ value: Int64, _ width: Int) -> String {
        let digits = String(value)
        return digits.count >= width ? digits : String(repeating: "0", count: width - digits.count) + digits
    }
}
