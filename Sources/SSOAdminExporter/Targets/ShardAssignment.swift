/// Which accounts this exporter collects when several replicas split an organization between them
/// (`--discovery.shard.index`, `--discovery.shard.count`, or `discovery.organizations.shard` in the file).
///
/// An account belongs to the replica whose index is the FNV-1a (64-bit) hash of its 12-digit ID modulo the count:
/// the same answer in every process, version and machine, so that replicas started with the same count never
/// collect an account twice nor leave one out. Accounts, not targets, are split: an account's Regions share one
/// role and one discovery lookup, which a split by target would repeat in several replicas.
package struct ShardAssignment: Sendable, Equatable, CustomStringConvertible {
    package let index: Int
    package let count: Int

    /// One process collecting everything.
    package static let whole = ShardAssignment(checkedIndex: 0, count: 1)
    /// More replicas than this is a typing mistake, not an organization: 1,024 replicas would each hold a handful
    /// of accounts.
    package static let maxCount = 1024

    private init(checkedIndex index: Int, count: Int) {
        self.index = index
        self.count = count
    }

    /// `nil` when `count` is outside 1...``maxCount`` or `index` outside `0..<count`.
    package init?(index: Int, count: Int) {
        guard (1...Self.maxCount).contains(count), (0..<count).contains(index) else { return nil }
        self.init(checkedIndex: index, count: count)
    }

    /// Whether this replica collects `accountID`. Every replica owns a target whose account is not known yet; it
    /// is decided once the account is learned.
    package func owns(accountID: String) -> Bool {
        count == 1 || accountID.isEmpty || Self.shard(of: accountID, count: count) == index
    }

    /// The index of the replica that collects `accountID` among `count`.
    package static func shard(of accountID: String, count: Int) -> Int {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in accountID.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        return Int(hash % UInt64(max(1, count)))
    }

    package var description: String { "\(index) of \(count)" }
}
