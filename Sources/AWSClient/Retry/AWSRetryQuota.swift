import Synchronization

/// The standard retry mode's quota for one service at one regional endpoint: retries after server errors,
/// connection errors and timeouts draw on it, successes refill it. One quota per endpoint, shared by every account
/// that calls it, is what bounds an outage of that endpoint: when it fails for everyone, the first retries spend the
/// quota and every later caller fails after one attempt, instead of each caller spending a budget of its own.
public final class AWSRetryQuota: Sendable {
    private let available: Mutex<Int>

    /// The SDKs' standard-mode numbers: 500 tokens, 5 per retry, 10 per retry after a timeout, 1 back per success
    /// without a retry.
    public static let initial = 500
    public static let retryCost = 5
    public static let timeoutRetryCost = 10
    public static let noRetryIncrement = 1

    public init() {
        available = Mutex(Self.initial)
    }

    /// Takes `cost` tokens if that many are left; a refused retry costs nothing.
    func take(_ cost: Int) -> Bool {
        available.withLock { available in
            guard available >= cost else { return false }
            available -= cost
            return true
        }
    }

    func refund(_ tokens: Int) {
        available.withLock { $0 = min(Self.initial, $0 + tokens) }
    }

    /// The tokens left, for tests and diagnostics.
    public var tokens: Int { available.withLock { $0 } }
}

/// The retry quotas of a client's regional endpoints, one per service, Region and endpoint address, made on first
/// use. Copies of one ``AWSClientConfiguration`` share them, so every sender the client makes for an endpoint draws
/// on that endpoint's quota whatever account it signs for.
public final class AWSRetryQuotas: Sendable {
    private struct Key: Hashable {
        let signingName: String
        let region: String
        let address: String
    }

    private let quotas = Mutex<[Key: AWSRetryQuota]>([:])

    /// Endpoints come from the configuration and from Regions an organization reports, a few dozen in practice;
    /// past this many, a hostile Region list gets quotas of its own instead of growing the table.
    static let capacity = 1024

    public init() {}

    /// The quota of `endpoint`'s service at `endpoint`'s address.
    public func quota(for endpoint: AWSServiceEndpoint) -> AWSRetryQuota {
        let key = Key(
            signingName: endpoint.signingName, region: endpoint.region,
            address: endpoint.hostHeader + endpoint.signingPath)
        return quotas.withLock { quotas in
            if let existing = quotas[key] { return existing }
            let made = AWSRetryQuota()
            if quotas.count < Self.capacity { quotas[key] = made }
            return made
        }
    }

    /// How many endpoints have a quota, for tests.
    var count: Int { quotas.withLock { $0.count } }
}
