import Foundation

/// Builds the OpenAPI 3.1 document from ``APIRoutes``, so every served route is described.
enum OpenAPIDocument {
    static func build() -> [UInt8] {
        var paths: [String: [String: Any]] = [:]
        for route in APIRoutes.all {
            var operation: [String: Any] = [
                "summary": route.summary,
                "tags": [route.tag],
                "operationId": operationID(route),
                "responses": responses(route),
            ]
            var parameters: [[String: Any]] = pathParameters(route.path).map { name in
                ["name": name, "in": "path", "required": true, "schema": pathSchema(name, in: route.path)]
            }
            parameters += route.query.map { name in
                ["name": name, "in": "query", "required": false, "schema": querySchema(name, in: route.path)]
            }
            if !parameters.isEmpty { operation["parameters"] = parameters }
            if let body = route.body {
                operation["requestBody"] =
                    body == "binary"
                    ? [
                        "required": true,
                        "content": ["application/octet-stream": ["schema": ["type": "string", "format": "binary"]]],
                    ]
                    : body.hasPrefix("yaml:")
                    ? [
                        "required": true,
                        "content": [
                            "application/yaml": ["schema": ["type": "string"]],
                            "application/json": ["schema": ["$ref": "#/components/schemas/\(body.dropFirst(5))"]],
                        ],
                    ]
                    : [
                        "required": true,
                        "content": ["application/json": ["schema": ["$ref": "#/components/schemas/\(body)"]]],
                    ]
            }
            if route.policy != .anonymous {
                operation["security"] = [["bearer": [String]()]]
            } else {
                operation["security"] = [[String: [String]]]()
            }
            paths[route.path, default: [:]][route.method.rawValue.lowercased()] = operation
        }
        let document: [String: Any] = [
            "openapi": "3.1.0",
            "info": [
                "title": "Slipway",
                "version": "0.1.0",
                "description": "The Slipway ML platform API. Authenticate with 'Authorization: Bearer slw_…'.",
            ],
            "paths": paths,
            "components": [
                "securitySchemes": ["bearer": ["type": "http", "scheme": "bearer"]],
                "schemas": schemas,
            ],
        ]
        let data = (try? JSONSerialization.data(withJSONObject: document, options: [.sortedKeys])) ?? Data()
        return Array(data)
    }

    static func operationID(_ route: APIRoute) -> String {
        let words = route.path.split(separator: "/").map {
            $0.replacingOccurrences(of: "{", with: "by_").replacingOccurrences(of: "}", with: "")
        }
        return ([route.method.rawValue.lowercased()] + words).joined(separator: "_")
            .replacingOccurrences(of: "-", with: "_").replacingOccurrences(of: ".", with: "_")
    }

    static func pathParameters(_ path: String) -> [String] {
        path.split(separator: "/").compactMap { part in
            part.hasPrefix("{") && part.hasSuffix("}") ? String(part.dropFirst().dropLast()) : nil
        }
    }

    static let namePattern = "^[a-z0-9][a-z0-9._-]{0,63}$"

    static func pathSchema(_ name: String, in path: String) -> [String: Any] {
        switch name {
        case "key" where path.hasPrefix("/api/v1/keys"): ["type": "string", "pattern": "^key_[0-9a-f]{32}$"]
        case "job": ["type": "string", "pattern": "^job_[0-9a-f]{32}$"]
        case "version": ["type": "string", "pattern": namePattern, "description": "a version number or an alias"]
        default: ["type": "string", "pattern": namePattern]
        }
    }

    static func querySchema(_ name: String, in path: String) -> [String: Any] {
        switch name {
        case "limit": ["type": "integer", "minimum": 1, "maximum": path.hasPrefix("/api/v1/audit") ? 1000 : 200]
        case "after": ["type": "integer", "minimum": 0]
        default: ["type": "string"]
        }
    }

    static func responses(_ route: APIRoute) -> [String: Any] {
        let error: [String: Any] = [
            "description": "error", "content": ["application/json": ["schema": ["$ref": "#/components/schemas/Error"]]],
        ]
        var responses: [String: Any] = [:]
        if route.success == 204 {
            responses["204"] = ["description": "done"]
        } else if route.path.hasSuffix("/artifact") {
            responses["200"] = [
                "description": "artifact bytes",
                "content": ["application/octet-stream": ["schema": ["type": "string", "format": "binary"]]],
            ]
        } else if route.path == "/metrics" {
            responses["200"] = [
                "description": "Prometheus text", "content": ["text/plain": ["schema": ["type": "string"]]],
            ]
        } else {
            responses[String(route.success)] = [
                "description": "success", "content": ["application/json": ["schema": ["type": "object"]]],
            ]
        }
        if route.policy != .anonymous {
            responses["401"] = error
            responses["403"] = error
        }
        if route.body != nil || !route.query.isEmpty || !pathParameters(route.path).isEmpty {
            responses["400"] = error
            responses["404"] = error
        }
        if route.body != nil {
            responses["409"] = error
            responses["413"] = error
            responses["422"] = error
        }
        return responses
    }

    static var tags: [String: Any] {
        ["type": "object", "additionalProperties": ["type": "string", "maxLength": 1024]]
    }
    static var name: [String: Any] { ["type": "string", "pattern": namePattern] }
    static var role: [String: Any] { ["type": "string", "enum": ["viewer", "developer", "reviewer", "admin"]] }
    static var tensor: [String: Any] {
        [
            "type": "object", "required": ["name", "datatype", "shape"],
            "properties": [
                "name": ["type": "string"],
                "datatype": [
                    "type": "string",
                    "enum": [
                        "BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64", "FP16",
                        "FP32", "FP64", "BYTES",
                    ],
                ],
                "shape": ["type": "array", "items": ["type": "integer"]],
            ],
        ]
    }

    static var schemas: [String: Any] {
        [
            "Error": [
                "type": "object", "required": ["error"],
                "properties": [
                    "error": [
                        "type": "object", "required": ["code", "message"],
                        "properties": ["code": ["type": "string"], "message": ["type": "string"]],
                    ]
                ],
            ],
            "DatasetCreate": [
                "type": "object", "required": ["name"],
                "properties": ["name": name, "description": ["type": "string", "maxLength": 4096]],
            ],
            "GrantSet": ["type": "object", "properties": ["pii": ["type": "boolean"]]],
            "SnapshotCreate": [
                "type": "object", "required": ["source", "query"],
                "properties": ["source": name, "query": ["type": "string", "maxLength": 65536]],
            ],
            "DataContract": [
                "type": "object", "description": "see docs/data.md",
                "properties": [
                    "columns": ["type": "array", "items": ["type": "object"]], "rows": ["type": "object"],
                    "freshness": ["type": "string"], "unknown_columns": ["type": "string", "enum": ["allow", "reject"]],
                    "warn": ["type": "array", "items": ["type": "string"]],
                ],
            ],
            "TrainingSpec": [
                "type": "object", "required": ["model", "dataset", "task", "algorithm"], "description": "see docs/training.md",
                "properties": [
                    "model": name, "dataset": name, "dataset_version": ["type": "integer", "minimum": 1],
                    "label": ["type": "string"], "features": ["type": "array", "items": ["type": "string"]],
                    "exclude": ["type": "array", "items": ["type": "string"]],
                    "task": ["type": "string", "enum": ["binary", "multiclass", "regression", "ranking"]],
                    "algorithm": ["type": "string", "enum": ["logistic_regression", "linear_regression", "gbdt", "als"]],
                    "hyperparameters": ["type": "object", "additionalProperties": ["type": "number"]],
                    "validation": ["type": "object"], "seed": ["type": "integer", "minimum": 0],
                    "sensitive_attributes": ["type": "array", "items": ["type": "string"]],
                    "interactions": ["type": "object"], "description": ["type": "string"],
                ],
            ],
            "ScheduleSpec": [
                "type": "object", "required": ["spec"], "description": "see docs/training.md",
                "properties": [
                    "spec": ["$ref": "#/components/schemas/TrainingSpec"], "cron": ["type": "string"],
                    "on_new_version": ["type": "boolean"],
                ],
            ],
            "TeamCreate": [
                "type": "object", "required": ["name"],
                "properties": ["name": name, "description": ["type": "string", "maxLength": 4096]],
            ],
            "MemberSet": ["type": "object", "required": ["role"], "properties": ["role": role]],
            "ServiceAccountCreate": [
                "type": "object", "required": ["name", "role"], "properties": ["name": name, "role": role],
            ],
            "PrincipalCreate": [
                "type": "object", "required": ["name"],
                "properties": ["name": name, "platform_admin": ["type": "boolean"]],
            ],
            "KeyCreate": [
                "type": "object",
                "properties": [
                    "principal": name, "name": ["type": "string", "minLength": 1, "maxLength": 128],
                    "expires_in_days": ["type": "integer", "minimum": 1, "maximum": 3650],
                ],
            ],
            "ModelCreate": [
                "type": "object", "required": ["name"],
                "properties": ["name": name, "description": ["type": "string", "maxLength": 4096], "tags": tags],
            ],
            "ModelUpdate": [
                "type": "object", "required": ["description"],
                "properties": ["description": ["type": "string", "maxLength": 4096]],
            ],
            "TagSet": [
                "type": "object", "required": ["value"],
                "properties": ["value": ["type": "string", "maxLength": 1024]],
            ],
            "AliasSet": [
                "type": "object", "required": ["version"],
                "properties": ["version": ["type": "integer", "minimum": 1]],
            ],
            "VersionCreate": [
                "type": "object", "required": ["artifact"],
                "properties": [
                    "artifact": ["type": "string", "pattern": "^sha256:[0-9a-f]{64}$"],
                    "format": ["type": "string", "enum": ["onnx", "xgboost_json", "lightgbm_text", "slipway"]],
                    "signature": [
                        "type": "object",
                        "properties": [
                            "inputs": ["type": "array", "items": tensor],
                            "outputs": ["type": "array", "items": tensor],
                        ],
                        "required": ["inputs", "outputs"],
                    ],
                    "parameters": tags,
                    "metrics": ["type": "object", "additionalProperties": ["type": "number"]],
                    "lineage": [
                        "type": "object",
                        "properties": [
                            "dataset_version": ["type": "string"], "training_job": ["type": "string"],
                            "source_code": ["type": "string"],
                        ],
                    ],
                    "description": ["type": "string", "maxLength": 4096],
                    "model_card": ["type": "string"],
                    "tags": tags,
                ],
            ],
            "DeploymentPut": [
                "type": "object", "required": ["model", "routes"],
                "properties": [
                    "model": name,
                    "environment": ["type": "string", "enum": ["staging", "production"]],
                    "routes": [
                        "type": "array", "minItems": 1, "maxItems": 16,
                        "items": [
                            "type": "object",
                            "properties": [
                                "version": ["type": "integer", "minimum": 1], "alias": name,
                                "weight": ["type": "integer", "minimum": 0, "maximum": 10000],
                            ],
                        ],
                    ],
                    "fallback_version": ["type": "integer", "minimum": 1],
                    "settings": [
                        "type": "object",
                        "properties": [
                            "max_batch_rows": ["type": "integer", "minimum": 1, "maximum": 65536],
                            "max_batch_delay_us": ["type": "integer", "minimum": 0, "maximum": 1_000_000],
                            "max_concurrent": ["type": "integer", "minimum": 1, "maximum": 1024],
                            "max_queue": ["type": "integer", "minimum": 0, "maximum": 100_000],
                            "timeout_ms": ["type": "integer", "minimum": 1, "maximum": 600_000],
                            "log_sample_rate": ["type": "number", "minimum": 0, "maximum": 1],
                        ],
                    ],
                ],
            ],
            "OIPInferRequest": [
                "type": "object", "required": ["inputs"],
                "properties": [
                    "id": ["type": "string"],
                    "inputs": [
                        "type": "array",
                        "items": [
                            "type": "object", "required": ["name", "shape", "datatype", "data"],
                            "properties": [
                                "name": ["type": "string"], "datatype": ["type": "string"],
                                "shape": ["type": "array", "items": ["type": "integer", "minimum": 0]],
                                "data": ["type": "array"],
                            ],
                        ],
                    ],
                    "outputs": [
                        "type": "array",
                        "items": ["type": "object", "properties": ["name": ["type": "string"]]],
                    ],
                ],
            ],
            "KServeV1Request": [
                "type": "object", "required": ["instances"],
                "properties": ["instances": ["type": "array", "items": ["type": "array", "items": ["type": "number"]]]],
            ],
            "MLflowRequest": [
                "type": "object",
                "properties": [
                    "dataframe_split": [
                        "type": "object",
                        "properties": ["columns": ["type": "array"], "data": ["type": "array"]],
                    ],
                    "dataframe_records": ["type": "array", "items": ["type": "object"]],
                    "instances": ["type": "array"], "inputs": ["type": "array"],
                ],
            ],
            "ProductionSet": [
                "type": "object", "required": ["allowed"], "properties": ["allowed": ["type": "boolean"]],
            ],
            "VersionUpdate": [
                "type": "object",
                "properties": [
                    "description": ["type": "string", "maxLength": 4096],
                    "status": ["type": "string", "enum": ["ready", "archived"]],
                ],
            ],
        ]
    }
}
