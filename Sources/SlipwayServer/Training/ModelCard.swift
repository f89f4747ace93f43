import Foundation
import SlipwayCore
import SlipwayStore

/// The markdown model card a training job attaches to the version it registers: what was trained on
/// what, how it scored (overall and per sensitive group), and the training data's profile.
enum ModelCard {
    static func render(
        spec: TrainingSpec, job: Job, dataset: Dataset, detail: DatasetVersionDetail, contract: ContractVersion?,
        trained: TrainedModel
    ) -> String {
        var lines: [String] = []
        lines.append("# \(spec.model)")
        if let description = spec.description, !description.isEmpty { lines += ["", description] }
        lines += [
            "", "## Training", "",
            "- Algorithm: `\(spec.algorithm.rawValue)` (\(spec.task.rawValue))",
            "- Data: `\(dataset.name)@\(detail.version.version)` (\(detail.version.rowCount) rows, \(detail.version.digest))",
            "- Contract: " + (contract.map { "version \($0.version)" } ?? "none") + ", validation status \(detail.version.status.rawValue)",
            "- Label: `\(spec.label ?? "-")`; validation: " + (spec.validation?.timeColumn.map {
                "newest \(Int(spec.validationFraction * 100))% by `\($0)`"
            } ?? "seeded random \(Int(spec.validationFraction * 100))%"),
            "- Job: `\(job.id)`, spec \(job.specDigest), seed \(spec.seed ?? 0)",
        ]
        let overall = trained.metrics.filter { !$0.key.hasPrefix("fairness.") }.sorted { $0.key < $1.key }
        lines += ["", "## Validation metrics", "", "| metric | value |", "| --- | --- |"]
        lines += overall.map { "| \($0.key) | \(String(format: "%.6g", $0.value)) |" }
        let fairness = trained.metrics.filter { $0.key.hasPrefix("fairness.") }.sorted { $0.key < $1.key }
        if !fairness.isEmpty {
            lines += ["", "## Fairness (validation split, per sensitive group)", "", "| metric | value |", "| --- | --- |"]
            lines += fairness.map { "| \($0.key.dropFirst("fairness.".count)) | \(String(format: "%.6g", $0.value)) |" }
        }
        lines += ["", "## Training data profile", "", "| column | type | nulls | distinct | mean | min | max |", "| --- | --- | --- | --- | --- | --- | --- |"]
        for column in detail.profile.columns.prefix(100) {
            func number(_ value: Double?) -> String { value.map { String(format: "%.4g", $0) } ?? "" }
            lines.append(
                "| \(column.name)\(column.pii ? " (PII)" : "") | \(column.type.rawValue) | \(column.nulls) | "
                    + "\(column.distinctIsApproximate ? "~" : "")\(column.distinct) | \(number(column.mean)) | "
                    + "\(number(column.min)) | \(number(column.max)) |")
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
