import Foundation
import SlipwayCore

/// Wire formats of the platform API. Domain types stay internal; these say exactly what the API promises.
enum DTO {
    struct TeamOut: Encodable {
        let id: String
        let name: String
        let description: String
        let createdAt: Date
        var role: String?

        enum CodingKeys: String, CodingKey {
            case id, name, description, role
            case createdAt = "created_at"
        }

        init(_ team: Team, role: Role? = nil) {
            id = team.id.rawValue
            name = team.name
            description = team.description
            createdAt = team.createdAt
            self.role = role?.rawValue
        }
    }

    struct PrincipalOut: Encodable {
        let id: String
        let name: String
        let kind: String
        let ownerTeam: String?
        let platformAdmin: Bool
        let createdAt: Date

        enum CodingKeys: String, CodingKey {
            case id, name, kind
            case ownerTeam = "owner_team"
            case platformAdmin = "platform_admin"
            case createdAt = "created_at"
        }

        init(_ principal: Principal, ownerTeamName: String? = nil) {
            id = principal.id.rawValue
            name = principal.name
            kind = principal.kind.rawValue
            ownerTeam = ownerTeamName ?? principal.ownerTeam?.rawValue
            platformAdmin = principal.isPlatformAdmin
            createdAt = principal.createdAt
        }
    }

    struct MemberOut: Encodable {
        let principal: String
        let kind: String
        let role: String

        init(_ membership: Membership) {
            principal = membership.principal.name
            kind = membership.principal.kind.rawValue
            role = membership.role.rawValue
        }
    }

    struct KeyOut: Encodable {
        let id: String
        let prefix: String
        let principal: String
        let name: String
        let createdAt: Date
        let expiresAt: Date?
        let revokedAt: Date?
        let lastUsedAt: Date?
        /// Only in the response that creates the key.
        var secret: String?

        enum CodingKeys: String, CodingKey {
            case id, prefix, principal, name, secret
            case createdAt = "created_at"
            case expiresAt = "expires_at"
            case revokedAt = "revoked_at"
            case lastUsedAt = "last_used_at"
        }

        init(_ key: APIKey, principalName: String, secret: String? = nil) {
            id = key.id.rawValue
            prefix = key.displayPrefix
            principal = principalName
            name = key.name
            createdAt = key.createdAt
            expiresAt = key.expiresAt
            revokedAt = key.revokedAt
            lastUsedAt = key.lastUsedAt
            self.secret = secret
        }
    }

    struct ModelOut: Encodable {
        let id: String
        let team: String
        let name: String
        let description: String
        let latestVersion: Int
        let tags: [String: String]
        let aliases: [String: Int]
        let createdAt: Date
        let updatedAt: Date

        enum CodingKeys: String, CodingKey {
            case id, team, name, description, tags, aliases
            case latestVersion = "latest_version"
            case createdAt = "created_at"
            case updatedAt = "updated_at"
        }

        init(_ model: Model, teamName: String) {
            id = model.id.rawValue
            team = teamName
            name = model.name
            description = model.description
            latestVersion = model.latestVersion
            tags = model.tags
            aliases = model.aliases
            createdAt = model.createdAt
            updatedAt = model.updatedAt
        }
    }

    struct LineageIO: Codable {
        var datasetVersion: String?
        var trainingJob: String?
        var sourceCode: String?

        enum CodingKeys: String, CodingKey {
            case datasetVersion = "dataset_version"
            case trainingJob = "training_job"
            case sourceCode = "source_code"
        }
    }

    struct VersionOut: Encodable {
        let model: String
        let version: Int
        let artifact: ArtifactOut
        let format: String
        let signature: ModelSignature?
        let parameters: [String: String]
        let metrics: [String: Double]
        let lineage: LineageIO
        let description: String
        let modelCard: String
        let status: String
        let tags: [String: String]
        let aliases: [String]
        let createdBy: String
        let createdAt: Date
        let productionAllowed: Bool

        enum CodingKeys: String, CodingKey {
            case model, version, artifact, format, signature, parameters, metrics, lineage, description, status, tags
            case aliases
            case productionAllowed = "production_allowed"
            case modelCard = "model_card"
            case createdBy = "created_by"
            case createdAt = "created_at"
        }

        init(_ version: ModelVersion, model: Model) {
            self.model = model.name
            self.version = version.version
            artifact = ArtifactOut(digest: version.artifactDigest, size: version.artifactSize)
            format = version.format.rawValue
            signature = version.signature
            parameters = version.parameters
            metrics = version.metrics
            lineage = LineageIO(
                datasetVersion: version.lineage.datasetVersion, trainingJob: version.lineage.trainingJob,
                sourceCode: version.lineage.sourceCode)
            description = version.description
            modelCard = version.modelCard
            status = version.status.rawValue
            tags = version.tags
            aliases = model.aliases.filter { $0.value == version.version }.map(\.key).sorted()
            productionAllowed = version.productionAllowed
            createdBy = version.createdBy
            createdAt = version.createdAt
        }
    }

    struct ArtifactOut: Codable {
        let digest: String
        let size: Int64
    }

    struct AuditEventOut: Encodable {
        let sequence: Int64
        let time: Date
        let actor: String
        let team: String?
        let action: String
        let target: String
        let requestID: String
        let detail: String
        let hash: String

        enum CodingKeys: String, CodingKey {
            case sequence, time, actor, team, action, target, detail, hash
            case requestID = "request_id"
        }

        init(_ event: AuditEvent) {
            sequence = event.sequence
            time = event.time
            actor = event.actor
            team = event.team?.rawValue
            action = event.action
            target = event.target
            requestID = event.requestID
            detail = event.detail
            hash = event.hash
        }
    }
}
