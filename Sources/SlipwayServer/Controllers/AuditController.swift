import Foundation
import Hummingbird
import SlipwayCore
import SlipwayStore

/// `GET /api/v1/audit` and `GET /api/v1/audit/verify`.
struct AuditController {
    let audit: any AuditLogStore

    func register(on router: Router<SlipwayRequestContext>) {
        router.get("/api/v1/audit") { request, context in
            let limit = try request.integerQuery("limit") ?? 100
            guard (1...1000).contains(limit) else {
                throw SlipwayError.badRequest("limit must be between 1 and 1000", code: "invalid_limit")
            }
            // `cursor` (the previous page's next_cursor) and `after` both name the last sequence seen.
            var after = try request.integerQuery("after").map(Int64.init)
            if let cursor = request.uri.queryParameters.get("cursor") {
                guard let sequence = Int64(cursor), sequence >= 0 else {
                    throw SlipwayError.badRequest("cursor is not one this server issued", code: "invalid_cursor")
                }
                after = sequence
            }
            // Team members see their team's entries; a platform admin without ?team= sees all.
            let events = try await audit.events(team: context.team?.id, after: after, limit: limit)
            let next = events.count == limit ? events.last.map { String($0.sequence) } : nil
            return try Response.json(ListResponse(items: events.map(DTO.AuditEventOut.init), nextCursor: next))
        }
        router.get("/api/v1/audit/verify") { _, _ in
            struct Out: Encodable {
                let ok: Bool
                let checked: Int64
                let firstBrokenSequence: Int64?
                let problem: String?

                enum CodingKeys: String, CodingKey {
                    case ok, checked, problem
                    case firstBrokenSequence = "first_broken_sequence"
                }
            }
            let result = try await audit.verify()
            return try Response.json(
                Out(
                    ok: result.ok, checked: result.checked, firstBrokenSequence: result.firstBrokenSequence,
                    problem: result.problem))
        }
    }
}
