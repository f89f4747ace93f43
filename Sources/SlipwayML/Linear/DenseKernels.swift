import Dispatch

/// Small dense kernels the linear and factorization trainers share.
enum DenseKernels {
    /// `Σ a[i]·b[i]` for `i < count`, with SIMD partial sums; the summation order depends only on
    /// `count`, so results are reproducible.
    @inline(__always)
    static func dot(_ a: UnsafePointer<Double>, _ b: UnsafePointer<Double>, count: Int) -> Double {
        let rawA = UnsafeRawPointer(a)
        let rawB = UnsafeRawPointer(b)
        var sum0 = SIMD4<Double>()
        var sum1 = SIMD4<Double>()
        var index = 0
        while index + 8 <= count {
            let offset = index * MemoryLayout<Double>.stride
            sum0 +=
                rawA.loadUnaligned(fromByteOffset: offset, as: SIMD4<Double>.self)
                * rawB.loadUnaligned(fromByteOffset: offset, as: SIMD4<Double>.self)
            sum1 +=
                rawA.loadUnaligned(fromByteOffset: offset + 32, as: SIMD4<Double>.self)
                * rawB.loadUnaligned(fromByteOffset: offset + 32, as: SIMD4<Double>.self)
            index += 8
        }
        var sum = (sum0 + sum1).sum()
        while index < count {
            sum += a[index] * b[index]
            index += 1
        }
        return sum
    }

    /// `y[i] += alpha·x[i]` for `i < count`.
    @inline(__always)
    static func axpy(_ alpha: Double, _ x: UnsafePointer<Double>, _ y: UnsafeMutablePointer<Double>, count: Int) {
        for index in 0..<count { y[index] += alpha * x[index] }
    }

    /// `body(0) … body(count - 1)`, run in parallel on the available cores, returned in index order.
    ///
    /// Callers split work into a number of blocks fixed by the data size alone and combine the results
    /// in order, so a trainer's output never depends on how many cores ran it.
    static func parallelMap<T>(_ count: Int, _ body: (Int) -> T) -> [T] {
        if count <= 1 { return count == 1 ? [body(0)] : [] }
        return withoutActuallyEscaping(body) { body in
            [T](unsafeUninitializedCapacity: count) { buffer, initialized in
                // Each index writes its own slot exactly once; concurrentPerform returns after all have.
                nonisolated(unsafe) let slots = buffer
                nonisolated(unsafe) let work = body
                DispatchQueue.concurrentPerform(iterations: count) { index in
                    (slots.baseAddress! + index).initialize(to: work(index))
                }
                initialized = count
            }
        }
    }
}

/// Cholesky factorisation `A = L·Lᵀ` of a small symmetric positive-definite matrix, in place.
enum Cholesky {
    /// Overwrites the lower triangle of the row-major `n × n` matrix `a` with `L` (the upper triangle is
    /// not read). Returns the index of the first pivot that is not safely positive, or nil on success.
    ///
    /// A pivot counts as zero when it falls below `relativeTolerance` times the original diagonal entry,
    /// which is how exact collinearity shows up after rounding.
    static func factor(_ a: UnsafeMutablePointer<Double>, n: Int, relativeTolerance: Double = 1e-10) -> Int? {
        for j in 0..<n {
            let original = a[j * n + j]
            var pivot = original
            for k in 0..<j { pivot -= a[j * n + k] * a[j * n + k] }
            guard pivot > relativeTolerance * max(original, .leastNormalMagnitude), pivot.isFinite else { return j }
            let root = pivot.squareRoot()
            a[j * n + j] = root
            for i in (j + 1)..<n {
                var value = a[i * n + j]
                for k in 0..<j { value -= a[i * n + k] * a[j * n + k] }
                a[i * n + j] = value / root
            }
        }
        return nil
    }

    /// Solves `L·Lᵀ·x = b` in place in `b`, with `L` from ``factor(_:n:relativeTolerance:)``.
    static func solve(_ l: UnsafePointer<Double>, n: Int, _ b: UnsafeMutablePointer<Double>) {
        for i in 0..<n {
            var value = b[i]
            for k in 0..<i { value -= l[i * n + k] * b[k] }
            b[i] = value / l[i * n + i]
        }
        for i in stride(from: n - 1, through: 0, by: -1) {
            var value = b[i]
            for k in (i + 1)..<n { value -= l[k * n + i] * b[k] }
            b[i] = value / l[i * n + i]
        }
    }
}
