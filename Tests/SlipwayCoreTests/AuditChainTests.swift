import Foundation
import SlipwayCore
import SlipwayTestSupport
import Testing

@Suite("Audit chain")
struct AuditChainTests {
    /// A valid chain of `count` events, as the store would write it.
    static func chain(_ count: Int, seed: UInt64 = 1) -> [AuditEvent] {
        var generator = SplitMix64(seed: seed)
        let team = TeamID.random(using: &generator)
        var previous = AuditChain.genesis
        var events: [AuditEvent] = []
        for sequence in 1...Int64(count) {
            let milliseconds = 1_750_000_000_000 + sequence * 1_000 + Int64.random(in: 0..<1_000, using: &generator)
            let event = Self.sealed(
                sequence: sequence, milliseconds: milliseconds, actor: "alice",
                team: sequence.isMultiple(of: 2)
                    ? team : nil,
                action: "model.create", target: "model:m\(sequence)", requestID: "req-\(sequence)",
                detail: #"{"n":"\#(sequence)"}"#, previous: previous)
            events.append(event)
            previous = event.hash
        }
        return events
    }

    static func sealed(
        sequence: Int64, milliseconds: Int64, actor: String, team: TeamID?, action: String, target: String,
        requestID: String, detail: String, previous: String
    ) -> AuditEvent {
        let hash = AuditChain.hash(
            previous: previous, sequence: sequence, timeMilliseconds: milliseconds, actor: actor,
            team: team?.rawValue, action: action, target: target, requestID: requestID, detail: detail)
        return AuditEvent(
            sequence: sequence, time: Date(timeIntervalSince1970: Double(milliseconds) / 1000), actor: actor,
            team: team, action: action, target: target, requestID: requestID, detail: detail,
            previousHash: previous, hash: hash)
    }

    /// Feeds `events` to a fresh verifier; returns the index and message of the first problem.
    static func firstProblem(_ events: [AuditEvent]) -> (sequence: Int64, message: String)? {
        var verifier = AuditChain.Verifier()
        for event in events {
            if let problem = verifier.check(event) { return (event.sequence, problem) }
        }
        return nil
    }

    /// A copy of `event` with some fields replaced but its stored hashes kept.
    static func edited(
        _ event: AuditEvent, actor: String? = nil, team: TeamID?? = nil, action: String? = nil,
        target: String? = nil, requestID: String? = nil, detail: String? = nil, time: Date? = nil
    ) -> AuditEvent {
        AuditEvent(
            sequence: event.sequence, time: time ?? event.time, actor: actor ?? event.actor,
            team: team ?? event.team, action: action ?? event.action, target: target ?? event.target,
            requestID: requestID ?? event.requestID, detail: detail ?? event.detail,
            previousHash: event.previousHash, hash: event.hash)
    }

    @Test("an intact chain verifies, including its head")
    func intactChain() {
        let events = Self.chain(6)
        var verifier = AuditChain.Verifier()
        for event in events {
            #expect(verifier.check(event) == nil)
        }
        #expect(verifier.checked == 6)
        #expect(verifier.checkHead(sequence: 6, hash: events[5].hash) == nil)
        #expect(events[0].previousHash == AuditChain.genesis)
        #expect(events.allSatisfy { AuditChain.expectedHash(of: $0) == $0.hash })
    }

    @Test("an edited field is detected at that entry")
    func editedFieldIsDetected() throws {
        let events = Self.chain(5)
        let team = TeamID.random()
        let edits: [AuditEvent] = [
            Self.edited(events[2], actor: "mallory"),
            Self.edited(events[2], team: .some(team)),
            Self.edited(events[2], team: .some(nil)),
            Self.edited(events[2], action: "model.delete"),
            Self.edited(events[2], target: "model:other"),
            Self.edited(events[2], requestID: "req-x"),
            Self.edited(events[2], detail: "{}"),
            Self.edited(events[2], time: events[2].time.addingTimeInterval(0.001)),
        ]
        for edit in edits where edit != events[2] {
            var tampered = events
            tampered[2] = edit
            let problem = try #require(Self.firstProblem(tampered))
            #expect(problem.sequence == 3)
            #expect(problem.message.contains("changed after it was written"))
        }
    }

    @Test("a missing entry is detected at the entry after the gap")
    func missingEntryIsDetected() throws {
        var events = Self.chain(5)
        events.remove(at: 2)
        let problem = try #require(Self.firstProblem(events))
        #expect(problem.sequence == 4)
        #expect(problem.message.contains("missing or reordered"))
    }

    @Test("a reordered entry is detected")
    func reorderedEntryIsDetected() throws {
        var events = Self.chain(5)
        events.swapAt(1, 2)
        let problem = try #require(Self.firstProblem(events))
        #expect(problem.sequence == 3)
        #expect(problem.message.contains("missing or reordered"))
    }

    @Test("an entry re-hashed onto a forged previous hash is detected as a broken link")
    func brokenLinkIsDetected() throws {
        var events = Self.chain(5)
        let original = events[3]
        let forgedPrevious = String(repeating: "a", count: 64)
        // Self-consistent entry (its hash matches its content), but it no longer points at entry 3.
        events[3] = Self.sealed(
            sequence: original.sequence, milliseconds: Int64((original.time.timeIntervalSince1970 * 1000).rounded()),
            actor: original.actor, team: original.team, action: original.action, target: original.target,
            requestID: original.requestID, detail: original.detail, previous: forgedPrevious)
        #expect(AuditChain.expectedHash(of: events[3]) == events[3].hash)
        let problem = try #require(Self.firstProblem(events))
        #expect(problem.sequence == 4)
        #expect(problem.message.contains("does not point at the hash of entry 3"))
    }

    @Test("a rewritten whole tail still fails against the head it must match")
    func removedTailIsDetectedByHead() {
        let events = Self.chain(5)
        var verifier = AuditChain.Verifier()
        for event in events.prefix(4) { _ = verifier.check(event) }
        #expect(verifier.checkHead(sequence: 5, hash: events[4].hash)?.contains("were removed") == true)
        #expect(verifier.checkHead(sequence: 4, hash: events[4].hash) != nil)
        #expect(verifier.checkHead(sequence: 4, hash: events[3].hash) == nil)
    }

    @Test("the canonical form separates fields, so shifting bytes between them changes the hash")
    func canonicalFormIsUnambiguous() {
        func hash(actor: String, action: String, team: String? = nil) -> String {
            AuditChain.hash(
                previous: AuditChain.genesis, sequence: 1, timeMilliseconds: 0, actor: actor, team: team,
                action: action, target: "t", requestID: "r", detail: "{}")
        }
        #expect(hash(actor: "ab", action: "c") != hash(actor: "a", action: "bc"))
        #expect(hash(actor: "a\n1:b", action: "c") != hash(actor: "a", action: "b\n1:c"))
        #expect(hash(actor: "a", action: "b") == hash(actor: "a", action: "b"))
        #expect(hash(actor: "a", action: "b").utf8.count == 64)
    }

    @Test("events are JSON round-trippable without changing their hash")
    func codableRoundTrip() throws {
        let events = Self.chain(3)
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .millisecondsSince1970
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .millisecondsSince1970
        let decoded = try decoder.decode([AuditEvent].self, from: encoder.encode(events))
        #expect(decoded.map(\.hash) == events.map(\.hash))
        #expect(Self.firstProblem(decoded) == nil)
    }
}
