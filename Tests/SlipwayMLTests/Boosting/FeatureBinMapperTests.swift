import SlipwayCore
import Testing

@testable import SlipwayML

@Suite("FeatureBinMapper")
struct FeatureBinMapperTests {
    @Test("x <= threshold(b) exactly when bin(x) <= b, for seen and unseen values", arguments: [2, 7, 64, 255])
    func thresholdsReproduceBins(maxBins: Int) {
        var generator = SeededGenerator(seed: UInt64(maxBins))
        // Repeated values, a heavy value, extremes and neighbouring doubles.
        var values = (0..<3000).map { _ in (generator.nextUnit() * 40).rounded() / 4 }
        values += Array(repeating: 2.5, count: 800) + [-.infinity, .infinity, 1e300, -1e300, 1.0.nextUp, 1.0]
        let mapper = FeatureBinMapper(sortedValues: values.sorted(), maxBins: maxBins)
        #expect(mapper.binCount <= maxBins + 1)
        #expect(mapper.upperBounds == mapper.upperBounds.sorted())

        let probes = values + (0..<500).map { _ in generator.nextUnit() * 12 - 1 } + [.nan]
        var bins = [UInt8](repeating: 0, count: probes.count)
        probes.withUnsafeBufferPointer { input in
            bins.withUnsafeMutableBufferPointer { output in
                mapper.bin(input.baseAddress!, count: probes.count, into: output.baseAddress!)
            }
        }
        #expect(bins.last == 0)
        for (x, bin) in zip(probes, bins) where !x.isNaN {
            #expect(bin >= 1)
            for split in 1..<mapper.binCount {
                #expect((x <= mapper.threshold(forBin: split)) == (Int(bin) <= split))
            }
        }
    }

    @Test("few distinct values get a bin each; a constant or empty feature gets one value bin")
    func smallCases() {
        #expect(FeatureBinMapper(sortedValues: [1, 1, 2, 3, 3], maxBins: 255).upperBounds == [1.5, 2.5, .infinity])
        #expect(FeatureBinMapper(sortedValues: [4, 4], maxBins: 255).upperBounds == [.infinity])
        #expect(FeatureBinMapper(sortedValues: [], maxBins: 255).binCount == 2)
    }
}
