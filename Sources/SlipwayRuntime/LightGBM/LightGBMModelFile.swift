import SlipwayCore

/// A LightGBM text model (`Booster.save_model("model.txt")`) split into its header and tree blocks.
///
/// The format is line-based `key=value` text: a header, then one block per tree starting `Tree=N`, then
/// `end of trees` and sections prediction does not need (feature importances, parameters). A file
/// without `end of trees` is treated as truncated.
struct LightGBMModelFile {
    var header: [Substring: Substring]
    var trees: [[Substring: Substring]]

    static func parse(_ bytes: [UInt8]) throws(SlipwayError) -> LightGBMModelFile {
        let text = String(decoding: bytes, as: UTF8.self)
        var lines = text.split(separator: "\n", omittingEmptySubsequences: true).makeIterator()
        guard let first = lines.next(), first.trimmingSuffix("\r") == "tree" else {
            throw .unprocessable("not a LightGBM text model: the first line must be 'tree'", code: "invalid_model")
        }
        var header: [Substring: Substring] = [:]
        var trees: [[Substring: Substring]] = []
        var ended = false
        while let rawLine = lines.next() {
            let line = rawLine.trimmingSuffix("\r")
            if line == "end of trees" {
                ended = true
                break
            }
            guard let equals = line.firstIndex(of: "=") else { continue }
            let key = line[..<equals]
            let value = line[line.index(after: equals)...]
            if key == "Tree" {
                trees.append([:])
            } else if trees.isEmpty {
                header[key] = value
            } else {
                trees[trees.count - 1][key] = value
            }
        }
        guard ended else {
            throw .unprocessable("the LightGBM model is truncated: 'end of trees' is missing", code: "invalid_model")
        }
        return LightGBMModelFile(header: header, trees: trees)
    }
}

extension Substring {
    fileprivate func trimmingSuffix(_ suffix: String) -> Substring {
        hasSuffix(suffix) ? dropLast(suffix.count) : self
    }
}

/// Reads typed values out of `key=value` blocks, with errors that name the key.
struct LightGBMFields {
    var fields: [Substring: Substring]
    /// e.g. `tree 3`, or `header`.
    var name: String

    func string(_ key: Substring) throws(SlipwayError) -> Substring {
        guard let value = fields[key] else {
            throw .unprocessable("LightGBM \(name): '\(key)' is missing", code: "invalid_model")
        }
        return value
    }

    func int(_ key: Substring, in range: ClosedRange<Int>) throws(SlipwayError) -> Int {
        guard let value = Int(try string(key)), range.contains(value) else {
            throw .unprocessable(
                "LightGBM \(name): '\(key)' must be an integer in \(range.lowerBound)...\(range.upperBound)",
                code: "invalid_model")
        }
        return value
    }

    /// A space-separated list of exactly `count` values (an absent key reads as empty).
    func list<T>(_ key: Substring, count: Int, _ parse: (Substring) -> T?) throws(SlipwayError) -> [T] {
        let tokens = (fields[key] ?? "").split(separator: " ")
        guard tokens.count == count else {
            throw .unprocessable(
                "LightGBM \(name): '\(key)' has \(tokens.count) values, expected \(count)", code: "invalid_model")
        }
        var values: [T] = []
        values.reserveCapacity(count)
        for token in tokens {
            guard let value = parse(token) else {
                throw .unprocessable("LightGBM \(name): '\(key)' has a malformed value", code: "invalid_model")
            }
            values.append(value)
        }
        return values
    }
}
