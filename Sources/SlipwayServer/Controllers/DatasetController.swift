import Foundation
import Hummingbird
import NIOCore
import SlipwayCore
import SlipwayStore
import Yams

/// The keys a YAML document may use, so a misspelt key (`nulable:`) is refused instead of ignored.
struct KnownKeys: Sendable {
    let top: Set<String>
    /// Keys allowed in objects nested under a top-level key (each item when it is a list).
    var nested: [String: KnownKeys] = [:]

    func check(_ node: Any?, what: String, path: String = "") throws {
        guard let object = node as? [String: Any] else { return }
        for key in object.keys.sorted() {
            guard top.contains(key) else {
                throw SlipwayError.badRequest(
                    "\(what): unknown key '\(path)\(key)'; known keys are " + top.sorted().joined(separator: ", "),
                    code: "invalid_\(what)")
            }
            if let inner = nested[key] {
                let children = object[key] as? [Any] ?? [object[key] as Any]
                for child in children { try inner.check(child, what: what, path: path + key + ".") }
            }
        }
    }

    static let contract = KnownKeys(
        top: ["columns", "rows", "freshness", "unknown_columns", "warn"],
        nested: [
            "columns": KnownKeys(
                top: ["name", "type", "nullable", "min", "max", "allowed", "regex", "unique", "pii", "warn"]),
            "rows": KnownKeys(top: ["min", "max"]),
        ])

    static let spec = KnownKeys(
        top: [
            "model", "dataset", "dataset_version", "label", "features", "exclude", "task", "algorithm",
            "hyperparameters", "validation", "seed", "sensitive_attributes", "interactions", "description",
        ],
        nested: [
            "validation": KnownKeys(top: ["fraction", "time_column"]),
            "interactions": KnownKeys(top: ["user", "item", "weight"]),
        ])

    static let schedule = KnownKeys(top: ["spec", "cron", "on_new_version"], nested: ["spec": spec])
}

/// Datasets, contracts, versions, grants and reads. Owners use `/teams/{team}/datasets/…`; a team that
/// was granted access reads through `/teams/{team}/shared-datasets/{owner}/{dataset}/…`. Every read of
/// content is audited.
struct DatasetController {
    let service: DatasetService
    let identity: any IdentityStore
    let now: @Sendable () -> Date
    let maxJSONBytes: Int

    struct DatasetCreate: Decodable {
        let name: String
        var description: String?
    }

    struct SnapshotIn: Decodable {
        let source: String
        let query: String
    }

    struct SourceOut: Encodable {
        let name: String
        let kind: String
    }

    struct GrantSet: Decodable {
        var pii: Bool?
    }

    var datasets: any DatasetStore { service.datasets }

    func register(on router: Router<SlipwayRequestContext>) {
        let base = "/api/v1/teams/{team}/datasets"
        let one = base + "/{dataset}"
        let version = one + "/versions/{version}"
        let shared = "/api/v1/teams/{team}/shared-datasets"
        let sharedOne = shared + "/{owner}/{dataset}"

        router.post(RouterPath(base)) { request, context in
            let body = try await JSONCoding.decode(DatasetCreate.self, from: request, limit: maxJSONBytes)
            let team = try context.requireTeam()
            let created = try await datasets.createDataset(
                team: team.id, name: body.name, description: body.description ?? "", audit: try context.audit(), at: now())
            return try Response.json(DTO.DatasetOut(created, teamName: team.name), status: .created)
        }
        router.get(RouterPath(base)) { _, context in
            let team = try context.requireTeam()
            var items: [DTO.DatasetOut] = []
            for dataset in try await datasets.datasets(team: team.id) {
                items.append(try await out(dataset, teamName: team.name))
            }
            return try Response.json(ListResponse(items: items))
        }
        router.get(RouterPath(one)) { _, context in
            let (team, dataset) = try await ownDataset(context)
            return try Response.json(try await out(dataset, teamName: team.name))
        }
        router.put(RouterPath(one + "/contract")) { request, context in
            let (team, dataset) = try await ownDataset(context)
            let document = try await Self.text(request, limit: maxJSONBytes)
            let contract = try Self.decodeYAML(DataContract.self, document, what: "contract", knownKeys: .contract)
            let stored = try await datasets.putContract(
                team: team.id, dataset: dataset.name, contract: contract, document: document,
                audit: try context.audit(), at: now())
            return try Response.json(DTO.ContractOut(stored, name: dataset.name), status: .created)
        }
        router.get(RouterPath(one + "/contract")) { request, context in
            let (_, dataset) = try await ownDataset(context)
            let number = try request.integerQuery("version") ?? dataset.contractVersion
            guard number > 0, let contract = try await datasets.contract(dataset: dataset.id, version: number) else {
                throw SlipwayError.notFound(
                    "dataset '\(dataset.name)' has no contract\(number > 0 ? " version \(number)" : "")",
                    code: "contract_not_found")
            }
            return try Response.json(DTO.ContractOut(contract, name: dataset.name))
        }
        router.post(RouterPath(one + "/versions")) { request, context in
            let team = try context.requireTeam()
            let name = try context.parameter("dataset")
            let format = try Self.format(request)
            let (version, detail) = try await service.push(
                team: team.id, dataset: name, format: format, body: request.body, source: "upload",
                audit: try context.audit(), at: now())
            return try Response.json(
                DTO.DatasetVersionOut(version, name: name, profile: detail.profile, validation: detail.report),
                status: .created)
        }
        router.post(RouterPath(one + "/snapshots")) { request, context in
            let team = try context.requireTeam()
            let name = try context.parameter("dataset")
            let body = try await JSONCoding.decode(SnapshotIn.self, from: request, limit: maxJSONBytes)
            let (version, detail) = try await service.snapshot(
                team: team, dataset: name, source: body.source, query: body.query, audit: try context.audit(), at: now())
            return try Response.json(
                DTO.DatasetVersionOut(version, name: name, profile: detail.profile, validation: detail.report),
                status: .created)
        }
        router.get("/api/v1/teams/{team}/data-sources") { _, context in
            let team = try context.requireTeam()
            return try Response.json(
                ListResponse(items: service.sources(for: team).map { SourceOut(name: $0.name, kind: $0.kind.rawValue) }))
        }
        router.post(RouterPath(one + "/validate")) { request, context in
            let team = try context.requireTeam()
            let (profile, report, contractVersion) = try await service.validate(
                team: team.id, dataset: try context.parameter("dataset"), format: try Self.format(request),
                body: request.body)
            return try Response.json(
                DTO.ValidationOut(
                    contractVersion: contractVersion, rowCount: profile.rowCount, validation: report, profile: profile))
        }
        router.get(RouterPath(one + "/versions")) { _, context in
            let (_, dataset) = try await ownDataset(context)
            let versions = try await datasets.versions(dataset: dataset.id)
            return try Response.json(ListResponse(items: versions.map { DTO.DatasetVersionOut($0, name: dataset.name) }))
        }
        router.get(RouterPath(version)) { _, context in
            let (_, dataset) = try await ownDataset(context)
            return try await versionResponse(dataset, context, pii: true)
        }
        router.get(RouterPath(version + "/rows")) { request, context in
            let (team, dataset) = try await ownDataset(context)
            return try await rowsResponse(dataset, reader: team.id, unmaskPII: true, request, context)
        }
        router.put(RouterPath(one + "/grants/{grantee}")) { request, context in
            let (team, dataset) = try await ownDataset(context)
            let body = try await JSONCoding.decode(GrantSet.self, from: request, limit: maxJSONBytes)
            let grantee = try await requireTeam(named: try context.parameter("grantee"))
            let grant = try await datasets.grant(
                team: team.id, dataset: dataset.name, grantee: grantee.id, pii: body.pii ?? false,
                audit: try context.audit(), at: now())
            return try Response.json(DTO.GrantOut(grant, dataset: dataset.name, granteeName: grantee.name))
        }
        router.delete(RouterPath(one + "/grants/{grantee}")) { _, context in
            let (team, dataset) = try await ownDataset(context)
            let grantee = try await requireTeam(named: try context.parameter("grantee"))
            try await datasets.revoke(
                team: team.id, dataset: dataset.name, grantee: grantee.id, audit: try context.audit(), at: now())
            return Response.noContent
        }
        router.get(RouterPath(one + "/grants")) { _, context in
            let (_, dataset) = try await ownDataset(context)
            var items: [DTO.GrantOut] = []
            for grant in try await datasets.grants(dataset: dataset.id) {
                let name = try await identity.team(id: grant.grantee)?.name ?? grant.grantee.rawValue
                items.append(DTO.GrantOut(grant, dataset: dataset.name, granteeName: name))
            }
            return try Response.json(ListResponse(items: items))
        }
        router.get(RouterPath(shared)) { _, context in
            let team = try context.requireTeam()
            var items: [DTO.DatasetOut] = []
            for (dataset, _) in try await datasets.sharedDatasets(grantee: team.id) {
                let owner = try await identity.team(id: dataset.team)?.name ?? dataset.team.rawValue
                items.append(try await out(dataset, teamName: owner))
            }
            return try Response.json(ListResponse(items: items))
        }
        router.get(RouterPath(sharedOne + "/versions")) { _, context in
            let (dataset, _) = try await sharedDataset(context)
            let versions = try await datasets.versions(dataset: dataset.id)
            return try Response.json(ListResponse(items: versions.map { DTO.DatasetVersionOut($0, name: dataset.name) }))
        }
        router.get(RouterPath(sharedOne + "/versions/{version}")) { _, context in
            let (dataset, grant) = try await sharedDataset(context)
            return try await versionResponse(dataset, context, pii: grant.pii)
        }
        router.get(RouterPath(sharedOne + "/versions/{version}/rows")) { request, context in
            let (dataset, grant) = try await sharedDataset(context)
            return try await rowsResponse(
                dataset, reader: try context.requireTeam().id, unmaskPII: grant.pii, request, context)
        }
    }

    func out(_ dataset: Dataset, teamName: String) async throws -> DTO.DatasetOut {
        let contract = try await service.currentContract(dataset)
        return DTO.DatasetOut(dataset, teamName: teamName, freshness: contract?.contract.freshness)
    }

    func ownDataset(_ context: SlipwayRequestContext) async throws -> (Team, Dataset) {
        let team = try context.requireTeam()
        let name = try context.parameter("dataset")
        guard let dataset = try await datasets.dataset(team: team.id, name: name) else {
            throw SQLDatasetStore.notFound(name)
        }
        return (team, dataset)
    }

    /// Another team's dataset that the path's team was granted; without a grant it does not exist.
    func sharedDataset(_ context: SlipwayRequestContext) async throws -> (Dataset, DatasetGrant) {
        let team = try context.requireTeam()
        let ownerName = try context.parameter("owner")
        let name = try context.parameter("dataset")
        guard let owner = try await identity.team(named: ownerName),
            let dataset = try await datasets.dataset(team: owner.id, name: name),
            let grant = try await datasets.grant(dataset: dataset.id, grantee: team.id)
        else { throw SlipwayError.notFound("dataset '\(ownerName)/\(name)' was not found", code: "dataset_not_found") }
        return (dataset, grant)
    }

    func requireTeam(named name: String) async throws -> Team {
        guard let team = try await identity.team(named: name) else {
            throw SlipwayError.notFound("team '\(name)' was not found", code: "team_not_found")
        }
        return team
    }

    /// `{version}` is a number or `latest`.
    func requireVersion(_ dataset: Dataset, _ context: SlipwayRequestContext) async throws -> DatasetVersionDetail {
        let reference = try context.parameter("version")
        let number: Int
        if reference == "latest" {
            number = dataset.latestVersion
        } else if let value = Int(reference), value > 0 {
            number = value
        } else {
            throw SlipwayError.badRequest("version must be a number from 1, or latest", code: "invalid_version")
        }
        guard number > 0, let detail = try await datasets.version(dataset: dataset.id, version: number) else {
            throw SlipwayError.notFound(
                "dataset '\(dataset.name)' has no version \(reference.prefix(20))", code: "version_not_found")
        }
        return detail
    }

    func versionResponse(_ dataset: Dataset, _ context: SlipwayRequestContext, pii: Bool) async throws -> Response {
        let detail = try await requireVersion(dataset, context)
        var report = detail.report
        var profile = detail.profile
        if !pii, let contract = try await service.currentContract(dataset) {
            // PII is what the newest contract says, even for versions stored before a column was tagged.
            let columns = Set(contract.contract.columns.filter(\.isPII).map(\.name))
            report = report.map { Self.maskExamples($0, pii: columns) }
            profile = Self.maskProfile(profile, pii: columns)
        }
        return try Response.json(
            DTO.DatasetVersionOut(detail.version, name: dataset.name, profile: profile, validation: report))
    }

    /// Drops the values a profile shows of PII columns (top values, extremes, quantiles, histogram).
    static func maskProfile(_ profile: DatasetProfile, pii: Set<String>) -> DatasetProfile {
        var profile = profile
        for index in profile.columns.indices where pii.contains(profile.columns[index].name) {
            profile.columns[index].pii = true
            profile.columns[index].topValues = nil
            profile.columns[index].min = nil
            profile.columns[index].max = nil
            profile.columns[index].quantiles = nil
            profile.columns[index].histogram = nil
        }
        return profile
    }

    static func maskExamples(_ report: ValidationReport, pii: Set<String>) -> ValidationReport {
        var report = report
        for index in report.rules.indices where report.rules[index].column.map(pii.contains) == true {
            report.rules[index].examples = report.rules[index].examples.map {
                .init(row: $0.row, value: $0.value.map(PIIMask.mask))
            }
        }
        return report
    }

    func rowsResponse(
        _ dataset: Dataset, reader: TeamID, unmaskPII: Bool, _ request: Request, _ context: SlipwayRequestContext
    ) async throws -> Response {
        let detail = try await requireVersion(dataset, context)
        let offset = try request.integerQuery("offset") ?? 0
        let limit = try request.integerQuery("limit") ?? 100
        guard offset >= 0, (1...1000).contains(limit) else {
            throw SlipwayError.badRequest("offset must be ≥ 0 and limit 1-1000", code: "invalid_query")
        }
        // The newest contract decides what is PII, whatever contract the version was validated against.
        let contract = try await service.currentContract(dataset)?.contract
        let result = try await service.rows(
            detail.version, owner: dataset.team, contract: contract, offset: offset, limit: limit, unmaskPII: unmaskPII)
        try await datasets.recordRead(
            dataset: dataset, version: detail.version.version, reader: reader, piiUnmasked: unmaskPII,
            purpose: "rows \(offset)+\(result.rows.count)", audit: try context.audit(), at: now())
        return try Response.json(
            DTO.RowsOut(columns: result.columns, rows: result.rows, masked: result.masked, offset: offset))
    }

    /// The upload's format: `?format=csv|jsonl`, else from Content-Type, else CSV.
    static func format(_ request: Request) throws -> DatasetFormat {
        if let text = request.uri.queryParameters.get("format") {
            guard let format = DatasetFormat(rawValue: String(text)) else {
                throw SlipwayError.badRequest("format must be csv or jsonl", code: "invalid_format")
            }
            return format
        }
        let type = request.headers[.contentType]?.lowercased() ?? ""
        if type.contains("ndjson") || type.contains("jsonl") || type.contains("json-lines") { return .jsonl }
        return .csv
    }

    static func text(_ request: Request, limit: Int) async throws -> String {
        let buffer = try await JSONCoding.collect(request, limit: limit)
        guard let text = String(validating: buffer.readableBytesView, as: UTF8.self) else {
            throw SlipwayError.badRequest("the document must be UTF-8 text", code: "invalid_document")
        }
        return text
    }

    /// Decodes YAML (or JSON, which YAML includes) into `T`, with a 400 that says where it went wrong.
    static func decodeYAML<T: Decodable>(
        _ type: T.Type, _ text: String, what: String, knownKeys: KnownKeys? = nil
    ) throws -> T {
        let node: Any?
        do {
            node = try Yams.load(yaml: text)
        } catch {
            throw SlipwayError.badRequest("invalid \(what): not valid YAML or JSON (\(error))", code: "invalid_\(what)")
        }
        if let knownKeys { try knownKeys.check(node, what: what) }
        do {
            return try YAMLDecoder().decode(T.self, from: text)
        } catch let error as DecodingError {
            throw SlipwayError.badRequest("invalid \(what): \(JSONCoding.describe(error))", code: "invalid_\(what)")
        } catch {
            throw SlipwayError.badRequest("invalid \(what): not YAML or JSON (\(error))", code: "invalid_\(what)")
        }
    }
}
