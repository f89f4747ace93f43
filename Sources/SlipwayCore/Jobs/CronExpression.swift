import Foundation

/// A five-field cron expression (`minute hour day-of-month month day-of-week`), evaluated in UTC.
///
/// Each field takes `*`, numbers, ranges `a-b`, lists `a,b` and steps `*/n` or `a-b/n`; day of week is
/// 0–6 with Sunday 0 (7 is also Sunday). As in classic cron, when both day fields are restricted a day
/// matches if either does. `@hourly`, `@daily`, `@weekly` and `@monthly` are shorthands.
public struct CronExpression: Sendable, Equatable, CustomStringConvertible {
    public let description: String
    let minutes: Set<Int>
    let hours: Set<Int>
    let daysOfMonth: Set<Int>
    let months: Set<Int>
    let daysOfWeek: Set<Int>
    let dayOfMonthRestricted: Bool
    let dayOfWeekRestricted: Bool

    /// Parses `text`; throws a 400 naming the bad field.
    public init(_ text: String) throws(SlipwayError) {
        let shorthands = [
            "@hourly": "0 * * * *", "@daily": "0 0 * * *", "@weekly": "0 0 * * 0", "@monthly": "0 0 1 * *",
        ]
        let expanded = shorthands[text.trimmingCharacters(in: .whitespaces)] ?? text
        let fields = expanded.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
        guard fields.count == 5 else {
            throw .badRequest(
                "cron expression '\(text.prefix(80))' must have 5 fields: minute hour day-of-month month day-of-week",
                code: "invalid_cron")
        }
        self.description = text
        minutes = try Self.parse(fields[0], name: "minute", range: 0...59)
        hours = try Self.parse(fields[1], name: "hour", range: 0...23)
        daysOfMonth = try Self.parse(fields[2], name: "day-of-month", range: 1...31)
        months = try Self.parse(fields[3], name: "month", range: 1...12)
        daysOfWeek = Set(try Self.parse(fields[4], name: "day-of-week", range: 0...7).map { $0 % 7 })
        dayOfMonthRestricted = fields[2] != "*"
        dayOfWeekRestricted = fields[4] != "*"
    }

    static func parse(_ field: String, name: String, range: ClosedRange<Int>) throws(SlipwayError) -> Set<Int> {
        var values = Set<Int>()
        for part in field.split(separator: ",", omittingEmptySubsequences: false) {
            let pieces = part.split(separator: "/", omittingEmptySubsequences: false)
            guard pieces.count <= 2 else { throw bad(field, name, range) }
            var step = 1
            if pieces.count == 2 {
                guard let parsed = Int(pieces[1]), parsed > 0 else { throw bad(field, name, range) }
                step = parsed
            }
            let base = pieces[0]
            var lower = range.lowerBound
            var upper = range.upperBound
            if base != "*" {
                let bounds = base.split(separator: "-", omittingEmptySubsequences: false)
                guard (1...2).contains(bounds.count), let first = Int(bounds[0]) else { throw bad(field, name, range) }
                lower = first
                upper = bounds.count == 2 ? (Int(bounds[1]) ?? -1) : (pieces.count == 2 ? range.upperBound : first)
            }
            guard range.contains(lower), range.contains(upper), lower <= upper else { throw bad(field, name, range) }
            values.formUnion(stride(from: lower, through: upper, by: step))
        }
        return values
    }

    static func bad(_ field: String, _ name: String, _ range: ClosedRange<Int>) -> SlipwayError {
        .badRequest(
            "cron \(name) field '\(field.prefix(40))' must be *, numbers, ranges or steps within "
                + "\(range.lowerBound)-\(range.upperBound)", code: "invalid_cron")
    }

    /// The first matching minute strictly after `date`, or nil if none within about five years
    /// (e.g. `0 0 31 2 *`).
    public func next(after date: Date) -> Date? {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let start = (date.timeIntervalSince1970 / 60).rounded(.down) * 60 + 60
        var candidate = Date(timeIntervalSince1970: start)
        let limit = date.addingTimeInterval(5 * 366 * 86_400)
        while candidate <= limit {
            let parts = calendar.dateComponents([.month, .day, .weekday, .hour, .minute], from: candidate)
            guard let month = parts.month, let day = parts.day, let weekday = parts.weekday, let hour = parts.hour,
                let minute = parts.minute
            else { return nil }
            if !months.contains(month) {
                // Jump to the first day of next month.
                let next = calendar.date(byAdding: .month, value: 1, to: candidate)!
                var first = calendar.dateComponents([.year, .month], from: next)
                first.day = 1
                candidate = calendar.date(from: first)!
                continue
            }
            if !dayMatches(day: day, weekday: weekday - 1) {
                candidate = calendar.startOfDay(for: candidate).addingTimeInterval(86_400)
                continue
            }
            if !hours.contains(hour) {
                candidate = candidate.addingTimeInterval(Double(60 - minute) * 60)
                continue
            }
            if !minutes.contains(minute) {
                candidate = candidate.addingTimeInterval(60)
                continue
            }
            return candidate
        }
        return nil
    }

    func dayMatches(day: Int, weekday: Int) -> Bool {
        switch (dayOfMonthRestricted, dayOfWeekRestricted) {
        case (true, true): daysOfMonth.contains(day) || daysOfWeek.contains(weekday)
        case (true, false): daysOfMonth.contains(day)
        case (false, true): daysOfWeek.contains(weekday)
        case (false, false): true
        }
    }
}
