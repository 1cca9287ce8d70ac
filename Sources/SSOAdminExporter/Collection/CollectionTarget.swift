/// What one collection looks at. Its labels lead every AWS-derived series, in this order, so that more
/// dimensions (an account, for organization-wide collection) can be added without reordering existing ones.
public struct CollectionTarget: Sendable, Hashable {
    public let region: String

    public init(region: String) {
        self.region = region
    }

    /// Label pairs in their fixed order.
    public var labels: [(String, String)] {
        [("region", region)]
    }
}
