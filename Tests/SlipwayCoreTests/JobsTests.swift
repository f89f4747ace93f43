import Foundation
import SlipwayCore
import Testing

@Suite("Cron expressions, training specs and job states")
struct JobsTests {
    static func date(_ text: String) -> Date {
        let formatter = ISO8601DateFormatter()
        return formatter.date(from: text)!
    }

    @Test("next run: minutes, hours, steps, lists, ranges, weekdays, shorthands, month ends")
    func cronNext() throws {
        let start = Self.date("2026-11-26T04:17:30Z")  // a Thursday
        let cases: [(String, String)] = [
            ("* * * * *", "2026-11-26T04:18:00Z"),
            ("*/15 * * * *", "2026-11-26T04:30:00Z"),
            ("0 * * * *", "2026-11-26T05:00:00Z"),
            ("@hourly", "2026-11-26T05:00:00Z"),
            ("30 3 * * *", "2026-11-27T03:30:00Z"),
            ("@daily", "2026-11-27T00:00:00Z"),
            ("0 9 * * 1-5", "2026-11-26T09:00:00Z"),
            ("0 9 * * 0", "2026-11-29T09:00:00Z"),
            ("0 9 * * 7", "2026-11-29T09:00:00Z"),
            ("0 0 1 * *", "2026-12-01T00:00:00Z"),
            ("0 0 29 2 *", "2028-02-29T00:00:00Z"),
            ("5,10 4 * * *", "2026-11-27T04:05:00Z"),
            ("0 12 1 1 *", "2027-01-01T12:00:00Z"),
            // Both day fields restricted: either matches (the 1st, or any Monday).
            ("0 0 1 * 1", "2026-11-30T00:00:00Z"),
        ]
        for (expression, expected) in cases {
            #expect(try CronExpression(expression).next(after: start) == Self.date(expected), "\(expression)")
        }
        #expect(try CronExpression("0 0 31 2 *").next(after: start) == nil)
    }

    @Test("bad cron expressions name the field", arguments: ["* * * *", "60 * * * *", "* 24 * * *", "*/0 * * * *", "5-1 * * * *", "a * * * *", "* * 0 * *", "* * * 13 *", "* * * * 8"])
    func cronErrors(_ expression: String) {
        #expect(throws: SlipwayError.self) { try CronExpression(expression) }
    }

    @Test("for any expression, next is after the start, matches it, and no earlier minute matches")
    func cronProperties() throws {
        let expressions = ["*/7 * * * *", "13 */5 * * *", "0 0 * * 3", "45 23 28-31 * *", "0 6 * 2,8 *"]
        var start = Self.date("2026-01-01T00:00:00Z")
        for step in 0..<40 {
            for text in expressions {
                let cron = try CronExpression(text)
                guard let next = cron.next(after: start) else { continue }
                #expect(next > start)
                // Walking minute by minute from start finds nothing earlier (bounded by 40 days here).
                if next.timeIntervalSince(start) < 3 * 86_400 {
                    var probe = Date(timeIntervalSince1970: (start.timeIntervalSince1970 / 60).rounded(.down) * 60 + 60)
                    while probe < next {
                        #expect(cron.next(after: probe.addingTimeInterval(-1)) != probe, "\(text) skipped \(probe)")
                        probe.addTimeInterval(60)
                    }
                }
                #expect(cron.next(after: next.addingTimeInterval(-1)) == next)
            }
            start.addTimeInterval(Double(step) * 7_919)
        }
    }

    @Test("specs: algorithm and task must agree; label or interactions required; hyperparameters named")
    func specValidation() throws {
        let good = TrainingSpec(model: "m", dataset: "d", label: "y", task: .binary, algorithm: .gbdt)
        try good.validate()
        var spec = good
        spec.task = .regression
        spec.algorithm = .logisticRegression
        #expect(throws: SlipwayError.self) { try spec.validate() }
        spec = good
        spec.label = nil
        #expect(throws: SlipwayError.self) { try spec.validate() }
        spec = good
        spec.hyperparameters = ["trees": 10, "depth": 3]
        #expect(throws: SlipwayError.self) { try spec.validate() }
        spec = good
        spec.validation = .init(fraction: 0.95)
        #expect(throws: SlipwayError.self) { try spec.validate() }
        spec = good
        spec.features = ["a"]
        spec.exclude = ["b"]
        #expect(throws: SlipwayError.self) { try spec.validate() }
        let ranking = TrainingSpec(
            model: "r", dataset: "d", task: .ranking, algorithm: .als, interactions: .init(user: "u", item: "i"))
        try ranking.validate()
        var noInteractions = ranking
        noInteractions.interactions = nil
        #expect(throws: SlipwayError.self) { try noInteractions.validate() }
        // The wire format is snake_case.
        let json = String(decoding: try JSONEncoder().encode(TrainingSpec(
            model: "m", dataset: "d", datasetVersion: 2, label: "y", task: .binary, algorithm: .logisticRegression,
            sensitiveAttributes: ["g"])), as: UTF8.self)
        #expect(json.contains("\"dataset_version\":2") && json.contains("\"sensitive_attributes\"") && json.contains("\"logistic_regression\""))
    }

    @Test("job states move only forward, except a retry from running to queued")
    func jobStates() {
        #expect(JobStatus.queued.canMove(to: .running))
        #expect(JobStatus.running.canMove(to: .queued))
        #expect(JobStatus.running.canMove(to: .succeeded))
        for final in [JobStatus.succeeded, .failed, .cancelled] {
            #expect(final.isFinal)
            #expect(JobStatus.allCases.allSatisfy { !final.canMove(to: $0) })
        }
        #expect(!JobStatus.queued.canMove(to: .succeeded))
    }

    @Test("freshness durations")
    func durations() throws {
        #expect(try DataContract.parseDuration("90s") == 90)
        #expect(try DataContract.parseDuration("30m") == 1800)
        #expect(try DataContract.parseDuration("1d") == 86_400)
        for bad in ["", "h", "0h", "-1h", "1w", "10s", "400d"] {
            #expect(throws: SlipwayError.self, "\(bad)") { try DataContract.parseDuration(bad) }
        }
    }
}
