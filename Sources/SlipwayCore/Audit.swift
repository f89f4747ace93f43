import Foundation

/// Who did something, and under which request: passed to every mutating store operation so the
/// audit entry is written in the same transaction as the change.
public struct AuditContext: Sendable, Equatable {
    /// The acting principal's name, or `@system` for the server itself (outside the name alphabet,
    /// so no principal can be mistaken for it).
    public let actor: String
    public let requestID: String

    public init(actor: String, requestID: String) {
        self.actor = actor
        self.requestID = requestID
    }

    public static func system(_ requestID: String = "startup") -> AuditContext {
        AuditContext(actor: "@system", requestID: requestID)
    }
}

/// One entry of the append-only, hash-chained audit log.
public struct AuditEvent: Sendable, Equatable, Codable {
    public let sequence: Int64
    public let time: Date
    public let actor: String
    public let team: TeamID?
    /// Dotted verb, e.g. `model.create`, `key.revoke`.
    public let action: String
    /// What was acted on, e.g. `model:fraud-detector/3`.
    public let target: String
    public let requestID: String
    /// Small JSON object with the change's details (never secrets).
    public let detail: String
    public let previousHash: String
    public let hash: String

    public init(
        sequence: Int64, time: Date, actor: String, team: TeamID?, action: String, target: String,
        requestID: String, detail: String, previousHash: String, hash: String
    ) {
        self.sequence = sequence
        self.time = time
        self.actor = actor
        self.team = team
        self.action = action
        self.target = target
        self.requestID = requestID
        self.detail = detail
        self.previousHash = previousHash
        self.hash = hash
    }
}

/// The audit chain's hashing rule: `hash = sha256(previous_hash ‖ canonical(event))`.
///
/// The canonical form length-prefixes every field so no two different events encode alike.
/// Time is whole milliseconds since 1970, the precision the store keeps.
public enum AuditChain {
    /// The `previous_hash` of the first entry.
    public static let genesis = String(repeating: "0", count: 64)

    public static func hash(
        previous: String, sequence: Int64, timeMilliseconds: Int64, actor: String, team: String?, action: String,
        target: String, requestID: String, detail: String
    ) -> String {
        var canonical = [UInt8]()
        for field in [
            previous, String(sequence), String(timeMilliseconds), actor, team ?? "", action, target, requestID,
            detail,
        ] {
            canonical += Array("\(field.utf8.count):".utf8)
            canonical += Array(field.utf8)
            canonical.append(UInt8(ascii: "\n"))
        }
        return Digest.sha256Hex(canonical)
    }

    /// The hash `event` should carry given its own fields.
    public static func expectedHash(of event: AuditEvent) -> String {
        hash(
            previous: event.previousHash, sequence: event.sequence,
            timeMilliseconds: Int64((event.time.timeIntervalSince1970 * 1000).rounded()), actor: event.actor,
            team: event.team?.rawValue, action: event.action, target: event.target, requestID: event.requestID,
            detail: event.detail)
    }

    /// Incremental verification: feed events in sequence order.
    public struct Verifier: Sendable {
        public private(set) var checked: Int64 = 0
        private var previousHash = AuditChain.genesis
        private var previousSequence: Int64 = 0

        public init() {}

        /// Returns a description of the first problem with `event`, or nil if it extends the chain.
        public mutating func check(_ event: AuditEvent) -> String? {
            if event.sequence != previousSequence + 1 {
                return "entry \(event.sequence) follows entry \(previousSequence): entries are missing or reordered"
            }
            if event.previousHash != previousHash {
                return "entry \(event.sequence) does not point at the hash of entry \(previousSequence)"
            }
            if event.hash != AuditChain.expectedHash(of: event) {
                return "entry \(event.sequence) was changed after it was written (its hash does not match its content)"
            }
            checked += 1
            previousHash = event.hash
            previousSequence = event.sequence
            return nil
        }

        /// The head's hash must match the chain's last entry, so a truncated tail is detected.
        public func checkHead(sequence: Int64, hash: String) -> String? {
            if sequence != previousSequence || hash != previousHash {
                return
                    "the log's head (entry \(sequence)) does not match its last entry (\(previousSequence)): entries were removed"
            }
            return nil
        }
    }
}

/// The outcome of recomputing the audit chain.
public struct AuditVerification: Sendable, Equatable, Codable {
    public let ok: Bool
    public let checked: Int64
    /// The sequence number of the first broken entry, if any.
    public let firstBrokenSequence: Int64?
    public let problem: String?

    public init(ok: Bool, checked: Int64, firstBrokenSequence: Int64?, problem: String?) {
        self.ok = ok
        self.checked = checked
        self.firstBrokenSequence = firstBrokenSequence
        self.problem = problem
    }
}
