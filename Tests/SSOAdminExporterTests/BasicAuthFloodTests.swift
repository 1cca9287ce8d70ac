import AWSClient
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdBcrypt
import HummingbirdTesting
import Synchronization
import TestSupport
import Testing

@testable import SSOAdminExporter

/// Wraps bcrypt's check to count calls, the most that ran at once, and the hashes checked against; the first call
/// after ``hold()`` waits (on its pool thread) until the returned semaphore is signalled.
final class VerificationProbe: Sendable {
    private struct State {
        var calls = 0
        var running = 0
        var mostAtOnce = 0
        var hashes: [String] = []
    }
    private let state = Mutex(State())
    private let held = Mutex<DispatchSemaphore?>(nil)

    func hold() -> DispatchSemaphore {
        let semaphore = DispatchSemaphore(value: 0)
        held.withLock { $0 = semaphore }
        return semaphore
    }

    func check(_ password: String, _ hash: String) -> Bool {
        state.withLock {
            $0.calls += 1
            $0.running += 1
            $0.mostAtOnce = max($0.mostAtOnce, $0.running)
            $0.hashes.append(hash)
        }
        defer { state.withLock { $0.running -= 1 } }
        let semaphore = held.withLock { held in
            defer { held = nil }
            return held
        }
        semaphore?.wait()
        return Bcrypt.verify(password, hash: hash)
    }

    var calls: Int { state.withLock { $0.calls } }
    var mostAtOnce: Int { state.withLock { $0.mostAtOnce } }
    var hashes: [String] { state.withLock { $0.hashes } }
}

extension DeadlineTests {
    @Suite("basic auth under a flood: one bcrypt at a time, a decoy as costly as any user, no NUL")
    struct BasicAuthFloodTests {
        @Test("one verification runs at a time; past maxWaiting waiting, a request is turned away at once")
        func oneAtATime() async throws {
            let probe = VerificationProbe()
            let authenticator = BasicAuthenticator(checkHash: probe.check)
            let users = ["prometheus": Bcrypt.hash("right", cost: 4)]
            let waiting = BasicAuthenticator.maxWaiting
            let release = probe.hold()
            let verdicts = try await withThrowingTaskGroup(of: BasicAuthenticator.Verdict.self) { group in
                for index in 0...waiting {
                    group.addTask {
                        await authenticator.verify(user: "prometheus", password: "guess \(index)", users: users)
                    }
                }
                // The first guess is held in bcrypt; the others must wait for it rather than run beside it.
                let queued = try await eventually(timeout: .seconds(20)) { () -> Bool? in
                    if probe.calls > 1 { return false }
                    return authenticator.gate.waitingCount == waiting ? true : nil
                }
                #expect(queued == true, "\(probe.calls) verifications started while the first was held")
                let started = ContinuousClock.now
                let overflow = await authenticator.verify(user: "prometheus", password: "one too many", users: users)
                #expect(overflow == .busy)
                #expect(ContinuousClock.now - started < .seconds(1), "the request past the queue waited")
                release.signal()
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(verdicts.count == waiting + 1)
            #expect(verdicts.allSatisfy { $0 == .refused })
            #expect(probe.mostAtOnce == 1, "\(probe.mostAtOnce) bcrypt verifications ran at once")
            #expect(probe.calls == waiting + 1)
        }

        @Test("a flood of distinct guesses does not evict the scraper's accepted credentials from the cache")
        func acceptedSurvivesFlood() async throws {
            let probe = VerificationProbe()
            let authenticator = BasicAuthenticator(checkHash: probe.check)
            let users = ["prometheus": Bcrypt.hash("right", cost: 4)]
            #expect(await authenticator.verify(user: "prometheus", password: "right", users: users) == .accepted)
            for index in 0..<(BasicAuthenticator.cacheLimit + 10) {
                _ = await authenticator.verify(user: "prometheus", password: "guess \(index)", users: users)
            }
            let before = probe.calls
            #expect(await authenticator.verify(user: "prometheus", password: "right", users: users) == .accepted)
            #expect(probe.calls == before, "the scraper paid a bcrypt again after the flood")
        }

        @Test("a password with a NUL byte is refused without calling bcrypt, which would stop at the NUL")
        func nulByte() async throws {
            let probe = VerificationProbe()
            let authenticator = BasicAuthenticator(checkHash: probe.check)
            let hash = Bcrypt.hash("change me", cost: 4)
            let users = ["prometheus": hash]
            // Why the check exists: bcrypt itself accepts it.
            #expect(Bcrypt.verify("change me\0junk", hash: hash))
            #expect(
                await authenticator.verify(user: "prometheus", password: "change me\0junk", users: users) == .refused)
            #expect(probe.calls == 0)
            #expect(await authenticator.verify(user: "prometheus", password: "change me", users: users) == .accepted)
        }

        @Test("through the router: `change me\\0junk` gets 401, `change me` gets in")
        func nulByteThroughRouter() async throws {
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("nul-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: directory) }
            let file = directory.appendingPathComponent("web.yml").path
            try "basic_auth_users:\n  prometheus: \(Bcrypt.hash("change me", cost: 4))\n".write(
                toFile: file, atomically: true, encoding: .utf8)
            let store = WebConfigurationStore(try WebConfiguration.load(path: file))
            try await ExporterHarness.with(instances: FakeInstance.numbered(1)) { harness in
                let app = Application(
                    router: ExporterRouter.make(harness.page.routes, web: store))
                try await app.test(.router) { client in
                    func status(_ credentials: String) async throws -> HTTPResponse.Status {
                        var headers = HTTPFields()
                        headers[.authorization] = "Basic " + Data(credentials.utf8).base64EncodedString()
                        return try await client.execute(uri: "/-/healthy", method: .get, headers: headers) { $0.status }
                    }
                    let withNUL = try await status("prometheus:change me\0junk")
                    #expect(withNUL == .unauthorized)
                    let right = try await status("prometheus:change me")
                    #expect(right == .ok)
                }
                let refused = try await harness.scrape()
                #expect(refused.value("aws_sso_admin_exporter_http_auth_refused_total", ["reason": "credentials"]) == 1)
                #expect(refused.value("aws_sso_admin_exporter_http_auth_refused_total", ["reason": "busy"]) == 0)
            }
        }

        @Test("through the middleware: past the waiting limit a request gets 429 with Retry-After, counted as busy")
        func busyThroughMiddleware() async throws {
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("busy-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: directory) }
            let file = directory.appendingPathComponent("web.yml").path
            try "basic_auth_users:\n  prometheus: \(Bcrypt.hash("right", cost: 4))\n".write(
                toFile: file, atomically: true, encoding: .utf8)
            let store = WebConfigurationStore(try WebConfiguration.load(path: file))
            let metrics = ProcessWideMetrics()
            let probe = VerificationProbe()
            let authenticator = BasicAuthenticator(checkHash: probe.check)
            let router = Router()
            router.add(
                middleware: WebAccessMiddleware(
                    store: store, authenticator: authenticator, clock: .continuous, refusals: .init(metrics: metrics)))
            router.get("/") { _, _ in "ok" }
            let waiting = BasicAuthenticator.maxWaiting
            let release = probe.hold()
            try await Application(router: router).test(.router) { client in
                func attempt(_ password: String) async throws -> (HTTPResponse.Status, String?) {
                    var headers = HTTPFields()
                    headers[.authorization] = "Basic " + Data("prometheus:\(password)".utf8).base64EncodedString()
                    return try await client.execute(uri: "/", method: .get, headers: headers) {
                        ($0.status, $0.headers[.retryAfter])
                    }
                }
                let statuses = try await withThrowingTaskGroup(of: HTTPResponse.Status.self) { group in
                    for index in 0...waiting {
                        group.addTask { try await attempt("guess \(index)").0 }
                    }
                    let queued = try await eventually(timeout: .seconds(20)) {
                        authenticator.gate.waitingCount == waiting ? true : nil
                    }
                    #expect(queued == true)
                    let overflow = try await attempt("one too many")
                    #expect(overflow.0 == .tooManyRequests)
                    #expect(overflow.1 == "1")
                    release.signal()
                    return try await group.reduce(into: []) { $0.append($1) }
                }
                #expect(statuses.count == waiting + 1)
                #expect(statuses.allSatisfy { $0 == .unauthorized })
            }
            var writer = PrometheusTextWriter()
            await metrics.write(Scrape(snapshots: []), into: &writer) { _ in }
            let parsed = try ExpositionParser.parse(String(decoding: writer.bytes, as: UTF8.self))
            #expect(parsed.value("aws_sso_admin_exporter_http_auth_refused_total", ["reason": "busy"]) == 1)
            #expect(
                parsed.value("aws_sso_admin_exporter_http_auth_refused_total", ["reason": "credentials"])
                    == Double(waiting + 1))
        }

        @Test("the decoy's cost is the highest among the users, so an unknown user costs what the dearest one does")
        func decoyCost() async throws {
            let cheap = Bcrypt.hash("a", cost: 4)
            let dear = Bcrypt.hash("b", cost: 12)
            #expect(BasicAuthenticator.cost(of: dear) == 12)
            #expect(BasicAuthenticator.decoyCost(for: ["cheap": cheap, "dear": dear]) == 12)
            #expect(BasicAuthenticator.decoyCost(for: ["dear": dear, "cheap": cheap, "other": cheap]) == 12)
            #expect(BasicAuthenticator.decoyCost(for: ["cheap": cheap]) == 4)
            let probe = VerificationProbe()
            let authenticator = BasicAuthenticator(checkHash: probe.check)
            for _ in 0..<3 {
                #expect(
                    await authenticator.verify(
                        user: "nobody", password: "x\(UUID())", users: ["cheap": cheap, "dear": dear]) == .refused)
            }
            #expect(probe.hashes.map(BasicAuthenticator.cost(of:)) == [12, 12, 12])
        }
    }
}
