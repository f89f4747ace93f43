import Foundation
import SlipwayCore

/// Wire formats of the data and training API.
extension DTO {
    struct DatasetOut: Encodable {
        let id: String
        let team: String
        let name: String
        let description: String
        let latestVersion: Int
        let contractVersion: Int
        let freshness: String?
        let lastVersionAt: Date?
        let stale: Bool
        let createdAt: Date

        enum CodingKeys: String, CodingKey {
            case id, team, name, description, stale, freshness
            case latestVersion = "latest_version"
            case contractVersion = "contract_version"
            case lastVersionAt = "last_version_at"
            case createdAt = "created_at"
        }

        init(_ dataset: Dataset, teamName: String, freshness: String? = nil) {
            id = dataset.id.rawValue
            team = teamName
            name = dataset.name
            description = dataset.description
            latestVersion = dataset.latestVersion
            contractVersion = dataset.contractVersion
            self.freshness = freshness
            lastVersionAt = dataset.lastVersionAt
            stale = dataset.stale
            createdAt = dataset.createdAt
        }
    }

    struct DatasetVersionOut: Encodable {
        let dataset: String
        let version: Int
        let digest: String
        let size: Int64
        let format: String
        let rowCount: Int
        let columns: [String]
        let contractVersion: Int
        let status: String
        let source: String
        let createdBy: String
        let createdAt: Date
        var profile: DatasetProfile?
        var validation: ValidationReport?

        enum CodingKeys: String, CodingKey {
            case dataset, version, digest, size, format, columns, status, source, profile, validation
            case rowCount = "row_count"
            case contractVersion = "contract_version"
            case createdBy = "created_by"
            case createdAt = "created_at"
        }

        init(_ version: DatasetVersion, name: String, profile: DatasetProfile? = nil, validation: ValidationReport? = nil) {
            dataset = name
            self.version = version.version
            digest = version.digest
            size = version.size
            format = version.format.rawValue
            rowCount = version.rowCount
            columns = version.columns
            contractVersion = version.contractVersion
            status = version.status.rawValue
            source = version.source
            createdBy = version.createdBy
            createdAt = version.createdAt
            self.profile = profile
            self.validation = validation
        }
    }

    struct ContractOut: Encodable {
        let dataset: String
        let version: Int
        let contract: DataContract
        let document: String
        let createdBy: String
        let createdAt: Date

        enum CodingKeys: String, CodingKey {
            case dataset, version, contract, document
            case createdBy = "created_by"
            case createdAt = "created_at"
        }

        init(_ contract: ContractVersion, name: String) {
            dataset = name
            version = contract.version
            self.contract = contract.contract
            document = contract.document
            createdBy = contract.createdBy
            createdAt = contract.createdAt
        }
    }

    struct GrantOut: Encodable {
        let dataset: String
        let grantee: String
        let pii: Bool
        let grantedBy: String
        let grantedAt: Date

        enum CodingKeys: String, CodingKey {
            case dataset, grantee, pii
            case grantedBy = "granted_by"
            case grantedAt = "granted_at"
        }

        init(_ grant: DatasetGrant, dataset: String, granteeName: String) {
            self.dataset = dataset
            grantee = granteeName
            pii = grant.pii
            grantedBy = grant.grantedBy
            grantedAt = grant.grantedAt
        }
    }

    struct ValidationOut: Encodable {
        let contractVersion: Int
        let rowCount: Int
        let validation: ValidationReport?
        let profile: DatasetProfile

        enum CodingKeys: String, CodingKey {
            case validation, profile
            case contractVersion = "contract_version"
            case rowCount = "row_count"
        }
    }

    struct RowsOut: Encodable {
        let columns: [String]
        let rows: [[String?]]
        let masked: [String]
        let offset: Int
    }

    struct JobOut: Encodable {
        let id: String
        let team: String
        let status: String
        let spec: TrainingSpec
        let specDigest: String
        let attempts: Int
        let maxAttempts: Int
        let progress: JobProgress
        let result: JobResult?
        let error: String?
        let cancelRequested: Bool
        let schedule: String?
        let createdBy: String
        let createdAt: Date
        let startedAt: Date?
        let finishedAt: Date?

        enum CodingKeys: String, CodingKey {
            case id, team, status, spec, attempts, progress, result, error, schedule
            case specDigest = "spec_digest"
            case maxAttempts = "max_attempts"
            case cancelRequested = "cancel_requested"
            case createdBy = "created_by"
            case createdAt = "created_at"
            case startedAt = "started_at"
            case finishedAt = "finished_at"
        }

        init(_ job: Job, teamName: String) {
            id = job.id.rawValue
            team = teamName
            status = job.status.rawValue
            spec = job.spec
            specDigest = job.specDigest
            attempts = job.attempts
            maxAttempts = job.maxAttempts
            progress = job.progress
            result = job.result
            error = job.error
            cancelRequested = job.cancelRequested
            schedule = job.schedule?.rawValue
            createdBy = job.createdBy
            createdAt = job.createdAt
            startedAt = job.startedAt
            finishedAt = job.finishedAt
        }
    }

    struct JobLogOut: Encodable {
        let lines: [JobLogLine]
        let status: String
        let progress: JobProgress
    }

    struct ScheduleOut: Encodable {
        let id: String
        let name: String
        let spec: TrainingSpec
        let cron: String?
        let onNewVersion: Bool
        let enabled: Bool
        let lastRunAt: Date?
        let nextRunAt: Date?
        let createdAt: Date

        enum CodingKeys: String, CodingKey {
            case id, name, spec, cron, enabled
            case onNewVersion = "on_new_version"
            case lastRunAt = "last_run_at"
            case nextRunAt = "next_run_at"
            case createdAt = "created_at"
        }

        init(_ schedule: TrainingSchedule) {
            id = schedule.id.rawValue
            name = schedule.name
            spec = schedule.spec
            cron = schedule.cron
            onNewVersion = schedule.onNewVersion
            enabled = schedule.enabled
            lastRunAt = schedule.lastRunAt
            nextRunAt = schedule.nextRunAt
            createdAt = schedule.createdAt
        }
    }
}
