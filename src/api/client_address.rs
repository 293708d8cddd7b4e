//! The address a client-API request comes from, as the limits count it.
//!
//! It is the TCP peer's, unless the peer is one of `KOOLICENSE_TRUSTED_PROXIES`: then the
//! header of `KOOLICENSE_FORWARDED_HEADER` names the client. That header is read from the right,
//! the end our own proxies append to, skipping hops that are trusted proxies themselves; the first
//! other hop is the client. Whatever lies to its left came from the client and is ignored, so a
//! spoofed entry neither escapes the limits nor, by being malformed, throws the client back onto
//! the proxy's address (which would let it spend every customer's budget). A hop that cannot be
//! read before the client is found means the header is not what our proxies write: the peer
//! counts then.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use actix_web::http::header::{FORWARDED, HeaderMap, HeaderName, X_FORWARDED_FOR};

use crate::config::{ForwardedHeader, TrustedProxies};

/// The client's address: the peer's, or the one a trusted peer forwarded (see the module doc).
/// `IPv4`-mapped `IPv6` counts as `IPv4`.
pub fn client_address(
    peer: Option<IpAddr>,
    headers: &HeaderMap,
    trusted: &TrustedProxies,
    header: ForwardedHeader,
) -> IpAddr {
    let peer = peer.map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |ip| ip.to_canonical());
    if !trusted.contains(peer) {
        return peer;
    }
    let (name, hop): (HeaderName, fn(&str) -> Option<IpAddr>) = match header {
        ForwardedHeader::XForwardedFor => (X_FORWARDED_FOR, node),
        ForwardedHeader::Forwarded => (FORWARDED, forwarded_for),
    };
    let mut hops = Vec::new();
    for value in headers.get_all(name) {
        let Ok(value) = value.to_str() else {
            return peer;
        };
        hops.extend(split_outside_quotes(value, ','));
    }
    let mut client = None;
    for raw in hops.iter().rev() {
        let Some(ip) = hop(raw) else {
            return peer;
        };
        client = Some(ip);
        if !trusted.contains(ip) {
            break;
        }
    }
    // Every hop a trusted proxy: the left-most is the client.
    client.unwrap_or(peer)
}

/// The key the limits keep for an address: `IPv6` cut to its /64, the block one subscriber
/// usually gets.
pub fn limit_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !u128::from(u64::MAX))),
        v4 @ IpAddr::V4(_) => v4,
    }
}

/// One hop of `X-Forwarded-For`, or the `for=` value of `Forwarded`: an address, with a port
/// or brackets as some proxies write it (`203.0.113.9:4711`, `[2001:db8::1]:80`).
fn node(raw: &str) -> Option<IpAddr> {
    let raw = raw.trim();
    let ip = if let Some(rest) = raw.strip_prefix('[') {
        let (inside, after) = rest.split_once(']')?;
        if !(after.is_empty() || after.strip_prefix(':').is_some_and(is_port)) {
            return None;
        }
        inside.parse::<Ipv6Addr>().ok().map(IpAddr::V6)?
    } else if let Ok(ip) = raw.parse::<IpAddr>() {
        ip
    } else {
        let (host, port) = raw.rsplit_once(':')?;
        if !is_port(port) {
            return None;
        }
        host.parse::<Ipv4Addr>().ok().map(IpAddr::V4)?
    };
    Some(ip.to_canonical())
}

fn is_port(raw: &str) -> bool {
    raw.bytes().all(|b| b.is_ascii_digit()) && raw.parse::<u16>().is_ok()
}

/// The `for=` address of one `Forwarded` element (`for=192.0.2.60;proto=https`); `None` when it
/// has none or it is not an address (`unknown`, an obfuscated `_name`).
fn forwarded_for(element: &str) -> Option<IpAddr> {
    split_outside_quotes(element, ';')
        .into_iter()
        .find_map(|pair| {
            let (key, value) = pair.split_once('=')?;
            if !key.trim().eq_ignore_ascii_case("for") {
                return None;
            }
            let value = value.trim();
            let value = value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(value);
            node(value)
        })
}

/// Splits at `separator`, except inside double quotes (RFC 7239 quoted strings).
fn split_outside_quotes(raw: &str, separator: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut start, mut quoted) = (0, false);
    for (at, c) in raw.char_indices() {
        if c == '"' {
            quoted = !quoted;
        } else if c == separator && !quoted {
            parts.push(&raw[start..at]);
            start = at + c.len_utf8();
        }
    }
    parts.push(&raw[start..]);
    parts
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests fail loudly")]
mod tests {
    use actix_web::http::header::HeaderValue;

    use super::*;

    fn ip(raw: &str) -> IpAddr {
        raw.parse().unwrap()
    }

    fn resolve(peer: &str, trusted: &str, header: ForwardedHeader, values: &[&str]) -> String {
        let mut headers = HeaderMap::new();
        let name = match header {
            ForwardedHeader::XForwardedFor => X_FORWARDED_FOR,
            ForwardedHeader::Forwarded => FORWARDED,
        };
        for value in values {
            headers.append(name.clone(), HeaderValue::from_str(value).unwrap());
        }
        let trusted = TrustedProxies::parse(trusted).unwrap();
        client_address(Some(ip(peer)), &headers, &trusted, header).to_string()
    }

    fn xff(peer: &str, trusted: &str, values: &[&str]) -> String {
        resolve(peer, trusted, ForwardedHeader::XForwardedFor, values)
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_forwards() {
        assert_eq!(xff("198.51.100.7", "", &["203.0.113.1"]), "198.51.100.7");
        assert_eq!(
            xff("198.51.100.7", "10.0.0.0/8", &["203.0.113.1"]),
            "198.51.100.7"
        );
        assert_eq!(xff("::ffff:198.51.100.7", "", &[]), "198.51.100.7");
    }

    #[test]
    fn a_trusted_peer_names_the_right_most_untrusted_hop() {
        let lb = "10.0.0.0/8, 127.0.0.1";
        assert_eq!(xff("127.0.0.1", lb, &["203.0.113.1"]), "203.0.113.1");
        // A spoofed left-most entry is the client's own text: skipped.
        assert_eq!(
            xff("127.0.0.1", lb, &["1.1.1.1, 203.0.113.1"]),
            "203.0.113.1"
        );
        // Hops that are trusted proxies are skipped; several headers read as one list.
        assert_eq!(
            xff("127.0.0.1", lb, &["1.1.1.1, 203.0.113.1", "10.0.0.5"]),
            "203.0.113.1"
        );
        // Garbage left of the client does not matter either.
        assert_eq!(
            xff("127.0.0.1", lb, &["garbage, 203.0.113.1:5000"]),
            "203.0.113.1"
        );
        assert_eq!(xff("127.0.0.1", lb, &["[2001:db8::5]:443"]), "2001:db8::5");
        assert_eq!(xff("127.0.0.1", lb, &[" 2001:db8::6 "]), "2001:db8::6");
        // Only proxies on the way: the left-most one is the client.
        assert_eq!(xff("127.0.0.1", lb, &["10.0.0.9, 10.0.0.5"]), "10.0.0.9");
    }

    #[test]
    fn a_header_our_proxies_did_not_write_falls_back_to_the_peer() {
        let lb = "127.0.0.1";
        for values in [
            &[][..],
            &[""][..],
            &["203.0.113.1, not-an-ip"][..],
            &["203.0.113.1,"][..],
            &["unknown"][..],
            &["203.0.113.1:99999"][..],
            &["[2001:db8::1]x"][..],
        ] {
            assert_eq!(xff("127.0.0.1", lb, values), "127.0.0.1", "{values:?}");
        }
    }

    #[test]
    fn forwarded_is_read_only_when_configured() {
        let lb = "127.0.0.1";
        let fwd = |values: &[&str]| resolve("127.0.0.1", lb, ForwardedHeader::Forwarded, values);
        assert_eq!(fwd(&["for=203.0.113.1;proto=https"]), "203.0.113.1");
        assert_eq!(
            fwd(&["for=1.1.1.1, For=\"[2001:db8:cafe::17]:4711\";by=127.0.0.1"]),
            "2001:db8:cafe::17"
        );
        assert_eq!(fwd(&["for=\"_hidden\""]), "127.0.0.1");
        assert_eq!(fwd(&["proto=https"]), "127.0.0.1");
        // The other header is not looked at: a client could have set it.
        let mut headers = HeaderMap::new();
        headers.insert(X_FORWARDED_FOR, HeaderValue::from_static("203.0.113.1"));
        let trusted = TrustedProxies::parse(lb).unwrap();
        let got = client_address(Some(ip(lb)), &headers, &trusted, ForwardedHeader::Forwarded);
        assert_eq!(got, ip(lb));
    }

    #[test]
    fn ipv6_is_keyed_per_64() {
        assert_eq!(limit_key(ip("2001:db8:1:2:3:4:5:6")), ip("2001:db8:1:2::"));
        assert_eq!(limit_key(ip("::ffff:192.0.2.1")), ip("192.0.2.1"));
        assert_eq!(limit_key(ip("192.0.2.1")), ip("192.0.2.1"));
    }
}
