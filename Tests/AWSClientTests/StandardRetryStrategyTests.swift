import Foundation
import Testing

@testable import AWSClient

@Suite("standard retry mode")
struct StandardRetryStrategyTests {
    static func service(_ code: String, _ status: Int) -> AWSClientError {
        .service(AWSServiceError(code: code, statusCode: status))
    }

    @Test(
        "classification follows the SDKs",
        arguments: [
            (service("ThrottlingException", 400), StandardRetryStrategy.Classification.throttling),
            (service("Whatever", 429), .throttling),
            (service("InternalServerException", 500), .transient),
            (service("ServiceUnavailable", 503), .transient),
            (service("BadGateway", 502), .transient),
            (service("GatewayTimeout", 504), .transient),
            (service("AccessDeniedException", 400), .notRetryable),
            (service("ValidationException", 400), .notRetryable),
            (service("SignatureDoesNotMatch", 403), .notRetryable),
            (AWSClientError.transport(.connection("reset")), .transient),
            (AWSClientError.transport(.timeout), .timeout),
            (AWSClientError.invalidResponse("garbage"), .notRetryable),
        ])
    func classification(error: AWSClientError, expected: StandardRetryStrategy.Classification) {
        #expect(StandardRetryStrategy.classify(error) == expected)
    }

    @Test("full jitter under min(base * 2^(n-1), 20 s)")
    func backoffCeiling() {
        let strategy = StandardRetryStrategy(maxAttempts: 10, random: { 0.999_999 })
        let ceilings = (1...9).map { strategy.retryDelay(after: $0, error: Self.service("Throttling", 400))! }
        let expected: [Duration] = [1, 2, 4, 8, 16, 20, 20, 20, 20].map { .seconds($0) }
        for (got, ceiling) in zip(ceilings, expected) {
            #expect(got <= ceiling && got > ceiling * 0.99)
        }
        let zero = StandardRetryStrategy(random: { 0 })
        #expect(zero.retryDelay(after: 1, error: .transport(.timeout)) == .zero)
    }

    @Test("attempts are bounded and non-retryable errors stop at once")
    func bounds() {
        let strategy = StandardRetryStrategy(maxAttempts: 3)
        #expect(strategy.retryDelay(after: 1, error: Self.service("ThrottlingException", 400)) != nil)
        #expect(strategy.retryDelay(after: 2, error: Self.service("ThrottlingException", 400)) != nil)
        #expect(strategy.retryDelay(after: 3, error: Self.service("ThrottlingException", 400)) == nil)
        #expect(strategy.retryDelay(after: 1, error: Self.service("AccessDeniedException", 400)) == nil)
    }

    @Test("the retry quota runs dry and refills on success")
    func quota() {
        let strategy = StandardRetryStrategy(maxAttempts: 2)
        var granted = 0
        while strategy.retryDelay(after: 1, error: .transport(.timeout)) != nil { granted += 1 }
        #expect(granted == AWSRetryQuota.initial / 10)
        #expect(strategy.availableQuota < 10)
        #expect(strategy.retryDelay(after: 1, error: .transport(.connection("x"))) == nil)
        strategy.recordSuccess(retriedAfter: .timeout)
        #expect(strategy.retryDelay(after: 1, error: .transport(.timeout)) != nil)
    }

    @Test("throttling is retried without spending the endpoint's quota; strategies of one endpoint share it")
    func throttlingAndSharing() {
        let quota = AWSRetryQuota()
        let first = StandardRetryStrategy(maxAttempts: 2, quota: quota)
        let second = StandardRetryStrategy(maxAttempts: 2, quota: quota)
        for _ in 0..<1000 {
            #expect(first.retryDelay(after: 1, error: Self.service("ThrottlingException", 400)) != nil)
        }
        #expect(quota.tokens == AWSRetryQuota.initial)
        var granted = 0
        while first.retryDelay(after: 1, error: Self.service("InternalServerException", 500)) != nil { granted += 1 }
        #expect(granted == AWSRetryQuota.initial / AWSRetryQuota.retryCost)
        #expect(second.retryDelay(after: 1, error: .transport(.connection("reset"))) == nil)
        #expect(second.retryDelay(after: 1, error: Self.service("ThrottlingException", 400)) != nil)
    }

    @Test("one quota per service, Region and address; the table stays bounded")
    func quotasByEndpoint() throws {
        let quotas = AWSRetryQuotas()
        func endpoint(_ url: String, _ region: String, _ service: String) throws -> AWSServiceEndpoint {
            AWSServiceEndpoint(url: try #require(URL(string: url)), region: region, signingName: service)
        }
        let east = try endpoint("https://sso.us-east-1.amazonaws.com", "us-east-1", "sso")
        #expect(quotas.quota(for: east) === quotas.quota(for: east))
        #expect(
            quotas.quota(for: east)
                !== quotas.quota(for: try endpoint("https://sso.eu-west-1.amazonaws.com", "eu-west-1", "sso")))
        #expect(
            quotas.quota(for: east)
                !== quotas.quota(for: try endpoint("https://sso.us-east-1.amazonaws.com", "us-east-1", "sts")))
        for index in 0..<(AWSRetryQuotas.capacity + 500) {
            _ = quotas.quota(for: try endpoint("https://sso.r\(index).example", "r\(index)", "sso"))
        }
        #expect(quotas.count == AWSRetryQuotas.capacity)
    }
}
