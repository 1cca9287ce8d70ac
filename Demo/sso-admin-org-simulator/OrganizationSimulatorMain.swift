import AWSClient
import Foundation
import TestSupport

/// A simulated AWS organization on loopback, for benchmarks and demos: STS, Organizations, Account and sso-admin
/// for every account, signatures checked (see `OrganizationSimulator`).
///
///     sso-admin-org-simulator [--accounts N] [--regions r1,r2] [--latency-ms MS] [--port PORT]
///         [--throttle-accounts K] [--deny-accounts K] [--hang-accounts K] [--env-file PATH]
///
/// It prints its endpoint and the management account's keys, which the exporter uses as its own identity. With
/// `--env-file` it also writes those keys to PATH as `AWS_ACCESS_KEY_ID=...` and `AWS_SECRET_ACCESS_KEY=...` lines.
@main
enum OrganizationSimulatorMain {
    static func main() async throws {
        var accounts = 20
        var regions = ["us-east-1", "eu-west-1", "ap-southeast-2"]
        var latency = 0
        var port = 0
        var throttle = 0
        var deny = 0
        var hang = 0
        var envFile: String?
        var arguments = CommandLine.arguments.dropFirst()
        func usage() -> Never {
            FileHandle.standardError.write(
                Data(
                    """
                    usage: sso-admin-org-simulator [--accounts N] [--regions r1,r2] [--latency-ms MS] [--port PORT]
                           [--throttle-accounts K] [--deny-accounts K] [--hang-accounts K] [--env-file PATH]

                    """.utf8))
            exit(2)
        }
        while let flag = arguments.popFirst() {
            guard let value = arguments.popFirst() else { usage() }
            switch flag {
            case "--accounts": accounts = Int(value) ?? -1
            case "--regions": regions = value.split(separator: ",").map(String.init)
            case "--latency-ms": latency = Int(value) ?? -1
            case "--port": port = Int(value) ?? -1
            case "--throttle-accounts": throttle = Int(value) ?? -1
            case "--deny-accounts": deny = Int(value) ?? -1
            case "--hang-accounts": hang = Int(value) ?? -1
            case "--env-file": envFile = value
            default: usage()
            }
        }
        guard (1...100_000).contains(accounts), !regions.isEmpty, latency >= 0, (0...65535).contains(port),
            throttle >= 0, deny >= 0, hang >= 0, throttle + deny + hang < accounts
        else { usage() }
        // The last accounts misbehave, so the first ones (the management account among them) always work.
        var faults: [Int: OrganizationSimulator.Faults] = [:]
        var index = accounts - 1
        for (count, fault) in [
            (throttle, OrganizationSimulator.Faults(throttle: true)),
            (deny, OrganizationSimulator.Faults(denyAssumeRole: true)),
            (hang, OrganizationSimulator.Faults(hang: true)),
        ] {
            for _ in 0..<count {
                faults[index] = fault
                index -= 1
            }
        }
        let simulator = OrganizationSimulator.generated(
            accounts: accounts, regions: regions, latency: .milliseconds(latency), faults: faults)
        let server = try await FakeHTTPServer.start(port: port) { await simulator.handle($0) }
        FileHandle.standardOutput.write(
            Data(
                """
                organization simulator listening on \(server.endpoint): \(accounts) accounts, \
                \(regions.joined(separator: ",")), \(latency) ms per call
                management account \(simulator.managementAccountID): \
                AWS_ACCESS_KEY_ID=\(simulator.managementCredentials.accessKeyID) \
                AWS_SECRET_ACCESS_KEY=\(simulator.managementCredentials.secretAccessKey)
                member role name: any (arn:aws:iam::ACCOUNT:role/NAME is accepted for every account)

                """.utf8))
        if let envFile {
            // Written once the server listens, and whole (renamed into place): a script that waits for the file
            // to appear can then read both keys and knows the simulator answers.
            try Data(
                """
                AWS_ACCESS_KEY_ID=\(simulator.managementCredentials.accessKeyID)
                AWS_SECRET_ACCESS_KEY=\(simulator.managementCredentials.secretAccessKey)

                """.utf8
            ).write(to: URL(fileURLWithPath: envFile), options: .atomic)
        }
        while true {
            try await Task.sleep(for: .seconds(3600))
        }
    }
}
