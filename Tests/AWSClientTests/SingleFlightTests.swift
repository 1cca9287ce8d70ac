import Testing

@testable import AWSClient

@Suite("single flight with deadlines")
struct SingleFlightTests {
    @Test("the first caller of a key leads, the others follow; all get the one outcome, and the next caller leads anew")
    func leadAndFollow() async throws {
        let flight = SingleFlight<String, Int>()
        let leader = try #require(flight.join("a"))
        #expect(leader.leads)
        let followers = try (0..<1000).map { _ in try #require(flight.join("a")) }
        #expect(followers.allSatisfy { !$0.leads })
        #expect(flight.lead("a") == nil, "a second leader while one is in flight")
        let other = try #require(flight.join("b"))
        #expect(other.leads, "another key is another flight")
        let outcomes = await withTaskGroup(of: Int?.self) { group in
            for ticket in followers + [leader] { group.addTask { await flight.wait(ticket) } }
            // Some callers wait already, others have only joined: both get the outcome, none twice.
            flight.finish("a", with: 42)
            return await group.reduce(into: []) { $0.append($1) }
        }
        #expect(outcomes.count == 1001)
        #expect(outcomes.allSatisfy { $0 == 42 })
        #expect(flight.waiting == 1, "only b's caller is still waiting")
        let next = try #require(flight.join("a"))
        #expect(next.leads)
        flight.finish("b", with: 0)
        #expect(await flight.wait(other) == 0, "an answer given before the wait is kept for it")
        flight.finish("a", with: 1)
        #expect(await flight.wait(next) == 1)
        // One flight per credential provider, thousands in an organization: an idle one holds no table storage.
        #expect(flight.tableCapacity == 0)
    }

    @Test("a caller whose patience runs out, or whose task is cancelled, gets nil and leaves nothing behind")
    func patienceAndCancellation() async throws {
        let flight = SingleFlight<Int, Int>()
        let ticket = try #require(flight.join(1))
        let started = ContinuousClock.now
        #expect(await flight.wait(ticket, patience: .milliseconds(50)) == nil)
        #expect(ContinuousClock.now - started < .seconds(5))
        #expect(flight.waiting == 0)
        #expect(flight.isInFlight(1), "the work goes on: its leader still owes a finish")

        let cancelled = try #require(flight.join(1))
        let task = Task { await flight.wait(cancelled) }
        task.cancel()
        #expect(await task.value == nil)
        #expect(flight.waiting == 0)

        // A thousand callers that gave up leave no entries: a flight that never finishes cannot grow.
        for _ in 0..<1000 {
            let ticket = try #require(flight.join(1))
            #expect(await flight.wait(ticket, patience: .zero) == nil)
        }
        #expect(flight.waiting == 0)
        flight.finish(1, with: 7)
        #expect(!flight.isInFlight(1))
        #expect(flight.tableCapacity == 0, "a thousand callers that gave up leave no storage behind")
    }

    @Test("shutdown answers every waiting caller with nil at once and refuses later ones")
    func shutdown() async throws {
        let flight = SingleFlight<Int, Int>()
        let tickets = try (0..<100).map { try #require(flight.join($0 % 3)) }
        let answers = await withTaskGroup(of: Int?.self) { group in
            for ticket in tickets { group.addTask { await flight.wait(ticket) } }
            flight.shutDown()
            return await group.reduce(into: []) { $0.append($1) }
        }
        #expect(answers.count == 100 && answers.allSatisfy { $0 == nil })
        #expect(flight.join(0) == nil && flight.lead(5) == nil)
    }

    @Test("join refuses when there is nothing to wait for, checked under the lock")
    func joinUnless() throws {
        let flight = SingleFlight<Int, Void>()
        #expect(flight.join(3, unless: { true }) == nil)
        #expect(flight.waiting == 0)
        #expect(flight.join(3, unless: { false }) != nil)
    }
}
