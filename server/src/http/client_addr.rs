//! The address a request came from, seen through the reverse proxies Remit is told to trust.
//!
//! Behind a proxy every connection comes from the proxy, so per-client limits would lump all payers
//! together. `X-Forwarded-For` names the client, but anyone can send one: only the entries added by
//! trusted proxies are believed, read from the right (the nearest hop) to the first address that is
//! not a trusted proxy.

use std::net::IpAddr;

use axum::http::HeaderMap;
use ipnet::IpNet;

pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted_proxies: &[IpNet]) -> IpAddr {
    // A dual-stack listener sees IPv4 peers as `::ffff:a.b.c.d`; proxies are listed as `a.b.c.d`.
    let peer = peer.to_canonical();
    let trusted = |ip: &IpAddr| trusted_proxies.iter().any(|net| net.contains(ip));
    if !trusted(&peer) {
        return peer;
    }
    let forwarded: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .collect();
    let mut nearest = peer;
    for entry in forwarded.iter().rev() {
        // A hop that cannot be read ends what can be believed: the last trusted hop answers for it.
        let Ok(ip) = entry.parse::<IpAddr>() else { break };
        nearest = ip.to_canonical();
        if !trusted(&nearest) {
            break;
        }
    }
    nearest
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for value in values {
            map.append("x-forwarded-for", value.parse().unwrap());
        }
        map
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn proxies() -> Vec<IpNet> {
        vec!["10.0.0.0/8".parse().unwrap(), "::1/128".parse().unwrap()]
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_forwards() {
        assert_eq!(client_ip(ip("203.0.113.9"), &headers(&["198.51.100.1"]), &proxies()), ip("203.0.113.9"));
    }

    #[test]
    fn behind_trusted_proxies_the_nearest_untrusted_hop_is_the_client() {
        let forwarded = headers(&["6.6.6.6, 198.51.100.7", "10.1.2.3"]);
        assert_eq!(client_ip(ip("10.0.0.1"), &forwarded, &proxies()), ip("198.51.100.7"));
    }

    #[test]
    fn an_ipv4_peer_seen_through_a_dual_stack_socket_is_matched_as_ipv4() {
        let forwarded = headers(&["198.51.100.7"]);
        assert_eq!(client_ip(ip("::ffff:10.0.0.1"), &forwarded, &proxies()), ip("198.51.100.7"));
    }

    #[test]
    fn a_trusted_peer_without_forwarding_is_the_client() {
        assert_eq!(client_ip(ip("::1"), &HeaderMap::new(), &proxies()), ip("::1"));
    }

    #[test]
    fn an_unreadable_hop_leaves_the_last_trusted_one() {
        let forwarded = headers(&["198.51.100.7, unknown, 10.9.9.9"]);
        assert_eq!(client_ip(ip("10.0.0.1"), &forwarded, &proxies()), ip("10.9.9.9"));
    }

    #[test]
    fn no_trusted_proxies_means_the_peer() {
        assert_eq!(client_ip(ip("10.0.0.1"), &headers(&["198.51.100.7"]), &[]), ip("10.0.0.1"));
    }
}
