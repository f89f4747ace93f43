import SlipwayCore
import Synchronization
import Testing

@testable import SlipwayML

@Suite struct ImplicitALSTests {
    typealias Interaction = ImplicitALSTrainer.Interaction

    /// 3 blocks of 8 users × 6 items; each user interacted with 4 of its block's 6 items (which 4 varies
    /// by user) and nothing else, so the 2 unseen items of the block are the right recommendations.
    static let blocks = 3
    static let usersPerBlock = 8
    static let itemsPerBlock = 6

    static func blockData() -> (interactions: [Interaction], users: [String], items: [String]) {
        var interactions: [Interaction] = []
        for block in 0..<blocks {
            for member in 0..<usersPerBlock {
                let user = block * usersPerBlock + member
                for offset in 0..<4 {
                    let item = block * itemsPerBlock + (member + offset) % itemsPerBlock
                    interactions.append(Interaction(user: user, item: item, strength: Double(1 + (user + item) % 3)))
                }
            }
        }
        let users = (0..<(blocks * usersPerBlock)).map { "user-\($0)" }
        let items = (0..<(blocks * itemsPerBlock)).map { "item-\($0)" }
        return (interactions, users, items)
    }

    /// One factor per block; with this penalty every seed from 0 to 39 recovers the blocks.
    static let small = ImplicitALSConfiguration(factors: 3, regularization: 1, iterations: 10, seed: 42)

    @Test func recommendsUnseenItemsFromTheUsersBlock() throws {
        let data = Self.blockData()
        let result = try ImplicitALSTrainer(configuration: Self.small)
            .train(interactions: data.interactions, userIDs: data.users, itemIDs: data.items)
        for user in data.users.indices {
            let seen = Set(data.interactions.filter { $0.user == user }.map(\.item))
            let block = user / Self.usersPerBlock
            let recommended = result.parameters.topK(2, forUser: user, excluding: seen)
            #expect(recommended.count == 2)
            #expect(
                recommended.allSatisfy { $0 / Self.itemsPerBlock == block },
                "user \(user) in block \(block) got items \(recommended)")
        }
        #expect(result.parameters.userIDs == data.users && result.parameters.itemIDs == data.items)
        #expect(result.parameters.dimensions == 3)
    }

    @Test func lossNeverIncreasesAndMatchesTheObjective() throws {
        let data = Self.blockData()
        let configuration = Self.small
        let result = try ImplicitALSTrainer(configuration: configuration)
            .train(interactions: data.interactions, userIDs: data.users, itemIDs: data.items)
        #expect(result.lossHistory.count == configuration.iterations)
        for (before, after) in zip(result.lossHistory, result.lossHistory.dropFirst()) {
            #expect(after <= before * (1 + 1e-12), "loss went from \(before) to \(after)")
        }
        #expect(result.lossHistory.last! < result.lossHistory.first!)

        // The objective summed over every user–item pair, the slow way.
        var strengths = [Int: Double]()
        for interaction in data.interactions {
            strengths[interaction.user * data.items.count + interaction.item, default: 0] += interaction.strength
        }
        let parameters = result.parameters
        var objective = 0.0
        for user in data.users.indices {
            for item in data.items.indices {
                let strength = strengths[user * data.items.count + item] ?? 0
                let preference: Double = strength > 0 ? 1 : 0
                let error = preference - parameters.score(user: user, item: item)
                objective += (1 + configuration.alpha * strength) * error * error
            }
        }
        let squares = (parameters.userFactors + parameters.itemFactors).map { $0 * $0 }.reduce(0, +)
        objective += configuration.regularization * squares
        #expect(abs(objective - result.lossHistory.last!) <= 1e-9 * objective)
    }

    @Test func deterministicUnderASeed() throws {
        let data = Self.blockData()
        func train(seed: UInt64) throws -> ImplicitALSResult {
            var configuration = Self.small
            configuration.seed = seed
            return try ImplicitALSTrainer(configuration: configuration)
                .train(interactions: data.interactions, userIDs: data.users, itemIDs: data.items)
        }
        #expect(try train(seed: 7) == train(seed: 7))
        #expect(try train(seed: 7).parameters.itemFactors != train(seed: 8).parameters.itemFactors)
    }

    @Test func repeatedPairsAddUpAndZeroStrengthIsIgnored() throws {
        let users = ["a", "b"]
        let items = ["x", "y", "z"]
        let trainer = ImplicitALSTrainer(configuration: .init(factors: 2, iterations: 3))
        let split = try trainer.train(
            interactions: [
                .init(user: 0, item: 1, strength: 1), .init(user: 1, item: 2), .init(user: 0, item: 1, strength: 2),
                .init(user: 1, item: 0, strength: 0),
            ],
            userIDs: users, itemIDs: items)
        let merged = try trainer.train(
            interactions: [.init(user: 1, item: 2), .init(user: 0, item: 1, strength: 3)], userIDs: users,
            itemIDs: items)
        #expect(split == merged)
    }

    @Test func usersWithoutInteractionsGetZeroFactors() throws {
        let result = try ImplicitALSTrainer(configuration: .init(factors: 3, iterations: 2))
            .train(interactions: [.init(user: 0, item: 0)], userIDs: ["a", "b"], itemIDs: ["x", "y"])
        #expect(result.parameters.userFactors[3..<6].allSatisfy { $0 == 0 })
    }

    @Test func observerSeesEverySweepAndCanCancel() throws {
        let data = Self.blockData()
        let log = ObserverLog()
        let result = try ImplicitALSTrainer(configuration: Self.small).train(
            interactions: data.interactions, userIDs: data.users, itemIDs: data.items, observer: log.observer)
        #expect(log.calls.map(\.iteration) == Array(1...10))
        #expect(log.calls.map { $0.metrics["train_loss"]! } == result.lossHistory)

        let cancelling = ObserverLog(cancelAt: 2)
        #expect(throws: CancellationError.self) {
            _ = try ImplicitALSTrainer(configuration: Self.small).train(
                interactions: data.interactions, userIDs: data.users, itemIDs: data.items,
                observer: cancelling.observer)
        }
        #expect(cancelling.calls.map(\.iteration) == [1, 2])
    }

    @Test func badInputsSayWhatToFix() {
        let users = ["a", "b"]
        let items = ["x", "y", "z"]
        let trainer = ImplicitALSTrainer()
        let good = [Interaction(user: 0, item: 1)]
        expectBadInput("user index 2; use 0..<2") {
            _ = try trainer.train(interactions: [.init(user: 2, item: 0)], userIDs: users, itemIDs: items)
        }
        expectBadInput("item index -1; use 0..<3") {
            _ = try trainer.train(interactions: [.init(user: 0, item: -1)], userIDs: users, itemIDs: items)
        }
        expectBadInput("strength -1.0") {
            _ = try trainer.train(interactions: [.init(user: 0, item: 0, strength: -1)], userIDs: users, itemIDs: items)
        }
        expectBadInput("strength nan") {
            _ = try trainer.train(
                interactions: [.init(user: 0, item: 0, strength: .nan)], userIDs: users, itemIDs: items)
        }
        expectBadInput("no interactions with positive strength") {
            _ = try trainer.train(interactions: [], userIDs: users, itemIDs: items)
        }
        expectBadInput("0 item ids") { _ = try trainer.train(interactions: good, userIDs: users, itemIDs: []) }
        expectBadInput("user id 'a' appears more than once") {
            _ = try trainer.train(interactions: good, userIDs: ["a", "a"], itemIDs: items)
        }
        let badConfigurations: [(ImplicitALSConfiguration, String)] = [
            (.init(factors: 0), "factors is 0"),
            (.init(regularization: 0), "regularization is 0.0"),
            (.init(alpha: -2), "alpha is -2.0"),
            (.init(iterations: 0), "iterations is 0"),
        ]
        for (configuration, fragment) in badConfigurations {
            expectBadInput(fragment) {
                _ = try ImplicitALSTrainer(configuration: configuration).train(
                    interactions: good, userIDs: users, itemIDs: items)
            }
        }
    }
}
