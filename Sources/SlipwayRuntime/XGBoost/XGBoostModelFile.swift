import Foundation
import SlipwayCore

/// The parts of XGBoost's JSON model schema (`Booster.save_model("model.json")`, XGBoost 1.6–3.x) that
/// prediction needs. Unknown keys are ignored; XGBoost writes most scalars as strings.
struct XGBoostModelFile: Decodable {
    var learner: Learner

    struct Learner: Decodable {
        var learnerModelParam: ModelParam
        var objective: Objective
        var gradientBooster: GradientBooster

        enum CodingKeys: String, CodingKey {
            case learnerModelParam = "learner_model_param"
            case objective
            case gradientBooster = "gradient_booster"
        }
    }

    struct ModelParam: Decodable {
        var baseScore: String
        var numClass: String
        var numFeature: String
        var numTarget: String?

        enum CodingKeys: String, CodingKey {
            case baseScore = "base_score"
            case numClass = "num_class"
            case numFeature = "num_feature"
            case numTarget = "num_target"
        }
    }

    struct Objective: Decodable {
        var name: String
    }

    struct GradientBooster: Decodable {
        var name: String
        /// Present for `gbtree` (and, nested differently, for `dart`).
        var model: TreeModel?
    }

    struct TreeModel: Decodable {
        var trees: [Tree]
        var treeInfo: [Int]

        enum CodingKeys: String, CodingKey {
            case trees
            case treeInfo = "tree_info"
        }
    }

    struct Tree: Decodable {
        var leftChildren: [Int]
        var rightChildren: [Int]
        var splitIndices: [Int]
        var splitConditions: [Float]
        var defaultLeft: [Bool]
        var splitType: [Int]?
        var categoriesNodes: [Int]?
        var treeParam: TreeParam?

        struct TreeParam: Decodable {
            var sizeLeafVector: String?

            enum CodingKeys: String, CodingKey {
                case sizeLeafVector = "size_leaf_vector"
            }
        }

        enum CodingKeys: String, CodingKey {
            case leftChildren = "left_children"
            case rightChildren = "right_children"
            case splitIndices = "split_indices"
            case splitConditions = "split_conditions"
            case defaultLeft = "default_left"
            case splitType = "split_type"
            case categoriesNodes = "categories_nodes"
            case treeParam = "tree_param"
        }

        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            leftChildren = try container.decode([Int].self, forKey: .leftChildren)
            rightChildren = try container.decode([Int].self, forKey: .rightChildren)
            splitIndices = try container.decode([Int].self, forKey: .splitIndices)
            splitConditions = try container.decode([Float].self, forKey: .splitConditions)
            // XGBoost ≥ 1.6 writes 0/1; older JSON wrote booleans.
            if let flags = try? container.decode([Int].self, forKey: .defaultLeft) {
                defaultLeft = flags.map { $0 != 0 }
            } else {
                defaultLeft = try container.decode([Bool].self, forKey: .defaultLeft)
            }
            splitType = try container.decodeIfPresent([Int].self, forKey: .splitType)
            categoriesNodes = try container.decodeIfPresent([Int].self, forKey: .categoriesNodes)
            treeParam = try container.decodeIfPresent(TreeParam.self, forKey: .treeParam)
        }
    }

    /// Decodes a model file, turning decoding failures into a 422 that names the offending field.
    static func decode(_ bytes: [UInt8]) throws(SlipwayError) -> XGBoostModelFile {
        guard nestingDepth(bytes) <= maxNesting else {
            throw .unprocessable(
                "not a valid XGBoost JSON model: nested deeper than \(maxNesting) levels", code: "invalid_model")
        }
        do {
            return try JSONDecoder().decode(XGBoostModelFile.self, from: Data(bytes))
        } catch let error as DecodingError {
            throw .unprocessable("not a valid XGBoost JSON model: \(describe(error))", code: "invalid_model")
        } catch {
            throw .unprocessable("not a valid XGBoost JSON model", code: "invalid_model")
        }
    }

    /// XGBoost's schema nests about 7 levels; the bound keeps a hostile file from exhausting the
    /// parser's stack.
    static let maxNesting = 32

    /// The deepest `[`/`{` nesting outside strings, stopping early once past ``maxNesting``.
    static func nestingDepth(_ bytes: [UInt8]) -> Int {
        var depth = 0
        var deepest = 0
        var inString = false
        var escaped = false
        for byte in bytes {
            if inString {
                if escaped {
                    escaped = false
                } else if byte == UInt8(ascii: "\\") {
                    escaped = true
                } else if byte == UInt8(ascii: "\"") {
                    inString = false
                }
                continue
            }
            switch byte {
            case UInt8(ascii: "\""): inString = true
            case UInt8(ascii: "["), UInt8(ascii: "{"):
                depth += 1
                deepest = max(deepest, depth)
                if deepest > maxNesting { return deepest }
            case UInt8(ascii: "]"), UInt8(ascii: "}"): depth -= 1
            default: break
            }
        }
        return deepest
    }

    /// Names the field and the problem, without echoing the file's content.
    private static func describe(_ error: DecodingError) -> String {
        func path(_ codingPath: [any CodingKey]) -> String {
            let text = codingPath.map { key in key.intValue.map { "[\($0)]" } ?? ".\(key.stringValue)" }.joined()
            return text.isEmpty ? "the document" : String(text.drop { $0 == "." })
        }
        switch error {
        case .keyNotFound(let key, let context):
            return "\(path(context.codingPath + [key])) is missing"
        case .typeMismatch(_, let context), .valueNotFound(_, let context):
            return "\(path(context.codingPath)) has the wrong type"
        case .dataCorrupted(let context):
            return context.codingPath.isEmpty
                ? "the file is not well-formed JSON" : "\(path(context.codingPath)) is invalid"
        @unknown default:
            return "the file does not match XGBoost's schema"
        }
    }
}
