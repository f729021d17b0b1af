//! Where the broker may send credentials: public addresses only (unless insecure vendor URLs
//! are allowed for development). Checked twice: on the URL when a connection is configured
//! (names and literal addresses), and on every address a name resolves to when the broker
//! connects (so a name that resolves, or later re-resolves, to an internal address is refused).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Names that never denote a public host, whatever DNS says: `localhost` (RFC 6761), and the
/// special-use or private-use suffixes `.localhost`, `.local` (mDNS), `.internal` (ICANN private
/// use; cloud metadata lives there, e.g. `metadata.google.internal`), `.home.arpa` (RFC 8375).
pub fn is_non_public_name(host: &str) -> bool {
    // A trailing dot is the same name, fully qualified: `localhost.` is `localhost`.
    let name = host.trim_end_matches('.').to_ascii_lowercase();
    name.is_empty()
        || name == "localhost"
        || [".localhost", ".local", ".internal", ".home.arpa"].iter().any(|suffix| name.ends_with(suffix))
        || ["local", "internal", "home.arpa"].contains(&name.as_str())
}

/// True for every address that is not globally reachable unicast: IANA's special-purpose
/// registries for IPv4 and IPv6, plus the IPv6 forms that embed an IPv4 address (mapped,
/// compatible, NAT64, 6to4), judged by the address they embed.
pub fn is_non_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_non_public_v4(v4),
        IpAddr::V6(v6) => is_non_public_v6(v6),
    }
}

/// (network, prefix length) of every IPv4 special-purpose block that is not public unicast.
const V4_BLOCKED: &[([u8; 4], u8)] = &[
    ([0, 0, 0, 0], 8),       // "this network", includes 0.0.0.1
    ([10, 0, 0, 0], 8),      // private
    ([100, 64, 0, 0], 10),   // carrier-grade NAT
    ([127, 0, 0, 0], 8),     // loopback
    ([169, 254, 0, 0], 16),  // link local, cloud metadata
    ([172, 16, 0, 0], 12),   // private
    ([192, 0, 0, 0], 24),    // IETF protocol assignments
    ([192, 0, 2, 0], 24),    // documentation
    ([192, 31, 196, 0], 24), // AS112
    ([192, 52, 193, 0], 24), // AMT
    ([192, 88, 99, 0], 24),  // deprecated 6to4 relay anycast
    ([192, 168, 0, 0], 16),  // private
    ([192, 175, 48, 0], 24), // direct delegation AS112
    ([198, 18, 0, 0], 15),   // benchmarking
    ([198, 51, 100, 0], 24), // documentation
    ([203, 0, 113, 0], 24),  // documentation
    ([224, 0, 0, 0], 4),     // multicast
    ([240, 0, 0, 0], 4),     // reserved, includes broadcast
];

fn is_non_public_v4(ip: Ipv4Addr) -> bool {
    let bits = u32::from(ip);
    V4_BLOCKED.iter().any(|(net, len)| in_prefix(u128::from(bits), u128::from(u32::from_be_bytes(*net)), *len, 32))
}

/// IPv6 special-purpose blocks that are not public unicast, except those embedding IPv4
/// (handled separately).
const V6_BLOCKED: &[([u16; 8], u8)] = &[
    ([0, 0, 0, 0, 0, 0, 0, 0], 96), // unspecified, loopback, IPv4-compatible (::a.b.c.d)
    ([0x64, 0xff9b, 1, 0, 0, 0, 0, 0], 48), // local-use NAT64
    ([0x100, 0, 0, 0, 0, 0, 0, 0], 64), // discard only
    ([0x2001, 0, 0, 0, 0, 0, 0, 0], 32), // Teredo (embeds an obfuscated IPv4 address)
    ([0x2001, 0x2, 0, 0, 0, 0, 0, 0], 48), // benchmarking
    ([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0], 32), // documentation
    ([0x2001, 0x10, 0, 0, 0, 0, 0, 0], 28), // ORCHID
    ([0x2001, 0x20, 0, 0, 0, 0, 0, 0], 28), // ORCHIDv2
    ([0x3fff, 0, 0, 0, 0, 0, 0, 0], 20), // documentation
    ([0x5f00, 0, 0, 0, 0, 0, 0, 0], 16), // SRv6 SIDs
    ([0xfc00, 0, 0, 0, 0, 0, 0, 0], 7), // unique local
    ([0xfe80, 0, 0, 0, 0, 0, 0, 0], 10), // link local
    ([0xfec0, 0, 0, 0, 0, 0, 0, 0], 10), // site local (deprecated)
    ([0xff00, 0, 0, 0, 0, 0, 0, 0], 8), // multicast
];

fn is_non_public_v6(ip: Ipv6Addr) -> bool {
    let bits = u128::from(ip);
    let segments = ip.segments();
    // Forms that carry an IPv4 address are as public as the address they carry.
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_non_public_v4(v4);
    }
    if in_prefix(bits, u128::from(Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, 0, 0)), 96, 128) {
        return is_non_public_v4(Ipv4Addr::from(bits as u32));
    }
    if segments[0] == 0x2002 {
        let embedded = (u32::from(segments[1]) << 16) | u32::from(segments[2]);
        return is_non_public_v4(Ipv4Addr::from(embedded));
    }
    V6_BLOCKED.iter().any(|(net, len)| in_prefix(bits, u128::from(Ipv6Addr::from(*net)), *len, 128))
}

fn in_prefix(addr: u128, net: u128, len: u8, width: u32) -> bool {
    let len = u32::from(len).min(width);
    if len == 0 {
        return true;
    }
    let shift = width - len;
    (addr >> shift) == (net >> shift)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn special_purpose_addresses_are_not_public() {
        for bad in [
            "127.0.0.1",
            "127.255.0.9",
            "0.0.0.1",
            "0.0.0.0",
            "10.1.2.3",
            "100.64.0.1",
            "169.254.169.254",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "192.0.2.1",
            "198.18.0.1",
            "198.19.255.255",
            "224.0.0.1",
            "239.1.1.1",
            "240.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "::127.0.0.1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::7f00:1",
            "64:ff9b::a00:1",
            "64:ff9b:1::1",
            "2002:7f00:1::",
            "2002:a9fe:a9fe::1",
            "2001::1",
            "2001:db8::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "fec0::1",
            "ff02::1",
            "100::1",
        ] {
            assert!(is_non_public(ip(bad)), "{bad} must not be public");
        }
    }

    #[test]
    fn public_addresses_pass() {
        for good in [
            "1.1.1.1",
            "8.8.8.8",
            "172.32.0.1",
            "192.169.0.1",
            "198.20.0.1",
            "223.255.255.254",
            "2606:4700:4700::1111",
            "2a00:1450:4001::1",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::1",
        ] {
            assert!(!is_non_public(ip(good)), "{good} is public");
        }
    }

    #[test]
    fn special_names_are_not_public_with_or_without_a_trailing_dot() {
        for bad in [
            "localhost",
            "localhost.",
            "LOCALHOST",
            "foo.localhost.",
            "printer.local",
            "metadata.google.internal",
            "metadata.google.internal.",
            "router.home.arpa",
            "",
            ".",
        ] {
            assert!(is_non_public_name(bad), "{bad:?}");
        }
        for good in ["login.example.com", "login.example.com.", "localhost.example.com", "internal.example.com"] {
            assert!(!is_non_public_name(good), "{good:?}");
        }
    }
}
