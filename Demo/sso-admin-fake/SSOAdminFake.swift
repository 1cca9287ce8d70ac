import Foundation
import TestSupport

/// A loopback sso-admin for `scripts/demo.sh`: the test suite's fake service (pagination and errors as the service
/// model has them), holding one ACTIVE instance and one in CREATE_FAILED with a status reason. It also answers STS
/// `GetCallerIdentity` (query-protocol requests), so one `AWS_ENDPOINT_URL` serves the exporter.
///
///     sso-admin-fake [PORT]
@main
enum SSOAdminFake {
    static let instances = [
        FakeInstance(
            instanceArn: "arn:aws:sso:::instance/ssoins-7223a1b2c3d4e5f6", identityStoreId: "d-9067c1f2a3",
            ownerAccountId: "111122223333", name: "organization", createdDate: 1_700_000_000, status: "ACTIVE"),
        FakeInstance(
            instanceArn: "arn:aws:sso:::instance/ssoins-72230f6aa8ab4f83", identityStoreId: "d-9067aaaaaa",
            ownerAccountId: "210987654321", name: "payments", createdDate: 1_760_000_000, status: "CREATE_FAILED",
            statusReason: "KMS key arn:aws:kms:us-east-1:210987654321:key/demo is not accessible"),
    ]

    static func main() async throws {
        let arguments = CommandLine.arguments.dropFirst()
        guard arguments.count <= 1, let port = Int(arguments.first ?? "0"), (0...65535).contains(port) else {
            FileHandle.standardError.write(Data("usage: sso-admin-fake [PORT]\n".utf8))
            exit(2)
        }
        let service = FakeSSOAdminService(instances: instances)
        let sts = FakeSTSService()
        let server = try await FakeHTTPServer.start(port: port, ssoAdmin: service, sts: sts)
        FileHandle.standardOutput.write(Data("fake sso-admin listening on \(server.endpoint)\n".utf8))
        // Serves until the demo script stops it with a signal.
        while true {
            try await Task.sleep(for: .seconds(3600))
        }
    }
}
