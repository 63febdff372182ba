//! The network interfaces that carry IPv6, as Linux lists them in `/proc/net/if_inet6`: which
//! one holds a given address, so that the IPv6 group is joined and sent to on the interface
//! we listen on. The kernel's own pick (interface 0) needs a route to the group, which a link
//! with no IPv6 default route lacks. Where the file cannot be read nothing is known, and the
//! caller falls back to the kernel's pick.

use std::net::Ipv6Addr;

/// Where Linux lists every IPv6 address with its interface.
const IF_INET6: &str = "/proc/net/if_inet6";

/// One address: the address, its interface's index and name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Address {
    /// The address.
    pub ip: Ipv6Addr,
    /// The interface's index.
    pub index: u32,
    /// The interface's name.
    pub name: String,
}

/// Reads the listing's lines (`ADDRESS INDEX PREFIX SCOPE FLAGS NAME`, the first two in
/// hex); a line that does not fit is skipped.
pub fn parse(text: &str) -> Vec<Address> {
    text.lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let hex = fields.next().filter(|h| h.len() == 32)?;
            let ip = Ipv6Addr::from(u128::from_str_radix(hex, 16).ok()?);
            let index = u32::from_str_radix(fields.next()?, 16).ok()?;
            let name = fields.nth(3)?.to_string();
            Some(Address { ip, index, name })
        })
        .collect()
}

/// Every IPv6 address of this host (none when the listing cannot be read).
pub fn addresses() -> Vec<Address> {
    std::fs::read_to_string(IF_INET6).map(|text| parse(&text)).unwrap_or_default()
}

/// The index of the interface that holds `ip`.
pub fn index_of(ip: &Ipv6Addr) -> Option<u32> {
    addresses().into_iter().find(|a| a.ip == *ip).map(|a| a.index)
}

/// The indexes of the interfaces that have IPv6, loopback left out, each once.
pub fn with_ipv6() -> Vec<u32> {
    let mut out: Vec<u32> = Vec::new();
    for address in addresses() {
        if !address.ip.is_loopback() && !out.contains(&address.index) {
            out.push(address.index);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_listing() {
        let text = "00000000000000000000000000000001 01 80 10 80       lo\n\
                    fd000201000400000000000000000001 1b 40 00 80 lsd6123a\n\
                    fe8000000000000000fcfffffe000001 04 40 20 80     eth0\n\
                    short 04 40 20 80 eth0\n";
        let listed = parse(text);
        assert_eq!(listed.len(), 3);
        assert_eq!(listed[0], Address { ip: Ipv6Addr::LOCALHOST, index: 1, name: "lo".into() });
        let ula: Ipv6Addr = "fd00:201:4::1".parse().expect("an address");
        assert_eq!((listed[1].ip, listed[1].index), (ula, 27));
        assert_eq!(listed[2].name, "eth0");
    }
}
