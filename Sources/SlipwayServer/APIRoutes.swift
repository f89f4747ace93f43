import HTTPTypes
import SlipwayCore

/// One route of the API: its authorisation policy and what the OpenAPI document says about it.
struct APIRoute: Sendable {
    let method: HTTPRequest.Method
    let path: String
    let policy: AccessPolicy
    let summary: String
    /// OpenAPI tag (the API surface).
    let tag: String
    /// Component schema of the JSON body, `binary` for a raw upload, nil for none.
    var body: String? = nil
    var query: [String] = []
    var success: Int = 200
}

/// The policy table: every route the router serves must appear here exactly once. A test compares
/// this table with the router's routes, so a new route without a policy fails the build's tests.
enum APIRoutes {
    static let all: [APIRoute] = [
        // Operations
        APIRoute(method: .get, path: "/healthz", policy: .anonymous, summary: "Liveness", tag: "ops"),
        APIRoute(
            method: .get, path: "/readyz", policy: .anonymous, summary: "Readiness (database reachable)", tag: "ops"),
        APIRoute(method: .get, path: "/metrics", policy: .platformAdmin, summary: "Prometheus metrics", tag: "ops"),
        APIRoute(method: .get, path: "/openapi.json", policy: .anonymous, summary: "This document", tag: "ops"),
        // Identity
        APIRoute(
            method: .get, path: "/api/v1/whoami", policy: .authenticated, summary: "The caller and its teams",
            tag: "identity"),
        APIRoute(
            method: .post, path: "/api/v1/teams", policy: .platformAdmin, summary: "Create a team", tag: "identity",
            body: "TeamCreate", success: 201),
        APIRoute(
            method: .get, path: "/api/v1/teams", policy: .authenticated,
            summary: "Teams the caller belongs to (all for platform admins)", tag: "identity"),
        APIRoute(
            method: .get, path: "/api/v1/teams/{team}", policy: .team(.read), summary: "One team", tag: "identity"),
        APIRoute(
            method: .get, path: "/api/v1/teams/{team}/members", policy: .team(.read), summary: "Members and roles",
            tag: "identity"),
        APIRoute(
            method: .put, path: "/api/v1/teams/{team}/members/{principal}", policy: .team(.manage),
            summary: "Add a member or change its role", tag: "identity", body: "MemberSet"),
        APIRoute(
            method: .delete, path: "/api/v1/teams/{team}/members/{principal}", policy: .team(.manage),
            summary: "Remove a member", tag: "identity", success: 204),
        APIRoute(
            method: .post, path: "/api/v1/teams/{team}/service-accounts", policy: .team(.manage),
            summary: "Create a service account in the team", tag: "identity", body: "ServiceAccountCreate", success: 201
        ),
        APIRoute(
            method: .post, path: "/api/v1/principals", policy: .platformAdmin, summary: "Create a user",
            tag: "identity", body: "PrincipalCreate", success: 201),
        APIRoute(
            method: .get, path: "/api/v1/principals", policy: .platformAdmin, summary: "All users and service accounts",
            tag: "identity"),
        APIRoute(
            method: .post, path: "/api/v1/keys", policy: .authenticated,
            summary: "Create an API key (the secret is shown once)", tag: "identity", body: "KeyCreate", success: 201),
        APIRoute(
            method: .get, path: "/api/v1/keys", policy: .authenticated,
            summary: "Keys of the caller, or of ?principal=NAME", tag: "identity", query: ["principal"]),
        APIRoute(
            method: .delete, path: "/api/v1/keys/{key}", policy: .authenticated, summary: "Revoke a key",
            tag: "identity"),
        // Registry
        APIRoute(
            method: .post, path: "/api/v1/teams/{team}/artifacts", policy: .team(.write),
            summary: "Upload an artifact (raw body, streamed)", tag: "registry", body: "binary", success: 201),
        APIRoute(
            method: .post, path: "/api/v1/teams/{team}/models", policy: .team(.write), summary: "Create a model",
            tag: "registry", body: "ModelCreate", success: 201),
        APIRoute(
            method: .get, path: "/api/v1/teams/{team}/models", policy: .team(.read), summary: "Search models",
            tag: "registry", query: ["q", "tag", "limit", "cursor"]),
        APIRoute(
            method: .get, path: "/api/v1/teams/{team}/models/{model}", policy: .team(.read),
            summary: "One model with tags and aliases", tag: "registry"),
        APIRoute(
            method: .patch, path: "/api/v1/teams/{team}/models/{model}", policy: .team(.write),
            summary: "Change a model's description", tag: "registry", body: "ModelUpdate"),
        APIRoute(
            method: .put, path: "/api/v1/teams/{team}/models/{model}/tags/{key}", policy: .team(.write),
            summary: "Set a model tag", tag: "registry", body: "TagSet"),
        APIRoute(
            method: .delete, path: "/api/v1/teams/{team}/models/{model}/tags/{key}", policy: .team(.write),
            summary: "Delete a model tag", tag: "registry", success: 204),
        APIRoute(
            method: .post, path: "/api/v1/teams/{team}/models/{model}/versions", policy: .team(.write),
            summary: "Register a version of an uploaded artifact", tag: "registry", body: "VersionCreate", success: 201),
        APIRoute(
            method: .get, path: "/api/v1/teams/{team}/models/{model}/versions", policy: .team(.read),
            summary: "List versions", tag: "registry", query: ["limit", "cursor"]),
        APIRoute(
            method: .get, path: "/api/v1/teams/{team}/models/{model}/versions/{version}", policy: .team(.read),
            summary: "One version (number or alias)", tag: "registry"),
        APIRoute(
            method: .patch, path: "/api/v1/teams/{team}/models/{model}/versions/{version}", policy: .team(.write),
            summary: "Change a version's description or status", tag: "registry", body: "VersionUpdate"),
        APIRoute(
            method: .put, path: "/api/v1/teams/{team}/models/{model}/versions/{version}/production",
            policy: .team(.review), summary: "Allow (or stop allowing) a version in production (reviewers, admins)",
            tag: "registry", body: "ProductionSet"),
        APIRoute(
            method: .get, path: "/api/v1/teams/{team}/models/{model}/versions/{version}/artifact", policy: .team(.read),
            summary: "Download the artifact (digest verified)", tag: "registry"),
        APIRoute(
            method: .put, path: "/api/v1/teams/{team}/models/{model}/versions/{version}/tags/{key}",
            policy: .team(.write), summary: "Set a version tag", tag: "registry", body: "TagSet"),
        APIRoute(
            method: .delete, path: "/api/v1/teams/{team}/models/{model}/versions/{version}/tags/{key}",
            policy: .team(.write), summary: "Delete a version tag", tag: "registry", success: 204),
        APIRoute(
            method: .put, path: "/api/v1/teams/{team}/models/{model}/aliases/{alias}", policy: .team(.write),
            summary: "Point an alias at a version", tag: "registry", body: "AliasSet"),
        APIRoute(
            method: .delete, path: "/api/v1/teams/{team}/models/{model}/aliases/{alias}", policy: .team(.write),
            summary: "Delete an alias", tag: "registry", success: 204),
        // Deployments
        APIRoute(
            method: .get, path: "/api/v1/teams/{team}/deployments", policy: .team(.read),
            summary: "The team's deployments", tag: "serving"),
        APIRoute(
            method: .put, path: "/api/v1/teams/{team}/deployments/{endpoint}", policy: .team(.write),
            summary: "Deploy: publish versions under an endpoint (loaded and warmed before traffic moves)",
            tag: "serving", body: "DeploymentPut"),
        APIRoute(
            method: .get, path: "/api/v1/teams/{team}/deployments/{endpoint}", policy: .team(.read),
            summary: "One deployment (?environment=staging|production)", tag: "serving", query: ["environment"]),
        APIRoute(
            method: .delete, path: "/api/v1/teams/{team}/deployments/{endpoint}", policy: .team(.write),
            summary: "Undeploy (?environment=)", tag: "serving", query: ["environment"], success: 204),
        APIRoute(
            method: .get, path: "/api/v1/teams/{team}/deployments/{endpoint}/predictions", policy: .team(.read),
            summary: "Sampled predictions, newest first", tag: "serving", query: ["environment", "limit"]),
        APIRoute(
            method: .get, path: "/api/v1/deployments/{id}/stats", policy: .authenticated,
            summary: "Latency percentiles and error rate over a window (?window=SECONDS)", tag: "serving",
            query: ["window"]),
        APIRoute(
            method: .get, path: "/api/v1/usage", policy: .team(.read),
            summary: "Requests, rows and errors per endpoint, version and day, with the month's charge (?team=&month=)",
            tag: "serving", query: ["team", "month"]),
        // Prediction APIs (Open Inference Protocol v2, KServe V1, MLflow scoring)
        APIRoute(method: .get, path: "/v2", policy: .authenticated, summary: "OIP v2 server metadata", tag: "predict"),
        APIRoute(method: .get, path: "/v2/health/live", policy: .anonymous, summary: "OIP v2 liveness", tag: "predict"),
        APIRoute(
            method: .get, path: "/v2/health/ready", policy: .anonymous, summary: "OIP v2 readiness", tag: "predict"),
        APIRoute(
            method: .get, path: "/v2/models/{model}", policy: .authenticated, summary: "OIP v2 model metadata",
            tag: "predict"),
        APIRoute(
            method: .get, path: "/v2/models/{model}/versions/{version}", policy: .authenticated,
            summary: "OIP v2 model version metadata", tag: "predict"),
        APIRoute(
            method: .get, path: "/v2/models/{model}/ready", policy: .authenticated, summary: "OIP v2 model readiness",
            tag: "predict"),
        APIRoute(
            method: .get, path: "/v2/models/{model}/versions/{version}/ready", policy: .authenticated,
            summary: "OIP v2 model version readiness", tag: "predict"),
        APIRoute(
            method: .post, path: "/v2/models/{model}/infer", policy: .authenticated,
            summary: "OIP v2 inference (the traffic split picks the version)", tag: "predict", body: "OIPInferRequest"),
        APIRoute(
            method: .post, path: "/v2/models/{model}/versions/{version}/infer", policy: .authenticated,
            summary: "OIP v2 inference on one version", tag: "predict", body: "OIPInferRequest"),
        APIRoute(
            method: .get, path: "/v1/models/{model}", policy: .authenticated, summary: "KServe V1 model status",
            tag: "predict"),
        APIRoute(
            method: .post, path: "/v1/models/{model}", policy: .authenticated,
            summary: "KServe V1 prediction: POST /v1/models/NAME:predict with {\"instances\": [[…]]}", tag: "predict",
            body: "KServeV1Request"),
        APIRoute(
            method: .post, path: "/mlflow/{model}/invocations", policy: .authenticated,
            summary: "MLflow scoring (dataframe_split, dataframe_records, instances, inputs)", tag: "predict",
            body: "MLflowRequest"),
        // Data
        APIRoute(
            method: .post, path: "/api/v1/teams/{team}/datasets", policy: .team(.write), summary: "Create a dataset",
            tag: "data", body: "DatasetCreate", success: 201),
        APIRoute(
            method: .get, path: "/api/v1/teams/{team}/datasets", policy: .team(.read),
            summary: "The team's datasets (with staleness)", tag: "data"),
        APIRoute(
            method: .get, path: "/api/v1/teams/{team}/datasets/{dataset}", policy: .team(.read),
            summary: "One dataset", tag: "data"),
        APIRoute(
            method: .put, path: "/api/v1/teams/{team}/datasets/{dataset}/contract", policy: .team(.write),
            summary: "Add a contract version (YAML or JSON body)", tag: "data", body: "yaml:DataContract", success: 201),
        APIRoute(
            method: .get, path: "/api/v1/teams/{team}/datasets/{dataset}/contract", policy: .team(.read),
            summary: "The newest contract (?version=N for an older one)", tag: "data", query: ["version"]),
        APIRoute(
            method: .post, path: "/api/v1/teams/{team}/datasets/{dataset}/versions", policy: .team(.write),
            summary: "Push a version: CSV or JSON Lines body, streamed, profiled and validated (?format=csv|jsonl)",
            tag: "data", body: "binary", query: ["format"], success: 201),
        APIRoute(
            method: .post, path: "/api/v1/teams/{team}/datasets/{dataset}/snapshots", policy: .team(.write),
            summary: "Snapshot a read-only SQL query on an operator-configured data source as the next version",
            tag: "data", body: "SnapshotCreate", success: 201),
        APIRoute(
            method: .get, path: "/api/v1/teams/{team}/data-sources", policy: .team(.read),
            summary: "Data sources the team may snapshot from (names only, never credentials)", tag: "data"),
        APIRoute(
            method: .post, path: "/api/v1/teams/{team}/datasets/{dataset}/validate", policy: .team(.read),
            summary: "Validate a file against the contract without storing it (?format=)", tag: "data", body: "binary",
            query: ["format"]),
        APIRoute(
            method: .get, path: "/api/v1/teams/{team}/datasets/{dataset}/versions", policy: .team(.read),
            summary: "The dataset's versions", tag: "data"),
        APIRoute(
            method: .get, path: "/api/v1/teams/{team}/datasets/{dataset}/versions/{version}", policy: .team(.read),
            summary: "One version (number or latest) with profile and validation report", tag: "data"),
        APIRoute(
            method: .get, path: "/api/v1/teams/{team}/datasets/{dataset}/versions/{version}/rows", policy: .team(.read),
            summary: "Rows of a version (?offset=&limit=); audited", tag: "data", query: ["offset", "limit"]),
        APIRoute(
            method: .get, path: "/api/v1/teams/{team}/datasets/{dataset}/grants", policy: .team(.read),
            summary: "Teams granted read access", tag: "data"),
        APIRoute(
            method: .put, path: "/api/v1/teams/{team}/datasets/{dataset}/grants/{grantee}", policy: .team(.manage),
            summary: "Grant another team read access (pii: true unmasks PII columns)", tag: "data", body: "GrantSet"),
        APIRoute(
            method: .delete, path: "/api/v1/teams/{team}/datasets/{dataset}/grants/{grantee}", policy: .team(.manage),
            summary: "Revoke a grant", tag: "data", success: 204),
        APIRoute(
            method: .get, path: "/api/v1/teams/{team}/shared-datasets", policy: .team(.read),
            summary: "Datasets other teams granted to this team", tag: "data"),
        APIRoute(
            method: .get, path: "/api/v1/teams/{team}/shared-datasets/{owner}/{dataset}/versions", policy: .team(.read),
            summary: "A granted dataset's versions", tag: "data"),
        APIRoute(
            method: .get, path: "/api/v1/teams/{team}/shared-datasets/{owner}/{dataset}/versions/{version}",
            policy: .team(.read), summary: "A granted dataset's version (PII masked without a pii grant)", tag: "data"),
        APIRoute(
            method: .get, path: "/api/v1/teams/{team}/shared-datasets/{owner}/{dataset}/versions/{version}/rows",
            policy: .team(.read), summary: "Rows of a granted dataset (PII masked without a pii grant); audited",
            tag: "data", query: ["offset", "limit"]),
        // Training
        APIRoute(
            method: .post, path: "/api/v1/teams/{team}/jobs", policy: .team(.write),
            summary: "Submit a training job (YAML or JSON spec)", tag: "training", body: "yaml:TrainingSpec",
            success: 201),
        APIRoute(
            method: .get, path: "/api/v1/teams/{team}/jobs", policy: .team(.read),
            summary: "The team's jobs, newest first (?status=&limit=)", tag: "training", query: ["status", "limit"]),
        APIRoute(
            method: .get, path: "/api/v1/teams/{team}/jobs/{job}", policy: .team(.read),
            summary: "One job with progress and result", tag: "training"),
        APIRoute(
            method: .get, path: "/api/v1/teams/{team}/jobs/{job}/logs", policy: .team(.read),
            summary: "Log lines after ?after=SEQUENCE, with status and progress (poll to follow)", tag: "training",
            query: ["after", "limit"]),
        APIRoute(
            method: .post, path: "/api/v1/teams/{team}/jobs/{job}/cancel", policy: .team(.write),
            summary: "Cancel a queued or running job", tag: "training"),
        APIRoute(
            method: .get, path: "/api/v1/teams/{team}/schedules", policy: .team(.read),
            summary: "Retraining schedules", tag: "training"),
        APIRoute(
            method: .put, path: "/api/v1/teams/{team}/schedules/{schedule}", policy: .team(.write),
            summary: "Create or replace a retraining schedule (cron and/or on new dataset version)", tag: "training",
            body: "yaml:ScheduleSpec"),
        APIRoute(
            method: .delete, path: "/api/v1/teams/{team}/schedules/{schedule}", policy: .team(.write),
            summary: "Delete a schedule", tag: "training", success: 204),
        // Audit
        APIRoute(
            method: .get, path: "/api/v1/audit", policy: .team(.readAudit),
            summary: "Audit entries of ?team=NAME (all teams for platform admins)", tag: "audit",
            query: ["team", "after", "cursor", "limit"]),
        APIRoute(
            method: .get, path: "/api/v1/audit/verify", policy: .platformAdmin,
            summary: "Recompute the audit hash chain", tag: "audit"),
    ]

    /// A route's identity: method and path pattern (`GET /api/v1/teams/{team}`).
    struct Key: Hashable, CustomStringConvertible {
        let method: HTTPRequest.Method
        let path: String
        var description: String { "\(method.rawValue) \(path)" }
    }

    /// Looked up on every request: a struct key, so no string is built per request.
    static func key(_ method: HTTPRequest.Method, _ path: String) -> Key { Key(method: method, path: path) }

    static let policyTable: [Key: AccessPolicy] = Dictionary(
        uniqueKeysWithValues: all.map { (key($0.method, $0.path), $0.policy) })
}
