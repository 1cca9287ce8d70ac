import AWSClient
import AsyncHTTPClient
import Foundation
import Hummingbird
import HummingbirdTesting
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization
import TestSupport
import Testing

@testable import SSOAdminExporter

#if canImport(Glibc)
    import Glibc
#endif

/// A value shared with closures that outlive the test's scope (hooks, tasks).
final class Locked<Value: Sendable>: Sendable {
    private let state: Mutex<Value>

    init(_ value: Value) {
        state = Mutex(value)
    }

    func withLock<Result: Sendable>(_ body: (inout Value) -> Result) -> Result {
        state.withLock { body(&$0) }
    }
}

@Suite("POST /-/reload: --web.enable-lifecycle, off the event loop, coalesced")
struct LifecycleReloadTests {
    static let regions = ["us-east-1"]

    static func yaml(_ simulator: OrganizationSimulator, accounts: Int) -> String {
        SimulatedOrganization.targetsYAML(simulator, accounts: accounts, regions: regions)
            + "collection:\n  mode: on_scrape\n"
    }

    /// Loads so far, success or failure, as the exporter counts them (the scrape runs the scheduler for its time).
    static func loads(_ organization: SimulatedOrganization) async throws -> Double {
        let parsed = try await organization.page.running { try await organization.scrape() }
        return (parsed.value("aws_sso_admin_exporter_config_reloads_total", ["result": "success"]) ?? 0)
            + (parsed.value("aws_sso_admin_exporter_config_reloads_total", ["result": "failure"]) ?? 0)
    }

    @Test("without --web.enable-lifecycle, POST /-/reload is 403 naming the flag and loads nothing")
    func forbiddenWithoutFlag() async throws {
        let simulator = OrganizationSimulator.generated(accounts: 2, regions: Self.regions)
        try await SimulatedOrganization.with(simulator, yaml: Self.yaml(simulator, accounts: 2)) { organization in
            #expect(organization.configuration.web.enableLifecycle == false)
            let reloader = try #require(organization.page.reloader)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { await reloader.run() }
                defer { group.cancelAll() }
                let app = Application(
                    router: ExporterRouter.make(organization.page.routes))
                try await app.test(.router) { client in
                    try await client.execute(uri: "/-/reload", method: .post) { response in
                        #expect(response.status == .forbidden)
                        #expect(String(buffer: response.body).contains("--web.enable-lifecycle"))
                    }
                    try await client.execute(uri: "/-/reload", method: .get) { response in
                        #expect(response.status == .methodNotAllowed)
                    }
                }
                #expect(try await Self.loads(organization) == 0)
            }
        }
    }

    @Test(
        "300 concurrent POSTs cost at most two loads, all are answered, and /-/healthy answers during a held load",
        .timeLimit(.minutes(2)))
    func coalesced() async throws {
        let simulator = OrganizationSimulator.generated(accounts: 3, regions: Self.regions)
        try await SimulatedOrganization.with(
            simulator, yaml: Self.yaml(simulator, accounts: 2), arguments: ["--web.enable-lifecycle"]
        ) { organization in
            let configuration = organization.configuration
            let reloader = try #require(organization.page.reloader)
            let loads = Locked((count: 0, onEventLoop: 0))
            let release = DispatchSemaphore(value: 0)
            reloader.beforeLoad.withLock {
                $0 = {
                    let onLoop = MultiThreadedEventLoopGroup.currentEventLoop != nil
                    let first = loads.withLock { loads in
                        loads.count += 1
                        if onLoop { loads.onEventLoop += 1 }
                        return loads.count == 1
                    }
                    // Held off the loops only: held on one, it would stall the test rather than fail it.
                    if first && !onLoop { release.wait() }
                }
            }
            let requests = 300
            // 300 connections, both ends in this process, beside the suites running in parallel: more than a
            // soft limit of 1,024 leaves room for, so the test raises it as the exporter itself does.
            DescriptorLimit.raiseToHardLimit()
            var clientConfiguration = HTTPClient.Configuration()
            clientConfiguration.connectionPool = .init(
                idleTimeout: .seconds(30), concurrentHTTP1ConnectionsPerHostSoftLimit: requests + 10)
            let http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: clientConfiguration)
            try await withAsyncCleanup {
                try await withThrowingTaskGroup(of: Void.self) { services in
                    // The reloader's task runs on an event loop, as every task does in the exporter (whose global
                    // executor is its loop): a load made where the task runs would show up as on a loop.
                    let onLoops = EventLoopGroupTaskExecutor(group: MultiThreadedEventLoopGroup.singleton)
                    services.addTask(executorPreference: onLoops) { await reloader.run() }
                    defer { services.cancelAll() }
                    let app = Application(
                        router: ExporterRouter.make(organization.page.routes))
                    try await app.test(.live) { client in
                        let base = "http://127.0.0.1:\(try #require(client.port))"
                        func send(_ path: String, method: HTTPMethod) async throws -> (HTTPResponseStatus, String) {
                            var request = HTTPClientRequest(url: base + path)
                            request.method = method
                            let response = try await http.execute(request, timeout: .seconds(60))
                            let body = try await response.body.collect(upTo: 1 << 20)
                            return (response.status, String(buffer: body))
                        }
                        try (Self.yaml(simulator, accounts: 3)).write(
                            toFile: try #require(configuration.configFile), atomically: true, encoding: .utf8)
                        let answers = try await withThrowingTaskGroup(of: (HTTPResponseStatus, String).self) {
                            posts in
                            for _ in 0..<requests {
                                posts.addTask { try await send("/-/reload", method: .POST) }
                            }
                            let arrived = try await eventually(timeout: .seconds(60)) {
                                reloader.requestsWaiting == requests ? true : nil
                            }
                            #expect(arrived == true, "\(reloader.requestsWaiting) of \(requests) requests arrived")
                            // The first load is held on its pool thread: the server still answers.
                            let health = try await send("/-/healthy", method: .GET)
                            #expect(health.0 == .ok)
                            #expect(loads.withLock { $0.count } == 1)
                            release.signal()
                            return try await posts.reduce(into: []) { $0.append($1) }
                        }
                        #expect(answers.count == requests)
                        #expect(answers.allSatisfy { $0.0 == .ok && $0.1.hasPrefix("reloaded:") })
                    }
                    let counted = loads.withLock { $0 }
                    #expect((1...2).contains(counted.count), "\(counted.count) loads for \(requests) requests")
                    #expect(counted.onEventLoop == 0, "a load ran on an event loop")
                    #expect(try await Self.loads(organization) == Double(counted.count))
                }
            } cleanup: {
                try await http.shutdown()
            }
        }
    }

    @Test("a request cancelled while it waits leaves no load behind; a later one gets a load that started after it")
    func cancelledRequestLeavesNoLoad() async throws {
        let simulator = OrganizationSimulator.generated(accounts: 2, regions: Self.regions)
        try await SimulatedOrganization.with(simulator, yaml: Self.yaml(simulator, accounts: 2)) { organization in
            let reloader = try #require(organization.page.reloader)
            let loads = Locked(0)
            let release = DispatchSemaphore(value: 0)
            reloader.beforeLoad.withLock {
                $0 = {
                    if loads.withLock({ loads in
                        loads += 1
                        return loads == 1
                    }) {
                        release.wait()
                    }
                }
            }
            try await withThrowingTaskGroup(of: Void.self) { services in
                services.addTask { await reloader.run() }
                defer { services.cancelAll() }
                let first = Task { await reloader.reload() }
                var released = false
                defer { if !released { release.signal() } }
                let held = try await eventually(timeout: .seconds(10)) { loads.withLock { $0 } == 1 ? true : nil }
                #expect(held == true)
                let gone = Task { await reloader.reload() }
                let queued = try await eventually(timeout: .seconds(10)) {
                    reloader.requestsWaiting == 2 ? true : nil
                }
                #expect(queued == true)
                gone.cancel()
                let cancelled = await gone.value
                #expect(throws: ConfigFileError.self) { try cancelled.get() }
                if case .failure(let error) = cancelled { #expect(error.description.contains("cancelled")) }
                release.signal()
                released = true
                #expect((try? await first.value.get()) != nil)
                // The queue is empty: this request's load is the second one, not a third.
                #expect((try? await reloader.reload().get()) != nil)
                #expect(loads.withLock { $0 } == 2)
            }
        }
    }
}

extension ExternalProgramTests {
    @Suite("the binary's POST /-/reload and --web.enable-lifecycle")
    struct LifecycleBinaryTests {
        @Test("the binary: POST /-/reload is 403 naming --web.enable-lifecycle without it; SIGHUP still reloads")
        func lifecycleFlag() async throws {
            let simulator = OrganizationSimulator.generated(accounts: 2, regions: ["us-east-1"])
            let server = try await FakeHTTPServer.start { await simulator.handle($0) }
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
                "lifecycle-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: directory) }
            let targets = directory.appendingPathComponent("targets.yml").path
            try
                (SimulatedOrganization.targetsYAML(simulator, accounts: 2, regions: ["us-east-1"])
                + "collection:\n  mode: on_scrape\n").write(toFile: targets, atomically: true, encoding: .utf8)
            let http = HTTPClient(eventLoopGroupProvider: .singleton)
            try await withAsyncCleanup {
                let environment = ShardingEndToEndTests.environment(simulator, server, home: directory)
                func post(_ exporter: RunningExporter) async throws -> (HTTPResponseStatus, String) {
                    var request = HTTPClientRequest(url: "http://127.0.0.1:\(exporter.port)/-/reload")
                    request.method = .POST
                    let response = try await http.execute(request, timeout: .seconds(10))
                    return (response.status, String(buffer: try await response.body.collect(upTo: 1 << 20)))
                }
                func reloads(_ exporter: RunningExporter) async throws -> Double? {
                    try await exporter.metrics().value(
                        "aws_sso_admin_exporter_config_reloads_total", ["result": "success"])
                }
                let closed = try RunningExporter(arguments: ["--config.file", targets], environment: environment)
                try await closed.waitUntilReady()
                let refused = try await post(closed)
                #expect(refused.0 == .forbidden)
                #expect(refused.1.contains("--web.enable-lifecycle"), "\(refused.1)")
                #expect(try await reloads(closed) == 0)
                kill(closed.process.processIdentifier, SIGHUP)
                let hangup = try await eventually(timeout: .seconds(10)) { try await reloads(closed) == 1 ? true : nil }
                #expect(hangup == true, "SIGHUP did not reload without --web.enable-lifecycle")

                let open = try RunningExporter(
                    arguments: ["--config.file", targets, "--web.enable-lifecycle"], environment: environment)
                try await open.waitUntilReady()
                let accepted = try await post(open)
                #expect(accepted.0 == .ok, "\(accepted.1)")
                #expect(try await reloads(open) == 1)
            } cleanup: {
                await server.stop()
                try await http.shutdown()
            }
        }

        @Test(
            "the binary: 300 POSTs whose clients hang up at once cost a few loads, and /-/healthy answers meanwhile",
            .timeLimit(.minutes(3)))
        func floodOfHungUpReloads() async throws {
            let simulator = OrganizationSimulator.generated(accounts: 2, regions: ["us-east-1"])
            let server = try await FakeHTTPServer.start { await simulator.handle($0) }
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("flood-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: directory) }
            // 2,000 accounts: each load parses and builds them all, the 0.45 s case (more in a debug build).
            let targets = directory.appendingPathComponent("targets.yml").path
            try
                (SimulatedOrganization.targetsYAML(simulator, accounts: 2_000, regions: ["us-east-1"])
                + "collection:\n  mode: on_scrape\n").write(toFile: targets, atomically: true, encoding: .utf8)
            let http = HTTPClient(eventLoopGroupProvider: .singleton)
            try await withAsyncCleanup {
                let exporter = try RunningExporter(
                    arguments: [
                        "--config.file", targets, "--web.enable-lifecycle", "--web.max-connections", "1000",
                    ],
                    environment: ShardingEndToEndTests.environment(simulator, server, home: directory))
                try await exporter.waitUntilReady()
                DescriptorLimit.raiseToHardLimit()
                let flood = (0..<300).compactMap { _ in RawConnection(port: exporter.port) }
                #expect(flood.count == 300)
                for connection in flood {
                    connection.send("POST /-/reload HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
                    connection.close()
                }
                // The loads run on a worker thread: the event loop stays free for everyone else.
                var slowest = Duration.zero
                for _ in 0..<5 {
                    let started = ContinuousClock.now
                    let health = await exporter.get("/-/healthy")
                    #expect(health?.status == .ok, "/-/healthy got no answer during the reloads")
                    slowest = max(slowest, ContinuousClock.now - started)
                }
                #expect(slowest < .seconds(2), "/-/healthy took \(slowest) during the reloads")
                // A request made now is answered by a load that starts after it: once it is, the flood's are done.
                var request = HTTPClientRequest(url: "http://127.0.0.1:\(exporter.port)/-/reload")
                request.method = .POST
                let response = try await http.execute(request, timeout: .seconds(120))
                #expect(response.status == .ok)
                let loads = exporter.log.components(separatedBy: "--config.file reloaded").count - 1
                #expect((1...3).contains(loads), "\(loads) loads for 301 requests")
            } cleanup: {
                await server.stop()
                try await http.shutdown()
            }
        }
    }
}
