import SlipwayCore

/// The seeded generator tests use so every randomised test replays exactly: the platform's own.
public typealias SplitMix64 = SeededGenerator
