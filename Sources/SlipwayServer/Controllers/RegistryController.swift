import Foundation
import Hummingbird
import NIOCore
import SlipwayCore
import SlipwayRuntime
import SlipwayStore

/// Models, versions, aliases, tags and artifacts, all scoped to the team in the path.
struct RegistryController {
    let registry: any ModelRegistryStore
    let artifacts: ArtifactStore
    let now: @Sendable () -> Date
    let maxJSONBytes: Int
    let maxArtifactBytes: Int64
    /// Largest model parsed at registration (tree ensembles are far smaller than this).
    var maxLoadableModelBytes: Int64 = 1024 * 1024 * 1024

    struct ModelCreate: Decodable {
        let name: String
        var description: String?
        var tags: [String: String]?
    }

    struct ModelUpdate: Decodable {
        let description: String
    }

    struct TagSet: Decodable {
        let value: String
    }

    struct AliasSet: Decodable {
        let version: Int
    }

    struct VersionCreate: Decodable {
        let artifact: String
        var format: String?
        var signature: ModelSignature?
        var parameters: [String: String]?
        var metrics: [String: Double]?
        var lineage: DTO.LineageIO?
        var description: String?
        var modelCard: String?
        var tags: [String: String]?

        enum CodingKeys: String, CodingKey {
            case artifact, format, signature, parameters, metrics, lineage, description, tags
            case modelCard = "model_card"
        }
    }

    struct ProductionSet: Decodable {
        let allowed: Bool
    }

    struct VersionUpdate: Decodable {
        var description: String?
        var status: String?
    }

    func register(on router: Router<SlipwayRequestContext>) {
        let models = "/api/v1/teams/{team}/models"
        let model = models + "/{model}"
        let version = model + "/versions/{version}"

        router.post("/api/v1/teams/{team}/artifacts") { request, context in try await upload(request, context) }

        router.post(RouterPath(models)) { request, context in
            let body = try await JSONCoding.decode(ModelCreate.self, from: request, limit: maxJSONBytes)
            let team = try context.requireTeam()
            let created = try await registry.createModel(
                team: team.id, name: body.name, description: body.description ?? "", tags: body.tags ?? [:],
                audit: try context.audit(), at: now())
            return try Response.json(DTO.ModelOut(created, teamName: team.name), status: .created)
        }
        router.get(RouterPath(models)) { request, context in
            let team = try context.requireTeam()
            var filter = ModelFilter()
            if let query = request.uri.queryParameters.get("q") {
                guard query.utf8.count <= 64, query.unicodeScalars.allSatisfy({ $0.value >= 32 }) else {
                    throw SlipwayError.badRequest("q must be at most 64 printable characters", code: "invalid_query")
                }
                filter.nameContains = String(query)
            }
            if let tag = request.uri.queryParameters.get("tag") {
                let parts = tag.split(separator: "=", maxSplits: 1)
                guard parts.count == 2, ResourceName.isValid(String(parts[0])), parts[1].utf8.count <= 1024,
                    parts[1].unicodeScalars.allSatisfy({ $0.value >= 32 })
                else {
                    throw SlipwayError.badRequest(
                        "tag filter must be KEY=VALUE with a valid tag key and a printable value", code: "invalid_query"
                    )
                }
                filter.tag = (String(parts[0]), String(parts[1]))
            }
            let page = try await registry.searchModels(team: team.id, filter: filter, page: try request.pageRequest())
            return try Response.json(
                ListResponse(
                    items: page.items.map { DTO.ModelOut($0, teamName: team.name) }, nextCursor: page.nextCursor))
        }
        router.get(RouterPath(model)) { _, context in
            let team = try context.requireTeam()
            return try Response.json(DTO.ModelOut(try await requireModel(context), teamName: team.name))
        }
        router.patch(RouterPath(model)) { request, context in
            let body = try await JSONCoding.decode(ModelUpdate.self, from: request, limit: maxJSONBytes)
            let team = try context.requireTeam()
            let updated = try await registry.updateModel(
                team: team.id, name: try context.parameter("model"), description: body.description,
                audit: try context.audit(), at: now())
            return try Response.json(DTO.ModelOut(updated, teamName: team.name))
        }
        router.put(RouterPath(model + "/tags/{key}")) { request, context in
            let body = try await JSONCoding.decode(TagSet.self, from: request, limit: maxJSONBytes)
            try await registry.setTag(
                team: try context.requireTeam().id, model: try context.parameter("model"), version: nil,
                key: try context.parameter("key"), value: body.value, audit: try context.audit(), at: now())
            return try Response.json(["key": try context.parameter("key"), "value": body.value])
        }
        router.delete(RouterPath(model + "/tags/{key}")) { _, context in
            try await registry.setTag(
                team: try context.requireTeam().id, model: try context.parameter("model"), version: nil,
                key: try context.parameter("key"), value: nil, audit: try context.audit(), at: now())
            return Response.noContent
        }

        router.post(RouterPath(model + "/versions")) { request, context in try await createVersion(request, context) }
        router.get(RouterPath(model + "/versions")) { request, context in
            let team = try context.requireTeam()
            let parent = try await requireModel(context)
            let page = try await registry.versions(team: team.id, model: parent.name, page: try request.pageRequest())
            return try Response.json(
                ListResponse(items: page.items.map { DTO.VersionOut($0, model: parent) }, nextCursor: page.nextCursor))
        }
        router.get(RouterPath(version)) { _, context in
            let (parent, found) = try await requireVersion(context)
            return try Response.json(DTO.VersionOut(found, model: parent))
        }
        router.patch(RouterPath(version)) { request, context in
            let body = try await JSONCoding.decode(VersionUpdate.self, from: request, limit: maxJSONBytes)
            let status = try body.status.map { text in
                guard let status = VersionStatus(rawValue: text) else {
                    throw SlipwayError.badRequest(
                        "unknown status '\(text)': use \(VersionStatus.allCases.map(\.rawValue).joined(separator: " or "))",
                        code: "invalid_status")
                }
                return status
            }
            guard body.description != nil || status != nil else {
                throw SlipwayError.badRequest("nothing to change: send description and/or status", code: "empty_update")
            }
            let (parent, found) = try await requireVersion(context)
            let updated = try await registry.updateVersion(
                team: parent.team, model: parent.name, version: found.version, description: body.description,
                status: status, audit: try context.audit(), at: now())
            return try Response.json(DTO.VersionOut(updated, model: parent))
        }
        router.put(RouterPath(version + "/production")) { request, context in
            let body = try await JSONCoding.decode(ProductionSet.self, from: request, limit: maxJSONBytes)
            let (parent, found) = try await requireVersion(context)
            let updated = try await registry.setProductionAllowed(
                team: parent.team, model: parent.name, version: found.version, allowed: body.allowed,
                audit: try context.audit(), at: now())
            return try Response.json(DTO.VersionOut(updated, model: parent))
        }
        router.get(RouterPath(version + "/artifact")) { _, context in
            let (_, found) = try await requireVersion(context)
            let record = ArtifactRecord(digest: found.artifactDigest, size: found.artifactSize)
            // Fail with a proper error before the 200 is sent if the blob is gone.
            _ = try await artifacts.prefix(of: record, count: 1)
            let chunks = artifacts.chunks(of: record)
            let body = ResponseBody(asyncSequence: chunks.map { ByteBuffer(bytes: $0) })
            return Response(
                status: .ok,
                headers: [
                    .contentType: "application/octet-stream", .contentLength: String(record.size),
                    .eTag: "\"\(record.digest)\"",
                ],
                body: body)
        }
        router.put(RouterPath(version + "/tags/{key}")) { request, context in
            let body = try await JSONCoding.decode(TagSet.self, from: request, limit: maxJSONBytes)
            let (parent, found) = try await requireVersion(context)
            try await registry.setTag(
                team: parent.team, model: parent.name, version: found.version, key: try context.parameter("key"),
                value: body.value, audit: try context.audit(), at: now())
            return try Response.json(["key": try context.parameter("key"), "value": body.value])
        }
        router.delete(RouterPath(version + "/tags/{key}")) { _, context in
            let (parent, found) = try await requireVersion(context)
            try await registry.setTag(
                team: parent.team, model: parent.name, version: found.version, key: try context.parameter("key"),
                value: nil, audit: try context.audit(), at: now())
            return Response.noContent
        }
        router.put(RouterPath(model + "/aliases/{alias}")) { request, context in
            let body = try await JSONCoding.decode(AliasSet.self, from: request, limit: maxJSONBytes)
            let team = try context.requireTeam()
            let name = try context.parameter("model")
            try await registry.setAlias(
                team: team.id, model: name, alias: try context.parameter("alias"), version: body.version,
                audit: try context.audit(), at: now())
            return try Response.json(DTO.ModelOut(try await requireModel(context), teamName: team.name))
        }
        router.delete(RouterPath(model + "/aliases/{alias}")) { _, context in
            try await registry.deleteAlias(
                team: try context.requireTeam().id, model: try context.parameter("model"),
                alias: try context.parameter("alias"), audit: try context.audit(), at: now())
            return Response.noContent
        }
    }

    /// Streams the body into the artifact store; never holds it whole in memory.
    func upload(_ request: Request, _ context: SlipwayRequestContext) async throws -> Response {
        let team = try context.requireTeam()
        if let length = request.headers[.contentLength].flatMap(Int64.init), length > maxArtifactBytes {
            throw SlipwayError.payloadTooLarge(limit: maxArtifactBytes)
        }
        let expected = request.headers[.init("X-Slipway-Digest")!]
        let record = try await artifacts.upload(
            team: team.id, body: request.body, expectedDigest: expected, limit: maxArtifactBytes,
            audit: try context.audit(), at: now())
        return try Response.json(DTO.ArtifactOut(digest: record.digest, size: record.size), status: .created)
    }

    func createVersion(_ request: Request, _ context: SlipwayRequestContext) async throws -> Response {
        let body = try await JSONCoding.decode(VersionCreate.self, from: request, limit: maxJSONBytes)
        let team = try context.requireTeam()
        let parent = try await requireModel(context)
        let declared = try body.format.map { text in
            guard let format = ModelFormat(rawValue: text) else {
                throw SlipwayError.badRequest(
                    "unknown format '\(text)': use one of \(ModelFormat.allCases.map(\.rawValue).joined(separator: ", "))",
                    code: "invalid_format")
            }
            return format
        }
        guard let record = try await artifacts.record(team: team.id, digest: body.artifact) else {
            throw SlipwayError.unprocessable(
                "artifact '\(body.artifact.prefix(80))' has not been uploaded by team '\(team.name)': upload it first",
                code: "artifact_not_found")
        }
        let prefix = try await artifacts.prefix(of: record, count: ModelFormatDetector.prefixLength)
        let format = try ModelFormatDetector.detect(prefix: prefix, declared: declared)
        // Formats with a runtime are parsed now, so a version that cannot be served is refused at
        // registration, and its signature is known even when the client sent none.
        var signature = body.signature
        if ModelLoader.servableFormats.contains(format) {
            let bytes = try await artifacts.readAll(record, limit: maxLoadableModelBytes)
            if let predictor = try ModelLoader.load(format, artifact: bytes) {
                if let declaredFeatures = signature?.inputs.first?.shape.last, signature?.inputs.count == 1,
                    declaredFeatures > 0, declaredFeatures != predictor.featureCount
                {
                    throw SlipwayError.unprocessable(
                        "the signature declares \(declaredFeatures) input features, the model has \(predictor.featureCount)",
                        code: "signature_mismatch")
                }
                signature = signature ?? predictor.signature
            }
        }
        let new = NewModelVersion(
            artifactDigest: record.digest, format: format, signature: signature,
            parameters: body.parameters ?? [:], metrics: body.metrics ?? [:],
            lineage: Lineage(
                datasetVersion: body.lineage?.datasetVersion, trainingJob: body.lineage?.trainingJob,
                sourceCode: body.lineage?.sourceCode),
            description: body.description ?? "", modelCard: body.modelCard ?? "", tags: body.tags ?? [:])
        let created = try await registry.createVersion(
            team: team.id, model: parent.name, new, audit: try context.audit(), at: now())
        var updatedParent = parent
        updatedParent.latestVersion = created.version
        return try Response.json(DTO.VersionOut(created, model: updatedParent), status: .created)
    }

    func requireModel(_ context: SlipwayRequestContext) async throws -> Model {
        let name = try context.parameter("model")
        guard let found = try await registry.model(team: try context.requireTeam().id, name: name) else {
            throw SlipwayError.notFound("model '\(name)' not found in this team", code: "model_not_found")
        }
        return found
    }

    /// `{version}` is a number or an alias.
    func requireVersion(_ context: SlipwayRequestContext) async throws -> (Model, ModelVersion) {
        let parent = try await requireModel(context)
        let reference = try context.parameter("version")
        let number: Int
        if let value = Int(reference), value > 0 {
            number = value
        } else if let aliased = parent.aliases[reference] {
            number = aliased
        } else if Int(reference) != nil {
            throw SlipwayError.badRequest("version numbers start at 1", code: "invalid_version")
        } else {
            throw SlipwayError.notFound(
                "model '\(parent.name)' has no alias '\(reference.prefix(64))'", code: "alias_not_found")
        }
        guard let found = try await registry.version(team: parent.team, model: parent.name, version: number) else {
            throw SlipwayError.notFound("model '\(parent.name)' has no version \(number)", code: "version_not_found")
        }
        return (parent, found)
    }
}
