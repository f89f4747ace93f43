import Foundation
import SlipwayCore
import Testing

@testable import SlipwayServing

@Suite("Usage meter")
struct UsageMeterTests {
    static let june15 = Date(timeIntervalSince1970: 1_749_945_600)  // 2025-06-15T00:00:00Z

    @Test("counts accumulate per team, endpoint, version and UTC day")
    func accumulates() {
        let meter = UsageMeter()
        let noon = Self.june15.addingTimeInterval(12 * 3_600)
        meter.record(team: "t1", endpoint: "fraud", version: 3, rows: 10, error: false, now: noon)
        meter.record(team: "t1", endpoint: "fraud", version: 3, rows: 5, error: true, now: noon.addingTimeInterval(60))
        meter.record(team: "t1", endpoint: "fraud", version: 4, rows: 1, error: false, now: noon)
        meter.record(team: "t2", endpoint: "fraud", version: 3, rows: 2, error: false, now: noon)
        // One second before and after midnight fall on different days.
        meter.record(
            team: "t1", endpoint: "fraud", version: 3, rows: 7, error: false, now: Self.june15.addingTimeInterval(-1))
        meter.record(
            team: "t1", endpoint: "fraud", version: 3, rows: 1, error: false,
            now: Self.june15.addingTimeInterval(86_400))

        #expect(
            meter.drain() == [
                UsageRecord(
                    team: TeamID(trusted: "t1"), endpoint: "fraud", version: 3, day: "2025-06-14", requests: 1, rows: 7, errors: 0),
                UsageRecord(
                    team: TeamID(trusted: "t1"), endpoint: "fraud", version: 3, day: "2025-06-15", requests: 2, rows: 15, errors: 1),
                UsageRecord(
                    team: TeamID(trusted: "t1"), endpoint: "fraud", version: 4, day: "2025-06-15", requests: 1, rows: 1, errors: 0),
                UsageRecord(
                    team: TeamID(trusted: "t2"), endpoint: "fraud", version: 3, day: "2025-06-15", requests: 1, rows: 2, errors: 0),
                UsageRecord(
                    team: TeamID(trusted: "t1"), endpoint: "fraud", version: 3, day: "2025-06-16", requests: 1, rows: 1, errors: 0),
            ])
    }

    @Test("drain resets; restore puts records back and adds counts made meanwhile")
    func drainAndRestore() {
        let meter = UsageMeter()
        meter.record(team: "t", endpoint: "e", version: 1, rows: 3, error: false, now: Self.june15)
        meter.record(team: "other", endpoint: "e", version: 1, rows: 100, error: false, now: Self.june15)
        #expect(meter.pendingRows(team: "t") == 3)
        let drained = meter.drain().filter { $0.team.rawValue == "t" }
        #expect(drained.count == 1)
        #expect(meter.isEmpty)
        #expect(meter.pendingRows(team: "t") == 0)
        #expect(meter.drain().isEmpty)

        // Persisting failed; meanwhile another request came in.
        meter.record(team: "t", endpoint: "e", version: 1, rows: 4, error: true, now: Self.june15)
        meter.restore(drained)
        #expect(meter.pendingRows(team: "t") == 7)
        #expect(
            meter.drain() == [
                UsageRecord(team: TeamID(trusted: "t"), endpoint: "e", version: 1, day: "2025-06-15", requests: 2, rows: 7, errors: 1)
            ])
    }

    @Test("concurrent recording loses no counts")
    func concurrent() async {
        let meter = UsageMeter()
        await withTaskGroup(of: Void.self) { group in
            for task in 0..<8 {
                group.addTask {
                    for index in 0..<1_000 {
                        meter.record(
                            team: "t\(task % 2)", endpoint: "e", version: 1, rows: 2, error: index % 10 == 0,
                            now: Self.june15)
                        if index % 250 == 0 { meter.restore(meter.drain()) }
                    }
                }
            }
        }
        let records = meter.drain()
        #expect(records.map(\.requests) == [4_000, 4_000])
        #expect(records.map(\.rows) == [8_000, 8_000])
        #expect(records.map(\.errors) == [400, 400])
    }
}
