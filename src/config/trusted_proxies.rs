//! `KOOLICENSE_TRUSTED_PROXIES`: the peers (load balancers, reverse proxies) whose forwarded-for
//! header names the real client. Empty by default, so that no client can pick the address its
//! limits count against.

use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;

/// A set of addresses and networks, `IPv4` and `IPv6`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// Parses comma-separated addresses (`10.0.0.7`, `::1`) and networks (`10.0.0.0/8`,
    /// `2001:db8::/32`); blank entries are skipped. The error names the entry.
    pub fn parse(raw: &str) -> Result<Self, String> {
        raw.split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .map(|entry| {
                entry
                    .parse::<IpNet>()
                    .map(|net| net.trunc())
                    .or_else(|_| {
                        entry
                            .parse::<IpAddr>()
                            .map(|ip| IpNet::from(ip.to_canonical()))
                    })
                    .map_err(|_| format!("{entry:?} is neither an IP address nor a CIDR network"))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Self)
    }

    /// No proxy is trusted.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `ip` (`IPv4`-mapped `IPv6` counts as `IPv4`) is one of the trusted proxies.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|net| net.contains(&ip))
    }
}

impl fmt::Debug for TrustedProxies {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(ToString::to_string))
            .finish()
    }
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests fail loudly")]
mod tests {
    use super::*;

    fn ip(raw: &str) -> IpAddr {
        raw.parse().unwrap()
    }

    #[test]
    fn addresses_and_networks_of_both_families_are_trusted() {
        let trusted =
            TrustedProxies::parse(" 127.0.0.1, 10.1.0.0/16,,::1 , 2001:db8:1::/48").unwrap();
        for (addr, expected) in [
            ("127.0.0.1", true),
            ("127.0.0.2", false),
            ("10.1.200.3", true),
            ("10.2.0.1", false),
            ("::1", true),
            ("2001:db8:1:ffff::9", true),
            ("2001:db8:2::1", false),
            // How an IPv4 peer looks on a dual-stack listener.
            ("::ffff:127.0.0.1", true),
            ("::ffff:10.1.0.9", true),
        ] {
            assert_eq!(trusted.contains(ip(addr)), expected, "{addr}");
        }
    }

    #[test]
    fn host_bits_of_a_network_are_ignored() {
        let trusted = TrustedProxies::parse("192.168.1.77/24").unwrap();
        assert!(trusted.contains(ip("192.168.1.1")));
    }

    #[test]
    fn empty_trusts_nobody() {
        let trusted = TrustedProxies::parse(" , ").unwrap();
        assert!(trusted.is_empty());
        assert!(!trusted.contains(ip("127.0.0.1")));
    }

    #[test]
    fn a_bad_entry_is_named() {
        for bad in [
            "10.0.0.0/33",
            "proxy.internal",
            "10.0.0",
            "::1/129",
            "1.2.3.4:80",
        ] {
            let err = TrustedProxies::parse(&format!("127.0.0.1,{bad}")).unwrap_err();
            assert!(err.contains(bad), "{err}");
        }
    }
}
