import SlipwayCore
/// How one feature's raw values map to bins: bin 0 holds missing values (NaN) and value bin `b >= 1` holds
/// `upperBounds[b - 2] < x <= upperBounds[b - 1]`.
///
/// Because bins are defined by their upper bounds, `x <= threshold(forBin: b)` holds exactly when
/// `bin(x) <= b` for every value, seen in training or not, so a split learned on bins is reproduced by
/// ``TreeEnsembleParameters`` thresholds on raw values.
struct FeatureBinMapper: Sendable, Equatable {
    /// The largest value of each value bin, increasing; the last is +infinity.
    let upperBounds: [Double]

    /// Missing bin plus value bins.
    var binCount: Int { upperBounds.count + 1 }

    /// The raw threshold of a split that sends value bins `1...bin` left.
    func threshold(forBin bin: Int) -> Double { upperBounds[bin - 1] }

    /// Quantile bins over `sortedValues` (non-NaN, ascending): one bin per distinct value while they fit in
    /// `maxBins`, otherwise greedy equal-count bins that never split a distinct value.
    init(sortedValues values: [Double], maxBins: Int) {
        var distinct: [Double] = []
        var counts: [Int] = []
        for value in values {
            if let last = distinct.last, last == value {
                counts[counts.count - 1] += 1
            } else {
                distinct.append(value)
                counts.append(1)
            }
        }
        var bounds: [Double] = []
        if distinct.count <= maxBins {
            for index in distinct.indices.dropLast() {
                bounds.append(Self.boundary(between: distinct[index], and: distinct[index + 1]))
            }
        } else {
            var remaining = values.count
            var binsLeft = maxBins
            var accumulated = 0
            for index in 0..<(distinct.count - 1) where binsLeft > 1 {
                accumulated += counts[index]
                let valuesAfter = distinct.count - 1 - index
                if Double(accumulated) >= Double(remaining) / Double(binsLeft) || valuesAfter <= binsLeft - 1 {
                    bounds.append(Self.boundary(between: distinct[index], and: distinct[index + 1]))
                    remaining -= accumulated
                    accumulated = 0
                    binsLeft -= 1
                }
            }
        }
        bounds.append(.infinity)
        self.upperBounds = bounds
    }

    /// A value in `[a, b)`, the midpoint when it is representable there.
    private static func boundary(between a: Double, and b: Double) -> Double {
        let middle = a / 2 + b / 2
        return middle >= a && middle < b ? middle : a
    }

    /// Bins `count` values read with stride `inputStride` into `output` with stride `outputStride`.
    func bin(
        _ input: UnsafePointer<Double>, inputStride: Int = 1, count: Int, into output: UnsafeMutablePointer<UInt8>,
        outputStride: Int = 1
    ) {
        upperBounds.withUnsafeBufferPointer { bounds in
            let bounds = bounds.baseAddress!
            let boundCount = upperBounds.count
            for index in 0..<count {
                let x = input[index * inputStride]
                // Lower bound: the first bound >= x (the last is +infinity, so there is one for any non-NaN x).
                var base = 0
                var length = boundCount
                while length > 1 {
                    let half = length &>> 1
                    if bounds[base &+ half &- 1] < x { base &+= half }
                    length &-= half
                }
                let bin = x.isNaN ? 0 : base + 1
                output[index * outputStride] = UInt8(truncatingIfNeeded: bin)
            }
        }
    }
}

/// Training features as bins (one byte each), stored twice: column-major, because partitioning a leaf reads
/// one feature, and row-major, because histogram building reads every feature of a row from one cache line.
final class BinnedDataset {
    /// Rows sampled to choose bin boundaries (LightGBM's `bin_construct_sample_cnt`).
    static let binningSampleSize = 200_000

    let rowCount: Int
    let featureCount: Int
    let mappers: [FeatureBinMapper]
    /// Where feature `f`'s bins start in a histogram; the last entry is the histogram's bin count.
    let binOffsets: [Int]
    /// `columns[f * rowCount + row]`.
    let columns: UnsafeMutablePointer<UInt8>
    /// `rowMajor[row * rowStride + f]`; rows are padded with zeros to a multiple of 8 bytes so they can be
    /// copied a word at a time.
    let rowMajor: UnsafeMutablePointer<UInt8>
    let rowStride: Int

    var totalBins: Int { binOffsets[featureCount] }

    init(_ matrix: FeatureMatrix, maxBins: Int, seed: UInt64, pool: WorkerPool) {
        let rows = matrix.rowCount
        let features = matrix.columnCount
        rowCount = rows
        featureCount = features
        columns = .allocate(capacity: max(1, rows * features))
        rowStride = (features + 7) / 8 * 8
        rowMajor = .allocate(capacity: max(1, rows * rowStride))
        rowMajor.initialize(repeating: 0, count: max(1, rows * rowStride))

        let sample = Self.sampleRows(rows, seed: seed)
        let fitted = UnsafeMutableBufferPointer<FeatureBinMapper>.allocate(capacity: features)
        defer { fitted.deallocate() }
        let columns = self.columns
        pool.forEachChunk(features) { feature in
            matrix.columns[feature].withUnsafeBufferPointer { column in
                var values = [Double]()
                values.reserveCapacity(sample.count)
                for row in sample where !column[row].isNaN { values.append(column[row]) }
                values.sort()
                let mapper = FeatureBinMapper(sortedValues: values, maxBins: maxBins)
                mapper.bin(column.baseAddress!, count: rows, into: columns + feature * rows)
                (fitted.baseAddress! + feature).initialize(to: mapper)
            }
        }
        mappers = Array(fitted)
        _ = fitted.baseAddress.map { $0.deinitialize(count: features) }
        var offsets = [0]
        for mapper in mappers { offsets.append(offsets[offsets.count - 1] + mapper.binCount) }
        binOffsets = offsets

        let rowMajor = self.rowMajor
        let rowStride = self.rowStride
        let blockRows = 4096
        pool.forEachChunk((rows + blockRows - 1) / blockRows) { block in
            let range = (block * blockRows)..<min(rows, (block + 1) * blockRows)
            for feature in 0..<features {
                let column = columns + feature * rows
                for row in range { rowMajor[row * rowStride + feature] = column[row] }
            }
        }
    }

    deinit {
        columns.deallocate()
        rowMajor.deallocate()
    }

    /// Bins another matrix (validation rows) with this dataset's bin boundaries, row-major.
    func rowMajorBins(of matrix: FeatureMatrix, pool: WorkerPool) -> [UInt8] {
        let rows = matrix.rowCount
        let features = featureCount
        var output = [UInt8](repeating: 0, count: rows * features)
        output.withUnsafeMutableBufferPointer { buffer in
            let base = buffer.baseAddress!
            pool.forEachChunk(features) { feature in
                matrix.columns[feature].withUnsafeBufferPointer { column in
                    mappers[feature].bin(
                        column.baseAddress!, count: rows, into: base + feature, outputStride: features)
                }
            }
        }
        return output
    }

    /// Up to ``binningSampleSize`` distinct row indices, ascending, drawn from `seed`.
    private static func sampleRows(_ rows: Int, seed: UInt64) -> [Int] {
        guard rows > binningSampleSize else { return Array(0..<rows) }
        var generator = SeededGenerator(seed: seed ^ 0xB1A5_0000_0000_0001)
        var indices = Array(0..<rows)
        for index in 0..<binningSampleSize {
            let pick = index + Int(generator.next() % UInt64(rows - index))
            indices.swapAt(index, pick)
        }
        return indices[0..<binningSampleSize].sorted()
    }
}
