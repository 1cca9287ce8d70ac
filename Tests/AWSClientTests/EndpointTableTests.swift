import AWSClient
import Foundation
import TestSupport
import Testing

/// sso-admin endpoints against the table botocore's own rule engine produced (`scripts/generate-endpoint-data.py`,
/// committed as `Tests/Data/sso-admin-endpoints.json`): every region botocore lists, plus unlisted ones, with and
/// without FIPS and dual-stack.
@Suite("sso-admin endpoints, as botocore resolves them")
struct EndpointTableTests {
    struct Table: Decodable {
        let botocore: String
        let cases: [Case]
    }

    struct Case: Decodable {
        let region: String
        let fips: Bool
        let dualstack: Bool
        let endpoint: String?
        let url: String?
        let error: String?
    }

    static let rules = AWSEndpointRules(prefix: "sso", fipsStandardHostPartitions: ["aws-us-gov"])

    func loadTable(_ name: String = "sso-admin-endpoints.json") throws -> Table {
        let url = ExternalTools.repositoryRoot.appendingPathComponent("Tests/Data/\(name)")
        return try JSONDecoder().decode(Table.self, from: Data(contentsOf: url))
    }

    func resolve(_ testCase: Case) -> Result<String, any Error> {
        Result {
            try AWSEndpointResolver.resolveEndpoint(
                endpointPrefix: "sso", serviceEnvironmentName: "SSO_ADMIN", signingName: "sso",
                region: testCase.region, explicit: testCase.endpoint, environment: [:],
                variants: AWSEndpointVariants(useFIPS: testCase.fips, useDualStack: testCase.dualstack),
                rules: Self.rules
            ).url.absoluteString
        }
    }

    @Test("every case of the generated table")
    func everyCase() throws {
        let table = try loadTable()
        #expect(table.cases.count > 200)
        for testCase in table.cases {
            let label = "\(testCase.region) fips=\(testCase.fips) dualstack=\(testCase.dualstack)"
            switch resolve(testCase) {
            case .success(let url):
                #expect(url == testCase.url, "\(label): botocore says \(testCase.url ?? testCase.error ?? "?")")
            case .failure(let error):
                #expect(testCase.error != nil, "\(label): \(error), botocore says \(testCase.url ?? "?")")
            }
        }
    }

    @Test("every case of botocore's STS table (regional endpoints)")
    func everySTSCase() throws {
        let table = try loadTable("sts-endpoints.json")
        #expect(table.cases.count > 200)
        for testCase in table.cases {
            let label = "\(testCase.region) fips=\(testCase.fips) dualstack=\(testCase.dualstack)"
            let variants = AWSEndpointVariants(useFIPS: testCase.fips, useDualStack: testCase.dualstack)
            let environment = testCase.endpoint.map { ["AWS_ENDPOINT_URL_STS": $0] } ?? [:]
            switch Result(catching: {
                try STSClient.endpoint(region: testCase.region, environment: environment, variants: variants)
            }) {
            case .success(let endpoint):
                #expect(
                    endpoint.url.absoluteString == testCase.url,
                    "\(label): botocore says \(testCase.url ?? testCase.error ?? "?")")
            case .failure(let error):
                #expect(testCase.error != nil, "\(label): \(error), botocore says \(testCase.url ?? "?")")
            }
        }
    }

    @Test("every partition of the table is one of ours, and the table covers every partition")
    func partitions() throws {
        let regions = Set(try loadTable().cases.map(\.region))
        let covered = Set(regions.map { AWSPartition.of($0).id })
        #expect(covered == Set(AWSPartition.all.map(\.id)))
        #expect(AWSPartition.of("xx-nowhere-1").id == "aws")
        #expect(AWSPartition.of("us-gov-south-3").id == "aws-us-gov")
        #expect(AWSPartition.of("cn-south-5").dnsSuffix == "amazonaws.com.cn")
    }
}
