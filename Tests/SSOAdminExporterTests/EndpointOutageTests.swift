import AWSClient
import Foundation
import SSOAdminExporter
import TestSupport
import Testing

extension DeadlineTests {
    @Suite("an endpoint that fails for every account")
    struct EndpointOutageTests {
        @Test(
            "600 targets against sso-admin answering 500: one call each plus the endpoint's retry quota, not three each"
        )
        func outageCostsOneCallPerTargetPlusTheQuota() async throws {
            let members = 600
            let simulator = OrganizationSimulator.generated(accounts: members + 1, regions: ["us-east-1"])
            simulator.override("ListInstances") { _, _ in
                OrganizationSimulator.jsonError("InternalServerException", 500, "simulated outage")
            }
            let yaml =
                SimulatedOrganization.targetsYAML(simulator, accounts: members + 1, regions: ["us-east-1"])
                + "collection:\n  mode: background\n  interval: 1h\n  timeout: 30s\n  max_concurrency: 64\n"
            try await SimulatedOrganization.with(simulator, yaml: yaml) { organization in
                let scheduler = try #require(organization.page.scheduler as? PeriodicScheduler)
                #expect(scheduler.sources.count == members + 1)
                await scheduler.collectRound()

                let targets = members + 1
                let retries = AWSRetryQuota.initial / AWSRetryQuota.retryCost
                let calls = simulator.calls("ListInstances")
                // Every target tries once; the retries the endpoint's one quota allows come on top, whichever targets
                // take them. A quota per target would have allowed two retries each (1,803 calls).
                #expect(calls == targets + retries, "\(calls) ListInstances calls for \(targets) targets")

                let parsed = try await organization.scrape()
                #expect(parsed.samples("aws_sso_admin_collect_success").count == targets)
                #expect(parsed.samples("aws_sso_admin_collect_success").allSatisfy { $0.value == 0 })
                let errors = parsed.samples("aws_sso_admin_api_errors_total", ["exception": "InternalServerException"])
                #expect(errors.reduce(0) { $0 + $1.value } == Double(calls))
                // STS is another endpoint with a quota of its own: every role was assumed once.
                #expect(simulator.assumeRoles(into: "100000000600") == 1)
            }
        }
    }
}
